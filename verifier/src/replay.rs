//! A bounded replay cache for holder-proof nonces: a proof is accepted once.
//!
//! Each accepted proof's (holder key, nonce) is remembered until the proof
//! could no longer be accepted anyway (its `expires_at`, from
//! [`agentcap::VerifiedProof::replay_until`]); a second proof with the same
//! pair before then is refused. The cache holds at most `capacity` entries:
//! when it is full of live entries it refuses new proofs (fails closed)
//! rather than forget one that could still be replayed.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Mutex;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

/// The default number of entries: 100 000 proofs in flight at once, a few
/// megabytes.
pub const DEFAULT_REPLAY_CAPACITY: usize = 100_000;

/// Why [`ReplayCache::check_and_remember`] refused a proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// This holder already used this nonce in a proof that is still valid.
    #[error("the proof's nonce was already used by this holder")]
    Replayed,
    /// The cache is full of proofs that are still valid: refusing is the
    /// only way not to forget one of them.
    #[error("the replay cache is full; the proof cannot be checked for replay")]
    Full,
}

/// Entries are keyed by a SHA-256 of the holder key and the nonce, so that
/// each costs the same few bytes whatever the caller passes.
type Key = [u8; 32];

#[derive(Debug, Default)]
struct Entries {
    /// The live entries and when each may be forgotten.
    seen: HashMap<Key, SystemTime>,
    /// The same entries ordered by expiry, soonest first, so that evicting
    /// expired entries costs only what is evicted.
    by_expiry: BinaryHeap<Reverse<(SystemTime, Key)>>,
}

/// Remembers the (holder, nonce) pairs of accepted proofs until they
/// expire. Thread-safe: share it (`Arc`) between requests.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use agentcap_verifier::{ReplayCache, ReplayError};
///
/// let cache = ReplayCache::new(1000);
/// let now = SystemTime::now();
/// let until = now + Duration::from_secs(65);
/// let holder = [7u8; 32];
/// cache.check_and_remember(&holder, "n-1", until, now)?;
/// assert_eq!(
///     cache.check_and_remember(&holder, "n-1", until, now),
///     Err(ReplayError::Replayed)
/// );
/// # Ok::<(), ReplayError>(())
/// ```
#[derive(Debug)]
pub struct ReplayCache {
    capacity: usize,
    entries: Mutex<Entries>,
}

impl Default for ReplayCache {
    fn default() -> Self {
        Self::new(DEFAULT_REPLAY_CAPACITY)
    }
}

impl ReplayCache {
    /// A cache holding at most `capacity` live entries (0 refuses every
    /// proof).
    pub fn new(capacity: usize) -> Self {
        ReplayCache {
            capacity,
            entries: Mutex::new(Entries::default()),
        }
    }

    /// The most entries the cache holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The number of entries held now (expired ones included until the next
    /// check evicts them).
    pub fn len(&self) -> usize {
        self.lock().seen.len()
    }

    /// Whether the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Accepts a proof's nonce once: refuses it with
    /// [`ReplayError::Replayed`] if `holder` (the key's bytes) already used
    /// `nonce` and that entry has not expired, else remembers the pair until
    /// `expires_at`. Entries expired at `now` are evicted first; if the cache
    /// is still full, refuses with [`ReplayError::Full`].
    ///
    /// A proof whose `expires_at` is already past cannot be accepted by a
    /// verifier; it is not remembered.
    pub fn check_and_remember(
        &self,
        holder: &[u8],
        nonce: &str,
        expires_at: SystemTime,
        now: SystemTime,
    ) -> Result<(), ReplayError> {
        let key = entry_key(holder, nonce);
        let mut entries = self.lock();
        entries.evict_expired(now);
        if entries.seen.contains_key(&key) {
            return Err(ReplayError::Replayed);
        }
        if expires_at < now {
            return Ok(());
        }
        if entries.seen.len() >= self.capacity {
            return Err(ReplayError::Full);
        }
        entries.seen.insert(key, expires_at);
        entries.by_expiry.push(Reverse((expires_at, key)));
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // The entries stay consistent even if a holder of the lock panicked:
        // each update is a single insert into both collections.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Entries {
    /// Forgets every entry that expired before `now`.
    fn evict_expired(&mut self, now: SystemTime) {
        while let Some(Reverse((expires_at, key))) = self.by_expiry.peek().copied() {
            if expires_at >= now {
                break;
            }
            self.by_expiry.pop();
            self.seen.remove(&key);
        }
    }
}

/// SHA-256 over the holder key's length, the key, and the nonce: no two
/// (holder, nonce) pairs share an encoding.
fn entry_key(holder: &[u8], nonce: &str) -> Key {
    let mut hasher = Sha256::new();
    hasher.update((holder.len() as u64).to_be_bytes());
    hasher.update(holder);
    hasher.update(nonce.as_bytes());
    hasher.finalize().into()
}
