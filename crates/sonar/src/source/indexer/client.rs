//! The HTTP client for the Wazuh indexer (the seed's `WazuhIndexerClient`): one blocking
//! reqwest client with rustls, basic auth, timeouts, and retries with jittered exponential
//! backoff on connection errors, timeouts, 429 and 5xx.
//!
//! Two ways to send a request:
//! - [`IndexerClient::request`] for reads (`GET`, `POST _search`, PIT management);
//! - [`IndexerClient::write`] for writes (`_bulk`, `_doc`, templates). Every write is first
//!   shown to the [`WriteObserver`] if one is set, which may dump or print it and decide
//!   whether it is sent at all (`--dry-run`, `--print-payloads`, `--payload-dir`).
//!
//! Invariant: the password appears only in the `Authorization` header, never in a log
//! event, an error or a `Debug` output.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, CONTENT_TYPE, RETRY_AFTER};
pub use reqwest::Method;
use serde::de::DeserializeOwned;

use super::connection::IndexerConnection;
use crate::Error;

/// The seed's name for [`IndexerClient`].
pub type WazuhIndexerClient = IndexerClient;

/// Waits between retries. Injected so that tests record the delays instead of sleeping.
pub trait Sleeper: Send + Sync {
    /// Blocks the calling thread for `delay` (or pretends to).
    fn sleep(&self, delay: Duration);
}

/// The real [`Sleeper`]: `std::thread::sleep`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ThreadSleeper;

impl Sleeper for ThreadSleeper {
    fn sleep(&self, delay: Duration) {
        std::thread::sleep(delay);
    }
}

impl<F: Fn(Duration) + Send + Sync> Sleeper for F {
    fn sleep(&self, delay: Duration) {
        self(delay);
    }
}

/// A request body: one JSON document, or NDJSON (one JSON value per line, as `_bulk` wants).
#[derive(Debug, Clone, PartialEq)]
pub enum RequestBody {
    /// Sent as `application/json`.
    Json(serde_json::Value),
    /// Sent as `application/x-ndjson`; must end with a newline (see [`RequestBody::ndjson`]).
    Ndjson(String),
}

impl RequestBody {
    /// NDJSON from a sequence of JSON values, one per line, with the final newline `_bulk`
    /// requires.
    pub fn ndjson<'a>(lines: impl IntoIterator<Item = &'a serde_json::Value>) -> Self {
        let mut text = String::new();
        for line in lines {
            text.push_str(&line.to_string());
            text.push('\n');
        }
        Self::Ndjson(text)
    }

    /// The `Content-Type` header value.
    pub fn content_type(&self) -> &'static str {
        match self {
            Self::Json(_) => "application/json",
            Self::Ndjson(_) => "application/x-ndjson",
        }
    }

    /// The exact text sent on the wire.
    pub fn text(&self) -> String {
        match self {
            Self::Json(value) => value.to_string(),
            Self::Ndjson(text) => text.clone(),
        }
    }
}

/// A write request as the [`WriteObserver`] sees it, before it is sent.
#[derive(Debug, Clone, Copy)]
pub struct WriteRequest<'a> {
    /// HTTP method.
    pub method: &'a Method,
    /// Path and query relative to the base URL, e.g. `/_bulk?refresh=wait_for`.
    pub path: &'a str,
    /// The body, if any.
    pub body: Option<&'a RequestBody>,
}

/// What the [`WriteObserver`] wants done with a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteDecision {
    /// Send it.
    Send,
    /// Do not send it (dry run): [`IndexerClient::write`] returns `Ok(None)`.
    Withhold,
}

/// Sees every write before it is sent; implemented by the anomaly sink for `--dry-run`,
/// `--print-payloads` and `--payload-dir`. Closures with the same signature implement it.
pub trait WriteObserver: Send + Sync {
    /// Inspects (prints, saves) `request` and decides whether it is sent. An error aborts
    /// the write and is returned by [`IndexerClient::write`].
    fn observe(&self, request: &WriteRequest<'_>) -> Result<WriteDecision, Error>;
}

impl<F> WriteObserver for F
where
    F: Fn(&WriteRequest<'_>) -> Result<WriteDecision, Error> + Send + Sync,
{
    fn observe(&self, request: &WriteRequest<'_>) -> Result<WriteDecision, Error> {
        self(request)
    }
}

/// A successful (2xx) answer from the indexer.
#[derive(Debug, Clone)]
pub struct IndexerResponse {
    /// The HTTP status (2xx).
    pub status: u16,
    /// The path requested, for error messages.
    pub path: String,
    /// The raw body.
    pub body: Vec<u8>,
}

impl IndexerResponse {
    /// The body parsed as JSON into `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|e| Error::IndexerResponse {
            path: self.path.clone(),
            problem: format!("body is not the expected JSON: {e}"),
        })
    }
}

/// A client for one indexer cluster. Cheap to clone (clones share the connection pool).
#[derive(Clone)]
pub struct IndexerClient {
    pub(crate) connection: IndexerConnection,
    /// `base_url` without a trailing slash.
    pub(crate) base: String,
    pub(crate) http: reqwest::blocking::Client,
    sleeper: Arc<dyn Sleeper>,
    observer: Option<Arc<dyn WriteObserver>>,
    /// Body bytes sent and received so far, by this client and its clones.
    moved: Arc<AtomicU64>,
}

impl fmt::Debug for IndexerClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IndexerClient")
            .field("connection", &self.connection)
            .field("write_observer", &self.observer.is_some())
            .finish_non_exhaustive()
    }
}

impl IndexerClient {
    /// Builds a client: validates the URL, loads `ca_cert`, and warns when `verify_ssl` is off.
    pub fn new(connection: IndexerConnection) -> Result<Self, Error> {
        let url = url::Url::parse(&connection.base_url).map_err(|e| Error::IndexerSetting {
            setting: "base_url",
            // The text is not echoed: it may hold credentials.
            problem: format!("not a valid URL: {e}"),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::IndexerSetting {
                setting: "base_url",
                problem: format!("scheme `{}` is not http or https", url.scheme()),
            });
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::IndexerSetting {
                setting: "base_url",
                problem: "credentials in the URL are not allowed: use `username` and `password`"
                    .to_owned(),
            });
        }
        if url.host_str().is_none() {
            return Err(Error::IndexerSetting {
                setting: "base_url",
                problem: format!("`{}` has no host", connection.base_url),
            });
        }

        let mut builder = reqwest::blocking::Client::builder()
            .use_rustls_tls()
            .timeout(connection.timeout)
            .connect_timeout(connection.connect_timeout);
        // No warning here: the settings word the one warning of an insecure connection
        // (plain http, or certificates not verified) once per run, and a run builds clients
        // more than once.
        if !connection.verify_ssl {
            builder = builder.danger_accept_invalid_certs(true);
        }
        if let Some(path) = &connection.ca_cert {
            let pem = std::fs::read(path).map_err(|source| Error::Io {
                action: "reading CA certificate",
                path: path.clone(),
                source,
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .ok()
                .filter(|certs| !certs.is_empty())
                .ok_or_else(|| Error::IndexerSetting {
                    setting: "ca_cert",
                    problem: format!("{} holds no PEM certificate", path.display()),
                })?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build().map_err(|e| Error::IndexerSetting {
            setting: "base_url",
            problem: format!("cannot build the HTTP client: {}", error_chain(&e)),
        })?;
        Ok(Self {
            base: connection.base_url.trim_end_matches('/').to_owned(),
            connection,
            http,
            sleeper: Arc::new(ThreadSleeper),
            observer: None,
            moved: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Replaces the sleeper used between retries (tests record delays instead of sleeping).
    pub fn with_sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// Sets the observer shown every [`IndexerClient::write`] before it is sent.
    pub fn with_write_observer(mut self, observer: Arc<dyn WriteObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Request and response body bytes moved so far by this client and its clones, retries
    /// included (benchmarks compare paging with aggregation by it).
    pub fn bytes_moved(&self) -> u64 {
        self.moved.load(Ordering::Relaxed)
    }

    /// The connection settings this client was built from.
    pub fn connection(&self) -> &IndexerConnection {
        &self.connection
    }

    /// Sends a read request (search, PIT, health) with retries. `path` starts with `/` and
    /// may carry a query string. Non-2xx answers become [`Error::IndexerHttp`].
    pub fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&RequestBody>,
    ) -> Result<IndexerResponse, Error> {
        self.execute(&method, path, body)
    }

    /// Sends a write request (`_bulk`, `_doc`, templates) with retries, after showing it to
    /// the write observer. Returns `Ok(None)` when the observer withheld it (dry run).
    ///
    /// Retrying a write is safe only when it is idempotent (documents with explicit ids);
    /// callers writing without ids should set `max_retries` accordingly.
    pub fn write(
        &self,
        method: Method,
        path: &str,
        body: Option<&RequestBody>,
    ) -> Result<Option<IndexerResponse>, Error> {
        if let Some(observer) = &self.observer {
            let request = WriteRequest {
                method: &method,
                path,
                body,
            };
            if observer.observe(&request)? == WriteDecision::Withhold {
                tracing::debug!(method = %method, path, "write withheld by the observer");
                return Ok(None);
            }
        }
        self.execute(&method, path, body).map(Some)
    }

    /// The full URL for `path`.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with('/') {
            format!("{}{path}", self.base)
        } else {
            format!("{}/{path}", self.base)
        }
    }

    /// Adds the basic-auth header when a username is configured.
    pub(crate) fn authorised(
        &self,
        builder: reqwest::blocking::RequestBuilder,
    ) -> reqwest::blocking::RequestBuilder {
        if self.connection.username.is_empty() {
            builder
        } else {
            builder.basic_auth(
                &self.connection.username,
                Some(self.connection.password.expose()),
            )
        }
    }

    fn execute(
        &self,
        method: &Method,
        path: &str,
        body: Option<&RequestBody>,
    ) -> Result<IndexerResponse, Error> {
        let url = self.url(path);
        let policy = self.connection.retry;
        let payload = body.map(|b| (b.content_type(), b.text().into_bytes()));
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let may_retry = attempt <= policy.max_retries;
            let mut builder = self.authorised(self.http.request(method.clone(), &url));
            if let Some((content_type, bytes)) = &payload {
                builder = builder
                    .header(CONTENT_TYPE, *content_type)
                    .body(bytes.clone());
            }
            if let Some((_, bytes)) = &payload {
                self.moved.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            }
            let outcome = builder.send().and_then(|response| {
                let status = response.status();
                let retry_after = retry_after(response.headers());
                response
                    .bytes()
                    .map(|bytes| (status, retry_after, bytes.to_vec()))
            });
            match outcome {
                Ok((status, retry_after, bytes)) => {
                    self.moved.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                    if status.is_success() {
                        return Ok(IndexerResponse {
                            status: status.as_u16(),
                            path: path.to_owned(),
                            body: bytes,
                        });
                    }
                    let retryable = status.as_u16() == 429 || status.is_server_error();
                    if retryable && may_retry {
                        let delay = match retry_after {
                            Some(asked) => asked.min(policy.max_delay),
                            None => policy.delay(attempt - 1, rand::random::<f64>()),
                        };
                        tracing::warn!(
                            method = %method, path, status = status.as_u16(), attempt,
                            delay_ms = delay.as_millis() as u64,
                            "indexer answered with a retryable status, retrying"
                        );
                        self.sleeper.sleep(delay);
                        continue;
                    }
                    return Err(Error::IndexerHttp {
                        method: method.to_string(),
                        path: path.to_owned(),
                        status: status.as_u16(),
                        attempts: attempt,
                        reason: error_reason(&bytes),
                    });
                }
                Err(error) => {
                    let detail = error_chain(&error);
                    if may_retry && is_transient(&error) {
                        let delay = policy.delay(attempt - 1, rand::random::<f64>());
                        tracing::warn!(
                            method = %method, path, attempt, error = %detail,
                            delay_ms = delay.as_millis() as u64,
                            "indexer request failed, retrying"
                        );
                        self.sleeper.sleep(delay);
                        continue;
                    }
                    return Err(Error::IndexerUnreachable {
                        method: method.to_string(),
                        path: path.to_owned(),
                        attempts: attempt,
                        detail,
                    });
                }
            }
        }
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare from OpenSearch and ignored).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// How rustls words the handshake failures that will fail the same way next time (a wrong
/// or expired certificate, a server that does not speak TLS, a refused handshake). reqwest
/// hands the rustls error itself (not an `io::Error`) down the source chain, and sonar has no
/// direct rustls dependency to downcast to, so its `Display` prefixes are matched; the TLS
/// tests through nginx (tests/it/tls.rs) fail if rustls rewords them.
const PERMANENT_TLS_FAILURES: [&str; 5] = [
    "invalid peer certificate",
    "peer is incompatible",
    "peer misbehaved",
    "received corrupt message",
    "received fatal alert",
];

/// Transport errors worth retrying: connection refused/reset and timeouts. A TLS handshake
/// failure (see [`PERMANENT_TLS_FAILURES`]; an `InvalidData` I/O error from other stacks)
/// will fail the same way next time, so it is reported at once.
fn is_transient(error: &reqwest::Error) -> bool {
    if error.is_builder() || error.is_redirect() {
        return false;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::InvalidData {
                return false;
            }
        }
        let text = current.to_string();
        if PERMANENT_TLS_FAILURES.iter().any(|p| text.starts_with(p)) {
            return false;
        }
        source = current.source();
    }
    true
}

/// The error and its causes, joined by `: `, with repeated texts dropped.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        let text = current.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = current.source();
    }
    parts.join(": ")
}

/// The server's explanation of an error response: `error.type: error.reason`, plus the
/// first root cause when it says something else; the start of the body when it is not
/// OpenSearch's error JSON.
pub(crate) fn error_reason(body: &[u8]) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    match error {
        Some(serde_json::Value::String(text)) => return text.clone(),
        Some(serde_json::Value::Object(object)) => {
            let describe = |o: &serde_json::Map<String, serde_json::Value>| {
                let reason = o.get("reason").and_then(|r| r.as_str()).unwrap_or("");
                match o.get("type").and_then(|t| t.as_str()) {
                    Some(kind) => format!("{kind}: {reason}"),
                    None => reason.to_owned(),
                }
            };
            let mut text = describe(object);
            let root = object
                .get("root_cause")
                .and_then(|r| r.as_array())
                .and_then(|r| r.first())
                .and_then(|r| r.as_object());
            if let Some(root) = root {
                let root_text = describe(root);
                if root_text != text {
                    text.push_str(&format!(" (root cause: {root_text})"));
                }
            }
            return text;
        }
        _ => {}
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "empty body".to_owned();
    }
    let mut short: String = text.chars().take(300).collect();
    if short.len() < text.len() {
        short.push_str("...");
    }
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_reason(body: &str, expected: &str) {
        assert_eq!(error_reason(body.as_bytes()), expected);
    }

    #[test]
    fn error_reasons() {
        check_reason(
            r#"{"error":{"type":"index_not_found_exception","reason":"no such index [x]",
                "root_cause":[{"type":"index_not_found_exception","reason":"no such index [x]"}]},"status":404}"#,
            "index_not_found_exception: no such index [x]",
        );
        check_reason(
            r#"{"error":{"type":"x_content_parse_exception","reason":"failed to parse field [must]",
                "root_cause":[{"type":"parsing_exception","reason":"unknown query [frobnicate]"}]}}"#,
            "x_content_parse_exception: failed to parse field [must] \
             (root cause: parsing_exception: unknown query [frobnicate])",
        );
        check_reason(r#"{"error":"no handler found"}"#, "no handler found");
        check_reason("<html>Bad gateway</html>", "<html>Bad gateway</html>");
        check_reason("", "empty body");
    }

    #[test]
    fn ndjson_ends_with_newline() {
        let lines = [
            serde_json::json!({"index": {}}),
            serde_json::json!({"a": 1}),
        ];
        let body = RequestBody::ndjson(&lines);
        assert_eq!(body.text(), "{\"index\":{}}\n{\"a\":1}\n");
        assert_eq!(body.content_type(), "application/x-ndjson");
    }

    #[test]
    fn ca_cert_must_be_readable_pem_and_verify_off_still_builds() {
        let dir = tempfile::tempdir().expect("temp dir");
        let not_pem = dir.path().join("ca.pem");
        std::fs::write(&not_pem, "not a certificate").expect("write");
        let with_ca = |path: std::path::PathBuf| IndexerConnection {
            ca_cert: Some(path),
            ..IndexerConnection::new("https://localhost:9200")
        };
        let error = IndexerClient::new(with_ca(not_pem)).expect_err("not PEM");
        assert!(
            matches!(
                error,
                Error::IndexerSetting {
                    setting: "ca_cert",
                    ..
                }
            ),
            "{error:?}"
        );
        let error =
            IndexerClient::new(with_ca(dir.path().join("missing.pem"))).expect_err("missing");
        assert!(matches!(error, Error::Io { .. }), "{error:?}");
        let insecure = IndexerConnection {
            verify_ssl: false,
            ..IndexerConnection::new("https://localhost:9200")
        };
        assert!(IndexerClient::new(insecure).is_ok());
    }

    #[test]
    fn rejects_credentials_in_url_and_bad_scheme() {
        for url in [
            "https://admin:pw@localhost:9200",
            "ftp://localhost",
            "not a url",
        ] {
            let error = IndexerClient::new(IndexerConnection::new(url)).expect_err(url);
            assert!(matches!(
                error,
                Error::IndexerSetting {
                    setting: "base_url",
                    ..
                }
            ));
            assert!(!error.to_string().contains("pw@"), "{error}");
        }
    }
}
