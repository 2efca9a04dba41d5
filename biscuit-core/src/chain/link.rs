//! What a block says, whether written by a [`shape`](super::shape) or read
//! from the wire, and how it joins the chain: the one place that decides who
//! holds the token after a block, who signed it and what is proven.

use std::time::SystemTime;

use super::{BlockKind, Chain, ChainBlock, CheckRole, Delegation, Signer};
use crate::keys::PublicKey;
use crate::rights::{Cap, Right};

/// What a block enforces through its checks (rights, caps, expiry, audiences), the
/// maximum depth it states, and the role of each check in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Restrictions {
    pub rights: Vec<Right>,
    pub caps: Vec<Cap>,
    pub expires_at: Option<SystemTime>,
    pub max_depth: Option<u32>,
    pub audiences: Option<Vec<String>>,
    pub checks: Vec<CheckRole>,
    pub unrecognised: bool,
}

/// What one block says, as agentcap reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlockContent {
    pub kind: BlockKind,
    /// For the grant and hops: who delegated to whom.
    pub delegation: Option<Delegation>,
    /// The key the block binds to its new holder (grant and hops only).
    pub holder_key: Option<PublicKey>,
    pub restrictions: Restrictions,
    pub attestation: Option<String>,
}

impl Chain {
    /// The chain of one block: `header` is what the grant states about the
    /// whole chain (user, tenant, intent, issue date, root key id, whether
    /// verified), with no blocks yet; `grant` is its block.
    pub(crate) fn from_grant(
        mut header: Chain,
        grant: BlockContent,
        revocation_id: String,
    ) -> Chain {
        header.blocks.clear();
        header.push_block(grant, None, revocation_id);
        header
    }

    /// Appends a block: its holder (the new one for the grant and hops, else
    /// the current one), its signer, and what it proves. A binding is proven
    /// only down an unbroken line of proven keys from the verified grant.
    pub(crate) fn push_block(
        &mut self,
        content: BlockContent,
        signer_key: Option<PublicKey>,
        revocation_id: String,
    ) {
        let verified = self.verified;
        let previous_key = self.holder_key();
        let previous_proven = verified && self.blocks.last().is_some_and(|b| b.holder_key_proven);
        let (holder, holder_key) = match &content.delegation {
            Some(d) => (d.to.clone(), content.holder_key),
            None => (self.holder().to_owned(), previous_key),
        };
        let (signer, holder_key_proven, delegation_proven) = if self.blocks.is_empty() {
            let signer = Signer::Root {
                key_id: self.root_key_id,
            };
            (signer, verified && holder_key.is_some(), verified)
        } else {
            let is_hop = content.kind == BlockKind::Hop;
            let is_delegator = matches!(signer_key, Some(key) if is_hop
                && previous_proven
                && previous_key == Some(key));
            let signer = match signer_key {
                None => Signer::Holder,
                Some(key) => Signer::Key { key, is_delegator },
            };
            let holder_key_proven = match is_hop {
                true => is_delegator && holder_key.is_some(),
                false => previous_proven,
            };
            (signer, holder_key_proven, is_hop && is_delegator)
        };
        let restrictions = content.restrictions;
        self.blocks.push(ChainBlock {
            index: self.blocks.len(),
            kind: content.kind,
            delegation: content.delegation,
            holder,
            holder_key,
            holder_key_proven,
            delegation_proven,
            signer,
            verified,
            rights: restrictions.rights,
            caps: restrictions.caps,
            expires_at: restrictions.expires_at,
            max_depth: restrictions.max_depth,
            audiences: restrictions.audiences,
            checks: restrictions.checks,
            unrecognised: restrictions.unrecognised,
            attestation: content.attestation,
            revocation_id,
        });
    }
}
