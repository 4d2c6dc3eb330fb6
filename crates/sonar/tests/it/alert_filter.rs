//! `alert_filter` parity: on the same alerts and the same filter, local files (debug mode,
//! filter evaluated in-process) and osmem-server (filter evaluated by the server in
//! `bool.must`) select the same alerts. The data: the real Wazuh alerts of AIT-LDS v1.1 and
//! the bundled demo detection files, indexed under a Wazuh-like mapping (strings `keyword`,
//! `rule.level` a number, `timestamp` a date), as Wazuh's index template maps them.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sonar::source::indexer::IndexerSource;
use sonar::source::local::LocalFiles;
use sonar::source::{Alert, AlertQuery, AlertSource, StreamStats, TimeRange};

use crate::osmem::OsmemServer;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The data files, each with the index it is loaded into.
fn data_files() -> Vec<(PathBuf, &'static str)> {
    vec![
        (
            repo().join("crates/sonar/tests/data/ait_ldsv11_wazuh/ossec_insect.json"),
            "wazuh-alerts-4.x-2020.03.04",
        ),
        (
            repo().join("demo/security_detection.ndjson"),
            "wazuh-alerts-4.x-2024.05.08",
        ),
        (
            repo().join("demo/resource_detection.ndjson"),
            "wazuh-alerts-4.x-2024.05.09",
        ),
    ]
}

fn ndjson(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("NDJSON line"))
        .collect()
}

/// The parts of Wazuh's 4.x template these filters touch.
fn wazuh_mapping() -> Value {
    json!({"mappings": {
        "dynamic_templates": [{"string_as_keyword": {
            "match_mapping_type": "string", "mapping": {"type": "keyword"}}}],
        "properties": {
            "timestamp": {"type": "date", "format": "date_optional_time||epoch_millis"},
            "rule": {"properties": {"level": {"type": "long"}, "firedtimes": {"type": "long"}}},
            "full_log": {"type": "text"},
        }
    }})
}

fn everything() -> AlertQuery {
    let at = |s: &str| {
        DateTime::parse_from_rfc3339(s)
            .expect("test time")
            .with_timezone(&Utc)
    };
    AlertQuery {
        range: TimeRange {
            start: at("2020-01-01T00:00:00Z"),
            end: at("2025-01-01T00:00:00Z"),
        },
        timestamp_field: "timestamp".to_owned(),
        fields: Vec::new(),
        alert_filter: None,
    }
}

/// Every alert `source` streams for `query`, as canonical JSON text, sorted.
fn selected(source: &mut dyn AlertSource, query: &AlertQuery) -> (Vec<String>, StreamStats) {
    let mut alerts: Vec<String> = Vec::new();
    let stats = source
        .stream(query, &mut |page: Vec<Alert>| {
            alerts.extend(page.iter().map(|a| Value::Object(a.clone()).to_string()));
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{:?}: {e}", query.alert_filter));
    alerts.sort();
    (alerts, stats)
}

#[test]
fn local_files_and_the_server_select_the_same_alerts() {
    let server = OsmemServer::start();
    let http = reqwest::blocking::Client::new();
    let local_dir = tempfile::tempdir().expect("tempdir");
    let mut total = 0;
    for (i, (path, index)) in data_files().into_iter().enumerate() {
        let status = http
            .put(format!("{}/{index}", server.url))
            .json(&wazuh_mapping())
            .send()
            .expect("create index")
            .status();
        assert!(status.is_success(), "create {index}: {status}");
        let docs = ndjson(&path);
        total += docs.len();
        server.bulk_index(index, &docs);
        std::fs::copy(&path, local_dir.path().join(format!("{i}.ndjson"))).expect("copy data");
    }
    let mut indexer = IndexerSource::new(server.client(), "wazuh-alerts-4.x-*").with_page_size(500);
    let mut local = LocalFiles::open(local_dir.path()).expect("open local files");

    let (all_server, _) = selected(&mut indexer, &everything());
    let (all_local, _) = selected(&mut local, &everything());
    assert_eq!(all_server.len(), total, "every alert reaches the server");
    assert_eq!(
        all_server, all_local,
        "without a filter both read everything"
    );

    let filters = [
        json!({"match_all": {}}),
        json!({"term": {"rule.groups": "authentication_failed"}}),
        json!({"term": {"rule.level": "10"}}),
        json!({"term": {"agent.name": {"value": "WEB-01", "case_insensitive": true}}}),
        json!({"terms": {"rule.id": ["5710", "60122", "100054", 5503]}}),
        json!({"match": {"agent.name": "dc-01"}}),
        json!({"match_phrase": {"rule.description": "sshd: Attempt to login using a non-existent user"}}),
        json!({"range": {"rule.level": {"gte": 5, "lt": 10}}}),
        json!({"range": {"timestamp": {"gte": "2024-05-08T10:00:00Z", "lt": "2024-05-09T03:00:00+02:00"}}}),
        json!({"range": {"data.cpu_usage_%": {"gte": "50"}}}),
        json!({"range": {"data.cpu_usage_%": {"gt": 50}}}),
        json!({"exists": {"field": "data.srcuser"}}),
        json!({"exists": {"field": "data.win"}}),
        json!({"prefix": {"data.srcip": "192.168.10."}}),
        json!({"wildcard": {"location": "/var/log/*.log"}}),
        json!({"wildcard": {"agent.name": "w?-0*"}}),
        json!({"bool": {
            "filter": [{"terms": {"rule.groups": ["sshd", "windows"]}}],
            "must_not": [{"term": {"rule.groups": "authentication_success"}}],
        }}),
        json!({"bool": {
            "should": [
                {"term": {"agent.name": "web-01"}},
                {"range": {"rule.level": {"gte": 8}}},
                {"prefix": {"rule.groups": "authentication_fail"}},
            ],
            "minimum_should_match": 2,
        }}),
        json!({"bool": {
            "must": {"exists": {"field": "data.srcip"}},
            "should": [{"term": {"agent.name": "bastion-01"}}],
        }}),
        json!({"bool": {"should": [
            {"bool": {"must_not": {"exists": {"field": "data"}}}},
            {"term": {"decoder.name": "sshd"}},
        ]}}),
    ];
    for filter in filters {
        let mut query = everything();
        query.alert_filter = Some(filter.clone());
        let (by_server, _) = selected(&mut indexer, &query);
        let (by_local, stats) = selected(&mut local, &query);
        let is_match_all = filter.get("match_all").is_some();
        // Each filter must select something and (but match_all) leave something out, so the
        // comparison below can tell filters apart.
        assert!(
            !by_server.is_empty() && (is_match_all || by_server.len() < total),
            "{filter}: the server selects {} of {total}; pick a discriminating filter",
            by_server.len()
        );
        assert_eq!(
            by_local.len(),
            by_server.len(),
            "{filter}: local selects {}, server {}",
            by_local.len(),
            by_server.len()
        );
        assert_eq!(by_local, by_server, "{filter}");
        assert_eq!(stats.filtered as usize, total - by_local.len(), "{filter}");
    }
}
