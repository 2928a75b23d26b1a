//! The hasher of the per-leaf background maps (pattern -> weight).
//!
//! std's SipHash costs several times a pattern's insert; a splitmix64 mix of the pattern with a
//! per-map random seed is as cheap as it gets and still spreads patterns a hostile dataset might
//! choose (the seed is not known in advance), so no background can make the maps quadratic.

use std::hash::{BuildHasher, Hasher, RandomState};

#[derive(Debug, Clone, Copy)]
pub struct PatternHash {
    seed: u64,
}

impl PatternHash {
    pub fn new() -> PatternHash {
        PatternHash {
            seed: RandomState::new().hash_one(0x5eed_u64),
        }
    }
}

impl Default for PatternHash {
    fn default() -> Self {
        PatternHash::new()
    }
}

impl BuildHasher for PatternHash {
    type Hasher = PatternHasher;
    fn build_hasher(&self) -> PatternHasher {
        PatternHasher(self.seed)
    }
}

pub struct PatternHasher(u64);

impl Hasher for PatternHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = mix(self.0 ^ b as u64);
        }
    }
    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.0 = mix(self.0 ^ v);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// splitmix64's finaliser: every input bit reaches every output bit.
#[inline]
fn mix(z: u64) -> u64 {
    let z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn maps_keyed_by_patterns_count_like_std_maps() {
        let hash = PatternHash::new();
        let mut ours: HashMap<u64, u64, PatternHash> = HashMap::with_hasher(hash);
        let mut std_map: HashMap<u64, u64> = HashMap::new();
        // Patterns differing only in high bits (deep features) must still spread.
        for i in 0..20_000u64 {
            let key = (i % 7_000) << 40 | (i % 3);
            *ours.entry(key).or_default() += i;
            *std_map.entry(key).or_default() += i;
        }
        assert_eq!(ours.len(), std_map.len());
        assert!(std_map.iter().all(|(k, v)| ours.get(k) == Some(v)));
    }
}
