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
//! Invariant: a document's `_id` ([`document_id`]) and its event's id ([`crate::detect::event_id`])
//! depend only on the scenario id, the entity (per-entity scenarios) and a bucket start, so
//! re-running detection over the same buckets yields the same ids and the index sink can
//! refuse duplicates.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use crate::detect::bucket::id_stamp;
use crate::detect::{id_scope, Contribution, Entity, ScoredBucket};

/// The Wazuh-like rule block every anomaly document carries (reference §7): dashboards and
/// Wazuh rules key on `rule.id` 900001.
pub const RULE_ID: &str = "900001";
/// Level of the rule block.
pub const RULE_LEVEL: u32 = 10;
/// Description of the rule block.
pub const RULE_DESCRIPTION: &str = "MVAD: multivariate anomaly detected.";
/// How many interpretation entries the original's `mvad_interpretation` keeps.
pub const INTERPRETATION_ENTRIES: usize = 3;
/// [`DocumentContext::top_contributors`] when the scenario does not say
/// (`detection.top_contributors`).
pub const DEFAULT_TOP_CONTRIBUTORS: usize = 5;

/// The seed's name for [`DocumentContext`], which builds the documents
/// ([`DocumentContext::build_anomaly_documents`]).
pub type MvadPostProcessor = DocumentContext;

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
    /// The entity of a per-entity scenario's run (docs/entities.md): written as `entity` and
    /// part of every `_id` and event id.
    pub entity: Option<Entity>,
}

impl DocumentContext {
    /// The scope of this run's document and event ids ([`id_scope`]).
    pub fn id_scope(&self) -> String {
        id_scope(&self.scenario_id, self.entity.as_ref())
    }

    /// The documents of the anomalous buckets ([`build_anomaly_documents`]); the seed's
    /// `MVADPostProcessor.build_wazuh_anomaly_docs`.
    pub fn build_anomaly_documents(&self, buckets: &[ScoredBucket]) -> Vec<AnomalyDocument> {
        build_anomaly_documents(self, buckets)
    }
}

/// Renders a time the way the original did (Python `isoformat()` on a UTC time):
/// `2025-12-30T10:10:00+00:00`, with fractional seconds only when there are some.
pub fn iso_timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// The document `_id` of a bucket: id scope (the scenario id, plus the entity's slug for a
/// per-entity run: [`id_scope`]) + bucket start. Writing the same bucket twice targets the
/// same `_id`, which is what makes re-runs duplicate-free.
pub fn document_id(scope: &str, bucket_start: DateTime<Utc>) -> String {
    format!("{scope}-{}", id_stamp(bucket_start))
}

/// The `_id` of a document [`build_anomaly_document`] built, read back from its body (its
/// `scenario_name`, `entity` when present, and `@timestamp`); `None` for anything else.
pub fn document_id_of(body: &Value) -> Option<String> {
    let scenario = body.get("scenario_name")?.as_str()?;
    let entity = match body.get("entity") {
        Some(value) => Some(Entity::from_json(value)?),
        None => None,
    };
    let start = DateTime::parse_from_rfc3339(body.get("@timestamp")?.as_str()?).ok()?;
    Some(document_id(
        &id_scope(scenario, entity.as_ref()),
        start.with_timezone(&Utc),
    ))
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
    if let Some(entity) = &ctx.entity {
        doc.insert("entity".into(), entity.to_json());
    }
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
            id: document_id(&ctx.id_scope(), b.start),
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
    use crate::detect::assign_events;
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
            entity: None,
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
