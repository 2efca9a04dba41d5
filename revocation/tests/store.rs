//! The issuer-side file store: concurrent processes, crashes mid-write,
//! pruning, publication and export.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use agentcap_revocation::{
    AcceptOutcome, DEFAULT_MAX_LIST_BYTES, ListDelta, ListHead, RevocationId, RevocationList,
    RevocationReason, RevocationState, RevocationStore, StoreError, TrustedListKeys,
};
use common::*;

const ROLE_VAR: &str = "AGENTCAP_REVOCATION_TEST_WORKER";

/// Entry point of the worker processes the multi-process tests start (this
/// test binary re-executed with `ROLE_VAR` set). Without the variable, as in
/// a normal test run, it does nothing.
#[test]
fn worker_process_entry_point() {
    let Ok(role) = std::env::var(ROLE_VAR) else {
        return;
    };
    let mut parts = role.splitn(3, ':');
    let (kind, worker, dir) = (
        parts.next().unwrap(),
        parts.next().unwrap().parse::<u32>().unwrap(),
        parts.next().unwrap(),
    );
    let store = RevocationStore::open(dir, ISSUER).unwrap();
    let expires = SystemTime::now() + Duration::from_secs(3600);
    match kind {
        "revoke100" => {
            for i in 0..100 {
                store
                    .revoke(&block_id(worker * 1000 + i), expires, None)
                    .unwrap();
            }
        }
        "revoke-forever" => {
            for i in 0.. {
                store
                    .revoke(&block_id(worker * 1_000_000 + i), expires, None)
                    .unwrap();
            }
        }
        other => panic!("unknown worker role {other}"),
    }
}

fn worker(kind: &str, n: u32, dir: &Path) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "worker_process_entry_point",
        "--test-threads",
        "1",
    ])
    .env(ROLE_VAR, format!("{kind}:{n}:{}", dir.display()))
    .stdout(Stdio::null())
    .stderr(Stdio::inherit());
    cmd
}

#[test]
fn eight_processes_revoking_100_ids_each_end_with_800_entries() {
    let dir = tempfile::tempdir().unwrap();
    RevocationStore::open(dir.path(), ISSUER).unwrap();
    let children: Vec<_> = (0..8)
        .map(|n| worker("revoke100", n, dir.path()).spawn().unwrap())
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let store = RevocationStore::open(dir.path(), ISSUER).unwrap();
    let entries = store.entries().unwrap();
    assert_eq!(entries.len(), 800);
    for n in 0..8 {
        for i in [0, 57, 99] {
            let id = RevocationId::from_block_id(&block_id(n * 1000 + i));
            assert!(entries.iter().any(|e| e.id() == id));
        }
    }
}

#[test]
fn process_killed_mid_write_leaves_old_or_new_state_never_broken() {
    let dir = tempfile::tempdir().unwrap();
    let store = RevocationStore::open(dir.path(), ISSUER).unwrap();
    // A large state makes each write long, so the kill lands inside one.
    let expires = SystemTime::now() + Duration::from_secs(3600);
    let seed: Vec<Vec<u8>> = (0..20_000).map(|i| block_id(900_000_000 + i)).collect();
    store
        .revoke_many(seed.iter().map(|b| (b.as_slice(), expires, None)))
        .unwrap();
    let mut last = 20_000;
    for round in 0..3 {
        let mut child = worker("revoke-forever", round, dir.path()).spawn().unwrap();
        // Wait until the worker has committed a few writes, then SIGKILL it.
        loop {
            let n = store.entries().unwrap().len();
            if n >= last + 3 {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let reopened = RevocationStore::open(dir.path(), ISSUER).unwrap();
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "abandoned temp files: {leftovers:?}");
        let n = reopened.entries().unwrap().len();
        assert!(n >= last + 3, "committed revocations were lost");
        last = n;
        // And the store keeps working after the crash.
        reopened
            .revoke(&block_id(800_000_000 + round), expires, None)
            .unwrap();
        last += 1;
    }
}

#[test]
fn damaged_store_state_is_reported_not_silently_reset() {
    let dir = tempfile::tempdir().unwrap();
    let store = RevocationStore::open(dir.path(), ISSUER).unwrap();
    store.revoke(&block_id(1), t0(), None).unwrap();
    let path = dir.path().join("state.bin");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 7]).unwrap();
    assert!(matches!(store.entries(), Err(StoreError::Corrupt { .. })));
}

#[test]
fn store_of_another_issuer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    RevocationStore::open(dir.path(), ISSUER).unwrap();
    assert!(matches!(
        RevocationStore::open(dir.path(), "https://other.example"),
        Err(StoreError::WrongIssuer { .. })
    ));
}

#[test]
fn revoking_a_token_block_records_that_block_and_the_token_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let store = RevocationStore::open(dir.path(), ISSUER).unwrap();
    let token_ids = vec![block_id(10), block_id(11), block_id(12)];
    let expires = t0() + mins(90);
    let id = store
        .revoke_token_block(&token_ids, 1, expires, Some(RevocationReason::USER_REQUEST))
        .unwrap();
    assert_eq!(id, RevocationId::from_block_id(&block_id(11)));
    let entries = store.entries().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].token_expires_at(), expires);
    assert_eq!(entries[0].reason(), Some(RevocationReason::USER_REQUEST));
    assert!(matches!(
        store.revoke_token_block(&token_ids, 3, expires, None),
        Err(StoreError::BlockIndexOutOfRange {
            index: 3,
            blocks: 3
        })
    ));
}

#[test]
fn prune_removes_only_entries_expired_beyond_the_margin() {
    let dir = tempfile::tempdir().unwrap();
    let store = RevocationStore::open(dir.path(), ISSUER).unwrap();
    store.revoke(&block_id(1), t0() - mins(120), None).unwrap();
    store.revoke(&block_id(2), t0() - mins(30), None).unwrap();
    store.revoke(&block_id(3), t0() + mins(30), None).unwrap();
    assert_eq!(store.prune_at(mins(60), t0()).unwrap(), 1);
    let left: Vec<_> = store.entries().unwrap().iter().map(|e| e.id()).collect();
    assert_eq!(left.len(), 2);
    assert!(!left.contains(&RevocationId::from_block_id(&block_id(1))));
}

#[test]
fn publications_chain_through_deltas_and_prune_by_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let store = RevocationStore::open(dir.path(), ISSUER).unwrap();
    let k = key(4);
    let keys = TrustedListKeys::from(k.public());
    let now = whole_seconds(SystemTime::now());
    store.revoke(&block_id(1), now + mins(1), None).unwrap();
    store.revoke(&block_id(2), now + mins(600), None).unwrap();
    let p1 = store.publish_at(&k, mins(60), now).unwrap();
    assert_eq!(p1.sequence, 1);
    assert!(p1.delta.is_none());

    store.revoke(&block_id(3), now + mins(600), None).unwrap();
    // Two hours later block 1's token has long expired; prune with no margin.
    let later = now + mins(120);
    assert_eq!(store.prune_at(Duration::ZERO, later).unwrap(), 1);
    let p2 = store.publish_at(&k, mins(60), later).unwrap();
    assert_eq!(p2.sequence, 2);

    let (l2, _) = RevocationList::decode_verified(&p2.list, &keys, DEFAULT_MAX_LIST_BYTES).unwrap();
    assert_eq!(l2.len(), 2);
    let (delta, _) =
        ListDelta::decode_verified(p2.delta.as_ref().unwrap(), &keys, usize::MAX).unwrap();
    assert_eq!((delta.from_sequence(), delta.to_sequence()), (1, 2));
    assert_eq!(delta.added().len(), 1);
    let (head, _) = ListHead::decode_verified(&p2.head, &keys).unwrap();
    assert_eq!(head.list_digest(), l2.digest());

    // A verifier that applies the delta holds exactly list 2.
    let s = RevocationState::in_memory(agentcap_revocation::RevocationStateConfig::new(
        ISSUER, keys,
    ))
    .unwrap();
    s.accept_list(&p1.list).unwrap();
    s.accept_delta(p2.delta.as_ref().unwrap()).unwrap();
    assert_eq!(s.digest(), Some(l2.digest()));
    assert_eq!(s.accept_head(&p2.head).unwrap(), AcceptOutcome::Unchanged);

    // Re-signing the head keeps the list and extends freshness.
    let head = store
        .refresh_head_at(&k, mins(60), later + mins(50))
        .unwrap();
    assert!(matches!(
        s.accept_head(&head).unwrap(),
        AcceptOutcome::Refreshed { .. }
    ));
    assert_eq!(s.next_update(), Some(later + mins(110)));
}

fn whole_seconds(t: SystemTime) -> SystemTime {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

#[test]
fn export_writes_a_static_folder_a_verifier_can_follow() {
    let dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let store = RevocationStore::open(dir.path(), ISSUER).unwrap();
    let k = key(4);
    assert!(matches!(
        store.export_to(out.path()),
        Err(StoreError::NothingPublished)
    ));
    store
        .revoke(&block_id(1), SystemTime::now() + mins(60), None)
        .unwrap();
    store.publish(&k, mins(60)).unwrap();
    store
        .revoke(&block_id(2), SystemTime::now() + mins(60), None)
        .unwrap();
    let p2 = store.publish(&k, mins(60)).unwrap();
    store.export_to(out.path()).unwrap();

    assert_eq!(std::fs::read(out.path().join("list.bin")).unwrap(), p2.list);
    assert_eq!(std::fs::read(out.path().join("head.bin")).unwrap(), p2.head);
    assert_eq!(
        std::fs::read(out.path().join("deltas/1.bin")).unwrap(),
        p2.delta.unwrap()
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("list.json")).unwrap()).unwrap();
    assert_eq!(json["sequence"], 2);
    assert_eq!(json["entry_count"], 2);
}
