//! Proof of possession: the current holder of a key-bound token signs each
//! request with its key, so a token stolen without the key is useless to a
//! service that requires proofs.

use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::keys::{KeyPair, PublicKey};
use crate::token::unix_seconds;

/// Domain separation: these signatures mean nothing anywhere else.
const DOMAIN: &[u8] = b"agentcap holder proof v1\0";

/// The text form's version prefix.
const VERSION: &str = "v1";

/// A holder's signature over one request: the token it presents, the
/// resource and operation, and the time. Travels as text
/// (`v1.<unix seconds>.<base64url signature>`), e.g. in an `Agentcap-Proof`
/// header.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use agentcap::{Grant, HolderProof, KeyPair};
///
/// let root = KeyPair::generate();
/// let agent = KeyPair::generate();
/// let token = Grant::new("alice", "assistant")
///     .agent_key(agent.public())
///     .right("mail/*", "read")
///     .mint(&root)?
///     .to_base64()?;
/// let now = SystemTime::now();
/// let proof = HolderProof::sign(&agent, &token, "mail/inbox", "read", now)?;
/// HolderProof::verify(&proof, &agent.public(), &token, "mail/inbox", "read", now, Duration::from_secs(60))?;
/// assert!(HolderProof::verify(&proof, &agent.public(), &token, "mail/sent", "read", now, Duration::from_secs(60)).is_err());
/// # Ok::<(), agentcap::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct HolderProof;

impl HolderProof {
    /// Signs a proof for presenting `token` (as sent, base64) to do
    /// `operation` on `resource` at time `at`.
    pub fn sign(
        holder: &KeyPair,
        token: &str,
        resource: &str,
        operation: &str,
        at: SystemTime,
    ) -> Result<String, Error> {
        use ed25519_dalek::Signer;
        let timestamp = unix_seconds(at)?;
        let message = message(token, resource, operation, timestamp);
        let signature = holder.signing_key()?.sign(&message);
        Ok(format!(
            "{VERSION}.{timestamp}.{}",
            base64::encode_config(signature.to_bytes(), base64::URL_SAFE_NO_PAD)
        ))
    }

    /// Checks a proof: signed by `holder` over this token, resource and
    /// operation, at a time within `max_age` of `now` (either side, for
    /// clock skew). Errors are [`Error::InvalidHolderProof`].
    pub fn verify(
        proof: &str,
        holder: &PublicKey,
        token: &str,
        resource: &str,
        operation: &str,
        now: SystemTime,
        max_age: Duration,
    ) -> Result<(), Error> {
        let invalid = Error::InvalidHolderProof;
        let mut parts = proof.trim().splitn(3, '.');
        let (Some(VERSION), Some(timestamp), Some(signature)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid("not a v1 proof"));
        };
        let timestamp: u64 = timestamp.parse().map_err(|_| invalid("bad timestamp"))?;
        let now = unix_seconds(now)?;
        if now.abs_diff(timestamp) > max_age.as_secs() {
            return Err(invalid("the proof is too old or from the future"));
        }
        let signature = base64::decode_config(signature, base64::URL_SAFE_NO_PAD)
            .ok()
            .and_then(|bytes| ed25519_dalek::Signature::from_slice(&bytes).ok())
            .ok_or(invalid("the signature is not an Ed25519 signature"))?;
        let key: [u8; 32] = holder
            .to_bytes()
            .try_into()
            .map_err(|_| invalid("the holder key is not an Ed25519 key"))?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&key)
            .map_err(|_| invalid("the holder key is not an Ed25519 key"))?;
        let message = message(token, resource, operation, timestamp);
        key.verify_strict(&message, &signature)
            .map_err(|_| invalid("the signature does not verify"))
    }
}

fn message(token: &str, resource: &str, operation: &str, timestamp: u64) -> Vec<u8> {
    let mut message = Vec::with_capacity(DOMAIN.len() + 32 + resource.len() + operation.len() + 32);
    message.extend_from_slice(DOMAIN);
    message.extend_from_slice(&Sha256::digest(token.trim().as_bytes()));
    // Lengths first: no two (resource, operation) pairs encode alike.
    for field in [resource, operation] {
        message.extend_from_slice(&(field.len() as u64).to_be_bytes());
        message.extend_from_slice(field.as_bytes());
    }
    message.extend_from_slice(&timestamp.to_be_bytes());
    message
}
