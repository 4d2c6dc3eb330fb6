//! Write inspection: `--dry-run`, `--print-payloads` and `--payload-dir`, in one place.
//!
//! Every request a sink would send (template installs, ISM policies, `_bulk`, JSONL appends)
//! goes through [`WriteInspector::inspect`] first. It records the request (stdout and/or one
//! file per request) with secrets redacted, then says whether to send it. Reads are not
//! inspected: a dry run still reads (alerts, existing documents), it only sends no writes
//! (README.md "Quick start against a real Wazuh indexer").
//!
//! Invariant: nothing recorded contains a secret. Header values of `Authorization`-like
//! headers, JSON values under password/secret/token-like keys and passwords in URLs are
//! replaced by [`REDACTED`] before anything is printed or written.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::Error;

/// What replaces a secret in printed and saved payloads.
pub const REDACTED: &str = "***REDACTED***";

/// The user's write-inspection choices (CLI flags or the scenario's `detection.*` keys).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// `--dry-run`: record requests but send none.
    pub dry_run: bool,
    /// `--print-payloads`: print every request as JSON on stdout.
    pub print_payloads: bool,
    /// `--payload-dir DIR`: save every request as one JSON file in DIR.
    pub payload_dir: Option<PathBuf>,
}

/// HTTP method of a write request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `PUT` (templates, policies).
    Put,
    /// `POST` (`_bulk`).
    Post,
}

impl Method {
    /// The method as HTTP writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Put => "PUT",
            Method::Post => "POST",
        }
    }
}

/// The body of a write request.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// One JSON document (`application/json`).
    Json(Value),
    /// Newline-delimited JSON (`application/x-ndjson`), e.g. a `_bulk` body, one value a line.
    Ndjson(Vec<Value>),
}

impl Body {
    /// The bytes to send. A bulk body ends with a newline, as `_bulk` requires.
    pub fn to_text(&self) -> String {
        match self {
            Body::Json(v) => v.to_string(),
            Body::Ndjson(lines) => {
                let mut out = String::new();
                for line in lines {
                    out.push_str(&line.to_string());
                    out.push('\n');
                }
                out
            }
        }
    }

    /// The `Content-Type` header value.
    pub fn content_type(&self) -> &'static str {
        match self {
            Body::Json(_) => "application/json",
            Body::Ndjson(_) => "application/x-ndjson",
        }
    }
}

/// One write a sink wants to make.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteRequest {
    /// Short name of what the request does, used in payload file names: `bulk`,
    /// `component_template`, `index_template`, `ism_policy`, `jsonl`.
    pub kind: &'static str,
    /// HTTP method (for `jsonl`, [`Method::Post`] by convention).
    pub method: Method,
    /// Target: a URL path (`/_bulk`) or, for the JSONL sink, the file path.
    pub target: String,
    /// What is written.
    pub body: Body,
}

/// What [`WriteInspector::inspect`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send the request.
    Send,
    /// Dry run: do not send it; report it as not written.
    Skip,
}

/// Records write requests and enforces `--dry-run`; shared by every sink.
pub struct WriteInspector {
    options: WriteOptions,
    sequence: u64,
    clock: Box<dyn Fn() -> DateTime<Utc> + Send>,
    stdout: Box<dyn Write + Send>,
    saved: Vec<PathBuf>,
}

impl std::fmt::Debug for WriteInspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteInspector")
            .field("options", &self.options)
            .field("sequence", &self.sequence)
            .field("saved", &self.saved)
            .finish_non_exhaustive()
    }
}

impl WriteInspector {
    /// An inspector printing to the process's stdout and naming files by the system clock.
    pub fn new(options: WriteOptions) -> Self {
        WriteInspector {
            options,
            sequence: 0,
            clock: Box::new(Utc::now),
            stdout: Box::new(std::io::stdout()),
            saved: Vec::new(),
        }
    }

    /// Replaces the clock used in payload file names (tests inject a fixed one).
    pub fn with_clock(mut self, clock: impl Fn() -> DateTime<Utc> + Send + 'static) -> Self {
        self.clock = Box::new(clock);
        self
    }

    /// Replaces where `--print-payloads` writes (tests capture it).
    pub fn with_output(mut self, out: impl Write + Send + 'static) -> Self {
        self.stdout = Box::new(out);
        self
    }

    /// The options in force.
    pub fn options(&self) -> &WriteOptions {
        &self.options
    }

    /// True in dry-run mode.
    pub fn dry_run(&self) -> bool {
        self.options.dry_run
    }

    /// Payload files written so far, oldest first.
    pub fn saved_files(&self) -> &[PathBuf] {
        &self.saved
    }

    /// Records `request` (as the user asked) and says whether to send it. `endpoint` is the
    /// server's base URL (a password in it is redacted) and `headers` the headers the
    /// transport adds (authorization values are redacted).
    pub fn inspect(
        &mut self,
        request: &WriteRequest,
        endpoint: &str,
        headers: &[(String, String)],
    ) -> Result<Verdict, Error> {
        self.sequence += 1;
        if self.options.print_payloads || self.options.payload_dir.is_some() {
            let record = self.record(request, endpoint, headers);
            if self.options.print_payloads {
                let text = serde_json::to_string_pretty(&record)
                    .expect("a serde_json::Value always serialises");
                writeln!(self.stdout, "{text}").map_err(|source| Error::Io {
                    action: "printing payload to",
                    path: PathBuf::from("<stdout>"),
                    source,
                })?;
            }
            if let Some(dir) = self.options.payload_dir.clone() {
                let path = self.save(&dir, request.kind, &record)?;
                tracing::debug!(path = %path.display(), kind = request.kind, "payload saved");
                self.saved.push(path);
            }
        }
        Ok(if self.options.dry_run {
            Verdict::Skip
        } else {
            Verdict::Send
        })
    }

    fn record(
        &self,
        request: &WriteRequest,
        endpoint: &str,
        headers: &[(String, String)],
    ) -> Value {
        let mut header_map = serde_json::Map::new();
        header_map.insert("Content-Type".into(), json!(request.body.content_type()));
        for (name, value) in headers {
            let shown = if is_secret_key(name) {
                REDACTED.to_string()
            } else {
                value.clone()
            };
            header_map.insert(name.clone(), json!(shown));
        }
        let body = match &request.body {
            Body::Json(v) => redacted(v),
            Body::Ndjson(lines) => Value::Array(lines.iter().map(redacted).collect()),
        };
        json!({
            "sequence": self.sequence,
            "kind": request.kind,
            "dry_run": self.options.dry_run,
            "method": request.method.as_str(),
            "endpoint": redact_url(endpoint),
            "target": request.target,
            "headers": Value::Object(header_map),
            "body": body,
        })
    }

    fn save(&self, dir: &Path, kind: &str, record: &Value) -> Result<PathBuf, Error> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            action: "creating payload directory",
            path: dir.to_path_buf(),
            source,
        })?;
        let name = payload_file_name((self.clock)(), kind, self.sequence);
        let path = dir.join(name);
        let text =
            serde_json::to_string_pretty(record).expect("a serde_json::Value always serialises");
        std::fs::write(&path, text + "\n").map_err(|source| Error::Io {
            action: "writing payload",
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }
}

/// `20251230T101000.123Z_bulk_000001.json`: time, kind, sequence (so files sort by time and
/// two requests in the same millisecond never collide).
pub fn payload_file_name(at: DateTime<Utc>, kind: &str, sequence: u64) -> String {
    format!(
        "{}_{kind}_{sequence:06}.json",
        at.format("%Y%m%dT%H%M%S%.3fZ")
    )
}

/// True for header or JSON key names that hold secrets.
fn is_secret_key(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [
        "authorization",
        "password",
        "passwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "cookie",
    ]
    .iter()
    .any(|s| lower.contains(s))
}

/// A copy of `value` with every value under a secret-looking key replaced by [`REDACTED`].
pub fn redacted(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if is_secret_key(k) {
                        json!(REDACTED)
                    } else {
                        redacted(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redacted).collect()),
        other => other.clone(),
    }
}

/// `https://admin:pw@host:9200` → `https://admin:***REDACTED***@host:9200`.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // Setting a password only fails for URLs that cannot have one, and this one has.
            let _ = parsed.set_password(Some(REDACTED));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::sync::{Arc, Mutex};

    /// A `Write` that tests can read back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 12, 30, 10, 10, 0)
            .single()
            .expect("valid")
    }

    fn request() -> WriteRequest {
        WriteRequest {
            kind: "bulk",
            method: Method::Post,
            target: "/_bulk".into(),
            body: Body::Ndjson(vec![
                json!({"create": {"_index": "a", "_id": "1"}}),
                json!({"x": 1, "nested": {"password": "hunter2"}}),
            ]),
        }
    }

    fn headers() -> Vec<(String, String)> {
        vec![("Authorization".into(), "Basic YWRtaW46aHVudGVyMg==".into())]
    }

    #[test]
    fn dry_run_skips_and_prints_redacted_payload() {
        let out = Captured::default();
        let mut inspector = WriteInspector::new(WriteOptions {
            dry_run: true,
            print_payloads: true,
            payload_dir: None,
        })
        .with_output(out.clone());
        let verdict = inspector
            .inspect(
                &request(),
                "https://admin:hunter2@127.0.0.1:9200/",
                &headers(),
            )
            .expect("inspect");
        assert_eq!(verdict, Verdict::Skip);
        let printed = String::from_utf8(out.0.lock().expect("lock").clone()).expect("utf8");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(!printed.contains("YWRtaW46aHVudGVyMg=="), "{printed}");
        let record: Value = serde_json::from_str(&printed).expect("json");
        assert_eq!(record["headers"]["Authorization"], json!(REDACTED));
        assert_eq!(record["body"][1]["nested"]["password"], json!(REDACTED));
        assert_eq!(record["body"][1]["x"], json!(1));
        assert_eq!(
            record["endpoint"],
            json!("https://admin:***REDACTED***@127.0.0.1:9200/")
        );
    }

    #[test]
    fn payload_dir_gets_one_file_per_request() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut inspector = WriteInspector::new(WriteOptions {
            dry_run: false,
            print_payloads: false,
            payload_dir: Some(dir.path().join("payloads")),
        })
        .with_clock(at);
        assert_eq!(
            inspector
                .inspect(&request(), "http://127.0.0.1:9200", &headers())
                .expect("1"),
            Verdict::Send
        );
        inspector
            .inspect(&request(), "http://127.0.0.1:9200", &headers())
            .expect("2");
        let mut names: Vec<String> = std::fs::read_dir(dir.path().join("payloads"))
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "20251230T101000.000Z_bulk_000001.json",
                "20251230T101000.000Z_bulk_000002.json"
            ]
        );
        let text = std::fs::read_to_string(&inspector.saved_files()[0]).expect("read");
        assert!(!text.contains("hunter2"));
        assert!(text.contains(REDACTED));
    }

    #[test]
    fn nothing_recorded_without_flags() {
        let out = Captured::default();
        let mut inspector = WriteInspector::new(WriteOptions::default()).with_output(out.clone());
        assert_eq!(
            inspector
                .inspect(&request(), "http://127.0.0.1:9200", &[])
                .expect("inspect"),
            Verdict::Send
        );
        assert!(out.0.lock().expect("lock").is_empty());
        assert!(inspector.saved_files().is_empty());
    }

    #[test]
    fn bulk_body_is_ndjson_with_trailing_newline() {
        let body = Body::Ndjson(vec![json!({"create": {"_id": "1"}}), json!({"x": 1})]);
        assert_eq!(body.to_text(), "{\"create\":{\"_id\":\"1\"}}\n{\"x\":1}\n");
        assert_eq!(body.content_type(), "application/x-ndjson");
    }
}
