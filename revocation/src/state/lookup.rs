//! Freshness and revocation checks against the accepted list.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use agentcap::unix_time::{from_unix, to_unix};

use super::persist::Current;
use super::{Freshness, OnExpired, RevocationCheck, RevocationState, RevocationStatus};
use crate::error::CheckError;
use crate::id::RevocationId;
use crate::list::{ListDigest, RevocationList};

impl RevocationState {
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
