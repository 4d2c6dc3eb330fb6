//! Preprocessing exactly as the reference (docs/mvad.md, "What is faithful"): rows sorted by label,
//! variables sorted by name, missing values filled, min-max normalisation with the statistics
//! of the training split, windows, and the per-variable `pct_weight` heuristic.

use serde::{Deserialize, Serialize};

use crate::error::{MvadError, Result};
use crate::frame::Frame;

/// How missing values (NaN) are filled before anything else happens (reference §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "method", content = "value")]
pub enum FillMethod {
    /// Forward fill, then backward fill for leading gaps.
    Previous,
    /// Backward fill, then forward fill for trailing gaps.
    Subsequent,
    /// Linear interpolation by row position, flat extrapolation at both ends (the default).
    #[default]
    Linear,
    /// Every missing value becomes 0.
    Zero,
    /// Every missing value becomes the given number.
    Fixed(f64),
}

impl FillMethod {
    /// Parses the reference's method names (case-sensitive, as the reference), with `value`
    /// used only by `Fixed`.
    pub fn parse(name: &str, value: f64) -> Result<Self> {
        Ok(match name {
            "Previous" => Self::Previous,
            "Subsequent" => Self::Subsequent,
            "Linear" => Self::Linear,
            "Zero" => Self::Zero,
            "Fixed" => Self::Fixed(value),
            other => {
                return Err(MvadError::InvalidParam {
                    name: "fill_na_method",
                    problem: format!(
                        "`{other}` is not one of Previous, Subsequent, Linear, Zero, Fixed"
                    ),
                })
            }
        })
    }

    /// The reference's name of the method.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Previous => "Previous",
            Self::Subsequent => "Subsequent",
            Self::Linear => "Linear",
            Self::Zero => "Zero",
            Self::Fixed(_) => "Fixed",
        }
    }
}

/// Denominator guard of the min-max normalisation.
pub const NORM_EPS: f64 = 1e-8;
/// Clip bound of normalised values outside training (validation, threshold, inference).
pub const INFER_CLIP: f64 = 1000.0;
/// Shift added before the relative-change ratio of `pct_weight`.
const PCT_SHIFT: f64 = 1e-4;
/// A variable whose mean rolling-max relative change exceeds this is "jumpy".
const PCT_JUMPY: f64 = 1.9;

/// A frame after sorting and filling: what the model sees, before normalisation.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Variable names in sorted (byte) order.
    pub names: Vec<String>,
    /// Row labels, sorted.
    pub index: Vec<String>,
    /// Filled values, row-major `n × k`, columns in `names` order.
    pub values: Vec<f64>,
    /// Positions `(row, column)` that were missing before filling.
    pub filled: Vec<(usize, usize)>,
}

impl Prepared {
    /// Number of variables.
    pub fn k(&self) -> usize {
        self.names.len()
    }

    /// Number of rows.
    pub fn n(&self) -> usize {
        self.index.len()
    }
}

/// Column order of `frame` sorted by name: `order[j]` is the frame column of sorted variable j.
fn sorted_columns(frame: &Frame) -> Vec<usize> {
    let mut order: Vec<usize> = (0..frame.n_cols()).collect();
    order.sort_by(|&a, &b| frame.columns()[a].cmp(&frame.columns()[b]));
    order
}

/// Sorts rows by label and columns by name, then fills missing values with `fill`.
pub fn prepare(frame: &Frame, fill: FillMethod) -> Prepared {
    let cols = sorted_columns(frame);
    let mut rows: Vec<usize> = (0..frame.n_rows()).collect();
    rows.sort_by(|&a, &b| frame.index()[a].cmp(&frame.index()[b]));
    let (n, k) = (rows.len(), cols.len());
    let mut values = vec![0.0; n * k];
    let mut filled = Vec::new();
    let mut column = vec![0.0; n];
    for (j, &c) in cols.iter().enumerate() {
        for (i, &r) in rows.iter().enumerate() {
            column[i] = frame.value(r, c);
        }
        for (i, v) in column.iter().enumerate() {
            if v.is_nan() {
                filled.push((i, j));
            }
        }
        fill_column(&mut column, fill);
        for i in 0..n {
            values[i * k + j] = column[i];
        }
    }
    filled.sort_unstable();
    Prepared {
        names: cols.iter().map(|&c| frame.columns()[c].clone()).collect(),
        index: rows.iter().map(|&r| frame.index()[r].clone()).collect(),
        values,
        filled,
    }
}

/// Fills the NaNs of one series in place; whatever is still missing afterwards (an all-NaN
/// series) becomes 0, as in the reference.
pub fn fill_column(x: &mut [f64], fill: FillMethod) {
    let valid: Vec<usize> = (0..x.len()).filter(|&i| !x[i].is_nan()).collect();
    if valid.is_empty() || valid.len() == x.len() {
        x.iter_mut().filter(|v| v.is_nan()).for_each(|v| *v = 0.0);
        return;
    }
    match fill {
        FillMethod::Linear => {
            // np.interp by row position: flat outside the known points.
            let (first, last) = (valid[0], valid[valid.len() - 1]);
            let (y_first, y_last) = (x[first], x[last]);
            x[..first].iter_mut().for_each(|v| *v = y_first);
            x[last + 1..].iter_mut().for_each(|v| *v = y_last);
            for pair in valid.windows(2) {
                let (a, b) = (pair[0], pair[1]);
                if b == a + 1 {
                    continue;
                }
                let (ya, yb) = (x[a], x[b]);
                let slope = (yb - ya) / (b - a) as f64;
                for (i, v) in x.iter_mut().enumerate().take(b).skip(a + 1) {
                    *v = slope * (i - a) as f64 + ya;
                }
            }
        }
        FillMethod::Previous => {
            forward_fill(x);
            backward_fill(x);
        }
        FillMethod::Subsequent => {
            backward_fill(x);
            forward_fill(x);
        }
        FillMethod::Fixed(value) => x.iter_mut().filter(|v| v.is_nan()).for_each(|v| *v = value),
        FillMethod::Zero => {}
    }
    x.iter_mut().filter(|v| v.is_nan()).for_each(|v| *v = 0.0);
}

fn forward_fill(x: &mut [f64]) {
    let mut last = f64::NAN;
    for v in x.iter_mut() {
        if v.is_nan() {
            *v = last;
        } else {
            last = *v;
        }
    }
}

fn backward_fill(x: &mut [f64]) {
    let mut next = f64::NAN;
    for v in x.iter_mut().rev() {
        if v.is_nan() {
            *v = next;
        } else {
            next = *v;
        }
    }
}

/// Per-variable min-max statistics of the training split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalizer {
    /// Minimum of each variable over the training rows.
    pub min_values: Vec<f64>,
    /// Maximum of each variable over the training rows.
    pub max_values: Vec<f64>,
}

impl Normalizer {
    /// Statistics of the first `rows` rows of `values` (`n × k`, row-major).
    pub fn fit(values: &[f64], k: usize, rows: usize) -> Self {
        let mut min_values = vec![f64::INFINITY; k];
        let mut max_values = vec![f64::NEG_INFINITY; k];
        for row in values[..rows * k].chunks_exact(k) {
            for j in 0..k {
                min_values[j] = min_values[j].min(row[j]);
                max_values[j] = max_values[j].max(row[j]);
            }
        }
        Self {
            min_values,
            max_values,
        }
    }

    /// Number of variables.
    pub fn k(&self) -> usize {
        self.min_values.len()
    }

    /// Normalises `n × k` values into float32, clipped to `[lo, hi]`.
    pub fn apply(&self, values: &[f64], lo: f64, hi: f64) -> Vec<f32> {
        let k = self.k();
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let j = i % k;
                let (mn, mx) = (self.min_values[j], self.max_values[j]);
                ((v - mn) / (mx - mn + NORM_EPS)).clamp(lo, hi) as f32
            })
            .collect()
    }

    /// Maps a normalised value of variable `j` back to the data's scale.
    pub fn denormalize(&self, j: usize, x: f64) -> f64 {
        let (mn, mx) = (self.min_values[j], self.max_values[j]);
        x * (mx - mn + NORM_EPS) + mn
    }
}

/// Rows `ends` of `n × k` row-major values, concatenated: the targets, in the data's units,
/// of the windows ending there.
pub fn rows_at(values: &[f64], k: usize, ends: &[usize]) -> Vec<f64> {
    ends.iter()
        .flat_map(|&e| values[e * k..(e + 1) * k].iter().copied())
        .collect()
}

/// End rows (the forecast targets) of the windows over `n` rows: `W, W+stride, …`, keeping
/// `⌊(n − W) / stride⌋` of them, as the reference's dataset does.
pub fn window_ends(n: usize, w: usize, stride: usize) -> Vec<usize> {
    let count = n.saturating_sub(w) / stride;
    (0..count).map(|j| w + j * stride).collect()
}

/// Gathers windows from a normalised series (`n × k`, row-major): inputs `[B, W, k]` (rows
/// `end − W .. end`) and targets `[B, k]` (row `end`), both flattened.
pub fn gather_windows(series: &[f32], k: usize, w: usize, ends: &[usize]) -> (Vec<f32>, Vec<f32>) {
    let mut x = Vec::with_capacity(ends.len() * w * k);
    let mut y = Vec::with_capacity(ends.len() * k);
    for &e in ends {
        x.extend_from_slice(&series[(e - w) * k..e * k]);
        y.extend_from_slice(&series[e * k..(e + 1) * k]);
    }
    (x, y)
}

/// The reference's per-variable weights, computed on the RAW (unfilled) frame in its given
/// row order with columns sorted by name. Returns the weights and the per-variable mean of
/// the rolling maxima (`None` where no NaN-free window of `l` rows exists).
pub fn pct_weight(frame: &Frame, l: usize) -> (Vec<f64>, Vec<Option<f64>>) {
    let cols = sorted_columns(frame);
    let n = frame.n_rows();
    let k = cols.len();
    let mut raw = vec![None; k];
    let mut s = vec![0.0; n];
    let mut r = vec![f64::NAN; n];
    for (j, &c) in cols.iter().enumerate() {
        for (i, v) in s.iter_mut().enumerate() {
            *v = frame.value(i, c) + PCT_SHIFT;
        }
        for i in 0..n {
            let prev = if i > 0 {
                (s[i - 1] / s[i] - 1.0).abs()
            } else {
                f64::NAN
            };
            let next = if i + 1 < n {
                (s[i + 1] / s[i] - 1.0).abs()
            } else {
                f64::NAN
            };
            // numpy's maximum and clip propagate NaN.
            r[i] = if prev.is_nan() || next.is_nan() {
                f64::NAN
            } else {
                prev.max(next).clamp(0.0, 2.0)
            };
        }
        if n < l || l == 0 {
            continue;
        }
        raw[j] = mean_rolling_max(&r, l);
    }
    let jumpy = raw
        .iter()
        .filter(|p| p.is_some_and(|p| p > PCT_JUMPY))
        .count();
    let weights = raw
        .iter()
        .map(|p| {
            if p.is_some_and(|p| p > PCT_JUMPY) {
                jumpy as f64 / k as f64
            } else {
                1.0
            }
        })
        .collect();
    (weights, raw)
}

/// Mean over every NaN-free window of `l` values of the window's maximum.
fn mean_rolling_max(r: &[f64], l: usize) -> Option<f64> {
    let mut deque: std::collections::VecDeque<usize> = std::collections::VecDeque::new();
    let mut nans = 0usize;
    let (mut sum, mut count) = (0.0, 0usize);
    for i in 0..r.len() {
        if r[i].is_nan() {
            nans += 1;
        } else {
            while deque.back().is_some_and(|&b| r[b] <= r[i]) {
                deque.pop_back();
            }
            deque.push_back(i);
        }
        if i >= l {
            if r[i - l].is_nan() {
                nans -= 1;
            }
            while deque.front().is_some_and(|&f| f + l <= i) {
                deque.pop_front();
            }
        }
        if i + 1 >= l && nans == 0 {
            if let Some(&f) = deque.front() {
                sum += r[f];
                count += 1;
            }
        }
    }
    (count > 0).then(|| sum / count as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_fill(input: &[f64], fill: FillMethod, expected: &[f64]) {
        let mut x = input.to_vec();
        fill_column(&mut x, fill);
        assert_eq!(x, expected, "{fill:?} on {input:?}");
    }

    #[test]
    fn fill_methods_match_the_reference() {
        let nan = f64::NAN;
        let x = [nan, 1.0, nan, nan, 4.0, nan];
        check_fill(&x, FillMethod::Linear, &[1.0, 1.0, 2.0, 3.0, 4.0, 4.0]);
        check_fill(&x, FillMethod::Previous, &[1.0, 1.0, 1.0, 1.0, 4.0, 4.0]);
        check_fill(&x, FillMethod::Subsequent, &[1.0, 1.0, 4.0, 4.0, 4.0, 4.0]);
        check_fill(&x, FillMethod::Zero, &[0.0, 1.0, 0.0, 0.0, 4.0, 0.0]);
        check_fill(&x, FillMethod::Fixed(7.5), &[7.5, 1.0, 7.5, 7.5, 4.0, 7.5]);
        check_fill(&[nan, nan], FillMethod::Linear, &[0.0, 0.0]);
    }

    #[test]
    fn rolling_max_skips_windows_with_nan() {
        let nan = f64::NAN;
        let r = [nan, 1.0, 3.0, 2.0, 0.5, nan];
        // windows of 2 without NaN: [1,3] [3,2] [2,.5] -> maxima 3, 3, 2
        assert_eq!(mean_rolling_max(&r, 2), Some(8.0 / 3.0));
        assert_eq!(mean_rolling_max(&r, 6), None);
    }

    #[test]
    fn window_ends_use_the_stride() {
        assert_eq!(window_ends(25, 10, 5), vec![10, 15, 20]);
        assert_eq!(window_ends(12, 10, 1), vec![10, 11]);
        assert!(window_ends(9, 10, 1).is_empty());
    }
}
