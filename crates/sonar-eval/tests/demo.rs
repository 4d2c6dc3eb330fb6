//! The demo-data generator: deterministic, committed, Wazuh-shaped.

use sonar::source::Alert;
use sonar_eval::demo::{generate, DEMO_SEED};

#[test]
fn demo_data_is_deterministic_and_committed() {
    let a = generate(DEMO_SEED);
    let b = generate(DEMO_SEED);
    assert_eq!(a.labels, b.labels);
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo");
    for (fa, fb) in a.files.iter().zip(&b.files) {
        assert_eq!(fa.alerts, fb.alerts, "{}", fa.name);
        let mut text = String::new();
        for alert in &fa.alerts {
            text.push_str(&serde_json::to_string(alert).expect("json"));
            text.push('\n');
        }
        let committed = std::fs::read_to_string(demo.join(fa.name)).expect("committed demo file");
        assert!(
            committed == text,
            "{} differs from the generator: run `cargo run -p sonar-eval --example gen_demo_data`",
            fa.name
        );
    }
    let names: Vec<_> = a.labels.iter().map(|l| l.name).collect();
    for expected in [
        "brute_force",
        "lateral_movement",
        "privilege_escalation",
        "password_spray",
        "cpu_spike",
        "memory_leak",
    ] {
        assert!(names.contains(&expected), "{names:?}");
    }
}

#[test]
fn demo_alerts_look_like_wazuh() {
    let data = generate(DEMO_SEED);
    let security = &data.files[0].alerts;
    let agents: std::collections::BTreeSet<_> = security
        .iter()
        .map(|a| a["agent"]["name"].as_str().expect("agent"))
        .collect();
    assert!(agents.len() >= 8, "{agents:?}");
    for alert in security.iter().chain(&data.files[2].alerts) {
        let ts = alert["timestamp"].as_str().expect("timestamp");
        assert!(
            chrono::DateTime::parse_from_str(ts, "%Y-%m-%dT%H:%M:%S%.3f%z").is_ok()
                && ts.ends_with("+0000"),
            "{ts}"
        );
        assert!(alert["rule"]["groups"].is_array() && alert["rule"]["id"].is_string());
    }
    // Resource metrics are strings, under the names the derived features read.
    let health = data.files[2]
        .alerts
        .iter()
        .find(|a| a["rule"]["id"] == "100054")
        .expect("health check");
    assert!(
        health["data"]["cpu_usage_%"].is_string() && health["data"]["memory_usage_%"].is_string()
    );
    let load = data.files[2]
        .alerts
        .iter()
        .find(|a| a["rule"]["id"] == "100058")
        .expect("load check");
    assert!(load["data"]["1min_loadAverage"].is_string());
    // Daily seasonality: office hours are busier than nights.
    let hour = |a: &Alert| {
        a["timestamp"].as_str().expect("ts")[11..13]
            .parse::<u32>()
            .expect("hour")
    };
    let day = security
        .iter()
        .filter(|a| (9..17).contains(&hour(a)))
        .count();
    let night = security
        .iter()
        .filter(|a| hour(a) < 6 || hour(a) >= 22)
        .count();
    assert!(day > 3 * night, "day {day} night {night}");
    // The brute force burst is visible as volume.
    let burst = data.files[1]
        .alerts
        .iter()
        .filter(|a| {
            a.get("data")
                .and_then(|d| d.get("srcip"))
                .is_some_and(|ip| ip == "203.0.113.45")
        })
        .count();
    assert!(burst > 150, "{burst}");
}
