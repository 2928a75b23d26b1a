//! Shared helpers of the core's unit tests: a seeded generator, small random forests and rows,
//! and the margin of one row (the oracles' ground truth).
#![allow(clippy::needless_range_loop)]

use crate::forest::{Forest, ForestParts};
use crate::monitor::Silent;
use ndarray::Array2;

pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A random forest over `p` features whose rows take values in {0, 1, 2, 3, NaN}.
pub fn random_forest(rng: &mut Rng, p: usize, k: usize, trees: usize, depth: usize) -> Forest {
    let mut parts = ForestParts {
        n_features: p,
        n_outputs: k,
        base_score: (0..k).map(|_| rng.unit() - 0.5).collect(),
        average: rng.below(2) == 0,
        less_equal: rng.below(2) == 0,
        f32_inputs: false,
        tree_start: vec![0],
        category_offsets: vec![0],
        category_truncate_first: false,
        ..Default::default()
    };
    // Real models never mix vector-leaf and single-output trees.
    let vector = k > 1 && rng.below(2) == 0;
    for t in 0..trees {
        parts
            .tree_output
            .push(if vector { -1 } else { (t % k) as i64 });
        let width = if vector { k } else { 1 };
        // Breadth-first build with local indices.
        let start = parts.feature.len();
        let mut queue = vec![(0usize, 0usize)]; // (local id, depth)
        let mut nodes: Vec<(i64, f64, i64, i64, bool)> = vec![(0, 0.0, -1, -1, false)];
        let mut qi = 0;
        while qi < queue.len() {
            let (id, d) = queue[qi];
            qi += 1;
            let split = d < depth && (d == 0 || rng.below(5) != 0);
            if split {
                let l = nodes.len() as i64;
                nodes.push((0, 0.0, -1, -1, false));
                nodes.push((0, 0.0, -1, -1, false));
                nodes[id] = (
                    rng.below(p) as i64,
                    rng.below(3) as f64 + 0.5,
                    l,
                    l + 1,
                    rng.below(2) == 0,
                );
                queue.push((l as usize, d + 1));
                queue.push((l as usize + 1, d + 1));
            } else {
                nodes[id] = (-1, 0.0, -1, -1, false);
            }
        }
        for (f, th, l, r, dl) in nodes {
            parts.feature.push(f);
            parts.threshold.push(th);
            parts.left.push(l);
            parts.right.push(r);
            parts.default_left.push(dl);
            parts.missing.push(0);
            parts.cover.push(1.0);
            parts.category_set.push(-1);
            for _ in 0..width {
                parts.values.push(rng.unit() * 2.0 - 1.0);
            }
        }
        let _ = start;
        parts.tree_start.push(parts.feature.len());
    }
    Forest::new(parts).unwrap()
}

pub fn random_rows(rng: &mut Rng, n: usize, p: usize) -> Array2<f64> {
    Array2::from_shape_fn((n, p), |_| {
        let v = rng.below(5);
        if v == 4 {
            f64::NAN
        } else {
            v as f64
        }
    })
}

pub fn margin(forest: &Forest, row: &[f64]) -> Vec<f64> {
    let x = Array2::from_shape_vec((1, row.len()), row.to_vec()).unwrap();
    crate::predict::predict(forest, x.view(), 1, &Silent)
        .unwrap()
        .row(0)
        .to_vec()
}
