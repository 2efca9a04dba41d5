//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agentcap_revocation::{
    ListDelta, ListHead, RevocationEntry, RevocationId, RevocationList, RevocationReason,
    RevocationState, RevocationStateConfig, TrustedListKeys,
};

pub const ISSUER: &str = "https://issuer.example";

/// A fixed instant on a whole minute (2027-01-15T08:00:00Z).
pub fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

pub fn mins(n: u64) -> Duration {
    Duration::from_secs(60 * n)
}

pub fn key(seed: u8) -> agentcap::KeyPair {
    agentcap::KeyPair::from_text(&hex::encode([seed; 32])).unwrap()
}

pub fn block_id(n: u32) -> Vec<u8> {
    let mut v = vec![0u8; 64];
    v[..4].copy_from_slice(&n.to_le_bytes());
    v[63] = 0xb1;
    v
}

/// An entry for block `n`, revoked at t0 - 10 min, token expiring at
/// t0 + `expires_in_min` minutes.
pub fn entry(n: u32, expires_in_min: i64) -> RevocationEntry {
    let exp = if expires_in_min >= 0 {
        t0() + mins(expires_in_min as u64)
    } else {
        t0() - mins((-expires_in_min) as u64)
    };
    RevocationEntry::new(
        RevocationId::from_block_id(&block_id(n)),
        t0() - mins(10),
        exp,
        n.is_multiple_of(3)
            .then_some(RevocationReason::KEY_COMPROMISE),
    )
}

/// A list of `seq` whose this-update is t0 + seq minutes, valid for an hour.
pub fn list(seq: u64, entries: Vec<RevocationEntry>) -> RevocationList {
    let this = t0() + mins(seq);
    RevocationList::new(ISSUER, seq, this, this + mins(60), entries).unwrap()
}

pub fn signed_list(k: &agentcap::KeyPair, seq: u64, entries: Vec<RevocationEntry>) -> Vec<u8> {
    list(seq, entries).sign(k).unwrap()
}

pub fn signed_delta(k: &agentcap::KeyPair, old: &RevocationList, new: &RevocationList) -> Vec<u8> {
    ListDelta::between(old, new).unwrap().sign(k).unwrap()
}

pub fn signed_head(
    k: &agentcap::KeyPair,
    l: &RevocationList,
    signed_at: SystemTime,
    next: SystemTime,
) -> Vec<u8> {
    ListHead::new(ISSUER, l.sequence(), l.digest(), signed_at, next)
        .unwrap()
        .sign(k)
        .unwrap()
}

pub fn config(keys: &[&agentcap::KeyPair]) -> RevocationStateConfig {
    let mut trusted = TrustedListKeys::new();
    for k in keys {
        trusted.insert(k.public());
    }
    RevocationStateConfig::new(ISSUER, trusted)
}

pub fn state(keys: &[&agentcap::KeyPair]) -> RevocationState {
    RevocationState::in_memory(config(keys)).unwrap()
}

/// Deterministic pseudo-random generator (SplitMix64) for reproducible data.
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// `n` entries with a realistic spread: revoked within the 7 days before
/// `this_update`, tokens living up to 24 hours after revocation; one in ten
/// with a reason.
pub fn realistic_entries(n: usize, this_update: SystemTime, seed: u64) -> Vec<RevocationEntry> {
    let mut rng = SplitMix(seed);
    (0..n)
        .map(|_| {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&rng.next().to_le_bytes());
            id[8..].copy_from_slice(&rng.next().to_le_bytes());
            let revoked = this_update - Duration::from_secs(rng.next() % (7 * 86_400));
            let expires = revoked + Duration::from_secs(rng.next() % 86_400);
            let reason = rng
                .next()
                .is_multiple_of(10)
                .then_some(RevocationReason::AGENT_COMPROMISED);
            RevocationEntry::new(
                RevocationId::from_digest_bytes(id),
                revoked,
                expires,
                reason,
            )
        })
        .collect()
}
