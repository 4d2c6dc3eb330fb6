//! Server-side aggregation against osmem: the same alerts give the same feature matrix
//! through the indexer's aggregations as through the in-memory feature builder.

use chrono::{DateTime, Duration as Span, Utc};
use serde_json::{json, Value};
use sonar::features::{FeatureBuilder, FeatureMatrix, FeatureSpec};
use sonar::source::indexer::IndexerSource;
use sonar::source::{Alert, AlertQuery, TimeRange};

use crate::osmem::OsmemServer;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("test timestamp")
        .with_timezone(&Utc)
}

/// Alerts over two hours with a silent half hour, optional numeric fields, a categorical
/// field with more values than top-k and a list field; some alerts fall after the range.
fn alerts() -> Vec<Value> {
    let start = at("2024-07-01T00:00:00Z");
    let agents = ["web", "db", "mail", "vpn", "dns"];
    let groups: [&[&str]; 3] = [&["syslog", "sshd"], &["web"], &["syslog"]];
    (0..900u32)
        .filter_map(|n| {
            let seconds = i64::from(n * 7919 % 9000);
            // 00:40 to 01:10 is silent: empty buckets in the middle.
            if (2400..4200).contains(&seconds) {
                return None;
            }
            let mut alert = json!({
                "timestamp": (start + Span::seconds(seconds)).to_rfc3339(),
                "agent": {"name": agents[(n as usize / 2) % 5]},
                "rule": {"groups": groups[n as usize % 3]},
            });
            if n % 5 != 0 {
                alert["rule"]["level"] = json!(3 + n % 9);
            }
            if n % 4 == 0 {
                alert["data"] = json!({"score": f64::from(n % 17) / 4.0});
            }
            Some(alert)
        })
        .collect()
}

fn assert_same(server: &FeatureMatrix, memory: &FeatureMatrix) {
    assert_eq!(server.columns, memory.columns);
    assert_eq!(server.bucket_starts, memory.bucket_starts);
    assert_eq!(server.alert_counts, memory.alert_counts);
    assert_eq!(server.values.len(), memory.values.len());
    for (i, (s, m)) in server.values.iter().zip(&memory.values).enumerate() {
        let (row, col) = (i / memory.cols(), i % memory.cols());
        assert!(
            (s.is_nan() && m.is_nan()) || (s - m).abs() < 1e-9,
            "row {row} column {}: server {s} vs memory {m}",
            memory.columns[col]
        );
    }
}

#[test]
fn server_aggregation_matches_the_in_memory_builder() {
    aggregation_matches_the_in_memory_builder(false);
}

/// As a real Wazuh indexer maps the fields (keyword host names and groups, long levels): the
/// categorical aggregations run on the fields themselves, not on a `.keyword` sub-field.
#[test]
fn server_aggregation_matches_the_in_memory_builder_under_wazuhs_template() {
    aggregation_matches_the_in_memory_builder(true);
}

/// Dynamic mappings (`agent.name` as text with a `.keyword` sub-field) or, with `template`,
/// Wazuh's own 4.x index template.
fn aggregation_matches_the_in_memory_builder(template: bool) {
    let docs = alerts();
    let server = OsmemServer::start();
    if template {
        server.install_wazuh_template();
    }
    server.bulk_index("wazuh-alerts-4.x-2024.07.01", &docs);

    let range = TimeRange {
        start: at("2024-07-01T00:00:00Z"),
        end: at("2024-07-01T02:00:00Z"),
    };
    let spec = FeatureSpec {
        bucket_minutes: 5,
        numeric_fields: vec!["rule.level".to_owned(), "data.score".to_owned()],
        max_numeric_fields: vec!["rule.level".to_owned()],
        categorical_fields: vec!["agent.name".to_owned(), "rule.groups".to_owned()],
        categorical_top_k: 3,
        derived_features: false,
        ..FeatureSpec::default()
    };
    let plan = spec.validate().expect("spec");
    let mut builder = FeatureBuilder::for_training(&plan, range).expect("builder");
    let page: Vec<Alert> = docs
        .iter()
        .map(|d| d.as_object().expect("object").clone())
        .collect();
    builder.push_page(&page);
    let memory = builder.finish();
    assert_eq!(memory.rows(), 24);
    assert!(memory.alert_counts.contains(&0), "empty buckets exist");
    let other = memory.column("agent.name__other").expect("__other column");
    assert!(other.iter().any(|&v| v > 0.0), "values beyond top-k exist");

    let source = IndexerSource::new(server.client(), "wazuh-alerts-4.x-*");
    let query = AlertQuery {
        range,
        timestamp_field: "timestamp".to_owned(),
        fields: Vec::new(),
        alert_filter: None,
    };
    let aggregated = source
        .aggregate_features(&query, &memory.schema)
        .expect("aggregation")
        .expect("expressible schema");
    assert_same(&aggregated, &memory);

    // The derived flags are not expressible: the caller streams alerts instead.
    let mut derived = memory.schema.clone();
    derived.derived_features = true;
    assert!(source
        .aggregate_features(&query, &derived)
        .expect("no request")
        .is_none());
}
