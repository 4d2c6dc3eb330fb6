//! One detection run over a range of buckets: model + frozen schema → alerts of the range and
//! of the model's context before it → features → predict → detector → documents → sink.

use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sonar_mvad::{MvadModel, RowResult, ScorerState, StreamingScorer, ThresholdRule};

use super::fetch::build_features;
use super::train::write_options;
use super::{
    debug_window, indexer_client, needed_fields, open_source, window_range, Clock, Phase, Progress,
    RunSummary, StopFlag,
};
use crate::config::Settings;
use crate::detect::{assign_events_after, id_scope, AnomalyEvent, Detector, ScoredBucket};
use crate::features::{engine_label, label_time, BucketWidth, FeatureSchema};
use crate::sink::{
    build_anomaly_documents, AnomalySink, DataStreamSink, DocumentContext, IndexSink, JsonlSink,
    WriteInspector,
};
use crate::source::{AlertQuery, AlertSource, ServerFeatures, TimeRange};
use crate::Error;

/// A trained model with the feature schema it was trained on.
#[derive(Debug)]
pub struct LoadedModel {
    /// The engine model.
    pub model: MvadModel,
    /// The frozen feature schema (from the model's metadata).
    pub schema: FeatureSchema,
    /// The model directory.
    pub path: PathBuf,
}

impl LoadedModel {
    /// Loads the model directory at `path` and its feature schema.
    pub fn load(path: &Path) -> Result<Self, Error> {
        if !path.join(sonar_mvad::META_FILE).is_file() {
            return Err(Error::ModelMissing {
                path: path.to_path_buf(),
            });
        }
        Self::from_model(MvadModel::load(path)?, path)
    }

    /// A loaded `model` of the directory `path`, with its feature schema.
    pub fn from_model(model: MvadModel, path: &Path) -> Result<Self, Error> {
        let schema_json = model.meta().schema.clone().ok_or_else(|| Error::ModelSchema {
            path: path.to_path_buf(),
            problem: "no feature schema in the metadata (not trained by SONAR); retrain it with `sonar train`".into(),
        })?;
        let schema: FeatureSchema =
            serde_json::from_value(schema_json).map_err(|e| Error::ModelSchema {
                path: path.to_path_buf(),
                problem: format!("unreadable feature schema: {e}; retrain the model"),
            })?;
        schema.plan()?;
        Ok(Self {
            model,
            schema,
            path: path.to_path_buf(),
        })
    }

    /// The bucket width the model was trained on (from its schema, which [`Self::load`]
    /// checked).
    pub fn bucket(&self) -> Result<BucketWidth, Error> {
        self.schema.bucket().ok_or_else(|| Error::ModelSchema {
            path: self.path.clone(),
            problem: format!(
                "bucket_minutes {} is out of range; retrain the model",
                self.schema.bucket_minutes
            ),
        })
    }

    /// Buckets of context the model reads before the first bucket it scores: `W + TW − 1`.
    pub fn context_buckets(&self) -> usize {
        self.model.min_rows().saturating_sub(1)
    }

    /// Rows the model was trained on (from the stored training range).
    pub fn training_rows(&self) -> u64 {
        match &self.model.meta().training_range {
            Some((a, b)) => match (label_time(a), label_time(b), self.bucket()) {
                (Some(a), Some(b), Ok(bucket)) => {
                    ((b - a).num_seconds() / bucket.seconds()).max(0) as u64 + 1
                }
                _ => 0,
            },
            None => 0,
        }
    }
}

/// A bucket an earlier realtime poll judged a candidate but did not report, because its run
/// of candidates was still shorter than `min_consecutive`; the next poll reports it if the run
/// completes. Kept in the realtime state file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingBucket {
    /// Bucket start.
    pub start: DateTime<Utc>,
    /// Alerts in the bucket.
    pub alert_count: u64,
    /// The engine's result for the bucket.
    pub result: RowResult,
}

/// What to score in one run.
#[derive(Debug, Clone, Default)]
pub struct DetectRequest {
    /// Buckets to judge: `[start, end)`, bucket-aligned.
    pub range: Option<TimeRange>,
    /// Candidates judged by an earlier poll right before `range.start` and left unreported
    /// because their run was still short (realtime); reported now if the run completes.
    pub pending: Vec<PendingBucket>,
    /// Candidate run ending right before `range.start` that was already reported (realtime).
    pub prior: usize,
    /// The previous poll's last event, if it was still open (realtime).
    pub open_event: Option<AnomalyEvent>,
    /// The streaming scorer's state after the previous poll (realtime). When it ends right
    /// before `range.start` and belongs to this model, only the range is read and each bucket
    /// costs one window forward; otherwise the model's context is read again.
    pub scorer: Option<ScorerState>,
}

/// What a detection run did.
#[derive(Debug, Clone)]
pub struct DetectOutcome {
    /// The buckets judged.
    pub range: TimeRange,
    /// Counts for the summary line.
    pub summary: RunSummary,
    /// Candidate run at the end of the range (carried to the next poll).
    pub trailing_run: usize,
    /// The trailing candidates not reported yet (run shorter than `min_consecutive`).
    pub pending: Vec<PendingBucket>,
    /// The last event, when it reaches the end of the range (it may continue).
    pub open_event: Option<AnomalyEvent>,
    /// The streaming scorer's state after the last bucket of the range.
    pub scorer: ScorerState,
    /// Every bucket judged, reported or not, oldest first (earlier pending buckets reported
    /// now come first), with their events assigned: what `sonar eval --alerts` measures.
    pub buckets: Vec<ScoredBucket>,
}

/// The buckets a one-off detection judges: `--start` / `--end` when given, else in debug mode
/// the whole detection file (as the original, which ignored time in debug mode), else the
/// `lookback` complete buckets ending at `now`.
pub fn historical_range(
    settings: &Settings,
    model: &LoadedModel,
    now: DateTime<Utc>,
) -> Result<TimeRange, Error> {
    let b = model.bucket()?;
    if settings.window.is_set() {
        return Ok(window_range(
            settings.window,
            settings.detection.lookback,
            now,
            b,
        ));
    }
    if let Some(window) = debug_window(settings, Phase::Detection, b)? {
        return Ok(window);
    }
    let end = b.floor(now);
    let lookback =
        TimeDelta::from_std(settings.detection.lookback).unwrap_or(TimeDelta::minutes(10));
    let start = b.floor(end - lookback).min(end - b.step());
    Ok(TimeRange { start, end })
}

/// The sink of a run: the debug JSONL file, the scenario's data stream (`--ship`), or the
/// anomalies index.
pub fn open_sink(
    settings: &Settings,
    model: &LoadedModel,
    payload_dir_given: bool,
) -> Result<Box<dyn AnomalySink>, Error> {
    super::entity::check_supported(settings, false)?;
    let inspector = WriteInspector::new(write_options(settings, payload_dir_given));
    if settings.debug.enabled {
        return Ok(Box::new(JsonlSink::new(
            settings.debug.anomalies_file.clone(),
            inspector,
        )));
    }
    let client = indexer_client(settings)?;
    if settings.shipping.enabled {
        return Ok(Box::new(DataStreamSink::new(
            client,
            inspector,
            &settings.shipping.scenario_id,
            model.model.variables(),
            settings.shipping.install_templates,
            None,
        )));
    }
    Ok(Box::new(IndexSink::new(
        client,
        inspector,
        settings.wazuh.anomalies_index.clone(),
    )?))
}

/// Scores `request.range` (default: [`historical_range`]) and writes the anomalies to `sink`.
///
/// Scoring goes through the engine's [`StreamingScorer`]: a fresh one reads the model's
/// `W + TW − 1` buckets of context before the range, a resumed one (`request.scorer`) only the
/// range. Both give the same scores for the same buckets, so a realtime run and a historical
/// run over the same time write the same documents (same `_id`s, so nothing twice). Missing
/// gauge values (empty buckets) are carried forward from the previous bucket, never filled
/// from later ones: a bucket's score depends only on the past.
pub fn detect(
    settings: &Settings,
    model: &LoadedModel,
    request: &DetectRequest,
    sink: &mut dyn AnomalySink,
    clock: &dyn Clock,
    progress: &mut dyn Progress,
    stop: &StopFlag,
) -> Result<DetectOutcome, Error> {
    detect_from(None, settings, model, request, sink, clock, progress, stop)
}

/// [`detect`] reading from `source` (a per-entity run's prefetched features), or from the
/// run's own source when `None`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn detect_from(
    source: Option<Box<dyn AlertSource + '_>>,
    settings: &Settings,
    model: &LoadedModel,
    request: &DetectRequest,
    sink: &mut dyn AnomalySink,
    clock: &dyn Clock,
    progress: &mut dyn Progress,
    stop: &StopFlag,
) -> Result<DetectOutcome, Error> {
    let started = Instant::now();
    let now = clock.now();
    let range = match request.range {
        Some(range) => range,
        None => historical_range(settings, model, now)?,
    };
    let bucket = model.bucket()?;
    let step = bucket.step();
    let rule = settings.detection.threshold_rule;
    let mut scorer = resume_scorer(model, request.scorer.as_ref(), range.start - step, rule);
    let context = if scorer.is_some() {
        0
    } else {
        model.context_buckets()
    };
    let fetch = TimeRange {
        start: range.start - step * context as i32,
        end: range.end,
    };
    if context > 0 {
        tracing::info!(
            start = %range.start, end = %range.end, context_buckets = context,
            fetch_start = %fetch.start,
            "detecting: reading {context} extra buckets of history before the first scored bucket (the model's W + TW − 1 context)"
        );
    } else {
        tracing::info!(start = %range.start, end = %range.end, "detecting: resuming the streaming scorer, reading only the new buckets");
    }
    let mut source = match source {
        Some(source) => source,
        None => open_source(settings, Phase::Detection)?,
    };
    let query = AlertQuery {
        range: fetch,
        timestamp_field: model.schema.timestamp_field.clone(),
        fields: needed_fields(settings),
        alert_filter: settings.alert_filter.clone(),
    };
    progress.phase("fetching detection alerts");
    let judged = ((range.end - range.start).num_seconds() / bucket.seconds()).max(0) as usize;
    let fetched = build_features(
        settings,
        source.as_mut(),
        query,
        ServerFeatures::Detection(&model.schema),
        settings.detection.fill_with_synthetic,
        context + judged,
        now,
        progress,
        stop,
    )?;
    let mut summary = RunSummary {
        destination: Some(sink.destination()),
        ..fetched.summary()
    };
    let matrix = fetched.matrix;
    // Rows of the fetched range only (synthetic injection may have widened the matrix).
    let first = matrix.bucket_starts.partition_point(|t| *t < fetch.start);
    let last = matrix.bucket_starts.partition_point(|t| *t < range.end);
    let last = last.max(first);
    let scorer = scorer.get_or_insert_with(|| StreamingScorer::new(&model.model, rule));
    let results = if last > first {
        scorer.push_frame(&matrix.frame(first..last)?, false)?
    } else {
        Vec::new()
    };
    // Results belong to the last rows pushed; keep those inside the judged range.
    let scored_from = last - results.len();
    let keep_from = matrix.bucket_starts[..last]
        .partition_point(|t| *t < range.start)
        .max(scored_from);
    let mut all_results: Vec<RowResult> =
        request.pending.iter().map(|p| p.result.clone()).collect();
    all_results.extend(results[keep_from - scored_from..].iter().cloned());
    let mut starts: Vec<DateTime<Utc>> = request.pending.iter().map(|p| p.start).collect();
    starts.extend_from_slice(&matrix.bucket_starts[keep_from..last]);
    let mut counts: Vec<u64> = request.pending.iter().map(|p| p.alert_count).collect();
    counts.extend_from_slice(&matrix.alert_counts[keep_from..last]);
    let already_seen = request.pending.len();
    let detector = Detector::new(
        model.model.meta(),
        settings.detection.threshold,
        settings.detection.min_consecutive,
    );
    let (mut buckets, trailing_run) = detector.decide(
        &all_results,
        &starts,
        step,
        &counts,
        already_seen,
        request.prior,
    );
    // `buckets` ends with one bucket per new result (earlier pending ones reported now come
    // first), so the two line up from the end.
    for (bucket, result) in buckets.iter().rev().zip(all_results.iter().rev()) {
        tracing::debug!(
            start = %bucket.start,
            mvad_score = result.score,
            local_threshold = result.local_threshold,
            engine_anomaly = result.is_anomaly,
            anomaly_score = bucket.anomaly_score,
            reported = bucket.is_anomaly,
            "bucket scored"
        );
    }
    let k = settings.detection.min_consecutive.max(1) as usize;
    let pending = if trailing_run < k {
        let n = all_results.len();
        (n - trailing_run.min(n)..n)
            .map(|i| PendingBucket {
                start: starts[i],
                alert_count: counts[i],
                result: all_results[i].clone(),
            })
            .collect()
    } else {
        Vec::new()
    };
    let events = assign_events_after(
        &id_scope(&settings.shipping.scenario_id, settings.entity.as_ref()),
        request.open_event.as_ref(),
        &mut buckets,
    );
    let ctx = DocumentContext {
        scenario_id: settings.shipping.scenario_id.clone(),
        scenario_name: settings
            .scenario
            .as_ref()
            .map_or_else(|| settings.model_name.clone(), |s| s.name.clone()),
        model_name: settings.model_name.clone(),
        model_version: model
            .model
            .meta()
            .library_version
            .clone()
            .unwrap_or_else(|| "unknown".into()),
        model_path: model.path.display().to_string(),
        feature_names: model.model.variables().to_vec(),
        training_samples: model.training_rows(),
        sliding_window: model.model.meta().sliding_window.unwrap_or(0) as u32,
        bucket_minutes: model.schema.bucket_minutes,
        lookback_minutes: ((range.end - range.start).num_minutes()).max(0) as u32,
        threshold: settings.detection.threshold,
        detection_timestamp: now,
        top_contributors: settings.detection.top_contributors,
        entity: settings.entity.clone(),
    };
    let docs = build_anomaly_documents(&ctx, &buckets);
    let report = sink.write(&docs)?.into_result()?;
    summary.scored = starts.len() - already_seen;
    summary.anomalies = docs.len();
    summary.events = events.len();
    summary.written = report.written;
    summary.already_present = report.already_present;
    summary.dry_run = report.skipped_dry_run;
    summary.elapsed = started.elapsed();
    let open_event = events.last().filter(|e| e.end == range.end).cloned();
    Ok(DetectOutcome {
        range,
        summary,
        trailing_run,
        pending,
        open_event,
        scorer: scorer.state().clone(),
        buckets,
    })
}

/// A scorer resumed from `state` when it stopped exactly at the bucket starting at
/// `last_bucket`, belongs to this model and uses `rule`; `None` (start fresh) otherwise.
fn resume_scorer<'m>(
    model: &'m LoadedModel,
    state: Option<&ScorerState>,
    last_bucket: DateTime<Utc>,
    rule: ThresholdRule,
) -> Option<StreamingScorer<'m>> {
    let state = state?;
    if state.threshold_rule() != rule {
        tracing::info!(saved = ?state.threshold_rule(), configured = ?rule, "the threshold rule changed; reading the model's context again");
        return None;
    }
    if state.last_label().and_then(label_time) != Some(last_bucket) {
        tracing::info!(
            saved = ?state.last_label(), expected = %engine_label(last_bucket),
            "the saved scorer state does not end right before this poll; reading the model's context again"
        );
        return None;
    }
    match StreamingScorer::resume(&model.model, state.clone()) {
        Ok(scorer) => Some(scorer),
        Err(e) => {
            tracing::warn!(error = %e, "cannot resume the saved scorer state (was the model retrained?); reading the model's context again");
            None
        }
    }
}
