//! TLS and basic auth end to end: the indexer client talks to a real nginx that terminates
//! TLS (certificates from a test CA) and checks basic auth in front of a real osmem-server
//! (see `nginx.rs`). One success path, then each way it goes wrong, each with its own error:
//! wrong CA, wrong password, plain HTTP to the TLS port, an expired certificate, and TLS to
//! a plain-HTTP server.

use std::time::Duration;

use serde_json::{json, Value};
use sonar::source::indexer::{
    CheckStep, IndexerClient, IndexerConnection, Method, Password, RequestBody, RetryPolicy,
};
use sonar::Error;

use crate::nginx::{NginxProxy, Pki, USER};
use crate::osmem::OsmemServer;

/// Distinctive, so a leak anywhere is found by a plain substring search.
const PASSWORD: &str = "tls-Test-pw-7f3c9a";

/// osmem behind nginx; `None` when nginx or openssl is absent outside CI (said on stderr).
struct Setup {
    pki: Pki,
    proxy: NginxProxy,
    osmem: OsmemServer,
}

fn setup() -> Option<Setup> {
    let pki = Pki::generate()?;
    let osmem = OsmemServer::start();
    let proxy = NginxProxy::start(&pki, &osmem.url, PASSWORD)?;
    Some(Setup { pki, proxy, osmem })
}

/// A verifying connection to `url` trusting `ca` (a file of the test PKI), as `password`.
fn connection(setup: &Setup, url: &str, ca: &str, password: &str) -> IndexerConnection {
    IndexerConnection {
        username: USER.to_owned(),
        password: Password::new(password),
        verify_ssl: true,
        ca_cert: Some(setup.pki.path(ca)),
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_retries: 2,
            backoff_base: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        },
        ..IndexerConnection::new(url)
    }
}

/// Runs the check, which must fail at `step`, and returns its message; asserts the password
/// is in neither the message nor the debug form.
fn check_fails_at(connection: IndexerConnection, step: CheckStep) -> String {
    let client = IndexerClient::new(connection).expect("client builds");
    let error = client.check().expect_err("the check must fail");
    let text = format!("{error} {error:?}");
    assert!(!text.contains(PASSWORD), "password leaked: {text}");
    match &error {
        Error::IndexerCheck { step: got, .. } => assert_eq!(*got, step, "{error}"),
        other => panic!("expected an IndexerCheck error, got {other:?}"),
    }
    error.to_string()
}

/// A request outside the check (what train/detect do) fails with this error.
fn failed_request(connection: IndexerConnection) -> Error {
    let client = IndexerClient::new(connection).expect("client builds");
    let error = client
        .request(Method::GET, "/_cluster/health", None)
        .expect_err("the request must fail");
    assert!(!format!("{error} {error:?}").contains(PASSWORD));
    error
}

#[test]
fn verified_tls_and_basic_auth_reach_osmem_through_nginx() {
    let Some(setup) = setup() else { return };
    let start = chrono::DateTime::parse_from_rfc3339("2024-03-01T00:00:00Z")
        .expect("date")
        .with_timezone(&chrono::Utc);
    let docs: Vec<Value> = (0..30)
        .map(
            |n| json!({"timestamp": (start + chrono::Duration::minutes(n)).to_rfc3339(), "seq": n}),
        )
        .collect();
    setup.osmem.bulk_index("wazuh-alerts-4.x-2024.03.01", &docs);

    let conn = connection(&setup, &setup.proxy.url, "ca.pem", PASSWORD);
    let client = IndexerClient::new(conn).expect("client");
    let check = client.check().unwrap_or_else(|e| {
        panic!(
            "check through nginx: {e}\nnginx log:\n{}",
            setup.proxy.log()
        )
    });
    assert_eq!(check.cluster_name, "osmem");
    assert_eq!(check.version, "3.8.0");

    // A read and a write through the proxy: search the alerts, then index one document.
    let body = RequestBody::Json(json!({"size": 100, "query": {"match_all": {}}}));
    let found: Value = client
        .request(Method::POST, "/wazuh-alerts-4.x-*/_search", Some(&body))
        .expect("search through TLS + auth")
        .json()
        .expect("search answer");
    assert_eq!(
        found["hits"]["hits"].as_array().map(Vec::len),
        Some(30),
        "{found}"
    );
    let doc = RequestBody::Json(json!({"anomaly_score": 0.9}));
    let written = client
        .write(
            Method::PUT,
            "/sonar-tls-test/_doc/one?refresh=true",
            Some(&doc),
        )
        .expect("write through TLS + auth")
        .expect("no write observer, so it is sent");
    assert_eq!(written.status, 201);
}

#[test]
fn wrong_ca_fails_at_tls_and_asks_for_the_right_ca_cert() {
    let Some(setup) = setup() else { return };
    let conn = || connection(&setup, &setup.proxy.url, "other-ca.pem", PASSWORD);
    let message = check_fails_at(conn(), CheckStep::Tls);
    assert!(message.contains("UnknownIssuer"), "{message}");
    assert!(message.contains("set wazuh.ca_cert"), "{message}");
    // A certificate problem is not retried: it would fail the same way again.
    match failed_request(conn()) {
        Error::IndexerUnreachable {
            attempts, detail, ..
        } => {
            assert_eq!(attempts, 1, "{detail}");
            assert!(detail.contains("UnknownIssuer"), "{detail}");
        }
        other => panic!("expected IndexerUnreachable, got {other:?}"),
    }
}

#[test]
fn wrong_password_fails_at_authentication_and_is_not_retried() {
    let Some(setup) = setup() else { return };
    let wrong = "not-the-tls-Test-pw";
    let conn = || connection(&setup, &setup.proxy.url, "ca.pem", wrong);
    let message = check_fails_at(conn(), CheckStep::Authentication);
    assert!(message.contains("HTTP 401"), "{message}");
    assert!(message.contains(USER), "names the user: {message}");
    assert!(message.contains("SONAR_WAZUH_PASSWORD"), "{message}");
    assert!(!message.contains(wrong), "wrong password echoed: {message}");
    match failed_request(conn()) {
        Error::IndexerHttp {
            status, attempts, ..
        } => assert_eq!((status, attempts), (401, 1)),
        other => panic!("expected IndexerHttp 401, got {other:?}"),
    }
}

#[test]
fn plain_http_to_the_tls_port_says_to_use_https() {
    let Some(setup) = setup() else { return };
    let plain = setup.proxy.url.replace("https://", "http://");
    let message = check_fails_at(
        connection(&setup, &plain, "ca.pem", PASSWORD),
        CheckStep::Http,
    );
    assert!(message.contains("HTTP 400"), "{message}");
    assert!(message.contains("use https://"), "{message}");
    match failed_request(connection(&setup, &plain, "ca.pem", PASSWORD)) {
        Error::IndexerHttp { status, reason, .. } => {
            assert_eq!(status, 400);
            assert!(
                reason.contains("plain HTTP request was sent to HTTPS port"),
                "{reason}"
            );
        }
        other => panic!("expected IndexerHttp 400, got {other:?}"),
    }
}

#[test]
fn expired_certificate_fails_at_tls_and_says_expired() {
    let Some(setup) = setup() else { return };
    let url = setup.proxy.expired_url.clone();
    let message = check_fails_at(connection(&setup, &url, "ca.pem", PASSWORD), CheckStep::Tls);
    assert!(message.contains("certificate expired"), "{message}");
    assert!(message.contains("expired or not yet valid"), "{message}");
    // verify_ssl: false is the (warned about) escape hatch: the same server then answers.
    let insecure = IndexerConnection {
        verify_ssl: false,
        ca_cert: None,
        ..connection(&setup, &url, "ca.pem", PASSWORD)
    };
    let check = IndexerClient::new(insecure)
        .expect("client")
        .check()
        .expect("unverified TLS connects");
    assert_eq!(check.cluster_name, "osmem");
}

#[test]
fn tls_to_a_plain_http_server_says_to_use_http() {
    let Some(setup) = setup() else { return };
    let url = setup.osmem.url.replace("http://", "https://");
    let message = check_fails_at(connection(&setup, &url, "ca.pem", PASSWORD), CheckStep::Tls);
    assert!(message.contains("use http://"), "{message}");
}

#[test]
fn each_tls_and_auth_failure_has_its_own_message() {
    let Some(setup) = setup() else { return };
    let plain = setup.proxy.url.replace("https://", "http://");
    let cases = [
        (
            setup.proxy.url.as_str(),
            "other-ca.pem",
            PASSWORD,
            CheckStep::Tls,
        ),
        (
            setup.proxy.url.as_str(),
            "ca.pem",
            "wrong-pw",
            CheckStep::Authentication,
        ),
        (plain.as_str(), "ca.pem", PASSWORD, CheckStep::Http),
        (
            setup.proxy.expired_url.as_str(),
            "ca.pem",
            PASSWORD,
            CheckStep::Tls,
        ),
    ];
    // The hint is the part after the detail: what the operator is told to do.
    let hints: Vec<String> = cases
        .iter()
        .map(|(url, ca, pw, step)| {
            check_fails_at(connection(&setup, url, ca, pw), *step)
                .rsplit(". ")
                .next()
                .expect("message has a hint")
                .to_owned()
        })
        .collect();
    for (i, a) in hints.iter().enumerate() {
        for b in &hints[i + 1..] {
            assert_ne!(a, b, "two failures give the same advice: {hints:#?}");
        }
    }
}
