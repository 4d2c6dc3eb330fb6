//! Per-entity scenarios end to end (docs/entities.md): the bundled `brute_force_by_host`
//! scenario in debug mode names the host under each demo attack; its model set is checked at
//! load; entities without a model are reported; realtime polls every host and resumes each.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{debug_documents, repo, run_scenario_in, sonar, text};

/// The model set directory a training run printed (`✓ model set … → DIR`).
fn model_set_dir(log: &str) -> PathBuf {
    let line = log
        .lines()
        .find(|l| l.starts_with("✓ model set"))
        .unwrap_or_else(|| panic!("no model set line\n{log}"));
    PathBuf::from(line.rsplit("→ ").next().expect("arrow").trim())
}

fn time(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .expect("rfc3339")
        .with_timezone(&chrono::Utc)
}

/// A demo label's window and hosts.
fn label(
    name: &str,
) -> (
    chrono::DateTime<chrono::Utc>,
    chrono::DateTime<chrono::Utc>,
    Vec<String>,
) {
    let text = std::fs::read_to_string(repo().join("demo/labels.json")).expect("labels");
    let labels: Vec<Value> = serde_json::from_str(&text).expect("labels parse");
    let l = labels
        .iter()
        .find(|l| l["name"] == name)
        .unwrap_or_else(|| panic!("no label {name}"));
    let t = |v: &Value| {
        chrono::DateTime::parse_from_str(v.as_str().expect("time"), "%Y-%m-%dT%H:%M:%S%.3f%z")
            .expect("label time")
            .with_timezone(&chrono::Utc)
    };
    let hosts = l["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .map(|h| h.as_str().expect("host").to_owned())
        .collect();
    (t(&l["start"]), t(&l["end"]), hosts)
}

fn entity_of(doc: &Value) -> String {
    let entity = doc["entity"]
        .as_array()
        .expect("every document names its entity");
    assert_eq!(entity.len(), 1, "{doc}");
    assert_eq!(entity[0]["name"], "agent.name");
    entity[0]["value"].as_str().expect("value").to_owned()
}

/// Documents of `host` that overlap `[start, end)`.
fn flagged(
    docs: &[Value],
    host: &str,
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
) -> usize {
    docs.iter()
        .filter(|d| {
            let t = time(d["timestamp"].as_str().expect("timestamp"));
            let bucket_end =
                t + chrono::TimeDelta::minutes(d["bucket_minutes"].as_i64().unwrap_or(5));
            entity_of(d) == host
                && d["is_anomaly"] == Value::Bool(true)
                && bucket_end > start
                && t < end
        })
        .count()
}

#[test]
fn brute_force_by_host_names_the_host_under_each_attack_and_checks_its_model_set() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (docs, log) = run_scenario_in("brute_force_by_host", dir.path(), "");
    assert!(log.contains("split by agent.name"), "{log}");
    let (start, end, hosts) = label("brute_force");
    assert_eq!(hosts, ["web-01"]);
    assert!(
        flagged(&docs, "web-01", start, end) > 0,
        "SSH brute force not on web-01\n{log}"
    );
    let (start, end, hosts) = label("password_spray");
    assert!(hosts.contains(&"dc-01".to_owned()));
    assert!(
        flagged(&docs, "dc-01", start, end) > 0,
        "password spray not on dc-01\n{log}"
    );
    // The hosts outside the attacks stay quiet: at most a few events in two days.
    let events: std::collections::BTreeSet<String> = docs
        .iter()
        .map(|d| {
            let id = d["event"]["id"].as_str().expect("event id").to_owned();
            assert!(
                id.starts_with(&format!("brute_force_by_host@{}-event-", entity_of(d))),
                "{id}"
            );
            id
        })
        .collect();
    assert!(events.len() <= 12, "{} events\n{log}", events.len());

    // The set is one unit: a stray generation (a crash before the manifest was renamed) and a
    // leftover temporary manifest change nothing; a rerun writes nothing twice.
    let set = model_set_dir(&log);
    assert!(set.join("entities.json").is_file());
    std::fs::create_dir_all(set.join("g20991231T000000Z/web-01")).expect("stray generation");
    std::fs::write(
        set.join("g20991231T000000Z/web-01/model.safetensors"),
        b"half written",
    )
    .expect("junk");
    std::fs::write(set.join(".entities.json.tmp"), b"{\"format\": 1, \"trunc").expect("junk");
    let scenario = repo().join("scenarios/brute_force_by_host.yaml");
    let scenario = scenario.to_str().expect("utf-8");
    let config = dir.path().join("config.yaml");
    let config = config.to_str().expect("utf-8");
    let detect = || {
        sonar(
            dir.path(),
            &[
                "detect",
                "--scenario",
                scenario,
                "--debug",
                "--config",
                config,
            ],
        )
    };
    let again = detect();
    let again_log = text(&again);
    assert_eq!(again.status.code(), Some(0), "{again_log}");
    assert!(again_log.contains("written=0"), "{again_log}");
    assert!(
        again_log.contains(&format!("already present={}", docs.len())),
        "{again_log}"
    );
    assert_eq!(debug_documents(dir.path()).len(), docs.len());

    // A damaged member is refused, naming the file.
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(set.join("entities.json")).expect("manifest"),
    )
    .expect("json");
    let member = manifest["members"][0]["dir"].as_str().expect("dir");
    let meta = set.join(member).join("model_meta.json");
    let mut bytes = std::fs::read(&meta).expect("meta");
    bytes.push(b' ');
    std::fs::write(&meta, bytes).expect("damage");
    let damaged = detect();
    let damaged_log = text(&damaged);
    assert_eq!(damaged.status.code(), Some(1), "{damaged_log}");
    assert!(damaged_log.contains("SHA-256"), "{damaged_log}");
    assert!(
        damaged_log.contains(&meta.display().to_string()),
        "{damaged_log}"
    );
}

/// A copy of the by-host scenario in `dir`, reading the demo, with `edit` applied.
pub(super) fn scenario_copy(dir: &Path, edit: &[(&str, &str)]) -> String {
    let mut text = std::fs::read_to_string(repo().join("scenarios/brute_force_by_host.yaml"))
        .expect("scenario");
    text = text.replace(
        "data_dir: \"../demo\"",
        &format!("data_dir: \"{}\"", repo().join("demo").display()),
    );
    for (old, new) in edit {
        assert!(text.contains(old), "{old}");
        text = text.replacen(old, new, 1);
    }
    let path = dir.join("by_host.yaml");
    std::fs::write(&path, text).expect("write scenario");
    path.display().to_string()
}

/// `sonar scenario --use-case SCENARIO --debug --mode batch EXTRA…` in `dir`, which must
/// succeed; its log.
fn batch_run(dir: &Path, scenario: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "scenario",
        "--use-case",
        scenario,
        "--debug",
        "--mode",
        "batch",
    ];
    args.extend_from_slice(extra);
    let out = sonar(dir, &args);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    log
}

#[test]
fn entities_past_max_entities_are_reported_and_what_cannot_split_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = scenario_copy(
        dir.path(),
        &[
            ("max_entities: 100", "max_entities: 3"),
            (
                "scoring: {smooth_rows: 1}",
                "scoring: {smooth_rows: 1}\n    epochs: 1",
            ),
        ],
    );
    let log = batch_run(dir.path(), &scenario, &[]);
    assert!(log.contains("3 entities trained"), "{log}");
    assert!(
        log.contains("not modelled (past training.max_entities): 5 entities"),
        "{log}"
    );
    // At detection the same five have alerts and no model: named, with their alert counts.
    let line = log
        .lines()
        .find(|l| l.contains("entities without a model"))
        .unwrap_or_else(|| panic!("no unmodelled line\n{log}"));
    assert!(line.contains("web-01 ("), "{line}");
    let docs = debug_documents(dir.path());
    assert!(
        docs.iter().all(|d| entity_of(d) != "web-01"),
        "web-01 has no model"
    );

    let realtime = sonar(
        dir.path(),
        &[
            "detect",
            "--scenario",
            &scenario,
            "--debug",
            "--mode",
            "realtime",
            "--max-polls",
            "1",
        ],
    );
    // Realtime polls every modelled host (and only those) once per poll.
    let realtime_log = text(&realtime);
    assert_eq!(realtime.status.code(), Some(0), "{realtime_log}");
    let polled = realtime_log
        .lines()
        .filter(|l| l.starts_with("poll "))
        .count();
    assert_eq!(polled, 3, "{realtime_log}");
    assert!(!realtime_log.contains("poll web-01"), "{realtime_log}");

    let absent = scenario_copy(
        dir.path(),
        &[(
            "entity_field: \"agent.name\"",
            "entity_field: \"agent.nam\"",
        )],
    );
    let out = sonar(dir.path(), &["train", "--scenario", &absent, "--debug"]);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains("has a single non-empty value in `agent.nam`"),
        "{log}"
    );
}

/// `training.entity_model: shared`: one network for every host, each member with its own
/// normalisation and threshold; detection is the same per-host path.
#[test]
fn a_shared_model_set_is_one_network_calibrated_on_each_host() {
    let dir = tempfile::tempdir().expect("temp dir");
    let edits = [
        (
            "max_entities: 100",
            "max_entities: 100\n  entity_model: shared",
        ),
        (
            "scoring: {smooth_rows: 1}",
            "scoring: {smooth_rows: 1}\n    epochs: 2",
        ),
    ];
    let scenario = scenario_copy(dir.path(), &edits);
    let log = batch_run(dir.path(), &scenario, &[]);
    assert!(log.contains("8 entities trained"), "{log}");
    // The printed directory is relative to the run's directory.
    let set = dir.path().join(model_set_dir(&log));
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(set.join("entities.json")).expect("manifest"),
    )
    .expect("json");
    assert_eq!(manifest["model"], "shared");
    let members = manifest["members"].as_array().expect("members");
    assert_eq!(members.len(), 8);
    let files = |name: &str| -> std::collections::BTreeSet<String> {
        members
            .iter()
            .map(|m| m["files"][name].as_str().expect("sha").to_owned())
            .collect()
    };
    assert_eq!(
        files("model_meta.json").len(),
        8,
        "each host's own calibration"
    );
    // The network is stored once, beside the members.
    let network = set.join(manifest["network"]["file"].as_str().expect("network file"));
    assert!(network.is_file(), "{}", network.display());
    for m in members {
        assert_eq!(m["files"].as_object().expect("files").len(), 1, "{m}");
        let dir = set.join(m["dir"].as_str().expect("dir"));
        assert!(!dir.join("model.safetensors").exists());
    }
    // Every member has the fleet's columns.
    let columns: std::collections::BTreeSet<String> = members
        .iter()
        .map(|m| {
            let meta: Value = serde_json::from_str(
                &std::fs::read_to_string(
                    set.join(m["dir"].as_str().expect("dir"))
                        .join("model_meta.json"),
                )
                .expect("meta"),
            )
            .expect("json");
            meta["variables"].to_string()
        })
        .collect();
    assert_eq!(columns.len(), 1, "{columns:?}");
    let docs = debug_documents(dir.path());
    assert!(!docs.is_empty(), "{log}");
    // Two shards train the same network and together write the same documents.
    let scores = |docs: &[Value]| -> BTreeMap<String, String> {
        docs.iter()
            .map(|d| {
                let key = format!("{}@{}", entity_of(d), d["timestamp"]);
                (key, d["anomaly_score"].to_string())
            })
            .collect()
    };
    let mut split = BTreeMap::new();
    for shard in ["1/2", "2/2"] {
        let shard_dir = tempfile::tempdir().expect("temp dir");
        let copy = scenario_copy(shard_dir.path(), &edits);
        batch_run(shard_dir.path(), &copy, &["--shard", shard]);
        split.extend(scores(&debug_documents(shard_dir.path())));
    }
    assert_eq!(split, scores(&docs));

    // A damaged network is refused, naming its file.
    let mut bytes = std::fs::read(&network).expect("network");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&network, bytes).expect("damage");
    let out = sonar(dir.path(), &["detect", "--scenario", &scenario, "--debug"]);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains("the shared network was damaged"), "{log}");
    let file = manifest["network"]["file"].as_str().expect("network file");
    assert!(log.contains(file), "{log}");
}

/// The documents of `index` with what differs between runs by design left out: when the run
/// happened and where its models live.
pub(super) fn comparable(url: &str, index: &str) -> BTreeMap<String, Value> {
    super::indexer_e2e::documents(url, index)
        .into_iter()
        .map(|(id, mut doc)| {
            let map = doc.as_object_mut().expect("object");
            map.remove("detection_timestamp");
            map.remove("context");
            map.remove("model");
            (id, doc)
        })
        .collect()
}

fn entities_trained(log: &str) -> usize {
    let line = log
        .lines()
        .find(|l| l.starts_with("✓ model set"))
        .unwrap_or_else(|| panic!("no model set line\n{log}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words
        .iter()
        .position(|w| *w == "entities")
        .expect("entities count");
    words[at - 1].parse().expect("a number")
}

/// Two shards together write exactly the documents of one process; the one process has the
/// indexer compute every entity's features in one pass, the shards page alerts and compute
/// each entity's features themselves, so the two feature paths give the same documents too.
#[test]
fn two_shards_against_the_indexer_write_exactly_what_one_process_writes() {
    let server = super::osmem::OsmemServer::start();
    server.install_wazuh_template();
    super::indexer_e2e::load_demo_alerts(&server);
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = scenario_copy(
        dir.path(),
        &[(
            "scoring: {smooth_rows: 1}",
            "scoring: {smooth_rows: 1}\n    epochs: 2",
        )],
    );
    let train_window = [
        "--start",
        "2024-05-01T00:00:00Z",
        "--end",
        "2024-05-08T00:00:00Z",
    ];
    let detect_window = [
        "--start",
        "2024-05-08T00:00:00Z",
        "--end",
        "2024-05-10T00:00:00Z",
    ];
    let run = |config: &str, command: &str, window: &[&str], shard: Option<&str>| {
        let mut args = vec![command, "--scenario", &scenario, "--config", config];
        args.extend_from_slice(window);
        if let Some(shard) = shard {
            args.extend_from_slice(&["--shard", shard]);
        }
        let out = sonar(dir.path(), &args);
        let log = text(&out);
        assert_eq!(out.status.code(), Some(0), "{args:?}\n{log}");
        log
    };

    let one_dir = dir.path().join("one");
    std::fs::create_dir_all(&one_dir).expect("dir");
    let one = super::indexer_e2e::config(&one_dir, &server.url, "anomalies-one");
    // One process: the indexer computes every entity's features in one pass.
    let one_pass = "all entities in one pass";
    let log = run(&one, "train", &train_window, None);
    assert!(log.contains(one_pass), "{log}");
    let all = entities_trained(&log);
    assert_eq!(all, 8, "the demo's eight hosts");
    let log = run(&one, "detect", &detect_window, None);
    assert!(log.contains(one_pass), "{log}");

    // Two shards that page alerts and compute each entity's features in SONAR.
    let two_dir = dir.path().join("two");
    std::fs::create_dir_all(&two_dir).expect("dir");
    let two = super::indexer_e2e::config(&two_dir, &server.url, "anomalies-two");
    let paged = std::fs::read_to_string(&two).expect("config").replace(
        "max_retries: 1\n",
        "max_retries: 1\n  server_features: false\n",
    );
    std::fs::write(&two, paged).expect("config");
    let mut shared = 0;
    for shard in ["1/2", "2/2"] {
        let log = run(&two, "train", &train_window, Some(shard));
        assert!(log.contains("shard-"), "each shard has its own set\n{log}");
        assert!(!log.contains(one_pass), "{log}");
        shared += entities_trained(&log);
        run(&two, "detect", &detect_window, Some(shard));
    }
    assert_eq!(shared, all, "the shards split the entities");

    let single = comparable(&server.url, "anomalies-one");
    let split = comparable(&server.url, "anomalies-two");
    assert!(!single.is_empty(), "the demo attacks give documents");
    assert_eq!(
        single.keys().collect::<Vec<_>>(),
        split.keys().collect::<Vec<_>>()
    );
    assert_eq!(single, split);

    let plain = repo().join("scenarios/brute_force_detection.yaml");
    let unsplit = sonar(
        dir.path(),
        &[
            "detect",
            "--scenario",
            plain.to_str().expect("utf-8"),
            "--shard",
            "1/2",
        ],
    );
    let log = text(&unsplit);
    assert_eq!(unsplit.status.code(), Some(1), "{log}");
    assert!(log.contains("no training.entity_field"), "{log}");
}

/// `sonar detect --mode realtime` on a per-entity scenario against the indexer: every poll
/// scores every host's new buckets; a restart resumes each host after its own last scored
/// bucket (one state file per host); over the whole span every (host, bucket) is written
/// exactly once, and the documents are those of one historical run over the same span.
#[test]
fn realtime_polls_every_entity_and_a_restart_resumes_each_exactly_once() {
    let server = super::osmem::OsmemServer::start();
    server.install_wazuh_template();
    super::indexer_e2e::load_demo_alerts(&server);
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = scenario_copy(
        dir.path(),
        &[(
            "scoring: {smooth_rows: 1}",
            "scoring: {smooth_rows: 1}\n    epochs: 2",
        )],
    );
    let config = super::indexer_e2e::config(dir.path(), &server.url, "anomalies-realtime");
    let run = |args: &[&str]| {
        let mut all = vec![args[0], "--scenario", &scenario, "--config", &config];
        all.extend_from_slice(&args[1..]);
        let out = sonar(dir.path(), &all);
        let log = text(&out);
        assert_eq!(out.status.code(), Some(0), "{all:?}\n{log}");
        log
    };
    let log = run(&[
        "train",
        "--start",
        "2024-05-01T00:00:00Z",
        "--end",
        "2024-05-08T00:00:00Z",
    ]);
    let hosts = entities_trained(&log);
    let set = model_set_dir(&log);
    let realtime = |now: &str, polls: &str| {
        run(&[
            "detect",
            "--mode",
            "realtime",
            "--now",
            now,
            "--max-polls",
            polls,
        ])
    };
    // Polls from 09:31 (the first scores the scenario's lookback), then a restart at 10:16.
    let first = realtime("2024-05-08T09:31:00Z", "4");
    assert!(first.contains("all entities in one pass"), "{first}");
    let second = realtime("2024-05-08T10:16:00Z", "3");
    let (spans, written) = poll_spans(&[&first, &second]);
    assert_eq!(
        spans.len(),
        hosts,
        "every host is polled\n{first}\n{second}"
    );
    let states = std::fs::read_dir(set.join("realtime"))
        .expect("state directory")
        .count();
    assert_eq!(states, hosts, "one state file per host");

    let live = comparable(&server.url, "anomalies-realtime");
    assert_eq!(live.len() as u64, written, "each document written once");
    let (from, to) = {
        let polls = spans.values().next().expect("a host");
        (polls[0].0.clone(), polls[polls.len() - 1].1.clone())
    };
    let historical = super::indexer_e2e::config(dir.path(), &server.url, "anomalies-historical");
    let out = sonar(
        dir.path(),
        &[
            "detect",
            "--scenario",
            &scenario,
            "--config",
            &historical,
            "--start",
            &from,
            "--end",
            &to,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let once = comparable(&server.url, "anomalies-historical");
    assert!(!once.is_empty());
    assert_same_documents(&live, &once);
}

/// The poll lines (`poll <host> <start> .. <end>: <summary>`) of realtime logs: per host its
/// polls' ranges, checked to follow one another without gap or overlap, and the documents
/// the polls wrote (`written=`), all hosts together.
pub(super) fn poll_spans(logs: &[&str]) -> (BTreeMap<String, Vec<(String, String)>>, u64) {
    let mut spans: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut written = 0u64;
    for line in logs.iter().flat_map(|log| log.lines()) {
        let Some(rest) = line.strip_prefix("poll ") else {
            continue;
        };
        let (head, summary) = rest.split_once(": ").expect("a summary");
        let words: Vec<&str> = head.split_whitespace().collect();
        let [host, start, "..", end] = words[..] else {
            panic!("not a poll line: {line}");
        };
        spans
            .entry(host.to_owned())
            .or_default()
            .push((start.to_owned(), end.to_owned()));
        let count = summary
            .split("written=")
            .nth(1)
            .and_then(|w| w.split_whitespace().next())
            .expect("written=");
        written += count.parse::<u64>().expect("a count");
    }
    for (host, polls) in &spans {
        for pair in polls.windows(2) {
            assert_eq!(
                pair[0].1, pair[1].0,
                "{host}: a gap or an overlap: {polls:?}"
            );
        }
    }
    (spans, written)
}

/// Realtime documents against one historical run's: the same ids, and the same content but
/// for what says how the run was asked for (`data.lookback_minutes`) and the end of an event
/// that was still open when a poll wrote the document.
pub(super) fn assert_same_documents(
    live: &BTreeMap<String, Value>,
    once: &BTreeMap<String, Value>,
) {
    assert_eq!(
        live.keys().collect::<Vec<_>>(),
        once.keys().collect::<Vec<_>>()
    );
    for (id, doc) in live {
        let (mut doc, mut other) = (doc.clone(), once[id].clone());
        for d in [&mut doc, &mut other] {
            if let Some(data) = d["data"].as_object_mut() {
                data.remove("lookback_minutes");
            }
            if let Some(event) = d["event"].as_object_mut() {
                event.remove("end");
            }
        }
        assert_eq!(doc, other, "{id}");
    }
}
