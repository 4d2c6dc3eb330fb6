//! From forecasts to results, exactly as the reference (mvad_reference.md §5): per-variable
//! errors, weighted mean score, the lagged 95th-percentile local threshold with its hard
//! bounds, severity, contribution scores and correlation changes.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Percentile of the local threshold.
const LOCAL_PERCENTILE: f64 = 0.95;
/// A score above `max(HARD_UPPER_FLOOR, θ)` is always anomalous.
const HARD_UPPER_FLOOR: f64 = 0.5;
/// A score below `min(HARD_LOWER_CAP, θ)` is never anomalous.
const HARD_LOWER_CAP: f64 = 0.3;
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
    /// Weighted mean forecast-error score, in `[0, e − 1]`.
    pub score: f64,
    /// `score / (e − 1)` when anomalous, else 0.
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

/// The decision rule with the model threshold's hard bounds.
pub fn decide(score: f64, local: f64, model_threshold: f64) -> bool {
    let upper = HARD_UPPER_FLOOR.max(model_threshold);
    let lower = HARD_LOWER_CAP.min(model_threshold);
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

/// Everything `interpret` needs besides the window outputs.
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

/// Judges one window: the row result for a window whose context decided `judgement`.
pub fn judge_row(
    ctx: &ScoringContext<'_>,
    label: &str,
    werr: &[f64],
    judgement: &Judgement,
    observed: &[f64],
    expected: &[f64],
) -> RowResult {
    let score = werr.iter().sum::<f64>() / werr.len() as f64;
    let anomalous = decide(score, judgement.local, ctx.model_threshold);
    RowResult {
        index: label.to_string(),
        is_anomaly: anomalous,
        score,
        severity: severity(score, anomalous),
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
    let werr = weighted_errors(&out.x_pred, &out.target, ctx.pct_weight);
    let mut state = ThresholdState::new(ctx.threshold_window, k, ctx.rule);
    let mut rows = Vec::new();
    for (m, label) in labels.iter().enumerate() {
        let row_err = &werr[m * k..(m + 1) * k];
        let score = row_err.iter().sum::<f64>() / k as f64;
        if let Some(j) = state.push(score, &out.feat_attn[m * k * k..(m + 1) * k * k]) {
            let span = m * k..(m + 1) * k;
            rows.push(judge_row(
                ctx,
                label,
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
