//! Accepting lists, deltas and heads: the rules, and the locked,
//! persisted commit shared with other processes.

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::sync::Arc;

use agentcap::unix_time::from_unix;

use super::persist::{
    Current, Summary, apply_freshness, decode_state, encode_freshness, encode_state,
    freshness_path, lock_path,
};
use super::{AcceptOutcome, RevocationState};
use crate::delta::ListDelta;
use crate::encoding::envelope_len;
use crate::error::{AcceptError, DecodeError};
use crate::head::ListHead;
use crate::list::{ListDigest, RevocationList};
use crate::state_file::{self, FRESHNESS, REVOCATION_STATE};

impl RevocationState {
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
        if let Ok(Some(payload)) = state_file::read(&freshness_path(path), FRESHNESS) {
            apply_freshness(&mut current, &payload);
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

    /// Reads the state file again when its summary names another list than
    /// `held` (another process accepted one), or another newest announced
    /// sequence. Cheap otherwise: only the summary is read.
    fn load_if_changed(&self, path: &Path, held: &Current) -> Result<Option<Current>, AcceptError> {
        let persist = |source| AcceptError::Persist {
            path: path.to_path_buf(),
            source,
        };
        let corrupt = |reason: &str| {
            persist(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("revocation state is corrupt: {reason}"),
            ))
        };
        let peeked = state_file::peek(path, REVOCATION_STATE, Summary::LEN).map_err(persist)?;
        if peeked
            .as_deref()
            .and_then(Summary::decode)
            .is_some_and(|s| s.known_to(held))
        {
            return Ok(None);
        }
        match state_file::read(path, REVOCATION_STATE) {
            Ok(None) => Ok(None),
            Ok(Some(payload)) => decode_state(&payload).map(Some).map_err(|r| corrupt(&r)),
            Err(state_file::ReadError::Corrupt(reason)) => Err(corrupt(reason)),
            Err(state_file::ReadError::Io(e)) => Err(persist(e)),
        }
    }

    /// Persists `next` (the whole list when it changed, only the small
    /// freshness file after a head) and then makes it current.
    fn commit(&self, next: Current, list_changed: bool) -> Result<(), AcceptError> {
        if let Some(path) = &self.path {
            let written = if list_changed {
                state_file::write(path, REVOCATION_STATE, &encode_state(&next))
                    .map_err(|e| (path.clone(), e))
            } else {
                let fresh = freshness_path(path);
                state_file::write(&fresh, FRESHNESS, &encode_freshness(&next))
                    .map_err(|e| (fresh, e))
            };
            written.map_err(|(path, source)| AcceptError::Persist { path, source })?;
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
        if let Some(old) = &current.list {
            if let Some(outcome) = not_newer(old, list.sequence, &list.digest)? {
                return Ok(outcome);
            }
            check_containment(old, &list)?;
        }
        self.install(&current, list)
    }

    /// Commits `list` as the new held list and reports the update.
    fn install(
        &self,
        current: &Current,
        list: RevocationList,
    ) -> Result<AcceptOutcome, AcceptError> {
        let (from, to) = (current.sequence(), list.sequence);
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
        if let Some(outcome) = not_newer(old, delta.to_sequence, &delta.to_digest)? {
            return Ok(outcome);
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
        self.install(&current, list)
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
}

/// Compares an offered list (its sequence and digest) with the held one:
/// older is a rollback, the same sequence with another digest is
/// equivocation, the same list again is [`AcceptOutcome::Unchanged`];
/// `None` when the offered list is newer.
fn not_newer(
    held: &RevocationList,
    sequence: u64,
    digest: &ListDigest,
) -> Result<Option<AcceptOutcome>, AcceptError> {
    if sequence < held.sequence {
        return Err(AcceptError::Rollback {
            current: held.sequence,
            offered: sequence,
        });
    }
    if sequence > held.sequence {
        return Ok(None);
    }
    if *digest == held.digest {
        Ok(Some(AcceptOutcome::Unchanged))
    } else {
        Err(AcceptError::Equivocation { sequence })
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

/// Holds an accept's locks: this process's, and the file lock shared with
/// other processes (released when the file is closed).
struct AcceptGuard<'a> {
    _local: std::sync::MutexGuard<'a, ()>,
    _file: Option<File>,
}
