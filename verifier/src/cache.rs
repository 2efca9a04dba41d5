//! The cache of verified tokens: one entry per distinct token text, bounded
//! by an estimate of the memory its entries hold.

use std::sync::Arc;

use agentcap::{Chain, Token};
use sha2::{Digest, Sha256};

/// A token whose signatures verified; its chain is shared with decisions.
pub(crate) struct Verified {
    pub(crate) token: Token,
    pub(crate) chain: Arc<Chain>,
    /// Every block's revocation id (the block signatures), read once.
    pub(crate) revocation_ids: Vec<Vec<u8>>,
    /// What the cache charges for this entry.
    pub(crate) weight: usize,
}

/// The cache of verified tokens: least recently used first out, bounded by
/// an estimate of the memory its entries hold.
pub(crate) struct TokenCache {
    pub(crate) entries: lru::LruCache<[u8; 32], Arc<Verified>>,
    pub(crate) bytes: usize,
    max_bytes: usize,
}

impl TokenCache {
    pub(crate) fn new(max_bytes: usize) -> Self {
        TokenCache {
            entries: lru::LruCache::unbounded(),
            bytes: 0,
            max_bytes,
        }
    }

    pub(crate) fn get(&mut self, key: &[u8; 32]) -> Option<Arc<Verified>> {
        self.entries.get(key).cloned()
    }

    pub(crate) fn insert(&mut self, key: [u8; 32], verified: Arc<Verified>) {
        if verified.weight > self.max_bytes {
            return;
        }
        if let Some(old) = self.entries.put(key, Arc::clone(&verified)) {
            self.bytes -= old.weight;
        }
        self.bytes += verified.weight;
        while self.bytes > self.max_bytes {
            match self.entries.pop_lru() {
                Some((_, evicted)) => self.bytes -= evicted.weight,
                None => break,
            }
        }
    }

    pub(crate) fn remove(&mut self, key: &[u8; 32]) {
        if let Some(old) = self.entries.pop(key) {
            self.bytes -= old.weight;
        }
    }
}

/// What one cached token costs in memory, estimated from its size: the
/// decoded Biscuit (biscuit-auth keeps the container and every block
/// decoded into protobuf structures) and the chain. Calibrated against a counting allocator in
/// `tests/cache_memory.rs`, which checks that it never undercounts.
pub(crate) fn cache_weight(token_text_bytes: usize, blocks: usize) -> usize {
    // Measured: about 5 times the base64 text plus 5 to 6 KiB per block
    // (keys, signatures and decoded structures), for tokens of 1 to 9
    // blocks and 0.5 to 22 kB; charged with a margin.
    token_text_bytes * 7 + blocks * 7 * 1024
}

/// The cache key: SHA-256 of the token's text. A collision would let a
/// token borrow another's verification, so the hash must be
/// collision-resistant. `sha2` uses the CPU's SHA instructions where there
/// are some (x86 SHA-NI, Armv8 SHA2): 2.0 µs for a 3 kB token here, against
/// 6.4 µs for SHA-512, which is faster only on CPUs without them.
pub(crate) fn cache_key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}
