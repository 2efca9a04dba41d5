//! Reading a token's blocks into a [`Chain`]: the facts each block states,
//! the checks it carries, and the rules a well-formed chain obeys.

use std::time::SystemTime;

use biscuit_auth::format::schema;
use prost::Message;

use super::link::{BlockContent, Restrictions};
use super::recognise::{Enforced, recognise};
use super::wire::{Statements, Symbols, Value, decode_block, malformed};
use super::{BlockKind, Chain, CheckRole, Delegation};
use crate::error::Error;
use crate::keys::PublicKey;
use crate::rights::{Right, validate_name};
use crate::vocabulary::{SCHEMA_VERSION, fact};

/// The blocks' third-party signer keys as biscuit-auth already decoded them
/// (one per block, in order): they spare unpacking a key a second time.
type KnownKeys<'a> = Option<&'a [Option<biscuit_auth::PublicKey>]>;

impl Chain {
    /// Reads a serialized token. `verified` records whether the caller has
    /// verified these exact bytes against a root key.
    pub(crate) fn decode(
        bytes: &[u8],
        verified: bool,
        known: KnownKeys<'_>,
    ) -> Result<Chain, Error> {
        let token =
            schema::Biscuit::decode(bytes).map_err(|e| Error::MalformedToken(e.to_string()))?;
        Self::from_schema(&token, verified, known)
    }

    /// Reads a token already in its wire-schema form (e.g. from a verified
    /// biscuit-auth container, sparing a second parse of the envelope).
    pub(crate) fn from_schema(
        token: &schema::Biscuit,
        verified: bool,
        known: KnownKeys<'_>,
    ) -> Result<Chain, Error> {
        if token.authority.external_signature.is_some() {
            return Err(Error::NotAgentcapToken(
                "the authority block is a third-party block",
            ));
        }
        let mut symbols = Symbols::default();
        let authority = decode_block(&token.authority, &mut symbols, 0)?;
        let (header, grant) = read_authority(&authority, token, verified, known)?;
        let mut chain = Chain::from_grant(header, grant, revocation_id(&token.authority));
        for (offset, signed) in token.blocks.iter().enumerate() {
            let index = offset + 1;
            let statements = decode_block(signed, &mut symbols, index)?;
            let signer = signer_key(signed, known, index)?;
            let content = read_block(&chain, index, signer.is_some(), &statements, known)?;
            chain.push_block(content, signer, revocation_id(signed));
        }
        symbols
            .budget
            .finish(chain.blocks.len().saturating_sub(1))?;
        chain.sealed = matches!(
            token.proof.content,
            Some(schema::proof::Content::FinalSignature(_))
        );
        Ok(chain)
    }
}

/// A date a token states, saturated like every unix time
/// ([`crate::unix_time`]): a date past year 9999 reads as 9999-12-31.
fn date(seconds: u64, _block: usize) -> Result<SystemTime, Error> {
    Ok(crate::unix_time::from_unix(seconds))
}

fn text(fact: &[Value], position: usize, block: usize, name: &str) -> Result<String, Error> {
    match fact.get(position) {
        Some(Value::Str(s)) => Ok(s.clone()),
        _ => Err(malformed(
            block,
            format!("{name} expects a string in position {position}"),
        )),
    }
}

fn single_text(statements: &Statements, name: &str, block: usize) -> Result<Option<String>, Error> {
    match statements.one(name, block)? {
        None => Ok(None),
        Some(f) if f.len() == 1 => text(f, 0, block, name).map(Some),
        Some(_) => Err(malformed(block, format!("{name} takes one term"))),
    }
}

fn read_restrictions(statements: &Statements, block: usize) -> Result<Restrictions, Error> {
    let mut rights: Option<Vec<Right>> = None;
    let mut caps = Vec::new();
    let mut expires = None;
    let mut audiences: Option<Vec<String>> = None;
    let mut checks = Vec::with_capacity(statements.checks.len());
    for check in &statements.checks {
        checks.push(match recognise(check) {
            Some(Enforced::Expiry(at)) => {
                expires = Some(expires.map_or(at, |e: u64| e.min(at)));
                CheckRole::Expiry
            }
            // A second rights check further narrows; it is reported, not merged.
            Some(Enforced::Rights(r)) if rights.is_none() => {
                rights = Some(r);
                CheckRole::Rights
            }
            Some(Enforced::Cap(cap)) => {
                caps.push(cap);
                CheckRole::Cap(caps.len() - 1)
            }
            // Two audience checks in one block: both apply.
            Some(Enforced::Audiences(named)) => {
                audiences = Some(match audiences {
                    None => named,
                    Some(held) => held.into_iter().filter(|a| named.contains(a)).collect(),
                });
                CheckRole::Audience
            }
            Some(Enforced::Rights(_)) | None => CheckRole::Other,
        });
    }
    let expires_at = expires.map(|d| date(d, block)).transpose()?;
    let mut max_depth = None;
    for f in statements.all(fact::MAX_DEPTH) {
        let depth = match f {
            [Value::Int(n)] => {
                u32::try_from(*n).map_err(|_| malformed(block, "max_depth out of range"))?
            }
            _ => return Err(malformed(block, "max_depth(n) expects an integer")),
        };
        max_depth = Some(max_depth.map_or(depth, |m: u32| m.min(depth)));
    }
    let unrecognised = statements.rules > 0
        || checks.contains(&CheckRole::Other)
        || statements
            .facts
            .iter()
            .any(|(name, _)| crate::vocabulary::request::ALL.contains(&name.as_str()));
    Ok(Restrictions {
        rights: rights.unwrap_or_default(),
        caps,
        expires_at,
        max_depth,
        audiences,
        checks,
        unrecognised,
    })
}

/// The key a block binds to `agent`. A key some block's signature already
/// carries (decoded by biscuit-auth) is reused: only keys that sign nothing,
/// typically the current holder's, are unpacked here.
fn agent_key(
    statements: &Statements,
    agent: &str,
    block: usize,
    known: KnownKeys<'_>,
) -> Result<Option<PublicKey>, Error> {
    let Some(f) = statements.one(fact::AGENT_KEY, block)? else {
        return Ok(None);
    };
    match f {
        [Value::Str(name), Value::Bytes(key)] if name == agent => {
            let reused = known
                .into_iter()
                .flatten()
                .flatten()
                .find(|k| k.to_bytes() == *key)
                .and_then(|k| PublicKey::from_biscuit(*k).ok());
            match reused {
                Some(key) => Ok(Some(key)),
                None => PublicKey::from_bytes(key)
                    .map(Some)
                    .map_err(|_| malformed(block, "agent_key is not an Ed25519 public key")),
            }
        }
        [Value::Str(_), Value::Bytes(_)] => Err(malformed(
            block,
            "agent_key names an agent other than the new holder",
        )),
        _ => Err(malformed(
            block,
            "agent_key(name, key) expects a string and bytes",
        )),
    }
}

fn revocation_id(signed: &schema::SignedBlock) -> String {
    hex::encode(&signed.signature)
}

/// The third-party signer of a block, if it is a third-party block.
fn signer_key(
    signed: &schema::SignedBlock,
    known: KnownKeys<'_>,
    index: usize,
) -> Result<Option<PublicKey>, Error> {
    let Some(external) = &signed.external_signature else {
        return Ok(None);
    };
    let known_key = known.and_then(|keys| keys.get(index).copied().flatten());
    known_key
        .filter(|k| k.to_bytes() == external.public_key.key)
        .or_else(|| biscuit_auth::PublicKey::from_proto(&external.public_key).ok())
        .and_then(|k| PublicKey::from_biscuit(k).ok())
        .map(Some)
        .ok_or_else(|| malformed(index, "third-party signer is not an Ed25519 key"))
}

/// The authority block states `agentcap(1)`: it is a grant of this vocabulary.
fn check_schema(statements: &Statements) -> Result<(), Error> {
    match statements.one(fact::SCHEMA, 0)? {
        Some([Value::Int(SCHEMA_VERSION)]) => {}
        Some(_) => {
            return Err(Error::NotAgentcapToken(
                "unsupported agentcap schema version",
            ));
        }
        None => {
            return Err(Error::NotAgentcapToken(
                "the authority block has no agentcap fact",
            ));
        }
    }
    Ok(())
}

fn read_authority(
    statements: &Statements,
    token: &schema::Biscuit,
    verified: bool,
    known: KnownKeys<'_>,
) -> Result<(Chain, BlockContent), Error> {
    check_schema(statements)?;
    let user = single_text(statements, fact::USER, 0)?
        .ok_or(Error::NotAgentcapToken("the authority block names no user"))?;
    let agent = single_text(statements, fact::AGENT, 0)?.ok_or(Error::NotAgentcapToken(
        "the authority block names no agent",
    ))?;
    validate_name("user", &user).map_err(|e| malformed(0, e.to_string()))?;
    validate_name("agent", &agent).map_err(|e| malformed(0, e.to_string()))?;
    let issued_at = match statements.one(fact::ISSUED_AT, 0)? {
        Some([Value::Date(d)]) => date(*d, 0)?,
        _ => {
            return Err(Error::NotAgentcapToken(
                "the authority block has no issued_at date",
            ));
        }
    };
    let restrictions = read_restrictions(statements, 0)?;
    if restrictions.rights.is_empty() {
        return Err(Error::NotAgentcapToken(
            "the authority block grants no rights",
        ));
    }
    if restrictions.expires_at.is_none() {
        return Err(Error::NotAgentcapToken("the authority block has no expiry"));
    }
    let header = Chain {
        tenant: single_text(statements, fact::TENANT, 0)?,
        intent: single_text(statements, fact::INTENT, 0)?,
        issued_at,
        root_key_id: token.root_key_id,
        verified,
        user: user.clone(),
        sealed: false,
        blocks: Vec::with_capacity(1 + token.blocks.len()),
    };
    let grant = BlockContent {
        kind: BlockKind::Authority,
        holder_key: agent_key(statements, &agent, 0, known)?,
        delegation: Some(Delegation {
            depth: 0,
            from: user,
            to: agent,
        }),
        restrictions,
        attestation: None,
    };
    Ok((header, grant))
}

/// A hop's `hop(depth, from, to)`, checked against the chain so far.
fn read_delegation(
    chain: &Chain,
    statements: &Statements,
    index: usize,
) -> Result<Option<Delegation>, Error> {
    match statements.one(fact::HOP, index)? {
        None => Ok(None),
        Some([Value::Int(depth), Value::Str(from), Value::Str(to)]) => {
            let expected = chain.depth() + 1;
            if u32::try_from(*depth).ok() != Some(expected) {
                return Err(malformed(
                    index,
                    format!("hop states depth {depth}, but it is hop {expected}"),
                ));
            }
            if from != chain.holder() {
                return Err(malformed(index, "hop is not from the current holder"));
            }
            validate_name("agent", to).map_err(|e| malformed(index, e.to_string()))?;
            Ok(Some(Delegation {
                depth: expected,
                from: from.clone(),
                to: to.clone(),
            }))
        }
        Some(_) => Err(malformed(
            index,
            "delegation(depth, from, to) expects an integer and two strings",
        )),
    }
}

fn read_block(
    chain: &Chain,
    index: usize,
    third_party: bool,
    statements: &Statements,
    known: KnownKeys<'_>,
) -> Result<BlockContent, Error> {
    let delegation = read_delegation(chain, statements, index)?;
    let narrowing = single_text(statements, fact::NARROWING, index)?;
    let attestation = single_text(statements, fact::ATTESTATION, index)?;
    let kind = match (&delegation, &narrowing, &attestation) {
        (Some(_), None, None) => BlockKind::Hop,
        (None, Some(holder), None) if holder != chain.holder() => {
            return Err(malformed(
                index,
                "narrowing by an agent other than the holder",
            ));
        }
        (None, Some(_), None) => BlockKind::Narrowing,
        (None, None, Some(_)) if third_party => BlockKind::Attestation,
        (None, None, Some(_)) => {
            return Err(malformed(
                index,
                "an attestation must be a signed third-party block",
            ));
        }
        (None, None, None) => BlockKind::Unlabelled,
        _ => {
            return Err(malformed(
                index,
                "a block is one of hop, narrowing or attestation",
            ));
        }
    };
    let holder_key = match &delegation {
        Some(d) => agent_key(statements, &d.to, index, known)?,
        None if statements.has(fact::AGENT_KEY) => {
            return Err(malformed(index, "only a hop may bind a key to an agent"));
        }
        None => None,
    };
    Ok(BlockContent {
        kind,
        delegation,
        holder_key,
        restrictions: read_restrictions(statements, index)?,
        attestation,
    })
}
