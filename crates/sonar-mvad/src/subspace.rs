//! The static part of the score: how far a row lies from the subspace that holds the normal
//! training rows (principal components of the standardised training split, the residual
//! sometimes called the squared prediction error).
//!
//! Why a forecaster needs it (docs/quality.md, "Findings"): a window model judges each row
//! against the rows just before it. After a level shift the window fills with the new level,
//! the forecast follows it, and the error falls back to normal while the fault goes on (SKAB's
//! closed valves, SMAP's stuck telemetry). The subspace does not adapt: a row whose variables
//! no longer relate as they did in training stays far from it for as long as the fault lasts.
//!
//! Fit: each variable standardised by its training mean and standard deviation (a constant
//! variable gets unit scale, so its first change counts one unit; the 1% of rows farthest
//! from the mean are left out, see [`Subspace::fit`]), the covariance
//! decomposed by cyclic Jacobi rotations (at most a few hundred variables: no
//! linear-algebra dependency), and the fewest leading components kept whose eigenvalues
//! reach [`KEPT_VARIANCE`] of the total. A row's residual is what those components do not
//! explain; [`Subspace::residuals`] gives it per variable, divided by `scale` (the mean
//! residual per variable on held-out rows, measured after the fit) so that a normal row's
//! terms average about 1, like the standardised forecast errors they are added to.

use serde::{Deserialize, Serialize};

/// Share of the standardised training variance the kept components explain.
pub const KEPT_VARIANCE: f64 = 0.9;

/// Share of the training rows farthest from the mean left out of the fit (contamination).
pub const TRIMMED_SHARE: f64 = 0.01;

/// Jacobi sweeps at most (each zeroes every off-diagonal pair once; a few dozen suffice).
const MAX_SWEEPS: usize = 100;

/// Principal subspace of the standardised training rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subspace {
    /// Training mean of each variable, in the data's units.
    pub mean: Vec<f64>,
    /// Training standard deviation of each variable (1 for a constant one).
    pub std: Vec<f64>,
    /// Kept components, `[k, kept]` row-major: column `c` is a unit eigenvector.
    pub components: Vec<f64>,
    /// Number of kept components.
    pub kept: usize,
    /// Mean squared residual per variable on held-out rows: what [`Subspace::residuals`]
    /// divides by (1 until measured).
    pub scale: f64,
}

impl Subspace {
    /// Fits on `rows × k` row-major values in the data's units (NaN = missing: left out of
    /// the mean and deviation, then standardised to 0). `None` without rows or variables.
    ///
    /// Robust to a small contaminated share: a first fit of the moments finds the
    /// [`TRIMMED_SHARE`] of rows farthest from the mean (an incident inside the training
    /// window, whose thousands of alerts would otherwise become a component of "normal"), and
    /// the subspace is fitted on the others.
    pub fn fit(values: &[f64], k: usize, variance: f64) -> Option<Self> {
        let rows = values.len() / k.max(1);
        if k == 0 || rows == 0 {
            return None;
        }
        let all = vec![true; rows];
        let first = Self::moments(values, k, &all);
        let mut z = vec![0.0; k];
        let distance: Vec<f64> = values
            .chunks_exact(k)
            .map(|row| {
                first.standardise(row, &mut z);
                z.iter().map(|v| v * v).sum()
            })
            .collect();
        let mut sorted = distance.clone();
        sorted.sort_by(f64::total_cmp);
        let trimmed = (rows as f64 * TRIMMED_SHARE) as usize;
        let cut = sorted[rows - 1 - trimmed.min(rows - 1)];
        let keep: Vec<bool> = distance.iter().map(|&d| d <= cut).collect();
        let mut model = Self::moments(values, k, &keep);
        let (components, kept) = principal_axes(k, variance, |add| {
            for (row, _) in values.chunks_exact(k).zip(&keep).filter(|(_, &k)| k) {
                model.standardise(row, &mut z);
                add(&z);
            }
        });
        model.components = components;
        model.kept = kept;
        Some(model)
    }

    /// Mean and deviation of each variable over the rows with `keep[row]`, no components.
    fn moments(values: &[f64], k: usize, keep: &[bool]) -> Self {
        let mut mean = vec![0.0; k];
        let mut count = vec![0usize; k];
        let kept_rows = || values.chunks_exact(k).zip(keep).filter(|(_, &k)| k);
        for (row, _) in kept_rows() {
            for (j, &v) in row.iter().enumerate() {
                if !v.is_nan() {
                    mean[j] += v;
                    count[j] += 1;
                }
            }
        }
        mean.iter_mut()
            .zip(&count)
            .for_each(|(m, &c)| *m /= c.max(1) as f64);
        let mut std = vec![0.0; k];
        for (row, _) in kept_rows() {
            for (j, &v) in row.iter().enumerate() {
                if !v.is_nan() {
                    std[j] += (v - mean[j]).powi(2);
                }
            }
        }
        for (s, &c) in std.iter_mut().zip(&count) {
            let d = (*s / c.max(1) as f64).sqrt();
            *s = if d > 1e-12 && d.is_finite() { d } else { 1.0 };
        }
        Self {
            mean,
            std,
            components: Vec::new(),
            kept: 0,
            scale: 1.0,
        }
    }

    /// Number of variables.
    pub fn k(&self) -> usize {
        self.mean.len()
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

    /// The squared residual of each variable of each row of `rows × k` values, divided by
    /// `scale`: `[rows, k]`. Their sum over a row is the row's squared distance from the
    /// subspace, in standardised units.
    pub fn residuals(&self, values: &[f64]) -> Vec<f64> {
        let k = self.k();
        let c = self.kept;
        let mut z = vec![0.0; k];
        let mut proj = vec![0.0; c];
        let mut out = Vec::with_capacity(values.len());
        for row in values.chunks_exact(k) {
            self.standardise(row, &mut z);
            for (m, p) in proj.iter_mut().enumerate() {
                *p = (0..k).map(|j| z[j] * self.components[j * c + m]).sum();
            }
            out.extend((0..k).map(|j| {
                let back: f64 = (0..c).map(|m| proj[m] * self.components[j * c + m]).sum();
                (z[j] - back).powi(2) / self.scale
            }));
        }
        out
    }

    /// Sets `scale` to the mean squared residual per variable of the rows `values` with
    /// `keep[row]` (held-out rows, contamination left out), floored so that a subspace that
    /// explains the held-out rows perfectly does not divide by zero.
    pub fn measure_scale(&mut self, values: &[f64], keep: &[bool]) {
        let k = self.k();
        self.scale = 1.0;
        let residuals = self.residuals(values);
        let (mut sum, mut rows) = (0.0, 0usize);
        for (row, _) in residuals
            .chunks_exact(k)
            .zip(keep)
            .filter(|(_, &keep)| keep)
        {
            let s: f64 = row.iter().sum();
            if s.is_finite() {
                sum += s / k as f64;
                rows += 1;
            }
        }
        self.scale = if rows == 0 {
            1.0
        } else {
            (sum / rows as f64).max(SCALE_FLOOR)
        };
    }

    /// Checks stored values; the text says what is wrong.
    pub fn check(&self, k: usize) -> Result<(), String> {
        let finite = |v: &[f64]| v.iter().all(|x| x.is_finite());
        if self.mean.len() != k || self.std.len() != k {
            return Err(format!(
                "`subspace` must hold {k} means and deviations, found {} and {}",
                self.mean.len(),
                self.std.len()
            ));
        }
        if self.kept > k || self.components.len() != k * self.kept {
            return Err(format!(
                "`subspace` keeps {} components of {k} variables but stores {} numbers",
                self.kept,
                self.components.len()
            ));
        }
        let positive = |v: f64| v.is_finite() && v > 0.0;
        let ok = finite(&self.mean)
            && finite(&self.components)
            && self.std.iter().all(|s| positive(*s))
            && positive(self.scale);
        if !ok {
            return Err("`subspace` holds a non-finite number or a non-positive scale".into());
        }
        Ok(())
    }
}

/// Smallest held-out mean squared residual per variable (standardised units).
const SCALE_FLOOR: f64 = 1e-6;

/// The principal axes of the rows that `rows` hands to its callback (already standardised,
/// `k` values each): the leading eigenvectors of their covariance (divided by `n − 1`) that
/// together hold at least `variance` of the total, as a row-major `k × kept` matrix, and
/// `kept` (1 when the rows do not vary at all). Shared by the subspace term and the PCA
/// baseline of the evaluation tooling.
pub fn principal_axes(
    k: usize,
    variance: f64,
    rows: impl FnOnce(&mut dyn FnMut(&[f64])),
) -> (Vec<f64>, usize) {
    let mut cov = vec![0.0; k * k];
    let mut n = 0usize;
    rows(&mut |z: &[f64]| {
        n += 1;
        for i in 0..k {
            for j in i..k {
                cov[i * k + j] += z[i] * z[j];
            }
        }
    });
    for i in 0..k {
        for j in i..k {
            cov[i * k + j] /= n.max(2) as f64 - 1.0;
            cov[j * k + i] = cov[i * k + j];
        }
    }
    let (eigenvalues, vectors) = symmetric_eigen(&cov, k);
    let total: f64 = eigenvalues.iter().map(|v| v.max(0.0)).sum();
    let mut kept = 0;
    let mut acc = 0.0;
    while kept < k && (total <= 0.0 || acc < variance * total) {
        acc += eigenvalues[kept].max(0.0);
        kept += 1;
        if total <= 0.0 {
            break;
        }
    }
    let components = (0..k)
        .flat_map(|r| (0..kept).map(move |c| (r, c)))
        .map(|(r, c)| vectors[r * k + c])
        .collect();
    (components, kept)
}

/// Eigen-decomposition of a symmetric `k × k` matrix (row-major) by cyclic Jacobi
/// rotations: eigenvalues in descending order, and the matching unit eigenvectors as the
/// columns of a row-major `k × k` matrix.
pub fn symmetric_eigen(matrix: &[f64], k: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = matrix.to_vec();
    let mut v = vec![0.0; k * k];
    for i in 0..k {
        v[i * k + i] = 1.0;
    }
    let scale: f64 = a
        .iter()
        .map(|x| x * x)
        .sum::<f64>()
        .sqrt()
        .max(f64::MIN_POSITIVE);
    for _sweep in 0..MAX_SWEEPS {
        let off: f64 = (0..k)
            .flat_map(|i| (0..k).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * k + j] * a[i * k + j])
            .sum::<f64>()
            .sqrt();
        if off <= 1e-14 * scale {
            break;
        }
        for p in 0..k {
            for q in p + 1..k {
                let apq = a[p * k + q];
                if apq.abs() <= 1e-300 {
                    continue;
                }
                // The rotation angle that zeroes a[p][q].
                let theta = (a[q * k + q] - a[p * k + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for r in 0..k {
                    let (arp, arq) = (a[r * k + p], a[r * k + q]);
                    a[r * k + p] = c * arp - s * arq;
                    a[r * k + q] = s * arp + c * arq;
                }
                for r in 0..k {
                    let (apr, aqr) = (a[p * k + r], a[q * k + r]);
                    a[p * k + r] = c * apr - s * aqr;
                    a[q * k + r] = s * apr + c * aqr;
                }
                for r in 0..k {
                    let (vrp, vrq) = (v[r * k + p], v[r * k + q]);
                    v[r * k + p] = c * vrp - s * vrq;
                    v[r * k + q] = s * vrp + c * vrq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&x, &y| a[y * k + y].total_cmp(&a[x * k + x]));
    let values = order.iter().map(|&i| a[i * k + i]).collect();
    let mut vectors = vec![0.0; k * k];
    for (new, &old) in order.iter().enumerate() {
        for r in 0..k {
            vectors[r * k + new] = v[r * k + old];
        }
    }
    (values, vectors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_eigen(matrix: &[f64], k: usize, want: &[f64]) {
        let (values, vectors) = symmetric_eigen(matrix, k);
        for (g, w) in values.iter().zip(want) {
            assert!(
                (g - w).abs() < 1e-9,
                "eigenvalues {values:?}, want {want:?}"
            );
        }
        // A·v = λ·v for every pair.
        for c in 0..k {
            for r in 0..k {
                let av: f64 = (0..k).map(|j| matrix[r * k + j] * vectors[j * k + c]).sum();
                assert!((av - values[c] * vectors[r * k + c]).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn jacobi_finds_hand_computed_eigenvalues() {
        check_eigen(&[2.0, 1.0, 1.0, 2.0], 2, &[3.0, 1.0]);
        check_eigen(
            &[4.0, 0.0, 0.0, 0.0, 9.0, 0.0, 0.0, 0.0, 1.0],
            3,
            &[9.0, 4.0, 1.0],
        );
        // [[2,-1,0],[-1,2,-1],[0,-1,2]]: 2+√2, 2, 2−√2.
        let r2 = 2f64.sqrt();
        check_eigen(
            &[2.0, -1.0, 0.0, -1.0, 2.0, -1.0, 0.0, -1.0, 2.0],
            3,
            &[2.0 + r2, 2.0, 2.0 - r2],
        );
    }

    /// Two perfectly correlated variables and an independent third.
    fn correlated(rows: usize) -> Vec<f64> {
        (0..rows)
            .flat_map(|i| {
                let x = (i as f64 * 0.1).sin();
                [x, 2.0 * x + 1.0, ((i * 7919) % 13) as f64 / 13.0]
            })
            .collect()
    }

    #[test]
    fn rows_that_break_the_correlation_lie_far_from_the_subspace() {
        // Standardised, the third variable weighs 1/3 of the variance: two components.
        let s = Subspace::fit(&correlated(200), 3, KEPT_VARIANCE).expect("rows");
        assert_eq!(s.kept, 2);
        let r = s.residuals(&[0.5, 2.0, 0.5, 0.5, -1.0, 0.5]);
        let on: f64 = r[..3].iter().sum();
        let off: f64 = r[3..].iter().sum();
        assert!(on < 1e-6, "{r:?}");
        assert!(off > 1.0, "{r:?}");
        // The broken pair carries the residual, the independent third none of it.
        assert!(r[3] > 0.4 && r[4] > 0.4 && r[5] < 1e-6, "{r:?}");
    }

    #[test]
    fn the_scale_makes_held_out_residuals_average_one_per_variable() {
        let mut s = Subspace::fit(&correlated(200), 3, 0.999).expect("rows");
        // A little noise off the correlation line: every row has some residual.
        let held: Vec<f64> = correlated(50)
            .chunks(3)
            .enumerate()
            .flat_map(|(i, r)| [r[0] + 0.01 * (i % 3) as f64, r[1], r[2]])
            .collect();
        s.measure_scale(&held, &[true; 50]);
        let mean = s.residuals(&held).iter().sum::<f64>() / held.len() as f64;
        assert!((mean - 1.0).abs() < 1e-9, "{mean}");
        // Rows left out do not count.
        let mut keep = [true; 50];
        keep[1] = false;
        keep[4] = false;
        let before = s.scale;
        s.measure_scale(&held, &keep);
        assert_ne!(s.scale, before);
        assert_eq!(s.check(3), Ok(()));
        s.scale = 0.0;
        assert!(s.check(3).is_err());
    }

    #[test]
    fn an_incident_inside_the_training_rows_does_not_become_normal() {
        // 1% of the rows are an incident far off the correlation line; trimmed, it does not
        // pull a component towards itself, so the same incident later lies far away.
        let mut train = correlated(500);
        for row in [100, 220, 340, 460, 480] {
            train[row * 3..row * 3 + 3].copy_from_slice(&[40.0, -40.0, 0.5]);
        }
        let s = Subspace::fit(&train, 3, KEPT_VARIANCE).expect("rows");
        let incident: f64 = s.residuals(&[40.0, -40.0, 0.5]).iter().sum();
        let normal: f64 = s.residuals(&[0.5, 2.0, 0.5]).iter().sum();
        assert!(
            incident > 1000.0 * normal.max(1e-9),
            "{incident} vs {normal}"
        );
        assert!(incident > 100.0, "{incident}");
    }

    #[test]
    fn a_constant_variable_gets_unit_scale_and_its_change_counts() {
        let train: Vec<f64> = (0..100).flat_map(|i| [i as f64, 5.0]).collect();
        let s = Subspace::fit(&train, 2, KEPT_VARIANCE).expect("rows");
        assert_eq!(s.std[1], 1.0);
        let r = s.residuals(&[50.0, 6.0]);
        assert!((r[1] - 1.0).abs() < 1e-9, "{r:?}");
    }
}
