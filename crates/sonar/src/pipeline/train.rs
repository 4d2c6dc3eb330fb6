//! One training run: alerts → features (schema frozen) → fit → model directory.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use sonar_mvad::{EpochReport, MvadError, TrainObserver};

use super::fetch::build_features;
use super::{
    debug_window, indexer_client, mvad_params, needed_fields, open_source, window_range, Clock,
    Phase, Progress, RunSummary, StopFlag,
};
use crate::config::{Settings, SlidingWindow};
use crate::features::{engine_label, FeatureMatrix, FeaturePlan, FeatureSchema};
use crate::sink::{DataStreamSink, WriteInspector, WriteOptions};
use crate::source::{AlertQuery, AlertSource, ServerFeatures, TimeRange};
use crate::Error;

/// What a training run produced.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// The saved model's directory.
    pub model_path: std::path::PathBuf,
    /// The training window.
    pub range: TimeRange,
    /// Feature columns.
    pub columns: usize,
    /// Epochs run (early stopping may end before the maximum).
    pub epochs_run: usize,
    /// The window the model was fitted with: the configured one, or a smaller one under the
    /// small-data rule.
    pub sliding_window: usize,
    /// Counts for the summary line.
    pub summary: RunSummary,
}

/// Forwards epochs to the progress display and polls the stop flag between batches.
pub(crate) struct Observer<'a> {
    pub(crate) progress: &'a mut dyn Progress,
    pub(crate) stop: &'a StopFlag,
}

impl TrainObserver for Observer<'_> {
    fn epoch(&mut self, report: &EpochReport) {
        self.progress.epoch(report);
        tracing::debug!(
            epoch = report.epoch,
            train_loss = report.train_loss,
            val_loss = report.val_loss,
            "epoch"
        );
    }

    fn cancelled(&self) -> bool {
        self.stop.is_raised()
    }
}

/// The write options of a run (`--dry-run`, `--print-payloads`, `--payload-dir`).
pub fn write_options(settings: &Settings, payload_dir_given: bool) -> WriteOptions {
    let p = &settings.detection.payloads;
    WriteOptions {
        dry_run: p.dry_run,
        print_payloads: p.print,
        payload_dir: (p.dry_run || p.print || payload_dir_given).then(|| p.dir.clone()),
    }
}

/// The training window: `--start` / `--end` when given, else the whole training file in debug
/// mode, else the `lookback` complete buckets ending at `now`.
pub(crate) fn training_range(
    settings: &Settings,
    plan: &FeaturePlan,
    now: DateTime<Utc>,
) -> Result<TimeRange, Error> {
    let b = plan.bucket;
    if settings.window.is_set() {
        return Ok(window_range(
            settings.window,
            settings.training.lookback,
            now,
            b,
        ));
    }
    if let Some(window) = debug_window(settings, Phase::Training, b)? {
        return Ok(window);
    }
    let end = b.floor(now);
    let lookback = TimeDelta::from_std(settings.training.lookback).unwrap_or(TimeDelta::hours(24));
    Ok(TimeRange {
        start: b.floor(end - lookback),
        end,
    })
}

/// Checks that `rows` training buckets are enough to fit `params` under the run's settings,
/// as `sonar train` does before fitting: at least `training.min_samples` (default
/// `sliding_window + 1`) and the engine's own minimum. When they are too few and no file set
/// `sliding_window`, the small-data rule (docs/configuration.md, `sliding_window`) sets
/// `params.sliding_window` to the largest smaller window the rows can train and returns the
/// warning to show (one sentence); otherwise too few rows are
/// [`Error::NotEnoughTrainingData`].
pub fn apply_small_data_rule(
    settings: &Settings,
    params: &mut sonar_mvad::MvadParams,
    rows: usize,
) -> Result<Option<String>, Error> {
    let engine_rows = sonar_mvad::data_needs(params).min_rows;
    let needed = settings.training.min_samples.max(engine_rows);
    if rows >= needed {
        return Ok(None);
    }
    let configured = settings.mvad.sliding_window.get();
    if let Some(window) = small_data_window(settings, params, rows) {
        params.sliding_window = Some(window);
        return Ok(Some(format!(
            "too few training buckets ({rows}) for the default sliding_window {configured}: \
             fitting with sliding_window {window} instead (set sliding_window to choose it)"
        )));
    }
    Err(Error::NotEnoughTrainingData {
        rows,
        needed,
        bucket_minutes: settings.features.bucket_minutes,
        why: if needed == engine_rows {
            format!(
                "MVAD with sliding_window {configured} and batch_size {}",
                params.batch_size
            )
        } else if settings.training.min_samples_given {
            "training.min_samples".to_owned()
        } else {
            format!("sliding_window {configured} plus the row it predicts")
        },
    })
}

/// The small-data rule's window: when no file set `sliding_window` and the training data hold
/// only `rows` buckets, the largest window from [`SlidingWindow::MIN`] up to the
/// configured one that `rows` buckets can train (the engine's minimum, and
/// `training.min_samples` or else `window + 1`). `None` when the window was set explicitly
/// (then too little data is the usual error) or not even the smallest window fits.
fn small_data_window(
    settings: &Settings,
    params: &sonar_mvad::MvadParams,
    rows: usize,
) -> Option<usize> {
    if settings.mvad.sliding_window_given {
        return None;
    }
    let smallest = SlidingWindow::MIN as usize;
    let configured = settings.mvad.sliding_window.get() as usize;
    (smallest..configured).rev().find(|&window| {
        let engine_rows = sonar_mvad::data_needs(&sonar_mvad::MvadParams {
            sliding_window: Some(window),
            ..params.clone()
        })
        .min_rows;
        let min_samples = if settings.training.min_samples_given {
            settings.training.min_samples
        } else {
            window + 1
        };
        engine_rows.max(min_samples) <= rows
    })
}

/// Trains the run's model and saves it under `settings.model_path` (a directory holding
/// `model.safetensors` and `model_meta.json`, with the feature schema in the metadata).
/// With shipping on (and not a dry run of it), the scenario's stream templates are installed.
pub fn train(
    settings: &Settings,
    clock: &dyn Clock,
    progress: &mut dyn Progress,
    stop: &StopFlag,
    payload_dir_given: bool,
) -> Result<TrainOutcome, Error> {
    train_from(None, settings, clock, progress, stop, payload_dir_given)
}

/// [`train`] reading from `source` (a per-entity run's prefetched features), or from the
/// run's own source when `None`.
pub(crate) fn train_from(
    source: Option<Box<dyn AlertSource + '_>>,
    settings: &Settings,
    clock: &dyn Clock,
    progress: &mut dyn Progress,
    stop: &StopFlag,
    payload_dir_given: bool,
) -> Result<TrainOutcome, Error> {
    let started = Instant::now();
    let data = training_data(source, settings, None, clock, progress, stop)?;
    let frame = data.matrix.to_frame()?;
    tracing::info!(
        buckets = data.matrix.rows(),
        columns = data.matrix.cols(),
        epochs = data.params.epochs,
        "training"
    );
    progress.phase("training");
    let mut observer = Observer { progress, stop };
    let model = match sonar_mvad::fit(&frame, &data.params, &mut observer) {
        Ok(model) => model,
        Err(MvadError::Cancelled) => return Err(Error::Stopped { during: "training" }),
        Err(e) => return Err(e.into()),
    };
    observer.progress.done();
    save_trained(model, data, settings, (payload_dir_given, false), started)
}

/// A training run's features and the parameters to fit them with.
pub(crate) struct TrainingData {
    /// The features of the training window.
    pub(crate) matrix: FeatureMatrix,
    /// The fitting parameters (the small-data rule applied).
    pub(crate) params: sonar_mvad::MvadParams,
    /// The training window.
    pub(crate) range: TimeRange,
    /// Counts for the summary line.
    pub(crate) summary: RunSummary,
}

/// Fetches a training run's features: from `source`, or the run's own source when `None`;
/// with the vocabularies chosen from the window's alerts, or `schema`'s when given (a shared
/// model's members all have the fleet's columns).
pub(crate) fn training_data(
    source: Option<Box<dyn AlertSource + '_>>,
    settings: &Settings,
    schema: Option<&FeatureSchema>,
    clock: &dyn Clock,
    progress: &mut dyn Progress,
    stop: &StopFlag,
) -> Result<TrainingData, Error> {
    let plan = settings.features.validate()?;
    let mut params = mvad_params(settings)?;
    params.validate()?;
    let now = clock.now();
    let range = training_range(settings, &plan, now)?;
    let needed = settings
        .training
        .min_samples
        .max(sonar_mvad::data_needs(&params).min_rows);
    let mut source = match source {
        Some(source) => source,
        None => open_source(settings, Phase::Training)?,
    };
    let query = AlertQuery {
        range,
        timestamp_field: settings.features.timestamp_field.clone(),
        fields: needed_fields(settings),
        alert_filter: settings.alert_filter.clone(),
    };
    tracing::info!(
        start = %range.start, end = %range.end, debug = settings.debug.enabled,
        "fetching training alerts"
    );
    progress.phase("fetching training alerts");
    let fetched = build_features(
        settings,
        source.as_mut(),
        query,
        match schema {
            Some(schema) => ServerFeatures::Detection(schema),
            None => ServerFeatures::Training(&plan),
        },
        settings.training.fill_with_synthetic,
        needed,
        now,
        progress,
        stop,
    )?;
    let summary = fetched.summary();
    let matrix = fetched.matrix;
    if let Some(warning) = apply_small_data_rule(settings, &mut params, matrix.rows())? {
        tracing::warn!(
            buckets = matrix.rows(),
            sliding_window = settings.mvad.sliding_window.get(),
            effective_window = params.sliding_window,
            "{warning}"
        );
    }
    Ok(TrainingData {
        matrix,
        params,
        range,
        summary,
    })
}

/// Stores a fitted `model` of `data` in the run's model directory, with its feature schema
/// and training range; installs the data stream templates when shipping.
/// With `meta_only`, the weights are not written (a member of a shared set, whose network is
/// stored once).
pub(crate) fn save_trained(
    mut model: sonar_mvad::MvadModel,
    data: TrainingData,
    settings: &Settings,
    (payload_dir_given, meta_only): (bool, bool),
    started: Instant,
) -> Result<TrainOutcome, Error> {
    let TrainingData {
        matrix,
        params,
        range,
        mut summary,
    } = data;
    let epochs_run = model.meta().training.as_ref().map_or(0, |t| t.epochs_run);
    let schema = serde_json::to_value(&matrix.schema).map_err(|e| Error::ModelSchema {
        path: settings.model_path.clone(),
        problem: format!("cannot serialise the feature schema: {e}"),
    })?;
    let meta = model.meta_mut();
    meta.schema = Some(schema);
    if let (Some(first), Some(last)) = (matrix.bucket_starts.first(), matrix.bucket_starts.last()) {
        meta.training_range = Some((engine_label(*first), engine_label(*last)));
    }
    if meta_only {
        model.save_meta(&settings.model_path)?;
    } else {
        model.save(&settings.model_path)?;
    }
    if settings.shipping.enabled && settings.shipping.install_templates {
        let client = indexer_client(settings)?;
        let inspector = WriteInspector::new(write_options(settings, payload_dir_given));
        let mut sink = DataStreamSink::new(
            client,
            inspector,
            &settings.shipping.scenario_id,
            model.variables(),
            true,
            None,
        );
        let report = sink.install()?;
        tracing::info!(stream = sink.stream(), installed = ?report.installed, "data stream templates installed");
    }
    summary.destination = Some(settings.model_path.display().to_string());
    summary.elapsed = started.elapsed().max(Duration::ZERO);
    Ok(TrainOutcome {
        model_path: settings.model_path.clone(),
        range,
        columns: matrix.cols(),
        epochs_run,
        sliding_window: params
            .sliding_window
            .unwrap_or(settings.mvad.sliding_window.get() as usize),
        summary,
    })
}
