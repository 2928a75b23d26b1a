//! Weighted means and centred sums of squares that add up across partitions of the rows
//! (Chan, Golub & LeVeque's pairwise update), so that a variance over all rows is the same
//! whether its rows were seen at once or in parts.

/// Per output: the total weight, the weighted mean and the weighted sum of squared deviations
/// from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Moments {
    pub weight: f64,
    pub mean: Vec<f64>,
    pub m2: Vec<f64>,
}

impl Moments {
    /// No rows, `k` outputs.
    pub fn empty(k: usize) -> Moments {
        Moments {
            weight: 0.0,
            mean: vec![0.0; k],
            m2: vec![0.0; k],
        }
    }

    /// The moments of `z` (`n x k`, row-major) with row weights `w`.
    pub fn of(z: &[f64], w: &[f64], k: usize) -> Moments {
        let weight: f64 = w.iter().sum();
        if weight <= 0.0 {
            return Moments::empty(k);
        }
        let mut mean = vec![0.0; k];
        for (i, wi) in w.iter().enumerate() {
            for o in 0..k {
                mean[o] += wi * z[i * k + o];
            }
        }
        mean.iter_mut().for_each(|m| *m /= weight);
        let mut m2 = vec![0.0; k];
        for (i, wi) in w.iter().enumerate() {
            for o in 0..k {
                let d = z[i * k + o] - mean[o];
                m2[o] += wi * d * d;
            }
        }
        Moments { weight, mean, m2 }
    }

    /// Adds the rows summarised by `other`.
    pub fn add(&mut self, other: &Moments) {
        if other.weight <= 0.0 {
            return;
        }
        if self.weight <= 0.0 {
            *self = other.clone();
            return;
        }
        let total = self.weight + other.weight;
        for o in 0..self.mean.len() {
            let delta = other.mean[o] - self.mean[o];
            self.mean[o] += delta * other.weight / total;
            self.m2[o] += other.m2[o] + delta * delta * self.weight * other.weight / total;
        }
        self.weight = total;
    }

    /// Weighted mean of squared deviations, per output (0 without weight).
    pub fn variance(&self) -> Vec<f64> {
        if self.weight <= 0.0 {
            return vec![0.0; self.m2.len()];
        }
        self.m2.iter().map(|m| m / self.weight).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_add_up_to_the_whole() {
        let k = 2;
        let z: Vec<f64> = (0..40)
            .map(|i| ((i * 37) % 11) as f64 * 1e3 + 0.5)
            .collect();
        let w: Vec<f64> = (0..20).map(|i| (i % 4) as f64 * 0.5).collect();
        let whole = Moments::of(&z, &w, k);
        for cut in [0, 1, 7, 20] {
            let mut parts = Moments::of(&z[..cut * k], &w[..cut], k);
            parts.add(&Moments::of(&z[cut * k..], &w[cut..], k));
            assert!((parts.weight - whole.weight).abs() < 1e-12);
            for o in 0..k {
                assert!((parts.mean[o] - whole.mean[o]).abs() <= 1e-12 * whole.mean[o].abs());
                assert!((parts.m2[o] - whole.m2[o]).abs() <= 1e-12 * whole.m2[o].abs());
            }
        }
        assert_eq!(Moments::of(&[], &[], 3).variance(), vec![0.0; 3]);
    }
}
