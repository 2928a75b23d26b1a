//! H statistics over rows held in partitions (Dask, Spark), equal to [`hstats`] on all rows.
//!
//! The statistics need the partial dependence functions of all rows before any per-row term,
//! so a computation is a [`Plan`] advanced stage by stage. In each stage every partition
//! computes a [`Partial`] from its rows and the plan; partials are merged (in any tree shape);
//! the merged partial advances the plan. Only tables over the model's cells and leaves, and
//! sums, ever leave a partition:
//! 0. the cells of each feature with their weights ([`CellTable`]);
//! 1. the difference tables of `PD_j` over those cells (pass 1's shares, from all rows' masses);
//! 2. the moments of `f`, `PD_j + PD_notj - f` and `f - sum PD_j` (the overall and global
//!    statistics, which choose the pairwise features);
//! 3. the leaves testing two or more pairwise features, with their fail masses (pass 2);
//! 4. the moments of the pairwise and three-way parts and joint partial dependence.

use super::cell_table::CellTable;
use super::cells::{nodes_by_feature, Cells};
use super::hstats::{
    add_pairs, check_features, check_weights, overall_moments, overall_result, overall_walk,
    pair_moments, pair_walk, pd_rows, pd_table, row_terms_bytes, select, HStats, HStatsOptions,
    Prepared,
};
use super::moments::Moments;
use super::pairs::LeafRecord;
use crate::error::{Error, Result};
use crate::forest::Forest;
use crate::memory::{bytes_of, ensure_fits};
use crate::monitor::Monitor;
use crate::parallel::pool;
use ndarray::ArrayView2;
use rayon::prelude::*;

/// The stages, in order; [`Plan::stage`] is the next one to run.
pub const STAGES: [&str; 5] = [
    "cells",
    "partial dependence tables",
    "overall statistics",
    "leaf records",
    "pairwise statistics",
];

/// What is known so far of a computation over partitions.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub options: HStatsOptions,
    /// The next stage to run; `STAGES.len()` when done.
    pub stage: usize,
    pub n_rows: u64,
    pub w_total: f64,
    /// Cells of each considered feature, over all rows.
    pub tables: Vec<CellTable>,
    /// `PD_j` per cell (`cells x k`) of each considered feature.
    pub pd: Vec<Vec<f64>>,
    /// Moments of `f`, of each feature's overall term, and of the global residual.
    pub overall: Vec<Moments>,
    pub pairwise: Vec<usize>,
    pub threeway: Vec<usize>,
    /// Pass 2's leaves with the fail masses of all rows, by node.
    pub records: Vec<LeafRecord>,
    /// Numerator and denominator moments per pair, then per triple.
    pub pairs: Vec<Moments>,
}

/// One partition's (or several merged partitions') contribution to a stage.
#[derive(Debug, Clone, PartialEq)]
pub enum Partial {
    Cells {
        n_rows: u64,
        w_total: f64,
        tables: Vec<CellTable>,
    },
    Tables(Vec<Vec<f64>>),
    Moments(Vec<Moments>),
    Records(Vec<LeafRecord>),
}

fn mismatch(what: &str) -> Error {
    Error::InvalidInput(format!(
        "partial H statistics that do not belong together were merged ({what})"
    ))
}

/// Merges two partials of the same stage (`a`'s rows first).
pub fn merge(a: Partial, b: Partial) -> Result<Partial> {
    Ok(match (a, b) {
        (
            Partial::Cells {
                n_rows,
                w_total,
                tables,
            },
            Partial::Cells {
                n_rows: n2,
                w_total: w2,
                tables: t2,
            },
        ) => {
            if tables.len() != t2.len() {
                return Err(mismatch("features"));
            }
            Partial::Cells {
                n_rows: n_rows + n2,
                w_total: w_total + w2,
                tables: tables
                    .iter()
                    .zip(&t2)
                    .map(|(x, y)| CellTable::merge(&[x.clone(), y.clone()]))
                    .collect(),
            }
        }
        (Partial::Tables(mut a), Partial::Tables(b)) => {
            if a.len() != b.len() || a.iter().zip(&b).any(|(x, y)| x.len() != y.len()) {
                return Err(mismatch("tables"));
            }
            for (x, y) in a.iter_mut().zip(&b) {
                x.iter_mut().zip(y).for_each(|(u, v)| *u += v);
            }
            Partial::Tables(a)
        }
        (Partial::Moments(mut a), Partial::Moments(b)) => {
            if a.len() != b.len() || a.iter().zip(&b).any(|(x, y)| x.mean.len() != y.mean.len()) {
                return Err(mismatch("moments"));
            }
            a.iter_mut().zip(&b).for_each(|(x, y)| x.add(y));
            Partial::Moments(a)
        }
        (Partial::Records(a), Partial::Records(b)) => Partial::Records(merge_records(a, b)?),
        _ => return Err(mismatch("stages")),
    })
}

/// Two lists of leaf records sorted by node, as one with the masses of a leaf added.
fn merge_records(a: Vec<LeafRecord>, b: Vec<LeafRecord>) -> Result<Vec<LeafRecord>> {
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x.node == y.node => {
                let mut x = a.next().expect("peeked");
                let y = b.next().expect("peeked");
                if x.feats != y.feats || x.masses.m1.len() != y.masses.m1.len() {
                    return Err(mismatch("leaves"));
                }
                x.masses.add(&y.masses);
                x
            }
            (Some(x), Some(y)) if x.node < y.node => a.next().expect("peeked"),
            (Some(_), Some(_)) | (None, Some(_)) => b.next().expect("peeked"),
            (Some(_), None) => a.next().expect("peeked"),
            (None, None) => break,
        };
        out.push(next);
    }
    Ok(out)
}

impl Plan {
    /// A computation of `options`' statistics on `forest`, before any stage.
    pub fn new(forest: &Forest, options: HStatsOptions) -> Result<Plan> {
        check_features(forest, &options.features)?;
        Ok(Plan {
            options,
            stage: 0,
            n_rows: 0,
            w_total: 0.0,
            tables: Vec::new(),
            pd: Vec::new(),
            overall: Vec::new(),
            pairwise: Vec::new(),
            threeway: Vec::new(),
            records: Vec::new(),
            pairs: Vec::new(),
        })
    }

    pub fn done(&self) -> bool {
        self.stage >= STAGES.len()
    }

    /// The partition `x` (weights `w`)'s part of the next stage.
    pub fn partial(
        &self,
        forest: &Forest,
        x: ArrayView2<f64>,
        w: &[f64],
        threads: usize,
        monitor: &dyn Monitor,
    ) -> Result<Partial> {
        self.check(forest)?;
        forest.check_columns(x.ncols())?;
        let n = x.nrows();
        check_weights(w, n)?;
        let (p, k) = (forest.n_features(), forest.n_outputs());
        let feats = &self.options.features;
        let q = feats.len();
        let groups = threads.max(1);
        let pool = pool(threads)?;
        let by_feature = nodes_by_feature(forest);
        // The columns' copy and the cells; stages 2 and 4 add the rows' terms as in memory.
        let needed = if self.stage == 2 || self.stage == 4 {
            row_terms_bytes(p, q, n, k)
        } else {
            bytes_of::<f64>(&[p + q, n])
        };
        ensure_fits(
            &format!("H statistics on a partition of {n} rows ({q} features, {k} outputs)"),
            needed,
            "use smaller partitions or fewer features",
        )?;
        let x = x.as_standard_layout();
        if self.stage == 0 {
            let tables = pool.install(|| {
                feats
                    .par_iter()
                    .map(|&j| {
                        let column = x.column(j).to_vec();
                        CellTable::of_column(forest, &by_feature[j], &column, w)
                    })
                    .collect()
            });
            return Ok(Partial::Cells {
                n_rows: n as u64,
                w_total: w.iter().sum(),
                tables,
            });
        }
        if self.done() {
            return Err(Error::InvalidInput(
                "the H statistics are complete: there is no stage left to run".into(),
            ));
        }
        let mut prep = Prepared::new(forest, x.view(), w, feats, vec![None; p], self.w_total)?;
        let built: Vec<Result<Cells>> = pool.install(|| {
            feats
                .par_iter()
                .zip(&self.tables)
                .map(|(&j, table)| table.cells_of(forest, &by_feature[j], &prep.columns[j], w, j))
                .collect()
        });
        for (&j, c) in feats.iter().zip(built) {
            prep.cells[j] = Some(c?);
        }
        Ok(match self.stage {
            1 => Partial::Tables(overall_walk(&prep, &pool, groups, monitor, false, true)?.diff),
            2 => {
                let overall = overall_walk(&prep, &pool, groups, monitor, true, false)?;
                let pd = pd_rows(&prep, &self.pd, k)?;
                Partial::Moments(overall_moments(&prep, &overall.f, &overall.delta, &pd, k)?)
            }
            3 => {
                let mut records = pair_walk(
                    &prep,
                    &self.pairwise,
                    &self.threeway,
                    &pool,
                    groups,
                    monitor,
                )?;
                records.sort_by_key(|r| r.node);
                Partial::Records(records)
            }
            _ => {
                let pd = pd_rows(&prep, &self.pd, k)?;
                Partial::Moments(pair_moments(
                    &prep,
                    &self.records,
                    &self.pairwise,
                    &self.threeway,
                    &pd,
                    &pool,
                    groups,
                    monitor,
                )?)
            }
        })
    }

    /// The plan with the merged partial of all partitions for its next stage.
    pub fn advance(mut self, forest: &Forest, total: Partial) -> Result<Plan> {
        self.check(forest)?;
        let k = forest.n_outputs();
        let q = self.options.features.len();
        match (self.stage, total) {
            (
                0,
                Partial::Cells {
                    n_rows,
                    w_total,
                    tables,
                },
            ) if tables.len() == q => {
                if n_rows < 2 {
                    return Err(Error::InvalidInput(format!(
                        "H statistics need at least 2 rows, got {n_rows}"
                    )));
                }
                if w_total.is_nan() || w_total <= 0.0 {
                    return Err(Error::InvalidInput(
                        "sample_weight must have a positive sum".into(),
                    ));
                }
                self.n_rows = n_rows;
                self.w_total = w_total;
                self.tables = tables;
                self.stage = 1;
            }
            (1, Partial::Tables(diff))
                if diff.len() == q
                    && diff
                        .iter()
                        .zip(&self.tables)
                        .all(|(d, t)| d.len() == (t.key.len() + 1) * k) =>
            {
                self.pd = diff.into_iter().map(|d| pd_table(d, k)).collect();
                self.stage = 2;
            }
            (2, Partial::Moments(m)) if m.len() == q + 2 => {
                self.overall = m;
                let numerators = overall_result(&self.overall, q, k).overall_numerator;
                let (pairwise, threeway) = select(&numerators, k, &self.options);
                self.pairwise = pairwise;
                self.threeway = threeway;
                self.stage = if self.pairwise.len() < 2 { 5 } else { 3 };
            }
            (3, Partial::Records(records)) => {
                self.records = records;
                self.stage = 4;
            }
            (4, Partial::Moments(m)) => {
                self.pairs = m;
                self.stage = 5;
            }
            (stage, _) => {
                return Err(Error::InvalidInput(format!(
                    "these partial H statistics are not those of the plan's next stage ({})",
                    STAGES.get(stage).unwrap_or(&"none: the plan is complete")
                )))
            }
        }
        self.check(forest)?;
        Ok(self)
    }

    /// The statistics, once every stage has run.
    pub fn result(&self, forest: &Forest) -> Result<HStats> {
        self.check(forest)?;
        if !self.done() {
            return Err(Error::InvalidInput(format!(
                "the H statistics are not complete: stage {} ({}) is next",
                self.stage, STAGES[self.stage]
            )));
        }
        let (q, k) = (self.options.features.len(), forest.n_outputs());
        let mut result = overall_result(&self.overall, q, k);
        if self.pairwise.len() < 2 {
            result.pairwise_features = self.pairwise.clone();
        } else {
            add_pairs(&mut result, &self.pairs, &self.pairwise, &self.threeway);
        }
        Ok(result)
    }

    /// Checks that the plan fits the forest (a plan read back from bytes could be of another).
    pub fn check(&self, forest: &Forest) -> Result<()> {
        let bad = |what: &str| {
            Err(Error::InvalidInput(format!(
                "the H statistics plan does not fit this model ({what})"
            )))
        };
        check_features(forest, &self.options.features)?;
        let (q, k) = (self.options.features.len(), forest.n_outputs());
        let (s, n_pairs) = (self.stage, self.pairwise.len());
        if s > STAGES.len() {
            return bad("stage");
        }
        if (s >= 1 && self.tables.len() != q) || self.tables.iter().any(|t| t.check().is_err()) {
            return bad("cell tables");
        }
        let pd_ok = self
            .pd
            .iter()
            .zip(&self.tables)
            .all(|(t, c)| t.len() == c.key.len() * k);
        if (s >= 2 && self.pd.len() != q) || !pd_ok {
            return bad("partial dependence tables");
        }
        let moments_ok = |m: &[Moments]| m.iter().all(|m| m.mean.len() == k && m.m2.len() == k);
        if (s >= 3 && self.overall.len() != q + 2) || !moments_ok(&self.overall) {
            return bad("overall moments");
        }
        let t = self.threeway.len();
        if self.pairwise.iter().any(|&a| a >= q)
            || self
                .threeway
                .iter()
                .zip(&self.pairwise)
                .any(|(a, b)| a != b)
            || t > n_pairs
        {
            return bad("chosen features");
        }
        let mut cells_of = vec![None; forest.n_features()];
        for &a in &self.pairwise {
            cells_of[self.options.features[a]] = self.tables.get(a).map(|t| t.key.len());
        }
        for r in &self.records {
            let d = r.feats.len();
            let feats_ok = r.feats.iter().zip(&r.runs).all(|(&f, runs)| {
                let n_cells = cells_of.get(f as usize).copied().flatten();
                n_cells.is_some_and(|n| runs.iter().all(|&(a, b)| a < b && b as usize <= n))
            });
            let m = &r.masses;
            let masses_ok = m.m1.len() == d
                && m.m2.iter().all(|e| e.0 < e.1 && (e.1 as usize) < d)
                && m.m3
                    .iter()
                    .all(|e| e.0 < e.1 && e.1 < e.2 && (e.2 as usize) < d);
            if r.node >= forest.n_nodes()
                || r.value.len() != k
                || r.runs.len() != d
                || d < 2
                || !feats_ok
                || !masses_ok
            {
                return bad("leaf records");
            }
        }
        let expected = 2
            * (n_pairs * n_pairs.saturating_sub(1) / 2
                + t * t.saturating_sub(1) * t.saturating_sub(2) / 6);
        if (s >= 5 && n_pairs >= 2 && self.pairs.len() != expected) || !moments_ok(&self.pairs) {
            return bad("pairwise moments");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::hstats::hstats;
    use super::super::hstats::tests::{random_data, random_forest, Rng};
    use super::super::plan_codec::{decode_partial, decode_plan, encode_partial, encode_plan};
    use super::*;
    use crate::monitor::Silent;
    use ndarray::{s, Array2};

    fn close(a: &[f64], b: &[f64], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}");
        for (x, y) in a.iter().zip(b) {
            assert!(
                (x - y).abs() <= 1e-10 * y.abs().max(1.0),
                "{what}: {x} vs {y}"
            );
        }
    }

    /// Runs every stage over the row ranges `cuts` (partials through bytes, merged pairwise).
    fn over_partitions(
        forest: &Forest,
        x: &Array2<f64>,
        w: &[f64],
        options: &HStatsOptions,
        cuts: &[usize],
    ) -> Result<HStats> {
        let mut plan = Plan::new(forest, options.clone())?;
        while !plan.done() {
            let shipped = decode_plan(&encode_plan(&plan))?;
            assert_eq!(encode_plan(&shipped), encode_plan(&plan));
            let mut level: Vec<Partial> = cuts
                .windows(2)
                .map(|c| {
                    let part = shipped.partial(
                        forest,
                        x.slice(s![c[0]..c[1], ..]),
                        &w[c[0]..c[1]],
                        1 + c[0] % 2,
                        &Silent,
                    )?;
                    decode_partial(&encode_partial(&part))
                })
                .collect::<Result<_>>()?;
            while level.len() > 1 {
                let mut next = Vec::new();
                let mut it = level.into_iter();
                while let Some(a) = it.next() {
                    next.push(match it.next() {
                        Some(b) => merge(a, b)?,
                        None => a,
                    });
                }
                level = next;
            }
            plan = plan.advance(forest, level.pop().expect("a partition"))?;
        }
        plan.result(forest)
    }

    #[test]
    fn partitions_give_the_statistics_of_all_rows() {
        let mut rng = Rng(99);
        let mut pairs = 0;
        for case in 0..20 {
            let p = 2 + case % 4;
            let k = 1 + case % 2;
            let forest = random_forest(&mut rng, p, k, 3 + case % 3, 2 + case % 5, case % 4 == 1);
            let n = 8 + case % 9;
            let x = random_data(&mut rng, n, p);
            let w: Vec<f64> = (0..n).map(|_| 0.2 + rng.unit()).collect();
            let features: Vec<usize> = if case % 3 == 2 {
                (1..p).collect()
            } else {
                (0..p).collect()
            };
            let options = HStatsOptions {
                pairwise_m: features.len(),
                threeway_m: features.len(),
                features,
            };
            let whole = hstats(&forest, x.view(), &w, &options, 1, &Silent).expect("hstats");
            pairs += whole.pairs.len() + whole.triples.len();
            let splits: Vec<Vec<usize>> = vec![
                vec![0, n],
                vec![0, 0, 3, n],
                vec![0, 1, 2, n / 2, n / 2, n - 1, n],
                (0..=n).collect(),
            ];
            for cuts in splits {
                let parts = over_partitions(&forest, &x, &w, &options, &cuts).expect("partitions");
                let what = format!("case {case}, cuts {cuts:?}");
                close(&parts.f_denominator, &whole.f_denominator, &what);
                close(&parts.global_numerator, &whole.global_numerator, &what);
                close(&parts.overall_numerator, &whole.overall_numerator, &what);
                assert_eq!(parts.pairwise_features, whole.pairwise_features, "{what}");
                assert_eq!(parts.threeway_features, whole.threeway_features, "{what}");
                assert_eq!(parts.pairs.len(), whole.pairs.len(), "{what}");
                for (a, b) in parts.pairs.iter().zip(&whole.pairs) {
                    assert_eq!((a.0, a.1), (b.0, b.1), "{what}");
                    close(&a.2, &b.2, &what);
                    close(&a.3, &b.3, &what);
                }
                assert_eq!(parts.triples.len(), whole.triples.len(), "{what}");
                for (a, b) in parts.triples.iter().zip(&whole.triples) {
                    assert_eq!(a.0, b.0, "{what}");
                    close(&a.1, &b.1, &what);
                    close(&a.2, &b.2, &what);
                }
            }
        }
        assert!(pairs > 20, "{pairs} pairs and triples checked");
    }

    #[test]
    fn bad_plans_and_partials_are_refused() {
        let mut rng = Rng(5);
        let forest = random_forest(&mut rng, 3, 1, 4, 4, false);
        let x = random_data(&mut rng, 10, 3);
        let w = vec![1.0; 10];
        let options = HStatsOptions {
            features: vec![0, 1, 2],
            pairwise_m: 3,
            threeway_m: 0,
        };
        let one_row = over_partitions(&forest, &x, &w, &options, &[0, 1]);
        assert!(matches!(one_row, Err(Error::InvalidInput(m)) if m.contains("2 rows")));
        let zero = over_partitions(&forest, &x, &[0.0; 10], &options, &[0, 4, 10]);
        assert!(matches!(zero, Err(Error::InvalidInput(m)) if m.contains("positive sum")));
        let plan = Plan::new(&forest, options.clone()).unwrap();
        let cells = plan.partial(&forest, x.view(), &w, 1, &Silent).unwrap();
        let plan = plan.advance(&forest, cells.clone()).unwrap();
        let tables = plan.partial(&forest, x.view(), &w, 1, &Silent).unwrap();
        // Partials of different stages do not merge, nor advance the wrong stage.
        assert!(merge(cells.clone(), tables.clone()).is_err());
        assert!(plan.clone().advance(&forest, cells).is_err());
        // Rows the first stage did not see (1e-39 is a cell of its own, never drawn above).
        let mut other = x.clone();
        other.row_mut(0).fill(1e-39);
        let unseen = plan.partial(&forest, other.view(), &w, 1, &Silent);
        assert!(matches!(unseen, Err(Error::InvalidInput(m)) if m.contains("changed between")));
        // Every truncation of the bytes is refused, never a panic.
        let bytes = encode_plan(&plan);
        for cut in 0..bytes.len() {
            assert!(decode_plan(&bytes[..cut]).is_err(), "cut {cut}");
        }
        let bytes = encode_partial(&tables);
        for cut in 0..bytes.len() {
            assert!(decode_partial(&bytes[..cut]).is_err(), "cut {cut}");
        }
        // A plan of another model.
        let small = random_forest(&mut rng, 2, 1, 2, 2, false);
        assert!(plan.check(&small).is_err());
    }
}
