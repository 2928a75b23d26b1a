//! Where attributions go: one explained row's block of the output.
//!
//! SHAP values are laid out `(p, k)`; interaction values `(p, p, k)`, with the Shapley values
//! gathered on the diagonal while accumulating and the off-diagonal subtracted at the end
//! ([`finish_interactions`]), which is shap's convention: off-diagonal = half the Shapley
//! interaction index, diagonal = `phi_i - sum_{j != i} phi_ij`.

/// One row's output block and how to address it.
pub struct Sink<'a> {
    pub out: &'a mut [f64],
    pub p: usize,
    pub k: usize,
    pub interactions: bool,
}

impl Sink<'_> {
    /// Adds `c * value` to feature `f`'s Shapley value, for the outputs the leaf feeds.
    #[inline]
    pub fn phi(&mut self, f: usize, c: f64, value: &[f64], output: Option<usize>) {
        let base = if self.interactions {
            (f * self.p + f) * self.k
        } else {
            f * self.k
        };
        add(&mut self.out[base..base + self.k], c, value, output);
    }

    /// Adds `index * value / 2` to the pair `(f, g)` and `(g, f)` (`index` is the Shapley
    /// interaction index).
    #[inline]
    pub fn pair(&mut self, f: usize, g: usize, index: f64, value: &[f64], output: Option<usize>) {
        let c = 0.5 * index;
        let fg = (f * self.p + g) * self.k;
        add(&mut self.out[fg..fg + self.k], c, value, output);
        let gf = (g * self.p + f) * self.k;
        add(&mut self.out[gf..gf + self.k], c, value, output);
    }
}

#[inline]
fn add(dst: &mut [f64], c: f64, value: &[f64], output: Option<usize>) {
    match output {
        Some(o) => dst[o] += c * value[0],
        None => {
            for (d, v) in dst.iter_mut().zip(value) {
                *d += c * v;
            }
        }
    }
}

/// Turns accumulated Shapley values on the diagonal into shap's diagonal convention.
pub fn finish_interactions(out: &mut [f64], p: usize, k: usize) {
    for i in 0..p {
        for o in 0..k {
            let mut off = 0.0;
            for j in 0..p {
                if j != i {
                    off += out[(i * p + j) * k + o];
                }
            }
            out[(i * p + i) * k + o] -= off;
        }
    }
}
