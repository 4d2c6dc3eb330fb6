//! `MVADModelEngine`: the CLI's training and detection steps on a feature table. Training
//! uses the run's engine parameters (`sonar::pipeline::mvad_params`: the config's
//! `sliding_window`, `device` and `extra_params` over SONAR's defaults) and stores the
//! feature schema in the model, as `sonar train` does. Prediction scores through the
//! engine's streaming scorer and the scenario's detector (calibrated `anomaly_score`,
//! threshold, `min_consecutive`), as `sonar detect` does.

use std::path::PathBuf;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use pyo3::prelude::*;
use serde_json::json;
use sonar::detect::Detector;
use sonar::features::{FeatureSchema, ALERT_COUNT_COLUMN};
use sonar::pipeline::{apply_small_data_rule, mvad_params, LoadedModel};
use sonar_mvad::{EpochReport, Frame, MvadError, MvadModel, StreamingScorer, TrainObserver};

use crate::config::NativeSettings;
use crate::errors::{self, IntoPy};
use crate::matrix;
use crate::slot::Slot;

/// A trained or loaded model and the feature schema it was trained on (none for a table
/// that did not come from `WazuhFeatureBuilder`).
pub(crate) struct Trained {
    pub model: MvadModel,
    pub schema: Option<FeatureSchema>,
    pub path: Option<PathBuf>,
}

/// Forwards epochs to an optional Python callable `f(epoch, epochs, train_loss, val_loss,
/// improved, train_seconds, val_seconds)` and stops on Ctrl+C.
pub(crate) struct PyObserver {
    pub callback: Option<Py<PyAny>>,
}

impl TrainObserver for PyObserver {
    fn epoch(&mut self, r: &EpochReport) {
        if let Some(cb) = &self.callback {
            Python::attach(|py| {
                let report = (
                    r.epoch,
                    r.epochs,
                    r.train_loss,
                    r.val_loss,
                    r.improved,
                    r.train_time.as_secs_f64(),
                    r.val_time.as_secs_f64(),
                );
                if let Err(e) = cb.call1(py, report) {
                    e.write_unraisable(py, None);
                }
            });
        }
    }

    fn cancelled(&self) -> bool {
        // A pending Ctrl+C runs Python's handler, which reports KeyboardInterrupt here.
        Python::attach(|py| py.check_signals().is_err())
    }
}

/// Runs `fit` without the GIL; a Ctrl+C becomes `KeyboardInterrupt`.
pub(crate) fn fit(
    py: Python<'_>,
    frame: &Frame,
    params: &sonar_mvad::MvadParams,
    callback: Option<Py<PyAny>>,
) -> PyResult<MvadModel> {
    let mut observer = PyObserver { callback };
    let result = py.detach(|| sonar_mvad::fit(frame, params, &mut observer));
    if matches!(result, Err(MvadError::Cancelled)) {
        return Err(pyo3::exceptions::PyKeyboardInterrupt::new_err(
            "training interrupted",
        ));
    }
    result.py()
}

/// The model engine of one set of settings.
#[pyclass(frozen, module = "sonar._native")]
pub struct NativeEngine {
    settings: NativeSettings,
    state: Slot<Trained>,
}

fn parse_start(label: &str) -> PyResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(label)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            errors::data(format!(
                "row label `{label}` is not a bucket start time ({e}): MVADModelEngine scores tables indexed by time (WazuhFeatureBuilder's); use sonar.mvad.MultivariateAnomalyDetector for other data"
            ))
        })
}

#[pymethods]
impl NativeEngine {
    #[new]
    fn new(settings: &NativeSettings) -> Self {
        Self {
            settings: settings.clone(),
            state: Slot::new("no model: call train() or load() first"),
        }
    }

    /// Trains on a feature table (row labels = bucket starts, RFC 3339). `schema_json` is the
    /// table's feature schema (stored in the model so detection builds the same columns).
    /// Too few rows follow `sonar train`'s rules (`training.min_samples`; the small-data rule
    /// shrinks a default `sliding_window`). Returns a JSON summary (rows, columns, epochs run,
    /// best epoch, the sliding window fitted, warnings).
    #[pyo3(signature = (labels, columns, values, schema_json=None, callback=None))]
    fn train(
        &self,
        py: Python<'_>,
        labels: Vec<String>,
        columns: Vec<String>,
        values: &[u8],
        schema_json: Option<&str>,
        callback: Option<Py<PyAny>>,
    ) -> PyResult<String> {
        let s = self.settings.settings();
        let schema: Option<FeatureSchema> = schema_json
            .map(|text| {
                serde_json::from_str(text)
                    .map_err(|e| errors::data(format!("not a SONAR feature schema: {e}")))
            })
            .transpose()?;
        let range = labels.first().cloned().zip(labels.last().cloned());
        let rows = labels.len();
        let frame = matrix::frame(labels, columns, values)?;
        let mut params = mvad_params(s).py()?;
        params.validate().py()?;
        let warning = apply_small_data_rule(s, &mut params, rows).py()?;
        let mut model = fit(py, &frame, &params, callback)?;
        let meta = model.meta_mut();
        if let Some(schema) = &schema {
            meta.schema = Some(
                serde_json::to_value(schema)
                    .map_err(|e| errors::data(format!("cannot store the schema: {e}")))?,
            );
        }
        meta.training_range = range;
        let training = meta.training.clone();
        let columns = model.variables().len();
        self.state.set(Trained {
            model,
            schema,
            path: None,
        })?;
        matrix::to_json(&json!({
            "rows": rows,
            "columns": columns,
            "epochs_run": training.as_ref().map(|t| t.epochs_run),
            "best_epoch": training.as_ref().map(|t| t.best_epoch),
            "sliding_window": params.sliding_window.unwrap_or(s.mvad.sliding_window.get() as usize),
            "warnings": warning.into_iter().collect::<Vec<_>>(),
        }))
    }

    /// Saves the model directory (`model.safetensors` + `model_meta.json`) at `path`, or at
    /// the settings' `model_path`; returns the directory.
    #[pyo3(signature = (path=None))]
    fn save(&self, path: Option<PathBuf>) -> PyResult<String> {
        let dir = path.unwrap_or_else(|| self.settings.settings().model_path.clone());
        self.state.with(|t| t.model.save(&dir).py())?;
        Ok(dir.display().to_string())
    }

    /// Loads the model directory at `path` (default: the settings' `model_path`); a model
    /// exported from the reference library loads too (without a feature schema).
    #[pyo3(signature = (path=None))]
    fn load(&self, py: Python<'_>, path: Option<PathBuf>) -> PyResult<String> {
        let dir = path.unwrap_or_else(|| self.settings.settings().model_path.clone());
        let trained = py.detach(|| match LoadedModel::load(&dir) {
            Ok(m) => Ok(Trained {
                model: m.model,
                schema: Some(m.schema),
                path: Some(m.path),
            }),
            Err(sonar::Error::ModelSchema { .. }) => MvadModel::load(&dir)
                .map(|model| Trained {
                    model,
                    schema: None,
                    path: Some(dir.clone()),
                })
                .map_err(sonar::Error::from),
            Err(e) => Err(e),
        });
        self.state.set(trained.py()?)?;
        Ok(dir.display().to_string())
    }

    /// Scores a feature table as `sonar detect` does and returns one JSON row per scored
    /// bucket (every row after the model's `W + TW − 1` rows of context): the reference's
    /// keys (`index`, `is_anomaly`, `score`, `severity`, `interpretation`) plus SONAR's
    /// (`anomaly_score`, `threshold`, `engine_anomaly`, `local_threshold`, `alert_count`,
    /// `bucket_end`). `is_anomaly` is SONAR's decision: `anomaly_score ≥ threshold` inside a
    /// run of `min_consecutive` buckets.
    fn predict(
        &self,
        py: Python<'_>,
        labels: Vec<String>,
        columns: Vec<String>,
        values: &[u8],
    ) -> PyResult<String> {
        let s = self.settings.settings();
        let frame = matrix::frame(labels, columns, values)?;
        self.state.with(|t| {
            // The streaming scorer would wait for more rows; a one-off call has no more.
            let minimum = t.model.min_rows();
            if frame.n_rows() < minimum {
                return Err(errors::from_mvad(MvadError::NotEnoughData {
                    action: "score",
                    rows: frame.n_rows(),
                    minimum,
                    why: format!(
                        "the model's W + TW − 1 = {} rows of context, then the rows to judge",
                        minimum - 1
                    ),
                }));
            }
            let bucket_minutes = t
                .schema
                .as_ref()
                .map_or(s.features.bucket_minutes, |sc| sc.bucket_minutes);
            let step = TimeDelta::minutes(i64::from(bucket_minutes));
            let results = py
                .detach(|| {
                    StreamingScorer::new(&t.model, s.detection.threshold_rule)
                        .push_frame(&frame, false)
                })
                .py()?;
            let first = frame.n_rows() - results.len();
            let labels = &frame.index()[first..];
            let starts = labels
                .iter()
                .map(|l| parse_start(l))
                .collect::<PyResult<Vec<_>>>()?;
            let count_col = frame.columns().iter().position(|c| c == ALERT_COUNT_COLUMN);
            let counts: Vec<u64> = (first..frame.n_rows())
                .map(|r| count_col.map_or(0, |c| frame.value(r, c).max(0.0) as u64))
                .collect();
            let detector = Detector::new(
                t.model.meta(),
                s.detection.threshold,
                s.detection.min_consecutive,
            );
            let (buckets, _) = detector.decide(&results, &starts, step, &counts, 0, 0);
            let rows: Vec<serde_json::Value> = buckets
                .iter()
                .zip(&results)
                .map(|(b, r)| {
                    json!({
                        "index": r.index,
                        "is_anomaly": b.is_anomaly,
                        "score": r.score,
                        "severity": r.severity,
                        "interpretation": r.interpretation,
                        "anomaly_score": b.anomaly_score,
                        "threshold": s.detection.threshold,
                        "engine_anomaly": r.is_anomaly,
                        "local_threshold": r.local_threshold,
                        "alert_count": b.alert_count,
                        "bucket_end": b.end.to_rfc3339_opts(SecondsFormat::Secs, true),
                    })
                })
                .collect();
            matrix::to_json(&rows)
        })
    }

    /// The loaded model's feature schema (JSON), if it has one.
    #[getter]
    fn feature_schema(&self) -> PyResult<Option<String>> {
        self.state
            .with(|t| t.schema.as_ref().map(matrix::to_json).transpose())
    }

    /// What the anomaly documents say about the model (`MVADPostProcessor` context keys).
    fn document_context(&self) -> PyResult<String> {
        let s = self.settings.settings();
        self.state.with(|t| {
            let meta = t.model.meta();
            let training_samples = LoadedModel {
                model: t.model.clone(),
                schema: t.schema.clone().unwrap_or_else(|| empty_schema(s)),
                path: t.path.clone().unwrap_or_else(|| s.model_path.clone()),
            }
            .training_rows();
            matrix::to_json(&json!({
                "model_path": t.path.as_ref().unwrap_or(&s.model_path).display().to_string(),
                "model_name": s.model_name,
                "model_version": meta.library_version.clone().unwrap_or_else(|| "unknown".into()),
                "feature_names": meta.variables,
                "training_samples": training_samples,
                "sliding_window": meta.sliding_window,
                "bucket_minutes": t.schema.as_ref().map_or(s.features.bucket_minutes, |sc| sc.bucket_minutes),
            }))
        })
    }

    /// Rows a table must have to get one scored row (`W + TW`).
    #[getter]
    fn min_rows(&self) -> PyResult<usize> {
        self.state.with(|t| Ok(t.model.min_rows()))
    }

    /// The model's columns, in model order.
    #[getter]
    fn variables(&self) -> PyResult<Vec<String>> {
        self.state.with(|t| Ok(t.model.variables().to_vec()))
    }

    /// Whether a model is trained or loaded.
    #[getter]
    fn has_model(&self) -> PyResult<bool> {
        self.state.peek(|t| t.is_some())
    }
}

/// A schema of the settings' bucket width, for models without one (only the width is read).
fn empty_schema(s: &sonar::config::Settings) -> FeatureSchema {
    FeatureSchema {
        version: sonar::features::SCHEMA_VERSION,
        bucket_minutes: s.features.bucket_minutes,
        timestamp_field: s.features.timestamp_field.clone(),
        numeric_fields: Vec::new(),
        max_numeric_fields: Vec::new(),
        derived_features: false,
        categorical: Vec::new(),
        columns: Vec::new(),
    }
}
