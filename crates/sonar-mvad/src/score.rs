//! From forecasts to results, exactly as the reference (docs/mvad.md, "What is faithful"): per-variable
//! errors, weighted mean score, the lagged 95th-percentile local threshold with its hard
//! bounds, severity, contribution scores and correlation changes.
//!
//! [`Scoring`] switches on measured improvements (docs/quality.md): standardised
//! per-variable errors, the VAE reconstruction error blended in, and a trailing mean of the
//! row scores. Its default is the improved score; [`Scoring::faithful`] is the reference's.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::error::{MvadError, Result};
use crate::preprocess::Normalizer;

/// Percentile of the local threshold.
const LOCAL_PERCENTILE: f64 = 0.95;
/// A score above `max(HARD_UPPER_FLOOR, θ)` is always anomalous.
const HARD_UPPER_FLOOR: f64 = 0.5;
/// A score below `min(HARD_LOWER_CAP, θ)` is never anomalous.
const HARD_LOWER_CAP: f64 = 0.3;
/// Standardised errors: the training-score quantile above which a row is anomalous whatever
/// its local threshold.
pub const STANDARDISED_UPPER_QUANTILE: f64 = 0.99;
/// Correlation changes kept per variable.
const TOP_CHANGES: usize = 10;

/// Which window the local threshold of a reported row looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ThresholdRule {
    /// The reference's implemented rule: for the r-th reported row, the scores
    /// `s[max(0, r+1−TW) ..= r]` — a window ending TW−1 positions before the judged score.
    #[default]
    Lagged,
    /// The rule the reference's unused method intends: the TW scores ending at the judged one.
    Trailing,
}

/// How one variable contributed to a row's score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contribution {
    /// Variable (column) name.
    pub variable_name: String,
    /// Share of the row's weighted error (sums to 1 over variables; 0 when the row has no
    /// error at all, where the reference gives NaN).
    pub contribution_score: f64,
    /// Change of this variable's feature attention versus its recent average.
    pub correlation_changes: CorrelationChanges,
    /// The observed value (after missing-value filling), in the data's units.
    pub observed: f64,
    /// The forecast, de-normalised to the data's units.
    pub expected: f64,
}

/// The largest changes of one variable's attention to the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorrelationChanges {
    /// Variables whose attention weight changed, by |change| descending.
    pub changed_variables: Vec<String>,
    /// The changes, in the same order.
    pub changed_values: Vec<f64>,
}

/// One scored row, in the reference's output shape plus observed/expected values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowResult {
    /// The input row's label.
    pub index: String,
    /// The reference's decision.
    pub is_anomaly: bool,
    /// The row's score: with [`Scoring::faithful`] the weighted mean forecast error, in
    /// `[0, e − 1]`; with the default scoring the (smoothed) mean standardised error.
    pub score: f64,
    /// When anomalous, `score / (e − 1)` (faithful errors, at most 1) or
    /// `score / (score + θ)` (standardised errors: 0.5 at the model threshold θ); else 0.
    pub severity: f64,
    /// The local threshold the score was compared with.
    pub local_threshold: f64,
    /// Every variable, by contribution descending (ties by variable order).
    pub interpretation: Vec<Contribution>,
}

/// Per-window outputs of the network and the targets, all row-major.
#[derive(Debug, Clone, Default)]
pub struct WindowOutputs {
    /// Forecasts `[M, k]` (normalised scale).
    pub x_pred: Vec<f32>,
    /// Targets `[M, k]` (normalised, clipped to ±1000).
    pub target: Vec<f32>,
    /// Feature attention `[M, k, k]`.
    pub feat_attn: Vec<f32>,
    /// VAE reconstructions of the targets `[M, k]` (normalised scale). The reference
    /// computes and discards them (detection is forecast-only); kept for evaluation.
    pub x_recon: Vec<f32>,
}

/// Weighted per-variable errors `[M, k]`: `pct_weight_j · (exp(min(2|p − y|, 1)) − 1)`.
pub fn weighted_errors(x_pred: &[f32], target: &[f32], pct_weight: &[f64]) -> Vec<f64> {
    let k = pct_weight.len();
    x_pred
        .iter()
        .zip(target)
        .enumerate()
        .map(|(i, (&p, &y))| {
            ((2.0 * (p as f64 - y as f64).abs()).min(1.0).exp() - 1.0) * pct_weight[i % k]
        })
        .collect()
}

/// Row scores: the mean of each row of weighted errors.
pub fn row_scores(werr: &[f64], k: usize) -> Vec<f64> {
    werr.chunks_exact(k)
        .map(|r| r.iter().sum::<f64>() / k as f64)
        .collect()
}

/// The model threshold from training scores: `sorted(s)[⌊level · len⌋]`.
pub fn quantile_threshold(scores: &[f64], level: f64) -> Option<f64> {
    let mut s = scores.to_vec();
    s.sort_by(f64::total_cmp);
    s.get((level * s.len() as f64) as usize).copied()
}

/// `sort(window)[⌊0.95 · len⌋]`.
fn local_percentile(window: &[f64]) -> f64 {
    let mut w = window.to_vec();
    w.sort_by(f64::total_cmp);
    w[((w.len() as f64) * LOCAL_PERCENTILE) as usize]
}

/// The decision rule with the model threshold's hard bounds (faithful errors).
pub fn decide(score: f64, local: f64, model_threshold: f64) -> bool {
    let upper = HARD_UPPER_FLOOR.max(model_threshold);
    let lower = HARD_LOWER_CAP.min(model_threshold);
    decide_within(score, local, lower, upper)
}

/// The decision rule: at least the local threshold and `lower`, or above `upper`.
pub fn decide_within(score: f64, local: f64, lower: f64, upper: f64) -> bool {
    (score >= local && score >= lower) || score > upper
}

/// Severity of a row: `score / (e − 1)` if anomalous.
pub fn severity(score: f64, anomalous: bool) -> f64 {
    if anomalous {
        score / (std::f64::consts::E - 1.0)
    } else {
        0.0
    }
}

/// How a row's per-variable errors are measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The reference's: `pct_weight_j · (exp(min(2|x − y|, 1)) − 1)` on the min-max scale.
    /// It saturates at half the training range, and a variable that was constant in
    /// training saturates at its first change.
    #[default]
    Faithful,
    /// `((x_j − y_j) / σ_j)²` in the data's units, `σ_j` the variable's RMS error on the
    /// held-out training rows ([`ErrorScales`]): unbounded, and each variable measured
    /// against how well it is usually forecast. `pct_weight` is not applied.
    Standardised,
}

/// How forecasts become a row's score: the `scoring` parameter. The default is the best
/// measured (docs/quality.md): standardised errors, half the VAE reconstruction error blended
/// in, a 10-row trailing mean. [`Scoring::faithful`] is the reference's score, bit for bit.
///
/// In a file it is a preset name (`faithful` or its alias `reference`, `improved` or its
/// alias `default`) or a map of the fields below, missing ones taken from the default.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Scoring {
    /// How each variable's error is measured.
    pub error: ErrorKind,
    /// Weight γ of the VAE reconstruction error added to the forecast error (MTAD-GAT's
    /// blend; the reference computes the reconstruction and discards it).
    pub recon_gamma: f64,
    /// Rows of the trailing mean of the row scores (1 = none). Trailing, so a live detector
    /// gives the same scores as a batch.
    pub smooth_rows: usize,
}

impl Default for Scoring {
    fn default() -> Self {
        Self {
            error: ErrorKind::Standardised,
            recon_gamma: 0.5,
            smooth_rows: 10,
        }
    }
}

/// The map form of [`Scoring`] in files: every field optional, unknown ones refused.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ScoringFields {
    error: ErrorKind,
    recon_gamma: f64,
    smooth_rows: usize,
}

impl Default for ScoringFields {
    fn default() -> Self {
        let d = Scoring::default();
        Self {
            error: d.error,
            recon_gamma: d.recon_gamma,
            smooth_rows: d.smooth_rows,
        }
    }
}

/// Preset names of [`Scoring`] in files.
pub const SCORING_PRESETS: &str = "faithful (alias reference) or improved (alias default)";

impl<'de> Deserialize<'de> for Scoring {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Scoring;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(
                    f,
                    "a preset name ({SCORING_PRESETS}) or a map of scoring fields"
                )
            }
            fn visit_str<E: serde::de::Error>(self, name: &str) -> std::result::Result<Scoring, E> {
                Scoring::preset(name).ok_or_else(|| {
                    E::custom(format!(
                        "unknown scoring preset `{name}`, expected {SCORING_PRESETS}"
                    ))
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<Scoring, A::Error> {
                let f =
                    ScoringFields::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(Scoring {
                    error: f.error,
                    recon_gamma: f.recon_gamma,
                    smooth_rows: f.smooth_rows,
                })
            }
        }
        d.deserialize_any(Visit)
    }
}

impl Scoring {
    /// The reference library's score (docs/mvad.md, "What is faithful"), what the golden fixtures hold.
    pub fn faithful() -> Self {
        Self {
            error: ErrorKind::Faithful,
            recon_gamma: 0.0,
            smooth_rows: 1,
        }
    }

    /// A preset by name (see [`SCORING_PRESETS`]).
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "faithful" | "reference" => Some(Self::faithful()),
            "improved" | "default" => Some(Self::default()),
            _ => None,
        }
    }

    /// The reference's score?
    pub fn is_faithful(&self) -> bool {
        *self == Self::faithful()
    }

    /// Checks the values; the error names the field.
    pub fn validate(&self) -> Result<()> {
        if !(self.recon_gamma.is_finite() && self.recon_gamma >= 0.0) {
            return Err(MvadError::InvalidParam {
                name: "scoring.recon_gamma",
                problem: format!("{} is not a non-negative number", self.recon_gamma),
            });
        }
        if self.smooth_rows == 0 {
            return Err(MvadError::InvalidParam {
                name: "scoring.smooth_rows",
                problem: "must be at least 1 (1 = no smoothing)".into(),
            });
        }
        Ok(())
    }

    /// Per-variable errors `[M, k]` of windows `out` whose targets, in the data's units, are
    /// `observed` (`[M, k]`): what a row's score averages and its contributions share.
    /// Standardised errors need `scales` (a model's metadata check guarantees them); without
    /// them the faithful errors are returned.
    pub fn variable_errors(
        &self,
        out: &WindowOutputs,
        observed: &[f64],
        pct_weight: &[f64],
        norm: &Normalizer,
        scales: Option<&ErrorScales>,
    ) -> Vec<f64> {
        let gamma = self.recon_gamma;
        let with_recon = gamma > 0.0 && out.x_recon.len() == out.x_pred.len();
        match (self.error, scales) {
            (ErrorKind::Standardised, Some(scales)) => {
                let k = norm.k();
                let z = |x: &[f32], scale: &[f64], i: usize| {
                    let e = norm.denormalize(i % k, x[i] as f64) - observed[i];
                    (e / scale[i % k]).powi(2)
                };
                (0..out.x_pred.len())
                    .map(|i| {
                        let f = z(&out.x_pred, &scales.forecast, i);
                        if with_recon {
                            f + gamma * z(&out.x_recon, &scales.recon, i)
                        } else {
                            f
                        }
                    })
                    .collect()
            }
            _ => {
                let mut werr = weighted_errors(&out.x_pred, &out.target, pct_weight);
                if with_recon {
                    let recon = weighted_errors(&out.x_recon, &out.target, pct_weight);
                    werr.iter_mut()
                        .zip(recon)
                        .for_each(|(f, r)| *f += gamma * r);
                }
                werr
            }
        }
    }
}

impl Scoring {
    /// Row scores of consecutive windows from their per-variable errors `[M, k]`: the mean
    /// of each row, then the trailing mean over `smooth_rows` (the first rows average fewer).
    pub fn row_scores(&self, werr: &[f64], k: usize) -> Vec<f64> {
        let mut smoother = Smoother::default();
        row_scores(werr, k)
            .into_iter()
            .map(|s| smoother.push(s, self.smooth_rows))
            .collect()
    }
}

/// Smallest error scale, as a share of the variable's training range.
const SCALE_FLOOR: f64 = 1e-3;

/// The scale of each variable's errors, in the data's units, measured on held-out training
/// rows (those after the training split: the optimiser never saw them) and stored with the
/// model: what [`ErrorKind::Standardised`] divides by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorScales {
    /// RMS forecast error of each variable.
    pub forecast: Vec<f64>,
    /// RMS VAE reconstruction error of each variable.
    pub recon: Vec<f64>,
    /// Windows they were measured on.
    pub windows: usize,
}

impl ErrorScales {
    /// Measures the scales on windows `out` with targets `observed` (`[M, k]`, data units).
    /// Each scale is at least 0.1% of the variable's training range; a variable constant in
    /// training gets 1, so one unit of change counts as one standard error. With no windows
    /// every scale is its floor.
    pub fn measure(out: &WindowOutputs, observed: &[f64], norm: &Normalizer) -> Self {
        let all = vec![true; observed.len() / norm.k().max(1)];
        Self::measure_kept(out, observed, norm, &all)
    }

    /// [`ErrorScales::measure`] over the windows `m` with `keep[m]` only.
    pub fn measure_kept(
        out: &WindowOutputs,
        observed: &[f64],
        norm: &Normalizer,
        keep: &[bool],
    ) -> Self {
        let k = norm.k();
        let total = observed.len() / k.max(1);
        let windows = (0..total).filter(|&m| keep.get(m) == Some(&true)).count();
        let rms = |x: &[f32]| -> Vec<f64> {
            (0..k)
                .map(|j| {
                    let range = norm.max_values[j] - norm.min_values[j];
                    if range.is_nan() || range <= 0.0 {
                        return 1.0;
                    }
                    let sum: f64 = (0..total.min(x.len() / k.max(1)))
                        .filter(|&m| keep.get(m) == Some(&true))
                        .map(|m| {
                            let i = m * k + j;
                            (norm.denormalize(j, x[i] as f64) - observed[i]).powi(2)
                        })
                        .filter(|e| e.is_finite())
                        .sum();
                    let rms = (sum / windows.max(1) as f64).sqrt();
                    rms.max(SCALE_FLOOR * range)
                })
                .collect()
        };
        Self {
            forecast: rms(&out.x_pred),
            recon: rms(&out.x_recon),
            windows,
        }
    }
}

/// The trailing mean of row scores over `rows` rows ([`Scoring::smooth_rows`]), fed one
/// score at a time; fewer rows at the start. Kept in a live scorer's state.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Smoother {
    recent: VecDeque<f64>,
}

impl Smoother {
    /// Adds a row score; returns the mean of it and the `rows − 1` before it.
    pub fn push(&mut self, score: f64, rows: usize) -> f64 {
        self.recent.push_back(score);
        while self.recent.len() > rows.max(1) {
            self.recent.pop_front();
        }
        self.recent.iter().sum::<f64>() / self.recent.len() as f64
    }
}

/// Everything `interpret` needs besides the window outputs (built by
/// `ModelMeta::scoring_context`).
#[derive(Debug, Clone, Copy)]
pub struct ScoringContext<'a> {
    /// Variable names in model order.
    pub names: &'a [String],
    /// Per-variable weights.
    pub pct_weight: &'a [f64],
    /// Local-threshold window length.
    pub threshold_window: usize,
    /// The model threshold (training quantile).
    pub model_threshold: f64,
    /// Which local threshold to apply.
    pub rule: ThresholdRule,
    /// How rows are scored.
    pub scoring: Scoring,
    /// The training normalisation (to measure errors in the data's units).
    pub norm: &'a Normalizer,
    /// Error scales (standardised errors).
    pub scales: Option<&'a ErrorScales>,
    /// Standardised errors: a score above it is anomalous whatever the local threshold
    /// (the training scores' 99th percentile); the faithful rule has its fixed bounds.
    pub upper_bound: f64,
}

impl ScoringContext<'_> {
    /// Per-variable errors `[M, k]` of `out`, targets `observed` in the data's units.
    pub fn variable_errors(&self, out: &WindowOutputs, observed: &[f64]) -> Vec<f64> {
        self.scoring
            .variable_errors(out, observed, self.pct_weight, self.norm, self.scales)
    }

    /// The decision for a (smoothed) row score against its local threshold.
    pub fn decide(&self, score: f64, local: f64) -> bool {
        match self.scoring.error {
            ErrorKind::Faithful => decide(score, local, self.model_threshold),
            ErrorKind::Standardised => decide_within(
                score,
                local,
                self.model_threshold,
                self.upper_bound.max(self.model_threshold),
            ),
        }
    }

    /// Severity of a row (see [`RowResult::severity`]).
    pub fn severity(&self, score: f64, anomalous: bool) -> f64 {
        match self.scoring.error {
            ErrorKind::Faithful => severity(score, anomalous).min(1.0),
            ErrorKind::Standardised if anomalous && score > 0.0 => {
                score / (score + self.model_threshold.max(0.0))
            }
            ErrorKind::Standardised => 0.0,
        }
    }
}

/// Contributions of one row, in contribution order (ties by ascending variable index), with
/// correlation changes from `d_attn` (`[k, k]`, the change of each attention weight).
pub fn contributions(
    names: &[String],
    werr: &[f64],
    d_attn: &[f64],
    observed: &[f64],
    expected: &[f64],
) -> Vec<Contribution> {
    let k = names.len();
    let total: f64 = werr.iter().sum();
    let share = |j: usize| if total > 0.0 { werr[j] / total } else { 0.0 };
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&a, &b| share(b).total_cmp(&share(a)));
    let limit = 0.001_f64.min(1.0 / (1.25 * k as f64));
    order
        .into_iter()
        .map(|i| {
            let row = &d_attn[i * k..(i + 1) * k];
            let mut js: Vec<usize> = (0..k).collect();
            js.sort_by(|&a, &b| row[b].abs().total_cmp(&row[a].abs()));
            let kept: Vec<usize> = js
                .into_iter()
                .take(TOP_CHANGES)
                .filter(|&j| row[j].abs() > limit)
                .collect();
            Contribution {
                variable_name: names[i].clone(),
                contribution_score: share(i),
                correlation_changes: CorrelationChanges {
                    changed_variables: kept.iter().map(|&j| names[j].clone()).collect(),
                    changed_values: kept.iter().map(|&j| row[j]).collect(),
                },
                observed: observed[i],
                expected: expected[i],
            }
        })
        .collect()
}

/// The rolling context of the local threshold and the correlation changes: the recent
/// scores and attention maps. Feeding it window by window gives exactly what a batch over
/// the same windows gives, which is what makes streaming equal to batch predict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdState {
    threshold_window: usize,
    rule: ThresholdRule,
    k: usize,
    /// Windows seen so far.
    seen: u64,
    /// The last `2·TW − 1` scores (what the lagged rule can reach back to).
    scores: VecDeque<f64>,
    /// The last `TW` attention maps, `k × k` each.
    maps: VecDeque<Vec<f32>>,
    /// Sum of `maps`, in f64.
    map_sum: Vec<f64>,
}

/// What [`ThresholdState::push`] decides for a judged window.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// The local threshold.
    pub local: f64,
    /// Change of each attention weight versus the mean of the last TW maps, `[k, k]`.
    pub d_attn: Vec<f64>,
}

impl ThresholdState {
    /// An empty context for `k` variables.
    pub fn new(threshold_window: usize, k: usize, rule: ThresholdRule) -> Self {
        Self {
            threshold_window,
            rule,
            k,
            seen: 0,
            scores: VecDeque::new(),
            maps: VecDeque::new(),
            map_sum: vec![0.0; k * k],
        }
    }

    /// The local-threshold rule.
    pub fn rule(&self) -> ThresholdRule {
        self.rule
    }

    /// Windows seen so far.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// Adds the next window's score and attention map; once `TW` windows have been seen,
    /// every window is judged.
    pub fn push(&mut self, score: f64, attn: &[f32]) -> Option<Judgement> {
        let tw = self.threshold_window;
        self.seen += 1;
        self.scores.push_back(score);
        if self.scores.len() > 2 * tw - 1 {
            self.scores.pop_front();
        }
        self.map_sum
            .iter_mut()
            .zip(attn)
            .for_each(|(s, &v)| *s += v as f64);
        self.maps.push_back(attn.to_vec());
        if self.maps.len() > tw {
            if let Some(old) = self.maps.pop_front() {
                self.map_sum
                    .iter_mut()
                    .zip(&old)
                    .for_each(|(s, &v)| *s -= v as f64);
            }
        }
        if self.seen < tw as u64 {
            return None;
        }
        // Absolute index of the newest score m, of the first one held, and the reported row r.
        let m = self.seen - 1;
        let first_held = self.seen - self.scores.len() as u64;
        let r = m + 1 - tw as u64;
        let (lo, hi) = match self.rule {
            ThresholdRule::Lagged => ((r + 1).saturating_sub(tw as u64), r),
            ThresholdRule::Trailing => (r, m),
        };
        let held: Vec<f64> = self.scores.iter().copied().collect();
        let window = &held[(lo - first_held) as usize..=(hi - first_held) as usize];
        let d_attn = attn
            .iter()
            .zip(&self.map_sum)
            .map(|(&a, &s)| a as f64 - s / tw as f64)
            .collect();
        Some(Judgement {
            local: local_percentile(window),
            d_attn,
        })
    }
}

/// Judges one window: the row result for a window with row score `score` (smoothed when
/// the scoring says so) and per-variable errors `werr`, whose context decided `judgement`.
pub fn judge_row(
    ctx: &ScoringContext<'_>,
    label: &str,
    score: f64,
    werr: &[f64],
    judgement: &Judgement,
    observed: &[f64],
    expected: &[f64],
) -> RowResult {
    let anomalous = ctx.decide(score, judgement.local);
    RowResult {
        index: label.to_string(),
        is_anomaly: anomalous,
        score,
        severity: ctx.severity(score, anomalous),
        local_threshold: judgement.local,
        interpretation: contributions(ctx.names, werr, &judgement.d_attn, observed, expected),
    }
}

/// Turns the outputs of `M` consecutive windows into the reported rows: the last
/// `M − TW + 1` windows. `labels[m]`, `observed[m]` and `expected[m]` belong to window m's
/// target row.
pub fn interpret(
    ctx: &ScoringContext<'_>,
    out: &WindowOutputs,
    labels: &[String],
    observed: &[f64],
    expected: &[f64],
) -> Vec<RowResult> {
    let k = ctx.names.len();
    let werr = ctx.variable_errors(out, observed);
    let scores = ctx.scoring.row_scores(&werr, k);
    let mut state = ThresholdState::new(ctx.threshold_window, k, ctx.rule);
    let mut rows = Vec::new();
    for (m, label) in labels.iter().enumerate() {
        let row_err = &werr[m * k..(m + 1) * k];
        let score = scores[m];
        if let Some(j) = state.push(score, &out.feat_attn[m * k * k..(m + 1) * k * k]) {
            let span = m * k..(m + 1) * k;
            rows.push(judge_row(
                ctx,
                label,
                score,
                row_err,
                &j,
                &observed[span.clone()],
                &expected[span],
            ));
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_percentile_is_by_index() {
        assert_eq!(local_percentile(&[3.0]), 3.0);
        // 20 values: index 19 = the max.
        let v: Vec<f64> = (0..20).map(f64::from).collect();
        assert_eq!(local_percentile(&v), 19.0);
        let v: Vec<f64> = (0..100).map(f64::from).collect();
        assert_eq!(local_percentile(&v), 95.0);
    }

    #[test]
    fn decision_uses_hard_bounds() {
        // θ_train 0.2: lower 0.2, upper 0.5.
        assert!(decide(0.25, 0.1, 0.2));
        assert!(!decide(0.15, 0.1, 0.2));
        assert!(decide(0.51, 0.9, 0.2));
        assert!(!decide(0.45, 0.9, 0.2));
        // θ_train 0.8: lower 0.3, upper 0.8.
        assert!(!decide(0.79, 0.9, 0.8));
        assert!(decide(0.81, 0.9, 0.8));
    }

    #[test]
    fn error_scales_are_held_out_rms_errors_with_floors() {
        // Variable 0 ranges 10..20, variable 1 is constant 5, variable 2 ranges 0..1000.
        let norm = Normalizer {
            min_values: vec![10.0, 5.0, 0.0],
            max_values: vec![20.0, 5.0, 1000.0],
        };
        // Forecasts (normalised) 0.5 → 15, 0 → 5, 0.5 → 500; targets off by ±1, ±2, 0.
        let out = WindowOutputs {
            x_pred: vec![0.5, 0.0, 0.5, 0.5, 0.0, 0.5],
            x_recon: vec![0.6, 0.0, 0.5, 0.4, 0.0, 0.5],
            ..WindowOutputs::default()
        };
        let observed = [14.0, 7.0, 500.0, 16.0, 3.0, 500.0];
        let s = ErrorScales::measure(&out, &observed, &norm);
        assert!((s.forecast[0] - 1.0).abs() < 1e-6, "{:?}", s.forecast);
        // Constant in training: unit scale, whatever its errors.
        assert_eq!(s.forecast[1], 1.0);
        // Perfect forecasts: 0.1% of the range.
        assert!((s.forecast[2] - 1.0).abs() < 1e-6, "{:?}", s.forecast);
        // Reconstructions 16 and 14 against 14 and 16: RMS 2.
        assert!((s.recon[0] - 2.0).abs() < 1e-6, "{:?}", s.recon);
        assert_eq!(s.windows, 2);

        // Standardised errors: ((x − y) / σ)², plus γ times the reconstruction's.
        let scoring = Scoring {
            error: ErrorKind::Standardised,
            recon_gamma: 0.5,
            smooth_rows: 1,
        };
        let e = scoring.variable_errors(&out, &observed, &[1.0; 3], &norm, Some(&s));
        let want = [
            1.0 + 0.5 * 1.0,
            4.0 + 0.5 * 4.0,
            0.0,
            1.0 + 0.5 * 1.0,
            4.0 + 0.5 * 4.0,
            0.0,
        ];
        for (a, b) in e.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{e:?}");
        }
        // Faithful errors ignore the scales and keep the reference's formula.
        let faithful = Scoring::faithful();
        let target: Vec<f32> = norm.apply(&observed, -1000.0, 1000.0).into_iter().collect();
        let out = WindowOutputs { target, ..out };
        let e = faithful.variable_errors(&out, &observed, &[1.0, 0.5, 1.0], &norm, Some(&s));
        assert_eq!(
            e,
            weighted_errors(&out.x_pred, &out.target, &[1.0, 0.5, 1.0])
        );
    }

    #[test]
    fn smoother_is_a_trailing_mean() {
        let mut s = Smoother::default();
        let got: Vec<f64> = [3.0, 6.0, 9.0, 0.0].iter().map(|&v| s.push(v, 3)).collect();
        assert_eq!(got, [3.0, 4.5, 6.0, 5.0]);
        let mut one = Smoother::default();
        assert_eq!(one.push(2.5, 1), 2.5);
        assert_eq!(one.push(7.0, 1), 7.0);
    }

    #[test]
    fn contributions_break_ties_by_variable_order() {
        let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let werr = [1.0, 2.0, 1.0];
        let d = [0.0, 0.5, -0.6, 0.0005, 0.0, 0.0, 0.0, 0.0, 0.0];
        let c = contributions(&names, &werr, &d, &[0.0; 3], &[0.0; 3]);
        let order: Vec<&str> = c.iter().map(|x| x.variable_name.as_str()).collect();
        assert_eq!(order, ["b", "a", "c"]);
        assert_eq!(c[1].correlation_changes.changed_variables, ["c", "b"]);
        assert_eq!(c[1].contribution_score, 0.25);
        // b's changes: 0.0005 is below the 0.001 cut-off.
        assert!(c[0].correlation_changes.changed_variables.is_empty());
    }
}
