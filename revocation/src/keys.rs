//! Key ids and the set of trusted list keys. Lists are signed with an
//! [`agentcap::KeyPair`] and checked against [`agentcap::PublicKey`]s: the
//! same keys, files and text forms (`ed25519/<hex>`) as the rest of agentcap.

use std::collections::BTreeMap;
use std::fmt;

use agentcap::PublicKey;
use sha2::{Digest, Sha256};

const KEY_ID_DOMAIN: &[u8] = b"agentcap-revocation v1 key id\0";

/// Short identifier of a list key: the first 8 bytes of SHA-256 over a
/// domain-separation prefix and the 32-byte public key.
///
/// It only selects which trusted key to verify with; the signature is what
/// proves anything.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId([u8; 8]);

impl KeyId {
    /// The id of `key`.
    pub fn of(key: &PublicKey) -> Self {
        let mut h = Sha256::new();
        h.update(KEY_ID_DOMAIN);
        h.update(key.to_bytes());
        let d = h.finalize();
        let mut out = [0u8; 8];
        out.copy_from_slice(&d[..8]);
        Self(out)
    }

    /// Wraps the 8 bytes found in an encoded object.
    pub const fn from_bytes(bytes: [u8; 8]) -> Self {
        Self(bytes)
    }

    /// The 8 bytes.
    pub const fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", hex::encode(self.0))
    }
}

/// The list keys a verifier accepts, by key id. Holding several lets the
/// authority rotate its list key without breaking verifiers.
#[derive(Clone, Debug, Default)]
pub struct TrustedListKeys {
    keys: BTreeMap<KeyId, PublicKey>,
}

impl TrustedListKeys {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The set with `key` added.
    #[must_use]
    pub fn with(mut self, key: PublicKey) -> Self {
        self.insert(key);
        self
    }

    /// Adds `key`.
    pub fn insert(&mut self, key: PublicKey) {
        self.keys.insert(KeyId::of(&key), key);
    }

    /// Removes the key with id `id` (after a rotation is complete).
    pub fn remove(&mut self, id: &KeyId) -> Option<PublicKey> {
        self.keys.remove(id)
    }

    /// The key with id `id`, if trusted.
    pub fn get(&self, id: &KeyId) -> Option<&PublicKey> {
        self.keys.get(id)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl From<PublicKey> for TrustedListKeys {
    fn from(key: PublicKey) -> Self {
        Self::new().with(key)
    }
}
