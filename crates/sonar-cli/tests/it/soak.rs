//! The realtime soak of a per-entity scenario (docs/entities.md "Realtime"): 50 hosts, 300
//! polls on an injected clock (`--now`, simulated sleeps), through a fault-injecting proxy of
//! our own on loopback in front of osmem-server: connections dropped before an answer, 429
//! and 503 answers (some after the server already carried the request out), slow answers, and
//! an osmem-server restart half way. Every (host, bucket) is written exactly once, and the
//! documents are those of one historical run over the same span.
//!
//! The proxy is a protocol fake only in the faults it injects; every request it lets through
//! is answered by the real server.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Value};

use super::entities::{assert_same_documents, comparable, poll_spans, scenario_copy};
use super::osmem::OsmemServer;
use super::{sonar, text};

/// What the proxy did, by kind.
#[derive(Default)]
struct Faults {
    passed: AtomicU64,
    dropped: AtomicU64,
    too_many: AtomicU64,
    unavailable: AtomicU64,
    lost_answer: AtomicU64,
    slow: AtomicU64,
}

/// A proxy on a free loopback port in front of `upstream` (`127.0.0.1:PORT`). Request n (in
/// arrival order) meets fault `n % 23`: 3 its connection is closed unanswered, 7 a 429, 11 a
/// 503, 15 a 503 after the server carried it out (a lost answer), 19 a 300 ms delay; the
/// others pass. Each request gets its own connection (`Connection: close`).
struct FaultProxy {
    url: String,
    faults: Arc<Faults>,
    stop: Arc<AtomicBool>,
}

impl FaultProxy {
    fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy port");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let faults = Arc::new(Faults::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (f, s) = (faults.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            for client in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                n += 1;
                let (f, upstream) = (f.clone(), upstream.clone());
                std::thread::spawn(move || serve(client, &upstream, n, &f));
            }
        });
        Self { url, faults, stop }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
    }
}

/// One request: read it whole, then pass it on or inject its fault.
fn serve(mut client: TcpStream, upstream: &str, n: u64, faults: &Faults) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(30)));
    let Some(request) = read_request(&mut client) else {
        return;
    };
    let answer = |client: &mut TcpStream, status: &str| {
        let _ = client.write_all(
            format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .as_bytes(),
        );
    };
    match n % 23 {
        3 => {
            faults.dropped.fetch_add(1, Ordering::SeqCst);
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        7 => {
            faults.too_many.fetch_add(1, Ordering::SeqCst);
            answer(&mut client, "429 Too Many Requests");
            return;
        }
        11 => {
            faults.unavailable.fetch_add(1, Ordering::SeqCst);
            answer(&mut client, "503 Service Unavailable");
            return;
        }
        19 => {
            faults.slow.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(300));
        }
        _ => {}
    }
    let Ok(mut server) = TcpStream::connect(upstream) else {
        // The server is down (a restart): as a dropped connection.
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let _ = server.set_read_timeout(Some(Duration::from_secs(60)));
    let mut response = Vec::new();
    if server.write_all(&request).is_err() || server.read_to_end(&mut response).is_err() {
        let _ = client.shutdown(Shutdown::Both);
        return;
    }
    if n % 23 == 15 {
        faults.lost_answer.fetch_add(1, Ordering::SeqCst);
        answer(&mut client, "503 Service Unavailable");
        return;
    }
    faults.passed.fetch_add(1, Ordering::SeqCst);
    let _ = client.write_all(&response);
    let _ = client.shutdown(Shutdown::Both);
}

/// The request's head (with `Connection: close` in place of any connection header) and its
/// `Content-Length` body; `None` when the client went away first.
fn read_request(client: &mut TcpStream) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let read = client.read(&mut buffer).ok().filter(|&r| r > 0)?;
        data.extend_from_slice(&buffer[..read]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut length = 0usize;
    let mut lines: Vec<&str> = Vec::new();
    for line in head.split("\r\n") {
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            length = value.trim().parse().ok()?;
        }
        if !lower.starts_with("connection:") {
            lines.push(line);
        }
    }
    let mut body = data[head_end + 4..].to_vec();
    while body.len() < length {
        let read = client.read(&mut buffer).ok().filter(|&r| r > 0)?;
        body.extend_from_slice(&buffer[..read]);
    }
    let mut request = lines.join("\r\n").into_bytes();
    request.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    request.extend_from_slice(&body);
    Some(request)
}

const HOSTS: usize = 50;

/// Authentication alerts of 50 hosts from `start` for `hours`: 0–2 per host and 5-minute
/// bucket, and bursts of failed logins (40 in each of two buckets) at three hosts at three
/// times after `attacks_from`.
fn alerts(start: DateTime<Utc>, hours: i64, attacks_from: DateTime<Utc>) -> Vec<Value> {
    let mut docs = Vec::new();
    let buckets = hours * 12;
    for host in 0..HOSTS {
        for b in 0..buckets {
            let at = start + TimeDelta::minutes(5 * b);
            let count = (host * 7 + b as usize * 13) % 3;
            for i in 0..count {
                let failed = !(host + b as usize + i).is_multiple_of(4);
                docs.push(alert(
                    host,
                    at + TimeDelta::seconds(60 * i as i64 + 7),
                    failed,
                    5,
                ));
            }
        }
    }
    for (host, hour) in [(3, 4), (17, 12), (42, 20)] {
        let at = attacks_from + TimeDelta::hours(hour);
        for i in 0..80 {
            docs.push(alert(host, at + TimeDelta::seconds(7 * i), true, 10));
        }
    }
    docs
}

fn alert(host: usize, at: DateTime<Utc>, failed: bool, level: u32) -> Value {
    let groups = if failed {
        json!(["syslog", "sshd", "authentication_failed"])
    } else {
        json!(["syslog", "sshd", "authentication_success"])
    };
    json!({
        "timestamp": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "agent": {"name": format!("host-{host:02}")},
        "rule": {"level": level, "groups": groups},
    })
}

fn load(server: &OsmemServer, docs: &[Value]) {
    server.install_wazuh_template();
    for chunk in docs.chunks(10_000) {
        server.bulk_index("wazuh-alerts-4.x-2024.06", chunk);
    }
}

#[test]
fn realtime_soak_of_fifty_hosts_through_faults_and_a_restart_writes_each_bucket_once() {
    let train_start: DateTime<Utc> = "2024-06-01T00:00:00Z".parse().expect("time");
    let detect_start = train_start + TimeDelta::days(1);
    // 300 polls of 5 minutes after the first poll's hour: 26 hours of detection data.
    let docs = alerts(train_start, 24 + 26, detect_start);
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .to_string();
    let server = OsmemServer::start_at(&addr);
    load(&server, &docs);
    let proxy = FaultProxy::start(addr.clone());

    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = scenario_copy(
        dir.path(),
        &[
            (
                "scoring: {smooth_rows: 1}",
                "scoring: {smooth_rows: 1}\n    epochs: 2",
            ),
            ("min_samples: 500", "min_samples: 200"),
        ],
    );
    let live = super::indexer_e2e::config(dir.path(), &proxy.url, "anomalies-soak");
    let direct = super::indexer_e2e::config(dir.path(), &server.url, "anomalies-once");
    let run = |config: &str, args: &[&str]| {
        let mut all = vec![args[0], "--scenario", &scenario, "--config", config];
        all.extend_from_slice(&args[1..]);
        let out = sonar(dir.path(), &all);
        let log = text(&out);
        assert_eq!(out.status.code(), Some(0), "{all:?}\n{log}");
        log
    };
    let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let log = run(
        &live,
        &[
            "train",
            "--start",
            &stamp(train_start),
            "--end",
            &stamp(detect_start),
        ],
    );
    assert!(log.contains(&format!("{HOSTS} entities")), "{log}");

    // 150 polls, a server restart (alerts loaded again, anomalies kept aside), 150 more.
    let first_now = detect_start + TimeDelta::minutes(61);
    let realtime = |now: DateTime<Utc>| {
        run(
            &live,
            &[
                "detect",
                "--mode",
                "realtime",
                "--now",
                &stamp(now),
                "--max-polls",
                "150",
            ],
        )
    };
    let first = realtime(first_now);
    let before = comparable(&server.url, "anomalies-soak");
    drop(server);
    let server = OsmemServer::start_at(&addr);
    load(&server, &docs);
    let second = realtime(first_now + TimeDelta::minutes(5 * 150));
    let after = comparable(&server.url, "anomalies-soak");

    let faults = &proxy.faults;
    for (kind, count) in [
        ("dropped", &faults.dropped),
        ("429", &faults.too_many),
        ("503", &faults.unavailable),
        ("lost answer", &faults.lost_answer),
        ("slow", &faults.slow),
    ] {
        assert!(
            count.load(Ordering::SeqCst) > 0,
            "no {kind} fault was injected"
        );
    }

    // Every host's polls tile one span without gap or overlap.
    let (spans, written) = poll_spans(&[&first, &second]);
    assert_eq!(spans.len(), HOSTS, "every host is polled");
    let (from, to) = {
        let polls = &spans["host-00"];
        (polls[0].0.clone(), polls[polls.len() - 1].1.clone())
    };
    for (host, polls) in &spans {
        assert_eq!(polls[0].0, from, "{host}");
        assert_eq!(polls[polls.len() - 1].1, to, "{host}");
    }
    let end: DateTime<Utc> = to.parse().expect("time");
    assert!(
        end >= first_now + TimeDelta::hours(24),
        "the polls reached {to}"
    );

    // Exactly once: nothing written before the restart was written again after it, and the
    // polls' own counts add up to the documents.
    assert!(
        before.keys().all(|id| !after.contains_key(id)),
        "a bucket written twice"
    );
    assert_eq!(written, (before.len() + after.len()) as u64);
    let mut soaked = before;
    soaked.extend(after);

    // One historical run over the same span, straight to the server.
    run(&direct, &["detect", "--start", &from, "--end", &to]);
    let once = comparable(&server.url, "anomalies-once");
    assert!(
        once.len() >= 6,
        "the three bursts give documents: {}",
        once.len()
    );
    assert_same_documents(&soaked, &once);
}
