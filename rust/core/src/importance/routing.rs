//! Routing the permutation repeats of a block of rows through the forest, adding to each
//! repeat's output the changes its permuted values cause.
//!
//! Only trees whose path for a row splits on a permuted column can change that row's output, and
//! only below the first such split. Along each row's own path, the repeats of each unit (columns
//! permuted together) that go the other way at a split on the unit leave the path there. From
//! the other child they follow their permuted values at splits on the unit and the row's own
//! values elsewhere. Each repeat that ends on another leaf adds the difference of leaf values to
//! its output change.
//!
//! Trees with a [`LeafTable`] need no walk: the row's leaf from any node is a lookup, and the
//! path to it that leaf's ancestor list, scanned for the next split on the unit. Where the
//! repeats part there, those going the row's way go on scanning the same list and the others
//! start again from the other child. Larger trees are walked node by node.
//!
//! Repeats go 64 at a time, one bit each, so that a set of repeats is routed together and splits
//! only where its members part.

use super::column_function::ColumnRanks;
use super::exact_sum::{Fixed, FixedValues};
use super::leaf_table::{Lanes, LeafTable, LeafTables, LANES};
use super::single_column::{
    add_difference, add_leaf, batch_mask, route_lanes, Buffers, SingleColumns, NO_UNIT, RANK_PAD,
};
use super::tree_paths::{TreePaths, TreeView};
use crate::forest::Forest;
use ndarray::ArrayView2;

/// The units being scored together, and what routing them needs.
pub struct Chunk<'a> {
    /// Per unit: `member[f]`, whether column f is in the unit.
    member: Vec<Vec<bool>>,
    /// Per unit: its column when it has one ranked column (its repeats route by rank).
    single: Vec<Option<usize>>,
    /// Per feature f: the units holding it are `unit_list[unit_start[f]..unit_start[f + 1]]`.
    unit_start: Vec<u32>,
    unit_list: Vec<u32>,
    /// Per unit: bit `c % 64` for each of its columns (compared with [`TreePaths::below`]).
    unit_bits: Vec<u64>,
    /// When every unit is one ranked column and no column is in two units: per column, its
    /// unit ([`NO_UNIT`] for none).
    unit_of: Option<Vec<u32>>,
    ranks: &'a ColumnRanks,
    fixed: &'a FixedValues,
    tables: &'a LeafTables,
    paths: &'a TreePaths,
}

/// Per-thread buffers, reused from block to block.
pub struct Scratch {
    n_repeats: usize,
    /// The repeats being routed are `base..base + batch` (at most 64, one bit each).
    base: usize,
    batch: usize,
    path: Vec<usize>,
    stamp: Vec<u32>,
    counter: u32,
    /// Per unit: the repeats of the batch still on the row's path.
    onset: Vec<u64>,
    single: Buffers,
    stack: Vec<(usize, u64)>,
    /// Per row of the block, per unit, per repeat: the rank of the permuted value (single
    /// ranked columns).
    qrank: Vec<u32>,
    /// Per row of the block, per repeat: the source row.
    src: Vec<u32>,
    /// The block's ranks column by column, [`LANES`] rows at a time.
    columns: Vec<u32>,
    table: LeafTable,
}

/// Where one row, unit and tree are being routed.
struct Site<'r> {
    li: usize,
    u: usize,
    /// The unit's column when it is a single ranked column.
    single: Option<usize>,
    /// Where the unit's repeat ranks of this row start in [`Scratch::qrank`].
    qrank_at: usize,
    row: &'r [f64],
    rank_row: &'r [u32],
    leaf0: usize,
    width: usize,
    output: Option<usize>,
}

/// A tabled tree (`tree`), filled for the row in `lane`; `first` is the tree's first node.
struct Tabled<'r> {
    table: &'r LeafTable,
    lane: usize,
    first: usize,
    tree: TreeView<'r>,
}

impl<'a> Chunk<'a> {
    pub fn new(
        forest: &Forest,
        units: &[Vec<usize>],
        ranks: &'a ColumnRanks,
        fixed: &'a FixedValues,
        tables: &'a LeafTables,
        paths: &'a TreePaths,
    ) -> Self {
        let p = forest.n_features();
        let mut units_of: Vec<Vec<u32>> = vec![Vec::new(); p];
        let mut member = Vec::with_capacity(units.len());
        let mut single = Vec::with_capacity(units.len());
        let mut unit_bits = Vec::with_capacity(units.len());
        for (u, cols) in units.iter().enumerate() {
            let mut m = vec![false; p];
            let mut bits = 0u64;
            for &c in cols {
                if !m[c] {
                    m[c] = true;
                    units_of[c].push(u as u32);
                }
                bits |= 1 << (c % 64);
            }
            member.push(m);
            unit_bits.push(bits);
            single.push((cols.len() == 1 && ranks.ranked[cols[0]]).then_some(cols[0]));
        }
        let unit_of = (single.iter().all(|s| s.is_some()) && units_of.iter().all(|u| u.len() <= 1))
            .then(|| {
                units_of
                    .iter()
                    .map(|u| u.first().copied().unwrap_or(NO_UNIT))
                    .collect()
            });
        let mut unit_start = Vec::with_capacity(p + 1);
        let mut unit_list = Vec::new();
        unit_start.push(0);
        for list in &units_of {
            unit_list.extend_from_slice(list);
            unit_start.push(unit_list.len() as u32);
        }
        Chunk {
            member,
            single,
            unit_start,
            unit_list,
            unit_bits,
            unit_of,
            ranks,
            fixed,
            tables,
            paths,
        }
    }

    /// Whether every unit is one ranked column, in no other unit: the single-column path
    /// routes its tabled trees.
    pub fn single_column(&self) -> bool {
        self.unit_of.is_some()
    }

    /// Number of units.
    pub fn n_units(&self) -> usize {
        self.member.len()
    }

    /// Buffers for [`Chunk::block`] with `n_repeats` repeats.
    pub fn scratch(&self, n_repeats: usize) -> Scratch {
        Scratch {
            n_repeats,
            base: 0,
            batch: 0,
            path: Vec::with_capacity(64),
            stamp: vec![0; self.n_units()],
            counter: 0,
            onset: vec![0; self.n_units()],
            single: Buffers::default(),
            stack: Vec::with_capacity(64),
            qrank: Vec::new(),
            src: Vec::new(),
            columns: Vec::new(),
            table: self.tables.table(),
        }
    }

    /// The units holding column `f`.
    #[inline(always)]
    fn units_of(&self, f: usize) -> &[u32] {
        &self.unit_list[self.unit_start[f] as usize..self.unit_start[f + 1] as usize]
    }

    /// Routes the rows `r0..r0 + rows` of `x` (`rows = sums.len() / k`): adds each row's leaf
    /// values to `sums` (`(rows, k)`) and each repeat's output change to `acc`
    /// (`(rows, n_units, n_repeats, k)`).
    #[allow(clippy::too_many_arguments)]
    pub fn block(
        &self,
        w: &mut Scratch,
        forest: &Forest,
        x: ArrayView2<f64>,
        perms: ArrayView2<u32>,
        r0: usize,
        acc: &mut [Fixed],
        sums: &mut [Fixed],
    ) {
        let k = forest.n_outputs();
        let p = forest.n_features();
        let n_repeats = perms.nrows();
        debug_assert_eq!(n_repeats, w.n_repeats);
        let n_units = self.n_units();
        let stride = n_units * n_repeats * k;
        let rows = sums.len() / k;
        w.src.clear();
        w.src.resize(rows * n_repeats, 0);
        w.qrank.clear();
        // Padded so that ranks can be read 16 at a time (see `SingleColumns::qrank`).
        w.qrank.resize(rows * n_units * n_repeats + RANK_PAD, 0);
        for li in 0..rows {
            for r in 0..n_repeats {
                w.src[li * n_repeats + r] = perms[[r, r0 + li]];
            }
            for (u, single) in self.single.iter().enumerate() {
                if let Some(j) = single {
                    for r in 0..n_repeats {
                        let src = w.src[li * n_repeats + r] as usize;
                        w.qrank[(li * n_units + u) * n_repeats + r] = self.ranks.row(src)[*j];
                    }
                }
            }
        }
        let n_lane_blocks = rows.div_ceil(LANES);
        let mut columns = std::mem::take(&mut w.columns);
        columns.clear();
        columns.resize(n_lane_blocks * p * LANES, 0);
        for li in 0..rows {
            let (s, lane) = (li / LANES, li % LANES);
            for (f, &q) in self.ranks.row(r0 + li).iter().enumerate() {
                columns[(s * p + f) * LANES + lane] = q;
            }
        }
        let mut table = std::mem::replace(&mut w.table, LeafTable::empty());
        for t in 0..forest.n_trees() {
            let tabled = self.tables.tabled(t);
            let view = tabled.then(|| self.paths.tree(forest, t));
            for s in 0..n_lane_blocks {
                let count = LANES.min(rows - s * LANES);
                if tabled {
                    let lanes = Lanes {
                        columns: &columns[s * p * LANES..(s + 1) * p * LANES],
                        x,
                        row0: r0 + s * LANES,
                        count,
                    };
                    table.fill(self.tables, forest, t, &lanes);
                }
                if let (Some(view), Some(unit_of)) = (view, &self.unit_of) {
                    let ctx = SingleColumns {
                        qrank: &w.qrank,
                        unit_of,
                        n_units,
                        n_repeats,
                        k,
                    };
                    route_lanes(
                        &ctx,
                        view,
                        forest.tree_output(t),
                        &table,
                        s * LANES,
                        count,
                        acc,
                        sums,
                        &mut w.single,
                    );
                    continue;
                }
                for lane in 0..count {
                    let li = s * LANES + lane;
                    let tab = view.map(|tree| Tabled {
                        table: &table,
                        lane,
                        first: forest.root(t),
                        tree,
                    });
                    self.row(
                        w,
                        forest,
                        x,
                        t,
                        r0,
                        li,
                        tab,
                        &mut acc[li * stride..(li + 1) * stride],
                        &mut sums[li * k..(li + 1) * k],
                    );
                }
            }
        }
        w.columns = columns;
        w.table = table;
    }

    /// One row of the block (`li`) through tree `t`.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn row(
        &self,
        w: &mut Scratch,
        forest: &Forest,
        x: ArrayView2<f64>,
        t: usize,
        r0: usize,
        li: usize,
        tab: Option<Tabled>,
        acc_row: &mut [Fixed],
        sums: &mut [Fixed],
    ) {
        let nodes = &self.ranks.nodes;
        let width = forest.tree_width(t);
        let output = forest.tree_output(t);
        let root = forest.root(t);
        let row = x.row(r0 + li);
        let row = row.as_slice().expect("standard layout");
        let rank_row = self.ranks.row(r0 + li);
        // The row's own path (root first) and leaf: a tabled tree's leaf has its ancestors.
        w.path.clear();
        let leaf0 = match &tab {
            Some(tab) => {
                let leaf0 = self.land(tab, root);
                let ancestors = tab.tree.ancestors(leaf0 - root);
                w.path
                    .extend(ancestors.iter().map(|a| root + a[0] as usize));
                leaf0
            }
            None => {
                let mut n = root;
                while !nodes[n].is_leaf() {
                    w.path.push(n);
                    n = self.ranks.child(forest, n, rank_row, row);
                }
                n
            }
        };
        let v0 = self.leaf_values(leaf0, width);
        add_leaf(sums, output, v0);
        let depth = w.path.len();
        let n_units = self.n_units();
        if depth == 0 || n_units == 0 {
            return;
        }
        let n_repeats = w.n_repeats;
        // One pass down the row's path per batch of repeats: at each split, the repeats of the
        // split's unit(s) still on the path either stay or leave through the other child (routed
        // from there); `onset[u]` holds those still on the path.
        w.base = 0;
        while w.base < n_repeats {
            w.batch = (n_repeats - w.base).min(64);
            let full = batch_mask(w.batch);
            w.counter = w.counter.wrapping_add(1);
            if w.counter == 0 {
                w.stamp.iter_mut().for_each(|s| *s = u32::MAX);
                w.counter = 1;
            }
            for d in 0..depth {
                let n = w.path[d];
                let next = w.path.get(d + 1).copied().unwrap_or(leaf0);
                let node = nodes[n];
                for &u in self.units_of(node.feature()) {
                    let u = u as usize;
                    if w.stamp[u] != w.counter {
                        w.stamp[u] = w.counter;
                        w.onset[u] = full;
                    }
                    let set = w.onset[u];
                    if set == 0 {
                        continue;
                    }
                    let site = Site {
                        li,
                        u,
                        single: self.single[u],
                        qrank_at: (li * n_units + u) * n_repeats,
                        row,
                        rank_row,
                        leaf0,
                        width,
                        output,
                    };
                    let left = self.left_mask(forest, x, &site, w, n, set);
                    let (stay, leave, other) = if node.left as usize == next {
                        (left, set & !left, node.right)
                    } else {
                        (set & !left, left, node.left)
                    };
                    if leave != 0 {
                        match &tab {
                            Some(tab) => self.land_repeats(
                                forest,
                                x,
                                &site,
                                tab,
                                other as usize,
                                leave,
                                w,
                                acc_row,
                            ),
                            None => self.route(forest, x, &site, other as usize, leave, w, acc_row),
                        }
                    }
                    w.onset[u] = stay;
                }
            }
            w.base += w.batch;
        }
    }

    /// The leaf reached from node `n` of a tabled tree by the row's own values (without a
    /// branch: leaves, which have no entries, read one that is not theirs and drop it).
    #[inline(always)]
    fn land(&self, tab: &Tabled, n: usize) -> usize {
        let looked_up = tab.first + tab.table.leaf(n - tab.first, tab.lane);
        let mask = 0usize.wrapping_sub(self.ranks.nodes[n].is_leaf() as usize);
        (n & mask) | (looked_up & !mask)
    }

    /// The fixed-point values of leaf `n`.
    #[inline(always)]
    fn leaf_values(&self, n: usize, width: usize) -> &[Fixed] {
        let at = self.ranks.nodes[n].cut as usize;
        &self.fixed.values()[at..at + width]
    }

    /// Whether column `f` belongs to the site's unit.
    #[inline(always)]
    fn is_member(&self, site: &Site, f: usize) -> bool {
        match site.single {
            Some(j) => j == f,
            None => self.member[site.u][f],
        }
    }

    /// The repeats of `set` (bit r: repeat `base + r`) that go left at node `n`, a split on one
    /// of the unit's columns.
    #[inline(always)]
    fn left_mask(
        &self,
        forest: &Forest,
        x: ArrayView2<f64>,
        site: &Site,
        w: &Scratch,
        n: usize,
        set: u64,
    ) -> u64 {
        let node = &self.ranks.nodes[n];
        let mut left = 0u64;
        if site.single.is_some() {
            // Branch-free over the whole batch: one comparison per repeat.
            let at = site.qrank_at + w.base;
            let qs = &w.qrank[at..at + w.batch];
            let (shift, cut) = node.shifted_cut();
            for (r, &q) in qs.iter().enumerate() {
                left |= ((q.wrapping_add(shift) < cut) as u64) << r;
            }
            return left & set;
        }
        let f = node.feature();
        let mut bits = set;
        while bits != 0 {
            let r = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let src = w.src[site.li * w.n_repeats + w.base + r] as usize;
            let l = if node.ranked() {
                node.rank_goes_left(self.ranks.row(src)[f])
            } else {
                forest.goes_left(n, x[[src, f]])
            };
            left |= (l as u64) << r;
        }
        left
    }

    /// Lands the repeats of `set`, which left the row's path for node `start` of a tabled tree:
    /// from each node reached, the row's own leaf and, along that leaf's ancestors, the next
    /// split on the unit, where the repeats going the other way start again.
    #[allow(clippy::too_many_arguments)]
    fn land_repeats(
        &self,
        forest: &Forest,
        x: ArrayView2<f64>,
        site: &Site,
        tab: &Tabled,
        start: usize,
        set: u64,
        w: &mut Scratch,
        acc_row: &mut [Fixed],
    ) {
        let nodes = &self.ranks.nodes;
        let unit_bits = self.unit_bits[site.u];
        let mut stack = std::mem::take(&mut w.stack);
        stack.clear();
        stack.push((start, set));
        while let Some((n, mut set)) = stack.pop() {
            let leaf = self.land(tab, n);
            if self.paths.below(n) & unit_bits == 0 {
                // No split on the unit below (or a leaf): the row's own leaf from here.
                self.add_changes(site, leaf, set, w, acc_row);
                continue;
            }
            let path = tab.tree.ancestors(leaf - tab.first);
            let mut e = forest.depth(n);
            loop {
                while e < path.len()
                    && !self.is_member(site, nodes[tab.first + path[e][0] as usize].feature())
                {
                    e += 1;
                }
                if e == path.len() {
                    self.add_changes(site, leaf, set, w, acc_row);
                    break;
                }
                let b = tab.first + path[e][0] as usize;
                let node = nodes[b];
                let next = path.get(e + 1).map_or(leaf, |a| tab.first + a[0] as usize);
                let left = self.left_mask(forest, x, site, w, b, set);
                let (same, apart, other) = if node.left as usize == next {
                    (left, set & !left, node.right)
                } else {
                    (set & !left, left, node.left)
                };
                if apart != 0 {
                    stack.push((other as usize, apart));
                }
                if same == 0 {
                    break;
                }
                set = same;
                e += 1;
            }
        }
        w.stack = stack;
    }

    /// Routes the repeats of `set` down from `start` node by node, adding leaf differences.
    #[allow(clippy::too_many_arguments)]
    fn route(
        &self,
        forest: &Forest,
        x: ArrayView2<f64>,
        site: &Site,
        start: usize,
        set: u64,
        w: &mut Scratch,
        acc_row: &mut [Fixed],
    ) {
        let nodes = &self.ranks.nodes;
        let mut stack = std::mem::take(&mut w.stack);
        stack.clear();
        stack.push((start, set));
        while let Some((mut n, mut set)) = stack.pop() {
            loop {
                let node = nodes[n];
                if node.is_leaf() {
                    self.add_changes(site, n, set, w, acc_row);
                    break;
                }
                if !self.is_member(site, node.feature()) {
                    n = self.ranks.child(forest, n, site.rank_row, site.row);
                    continue;
                }
                let left = self.left_mask(forest, x, site, w, n, set);
                let right = set & !left;
                if right == 0 {
                    n = node.left as usize;
                } else if left == 0 {
                    n = node.right as usize;
                } else {
                    stack.push((node.right as usize, right));
                    n = node.left as usize;
                    set = left;
                }
            }
        }
        w.stack = stack;
    }

    /// Adds to the output changes of the repeats of `set` the difference between leaf `leaf`
    /// and the row's own leaf.
    #[inline(always)]
    fn add_changes(&self, site: &Site, leaf: usize, set: u64, w: &Scratch, acc_row: &mut [Fixed]) {
        if leaf == site.leaf0 {
            return;
        }
        let k = acc_row.len() / (self.n_units() * w.n_repeats);
        let unit_base = site.u * w.n_repeats * k;
        let v0 = self.leaf_values(site.leaf0, site.width);
        let v = self.leaf_values(leaf, site.width);
        let acc_batch = &mut acc_row[unit_base + w.base * k..unit_base + (w.base + w.batch) * k];
        add_difference(acc_batch, k, site.output, v, v0, set);
    }
}
