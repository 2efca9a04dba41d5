//! The verifier side: accepting lists, deltas and heads, persisted state,
//! freshness and lookups.
//!
//! - this module: the public types and opening a [`RevocationState`];
//! - `accept`: the rules for accepting lists, deltas and heads, and the
//!   locked, persisted commit;
//! - `lookup`: freshness and revocation checks;
//! - `persist`: the state kept in memory and its state-file payloads.

mod accept;
mod lookup;
mod persist;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, SystemTime};

use crate::error::AcceptError;
use crate::keys::TrustedListKeys;
use crate::list::{DEFAULT_MAX_LIST_BYTES, RevocationEntry};
use crate::state_file::{self, REVOCATION_STATE};

use persist::{Current, apply_freshness, decode_state, freshness_path};

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
#[non_exhaustive]
pub struct FreshnessPolicy {
    /// How long after next-update the list is still used (as *stale*).
    pub grace: Duration,
    /// What to do after next-update plus grace.
    pub on_expired: OnExpired,
}

impl FreshnessPolicy {
    /// A policy with `grace` after next-update, then `on_expired`.
    pub fn new(grace: Duration, on_expired: OnExpired) -> Self {
        Self { grace, on_expired }
    }
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

/// The answer of [`RevocationState::check`].
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

/// Configuration of a [`RevocationState`].
#[derive(Clone, Debug)]
pub struct RevocationStateConfig {
    issuer: String,
    keys: TrustedListKeys,
    policy: FreshnessPolicy,
    max_list_bytes: usize,
}

impl RevocationStateConfig {
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

/// Why a [`RevocationState`] could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The configuration trusts no list key: nothing could ever be accepted.
    #[error("no trusted list key configured")]
    NoTrustedKeys,
    /// The issuer name is empty or longer than 255 bytes.
    #[error("issuer name must be 1 to 255 bytes long")]
    InvalidIssuer,
    /// The largest list accepted is zero bytes: no list could be accepted.
    #[error("the largest list accepted must be more than zero bytes")]
    ZeroMaxListBytes,
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

/// The revocation state of a verifier: the newest accepted list, its
/// effective freshness, and the rules for accepting anything newer.
///
/// Safe to share between threads (`Arc<RevocationState>`): lookups take a
/// read lock; accepting is serialised and swaps the list in only after the
/// new state is persisted. A persisted state can also be shared between
/// processes (a service and the `verify` command, two service instances):
/// each accept takes an advisory lock on `<state>.lock` and first merges
/// what the others persisted, so no process can write an older list over
/// a newer one.
pub struct RevocationState {
    config: RevocationStateConfig,
    path: Option<PathBuf>,
    accepting: Mutex<()>,
    current: RwLock<Current>,
}

impl std::fmt::Debug for RevocationState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationState")
            .field("issuer", &self.config.issuer)
            .field("path", &self.path)
            .field("sequence", &self.sequence())
            .finish_non_exhaustive()
    }
}

impl RevocationState {
    /// A state that lives only in memory (lost on restart, so a restart
    /// could be rolled back: prefer [`open`](Self::open)).
    pub fn in_memory(config: RevocationStateConfig) -> Result<Self, StateError> {
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
    pub fn open(path: impl AsRef<Path>, config: RevocationStateConfig) -> Result<Self, StateError> {
        Self::check_config(&config)?;
        let path = path.as_ref().to_path_buf();
        let corrupt = |reason: String| StateError::Corrupt {
            path: path.clone(),
            reason,
        };
        let mut current = match state_file::read(&path, REVOCATION_STATE) {
            Ok(Some(payload)) => decode_state(&payload).map_err(corrupt)?,
            Ok(None) => Current::default(),
            Err(state_file::ReadError::Corrupt(reason)) => return Err(corrupt(reason.into())),
            Err(state_file::ReadError::Io(source)) => return Err(StateError::Io { path, source }),
        };
        // Freshness from heads accepted after the list. Ignoring a missing or
        // unreadable file only makes the state look older (fails closed
        // sooner), never newer.
        if let Ok(Some(payload)) = state_file::read(&freshness_path(&path), state_file::FRESHNESS) {
            apply_freshness(&mut current, &payload);
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

    fn check_config(config: &RevocationStateConfig) -> Result<(), StateError> {
        if config.keys.is_empty() {
            return Err(StateError::NoTrustedKeys);
        }
        if !crate::encoding::valid_issuer(&config.issuer) {
            return Err(StateError::InvalidIssuer);
        }
        if config.max_list_bytes == 0 {
            return Err(StateError::ZeroMaxListBytes);
        }
        Ok(())
    }

    /// The configuration.
    pub fn config(&self) -> &RevocationStateConfig {
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
}
