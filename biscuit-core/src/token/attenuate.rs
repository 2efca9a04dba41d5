//! Attenuation: delegating to a sub-agent, narrowing for one call,
//! attesting, sealing. Every block comes from its [`shape`](crate::chain::shape),
//! which yields the block and the chain's reading of it together.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use biscuit_auth::BlockBuilder;

use super::grant::{Hop, parse_caps, parse_rights, ttl_seconds, validate_text};
use super::{Inner, Token, unix_seconds};
use crate::audience::canonical_resources;
use crate::chain::shape::{AttestationShape, HopShape, NarrowingShape, Passed};
use crate::chain::{BlockContent, Chain};
use crate::display::escape;
use crate::error::Error;
use crate::keys::KeyPair;
use crate::rights::{Cap, ResourcePattern, Right, validate_name, validate_operation};
use crate::unix_time::from_unix;

/// What a hop passes on, validated against its parent.
struct HopTerms {
    rights: Vec<Right>,
    caps: Vec<Cap>,
    expires: u64,
    depth: u32,
    audiences: Vec<String>,
}

impl Token {
    /// Delegates to a sub-agent: appends a hop block.
    ///
    /// When `signer` is given, the hop is a third-party block signed by it,
    /// proving who delegated; it must be given, and be the bound key, when
    /// the current holder is bound to a key. Asking for a right the chain
    /// does not hold, a looser cap, a longer life or a deeper chain is
    /// refused here (the checks in the token enforce it anyway).
    pub fn delegate(&self, hop: &Hop, signer: Option<&KeyPair>) -> Result<Token, Error> {
        self.refuse_if_sealed()?;
        validate_name("agent", &hop.to)?;
        let terms = self.hop_terms(hop)?;
        let from = self.chain.holder();
        match (self.chain.holder_key(), signer) {
            (Some(_), None) => {
                return Err(Error::SigningKeyRequired {
                    holder: from.to_owned(),
                });
            }
            (Some(key), Some(signer)) if signer.public() != key => {
                return Err(Error::WrongSigningKey {
                    holder: from.to_owned(),
                });
            }
            _ => {}
        }
        let (block, content) = HopShape {
            depth: terms.depth,
            from,
            to: &hop.to,
            to_key: hop.to_key,
            passed: Passed {
                rights: &terms.rights,
                caps: &terms.caps,
                expires: terms.expires,
                max_depth: hop.max_depth,
                audiences: &terms.audiences,
            },
        }
        .write();
        let inner = self.append(block, signer)?;
        Ok(self.extend(inner, content, signer))
    }

    /// Validates a hop against the chain: rights held, caps no looser,
    /// audiences within those in force, a life no longer, a depth within
    /// every maximum.
    fn hop_terms(&self, hop: &Hop) -> Result<HopTerms, Error> {
        let now = unix_seconds(hop.at.unwrap_or_else(SystemTime::now))?;
        let parent_expiry = self.unexpired_expiry(now)?;
        let rights = parse_rights(&hop.rights)?;
        if let Some(right) = rights.iter().find(|r| !self.chain.holds(r)) {
            return Err(Error::RightNotHeld {
                right: right.clone(),
            });
        }
        let caps = parse_caps(&hop.caps)?;
        for cap in &caps {
            if let Some(parent) = self.chain.loosened_by(cap) {
                return Err(Error::CapExceedsParent {
                    requested: escape(&cap.to_string()).into_owned(),
                    parent: escape(&parent).into_owned(),
                });
            }
        }
        let audiences = canonical_resources(&hop.audiences)?;
        if let Some(in_force) = self.chain.audiences()
            && let Some(wider) = audiences.iter().find(|a| !in_force.contains(&a.as_str()))
        {
            return Err(Error::AudienceNotHeld {
                audience: escape(wider).into_owned(),
            });
        }
        let expires = match hop.ttl {
            Some(ttl) => self.child_expiry(now, ttl, parent_expiry)?,
            None => parent_expiry,
        };
        let depth = self.chain.depth() + 1;
        let parent_max = self.chain.max_depth().unwrap_or(u32::MAX);
        if depth > parent_max {
            return Err(Error::DepthExceeded {
                depth,
                max_depth: parent_max,
            });
        }
        if let Some(requested) = hop.max_depth
            && (requested < depth || requested > parent_max)
        {
            return Err(Error::InvalidMaxDepth {
                requested,
                depth,
                parent: parent_max,
            });
        }
        Ok(HopTerms {
            rights,
            caps,
            expires,
            depth,
            audiences,
        })
    }

    /// Restricts the token to exactly one concrete resource and operation for
    /// `ttl` (whole seconds): what a holder does before each tool call.
    pub fn narrow(&self, resource: &str, operation: &str, ttl: Duration) -> Result<Token, Error> {
        self.narrow_at(resource, operation, ttl, SystemTime::now())
    }

    /// [`Token::narrow`] at a given time.
    pub fn narrow_at(
        &self,
        resource: &str,
        operation: &str,
        ttl: Duration,
        at: SystemTime,
    ) -> Result<Token, Error> {
        self.refuse_if_sealed()?;
        validate_operation(operation)?;
        let right = Right {
            resource: ResourcePattern::exact(resource)?,
            operation: operation.to_owned(),
        };
        if !self.chain.holds(&right) {
            return Err(Error::RightNotHeld { right });
        }
        let now = unix_seconds(at)?;
        let parent_expiry = self.unexpired_expiry(now)?;
        let expires = self.child_expiry(now, ttl, parent_expiry)?;
        let (block, content) = NarrowingShape {
            holder: self.chain.holder(),
            right: &right,
            expires,
        }
        .write();
        let inner = self.append(block, None)?;
        Ok(self.extend(inner, content, None))
    }

    /// Appends a third party's signed statement (an approval, say). It adds
    /// no authority and no restriction.
    pub fn attest(&self, signer: &KeyPair, statement: &str) -> Result<Token, Error> {
        self.refuse_if_sealed()?;
        validate_text("attestation", statement)?;
        let (block, content) = AttestationShape { statement }.write();
        let inner = self.append(block, Some(signer))?;
        Ok(self.extend(inner, content, Some(signer)))
    }

    /// Seals the token: it can be used, but no longer attenuated.
    pub fn seal(&self) -> Result<Token, Error> {
        self.refuse_if_sealed()?;
        let inner = match &self.inner {
            Inner::Verified(b) => Inner::Verified(b.seal().map_err(Error::from_biscuit)?),
            Inner::Unverified(b) => Inner::Unverified(b.seal().map_err(Error::from_biscuit)?),
        };
        let mut chain = Chain::clone(&self.chain);
        chain.sealed = true;
        Ok(Token {
            inner,
            root: self.root,
            chain: Arc::new(chain),
        })
    }

    fn refuse_if_sealed(&self) -> Result<(), Error> {
        if self.chain.sealed {
            return Err(Error::Sealed);
        }
        Ok(())
    }

    /// The chain's expiry, or [`Error::Expired`] if it is past at `now`.
    fn unexpired_expiry(&self, now: u64) -> Result<u64, Error> {
        let expiry = self
            .chain
            .expires_at()
            .map(unix_seconds)
            .transpose()?
            .unwrap_or(u64::MAX);
        if now > expiry {
            return Err(Error::Expired {
                expired_at: from_unix(expiry),
            });
        }
        Ok(expiry)
    }

    fn child_expiry(&self, now: u64, ttl: Duration, parent_expiry: u64) -> Result<u64, Error> {
        let expires = now + ttl_seconds(ttl)?;
        if expires > parent_expiry {
            return Err(Error::TtlExceedsParent {
                requested: from_unix(expires),
                parent: from_unix(parent_expiry),
            });
        }
        Ok(expires)
    }

    fn append(&self, block: BlockBuilder, signer: Option<&KeyPair>) -> Result<Inner, Error> {
        let map = Error::from_biscuit;
        Ok(match (&self.inner, signer) {
            (Inner::Verified(b), None) => Inner::Verified(b.append(block).map_err(map)?),
            (Inner::Unverified(b), None) => Inner::Unverified(b.append(block).map_err(map)?),
            (Inner::Verified(b), Some(key)) => {
                let request = b.third_party_request().map_err(map)?;
                let signed = request
                    .create_block(&key.biscuit().private(), block)
                    .map_err(map)?;
                Inner::Verified(
                    b.append_third_party(key.biscuit().public(), signed)
                        .map_err(map)?,
                )
            }
            (Inner::Unverified(b), Some(key)) => {
                let request = b.third_party_request().map_err(map)?;
                let signed = request
                    .create_block(&key.biscuit().private(), block)
                    .map_err(map)?;
                let serialized = signed.serialize().map_err(map)?;
                Inner::Unverified(b.append_third_party(&serialized).map_err(map)?)
            }
        })
    }

    /// The token with `inner` as its Biscuit and the block `content`
    /// describes appended to its chain, read as the chain reader reads it.
    fn extend(&self, inner: Inner, content: BlockContent, signer: Option<&KeyPair>) -> Token {
        let ids = match &inner {
            Inner::Verified(b) => b.revocation_identifiers(),
            Inner::Unverified(b) => b.revocation_identifiers(),
        };
        let mut chain = Chain::clone(&self.chain);
        chain.push_block(
            content,
            signer.map(KeyPair::public),
            last_revocation_id(&ids),
        );
        Token {
            inner,
            root: self.root,
            chain: Arc::new(chain),
        }
    }
}

pub(super) fn last_revocation_id(ids: &[Vec<u8>]) -> String {
    ids.last().map(hex::encode).unwrap_or_default()
}
