//! A deep leaf's distinct background patterns, searchable by the row's missing features.
//!
//! A row with missing features `M` meets exactly the entries `q` with `q & M == 0`: the entries
//! that lack every bit of `M`. So each leaf keeps, per bit `j` of its path, the set of entries
//! without bit `j` as a bitmap (word-major: a word's `d` bitmaps are contiguous), and a row's
//! search is the AND of its missing bits' bitmaps, 64 entries at a time, stopping a word as soon
//! as nothing in it is left. No branch depends on the entries' values one at a time, and the
//! bitmaps take `d / 64` words per entry, less than the entries themselves.

/// Distinct patterns `q` in increasing order, their weights and bit counts, and the bitmaps.
#[derive(Debug, Clone, Default)]
pub struct PatternList {
    q: Vec<u64>,
    w: Vec<f64>,
    pop: Vec<u8>,
    /// Bits per pattern (the leaf's distinct path features).
    d: usize,
    /// `without[word * d + j]`: bit `i` is set when entry `64 word + i` exists and lacks bit `j`.
    without: Vec<u64>,
}

impl PatternList {
    /// Words of memory per entry, bitmaps included (to size groups of trees).
    pub const WORDS_PER_ENTRY: usize = 4;

    /// From distinct patterns of `d` bits in increasing order, with their weights.
    pub fn new(entries: &[(u64, f64)], d: usize) -> PatternList {
        debug_assert!(entries.windows(2).all(|e| e[0].0 < e[1].0));
        debug_assert!(entries
            .iter()
            .all(|e| e.0 & !super::paths::full_mask(d) == 0));
        let q: Vec<u64> = entries.iter().map(|e| e.0).collect();
        let w = entries.iter().map(|e| e.1).collect();
        let pop = q.iter().map(|v| v.count_ones() as u8).collect();
        // At least one bitmap, so that a leaf without path features still holds its entry.
        let d = d.clamp(1, 64);
        let mut without = vec![0u64; q.len().div_ceil(64) * d];
        for (i, &v) in q.iter().enumerate() {
            let word = &mut without[(i / 64) * d..(i / 64 + 1) * d];
            let bit = 1u64 << (i % 64);
            for (j, slot) in word.iter_mut().enumerate() {
                if (v >> j) & 1 == 0 {
                    *slot |= bit;
                }
            }
        }
        PatternList {
            q,
            w,
            pop,
            d,
            without,
        }
    }

    pub fn len(&self) -> usize {
        self.q.len()
    }

    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    /// Calls `visit(q, w, |q|)` for every entry with `q & missing == 0`, in increasing `q`.
    /// `missing` has no bit at or above `d`.
    #[inline]
    pub fn for_each_inside(&self, missing: u64, mut visit: impl FnMut(u64, f64, usize)) {
        let (d, n) = (self.d, self.q.len());
        for (word, bitmaps) in self.without.chunks_exact(d).enumerate() {
            let base = word * 64;
            // The entries this word holds (all ones but in the last word).
            let mut inside = if n - base >= 64 {
                u64::MAX
            } else {
                (1u64 << (n - base)) - 1
            };
            let mut rest = missing;
            while rest != 0 && inside != 0 {
                inside &= bitmaps[rest.trailing_zeros() as usize];
                rest &= rest - 1;
            }
            while inside != 0 {
                let i = base + inside.trailing_zeros() as usize;
                visit(self.q[i], self.w[i], self.pop[i] as usize);
                inside &= inside - 1;
            }
        }
    }
}
