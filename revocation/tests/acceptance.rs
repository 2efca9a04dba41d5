//! Verifier-side acceptance rules: every attack is refused with its own
//! error and the previous state is kept; accepted state survives restarts;
//! freshness and fail-closed / fail-open policy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use agentcap_revocation::{
    AcceptError, AcceptOutcome, CheckError, DecodeError, Freshness, FreshnessPolicy, ListDelta,
    ListDigest, OnExpired, RevocationId, RevocationList, RevocationState, RevocationStatus,
    StateError,
};
use common::*;

/// A state holding list 5 (entries 1..=3, live for two hours).
fn state_at_5() -> (RevocationState, RevocationList) {
    let k = key(1);
    let s = state(&[&k]);
    let l5 = list(5, vec![entry(1, 120), entry(2, 120), entry(3, 120)]);
    s.accept_list(&l5.sign(&k).unwrap()).unwrap();
    (s, l5)
}

fn assert_kept(s: &RevocationState, l: &RevocationList) {
    assert_eq!(s.sequence(), Some(l.sequence()));
    assert_eq!(s.digest(), Some(l.digest()));
    assert_eq!(s.list().unwrap().entries(), l.entries());
}

#[test]
fn valid_list_is_accepted_and_looked_up_by_block_id() {
    let (s, _) = state_at_5();
    assert_eq!(s.is_revoked(&[block_id(9), block_id(2)]), Some(1));
    assert_eq!(s.is_revoked(&[block_id(9)]), None);
}

#[test]
fn forged_list_is_rejected_and_state_kept() {
    let (s, l5) = state_at_5();
    let mut bytes = signed_list(&key(1), 6, vec![entry(1, 120)]);
    let body_byte = 30;
    bytes[body_byte] ^= 0x01;
    assert!(matches!(
        s.accept_list(&bytes),
        Err(AcceptError::Decode(DecodeError::BadSignature))
    ));
    let mut bytes = signed_list(&key(1), 6, vec![entry(1, 120)]);
    let last = bytes.len() - 1;
    bytes[last] ^= 0x80;
    assert!(matches!(
        s.accept_list(&bytes),
        Err(AcceptError::Decode(DecodeError::BadSignature))
    ));
    assert_kept(&s, &l5);
}

#[test]
fn list_signed_by_untrusted_key_is_rejected_and_state_kept() {
    let (s, l5) = state_at_5();
    let bytes = signed_list(&key(66), 6, vec![]);
    assert!(matches!(
        s.accept_list(&bytes),
        Err(AcceptError::Decode(DecodeError::UnknownKey(id))) if id == agentcap_revocation::KeyId::of(&key(66).public())
    ));
    assert_kept(&s, &l5);
}

#[test]
fn rollback_is_rejected_and_state_kept() {
    let (s, l5) = state_at_5();
    let bytes = signed_list(
        &key(1),
        4,
        vec![entry(1, 120), entry(2, 120), entry(3, 120)],
    );
    assert!(matches!(
        s.accept_list(&bytes),
        Err(AcceptError::Rollback {
            current: 5,
            offered: 4
        })
    ));
    assert_kept(&s, &l5);
}

#[test]
fn equivocation_is_rejected_and_state_kept() {
    let (s, l5) = state_at_5();
    let other = signed_list(
        &key(1),
        5,
        vec![entry(1, 120), entry(2, 120), entry(3, 120), entry(4, 120)],
    );
    assert!(matches!(
        s.accept_list(&other),
        Err(AcceptError::Equivocation { sequence: 5 })
    ));
    // The same list again is not an error.
    assert_eq!(
        s.accept_list(&l5.sign(&key(1)).unwrap()).unwrap(),
        AcceptOutcome::Unchanged
    );
    assert_kept(&s, &l5);
}

#[test]
fn truncated_list_is_rejected_and_state_kept() {
    let (s, l5) = state_at_5();
    let bytes = signed_list(&key(1), 6, vec![entry(1, 120)]);
    for cut in [0, 3, 17, 40, bytes.len() - 1] {
        assert!(
            matches!(
                s.accept_list(&bytes[..cut]),
                Err(AcceptError::Decode(DecodeError::Truncated { .. }))
            ),
            "cut at {cut}"
        );
    }
    assert_kept(&s, &l5);
}

#[test]
fn oversized_list_is_rejected_before_parsing_and_state_kept() {
    let k = key(1);
    let s = RevocationState::in_memory(config(&[&k]).with_max_list_bytes(1_000)).unwrap();
    let small = list(1, vec![entry(1, 120)]);
    s.accept_list(&small.sign(&k).unwrap()).unwrap();
    let big = signed_list(&k, 2, (0..100).map(|n| entry(n, 120)).collect());
    assert!(matches!(
        s.accept_list(&big),
        Err(AcceptError::Decode(DecodeError::Oversized {
            max: 1_000,
            ..
        }))
    ));
    assert_kept(&s, &small);
}

#[test]
fn trailing_bytes_unknown_version_and_bad_magic_are_rejected_and_state_kept() {
    let (s, l5) = state_at_5();
    let mut bytes = signed_list(&key(1), 6, vec![]);
    bytes.push(0);
    assert!(matches!(
        s.accept_list(&bytes),
        Err(AcceptError::Decode(DecodeError::TrailingBytes { extra: 1 }))
    ));
    let mut bytes = signed_list(&key(1), 6, vec![]);
    bytes[4] = 2;
    assert!(matches!(
        s.accept_list(&bytes),
        Err(AcceptError::Decode(DecodeError::UnsupportedVersion(2)))
    ));
    let mut bytes = signed_list(&key(1), 6, vec![]);
    bytes[0] = b'X';
    assert!(matches!(
        s.accept_list(&bytes),
        Err(AcceptError::Decode(DecodeError::BadMagic))
    ));
    assert_kept(&s, &l5);
}

#[test]
fn list_of_another_issuer_is_rejected_and_state_kept() {
    let (s, l5) = state_at_5();
    let other = RevocationList::new("https://evil.example", 9, t0(), t0() + mins(60), vec![])
        .unwrap()
        .sign(&key(1))
        .unwrap();
    assert!(matches!(
        s.accept_list(&other),
        Err(AcceptError::WrongIssuer { .. })
    ));
    assert_kept(&s, &l5);
}

#[test]
fn new_list_dropping_a_live_entry_is_rejected_and_state_kept() {
    let (s, l5) = state_at_5();
    // Entry 3's token lives until t0 + 120 min, after list 6's this-update.
    let bytes = signed_list(&key(1), 6, vec![entry(1, 120), entry(2, 120)]);
    assert!(matches!(
        s.accept_list(&bytes),
        Err(AcceptError::DropsLiveEntry { id }) if id == RevocationId::from_block_id(&block_id(3))
    ));
    assert_kept(&s, &l5);
}

#[test]
fn new_list_may_drop_entries_whose_token_expired() {
    let k = key(1);
    let s = state(&[&k]);
    s.accept_list(&signed_list(&k, 1, vec![entry(1, 0), entry(2, 120)]))
        .unwrap();
    // Entry 1 expired at t0, before list 2's this-update (t0 + 2 min).
    let l2 = list(2, vec![entry(2, 120)]);
    assert_eq!(
        s.accept_list(&l2.sign(&k).unwrap()).unwrap(),
        AcceptOutcome::Updated {
            from: Some(1),
            to: 2
        }
    );
    assert_kept(&s, &l2);
}

#[test]
fn valid_delta_is_applied() {
    let (s, l5) = state_at_5();
    let l6 = list(
        6,
        vec![entry(1, 120), entry(2, 120), entry(3, 120), entry(7, 30)],
    );
    s.accept_delta(&signed_delta(&key(1), &l5, &l6)).unwrap();
    assert_kept(&s, &l6);
}

#[test]
fn delta_with_broken_chain_is_rejected_and_state_kept() {
    let (s, l5) = state_at_5();
    // A delta from another list 5 (equivocating history).
    let fake5 = list(5, vec![entry(1, 120)]);
    let l6 = list(6, vec![entry(1, 120), entry(8, 30)]);
    assert!(matches!(
        s.accept_delta(&signed_delta(&key(1), &fake5, &l6)),
        Err(AcceptError::DeltaChainBroken { from: 5 })
    ));
    assert_kept(&s, &l5);
}

#[test]
fn delta_from_another_sequence_is_not_applicable_and_state_kept() {
    let (s, l5) = state_at_5();
    let l6 = list(6, vec![entry(1, 120), entry(2, 120), entry(3, 120)]);
    let l7 = list(
        7,
        vec![entry(1, 120), entry(2, 120), entry(3, 120), entry(9, 9)],
    );
    assert!(matches!(
        s.accept_delta(&signed_delta(&key(1), &l6, &l7)),
        Err(AcceptError::DeltaNotApplicable {
            current: Some(5),
            from: 6
        })
    ));
    assert_kept(&s, &l5);
}

#[test]
fn replayed_old_delta_is_rollback_and_state_kept() {
    let k = key(1);
    let s = state(&[&k]);
    let l1 = list(1, vec![entry(1, 120)]);
    let l2 = list(2, vec![entry(1, 120), entry(2, 120)]);
    let l3 = list(3, vec![entry(1, 120), entry(2, 120), entry(3, 120)]);
    s.accept_list(&l1.sign(&k).unwrap()).unwrap();
    let d12 = signed_delta(&k, &l1, &l2);
    s.accept_delta(&d12).unwrap();
    s.accept_delta(&signed_delta(&k, &l2, &l3)).unwrap();
    assert!(matches!(
        s.accept_delta(&d12),
        Err(AcceptError::Rollback {
            current: 3,
            offered: 2
        })
    ));
    assert_kept(&s, &l3);
}

#[test]
fn delta_whose_result_does_not_match_its_digest_is_rejected_and_state_kept() {
    let (s, l5) = state_at_5();
    let delta = ListDelta::from_parts(
        ISSUER,
        (5, l5.digest()),
        (6, ListDigest::from_bytes([0xab; 32])),
        t0() + mins(6),
        t0() + mins(66),
        t0(),
        vec![entry(10, 10)],
    )
    .unwrap();
    assert!(matches!(
        s.accept_delta(&delta.sign(&key(1)).unwrap()),
        Err(AcceptError::DeltaResultMismatch { to: 6 })
    ));
    assert_kept(&s, &l5);
}

#[test]
fn delta_pruning_live_entries_is_rejected_and_state_kept() {
    let (s, l5) = state_at_5();
    // Signed by the issuer, self-consistent, but it prunes entries whose
    // tokens live until t0 + 120 min with a list dated t0 + 6 min.
    let l6 = RevocationList::new(ISSUER, 6, t0() + mins(6), t0() + mins(66), vec![]).unwrap();
    let delta = ListDelta::from_parts(
        ISSUER,
        (5, l5.digest()),
        (6, l6.digest()),
        t0() + mins(6),
        t0() + mins(66),
        t0() + mins(500),
        vec![],
    )
    .unwrap();
    assert!(matches!(
        s.accept_delta(&delta.sign(&key(1)).unwrap()),
        Err(AcceptError::DropsLiveEntry { .. })
    ));
    assert_kept(&s, &l5);
}

#[test]
fn forged_truncated_and_oversized_deltas_are_rejected_and_state_kept() {
    let (s, l5) = state_at_5();
    let l6 = list(
        6,
        vec![entry(1, 120), entry(2, 120), entry(3, 120), entry(7, 30)],
    );
    let good = signed_delta(&key(1), &l5, &l6);
    let mut forged = good.clone();
    forged[40] ^= 1;
    assert!(matches!(
        s.accept_delta(&forged),
        Err(AcceptError::Decode(DecodeError::BadSignature))
    ));
    assert!(matches!(
        s.accept_delta(&good[..good.len() - 10]),
        Err(AcceptError::Decode(DecodeError::Truncated { .. }))
    ));
    assert!(matches!(
        s.accept_delta(&signed_delta(&key(2), &l5, &l6)),
        Err(AcceptError::Decode(DecodeError::UnknownKey(_)))
    ));
    let small = RevocationState::in_memory(config(&[&key(1)]).with_max_list_bytes(100)).unwrap();
    assert!(matches!(
        small.accept_delta(&good),
        Err(AcceptError::Decode(DecodeError::Oversized { .. }))
    ));
    assert_kept(&s, &l5);
}

#[test]
fn head_for_held_list_extends_freshness() {
    let (s, l5) = state_at_5();
    let next = l5.next_update();
    assert_eq!(
        s.freshness(next),
        Freshness::Stale {
            past_next_update: Duration::ZERO
        }
    );
    let head = signed_head(&key(1), &l5, next - mins(1), next + mins(60));
    assert_eq!(
        s.accept_head(&head).unwrap(),
        AcceptOutcome::Refreshed {
            next_update: next + mins(60)
        }
    );
    assert_eq!(s.freshness(next), Freshness::Fresh);
    assert_eq!(s.age(next).unwrap(), mins(1));
    assert_eq!(s.accept_head(&head).unwrap(), AcceptOutcome::Unchanged);
}

#[test]
fn head_attacks_are_rejected_and_state_kept() {
    let (s, l5) = state_at_5();
    let before = s.next_update();
    let old = list(4, vec![]);
    assert!(matches!(
        s.accept_head(&signed_head(&key(1), &old, t0(), t0() + mins(600))),
        Err(AcceptError::Rollback {
            current: 5,
            offered: 4
        })
    ));
    let other5 = list(5, vec![]);
    assert!(matches!(
        s.accept_head(&signed_head(&key(1), &other5, t0(), t0() + mins(600))),
        Err(AcceptError::Equivocation { sequence: 5 })
    ));
    let mut forged = signed_head(&key(1), &l5, t0(), t0() + mins(600));
    forged[50] ^= 4;
    assert!(matches!(
        s.accept_head(&forged),
        Err(AcceptError::Decode(DecodeError::BadSignature))
    ));
    let mut long = signed_head(&key(1), &l5, t0(), t0() + mins(600));
    long.resize(5_000, 0);
    assert!(matches!(
        s.accept_head(&long),
        Err(AcceptError::Decode(DecodeError::Oversized { .. }))
    ));
    assert_eq!(s.next_update(), before);
    assert_kept(&s, &l5);
}

#[test]
fn head_for_newer_list_reports_behind_without_extending_freshness() {
    let (s, l5) = state_at_5();
    let before = s.next_update();
    let l9 = list(9, vec![]);
    assert_eq!(
        s.accept_head(&signed_head(&key(1), &l9, t0(), t0() + mins(600)))
            .unwrap(),
        AcceptOutcome::Behind {
            current: Some(5),
            available: 9
        }
    );
    assert_eq!(s.next_update(), before);
    assert_kept(&s, &l5);
}

#[test]
fn list_key_rotation_accepts_lists_signed_by_any_trusted_key() {
    let (old_key, new_key) = (key(1), key(2));
    let s = state(&[&old_key, &new_key]);
    let l1 = list(1, vec![entry(1, 120)]);
    s.accept_list(&l1.sign(&old_key).unwrap()).unwrap();
    let l2 = list(2, vec![entry(1, 120), entry(2, 120)]);
    s.accept_delta(&signed_delta(&new_key, &l1, &l2)).unwrap();
    s.accept_head(&signed_head(&new_key, &l2, t0(), t0() + mins(300)))
        .unwrap();
    assert_kept(&s, &l2);
}

#[test]
fn accepted_state_survives_restart_and_rollback_after_restart_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("verifier-state.bin");
    let k = key(1);
    let l1 = list(1, vec![entry(1, 120)]);
    let l2 = list(2, vec![entry(1, 120), entry(2, 120)]);
    {
        let s = RevocationState::open(&path, config(&[&k])).unwrap();
        s.accept_list(&l1.sign(&k).unwrap()).unwrap();
        s.accept_delta(&signed_delta(&k, &l1, &l2)).unwrap();
        s.accept_head(&signed_head(&k, &l2, t0() + mins(30), t0() + mins(500)))
            .unwrap();
    }
    let s = RevocationState::open(&path, config(&[&k])).unwrap();
    assert_kept(&s, &l2);
    assert_eq!(s.next_update(), Some(t0() + mins(500)));
    assert!(matches!(
        s.accept_list(&l1.sign(&k).unwrap()),
        Err(AcceptError::Rollback {
            current: 2,
            offered: 1
        })
    ));
}

#[test]
fn refused_object_leaves_persisted_state_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.bin");
    let k = key(1);
    let s = RevocationState::open(&path, config(&[&k])).unwrap();
    s.accept_list(&signed_list(&k, 3, vec![entry(1, 120)]))
        .unwrap();
    let before = std::fs::read(&path).unwrap();
    let _ = s.accept_list(&signed_list(&k, 2, vec![]));
    let _ = s.accept_list(&signed_list(&key(9), 4, vec![]));
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn damaged_state_file_is_an_error_not_a_silent_reset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.bin");
    let k = key(1);
    {
        let s = RevocationState::open(&path, config(&[&k])).unwrap();
        s.accept_list(&signed_list(&k, 3, vec![entry(1, 120)]))
            .unwrap();
    }
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    assert!(matches!(
        RevocationState::open(&path, config(&[&k])),
        Err(StateError::Corrupt { .. })
    ));
    std::fs::write(&path, &bytes[..10]).unwrap();
    assert!(matches!(
        RevocationState::open(&path, config(&[&k])),
        Err(StateError::Corrupt { .. })
    ));
}

#[test]
fn configuration_without_trusted_keys_is_refused() {
    let cfg = agentcap_revocation::RevocationStateConfig::new(
        ISSUER,
        agentcap_revocation::TrustedListKeys::new(),
    );
    assert!(matches!(
        RevocationState::in_memory(cfg),
        Err(StateError::NoTrustedKeys)
    ));
}

#[test]
fn freshness_goes_fresh_then_stale_then_expired() {
    let k = key(1);
    let s = RevocationState::in_memory(
        config(&[&k]).with_policy(FreshnessPolicy::new(mins(10), OnExpired::FailClosed)),
    )
    .unwrap();
    assert_eq!(s.freshness(t0()), Freshness::NoList);
    let l = list(1, vec![entry(1, 120)]);
    s.accept_list(&l.sign(&k).unwrap()).unwrap();
    let next = l.next_update();
    assert_eq!(s.freshness(next - mins(1)), Freshness::Fresh);
    assert_eq!(
        s.freshness(next + mins(3)),
        Freshness::Stale {
            past_next_update: mins(3)
        }
    );
    assert_eq!(
        s.freshness(next + mins(10)),
        Freshness::Expired {
            past_next_update: mins(10)
        }
    );
    assert_eq!(s.age(l.this_update() + mins(7)), Some(mins(7)));
}

#[test]
fn expired_list_fails_closed_by_default_but_still_reports_revocations() {
    let k = key(1);
    let s = state(&[&k]);
    assert_eq!(s.check(&[block_id(1)], t0()), Err(CheckError::NoList));
    let l = list(1, vec![entry(1, 600)]);
    s.accept_list(&l.sign(&k).unwrap()).unwrap();
    let late = l.next_update() + mins(60);
    assert!(matches!(
        s.check(&[block_id(2)], late),
        Err(CheckError::ListExpired { sequence: 1, .. })
    ));
    let revoked = s.check(&[block_id(0), block_id(1)], late).unwrap();
    assert!(matches!(
        revoked.status,
        RevocationStatus::Revoked { block_index: 1, .. }
    ));
}

#[test]
fn expired_list_fails_open_only_when_configured() {
    let k = key(1);
    let s = RevocationState::in_memory(
        config(&[&k]).with_policy(FreshnessPolicy::new(Duration::ZERO, OnExpired::FailOpen)),
    )
    .unwrap();
    let l = list(1, vec![entry(1, 600)]);
    s.accept_list(&l.sign(&k).unwrap()).unwrap();
    let check = s.check(&[block_id(2)], l.next_update() + mins(60)).unwrap();
    assert!(check.failed_open);
    assert!(!check.is_revoked());
    assert_eq!(check.sequence, Some(1));
    let fresh = s.check(&[block_id(2)], l.this_update()).unwrap();
    assert!(!fresh.failed_open);
    assert_eq!(fresh.freshness, Freshness::Fresh);
    assert_eq!(fresh.age, Some(Duration::ZERO));
}

#[test]
fn head_refresh_is_persisted_without_rewriting_the_list() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.bin");
    let k = key(1);
    let l = list(1, vec![entry(1, 120)]);
    {
        let s = RevocationState::open(&path, config(&[&k])).unwrap();
        s.accept_list(&l.sign(&k).unwrap()).unwrap();
        let list_file = std::fs::read(&path).unwrap();
        s.accept_head(&signed_head(&k, &l, t0() + mins(40), t0() + mins(400)))
            .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), list_file);
    }
    let s = RevocationState::open(&path, config(&[&k])).unwrap();
    assert_eq!(s.next_update(), Some(t0() + mins(400)));
    assert_eq!(s.age(t0() + mins(45)), Some(mins(5)));
    // A newer list makes the old freshness file irrelevant.
    let l2 = list(2, vec![entry(1, 120)]);
    s.accept_list(&l2.sign(&k).unwrap()).unwrap();
    drop(s);
    let s = RevocationState::open(&path, config(&[&k])).unwrap();
    assert_eq!(s.next_update(), Some(l2.next_update()));
}

/// Counts warning events, to observe the fail-open log.
struct WarningCounter(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl tracing::Subscriber for WarningCounter {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if *event.metadata().level() == tracing::Level::WARN {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn every_fail_open_decision_is_logged() {
    let k = key(1);
    let s = RevocationState::in_memory(
        config(&[&k]).with_policy(FreshnessPolicy::new(Duration::ZERO, OnExpired::FailOpen)),
    )
    .unwrap();
    let l = list(1, vec![entry(1, 600)]);
    s.accept_list(&l.sign(&k).unwrap()).unwrap();
    let warnings = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let late = l.next_update() + mins(1);
    tracing::subscriber::with_default(WarningCounter(warnings.clone()), || {
        for _ in 0..3 {
            assert!(s.check(&[block_id(2)], late).unwrap().failed_open);
        }
        // Fresh answers are not fail-open decisions and are not logged.
        s.check(&[block_id(2)], l.this_update()).unwrap();
    });
    assert_eq!(warnings.load(std::sync::atomic::Ordering::SeqCst), 3);
}

#[test]
fn a_head_newer_than_the_list_makes_it_stale() {
    let (s, l5) = state_at_5();
    let k = key(1);
    let l9 = list(9, vec![entry(1, 120), entry(2, 120), entry(3, 120)]);
    // The list itself is still within its next-update.
    assert_eq!(s.freshness(t0() + mins(6)), Freshness::Fresh);
    assert_eq!(
        s.accept_head(&signed_head(&k, &l9, t0() + mins(9), t0() + mins(600)))
            .unwrap(),
        AcceptOutcome::Behind {
            current: Some(5),
            available: 9
        }
    );
    assert_eq!(s.superseded_by(), Some(9));
    assert_eq!(
        s.freshness(t0() + mins(10)),
        Freshness::Superseded { available: 9 }
    );
    assert_eq!(
        s.check(&[block_id(7)], t0() + mins(10)),
        Err(CheckError::ListSuperseded {
            sequence: 5,
            available: 9
        })
    );
    // What the held list revokes is still reported.
    assert!(
        s.check(&[block_id(1)], t0() + mins(10))
            .unwrap()
            .is_revoked()
    );
    assert_kept(&s, &l5);

    // The announced list ends it.
    s.accept_list(&l9.sign(&k).unwrap()).unwrap();
    assert_eq!(s.superseded_by(), None);
    assert_eq!(s.freshness(t0() + mins(10)), Freshness::Fresh);
    assert!(s.check(&[block_id(7)], t0() + mins(10)).is_ok());
}

#[test]
fn a_superseded_list_fails_open_only_when_configured() {
    let k = key(1);
    let s = RevocationState::in_memory(
        config(&[&k]).with_policy(FreshnessPolicy::new(mins(5), OnExpired::FailOpen)),
    )
    .unwrap();
    let l5 = list(5, vec![]);
    s.accept_list(&l5.sign(&k).unwrap()).unwrap();
    s.accept_head(&signed_head(&k, &list(6, vec![]), t0(), t0() + mins(600)))
        .unwrap();
    let check = s.check(&[block_id(7)], t0() + mins(6)).unwrap();
    assert!(check.failed_open);
    assert_eq!(check.freshness, Freshness::Superseded { available: 6 });
}

#[test]
fn a_newer_head_is_remembered_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.bin");
    let k = key(1);
    let l5 = list(5, vec![entry(1, 120)]);
    {
        let s = RevocationState::open(&path, config(&[&k])).unwrap();
        s.accept_list(&l5.sign(&k).unwrap()).unwrap();
        s.accept_head(&signed_head(&k, &list(7, vec![]), t0(), t0() + mins(600)))
            .unwrap();
    }
    let s = RevocationState::open(&path, config(&[&k])).unwrap();
    assert_eq!(s.superseded_by(), Some(7));
    // A list newer than the held one but older than the announced one is
    // taken, and the state stays superseded, also after a restart.
    let l6 = list(6, vec![entry(1, 120)]);
    s.accept_list(&l6.sign(&k).unwrap()).unwrap();
    drop(s);
    let s = RevocationState::open(&path, config(&[&k])).unwrap();
    assert_eq!(s.sequence(), Some(6));
    assert_eq!(
        s.freshness(t0() + mins(7)),
        Freshness::Superseded { available: 7 }
    );
}

#[test]
fn a_process_sharing_the_state_file_cannot_write_an_older_list_over_a_newer_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.state");
    let k = key(1);
    let a = RevocationState::open(&path, config(&[&k])).unwrap();
    a.accept_list(&signed_list(&k, 1, vec![entry(1, 120)]))
        .unwrap();
    // Another process (another service instance, or `agentcap verify`).
    let b = RevocationState::open(&path, config(&[&k])).unwrap();
    b.accept_list(&signed_list(&k, 3, vec![entry(1, 120), entry(2, 120)]))
        .unwrap();
    // `a` still holds sequence 1 in memory, but sees what `b` persisted.
    assert!(matches!(
        a.accept_list(&signed_list(&k, 2, vec![entry(1, 120)])),
        Err(AcceptError::Rollback {
            current: 3,
            offered: 2
        })
    ));
    assert_eq!(a.sequence(), Some(3));
    let reopened = RevocationState::open(&path, config(&[&k])).unwrap();
    assert_eq!(reopened.sequence(), Some(3));
}

#[cfg(unix)]
#[test]
fn persisted_state_files_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("private.state");
    let k = key(1);
    let l5 = list(5, vec![]);
    let s = RevocationState::open(&path, config(&[&k])).unwrap();
    s.accept_list(&l5.sign(&k).unwrap()).unwrap();
    s.accept_head(&signed_head(&k, &l5, t0() + mins(6), t0() + mins(600)))
        .unwrap();
    let fresh = dir.path().join("private.state.fresh");
    for p in [&path, &fresh] {
        let mode = std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", p.display());
    }
}
