//! `--ship`: anomaly documents into a per-scenario data stream (the one RADAR watches), with
//! the templates that give it its mappings (reference §8).
//!
//! Naming, fixed: the stream is `sonar_anomalies_mvad_<id>` (the name the original shipped to
//! and RADAR queries) and the scenario's index template now matches exactly that name (the
//! original's pattern was `sonar_anomalies_<id>`, so its stream never got the scenario
//! mappings). `<id>` is the scenario id lower-cased, with characters OpenSearch does not allow
//! in index names replaced by `_`.
//!
//! Requests, in order (each through the [`WriteInspector`]): component template
//! `component_template_sonar_mvad` (the original's MVAD fields plus the additions), component
//! template `component_template_sonar_<id>` (one float per feature column, under
//! `scenario_features`), index template `sonar_stream_template_mvad_<id>` (`data_stream:{}`,
//! both components, priority 3), optionally the ISM policy, then `_bulk` `create` into the
//! stream. Templates are PUT unconditionally (PUT is idempotent and keeps mappings current).

use serde_json::{json, Map, Value};

use super::bulk::{
    bulk_create, excerpt, send_inspected, thread_sleeper, ItemRetry, Sleeper, Transport,
};
use super::document::field_name;
use super::inspect::{Body, Method, WriteInspector, WriteRequest};
use super::{AnomalyDocument, AnomalySink, WriteReport};
use crate::Error;

/// Prefix of every SONAR data stream; the stream is `<prefix><scenario id>`.
pub const STREAM_PREFIX: &str = "sonar_anomalies_mvad_";
/// The component template with the MVAD fields shared by every scenario.
pub const MVAD_COMPONENT: &str = "component_template_sonar_mvad";
/// Name of the optional ISM rollover policy (as in the original).
pub const ROLLOVER_POLICY: &str = "sonar_rollover_policy";

/// The original's ISM rollover policy, now attached to the SONAR streams by an
/// `ism_template` (the original installed none, so the policy never applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloverPolicy {
    /// Roll over when the write index is this old (OpenSearch time unit, e.g. `7d`).
    pub min_index_age: String,
    /// ... or holds this many documents.
    pub min_doc_count: u64,
    /// Delete rolled-over indices this old (e.g. `30d`).
    pub delete_after: String,
}

impl Default for RolloverPolicy {
    fn default() -> Self {
        RolloverPolicy {
            min_index_age: "7d".into(),
            min_doc_count: 100_000,
            delete_after: "30d".into(),
        }
    }
}

/// The scenario id made safe for an index name: lower case, `[a-z0-9_-]`, no leading `-_`.
pub fn stream_id(scenario_id: &str) -> String {
    let cleaned: String = scenario_id
        .trim()
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let cleaned = cleaned.trim_start_matches(['-', '_']).to_string();
    if cleaned.is_empty() {
        "unknown".into()
    } else {
        cleaned
    }
}

/// The data stream of a scenario: `sonar_anomalies_mvad_<id>`.
pub fn stream_name(scenario_id: &str) -> String {
    format!("{STREAM_PREFIX}{}", stream_id(scenario_id))
}

/// The template bodies for one scenario, as sent. Public so tests and `--dry-run` users can
/// see exactly what would be installed.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamTemplates {
    /// The data stream name.
    pub stream: String,
    /// `(name, body)` of the component templates, in install order.
    pub components: Vec<(String, Value)>,
    /// `(name, body)` of the scenario's index template.
    pub index_template: (String, Value),
}

fn float() -> Value {
    json!({"type": "float"})
}
fn integer() -> Value {
    json!({"type": "integer"})
}
fn keyword() -> Value {
    json!({"type": "keyword"})
}
fn date() -> Value {
    json!({"type": "date"})
}

/// The MVAD component: the original's base and MVAD mappings (same names and types), the
/// `mvad_interpretation` the documents actually carry, and the additions.
pub fn mvad_component() -> Value {
    json!({
        "template": {
            "mappings": {
                "properties": {
                    // the original base template's fields
                    "@timestamp": date(),
                    "timestamp": date(),
                    "is_anomaly": {"type": "boolean"},
                    "anomaly_score": float(),
                    "threshold": float(),
                    "scenario_name": keyword(),
                    "detection_timestamp": date(),
                    "alert_count": integer(),
                    "feature_count": integer(),
                    // the original MVAD component's fields
                    "mvad_score": float(),
                    "mvad_severity": float(),
                    "mvad_threshold": float(),
                    "sliding_window": integer(),
                    "bucket_minutes": integer(),
                    "lookback_minutes": integer(),
                    // per-entity scenarios (docs/entities.md)
                    "entity": {"properties": {"name": keyword(), "value": keyword()}},
                    "top_contributors": {"properties": {
                        "variable": keyword(),
                        "contribution": float(),
                        "observed": float(),
                        "expected": float(),
                        "correlation_changes": {"properties": {
                            "changed_variables": keyword(),
                            "changed_values": float()
                        }}
                    }},
                    "context": {"properties": {
                        "model_path": keyword(),
                        "feature_names": keyword(),
                        "training_samples": integer()
                    }},
                    // what documents carry that the original left to dynamic mapping
                    "mvad_interpretation": {"properties": {
                        "variable": keyword(),
                        "contribution": float()
                    }},
                    "rule": {"properties": {
                        "level": integer(),
                        "description": {"type": "text"},
                        "id": keyword(),
                        "groups": keyword()
                    }},
                    "data": {"properties": {
                        "mvad_score": float(),
                        "mvad_severity": float(),
                        "mvad_threshold": float(),
                        "bucket_minutes": integer(),
                        "lookback_minutes": integer()
                    }},
                    // additions
                    "bucket_end": date(),
                    "scenario": {"properties": {"id": keyword(), "name": keyword()}},
                    "model": {"properties": {"name": keyword(), "version": keyword()}},
                    "event": {"properties": {"id": keyword(), "start": date(), "end": date()}}
                }
            }
        },
        "_meta": {"flow": "sonar_mvad", "version": "2.0"}
    })
}

/// The scenario component: one float per feature column under `scenario_features` (the
/// original put them at top level, where a column such as `alert_count` would clash).
pub fn scenario_component(feature_names: &[String]) -> Value {
    let features: Map<String, Value> = feature_names
        .iter()
        .map(|name| (field_name(name), float()))
        .collect();
    json!({
        "template": {
            "mappings": {
                "properties": {
                    "scenario_features": {"properties": Value::Object(features)}
                }
            }
        },
        "_meta": {"flow": "sonar_mvad", "version": "2.0"}
    })
}

/// Every template for one scenario.
pub fn stream_templates(scenario_id: &str, feature_names: &[String]) -> StreamTemplates {
    let id = stream_id(scenario_id);
    let stream = stream_name(scenario_id);
    let scenario_component_name = format!("component_template_sonar_{id}");
    let index_template = json!({
        "index_patterns": [stream],
        "data_stream": {"timestamp_field": {"name": "timestamp"}},
        "priority": 3,
        "composed_of": [MVAD_COMPONENT, scenario_component_name],
        "template": {
            "settings": {
                "number_of_shards": 1,
                "number_of_replicas": 0,
                "refresh_interval": "30s"
            }
        },
        "_meta": {"flow": "sonar_mvad", "version": "2.0", "scenario_id": scenario_id}
    });
    StreamTemplates {
        components: vec![
            (MVAD_COMPONENT.to_string(), mvad_component()),
            (scenario_component_name, scenario_component(feature_names)),
        ],
        index_template: (format!("sonar_stream_template_mvad_{id}"), index_template),
        stream,
    }
}

/// The ISM policy body: the original's thresholds (roll over at 7 days or 100,000 documents,
/// delete after 30 days) as one rollover action on the write index, plus the `ism_template`
/// that attaches it to every SONAR stream (the original had none).
pub fn rollover_policy_body(policy: &RolloverPolicy) -> Value {
    json!({
        "policy": {
            "description": "SONAR anomaly streams: roll over, then delete old backing indices",
            "default_state": "active",
            "states": [
                {
                    "name": "active",
                    "actions": [{"rollover": {
                        "min_index_age": policy.min_index_age,
                        "min_doc_count": policy.min_doc_count
                    }}],
                    "transitions": [{
                        "state_name": "delete",
                        "conditions": {"min_index_age": policy.delete_after}
                    }]
                },
                {
                    "name": "delete",
                    "actions": [{"delete": {}}],
                    "transitions": []
                }
            ],
            "ism_template": [{"index_patterns": [format!("{STREAM_PREFIX}*")], "priority": 100}]
        }
    })
}

/// What installing the templates did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstallReport {
    /// Names of templates and policies sent (and accepted).
    pub installed: Vec<String>,
    /// Names not sent because of `--dry-run`.
    pub skipped_dry_run: Vec<String>,
    /// Names that already existed and were left alone (an existing ISM policy).
    pub already_present: Vec<String>,
}

/// Ships anomaly documents to the scenario's data stream, installing templates first.
pub struct DataStreamSink<T: Transport> {
    transport: T,
    inspector: WriteInspector,
    templates: StreamTemplates,
    rollover: Option<RolloverPolicy>,
    install_pending: bool,
    retry: ItemRetry,
    sleeper: Sleeper,
}

impl<T: Transport> std::fmt::Debug for DataStreamSink<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataStreamSink")
            .field("stream", &self.templates.stream)
            .field("install_pending", &self.install_pending)
            .finish_non_exhaustive()
    }
}

impl<T: Transport> DataStreamSink<T> {
    /// A sink for `scenario_id`'s stream. With `install_templates` the templates (and the
    /// rollover policy, if given) are installed before the first write; `feature_names` are
    /// the model's columns.
    pub fn new(
        transport: T,
        inspector: WriteInspector,
        scenario_id: &str,
        feature_names: &[String],
        install_templates: bool,
        rollover: Option<RolloverPolicy>,
    ) -> Self {
        DataStreamSink {
            transport,
            inspector,
            templates: stream_templates(scenario_id, feature_names),
            rollover,
            install_pending: install_templates,
            retry: ItemRetry::default(),
            sleeper: thread_sleeper(),
        }
    }

    /// Replaces the retry policy for 429/5xx items and the way to wait.
    pub fn with_retry(mut self, retry: ItemRetry, sleeper: Sleeper) -> Self {
        self.retry = retry;
        self.sleeper = sleeper;
        self
    }

    /// The stream name.
    pub fn stream(&self) -> &str {
        &self.templates.stream
    }

    /// The templates this sink installs.
    pub fn templates(&self) -> &StreamTemplates {
        &self.templates
    }

    /// The inspector, e.g. to list the payload files written.
    pub fn inspector(&self) -> &WriteInspector {
        &self.inspector
    }

    /// The transport (tests inspect what was sent).
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Installs the component templates, the index template and (if configured) the ISM
    /// policy now. `train --ship` calls this; `write` calls it once if still pending.
    pub fn install(&mut self) -> Result<InstallReport, Error> {
        let mut report = InstallReport::default();
        let mut requests: Vec<(String, WriteRequest)> = Vec::new();
        for (name, body) in &self.templates.components {
            requests.push((
                name.clone(),
                WriteRequest {
                    kind: "component_template",
                    method: Method::Put,
                    target: format!("/_component_template/{name}"),
                    body: Body::Json(body.clone()),
                },
            ));
        }
        let (name, body) = &self.templates.index_template;
        requests.push((
            name.clone(),
            WriteRequest {
                kind: "index_template",
                method: Method::Put,
                target: format!("/_index_template/{name}"),
                body: Body::Json(body.clone()),
            },
        ));
        if let Some(policy) = &self.rollover {
            requests.push((
                ROLLOVER_POLICY.to_string(),
                WriteRequest {
                    kind: "ism_policy",
                    method: Method::Put,
                    target: format!("/_plugins/_ism/policies/{ROLLOVER_POLICY}"),
                    body: Body::Json(rollover_policy_body(policy)),
                },
            ));
        }
        for (name, request) in requests {
            match send_inspected(&mut self.transport, &mut self.inspector, &request)? {
                None => report.skipped_dry_run.push(name),
                Some(reply) if (200..300).contains(&reply.status) => report.installed.push(name),
                // An existing ISM policy can only be replaced with its seq_no/primary_term;
                // leaving the operator's (possibly edited) policy alone is the safe choice.
                Some(reply) if reply.status == 409 && request.kind == "ism_policy" => {
                    report.already_present.push(name)
                }
                Some(reply) => {
                    return Err(Error::SinkRejected {
                        destination: self.templates.stream.clone(),
                        request: format!("{} {}", request.method.as_str(), request.target),
                        status: reply.status,
                        body: excerpt(&reply.body),
                    })
                }
            }
        }
        self.install_pending = false;
        tracing::info!(
            stream = %self.templates.stream,
            installed = report.installed.len(),
            dry_run = report.skipped_dry_run.len(),
            "SONAR stream templates installed"
        );
        Ok(report)
    }
}

impl<T: Transport> AnomalySink for DataStreamSink<T> {
    fn write(&mut self, docs: &[AnomalyDocument]) -> Result<WriteReport, Error> {
        if self.install_pending {
            self.install()?;
        }
        let report = bulk_create(
            &mut self.transport,
            &mut self.inspector,
            &self.retry,
            &mut self.sleeper,
            &self.templates.stream,
            docs,
        )?;
        tracing::info!(
            stream = %self.templates.stream,
            written = report.written,
            already_present = report.already_present,
            dry_run = report.skipped_dry_run,
            failed = report.failed.len(),
            "anomalies shipped to data stream"
        );
        Ok(report)
    }

    fn destination(&self) -> String {
        self.templates.stream.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::bulk::tests::{doc, ScriptedTransport};
    use crate::sink::inspect::WriteOptions;

    #[test]
    fn stream_name_matches_its_template_pattern() {
        for id in ["a1b2c3d4", "Brute Force/SSH", "_x"] {
            let t = stream_templates(id, &["rule.level".into()]);
            assert_eq!(
                t.index_template.1["index_patterns"],
                json!([t.stream.clone()])
            );
            assert!(t.stream.starts_with(STREAM_PREFIX));
        }
        assert_eq!(
            stream_name("Brute Force/SSH"),
            "sonar_anomalies_mvad_brute_force_ssh"
        );
        assert_eq!(stream_name("_x"), "sonar_anomalies_mvad_x");
    }

    #[test]
    fn scenario_component_maps_feature_columns_without_dots() {
        assert_eq!(
            scenario_component(&["rule.level".into(), "alert_count".into()]),
            json!({
                "template": {"mappings": {"properties": {"scenario_features": {"properties": {
                    "rule_level": {"type": "float"},
                    "alert_count": {"type": "float"}
                }}}}},
                "_meta": {"flow": "sonar_mvad", "version": "2.0"}
            })
        );
    }

    #[test]
    fn install_then_bulk_in_order_and_only_once() {
        let mut sink = DataStreamSink::new(
            ScriptedTransport::default(),
            WriteInspector::new(WriteOptions::default()),
            "bf01",
            &["rule.level".into()],
            true,
            Some(RolloverPolicy::default()),
        );
        let ok = |n: usize| crate::sink::HttpReply {
            status: 200,
            body: json!({"errors": false, "items": vec![json!({"create": {"status": 201}}); n]})
                .to_string(),
        };
        sink.transport
            .replies
            .extend([ok(0), ok(0), ok(0), ok(0), ok(1), ok(1)]);
        sink.write(&[doc("a")]).expect("first write");
        sink.write(&[doc("b")]).expect("second write");
        let sent: Vec<(&str, &str)> = sink
            .transport()
            .sent
            .iter()
            .map(|(m, p, _)| (m.as_str(), p.as_str()))
            .collect();
        assert_eq!(
            sent,
            [
                ("PUT", "/_component_template/component_template_sonar_mvad"),
                ("PUT", "/_component_template/component_template_sonar_bf01"),
                ("PUT", "/_index_template/sonar_stream_template_mvad_bf01"),
                ("PUT", "/_plugins/_ism/policies/sonar_rollover_policy"),
                ("POST", "/_bulk"),
                ("POST", "/_bulk"),
            ]
        );
    }

    #[test]
    fn a_refused_template_stops_shipping() {
        let mut sink = DataStreamSink::new(
            ScriptedTransport::default(),
            WriteInspector::new(WriteOptions::default()),
            "bf01",
            &[],
            true,
            None,
        );
        sink.transport.replies.push_back(crate::sink::HttpReply {
            status: 400,
            body: "mapper_parsing_exception".into(),
        });
        let err = sink.write(&[doc("a")]).expect_err("must fail");
        assert!(
            err.to_string().contains("component_template_sonar_mvad"),
            "{err}"
        );
        assert_eq!(sink.transport().sent.len(), 1);
    }
}
