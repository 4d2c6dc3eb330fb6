//! End-to-end tests of the `sonar` binary: usage errors, `validate` on every bundled file, and
//! every bundled scenario in debug mode (train, detect, its labelled attack flagged, JSONL
//! written). Each run uses its own temporary directory for models and outputs.

mod entities;
mod indexer_e2e;
mod log_hygiene;
/// The osmem-server harness of the library's integration tests (one copy, shared).
#[allow(dead_code)]
#[path = "../../../sonar/tests/it/osmem.rs"]
mod osmem;
mod secrets;
mod serve;
mod soak;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

fn sonar(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sonar"))
        .args(args)
        .current_dir(dir)
        .env_remove("SONAR_WAZUH_PASSWORD")
        .env_remove("SONAR_WAZUH_URL")
        .env_remove("SONAR_WAZUH_USERNAME")
        .output()
        .expect("sonar runs")
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    for args in [
        &[][..],
        &["scenario"],
        &["detect", "--mode", "sometimes"],
        &["train", "--synthetic-level", "99"],
        &["train", "--synthetic-mode", "sideways"],
        &["validate"],
        &["frobnicate"],
    ] {
        let out = sonar(dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}\n{}", text(&out));
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    }
    let out = sonar(dir.path(), &["--help"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for flag in ["--log-level", "--log-format", "--color"] {
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(flag),
            "{flag} missing from help"
        );
    }
    // The settings flags belong to the commands that load settings.
    let out = sonar(dir.path(), &["train", "--help"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for flag in ["--config", "--debug", "--log-level"] {
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(flag),
            "{flag} missing from train --help"
        );
    }
}

#[test]
fn validate_accepts_every_bundled_file_and_rejects_a_broken_one() {
    let root = repo();
    let mut files: Vec<String> = std::fs::read_dir(root.join("scenarios"))
        .expect("scenarios")
        .map(|e| e.expect("entry").path().display().to_string())
        .filter(|p| p.ends_with(".yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    files.push(
        root.join("config/default_config.yaml")
            .display()
            .to_string(),
    );
    let args: Vec<&str> = std::iter::once("validate")
        .chain(files.iter().map(String::as_str))
        .collect();
    let out = sonar(&root, &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).matches("ok: ").count(),
        files.len(),
        "{}",
        text(&out)
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "name: x\ntraining:\n  bucket_minutes: -3\n").expect("write");
    let out = sonar(dir.path(), &["validate", bad.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: "), "{}", text(&out));
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"));
}

#[test]
fn a_missing_model_is_one_readable_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), "");
    let scenario = repo().join("scenarios/brute_force_detection.yaml");
    let out = sonar(
        dir.path(),
        &[
            "detect",
            "--debug",
            "--config",
            &config,
            "--scenario",
            scenario.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no model at"), "{}", text(&out));
    assert!(
        stderr.contains("caused by") || stderr.lines().count() <= 4,
        "{}",
        text(&out)
    );
}

/// A config that keeps models in `dir`, plus `extra` YAML.
fn write_config(dir: &Path, extra: &str) -> String {
    let path = dir.join("config.yaml");
    std::fs::write(
        &path,
        format!(
            "model_path: \"{}\"\n{extra}",
            dir.join("models/mvad_model").display()
        ),
    )
    .expect("write config");
    path.display().to_string()
}

/// Labelled attacks of the demo data: (scenario file stem, start, end).
fn labels() -> Vec<(
    String,
    chrono::DateTime<chrono::Utc>,
    chrono::DateTime<chrono::Utc>,
)> {
    let text = std::fs::read_to_string(repo().join("demo/labels.json")).expect("labels");
    let labels: Vec<Value> = serde_json::from_str(&text).expect("labels parse");
    let time = |v: &Value| {
        chrono::DateTime::parse_from_str(v.as_str().expect("time"), "%Y-%m-%dT%H:%M:%S%.3f%z")
            .expect("label time")
            .with_timezone(&chrono::Utc)
    };
    labels
        .iter()
        .map(|l| {
            (
                l["scenario"].as_str().expect("scenario").to_owned(),
                time(&l["start"]),
                time(&l["end"]),
            )
        })
        .collect()
}

/// Runs a bundled scenario in debug mode (batch: train then detect) and returns the anomaly
/// documents it wrote.
fn run_scenario(stem: &str) -> (Vec<Value>, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    run_scenario_in(stem, dir.path(), "")
}

/// [`run_scenario`] in `dir` with `extra` config YAML.
fn run_scenario_in(stem: &str, dir: &Path, extra: &str) -> (Vec<Value>, String) {
    let config = write_config(dir, extra);
    let scenario = repo().join(format!("scenarios/{stem}.yaml"));
    let started = std::time::Instant::now();
    let out = sonar(
        dir,
        &[
            "scenario",
            "--use-case",
            scenario.to_str().expect("utf-8"),
            "--debug",
            "--mode",
            "batch",
            "--config",
            &config,
        ],
    );
    eprintln!("{stem}: {:.1}s", started.elapsed().as_secs_f64());
    let log = text(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(
        log.contains("train summary:") && log.contains("detect summary:"),
        "{log}"
    );
    for file in walk(&dir.join("sonar-debug")) {
        let name = file
            .file_name()
            .expect("name")
            .to_string_lossy()
            .to_string();
        assert!(log.contains(&name), "path not printed: {log}");
    }
    (debug_documents(dir), log)
}

/// Every anomaly document of the debug JSONL files under `dir/sonar-debug`.
fn debug_documents(dir: &Path) -> Vec<Value> {
    let mut docs = Vec::new();
    for file in walk(&dir.join("sonar-debug")) {
        for line in std::fs::read_to_string(file).expect("jsonl").lines() {
            docs.push(serde_json::from_str(line).expect("one JSON document per line"));
        }
    }
    docs
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
                .collect()
        })
        .unwrap_or_default()
}

/// The scenario's labelled attacks are each hit by at least one anomaly document.
fn check_scenario_flags_its_attacks(stem: &str) {
    let (docs, log) = run_scenario(stem);
    check_attacks_flagged(stem, &docs, &log);
}

fn check_attacks_flagged(stem: &str, docs: &[Value], log: &str) {
    let attacks: Vec<_> = labels().into_iter().filter(|(s, _, _)| s == stem).collect();
    assert!(!attacks.is_empty(), "no label for {stem}");
    for (_, start, end) in attacks {
        let hit = docs.iter().any(|d| {
            let t =
                chrono::DateTime::parse_from_rfc3339(d["timestamp"].as_str().expect("timestamp"))
                    .expect("rfc3339")
                    .with_timezone(&chrono::Utc);
            let bucket_end =
                t + chrono::TimeDelta::minutes(d["bucket_minutes"].as_i64().unwrap_or(5));
            d["is_anomaly"] == Value::Bool(true) && bucket_end > start && t < end
        });
        assert!(
            hit,
            "{stem}: attack {start}..{end} not flagged; {} anomalies\n{log}",
            docs.len()
        );
    }
    for d in docs {
        let score = d["anomaly_score"].as_f64().expect("score");
        assert!((0.0..=1.0).contains(&score));
        assert!(score >= d["threshold"].as_f64().expect("threshold"));
    }
}

#[test]
fn brute_force_scenario_flags_its_attacks() {
    check_scenario_flags_its_attacks("brute_force_detection");
}

#[test]
fn lateral_movement_scenario_flags_its_attack() {
    check_scenario_flags_its_attacks("lateral_movement_detection");
}

#[test]
fn privilege_escalation_scenario_flags_its_attack() {
    check_scenario_flags_its_attacks("privilege_escalation_detection");
}

#[test]
fn linux_resource_scenario_flags_its_attacks() {
    check_scenario_flags_its_attacks("linux_resource_monitoring");
}

#[test]
fn improved_scoring_from_the_config_trains_detects_and_is_stored_with_the_model() {
    // The report's improved scoring (docs/quality.md), set once in the config: the model is
    // trained and scores with it, and still flags the labelled attacks.
    let dir = tempfile::tempdir().expect("temp dir");
    let extra = "mvad:\n  extra_params:\n    scoring: {error: standardised, recon_gamma: 1.0, smooth_rows: 10}\n";
    let (docs, log) = run_scenario_in("brute_force_detection", dir.path(), extra);
    check_attacks_flagged("brute_force_detection", &docs, &log);
    let metas: Vec<PathBuf> = std::fs::read_dir(dir.path().join("models"))
        .expect("models dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .flat_map(|p| {
            if p.is_dir() {
                std::fs::read_dir(&p)
                    .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
                    .unwrap_or_default()
            } else {
                vec![p]
            }
        })
        .filter(|p| p.to_string_lossy().ends_with("model_meta.json"))
        .collect();
    assert!(
        !metas.is_empty(),
        "no model metadata under {:?}",
        dir.path()
    );
    for path in metas {
        let meta: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("meta")).expect("json");
        assert_eq!(
            meta["params"]["scoring"]["error"], "standardised",
            "{path:?}"
        );
        assert_eq!(meta["params"]["scoring"]["smooth_rows"], 10, "{path:?}");
        let scales = meta["error_scales"]["forecast"].as_array().expect("scales");
        assert_eq!(
            scales.len(),
            meta["variables"].as_array().expect("vars").len()
        );
    }
}

#[test]
fn example_scenario_runs_end_to_end() {
    let (docs, log) = run_scenario("example_scenario");
    assert!(log.contains("detect summary:"), "{log}");
    for d in &docs {
        assert_eq!(d["is_anomaly"], Value::Bool(true));
    }
}

/// Two correlated sines; labelled rows break the relation between them.
fn eval_csv(rows: usize, phase: usize, anomalies: &[(usize, usize)]) -> String {
    let mut csv = String::from("timestamp,a,b,label\n");
    for i in 0..rows {
        let x = ((i + phase) as f64 * 0.2).sin();
        let bad = anomalies.iter().any(|&(s, e)| s <= i && i < e);
        let b = 2.0 * x + if bad { 4.0 } else { 0.0 };
        csv.push_str(&format!("{:06},{x},{b},{}\n", i + phase, u8::from(bad)));
    }
    csv
}

#[test]
fn eval_reports_metrics_for_the_engine_and_the_baselines() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("train.csv"), eval_csv(400, 0, &[])).expect("write");
    std::fs::write(
        dir.path().join("test.csv"),
        eval_csv(200, 400, &[(80, 90), (150, 155)]),
    )
    .expect("write");
    let out = sonar(
        dir.path(),
        &[
            "eval",
            "--train",
            "train.csv",
            "--test",
            "test.csv",
            "--params",
            r#"{"sliding_window": 40, "epochs": 2, "batch_size": 32}"#,
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["test_rows"], 200);
    assert_eq!(report["anomalous_rows"], 15);
    let methods: Vec<&str> = report["methods"]
        .as_array()
        .expect("methods")
        .iter()
        .map(|m| m["method"].as_str().expect("name"))
        .collect();
    assert_eq!(methods.len(), 3, "{methods:?}");
    for m in report["methods"].as_array().expect("methods") {
        let vus = m["metrics"]["vus_pr"].as_f64().expect("vus_pr");
        assert!((0.0..=1.0).contains(&vus), "{m}");
    }
    // PCA sees the broken relation between a and b: clearly better than chance.
    let pca = report["methods"]
        .as_array()
        .expect("methods")
        .iter()
        .find(|m| m["method"] == "pca")
        .expect("pca");
    assert!(
        pca["metrics"]["auc_roc"].as_f64().expect("auc") > 0.9,
        "{pca}"
    );

    let bad = sonar(
        dir.path(),
        &[
            "eval",
            "--train",
            "train.csv",
            "--test",
            "test.csv",
            "--params",
            "{\"abcd\": 1}",
        ],
    );
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(
        text(&bad).contains("unknown parameter `abcd`"),
        "{}",
        text(&bad)
    );
}

/// The demo's security alerts with the brute-force scenario's two attacks copied two days
/// back, into the training week: what routine retraining on "the last 7 days" sees after an
/// incident.
fn training_with_the_attacks(dir: &Path) {
    let attacks: Vec<_> = labels()
        .into_iter()
        .filter(|(s, _, _)| s == "brute_force_detection")
        .collect();
    let detection =
        std::fs::read_to_string(repo().join("demo/security_detection.ndjson")).expect("demo");
    let mut training =
        std::fs::read_to_string(repo().join("demo/security_training.ndjson")).expect("demo");
    let mut copied = 0;
    for line in detection.lines() {
        let mut alert: Value = serde_json::from_str(line).expect("demo alert");
        let t = chrono::DateTime::parse_from_str(
            alert["timestamp"].as_str().expect("timestamp"),
            "%Y-%m-%dT%H:%M:%S%.3f%z",
        )
        .expect("demo time")
        .with_timezone(&chrono::Utc);
        if attacks.iter().any(|(_, s, e)| *s <= t && t < *e) {
            let shifted = t - chrono::TimeDelta::days(2);
            alert["timestamp"] =
                Value::String(shifted.format("%Y-%m-%dT%H:%M:%S%.3f%z").to_string());
            training.push_str(&alert.to_string());
            training.push('\n');
            copied += 1;
        }
    }
    assert!(copied > 300, "{copied} attack alerts copied");
    std::fs::write(dir.join("security_training.ndjson"), training).expect("write");
    std::fs::write(dir.join("security_detection.ndjson"), detection).expect("write");
}

#[test]
fn a_batch_run_whose_training_holds_the_attacks_still_reports_them() {
    // Batch mode trains on the window it then scores, and retraining on the last week
    // includes incidents. The held-out calibration sets flagged windows aside
    // (docs/mvad.md "Calibration"), so the attacks in the training data do not raise the
    // bar above themselves.
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    training_with_the_attacks(&data);
    let scenario = std::fs::read_to_string(repo().join("scenarios/brute_force_detection.yaml"))
        .expect("scenario")
        .replace(
            "data_dir: \"../demo\"",
            &format!("data_dir: {:?}", data.display().to_string()),
        );
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir_all(&scenarios).expect("mkdir");
    std::fs::write(scenarios.join("brute_force_detection.yaml"), scenario).expect("write");
    let config = write_config(dir.path(), "");
    let out = sonar(
        dir.path(),
        &[
            "scenario",
            "--use-case",
            scenarios
                .join("brute_force_detection.yaml")
                .to_str()
                .expect("utf-8"),
            "--debug",
            "--mode",
            "batch",
            "--config",
            &config,
        ],
    );
    let log = text(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    let docs = debug_documents(dir.path());
    check_attacks_flagged("brute_force_detection", &docs, &log);
}

#[test]
fn eval_alerts_measures_the_demo_scenario_at_its_threshold() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = repo().join("demo");
    let out = sonar(
        dir.path(),
        &[
            "eval",
            "--alerts",
            demo.join("security_training.ndjson")
                .to_str()
                .expect("utf-8"),
            "--detect-alerts",
            demo.join("security_detection.ndjson")
                .to_str()
                .expect("utf-8"),
            "--scenario",
            repo()
                .join("scenarios/brute_force_detection.yaml")
                .to_str()
                .expect("utf-8"),
            "--attacks",
            demo.join("labels.json").to_str().expect("utf-8"),
            "--methods",
            "default,pca",
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["phases"], 2, "{report}");
    let default = &report["methods"][0];
    assert_eq!(default["method"], "default");
    assert_eq!(default["chain_hit"], true, "{default}");
    for phase in default["phases"].as_array().expect("phases") {
        assert_eq!(phase["hit"], true, "{phase}");
        assert!(
            phase["delay_minutes"].as_f64().expect("delay") < 30.0,
            "{phase}"
        );
    }
    assert_eq!(default["false_events"], 0, "{default}");
    let threshold = default["threshold"].as_f64().expect("threshold");
    assert!(
        (threshold - (1.0 - 0.5 * 5.0 / 1440.0)).abs() < 1e-9,
        "{threshold}"
    );
    let pca = &report["methods"][1];
    assert_eq!(pca["method"], "pca");
    assert_eq!(pca["threshold"], default["threshold"]);
    for m in report["methods"].as_array().expect("methods") {
        let vus = m["vus_pr"].as_f64().expect("vus_pr");
        assert!((0.0..=1.0).contains(&vus), "{m}");
    }
}

/// An AIT-ADS-shaped alert CSV: two hosts with a steady hourly rhythm for three days, then
/// a scan phase (a burst of Suricata alerts on one host) and a cracking phase.
fn ait_csv() -> String {
    let mut csv = String::from("time,name,ip,host,short,time_label,event_label\n");
    let start = 1_642_118_400i64; // 2022-01-14 00:00 UTC
    let mut t = start;
    let mut i = 0u64;
    while t < start + 4 * 86_400 {
        let hour = (t - start) / 3600 % 24;
        let busy = (8..18).contains(&hour);
        let step = if busy { 120 } else { 300 };
        let host = if i.is_multiple_of(3) {
            "mail"
        } else {
            "intranet_server"
        };
        csv.push_str(&format!(
            "{t},\"Wazuh: Login session opened, user x\",10.0.0.{},{host},W-Acc-Ses,false_positive,-\n",
            1 + i % 2
        ));
        t += step + (i * 7919 % 61) as i64;
        i += 1;
    }
    let attack = start + 3 * 86_400 + 10 * 3600;
    for j in 0..300i64 {
        csv.push_str(&format!(
            "{},Suricata: Alert - ET SCAN Nmap,10.0.0.2,intranet_server,S-Sca-Nma,network_scans,service_scan\n",
            attack + j * 3
        ));
    }
    for j in 0..200i64 {
        csv.push_str(&format!(
            "{},Wazuh: sshd: authentication failed,10.0.0.1,mail,W-Ssh-Fai,cracking,online_cracking\n",
            attack + 7200 + j * 5
        ));
    }
    csv
}

#[test]
fn eval_alerts_reads_an_ait_ads_csv_and_its_time_labels() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("x_alerts.txt"), ait_csv()).expect("write");
    std::fs::write(
        dir.path().join("ait.yaml"),
        "name: \"AIT plain\"\nenabled: true\ntraining:\n  categorical_fields: [\"agent.name\", \"rule.groups\"]\n  categorical_top_k: 20\n  bucket_minutes: 15\n  sliding_window: 28\n  min_samples: 100\n  extra_params:\n    epochs: 4\ndetection:\n  false_alarm_rate: 0.5\n  min_consecutive: 1\nshipping:\n  scenario_id: \"ait_plain\"\n",
    )
    .expect("write");
    let config = write_config(dir.path(), "");
    let args: [&str; 11] = [
        "eval",
        "--config",
        &config,
        "--alerts",
        "x_alerts.txt",
        "--scenario",
        "ait.yaml",
        "--attacks",
        "time_label",
        "--methods",
        "default",
    ];
    let out = sonar(dir.path(), &args);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("AIT plain: trained on 2022-01-14 00:00"),
        "{log}"
    );
    assert!(
        stdout.contains("| network_scans | 2022-01-17 10:00 |"),
        "{log}"
    );
    assert!(stdout.contains("| cracking | 2022-01-17 12:00 |"), "{log}");
    assert!(
        stdout.contains("| default | 0.9948 (min_consecutive 1) | hit |"),
        "{log}"
    );

    // A label file that does not parse is one clear error naming it.
    std::fs::write(dir.path().join("labels.json"), "{").expect("write");
    let mut bad = args;
    bad[8] = "labels.json";
    let out = sonar(dir.path(), &bad);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains("labels.json") && log.contains("JSON array"),
        "{log}"
    );
    // An AIT-ADS CSV holds both periods: a separate detection file is refused, not ignored.
    let mut both = args.to_vec();
    both.extend(["--detect-alerts", "x_alerts.txt"]);
    let out = sonar(dir.path(), &both);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains("holds both periods"), "{log}");
}

#[test]
fn start_and_end_set_the_training_and_detection_windows() {
    // Train on a period known to be clean, then backfill one hour that holds the brute force
    // (demo/labels.json: 2024-05-08 10:05), instead of the debug files' whole extent.
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), "");
    let scenario = repo().join("scenarios/brute_force_detection.yaml");
    let scenario = scenario.to_str().expect("utf-8");
    let out = sonar(
        dir.path(),
        &[
            "train",
            "--scenario",
            scenario,
            "--debug",
            "--config",
            &config,
            "--start",
            "2024-05-02T00:00:00Z",
            "--end",
            "2024-05-07T00:02:00Z",
        ],
    );
    let log = text(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(
        log.contains("trained on 2024-05-02T00:00:00Z .. 2024-05-07T00:00:00Z"),
        "{log}"
    );
    let detect = |start: &str, end: &str| {
        sonar(
            dir.path(),
            &[
                "detect",
                "--scenario",
                scenario,
                "--debug",
                "--config",
                &config,
                "--start",
                start,
                "--end",
                end,
            ],
        )
    };
    let out = detect("2024-05-08T10:00:00Z", "2024-05-08T11:00:00Z");
    let log = text(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(
        log.contains("scored=12 "),
        "one hour of 5-minute buckets: {log}"
    );
    let docs = debug_documents(dir.path());
    assert!(!docs.is_empty(), "the brute force was not reported: {log}");
    for d in &docs {
        let t = d["timestamp"].as_str().expect("timestamp");
        assert!(
            ("2024-05-08T10:00"..="2024-05-08T10:55").contains(&&t[..16]),
            "{t} outside the window"
        );
    }
    // An end before the start is one clear error.
    let out = detect("2024-05-08T11:00:00Z", "2024-05-08T10:00:00Z");
    let log = text(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains("--start") && log.contains("not before --end"),
        "{log}"
    );
}
