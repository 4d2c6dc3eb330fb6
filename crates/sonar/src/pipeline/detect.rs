//! One detection run over a range of buckets: model + frozen schema → alerts of the range and
//! of the model's context before it → features → predict → detector → documents → sink.

use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use sonar_mvad::{MvadModel, PredictOptions};

use super::train::{build_features, write_options};
use super::{
    debug_window, floor_to_bucket, indexer_client, needed_fields, open_source, Clock, Phase,
    Progress, RunSummary, StopFlag,
};
use crate::config::Settings;
use crate::detect::Detector;
use crate::features::{FeatureBuilder, FeatureSchema};
use crate::sink::{
    assign_events_after, build_anomaly_documents, AnomalyEvent, AnomalySink, DataStreamSink,
    DocumentContext, IndexSink, JsonlSink, WriteInspector, DEFAULT_TOP_CONTRIBUTORS,
};
use crate::source::{AlertQuery, TimeRange};
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
        let model = MvadModel::load(path)?;
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

    /// Bucket width in seconds.
    pub fn bucket_seconds(&self) -> i64 {
        i64::from(self.schema.bucket_minutes) * 60
    }

    /// Buckets of context the model reads before the first bucket it scores: `W + TW − 1`.
    pub fn context_buckets(&self) -> usize {
        self.model.min_rows().saturating_sub(1)
    }

    /// Rows the model was trained on (from the stored training range).
    pub fn training_rows(&self) -> u64 {
        let parse = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        };
        match &self.model.meta().training_range {
            Some((a, b)) => match (parse(a), parse(b)) {
                (Some(a), Some(b)) => {
                    ((b - a).num_seconds() / self.bucket_seconds()).max(0) as u64 + 1
                }
                _ => 0,
            },
            None => 0,
        }
    }
}

/// What to score in one run.
#[derive(Debug, Clone, Default)]
pub struct DetectRequest {
    /// Buckets to judge: `[start, end)`, bucket-aligned.
    pub range: Option<TimeRange>,
    /// Buckets before `range.start` judged by an earlier poll whose candidate run was still
    /// short (realtime); they are re-scored and reported if their run now completes.
    pub already_seen: usize,
    /// Candidate run ending before the first judged bucket that is not re-scored (realtime).
    pub prior: usize,
    /// The previous poll's last event, if it was still open (realtime).
    pub open_event: Option<AnomalyEvent>,
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
    /// The last event, when it reaches the end of the range (it may continue).
    pub open_event: Option<AnomalyEvent>,
}

/// The buckets a one-off detection judges: in debug mode the whole detection file (as the
/// original, which ignored time in debug mode), else the `lookback` complete buckets ending
/// at `now`.
pub fn historical_range(
    settings: &Settings,
    model: &LoadedModel,
    now: DateTime<Utc>,
) -> Result<TimeRange, Error> {
    let b = model.bucket_seconds();
    if let Some(window) = debug_window(settings, Phase::Detection, b)? {
        return Ok(window);
    }
    let end = floor_to_bucket(now, b);
    let lookback =
        TimeDelta::from_std(settings.detection.lookback).unwrap_or(TimeDelta::minutes(10));
    let start = floor_to_bucket(end - lookback, b).min(end - TimeDelta::seconds(b));
    Ok(TimeRange { start, end })
}

/// The sink of a run: the debug JSONL file, the scenario's data stream (`--ship`), or the
/// anomalies index.
pub fn open_sink(
    settings: &Settings,
    model: &LoadedModel,
    payload_dir_given: bool,
) -> Result<Box<dyn AnomalySink>, Error> {
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
pub fn detect(
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
    let b = model.bucket_seconds();
    let step = TimeDelta::seconds(b);
    let context = model.context_buckets();
    let score_start = range.start - step * request.already_seen as i32;
    let fetch = TimeRange {
        start: score_start - step * context as i32,
        end: range.end,
    };
    tracing::info!(
        start = %range.start, end = %range.end, context_buckets = context,
        fetch_start = %fetch.start,
        "detecting: reading {context} extra buckets of history before the first scored bucket (the model's W + TW − 1 context)"
    );
    let mut source = open_source(settings, Phase::Detection)?;
    let query = AlertQuery {
        range: fetch,
        timestamp_field: model.schema.timestamp_field.clone(),
        fields: needed_fields(settings),
        alert_filter: settings.features.alert_filter.clone(),
    };
    progress.phase("fetching detection alerts");
    let schema = model.schema.clone();
    let make = move |r: TimeRange| FeatureBuilder::for_detection(&schema, r);
    let judged = ((range.end - score_start).num_seconds() / b).max(0) as usize;
    let fetched = build_features(
        settings,
        source.as_mut(),
        query,
        &make,
        settings.detection.fill_with_synthetic,
        context + judged,
        now,
        progress,
        stop,
    )?;
    let matrix = fetched.matrix;
    let mut summary = RunSummary {
        alerts_read: fetched.stats.alerts,
        skipped: fetched.stats.skipped + matrix.stats.skipped,
        synthetic: fetched.synthetic,
        buckets: matrix.rows(),
        destination: Some(sink.destination()),
        ..RunSummary::default()
    };
    let frame = matrix.to_frame()?;
    let results = model.model.predict(&frame, PredictOptions::default())?;
    let offset = matrix.rows() - results.len();
    let first = matrix
        .bucket_starts
        .iter()
        .position(|t| *t >= score_start)
        .unwrap_or(matrix.rows())
        .max(offset);
    let last = matrix
        .bucket_starts
        .iter()
        .position(|t| *t >= range.end)
        .unwrap_or(matrix.rows());
    let (first, last) = (first.min(last), last);
    let starts = &matrix.bucket_starts[first..last];
    let counts = &matrix.alert_counts[first..last];
    let scored = &results[first - offset..last - offset];
    // Buckets before score_start that could not be re-scored are not "already seen".
    let already_seen = request
        .already_seen
        .min(starts.iter().filter(|t| **t < range.start).count());
    let detector = Detector::new(
        model.model.meta(),
        settings.detection.threshold,
        settings.detection.min_consecutive,
    );
    let (mut buckets, trailing_run) =
        detector.decide(scored, starts, step, counts, already_seen, request.prior);
    for (bucket, result) in buckets.iter().zip(scored.iter().skip(already_seen)) {
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
    let events = assign_events_after(
        &settings.shipping.scenario_id,
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
        top_contributors: DEFAULT_TOP_CONTRIBUTORS,
    };
    let docs = build_anomaly_documents(&ctx, &buckets);
    let report = sink.write(&docs)?.into_result()?;
    summary.scored = starts.len().saturating_sub(already_seen);
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
        open_event,
    })
}
