//! Detection-quality metrics: pure functions of one score per row (higher = more anomalous)
//! and one 0/1 label per row. Every threshold-dependent figure is the best over thresholds,
//! so no metric depends on the detector's own calibration.
//!
//! Definitions (docs/quality.md repeats them):
//! - AUC-ROC: area under the ROC curve, ties counted as half (trapezoids between distinct
//!   scores).
//! - AUC-PR: average precision, `Σ (Rₙ − Rₙ₋₁) · Pₙ` over distinct score thresholds.
//! - VUS-PR: the mean over buffer lengths `ℓ = 0, step, …, L` of a range-aware AUC-PR in
//!   which each labelled event is widened by a soft buffer of `ℓ/2` rows on each side
//!   (label `√(1 − d/ℓ)` at distance `d` from the event), true positives are the flagged
//!   rows' soft labels, recall is `min(TP / P, 1)` times the share of events found (a flagged
//!   row inside the event or its buffer), with `P` the mean of the soft and the plain label
//!   sums (after Paparrizos et al., VLDB 2022, as used by TSB-AD; our own implementation,
//!   exact over all distinct thresholds rather than 250 quantiles).
//! - Best F1: the best point-wise F1 over all thresholds.
//! - Event F1: recall is the share of events (runs of labelled rows) with at least one
//!   flagged row; precision is the mean, over predicted events (runs of flagged rows), of the
//!   share of their rows that are labelled (range-based precision with flat bias, Tatbul et
//!   al., NeurIPS 2018; counting a predicted event as right when it merely touches an event
//!   would give F1 = 1 to "flag everything"). Best over up to [`EVENT_THRESHOLDS`]
//!   thresholds (quantiles of the scores).
//! - PA-F1: point-adjusted F1 (an event with one flagged row counts as wholly flagged), best
//!   over all thresholds. It flatters any detector; report it only next to a random score's.

use std::ops::Range;

use serde::{Deserialize, Serialize};

/// Thresholds tried by the event F1 (quantiles of the scores when there are more distinct
/// scores than this).
pub const EVENT_THRESHOLDS: usize = 512;

/// All metrics of one method on one labelled series. `None` where a metric is undefined
/// (no labelled row, or no normal row).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Area under the ROC curve.
    pub auc_roc: Option<f64>,
    /// Area under the precision-recall curve (average precision).
    pub auc_pr: Option<f64>,
    /// Volume under the range-aware PR surface.
    pub vus_pr: Option<f64>,
    /// Best point-wise F1 over all thresholds.
    pub best_f1: Option<f64>,
    /// Best event (range) F1.
    pub event_f1: Option<f64>,
    /// Best point-adjusted F1: compare it with the random score's only.
    pub pa_f1: Option<f64>,
}

impl Metrics {
    /// Computes every metric; `vus_max_buffer` is `L`, the largest VUS buffer.
    pub fn compute(scores: &[f64], labels: &[bool], vus_max_buffer: usize) -> Self {
        Self {
            auc_roc: auc_roc(scores, labels),
            auc_pr: average_precision(scores, labels),
            vus_pr: vus_pr(scores, labels, vus_max_buffer),
            best_f1: best_f1(scores, labels),
            event_f1: event_f1(scores, labels),
            pa_f1: pa_f1(scores, labels),
        }
    }
}

/// The runs of labelled rows, as half-open row ranges.
pub fn events(labels: &[bool]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, &l) in labels.iter().enumerate() {
        match (l, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push(s..i);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(s..labels.len());
    }
    out
}

/// One point of a threshold sweep: flagging every item scored `≥ threshold` gives `tp`
/// (positive weight) and `fp` (negative weight).
#[derive(Debug, Clone, Copy, PartialEq)]
struct SweepPoint {
    threshold: f64,
    tp: f64,
    fp: f64,
}

/// NaN scores rank lowest.
fn clean(s: f64) -> f64 {
    if s.is_nan() {
        f64::NEG_INFINITY
    } else {
        s
    }
}

/// Sweeps thresholds from the highest score down over weighted items `(score, positive
/// weight, negative weight)`, one point per distinct score.
fn sweep(mut items: Vec<(f64, f64, f64)>) -> Vec<SweepPoint> {
    items.sort_by(|a, b| clean(b.0).total_cmp(&clean(a.0)));
    let mut out: Vec<SweepPoint> = Vec::new();
    let (mut tp, mut fp) = (0.0, 0.0);
    for (i, &(s, p, n)) in items.iter().enumerate() {
        tp += p;
        fp += n;
        let last_of_group = items
            .get(i + 1)
            .is_none_or(|next| clean(next.0) != clean(s));
        if last_of_group {
            out.push(SweepPoint {
                threshold: clean(s),
                tp,
                fp,
            });
        }
    }
    out
}

fn point_items(scores: &[f64], labels: &[bool]) -> Vec<(f64, f64, f64)> {
    scores
        .iter()
        .zip(labels)
        .map(|(&s, &l)| if l { (s, 1.0, 0.0) } else { (s, 0.0, 1.0) })
        .collect()
}

fn counts(labels: &[bool]) -> (f64, f64) {
    let p = labels.iter().filter(|&&l| l).count() as f64;
    (p, labels.len() as f64 - p)
}

/// Area under the ROC curve; `None` without both classes or with mismatched lengths.
pub fn auc_roc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let (p, n) = counts(labels);
    if p == 0.0 || n == 0.0 || scores.len() != labels.len() {
        return None;
    }
    let mut area = 0.0;
    let (mut x0, mut y0) = (0.0, 0.0);
    for pt in sweep(point_items(scores, labels)) {
        let (x, y) = (pt.fp / n, pt.tp / p);
        area += (x - x0) * (y + y0) / 2.0;
        (x0, y0) = (x, y);
    }
    Some(area)
}

/// Average precision `Σ (Rₙ − Rₙ₋₁) · Pₙ`; `None` without a labelled row.
pub fn average_precision(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let (p, _) = counts(labels);
    if p == 0.0 || scores.len() != labels.len() {
        return None;
    }
    let mut ap = 0.0;
    let mut r0 = 0.0;
    for pt in sweep(point_items(scores, labels)) {
        let r = pt.tp / p;
        ap += (r - r0) * pt.tp / (pt.tp + pt.fp);
        r0 = r;
    }
    Some(ap)
}

fn f1(tp: f64, fp: f64, fn_: f64) -> f64 {
    if tp == 0.0 {
        0.0
    } else {
        2.0 * tp / (2.0 * tp + fp + fn_)
    }
}

/// Best point-wise F1 over all thresholds; `None` without a labelled row.
pub fn best_f1(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let (p, _) = counts(labels);
    if p == 0.0 || scores.len() != labels.len() {
        return None;
    }
    sweep(point_items(scores, labels))
        .iter()
        .map(|pt| f1(pt.tp, pt.fp, p - pt.tp))
        .max_by(f64::total_cmp)
}

/// Best point-adjusted F1 over all thresholds: each event is one item weighing its length,
/// scored by its highest row; each normal row is its own item.
pub fn pa_f1(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let (p, _) = counts(labels);
    if p == 0.0 || scores.len() != labels.len() {
        return None;
    }
    let mut items: Vec<(f64, f64, f64)> = scores
        .iter()
        .zip(labels)
        .filter(|(_, &l)| !l)
        .map(|(&s, _)| (s, 0.0, 1.0))
        .collect();
    for ev in events(labels) {
        let top = scores[ev.clone()]
            .iter()
            .copied()
            .map(clean)
            .fold(f64::NEG_INFINITY, f64::max);
        items.push((top, ev.len() as f64, 0.0));
    }
    sweep(items)
        .iter()
        .map(|pt| f1(pt.tp, pt.fp, p - pt.tp))
        .max_by(f64::total_cmp)
}

/// Thresholds for sweeps that need a full pass per threshold: every distinct score, or
/// `max` quantiles of them.
fn candidate_thresholds(scores: &[f64], max: usize) -> Vec<f64> {
    let mut s: Vec<f64> = scores.iter().copied().map(clean).collect();
    s.sort_by(f64::total_cmp);
    s.dedup();
    if s.len() <= max {
        return s;
    }
    (0..max)
        .map(|i| s[(i * (s.len() - 1)) / (max - 1)])
        .collect()
}

/// Event F1 at one threshold: recall = found events / events, precision = mean labelled
/// share of the predicted events.
fn event_f1_at(scores: &[f64], evs: &[Range<usize>], labels: &[bool], t: f64) -> f64 {
    let flagged = |i: usize| clean(scores[i]) >= t;
    let found = evs
        .iter()
        .filter(|ev| (ev.start..ev.end).any(&flagged))
        .count();
    let (mut runs, mut overlap) = (0usize, 0.0);
    let mut i = 0;
    while i < scores.len() {
        if flagged(i) {
            let (mut len, mut hit) = (0usize, 0usize);
            while i < scores.len() && flagged(i) {
                len += 1;
                hit += usize::from(labels[i]);
                i += 1;
            }
            runs += 1;
            overlap += hit as f64 / len as f64;
        } else {
            i += 1;
        }
    }
    if found == 0 || runs == 0 {
        return 0.0;
    }
    let recall = found as f64 / evs.len() as f64;
    let precision = overlap / runs as f64;
    2.0 * precision * recall / (precision + recall)
}

/// Best event F1 over up to [`EVENT_THRESHOLDS`] thresholds; `None` without a labelled row.
pub fn event_f1(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let evs = events(labels);
    if evs.is_empty() || scores.len() != labels.len() {
        return None;
    }
    candidate_thresholds(scores, EVENT_THRESHOLDS)
        .into_iter()
        .map(|t| event_f1_at(scores, &evs, labels, t))
        .max_by(f64::total_cmp)
}

/// Labels widened by a soft buffer of `buffer / 2` rows on each side of every event
/// (`√(1 − d / buffer)` at distance `d` ≥ 1 from the event's edge, capped at 1 where buffers
/// meet), and the widened event ranges.
pub fn soft_labels(labels: &[bool], buffer: usize) -> (Vec<f64>, Vec<Range<usize>>) {
    let n = labels.len();
    let mut soft: Vec<f64> = labels.iter().map(|&l| f64::from(u8::from(l))).collect();
    let half = buffer / 2;
    let mut widened = Vec::new();
    for ev in events(labels) {
        for d in 1..=half {
            let w = (1.0 - d as f64 / buffer as f64).sqrt();
            if let Some(i) = ev.start.checked_sub(d) {
                soft[i] = (soft[i] + w).min(1.0);
            }
            if ev.end + d - 1 < n {
                let i = ev.end + d - 1;
                soft[i] = (soft[i] + w).min(1.0);
            }
        }
        widened.push(ev.start.saturating_sub(half)..(ev.end + half).min(n));
    }
    (soft, widened)
}

/// The range-aware AUC-PR of one buffer length (see the module doc).
pub fn range_auc_pr(scores: &[f64], labels: &[bool], buffer: usize) -> Option<f64> {
    if scores.len() != labels.len() {
        return None;
    }
    let (soft, widened) = soft_labels(labels, buffer);
    if widened.is_empty() {
        return None;
    }
    let plain = counts(labels).0;
    let p = (soft.iter().sum::<f64>() + plain) / 2.0;
    // Each widened event is found once the threshold reaches its highest score.
    let mut event_tops: Vec<f64> = widened
        .iter()
        .map(|r| {
            scores[r.clone()]
                .iter()
                .copied()
                .map(clean)
                .fold(f64::NEG_INFINITY, f64::max)
        })
        .collect();
    event_tops.sort_by(|a, b| b.total_cmp(a));
    let items = scores
        .iter()
        .zip(&soft)
        .map(|(&s, &l)| (s, l, 1.0 - l))
        .collect();
    let mut ap = 0.0;
    let mut r0 = 0.0;
    let mut found = 0;
    for pt in sweep(items) {
        while found < event_tops.len() && event_tops[found] >= pt.threshold {
            found += 1;
        }
        let existence = found as f64 / event_tops.len() as f64;
        let recall = (pt.tp / p).min(1.0) * existence;
        let precision = pt.tp / (pt.tp + pt.fp);
        ap += (recall - r0) * precision;
        r0 = recall;
    }
    Some(ap)
}

/// Buffers of the VUS: `0, L/10, 2L/10, …, L` (every length up to `L` when `L` ≤ 10).
pub fn vus_buffers(max_buffer: usize) -> Vec<usize> {
    if max_buffer <= 10 {
        (0..=max_buffer).collect()
    } else {
        (0..=10).map(|i| i * max_buffer / 10).collect()
    }
}

/// Volume under the range-aware PR surface: the mean of [`range_auc_pr`] over
/// [`vus_buffers`]; `None` without a labelled row.
pub fn vus_pr(scores: &[f64], labels: &[bool], max_buffer: usize) -> Option<f64> {
    let buffers = vus_buffers(max_buffer);
    let mut total = 0.0;
    for &b in &buffers {
        total += range_auc_pr(scores, labels, b)?;
    }
    Some(total / buffers.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(s: &str) -> Vec<bool> {
        s.chars().map(|c| c == '1').collect()
    }

    fn check(name: &str, got: Option<f64>, want: Option<f64>) {
        match (got, want) {
            (Some(g), Some(w)) => assert!((g - w).abs() < 1e-9, "{name}: got {g}, want {w}"),
            _ => assert_eq!(got, want, "{name}"),
        }
    }

    #[test]
    fn point_metrics_match_hand_computed_values() {
        // Scores high → low: 0.9 (1), 0.8 (0), 0.7 (1), 0.6 (0), 0.5 (0).
        let s = [0.9, 0.8, 0.7, 0.6, 0.5];
        let l = labels("10100");
        // Pairs (pos, neg) ranked right: 0.9 beats all 3; 0.7 beats 2 of 3 → 5/6.
        check("roc", auc_roc(&s, &l), Some(5.0 / 6.0));
        // AP = 0.5·1 + 0.5·(2/3).
        check("ap", average_precision(&s, &l), Some(0.5 + 1.0 / 3.0));
        // Best F1: threshold 0.7 → tp 2, fp 1 → 4/5; threshold 0.9 → 2/3.
        check("f1", best_f1(&s, &l), Some(0.8));
        // Perfect and inverted rankings.
        check("roc+", auc_roc(&[3.0, 2.0, 1.0], &labels("100")), Some(1.0));
        check("roc-", auc_roc(&[1.0, 2.0, 3.0], &labels("100")), Some(0.0));
        // All tied: ROC 0.5, AP = prevalence.
        check("roc=", auc_roc(&[1.0; 4], &labels("1000")), Some(0.5));
        check(
            "ap=",
            average_precision(&[1.0; 4], &labels("1000")),
            Some(0.25),
        );
        // Undefined without both classes.
        check("roc none", auc_roc(&[1.0, 2.0], &labels("00")), None);
        check(
            "ap none",
            average_precision(&[1.0, 2.0], &labels("00")),
            None,
        );
        check("len", auc_roc(&[1.0], &labels("01")), None);
    }

    #[test]
    fn point_metrics_match_scikit_learn_with_ties() {
        // sklearn 1.9.1: roc_auc_score(y, s) = 0.7678571428571429 and
        // average_precision_score(y, s) = 0.55 (tied scores grouped, as here).
        let s = [
            0.3, 0.9, 0.1, 0.3, 0.7, 0.7, 0.2, 0.5, 0.3, 0.8, 0.1, 0.6, 0.7, 0.4, 0.2, 0.9, 0.3,
            0.5, 0.05, 0.3,
        ];
        let l = labels("01010100010010001000");
        check("roc", auc_roc(&s, &l), Some(0.7678571428571429));
        check("ap", average_precision(&s, &l), Some(0.55));
        // Higher = more anomalous: negating the scores mirrors the ROC area.
        let neg: Vec<f64> = s.iter().map(|x| -x).collect();
        check(
            "roc mirrored",
            auc_roc(&neg, &l),
            Some(1.0 - 0.7678571428571429),
        );
    }

    #[test]
    fn events_are_runs_of_labels() {
        assert_eq!(events(&labels("0110011")), vec![1..3, 5..7]);
        assert_eq!(events(&labels("1")), vec![0..1]);
        assert!(events(&labels("000")).is_empty());
    }

    #[test]
    fn point_adjustment_credits_a_whole_event() {
        // One event of 4 rows, only its first row scores high; one normal row scores 0.5.
        let l = labels("0111100");
        let s = [0.1, 0.9, 0.0, 0.0, 0.0, 0.5, 0.1];
        // Threshold 0.9: PA tp = 4, fp = 0 → F1 = 1.
        check("pa", pa_f1(&s, &l), Some(1.0));
        // Point-wise: threshold 0.9 → tp 1, fn 3 → 2/5; threshold 0 flags all rows:
        // tp 4, fp 3 → 8/11, the best.
        check("f1", best_f1(&s, &l), Some(8.0 / 11.0));
    }

    #[test]
    fn event_f1_counts_events_not_rows() {
        let l = labels("0110001100");
        // Threshold 0.8 flags row 1 (event 1) and row 4 (normal): recall 1/2, precision 1/2.
        // Threshold 0.5 also flags rows 6 and 7 (event 2): recall 1, precision 2/3 → 0.8.
        // Flagging everything is one predicted event with 4/10 labelled rows → 4/7.
        let s = [0.0, 0.9, 0.1, 0.0, 0.8, 0.0, 0.6, 0.5, 0.0, 0.0];
        check("event", event_f1(&s, &l), Some(0.8));
        check("none", event_f1(&s, &labels("0000000000")), None);
        check("all", event_f1(&[1.0; 10], &l), Some(2.0 * 0.4 / 1.4));
    }

    #[test]
    fn soft_labels_widen_events() {
        let (soft, widened) = soft_labels(&labels("0001000"), 4);
        // Half-buffer 2: distances 1 and 2 get √(3/4) and √(1/2).
        let a = 0.75f64.sqrt();
        let b = 0.5f64.sqrt();
        let want = [0.0, b, a, 1.0, a, b, 0.0];
        for (g, w) in soft.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{soft:?}");
        }
        assert_eq!(widened, vec![1..6]);
        // Buffer 0 leaves labels as they are.
        assert_eq!(soft_labels(&labels("010"), 0).0, vec![0.0, 1.0, 0.0]);
    }

    #[test]
    fn vus_without_buffer_is_ap_times_existence() {
        // One event: existence is 1 from the first threshold that reaches it, so buffer 0
        // gives plain average precision: 0.5·1 + 0.5·(2/4).
        let s = [0.9, 0.6, 0.8, 0.7, 0.5];
        let l = labels("11000");
        check("ap one", average_precision(&s, &l), Some(0.75));
        check("r0 one", range_auc_pr(&s, &l, 0), Some(0.75));
        // Two point events at 0.9 and 0.7: recall (1/2)·(1/2) at 0.9, then 1 at 0.7 with
        // precision 2/3 → 1/4 + (3/4)·(2/3) (plain AP would be 1/2 + (1/2)·(2/3)).
        let s = [0.9, 0.8, 0.7, 0.6, 0.5];
        let l = labels("10100");
        check("r0 points", range_auc_pr(&s, &l, 0), Some(0.75));
        // Two events, the second found only at the lowest threshold: recall at 0.9 is
        // (1/2)·(1/2) = 1/4 with precision 1; at 0.1 it is 1 with precision 2/4.
        let s = [0.9, 0.5, 0.5, 0.1];
        let l = labels("1001");
        check("r0 two", range_auc_pr(&s, &l, 0), Some(0.25 + 0.75 * 0.5));
        // A point event ranked first, its buffer rows next. Buffers 0 and 1 (half-buffer 0)
        // give AP 1. Buffer 2: soft labels w = √½ beside the event, P = (1 + 2w + 1) / 2;
        // threshold 1 → recall 1/P, precision 1; threshold 0.5 → recall 1, precision
        // (1 + 2w) / 3.
        let s = [0.0, 0.5, 1.0, 0.5, 0.0];
        let l = labels("00100");
        let w = 0.5f64.sqrt();
        let p = (2.0 + 2.0 * w) / 2.0;
        let ap2 = 1.0 / p + (1.0 - 1.0 / p) * (1.0 + 2.0 * w) / 3.0;
        check("vus", vus_pr(&s, &l, 2), Some((2.0 + ap2) / 3.0));
        assert_eq!(
            vus_buffers(100),
            (0..=10).map(|i| i * 10).collect::<Vec<_>>()
        );
        assert_eq!(vus_buffers(3), vec![0, 1, 2, 3]);
    }

    #[test]
    fn random_scores_get_prevalence_but_high_pa_f1() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let n = 4000;
        // 10 long events of 40 rows: 10% prevalence.
        let l: Vec<bool> = (0..n).map(|i| i % 400 >= 360).collect();
        let s: Vec<f64> = (0..n).map(|_| rng.gen::<f64>()).collect();
        let m = Metrics::compute(&s, &l, 20);
        let roc = m.auc_roc.expect("defined");
        let ap = m.auc_pr.expect("defined");
        assert!((roc - 0.5).abs() < 0.05, "{m:?}");
        assert!((ap - 0.1).abs() < 0.03, "{m:?}");
        // Point adjustment turns noise into a good-looking detector.
        assert!(m.pa_f1.expect("defined") > 0.6, "{m:?}");
        assert!(m.best_f1.expect("defined") < 0.25, "{m:?}");
    }
}
