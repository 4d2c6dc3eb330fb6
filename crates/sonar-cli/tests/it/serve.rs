//! `sonar serve` against a real OpenSearch-compatible server (osmem-server on loopback):
//! two scenarios on a simulated clock, one of which reads an index pattern that matches
//! nothing. The other keeps polling and writing; `/metrics` and `/health` say what happened;
//! SIGHUP reloads the scenario files; SIGTERM stops cleanly.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::indexer_e2e::{config, documents, load_demo_alerts};
use super::osmem::OsmemServer;
use super::repo;

/// The brute-force scenario under another id, reading `pattern` when given.
fn scenario(id: &str, pattern: Option<&str>, enabled: bool) -> String {
    let text = std::fs::read_to_string(repo().join("scenarios/brute_force_detection.yaml"))
        .expect("scenario")
        .replace(
            "scenario_id: \"brute_force\"",
            &format!("scenario_id: \"{id}\""),
        )
        .replace("enabled: true", &format!("enabled: {enabled}"))
        .replace("epochs: 30", "epochs: 3")
        // Retrained every simulated hour (training.retrain_every_hours).
        .replace(
            "  min_samples: 500",
            "  min_samples: 500\n  retrain_every_hours: 1",
        );
    match pattern {
        Some(p) => format!("{text}\nwazuh:\n  alerts_index_pattern: \"{p}\"\n"),
        None => text,
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name}");
}

fn get(url: &str) -> (u16, String) {
    let response = reqwest::blocking::get(url).expect("listener answers");
    let status = response.status().as_u16();
    (status, response.text().expect("body"))
}

/// The value of `series` in a Prometheus text body.
fn value(body: &str, series: &str) -> f64 {
    body.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {series} in\n{body}"))
}

#[test]
fn serve_runs_two_scenarios_reports_metrics_and_health_reloads_and_stops() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let server = OsmemServer::start();
    load_demo_alerts(&server);
    let cfg = config(root, &server.url, "anomalies-serve");
    let scenarios = root.join("scenarios");
    std::fs::create_dir_all(&scenarios).expect("mkdir");
    std::fs::write(
        scenarios.join("a_fleet.yaml"),
        scenario("fleet", None, true),
    )
    .expect("write");
    std::fs::write(
        scenarios.join("b_nothing.yaml"),
        scenario("nothing", Some("no-such-alerts-*"), true),
    )
    .expect("write");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sonar"))
        .args([
            "serve",
            "--config",
            &cfg,
            "--listen",
            "127.0.0.1:0",
            "--now",
            "2024-05-08T09:00:00Z",
            scenarios.to_str().expect("utf-8"),
        ])
        .current_dir(root)
        .env("SONAR_WAZUH_PASSWORD", "serve-test")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sonar serve starts");
    let (tx, lines) = mpsc::channel::<String>();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let stderr = child.stderr.take().expect("stderr");
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut seen = Vec::new();
    let mut wait_for = |what: &dyn Fn(&[String]) -> bool| {
        while !what(&seen) {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => seen.push(line),
                Err(_) => panic!("timed out; stdout so far:\n{}", seen.join("\n")),
            }
        }
        seen.clone()
    };
    let count =
        |seen: &[String], prefix: &str| seen.iter().filter(|l| l.starts_with(prefix)).count();
    let out = wait_for(&|s| {
        // 30 polls of 5 minutes from 09:00 cover the brute force at 10:05 (demo/labels.json).
        count(s, "poll fleet 2024") >= 30 && count(s, "poll nothing: failed") >= 2
    });
    let base = out
        .iter()
        .find_map(|l| l.strip_prefix("listening on "))
        .and_then(|l| l.split_whitespace().next())
        .expect("address printed")
        .to_string();

    // The healthy scenario wrote documents; the broken one is reported, not fatal.
    let (status, metrics) = get(&format!("{base}/metrics"));
    assert_eq!(status, 200, "{metrics}");
    assert!(
        value(&metrics, "sonar_polls_total{scenario=\"fleet\"}") >= 3.0,
        "{metrics}"
    );
    assert!(
        value(&metrics, "sonar_buckets_scored_total{scenario=\"fleet\"}") > 0.0,
        "{metrics}"
    );
    assert_eq!(
        value(&metrics, "sonar_poll_failures_total{scenario=\"fleet\"}"),
        0.0,
        "{metrics}"
    );
    assert!(
        value(&metrics, "sonar_poll_failures_total{scenario=\"nothing\"}") >= 2.0,
        "{metrics}"
    );
    assert!(
        value(
            &metrics,
            "sonar_last_success_timestamp_seconds{scenario=\"fleet\"}"
        ) > 1.7e9,
        "{metrics}"
    );
    assert_eq!(
        value(
            &metrics,
            "sonar_last_success_timestamp_seconds{scenario=\"nothing\"}"
        ),
        0.0
    );
    assert!(value(&metrics, "sonar_model_age_seconds{scenario=\"fleet\"}") >= 0.0);
    let (status, health) = get(&format!("{base}/health"));
    assert_eq!(status, 503, "{health}");
    assert!(
        health.contains("nothing: failing") && !health.contains("fleet"),
        "{health}"
    );
    let written = documents(&server.url, "anomalies-serve");
    assert!(
        written.values().any(|d| d["scenario_name"] == "fleet"),
        "the healthy scenario wrote nothing"
    );

    // SIGHUP with the broken scenario disabled: only the healthy one is left, and healthy.
    std::fs::write(
        scenarios.join("b_nothing.yaml"),
        scenario("nothing", Some("no-such-alerts-*"), false),
    )
    .expect("write");
    signal(&child, "HUP");
    let healthy = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, body) = get(&format!("{base}/health"));
        if status == 200 {
            assert_eq!(body.trim(), "ok");
            break;
        }
        assert!(
            Instant::now() < healthy,
            "still unhealthy after SIGHUP: {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, metrics) = get(&format!("{base}/metrics"));
    assert!(!metrics.contains("scenario=\"nothing\""), "{metrics}");

    // SIGTERM: a clean stop after the current poll.
    signal(&child, "TERM");
    let status = child.wait().expect("exit");
    let rest: Vec<String> = lines.iter().collect();
    let log = log.join().expect("stderr");
    assert!(status.success(), "{status:?}\n{}\n{log}", rest.join("\n"));
    assert!(
        rest.iter().any(|l| l.contains("stopped cleanly")),
        "{}",
        rest.join("\n")
    );
    assert!(!log.contains("serve-test"), "password leaked");
    // Trained at the start, then again after each simulated hour.
    assert!(
        log.lines().any(|l| l.contains("training")
            && l.contains("scenario=fleet")
            && l.contains("retrain=true")),
        "never retrained:\n{log}"
    );
}
