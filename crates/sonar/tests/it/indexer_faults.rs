//! Faults osmem cannot produce on demand (503, 429 with Retry-After, a refused
//! point-in-time), injected by a protocol-level fake: a tiny HTTP/1.1 server on loopback that
//! answers from a script or forwards to a real osmem-server. It is a fake for fault injection
//! only; behaviour against a real server is tested in `indexer.rs`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use sonar::source::indexer::{
    IndexerClient, IndexerConnection, IndexerSource, Method, Password, RequestBody, RetryPolicy,
    WriteDecision, WriteRequest,
};
use sonar::source::{AlertQuery, AlertSource, TimeRange};
use sonar::Error;

use crate::osmem::OsmemServer;

/// One request the fake received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    body: String,
    authorization: Option<String>,
}

/// What the fake does with a request.
enum Reply {
    /// Answer with this status, extra headers and body.
    Answer(u16, Vec<(&'static str, String)>, String),
    /// Forward to this base URL and relay the answer.
    Forward(String),
    /// Answer 200 with this body, but only after this long (a slow server).
    Slow(Duration, String),
}

type Script = dyn Fn(usize, &Seen) -> Reply + Send + Sync;

struct FakeServer {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeServer {
    /// Starts the fake; `script(n, request)` decides the answer to the n-th request (0-based).
    fn start(script: impl Fn(usize, &Seen) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let script: Arc<Script> = Arc::new(script);
        std::thread::spawn(move || {
            let forwarder = reqwest::blocking::Client::new();
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let Some(request) = read_request(&stream) else {
                    continue;
                };
                let n = {
                    let mut log = log.lock().expect("log");
                    log.push(request.clone());
                    log.len() - 1
                };
                let (status, headers, body) = match script(n, &request) {
                    Reply::Answer(status, headers, body) => (status, headers, body),
                    Reply::Slow(delay, body) => {
                        // Answered from its own thread, so the retry is served meanwhile.
                        std::thread::spawn(move || {
                            std::thread::sleep(delay);
                            write_response(stream, 200, &[], &body);
                        });
                        continue;
                    }
                    Reply::Forward(base) => {
                        let method =
                            reqwest::Method::from_bytes(request.method.as_bytes()).expect("method");
                        let response = forwarder
                            .request(method, format!("{base}{}", request.path))
                            .header("content-type", "application/json")
                            .body(request.body.clone())
                            .send()
                            .expect("forward to osmem");
                        let status = response.status().as_u16();
                        (status, Vec::new(), response.text().expect("forwarded body"))
                    }
                };
                write_response(stream, status, &headers, &body);
            }
        });
        Self { url, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("log").clone()
    }
}

fn read_request(stream: &TcpStream) -> Option<Seen> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut length = 0;
    let mut authorization = None;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "authorization" => authorization = Some(value.trim().to_owned()),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Seen {
        method,
        path,
        body: String::from_utf8_lossy(&body).into_owned(),
        authorization,
    })
}

fn write_response(mut stream: TcpStream, status: u16, headers: &[(&str, String)], body: &str) {
    let mut head = format!(
        "HTTP/1.1 {status} Fake\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
}

/// A client for `url` whose sleeps are recorded, not slept.
fn recording_client(url: &str, max_retries: u32) -> (IndexerClient, Arc<Mutex<Vec<Duration>>>) {
    let sleeps = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&sleeps);
    let connection = IndexerConnection {
        retry: RetryPolicy {
            max_retries,
            backoff_base: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        },
        username: "sonar".to_owned(),
        password: Password::new("s3cret-pw"),
        ..IndexerConnection::new(url)
    };
    let client = IndexerClient::new(connection)
        .expect("client")
        .with_sleeper(Arc::new(move |d: Duration| {
            record.lock().expect("sleeps").push(d)
        }));
    (client, sleeps)
}

fn unavailable() -> Reply {
    Reply::Answer(
        503,
        Vec::new(),
        r#"{"error":{"type":"unavailable","reason":"busy"},"status":503}"#.to_owned(),
    )
}

#[test]
fn retries_503_with_growing_jittered_backoff_then_succeeds() {
    let fake = FakeServer::start(|n, _| match n {
        0 | 1 => unavailable(),
        _ => Reply::Answer(200, Vec::new(), r#"{"ok":true}"#.to_owned()),
    });
    let (client, sleeps) = recording_client(&fake.url, 3);
    let response = client
        .request(Method::GET, "/_cluster/health", None)
        .expect("third attempt succeeds");
    assert_eq!(response.json::<Value>().expect("json"), json!({"ok": true}));
    assert_eq!(fake.seen().len(), 3);
    let sleeps = sleeps.lock().expect("sleeps").clone();
    assert_eq!(sleeps.len(), 2);
    assert!(
        sleeps[0] >= Duration::from_millis(100) && sleeps[0] <= Duration::from_millis(200),
        "{sleeps:?}"
    );
    assert!(
        sleeps[1] >= Duration::from_millis(200) && sleeps[1] <= Duration::from_millis(400),
        "{sleeps:?}"
    );
    // Basic auth is sent on every attempt.
    assert!(fake.seen().iter().all(|s| s
        .authorization
        .as_deref()
        .is_some_and(|a| a.starts_with("Basic "))));
}

#[test]
fn honours_retry_after_on_429() {
    let fake = FakeServer::start(|n, _| match n {
        0 => Reply::Answer(429, vec![("retry-after", "3".to_owned())], "{}".to_owned()),
        _ => Reply::Answer(200, Vec::new(), "{}".to_owned()),
    });
    let (client, sleeps) = recording_client(&fake.url, 3);
    client
        .request(Method::GET, "/", None)
        .expect("second attempt");
    assert_eq!(
        *sleeps.lock().expect("sleeps"),
        vec![Duration::from_secs(3)]
    );
}

#[test]
fn gives_up_after_max_retries_with_the_status() {
    let fake = FakeServer::start(|_, _| unavailable());
    let (client, sleeps) = recording_client(&fake.url, 2);
    let error = client
        .request(Method::POST, "/wazuh-alerts-*/_search", None)
        .expect_err("always 503");
    assert!(
        matches!(
            &error,
            Error::IndexerHttp {
                status: 503,
                attempts: 3,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(fake.seen().len(), 3);
    assert_eq!(sleeps.lock().expect("sleeps").len(), 2);
}

#[test]
fn does_not_retry_4xx_and_never_leaks_the_password() {
    let fake = FakeServer::start(|_, _| {
        Reply::Answer(
            401,
            Vec::new(),
            r#"{"error":{"type":"security_exception","reason":"unauthorized"},"status":401}"#
                .to_owned(),
        )
    });
    let (client, sleeps) = recording_client(&fake.url, 3);
    let error = client
        .request(Method::GET, "/wazuh-alerts-4.x-*/_search", None)
        .expect_err("401");
    match &error {
        Error::IndexerHttp {
            status,
            path,
            reason,
            attempts,
            ..
        } => {
            assert_eq!((*status, *attempts), (401, 1));
            assert_eq!(path, "/wazuh-alerts-4.x-*/_search");
            assert!(reason.contains("unauthorized"), "{reason}");
        }
        other => panic!("expected IndexerHttp, got {other:?}"),
    }
    assert_eq!(fake.seen().len(), 1);
    assert!(sleeps.lock().expect("sleeps").is_empty());
    for text in [
        error.to_string(),
        format!("{error:?}"),
        format!("{client:?}"),
    ] {
        assert!(!text.contains("s3cret-pw"), "password leaked: {text}");
    }
    let check = client.check().expect_err("401 at check");
    assert!(check.to_string().contains("authentication"), "{check}");
    assert!(!format!("{check} {check:?}").contains("s3cret-pw"));
}

#[test]
fn connection_refused_is_retried_then_reported() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let (client, sleeps) = recording_client(&format!("http://127.0.0.1:{port}"), 2);
    let error = client.request(Method::GET, "/", None).expect_err("refused");
    assert!(
        matches!(&error, Error::IndexerUnreachable { attempts: 3, .. }),
        "{error:?}"
    );
    assert_eq!(sleeps.lock().expect("sleeps").len(), 2);
}

#[test]
fn write_observer_sees_every_write_and_can_withhold_it() {
    let fake = FakeServer::start(|_, _| Reply::Answer(200, Vec::new(), "{}".to_owned()));
    let observed: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&observed);
    let dry_run = Arc::new(Mutex::new(true));
    let dry = Arc::clone(&dry_run);
    let (client, _) = recording_client(&fake.url, 0);
    let client = client.with_write_observer(Arc::new(
        move |request: &WriteRequest<'_>| -> Result<WriteDecision, Error> {
            let body = request.body.map(|b| b.text()).unwrap_or_default();
            log.lock()
                .expect("log")
                .push(format!("{} {} {body}", request.method, request.path));
            Ok(if *dry.lock().expect("flag") {
                WriteDecision::Withhold
            } else {
                WriteDecision::Send
            })
        },
    ));
    let body = RequestBody::ndjson(&[json!({"index": {"_index": "a"}}), json!({"x": 1})]);
    let withheld = client
        .write(Method::POST, "/_bulk", Some(&body))
        .expect("dry run");
    assert!(withheld.is_none());
    assert!(fake.seen().is_empty(), "a withheld write is not sent");
    *dry_run.lock().expect("flag") = false;
    let sent = client
        .write(Method::POST, "/_bulk", Some(&body))
        .expect("sent");
    assert_eq!(sent.map(|r| r.status), Some(200));
    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body, "{\"index\":{\"_index\":\"a\"}}\n{\"x\":1}\n");
    // Reads do not go through the observer.
    client.request(Method::GET, "/", None).expect("read");
    assert_eq!(observed.lock().expect("log").len(), 2);
    assert!(observed.lock().expect("log")[0].starts_with("POST /_bulk {\"index\""));
}

#[test]
fn falls_back_to_search_after_without_pit_when_the_server_refuses_it() {
    let server = OsmemServer::start();
    let start = chrono::DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
        .expect("date")
        .with_timezone(&chrono::Utc);
    let docs: Vec<Value> = (0..25)
        .map(|n| {
            json!({
                "timestamp": (start + chrono::Duration::seconds(n / 2)).to_rfc3339(),
                "seq": n,
            })
        })
        .collect();
    server.bulk_index("wazuh-alerts-4.x-2024.01.01", &docs);
    let upstream = server.url.clone();
    let fake = FakeServer::start(move |_, request| {
        if request.path.contains("point_in_time") {
            Reply::Answer(
                405,
                Vec::new(),
                r#"{"error":"Incorrect HTTP method for uri","status":405}"#.to_owned(),
            )
        } else {
            Reply::Forward(upstream.clone())
        }
    });
    let (client, _) = recording_client(&fake.url, 0);
    let mut source = IndexerSource::new(client, "wazuh-alerts-4.x-*").with_page_size(4);
    let query = AlertQuery {
        range: TimeRange {
            start,
            end: start + chrono::Duration::hours(1),
        },
        timestamp_field: "timestamp".to_owned(),
        fields: Vec::new(),
        alert_filter: None,
    };
    for _ in 0..2 {
        let mut seqs = Vec::new();
        let stats = source
            .stream(&query, &mut |page| {
                seqs.extend(page.iter().map(|a| a["seq"].as_i64().expect("seq")));
                Ok(())
            })
            .expect("fallback search");
        let mut sorted = seqs.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..25).collect::<Vec<_>>(), "each alert once");
        assert_eq!(stats.pages, 7);
    }
    let pit_attempts = fake
        .seen()
        .iter()
        .filter(|s| s.path.contains("point_in_time"))
        .count();
    assert_eq!(pit_attempts, 1, "the refusal is remembered");
}

/// [`recording_client`] with a request timeout of `timeout`.
fn impatient_client(
    url: &str,
    max_retries: u32,
    timeout: Duration,
) -> (IndexerClient, Arc<Mutex<Vec<Duration>>>) {
    let (client, sleeps) = recording_client(url, max_retries);
    let record = Arc::clone(&sleeps);
    let connection = IndexerConnection {
        timeout,
        ..client.connection().clone()
    };
    let client = IndexerClient::new(connection)
        .expect("client")
        .with_sleeper(Arc::new(move |d: Duration| {
            record.lock().expect("sleeps").push(d)
        }));
    (client, sleeps)
}

#[test]
fn a_slow_server_times_out_and_the_request_is_retried() {
    let fake = FakeServer::start(|n, _| match n {
        0 | 1 => Reply::Slow(Duration::from_secs(3), r#"{"late":true}"#.to_owned()),
        _ => Reply::Answer(200, Vec::new(), r#"{"late":false}"#.to_owned()),
    });
    let (client, sleeps) = impatient_client(&fake.url, 3, Duration::from_millis(300));
    let started = std::time::Instant::now();
    let response = client
        .request(Method::GET, "/_cluster/health", None)
        .expect("the third attempt is fast");
    assert_eq!(
        response.json::<Value>().expect("json"),
        json!({"late": false})
    );
    assert_eq!(fake.seen().len(), 3);
    assert_eq!(sleeps.lock().expect("sleeps").len(), 2, "two backoffs");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the timeout did not fire: {:?}",
        started.elapsed()
    );

    // Always slow: every attempt times out, and the error says so.
    let fake = FakeServer::start(|_, _| Reply::Slow(Duration::from_secs(3), "{}".to_owned()));
    let (client, sleeps) = impatient_client(&fake.url, 1, Duration::from_millis(200));
    let error = client
        .request(Method::GET, "/", None)
        .expect_err("always slow");
    match &error {
        Error::IndexerUnreachable {
            attempts, detail, ..
        } => {
            assert_eq!(*attempts, 2);
            assert!(detail.contains("timed out"), "{detail}");
        }
        other => panic!("expected IndexerUnreachable, got {other:?}"),
    }
    assert_eq!(sleeps.lock().expect("sleeps").len(), 1);
}
