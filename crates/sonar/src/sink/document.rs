//! Anomaly documents: the seed's `MVADPostProcessor`. Turns one scored bucket into the JSON
//! document Wazuh dashboards and RADAR read, and groups consecutive anomalous buckets into
//! events.
//!
//! The document keeps every field of the original (reference §7) with the same meaning and
//! JSON type, so existing dashboards and RADAR queries keep working. Two deliberate changes:
//! `feature_count` is the real number of model columns (the original counted only the numeric
//! fields), and `context.feature_names` lists those real columns. Additions for analysts:
//! `bucket_end`, `scenario {id, name}`, `model {name, version}`, `event {id, start, end}`,
//! `top_contributors` (variable, contribution, observed and expected value, correlation
//! changes) and `scenario_features` (the observed value of every column).
//!
//! Invariant: a document's `_id` ([`document_id`]) and its event's id ([`event_id`]) depend only
//! on the scenario id and a bucket start, so re-running detection over the same buckets yields
//! the same ids and the index sink can refuse duplicates.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

/// The Wazuh-like rule block every anomaly document carries (reference §7): dashboards and
/// Wazuh rules key on `rule.id` 900001.
pub const RULE_ID: &str = "900001";
/// Level of the rule block.
pub const RULE_LEVEL: u32 = 10;
/// Description of the rule block.
pub const RULE_DESCRIPTION: &str = "MVAD: multivariate anomaly detected.";
/// How many interpretation entries the original's `mvad_interpretation` keeps.
pub const INTERPRETATION_ENTRIES: usize = 3;
/// A sensible [`DocumentContext::top_contributors`] when the scenario does not say.
pub const DEFAULT_TOP_CONTRIBUTORS: usize = 5;

/// One variable's share of a bucket's anomaly, as the engine interprets it.
#[derive(Debug, Clone, PartialEq)]
pub struct Contribution {
    /// The feature column's name.
    pub variable: String,
    /// The variable's share of the bucket's error (the shares sum to 1 over variables); with
    /// the default scoring each variable's error is measured in its own forecast standard
    /// errors, so the first contributor is the variable that moved most against its forecast.
    pub contribution: f64,
    /// The value the bucket actually had (in the column's own units).
    pub observed: f64,
    /// The model's forecast for the bucket, de-normalised to the column's own units.
    pub expected: f64,
    /// Changes of this variable's attention weights versus their recent average:
    /// `(other variable, change)`, largest |change| first.
    pub correlation_changes: Vec<(String, f64)>,
}

impl Contribution {
    /// Which way the bucket moved against the forecast: `above`, `below` or `as_expected`.
    pub fn direction(&self) -> &'static str {
        if self.observed > self.expected {
            "above"
        } else if self.observed < self.expected {
            "below"
        } else {
            "as_expected"
        }
    }
}

/// The event a bucket belongs to: a run of consecutive anomalous buckets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnomalyEvent {
    /// Deterministic id, from the scenario id and the event start ([`event_id`]).
    pub id: String,
    /// Start of the event's first bucket.
    pub start: DateTime<Utc>,
    /// End of the event's last bucket (exclusive).
    pub end: DateTime<Utc>,
    /// How many buckets the event spans.
    pub bucket_count: usize,
}

/// One scored time bucket, as the detector hands it to the document builder.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredBucket {
    /// Bucket start (UTC); the document's `@timestamp`.
    pub start: DateTime<Utc>,
    /// Bucket end (UTC, exclusive).
    pub end: DateTime<Utc>,
    /// The detector's anomaly score in `[0, 1]`, the value compared to the threshold.
    pub anomaly_score: f64,
    /// The detector's final decision (threshold and `min_consecutive` applied).
    pub is_anomaly: bool,
    /// The engine's raw MVAD score (range about `[0, e − 1]` with the default scoring;
    /// unbounded with standardised errors).
    pub mvad_score: f64,
    /// The engine's severity for anomalies, else 0 (`sonar_mvad::RowResult::severity`).
    pub mvad_severity: f64,
    /// Per-variable contributions; any order (the builder sorts them, largest first).
    pub contributions: Vec<Contribution>,
    /// Raw alerts that fell in the bucket.
    pub alert_count: u64,
    /// The event the bucket belongs to, when it is anomalous ([`assign_events`] fills it).
    pub event: Option<AnomalyEvent>,
}

/// What is the same for every document of one detection run.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentContext {
    /// Scenario id (the original's 8-hex id or a custom `shipping.scenario_id`).
    pub scenario_id: String,
    /// Scenario name, as written in the scenario file.
    pub scenario_name: String,
    /// Model name.
    pub model_name: String,
    /// Model version (from the model's metadata file).
    pub model_version: String,
    /// Path of the model file, as the original's `context.model_path`.
    pub model_path: String,
    /// Every column the model scores, in model order; its length is `feature_count`.
    pub feature_names: Vec<String>,
    /// Rows the model was trained on.
    pub training_samples: u64,
    /// The model's sliding window.
    pub sliding_window: u32,
    /// Bucket width in minutes.
    pub bucket_minutes: u32,
    /// The detection lookback in minutes.
    pub lookback_minutes: u32,
    /// The scenario threshold compared to `anomaly_score`.
    pub threshold: f64,
    /// When this detection ran (injected, so documents are reproducible in tests).
    pub detection_timestamp: DateTime<Utc>,
    /// How many entries `top_contributors` keeps.
    pub top_contributors: usize,
}

/// Renders a time the way the original did (Python `isoformat()` on a UTC time):
/// `2025-12-30T10:10:00+00:00`, with fractional seconds only when there are some.
pub fn iso_timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// A compact UTC stamp used inside ids: `20251230T101000Z`.
fn id_stamp(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// The document `_id` of a bucket: scenario id + bucket start. Writing the same bucket twice
/// targets the same `_id`, which is what makes re-runs duplicate-free.
pub fn document_id(scenario_id: &str, bucket_start: DateTime<Utc>) -> String {
    format!("{scenario_id}-{}", id_stamp(bucket_start))
}

/// The `_id` of a document [`build_anomaly_document`] built, read back from its body (its
/// `scenario_name` and `@timestamp`); `None` for anything else.
pub fn document_id_of(body: &Value) -> Option<String> {
    let scenario = body.get("scenario_name")?.as_str()?;
    let start = DateTime::parse_from_rfc3339(body.get("@timestamp")?.as_str()?).ok()?;
    Some(document_id(scenario, start.with_timezone(&Utc)))
}

/// The id of the event starting at `event_start`: scenario id + event start.
pub fn event_id(scenario_id: &str, event_start: DateTime<Utc>) -> String {
    format!("{scenario_id}-event-{}", id_stamp(event_start))
}

/// Groups anomalous buckets into events. Buckets must be in time order; an anomalous bucket
/// whose start equals the previous anomalous bucket's end extends that event, anything else
/// (a gap, or a normal bucket in between) starts a new one.
pub fn group_events(scenario_id: &str, buckets: &[ScoredBucket]) -> Vec<AnomalyEvent> {
    group_events_after(scenario_id, None, buckets)
}

/// Like [`group_events`], for a run that continues an earlier one (realtime mode): when the
/// first bucket is anomalous and starts exactly where `open` (the last event of the previous
/// run) ended, it extends `open`, keeping its id and start, so an event spanning several
/// polling runs has one id. The extended event is the first one returned.
pub fn group_events_after(
    scenario_id: &str,
    open: Option<&AnomalyEvent>,
    buckets: &[ScoredBucket],
) -> Vec<AnomalyEvent> {
    let mut events: Vec<AnomalyEvent> = Vec::new();
    let mut previous_anomalous = false;
    if let (Some(open), Some(first)) = (open, buckets.first()) {
        if first.is_anomaly && first.start == open.end {
            events.push(open.clone());
            previous_anomalous = true;
        }
    }
    for bucket in buckets {
        if !bucket.is_anomaly {
            previous_anomalous = false;
            continue;
        }
        match events.last_mut() {
            Some(event) if previous_anomalous && event.end == bucket.start => {
                event.end = bucket.end;
                event.bucket_count += 1;
            }
            _ => events.push(AnomalyEvent {
                id: event_id(scenario_id, bucket.start),
                start: bucket.start,
                end: bucket.end,
                bucket_count: 1,
            }),
        }
        previous_anomalous = true;
    }
    events
}

/// Sets `event` on every anomalous bucket (and clears it on the others), using
/// [`group_events`]. Returns the events.
pub fn assign_events(scenario_id: &str, buckets: &mut [ScoredBucket]) -> Vec<AnomalyEvent> {
    assign_events_after(scenario_id, None, buckets)
}

/// Like [`assign_events`], continuing the previous run's last event `open` (see
/// [`group_events_after`]).
pub fn assign_events_after(
    scenario_id: &str,
    open: Option<&AnomalyEvent>,
    buckets: &mut [ScoredBucket],
) -> Vec<AnomalyEvent> {
    let events = group_events_after(scenario_id, open, buckets);
    for bucket in buckets.iter_mut() {
        bucket.event = if bucket.is_anomaly {
            events
                .iter()
                .find(|e| e.start <= bucket.start && bucket.start < e.end)
                .cloned()
        } else {
            None
        };
    }
    events
}

/// Contributions sorted largest first; NaN shares go last, ties keep the engine's order.
fn sorted_contributions(contributions: &[Contribution]) -> Vec<&Contribution> {
    let mut sorted: Vec<&Contribution> = contributions.iter().collect();
    sorted.sort_by(|a, b| {
        let key = |c: &Contribution| {
            if c.contribution.is_nan() {
                f64::NEG_INFINITY
            } else {
                c.contribution
            }
        };
        key(b).total_cmp(&key(a))
    });
    sorted
}

/// A feature column name made safe as a single JSON/OpenSearch field name: dots would create
/// nested objects, so they become `_` (as the original's scenario component template did).
pub fn field_name(column: &str) -> String {
    column.replace('.', "_")
}

/// Builds the anomaly document of one bucket. Non-finite numbers become `null`.
pub fn build_anomaly_document(ctx: &DocumentContext, bucket: &ScoredBucket) -> Value {
    let timestamp = iso_timestamp(bucket.start);
    let contributions = sorted_contributions(&bucket.contributions);
    let mut doc = Map::new();
    doc.insert("@timestamp".into(), json!(timestamp));
    doc.insert("timestamp".into(), json!(timestamp));
    doc.insert("is_anomaly".into(), json!(bucket.is_anomaly));
    doc.insert("anomaly_score".into(), json!(bucket.anomaly_score));
    doc.insert("threshold".into(), json!(ctx.threshold));
    // The original stored the scenario *id* under `scenario_name`; RADAR queries rely on it.
    doc.insert("scenario_name".into(), json!(ctx.scenario_id));
    doc.insert(
        "detection_timestamp".into(),
        json!(iso_timestamp(ctx.detection_timestamp)),
    );
    doc.insert("alert_count".into(), json!(bucket.alert_count));
    doc.insert("feature_count".into(), json!(ctx.feature_names.len()));
    doc.insert("mvad_score".into(), json!(bucket.mvad_score));
    doc.insert("mvad_severity".into(), json!(bucket.mvad_severity));
    doc.insert("mvad_threshold".into(), json!(ctx.threshold));
    doc.insert("sliding_window".into(), json!(ctx.sliding_window));
    doc.insert("bucket_minutes".into(), json!(ctx.bucket_minutes));
    doc.insert(
        "context".into(),
        json!({
            "model_path": ctx.model_path,
            "feature_names": ctx.feature_names,
            "training_samples": ctx.training_samples,
        }),
    );
    doc.insert(
        "rule".into(),
        json!({
            "level": RULE_LEVEL,
            "description": RULE_DESCRIPTION,
            "id": RULE_ID,
            "groups": ["mvad", "ml", "anomaly"],
        }),
    );
    doc.insert(
        "data".into(),
        json!({
            "mvad_score": bucket.mvad_score,
            "mvad_severity": bucket.mvad_severity,
            "mvad_threshold": ctx.threshold,
            "bucket_minutes": ctx.bucket_minutes,
            "lookback_minutes": ctx.lookback_minutes,
        }),
    );
    if !contributions.is_empty() {
        let interpretation: Vec<Value> = contributions
            .iter()
            .take(INTERPRETATION_ENTRIES)
            .map(|c| json!({"variable": c.variable, "contribution": c.contribution}))
            .collect();
        doc.insert("mvad_interpretation".into(), Value::Array(interpretation));
    }
    // ---- additions ----
    doc.insert("bucket_end".into(), json!(iso_timestamp(bucket.end)));
    doc.insert(
        "scenario".into(),
        json!({"id": ctx.scenario_id, "name": ctx.scenario_name}),
    );
    doc.insert(
        "model".into(),
        json!({"name": ctx.model_name, "version": ctx.model_version}),
    );
    if let Some(event) = &bucket.event {
        doc.insert(
            "event".into(),
            json!({
                "id": event.id,
                "start": iso_timestamp(event.start),
                "end": iso_timestamp(event.end),
            }),
        );
    }
    let top: Vec<Value> = contributions
        .iter()
        .take(ctx.top_contributors)
        .map(|c| {
            let (names, values): (Vec<&str>, Vec<f64>) = c
                .correlation_changes
                .iter()
                .map(|(name, value)| (name.as_str(), *value))
                .unzip();
            json!({
                "variable": c.variable,
                "contribution": c.contribution,
                "observed": c.observed,
                "expected": c.expected,
                "direction": c.direction(),
                "correlation_changes": {"changed_variables": names, "changed_values": values},
            })
        })
        .collect();
    doc.insert("top_contributors".into(), Value::Array(top));
    let features: Map<String, Value> = bucket
        .contributions
        .iter()
        .map(|c| (field_name(&c.variable), json!(c.observed)))
        .collect();
    doc.insert("scenario_features".into(), Value::Object(features));
    Value::Object(doc)
}

/// Builds the documents of the anomalous buckets only (the original skipped normal results),
/// each paired with its deterministic `_id`.
pub fn build_anomaly_documents(
    ctx: &DocumentContext,
    buckets: &[ScoredBucket],
) -> Vec<AnomalyDocument> {
    buckets
        .iter()
        .filter(|b| b.is_anomaly)
        .map(|b| AnomalyDocument {
            id: document_id(&ctx.scenario_id, b.start),
            body: build_anomaly_document(ctx, b),
        })
        .collect()
}

/// A document ready for a sink: its deterministic `_id` and its JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct AnomalyDocument {
    /// The `_id` ([`document_id`]).
    pub id: String,
    /// The JSON document ([`build_anomaly_document`]).
    pub body: Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 12, 30, h, m, 0)
            .single()
            .expect("valid time")
    }

    fn ctx() -> DocumentContext {
        DocumentContext {
            scenario_id: "bf01".into(),
            scenario_name: "brute_force_detection".into(),
            model_name: "brute_force_detection".into(),
            model_version: "1".into(),
            model_path: "models/brute_force_detection".into(),
            feature_names: vec![
                "alert_count".into(),
                "rule.level".into(),
                "auth_fail".into(),
            ],
            training_samples: 1000,
            sliding_window: 48,
            bucket_minutes: 5,
            lookback_minutes: 60,
            threshold: 0.5,
            detection_timestamp: Utc
                .with_ymd_and_hms(2025, 12, 30, 11, 0, 0)
                .single()
                .expect("valid time"),
            top_contributors: 2,
        }
    }

    fn contribution(variable: &str, share: f64, observed: f64, expected: f64) -> Contribution {
        Contribution {
            variable: variable.into(),
            contribution: share,
            observed,
            expected,
            correlation_changes: vec![("auth_fail".into(), 0.25), ("rule.level".into(), -0.125)],
        }
    }

    fn bucket(start: DateTime<Utc>, is_anomaly: bool) -> ScoredBucket {
        ScoredBucket {
            start,
            end: start + chrono::Duration::minutes(5),
            anomaly_score: 0.75,
            is_anomaly,
            mvad_score: 1.25,
            mvad_severity: 0.5,
            contributions: vec![
                contribution("rule.level", 0.25, 7.0, 5.5),
                contribution("auth_fail", 0.625, 0.875, 0.125),
                contribution("alert_count", 0.125, 120.0, 20.0),
            ],
            alert_count: 120,
            event: None,
        }
    }

    /// Snapshot: every field of the original plus the additions, exact.
    #[test]
    fn document_snapshot() {
        let mut buckets = vec![bucket(t(10, 10), true)];
        assign_events("bf01", &mut buckets);
        let doc = build_anomaly_document(&ctx(), &buckets[0]);
        let expected = json!({
            "@timestamp": "2025-12-30T10:10:00+00:00",
            "timestamp": "2025-12-30T10:10:00+00:00",
            "is_anomaly": true,
            "anomaly_score": 0.75,
            "threshold": 0.5,
            "scenario_name": "bf01",
            "detection_timestamp": "2025-12-30T11:00:00+00:00",
            "alert_count": 120,
            "feature_count": 3,
            "mvad_score": 1.25,
            "mvad_severity": 0.5,
            "mvad_threshold": 0.5,
            "sliding_window": 48,
            "bucket_minutes": 5,
            "context": {
                "model_path": "models/brute_force_detection",
                "feature_names": ["alert_count", "rule.level", "auth_fail"],
                "training_samples": 1000
            },
            "rule": {
                "level": 10,
                "description": "MVAD: multivariate anomaly detected.",
                "id": "900001",
                "groups": ["mvad", "ml", "anomaly"]
            },
            "data": {
                "mvad_score": 1.25,
                "mvad_severity": 0.5,
                "mvad_threshold": 0.5,
                "bucket_minutes": 5,
                "lookback_minutes": 60
            },
            "mvad_interpretation": [
                {"variable": "auth_fail", "contribution": 0.625},
                {"variable": "rule.level", "contribution": 0.25},
                {"variable": "alert_count", "contribution": 0.125}
            ],
            "bucket_end": "2025-12-30T10:15:00+00:00",
            "scenario": {"id": "bf01", "name": "brute_force_detection"},
            "model": {"name": "brute_force_detection", "version": "1"},
            "event": {
                "id": "bf01-event-20251230T101000Z",
                "start": "2025-12-30T10:10:00+00:00",
                "end": "2025-12-30T10:15:00+00:00"
            },
            "top_contributors": [
                {
                    "variable": "auth_fail", "contribution": 0.625,
                    "observed": 0.875, "expected": 0.125, "direction": "above",
                    "correlation_changes": {
                        "changed_variables": ["auth_fail", "rule.level"],
                        "changed_values": [0.25, -0.125]
                    }
                },
                {
                    "variable": "rule.level", "contribution": 0.25,
                    "observed": 7.0, "expected": 5.5, "direction": "above",
                    "correlation_changes": {
                        "changed_variables": ["auth_fail", "rule.level"],
                        "changed_values": [0.25, -0.125]
                    }
                }
            ],
            "scenario_features": {"rule_level": 7.0, "auth_fail": 0.875, "alert_count": 120.0}
        });
        assert_eq!(doc, expected);
    }

    /// Without contributions the original omitted `mvad_interpretation`; without an event
    /// there is no `event`; NaN becomes null.
    #[test]
    fn document_without_interpretation_or_event() {
        let mut b = bucket(t(10, 0), true);
        b.contributions.clear();
        b.mvad_severity = f64::NAN;
        let doc = build_anomaly_document(&ctx(), &b);
        let obj = doc.as_object().expect("object");
        assert!(!obj.contains_key("mvad_interpretation"));
        assert!(!obj.contains_key("event"));
        assert_eq!(doc["mvad_severity"], Value::Null);
        assert_eq!(doc["top_contributors"], json!([]));
        assert_eq!(doc["scenario_features"], json!({}));
    }

    #[test]
    fn fractional_seconds_render_like_python() {
        let at = t(10, 0) + chrono::Duration::milliseconds(250);
        assert_eq!(iso_timestamp(at), "2025-12-30T10:00:00.250+00:00");
    }

    fn check_events(pattern: &[(u32, bool)], expected: &[(&str, u32, u32, usize)]) {
        let buckets: Vec<ScoredBucket> =
            pattern.iter().map(|&(m, a)| bucket(t(10, m), a)).collect();
        let events = group_events("bf01", &buckets);
        let got: Vec<(String, DateTime<Utc>, DateTime<Utc>, usize)> = events
            .into_iter()
            .map(|e| (e.id, e.start, e.end, e.bucket_count))
            .collect();
        let want: Vec<(String, DateTime<Utc>, DateTime<Utc>, usize)> = expected
            .iter()
            .map(|&(id, s, e, n)| (id.to_string(), t(10, s), t(10, e), n))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn consecutive_anomalous_buckets_form_one_event() {
        check_events(
            &[(0, true), (5, true), (10, false), (15, true)],
            &[
                ("bf01-event-20251230T100000Z", 0, 10, 2),
                ("bf01-event-20251230T101500Z", 15, 20, 1),
            ],
        );
    }

    #[test]
    fn a_gap_in_the_grid_splits_events() {
        check_events(
            &[(0, true), (10, true), (15, true)],
            &[
                ("bf01-event-20251230T100000Z", 0, 5, 1),
                ("bf01-event-20251230T101000Z", 10, 20, 2),
            ],
        );
    }

    #[test]
    fn an_event_open_at_the_end_of_the_last_run_continues_with_its_id() {
        let open = AnomalyEvent {
            id: event_id("bf01", t(9, 50)),
            start: t(9, 50),
            end: t(10, 0),
            bucket_count: 2,
        };
        let mut buckets = vec![
            bucket(t(10, 0), true),
            bucket(t(10, 5), false),
            bucket(t(10, 10), true),
        ];
        let events = assign_events_after("bf01", Some(&open), &mut buckets);
        assert_eq!(events.len(), 2);
        assert_eq!(
            events[0],
            AnomalyEvent {
                id: "bf01-event-20251230T095000Z".into(),
                start: t(9, 50),
                end: t(10, 5),
                bucket_count: 3
            }
        );
        assert_eq!(
            buckets[0].event.as_ref().map(|e| e.id.as_str()),
            Some("bf01-event-20251230T095000Z")
        );
        assert_eq!(events[1].id, "bf01-event-20251230T101000Z");
        // A gap between the runs: the open event is not continued.
        let later = [bucket(t(10, 5), true)];
        let events = group_events_after("bf01", Some(&open), &later);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].id, "bf01-event-20251230T100500Z");
    }

    #[test]
    fn no_anomaly_no_event() {
        check_events(&[(0, false), (5, false)], &[]);
    }

    #[test]
    fn assign_events_and_documents_use_deterministic_ids() {
        let mut buckets = vec![
            bucket(t(10, 0), true),
            bucket(t(10, 5), true),
            bucket(t(10, 10), false),
        ];
        assign_events("bf01", &mut buckets);
        let docs = build_anomaly_documents(&ctx(), &buckets);
        let ids: Vec<&str> = docs.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["bf01-20251230T100000Z", "bf01-20251230T100500Z"]);
        assert_eq!(
            docs[1].body["event"]["id"],
            json!("bf01-event-20251230T100000Z")
        );
        assert_eq!(
            docs[1].body["event"]["end"],
            json!("2025-12-30T10:10:00+00:00")
        );
        assert_eq!(buckets[2].event, None);
    }
}
