//! List-signing keys, key ids and the set of trusted list keys.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::Path;

use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::error::KeyError;

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
    pub fn of(key: &VerifyingKey) -> Self {
        let mut h = Sha256::new();
        h.update(KEY_ID_DOMAIN);
        h.update(key.as_bytes());
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

/// The private key a revocation authority signs lists, deltas and heads
/// with (Ed25519).
///
/// Its `Debug` output never shows the secret.
pub struct ListSigningKey {
    key: SigningKey,
    id: KeyId,
}

impl ListSigningKey {
    /// A fresh random key from the operating system's generator.
    pub fn generate() -> Self {
        Self::from_signing_key(SigningKey::generate(&mut rand::rngs::OsRng))
    }

    /// The key with the 32-byte Ed25519 seed `seed` (for test vectors and
    /// key import).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self::from_signing_key(SigningKey::from_bytes(seed))
    }

    fn from_signing_key(key: SigningKey) -> Self {
        let id = KeyId::of(&key.verifying_key());
        Self { key, id }
    }

    /// The key id written into every object this key signs.
    pub fn key_id(&self) -> KeyId {
        self.id
    }

    /// The public half, to hand to verifiers.
    pub fn verifying_key(&self) -> ListVerifyingKey {
        ListVerifyingKey::from_dalek(self.key.verifying_key())
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }

    /// Writes the key as PKCS#8 PEM to a new file created with mode 0600.
    /// An existing file is never overwritten.
    pub fn write_pem_file(&self, path: &Path) -> Result<(), KeyError> {
        let pem = self
            .key
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .map_err(|_| KeyError::Invalid("cannot encode key as PKCS#8"))?;
        let io = |source| KeyError::Io {
            action: "writing key file",
            path: path.to_path_buf(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(io)?;
        file.write_all(pem.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(())
    }

    /// Reads a key written by [`write_pem_file`](Self::write_pem_file).
    pub fn read_pem_file(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
            action: "reading key file",
            path: path.to_path_buf(),
            source,
        })?;
        let key = SigningKey::from_pkcs8_pem(&text)
            .map_err(|_| KeyError::Invalid("not a PKCS#8 PEM Ed25519 private key"))?;
        Ok(Self::from_signing_key(key))
    }
}

impl fmt::Debug for ListSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListSigningKey")
            .field("key_id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The public key verifiers check lists, deltas and heads against.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ListVerifyingKey {
    key: VerifyingKey,
    id: KeyId,
}

impl ListVerifyingKey {
    fn from_dalek(key: VerifyingKey) -> Self {
        Self {
            id: KeyId::of(&key),
            key,
        }
    }

    /// The key from its 32 public key bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        VerifyingKey::from_bytes(bytes)
            .map(Self::from_dalek)
            .map_err(|_| KeyError::Invalid("not an Ed25519 public key"))
    }

    /// The key from 64 hexadecimal characters.
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes)
            .map_err(|_| KeyError::Invalid("expected 64 hexadecimal characters"))?;
        Self::from_bytes(&bytes)
    }

    /// The 32 public key bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The key's id.
    pub fn key_id(&self) -> KeyId {
        self.id
    }

    pub(crate) fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let sig = ed25519_dalek::Signature::from_bytes(signature);
        self.key.verify_strict(message, &sig).is_ok()
    }
}

impl fmt::Debug for ListVerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ListVerifyingKey({})", hex::encode(self.key.as_bytes()))
    }
}

/// The list keys a verifier accepts, by key id. Holding several lets the
/// authority rotate its list key without breaking verifiers.
#[derive(Clone, Debug, Default)]
pub struct TrustedListKeys {
    keys: BTreeMap<KeyId, ListVerifyingKey>,
}

impl TrustedListKeys {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The set with `key` added.
    #[must_use]
    pub fn with(mut self, key: ListVerifyingKey) -> Self {
        self.insert(key);
        self
    }

    /// Adds `key`.
    pub fn insert(&mut self, key: ListVerifyingKey) {
        self.keys.insert(key.key_id(), key);
    }

    /// Removes the key with id `id` (after a rotation is complete).
    pub fn remove(&mut self, id: &KeyId) -> Option<ListVerifyingKey> {
        self.keys.remove(id)
    }

    /// The key with id `id`, if trusted.
    pub fn get(&self, id: &KeyId) -> Option<&ListVerifyingKey> {
        self.keys.get(id)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl From<ListVerifyingKey> for TrustedListKeys {
    fn from(key: ListVerifyingKey) -> Self {
        Self::new().with(key)
    }
}
