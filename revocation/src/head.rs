//! The small signed head that keeps a list fresh.

use std::time::SystemTime;

use crate::encoding::{Kind, Reader, put_issuer, seal, valid_issuer};
use crate::error::{DecodeError, ListError};
use crate::keys::{KeyId, TrustedListKeys};
use crate::list::{ListDigest, MAX_HEAD_BYTES, check_times};
use agentcap::unix_time::{from_unix, to_unix};

/// A small signed statement: "the current list of `issuer` is `sequence`
/// with digest `list_digest`, and this stays true until `next_update`".
///
/// The authority re-signs the head on a schedule; a verifier that holds that
/// list extends its freshness from the head alone, without downloading the
/// list again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListHead {
    pub(crate) issuer: String,
    pub(crate) sequence: u64,
    pub(crate) list_digest: ListDigest,
    pub(crate) signed_at: u64,
    pub(crate) next_update: u64,
}

impl ListHead {
    /// A head for list `sequence` / `list_digest`, signed at `signed_at`,
    /// fresh until `next_update`.
    pub fn new(
        issuer: impl Into<String>,
        sequence: u64,
        list_digest: ListDigest,
        signed_at: SystemTime,
        next_update: SystemTime,
    ) -> Result<Self, ListError> {
        let issuer = issuer.into();
        if !valid_issuer(&issuer) {
            return Err(ListError::InvalidIssuer);
        }
        let (signed_at, next_update) = (to_unix(signed_at), to_unix(next_update));
        check_times(signed_at, next_update)?;
        Ok(Self {
            issuer,
            sequence,
            list_digest,
            signed_at,
            next_update,
        })
    }

    fn encode_body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(96);
        put_issuer(&mut out, &self.issuer);
        out.extend_from_slice(&self.sequence.to_le_bytes());
        out.extend_from_slice(self.list_digest.as_bytes());
        out.extend_from_slice(&self.signed_at.to_le_bytes());
        out.extend_from_slice(&self.next_update.to_le_bytes());
        out
    }

    /// Encodes and signs the head with `key`.
    pub fn sign(&self, key: &agentcap::KeyPair) -> Result<Vec<u8>, ListError> {
        seal(Kind::Head, key, &self.encode_body())
    }

    /// Checks `bytes` (size, framing, key id, signature) and only then
    /// decodes the head. Returns the head and the id of the signing key.
    pub fn decode_verified(
        bytes: &[u8],
        keys: &TrustedListKeys,
    ) -> Result<(Self, KeyId), DecodeError> {
        let (key_id, body) = crate::encoding::open(Kind::Head, bytes, MAX_HEAD_BYTES, keys)?;
        let mut r = Reader::new(body);
        let issuer = r.issuer()?;
        let sequence = r.u64()?;
        let list_digest = ListDigest::from_bytes(r.array()?);
        let signed_at = r.time()?;
        let next_update = r.time()?;
        r.finish()?;
        if next_update <= signed_at {
            return Err(DecodeError::Malformed("next-update not after signed-at"));
        }
        let head = Self {
            issuer,
            sequence,
            list_digest,
            signed_at,
            next_update,
        };
        Ok((head, key_id))
    }

    /// The issuer name.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Sequence of the current list.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Digest of the current list.
    pub fn list_digest(&self) -> ListDigest {
        self.list_digest
    }

    /// When the head was signed.
    pub fn signed_at(&self) -> SystemTime {
        from_unix(self.signed_at)
    }

    /// Until when the named list is fresh.
    pub fn next_update(&self) -> SystemTime {
        from_unix(self.next_update)
    }
}
