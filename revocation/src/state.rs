//! The verifier side: accepting lists, deltas and heads, persisted state,
//! freshness and lookups.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::clock::{from_unix, to_unix};
use crate::delta::ListDelta;
use crate::encoding::envelope_len;
use crate::error::{AcceptError, CheckError, DecodeError};
use crate::fsutil::write_atomic;
use crate::head::ListHead;
use crate::id::RevocationId;
use crate::keys::TrustedListKeys;
use crate::list::{DEFAULT_MAX_LIST_BYTES, ListDigest, RevocationEntry, RevocationList};

/// What to do once the list is past next-update and the grace period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnExpired {
    /// Refuse to answer (the caller should deny). The default.
    #[default]
    FailClosed,
    /// Answer from the expired list anyway, and log a warning for every such
    /// decision.
    FailOpen,
}

/// How long a list stays usable after next-update, and what happens after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FreshnessPolicy {
    /// How long after next-update the list is still used (as *stale*).
    pub grace: Duration,
    /// What to do after next-update plus grace.
    pub on_expired: OnExpired,
}

impl Default for FreshnessPolicy {
    /// Five minutes of grace, then fail closed.
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(300),
            on_expired: OnExpired::FailClosed,
        }
    }
}

/// How current the accepted list is at some instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Freshness {
    /// Before next-update (of the list or of a newer matching head).
    Fresh,
    /// Past next-update, within the grace period.
    Stale {
        /// Time since next-update.
        past_next_update: Duration,
    },
    /// Past next-update plus grace.
    Expired {
        /// Time since next-update.
        past_next_update: Duration,
    },
    /// No list accepted yet.
    NoList,
}

/// Whether any of a token's blocks is revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevocationStatus {
    /// None of the ids is in the list.
    NotRevoked,
    /// The block at `block_index` (index into the ids given) is revoked.
    Revoked {
        /// Index of the first revoked id.
        block_index: usize,
        /// Its entry.
        entry: RevocationEntry,
    },
}

/// The answer of [`VerifierState::check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RevocationCheck {
    /// Revoked or not.
    pub status: RevocationStatus,
    /// Freshness of the list the answer comes from.
    pub freshness: Freshness,
    /// Sequence of that list, if any.
    pub sequence: Option<u64>,
    /// Time since the list or its newest head was signed, if any.
    pub age: Option<Duration>,
    /// True when the list was expired (or missing) and the answer was given
    /// only because the policy fails open.
    pub failed_open: bool,
}

impl RevocationCheck {
    /// Whether a block is revoked.
    pub fn is_revoked(&self) -> bool {
        matches!(self.status, RevocationStatus::Revoked { .. })
    }
}

/// What accepting an object changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AcceptOutcome {
    /// A new list is in force (from a full list or a delta).
    Updated {
        /// Previous sequence, if any.
        from: Option<u64>,
        /// New sequence.
        to: u64,
    },
    /// A head for the current list extended freshness.
    Refreshed {
        /// The new effective next-update.
        next_update: SystemTime,
    },
    /// Nothing new (the same list, delta or head again).
    Unchanged,
    /// A valid head names a newer list than the one held; fetch it.
    Behind {
        /// Sequence held, if any.
        current: Option<u64>,
        /// Sequence the head names.
        available: u64,
    },
}

/// Configuration of a [`VerifierState`].
#[derive(Clone, Debug)]
pub struct VerifierConfig {
    issuer: String,
    keys: TrustedListKeys,
    policy: FreshnessPolicy,
    max_list_bytes: usize,
}

impl VerifierConfig {
    /// Follows the lists of `issuer`, signed by any of `keys`, with the
    /// default [`FreshnessPolicy`] and [`DEFAULT_MAX_LIST_BYTES`].
    pub fn new(issuer: impl Into<String>, keys: impl Into<TrustedListKeys>) -> Self {
        Self {
            issuer: issuer.into(),
            keys: keys.into(),
            policy: FreshnessPolicy::default(),
            max_list_bytes: DEFAULT_MAX_LIST_BYTES,
        }
    }

    /// Sets the freshness policy.
    #[must_use]
    pub fn with_policy(mut self, policy: FreshnessPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Sets the largest list or delta accepted, in bytes.
    #[must_use]
    pub fn with_max_list_bytes(mut self, max: usize) -> Self {
        self.max_list_bytes = max;
        self
    }

    /// The trusted list keys.
    pub fn keys(&self) -> &TrustedListKeys {
        &self.keys
    }

    /// The largest list or delta accepted, in bytes.
    pub fn max_list_bytes(&self) -> usize {
        self.max_list_bytes
    }
}

/// Why a [`VerifierState`] could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The configuration trusts no list key: nothing could ever be accepted.
    #[error("no trusted list key configured")]
    NoTrustedKeys,
    /// The issuer name is empty or longer than 255 bytes.
    #[error("issuer name must be 1 to 255 bytes long")]
    InvalidIssuer,
    /// Reading the state file failed.
    #[error("reading verifier state {path}: {source}")]
    Io {
        /// State file.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The state file is damaged. It is not silently replaced: starting
    /// empty would let an attacker roll the verifier back.
    #[error("verifier state {path} is corrupt: {reason}")]
    Corrupt {
        /// State file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The state file follows another issuer.
    #[error("verifier state follows issuer {found:?}, not {expected:?}")]
    WrongIssuer {
        /// Configured issuer.
        expected: String,
        /// Issuer in the file.
        found: String,
    },
}

#[derive(Clone, Default)]
struct Current {
    list: Option<Arc<RevocationList>>,
    /// Effective next-update: the list's, or a later one from a head.
    next_update: u64,
    /// When the list or its newest accepted head was signed.
    refreshed_at: u64,
}

const STATE_MAGIC: &[u8; 8] = b"ACRVSTAT";
const STATE_VERSION: u8 = 1;

/// The revocation state of a verifier: the newest accepted list, its
/// effective freshness, and the rules for accepting anything newer.
///
/// Safe to share between threads (`Arc<VerifierState>`): lookups take a
/// read lock; accepting is serialised and swaps the list in only after the
/// new state is persisted.
pub struct VerifierState {
    config: VerifierConfig,
    path: Option<PathBuf>,
    accepting: Mutex<()>,
    current: RwLock<Current>,
}

impl std::fmt::Debug for VerifierState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifierState")
            .field("issuer", &self.config.issuer)
            .field("path", &self.path)
            .field("sequence", &self.sequence())
            .finish_non_exhaustive()
    }
}

impl VerifierState {
    /// A state that lives only in memory (lost on restart, so a restart
    /// could be rolled back: prefer [`open`](Self::open)).
    pub fn in_memory(config: VerifierConfig) -> Result<Self, StateError> {
        Self::check_config(&config)?;
        Ok(Self {
            config,
            path: None,
            accepting: Mutex::new(()),
            current: RwLock::new(Current::default()),
        })
    }

    /// Opens the state persisted at `path`, or starts empty when the file
    /// does not exist. Every accepted change is written there atomically.
    pub fn open(path: impl AsRef<Path>, config: VerifierConfig) -> Result<Self, StateError> {
        Self::check_config(&config)?;
        let path = path.as_ref().to_path_buf();
        let mut current = match std::fs::read(&path) {
            Ok(bytes) => decode_state(&bytes).map_err(|reason| StateError::Corrupt {
                path: path.clone(),
                reason,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Current::default(),
            Err(source) => return Err(StateError::Io { path, source }),
        };
        // Freshness from heads accepted after the list. Ignoring a missing or
        // unreadable file only makes the state look older (fails closed
        // sooner), never newer.
        if let Ok(bytes) = std::fs::read(freshness_path(&path)) {
            apply_freshness(&mut current, &bytes);
        }
        if let Some(list) = &current.list
            && list.issuer != config.issuer
        {
            return Err(StateError::WrongIssuer {
                expected: config.issuer.clone(),
                found: list.issuer.clone(),
            });
        }
        Ok(Self {
            config,
            path: Some(path),
            accepting: Mutex::new(()),
            current: RwLock::new(current),
        })
    }

    fn check_config(config: &VerifierConfig) -> Result<(), StateError> {
        if config.keys.is_empty() {
            return Err(StateError::NoTrustedKeys);
        }
        if !crate::encoding::valid_issuer(&config.issuer) {
            return Err(StateError::InvalidIssuer);
        }
        Ok(())
    }

    /// The configuration.
    pub fn config(&self) -> &VerifierConfig {
        &self.config
    }

    fn read(&self) -> Current {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn check_issuer(&self, found: &str) -> Result<(), AcceptError> {
        if found == self.config.issuer {
            Ok(())
        } else {
            Err(AcceptError::WrongIssuer {
                expected: self.config.issuer.clone(),
                found: found.to_owned(),
            })
        }
    }

    /// Persists `next` (the whole list when it changed, only the small
    /// freshness file after a head) and then makes it current.
    fn commit(&self, next: Current, list_changed: bool) -> Result<(), AcceptError> {
        if let Some(path) = &self.path {
            let (target, bytes) = if list_changed {
                (path.clone(), encode_state(&next))
            } else {
                (freshness_path(path), encode_freshness(&next))
            };
            write_atomic(&target, &bytes).map_err(|source| AcceptError::Persist {
                path: target.clone(),
                source,
            })?;
        }
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = next;
        Ok(())
    }

    /// Accepts a signed full list if it passes every rule: signature by a
    /// trusted key, issuer, sequence not lower (rollback), same sequence only
    /// with the same digest (equivocation), and containment (only entries
    /// whose token expired by the new list's this-update may disappear).
    /// On any error the previous state is kept.
    pub fn accept_list(&self, bytes: &[u8]) -> Result<AcceptOutcome, AcceptError> {
        let (list, _) =
            RevocationList::decode_verified(bytes, &self.config.keys, self.config.max_list_bytes)?;
        self.check_issuer(&list.issuer)?;
        let _guard = self
            .accepting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let current = self.read();
        let from = current.list.as_ref().map(|l| l.sequence);
        if let Some(old) = &current.list {
            if list.sequence < old.sequence {
                return Err(AcceptError::Rollback {
                    current: old.sequence,
                    offered: list.sequence,
                });
            }
            if list.sequence == old.sequence {
                return if list.digest == old.digest {
                    Ok(AcceptOutcome::Unchanged)
                } else {
                    Err(AcceptError::Equivocation {
                        sequence: list.sequence,
                    })
                };
            }
            check_containment(old, &list)?;
        }
        let to = list.sequence;
        self.commit(
            Current {
                next_update: list.next_update,
                refreshed_at: list.this_update,
                list: Some(Arc::new(list)),
            },
            true,
        )?;
        Ok(AcceptOutcome::Updated { from, to })
    }

    /// Accepts a signed delta if, besides the signature and issuer, it is
    /// chained to the held list (same sequence and digest), applying it gives
    /// the digest it announces, and it drops only expired entries. On any
    /// error the previous state is kept.
    pub fn accept_delta(&self, bytes: &[u8]) -> Result<AcceptOutcome, AcceptError> {
        let (delta, _) =
            ListDelta::decode_verified(bytes, &self.config.keys, self.config.max_list_bytes)?;
        self.check_issuer(&delta.issuer)?;
        let _guard = self
            .accepting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let current = self.read();
        let Some(old) = &current.list else {
            return Err(AcceptError::DeltaNotApplicable {
                current: None,
                from: delta.from_sequence,
            });
        };
        if delta.to_sequence < old.sequence {
            return Err(AcceptError::Rollback {
                current: old.sequence,
                offered: delta.to_sequence,
            });
        }
        if delta.to_sequence == old.sequence {
            return if delta.to_digest == old.digest {
                Ok(AcceptOutcome::Unchanged)
            } else {
                Err(AcceptError::Equivocation {
                    sequence: old.sequence,
                })
            };
        }
        if delta.from_sequence != old.sequence {
            return Err(AcceptError::DeltaNotApplicable {
                current: Some(old.sequence),
                from: delta.from_sequence,
            });
        }
        if delta.from_digest != old.digest {
            return Err(AcceptError::DeltaChainBroken {
                from: delta.from_sequence,
            });
        }
        let list = delta.apply_unchecked(old);
        if list.digest != delta.to_digest {
            return Err(AcceptError::DeltaResultMismatch {
                to: delta.to_sequence,
            });
        }
        check_containment(old, &list)?;
        let (from, to) = (Some(old.sequence), list.sequence);
        self.commit(
            Current {
                next_update: list.next_update,
                refreshed_at: list.this_update,
                list: Some(Arc::new(list)),
            },
            true,
        )?;
        Ok(AcceptOutcome::Updated { from, to })
    }

    /// Accepts consecutive signed deltas concatenated in one buffer (as
    /// served by `GET /delta?since=N`), in order. Stops at the first refusal;
    /// deltas accepted before it stay accepted.
    pub fn accept_delta_chain(&self, mut bytes: &[u8]) -> Result<AcceptOutcome, AcceptError> {
        let start = self.sequence();
        let mut updated_to = None;
        while !bytes.is_empty() {
            let len = envelope_len(bytes).filter(|&n| n <= bytes.len()).ok_or(
                DecodeError::Truncated {
                    len: bytes.len(),
                    expected: envelope_len(bytes).unwrap_or(usize::MAX),
                },
            )?;
            let (one, rest) = bytes.split_at(len);
            if let AcceptOutcome::Updated { to, .. } = self.accept_delta(one)? {
                updated_to = Some(to);
            }
            bytes = rest;
        }
        Ok(match updated_to {
            Some(to) => AcceptOutcome::Updated { from: start, to },
            None => AcceptOutcome::Unchanged,
        })
    }

    /// Accepts a signed head. A head for the held list (same sequence and
    /// digest) extends freshness; a head for a newer sequence reports
    /// [`AcceptOutcome::Behind`]; an older sequence is a rollback and another
    /// digest for the same sequence is equivocation.
    pub fn accept_head(&self, bytes: &[u8]) -> Result<AcceptOutcome, AcceptError> {
        let (head, _) = ListHead::decode_verified(bytes, &self.config.keys)?;
        self.check_issuer(&head.issuer)?;
        let _guard = self
            .accepting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let current = self.read();
        let Some(list) = &current.list else {
            return Ok(AcceptOutcome::Behind {
                current: None,
                available: head.sequence,
            });
        };
        if head.sequence < list.sequence {
            return Err(AcceptError::Rollback {
                current: list.sequence,
                offered: head.sequence,
            });
        }
        if head.sequence > list.sequence {
            return Ok(AcceptOutcome::Behind {
                current: Some(list.sequence),
                available: head.sequence,
            });
        }
        if head.list_digest != list.digest {
            return Err(AcceptError::Equivocation {
                sequence: head.sequence,
            });
        }
        if head.next_update <= current.next_update && head.signed_at <= current.refreshed_at {
            return Ok(AcceptOutcome::Unchanged);
        }
        let next = Current {
            list: current.list.clone(),
            next_update: current.next_update.max(head.next_update),
            refreshed_at: current.refreshed_at.max(head.signed_at),
        };
        let next_update = from_unix(next.next_update);
        self.commit(next, false)?;
        Ok(AcceptOutcome::Refreshed { next_update })
    }

    /// Sequence of the accepted list, if any.
    pub fn sequence(&self) -> Option<u64> {
        self.read().list.map(|l| l.sequence)
    }

    /// Digest of the accepted list, if any.
    pub fn digest(&self) -> Option<ListDigest> {
        self.read().list.map(|l| l.digest)
    }

    /// The accepted list, if any (shared, cheap to clone).
    pub fn list(&self) -> Option<Arc<RevocationList>> {
        self.read().list
    }

    /// Effective next-update (from the list or a later matching head).
    pub fn next_update(&self) -> Option<SystemTime> {
        let c = self.read();
        c.list.map(|_| from_unix(c.next_update))
    }

    /// Time since the accepted list or its newest head was signed.
    pub fn age(&self, now: SystemTime) -> Option<Duration> {
        let c = self.read();
        c.list
            .map(|_| Duration::from_secs(to_unix(now).saturating_sub(c.refreshed_at)))
    }

    /// Freshness at `now` under the configured policy.
    pub fn freshness(&self, now: SystemTime) -> Freshness {
        let c = self.read();
        self.freshness_of(&c, now)
    }

    fn freshness_of(&self, c: &Current, now: SystemTime) -> Freshness {
        if c.list.is_none() {
            return Freshness::NoList;
        }
        let now = to_unix(now);
        if now < c.next_update {
            return Freshness::Fresh;
        }
        let past = Duration::from_secs(now - c.next_update);
        if past < self.config.policy.grace {
            Freshness::Stale {
                past_next_update: past,
            }
        } else {
            Freshness::Expired {
                past_next_update: past,
            }
        }
    }

    /// Index of the first of `block_ids` (a token's per-block revocation
    /// ids, e.g. `Biscuit::revocation_identifiers()`) that is revoked,
    /// ignoring freshness. Prefer [`check`](Self::check).
    pub fn is_revoked<B: AsRef<[u8]>>(&self, block_ids: &[B]) -> Option<usize> {
        let c = self.read();
        let list = c.list?;
        block_ids
            .iter()
            .position(|b| list.contains(&RevocationId::from_block_id(b.as_ref())))
    }

    /// Checks a token's per-block revocation ids at `now`.
    ///
    /// A revoked block is always reported, even from an expired list. When
    /// nothing is revoked and the list is past next-update plus grace (or no
    /// list was ever accepted), the policy decides: fail closed (an error,
    /// the default) or fail open (an answer with `failed_open` set, and a
    /// warning logged).
    pub fn check<B: AsRef<[u8]>>(
        &self,
        block_ids: &[B],
        now: SystemTime,
    ) -> Result<RevocationCheck, CheckError> {
        let c = self.read();
        let freshness = self.freshness_of(&c, now);
        let sequence = c.list.as_ref().map(|l| l.sequence);
        let age = c
            .list
            .as_ref()
            .map(|_| Duration::from_secs(to_unix(now).saturating_sub(c.refreshed_at)));
        let mut status = RevocationStatus::NotRevoked;
        if let Some(list) = &c.list {
            for (block_index, b) in block_ids.iter().enumerate() {
                if let Some(entry) = list.get(&RevocationId::from_block_id(b.as_ref())) {
                    status = RevocationStatus::Revoked {
                        block_index,
                        entry: *entry,
                    };
                    break;
                }
            }
        }
        let mut check = RevocationCheck {
            status,
            freshness,
            sequence,
            age,
            failed_open: false,
        };
        if check.is_revoked() {
            return Ok(check);
        }
        match freshness {
            Freshness::Fresh | Freshness::Stale { .. } => Ok(check),
            Freshness::NoList | Freshness::Expired { .. } => match self.config.policy.on_expired {
                OnExpired::FailClosed => Err(match freshness {
                    Freshness::Expired { past_next_update } => CheckError::ListExpired {
                        sequence: sequence.unwrap_or(0),
                        expired_for: past_next_update.saturating_sub(self.config.policy.grace),
                    },
                    _ => CheckError::NoList,
                }),
                OnExpired::FailOpen => {
                    tracing::warn!(
                        issuer = %self.config.issuer,
                        sequence = ?sequence,
                        freshness = ?freshness,
                        "revocation list expired or missing: failing open by configuration"
                    );
                    check.failed_open = true;
                    Ok(check)
                }
            },
        }
    }
}

/// Only entries whose token expired by the new list's this-update may be
/// missing from the new list.
fn check_containment(old: &RevocationList, new: &RevocationList) -> Result<(), AcceptError> {
    let (a, b) = (&old.entries, &new.entries);
    let mut j = 0;
    for x in a {
        while j < b.len() && b[j].id < x.id {
            j += 1;
        }
        let present = j < b.len() && b[j].id == x.id;
        if !present && x.expires_at > new.this_update {
            return Err(AcceptError::DropsLiveEntry { id: x.id });
        }
    }
    Ok(())
}

fn encode_state(c: &Current) -> Vec<u8> {
    let body = c.list.as_ref().map(|l| l.encode_body()).unwrap_or_default();
    let mut out = Vec::with_capacity(body.len() + 64);
    out.extend_from_slice(STATE_MAGIC);
    out.push(STATE_VERSION);
    out.extend_from_slice(&c.next_update.to_le_bytes());
    out.extend_from_slice(&c.refreshed_at.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&body);
    let sum: [u8; 32] = Sha256::digest(&out).into();
    out.extend_from_slice(&sum);
    out
}

fn decode_state(bytes: &[u8]) -> Result<Current, String> {
    let fixed = STATE_MAGIC.len() + 1 + 8 + 8 + 8;
    if bytes.len() < fixed + 32 {
        return Err("file too short".into());
    }
    let (content, sum) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(content)[..] != *sum {
        return Err("checksum mismatch".into());
    }
    if &content[..8] != STATE_MAGIC || content[8] != STATE_VERSION {
        return Err("not a verifier state file of a known version".into());
    }
    let u64_at = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&content[at..at + 8]);
        u64::from_le_bytes(b)
    };
    let next_update = u64_at(9);
    let refreshed_at = u64_at(17);
    let body_len = u64_at(25);
    let body = &content[fixed..];
    if body.len() as u64 != body_len {
        return Err("length mismatch".into());
    }
    let list = if body.is_empty() {
        None
    } else {
        Some(Arc::new(
            RevocationList::decode_body(body).map_err(|e| e.to_string())?,
        ))
    };
    Ok(Current {
        list,
        next_update,
        refreshed_at,
    })
}

/// The small file holding freshness from heads, next to the state file.
fn freshness_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".fresh");
    PathBuf::from(name)
}

const FRESH_MAGIC: &[u8; 8] = b"ACRVFRSH";

fn encode_freshness(c: &Current) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    out.extend_from_slice(FRESH_MAGIC);
    out.push(STATE_VERSION);
    let (sequence, digest) = c
        .list
        .as_ref()
        .map_or((0, [0u8; 32]), |l| (l.sequence, *l.digest.as_bytes()));
    out.extend_from_slice(&sequence.to_le_bytes());
    out.extend_from_slice(&digest);
    out.extend_from_slice(&c.next_update.to_le_bytes());
    out.extend_from_slice(&c.refreshed_at.to_le_bytes());
    let sum: [u8; 32] = Sha256::digest(&out).into();
    out.extend_from_slice(&sum);
    out
}

/// Takes the freshness in `bytes` if it is intact and names the held list.
fn apply_freshness(c: &mut Current, bytes: &[u8]) {
    if bytes.len() != 8 + 1 + 8 + 32 + 8 + 8 + 32 {
        return;
    }
    let (content, sum) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(content)[..] != *sum
        || &content[..8] != FRESH_MAGIC
        || content[8] != STATE_VERSION
    {
        return;
    }
    let u64_at = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&content[at..at + 8]);
        u64::from_le_bytes(b)
    };
    let Some(list) = &c.list else {
        return;
    };
    if u64_at(9) != list.sequence || content[17..49] != list.digest.as_bytes()[..] {
        return;
    }
    c.next_update = c.next_update.max(u64_at(49));
    c.refreshed_at = c.refreshed_at.max(u64_at(57));
}
