//! Real Wazuh alerts (AIT-LDS v1.1 "insect", `tests/data/ait_ldsv11_wazuh`) through
//! `LocalFiles` and the feature builder: every alert parses, and the matrix adds up.

use std::path::PathBuf;

use super::*;
use crate::source::local::LocalFiles;
use crate::source::timestamp::parse_timestamp;
use crate::source::{AlertQuery, AlertSource, TimeRange};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/ait_ldsv11_wazuh")
}

/// The raw records, read without any of our code, for independent expectations.
fn raw_alerts() -> Vec<serde_json::Value> {
    let text =
        std::fs::read_to_string(data_dir().join("ossec_insect.json")).expect("test data present");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("valid line"))
        .collect()
}

fn range(start: &str, end: &str) -> TimeRange {
    TimeRange {
        start: parse_timestamp(start).expect("valid"),
        end: parse_timestamp(end).expect("valid"),
    }
}

fn build(range: TimeRange) -> (FeatureMatrix, crate::source::StreamStats) {
    let spec = FeatureSpec {
        bucket_minutes: 5,
        numeric_fields: vec!["rule.level".into(), "rule.firedtimes".into()],
        max_numeric_fields: vec!["rule.level".into()],
        categorical_fields: vec!["rule.id".into(), "rule.groups".into(), "agent.name".into()],
        categorical_top_k: 5,
        derived_features: true,
        timestamp_field: "timestamp".into(),
    };
    let plan = spec.validate().expect("valid spec");
    let mut builder = FeatureBuilder::for_training(&plan, range).expect("valid grid");
    let mut source = LocalFiles::open(data_dir())
        .expect("data dir")
        .with_page_size(100);
    let query = AlertQuery {
        range,
        timestamp_field: "timestamp".into(),
        fields: vec![],
        alert_filter: None,
    };
    let stats = source
        .stream(&query, &mut |page| {
            builder.push_page(&page);
            Ok(())
        })
        .expect("stream");
    (builder.finish(), stats)
}

#[test]
fn every_real_alert_loads_and_the_matrix_adds_up() {
    let raw = raw_alerts();
    assert_eq!(raw.len(), 497);
    let (m, stats) = build(range("2020-03-04T13:00:00Z", "2020-03-04T15:00:00Z"));

    assert_eq!(stats.skipped, 0, "{:?}", stats.first_skip_reason);
    assert_eq!(stats.alerts, 497);
    assert_eq!(stats.pages, 5);
    assert_eq!(m.stats.alerts, 497);
    assert_eq!(
        m.stats.skipped + m.stats.out_of_range + m.stats.non_numeric_values,
        0
    );

    // 2 hours of 5-minute buckets, the empty ones (before 13:55, after 14:30) included.
    assert_eq!(m.rows(), 24);
    assert_eq!(m.bucket_starts[0].to_rfc3339(), "2020-03-04T13:00:00+00:00");
    assert_eq!(m.alert_counts.iter().sum::<u64>(), 497);
    assert!(
        m.alert_counts[..11].iter().all(|&c| c == 0),
        "{:?}",
        m.alert_counts
    );
    assert!(
        m.alert_counts[11] > 0 && m.alert_counts[17] > 0,
        "{:?}",
        m.alert_counts
    );
    assert!(
        m.alert_counts[18..].iter().all(|&c| c == 0),
        "{:?}",
        m.alert_counts
    );

    // Means and maxima exist exactly where alerts do; levels stay within Wazuh's range.
    let level = m.column("rule.level").expect("column");
    let level_max = m.column("rule.level__max").expect("column");
    for (b, &count) in m.alert_counts.iter().enumerate() {
        assert_eq!(level[b].is_nan(), count == 0, "bucket {b}");
        if count > 0 {
            assert!(
                (3.0..=10.0).contains(&level[b]) && level[b] <= level_max[b],
                "bucket {b}"
            );
        }
    }
    let weighted_level: f64 = level
        .iter()
        .zip(&m.alert_counts)
        .filter(|(_, &c)| c > 0)
        .map(|(l, &c)| l * c as f64)
        .sum();
    let raw_level: f64 = raw
        .iter()
        .map(|a| a["rule"]["level"].as_f64().expect("int level"))
        .sum();
    assert!(
        (weighted_level - raw_level).abs() < 1e-6,
        "{weighted_level} vs {raw_level}"
    );

    // Derived flags: fractions × counts give back the number of flagged alerts.
    let auth_failures = raw
        .iter()
        .filter(|a| {
            a["rule"]["groups"].as_array().is_some_and(|g| {
                g.iter().any(|x| {
                    matches!(
                        x.as_str(),
                        Some("authentication_failed" | "failed_login" | "invalid_login")
                    )
                })
            })
        })
        .count();
    let flagged: f64 = m
        .column("is_auth_failure")
        .expect("column")
        .iter()
        .zip(&m.alert_counts)
        .map(|(f, &c)| f * c as f64)
        .sum();
    assert!(
        (flagged - auth_failures as f64).abs() < 1e-6,
        "{flagged} vs {auth_failures}"
    );
    assert!(auth_failures > 300);

    // Top-5 rule ids by count, most frequent first; the rest in __other.
    assert_eq!(
        m.schema.categorical[0].values,
        ["2501", "5503", "86601", "20101", "9705"]
    );
    assert_eq!(m.schema.categorical[2].values, ["user-0"]);
    for b in 0..m.rows() {
        let row_sum: f64 = [
            "rule.id__2501",
            "rule.id__5503",
            "rule.id__86601",
            "rule.id__20101",
            "rule.id__9705",
            "rule.id__other",
        ]
        .iter()
        .map(|c| m.row(b)[m.column_index(c).expect("column")])
        .sum();
        let expected = if m.alert_counts[b] > 0 { 1.0 } else { 0.0 };
        assert!((row_sum - expected).abs() < 1e-9, "bucket {b}: {row_sum}");
    }
    assert!(m
        .values
        .iter()
        .enumerate()
        .all(|(i, v)| v.is_finite() || i % m.cols() < 3));
}

#[test]
fn the_time_range_filters_real_alerts() {
    let raw = raw_alerts();
    // Every timestamp has the same `+0000` form, so string order is time order here.
    let expected = raw
        .iter()
        .filter_map(|a| a["timestamp"].as_str())
        .filter(|t| *t >= "2020-03-04T14:00:00" && *t < "2020-03-04T14:10:00")
        .count();
    let (m, stats) = build(range("2020-03-04T14:00:00Z", "2020-03-04T14:10:00Z"));
    assert_eq!(stats.alerts as usize, expected);
    assert_eq!(m.alert_counts.iter().sum::<u64>() as usize, expected);
    assert_eq!(m.rows(), 2);
    assert_eq!(stats.skipped, 0);
}
