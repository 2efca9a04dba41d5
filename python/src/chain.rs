//! `Chain` and `ChainBlock`: a token read as who delegated to whom, with
//! what, signed by which key, proven or only claimed.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use agentcap::{Chain, ChainBlock, Signer};
use pyo3::prelude::*;

use crate::keys::PyPublicKey;

/// Unix seconds (a float) of a time; 0.0 before 1970.
pub fn unix_seconds(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// A token's delegation chain. Nothing in it is proven unless `verified`.
#[pyclass(module = "agentcap", frozen, name = "Chain")]
pub struct PyChain {
    chain: Arc<Chain>,
}

impl PyChain {
    /// Wraps a chain read by the core crate.
    pub fn new(chain: Arc<Chain>) -> Self {
        PyChain { chain }
    }
}

#[pymethods]
impl PyChain {
    /// The human principal.
    #[getter]
    fn user(&self) -> &str {
        &self.chain.user
    }

    /// The user's tenant, if the issuer named one.
    #[getter]
    fn tenant(&self) -> Option<&str> {
        self.chain.tenant.as_deref()
    }

    /// What the user approved, if the issuer recorded it.
    #[getter]
    fn intent(&self) -> Option<&str> {
        self.chain.intent.as_deref()
    }

    /// When the grant was issued (unix seconds).
    #[getter]
    fn issued_at(&self) -> f64 {
        unix_seconds(self.chain.issued_at)
    }

    /// The root key id the token names, if any (a hint, not signed).
    #[getter]
    fn root_key_id(&self) -> Option<u32> {
        self.chain.root_key_id
    }

    /// Whether every signature was verified against a root public key.
    #[getter]
    fn verified(&self) -> bool {
        self.chain.verified
    }

    /// Whether the token is sealed.
    #[getter]
    fn sealed(&self) -> bool {
        self.chain.sealed
    }

    /// The agents, first to current holder.
    #[getter]
    fn agents(&self) -> Vec<&str> {
        self.chain.agents()
    }

    /// The current holder.
    #[getter]
    fn holder(&self) -> &str {
        self.chain.holder()
    }

    /// The key bound to the current holder, if any.
    #[getter]
    fn holder_key(&self) -> Option<PyPublicKey> {
        self.chain.holder_key().map(|inner| PyPublicKey { inner })
    }

    /// The number of hops.
    #[getter]
    fn depth(&self) -> u32 {
        self.chain.depth()
    }

    /// The smallest maximum depth stated in the chain.
    #[getter]
    fn max_depth(&self) -> Option<u32> {
        self.chain.max_depth()
    }

    /// The earliest expiry in the chain (unix seconds), if any.
    #[getter]
    fn expires_at(&self) -> Option<f64> {
        self.chain.expires_at().map(unix_seconds)
    }

    /// The blocks, authority first.
    #[getter]
    fn blocks(&self) -> Vec<PyChainBlock> {
        (0..self.chain.blocks.len())
            .map(|index| PyChainBlock {
                chain: Arc::clone(&self.chain),
                index,
            })
            .collect()
    }

    /// The blocks' revocation ids (hex), authority first.
    #[getter]
    fn revocation_ids(&self) -> Vec<&str> {
        self.chain.revocation_ids()
    }

    /// Whether every block's rights allow `operation` on `resource`
    /// (rights only: no caps, expiry or signatures; use `Token.check`).
    fn allows(&self, resource: &str, operation: &str) -> bool {
        self.chain.allows(resource, operation)
    }

    fn __len__(&self) -> usize {
        self.chain.blocks.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "Chain(user={:?}, agents={:?}, verified={})",
            self.chain.user,
            self.chain.agents(),
            self.chain.verified
        )
    }
}

/// One block of a chain.
#[pyclass(module = "agentcap", frozen, name = "ChainBlock")]
pub struct PyChainBlock {
    chain: Arc<Chain>,
    index: usize,
}

impl PyChainBlock {
    fn block(&self) -> Option<&ChainBlock> {
        self.chain.blocks.get(self.index)
    }

    fn with<T: Default>(&self, f: impl FnOnce(&ChainBlock) -> T) -> T {
        self.block().map(f).unwrap_or_default()
    }
}

#[pymethods]
impl PyChainBlock {
    /// Position in the token (0 is the authority block).
    #[getter]
    fn index(&self) -> usize {
        self.index
    }

    /// `authority`, `hop`, `narrowing`, `attestation` or `unlabelled`.
    #[getter]
    fn kind(&self) -> &'static str {
        self.with(|b| b.kind.as_str())
    }

    /// For the authority block and hops: the delegator (the user, then the
    /// previous holder).
    #[getter]
    fn delegator(&self) -> Option<String> {
        self.with(|b| b.delegation.as_ref().map(|d| d.from.clone()))
    }

    /// For the authority block and hops: the depth (0, then 1, 2, ...).
    #[getter]
    fn depth(&self) -> Option<u32> {
        self.with(|b| b.delegation.as_ref().map(|d| d.depth))
    }

    /// The holder after this block.
    #[getter]
    fn holder(&self) -> String {
        self.with(|b| b.holder.clone())
    }

    /// The key bound to the holder after this block, if any.
    #[getter]
    fn holder_key(&self) -> Option<PyPublicKey> {
        self.with(|b| b.holder_key.map(|inner| PyPublicKey { inner }))
    }

    /// Whether `holder_key` is proven (bound by the verified grant or by a
    /// hop signed by the previous holder's proven key).
    #[getter]
    fn holder_key_proven(&self) -> bool {
        self.with(|b| b.holder_key_proven)
    }

    /// Whether the block is a delegation whose delegator is proven.
    #[getter]
    fn delegation_proven(&self) -> bool {
        self.with(|b| b.delegation_proven)
    }

    /// For delegations: `"proven"` or `"claimed"`; None for other blocks.
    #[getter]
    fn status(&self) -> Option<&'static str> {
        self.with(|b| {
            b.delegation.as_ref().map(|_| {
                if b.delegation_proven {
                    "proven"
                } else {
                    "claimed"
                }
            })
        })
    }

    /// Who signed the block: `"root"`, `"holder"` (anonymously) or `"key"`.
    #[getter]
    fn signer(&self) -> &'static str {
        self.with(|b| match &b.signer {
            Signer::Root { .. } => "root",
            Signer::Holder => "holder",
            _ => "key",
        })
    }

    /// The signing key, for blocks signed by an agent's or third party's key.
    #[getter]
    fn signer_key(&self) -> Option<PyPublicKey> {
        self.with(|b| match &b.signer {
            Signer::Key { key, .. } => Some(PyPublicKey { inner: *key }),
            _ => None,
        })
    }

    /// Whether the block's signatures were verified.
    #[getter]
    fn verified(&self) -> bool {
        self.with(|b| b.verified)
    }

    /// The rights the block enforces, as `RESOURCE:OPERATION`.
    #[getter]
    fn rights(&self) -> Vec<String> {
        self.with(|b| b.rights.iter().map(ToString::to_string).collect())
    }

    /// The caps the block enforces, in text form.
    #[getter]
    fn caps(&self) -> Vec<String> {
        self.with(|b| b.caps.iter().map(ToString::to_string).collect())
    }

    /// The block's expiry (unix seconds), if it states one.
    #[getter]
    fn expires_at(&self) -> Option<f64> {
        self.with(|b| b.expires_at.map(unix_seconds))
    }

    /// The maximum depth the block states.
    #[getter]
    fn max_depth(&self) -> Option<u32> {
        self.with(|b| b.max_depth)
    }

    /// The resources the block is for (canonical URIs), if it names any.
    #[getter]
    fn audiences(&self) -> Option<Vec<String>> {
        self.with(|b| b.audiences.clone())
    }

    /// An attestation's statement.
    #[getter]
    fn attestation(&self) -> Option<String> {
        self.with(|b| b.attestation.clone())
    }

    /// The block's revocation id (hex).
    #[getter]
    fn revocation_id(&self) -> String {
        self.with(|b| b.revocation_id.clone())
    }

    /// The block in one line, as `agentcap inspect` shows it.
    fn describe(&self) -> String {
        self.with(ChainBlock::describe)
    }

    fn __repr__(&self) -> String {
        format!("ChainBlock({})", self.describe())
    }
}
