//! Ed25519 keys for issuers (root keys) and agents: generation, text and PEM
//! forms compatible with biscuit-cli, and key files written 0600.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use biscuit_auth::Algorithm;
use zeroize::Zeroizing;

use crate::error::Error;
use crate::files::{self, FileMode};

/// The largest key file we read; anything larger is not a key.
const MAX_KEY_FILE_BYTES: u64 = 16 * 1024;

/// A private Ed25519 key with its public half: an issuer's root key or an
/// agent's key. Its `Debug` output shows only the public key.
pub struct KeyPair {
    inner: biscuit_auth::KeyPair,
    /// The same key as ed25519-dalek holds it, expanded once (with its
    /// public half) instead of at every signature; zeroized on drop.
    signing: Option<ed25519_dalek::SigningKey>,
}

impl Clone for KeyPair {
    fn clone(&self) -> Self {
        KeyPair::wrap(biscuit_auth::KeyPair::from(&self.inner.private()))
    }
}

/// An Ed25519 public key. Its text form is biscuit-cli's `ed25519/<hex>`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(biscuit_auth::PublicKey);

/// The text form used when saving a private key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyFormat {
    /// `ed25519-private/<hex>`, as biscuit-cli writes it.
    #[default]
    Text,
    /// PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    Pem,
}

/// What to do when the destination of [`KeyPair::save`] exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overwrite {
    /// Refuse with [`Error::KeyFileExists`].
    #[default]
    Refuse,
    /// Replace the file atomically.
    Replace,
}

impl KeyPair {
    /// Generates a new key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        KeyPair::wrap(biscuit_auth::KeyPair::new())
    }

    fn wrap(inner: biscuit_auth::KeyPair) -> Self {
        let bytes = Zeroizing::new(inner.private().to_bytes());
        let signing = <&[u8; 32]>::try_from(bytes.as_slice())
            .ok()
            .map(ed25519_dalek::SigningKey::from_bytes);
        KeyPair { inner, signing }
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.inner.public())
    }

    /// Parses a private key: `ed25519-private/<hex>`, bare hex (64 digits), or
    /// PKCS#8 PEM. Surrounding whitespace is ignored.
    pub fn from_text(text: &str) -> Result<Self, Error> {
        let text = text.trim();
        let private = if text.starts_with("-----BEGIN") {
            biscuit_auth::PrivateKey::from_pem(text)
                .map_err(|_| Error::InvalidKey("not a PKCS#8 PEM Ed25519 private key"))?
        } else {
            let hex = match text.split_once('/') {
                Some(("ed25519-private", hex)) => hex,
                Some(_) => {
                    return Err(Error::InvalidKey(
                        "only ed25519-private/ keys are supported",
                    ));
                }
                None => text,
            };
            let bytes = Zeroizing::new(
                hex::decode(hex).map_err(|_| Error::InvalidKey("private key is not hex"))?,
            );
            biscuit_auth::PrivateKey::from_bytes(&bytes, Algorithm::Ed25519)
                .map_err(|_| Error::InvalidKey("an Ed25519 private key has 32 bytes"))?
        };
        if private.algorithm() != biscuit_auth::format::schema::public_key::Algorithm::Ed25519 {
            return Err(Error::InvalidKey("only Ed25519 keys are supported"));
        }
        Ok(KeyPair::wrap(biscuit_auth::KeyPair::from(&private)))
    }

    /// The `ed25519-private/<hex>` form. Handle with care: this is the secret.
    pub fn to_text(&self) -> Zeroizing<String> {
        Zeroizing::new(self.inner.private().to_prefixed_string())
    }

    /// The PKCS#8 PEM form. Handle with care: this is the secret.
    pub fn to_pem(&self) -> Result<Zeroizing<String>, Error> {
        self.inner
            .to_private_key_pem()
            .map_err(|_| Error::InvalidKey("cannot encode this key as PEM"))
    }

    /// Reads a private key file in any form [`KeyPair::from_text`] accepts.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let bytes = read_key_file(path)?;
        Self::from_text(key_text(&bytes)?)
    }

    /// Writes the key to `path`, readable by its owner only (0600), with
    /// [`files::create_new_private`] (never replacing a file, even one
    /// created concurrently) or, with [`Overwrite::Replace`],
    /// [`files::write_atomic`]: a crash never leaves half a key.
    pub fn save(
        &self,
        path: impl AsRef<Path>,
        format: KeyFormat,
        overwrite: Overwrite,
    ) -> Result<(), Error> {
        let path = path.as_ref();
        let mut text = match format {
            KeyFormat::Text => self.to_text(),
            KeyFormat::Pem => self.to_pem()?,
        };
        if !text.ends_with('\n') {
            text.push('\n');
        }
        let written = match overwrite {
            Overwrite::Refuse => files::create_new_private(path, text.as_bytes()),
            Overwrite::Replace => files::write_atomic(path, text.as_bytes(), FileMode::Private),
        };
        written.map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Error::KeyFileExists {
                    path: path.to_owned(),
                }
            } else {
                Error::io(path, e)
            }
        })
    }

    /// Signs `message` with Ed25519, with the key expanded once when it was
    /// loaded. For domain-separated messages only: `message` must start
    /// with a prefix naming its purpose, so that a signature made for one
    /// purpose can never be taken for another (tokens and holder proofs
    /// have their own formats; this is for other signed objects, such as
    /// revocation lists).
    pub fn sign(&self, message: &[u8]) -> Result<[u8; 64], Error> {
        use ed25519_dalek::Signer;
        Ok(self.signing_key()?.sign(message).to_bytes())
    }

    pub(crate) fn biscuit(&self) -> &biscuit_auth::KeyPair {
        &self.inner
    }

    /// The key as ed25519-dalek's signing key (the crate biscuit-auth uses).
    pub(crate) fn signing_key(&self) -> Result<&ed25519_dalek::SigningKey, Error> {
        self.signing
            .as_ref()
            .ok_or(Error::InvalidKey("not an Ed25519 private key"))
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("public", &self.public())
            .finish_non_exhaustive()
    }
}

impl PublicKey {
    /// Parses `ed25519/<hex>` or an SPKI PEM public key.
    ///
    /// Anything that is, or may be, a private key is refused, so that a
    /// secret is never embedded in a token as if it were public: the
    /// `ed25519-private/` form, a private-key PEM, and bare hex (64 hex
    /// digits are as much a private key as a public one). The input is never
    /// echoed in the error.
    pub fn from_text(text: &str) -> Result<Self, Error> {
        let text = text.trim();
        if text.starts_with("ed25519-private/") || text.starts_with("secp256r1-private/") {
            return Err(Error::InvalidKey(
                "this is a private key; a public key (ed25519/<hex> or PEM) is expected",
            ));
        }
        let key = if text.starts_with("-----BEGIN") {
            if text.contains("PRIVATE KEY") {
                return Err(Error::InvalidKey(
                    "this is a private key PEM; a public key (ed25519/<hex> or PEM) is expected",
                ));
            }
            biscuit_auth::PublicKey::from_pem(text)
                .map_err(|_| Error::InvalidKey("not a PEM Ed25519 public key"))?
        } else {
            let hex = match text.split_once('/') {
                Some(("ed25519", hex)) => hex,
                Some(_) => {
                    return Err(Error::InvalidKey("only ed25519/ public keys are supported"));
                }
                None => {
                    return Err(Error::InvalidKey(
                        "bare hex is ambiguous (it may be a private key); write a public key \
                         as ed25519/<hex> or PEM",
                    ));
                }
            };
            let bytes = hex::decode(hex).map_err(|_| Error::InvalidKey("public key is not hex"))?;
            Self::from_bytes(&bytes)?.0
        };
        Self::from_biscuit(key)
    }

    /// Builds a key from its 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        biscuit_auth::PublicKey::from_bytes(bytes, Algorithm::Ed25519)
            .map(PublicKey)
            .map_err(|_| Error::InvalidKey("an Ed25519 public key is 32 bytes on the curve"))
    }

    /// Reads a public key file in any form [`PublicKey::from_text`] accepts.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, Error> {
        let bytes = read_key_file(path.as_ref())?;
        Self::from_text(key_text(&bytes)?)
    }

    /// The 32 raw bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.to_bytes()
    }

    /// The SPKI PEM form.
    pub fn to_pem(&self) -> Result<String, Error> {
        self.0
            .to_pem()
            .map_err(|_| Error::InvalidKey("cannot encode this key as PEM"))
    }

    /// Whether `signature` is a valid Ed25519 signature of `message` by this
    /// key, under the strict rules (no weak keys, no malleable signatures).
    /// For domain-separated messages only (see [`KeyPair::sign`]).
    pub fn verify_strict(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let Ok(bytes) = <[u8; 32]>::try_from(self.0.to_bytes()) else {
            return false;
        };
        let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&bytes) else {
            return false;
        };
        let signature = ed25519_dalek::Signature::from_bytes(signature);
        key.verify_strict(message, &signature).is_ok()
    }

    pub(crate) fn from_biscuit(key: biscuit_auth::PublicKey) -> Result<Self, Error> {
        if key.algorithm() != biscuit_auth::format::schema::public_key::Algorithm::Ed25519 {
            return Err(Error::InvalidKey("only Ed25519 keys are supported"));
        }
        Ok(PublicKey(key))
    }

    /// The key as biscuit-auth's type, for use with biscuit-auth directly.
    pub fn to_biscuit(&self) -> biscuit_auth::PublicKey {
        self.0
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ed25519/{}", hex::encode(self.0.to_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for PublicKey {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::from_text(s)
    }
}

/// Reads a key file with [`files::read_bounded`]: at most
/// [`MAX_KEY_FILE_BYTES`], into a buffer zeroized on drop.
fn read_key_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, Error> {
    files::read_bounded(path, MAX_KEY_FILE_BYTES).map_err(|e| {
        if e.kind() == std::io::ErrorKind::FileTooLarge {
            Error::InvalidKey("key file is too large to be a key")
        } else {
            Error::io(path, e)
        }
    })
}

/// The text of a key file (borrowing the zeroized buffer, never copying).
fn key_text(bytes: &[u8]) -> Result<&str, Error> {
    std::str::from_utf8(bytes).map_err(|_| Error::InvalidKey("a key file is text"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn key_files_are_private_and_never_silently_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.key");
        let key = KeyPair::generate();
        key.save(&path, KeyFormat::Text, Overwrite::Refuse).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let other = KeyPair::generate();
        assert!(matches!(
            other.save(&path, KeyFormat::Text, Overwrite::Refuse),
            Err(Error::KeyFileExists { .. })
        ));
        assert_eq!(KeyPair::load(&path).unwrap().public(), key.public());
        other
            .save(&path, KeyFormat::Pem, Overwrite::Replace)
            .unwrap();
        assert_eq!(KeyPair::load(&path).unwrap().public(), other.public());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn text_forms_round_trip_and_match_biscuit_cli() {
        let key = KeyPair::generate();
        let text = key.to_text();
        assert!(text.starts_with("ed25519-private/"));
        assert_eq!(KeyPair::from_text(&text).unwrap().public(), key.public());
        let bare = text.trim_start_matches("ed25519-private/");
        assert_eq!(KeyPair::from_text(bare).unwrap().public(), key.public());
        let public = key.public();
        let shown = public.to_string();
        assert!(shown.starts_with("ed25519/"));
        assert_eq!(shown, key.biscuit().public().to_string());
        assert_eq!(PublicKey::from_text(&shown).unwrap(), public);
        assert_eq!(
            PublicKey::from_text(&public.to_pem().unwrap()).unwrap(),
            public
        );
        assert!(!format!("{key:?}").contains(bare));
    }

    #[test]
    fn raw_signatures_verify_only_under_their_key_and_message() {
        let key = KeyPair::generate();
        let signature = key.sign(b"domain\0message").unwrap();
        assert!(key.public().verify_strict(b"domain\0message", &signature));
        assert!(!key.public().verify_strict(b"domain\0messagf", &signature));
        let other = KeyPair::generate();
        assert!(!other.public().verify_strict(b"domain\0message", &signature));
        let reloaded = KeyPair::from_text(&key.to_text()).unwrap();
        assert_eq!(reloaded.sign(b"m").unwrap(), key.sign(b"m").unwrap());
    }

    #[test]
    fn bad_keys_are_refused_without_echoing_them() {
        let err = KeyPair::from_text("ed25519-private/zz-secret-zz").unwrap_err();
        assert!(!err.to_string().contains("secret"));
        assert!(PublicKey::from_text("secp256r1/00").is_err());
        assert!(PublicKey::from_text("ed25519/0011").is_err());
    }

    #[test]
    fn a_private_key_is_never_read_as_a_public_key() {
        let key = KeyPair::generate();
        let text = key.to_text();
        let bare = text.trim_start_matches("ed25519-private/").to_owned();
        let pem = key.to_pem().unwrap();
        for secret in [text.as_str(), bare.as_str(), pem.as_str()] {
            let err = PublicKey::from_text(secret).unwrap_err();
            assert!(matches!(err, Error::InvalidKey(_)));
            assert!(!err.to_string().contains(&bare[..16]), "{err}");
        }
        // Bare hex of a public key is refused too: it cannot be told apart.
        let public_hex = hex::encode(key.public().to_bytes());
        assert!(PublicKey::from_text(&public_hex).is_err());
        assert_eq!(
            PublicKey::from_text(&key.public().to_string()).unwrap(),
            key.public()
        );
    }
}
