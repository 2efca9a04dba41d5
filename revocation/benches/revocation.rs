//! Criterion benchmarks at one million entries: encode (sign), decode and
//! verify, lookup, and delta apply.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agentcap_revocation::{
    ListDelta, RevocationEntry, RevocationId, RevocationList, RevocationReason, RevocationState,
    RevocationStateConfig, TrustedListKeys,
};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

const ISSUER: &str = "https://issuer.example";
const N: usize = 1_000_000;

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn block_id(n: u64) -> [u8; 64] {
    let mut b = [0x5au8; 64];
    b[..8].copy_from_slice(&n.to_le_bytes());
    b
}

/// One million entries from block ids 0..N: revoked within the last 7
/// days, tokens living up to 24 h after revocation, one in ten with a reason.
fn entries(this_update: SystemTime, range: std::ops::Range<u64>) -> Vec<RevocationEntry> {
    let mut rng = SplitMix(range.start);
    range
        .map(|n| {
            let revoked = this_update - Duration::from_secs(rng.next() % (7 * 86_400));
            let expires = revoked + Duration::from_secs(rng.next() % 86_400);
            let reason = rng
                .next()
                .is_multiple_of(10)
                .then_some(RevocationReason::AGENT_COMPROMISED);
            RevocationEntry::new(
                RevocationId::from_block_id(&block_id(n)),
                revoked,
                expires,
                reason,
            )
        })
        .collect()
}

fn benches(c: &mut Criterion) {
    let key = agentcap::KeyPair::from_text(&"01".repeat(32)).unwrap();
    let keys = TrustedListKeys::from(key.public());
    let t = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let list = RevocationList::new(
        ISSUER,
        1,
        t,
        t + Duration::from_secs(3600),
        entries(t, 0..N as u64),
    )
    .unwrap();
    let bytes = list.sign(&key).unwrap();
    println!(
        "1M-entry list: {} bytes ({:.2} bytes/entry)",
        bytes.len(),
        bytes.len() as f64 / N as f64
    );
    assert!(bytes.len() <= 20_000_000, "over the 20 MB budget");

    let mut group = c.benchmark_group("list_1m");
    group.sample_size(10);
    group.bench_function("encode_and_sign", |b| {
        b.iter(|| black_box(list.sign(&key).unwrap()))
    });
    group.bench_function("decode_and_verify", |b| {
        b.iter(|| black_box(RevocationList::decode_verified(&bytes, &keys, 32 << 20).unwrap()))
    });
    group.bench_function("accept_into_verifier_state", |b| {
        b.iter_batched(
            || {
                RevocationState::in_memory(RevocationStateConfig::new(ISSUER, keys.clone()))
                    .unwrap()
            },
            |state| {
                state.accept_list(&bytes).unwrap();
                state
            },
            BatchSize::PerIteration,
        )
    });

    // Delta: 1,000 new revocations on top of the million.
    let t2 = t + Duration::from_secs(600);
    let mut next_entries = list.entries().to_vec();
    next_entries.extend(entries(t2, N as u64..N as u64 + 1_000));
    let next =
        RevocationList::new(ISSUER, 2, t2, t2 + Duration::from_secs(3600), next_entries).unwrap();
    let delta = ListDelta::between(&list, &next)
        .unwrap()
        .sign(&key)
        .unwrap();
    println!("delta of 1,000 entries: {} bytes", delta.len());
    group.bench_function("apply_delta_of_1000", |b| {
        b.iter_batched(
            || {
                let state =
                    RevocationState::in_memory(RevocationStateConfig::new(ISSUER, keys.clone()))
                        .unwrap();
                state.accept_list(&bytes).unwrap();
                state
            },
            |state| {
                state.accept_delta(&delta).unwrap();
                state
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();

    let state =
        RevocationState::in_memory(RevocationStateConfig::new(ISSUER, keys.clone())).unwrap();
    state.accept_list(&bytes).unwrap();
    let mut group = c.benchmark_group("lookup_1m");
    let revoked = [block_id(123_456)];
    let clean = [block_id(u64::MAX)];
    group.bench_function("is_revoked_hit", |b| {
        b.iter(|| black_box(state.is_revoked(black_box(&revoked))))
    });
    group.bench_function("is_revoked_miss", |b| {
        b.iter(|| black_box(state.is_revoked(black_box(&clean))))
    });
    let now = t + Duration::from_secs(60);
    let token = [
        block_id(u64::MAX - 1),
        block_id(u64::MAX - 2),
        block_id(u64::MAX - 3),
    ];
    group.bench_function("check_3_block_token", |b| {
        b.iter(|| black_box(state.check(black_box(&token), now).unwrap()))
    });
    let id = RevocationId::from_block_id(&block_id(777));
    group.bench_function("list_get_by_digest", |b| {
        b.iter(|| black_box(list.get(black_box(&id))))
    });
    group.finish();
}

criterion_group!(revocation, benches);
criterion_main!(revocation);
