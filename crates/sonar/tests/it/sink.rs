//! Anomaly sinks end to end: the index sink against osmem-server (re-runs never duplicate,
//! dry-run sends nothing, payload files are redacted), the data-stream sink against a
//! protocol-level fake, and both against a real cluster when `OPENSEARCH_URL` is set.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};
use sonar::detect::{assign_events, Contribution, ScoredBucket};
use sonar::sink::{
    build_anomaly_documents, AnomalyDocument, AnomalySink, DataStreamSink, DocumentContext,
    IndexSink, RolloverPolicy, WriteInspector, WriteOptions,
};
use sonar::source::indexer::{IndexerClient, IndexerConnection, Password, RetryPolicy};

use crate::osmem::OsmemServer;

const PASSWORD: &str = "s3cret-hunter2";

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 12, 30, 10, minute, 0)
        .single()
        .expect("valid time")
}

fn context(scenario_id: &str) -> DocumentContext {
    DocumentContext {
        scenario_id: scenario_id.into(),
        scenario_name: "brute_force_detection".into(),
        model_name: "brute_force_detection".into(),
        model_version: "1".into(),
        model_path: "models/brute_force_detection".into(),
        feature_names: vec!["alert_count".into(), "rule.level".into()],
        training_samples: 500,
        sliding_window: 12,
        bucket_minutes: 5,
        lookback_minutes: 60,
        threshold: 0.5,
        detection_timestamp: at(59),
        top_contributors: 5,
        entity: None,
    }
}

/// Three anomalous buckets (two events) and one normal bucket.
fn documents(scenario_id: &str) -> Vec<AnomalyDocument> {
    let mut buckets: Vec<ScoredBucket> = [(0, true), (5, true), (10, false), (20, true)]
        .iter()
        .map(|&(m, anomalous)| ScoredBucket {
            start: at(m),
            end: at(m + 5),
            anomaly_score: if anomalous { 0.9 } else { 0.1 },
            is_anomaly: anomalous,
            mvad_score: 1.5,
            mvad_severity: 0.87,
            contributions: vec![
                Contribution {
                    variable: "alert_count".into(),
                    contribution: 0.75,
                    observed: 240.0,
                    expected: 12.5,
                    correlation_changes: vec![("rule.level".into(), 0.125)],
                },
                Contribution {
                    variable: "rule.level".into(),
                    contribution: 0.25,
                    observed: 10.0,
                    expected: 5.0,
                    correlation_changes: vec![],
                },
            ],
            alert_count: 240,
            event: None,
        })
        .collect();
    assign_events(scenario_id, &mut buckets);
    build_anomaly_documents(&context(scenario_id), &buckets)
}

fn no_wait() -> Box<dyn FnMut(Duration) + Send> {
    Box::new(|_| {})
}

/// The documents of `index` (refreshed first) on osmem, by `_id`; `None` if the index does
/// not exist.
fn stored(server: &OsmemServer, index: &str) -> Option<Vec<(String, Value)>> {
    let http = reqwest::blocking::Client::new();
    let refresh = http
        .post(format!("{}/{index}/_refresh", server.url))
        .send()
        .expect("refresh");
    if refresh.status().as_u16() == 404 {
        return None;
    }
    let body: Value = http
        .post(format!("{}/{index}/_search", server.url))
        .json(&json!({"size": 100, "track_total_hits": true, "query": {"match_all": {}}}))
        .send()
        .expect("search")
        .json()
        .expect("search JSON");
    let hits = body["hits"]["hits"].as_array().expect("hits");
    assert_eq!(
        body["hits"]["total"]["value"].as_u64(),
        Some(hits.len() as u64)
    );
    let mut docs: Vec<(String, Value)> = hits
        .iter()
        .map(|h| {
            (
                h["_id"].as_str().expect("_id").to_string(),
                h["_source"].clone(),
            )
        })
        .collect();
    docs.sort_by(|a, b| a.0.cmp(&b.0));
    Some(docs)
}

#[test]
fn index_sink_detecting_twice_never_duplicates() {
    let server = OsmemServer::start();
    let docs = documents("bf01");
    assert_eq!(docs.len(), 3);
    let index = "wazuh-anomalies-mvad";

    let mut first = IndexSink::new(
        server.client(),
        WriteInspector::new(WriteOptions::default()),
        index,
    )
    .expect("sink");
    let report = first.write(&docs).expect("first write");
    assert_eq!(
        (report.written, report.already_present),
        (3, 0),
        "{report:?}"
    );
    assert!(report.is_complete());

    // A second detection run over the same buckets: same ids, nothing new.
    let mut second = IndexSink::new(
        server.client(),
        WriteInspector::new(WriteOptions::default()),
        index,
    )
    .expect("sink");
    let report = second.write(&docs).expect("second write");
    assert_eq!(
        (report.written, report.already_present),
        (0, 3),
        "{report:?}"
    );
    assert!(report.clone().into_result().is_ok());
    let docs_now = stored(&server, index).expect("index exists");
    let ids: Vec<&str> = docs_now.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "bf01-20251230T100000Z",
            "bf01-20251230T100500Z",
            "bf01-20251230T102000Z"
        ]
    );
    assert_eq!(
        docs_now[1].1["event"]["id"],
        json!("bf01-event-20251230T100000Z")
    );
    assert_eq!(docs_now[1].1["feature_count"], json!(2));
    assert_eq!(docs_now[1].1, docs[1].body);
}

fn files_in(dir: &Path) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
        .expect("payload dir exists")
        .map(|e| {
            let path = e.expect("entry").path();
            let name = path
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read_to_string(&path).expect("read payload"))
        })
        .collect();
    files.sort();
    files
}

fn authenticated_connection(url: &str) -> IndexerConnection {
    IndexerConnection {
        username: "admin".into(),
        password: Password::new(PASSWORD),
        retry: RetryPolicy {
            max_retries: 1,
            backoff_base: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        },
        ..IndexerConnection::new(url)
    }
}

#[test]
fn dry_run_sends_nothing_and_payload_files_are_redacted() {
    let server = OsmemServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let payloads = dir.path().join("payloads");
    let client = IndexerClient::new(authenticated_connection(&server.url)).expect("client");
    let inspector = WriteInspector::new(WriteOptions {
        dry_run: true,
        print_payloads: false,
        payload_dir: Some(payloads.clone()),
    });
    let mut sink = IndexSink::new(client, inspector, "wazuh-anomalies-mvad").expect("sink");
    let report = sink.write(&documents("bf01")).expect("dry run");
    assert_eq!((report.written, report.skipped_dry_run), (0, 3));
    assert!(
        stored(&server, "wazuh-anomalies-mvad").is_none(),
        "dry run created the index"
    );

    let files = files_in(&payloads);
    assert_eq!(files.len(), 1);
    let (name, text) = &files[0];
    assert!(name.ends_with("_bulk_000001.json"), "{name}");
    assert!(
        name.len() == "20251230T101000.000Z_bulk_000001.json".len(),
        "{name}"
    );
    assert!(!text.contains(PASSWORD), "password leaked into {name}");
    let basic = "YWRtaW46czNjcmV0LWh1bnRlcjI="; // base64("admin:s3cret-hunter2")
    assert!(!text.contains(basic), "authorization leaked into {name}");
    let record: Value = serde_json::from_str(text).expect("payload is JSON");
    assert_eq!(record["headers"]["Authorization"], json!("***REDACTED***"));
    assert_eq!(record["method"], json!("POST"));
    assert_eq!(record["target"], json!("/_bulk"));
    assert_eq!(
        record["body"][0],
        json!({"create": {"_index": "wazuh-anomalies-mvad", "_id": "bf01-20251230T100000Z"}})
    );
}

/// One request the protocol fake received.
#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    authorization: Option<String>,
    body: String,
}

/// A protocol-level fake of the OpenSearch endpoints the data-stream sink uses. osmem-server
/// refuses data streams (400), so this fake (std TcpListener + a thread, loopback only)
/// records the requests and answers the way OpenSearch does: `{"acknowledged":true}` for
/// template and policy PUTs, and per-item `_bulk` results (201 the first time an `_id` is
/// created in a stream, 409 version conflict after that).
struct ProtocolFake {
    url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    /// While set, the next `_bulk` answers 429 for its first item (then the flag clears).
    throttle_next_bulk: Arc<AtomicBool>,
}

impl ProtocolFake {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let created = Arc::new(Mutex::new(std::collections::HashSet::<String>::new()));
        let throttle_next_bulk = Arc::new(AtomicBool::new(false));
        let log = Arc::clone(&requests);
        let throttle = Arc::clone(&throttle_next_bulk);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let log = Arc::clone(&log);
                let created = Arc::clone(&created);
                let throttle = Arc::clone(&throttle);
                std::thread::spawn(move || serve(stream, &log, &created, &throttle));
            }
        });
        ProtocolFake {
            url,
            requests,
            throttle_next_bulk,
        }
    }

    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("lock").clone()
    }
}

/// Serves keep-alive HTTP/1.1 requests on one connection until the client closes it.
fn serve(
    stream: TcpStream,
    log: &Mutex<Vec<Recorded>>,
    created: &Mutex<std::collections::HashSet<String>>,
    throttle: &AtomicBool,
) {
    let mut writer = stream.try_clone().expect("clone stream");
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().to_string();
        let mut length = 0usize;
        let mut authorization = None;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    "authorization" => authorization = Some(value.trim().to_string()),
                    _ => {}
                }
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body = String::from_utf8_lossy(&body).into_owned();
        let answer = answer(&method, &path, &body, created, throttle);
        log.lock().expect("lock").push(Recorded {
            method,
            path,
            authorization,
            body,
        });
        let text = answer.to_string();
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{text}",
            text.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

fn answer(
    method: &str,
    path: &str,
    body: &str,
    created: &Mutex<std::collections::HashSet<String>>,
    throttle: &AtomicBool,
) -> Value {
    if method == "POST" && path.starts_with("/_bulk") {
        let throttle_first = throttle.swap(false, Ordering::SeqCst);
        let lines: Vec<Value> = body
            .lines()
            .map(|l| serde_json::from_str(l).expect("bulk line is JSON"))
            .collect();
        let items: Vec<Value> = lines
            .chunks(2)
            .enumerate()
            .map(|(i, pair)| {
                let action = &pair[0]["create"];
                if i == 0 && throttle_first {
                    return json!({"create": {"_index": action["_index"], "_id": action["_id"], "status": 429,
                        "error": {"type": "es_rejected_execution_exception", "reason": "queue full"}}});
                }
                let key = format!("{}/{}", action["_index"], action["_id"]);
                if created.lock().expect("lock").insert(key) {
                    json!({"create": {"_index": action["_index"], "_id": action["_id"], "status": 201, "result": "created"}})
                } else {
                    json!({"create": {"_index": action["_index"], "_id": action["_id"], "status": 409,
                        "error": {"type": "version_conflict_engine_exception", "reason": "document already exists"}}})
                }
            })
            .collect();
        let errors = items.iter().any(|i| i["create"]["status"] != 201);
        json!({"took": 1, "errors": errors, "items": items})
    } else {
        json!({"acknowledged": true})
    }
}

#[test]
fn data_stream_sink_sends_what_opensearch_needs_in_order() {
    let fake = ProtocolFake::start();
    let client = IndexerClient::new(authenticated_connection(&fake.url)).expect("client");
    let features = context("bf01").feature_names;
    let mut sink = DataStreamSink::new(
        client,
        WriteInspector::new(WriteOptions::default()),
        "bf01",
        &features,
        true,
        Some(RolloverPolicy::default()),
    )
    .with_retry(Default::default(), no_wait());
    let docs = documents("bf01");
    let report = sink.write(&docs).expect("ship");
    assert_eq!(report.destination, "sonar_anomalies_mvad_bf01");
    assert_eq!(report.written, 3);
    let again = sink.write(&docs).expect("ship again");
    assert_eq!((again.written, again.already_present), (0, 3));

    let requests = fake.requests();
    let sequence: Vec<(&str, &str)> = requests
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str()))
        .collect();
    assert_eq!(
        sequence,
        [
            ("PUT", "/_component_template/component_template_sonar_mvad"),
            ("PUT", "/_component_template/component_template_sonar_bf01"),
            ("PUT", "/_index_template/sonar_stream_template_mvad_bf01"),
            ("PUT", "/_plugins/_ism/policies/sonar_rollover_policy"),
            ("POST", "/_bulk"),
            ("POST", "/_bulk"),
        ]
    );
    assert!(requests.iter().all(|r| r
        .authorization
        .as_deref()
        .is_some_and(|a| a.starts_with("Basic "))));

    let template: Value = serde_json::from_str(&requests[2].body).expect("template JSON");
    assert_eq!(
        template["index_patterns"],
        json!(["sonar_anomalies_mvad_bf01"])
    );
    assert!(template["data_stream"].is_object(), "{template}");
    assert_eq!(
        template["composed_of"],
        json!([
            "component_template_sonar_mvad",
            "component_template_sonar_bf01"
        ])
    );
    let mvad: Value = serde_json::from_str(&requests[0].body).expect("component JSON");
    let props = &mvad["template"]["mappings"]["properties"];
    for (field, kind) in [
        ("is_anomaly", "boolean"),
        ("anomaly_score", "float"),
        ("scenario_name", "keyword"),
        ("detection_timestamp", "date"),
        ("alert_count", "integer"),
        ("feature_count", "integer"),
        ("mvad_score", "float"),
        ("sliding_window", "integer"),
        ("timestamp", "date"),
    ] {
        assert_eq!(props[field]["type"], json!(kind), "{field}");
    }
    let scenario: Value = serde_json::from_str(&requests[1].body).expect("component JSON");
    assert_eq!(
        scenario["template"]["mappings"]["properties"]["scenario_features"]["properties"]
            ["rule_level"],
        json!({"type": "float"})
    );
    let policy: Value = serde_json::from_str(&requests[3].body).expect("policy JSON");
    assert_eq!(
        policy["policy"]["ism_template"][0]["index_patterns"],
        json!(["sonar_anomalies_mvad_*"])
    );
    let first_line: Value =
        serde_json::from_str(requests[4].body.lines().next().expect("bulk has lines"))
            .expect("action JSON");
    assert_eq!(
        first_line,
        json!({"create": {"_index": "sonar_anomalies_mvad_bf01", "_id": "bf01-20251230T100000Z"}})
    );
}

#[test]
fn a_throttled_bulk_item_is_retried_through_the_indexer_client() {
    let fake = ProtocolFake::start();
    fake.throttle_next_bulk.store(true, Ordering::SeqCst);
    let waits = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&waits);
    let client = IndexerClient::new(authenticated_connection(&fake.url)).expect("client");
    let mut sink = IndexSink::new(
        client,
        WriteInspector::new(WriteOptions::default()),
        "wazuh-anomalies-mvad",
    )
    .expect("sink")
    .with_retry(
        Default::default(),
        Box::new(move |d| recorded.lock().expect("lock").push(d)),
    );
    let report = sink.write(&documents("bf01")).expect("write");
    assert_eq!((report.written, report.retries), (3, 1), "{report:?}");
    assert!(report.is_complete());
    assert_eq!(waits.lock().expect("lock").len(), 1);
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    // The retry carries only the throttled document.
    assert_eq!(requests[1].body.lines().count(), 2);
    assert!(requests[1].body.contains("bf01-20251230T100000Z"));
}

#[test]
fn data_stream_dry_run_with_print_and_payload_dir_sends_nothing() {
    let fake = ProtocolFake::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let client = IndexerClient::new(authenticated_connection(&fake.url)).expect("client");
    let inspector = WriteInspector::new(WriteOptions {
        dry_run: true,
        print_payloads: true,
        payload_dir: Some(dir.path().to_path_buf()),
    })
    .with_output(std::io::sink());
    let mut sink = DataStreamSink::new(client, inspector, "bf01", &[], true, None);
    let report = sink.write(&documents("bf01")).expect("dry run");
    assert_eq!(report.skipped_dry_run, 3);
    assert!(fake.requests().is_empty(), "dry run reached the server");
    let mut names: Vec<String> = files_in(dir.path()).into_iter().map(|(n, _)| n).collect();
    // Order by the request sequence number: two requests in the same millisecond sort by kind
    // in a plain name sort.
    names.sort_by_key(|n| n.rsplit('_').next().unwrap_or_default().to_string());
    let kinds: Vec<&str> = names
        .iter()
        .map(|n| n.split('_').nth(1).unwrap_or_default())
        .collect();
    assert_eq!(
        kinds,
        ["component", "component", "index", "bulk"],
        "{names:?}"
    );
    assert!(names[3].ends_with("_bulk_000004.json"), "{names:?}");
    for (_, text) in files_in(dir.path()) {
        assert!(!text.contains(PASSWORD));
    }
}

/// Against a real cluster: only when `OPENSEARCH_URL` is set (with `OPENSEARCH_USERNAME`,
/// `OPENSEARCH_PASSWORD` and `OPENSEARCH_CA_CERT` as needed). Uses run-unique names and
/// removes what it created.
#[test]
fn real_cluster_index_and_stream_when_configured() {
    let Ok(url) = std::env::var("OPENSEARCH_URL") else {
        println!("note: OPENSEARCH_URL not set; skipping the real-cluster sink test");
        return;
    };
    let mut connection = IndexerConnection::new(url);
    if let Ok(user) = std::env::var("OPENSEARCH_USERNAME") {
        connection.username = user;
    }
    if let Ok(password) = std::env::var("OPENSEARCH_PASSWORD") {
        connection.password = Password::new(password);
    }
    if let Ok(ca) = std::env::var("OPENSEARCH_CA_CERT") {
        connection.ca_cert = Some(ca.into());
    }
    let client = IndexerClient::new(connection).expect("client");
    let run = format!("itest{}", std::process::id());
    let docs = documents(&run);

    let index = format!("sonar-itest-anomalies-{run}");
    for expected_new in [3, 0] {
        let mut sink = IndexSink::new(
            client.clone(),
            WriteInspector::new(WriteOptions::default()),
            index.clone(),
        )
        .expect("sink");
        let report = sink.write(&docs).expect("write");
        assert_eq!(report.written, expected_new, "{report:?}");
        assert_eq!(report.written + report.already_present, 3);
    }

    let mut stream_sink = DataStreamSink::new(
        client.clone(),
        WriteInspector::new(WriteOptions::default()),
        &run,
        &context(&run).feature_names,
        true,
        None,
    );
    let report = stream_sink
        .write(&docs)
        .expect("ship to a real data stream");
    assert_eq!(report.written, 3, "{report:?}");
    let stream = stream_sink.stream().to_string();

    let cleanup = [
        format!("/_data_stream/{stream}"),
        format!("/_index_template/sonar_stream_template_mvad_{run}"),
        format!("/_component_template/component_template_sonar_{run}"),
        format!("/{index}"),
    ];
    for path in cleanup {
        let _ = client.request(reqwest::Method::DELETE, &path, None);
    }
}
