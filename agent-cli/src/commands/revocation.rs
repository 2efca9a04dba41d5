//! `agentcap revoke` and `agentcap revocation init|list|publish|serve`.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, SystemTime};

use agentcap::unix_time::DurationMeans;
use agentcap::{KeyFormat, KeyPair, Overwrite};
use agentcap_revocation::{KeyId, RevocationFeed, RevocationId, RevocationStore, StoreError};
use serde_json::{Value, json};

use crate::Outcome;
use crate::cli::{
    RevocationInitArgs, RevocationListArgs, RevocationPublishArgs, RevocationServeArgs, RevokeArgs,
};
use crate::error::{CliError, CliResult, Kind, ResultExt};
use crate::input::{LIST_KEY_ENV, SecretSource, TokenSource, check_path_arg, duration, time_point};
use crate::output::{Format, emit, json_line, note, rfc3339};

/// The issuer name `revocation init` uses unless told otherwise.
pub(crate) const DEFAULT_ISSUER: &str = "agentcap";

/// How long a revoked entry is kept when the token's expiry is unknown:
/// the longest life a grant may have.
const UNKNOWN_EXPIRY: Duration = Duration::from_secs(10 * 366 * 86_400);

/// Opens an existing store; without `issuer`, adopts the one recorded in it.
pub(crate) fn open_store(dir: &Path, issuer: Option<&str>) -> CliResult<RevocationStore> {
    check_path_arg(dir, "--store", None)?;
    if !dir.join("state.bin").is_file() {
        return Err(CliError::usage(format!(
            "no revocation store in {}: create one with `agentcap revocation init --store {} \
             --signing-key-file FILE`",
            dir.display(),
            dir.display()
        )));
    }
    match RevocationStore::open(dir, issuer.unwrap_or(DEFAULT_ISSUER)) {
        Err(StoreError::WrongIssuer { found, .. }) if issuer.is_none() => {
            Ok(RevocationStore::open(dir, found)?)
        }
        other => Ok(other?),
    }
}

fn reason_name(entry: &agentcap_revocation::RevocationEntry) -> Option<String> {
    entry.reason().map(|r| r.name())
}

/// The validated `revoke` configuration.
enum RevokeTarget {
    /// A block of a token.
    Block {
        token: TokenSource,
        block: Option<usize>,
    },
    /// Ids given directly.
    Ids(Vec<IdArg>),
}

enum IdArg {
    /// A block's revocation id (its signature), as `inspect` shows it.
    Block(Vec<u8>),
    /// A list id (digest), as `revocation list` shows it.
    Digest(RevocationId),
}

fn parse_id(text: &str) -> CliResult<IdArg> {
    let bytes = hex::decode(text.trim())
        .map_err(|_| CliError::usage("--id: expected a hexadecimal revocation id"))?;
    if bytes.len() == RevocationId::LEN {
        let mut d = [0u8; RevocationId::LEN];
        d.copy_from_slice(&bytes);
        Ok(IdArg::Digest(RevocationId::from_digest_bytes(d)))
    } else if bytes.len() == 64 {
        Ok(IdArg::Block(bytes))
    } else {
        Err(CliError::usage(
            "--id: expected a block revocation id (128 hex digits, from `inspect`) or a list id \
             (32 hex digits, from `revocation list`)",
        ))
    }
}

/// `agentcap revoke`
pub fn revoke(args: RevokeArgs, format: Format) -> CliResult<Outcome> {
    let target = match &args.token {
        Some(t) => RevokeTarget::Block {
            token: TokenSource::parse(t)?,
            block: args.block,
        },
        None => RevokeTarget::Ids(
            args.ids
                .iter()
                .map(|i| parse_id(i))
                .collect::<CliResult<_>>()?,
        ),
    };
    let key_source = SecretSource::new("--signing-key-file", args.signing_key_file, LIST_KEY_ENV)?;
    let validity = duration(&args.validity, "--validity")?;
    let id_expiry = match &args.token_expires {
        Some(t) => time_point(t, "--token-expires", DurationMeans::FromNow)?,
        None => SystemTime::now() + UNKNOWN_EXPIRY,
    };
    if let Some(out) = &args.out {
        check_path_arg(out, "--out", None)?;
    }
    let store = open_store(&args.store, args.issuer.as_deref())?;
    let key = key_source.keypair()?;

    let mut revoked: Vec<Value> = Vec::new();
    match target {
        RevokeTarget::Block { token, block } => {
            let (_, token) = token.load_unverified()?;
            let ids = token.revocation_ids();
            let index = block.unwrap_or(ids.len().saturating_sub(1));
            let expires = token
                .chain()
                .expires_at()
                .unwrap_or_else(|| SystemTime::now() + UNKNOWN_EXPIRY);
            let id = store.revoke_token_block(&ids, index, expires, None)?;
            let b = token.chain().blocks.get(index);
            revoked.push(json!({
                "id": id.to_string(),
                "block": index,
                "block_revocation_id": b.map(|b| b.revocation_id.clone()),
                "holder": b.map(|b| b.holder.clone()),
                "token_expires_at": rfc3339(expires),
            }));
        }
        RevokeTarget::Ids(ids) => {
            for id in ids {
                let id = match id {
                    IdArg::Block(bytes) => store.revoke(&bytes, id_expiry, None)?,
                    IdArg::Digest(d) => {
                        store.revoke_id(d, id_expiry, None)?;
                        d
                    }
                };
                revoked.push(json!({"id": id.to_string(), "token_expires_at": rfc3339(id_expiry)}));
            }
        }
    }
    let publication = store.publish(&key, validity)?;
    if let Some(out) = &args.out {
        store.export_to(out)?;
    }
    emit(
        format,
        || {
            let mut s = String::new();
            for r in &revoked {
                let holder = r["holder"]
                    .as_str()
                    .map(|h| format!(" (block {} held by {h})", r["block"]))
                    .unwrap_or_default();
                s.push_str(&format!(
                    "revoked {}{holder}\n",
                    r["id"].as_str().unwrap_or("")
                ));
            }
            s.push_str(&format!("published list sequence {}", publication.sequence));
            if let Some(out) = &args.out {
                s.push_str(&format!(" to {}", out.display()));
            }
            s
        },
        || json!({"revoked": revoked, "sequence": publication.sequence}),
    );
    Ok(Outcome::Ok)
}

/// `agentcap revocation init`
pub fn init(args: RevocationInitArgs, format: Format) -> CliResult<Outcome> {
    check_path_arg(&args.store, "--store", None)?;
    check_path_arg(
        &args.signing_key_file,
        "--signing-key-file",
        Some(LIST_KEY_ENV),
    )?;
    if args.signing_key_file.as_os_str() == "-" {
        return Err(CliError::usage(
            "--signing-key-file: init creates or reads a key file; stdin is not a file",
        ));
    }
    let validity = duration(&args.validity, "--validity")?;
    let (key, created) = if args.signing_key_file.exists() {
        (
            KeyPair::load(&args.signing_key_file).map_err(|e| {
                CliError::new(Kind::Usage, e).context(format!(
                    "{} exists and is not a list signing key (it is never overwritten)",
                    args.signing_key_file.display()
                ))
            })?,
            false,
        )
    } else {
        let key = KeyPair::generate();
        key.save(&args.signing_key_file, KeyFormat::Text, Overwrite::Refuse)
            .or_fail(Kind::Io, "writing the list signing key")?;
        (key, true)
    };
    let store = RevocationStore::open(&args.store, args.issuer.as_str())?;
    let publication = match store.published()? {
        Some(p) => p,
        None => store.publish(&key, validity)?,
    };
    let public = key.public().to_string();
    note(
        format,
        format!(
            "{} list signing key {} (mode 0600); store {} for issuer {:?} at list sequence {}",
            if created { "created" } else { "using existing" },
            args.signing_key_file.display(),
            args.store.display(),
            store.issuer(),
            publication.sequence
        ),
    );
    emit(
        format,
        || public.clone(),
        || {
            json!({
                "store": args.store.display().to_string(),
                "issuer": store.issuer(),
                "signing_key_file": args.signing_key_file.display().to_string(),
                "key_created": created,
                "public_key": public,
                "key_id": KeyId::of(&key.public()).to_string(),
                "sequence": publication.sequence,
            })
        },
    );
    Ok(Outcome::Ok)
}

/// `agentcap revocation list`
pub fn list(args: RevocationListArgs, format: Format) -> CliResult<Outcome> {
    let store = open_store(&args.store, args.issuer.as_deref())?;
    let entries = store.entries()?;
    let published = store.published()?.map(|p| p.sequence);
    emit(
        format,
        || {
            let mut s = format!(
                "issuer {:?}: {} revoked id(s); published sequence {}\n",
                store.issuer(),
                entries.len(),
                published.map_or("none".to_owned(), |n| n.to_string())
            );
            for e in &entries {
                s.push_str(&format!(
                    "{}  revoked {}  kept until {}{}\n",
                    e.id(),
                    rfc3339(e.revoked_at()),
                    rfc3339(e.token_expires_at()),
                    reason_name(e)
                        .map(|r| format!("  ({r})"))
                        .unwrap_or_default()
                ));
            }
            s
        },
        || {
            json!({
                "issuer": store.issuer(),
                "published_sequence": published,
                "entries": entries.iter().map(|e| json!({
                    "id": e.id().to_string(),
                    "revoked_at": rfc3339(e.revoked_at()),
                    "token_expires_at": rfc3339(e.token_expires_at()),
                    "reason": reason_name(e),
                })).collect::<Vec<_>>(),
            })
        },
    );
    Ok(Outcome::Ok)
}

/// `agentcap revocation publish`
pub fn publish(args: RevocationPublishArgs, format: Format) -> CliResult<Outcome> {
    check_path_arg(&args.out, "--out", None)?;
    let key_source = SecretSource::new("--signing-key-file", args.signing_key_file, LIST_KEY_ENV)?;
    let validity = duration(&args.validity, "--validity")?;
    let store = open_store(&args.store, args.issuer.as_deref())?;
    let key = key_source.keypair()?;
    let publication = store.publish(&key, validity)?;
    store.export_to(&args.out)?;
    let entries = store.entries()?.len();
    emit(
        format,
        || {
            format!(
                "published list sequence {} ({entries} id(s), fresh for {}) to {}",
                publication.sequence,
                crate::output::short(validity),
                args.out.display()
            )
        },
        || {
            json!({
                "sequence": publication.sequence,
                "entries": entries,
                "out": args.out.display().to_string(),
                "next_update": rfc3339(SystemTime::now() + validity),
            })
        },
    );
    Ok(Outcome::Ok)
}

/// A running revocation server: the feed and the address it listens on.
pub(crate) struct RevocationServer {
    /// The address bound.
    pub addr: SocketAddr,
    /// The feed (announce publications on it).
    pub feed: RevocationFeed,
}

/// Binds `listen` and serves `feed` until the runtime stops.
pub(crate) async fn start_revocation_server(
    listen: &str,
    feed: RevocationFeed,
) -> CliResult<RevocationServer> {
    let (addr, _) = super::serve_router(listen, agentcap_revocation::router(feed.clone())).await?;
    Ok(RevocationServer { addr, feed })
}

/// How often `revocation serve` looks for a publication by another process.
const PUBLICATION_CHECK: Duration = Duration::from_millis(20);

/// How often it reads the published list whatever the file looks like.
const FULL_CHECK: Duration = Duration::from_secs(5);

/// `agentcap revocation serve`
pub fn serve(args: RevocationServeArgs, format: Format) -> CliResult<Outcome> {
    let key_source = SecretSource::new("--signing-key-file", args.signing_key_file, LIST_KEY_ENV)?;
    let validity = duration(&args.validity, "--validity")?;
    let listen: SocketAddr = args
        .listen
        .parse()
        .map_err(|_| CliError::usage("--listen: expected an address such as 127.0.0.1:8081"))?;
    let store = open_store(&args.store, args.issuer.as_deref())?;
    let key = key_source.keypair()?;
    if store.published()?.is_none() {
        store.publish(&key, validity)?;
    }
    let runtime = super::runtime()?;
    runtime.block_on(async move {
        let feed = RevocationFeed::from_store(&store)?;
        let server = start_revocation_server(&listen.to_string(), feed).await?;
        let url = format!("http://{}/", server.addr);
        note(
            format,
            format!("serving revocation list of {:?} at {url}", store.issuer()),
        );
        if format == Format::Json {
            json_line(&json!({"event": "listening", "url": url, "issuer": store.issuer()}));
        } else {
            println!("{url}");
        }
        // Announce what other processes publish (e.g. `agentcap revoke`)
        // within a few tens of milliseconds: a stat of the published list
        // every 20 ms, and the list is read only when it changed. Re-sign
        // the head at half its validity.
        let mut last = server.feed.sequence();
        let mut last_stamp = store.publication_stamp();
        let mut last_full_check = tokio::time::Instant::now();
        let mut last_head = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = tokio::time::sleep(PUBLICATION_CHECK) => {}
            }
            if last_head.elapsed() >= validity / 2 {
                match store.refresh_head(&key, validity) {
                    Ok(head) => server.feed.announce_head(head),
                    Err(e) => note(format, format!("agentcap: warning: refreshing head: {e}")),
                }
                last_head = tokio::time::Instant::now();
            }
            // A full look every few seconds too, in case a change kept
            // the file's size and time.
            let stamp = store.publication_stamp();
            let due = last_full_check.elapsed() >= FULL_CHECK;
            if stamp == last_stamp && !due {
                continue;
            }
            let Ok(published) = store.published() else {
                // Being written, say: look again at the next tick.
                continue;
            };
            last_stamp = stamp;
            last_full_check = tokio::time::Instant::now();
            if let Some(p) = published
                && Some(p.sequence) != last
            {
                server.feed.announce(&p);
                last = Some(p.sequence);
                last_head = tokio::time::Instant::now();
                note(format, format!("announced list sequence {}", p.sequence));
                if format == Format::Json {
                    json_line(&json!({"event": "published", "sequence": p.sequence}));
                }
            }
        }
        Ok::<_, CliError>(())
    })?;
    Ok(Outcome::Ok)
}
