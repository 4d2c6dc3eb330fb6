//! `MVADPostProcessor.build_wazuh_anomaly_docs`: result rows → the CLI's anomaly documents
//! (`sonar::sink::document`), with events grouped (`sonar::detect::assign_events`) and
//! deterministic ids. Rows of `MVADModelEngine.predict` carry everything a document needs;
//! rows of the reference's shape (no `anomaly_score`) use their `score`.

use chrono::{DateTime, TimeDelta, Utc};
use pyo3::prelude::*;
use serde::Deserialize;
use sonar::detect::{assign_events, Contribution, ScoredBucket};
use sonar::sink::{build_anomaly_documents, DocumentContext, DEFAULT_TOP_CONTRIBUTORS};
use sonar_mvad::CorrelationChanges;

use crate::config::NativeSettings;
use crate::errors;
use crate::matrix;

/// One result row as `MVADModelEngine.predict` (or the reference) returns it.
#[derive(Debug, Deserialize)]
struct Row {
    index: String,
    is_anomaly: bool,
    score: f64,
    #[serde(default)]
    severity: f64,
    #[serde(default)]
    anomaly_score: Option<f64>,
    #[serde(default)]
    threshold: Option<f64>,
    #[serde(default)]
    alert_count: u64,
    #[serde(default)]
    bucket_end: Option<String>,
    #[serde(default)]
    interpretation: Vec<Item>,
}

#[derive(Debug, Deserialize)]
struct Item {
    variable_name: String,
    contribution_score: f64,
    #[serde(default)]
    correlation_changes: Option<CorrelationChanges>,
    #[serde(default)]
    observed: Option<f64>,
    #[serde(default)]
    expected: Option<f64>,
}

/// Optional context keys (the original's `context` dict, plus what the engine knows).
#[derive(Debug, Default, Deserialize)]
struct Context {
    scenario_id: Option<String>,
    scenario_name: Option<String>,
    model_name: Option<String>,
    model_version: Option<String>,
    model_path: Option<String>,
    feature_names: Option<Vec<String>>,
    training_samples: Option<u64>,
    sliding_window: Option<u32>,
    bucket_minutes: Option<u32>,
    lookback_minutes: Option<u32>,
    threshold: Option<f64>,
    top_contributors: Option<usize>,
}

fn time(text: &str, what: &str) -> PyResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| errors::data(format!("{what} `{text}` is not an RFC 3339 time: {e}")))
}

/// Builds the documents of the anomalous rows of `results_json` (a JSON array of result
/// rows) with `context_json` (a JSON object; unknown keys are ignored, as the original did).
#[pyfunction]
pub fn build_anomaly_docs(
    settings: &NativeSettings,
    results_json: &str,
    context_json: &str,
) -> PyResult<String> {
    let s = settings.settings();
    let rows: Vec<Row> =
        serde_json::from_str(results_json).map_err(|e| errors::data(format!("results: {e}")))?;
    let ctx: Context = match matrix::json(context_json, "context")? {
        serde_json::Value::Null => Context::default(),
        v => serde_json::from_value(v).map_err(|e| errors::data(format!("context: {e}")))?,
    };
    let bucket_minutes = ctx.bucket_minutes.unwrap_or(s.features.bucket_minutes);
    let step = TimeDelta::minutes(i64::from(bucket_minutes));
    let mut buckets = Vec::with_capacity(rows.len());
    for row in &rows {
        let start = time(&row.index, "result index")?;
        let end = match &row.bucket_end {
            Some(text) => time(text, "bucket_end")?,
            None => start + step,
        };
        buckets.push(ScoredBucket {
            start,
            end,
            anomaly_score: row.anomaly_score.unwrap_or(row.score),
            is_anomaly: row.is_anomaly,
            mvad_score: row.score,
            mvad_severity: row.severity,
            contributions: row
                .interpretation
                .iter()
                .map(|c| Contribution {
                    variable: c.variable_name.clone(),
                    contribution: c.contribution_score,
                    observed: c.observed.unwrap_or(f64::NAN),
                    expected: c.expected.unwrap_or(f64::NAN),
                    correlation_changes: c
                        .correlation_changes
                        .as_ref()
                        .map(|cc| {
                            cc.changed_variables
                                .iter()
                                .cloned()
                                .zip(cc.changed_values.iter().copied())
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect(),
            alert_count: row.alert_count,
            event: None,
        });
    }
    let scenario_id = ctx
        .scenario_id
        .clone()
        .unwrap_or_else(|| s.shipping.scenario_id.clone());
    assign_events(&scenario_id, &mut buckets);
    let feature_names = ctx.feature_names.clone().unwrap_or_else(|| {
        let mut names: Vec<String> = rows
            .first()
            .map(|r| {
                r.interpretation
                    .iter()
                    .map(|c| c.variable_name.clone())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    });
    let span = match (buckets.first(), buckets.last()) {
        (Some(a), Some(b)) => (b.end - a.start).num_minutes().max(0) as u32,
        _ => 0,
    };
    let doc_ctx = DocumentContext {
        scenario_id,
        scenario_name: ctx.scenario_name.clone().unwrap_or_else(|| {
            s.scenario
                .as_ref()
                .map_or_else(|| s.model_name.clone(), |sc| sc.name.clone())
        }),
        model_name: ctx
            .model_name
            .clone()
            .unwrap_or_else(|| s.model_name.clone()),
        model_version: ctx
            .model_version
            .clone()
            .unwrap_or_else(|| "unknown".into()),
        model_path: ctx
            .model_path
            .clone()
            .unwrap_or_else(|| s.model_path.display().to_string()),
        feature_names,
        training_samples: ctx.training_samples.unwrap_or(0),
        sliding_window: ctx
            .sliding_window
            .unwrap_or_else(|| s.mvad.sliding_window.get()),
        bucket_minutes,
        lookback_minutes: ctx.lookback_minutes.unwrap_or(span),
        threshold: ctx
            .threshold
            .or_else(|| rows.iter().find_map(|r| r.threshold))
            .unwrap_or(s.detection.threshold),
        detection_timestamp: Utc::now(),
        top_contributors: ctx.top_contributors.unwrap_or(DEFAULT_TOP_CONTRIBUTORS),
        entity: None,
    };
    let docs: Vec<serde_json::Value> = build_anomaly_documents(&doc_ctx, &buckets)
        .into_iter()
        .map(|d| d.body)
        .collect();
    matrix::to_json(&docs)
}
