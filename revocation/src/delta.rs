//! Signed deltas between two lists.

use std::time::SystemTime;

use crate::encoding::{Kind, Reader, put_entries, put_issuer, read_entries, seal, valid_issuer};
use crate::error::{DecodeError, ListError};
use crate::keys::{KeyId, TrustedListKeys};
use crate::list::{ListDigest, RevocationEntry, RevocationList, check_times};
use agentcap::unix_time::{from_unix, to_unix};

/// The change from list sequence A to list sequence B: the entries added (or
/// changed) and a prune bound, chained to A's digest and naming B's digest.
///
/// Entries dropped from A are implied by expiry: applying the delta keeps
/// A's entries whose token expires at or after
/// [`prune_before`](Self::prune_before), then adds
/// [`added`](Self::added) (replacing entries with the same id). The result
/// must have digest [`to_digest`](Self::to_digest), which a verifier checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListDelta {
    pub(crate) issuer: String,
    pub(crate) from_sequence: u64,
    pub(crate) from_digest: ListDigest,
    pub(crate) to_sequence: u64,
    pub(crate) to_digest: ListDigest,
    pub(crate) this_update: u64,
    pub(crate) next_update: u64,
    pub(crate) prune_before: u64,
    pub(crate) added: Vec<RevocationEntry>,
}

impl ListDelta {
    /// The delta that turns `old` into `new`.
    ///
    /// Fails with [`ListError::NotSuccessive`] when the lists are of
    /// different issuers or `new` is not a later sequence, and with
    /// [`ListError::NotExpressibleAsDelta`] when `new` drops an entry whose
    /// token expires after that of an entry it keeps (only pruning by expiry
    /// can be expressed).
    pub fn between(old: &RevocationList, new: &RevocationList) -> Result<Self, ListError> {
        if old.issuer != new.issuer || new.sequence <= old.sequence {
            return Err(ListError::NotSuccessive);
        }
        let mut added = Vec::new();
        let mut kept_min_expiry = u64::MAX;
        let mut removed_max_expiry: Option<u64> = None;
        let (a, b) = (&old.entries, &new.entries);
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            match (a.get(i), b.get(j)) {
                (Some(x), Some(y)) if x.id == y.id => {
                    if x == y {
                        kept_min_expiry = kept_min_expiry.min(x.expires_at);
                    } else {
                        added.push(*y);
                    }
                    i += 1;
                    j += 1;
                }
                (Some(x), Some(y)) if x.id < y.id => {
                    removed_max_expiry =
                        Some(removed_max_expiry.map_or(x.expires_at, |m: u64| m.max(x.expires_at)));
                    i += 1;
                }
                (Some(x), None) => {
                    removed_max_expiry =
                        Some(removed_max_expiry.map_or(x.expires_at, |m: u64| m.max(x.expires_at)));
                    i += 1;
                }
                (_, Some(y)) => {
                    added.push(*y);
                    j += 1;
                }
                (None, None) => break,
            }
        }
        let prune_before = match removed_max_expiry {
            None => 0,
            Some(m) => {
                let bound = m + 1;
                if kept_min_expiry < bound {
                    return Err(ListError::NotExpressibleAsDelta);
                }
                bound
            }
        };
        Ok(Self {
            issuer: new.issuer.clone(),
            from_sequence: old.sequence,
            from_digest: old.digest,
            to_sequence: new.sequence,
            to_digest: new.digest,
            this_update: new.this_update,
            next_update: new.next_update,
            prune_before,
            added,
        })
    }

    /// Applies the delta to `base` without checking the chain or the
    /// result; [`RevocationState`](crate::RevocationState) does the checks.
    pub(crate) fn apply_unchecked(&self, base: &RevocationList) -> RevocationList {
        let mut out = Vec::with_capacity(base.entries.len() + self.added.len());
        let (a, b) = (&base.entries, &self.added);
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            match (a.get(i), b.get(j)) {
                (Some(x), Some(y)) if x.id == y.id => {
                    out.push(*y);
                    i += 1;
                    j += 1;
                }
                (Some(x), Some(y)) if x.id < y.id => {
                    if x.expires_at >= self.prune_before {
                        out.push(*x);
                    }
                    i += 1;
                }
                (Some(x), None) => {
                    if x.expires_at >= self.prune_before {
                        out.push(*x);
                    }
                    i += 1;
                }
                (_, Some(y)) => {
                    out.push(*y);
                    j += 1;
                }
                (None, None) => break,
            }
        }
        RevocationList::from_sorted(
            self.issuer.clone(),
            self.to_sequence,
            self.this_update,
            self.next_update,
            out,
        )
    }

    fn encode_body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.added.len() * 20 + 160);
        put_issuer(&mut out, &self.issuer);
        out.extend_from_slice(&self.from_sequence.to_le_bytes());
        out.extend_from_slice(self.from_digest.as_bytes());
        out.extend_from_slice(&self.to_sequence.to_le_bytes());
        out.extend_from_slice(self.to_digest.as_bytes());
        out.extend_from_slice(&self.this_update.to_le_bytes());
        out.extend_from_slice(&self.next_update.to_le_bytes());
        out.extend_from_slice(&self.prune_before.to_le_bytes());
        // Entry count fits u32: the added entries come from a valid list.
        let _ = put_entries(&mut out, &self.added, self.this_update);
        out
    }

    /// Encodes and signs the delta with `key`.
    pub fn sign(&self, key: &agentcap::KeyPair) -> Result<Vec<u8>, ListError> {
        if !valid_issuer(&self.issuer) {
            return Err(ListError::InvalidIssuer);
        }
        check_times(self.this_update, self.next_update)?;
        seal(Kind::Delta, key, &self.encode_body())
    }

    /// Checks `bytes` (size, framing, key id, signature) and only then
    /// decodes the delta. Returns the delta and the id of the signing key.
    pub fn decode_verified(
        bytes: &[u8],
        keys: &TrustedListKeys,
        max_len: usize,
    ) -> Result<(Self, KeyId), DecodeError> {
        let (key_id, body) = crate::encoding::open(Kind::Delta, bytes, max_len, keys)?;
        let mut r = Reader::new(body);
        let issuer = r.issuer()?;
        let from_sequence = r.u64()?;
        let from_digest = ListDigest::from_bytes(r.array()?);
        let to_sequence = r.u64()?;
        let to_digest = ListDigest::from_bytes(r.array()?);
        let this_update = r.time()?;
        let next_update = r.time()?;
        let prune_before = r.time()?;
        if next_update <= this_update {
            return Err(DecodeError::Malformed("next-update not after this-update"));
        }
        if to_sequence <= from_sequence {
            return Err(DecodeError::Malformed("delta does not move forward"));
        }
        let added = read_entries(&mut r, this_update)?;
        r.finish()?;
        let delta = Self {
            issuer,
            from_sequence,
            from_digest,
            to_sequence,
            to_digest,
            this_update,
            next_update,
            prune_before,
            added,
        };
        Ok((delta, key_id))
    }

    /// The issuer name.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Sequence of the list the delta applies to.
    pub fn from_sequence(&self) -> u64 {
        self.from_sequence
    }

    /// Digest of the list the delta applies to.
    pub fn from_digest(&self) -> ListDigest {
        self.from_digest
    }

    /// Sequence of the list the delta gives.
    pub fn to_sequence(&self) -> u64 {
        self.to_sequence
    }

    /// Digest of the list the delta gives.
    pub fn to_digest(&self) -> ListDigest {
        self.to_digest
    }

    /// this-update of the resulting list.
    pub fn this_update(&self) -> SystemTime {
        from_unix(self.this_update)
    }

    /// next-update of the resulting list.
    pub fn next_update(&self) -> SystemTime {
        from_unix(self.next_update)
    }

    /// Entries of the old list whose token expires before this time are
    /// dropped (pruned). A verifier refuses a bound after this-update, which
    /// would drop live entries.
    pub fn prune_before(&self) -> SystemTime {
        from_unix(self.prune_before)
    }

    /// Entries added or changed, sorted by id.
    pub fn added(&self) -> &[RevocationEntry] {
        &self.added
    }

    /// A delta built field by field (for tests of verifier rules).
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    pub fn from_parts(
        issuer: impl Into<String>,
        from: (u64, ListDigest),
        to: (u64, ListDigest),
        this_update: SystemTime,
        next_update: SystemTime,
        prune_before: SystemTime,
        added: Vec<RevocationEntry>,
    ) -> Result<Self, ListError> {
        let this_update = to_unix(this_update);
        let added = crate::list::sorted_entries(added, this_update)?;
        Ok(Self {
            issuer: issuer.into(),
            from_sequence: from.0,
            from_digest: from.1,
            to_sequence: to.0,
            to_digest: to.1,
            this_update,
            next_update: to_unix(next_update),
            prune_before: to_unix(prune_before),
            added,
        })
    }
}
