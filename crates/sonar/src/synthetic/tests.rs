//! Tests of synthetic alerts.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use serde_json::json;

use super::*;

fn spec(values: ValueMode) -> SyntheticSpec {
    SyntheticSpec {
        values,
        level: 7,
        srcip: "192.0.2.9".parse().expect("ip"),
        min_count: 3,
        numeric_fields: vec!["rule.level".into(), "data.cpu_usage_%".into()],
        categorical_fields: vec!["data.srcip".into(), "agent.name".into()],
        timestamp_field: "timestamp".into(),
    }
}

fn real() -> Vec<Alert> {
    ["2024-05-01T10:00:00.000+0000", "2024-05-01T10:20:00.000Z"]
        .iter()
        .enumerate()
        .map(|(i, ts)| {
            let v = json!({"timestamp": ts, "rule": {"level": 3}, "data": {"cpu_usage_%": format!("{}", 10 + 20 * i)}, "agent": {"name": "web-01"}});
            v.as_object().cloned().expect("object")
        })
        .collect()
}

fn times(alerts: &[Alert]) -> Vec<String> {
    alerts
        .iter()
        .map(|a| a["timestamp"].as_str().expect("ts").to_string())
        .collect()
}

fn injection(placement: Placement, count: usize) -> Injection {
    Injection {
        count,
        placement,
        spec: spec(ValueMode::Constant),
    }
}

#[test]
fn injection_places_alerts_one_bucket_apart() {
    let now = Utc
        .with_ymd_and_hms(2024, 6, 1, 0, 0, 0)
        .single()
        .expect("time");
    let five = Duration::from_secs(300);
    let check = |placement, expected: &[&str]| {
        let mut alerts = real();
        let added = inject(&mut alerts, &injection(placement, 2), five, now, 1);
        assert_eq!(added, 2);
        assert_eq!(times(&alerts), expected, "{placement:?}");
    };
    check(
        Placement::Append,
        &[
            "2024-05-01T10:00:00.000+0000",
            "2024-05-01T10:20:00.000Z",
            "2024-05-01T10:25:00.000+0000",
            "2024-05-01T10:30:00.000+0000",
        ],
    );
    check(
        Placement::Prepend,
        &[
            "2024-05-01T09:50:00.000+0000",
            "2024-05-01T09:55:00.000+0000",
            "2024-05-01T10:00:00.000+0000",
            "2024-05-01T10:20:00.000Z",
        ],
    );
    check(
        Placement::Only,
        &[
            "2024-05-01T10:15:00.000+0000",
            "2024-05-01T10:20:00.000+0000",
        ],
    );
    let mut empty = Vec::new();
    inject(&mut empty, &injection(Placement::Append, 1), five, now, 1);
    assert_eq!(times(&empty), ["2024-05-31T23:55:00.000+0000"]);
}

#[test]
fn constant_alerts_are_wazuh_shaped_and_marked() {
    let mut alerts = real();
    inject(
        &mut alerts,
        &injection(Placement::Append, 1),
        Duration::from_secs(60),
        Utc::now(),
        1,
    );
    let a = &alerts[2];
    assert_eq!(a["sonar_synthetic"], true);
    assert_eq!(a["rule"]["level"], 7);
    assert_eq!(a["rule"]["id"], "999999");
    assert_eq!(a["data"]["srcip"], "192.0.2.9");
    assert_eq!(
        a["data"]["cpu_usage_%"], 20.0,
        "mean of the real values (10, 30)"
    );
    assert_eq!(a["agent"]["name"], "synthetic_name");
}

#[test]
fn random_and_copy_modes() {
    let mut alerts = real();
    let inj = Injection {
        count: 50,
        placement: Placement::Append,
        spec: spec(ValueMode::Random),
    };
    inject(&mut alerts, &inj, Duration::from_secs(60), Utc::now(), 7);
    let levels: std::collections::BTreeSet<u64> = alerts[2..]
        .iter()
        .map(|a| a["rule"]["level"].as_u64().expect("level"))
        .collect();
    assert!(
        levels.len() > 5 && levels.iter().all(|l| (1..=15).contains(l)),
        "{levels:?}"
    );
    let mut again = real();
    inject(&mut again, &inj, Duration::from_secs(60), Utc::now(), 7);
    assert_eq!(alerts[2..], again[2..], "same seed, same alerts");

    let mut alerts = real();
    let inj = Injection {
        count: 1,
        placement: Placement::Append,
        spec: spec(ValueMode::Copy),
    };
    inject(&mut alerts, &inj, Duration::from_secs(60), Utc::now(), 7);
    assert_eq!(alerts[2]["agent"]["name"], "web-01");
    assert_eq!(alerts[2]["sonar_synthetic"], true);
}

#[test]
fn padding_fills_up_to_the_minimum() {
    let first = Utc
        .with_ymd_and_hms(2024, 5, 1, 10, 0, 0)
        .single()
        .expect("time");
    let grid = Grid {
        bucket: Duration::from_secs(300),
        first_bucket: Some(first),
        buckets: 5,
    };
    let none = pad_to_min_buckets(&real(), &spec(ValueMode::Constant), grid, 5, Utc::now(), 1);
    assert!(none.alerts.is_empty() && none.start.is_none());
    let pad = pad_to_min_buckets(&real(), &spec(ValueMode::Constant), grid, 10, Utc::now(), 1);
    assert_eq!(pad.alerts.len(), 5, "deficit 5 > min_count 3");
    assert_eq!(pad.start, Some(first - chrono::TimeDelta::minutes(25)));
    assert_eq!(times(&pad.alerts)[4], "2024-05-01T09:55:00.000+0000");
    let pad = pad_to_min_buckets(&real(), &spec(ValueMode::Constant), grid, 6, Utc::now(), 1);
    assert_eq!(pad.alerts.len(), 3, "at least min_count");
}
