//! What a [`RevocationState`](super::RevocationState) holds, and the
//! payloads of its two state files (see [`crate::state_file`]): the
//! revocation state (a summary, then the list body) and the small
//! freshness file written after a head (the summary alone).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::list::RevocationList;

#[derive(Clone, Default)]
pub(super) struct Current {
    pub(super) list: Option<Arc<RevocationList>>,
    /// Effective next-update: the list's, or a later one from a head.
    pub(super) next_update: u64,
    /// When the list or its newest accepted head was signed.
    pub(super) refreshed_at: u64,
    /// The highest sequence a signed head announced (0: none). Above the
    /// held list's sequence, the held list is superseded.
    pub(super) newer: u64,
}

impl Current {
    pub(super) fn sequence(&self) -> Option<u64> {
        self.list.as_ref().map(|l| l.sequence)
    }

    /// The sequence of a newer list known to exist, if any.
    pub(super) fn superseded_by(&self) -> Option<u64> {
        let held = self.sequence()?;
        (self.newer > held).then_some(self.newer)
    }

    /// Merges what another process persisted into what this one holds: the
    /// newer list wins, freshness and the newest announced sequence only
    /// ever grow.
    pub(super) fn merge(&mut self, other: Current) {
        let same_list = match (&self.list, &other.list) {
            (Some(a), Some(b)) => a.sequence == b.sequence && a.digest == b.digest,
            _ => false,
        };
        let newer = self.newer.max(other.newer);
        if same_list {
            self.next_update = self.next_update.max(other.next_update);
            self.refreshed_at = self.refreshed_at.max(other.refreshed_at);
        } else if other.sequence() > self.sequence() {
            *self = other;
        }
        self.newer = newer;
    }
}

/// What both state files start with: which list is held, and its
/// freshness. Sequence, digest, next-update, refreshed-at and newest
/// announced sequence, little-endian.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Summary {
    sequence: u64,
    digest: [u8; 32],
    next_update: u64,
    refreshed_at: u64,
    newer: u64,
}

impl Summary {
    /// Encoded length.
    pub(super) const LEN: usize = 8 + 32 + 8 + 8 + 8;

    pub(super) fn of(c: &Current) -> Self {
        let (sequence, digest) = c
            .list
            .as_ref()
            .map_or((0, [0u8; 32]), |l| (l.sequence, *l.digest.as_bytes()));
        Self {
            sequence,
            digest,
            next_update: c.next_update,
            refreshed_at: c.refreshed_at,
            newer: c.newer,
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::LEN);
        out.extend_from_slice(&self.sequence.to_le_bytes());
        out.extend_from_slice(&self.digest);
        out.extend_from_slice(&self.next_update.to_le_bytes());
        out.extend_from_slice(&self.refreshed_at.to_le_bytes());
        out.extend_from_slice(&self.newer.to_le_bytes());
        out
    }

    pub(super) fn decode(bytes: &[u8]) -> Option<Self> {
        let bytes = bytes.get(..Self::LEN)?;
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(b)
        };
        let mut digest = [0u8; 32];
        digest.copy_from_slice(&bytes[8..40]);
        Some(Self {
            sequence: u64_at(0),
            digest,
            next_update: u64_at(40),
            refreshed_at: u64_at(48),
            newer: u64_at(56),
        })
    }

    /// Whether this summary, read from disk, says nothing `held` does not
    /// already know: the same list, and no newer announced sequence.
    pub(super) fn known_to(&self, held: &Current) -> bool {
        let mine = Summary::of(held);
        self.newer <= mine.newer && self.sequence == mine.sequence && self.digest == mine.digest
    }
}

/// The payload of the revocation state file: the summary, then the list.
pub(super) fn encode_state(c: &Current) -> Vec<u8> {
    let mut out = Summary::of(c).encode();
    if let Some(list) = &c.list {
        out.extend_from_slice(&list.encode_body());
    }
    out
}

/// Reads the payload of the revocation state file.
pub(super) fn decode_state(payload: &[u8]) -> Result<Current, String> {
    let summary = Summary::decode(payload).ok_or("file too short")?;
    let body = &payload[Summary::LEN..];
    let list = if body.is_empty() {
        None
    } else {
        Some(Arc::new(
            RevocationList::decode_body(body).map_err(|e| e.to_string())?,
        ))
    };
    let current = Current {
        list,
        next_update: summary.next_update,
        refreshed_at: summary.refreshed_at,
        newer: summary.newer,
    };
    if Summary::of(&current) != summary {
        return Err("summary does not match the list".into());
    }
    Ok(current)
}

/// The payload of the freshness file.
pub(super) fn encode_freshness(c: &Current) -> Vec<u8> {
    Summary::of(c).encode()
}

/// Takes the freshness (and newest announced sequence) of a freshness
/// file's payload if it names the held list. Ignoring a damaged file only
/// makes the state look older, never newer.
pub(super) fn apply_freshness(c: &mut Current, payload: &[u8]) {
    let Some(fresh) = Summary::decode(payload) else {
        return;
    };
    let Some(list) = &c.list else {
        return;
    };
    if fresh.sequence != list.sequence || fresh.digest != *list.digest.as_bytes() {
        return;
    }
    c.next_update = c.next_update.max(fresh.next_update);
    c.refreshed_at = c.refreshed_at.max(fresh.refreshed_at);
    c.newer = c.newer.max(fresh.newer);
}

/// The advisory lock file next to the state file.
pub(super) fn lock_path(path: &Path) -> PathBuf {
    sibling(path, ".lock")
}

/// The small file holding freshness from heads, next to the state file.
pub(super) fn freshness_path(path: &Path) -> PathBuf {
    sibling(path, ".fresh")
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
