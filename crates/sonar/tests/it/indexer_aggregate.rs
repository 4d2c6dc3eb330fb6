//! Server-side features against osmem: the same alerts give the same feature matrix through
//! the indexer's aggregations as through the in-memory feature builder, at training (the
//! server picks the vocabularies) and at detection (a frozen schema); a field the server
//! cannot aggregate makes it decline, so that the caller pages alerts.

use chrono::{DateTime, Duration as Span, Utc};
use serde_json::{json, Value};
use sonar::features::{FeatureBuilder, FeatureMatrix, FeatureSpec};
use sonar::source::indexer::IndexerSource;
use sonar::source::{Alert, AlertQuery, ServerFeatures, TimeRange};

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
            if n % 3 == 0 {
                // Around the derived flags' thresholds (80 and 95 %, load 4).
                alert["data"]["cpu_usage_%"] = json!(70 + n % 30);
                alert["data"]["1min_loadAverage"] = json!(f64::from(n % 11) / 2.0);
            }
            if n % 7 == 0 {
                alert["rule"]["groups"] = json!(["sshd", "authentication_failed"]);
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
fn server_features_match_the_in_memory_builder() {
    features_match_the_in_memory_builder(false);
}

/// As a real Wazuh indexer maps the fields (keyword host names and groups, long levels): the
/// categorical aggregations run on the fields themselves, not on a `.keyword` sub-field.
#[test]
fn server_features_match_the_in_memory_builder_under_wazuhs_template() {
    features_match_the_in_memory_builder(true);
}

fn range() -> TimeRange {
    TimeRange {
        start: at("2024-07-01T00:00:00Z"),
        end: at("2024-07-01T02:00:00Z"),
    }
}

fn query() -> AlertQuery {
    AlertQuery {
        range: range(),
        timestamp_field: "timestamp".to_owned(),
        fields: Vec::new(),
        alert_filter: None,
    }
}

fn page(docs: &[Value]) -> Vec<Alert> {
    docs.iter()
        .map(|d| d.as_object().expect("object").clone())
        .collect()
}

/// Dynamic mappings (`agent.name` as text with a `.keyword` sub-field) or, with `template`,
/// Wazuh's own 4.x index template.
fn features_match_the_in_memory_builder(template: bool) {
    let docs = alerts();
    let server = OsmemServer::start();
    if template {
        server.install_wazuh_template();
    }
    server.bulk_index("wazuh-alerts-4.x-2024.07.01", &docs);

    let spec = FeatureSpec {
        bucket_minutes: 5,
        numeric_fields: vec!["rule.level".to_owned(), "data.score".to_owned()],
        max_numeric_fields: vec!["rule.level".to_owned()],
        categorical_fields: vec!["agent.name".to_owned(), "rule.groups".to_owned()],
        categorical_top_k: 3,
        derived_features: true,
        ..FeatureSpec::default()
    };
    let plan = spec.validate().expect("spec");
    let mut builder = FeatureBuilder::for_training(&plan, range()).expect("builder");
    builder.push_page(&page(&docs));
    let memory = builder.finish();
    assert_eq!(memory.rows(), 24);
    assert!(memory.alert_counts.contains(&0), "empty buckets exist");
    let other = memory.column("agent.name__other").expect("__other column");
    assert!(other.iter().any(|&v| v > 0.0), "values beyond top-k exist");
    for flag in [
        "is_ssh_event",
        "is_auth_failure",
        "is_cpu_high",
        "is_cpu_critical",
        "is_high_load",
    ] {
        let column = memory.column(flag).expect("flag column");
        assert!(column.iter().any(|&v| v > 0.0 && v < 1.0), "{flag} varies");
    }

    let mut source = IndexerSource::new(server.client(), "wazuh-alerts-4.x-*");
    // Training: the server chooses the same vocabularies and computes the same matrix.
    let trained = source
        .server_features(&query(), ServerFeatures::Training(&plan))
        .expect("aggregation")
        .expect("expressible features");
    assert_eq!(trained.schema, memory.schema);
    assert_same(&trained, &memory);
    assert_eq!(trained.stats.alerts, memory.stats.alerts);

    // Detection with the frozen schema, through the trait the pipeline calls.
    let detected = sonar::source::AlertSource::aggregate(
        &mut source,
        &query(),
        ServerFeatures::Detection(&memory.schema),
    )
    .expect("aggregation")
    .expect("expressible schema");
    assert_same(&detected, &memory);
}

/// A number stored as a string (`"85.5"`, mapped `keyword` under Wazuh's template): the builder
/// parses it, the server cannot average or compare it, so the server declines and the caller
/// pages alerts. A missing index is an error, not a decline.
#[test]
fn numbers_stored_as_strings_make_the_server_decline() {
    let docs: Vec<Value> = alerts()
        .into_iter()
        .map(|mut alert| {
            if let Some(cpu) = alert.pointer("/data/cpu_usage_%").cloned() {
                alert["data"]["cpu_usage_%"] = json!(cpu.to_string());
            }
            alert
        })
        .collect();
    let server = OsmemServer::start();
    server.install_wazuh_template();
    server.bulk_index("wazuh-alerts-4.x-2024.07.01", &docs);
    let source = IndexerSource::new(server.client(), "wazuh-alerts-4.x-*");

    let with_flags = FeatureSpec {
        bucket_minutes: 5,
        derived_features: true,
        ..FeatureSpec::default()
    }
    .validate()
    .expect("spec");
    assert!(source
        .server_features(&query(), ServerFeatures::Training(&with_flags))
        .expect("a decline, not an error")
        .is_none());
    let averaged = FeatureSpec {
        bucket_minutes: 5,
        numeric_fields: vec!["data.cpu_usage_%".to_owned()],
        derived_features: false,
        ..FeatureSpec::default()
    }
    .validate()
    .expect("spec");
    assert!(source
        .server_features(&query(), ServerFeatures::Training(&averaged))
        .expect("a decline, not an error")
        .is_none());
    // Without the string field the same server computes the features.
    let level_only = FeatureSpec {
        bucket_minutes: 5,
        derived_features: false,
        ..FeatureSpec::default()
    }
    .validate()
    .expect("spec");
    assert!(source
        .server_features(&query(), ServerFeatures::Training(&level_only))
        .expect("aggregation")
        .is_some());

    // A missing index, or a pattern that matches nothing (where a search would succeed
    // empty), is an error, as when paging.
    for pattern in ["no-such-index", "no-such-alerts-*"] {
        let missing = IndexerSource::new(server.client(), pattern);
        let err = missing
            .server_features(&query(), ServerFeatures::Training(&level_only))
            .expect_err("a missing index is an error");
        assert!(err.to_string().contains(pattern), "{err}");
        let err = missing
            .entity_counts(&query(), &["agent.name".to_owned()])
            .expect_err("a missing index is an error");
        assert!(err.to_string().contains(pattern), "{err}");
    }
}

/// Every entity's features in one pass (a `composite` of `agent.name` terms × the grid) are
/// the features the server computes for that entity alone, which are the builder's; the
/// census counts by the server are the alerts' own; an entity with more than 200 values of a
/// field in one bucket is left for the caller to compute on its own.
#[test]
fn one_pass_over_all_entities_matches_each_entity_alone() {
    let mut docs = alerts();
    // 250 distinct source addresses at web-a in one bucket (01:30), beyond the pass's 200.
    for n in 0..250 {
        docs.push(json!({
            "timestamp": "2024-07-01T01:31:00Z",
            "agent": {"name": "web-a"},
            "rule": {"level": 3, "groups": ["web"]},
            "data": {"srcip": format!("10.0.{}.{}", n / 200, n % 200)},
        }));
    }
    for (n, doc) in docs.iter_mut().enumerate().take(300) {
        if doc["agent"]["name"] == "web" {
            doc["data"]["srcip"] = json!(format!("10.1.0.{}", n % 4));
        }
    }
    let server = OsmemServer::start();
    server.install_wazuh_template();
    server.bulk_index("wazuh-alerts-4.x-2024.07.01", &docs);
    let mut source = IndexerSource::new(server.client(), "wazuh-alerts-4.x-*");
    let fields = vec!["agent.name".to_owned()];

    let counted = sonar::source::AlertSource::count_entities(&mut source, &query(), &fields)
        .expect("counting")
        .expect("countable");
    let in_range: Vec<&Value> = docs
        .iter()
        .filter(|d| d["timestamp"].as_str().is_some_and(|t| at(t) < range().end))
        .collect();
    assert_eq!(counted.alerts, in_range.len() as u64);
    let mut expected: std::collections::BTreeMap<Vec<String>, u64> = Default::default();
    for doc in &in_range {
        let name = doc["agent"]["name"].as_str().expect("name").to_owned();
        *expected.entry(vec![name]).or_default() += 1;
    }
    assert_eq!(
        counted
            .counts
            .iter()
            .cloned()
            .collect::<std::collections::BTreeMap<_, _>>(),
        expected
    );

    let spec = FeatureSpec {
        bucket_minutes: 5,
        numeric_fields: vec!["rule.level".to_owned()],
        categorical_fields: vec!["rule.groups".to_owned(), "data.srcip".to_owned()],
        categorical_top_k: 2,
        derived_features: true,
        ..FeatureSpec::default()
    };
    let plan = spec.validate().expect("spec");
    let entities: Vec<Vec<String>> = expected.keys().cloned().collect();
    assert!(entities.len() >= 5, "{entities:?}");
    let alone = |entity: &[String], features: ServerFeatures<'_>| {
        let mut q = query();
        q.alert_filter = Some(json!({"term": {"agent.name": entity[0]}}));
        source
            .server_features(&q, features)
            .expect("aggregation")
            .expect("expressible")
    };
    let together = source
        .server_entity_features(
            &query(),
            &fields,
            sonar::source::EntityFeatures::Training {
                plan: &plan,
                entities: &entities,
            },
        )
        .expect("aggregation")
        .expect("expressible");
    assert!(
        !together.contains_key(&vec!["web-a".to_owned()]),
        "web-a is left out"
    );
    assert_eq!(together.len(), entities.len() - 1);
    let mut schemas = Vec::new();
    for (entity, matrix) in &together {
        let own = alone(entity, ServerFeatures::Training(&plan));
        assert_eq!(matrix.schema, own.schema, "{entity:?}");
        assert_same(matrix, &own);
        // And the in-memory builder over the entity's alerts.
        let mut builder = FeatureBuilder::for_training(&plan, range()).expect("builder");
        let mine: Vec<Value> = docs
            .iter()
            .filter(|d| d["agent"]["name"] == entity[0].as_str())
            .cloned()
            .collect();
        builder.push_page(&page(&mine));
        assert_same(matrix, &builder.finish());
        schemas.push((entity.clone(), matrix.schema.clone()));
    }
    let borrowed: Vec<(Vec<String>, &sonar::features::FeatureSchema)> =
        schemas.iter().map(|(e, s)| (e.clone(), s)).collect();
    let detected = source
        .server_entity_features(
            &query(),
            &fields,
            sonar::source::EntityFeatures::Detection { schemas: &borrowed },
        )
        .expect("aggregation")
        .expect("expressible");
    assert_eq!(detected.len(), borrowed.len());
    for (entity, schema) in &borrowed {
        assert_same(
            &detected[entity],
            &alone(entity, ServerFeatures::Detection(schema)),
        );
    }
}
