//! Feature building from in-memory alerts (the aim: millions of alerts per second;
//! docs/benchmarks.md "Feature building" has the numbers).
//!
//! 100,000 Wazuh-shaped alerts over one day, 5 numeric fields (two of them numeric strings),
//! 3 categorical fields (top-10 of ~50 values each, one a list), the 13 derived flags, 5-minute
//! buckets. Run: `cargo bench -p sonar --bench features -- --quick`.
//!
//! Each benchmark is measured twice: wall time (criterion's default), and `_cpu`, the time the
//! benchmark thread spent on a CPU (Linux `/proc/thread-self/schedstat`), which leaves out the
//! time spent waiting for a core when other jobs share the machine.

use std::time::{Duration, Instant};

use criterion::{criterion_main, Criterion, Throughput};
use serde_json::json;
use sonar::features::{FeatureBuilder, FeatureSchema, FeatureSpec};
use sonar::source::{Alert, TimeRange};

const ALERTS: usize = 100_000;
const DAY_START: i64 = 1_733_011_200; // 2024-12-01T00:00:00Z

fn alerts() -> Vec<Alert> {
    let groups = [
        json!(["syslog", "sshd", "authentication_failed"]),
        json!(["syslog", "sshd", "authentication_success"]),
        json!(["ossec", "syscheck"]),
        json!(["pam", "syslog", "sudo"]),
        json!(["authentication", "failed_login", "brute_force"]),
    ];
    (0..ALERTS)
        .map(|i| {
            let t = chrono::DateTime::from_timestamp(DAY_START + (i as i64 * 86_400) / ALERTS as i64, (i as u32 % 1000) * 1000)
                .expect("in range");
            let alert = json!({
                "timestamp": t.format("%Y-%m-%dT%H:%M:%S%.6f+0000").to_string(),
                "rule": {
                    "level": (i * 7) % 15,
                    "id": format!("{}", 5700 + (i * 31) % 53),
                    "firedtimes": i % 100,
                    "description": "sshd: authentication failed",
                    "groups": groups[i % groups.len()],
                },
                "agent": {"id": format!("{:03}", i % 40), "name": format!("host-{:02}", (i * 13) % 47)},
                "manager": {"name": "wazuh-manager"},
                "data": {
                    "srcip": format!("10.0.{}.{}", (i / 256) % 4, i % 61),
                    "cpu_usage_%": format!("{:.1}", (i % 1000) as f64 / 10.0),
                    "memory_usage_%": ((i * 3) % 100) as f64,
                    "1min_loadAverage": format!("{:.2}", (i % 800) as f64 / 100.0),
                },
                "location": "/var/log/auth.log",
                "full_log": "Dec  1 00:00:00 host sshd[1234]: Failed password for invalid user admin",
            });
            match alert {
                serde_json::Value::Object(map) => map,
                _ => unreachable!("json! object literal"),
            }
        })
        .collect()
}

fn spec() -> FeatureSpec {
    FeatureSpec {
        bucket_minutes: 5,
        numeric_fields: vec![
            "rule.level".into(),
            "rule.firedtimes".into(),
            "data.cpu_usage_%".into(),
            "data.memory_usage_%".into(),
            "data.1min_loadAverage".into(),
        ],
        max_numeric_fields: vec!["data.cpu_usage_%".into()],
        categorical_fields: vec!["rule.id".into(), "agent.name".into(), "rule.groups".into()],
        categorical_top_k: 10,
        derived_features: true,
        timestamp_field: "timestamp".into(),
    }
}

fn bench(c: &mut Criterion) {
    let alerts = alerts();
    let range = TimeRange {
        start: chrono::DateTime::from_timestamp(DAY_START, 0).expect("in range"),
        end: chrono::DateTime::from_timestamp(DAY_START + 86_400, 0).expect("in range"),
    };
    let plan = spec().validate().expect("valid spec");
    let schema: FeatureSchema = {
        let mut builder = FeatureBuilder::for_training(&plan, range).expect("valid grid");
        builder.push_page(&alerts);
        builder.finish().schema
    };

    let training = || {
        let mut builder = FeatureBuilder::for_training(&plan, range).expect("valid grid");
        for page in alerts.chunks(10_000) {
            builder.push_page(page);
        }
        builder.finish()
    };
    let detection = || {
        let mut builder = FeatureBuilder::for_detection(&schema, range).expect("valid schema");
        for page in alerts.chunks(10_000) {
            builder.push_page(page);
        }
        builder.finish()
    };

    let mut group = c.benchmark_group("feature_building");
    group.throughput(Throughput::Elements(ALERTS as u64));
    group.bench_function("training_100k_alerts", |b| b.iter(training));
    group.bench_function("detection_100k_alerts", |b| b.iter(detection));
    group.bench_function("training_100k_alerts_cpu", |b| {
        b.iter_custom(|iters| on_cpu(iters, training))
    });
    group.bench_function("detection_100k_alerts_cpu", |b| {
        b.iter_custom(|iters| on_cpu(iters, detection))
    });
    group.finish();
}

/// Time this thread spent on a CPU while running `f` `iters` times (wall time where the
/// kernel does not report it).
fn on_cpu<T>(iters: u64, f: impl Fn() -> T) -> Duration {
    let cpu_ns = || -> Option<u64> {
        std::fs::read_to_string("/proc/thread-self/schedstat")
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    let (cpu_start, wall_start) = (cpu_ns(), Instant::now());
    for _ in 0..iters {
        criterion::black_box(f());
    }
    match (cpu_start, cpu_ns()) {
        (Some(a), Some(b)) => Duration::from_nanos(b.saturating_sub(a)),
        _ => wall_start.elapsed(),
    }
}

/// Runs the benchmarks with criterion's command-line settings (`--quick`, ...).
pub fn benches() {
    let mut criterion = Criterion::default().configure_from_args();
    bench(&mut criterion);
}

criterion_main!(benches);
