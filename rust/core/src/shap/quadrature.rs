//! Gauss-Legendre quadrature on [0, 1], exact for polynomials of degree up to `2m - 1`.
//!
//! The Shapley value of one leaf's product game is the integral over [0, 1] of a polynomial of
//! degree (unique path features - 1); `m = ceil(features / 2)` nodes integrate it exactly.

/// Nodes and weights of the `m`-point rule on [0, 1] (weights sum to 1).
#[derive(Debug, Clone)]
pub struct Rule {
    pub nodes: Vec<f64>,
    pub weights: Vec<f64>,
}

/// Legendre polynomial P_m(x) and its derivative, by the three-term recurrence.
fn legendre(m: usize, x: f64) -> (f64, f64) {
    let (mut p0, mut p1) = (1.0, x);
    if m == 0 {
        return (1.0, 0.0);
    }
    for k in 2..=m {
        let kf = k as f64;
        let p2 = ((2.0 * kf - 1.0) * x * p1 - (kf - 1.0) * p0) / kf;
        p0 = p1;
        p1 = p2;
    }
    // P'_m(x) = m (x P_m - P_{m-1}) / (x^2 - 1); the roots are strictly inside (-1, 1).
    let d = m as f64 * (x * p1 - p0) / (x * x - 1.0);
    (p1, d)
}

/// The `m`-point Gauss-Legendre rule mapped to [0, 1]; `m >= 1`.
pub fn gauss_legendre(m: usize) -> Rule {
    let m = m.max(1);
    let mut nodes = vec![0.0; m];
    let mut weights = vec![0.0; m];
    for i in 0..m.div_ceil(2) {
        // Tricomi's initial guess, then Newton on P_m.
        let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (m as f64 + 0.5)).cos();
        for _ in 0..100 {
            let (p, d) = legendre(m, x);
            let dx = p / d;
            x -= dx;
            if dx.abs() < 1e-16 {
                break;
            }
        }
        let (_, d) = legendre(m, x);
        let w = 2.0 / ((1.0 - x * x) * d * d);
        // Symmetric pair on [-1, 1] -> [0, 1].
        nodes[i] = 0.5 * (1.0 - x);
        nodes[m - 1 - i] = 0.5 * (1.0 + x);
        weights[i] = 0.5 * w;
        weights[m - 1 - i] = 0.5 * w;
    }
    Rule { nodes, weights }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrates_monomials_exactly() {
        for m in 1..=40 {
            let r = gauss_legendre(m);
            for deg in 0..(2 * m) {
                let got: f64 = r
                    .nodes
                    .iter()
                    .zip(&r.weights)
                    .map(|(t, w)| w * t.powi(deg as i32))
                    .sum();
                let want = 1.0 / (deg as f64 + 1.0);
                assert!(
                    (got - want).abs() < 1e-14 * want.max(1e-3) * 100.0,
                    "m={m} deg={deg} got={got} want={want}"
                );
            }
            assert!(r.nodes.iter().all(|&t| t > 0.0 && t < 1.0));
        }
    }
}
