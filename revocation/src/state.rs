//! The verifier side: accepting lists, deltas and heads, persisted state,
//! freshness and lookups.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::clock::{from_unix, to_unix};
use crate::delta::ListDelta;
use crate::encoding::envelope_len;
use crate::error::{AcceptError, CheckError, DecodeError};
use crate::fsutil::write_atomic_private;
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
    /// A signed head names a newer list than the one held: the held list is
    /// known to be out of date, whatever its next-update says. Checks fail
    /// closed at once (no grace) until a list at least that new is accepted.
    Superseded {
        /// Sequence of the newest list a signed head announced.
        available: u64,
    },
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
    /// A valid head names a newer list than the one held; fetch it. Until
    /// a list that new is accepted, the held list is
    /// [`Freshness::Superseded`] and checks fail closed.
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

    /// The issuer whose lists are followed.
    pub fn issuer(&self) -> &str {
        &self.issuer
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
    /// The highest sequence a signed head announced (0: none). Above the
    /// held list's sequence, the held list is superseded.
    newer: u64,
}

impl Current {
    fn sequence(&self) -> Option<u64> {
        self.list.as_ref().map(|l| l.sequence)
    }

    /// The sequence of a newer list known to exist, if any.
    fn superseded_by(&self) -> Option<u64> {
        let held = self.sequence()?;
        (self.newer > held).then_some(self.newer)
    }

    /// Merges what another process persisted into what this one holds: the
    /// newer list wins, freshness and the newest announced sequence only
    /// ever grow.
    fn merge(&mut self, other: Current) {
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

const STATE_MAGIC: &[u8; 8] = b"ACRVSTAT";
/// Version 2 adds the newest announced sequence and, in the header, the
/// held list's sequence and digest (so a process can tell cheaply whether
/// another one changed the file). Version 1 files are still read.
const STATE_VERSION: u8 = 2;
const STATE_VERSION_1: u8 = 1;
/// Magic, version, next-update, refreshed-at, newer, sequence, digest,
/// body length.
const STATE_HEADER_LEN: usize = 8 + 1 + 8 + 8 + 8 + 8 + 32 + 8;

/// The revocation state of a verifier: the newest accepted list, its
/// effective freshness, and the rules for accepting anything newer.
///
/// Safe to share between threads (`Arc<VerifierState>`): lookups take a
/// read lock; accepting is serialised and swaps the list in only after the
/// new state is persisted. A persisted state can also be shared between
/// processes (a service and the `verify` command, two service instances):
/// each accept takes an advisory lock on `<state>.lock` and first merges
/// what the others persisted, so no process can write an older list over
/// a newer one.
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

    /// Starts an accept: serialises it with the other accepts of this
    /// process and, for a persisted state, of other processes sharing the
    /// file, and returns the current state with whatever those persisted
    /// merged in. Drop the guard only after [`commit`](Self::commit).
    fn begin(&self) -> Result<(AcceptGuard<'_>, Current), AcceptError> {
        let local = self
            .accepting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(path) = &self.path else {
            return Ok((
                AcceptGuard {
                    _local: local,
                    _file: None,
                },
                self.read(),
            ));
        };
        let lock = lock_path(path);
        let persist = |source| AcceptError::Persist {
            path: lock.clone(),
            source,
        };
        let mut options = OpenOptions::new();
        options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(&lock).map_err(persist)?;
        file.lock().map_err(persist)?;
        let mut current = self.read();
        if let Some(disk) = self.load_if_changed(path, &current)? {
            current.merge(disk);
        }
        if let Ok(bytes) = std::fs::read(freshness_path(path)) {
            apply_freshness(&mut current, &bytes);
        }
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = current.clone();
        Ok((
            AcceptGuard {
                _local: local,
                _file: Some(file),
            },
            current,
        ))
    }

    /// Reads the state file again when its header names another list than
    /// `held` (another process accepted one), or another newest announced
    /// sequence. Cheap otherwise: only the header is read.
    fn load_if_changed(&self, path: &Path, held: &Current) -> Result<Option<Current>, AcceptError> {
        let persist = |source| AcceptError::Persist {
            path: path.to_path_buf(),
            source,
        };
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(persist(e)),
        };
        let mut header = [0u8; STATE_HEADER_LEN];
        let unchanged = file.read_exact(&mut header).is_ok()
            && header[..8] == STATE_MAGIC[..]
            && header[8] == STATE_VERSION
            && u64_le(&header, 25) <= held.newer
            && match &held.list {
                Some(l) => {
                    u64_le(&header, 33) == l.sequence && header[41..73] == l.digest.as_bytes()[..]
                }
                None => u64_le(&header, 73) == 0,
            };
        if unchanged {
            return Ok(None);
        }
        let bytes = std::fs::read(path).map_err(persist)?;
        decode_state(&bytes).map(Some).map_err(|reason| {
            persist(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("verifier state is corrupt: {reason}"),
            ))
        })
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
            write_atomic_private(&target, &bytes).map_err(|source| AcceptError::Persist {
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
        let (_guard, current) = self.begin()?;
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
                newer: current.newer,
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
        let (_guard, current) = self.begin()?;
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
                newer: current.newer,
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
    /// [`AcceptOutcome::Behind`] and records (persistently) that a newer
    /// list exists, so the held list is [`Freshness::Superseded`] until
    /// that list is accepted; an older sequence is a rollback and another
    /// digest for the same sequence is equivocation.
    pub fn accept_head(&self, bytes: &[u8]) -> Result<AcceptOutcome, AcceptError> {
        let (head, _) = ListHead::decode_verified(bytes, &self.config.keys)?;
        self.check_issuer(&head.issuer)?;
        let (_guard, current) = self.begin()?;
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
            if head.sequence > current.newer {
                let mut next = current.clone();
                next.newer = head.sequence;
                self.commit(next, false)?;
            }
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
            newer: current.newer,
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

    /// The sequence of a newer list a signed head announced, when the held
    /// list is older than it (the state is then
    /// [`Freshness::Superseded`]).
    pub fn superseded_by(&self) -> Option<u64> {
        self.read().superseded_by()
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
        if let Some(available) = c.superseded_by() {
            return Freshness::Superseded { available };
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
    /// nothing is revoked and the list is past next-update plus grace, is
    /// superseded by a newer list a signed head announced, or no list was
    /// ever accepted, the policy decides: fail closed (an error, the
    /// default) or fail open (an answer with `failed_open` set, and a
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
            Freshness::NoList | Freshness::Expired { .. } | Freshness::Superseded { .. } => {
                match self.config.policy.on_expired {
                    OnExpired::FailClosed => Err(match freshness {
                        Freshness::Expired { past_next_update } => CheckError::ListExpired {
                            sequence: sequence.unwrap_or(0),
                            expired_for: past_next_update.saturating_sub(self.config.policy.grace),
                        },
                        Freshness::Superseded { available } => CheckError::ListSuperseded {
                            sequence: sequence.unwrap_or(0),
                            available,
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
                }
            }
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

/// Reads the little-endian `u64` at `at` (the caller checked the length).
fn u64_le(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

/// Holds an accept's locks: this process's, and the file lock shared with
/// other processes (released when the file is closed).
struct AcceptGuard<'a> {
    _local: std::sync::MutexGuard<'a, ()>,
    _file: Option<File>,
}

/// The advisory lock file next to the state file.
fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

fn encode_state(c: &Current) -> Vec<u8> {
    let body = c.list.as_ref().map(|l| l.encode_body()).unwrap_or_default();
    let (sequence, digest) = c
        .list
        .as_ref()
        .map_or((0, [0u8; 32]), |l| (l.sequence, *l.digest.as_bytes()));
    let mut out = Vec::with_capacity(body.len() + STATE_HEADER_LEN + 32);
    out.extend_from_slice(STATE_MAGIC);
    out.push(STATE_VERSION);
    out.extend_from_slice(&c.next_update.to_le_bytes());
    out.extend_from_slice(&c.refreshed_at.to_le_bytes());
    out.extend_from_slice(&c.newer.to_le_bytes());
    out.extend_from_slice(&sequence.to_le_bytes());
    out.extend_from_slice(&digest);
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&body);
    let sum: [u8; 32] = Sha256::digest(&out).into();
    out.extend_from_slice(&sum);
    out
}

fn decode_state(bytes: &[u8]) -> Result<Current, String> {
    if bytes.len() < 9 + 32 {
        return Err("file too short".into());
    }
    let (content, sum) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(content)[..] != *sum {
        return Err("checksum mismatch".into());
    }
    if &content[..8] != STATE_MAGIC {
        return Err("not a verifier state file".into());
    }
    let version = content[8];
    let fixed = match version {
        STATE_VERSION => STATE_HEADER_LEN,
        STATE_VERSION_1 => 8 + 1 + 8 + 8 + 8,
        _ => return Err(format!("unknown verifier state version {version}")),
    };
    if content.len() < fixed {
        return Err("file too short".into());
    }
    let next_update = u64_le(content, 9);
    let refreshed_at = u64_le(content, 17);
    let (newer, header_list) = if version == STATE_VERSION {
        let mut digest = [0u8; 32];
        digest.copy_from_slice(&content[41..73]);
        (u64_le(content, 25), Some((u64_le(content, 33), digest)))
    } else {
        (0, None)
    };
    let body_len = u64_le(content, fixed - 8);
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
    if let (Some(list), Some((sequence, digest))) = (&list, header_list)
        && (list.sequence != sequence || *list.digest.as_bytes() != digest)
    {
        return Err("header does not match the list".into());
    }
    Ok(Current {
        list,
        next_update,
        refreshed_at,
        newer,
    })
}

/// The small file holding freshness from heads, next to the state file.
fn freshness_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".fresh");
    PathBuf::from(name)
}

const FRESH_MAGIC: &[u8; 8] = b"ACRVFRSH";
/// Magic, version, sequence, digest, next-update, refreshed-at (version 1),
/// then the newest announced sequence (version 2), then the SHA-256.
const FRESH_LEN_1: usize = 8 + 1 + 8 + 32 + 8 + 8 + 32;
const FRESH_LEN_2: usize = FRESH_LEN_1 + 8;

fn encode_freshness(c: &Current) -> Vec<u8> {
    let mut out = Vec::with_capacity(FRESH_LEN_2);
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
    out.extend_from_slice(&c.newer.to_le_bytes());
    let sum: [u8; 32] = Sha256::digest(&out).into();
    out.extend_from_slice(&sum);
    out
}

/// Takes the freshness (and newest announced sequence) in `bytes` if it is
/// intact and names the held list. Ignoring a damaged file only makes the
/// state look older, never newer.
fn apply_freshness(c: &mut Current, bytes: &[u8]) {
    let version = match bytes.len() {
        FRESH_LEN_1 => STATE_VERSION_1,
        FRESH_LEN_2 => STATE_VERSION,
        _ => return,
    };
    let (content, sum) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(content)[..] != *sum || &content[..8] != FRESH_MAGIC || content[8] != version
    {
        return;
    }
    let Some(list) = &c.list else {
        return;
    };
    if u64_le(content, 9) != list.sequence || content[17..49] != list.digest.as_bytes()[..] {
        return;
    }
    c.next_update = c.next_update.max(u64_le(content, 49));
    c.refreshed_at = c.refreshed_at.max(u64_le(content, 57));
    if version == STATE_VERSION {
        c.newer = c.newer.max(u64_le(content, 65));
    }
}
