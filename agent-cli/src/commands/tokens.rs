//! `agentcap mint|attenuate|narrow|inspect`, and the chain's rendering.

use std::str::FromStr;
use std::time::Duration;

use agentcap::{BlockKind, Cap, Chain, ChainBlock, Grant, Hop, PublicKey, Right, Signer, Token};
use serde_json::{Value, json};

use crate::Outcome;
use crate::cli::{AttenuateArgs, InspectArgs, MintArgs, NarrowArgs};
use crate::error::{CliError, CliResult};
use crate::input::{
    ROOT_KEY_ENV, SIGNING_KEY_ENV, SecretSource, TokenSource, duration, public_key,
};
use agentcap::unix_time::format_rfc3339;

use crate::output::{Format, emit, note, relative, safe};

/// Parses `RESOURCE:OPERATION` arguments.
pub(crate) fn parse_rights(values: &[String]) -> CliResult<Vec<Right>> {
    values
        .iter()
        .map(|v| Right::from_str(v).map_err(|e| CliError::usage(format!("--right {v:?}: {e}"))))
        .collect()
}

/// Parses `RESOURCE:OPERATION:BOUNDS` arguments (or the older
/// `OPERATION:NAME<=MAX`, meaning every resource).
pub(crate) fn parse_caps(values: &[String]) -> CliResult<Vec<Cap>> {
    values
        .iter()
        .map(|v| Cap::from_str(v).map_err(|e| CliError::usage(format!("--cap {v:?}: {e}"))))
        .collect()
}

/// Checks an `--audience` URI early, naming the argument (the token's
/// builder puts it in canonical form). The URI is not echoed: a refused
/// one may carry credentials.
fn audience(uri: &str) -> CliResult<String> {
    agentcap::canonical_resource(uri).map_err(|e| CliError::usage(format!("--audience: {e}")))
}

/// The validated `mint` configuration.
struct MintConfig {
    root: SecretSource,
    grant: Grant,
}

impl MintConfig {
    fn from_args(args: MintArgs) -> CliResult<Self> {
        let root = SecretSource::new("--root-key-file", args.root_key_file, ROOT_KEY_ENV)?;
        let rights = parse_rights(&args.scope.rights)?;
        let caps = parse_caps(&args.scope.caps)?;
        let ttl = duration(&args.ttl, "--ttl")?;
        let mut grant = Grant::new(args.user, args.agent).ttl(ttl);
        if let Some(k) = &args.agent_public_key {
            grant = grant.agent_key(public_key(k, "--agent-public-key")?);
        }
        for r in &rights {
            grant = grant.right(r.resource.as_str(), r.operation.as_str());
        }
        for c in &caps {
            grant = grant.with_cap(c);
        }
        for uri in &args.scope.audiences {
            grant = grant.audience(audience(uri)?);
        }
        if let Some(d) = args.max_depth {
            grant = grant.max_depth(d);
        }
        if let Some(i) = args.intent {
            grant = grant.intent(i);
        }
        if let Some(t) = args.tenant {
            grant = grant.tenant(t);
        }
        if let Some(id) = args.root_key_id {
            grant = grant.root_key_id(id);
        }
        Ok(Self { root, grant })
    }
}

/// Prints a new token: alone on stdout in human mode, so it pipes.
pub(crate) fn emit_token(format: Format, token: &Token) -> CliResult<()> {
    let text = token.to_base64()?;
    let chain = token.chain();
    emit(
        format,
        || text.clone(),
        || {
            json!({
                "token": text,
                "user": chain.user,
                "holder": chain.holder(),
                "agents": chain.agents(),
                "expires_at": chain.expires_at().map(format_rfc3339),
                "revocation_ids": chain.revocation_ids(),
            })
        },
    );
    Ok(())
}

/// `agentcap mint`
pub fn mint(args: MintArgs, format: Format) -> CliResult<Outcome> {
    let config = MintConfig::from_args(args)?;
    let root = config.root.keypair()?;
    let token = config.grant.mint(&root)?;
    note(
        format,
        format!(
            "minted a token: {} → {}, expires {}",
            safe(&token.chain().user),
            safe(token.chain().holder()),
            token.chain().expires_at().map(relative).unwrap_or_default()
        ),
    );
    emit_token(format, &token)?;
    Ok(Outcome::Ok)
}

/// The validated `attenuate` configuration.
struct AttenuateConfig {
    token: TokenSource,
    signer: SecretSource,
    hop: Hop,
}

impl AttenuateConfig {
    fn from_args(args: AttenuateArgs) -> CliResult<Self> {
        let token = TokenSource::parse(&args.token)?;
        let signer =
            SecretSource::new("--signing-key-file", args.signing_key_file, SIGNING_KEY_ENV)?;
        if token.is_stdin() && signer.is_stdin() {
            return Err(CliError::usage(
                "the token and the signing key cannot both come from stdin",
            ));
        }
        let rights = parse_rights(&args.scope.rights)?;
        let caps = parse_caps(&args.scope.caps)?;
        let mut hop = Hop::to(args.to);
        if let Some(k) = &args.to_public_key {
            hop = hop.agent_key(public_key(k, "--to-public-key")?);
        }
        for r in &rights {
            hop = hop.right(r.resource.as_str(), r.operation.as_str());
        }
        for c in &caps {
            hop = hop.with_cap(c);
        }
        for uri in &args.scope.audiences {
            hop = hop.audience(audience(uri)?);
        }
        if let Some(t) = &args.ttl {
            hop = hop.ttl(duration(t, "--ttl")?);
        }
        if let Some(d) = args.max_depth {
            hop = hop.max_depth(d);
        }
        Ok(Self { token, signer, hop })
    }
}

/// `agentcap attenuate`
pub fn attenuate(args: AttenuateArgs, format: Format) -> CliResult<Outcome> {
    let config = AttenuateConfig::from_args(args)?;
    let (_, token) = config.token.load_unverified()?;
    let signer = config.signer.keypair_opt()?;
    let child = token.delegate(&config.hop, signer.as_ref())?;
    note(
        format,
        format!(
            "delegated {} → {} ({} hop)",
            safe(token.chain().holder()),
            safe(child.chain().holder()),
            if signer.is_some() {
                "signed"
            } else {
                "unsigned"
            }
        ),
    );
    emit_token(format, &child)?;
    Ok(Outcome::Ok)
}

/// `agentcap narrow`
pub fn narrow(args: NarrowArgs, format: Format) -> CliResult<Outcome> {
    let source = TokenSource::parse(&args.token)?;
    let right = Right::from_str(&args.right)
        .map_err(|e| CliError::usage(format!("--right {:?}: {e}", args.right)))?;
    let ttl: Duration = duration(&args.ttl, "--ttl")?;
    let (_, token) = source.load_unverified()?;
    let narrowed = token.narrow(right.resource.as_str(), &right.operation, ttl)?;
    emit_token(format, &narrowed)?;
    Ok(Outcome::Ok)
}

/// `agentcap inspect`
pub fn inspect(args: InspectArgs, format: Format) -> CliResult<Outcome> {
    let source = TokenSource::parse(&args.token)?;
    let root = args
        .root_public_key
        .as_deref()
        .map(|k| public_key(k, "--root-public-key"))
        .transpose()?;
    let text = source.read()?;
    let chain = agentcap::inspect(&text, root.as_ref())?;
    emit(
        format,
        || render_chain(&chain, root.as_ref()),
        || chain_json(&chain),
    );
    Ok(Outcome::Ok)
}

/// Who signed a block, and whether that proves anything: the mark is ✓
/// only for a verified block whose signer is proven (the root key, or a hop
/// signed by the previous holder's proven key).
fn signer_text(block: &ChainBlock) -> (String, &'static str) {
    let from = block
        .delegation
        .as_ref()
        .map(|d| d.from.as_str())
        .unwrap_or("?");
    let from = safe(from);
    let proven = |yes: bool| if yes && block.verified { "✓" } else { "?" };
    match &block.signer {
        Signer::Root { key_id: Some(id) } => (format!("root key (id {id})"), proven(true)),
        Signer::Root { key_id: None } => ("root key".to_owned(), proven(true)),
        Signer::Holder => match block.kind {
            BlockKind::Hop => (format!("unsigned: a claim by {from}, not proven"), "?"),
            _ => ("the holder (ephemeral key)".to_owned(), proven(true)),
        },
        Signer::Key {
            key,
            is_delegator: true,
        } => (format!("{from}'s key {}", short_key(key)), proven(true)),
        Signer::Key {
            key,
            is_delegator: false,
        } if block.kind == BlockKind::Hop => (
            format!(
                "key {} (not {from}'s proven key: a claim, not proven)",
                short_key(key)
            ),
            "?",
        ),
        Signer::Key { key, .. } => (format!("key {}", short_key(key)), proven(true)),
        _ => ("another signer".to_owned(), "?"),
    }
}

fn short_key(key: &PublicKey) -> String {
    let text = key.to_string();
    let hex = text.trim_start_matches("ed25519/");
    format!("ed25519/{}…", &hex[..hex.len().min(12)])
}

fn list<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(|item| safe(&item.to_string()).into_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The chain as an indented tree: user → agent → sub-agent, with what each
/// block enforces and who signed it.
pub(crate) fn render_chain(chain: &Chain, root: Option<&PublicKey>) -> String {
    let mut out = render_chain_summary(chain, root);
    out.push_str(&format!("{}\n", safe(&chain.user)));
    let mut indent = String::new();
    for block in &chain.blocks {
        out.push_str(&render_block(block, &indent));
        if matches!(block.kind, BlockKind::Authority | BlockKind::Hop) {
            indent.push_str("   ");
        }
    }
    out
}

/// The lines above the tree: whose token, whether its signatures were
/// verified, its intent, when it was issued and expires, and its depth.
fn render_chain_summary(chain: &Chain, root: Option<&PublicKey>) -> String {
    let mut out = String::new();
    let tenant = chain
        .tenant
        .as_ref()
        .map(|t| format!(" (tenant {})", safe(t)))
        .unwrap_or_default();
    let status = match (chain.verified, root) {
        (true, Some(root)) => format!("signatures verified against {}", short_key(root)),
        (true, None) => "signatures verified".to_owned(),
        (false, _) => "signatures NOT verified (pass --root-public-key to verify)".to_owned(),
    };
    out.push_str(&format!(
        "token of user {}{tenant}: {status}\n",
        safe(&chain.user)
    ));
    if let Some(intent) = &chain.intent {
        out.push_str(&format!("  intent: \"{}\"\n", safe(intent)));
    }
    out.push_str(&format!("  issued: {}\n", format_rfc3339(chain.issued_at)));
    if let Some(exp) = chain.expires_at() {
        out.push_str(&format!(
            "  expires: {} ({})\n",
            format_rfc3339(exp),
            relative(exp)
        ));
    }
    let max = chain
        .max_depth()
        .map(|m| format!(" of at most {m}"))
        .unwrap_or_default();
    out.push_str(&format!("  depth: {} hop(s){max}", chain.depth()));
    if chain.sealed {
        out.push_str(", sealed");
    }
    out.push('\n');
    out
}

/// One block of the tree at `indent`: its head line (what the block does,
/// its index and kind, who signed it), then what it enforces.
fn render_block(block: &ChainBlock, indent: &str) -> String {
    let (signer, mark) = signer_text(block);
    let mut out = format!(
        "{indent}└─ {}   [block {} · {} · signed by {} {mark}]\n",
        block_head(block),
        block.index,
        block.kind.as_str(),
        signer
    );
    out.push_str(&render_block_details(block, &format!("{indent}   ")));
    out
}

/// What a block does, in a few words: the delegation it makes, the
/// narrowing, the attestation, or its kind.
fn block_head(block: &ChainBlock) -> String {
    match (&block.kind, &block.delegation) {
        (BlockKind::Authority | BlockKind::Hop, Some(d)) => format!("→ {}", safe(&d.to)),
        (BlockKind::Narrowing, _) => format!("↓ narrowing by {}", safe(&block.holder)),
        (BlockKind::Attestation, _) => "✎ attestation".to_owned(),
        _ => format!("· {} block", block.kind.as_str()),
    }
}

/// The block's details, one line each after `pad`: holder key, rights,
/// caps, expiry, maximum depth, statement and revocation id.
fn render_block_details(block: &ChainBlock, pad: &str) -> String {
    let mut out = String::new();
    if let Some(key) = &block.holder_key
        && matches!(block.kind, BlockKind::Authority | BlockKind::Hop)
    {
        let claim = if block.holder_key_proven {
            ""
        } else {
            " (a claim, not proven)"
        };
        out.push_str(&format!("{pad}holder key: {key}{claim}\n"));
    }
    if !block.rights.is_empty() {
        out.push_str(&format!("{pad}rights: {}\n", list(&block.rights)));
    }
    if !block.caps.is_empty() {
        out.push_str(&format!("{pad}caps: {}\n", list(&block.caps)));
    }
    if let Some(exp) = block.expires_at {
        out.push_str(&format!(
            "{pad}expires: {} ({})\n",
            format_rfc3339(exp),
            relative(exp)
        ));
    }
    if let Some(d) = block.max_depth {
        out.push_str(&format!("{pad}max depth: {d}\n"));
    }
    if let Some(audiences) = &block.audiences {
        let named = match audiences.is_empty() {
            true => "none (no service accepts it)".to_owned(),
            false => list(audiences),
        };
        out.push_str(&format!("{pad}audience: {named}\n"));
    }
    if let Some(s) = &block.attestation {
        out.push_str(&format!("{pad}statement: \"{}\"\n", safe(s)));
    }
    out.push_str(&format!("{pad}revocation id: {}\n", block.revocation_id));
    out
}

fn signer_json(signer: &Signer) -> Value {
    match signer {
        Signer::Root { key_id } => json!({"kind": "root", "key_id": key_id}),
        Signer::Holder => json!({"kind": "holder"}),
        Signer::Key { key, is_delegator } => {
            json!({"kind": "key", "key": key.to_string(), "is_delegator": is_delegator})
        }
        _ => json!({"kind": "other"}),
    }
}

/// The chain as JSON.
pub(crate) fn chain_json(chain: &Chain) -> Value {
    let blocks: Vec<Value> = chain
        .blocks
        .iter()
        .map(|b| {
            json!({
                "index": b.index,
                "kind": b.kind.as_str(),
                "from": b.delegation.as_ref().map(|d| d.from.clone()),
                "to": b.delegation.as_ref().map(|d| d.to.clone()),
                "depth": b.delegation.as_ref().map(|d| d.depth),
                "holder": b.holder,
                "holder_key": b.holder_key.map(|k| k.to_string()),
                "holder_key_proven": b.holder_key_proven,
                "delegation_proven": b.delegation_proven,
                "signer": signer_json(&b.signer),
                "verified": b.verified,
                "rights": b.rights.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "caps": b.caps.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "expires_at": b.expires_at.map(format_rfc3339),
                "max_depth": b.max_depth,
                "audiences": b.audiences,
                "attestation": b.attestation,
                "revocation_id": b.revocation_id,
            })
        })
        .collect();
    json!({
        "user": chain.user,
        "tenant": chain.tenant,
        "intent": chain.intent,
        "issued_at": format_rfc3339(chain.issued_at),
        "expires_at": chain.expires_at().map(format_rfc3339),
        "root_key_id": chain.root_key_id,
        "verified": chain.verified,
        "sealed": chain.sealed,
        "agents": chain.agents(),
        "holder": chain.holder(),
        "depth": chain.depth(),
        "max_depth": chain.max_depth(),
        "audiences": chain.audiences(),
        "revocation_ids": chain.revocation_ids(),
        "blocks": blocks,
    })
}
