//! Ed25519 keys for issuers (root keys) and agents: generation, text and PEM
//! forms compatible with biscuit-cli, and key files written 0600.

use std::fmt;
use std::io::Write;
use std::path::Path;
use std::str::FromStr;

use biscuit_auth::Algorithm;
use zeroize::Zeroizing;

use crate::error::Error;

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
        let text = read_small_file(path)?;
        Self::from_text(&text)
    }

    /// Writes the key to `path`, readable by its owner only (0600).
    ///
    /// The file is written to a temporary file in the same folder, synced,
    /// then moved into place, so a crash never leaves half a key. With
    /// [`Overwrite::Refuse`] an existing file is never replaced, even by a
    /// concurrent writer.
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
        if overwrite == Overwrite::Refuse && path.exists() {
            return Err(Error::KeyFileExists {
                path: path.to_owned(),
            });
        }
        let folder = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        // tempfile creates the file 0600 on Unix.
        let mut file = tempfile::NamedTempFile::new_in(folder).map_err(|e| Error::io(folder, e))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.as_file().sync_all())
            .map_err(|e| Error::io(file.path(), e))?;
        let persisted = match overwrite {
            Overwrite::Refuse => file.persist_noclobber(path),
            Overwrite::Replace => file.persist(path),
        };
        persisted.map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                Error::KeyFileExists {
                    path: path.to_owned(),
                }
            } else {
                Error::io(path, e.error)
            }
        })?;
        sync_folder(folder);
        Ok(())
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
        Self::from_text(&read_small_file(path.as_ref())?)
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

fn read_small_file(path: &Path) -> Result<Zeroizing<String>, Error> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut text = Zeroizing::new(String::new());
    file.take(MAX_KEY_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| Error::io(path, e))?;
    if text.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(Error::InvalidKey("key file is too large to be a key"));
    }
    Ok(text)
}

/// Makes a rename durable. Best effort: not every platform can sync a folder.
fn sync_folder(folder: &Path) {
    if let Ok(dir) = std::fs::File::open(folder) {
        let _ = dir.sync_all();
    }
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
