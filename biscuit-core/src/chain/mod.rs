//! Reading a token as a delegation chain: who delegated to whom, with what
//! rights, signed by which key.
//!
//! Blocks are read from the token's public wire schema (biscuit-auth's
//! `format::schema` protobuf messages) and their facts resolved through the
//! symbol tables, exactly as biscuit-auth itself loads them. Printed Datalog
//! is never parsed.

use std::time::SystemTime;

use crate::display::escape;
use crate::error::Error;
use crate::keys::PublicKey;
use crate::rights::{Cap, Right};

mod link;
mod read;
mod recognise;
pub(crate) mod shape;
mod wire;

pub(crate) use link::BlockContent;

/// A token read as a delegation chain.
///
/// The authority block's statements are the issuer's and are trusted once
/// the chain is verified. Later blocks' statements are claims by whoever
/// appended them; what binds is their checks, which can only narrow.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Chain {
    /// The human principal.
    pub user: String,
    /// The user's tenant, if the issuer named one.
    pub tenant: Option<String>,
    /// What the user approved, if the issuer recorded it.
    pub intent: Option<String>,
    /// When the grant was issued.
    pub issued_at: SystemTime,
    /// The root key id the token names, a hint for key selection (not signed).
    pub root_key_id: Option<u32>,
    /// Whether every signature was verified against a root public key. When
    /// false, nothing in the chain is proven.
    pub verified: bool,
    /// Whether the token is sealed (can no longer be attenuated).
    pub sealed: bool,
    /// The blocks, authority first.
    pub blocks: Vec<ChainBlock>,
}

/// What a block is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BlockKind {
    /// Block 0, signed by the issuer's root key: the user's grant to the first agent.
    Authority,
    /// A delegation from the current holder to another agent.
    Hop,
    /// The holder restricting its own token, e.g. for one tool call.
    Narrowing,
    /// A third party's signed statement.
    Attestation,
    /// A block without agentcap labels (appended by other Biscuit tooling);
    /// its checks still apply.
    Unlabelled,
}

impl BlockKind {
    /// A lowercase name for display and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            BlockKind::Authority => "authority",
            BlockKind::Hop => "hop",
            BlockKind::Narrowing => "narrowing",
            BlockKind::Attestation => "attestation",
            BlockKind::Unlabelled => "unlabelled",
        }
    }
}

/// What a check in a block enforces, as recognised by its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CheckRole {
    /// The block's expiry.
    Expiry,
    /// The block's rights ([`ChainBlock::rights`]).
    Rights,
    /// A cap: the index into [`ChainBlock::caps`].
    Cap(usize),
    /// The block's audiences ([`ChainBlock::audiences`]).
    Audience,
    /// A check of a shape agentcap does not write: enforced all the same,
    /// but not described.
    Other,
}

impl CheckRole {
    /// A lowercase name for display and JSON: `expiry`, `rights`, `cap`,
    /// `audience`, `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckRole::Expiry => "expiry",
            CheckRole::Rights => "rights",
            CheckRole::Cap(_) => "cap",
            CheckRole::Audience => "audience",
            CheckRole::Other => "other",
        }
    }
}

/// Who passed authority to whom in a block.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delegation {
    /// 0 for the authority block (user to first agent), then 1, 2, ... per hop.
    pub depth: u32,
    /// The delegator: the user for the authority block, else the previous holder.
    pub from: String,
    /// The new holder.
    pub to: String,
}

/// Which key signed a block.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Signer {
    /// The issuer's root key (the authority block).
    Root {
        /// The root key id named by the token, if any.
        key_id: Option<u32>,
    },
    /// The holder of the token at that point, anonymously (a plain block).
    Holder,
    /// An agent's or third party's key (a Biscuit third-party block).
    Key {
        /// The signing key.
        key: PublicKey,
        /// Whether the block is a hop and `key` is the delegating holder's
        /// *proven* key: the chain is verified, and every binding from the
        /// root-signed grant down to this holder's key was itself signed by
        /// the key before it. Only then does the block prove who delegated;
        /// otherwise the binding it relies on is a claim.
        is_delegator: bool,
    },
}

/// One block of a [`Chain`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChainBlock {
    /// Position in the token (0 is the authority block).
    pub index: usize,
    /// What the block is.
    pub kind: BlockKind,
    /// For the authority block and hops: who delegated to whom.
    pub delegation: Option<Delegation>,
    /// The holder of the token after this block.
    pub holder: String,
    /// The key bound to the holder after this block, if any.
    pub holder_key: Option<PublicKey>,
    /// Whether [`ChainBlock::holder_key`] is proven to be the holder's: bound
    /// by the verified root-signed grant, or by a hop signed by the previous
    /// holder's proven key. False when there is no key, or its binding is
    /// a claim.
    pub holder_key_proven: bool,
    /// Whether the block is a delegation whose delegator is proven: the
    /// verified authority block, or a hop signed by the previous holder's
    /// proven key. False for unsigned hops, hops signed by other keys, and
    /// blocks that delegate nothing.
    pub delegation_proven: bool,
    /// Who signed the block.
    pub signer: Signer,
    /// Whether the block's signatures were verified (see [`Chain::verified`]).
    pub verified: bool,
    /// The rights the block's rights check enforces (empty: no rights check).
    pub rights: Vec<Right>,
    /// The caps the block's checks enforce.
    pub caps: Vec<Cap>,
    /// The expiry the block's check enforces.
    pub expires_at: Option<SystemTime>,
    /// The maximum depth the block states.
    pub max_depth: Option<u32>,
    /// The resources the block is for (RFC 8707 resource indicators, in
    /// canonical form, sorted), when it names any: `None` for a block that
    /// does not restrict audiences. See [`Chain::check_audience`].
    pub audiences: Option<Vec<String>>,
    /// What each of the block's checks is, in the block's order (the check
    /// ids biscuit-auth reports for failed checks index this).
    pub checks: Vec<CheckRole>,
    /// Whether the block holds anything agentcap does not recognise: a
    /// rule, a fact named as a request fact (`resource`, `time`, ...), or a
    /// check of another shape ([`CheckRole::Other`]). Such a block is only
    /// ever evaluated by Datalog; a recognised one is exactly its
    /// restrictions, which [`Chain::allows_request`] evaluates directly.
    pub unrecognised: bool,
    /// An attestation's statement.
    pub attestation: Option<String>,
    /// The block's revocation id (its signature), hex.
    pub revocation_id: String,
}

impl ChainBlock {
    /// The number of checks inspection cannot describe ([`CheckRole::Other`]).
    pub fn other_checks(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| **c == CheckRole::Other)
            .count()
    }

    /// Who this block is, in words: "the grant from alice to assistant",
    /// "hop 2 (assistant → search)", "the narrowing by search", ... Names
    /// are [`escape`]d.
    pub fn describe(&self) -> String {
        match (&self.kind, &self.delegation) {
            (BlockKind::Authority, Some(d)) => {
                format!("the grant from {} to {}", escape(&d.from), escape(&d.to))
            }
            (BlockKind::Hop, Some(d)) => {
                format!("hop {} ({} → {})", d.depth, escape(&d.from), escape(&d.to))
            }
            (BlockKind::Narrowing, _) => {
                format!(
                    "the narrowing by {} (block {})",
                    escape(&self.holder),
                    self.index
                )
            }
            (BlockKind::Attestation, _) => format!("the attestation in block {}", self.index),
            _ => format!("block {}", self.index),
        }
    }
}

impl Chain {
    /// The first agent, the user's direct delegate.
    pub fn first_agent(&self) -> &str {
        self.blocks.first().map_or("", |b| b.holder.as_str())
    }

    /// The current holder: the last agent delegated to.
    pub fn holder(&self) -> &str {
        self.blocks.last().map_or("", |b| b.holder.as_str())
    }

    /// The key bound to the current holder, if any.
    pub fn holder_key(&self) -> Option<PublicKey> {
        self.blocks.last().and_then(|b| b.holder_key)
    }

    /// The agents in order, first agent to current holder.
    pub fn agents(&self) -> Vec<&str> {
        self.blocks
            .iter()
            .filter_map(|b| b.delegation.as_ref().map(|d| d.to.as_str()))
            .collect()
    }

    /// The number of hops.
    pub fn depth(&self) -> u32 {
        self.hops().count() as u32
    }

    /// The hop blocks.
    pub fn hops(&self) -> impl Iterator<Item = &ChainBlock> {
        self.blocks.iter().filter(|b| b.kind == BlockKind::Hop)
    }

    /// The smallest maximum depth any block states.
    pub fn max_depth(&self) -> Option<u32> {
        self.blocks.iter().filter_map(|b| b.max_depth).min()
    }

    /// The earliest expiry any block states.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.blocks.iter().filter_map(|b| b.expires_at).min()
    }

    /// The caps that concern a request for `operation` on the concrete
    /// `resource`, with the index of the block stating each.
    pub fn caps_for<'a>(
        &'a self,
        resource: &'a str,
        operation: &'a str,
    ) -> impl Iterator<Item = (usize, &'a Cap)> + 'a {
        self.blocks.iter().flat_map(move |b| {
            b.caps
                .iter()
                .filter(move |c| c.applies_to(resource, operation))
                .map(move |c| (b.index, c))
        })
    }

    /// Whether the chain's caps, as stated, are tightened by `cap` no less
    /// than by what already holds: `Some(parent)` names a stated cap
    /// `cap` would loosen (see [`Cap::is_looser_than`]).
    pub fn loosened_by(&self, cap: &Cap) -> Option<String> {
        let overlapping: Vec<&Cap> = self
            .blocks
            .iter()
            .flat_map(|b| &b.caps)
            .filter(|held| held.overlaps(cap))
            .collect();
        if let Some(parent) = overlapping.iter().find(|held| cap.is_looser_than(held)) {
            return Some(parent.to_string());
        }
        // Without a cap stating a lower bound, negative values are refused.
        if cap.min.is_some_and(|min| min < 0) && overlapping.is_empty() {
            return Some(format!(
                "{}:{}: no negative {}",
                cap.resource, cap.operation, cap.name
            ));
        }
        None
    }

    /// The rule on quantities that a cap's Datalog check cannot state: a
    /// negative quantity is refused unless the grant (the authority block)
    /// has a cap on it that applies to the request and allows the value, and
    /// every cap on it in the chain that applies states a lower bound (a cap
    /// without one refuses negative values). Bounds themselves are enforced
    /// by the caps' checks in the token.
    ///
    /// Both [`Token::check`](crate::Token::check) and the verifier call this
    /// after the token's checks pass. Anchoring the permission in the
    /// authority block keeps attenuation monotone: no appended block can
    /// allow a negative value the grant does not.
    pub fn check_quantities(
        &self,
        resource: &str,
        operation: &str,
        quantities: &[(String, i64)],
    ) -> Result<(), Error> {
        for (name, value) in quantities {
            if *value >= 0 {
                continue;
            }
            let mut granted = false;
            for (block, cap) in self.caps_for(resource, operation) {
                if cap.name != *name {
                    continue;
                }
                if cap.min.is_none_or(|min| min > *value) {
                    return Err(Error::QuantityRefused {
                        name: name.clone(),
                        value: *value,
                        reason: "below the lower bound of a cap (a cap without one refuses negative values)",
                    });
                }
                granted |= block == 0;
            }
            if !granted {
                return Err(Error::QuantityRefused {
                    name: name.clone(),
                    value: *value,
                    reason: "negative, and no cap of the grant allows negative values",
                });
            }
        }
        Ok(())
    }

    /// Whether every block that states rights states one covering `right`:
    /// whether the chain, as stated, holds it.
    pub fn holds(&self, right: &Right) -> bool {
        self.blocks
            .iter()
            .filter(|b| !b.rights.is_empty())
            .all(|b| b.rights.iter().any(|held| held.covers(right)))
    }

    /// Whether the stated rights allow `operation` on the concrete `resource`.
    pub fn allows(&self, resource: &str, operation: &str) -> bool {
        self.blocks
            .iter()
            .filter(|b| !b.rights.is_empty())
            .all(|b| b.rights.iter().any(|held| held.allows(resource, operation)))
    }

    /// Whether every check of the token passes for `request` at `time`
    /// (unix seconds, as the authorizer states it) with the service's
    /// resource identifier `audience`, evaluated from the chain's
    /// restrictions without Datalog; `None` when a block is
    /// [`unrecognised`](ChainBlock::unrecognised), and the answer is
    /// Datalog's alone.
    ///
    /// Each recognised check is the one its builder in the vocabulary
    /// writes: the expiry (`time <= expires`), the rights (one right allows
    /// the resource and operation), a cap (another operation, a resource
    /// outside its pattern, or the quantity present and within bounds), the
    /// audiences (no audience stated, or one of them). The property test
    /// `native_evaluation_agrees_with_datalog` holds the two to the same
    /// answers.
    pub fn allows_request(
        &self,
        request: &crate::Request,
        time: u64,
        audience: Option<&str>,
    ) -> Option<bool> {
        if self.blocks.iter().any(|b| b.unrecognised) {
            return None;
        }
        let (resource, operation) = (request.resource(), request.operation());
        let quantity = |name: &str| {
            request
                .quantities()
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| *v)
        };
        let passes = |block: &ChainBlock, role: &CheckRole| match role {
            CheckRole::Expiry => block
                .expires_at
                .is_some_and(|at| crate::unix_time::to_unix(at) >= time),
            CheckRole::Rights => block.rights.iter().any(|r| r.allows(resource, operation)),
            CheckRole::Cap(i) => block.caps.get(*i).is_some_and(|cap| {
                cap.operation != operation
                    || !cap.resource.matches(resource)
                    || quantity(&cap.name).is_some_and(|v| cap.within(v))
            }),
            CheckRole::Audience => match (audience, &block.audiences) {
                (None, _) => true,
                (Some(a), Some(named)) => named.iter().any(|n| n == a),
                (Some(_), None) => false,
            },
            CheckRole::Other => false,
        };
        Some(
            self.blocks
                .iter()
                .all(|b| b.checks.iter().all(|role| passes(b, role))),
        )
    }

    /// The block at `index`.
    pub fn block(&self, index: usize) -> Option<&ChainBlock> {
        self.blocks.get(index)
    }

    /// The revocation ids of all blocks, in order (hex).
    pub fn revocation_ids(&self) -> Vec<&str> {
        self.blocks
            .iter()
            .map(|b| b.revocation_id.as_str())
            .collect()
    }

    /// Checks the rules Datalog cannot express: the number of hops is within
    /// every stated maximum depth, and a holder bound to a key hands the token
    /// on only in a hop signed by that key.
    pub fn validate(&self) -> Result<(), Error> {
        let depth = self.depth();
        if let Some(max_depth) = self.max_depth()
            && depth > max_depth
        {
            return Err(Error::DepthExceeded { depth, max_depth });
        }
        let mut bound_key = None;
        for block in &self.blocks {
            if block.kind == BlockKind::Hop
                && let Some(expected) = bound_key
            {
                match &block.signer {
                    Signer::Key { key, .. } if *key == expected => {}
                    Signer::Key { .. } => {
                        return Err(Error::WrongHopSigner { block: block.index });
                    }
                    _ => return Err(Error::UnsignedHop { block: block.index }),
                }
            }
            bound_key = block.holder_key;
        }
        Ok(())
    }
}
