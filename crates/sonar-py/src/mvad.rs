//! `sonar.mvad.MultivariateAnomalyDetector`: the engine (`sonar_mvad`) behind the reference
//! library's `fit(data, params)` / `predict(context, data, params)`.
//!
//! Parameters are the reference's names (`sonar_mvad::MvadParams::apply_json`) on top of
//! SONAR's defaults (early stopping, partial last batch, standardised scoring), or on top of
//! the reference's own behaviour with `"preset": "reference"`. Two predict-time keys choose
//! the local-threshold window (`"threshold_rule": "lagged"` (the reference's) or
//! `"trailing"`) and whether mismatched columns are aligned (`"align_columns"`; off: a
//! mismatch is an error naming the columns).

use std::path::PathBuf;

use pyo3::prelude::*;
use serde_json::{json, Value};
use sonar_mvad::{Frame, MvadModel, MvadParams, PredictOptions, ThresholdRule};

use crate::engine::fit;
use crate::errors::{self, IntoPy, Kind};
use crate::matrix;
use crate::slot::Slot;

/// Splits a reference-style parameter dict into engine parameters and predict options.
pub fn split_params(params: &Value) -> PyResult<(MvadParams, PredictOptions)> {
    let mut map = match params {
        Value::Null => serde_json::Map::new(),
        Value::Object(map) => map.clone(),
        other => {
            return Err(errors::raise(
                Kind::InvalidParameter,
                format!("params must be a dict of parameter names to values, not {other}"),
            ))
        }
    };
    let bad = |text: String| errors::raise(Kind::InvalidParameter, text);
    let base = match map.remove("preset") {
        None => MvadParams::default(),
        Some(Value::String(p)) if p == "sonar" => MvadParams::default(),
        Some(Value::String(p)) if p == "reference" => MvadParams::reference(),
        Some(other) => {
            return Err(bad(format!(
                "invalid parameter `preset`: {other} (accepted: \"sonar\", the default, or \"reference\")"
            )))
        }
    };
    let mut options = PredictOptions::default();
    match map.remove("threshold_rule") {
        None => {}
        Some(Value::String(r)) if r == "lagged" => options.rule = ThresholdRule::Lagged,
        Some(Value::String(r)) if r == "trailing" => options.rule = ThresholdRule::Trailing,
        Some(other) => {
            return Err(bad(format!(
                "invalid parameter `threshold_rule`: {other} (accepted: \"lagged\", the reference's, or \"trailing\")"
            )))
        }
    }
    match map.remove("align_columns") {
        None => {}
        Some(Value::Bool(b)) => options.align_columns = b,
        Some(other) => {
            return Err(bad(format!(
                "invalid parameter `align_columns`: {other} (true or false)"
            )))
        }
    }
    let params = base.apply_json(&Value::Object(map)).py()?;
    Ok((params, options))
}

/// The parameters (JSON) and the table of a `fit` or `predict` call.
fn parse(
    labels: Vec<String>,
    columns: Vec<String>,
    values: &[u8],
    params_json: &str,
) -> PyResult<(MvadParams, PredictOptions, Frame)> {
    let (params, options) = split_params(&matrix::json(params_json, "params")?)?;
    Ok((params, options, matrix::frame(labels, columns, values)?))
}

/// A detector: untrained until `fit` or `load`.
#[pyclass(frozen, module = "sonar._native")]
pub struct NativeDetector {
    model: Slot<MvadModel>,
}

#[pymethods]
impl NativeDetector {
    #[new]
    fn new() -> Self {
        Self {
            model: Slot::new(
                "Cannot load model. Please train model: call fit() or MultivariateAnomalyDetector.load() first",
            ),
        }
    }

    /// Fits on a table (row labels, column names, row-major float64 bytes) with a
    /// reference-style parameter dict (JSON). `callback(epoch, epochs, train_loss, val_loss,
    /// improved, train_seconds, val_seconds)` is called after each epoch. Returns a JSON
    /// training summary.
    #[pyo3(signature = (labels, columns, values, params_json, callback=None))]
    fn fit(
        &self,
        py: Python<'_>,
        labels: Vec<String>,
        columns: Vec<String>,
        values: &[u8],
        params_json: &str,
        callback: Option<Py<PyAny>>,
    ) -> PyResult<String> {
        let (params, _, frame) = parse(labels, columns, values, params_json)?;
        let model = fit(py, &frame, &params, callback)?;
        let summary = json!({ "training": model.meta().training });
        self.model.set(model)?;
        matrix::to_json(&summary)
    }

    /// Scores a table like the reference's `predict`: one JSON row per row after the first
    /// `W + TW − 1`. Training-time keys of `params_json` are checked, then read from the model.
    fn predict(
        &self,
        py: Python<'_>,
        labels: Vec<String>,
        columns: Vec<String>,
        values: &[u8],
        params_json: &str,
    ) -> PyResult<String> {
        let (_, options, frame) = parse(labels, columns, values, params_json)?;
        let rows = self
            .model
            .with(|m| py.detach(|| m.predict(&frame, options)).py())?;
        matrix::to_json(&rows)
    }

    /// Saves `model.safetensors` and `model_meta.json` into `dir`.
    fn save(&self, dir: PathBuf) -> PyResult<()> {
        self.model.with(|m| m.save(&dir).py())
    }

    /// Loads a model directory: ours, or one exported from the reference library (the
    /// golden fixtures' format).
    fn load(&self, py: Python<'_>, dir: PathBuf) -> PyResult<()> {
        if !dir.join(sonar_mvad::META_FILE).is_file() {
            return Err(errors::raise(
                Kind::ModelNotFound,
                format!(
                    "no model at {}: {} is missing (train and save a model first)",
                    dir.display(),
                    sonar_mvad::META_FILE
                ),
            ));
        }
        let model = py.detach(|| MvadModel::load(&dir)).py()?;
        self.model.set(model)
    }

    /// The model's metadata as JSON (variables, window sizes, threshold, pct_weight,
    /// normalisation, training summary, ...), or `None` before fit/load.
    fn meta(&self) -> PyResult<Option<String>> {
        self.model
            .peek(|m| m.map(|m| matrix::to_json(m.meta())))?
            .transpose()
    }
}
