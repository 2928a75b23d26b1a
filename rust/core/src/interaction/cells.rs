//! Cells of one feature: the classes of data values that every split of the forest on that
//! feature sends the same way.
//!
//! Two rows whose values of feature `j` lie in the same cell take the same branch at every node
//! splitting on `j` (decided by [`Forest::goes_left`], so float32 rounding, missing values and
//! categorical sets are honoured). Partial dependence in `j` is therefore a function of the cell,
//! and a leaf's condition on `j` is a set of cells ([`Bits`]).

use crate::forest::Forest;

/// A set of cells as a bitset.
#[derive(Debug, Clone, PartialEq)]
pub struct Bits(pub Vec<u64>);

impl Bits {
    pub fn full(n: usize) -> Self {
        let mut w = vec![u64::MAX; n.div_ceil(64)];
        if !n.is_multiple_of(64) {
            if let Some(last) = w.last_mut() {
                *last = (1u64 << (n % 64)) - 1;
            }
        }
        Bits(w)
    }
    pub fn empty(n: usize) -> Self {
        Bits(vec![0; n.div_ceil(64)])
    }
    #[inline]
    pub fn get(&self, c: usize) -> bool {
        (self.0[c / 64] >> (c % 64)) & 1 == 1
    }
    #[inline]
    pub fn set(&mut self, c: usize) {
        self.0[c / 64] |= 1u64 << (c % 64);
    }
    pub fn and_with(&mut self, other: &Bits) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a &= b;
        }
    }
    /// Maximal runs `[start, end)` of set bits among the first `n` cells.
    pub fn runs(&self, n: usize) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        let mut c = 0;
        while c < n {
            let word = self.0[c / 64] >> (c % 64);
            if word == 0 {
                c = (c / 64 + 1) * 64;
                continue;
            }
            c += word.trailing_zeros() as usize;
            if c >= n {
                break;
            }
            let start = c;
            loop {
                let off = c % 64;
                let inverted = !(self.0[c / 64]) >> off;
                let ones = (inverted.trailing_zeros() as usize).min(64 - off);
                c += ones;
                if ones < 64 - off || c >= n {
                    break;
                }
            }
            let end = c.min(n);
            out.push((start as u32, end as u32));
        }
        out
    }
}

/// The cells of one feature over the rows of a data set: classes of distinct values (in
/// increasing order, so numeric conditions are runs of consecutive cells), plus one NaN cell,
/// last.
#[derive(Debug, Clone)]
pub struct Cells {
    /// Number of cells.
    pub n: usize,
    /// Cell of each row.
    pub of_row: Vec<u32>,
    /// The value of each cell (NaN for the NaN cell).
    pub rep: Vec<f64>,
    /// Prefix sums of the rows' weights over cells: mass of cells `a..b` = `prefix[b] - prefix[a]`.
    pub mass_prefix: Vec<f64>,
    /// Cells of ordinary values (not NaN, not within [`TINY`] of zero), ascending: a numeric
    /// split sends a prefix of them left.
    plain: Vec<u32>,
    /// The other cells (zero-like values and NaN), decided one by one.
    exceptions: Vec<u32>,
    exceptional: Bits,
}

/// How one split node sends the cells of its feature: a numeric split sends the plain cells
/// below `cut` left (see [`Cells::split`]); categorical splits and exceptional cells ask the
/// node.
#[derive(Debug, Clone, Copy)]
pub struct CellSplit {
    node: usize,
    cut: u32,
    direct: bool,
}

/// A word of a condition overwritten by [`Cells::restrict`]: (feature, word index, old word).
pub type WordUndo = (u32, u32, u64);

/// Nodes of the forest splitting on each feature.
pub fn nodes_by_feature(forest: &Forest) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); forest.n_features()];
    for t in 0..forest.n_trees() {
        for n in forest.tree_nodes(t) {
            if !forest.is_leaf(n) {
                out[forest.feature(n)].push(n);
            }
        }
    }
    out
}

/// Values this close to zero get a cell of their own: LightGBM's zero-as-missing splits send
/// values within 1e-35 of zero the default way, whatever the threshold.
const TINY: f64 = 1e-30;

/// Values decided one by one rather than by a cut among the ordered values: NaN and values
/// within [`TINY`] of zero.
pub fn is_exceptional(v: f64) -> bool {
    v.is_nan() || v.abs() <= TINY
}

impl Cells {
    /// Builds the cells of the column `x` (one value per row) with row weights `w`, for the
    /// splits `nodes` on this feature.
    ///
    /// Every distinct value starts as a cell. When no split is categorical, a numeric split
    /// sends a prefix of the (non-tiny) values left, so consecutive values between two such
    /// change points are merged: exactly the classes that every split treats alike.
    pub fn build(forest: &Forest, nodes: &[usize], x: &[f64], w: &[f64]) -> Cells {
        let n_rows = x.len();
        let mut keyed: Vec<(f64, u32)> = Vec::with_capacity(n_rows);
        let mut nan_rows = Vec::new();
        for (i, &v) in x.iter().enumerate() {
            if v.is_nan() {
                nan_rows.push(i as u32);
            } else {
                keyed.push((v, i as u32));
            }
        }
        keyed.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        // Distinct values.
        let mut values: Vec<f64> = Vec::new();
        for &(v, _) in &keyed {
            if values
                .last()
                .is_none_or(|last| last.to_bits() != v.to_bits())
            {
                values.push(v);
            }
        }
        // Start of each merged cell, as an index into `values`.
        let mut starts: Vec<usize> = Vec::new();
        if nodes.iter().any(|&nd| forest.is_categorical(nd)) {
            starts.extend(0..values.len());
        } else if !values.is_empty() {
            starts.push(0);
            let plain: Vec<usize> = (0..values.len())
                .filter(|&c| values[c].abs() > TINY)
                .collect();
            for c in 0..values.len() {
                if values[c].abs() <= TINY {
                    starts.push(c);
                    starts.push(c + 1);
                }
            }
            for &nd in nodes {
                let p = plain.partition_point(|&c| forest.goes_left(nd, values[c]));
                if p > 0 && p < plain.len() {
                    starts.push(plain[p]);
                }
            }
            starts.retain(|&c| c < values.len());
            starts.sort_unstable();
            starts.dedup();
        }
        // Cell of each distinct value.
        let mut cell_of_value = vec![0u32; values.len()];
        let mut rep = Vec::with_capacity(starts.len() + 1);
        for (cell, &st) in starts.iter().enumerate() {
            let end = starts.get(cell + 1).copied().unwrap_or(values.len());
            for slot in &mut cell_of_value[st..end] {
                *slot = cell as u32;
            }
            rep.push(values[st]);
        }
        let mut of_row = vec![0u32; n_rows];
        let mut mass = vec![0.0; rep.len()];
        let mut q = 0usize;
        for &(v, i) in &keyed {
            while values[q].to_bits() != v.to_bits() {
                q += 1;
            }
            let c = cell_of_value[q];
            of_row[i as usize] = c;
            mass[c as usize] += w[i as usize];
        }
        if !nan_rows.is_empty() {
            let c = rep.len();
            rep.push(f64::NAN);
            mass.push(0.0);
            for &i in &nan_rows {
                of_row[i as usize] = c as u32;
                mass[c] += w[i as usize];
            }
        }
        Cells::from_parts(of_row, rep, &mass)
    }

    /// Cells with these values (ascending, NaN last; each value stands for its whole class),
    /// these masses, and this cell for each row.
    pub fn from_parts(of_row: Vec<u32>, rep: Vec<f64>, mass: &[f64]) -> Cells {
        let mut mass_prefix = Vec::with_capacity(mass.len() + 1);
        mass_prefix.push(0.0);
        let mut acc = 0.0;
        for m in mass {
            acc += m;
            mass_prefix.push(acc);
        }
        let n = rep.len();
        let mut exceptional = Bits::empty(n);
        let (mut plain, mut exceptions) = (Vec::new(), Vec::new());
        for (c, v) in rep.iter().enumerate() {
            if is_exceptional(*v) {
                exceptional.set(c);
                exceptions.push(c as u32);
            } else {
                plain.push(c as u32);
            }
        }
        Cells {
            n,
            of_row,
            rep,
            mass_prefix,
            plain,
            exceptions,
            exceptional,
        }
    }

    /// How `node` (a split on this feature) sends the cells: `O(log cells)` for numeric splits.
    pub fn split(&self, forest: &Forest, node: usize) -> CellSplit {
        let direct = forest.is_categorical(node);
        let cut = if direct {
            0
        } else {
            let first_right = self
                .plain
                .partition_point(|&c| forest.goes_left(node, self.rep[c as usize]));
            self.plain.get(first_right).map_or(self.n as u32, |&c| c)
        };
        CellSplit { node, cut, direct }
    }

    /// Whether cell `c` goes left at the split.
    #[inline]
    pub fn goes_left(&self, forest: &Forest, s: &CellSplit, c: usize) -> bool {
        if s.direct || self.exceptional.get(c) {
            forest.goes_left(s.node, self.rep[c])
        } else {
            (c as u32) < s.cut
        }
    }

    /// Keeps in `bits` only the cells that go to the `left` (or right) side of the split,
    /// logging every word it changes as `(feature, word, old)` so that the caller can undo it.
    /// Numeric splits cost the words of the cleared range, not one test per cell.
    pub fn restrict(
        &self,
        forest: &Forest,
        s: &CellSplit,
        left: bool,
        feature: u32,
        bits: &mut Bits,
        log: &mut Vec<WordUndo>,
    ) {
        let mut set_word = |bits: &mut Bits, w: usize, new: u64| {
            let old = bits.0[w];
            if old != new {
                log.push((feature, w as u32, old));
                bits.0[w] = new;
            }
        };
        if s.direct {
            for w in 0..bits.0.len() {
                let mut word = bits.0[w];
                let mut rest = word;
                while rest != 0 {
                    let c = w * 64 + rest.trailing_zeros() as usize;
                    rest &= rest - 1;
                    if forest.goes_left(s.node, self.rep[c]) != left {
                        word &= !(1u64 << (c % 64));
                    }
                }
                set_word(bits, w, word);
            }
            return;
        }
        // Plain cells on the other side: a range of cells, cleared word by word.
        let (a, b) = if left {
            (s.cut as usize, self.n)
        } else {
            (0, s.cut as usize)
        };
        if a < b {
            for w in a / 64..b.div_ceil(64) {
                let lo = (w * 64).max(a) - w * 64;
                let hi = ((w + 1) * 64).min(b) - w * 64;
                let range = if hi - lo == 64 {
                    u64::MAX
                } else {
                    ((1u64 << (hi - lo)) - 1) << lo
                };
                let clear = range & !self.exceptional.0[w];
                let word = bits.0[w];
                set_word(bits, w, word & !clear);
            }
        }
        for &c in &self.exceptions {
            let c = c as usize;
            if bits.get(c) && forest.goes_left(s.node, self.rep[c]) != left {
                let w = c / 64;
                let word = bits.0[w];
                set_word(bits, w, word & !(1u64 << (c % 64)));
            }
        }
    }

    /// Weight of the rows in the runs.
    pub fn mass(&self, runs: &[(u32, u32)]) -> f64 {
        runs.iter()
            .map(|&(a, b)| self.mass_prefix[b as usize] - self.mass_prefix[a as usize])
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_match_naive() {
        let mut state = 12345u64;
        for n in [1usize, 5, 63, 64, 65, 130, 200] {
            for _ in 0..50 {
                let mut b = Bits::empty(n);
                let mut naive = vec![false; n];
                for (c, v) in naive.iter_mut().enumerate() {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let r = (state >> 33) % 4;
                    if r < 2 || (r == 2 && c % 7 < 4) {
                        b.set(c);
                        *v = true;
                    }
                }
                let mut expected = Vec::new();
                let mut c = 0;
                while c < n {
                    if naive[c] {
                        let s = c;
                        while c < n && naive[c] {
                            c += 1;
                        }
                        expected.push((s as u32, c as u32));
                    } else {
                        c += 1;
                    }
                }
                assert_eq!(b.runs(n), expected, "n={n}");
            }
        }
        assert_eq!(Bits::full(130).runs(130), vec![(0, 130)]);
        assert_eq!(Bits::full(128).runs(128), vec![(0, 128)]);
    }
}
