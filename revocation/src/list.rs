//! Revocation entries, list digests and the signed full list.

use std::fmt;
use std::time::SystemTime;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::encoding::{Kind, Reader, put_entries, put_issuer, read_entries, seal, valid_issuer};
use crate::error::{DecodeError, ListError};
use crate::id::{RevocationId, RevocationReason};
use crate::keys::{KeyId, TrustedListKeys};
use agentcap::unix_time::{MAX_UNIX, format_rfc3339, from_unix, to_unix};

const DIGEST_DOMAIN: &[u8] = b"agentcap-revocation v1 list digest\0";

/// Default maximum size of an encoded list or delta a verifier accepts
/// (32 MiB: room for about 1.6 million entries).
pub const DEFAULT_MAX_LIST_BYTES: usize = 32 * 1024 * 1024;

/// Maximum size of an encoded head (a head is about 400 bytes at most).
pub const MAX_HEAD_BYTES: usize = 1024;

/// One revoked token block.
///
/// Times have minute granularity on the wire: revoked-at is rounded down and
/// the token's expiry rounded up to a whole minute, so an entry is never
/// pruned early. The constructor applies that rounding, so an entry
/// round-trips exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RevocationEntry {
    pub(crate) id: RevocationId,
    pub(crate) revoked_at: u64,
    pub(crate) expires_at: u64,
    pub(crate) reason: Option<RevocationReason>,
}

impl RevocationEntry {
    /// An entry for `id`, revoked at `revoked_at`, whose token expires at
    /// `token_expires_at`.
    pub fn new(
        id: RevocationId,
        revoked_at: SystemTime,
        token_expires_at: SystemTime,
        reason: Option<RevocationReason>,
    ) -> Self {
        Self::from_unix(id, to_unix(revoked_at), to_unix(token_expires_at), reason)
    }

    pub(crate) fn from_unix(
        id: RevocationId,
        revoked_at: u64,
        expires_at: u64,
        reason: Option<RevocationReason>,
    ) -> Self {
        Self {
            id,
            revoked_at: floor_minute(revoked_at.min(MAX_UNIX)),
            expires_at: ceil_minute(expires_at.min(MAX_UNIX)),
            reason,
        }
    }

    /// The revoked block's id.
    pub fn id(&self) -> RevocationId {
        self.id
    }

    /// When the block was revoked (whole minute, rounded down).
    pub fn revoked_at(&self) -> SystemTime {
        from_unix(self.revoked_at)
    }

    /// When the revoked token expires (whole minute, rounded up); the entry
    /// can be pruned after that.
    pub fn token_expires_at(&self) -> SystemTime {
        from_unix(self.expires_at)
    }

    /// Why it was revoked, if the issuer said.
    pub fn reason(&self) -> Option<RevocationReason> {
        self.reason
    }
}

/// SHA-256 over a domain-separation prefix and a list's encoded body
/// (everything the list says, independent of which key signed it). Deltas
/// and heads name lists by this digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListDigest([u8; 32]);

impl ListDigest {
    pub(crate) fn of_body(body: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(DIGEST_DOMAIN);
        h.update(body);
        Self(h.finalize().into())
    }

    /// Wraps 32 digest bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 digest bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for ListDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ListDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ListDigest({})", hex::encode(self.0))
    }
}

/// A full revocation list: issuer, sequence number, this-update and
/// next-update, and the entries sorted by id.
///
/// Build one with [`new`](Self::new) and sign it with
/// [`sign`](Self::sign); read one with
/// [`decode_verified`](Self::decode_verified), which checks the signature
/// before parsing anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevocationList {
    pub(crate) issuer: String,
    pub(crate) sequence: u64,
    pub(crate) this_update: u64,
    pub(crate) next_update: u64,
    pub(crate) entries: Vec<RevocationEntry>,
    pub(crate) digest: ListDigest,
}

pub(crate) fn check_times(this_update: u64, next_update: u64) -> Result<(), ListError> {
    if this_update > MAX_UNIX || next_update > MAX_UNIX {
        return Err(ListError::TimeOutOfRange);
    }
    if next_update <= this_update {
        return Err(ListError::NextUpdateNotAfterThisUpdate);
    }
    Ok(())
}

/// Sorts `entries` by id and checks they can be encoded under `this_update`.
pub(crate) fn sorted_entries(
    entries: impl IntoIterator<Item = RevocationEntry>,
    this_update: u64,
) -> Result<Vec<RevocationEntry>, ListError> {
    let mut entries: Vec<RevocationEntry> = entries.into_iter().collect();
    entries.sort_unstable_by_key(|e| e.id);
    for w in entries.windows(2) {
        if w[0].id == w[1].id {
            return Err(ListError::DuplicateEntry { id: w[0].id });
        }
    }
    if let Some(e) = entries.iter().find(|e| e.revoked_at > this_update) {
        return Err(ListError::RevokedAfterThisUpdate { id: e.id });
    }
    if u32::try_from(entries.len()).is_err() {
        return Err(ListError::TooLarge);
    }
    Ok(entries)
}

impl RevocationList {
    /// A list of `entries` (in any order; they are sorted by id).
    ///
    /// Fails on an invalid issuer, next-update not after this-update, a
    /// duplicate id, or an entry revoked after this-update.
    pub fn new(
        issuer: impl Into<String>,
        sequence: u64,
        this_update: SystemTime,
        next_update: SystemTime,
        entries: impl IntoIterator<Item = RevocationEntry>,
    ) -> Result<Self, ListError> {
        let issuer = issuer.into();
        if !valid_issuer(&issuer) {
            return Err(ListError::InvalidIssuer);
        }
        let (this_update, next_update) = (to_unix(this_update), to_unix(next_update));
        check_times(this_update, next_update)?;
        let entries = sorted_entries(entries, this_update)?;
        Ok(Self::from_sorted(
            issuer,
            sequence,
            this_update,
            next_update,
            entries,
        ))
    }

    /// Builds from already validated, sorted parts and computes the digest.
    pub(crate) fn from_sorted(
        issuer: String,
        sequence: u64,
        this_update: u64,
        next_update: u64,
        entries: Vec<RevocationEntry>,
    ) -> Self {
        let mut list = Self {
            issuer,
            sequence,
            this_update,
            next_update,
            entries,
            digest: ListDigest([0; 32]),
        };
        list.digest = ListDigest::of_body(&list.encode_body());
        list
    }

    pub(crate) fn encode_body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * 20 + 64 + (1 << 16));
        put_issuer(&mut out, &self.issuer);
        out.extend_from_slice(&self.sequence.to_le_bytes());
        out.extend_from_slice(&self.this_update.to_le_bytes());
        out.extend_from_slice(&self.next_update.to_le_bytes());
        // Entry count fits u32: checked when the list was built or decoded.
        let _ = put_entries(&mut out, &self.entries, self.this_update);
        out
    }

    /// Encodes and signs the list with `key`.
    pub fn sign(&self, key: &agentcap::KeyPair) -> Result<Vec<u8>, ListError> {
        seal(Kind::List, key, &self.encode_body())
    }

    /// Checks `bytes` (size, framing, key id against `keys`, signature) and
    /// only then decodes the list. Returns the list and the id of the key
    /// that signed it.
    pub fn decode_verified(
        bytes: &[u8],
        keys: &TrustedListKeys,
        max_len: usize,
    ) -> Result<(Self, KeyId), DecodeError> {
        let (key_id, body) = crate::encoding::open(Kind::List, bytes, max_len, keys)?;
        Ok((Self::decode_body(body)?, key_id))
    }

    pub(crate) fn decode_body(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let issuer = r.issuer()?;
        let sequence = r.u64()?;
        let this_update = r.time()?;
        let next_update = r.time()?;
        if next_update <= this_update {
            return Err(DecodeError::Malformed("next-update not after this-update"));
        }
        let entries = read_entries(&mut r, this_update)?;
        r.finish()?;
        Ok(Self {
            issuer,
            sequence,
            this_update,
            next_update,
            entries,
            digest: ListDigest::of_body(body),
        })
    }

    /// The issuer (revocation authority) name.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The sequence number; strictly increasing from one list to the next.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// When the list was made.
    pub fn this_update(&self) -> SystemTime {
        from_unix(self.this_update)
    }

    /// Until when the list is fresh (unless a newer head extends it).
    pub fn next_update(&self) -> SystemTime {
        from_unix(self.next_update)
    }

    /// The entries, sorted by id.
    pub fn entries(&self) -> &[RevocationEntry] {
        &self.entries
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the list has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The list's digest.
    pub fn digest(&self) -> ListDigest {
        self.digest
    }

    /// The entry for `id`, if revoked (binary search).
    pub fn get(&self, id: &RevocationId) -> Option<&RevocationEntry> {
        self.entries
            .binary_search_by(|e| e.id.cmp(id))
            .ok()
            .map(|i| &self.entries[i])
    }

    /// Whether `id` is revoked.
    pub fn contains(&self, id: &RevocationId) -> bool {
        self.get(id).is_some()
    }

    /// A JSON rendering for people (not signed, not for machines to trust).
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct JsonEntry {
            id: String,
            revoked_at: String,
            token_expires_at: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            reason: Option<String>,
        }
        #[derive(Serialize)]
        struct JsonList<'a> {
            issuer: &'a str,
            sequence: u64,
            digest: String,
            this_update: String,
            next_update: String,
            entry_count: usize,
            entries: Vec<JsonEntry>,
        }
        let time = |t: u64| format_rfc3339(from_unix(t));
        let view = JsonList {
            issuer: &self.issuer,
            sequence: self.sequence,
            digest: self.digest.to_string(),
            this_update: time(self.this_update),
            next_update: time(self.next_update),
            entry_count: self.entries.len(),
            entries: self
                .entries
                .iter()
                .map(|e| JsonEntry {
                    id: e.id.to_string(),
                    revoked_at: time(e.revoked_at),
                    token_expires_at: time(e.expires_at),
                    reason: e.reason.map(|r| r.name()),
                })
                .collect(),
        };
        serde_json::to_string_pretty(&view).unwrap_or_else(|_| String::from("{}"))
    }
}

/// `secs` rounded down to a whole minute.
const fn floor_minute(secs: u64) -> u64 {
    secs - secs % 60
}

/// `secs` rounded up to a whole minute (saturating).
const fn ceil_minute(secs: u64) -> u64 {
    secs.saturating_add((60 - secs % 60) % 60)
}
