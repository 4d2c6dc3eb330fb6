//! The indexer alert source and connection check against a real osmem-server process.

use chrono::{DateTime, Duration as Span, TimeZone, Utc};
use serde_json::{json, Value};
use sonar::source::indexer::{CheckStep, IndexerClient, IndexerConnection, IndexerSource};
use sonar::source::{Alert, AlertQuery, AlertSource, StreamStats, TimeRange};
use sonar::Error;

use crate::osmem::OsmemServer;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("test timestamp")
        .with_timezone(&Utc)
}

fn query(start: &str, end: &str) -> AlertQuery {
    AlertQuery {
        range: TimeRange {
            start: at(start),
            end: at(end),
        },
        timestamp_field: "timestamp".to_owned(),
        fields: Vec::new(),
        alert_filter: None,
    }
}

/// A Wazuh-shaped alert; the timestamp in Wazuh's own `+0000` form.
fn alert(n: usize, when: DateTime<Utc>) -> Value {
    json!({
        "timestamp": when.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string(),
        "seq": n,
        "rule": {"level": 3 + (n % 8), "id": format!("{}", 5500 + n % 7), "groups": ["syslog"]},
        "agent": {"id": format!("{:03}", n % 4), "name": format!("agent-{}", n % 4)},
        "manager": {"name": "wazuh-manager"},
        "data": {"srcip": format!("10.0.0.{}", n % 250)},
        "location": "/var/log/auth.log",
    })
}

/// Streams `query` and returns every alert, the page sizes and the stats.
fn collect(
    source: &mut IndexerSource,
    query: &AlertQuery,
) -> Result<(Vec<Alert>, Vec<usize>, StreamStats), Error> {
    let mut alerts = Vec::new();
    let mut pages = Vec::new();
    let stats = source.stream(query, &mut |page| {
        pages.push(page.len());
        alerts.extend(page);
        Ok(())
    })?;
    Ok((alerts, pages, stats))
}

fn seqs(alerts: &[Alert]) -> Vec<u64> {
    alerts
        .iter()
        .map(|a| a["seq"].as_u64().expect("seq"))
        .collect()
}

#[test]
fn pages_more_than_ten_thousand_alerts_in_order_and_closes_the_pit() {
    let server = OsmemServer::start();
    let start = Utc
        .with_ymd_and_hms(2024, 3, 1, 0, 0, 0)
        .single()
        .expect("date");
    // Three alerts share each second, so the tiebreaker decides the order within a second.
    let total = 12_345;
    let docs: Vec<Value> = (0..total)
        .map(|n| alert(n, start + Span::seconds((n / 3) as i64)))
        .collect();
    server.bulk_index("wazuh-alerts-4.x-2024.03.01", &docs);

    let mut source = IndexerSource::new(server.client(), "wazuh-alerts-4.x-*").with_page_size(1000);
    let (alerts, pages, stats) = collect(
        &mut source,
        &query("2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z"),
    )
    .expect("search");

    assert_eq!(alerts.len(), total, "every alert, no 10,000 cap");
    assert_eq!(
        seqs(&alerts),
        (0..total as u64).collect::<Vec<_>>(),
        "oldest first, each alert exactly once"
    );
    assert!(pages.iter().all(|&p| p <= 1000), "pages {pages:?}");
    assert_eq!(pages.len(), 13);
    assert_eq!(stats.alerts, total as u64);
    assert_eq!(stats.skipped, 0);
    assert_eq!(server.open_pits(), 0, "the point-in-time is closed");
}

#[test]
fn range_includes_start_and_excludes_end() {
    let server = OsmemServer::start();
    let times = [
        "2024-05-01T09:59:59.999Z",
        "2024-05-01T10:00:00Z",
        "2024-05-01T10:00:59.999Z",
        "2024-05-01T10:01:00Z",
        "2024-05-01T10:02:00Z",
    ];
    let docs: Vec<Value> = times
        .iter()
        .enumerate()
        .map(|(n, t)| alert(n, at(t)))
        .collect();
    server.bulk_index("wazuh-alerts-4.x-2024.05.01", &docs);
    let mut source = IndexerSource::new(server.client(), "wazuh-alerts-4.x-*");

    let check = |source: &mut IndexerSource, start: &str, end: &str, expected: &[u64]| {
        let (alerts, _, _) = collect(source, &query(start, end)).expect("search");
        assert_eq!(seqs(&alerts), expected, "[{start}, {end})");
    };
    check(
        &mut source,
        "2024-05-01T10:00:00Z",
        "2024-05-01T10:01:00Z",
        &[1, 2],
    );
    check(
        &mut source,
        "2024-05-01T10:01:00Z",
        "2024-05-01T10:02:00Z",
        &[3],
    );
    check(
        &mut source,
        "2024-05-01T00:00:00Z",
        "2024-05-02T00:00:00Z",
        &[0, 1, 2, 3, 4],
    );
    check(
        &mut source,
        "2024-05-01T11:00:00Z",
        "2024-05-01T12:00:00Z",
        &[],
    );
    assert_eq!(server.open_pits(), 0);
}

#[test]
fn alert_filter_goes_in_bool_must_and_source_is_limited_to_fields() {
    let server = OsmemServer::start();
    let start = at("2024-06-01T00:00:00Z");
    let docs: Vec<Value> = (0..40)
        .map(|n| alert(n, start + Span::seconds(n as i64)))
        .collect();
    server.bulk_index("wazuh-alerts-4.x-2024.06.01", &docs);
    let mut source = IndexerSource::new(server.client(), "wazuh-alerts-4.x-*").with_page_size(7);

    let mut filtered = query("2024-06-01T00:00:00Z", "2024-06-02T00:00:00Z");
    filtered.alert_filter = Some(json!({"term": {"agent.id.keyword": "002"}}));
    let (alerts, _, _) = collect(&mut source, &filtered).expect("filtered search");
    let expected: Vec<u64> = (0..40).filter(|n| n % 4 == 2).collect();
    assert_eq!(seqs(&alerts), expected);

    let mut limited = query("2024-06-01T00:00:00Z", "2024-06-02T00:00:00Z");
    limited.fields = vec!["rule.level".to_owned(), "seq".to_owned()];
    let (alerts, _, _) = collect(&mut source, &limited).expect("limited search");
    assert_eq!(alerts.len(), 40);
    for alert in &alerts {
        let mut keys: Vec<&str> = alert.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["rule", "seq", "timestamp"], "{alert:?}");
        assert_eq!(alert["rule"].as_object().map(|r| r.len()), Some(1));
    }
    assert_eq!(server.open_pits(), 0);
}

#[test]
fn missing_index_is_a_clear_error_naming_the_pattern() {
    let server = OsmemServer::start();
    server.bulk_index(
        "wazuh-alerts-4.x-2024.01.01",
        &[alert(0, at("2024-01-01T00:00:00Z"))],
    );
    for pattern in ["wazuh-alerts-5.x-*", "wazuh-alerts-4.x-1999.01.01"] {
        let mut source = IndexerSource::new(server.client(), pattern);
        let error = collect(
            &mut source,
            &query("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"),
        )
        .expect_err("no such index");
        assert!(
            matches!(&error, Error::IndexNotFound { pattern: p } if p == pattern),
            "{error:?}"
        );
        assert!(error.to_string().contains(pattern), "{error}");
    }
    assert_eq!(server.open_pits(), 0);
}

#[test]
fn bad_filter_gives_the_400_with_the_server_reason_and_closes_the_pit() {
    let server = OsmemServer::start();
    server.bulk_index(
        "wazuh-alerts-4.x-2024.01.01",
        &[alert(0, at("2024-01-01T00:00:00Z"))],
    );
    let mut source = IndexerSource::new(server.client(), "wazuh-alerts-4.x-*");
    let mut bad = query("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z");
    bad.alert_filter = Some(json!({"frobnicate": {"rule.level": 3}}));
    let error = collect(&mut source, &bad).expect_err("bad filter");
    match &error {
        Error::IndexerHttp {
            status,
            reason,
            attempts,
            ..
        } => {
            assert_eq!(*status, 400);
            assert_eq!(*attempts, 1, "a 400 is not retried");
            assert!(reason.contains("unknown query [frobnicate]"), "{reason}");
        }
        other => panic!("expected IndexerHttp, got {other:?}"),
    }
    assert!(error.to_string().contains("frobnicate"), "{error}");
    assert_eq!(server.open_pits(), 0, "the PIT is closed on error too");
}

#[test]
fn consumer_error_stops_the_stream_and_closes_the_pit() {
    let server = OsmemServer::start();
    let start = at("2024-01-01T00:00:00Z");
    let docs: Vec<Value> = (0..30)
        .map(|n| alert(n, start + Span::seconds(n as i64)))
        .collect();
    server.bulk_index("wazuh-alerts-4.x-2024.01.01", &docs);
    let mut source = IndexerSource::new(server.client(), "wazuh-alerts-4.x-*").with_page_size(10);
    let mut pages = 0;
    let result = source.stream(
        &query("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"),
        &mut |_| {
            pages += 1;
            Err(Error::IndexNotFound {
                pattern: "consumer says stop".to_owned(),
            })
        },
    );
    assert!(result.is_err());
    assert_eq!(pages, 1, "no page after the consumer failed");
    assert_eq!(server.open_pits(), 0);
}

#[test]
fn real_wazuh_alerts_load_through_the_server_with_zero_skips() {
    let text = include_str!("../data/ait_ldsv11_wazuh/ossec_insect.json");
    let docs: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("real alert is JSON"))
        .collect();
    assert_eq!(docs.len(), 497);
    let server = OsmemServer::start();
    server.bulk_index("wazuh-alerts-4.x-2020.03.04", &docs);

    let mut source = IndexerSource::new(server.client(), "wazuh-alerts-4.x-*").with_page_size(100);
    let mut q = query("2020-03-04T00:00:00Z", "2020-03-05T00:00:00Z");
    q.fields = vec!["rule.level".to_owned(), "agent.id".to_owned()];
    let (alerts, pages, stats) = collect(&mut source, &q).expect("search");
    assert_eq!(alerts.len(), 497);
    assert_eq!(stats.skipped, 0);
    assert_eq!(pages.len(), 5);
    // Wazuh's "+0000" timestamps come back untouched and in order. The file itself is not
    // sorted, and a `date` field is indexed (and sorted) at millisecond resolution, so the
    // order is checked at that resolution.
    let millis = |t: &str| {
        DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f%z")
            .expect("Wazuh timestamp")
            .timestamp_millis()
    };
    let times: Vec<i64> = alerts
        .iter()
        .map(|a| millis(a["timestamp"].as_str().expect("timestamp")))
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "sorted by timestamp"
    );
    let earliest = docs
        .iter()
        .map(|d| millis(d["timestamp"].as_str().expect("timestamp")))
        .min();
    assert_eq!(times.first().copied(), earliest);
    assert!(alerts.iter().all(|a| a["rule"]["level"].is_u64()));
    assert_eq!(server.open_pits(), 0);
}

#[test]
fn check_passes_against_osmem() {
    let server = OsmemServer::start();
    let check = server.client().check().expect("check");
    assert_eq!(check.health, "green");
    assert_eq!(check.version, "3.8.0");
    assert!(check.address.ip().is_loopback());
}

#[test]
fn check_names_the_tcp_step_for_a_closed_port() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let client = IndexerClient::new(IndexerConnection::new(format!("http://127.0.0.1:{port}")))
        .expect("client");
    let error = client.check().expect_err("closed port");
    assert!(
        matches!(
            error,
            Error::IndexerCheck {
                step: CheckStep::TcpConnect,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("TCP connect"), "{error}");
}

#[test]
fn check_names_the_dns_step_for_an_unresolvable_host() {
    // `.invalid` never resolves (RFC 6761), so nothing is contacted.
    let client = IndexerClient::new(IndexerConnection::new("https://no-such-host.invalid:9200"))
        .expect("client");
    let error = client.check().expect_err("unresolvable");
    assert!(
        matches!(
            error,
            Error::IndexerCheck {
                step: CheckStep::Dns,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("DNS"), "{error}");
}
