//! The replay cache accepts a (holder, nonce) once while its proof can be
//! accepted, stays within its bound, and fails closed when full.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agentcap_verifier::{DEFAULT_REPLAY_CAPACITY, ReplayCache, ReplayError};

fn t(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000 + seconds)
}

const HOLDER: [u8; 32] = [1; 32];
const OTHER_HOLDER: [u8; 32] = [2; 32];

#[test]
fn a_nonce_is_accepted_once_per_holder() {
    let cache = ReplayCache::new(10);
    cache
        .check_and_remember(&HOLDER, "n1", t(60), t(0))
        .unwrap();
    assert_eq!(
        cache.check_and_remember(&HOLDER, "n1", t(60), t(1)),
        Err(ReplayError::Replayed)
    );
    // Up to and including its expiry instant.
    assert_eq!(
        cache.check_and_remember(&HOLDER, "n1", t(60), t(60)),
        Err(ReplayError::Replayed)
    );
    // Another holder's nonce, or another nonce, is another proof.
    cache
        .check_and_remember(&OTHER_HOLDER, "n1", t(60), t(1))
        .unwrap();
    cache
        .check_and_remember(&HOLDER, "n2", t(60), t(1))
        .unwrap();
    assert_eq!(cache.len(), 3);
}

#[test]
fn holder_and_nonce_do_not_run_together() {
    // ("ab", "c") and ("a", "bc") are different entries.
    let cache = ReplayCache::new(10);
    cache.check_and_remember(b"ab", "c", t(60), t(0)).unwrap();
    cache.check_and_remember(b"a", "bc", t(60), t(0)).unwrap();
}

#[test]
fn an_entry_is_forgotten_once_its_proof_has_expired() {
    let cache = ReplayCache::new(10);
    cache
        .check_and_remember(&HOLDER, "n1", t(60), t(0))
        .unwrap();
    // After the expiry a verifier refuses the proof as too old itself.
    cache
        .check_and_remember(&HOLDER, "other", t(200), t(61))
        .unwrap();
    assert_eq!(cache.len(), 1, "the expired entry was evicted");
    cache
        .check_and_remember(&HOLDER, "n1", t(200), t(61))
        .unwrap();
}

#[test]
fn an_already_expired_proof_is_not_remembered() {
    let cache = ReplayCache::new(10);
    cache
        .check_and_remember(&HOLDER, "n1", t(5), t(10))
        .unwrap();
    assert!(cache.is_empty());
}

#[test]
fn memory_stays_bounded_and_a_full_cache_fails_closed() {
    let capacity = 1000;
    let extra = 250;
    let cache = ReplayCache::new(capacity);
    let mut full = 0;
    for i in 0..capacity + extra {
        match cache.check_and_remember(&HOLDER, &format!("nonce-{i}"), t(60), t(0)) {
            Ok(()) => assert!(i < capacity),
            Err(ReplayError::Full) => {
                assert!(i >= capacity);
                full += 1;
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
        assert!(cache.len() <= capacity);
    }
    assert_eq!(full, extra);
    assert_eq!(cache.len(), capacity);
    // A replay is still reported as a replay, not as "full".
    assert_eq!(
        cache.check_and_remember(&HOLDER, "nonce-0", t(60), t(1)),
        Err(ReplayError::Replayed)
    );
    // Once the entries expire there is room again.
    cache
        .check_and_remember(&HOLDER, "later", t(200), t(61))
        .unwrap();
    assert_eq!(cache.len(), 1);
}

#[test]
fn eviction_follows_expiry_not_insertion_order() {
    let cache = ReplayCache::new(2);
    cache
        .check_and_remember(&HOLDER, "long", t(300), t(0))
        .unwrap();
    cache
        .check_and_remember(&HOLDER, "short", t(10), t(0))
        .unwrap();
    // At t(11) the short-lived entry is gone, the long-lived one is kept.
    cache
        .check_and_remember(&HOLDER, "new", t(300), t(11))
        .unwrap();
    assert_eq!(
        cache.check_and_remember(&HOLDER, "long", t(300), t(12)),
        Err(ReplayError::Replayed)
    );
    assert_eq!(
        cache.check_and_remember(&HOLDER, "another", t(300), t(12)),
        Err(ReplayError::Full)
    );
}

#[test]
fn a_zero_capacity_cache_refuses_everything() {
    let cache = ReplayCache::new(0);
    assert_eq!(
        cache.check_and_remember(&HOLDER, "n", t(60), t(0)),
        Err(ReplayError::Full)
    );
    assert_eq!(ReplayCache::default().capacity(), DEFAULT_REPLAY_CAPACITY);
}

#[test]
fn concurrent_replays_are_accepted_exactly_once() {
    let cache = Arc::new(ReplayCache::new(10_000));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let cache = Arc::clone(&cache);
            std::thread::spawn(move || {
                (0..500)
                    .filter(|i| {
                        cache
                            .check_and_remember(&HOLDER, &format!("n{i}"), t(60), t(0))
                            .is_ok()
                    })
                    .count()
            })
        })
        .collect();
    let accepted: usize = threads.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(accepted, 500);
    assert_eq!(cache.len(), 500);
}
