//! The cells of one feature over rows held in several partitions.
//!
//! Each partition builds its own [`Cells`]; to add their masses up, every cell gets a key that
//! depends on the model and the value only, never on which rows are alongside:
//! - a plain value of a feature without categorical splits: the number of the feature's split
//!   nodes that send it right (numeric splits send a prefix of the ordered values left, so the
//!   sets of nodes sending two values right are nested, and equal counts mean equal sets: the
//!   same class);
//! - any other value (NaN, values near zero, categorical features): the value itself, which
//!   is a cell of its own in [`Cells::build`] too.
//!
//! The merged table lists the classes in increasing order of their smallest value (NaN last),
//! so the global cells are those an in-memory run on all rows would build, in the same order.

use super::cells::{is_exceptional, Cells};
use crate::error::{Error, Result};
use crate::forest::Forest;
use std::collections::HashMap;

/// A cell's key: `(0, count of nodes sending it right)` or `(1, the value's bits)`.
pub type CellKey = (u8, u64);

/// The cells of one feature with their keys, smallest values and weights.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CellTable {
    pub key: Vec<CellKey>,
    /// The smallest value of each cell (canonical NaN for the NaN cell).
    pub rep: Vec<f64>,
    pub mass: Vec<f64>,
}

fn value_key(v: f64) -> CellKey {
    let v = if v.is_nan() { f64::NAN } else { v };
    (1, v.to_bits())
}

/// Keys of the cells of `cells`, built over the splits `nodes` of one feature.
fn keys_of(forest: &Forest, nodes: &[usize], cells: &Cells) -> Vec<CellKey> {
    if nodes.iter().any(|&nd| forest.is_categorical(nd)) {
        return cells.rep.iter().map(|&v| value_key(v)).collect();
    }
    let plain: Vec<usize> = (0..cells.n)
        .filter(|&c| !is_exceptional(cells.rep[c]))
        .collect();
    // How many nodes send each plain cell (and those after it) right.
    let mut first_right = vec![0u64; plain.len() + 1];
    for &nd in nodes {
        let p = plain.partition_point(|&c| forest.goes_left(nd, cells.rep[c]));
        first_right[p] += 1;
    }
    let mut keys: Vec<CellKey> = cells.rep.iter().map(|&v| value_key(v)).collect();
    let mut right = 0u64;
    for (ix, &c) in plain.iter().enumerate() {
        right += first_right[ix];
        keys[c] = (0, right);
    }
    keys
}

impl CellTable {
    /// The table of the column `x` with row weights `w`, for the splits `nodes` on it.
    pub fn of_column(forest: &Forest, nodes: &[usize], x: &[f64], w: &[f64]) -> CellTable {
        let cells = Cells::build(forest, nodes, x, w);
        let keys = keys_of(forest, nodes, &cells);
        let mass: Vec<f64> = cells.mass_prefix.windows(2).map(|m| m[1] - m[0]).collect();
        // Cells::build splits plain runs around near-zero values, so one key can come twice.
        CellTable::merge(&[CellTable {
            key: keys,
            rep: cells.rep,
            mass,
        }])
    }

    /// The union of tables of the same feature: masses added (in the order given), the
    /// smallest value kept, classes in increasing order of it (NaN last).
    pub fn merge(parts: &[CellTable]) -> CellTable {
        let mut at: HashMap<CellKey, usize> = HashMap::new();
        let mut out = CellTable::default();
        for part in parts {
            for ((&key, &rep), &mass) in part.key.iter().zip(&part.rep).zip(&part.mass) {
                match at.get(&key) {
                    Some(&i) => {
                        out.mass[i] += mass;
                        if rep.total_cmp(&out.rep[i]).is_lt() {
                            out.rep[i] = rep;
                        }
                    }
                    None => {
                        at.insert(key, out.key.len());
                        out.key.push(key);
                        out.rep.push(if rep.is_nan() { f64::NAN } else { rep });
                        out.mass.push(mass);
                    }
                }
            }
        }
        let mut order: Vec<usize> = (0..out.key.len()).collect();
        order.sort_by(|&a, &b| out.rep[a].total_cmp(&out.rep[b]));
        CellTable {
            key: order.iter().map(|&i| out.key[i]).collect(),
            rep: order.iter().map(|&i| out.rep[i]).collect(),
            mass: order.iter().map(|&i| out.mass[i]).collect(),
        }
    }

    /// These (global) cells, with the cell of each of the rows `x` (which must all be among
    /// the rows the table was merged from).
    pub fn cells_of(
        &self,
        forest: &Forest,
        nodes: &[usize],
        x: &[f64],
        w: &[f64],
        feature: usize,
    ) -> Result<Cells> {
        let local = Cells::build(forest, nodes, x, w);
        let keys = keys_of(forest, nodes, &local);
        let at: HashMap<CellKey, u32> = self
            .key
            .iter()
            .enumerate()
            .map(|(i, &k)| (k, i as u32))
            .collect();
        let mut global = Vec::with_capacity(keys.len());
        for (c, key) in keys.iter().enumerate() {
            match at.get(key) {
                Some(&g) => global.push(g),
                None => {
                    return Err(Error::InvalidInput(format!(
                        "feature {feature} has the value {} in a partition that was not there in \
                         the first pass over the rows: the data changed between passes (compute \
                         from a deterministic source, or persist it first)",
                        local.rep[c]
                    )))
                }
            }
        }
        let of_row = local.of_row.iter().map(|&c| global[c as usize]).collect();
        Ok(Cells::from_parts(of_row, self.rep.clone(), &self.mass))
    }

    /// Checks that the table is well formed (after decoding it).
    pub fn check(&self) -> Result<()> {
        let n = self.key.len();
        let sorted = self.rep.windows(2).all(|r| r[0].total_cmp(&r[1]).is_lt());
        if self.rep.len() != n || self.mass.len() != n || n > u32::MAX as usize || !sorted {
            return Err(Error::InvalidInput("a malformed cell table".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forest::ForestParts;

    /// One tree: x0 < 0.5 then x0 < 2.5 (right side), with missing values going left.
    fn stump() -> Forest {
        let parts = ForestParts {
            n_features: 1,
            n_outputs: 1,
            base_score: vec![0.0],
            category_offsets: vec![0],
            tree_start: vec![0, 5],
            tree_output: vec![0],
            feature: vec![0, -1, 0, -1, -1],
            threshold: vec![0.5, 0.0, 2.5, 0.0, 0.0],
            left: vec![1, -1, 3, -1, -1],
            right: vec![2, -1, 4, -1, -1],
            default_left: vec![true; 5],
            missing: vec![0; 5],
            cover: vec![1.0; 5],
            category_set: vec![-1; 5],
            values: vec![0.0, 1.0, 0.0, 2.0, 3.0],
            ..Default::default()
        };
        Forest::new(parts).expect("valid forest")
    }

    #[test]
    fn partitions_merge_to_the_table_of_all_rows() {
        let forest = stump();
        let nodes = vec![0, 2];
        let x = [3.0, -1.0, 1.0, f64::NAN, 0.0, 2.0, 0.2, 7.0, 1e-40, -2.0];
        let w: Vec<f64> = (0..x.len()).map(|i| 1.0 + i as f64).collect();
        let whole = CellTable::of_column(&forest, &nodes, &x, &w);
        for cut in [0, 1, 4, 7, 10] {
            let a = CellTable::of_column(&forest, &nodes, &x[..cut], &w[..cut]);
            let b = CellTable::of_column(&forest, &nodes, &x[cut..], &w[cut..]);
            let merged = CellTable::merge(&[a, b]);
            assert_eq!(merged.key, whole.key, "cut {cut}");
            assert_eq!(merged.mass, whole.mass, "cut {cut}");
            // Smallest values: -2 for the class below 0.5 (plain), 1 below 2.5, 3 above.
            let plain: Vec<f64> = merged
                .rep
                .iter()
                .copied()
                .filter(|&v| !is_exceptional(v))
                .collect();
            assert_eq!(plain, vec![-2.0, 1.0, 3.0]);
            let cells = merged
                .cells_of(&forest, &nodes, &x[cut..], &w[cut..], 0)
                .expect("rows of the table");
            for (i, &c) in cells.of_row.iter().enumerate() {
                let v = x[cut + i];
                let r = merged.rep[c as usize];
                assert!(
                    nodes
                        .iter()
                        .all(|&nd| forest.goes_left(nd, v) == forest.goes_left(nd, r)),
                    "{v} in the cell of {r}"
                );
            }
        }
        let err = whole.cells_of(&forest, &nodes, &[1e-39], &[1.0], 0);
        assert!(matches!(err, Err(Error::InvalidInput(_))));
    }
}
