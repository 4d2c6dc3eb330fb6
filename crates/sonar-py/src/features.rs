//! `WazuhFeatureBuilder.build_timeseries`: alerts → the regular bucket grid of the CLI's
//! feature builder (`sonar::features`), over the buckets the alerts span. Without a schema
//! the columns are chosen from the data (training); with a model's schema they are exactly
//! the model's (detection).

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use pyo3::prelude::*;
use sonar::features::{FeatureBuilder, FeatureSchema};
use sonar::field::FieldPath;
use sonar::pipeline::{ceil_to_bucket, floor_to_bucket};
use sonar::source::timestamp::parse_timestamp_value;
use sonar::source::{Alert, TimeRange};

use crate::config::NativeSettings;
use crate::errors::{self, IntoPy};
use crate::matrix;

/// What `build_timeseries` hands back: bucket starts (RFC 3339), column names, row-major
/// values (float64 bytes), alerts per bucket, the schema (JSON) and alerts without a usable
/// timestamp.
type Table<'py> = (
    Vec<String>,
    Vec<String>,
    Bound<'py, pyo3::types::PyBytes>,
    Vec<u64>,
    String,
    u64,
);

/// Builds the feature table of `alerts_json` (a JSON array of alert objects) with the
/// settings' feature section, or with `schema_json` (a trained model's schema) when given.
/// The grid covers `[start, end)` (RFC 3339, snapped outwards to buckets) when given, else
/// the buckets from the first alert's to the last one's.
#[pyfunction]
#[pyo3(signature = (settings, alerts_json, schema_json=None, start=None, end=None))]
pub fn build_timeseries<'py>(
    py: Python<'py>,
    settings: &NativeSettings,
    alerts_json: &str,
    schema_json: Option<&str>,
    start: Option<&str>,
    end: Option<&str>,
) -> PyResult<Table<'py>> {
    let s = settings.settings();
    let alerts: Vec<Alert> = serde_json::from_str(alerts_json)
        .map_err(|e| errors::data(format!("alerts must be a list of JSON objects: {e}")))?;
    let schema: Option<FeatureSchema> = schema_json
        .map(|text| {
            serde_json::from_str(text)
                .map_err(|e| errors::data(format!("not a SONAR feature schema: {e}")))
        })
        .transpose()?;
    let bound = |text: Option<&str>, what: &str| {
        text.map(|t| {
            parse_timestamp_value(&serde_json::Value::String(t.to_owned()))
                .map_err(|e| errors::data(format!("{what} `{t}`: {e}")))
        })
        .transpose()
    };
    let (start, end) = (bound(start, "start")?, bound(end, "end")?);
    let matrix = py.detach(|| -> Result<_, sonar::Error> {
        let (plan, timestamp_field) = match &schema {
            Some(schema) => (schema.plan()?, schema.timestamp_field.clone()),
            None => (s.features.validate()?, s.features.timestamp_field.clone()),
        };
        let b = plan.bucket.seconds();
        let span = extent(&alerts, &timestamp_field);
        let first = start.or(span.map(|(first, _)| first));
        let last = end
            .map(|e| e - TimeDelta::seconds(1))
            .or(span.map(|(_, last)| last));
        let range = first
            .zip(last)
            .map(|(first, last)| TimeRange {
                start: floor_to_bucket(first, b),
                end: ceil_to_bucket(last + TimeDelta::seconds(1), b)
                    .max(floor_to_bucket(first, b) + TimeDelta::seconds(b)),
            })
            // No alerts: one bucket's grid, to learn the columns; its row is dropped below.
            .unwrap_or(TimeRange {
                start: DateTime::<Utc>::UNIX_EPOCH,
                end: DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(b),
            });
        let mut builder = match &schema {
            Some(schema) => FeatureBuilder::for_detection(schema, range)?,
            None => FeatureBuilder::for_training(&plan, range)?,
        };
        builder.push_page(&alerts);
        Ok(builder.finish())
    });
    let matrix = matrix.py()?;
    let schema_text = matrix::to_json(&matrix.schema)?;
    let skipped = matrix.stats.skipped;
    let rows = if alerts.is_empty() && start.is_none() {
        0
    } else {
        matrix.rows()
    };
    let labels = matrix.bucket_starts[..rows]
        .iter()
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .collect();
    Ok((
        labels,
        matrix.columns.clone(),
        matrix::bytes(py, &matrix.values[..rows * matrix.cols()]),
        matrix.alert_counts[..rows].to_vec(),
        schema_text,
        skipped,
    ))
}

/// First and last alert time (alerts without a usable timestamp are the builder's to count).
fn extent(alerts: &[Alert], field: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let path = FieldPath::parse(field)?;
    alerts
        .iter()
        .filter_map(|a| path.lookup(a).and_then(|v| parse_timestamp_value(v).ok()))
        .fold(None, |acc, t| match acc {
            None => Some((t, t)),
            Some((a, b)) => Some((a.min(t), b.max(t))),
        })
}
