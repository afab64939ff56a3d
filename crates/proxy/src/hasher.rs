//! The hasher of the proxy's tables (transactions by key and branch, dialogs by Call-ID, the
//! flood guard's sources): foldhash, keyed per process and per table from the operating
//! system's randomness, instead of the standard library's SipHash-1-3.
//!
//! The keys are chosen by whoever sends us SIP (Call-IDs, branches, source addresses), so a
//! hasher whose outputs they could predict would let them send keys that all collide and turn
//! every lookup into a walk of one long chain (HashDoS). foldhash's own random seed comes from
//! address-space layout and the clock, which a remote sender may narrow down; here both of
//! its seeds, the 64-bit shared one (once per process) and the 64-bit per-table one, are
//! drawn from the standard library's `RandomState`, whose keys come from the operating
//! system. The hash values never leave the process. foldhash is not a cryptographic hash: it
//! is kept from collisions by those secret seeds alone, as SipHash is by its key, at a
//! fraction of SipHash's cost on the short strings these tables hold.

use foldhash::fast::SeedableRandomState;
use foldhash::SharedSeed;
use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

/// A map keyed with [`TableHasher`].
pub(crate) type Map<K, V> = HashMap<K, V, TableHasher>;
/// A set keyed with [`TableHasher`].
pub(crate) type Set<K> = HashSet<K, TableHasher>;

/// The shared seed, drawn once per process.
static SHARED: OnceLock<SharedSeed> = OnceLock::new();

/// 64 bits the attacker cannot know: the standard library seeds each `RandomState` from the
/// operating system's randomness (a per-thread draw, then a counter under its secret keys).
fn secret_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(0x5eed);
    h.finish()
}

/// The [`BuildHasher`] of the proxy's tables: foldhash with secret seeds (see the module).
#[derive(Clone, Debug)]
pub(crate) struct TableHasher(SeedableRandomState);

impl Default for TableHasher {
    fn default() -> Self {
        let shared = SHARED.get_or_init(|| SharedSeed::from_u64(secret_u64()));
        TableHasher(SeedableRandomState::with_seed(secret_u64(), shared))
    }
}

impl BuildHasher for TableHasher {
    type Hasher = <SeedableRandomState as BuildHasher>::Hasher;

    fn build_hasher(&self) -> Self::Hasher {
        self.0.build_hasher()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two tables hash the same key differently (each has its own seed), one table always the
    /// same way, and a table's hashes of distinct keys are spread (no two alike in 10,000).
    #[test]
    fn seeds_differ_per_table_and_hashes_spread() {
        let (a, b) = (TableHasher::default(), TableHasher::default());
        let key = "a84b4c76e66710@pc33.atlanta.com";
        assert_eq!(a.hash_one(key), a.hash_one(key));
        assert_ne!(a.hash_one(key), b.hash_one(key));
        let mut seen = std::collections::HashSet::new();
        for i in 0..10_000u32 {
            assert!(seen.insert(a.hash_one(format!("z9hG4bK{i}"))));
        }
    }
}
