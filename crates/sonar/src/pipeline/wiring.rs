//! Settings → components: the engine parameters, the indexer client, the alert source of a
//! phase (local files in debug mode), the debug-mode windows, the fields a run needs, and which
//! failures are transient.

use std::path::PathBuf;

use chrono::{DateTime, TimeDelta, Utc};

use super::fetch::{ceil_to_bucket, floor_to_bucket};
use super::ChainedSource;
use crate::config::Settings;
use crate::source::indexer::{
    IndexerClient, IndexerConnection, IndexerSource, Password, RetryPolicy,
};
use crate::source::local::LocalFiles;
use crate::source::timestamp::parse_timestamp_value;
use crate::source::{AlertQuery, AlertSource, TimeRange};
use crate::Error;

/// Which data a run reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Training data.
    Training,
    /// Detection data (in debug mode: the training file as context, then the detection file).
    Detection,
}

/// Training epochs of a scenario that sets none (`extra_params.epochs`). The engine's own
/// default is the reference's 100; on alert data that over-fits: measured with
/// `sonar eval --alerts` on the four AIT-ADS sets (docs/quality.md "Alert data at the default
/// threshold"), 15 epochs gave 4 false events in 7.3 detection days where 100 (with early
/// stopping) gave 22, with every attack chain still found.
pub const DEFAULT_EPOCHS: usize = 15;

/// The engine parameters of a run: `sliding_window`, device, then `extra_params`.
pub fn mvad_params(settings: &Settings) -> Result<sonar_mvad::MvadParams, Error> {
    let params = sonar_mvad::MvadParams {
        sliding_window: Some(settings.mvad.sliding_window.get() as usize),
        epochs: DEFAULT_EPOCHS,
        ..sonar_mvad::MvadParams::default()
    }
    .with_device(settings.mvad.device);
    let extra = serde_json::Value::Object(settings.mvad.extra_params.clone());
    Ok(params.apply_json(&extra)?)
}

/// An indexer client from the run's `wazuh` settings.
pub fn indexer_client(settings: &Settings) -> Result<IndexerClient, Error> {
    let w = &settings.wazuh;
    IndexerClient::new(IndexerConnection {
        base_url: w.base_url.as_str().trim_end_matches('/').to_owned(),
        username: w.username.clone(),
        password: Password::new(w.password.expose()),
        verify_ssl: w.tls.verify,
        ca_cert: w.tls.ca_cert.clone(),
        timeout: w.request_timeout,
        connect_timeout: w.connect_timeout,
        retry: RetryPolicy {
            max_retries: w.max_retries,
            ..RetryPolicy::default()
        },
    })
}

/// The alert source of a phase: local files in debug mode, the indexer otherwise.
pub fn open_source(settings: &Settings, phase: Phase) -> Result<Box<dyn AlertSource>, Error> {
    if settings.debug.enabled {
        let training = LocalFiles::open(&settings.debug.training_data)?;
        return Ok(match phase {
            Phase::Training => Box::new(training),
            Phase::Detection => Box::new(ChainedSource::new(vec![
                Box::new(training),
                Box::new(LocalFiles::open(&settings.debug.detection_data)?),
            ])),
        });
    }
    let client = indexer_client(settings)?;
    Ok(Box::new(
        IndexerSource::new(client, settings.wazuh.alerts_index_pattern.clone())
            .with_page_size(settings.wazuh.page_size as usize),
    ))
}

/// The debug-mode data file of a phase (its time extent sets the window in debug mode).
pub fn debug_file(settings: &Settings, phase: Phase) -> PathBuf {
    match phase {
        Phase::Training => settings.debug.training_data.clone(),
        Phase::Detection => settings.debug.detection_data.clone(),
    }
}

/// In debug mode, the window of a phase: its data file's extent snapped to whole buckets
/// (`None` outside debug mode or for a file without timestamps).
pub fn debug_window(
    settings: &Settings,
    phase: Phase,
    bucket_seconds: i64,
) -> Result<Option<TimeRange>, Error> {
    if !settings.debug.enabled {
        return Ok(None);
    }
    let extent = file_extent(
        &debug_file(settings, phase),
        &settings.features.timestamp_field,
    )?;
    Ok(extent.map(|e| TimeRange {
        start: floor_to_bucket(e.start, bucket_seconds),
        end: ceil_to_bucket(e.end, bucket_seconds),
    }))
}

/// The first and last alert time in a local file (debug mode windows cover the whole file,
/// as in the original, where the time filter was off in debug mode).
pub fn file_extent(
    path: &std::path::Path,
    timestamp_field: &str,
) -> Result<Option<TimeRange>, Error> {
    let mut files = LocalFiles::open(path)?;
    let all = TimeRange {
        start: DateTime::from_timestamp(0, 0).unwrap_or_default(),
        end: DateTime::from_timestamp(32_503_680_000, 0).unwrap_or_default(),
    };
    let query = AlertQuery {
        range: all,
        timestamp_field: timestamp_field.to_owned(),
        fields: Vec::new(),
        alert_filter: None,
    };
    let field = crate::field::FieldPath::parse(timestamp_field);
    let mut extent: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
    files.stream(&query, &mut |page| {
        for alert in &page {
            let t = field
                .as_ref()
                .and_then(|f| f.lookup(alert))
                .and_then(|v| parse_timestamp_value(v).ok());
            if let Some(t) = t {
                extent = Some(match extent {
                    None => (t, t),
                    Some((a, b)) => (a.min(t), b.max(t)),
                });
            }
        }
        Ok(())
    })?;
    Ok(extent.map(|(start, end)| TimeRange {
        start,
        end: end + TimeDelta::seconds(1),
    }))
}

/// The `_source` fields a run needs; empty (every field) when derived flags are on, since
/// they read many fields.
pub(crate) fn needed_fields(settings: &Settings) -> Vec<String> {
    let f = &settings.features;
    if f.derived_features {
        return Vec::new();
    }
    let mut fields = vec![settings.features.timestamp_field.clone()];
    for list in [
        &f.numeric_fields,
        &f.max_numeric_fields,
        &f.categorical_fields,
    ] {
        for field in list {
            if !fields.contains(field) {
                fields.push(field.clone());
            }
        }
    }
    fields
}

/// The bucket-aligned range of `--start` / `--end`: a missing end is `now`, a missing start
/// is `lookback` before the end; both are floored to buckets (only complete buckets), and the
/// range holds at least one bucket.
pub fn window_range(
    window: crate::config::RunWindow,
    lookback: std::time::Duration,
    now: DateTime<Utc>,
    bucket_seconds: i64,
) -> TimeRange {
    let end = floor_to_bucket(window.end.unwrap_or(now), bucket_seconds);
    let lookback = TimeDelta::from_std(lookback).unwrap_or(TimeDelta::hours(24));
    let start = floor_to_bucket(window.start.unwrap_or(end - lookback), bucket_seconds);
    TimeRange {
        start,
        end: end.max(start + TimeDelta::seconds(bucket_seconds)),
    }
}

/// True for failures that waiting may cure (the indexer is down or overloaded).
pub fn is_transient(error: &Error) -> bool {
    match error {
        Error::IndexerUnreachable { .. } => true,
        Error::IndexerHttp { status, .. } => *status == 429 || *status >= 500,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RunWindow;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn window_range_fills_a_missing_end_with_now_and_a_missing_start_with_the_lookback() {
        let now = t("2024-05-08T10:07:00Z");
        let hour = std::time::Duration::from_secs(3600);
        let both = RunWindow {
            start: Some(t("2024-05-01T00:02:00Z")),
            end: Some(t("2024-05-02T00:04:59Z")),
        };
        let r = window_range(both, hour, now, 300);
        assert_eq!(
            (r.start, r.end),
            (t("2024-05-01T00:00:00Z"), t("2024-05-02T00:00:00Z"))
        );
        let only_start = RunWindow {
            start: Some(t("2024-05-08T08:00:00Z")),
            end: None,
        };
        let r = window_range(only_start, hour, now, 300);
        assert_eq!(
            (r.start, r.end),
            (t("2024-05-08T08:00:00Z"), t("2024-05-08T10:05:00Z"))
        );
        let only_end = RunWindow {
            start: None,
            end: Some(t("2024-05-08T09:00:00Z")),
        };
        let r = window_range(only_end, hour, now, 300);
        assert_eq!(
            (r.start, r.end),
            (t("2024-05-08T08:00:00Z"), t("2024-05-08T09:00:00Z"))
        );
        // Inside one bucket: still one whole bucket.
        let tiny = RunWindow {
            start: Some(t("2024-05-08T09:01:00Z")),
            end: Some(t("2024-05-08T09:02:00Z")),
        };
        let r = window_range(tiny, hour, now, 300);
        assert_eq!(
            (r.start, r.end),
            (t("2024-05-08T09:00:00Z"), t("2024-05-08T09:05:00Z"))
        );
    }
}
