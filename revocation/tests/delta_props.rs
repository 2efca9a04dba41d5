//! Property: applying any sequence of valid deltas gives the same state as
//! loading the final full list.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use agentcap_revocation::{
    ListDelta, RevocationEntry, RevocationId, RevocationList, RevocationReason,
};
use common::*;
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct Step {
    advance_min: u64,
    prune_margin_min: u64,
    /// (id in a small universe, token life in minutes after revocation, reason)
    revocations: Vec<(u8, i64, Option<u8>)>,
}

fn step() -> impl Strategy<Value = Step> {
    (
        0u64..300,
        0u64..60,
        proptest::collection::vec((0u8..40, -30i64..600, proptest::option::of(0u8..8)), 0..6),
    )
        .prop_map(|(advance_min, prune_margin_min, revocations)| Step {
            advance_min,
            prune_margin_min,
            revocations,
        })
}

/// Plays an issuer: revoke, prune by expiry, publish a list per step.
fn lists_for(steps: &[Step]) -> Vec<RevocationList> {
    let mut now = t0();
    let mut entries: BTreeMap<RevocationId, RevocationEntry> = BTreeMap::new();
    let mut lists = Vec::new();
    for (seq, s) in steps.iter().enumerate() {
        now += mins(s.advance_min);
        for &(n, life, reason) in &s.revocations {
            let exp = if life >= 0 {
                now + mins(life as u64)
            } else {
                now - mins((-life) as u64)
            };
            let id = RevocationId::from_block_id(&block_id(u32::from(n)));
            let e = RevocationEntry::new(id, now, exp, reason.map(RevocationReason::from_code));
            entries
                .entry(id)
                .and_modify(|old| {
                    if e.token_expires_at() > old.token_expires_at() {
                        *old = RevocationEntry::new(
                            id,
                            old.revoked_at(),
                            e.token_expires_at(),
                            old.reason(),
                        );
                    }
                })
                .or_insert(e);
        }
        let cutoff = now - mins(s.prune_margin_min);
        entries.retain(|_, e| e.token_expires_at() >= cutoff);
        lists.push(
            RevocationList::new(
                ISSUER,
                seq as u64 + 1,
                now,
                now + Duration::from_secs(3600),
                entries.values().copied(),
            )
            .unwrap(),
        );
    }
    lists
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn applying_valid_deltas_equals_loading_the_final_list(
        steps in proptest::collection::vec(step(), 1..10)
    ) {
        let k = key(2);
        let lists = lists_for(&steps);
        let by_deltas = state(&[&k]);
        by_deltas.accept_list(&lists[0].sign(&k).unwrap()).unwrap();
        for pair in lists.windows(2) {
            let delta = ListDelta::between(&pair[0], &pair[1]).unwrap();
            by_deltas.accept_delta(&delta.sign(&k).unwrap()).unwrap();
        }
        let last = lists.last().unwrap();
        let by_list = state(&[&k]);
        by_list.accept_list(&last.sign(&k).unwrap()).unwrap();
        let jumped = state(&[&k]);
        jumped.accept_list(&lists[0].sign(&k).unwrap()).unwrap();
        jumped.accept_list(&last.sign(&k).unwrap()).unwrap();

        prop_assert_eq!(by_deltas.digest(), Some(last.digest()));
        prop_assert_eq!(by_deltas.digest(), by_list.digest());
        prop_assert_eq!(jumped.digest(), by_list.digest());
        let (a, b) = (by_deltas.list().unwrap(), by_list.list().unwrap());
        prop_assert_eq!(a.entries(), b.entries());
        prop_assert_eq!(by_deltas.next_update(), by_list.next_update());
    }
}
