//! What a row score means: its rarity under normal data (docs/mvad.md "Calibration").
//!
//! A raw score has no unit of its own (faithful errors live in `[0, e − 1]`, standardised
//! ones are unbounded), so [`ScoreCalibration`] maps it to the probability that a normal
//! row scores at least as high. The body of the distribution is the empirical CDF of
//! calibration scores (rows the optimiser never trained on); above the 80th percentile a
//! generalised Pareto tail (peaks over threshold, as SPOT) extrapolates past the largest
//! calibration score.
//!
//! The tail is fitted from three quantiles (80th, 90th, 95th), not from the largest scores:
//! the top rows of the calibration may be an attack that happened inside the training
//! window, whose size must not widen the tail that is meant to describe normal traffic (it
//! moves the quantiles only by the ranks it takes; training also sets such rows aside before
//! the final fit, see `HeldOut` in train.rs). Pickands'
//! quantile estimator gives the shape ξ, clamped to `[0, 0.5]`: never a finite endpoint
//! (a score past it would be "impossible"), never a tail so heavy that nothing is rare.

use serde::{Deserialize, Serialize};

/// Share of calibration rows above the tail's threshold `u` (the 80th percentile).
pub const TAIL_SHARE: f64 = 0.2;
/// Levels of the stored body quantiles: 0, 0.05, …, 0.80.
const BODY_STEP: f64 = 0.05;
/// Shape bounds of the tail.
const XI_MIN: f64 = 0.0;
const XI_MAX: f64 = 0.5;
/// Smallest tail scale, relative to the spread of the body (or absolute when that is 0).
const SIGMA_FLOOR: f64 = 1e-9;

/// The map from a raw row score to its tail probability under normal data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreCalibration {
    /// Score quantiles at levels 0, 0.05, …, 0.80 (17 values, non-decreasing); the last one
    /// is the tail threshold `u`.
    pub body: Vec<f64>,
    /// Tail scale σ (> 0).
    pub sigma: f64,
    /// Tail shape ξ in `[0, 0.5]` (0: exponential tail).
    pub xi: f64,
    /// Rows the calibration was fitted on.
    pub rows: usize,
    /// Rows left out as contaminated (see `fit` in train.rs).
    #[serde(default)]
    pub excluded: usize,
}

/// Empirical quantile by linear interpolation between order statistics.
fn quantile(sorted: &[f64], level: f64) -> f64 {
    let pos = level.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Pickands' estimator for a generalised Pareto excess, from its quantiles at two levels whose
/// tail shares halve: `y_half` (the excess over the threshold at half the tail share) and
/// `y_quarter` (at a quarter), `y(1/4) / y(1/2) = 2^ξ + 1`. Returns ξ clamped to `[0, 0.5]`
/// (0 when `y_half` is not positive) and the scale σ (no floor).
pub(crate) fn pickands(y_half: f64, y_quarter: f64) -> (f64, f64) {
    let xi = if y_half > 0.0 {
        ((y_quarter / y_half - 1.0).max(1e-12))
            .log2()
            .clamp(XI_MIN, XI_MAX)
    } else {
        0.0
    };
    let factor = if xi > 1e-9 {
        xi / (2f64.powf(xi) - 1.0)
    } else {
        1.0 / std::f64::consts::LN_2
    };
    (xi, y_half * factor)
}

/// Survival of a generalised Pareto excess at `z` scale units above its threshold.
pub(crate) fn gpd_survival(z: f64, xi: f64) -> f64 {
    if xi > 1e-9 {
        (1.0 + xi * z).powf(-1.0 / xi)
    } else {
        (-z).exp()
    }
}

impl ScoreCalibration {
    /// Fits the map to normal scores (non-finite ones are ignored). `None` when fewer than
    /// two finite scores are given.
    pub fn fit(scores: &[f64]) -> Option<Self> {
        let mut s: Vec<f64> = scores.iter().copied().filter(|v| v.is_finite()).collect();
        if s.len() < 2 {
            return None;
        }
        s.sort_by(f64::total_cmp);
        let at = |level: f64| quantile(&s, level);
        let mut cal = Self::from_quantiles(|level| Some(at(level)), at(0.90), at(0.95), s.len())?;
        cal.rows = s.len();
        Some(cal)
    }

    /// From quantiles alone: `at(level)` for the body levels, and the 90th and 95th
    /// percentiles that shape the tail. Models trained before calibration was stored build
    /// theirs from their training-score quantiles this way.
    pub fn from_quantiles(
        at: impl Fn(f64) -> Option<f64>,
        q90: f64,
        q95: f64,
        rows: usize,
    ) -> Option<Self> {
        let levels = (0..=16).map(|i| i as f64 * BODY_STEP);
        let mut body = Vec::with_capacity(17);
        for level in levels {
            let v = at(level)?;
            if !v.is_finite() {
                return None;
            }
            // Non-decreasing even when the stored quantiles were not.
            body.push(body.last().map_or(v, |&last: &f64| v.max(last)));
        }
        let u = *body.last().expect("17 levels");
        let spread = (u - body[0]).abs();
        let y50 = (q90 - u).max(0.0);
        let y75 = (q95 - u).max(y50);
        let (xi, scale) = pickands(y50, y75);
        let sigma = scale.max(SIGMA_FLOOR * spread.max(1.0));
        Some(Self {
            body,
            sigma,
            xi,
            rows,
            excluded: 0,
        })
    }

    /// The tail threshold `u` (the 80th percentile).
    pub fn tail_threshold(&self) -> f64 {
        *self.body.last().unwrap_or(&0.0)
    }

    /// Probability that a normal row scores at least `score` (NaN and −∞ → 1, +∞ → 0).
    pub fn tail_probability(&self, score: f64) -> f64 {
        if score.is_nan() || score == f64::NEG_INFINITY {
            return 1.0;
        }
        if score == f64::INFINITY {
            return 0.0;
        }
        let u = self.tail_threshold();
        if score > u {
            return TAIL_SHARE * gpd_survival((score - u) / self.sigma, self.xi);
        }
        // Body: the empirical CDF between stored quantiles (levels 0, 0.05, …, 0.8).
        let body = &self.body;
        if score < body[0] {
            return 1.0;
        }
        let i = body.partition_point(|&q| q <= score).min(body.len() - 1);
        let (lo, hi) = (body[i - 1], body[i]);
        let within = if hi > lo {
            (score - lo) / (hi - lo)
        } else {
            1.0
        };
        let cdf = ((i - 1) as f64 + within) * BODY_STEP;
        (1.0 - cdf).clamp(TAIL_SHARE, 1.0)
    }

    /// `anomaly_score`: `1 − tail_probability`, so a threshold of 0.99 is reached by one
    /// normal row in a hundred.
    pub fn anomaly_score(&self, score: f64) -> f64 {
        1.0 - self.tail_probability(score)
    }

    /// The raw score whose `anomaly_score` is `level` (the inverse map), for reports.
    pub fn score_at(&self, level: f64) -> f64 {
        let p = (1.0 - level).clamp(0.0, 1.0);
        if p <= TAIL_SHARE {
            if p == 0.0 {
                return f64::INFINITY;
            }
            let r = p / TAIL_SHARE;
            let z = if self.xi > 1e-9 {
                (r.powf(-self.xi) - 1.0) / self.xi
            } else {
                -r.ln()
            };
            return self.tail_threshold() + self.sigma * z;
        }
        let pos = (1.0 - p) / BODY_STEP;
        let lo = (pos.floor() as usize).min(self.body.len() - 1);
        let hi = (lo + 1).min(self.body.len() - 1);
        self.body[lo] + (self.body[hi] - self.body[lo]) * (pos - lo as f64)
    }

    /// Checks a stored calibration; the text says what is wrong.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.body.len() != 17 {
            return Err(format!(
                "`calibration.body` must hold 17 quantiles, found {}",
                self.body.len()
            ));
        }
        if self.body.iter().any(|v| !v.is_finite()) || self.body.windows(2).any(|w| w[1] < w[0]) {
            return Err("`calibration.body` must be finite and non-decreasing".into());
        }
        if !(self.sigma.is_finite() && self.sigma > 0.0) {
            return Err(format!(
                "`calibration.sigma` {} is not positive",
                self.sigma
            ));
        }
        if !(XI_MIN..=XI_MAX).contains(&self.xi) {
            return Err(format!(
                "`calibration.xi` {} is outside [{XI_MIN}, {XI_MAX}]",
                self.xi
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn exponential(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| -(1.0 - rng.gen_range(0.0..1.0f64)).ln())
            .collect()
    }

    #[test]
    fn rarity_matches_the_distribution_past_the_largest_score() {
        // Exponential(1): P(S ≥ s) = e^{−s}. 2,000 rows; the largest is near ln 2000 ≈ 7.6.
        let cal = ScoreCalibration::fit(&exponential(2000, 1)).expect("fits");
        for s in [0.5, 1.0, 2.0, 4.0, 9.0, 12.0] {
            let p = cal.tail_probability(s);
            let truth = (-s).exp();
            assert!(
                (p.ln() - truth.ln()).abs() < 0.45,
                "s={s}: p={p:e} vs {truth:e} ({cal:?})"
            );
        }
        assert!(cal.xi < 0.15, "{cal:?}");
        // Monotone, in [0, 1], and the inverse map agrees.
        let mut last = 0.0;
        for i in 0..200 {
            let a = cal.anomaly_score(i as f64 * 0.1);
            assert!((0.0..=1.0).contains(&a) && a >= last, "{i}");
            last = a;
        }
        for level in [0.3, 0.7, 0.9, 0.99, 0.999] {
            let s = cal.score_at(level);
            assert!((cal.anomaly_score(s) - level).abs() < 1e-9, "{level}");
        }
    }

    #[test]
    fn a_contaminated_top_does_not_widen_the_tail() {
        // 1% of the rows are an attack scoring 1,000× a normal row: it moves the quantiles
        // only by the ranks it takes, never by its size.
        let clean = exponential(1000, 2);
        let mut dirty = clean.clone();
        dirty.iter_mut().take(10).for_each(|v| *v += 1000.0);
        let (a, b) = (
            ScoreCalibration::fit(&clean).expect("clean"),
            ScoreCalibration::fit(&dirty).expect("dirty"),
        );
        // The attack itself still looks like nothing normal.
        assert!(b.anomaly_score(1000.0) > 1.0 - 1e-12, "{b:?}");
        // And the rarity of a rare normal score moves by less than a factor of 2 (the ranks
        // the attack takes), not by orders of magnitude (its size).
        let (pa, pb) = (a.tail_probability(6.0), b.tail_probability(6.0));
        assert!(
            (pa.ln() - pb.ln()).abs() < std::f64::consts::LN_2,
            "{pa:e} vs {pb:e}"
        );
    }

    #[test]
    fn degenerate_inputs() {
        assert!(ScoreCalibration::fit(&[]).is_none());
        assert!(ScoreCalibration::fit(&[f64::NAN, 1.0]).is_none());
        // Constant scores: anything above is rare, anything at or below is not.
        let cal = ScoreCalibration::fit(&[2.0; 50]).expect("fits");
        assert_eq!(cal.tail_probability(2.0), TAIL_SHARE.max(1.0 - 0.8));
        assert!(cal.tail_probability(2.1) < 1e-6);
        assert_eq!(cal.tail_probability(1.0), 1.0);
        assert_eq!(cal.anomaly_score(f64::NAN), 0.0);
        assert_eq!(cal.anomaly_score(f64::INFINITY), 1.0);
        cal.check().expect("valid");
        let bad = ScoreCalibration { xi: 2.0, ..cal };
        assert!(bad.check().expect_err("refused").contains("xi"));
    }
}
