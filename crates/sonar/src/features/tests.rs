//! Feature builder tests: one rule per test, small alert lists, exact expected values.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::source::timestamp::parse_timestamp;
use crate::source::{Alert, TimeRange};

fn range(start: &str, end: &str) -> TimeRange {
    TimeRange {
        start: parse_timestamp(start).expect("test timestamp"),
        end: parse_timestamp(end).expect("test timestamp"),
    }
}

fn alerts(values: Vec<Value>) -> Vec<Alert> {
    values
        .into_iter()
        .map(|v| v.as_object().cloned().expect("test alerts are objects"))
        .collect()
}

fn train(spec: FeatureSpec, range: TimeRange, input: Vec<Value>) -> FeatureMatrix {
    let plan = spec.validate().expect("valid spec");
    let mut builder = FeatureBuilder::for_training(&plan, range).expect("valid grid");
    builder.push_page(&alerts(input));
    builder.finish()
}

fn detect(schema: &FeatureSchema, range: TimeRange, input: Vec<Value>) -> FeatureMatrix {
    let mut builder = FeatureBuilder::for_detection(schema, range).expect("valid schema and grid");
    builder.push_page(&alerts(input));
    builder.finish()
}

/// Compares one column with expected values; `None` stands for NaN.
fn check(matrix: &FeatureMatrix, column: &str, expected: &[Option<f64>]) {
    let got = matrix
        .column(column)
        .unwrap_or_else(|| panic!("no column {column} in {:?}", matrix.columns));
    let got: Vec<Option<f64>> = got
        .into_iter()
        .map(|x| (!x.is_nan()).then_some(x))
        .collect();
    assert_eq!(got.len(), expected.len(), "{column}: {got:?}");
    for (g, e) in got.iter().zip(expected) {
        match (g, e) {
            (Some(g), Some(e)) => assert!(
                (g - e).abs() < 1e-12,
                "{column}: got {got:?}, expected {expected:?}"
            ),
            (None, None) => {}
            _ => panic!("{column}: got {got:?}, expected {expected:?}"),
        }
    }
}

fn level_only() -> FeatureSpec {
    FeatureSpec {
        derived_features: false,
        ..FeatureSpec::default()
    }
}

fn at(t: &str, rest: Value) -> Value {
    let mut alert = rest;
    alert["timestamp"] = json!(t);
    alert
}

#[test]
fn one_row_per_bucket_with_the_mean() {
    let m = train(
        level_only(),
        range("2024-12-01T10:00:00Z", "2024-12-01T10:15:00Z"),
        vec![
            at("2024-12-01T10:00:00Z", json!({"rule": {"level": 3}})),
            at("2024-12-01T10:01:00Z", json!({"rule": {"level": 4}})),
            at("2024-12-01T10:02:00Z", json!({"rule": {"level": 5}})),
            at("2024-12-01T10:05:00Z", json!({"rule": {"level": "7"}})),
            at("2024-12-01T10:14:59.999Z", json!({"rule": {"level": 1}})),
        ],
    );
    assert_eq!(m.columns, ["rule.level", "alert_count"]);
    check(&m, "rule.level", &[Some(4.0), Some(7.0), Some(1.0)]);
    check(&m, "alert_count", &[Some(3.0), Some(1.0), Some(1.0)]);
    assert_eq!(m.alert_counts, [3, 1, 1]);
}

#[test]
fn empty_buckets_are_present() {
    let spec = FeatureSpec {
        categorical_fields: vec!["agent.name".into()],
        ..FeatureSpec::default()
    };
    let m = train(
        spec,
        range("2024-12-01T10:00:00Z", "2024-12-01T10:20:00Z"),
        vec![
            at(
                "2024-12-01T10:00:00Z",
                json!({"rule": {"level": 12, "groups": ["sshd"]}, "agent": {"name": "a"}}),
            ),
            at(
                "2024-12-01T10:16:00Z",
                json!({"rule": {"level": 3}, "agent": {"name": "a"}}),
            ),
        ],
    );
    assert_eq!(m.rows(), 4);
    let starts: Vec<String> = m.bucket_starts.iter().map(|t| t.to_rfc3339()).collect();
    assert_eq!(
        starts,
        [
            "2024-12-01T10:00:00+00:00",
            "2024-12-01T10:05:00+00:00",
            "2024-12-01T10:10:00+00:00",
            "2024-12-01T10:15:00+00:00"
        ]
    );
    check(
        &m,
        "alert_count",
        &[Some(1.0), Some(0.0), Some(0.0), Some(1.0)],
    );
    check(&m, "rule.level", &[Some(12.0), None, None, Some(3.0)]);
    check(
        &m,
        "is_critical_severity",
        &[Some(1.0), Some(0.0), Some(0.0), Some(0.0)],
    );
    check(
        &m,
        "is_ssh_event",
        &[Some(1.0), Some(0.0), Some(0.0), Some(0.0)],
    );
    check(
        &m,
        "agent.name__a",
        &[Some(1.0), Some(0.0), Some(0.0), Some(1.0)],
    );
    check(&m, "agent.name__other", &[Some(0.0); 4]);
}

#[test]
fn grid_is_epoch_aligned_and_half_open() {
    let m = train(
        level_only(),
        range("2024-12-01T10:03:00Z", "2024-12-01T10:10:00Z"),
        vec![],
    );
    assert_eq!(m.bucket_starts.len(), 2);
    assert_eq!(m.bucket_starts[0].to_rfc3339(), "2024-12-01T10:00:00+00:00");
    let m = train(
        level_only(),
        range("2024-12-01T10:03:00Z", "2024-12-01T10:10:00.5Z"),
        vec![],
    );
    assert_eq!(m.bucket_starts.len(), 3);
    // 7-minute buckets: aligned on the epoch, not on midnight.
    let spec = FeatureSpec {
        bucket_minutes: 7,
        ..level_only()
    };
    let m = train(
        spec,
        range("2024-12-01T00:00:00Z", "2024-12-01T00:01:00Z"),
        vec![],
    );
    assert_eq!(m.bucket_starts[0].timestamp() % 420, 0);
}

#[test]
fn alerts_outside_the_range_or_without_time_are_counted() {
    let m = train(
        level_only(),
        range("2024-12-01T10:00:00Z", "2024-12-01T10:05:00Z"),
        vec![
            at("2024-12-01T09:59:59.999Z", json!({"rule": {"level": 1}})),
            at("2024-12-01T10:05:00Z", json!({"rule": {"level": 1}})),
            json!({"rule": {"level": 1}}),
            at("yesterday", json!({"rule": {"level": 1}})),
            json!({"timestamp": 1733047200, "rule": {"level": 1}}),
            // 12:04+02:00 is 10:04 UTC: inside.
            at("2024-12-01T12:04:00+0200", json!({"rule": {"level": 9}})),
        ],
    );
    check(&m, "rule.level", &[Some(9.0)]);
    assert_eq!(m.stats.alerts, 1);
    assert_eq!(m.stats.out_of_range, 2);
    assert_eq!(m.stats.skipped, 3);
    assert_eq!(
        m.stats.first_skip_reason.as_deref(),
        Some("no `timestamp` field")
    );
}

#[test]
fn numeric_means_ignore_missing_and_odd_values() {
    let spec = FeatureSpec {
        numeric_fields: vec!["rule.level".into(), "data.cpu_usage_%".into()],
        derived_features: false,
        ..FeatureSpec::default()
    };
    let m = train(
        spec,
        range("2024-12-01T10:00:00Z", "2024-12-01T10:05:00Z"),
        vec![
            at(
                "2024-12-01T10:00:00Z",
                json!({"rule": {"level": 4}, "data": {"cpu_usage_%": "6.5"}}),
            ),
            at(
                "2024-12-01T10:01:00Z",
                json!({"data": {"cpu_usage_%": "high"}}),
            ),
            at(
                "2024-12-01T10:02:00Z",
                json!({"rule": {"level": "NaN"}, "data": {"cpu_usage_%": [1]}}),
            ),
            at(
                "2024-12-01T10:03:00Z",
                json!({"rule": {"level": 8}, "data": {"cpu_usage_%": null}}),
            ),
        ],
    );
    check(&m, "rule.level", &[Some(6.0)]);
    check(&m, "data.cpu_usage_%", &[Some(6.5)]);
    assert_eq!(m.stats.non_numeric_values, 2);
    assert_eq!(m.stats.non_finite_values, 1);
}

#[test]
fn max_columns_hold_the_maximum() {
    let spec = FeatureSpec {
        bucket_minutes: 60,
        numeric_fields: vec!["data.cpu_usage_%".into()],
        max_numeric_fields: vec!["data.cpu_usage_%".into(), "data.memory_usage_%".into()],
        derived_features: false,
        ..FeatureSpec::default()
    };
    let m = train(
        spec,
        range("2024-12-01T10:00:00Z", "2024-12-01T12:00:00Z"),
        vec![
            at(
                "2024-12-01T10:10:00Z",
                json!({"data": {"cpu_usage_%": 20, "memory_usage_%": "-3"}}),
            ),
            at(
                "2024-12-01T10:50:00Z",
                json!({"data": {"cpu_usage_%": "90"}}),
            ),
        ],
    );
    assert_eq!(
        m.columns,
        [
            "data.cpu_usage_%",
            "data.cpu_usage_%__max",
            "data.memory_usage_%__max",
            "alert_count"
        ]
    );
    check(&m, "data.cpu_usage_%", &[Some(55.0), None]);
    check(&m, "data.cpu_usage_%__max", &[Some(90.0), None]);
    check(&m, "data.memory_usage_%__max", &[Some(-3.0), None]);
}

#[test]
fn derived_flags_are_bucket_fractions() {
    let m = train(
        FeatureSpec {
            numeric_fields: vec![],
            ..FeatureSpec::default()
        },
        range("2024-12-01T10:00:00Z", "2024-12-01T10:05:00Z"),
        vec![
            at(
                "2024-12-01T10:00:00Z",
                json!({"rule": {"level": "10", "groups": ["brute_force", "sshd"]}}),
            ),
            at(
                "2024-12-01T10:01:00Z",
                json!({"rule": {"level": 3, "groups": ["sshd"]}}),
            ),
            at(
                "2024-12-01T10:02:00Z",
                json!({"rule": {"level": "x", "groups": "sshd"}, "data": {"cpu_usage_%": 99}}),
            ),
            at("2024-12-01T10:03:00Z", json!({"rule": 7})),
        ],
    );
    let mut expected: Vec<&str> = derived::DERIVED_NAMES.to_vec();
    expected.push("alert_count");
    assert_eq!(m.columns, expected);
    check(&m, "is_brute_force", &[Some(0.25)]);
    check(&m, "is_ssh_event", &[Some(0.75)]);
    check(&m, "is_high_severity", &[Some(0.25)]);
    check(&m, "is_cpu_critical", &[Some(0.25)]);
    check(&m, "is_auth_failure", &[Some(0.0)]);
}

fn by_rule_id(top_k: usize) -> FeatureSpec {
    FeatureSpec {
        numeric_fields: vec![],
        categorical_fields: vec!["rule.id".into()],
        categorical_top_k: top_k,
        derived_features: false,
        ..FeatureSpec::default()
    }
}

fn rule_ids(ids: &[Value]) -> Vec<Value> {
    ids.iter()
        .enumerate()
        .map(|(i, id)| {
            at(
                &format!("2024-12-01T10:0{}:00Z", i % 10),
                json!({"rule": {"id": id}}),
            )
        })
        .collect()
}

#[test]
fn top_k_keeps_the_most_frequent_values_and_other() {
    let ten = range("2024-12-01T10:00:00Z", "2024-12-01T10:10:00Z");
    let m = train(
        by_rule_id(2),
        ten,
        rule_ids(&[
            json!("b"),
            json!("c"),
            json!("a"),
            json!("b"),
            json!("c"),
            json!(5710),
        ]),
    );
    assert_eq!(
        m.columns,
        ["rule.id__b", "rule.id__c", "rule.id__other", "alert_count"]
    );
    // Bucket 0 holds alerts 0..5 (b c a b c), bucket 1 alert 5 (5710).
    check(&m, "rule.id__b", &[Some(0.4), Some(0.0)]);
    check(&m, "rule.id__c", &[Some(0.4), Some(0.0)]);
    check(&m, "rule.id__other", &[Some(0.2), Some(1.0)]);
    assert_eq!(m.schema.categorical[0].values, ["b", "c"]);

    // Without truncation: every value, alphabetical (the original's order).
    let m = train(
        by_rule_id(0),
        ten,
        rule_ids(&[json!("b"), json!("a"), json!("b"), json!("a.b-c")]),
    );
    assert_eq!(
        m.columns,
        [
            "rule.id__a",
            "rule.id__a_b_c",
            "rule.id__b",
            "rule.id__other",
            "alert_count"
        ]
    );
    check(&m, "rule.id__other", &[Some(0.0), Some(0.0)]);
}

#[test]
fn list_values_are_multi_hot_and_distinct() {
    let spec = FeatureSpec {
        categorical_fields: vec!["rule.groups".into()],
        categorical_top_k: 1,
        ..by_rule_id(1)
    };
    let m = train(
        spec,
        range("2024-12-01T10:00:00Z", "2024-12-01T10:05:00Z"),
        vec![
            at(
                "2024-12-01T10:00:00Z",
                json!({"rule": {"groups": ["ssh", "ssh", "auth", null]}}),
            ),
            at(
                "2024-12-01T10:01:00Z",
                json!({"rule": {"groups": ["ssh", "pam", "x"]}}),
            ),
        ],
    );
    assert_eq!(
        m.columns,
        ["rule.groups__ssh", "rule.groups__other", "alert_count"]
    );
    check(&m, "rule.groups__ssh", &[Some(1.0)]);
    check(&m, "rule.groups__other", &[Some(1.5)]);
}

#[test]
fn detection_reuses_the_training_columns() {
    let ten = range("2024-12-01T10:00:00Z", "2024-12-01T10:10:00Z");
    let trained = train(
        by_rule_id(2),
        ten,
        rule_ids(&[json!("a"), json!("a"), json!("b"), json!("c")]),
    );
    assert_eq!(trained.schema.categorical[0].values, ["a", "b"]);
    let stored = serde_json::to_string(&trained.schema).expect("serialises");
    let schema: FeatureSchema = serde_json::from_str(&stored).expect("parses");

    let later = range("2024-12-02T10:00:00Z", "2024-12-02T10:05:00Z");
    let input = vec![
        at("2024-12-02T10:00:00Z", json!({"rule": {"id": "zzz"}})),
        at("2024-12-02T10:01:00Z", json!({"rule": {"id": "b"}})),
        at("2024-12-02T10:02:00Z", json!({"rule": {"id": "new"}})),
        at(
            "2024-12-02T10:03:00Z",
            json!({"rule": {"id": ["b", "b", "q"]}}),
        ),
    ];
    let m = detect(&schema, later, input);
    assert_eq!(m.columns, trained.columns);
    check(&m, "rule.id__a", &[Some(0.0)]);
    check(&m, "rule.id__b", &[Some(0.5)]);
    check(&m, "rule.id__other", &[Some(0.75)]);
    check(&m, "alert_count", &[Some(4.0)]);
}

#[test]
fn input_order_does_not_matter() {
    let spec = FeatureSpec {
        numeric_fields: vec!["rule.level".into()],
        max_numeric_fields: vec!["rule.level".into()],
        categorical_fields: vec!["agent.name".into()],
        categorical_top_k: 2,
        ..FeatureSpec::default()
    };
    let day = range("2024-12-01T00:00:00Z", "2024-12-02T00:00:00Z");
    let input: Vec<Value> = (0..200)
        .map(|i| {
            at(
                &format!("2024-12-01T{:02}:{:02}:00Z", (i * 7) % 24, (i * 13) % 60),
                json!({"rule": {"level": i % 13, "groups": ["sshd"]}, "agent": {"name": format!("h{}", i % 5)}}),
            )
        })
        .collect();
    let mut reversed = input.clone();
    reversed.reverse();
    let a = train(spec.clone(), day, input);
    let b = train(spec, day, reversed);
    assert_eq!(a.columns, b.columns);
    assert_eq!(a.alert_counts, b.alert_counts);
    for (x, y) in a.values.iter().zip(&b.values) {
        assert!(
            (x.is_nan() && y.is_nan()) || (x - y).abs() < 1e-9,
            "{x} vs {y}"
        );
    }
}

#[test]
fn grids_that_cannot_be_built_are_errors() {
    let plan = level_only().validate().expect("valid");
    let reversed = range("2024-12-02T00:00:00Z", "2024-12-01T00:00:00Z");
    assert!(matches!(
        FeatureBuilder::for_training(&plan, reversed),
        Err(crate::Error::FeatureGrid { .. })
    ));
    let plan = FeatureSpec {
        bucket_minutes: 1,
        ..level_only()
    }
    .validate()
    .expect("valid");
    let decades = range("2000-01-01T00:00:00Z", "2030-01-01T00:00:00Z");
    let err = FeatureBuilder::for_training(&plan, decades).expect_err("too many buckets");
    assert!(err.to_string().contains("more than"), "{err}");
}

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|x| json!(x)),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |x| x.is_finite())
            .prop_map(|x| json!(x)),
        prop_oneof![
            Just("NaN".to_owned()),
            Just("inf".to_owned()),
            Just("-1e308".to_owned()),
            Just("12".to_owned()),
            Just(" 99.5 ".to_owned()),
            "\\PC{0,8}",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_%0-9]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn any_alert() -> impl Strategy<Value = Value> {
    let timestamp = prop_oneof![
        (0i64..7200, 0u32..1_000_000_000).prop_map(|(s, n)| {
            let t = chrono::DateTime::from_timestamp(1_733_040_000 + s, n).expect("in range");
            json!(t.to_rfc3339())
        }),
        any_json(),
    ];
    (
        timestamp,
        any_json(),
        any_json(),
        any_json(),
        any_json(),
        any_json(),
    )
        .prop_map(|(t, level, groups, cpu, data, agent)| {
            let mut alert = json!({
                "rule": {"level": level, "groups": groups, "id": agent.clone()},
                "data": {"cpu_usage_%": cpu, "1min_loadAverage": data.clone(), "x": data},
                "agent": agent,
            });
            if !t.is_null() {
                alert["timestamp"] = t;
            }
            alert
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_alerts_give_a_well_formed_matrix(input in prop::collection::vec(any_alert(), 0..40), top_k in 0usize..4) {
        let spec = FeatureSpec {
            bucket_minutes: 15,
            numeric_fields: vec!["rule.level".into(), "data.cpu_usage_%".into(), "data.x".into()],
            max_numeric_fields: vec!["data.x".into(), "agent".into()],
            categorical_fields: vec!["rule.groups".into(), "agent".into(), "rule.id".into()],
            categorical_top_k: top_k,
            derived_features: true,
            timestamp_field: "timestamp".into(),
        };
        let r = TimeRange {
            start: chrono::DateTime::from_timestamp(1_733_040_000 + 600, 0).expect("in range"),
            end: chrono::DateTime::from_timestamp(1_733_040_000 + 6000, 0).expect("in range"),
        };
        let m = train(spec, r, input.clone());
        prop_assert_eq!(m.values.len(), m.rows() * m.cols());
        prop_assert_eq!(m.rows(), 7); // 10:10 .. 11:40 in 15-minute buckets: 10:00 .. 11:30
        prop_assert_eq!(&m.columns, &m.schema.columns);
        let nan_allowed = 5; // three means, two maxima
        for row in 0..m.rows() {
            for (col, &x) in m.row(row).iter().enumerate() {
                if col < nan_allowed {
                    prop_assert!(x.is_nan() || x.is_finite(), "{} = {}", m.columns[col], x);
                } else {
                    prop_assert!(x.is_finite() && x >= 0.0, "{} = {}", m.columns[col], x);
                }
            }
        }
        let counted: u64 = m.alert_counts.iter().sum();
        prop_assert_eq!(counted, m.stats.alerts);
        prop_assert_eq!(m.stats.alerts + m.stats.out_of_range + m.stats.skipped, input.len() as u64);

        // Detection with the frozen schema gives the same shape and the same matrix.
        let again = detect(&m.schema, r, input);
        prop_assert_eq!(&again.columns, &m.columns);
        for (x, y) in again.values.iter().zip(&m.values) {
            prop_assert!((x.is_nan() && y.is_nan()) || (x - y).abs() < 1e-9, "{} vs {}", x, y);
        }
    }
}
