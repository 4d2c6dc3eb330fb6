//! Starts `osmem-server` (an in-memory implementation of the OpenSearch 3.8 REST API, see
//! docs/reliability.md) on a free loopback port for one test, and kills it when the handle is
//! dropped. Each test gets its own server, so tests run in parallel without sharing indices.
//!
//! What osmem 0.1.6 supports, as explored with curl for this harness: `_bulk` (with
//! `refresh`), dynamic mappings (Wazuh's `+0000` timestamps map to `date`), `_search` with
//! `sort`, `search_after`, `_source` filtering and `bool` queries, point-in-time
//! (`POST /<index>/_search/point_in_time`, `DELETE /_search/point_in_time`,
//! `GET /_search/point_in_time/_all`) with the `_shard_doc` tiebreaker, `_resolve/index`,
//! `_cluster/health`, and OpenSearch's error JSON (404 `index_not_found_exception`, 400
//! `parsing_exception` with `root_cause`). What it refuses or does differently: data streams
//! (400); `format` inside a field sort (400); a point-in-time on a wildcard matching no index
//! answers 400 "invalid id: [null]" rather than 404 (the source checks `_resolve/index`
//! first, so the test does not depend on this); deleting an unknown PIT still reports
//! success.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sonar::source::indexer::{IndexerClient, IndexerConnection, RetryPolicy};

/// One running osmem-server.
pub struct OsmemServer {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    http: reqwest::blocking::Client,
}

/// The osmem-server binary: `SONAR_OSMEM_BIN`, else the installed Python package's.
fn binary() -> String {
    if let Ok(path) = std::env::var("SONAR_OSMEM_BIN") {
        if !path.is_empty() {
            return path;
        }
    }
    let output = Command::new("python3")
        .args([
            "-c",
            "import osmem_server; print(osmem_server.resolve_binary())",
        ])
        .output();
    match output {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        _ => panic!(
            "osmem-server not found: run scripts/test.sh (it installs osmem-server==0.1.6 and \
             sets SONAR_OSMEM_BIN), or `python3 -m pip install osmem-server==0.1.6`"
        ),
    }
}

impl OsmemServer {
    /// Starts a fresh server on a free loopback port and waits until it answers.
    pub fn start() -> Self {
        // Port 0: the server picks a free port and prints its URL as the first line.
        Self::start_at("127.0.0.1:0")
    }

    /// Starts a fresh (empty) server listening on `addr` (e.g. the address of a server that
    /// was stopped, to simulate a restart) and waits until it answers.
    pub fn start_at(addr: &str) -> Self {
        let bin = binary();
        let mut child = Command::new(&bin)
            .args(["-addr", addr, "-no-ja", "-no-stdin-watch"])
            .args(["-parent-pid", &std::process::id().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start osmem-server `{bin}` ({e}): run scripts/test.sh")
            });
        let stdout = child.stdout.take().expect("stdout is piped");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let line = match receiver.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("osmem-server printed no startup line within 30 s")
            }
        };
        let banner: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("osmem-server startup line {line:?}: {e}"));
        let url = banner["url"]
            .as_str()
            .expect("startup line has url")
            .to_owned();
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "osmem must listen on loopback, got {url}"
        );
        let server = Self {
            child,
            url,
            http: reqwest::blocking::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match server.http.get(&server.url).send() {
                Ok(r) if r.status().is_success() => break,
                _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                other => panic!("osmem-server at {} does not answer: {other:?}", server.url),
            }
        }
        server
    }

    /// A client for this server, with fast retries.
    pub fn client(&self) -> IndexerClient {
        IndexerClient::new(self.connection()).expect("client for osmem")
    }

    /// The connection settings for this server.
    pub fn connection(&self) -> IndexerConnection {
        IndexerConnection {
            retry: RetryPolicy {
                max_retries: 2,
                backoff_base: Duration::from_millis(10),
                max_delay: Duration::from_millis(100),
            },
            ..IndexerConnection::new(self.url.clone())
        }
    }

    /// Installs Wazuh's own 4.x index template (`tests/data/wazuh_template`), so alerts indexed
    /// afterwards into `wazuh-alerts-4.x-*` get the field mappings a real Wazuh indexer gives
    /// them (`keyword` host names and rule groups, `long` levels, `date` timestamps).
    pub fn install_wazuh_template(&self) {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../sonar/tests/data/wazuh_template/wazuh-template-4.x.json"
        );
        let body = std::fs::read_to_string(path).expect("the Wazuh template test file");
        let response = self
            .http
            .put(format!("{}/_template/wazuh", self.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .expect("template request");
        let status = response.status();
        assert!(
            status.is_success(),
            "PUT _template/wazuh: {status} {}",
            response.text().unwrap_or_default()
        );
    }

    /// Indexes `docs` into `index` through `_bulk` (in chunks), then refreshes.
    pub fn bulk_index(&self, index: &str, docs: &[Value]) {
        for chunk in docs.chunks(5000) {
            let mut body = String::new();
            for doc in chunk {
                body.push_str(&json!({"index": {"_index": index}}).to_string());
                body.push('\n');
                body.push_str(&doc.to_string());
                body.push('\n');
            }
            let response: Value = self
                .http
                .post(format!("{}/_bulk", self.url))
                .header("content-type", "application/x-ndjson")
                .body(body)
                .send()
                .expect("bulk request")
                .json()
                .expect("bulk response");
            assert_eq!(response["errors"], json!(false), "bulk errors: {response}");
        }
        let status = self
            .http
            .post(format!("{}/{index}/_refresh", self.url))
            .send()
            .expect("refresh")
            .status();
        assert!(status.is_success(), "refresh: {status}");
    }

    /// How many points-in-time the server holds open.
    pub fn open_pits(&self) -> usize {
        let body: Value = self
            .http
            .get(format!("{}/_search/point_in_time/_all", self.url))
            .send()
            .expect("list PITs")
            .json()
            .expect("PIT list JSON");
        body["pits"].as_array().map_or(0, Vec::len)
    }
}

impl Drop for OsmemServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
