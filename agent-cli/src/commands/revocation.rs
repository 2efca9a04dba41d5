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
use agentcap::unix_time::format_rfc3339;

use crate::output::{Format, emit, json_line, note};

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
    let target = revoke_target(&args)?;
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

    let revoked = match target {
        RevokeTarget::Block { token, block } => vec![revoke_token_block(&store, &token, block)?],
        RevokeTarget::Ids(ids) => revoke_ids(&store, ids, id_expiry)?,
    };
    let publication = store.publish(&key, validity)?;
    if let Some(out) = &args.out {
        store.export_to(out)?;
    }
    emit(
        format,
        || revoked_text(&revoked, publication.sequence, args.out.as_deref()),
        || json!({"revoked": revoked, "sequence": publication.sequence}),
    );
    Ok(Outcome::Ok)
}

/// What `revoke` was asked to revoke: a block of `--token`, else the
/// `--id`s.
fn revoke_target(args: &RevokeArgs) -> CliResult<RevokeTarget> {
    Ok(match &args.token {
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
    })
}

/// Revokes block `block` of the token (by default its last block), kept
/// until the token expires, and describes what was revoked.
fn revoke_token_block(
    store: &RevocationStore,
    token: &TokenSource,
    block: Option<usize>,
) -> CliResult<Value> {
    let (_, token) = token.load_unverified()?;
    let ids = token.revocation_ids();
    let index = block.unwrap_or(ids.len().saturating_sub(1));
    let expires = token
        .chain()
        .expires_at()
        .unwrap_or_else(|| SystemTime::now() + UNKNOWN_EXPIRY);
    let id = store.revoke_token_block(&ids, index, expires, None)?;
    let b = token.chain().blocks.get(index);
    Ok(json!({
        "id": id.to_string(),
        "block": index,
        "block_revocation_id": b.map(|b| b.revocation_id.clone()),
        "holder": b.map(|b| b.holder.clone()),
        "token_expires_at": format_rfc3339(expires),
    }))
}

/// Revokes each id in turn, kept until `id_expiry`, and describes each.
fn revoke_ids(
    store: &RevocationStore,
    ids: Vec<IdArg>,
    id_expiry: SystemTime,
) -> CliResult<Vec<Value>> {
    let mut revoked = Vec::with_capacity(ids.len());
    for id in ids {
        let id = match id {
            IdArg::Block(bytes) => store.revoke(&bytes, id_expiry, None)?,
            IdArg::Digest(d) => {
                store.revoke_id(d, id_expiry, None)?;
                d
            }
        };
        revoked.push(json!({"id": id.to_string(), "token_expires_at": format_rfc3339(id_expiry)}));
    }
    Ok(revoked)
}

/// The text `revoke` prints: one line per revoked id, then the publication.
fn revoked_text(revoked: &[Value], sequence: u64, out: Option<&Path>) -> String {
    let mut s = String::new();
    for r in revoked {
        let holder = r["holder"]
            .as_str()
            .map(|h| format!(" (block {} held by {h})", r["block"]))
            .unwrap_or_default();
        s.push_str(&format!(
            "revoked {}{holder}\n",
            r["id"].as_str().unwrap_or("")
        ));
    }
    s.push_str(&format!("published list sequence {sequence}"));
    if let Some(out) = out {
        s.push_str(&format!(" to {}", out.display()));
    }
    s
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
    let (key, created) = load_or_create_list_key(&args.signing_key_file)?;
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

/// The list signing key in `path`, or a new one written there (mode 0600)
/// when the file does not exist; and whether it was created. An existing
/// file is never overwritten.
fn load_or_create_list_key(path: &Path) -> CliResult<(KeyPair, bool)> {
    if path.exists() {
        let key = KeyPair::load(path).map_err(|e| {
            CliError::new(Kind::Usage, e).context(format!(
                "{} exists and is not a list signing key (it is never overwritten)",
                path.display()
            ))
        })?;
        Ok((key, false))
    } else {
        let key = KeyPair::generate();
        key.save(path, KeyFormat::Text, Overwrite::Refuse)
            .or_fail(Kind::Io, "writing the list signing key")?;
        Ok((key, true))
    }
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
                    format_rfc3339(e.revoked_at()),
                    format_rfc3339(e.token_expires_at()),
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
                    "revoked_at": format_rfc3339(e.revoked_at()),
                    "token_expires_at": format_rfc3339(e.token_expires_at()),
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
                "next_update": format_rfc3339(SystemTime::now() + validity),
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
        announce_listening(&server, &store, format);
        let mut watch = PublicationWatch::new(&store, &server.feed);
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = tokio::time::sleep(PUBLICATION_CHECK) => {}
            }
            watch.refresh_head_if_due(&store, &server.feed, &key, validity, format);
            watch.announce_new_publication(&store, &server.feed, format);
        }
        Ok::<_, CliError>(())
    })?;
    Ok(Outcome::Ok)
}

/// Tells the operator (and, with `--format json`, a supervising program)
/// where the list is served.
fn announce_listening(server: &RevocationServer, store: &RevocationStore, format: Format) {
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
}

/// What `revocation serve` has seen, to announce what other processes
/// publish (e.g. `agentcap revoke`) within a few tens of milliseconds: a
/// stat of the published list every [`PUBLICATION_CHECK`], and the list is
/// read only when it changed (or every [`FULL_CHECK`]). The head is
/// re-signed at half its validity.
struct PublicationWatch {
    /// The sequence last announced.
    announced: Option<u64>,
    /// The published list's stamp when it was last read.
    stamp: Option<(u64, SystemTime)>,
    /// When the published list was last read.
    last_full_check: tokio::time::Instant,
    /// When a head or a list was last announced.
    last_head: tokio::time::Instant,
}

impl PublicationWatch {
    fn new(store: &RevocationStore, feed: &RevocationFeed) -> Self {
        PublicationWatch {
            announced: feed.sequence(),
            stamp: store.publication_stamp(),
            last_full_check: tokio::time::Instant::now(),
            last_head: tokio::time::Instant::now(),
        }
    }

    /// Re-signs and announces the head once half its validity has passed
    /// since the last announcement (a failure is a warning: the next tick
    /// does not retry before the next half validity).
    fn refresh_head_if_due(
        &mut self,
        store: &RevocationStore,
        feed: &RevocationFeed,
        key: &KeyPair,
        validity: Duration,
        format: Format,
    ) {
        if self.last_head.elapsed() >= validity / 2 {
            match store.refresh_head(key, validity) {
                Ok(head) => feed.announce_head(head),
                Err(e) => note(format, format!("agentcap: warning: refreshing head: {e}")),
            }
            self.last_head = tokio::time::Instant::now();
        }
    }

    /// Reads the published list when its stamp changed or a full look is
    /// due, and announces it when its sequence is new.
    fn announce_new_publication(
        &mut self,
        store: &RevocationStore,
        feed: &RevocationFeed,
        format: Format,
    ) {
        // A full look every few seconds too, in case a change kept the
        // file's size and time.
        let stamp = store.publication_stamp();
        let due = self.last_full_check.elapsed() >= FULL_CHECK;
        if stamp == self.stamp && !due {
            return;
        }
        let Ok(published) = store.published() else {
            // Being written, say: look again at the next tick.
            return;
        };
        self.stamp = stamp;
        self.last_full_check = tokio::time::Instant::now();
        if let Some(p) = published
            && Some(p.sequence) != self.announced
        {
            feed.announce(&p);
            self.announced = Some(p.sequence);
            self.last_head = tokio::time::Instant::now();
            note(format, format!("announced list sequence {}", p.sequence));
            if format == Format::Json {
                json_line(&json!({"event": "published", "sequence": p.sequence}));
            }
        }
    }
}
