//! The detector (docs/configuration.md "detection"): turns the engine's per-bucket results
//! into the decisions a scenario asked for.
//!
//! Three steps, each a small pure function so tests can feed them tables:
//! 1. [`Calibration`] (the model's [`sonar_mvad::ScoreCalibration`], fitted on held-out rows
//!    at training) maps the engine's raw score to `anomaly_score = 1 − p`, `p` the share of
//!    normal buckets that score at least as high: the same value means the same rarity on
//!    every data set and scoring (docs/mvad.md "Calibration").
//! 2. A bucket is a *candidate* when its `anomaly_score` reaches the scenario `threshold`
//!    (which `detection.false_alarm_rate` sets from the bucket size). The engine's own
//!    local-threshold flag (`is_anomaly`, the reference's rule) does not gate it by default:
//!    measured in docs/quality.md "Alert data at the default threshold", it only removes
//!    buckets inside attacks (it compares a bucket with the 95th percentile of the last TW
//!    ones, so the second half of a long attack hides behind its first half).
//!    [`Detector::engine_gate`] puts the gate back.
//! 3. A candidate is *reported* only inside a run of at least `min_consecutive` consecutive
//!    candidates. Reported buckets are grouped into events by [`assign_events`] ([`bucket`]).
//!
//! The detector never sees alerts, HTTP or files: it takes [`sonar_mvad::RowResult`]s and
//! returns [`ScoredBucket`]s; turning them into documents is the sink's business.

use chrono::{DateTime, Utc};
use sonar_mvad::{ModelMeta, RowResult};

pub mod bucket;
pub mod entity;
pub mod settings;
#[cfg(test)]
mod tests;

pub use bucket::{
    assign_events, assign_events_after, event_id, group_events, group_events_after, AnomalyEvent,
    Contribution, ScoredBucket,
};

pub use entity::{id_scope, Entity, EntityValue};
pub use settings::{DetectionMode, DetectionSettings, PayloadSettings};

/// The map from raw MVAD scores to `anomaly_score` in `[0, 1]` (see the module doc).
pub use sonar_mvad::ScoreCalibration as Calibration;

/// Whether the engine's local-threshold decision gates candidates by default (see the
/// module doc for the measurement).
pub const ENGINE_GATE: bool = false;

/// `detection.false_alarm_rate` when a scenario sets neither it nor `detection.threshold`:
/// expected false anomalous buckets per day (docs/quality.md "Alert data at the default
/// threshold" has the measurement behind it).
pub const DEFAULT_FALSE_ALARM_RATE: f64 = 0.5;

/// The threshold that lets through `false_alarm_rate` normal buckets per day on average, at
/// buckets of `bucket_minutes`: `1 − rate · bucket_minutes / 1440`, at least 0.
pub fn threshold_for_rate(false_alarm_rate: f64, bucket_minutes: u32) -> f64 {
    (1.0 - false_alarm_rate * f64::from(bucket_minutes) / 1440.0).clamp(0.0, 1.0)
}

/// The scenario's decision rules, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Detector {
    /// Score map of the model in use.
    pub calibration: Calibration,
    /// `detection.threshold`: the `anomaly_score` a candidate must reach, in `[0, 1]`.
    pub threshold: f64,
    /// `detection.min_consecutive`: candidates in a row needed to report them (≥ 1).
    pub min_consecutive: u32,
    /// Candidates must also be flagged by the engine's local threshold ([`ENGINE_GATE`]).
    pub engine_gate: bool,
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
    /// `anomaly_score ≥ threshold` (and the engine decision, with the engine gate).
    pub candidate: bool,
}

impl Detector {
    /// A detector for one model and scenario. `min_consecutive` 0 is treated as 1.
    pub fn new(meta: &ModelMeta, threshold: f64, min_consecutive: u32) -> Self {
        Self {
            calibration: meta.calibration(),
            threshold,
            min_consecutive: min_consecutive.max(1),
            engine_gate: ENGINE_GATE,
        }
    }

    /// Whether one engine result is a candidate, with its calibrated score.
    pub fn judge(&self, start: DateTime<Utc>, result: &RowResult) -> Judgement {
        let anomaly_score = self.calibration.anomaly_score(result.score);
        Judgement {
            start,
            anomaly_score,
            engine_anomaly: result.is_anomaly,
            candidate: (result.is_anomaly || !self.engine_gate) && anomaly_score >= self.threshold,
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
