//! What a cached token really costs, measured with a counting allocator:
//! the cache's charge per entry never undercounts, and filling the cache
//! with distinct tokens holds memory within its byte budget.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::System;
use std::time::Duration;

use agentcap::{Grant, Hop, KeyPair};
use agentcap_verifier::{AccessRequest, Verifier};
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The bytes currently allocated by the whole process.
fn live() -> isize {
    let stats = ALLOCATOR.stats();
    // Reallocations are already counted in both (as growth or shrinkage).
    stats.bytes_allocated as isize - stats.bytes_deallocated as isize
}

/// Tokens of increasing size: more hops, more rights, a long intent.
fn tokens(root: &KeyPair) -> Vec<String> {
    let mut out = Vec::new();
    for (hops, rights, intent) in [(0, 1, 0), (2, 4, 200), (5, 16, 2000), (8, 64, 8000)] {
        let mut grant = Grant::new("alice", "agent-0")
            .max_depth(16)
            .intent("i".repeat(intent));
        for r in 0..rights {
            grant = grant.right(format!("flights/r{r}/*"), "read");
        }
        let mut token = grant.mint(root).unwrap();
        for i in 1..=hops {
            token = token
                .delegate(
                    &Hop::to(format!("agent-{i}")).right("flights/r0/*", "read"),
                    Some(&KeyPair::generate()),
                )
                .unwrap();
        }
        out.push(token.to_base64().unwrap());
    }
    out
}

// One test in this binary: the counter sees the whole process, so nothing
// else may run beside it.
#[test]
fn a_cache_entry_costs_what_it_is_charged_and_the_budget_holds() {
    let root = KeyPair::generate();
    let request = AccessRequest::new("flights/r0/x", "read");
    let verifier = Verifier::builder()
        .root_key(None, root.public())
        .without_revocation()
        .build()
        .unwrap();
    for token in tokens(&root) {
        let before_bytes = verifier.cache_bytes();
        let before = live();
        let decision = verifier.verify(&token, &request);
        assert!(decision.allowed(), "{}", decision.explain());
        drop(decision);
        let held = (live() - before) as usize;
        let charged = verifier.cache_bytes() - before_bytes;
        let decoded = token.len() * 3 / 4;
        eprintln!(
            "token {decoded} B: entry holds {held} B ({:.1}x), charged {charged} B",
            held as f64 / decoded as f64
        );
        assert!(
            held <= charged,
            "held {held} B but charged only {charged} B"
        );
    }

    // Filling a 1 MiB cache with 400 distinct narrowings holds at most
    // about the budget.
    let budget = 1024 * 1024;
    let small = Verifier::builder()
        .root_key(None, root.public())
        .without_revocation()
        .cache_bytes(budget)
        .build()
        .unwrap();
    let grant = Grant::new("alice", "agent-0")
        .right("flights/*", "read")
        .mint(&root)
        .unwrap();
    let narrowings: Vec<(String, String)> = (0..400)
        .map(|i| {
            let resource = format!("flights/lis/{i}");
            let token = grant
                .narrow(&resource, "read", Duration::from_secs(300))
                .unwrap()
                .to_base64()
                .unwrap();
            (resource, token)
        })
        .collect();
    let before = live();
    for (resource, token) in &narrowings {
        assert!(
            small
                .verify(token, &AccessRequest::new(resource, "read"))
                .allowed()
        );
    }
    let held = (live() - before) as usize;
    eprintln!(
        "400 distinct tokens: {} cached, charged {} B, memory held {held} B",
        small.cache_entries(),
        small.cache_bytes()
    );
    assert!(small.cache_bytes() <= budget);
    assert!(small.cache_entries() < narrowings.len());

    assert!(held <= budget, "held {held} B for a {budget} B budget");
}
