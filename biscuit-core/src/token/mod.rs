//! Tokens: reading and verifying them, and their forms; minting is in
//! [`grant`], attenuation in [`attenuate`], the local check in
//! [`crate::check`].

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use biscuit_auth::{Biscuit, UnverifiedBiscuit};

use crate::chain::Chain;
use crate::error::Error;
use crate::keys::PublicKey;

mod attenuate;
mod grant;

pub use grant::{Grant, Hop};

/// The largest token accepted, in bytes (decoded).
pub const MAX_TOKEN_BYTES: usize = 1024 * 1024;

/// The longest intent or attestation text accepted, in bytes.
pub const MAX_TEXT_BYTES: usize = 16 * 1024;

/// The longest lifetime a grant may have (ten years): a bound that keeps
/// date arithmetic far from overflow.
pub(crate) const MAX_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

#[derive(Debug, Clone)]
pub(crate) enum Inner {
    Verified(Biscuit),
    Unverified(UnverifiedBiscuit),
}

/// An agentcap token: a Biscuit together with its decoded [`Chain`].
///
/// A token read with [`Token::from_base64`] is unverified: it can be
/// inspected and attenuated offline, and [`Token::check`] verifies it.
/// A token read with [`Token::verify_base64`] or minted here is verified.
#[derive(Debug, Clone)]
pub struct Token {
    pub(crate) inner: Inner,
    /// The root key the token was verified against, if any.
    pub(crate) root: Option<PublicKey>,
    /// Shared, so that a verifier's cache and its decisions hold one copy.
    pub(crate) chain: Arc<Chain>,
}

impl Token {
    /// Reads a token without verifying it (for inspection and attenuation).
    pub fn from_base64(text: &str) -> Result<Self, Error> {
        Self::from_bytes(&decode_base64(text)?)
    }

    /// Reads a serialized token without verifying it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        check_size(bytes)?;
        let biscuit = UnverifiedBiscuit::from(bytes).map_err(Error::from_biscuit)?;
        let chain = Chain::decode(bytes, false, Some(&biscuit.external_public_keys()))?;
        Ok(Token {
            inner: Inner::Unverified(biscuit),
            root: None,
            chain: Arc::new(chain),
        })
    }

    /// Reads a token and verifies every signature against `root`.
    pub fn verify_base64(text: &str, root: &PublicKey) -> Result<Self, Error> {
        Self::verify_bytes(&decode_base64(text)?, root)
    }

    /// Reads a serialized token and verifies every signature against `root`.
    pub fn verify_bytes(bytes: &[u8], root: &PublicKey) -> Result<Self, Error> {
        Self::verify_bytes_with(bytes, |_| Some(*root))
    }

    /// Reads a serialized token and verifies it against the root key that
    /// `root_for` returns for the token's root key id (`None` when the token
    /// names none). A key id with no key is [`Error::UnknownRootKey`].
    pub fn verify_bytes_with(
        bytes: &[u8],
        root_for: impl Fn(Option<u32>) -> Option<PublicKey>,
    ) -> Result<Self, Error> {
        check_size(bytes)?;
        let chosen = std::cell::Cell::new(None);
        let provider = |id: Option<u32>| match root_for(id) {
            Some(key) => {
                chosen.set(Some(key));
                Ok(key.to_biscuit())
            }
            None => Err(biscuit_auth::error::Format::UnknownPublicKey),
        };
        let biscuit = Biscuit::from(bytes, provider).map_err(|e| match Error::from_biscuit(e) {
            Error::UnknownRootKey(_) => Error::UnknownRootKey(root_key_id(bytes)),
            other => other,
        })?;
        let chain = Chain::from_schema(
            &biscuit.container().to_proto(),
            true,
            Some(&biscuit.external_public_keys()),
        )?;
        Ok(Token {
            inner: Inner::Verified(biscuit),
            root: chosen.get(),
            chain: Arc::new(chain),
        })
    }

    /// The token as URL-safe base64, the form that travels in headers.
    pub fn to_base64(&self) -> Result<String, Error> {
        match &self.inner {
            Inner::Verified(b) => b.to_base64(),
            Inner::Unverified(b) => b.to_base64(),
        }
        .map_err(Error::from_biscuit)
    }

    /// The serialized token.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        match &self.inner {
            Inner::Verified(b) => b.to_vec(),
            Inner::Unverified(b) => b.to_vec(),
        }
        .map_err(Error::from_biscuit)
    }

    /// The token as a delegation chain.
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// The chain, shared: what a verifier hands to each decision without
    /// copying it.
    pub fn shared_chain(&self) -> Arc<Chain> {
        Arc::clone(&self.chain)
    }

    /// Whether the token was verified against a root key.
    pub fn is_verified(&self) -> bool {
        self.root.is_some()
    }

    /// The revocation id of each block, in order (raw signature bytes).
    pub fn revocation_ids(&self) -> Vec<Vec<u8>> {
        match &self.inner {
            Inner::Verified(b) => b.revocation_identifiers(),
            Inner::Unverified(b) => b.revocation_identifiers(),
        }
    }

    /// The underlying Biscuit, when verified: an escape hatch to
    /// biscuit-auth, whose types are those of the re-exported
    /// [`crate::biscuit_auth`].
    pub fn biscuit(&self) -> Option<&Biscuit> {
        match &self.inner {
            Inner::Verified(b) => Some(b),
            Inner::Unverified(_) => None,
        }
    }
}

/// Reads a token and its chain; verifies it when a root key is given.
///
/// ```
/// use agentcap::{Grant, KeyPair, inspect};
/// let root = KeyPair::generate();
/// let token = Grant::new("alice", "assistant").right("mail/*", "read").mint(&root)?;
/// let text = token.to_base64()?;
/// let unverified = inspect(&text, None)?;
/// assert!(!unverified.verified);
/// let verified = inspect(&text, Some(&root.public()))?;
/// assert!(verified.verified && verified.user == "alice");
/// # Ok::<(), agentcap::Error>(())
/// ```
pub fn inspect(token: &str, root: Option<&PublicKey>) -> Result<Chain, Error> {
    let bytes = decode_base64(token)?;
    check_size(&bytes)?;
    match root {
        Some(root) => {
            let biscuit = Biscuit::from(&bytes, root.to_biscuit()).map_err(Error::from_biscuit)?;
            Chain::decode(&bytes, true, Some(&biscuit.external_public_keys()))
        }
        None => Chain::decode(&bytes, false, None),
    }
}

/// Decodes a token's URL-safe base64 form (padded or not) into its bytes,
/// without parsing it. Refuses input larger than [`MAX_TOKEN_BYTES`].
pub fn decode_base64(text: &str) -> Result<Vec<u8>, Error> {
    let text = text.trim();
    if text.len() > MAX_TOKEN_BYTES * 4 / 3 + 4 {
        return Err(Error::TokenTooLarge {
            size: text.len() * 3 / 4,
            limit: MAX_TOKEN_BYTES,
        });
    }
    // Tokens travel as URL-safe base64; accept them with or without padding.
    let unpadded = text.trim_end_matches('=');
    let mut padded = String::with_capacity(unpadded.len() + 3);
    padded.push_str(unpadded);
    while !padded.len().is_multiple_of(4) {
        padded.push('=');
    }
    base64::decode_config(&padded, base64::URL_SAFE)
        .map_err(|e| Error::MalformedToken(format!("not URL-safe base64: {e}")))
}

/// The root key id a serialized token names, read without verifying it.
fn root_key_id(bytes: &[u8]) -> Option<u32> {
    use prost::Message;
    biscuit_auth::format::schema::Biscuit::decode(bytes)
        .ok()
        .and_then(|t| t.root_key_id)
}

pub(crate) fn check_size(bytes: &[u8]) -> Result<(), Error> {
    if bytes.len() > MAX_TOKEN_BYTES {
        return Err(Error::TokenTooLarge {
            size: bytes.len(),
            limit: MAX_TOKEN_BYTES,
        });
    }
    Ok(())
}

/// Unix seconds of `at` (see [`crate::unix_time`]); a clock before 1970
/// is refused rather than saturated, as a token minted then would be wrong.
pub(crate) fn unix_seconds(at: SystemTime) -> Result<u64, Error> {
    if at < UNIX_EPOCH {
        return Err(Error::ClockBeforeEpoch);
    }
    Ok(crate::unix_time::to_unix(at))
}
