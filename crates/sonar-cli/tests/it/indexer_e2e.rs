//! The `sonar` binary end to end against a real OpenSearch-compatible server (osmem-server on
//! loopback, docs/reliability.md) loaded with the bundled Wazuh-shaped demo alerts:
//!
//! 1. `train` reads a week of alerts from the server and saves the model;
//! 2. `detect` (historical) indexes the anomalies of the brute-force attack; the same
//!    `detect` again writes nothing new (same `_id`s);
//! 3. `detect --mode realtime` on a simulated clock: polls, a restart that resumes from the
//!    state file, the indexer down for two polls (transient errors, backoff, nothing skipped),
//!    then a new server on the same address and a resumed run. Every bucket is scored exactly
//!    once, and the realtime documents equal those of one historical run over the same span.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::osmem::OsmemServer;
use super::{repo, text};

/// The test password: it must appear in no output.
const PASSWORD: &str = "e2e-Secret-4711";
const ALERTS_INDEX: &str = "wazuh-alerts-4.x-2024.05";

pub(super) fn load_demo_alerts(server: &OsmemServer) {
    let mut docs = Vec::new();
    for file in ["security_training.ndjson", "security_detection.ndjson"] {
        let text = std::fs::read_to_string(repo().join("demo").join(file)).expect("demo file");
        docs.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Value>(l).expect("demo alert")),
        );
    }
    assert!(docs.len() > 4000, "{}", docs.len());
    server.bulk_index(ALERTS_INDEX, &docs);
}

/// A config for `server`, writing anomalies to `anomalies_index`, models under `dir`.
pub(super) fn config(dir: &Path, url: &str, anomalies_index: &str) -> String {
    let path = dir.join(format!("{anomalies_index}.yaml"));
    std::fs::write(
        &path,
        format!(
            "wazuh:\n  base_url: \"{url}\"\n  username: \"admin\"\n  alerts_index_pattern: \"wazuh-alerts-*\"\n  \
             anomalies_index: \"{anomalies_index}\"\n  max_retries: 1\n  connect_timeout_seconds: 2\n  \
             request_timeout_seconds: 20\nmodel_path: \"{}\"\n",
            dir.join("models/mvad_model").display()
        ),
    )
    .expect("write config");
    path.display().to_string()
}

/// Runs `sonar` with the test password in the environment; checks that it leaks nowhere.
fn run(dir: &Path, args: &[&str]) -> Output {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sonar"))
        .args(args)
        .current_dir(dir)
        .env("SONAR_WAZUH_PASSWORD", PASSWORD)
        .env_remove("SONAR_WAZUH_URL")
        .env_remove("SONAR_WAZUH_USERNAME")
        .env("NO_COLOR", "1")
        .output()
        .expect("sonar runs");
    assert!(
        !text(&out).contains(PASSWORD),
        "password leaked:\n{}",
        text(&out)
    );
    out
}

/// Every document of `index`, by `_id` (empty when the index does not exist).
pub(super) fn documents(url: &str, index: &str) -> BTreeMap<String, Value> {
    let response: Value = reqwest::blocking::Client::new()
        .post(format!("{url}/{index}/_search"))
        .json(&serde_json::json!({"size": 10000, "query": {"match_all": {}}}))
        .send()
        .expect("search anomalies")
        .json()
        .expect("search JSON");
    if response.get("error").is_some() {
        assert_eq!(
            response["error"]["type"], "index_not_found_exception",
            "{response}"
        );
        return BTreeMap::new();
    }
    response["hits"]["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| {
            (
                h["_id"].as_str().expect("_id").to_owned(),
                h["_source"].clone(),
            )
        })
        .collect()
}

fn time(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `(range start, range end, scored)` of each `poll START .. END: ... scored=N ...` line.
fn polls(out: &Output) -> Vec<(DateTime<Utc>, DateTime<Utc>, u64)> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("poll "))
        .map(|l| {
            let (range, rest) = l.split_once(": ").expect("poll line");
            let (a, b) = range.split_once(" .. ").expect("range");
            let scored = rest
                .split([' ', ','])
                .find_map(|w| w.strip_prefix("scored="))
                .unwrap_or_else(|| panic!("no scored= in {l:?}"))
                .parse()
                .expect("count");
            (time(a), time(b), scored)
        })
        .collect()
}

fn assert_ok(out: &Output) {
    assert_eq!(out.status.code(), Some(0), "{}", text(out));
}

/// The parts of an anomaly document that must not depend on how it was found.
fn essence(doc: &Value) -> (bool, String, Value) {
    (
        doc["is_anomaly"].as_bool().expect("is_anomaly"),
        doc["event"]["id"].to_string(),
        doc["timestamp"].clone(),
    )
}

#[test]
fn train_detect_and_realtime_against_a_real_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let scenario = repo().join("scenarios/brute_force_detection.yaml");
    let scenario = scenario.to_str().expect("utf-8");
    // A fixed port, so the "restarted" server later listens where the first one did.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .to_string();
    let server = OsmemServer::start_at(&addr);
    let url = server.url.clone();
    load_demo_alerts(&server);

    // 1. Train on the week before 2024-05-08 (the scenario's lookback_hours: 168).
    let hist = config(root, &url, "anomalies-historical");
    let out = run(
        root,
        &[
            "train",
            "--config",
            &hist,
            "--scenario",
            scenario,
            "--now",
            "2024-05-08T00:00:00Z",
        ],
    );
    assert_ok(&out);
    assert!(text(&out).contains("train summary:"), "{}", text(&out));

    // 2. Historical detection over the brute-force attack (2024-05-08 10:05, demo/labels.json).
    let detect_hist = |now: &str, minutes: &str| {
        run(
            root,
            &[
                "detect",
                "--config",
                &hist,
                "--scenario",
                scenario,
                "--now",
                now,
                "--lookback-minutes",
                minutes,
            ],
        )
    };
    let out = detect_hist("2024-05-08T12:00:00Z", "180");
    assert_ok(&out);
    let first = documents(&url, "anomalies-historical");
    let attack = (time("2024-05-08T10:00:00Z"), time("2024-05-08T10:30:00Z"));
    assert!(
        first.values().any(|d| d["is_anomaly"] == true && {
            let t = time(d["timestamp"].as_str().expect("timestamp"));
            attack.0 <= t && t < attack.1
        }),
        "no anomaly indexed in the attack window; indexed: {:?}\n{}",
        first.keys().collect::<Vec<_>>(),
        text(&out)
    );
    // The same run again: nothing new, everything reported as already present.
    let out = detect_hist("2024-05-08T12:00:00Z", "180");
    assert_ok(&out);
    assert_eq!(documents(&url, "anomalies-historical"), first);
    assert!(
        text(&out).contains(&format!("written=0 already present={}", first.len())),
        "{}",
        text(&out)
    );

    // 3. Realtime on a simulated clock (ingestion delay 60 s, polls every 300 s, the first
    //    poll scores the scenario's 60-minute lookback).
    let rt = config(root, &url, "anomalies-realtime");
    let realtime = |now: &str, max_polls: &str| {
        run(
            root,
            &[
                "detect",
                "--config",
                &rt,
                "--scenario",
                scenario,
                "--mode",
                "realtime",
                "--now",
                now,
                "--max-polls",
                max_polls,
            ],
        )
    };
    let out = realtime("2024-05-08T09:31:00Z", "4");
    assert_ok(&out);
    let mut seen = polls(&out);
    assert_eq!(seen.len(), 4, "{}", text(&out));
    assert_eq!(seen[0].0, time("2024-05-08T08:30:00Z"));
    assert_eq!(seen[3].1, time("2024-05-08T09:45:00Z"));
    let state = root.join("models/brute_force.realtime.json");
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(&state).expect("state")).expect("state JSON");
    assert_eq!(saved["last_scored_end"], "2024-05-08T09:45:00Z");
    assert!(saved["scorer"].is_object(), "the scorer state is saved");

    // A restart: resumes at 09:45, reads only the new buckets.
    let out = realtime("2024-05-08T09:56:00Z", "1");
    assert_ok(&out);
    let resumed = polls(&out);
    assert_eq!(resumed.len(), 1, "{}", text(&out));
    assert_eq!(resumed[0].0, time("2024-05-08T09:45:00Z"));
    assert!(
        text(&out).contains("resuming the streaming scorer"),
        "{}",
        text(&out)
    );
    seen.extend(resumed);
    let before_outage = documents(&url, "anomalies-realtime");

    // The indexer goes away: polls fail, are retried with backoff, nothing is skipped.
    drop(server);
    let out = realtime("2024-05-08T10:01:00Z", "2");
    assert_ok(&out);
    assert!(polls(&out).is_empty(), "{}", text(&out));
    assert!(
        text(&out).contains("retrying with backoff"),
        "{}",
        text(&out)
    );
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(&state).expect("state")).expect("state JSON");
    assert_eq!(saved["last_scored_end"], "2024-05-08T09:55:00Z");

    // It comes back (a new, empty server on the same address; the alerts are re-loaded).
    let server = OsmemServer::start_at(&addr);
    load_demo_alerts(&server);
    let out = realtime("2024-05-08T10:31:00Z", "3");
    assert_ok(&out);
    let after = polls(&out);
    assert_eq!(after.len(), 3, "{}", text(&out));
    assert_eq!(
        after[0].0,
        time("2024-05-08T09:55:00Z"),
        "no gap after the outage"
    );
    seen.extend(after);
    let after_outage = documents(&url, "anomalies-realtime");

    // Every bucket exactly once: the poll ranges tile [08:30, 10:40) and each scored its buckets.
    for pair in seen.windows(2) {
        assert_eq!(
            pair[0].1, pair[1].0,
            "gap or overlap between polls: {seen:?}"
        );
    }
    for (start, end, scored) in &seen {
        assert_eq!(
            *scored as i64,
            (*end - *start).num_minutes() / 5,
            "{seen:?}"
        );
    }
    let (span_start, span_end) = (seen[0].0, seen[seen.len() - 1].1);
    assert_eq!(span_end, time("2024-05-08T10:40:00Z"));
    assert!(
        before_outage
            .keys()
            .all(|id| !after_outage.contains_key(id)),
        "a bucket was written twice"
    );

    // The same span in one historical run gives the same documents.
    let hist2 = config(root, &url, "anomalies-compare");
    let minutes = ((span_end - span_start).num_minutes()).to_string();
    let out = run(
        root,
        &[
            "detect",
            "--config",
            &hist2,
            "--scenario",
            scenario,
            "--now",
            &stamp(span_end),
            "--lookback-minutes",
            &minutes,
        ],
    );
    assert_ok(&out);
    let reference = documents(&url, "anomalies-compare");
    let mut realtime_docs = before_outage;
    realtime_docs.extend(after_outage);
    assert!(
        realtime_docs.values().any(|d| d["is_anomaly"] == true),
        "the realtime run flagged nothing around the attack"
    );
    assert_eq!(
        realtime_docs.keys().collect::<Vec<_>>(),
        reference.keys().collect::<Vec<_>>(),
        "realtime and historical documents differ"
    );
    for (id, doc) in &realtime_docs {
        let other = &reference[id];
        assert_eq!(essence(doc), essence(other), "{id}");
        let (a, b) = (
            doc["anomaly_score"].as_f64().expect("score"),
            other["anomaly_score"].as_f64().expect("score"),
        );
        // f32 matrix products over batches of different sizes round differently (~1e-8).
        assert!((a - b).abs() < 1e-6, "{id}: realtime {a} vs historical {b}");
    }
}

/// The indexer computes the training features by default (`wazuh.server_features`), under
/// Wazuh's own index template: the model is bit for bit the one trained from paged alerts
/// (`server_features: false`), and the same detection finds the same anomalies.
#[test]
fn server_side_features_train_the_same_model_as_paged_alerts() {
    let server = OsmemServer::start();
    server.install_wazuh_template();
    load_demo_alerts(&server);
    let scenario = repo().join("scenarios/brute_force_detection.yaml");
    let scenario = scenario.to_str().expect("utf-8");
    let train_and_detect = |paged: bool| {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        let index = if paged {
            "anomalies-paged"
        } else {
            "anomalies-server"
        };
        let path = config(root, &server.url, index);
        if paged {
            let text = std::fs::read_to_string(&path).expect("config");
            let text = text.replace(
                "request_timeout_seconds: 20\n",
                "request_timeout_seconds: 20\n  server_features: false\n",
            );
            std::fs::write(&path, text).expect("config");
        }
        let common = [
            "--config",
            &path,
            "--scenario",
            scenario,
            "--log-level",
            "info",
        ];
        let out = run(
            root,
            &[&["train"][..], &common, &["--now", "2024-05-08T00:00:00Z"]].concat(),
        );
        assert_ok(&out);
        let log = text(&out);
        assert_eq!(
            log.contains("feature matrix computed by the indexer"),
            !paged,
            "{log}"
        );
        let out = run(
            root,
            &[
                &["detect"][..],
                &common,
                &["--now", "2024-05-08T12:00:00Z", "--lookback-minutes", "180"],
            ]
            .concat(),
        );
        assert_ok(&out);
        let mut weights = Vec::new();
        for entry in walk(&root.join("models")) {
            if entry.extension().is_some_and(|e| e == "safetensors") {
                weights.push(std::fs::read(&entry).expect("weights"));
            }
        }
        assert_eq!(weights.len(), 1, "one model file");
        let anomalies: Vec<(bool, String, Value)> = documents(&server.url, index)
            .values()
            .map(essence)
            .collect();
        (weights.remove(0), anomalies)
    };
    let (server_weights, server_docs) = train_and_detect(false);
    let (paged_weights, paged_docs) = train_and_detect(true);
    assert!(server_weights == paged_weights, "the two models differ");
    assert!(!server_docs.is_empty());
    assert_eq!(server_docs, paged_docs);
}

/// Every file under `dir`, recursively.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
