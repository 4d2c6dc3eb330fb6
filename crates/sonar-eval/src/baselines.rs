//! Baseline detectors every evaluation reports next to ours: a seeded random score (what
//! chance gets, and what point adjustment makes of it) and PCA reconstruction error (fit on
//! the standardised training rows; the components that explain at least 90% of the variance
//! are kept). The eigen-decomposition is a small cyclic Jacobi solver: the covariance is at
//! most a few dozen variables wide, so no linear-algebra dependency is needed.

use rand::{Rng, SeedableRng};

/// One uniform `[0, 1)` score per row from a seeded generator.
pub fn random_scores(rows: usize, seed: u64) -> Vec<f64> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..rows).map(|_| rng.gen::<f64>()).collect()
}

// The engine's subspace term is the same PCA, fitted robustly; the two share its axes.
use sonar_mvad::subspace::principal_axes;

/// PCA reconstruction-error detector fit on training rows.
#[derive(Debug, Clone, PartialEq)]
pub struct PcaBaseline {
    mean: Vec<f64>,
    std: Vec<f64>,
    /// Kept components, `k × c` row-major (columns are unit eigenvectors).
    components: Vec<f64>,
    kept: usize,
}

impl PcaBaseline {
    /// Fits on `rows × k` row-major training values (NaN = missing, replaced by the
    /// variable's training mean); keeps the fewest leading components whose eigenvalues
    /// reach `variance` (e.g. 0.9) of the total. A constant variable gets unit scale.
    pub fn fit(values: &[f64], k: usize, variance: f64) -> Self {
        let mut mean = vec![0.0; k];
        let mut count = vec![0usize; k];
        for row in values.chunks_exact(k) {
            for j in 0..k {
                if !row[j].is_nan() {
                    mean[j] += row[j];
                    count[j] += 1;
                }
            }
        }
        for j in 0..k {
            mean[j] /= count[j].max(1) as f64;
        }
        let mut std = vec![0.0; k];
        for row in values.chunks_exact(k) {
            for j in 0..k {
                if !row[j].is_nan() {
                    std[j] += (row[j] - mean[j]).powi(2);
                }
            }
        }
        for j in 0..k {
            let s = (std[j] / count[j].max(1) as f64).sqrt();
            std[j] = if s > 1e-12 { s } else { 1.0 };
        }
        let mut model = Self {
            mean,
            std,
            components: Vec::new(),
            kept: 0,
        };
        let mut z = vec![0.0; k];
        let (components, kept) = principal_axes(k, variance, |add| {
            for row in values.chunks_exact(k) {
                model.standardise(row, &mut z);
                add(&z);
            }
        });
        model.components = components;
        model.kept = kept;
        model
    }

    /// Number of kept components.
    pub fn components(&self) -> usize {
        self.kept
    }

    fn standardise(&self, row: &[f64], out: &mut [f64]) {
        for (j, o) in out.iter_mut().enumerate() {
            *o = if row[j].is_nan() {
                0.0
            } else {
                (row[j] - self.mean[j]) / self.std[j]
            };
        }
    }

    /// Squared reconstruction error of each row of `rows × k` values, in standardised units.
    pub fn scores(&self, values: &[f64]) -> Vec<f64> {
        let k = self.mean.len();
        let c = self.kept;
        let mut z = vec![0.0; k];
        let mut proj = vec![0.0; c];
        values
            .chunks_exact(k)
            .map(|row| {
                self.standardise(row, &mut z);
                for (m, p) in proj.iter_mut().enumerate() {
                    *p = (0..k).map(|j| z[j] * self.components[j * c + m]).sum();
                }
                (0..k)
                    .map(|j| {
                        let back: f64 = (0..c).map(|m| proj[m] * self.components[j * c + m]).sum();
                        (z[j] - back).powi(2)
                    })
                    .sum()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pca_flags_rows_that_break_the_correlation() {
        // Two perfectly correlated variables plus a little independent third: one component
        // explains > 90%... only if the third is small; here it is standardised, so it
        // weighs 1/3 and two components are kept.
        let train: Vec<f64> = (0..200)
            .flat_map(|i| {
                let x = (i as f64 * 0.1).sin();
                [x, 2.0 * x + 1.0, ((i * 7919) % 13) as f64 / 13.0]
            })
            .collect();
        let pca = PcaBaseline::fit(&train, 3, 0.9);
        assert_eq!(pca.components(), 2);
        // A row on the correlation line scores near zero; one off it scores high.
        let s = pca.scores(&[0.5, 2.0, 0.5, 0.5, -1.0, 0.5]);
        assert!(s[0] < 1e-6, "{s:?}");
        assert!(s[1] > 1.0, "{s:?}");
        // With only the correlated pair, one component suffices.
        let pair: Vec<f64> = train.chunks(3).flat_map(|r| [r[0], r[1]]).collect();
        assert_eq!(PcaBaseline::fit(&pair, 2, 0.9).components(), 1);
    }

    #[test]
    fn random_scores_are_seeded() {
        assert_eq!(random_scores(5, 1), random_scores(5, 1));
        assert_ne!(random_scores(5, 1), random_scores(5, 2));
        assert!(random_scores(100, 3).iter().all(|s| (0.0..1.0).contains(s)));
    }
}
