//! The detector (SPEC.md §1 "Detector"): turns the engine's per-bucket results into the
//! decisions a scenario asked for.
//!
//! Three steps, each a small pure function so tests can feed them tables:
//! 1. [`Calibration`] maps the engine's raw MVAD score (about `[0, e − 1]` with the default
//!    scoring, unbounded with standardised errors; meaningful only
//!    relative to the model's own training scores) to `anomaly_score` in `[0, 1]`, anchored on
//!    the training-score quantiles stored with the model: 0.25 at the training median, 0.5 at
//!    the training 95th percentile, approaching 1 beyond it.
//! 2. A bucket is a *candidate* when the engine flags it (`is_anomaly`: local threshold and hard
//!    bounds, as the reference) **and** its `anomaly_score` reaches the scenario `threshold`.
//! 3. A candidate is *reported* only inside a run of at least `min_consecutive` consecutive
//!    candidates. Reported buckets are grouped into events by [`crate::sink::assign_events`].
//!
//! The detector never sees alerts, HTTP or files: it takes [`sonar_mvad::RowResult`]s and
//! returns [`crate::sink::ScoredBucket`]s.

use chrono::{DateTime, Utc};
use sonar_mvad::{ModelMeta, RowResult};

use crate::sink::{Contribution, ScoredBucket};

#[cfg(test)]
mod tests;

/// `anomaly_score` of a bucket scoring exactly the training median.
pub const MEDIAN_SCORE: f64 = 0.25;
/// `anomaly_score` of a bucket scoring exactly the training tail anchor.
pub const TAIL_SCORE: f64 = 0.5;
/// The training-score quantile that anchors the tail of the map (the 95th percentile).
pub const TAIL_QUANTILE: f64 = 0.95;

/// The map from raw MVAD scores to `anomaly_score` in `[0, 1]`, fixed by one model's
/// training scores.
///
/// With `m` the training median, `p` the training 95th percentile and `d = max(p − m,
/// max − p)` (the spread of the training tail):
/// - `s ≤ m`: `0.25 · s / m`;
/// - `m < s ≤ p`: linear from 0.25 to 0.5;
/// - `s > p`: `0.5 + 0.5 · (1 − exp(−(s − p) / d))`, so one tail-spread above the 95th
///   percentile gives 0.82 and the score approaches 1 without reaching it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// Training median score `m`.
    pub median: f64,
    /// Training 95th-percentile score `p` (the tail anchor).
    pub tail: f64,
    /// Spread of the training tail `d` (> 0).
    pub spread: f64,
}

impl Calibration {
    /// From explicit anchors; degenerate values (NaN, `p < m`, zero spread) are repaired so
    /// the map stays monotone and finite.
    pub fn new(median: f64, tail: f64, max: f64) -> Self {
        let median = if median.is_finite() {
            median.max(0.0)
        } else {
            0.0
        };
        let tail = if tail.is_finite() {
            tail.max(median)
        } else {
            median
        };
        let max = if max.is_finite() { max.max(tail) } else { tail };
        let spread = (tail - median).max(max - tail).max(1e-9);
        Self {
            median,
            tail,
            spread,
        }
    }

    /// From a model's metadata: `train_score_quantiles` when present; otherwise (models
    /// exported from the reference library) the model threshold stands in for the median and
    /// the largest training score for the tail anchor.
    pub fn from_meta(meta: &ModelMeta) -> Self {
        let at = |level: f64| meta.train_quantile(level);
        match (at(0.5), at(TAIL_QUANTILE)) {
            (Some(median), Some(tail)) => {
                let max = at(1.0).or(meta.train_score_max).unwrap_or(tail);
                Self::new(median, tail, max)
            }
            _ => {
                let max = meta.train_score_max.unwrap_or(meta.threshold * 2.0);
                Self::new(meta.threshold, max, max)
            }
        }
    }

    /// `anomaly_score` in `[0, 1]` of a raw MVAD score (NaN → 0).
    pub fn anomaly_score(&self, score: f64) -> f64 {
        if !score.is_finite() {
            return if score == f64::INFINITY { 1.0 } else { 0.0 };
        }
        let s = score.max(0.0);
        let value = if s <= self.median {
            if self.median > 0.0 {
                MEDIAN_SCORE * s / self.median
            } else {
                MEDIAN_SCORE
            }
        } else if s <= self.tail {
            MEDIAN_SCORE
                + (TAIL_SCORE - MEDIAN_SCORE) * (s - self.median) / (self.tail - self.median)
        } else {
            TAIL_SCORE + (1.0 - TAIL_SCORE) * (1.0 - (-(s - self.tail) / self.spread).exp())
        };
        value.clamp(0.0, 1.0)
    }
}

/// The scenario's decision rules, validated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detector {
    /// Score map of the model in use.
    pub calibration: Calibration,
    /// `detection.threshold`: the `anomaly_score` a candidate must reach, in `[0, 1]`.
    pub threshold: f64,
    /// `detection.min_consecutive`: candidates in a row needed to report them (≥ 1).
    pub min_consecutive: u32,
}

/// One bucket's verdict before `min_consecutive` is applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// The bucket's start.
    pub start: DateTime<Utc>,
    /// Calibrated score in `[0, 1]`.
    pub anomaly_score: f64,
    /// The engine's own decision.
    pub engine_anomaly: bool,
    /// Engine decision and `anomaly_score ≥ threshold`.
    pub candidate: bool,
}

impl Detector {
    /// A detector for one model and scenario. `min_consecutive` 0 is treated as 1.
    pub fn new(meta: &ModelMeta, threshold: f64, min_consecutive: u32) -> Self {
        Self {
            calibration: Calibration::from_meta(meta),
            threshold,
            min_consecutive: min_consecutive.max(1),
        }
    }

    /// Whether one engine result is a candidate, with its calibrated score.
    pub fn judge(&self, start: DateTime<Utc>, result: &RowResult) -> Judgement {
        let anomaly_score = self.calibration.anomaly_score(result.score);
        Judgement {
            start,
            anomaly_score,
            engine_anomaly: result.is_anomaly,
            candidate: result.is_anomaly && anomaly_score >= self.threshold,
        }
    }

    /// Applies `min_consecutive` to consecutive buckets' candidate flags; returns one flag per
    /// bucket: report it. A run of candidates is reported whole once it is at least
    /// `min_consecutive` long. `prior` is the length of the candidate run that ended just
    /// before the first bucket and is not part of `candidates` (realtime mode: candidates of
    /// earlier polls); it counts towards the first run.
    pub fn report(&self, candidates: &[bool], prior: usize) -> Vec<bool> {
        let k = self.min_consecutive.max(1) as usize;
        let mut out = vec![false; candidates.len()];
        let mut i = 0;
        while i < candidates.len() {
            if !candidates[i] {
                i += 1;
                continue;
            }
            let start = i;
            while i < candidates.len() && candidates[i] {
                i += 1;
            }
            let before = if start == 0 { prior } else { 0 };
            if before + (i - start) >= k {
                out[start..i].iter_mut().for_each(|flag| *flag = true);
            }
        }
        out
    }

    /// Length of the candidate run at the end of `candidates`, continuing `prior` when every
    /// bucket is a candidate (what realtime mode carries to the next poll).
    pub fn trailing_run(candidates: &[bool], prior: usize) -> usize {
        let tail = candidates.iter().rev().take_while(|c| **c).count();
        if tail == candidates.len() {
            prior + tail
        } else {
            tail
        }
    }

    /// Judges every result and applies `min_consecutive` (see [`Detector::report`]): one
    /// [`ScoredBucket`] per result from index `already_seen` on, plus earlier results (judged
    /// by an earlier poll and left unreported because their run was still short) that are
    /// reported now. `is_anomaly` is the final decision. `starts[i]` is result `i`'s bucket
    /// start, `alert_counts[i]` its alerts. Events are not assigned here. Also returns the
    /// trailing candidate run for the next poll.
    pub fn decide(
        &self,
        results: &[RowResult],
        starts: &[DateTime<Utc>],
        bucket: chrono::TimeDelta,
        alert_counts: &[u64],
        already_seen: usize,
        prior: usize,
    ) -> (Vec<ScoredBucket>, usize) {
        let judged: Vec<Judgement> = results
            .iter()
            .zip(starts)
            .map(|(r, s)| self.judge(*s, r))
            .collect();
        let candidates: Vec<bool> = judged.iter().map(|j| j.candidate).collect();
        let reported = self.report(&candidates, prior);
        let trailing = Self::trailing_run(&candidates, prior);
        let buckets = results
            .iter()
            .zip(judged)
            .zip(reported)
            .enumerate()
            .filter(|(i, (_, report))| *i >= already_seen || *report)
            .map(|(i, ((result, judgement), report))| ScoredBucket {
                start: judgement.start,
                end: judgement.start + bucket,
                anomaly_score: judgement.anomaly_score,
                is_anomaly: report,
                mvad_score: result.score,
                mvad_severity: result.severity,
                contributions: result
                    .interpretation
                    .iter()
                    .map(|c| Contribution {
                        variable: c.variable_name.clone(),
                        contribution: c.contribution_score,
                        observed: c.observed,
                        expected: c.expected,
                        correlation_changes: c
                            .correlation_changes
                            .changed_variables
                            .iter()
                            .cloned()
                            .zip(c.correlation_changes.changed_values.iter().copied())
                            .collect(),
                    })
                    .collect(),
                alert_count: alert_counts.get(i).copied().unwrap_or(0),
                event: None,
            })
            .collect();
        (buckets, trailing)
    }
}
