//! `_bulk` `create` for the OpenSearch sinks: builds the NDJSON body, reads the per-item
//! results, retries the retryable items (429, 5xx) with backoff and reports the rest.
//!
//! `create` with a deterministic `_id` is what makes writes idempotent: a document that is
//! already there comes back as a 409 version conflict, counted as "already present".
//!
//! HTTP itself is behind [`Transport`] (the indexer client implements it), so this file never
//! deals with TLS, authentication or connection retries.

use std::time::Duration;

use serde_json::{json, Value};

use super::inspect::{Body, Method, Verdict, WriteInspector, WriteRequest};
use super::{AnomalyDocument, ItemFailure, WriteReport};
use crate::Error;

/// Documents per `_bulk` request.
pub const BULK_BATCH: usize = 500;

/// An HTTP answer: status and body text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    /// HTTP status code.
    pub status: u16,
    /// Response body.
    pub body: String,
}

/// Sends write requests to an OpenSearch cluster. Implementations own authentication, TLS,
/// timeouts and connection-level retries; sinks own request bodies and per-item outcomes.
pub trait Transport {
    /// The cluster's base URL, for payload records (a password in it is redacted there).
    fn endpoint(&self) -> String;

    /// The headers the transport adds to every request (e.g. `Authorization`), shown redacted
    /// in payload records.
    fn inspection_headers(&self) -> Vec<(String, String)>;

    /// True when [`Transport::send`] already retries whole requests answered 429/5xx (the
    /// indexer client does); the sinks then retry only the items of a partly failed `_bulk`,
    /// instead of multiplying the transport's retries by their own.
    fn retries_requests(&self) -> bool {
        false
    }

    /// Sends `body` to `path` (e.g. `/_bulk`) and returns the answer, whatever its status;
    /// `None` when the transport itself withheld the request (a dry-run hook of its own).
    /// `Err` only when no answer came back (after the transport's own retries).
    fn send(&mut self, method: Method, path: &str, body: &Body)
        -> Result<Option<HttpReply>, Error>;
}

/// How often and how long to retry bulk items the server answered 429 or 5xx for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemRetry {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Wait before the first retry, doubled at each further one.
    pub backoff_base: Duration,
    /// Upper bound on a single wait.
    pub max_delay: Duration,
}

impl Default for ItemRetry {
    fn default() -> Self {
        ItemRetry {
            max_retries: 4,
            backoff_base: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl ItemRetry {
    /// Wait before retry number `retry` (0-based).
    pub fn delay(&self, retry: u32) -> Duration {
        self.backoff_base
            .saturating_mul(2u32.saturating_pow(retry.min(31)))
            .min(self.max_delay)
    }
}

/// Waits between retries; tests inject one that records instead of sleeping.
pub type Sleeper = Box<dyn FnMut(Duration) + Send>;

/// The sleeper used outside tests.
pub fn thread_sleeper() -> Sleeper {
    Box::new(std::thread::sleep)
}

/// The outcome of one bulk item.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ItemOutcome {
    Written,
    AlreadyPresent,
    Retryable(ItemFailure),
    Failed(ItemFailure),
}

fn is_retryable(status: u16) -> bool {
    status == 429 || status >= 500
}

/// The NDJSON lines of a bulk `create` of `docs` into `index`.
pub fn bulk_create_lines(index: &str, docs: &[&AnomalyDocument]) -> Vec<Value> {
    let mut lines = Vec::with_capacity(docs.len() * 2);
    for doc in docs {
        lines.push(json!({"create": {"_index": index, "_id": doc.id}}));
        lines.push(doc.body.clone());
    }
    lines
}

/// Reads a `_bulk` response: one outcome per item, in request order.
fn parse_bulk_reply(
    destination: &str,
    docs: &[&AnomalyDocument],
    reply: &HttpReply,
) -> Result<Vec<ItemOutcome>, Error> {
    let bad = |message: String| Error::SinkBadResponse {
        destination: destination.to_string(),
        message,
    };
    let parsed: Value = serde_json::from_str(&reply.body)
        .map_err(|e| bad(format!("_bulk answer is not JSON ({e})")))?;
    let items = parsed
        .get("items")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("_bulk answer has no `items` array".into()))?;
    if items.len() != docs.len() {
        return Err(bad(format!(
            "_bulk answered {} items for {} documents",
            items.len(),
            docs.len()
        )));
    }
    let mut outcomes = Vec::with_capacity(items.len());
    for (item, doc) in items.iter().zip(docs) {
        // Each item is `{"create": {...}}`; take whatever the single action key holds.
        let result = item
            .as_object()
            .and_then(|o| o.values().next())
            .ok_or_else(|| bad(format!("_bulk item for {} is not an object", doc.id)))?;
        let status = result
            .get("status")
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok())
            .ok_or_else(|| bad(format!("_bulk item for {} has no status", doc.id)))?;
        let failure = || ItemFailure {
            id: doc.id.clone(),
            status,
            reason: error_reason(result.get("error")),
        };
        outcomes.push(match status {
            200..=299 => ItemOutcome::Written,
            409 => ItemOutcome::AlreadyPresent,
            s if is_retryable(s) => ItemOutcome::Retryable(failure()),
            _ => ItemOutcome::Failed(failure()),
        });
    }
    Ok(outcomes)
}

/// `type: reason` from an OpenSearch error object (or the raw value).
fn error_reason(error: Option<&Value>) -> String {
    match error {
        None => "no error given".into(),
        Some(Value::String(s)) => s.clone(),
        Some(e) => {
            let kind = e.get("type").and_then(Value::as_str).unwrap_or("error");
            match e.get("reason").and_then(Value::as_str) {
                Some(reason) => format!("{kind}: {reason}"),
                None => format!("{kind}: {e}"),
            }
        }
    }
}

/// Shortens a response body for an error message.
pub(crate) fn excerpt(body: &str) -> String {
    const MAX: usize = 300;
    if body.len() <= MAX {
        return body.to_string();
    }
    let mut end = MAX;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &body[..end])
}

/// Sends one inspected request; `None` in dry-run.
pub(crate) fn send_inspected(
    transport: &mut dyn Transport,
    inspector: &mut WriteInspector,
    request: &WriteRequest,
) -> Result<Option<HttpReply>, Error> {
    let verdict = inspector.inspect(
        request,
        &transport.endpoint(),
        &transport.inspection_headers(),
    )?;
    match verdict {
        Verdict::Skip => Ok(None),
        Verdict::Send => transport.send(request.method, &request.target, &request.body),
    }
}

/// Bulk-creates `docs` in `index` (an index or a data stream), in batches, retrying items
/// the server answered 429/5xx for. Every document ends up counted in the report.
pub fn bulk_create(
    transport: &mut dyn Transport,
    inspector: &mut WriteInspector,
    retry: &ItemRetry,
    sleeper: &mut Sleeper,
    index: &str,
    docs: &[AnomalyDocument],
) -> Result<WriteReport, Error> {
    let mut report = WriteReport::new(index);
    report.submitted = docs.len();
    for batch in docs.chunks(BULK_BATCH) {
        let mut pending: Vec<&AnomalyDocument> = batch.iter().collect();
        let mut attempt: u32 = 0;
        loop {
            let request = WriteRequest {
                kind: "bulk",
                method: Method::Post,
                target: "/_bulk".into(),
                body: Body::Ndjson(bulk_create_lines(index, &pending)),
            };
            let Some(reply) = send_inspected(transport, inspector, &request)? else {
                report.skipped_dry_run += pending.len();
                break;
            };
            // A whole-request 429/5xx: every pending item is retryable, unless the transport
            // has already retried the request, in which case they are reported as failed.
            let outcomes = if is_retryable(reply.status) {
                let already_retried = transport.retries_requests();
                pending
                    .iter()
                    .map(|d| {
                        let failure = ItemFailure {
                            id: d.id.clone(),
                            status: reply.status,
                            reason: excerpt(&reply.body),
                        };
                        if already_retried {
                            ItemOutcome::Failed(failure)
                        } else {
                            ItemOutcome::Retryable(failure)
                        }
                    })
                    .collect()
            } else if !(200..300).contains(&reply.status) {
                return Err(Error::SinkRejected {
                    destination: index.to_string(),
                    request: "_bulk".into(),
                    status: reply.status,
                    body: excerpt(&reply.body),
                });
            } else {
                parse_bulk_reply(index, &pending, &reply)?
            };
            let mut retry_next = Vec::new();
            let mut retry_failures = Vec::new();
            for (outcome, doc) in outcomes.into_iter().zip(pending) {
                match outcome {
                    ItemOutcome::Written => report.written += 1,
                    ItemOutcome::AlreadyPresent => report.already_present += 1,
                    ItemOutcome::Failed(f) => report.failed.push(f),
                    ItemOutcome::Retryable(f) => {
                        retry_next.push(doc);
                        retry_failures.push(f);
                    }
                }
            }
            if retry_next.is_empty() {
                break;
            }
            if attempt >= retry.max_retries {
                tracing::warn!(
                    index,
                    items = retry_failures.len(),
                    attempts = attempt + 1,
                    "bulk items still failing after retries"
                );
                report.failed.extend(retry_failures);
                break;
            }
            let wait = retry.delay(attempt);
            tracing::info!(
                index,
                items = retry_next.len(),
                wait_ms = wait.as_millis() as u64,
                "retrying bulk items"
            );
            sleeper(wait);
            attempt += 1;
            report.retries += retry_next.len();
            pending = retry_next;
        }
    }
    for failure in report.failed.iter().take(5) {
        tracing::warn!(index, id = %failure.id, status = failure.status, reason = %failure.reason, "anomaly document not written");
    }
    Ok(report)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::sink::inspect::WriteOptions;
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    /// A transport that answers from a script and records what it was sent.
    #[derive(Default)]
    pub(crate) struct ScriptedTransport {
        pub replies: VecDeque<HttpReply>,
        pub sent: Vec<(Method, String, String)>,
        pub retries_requests: bool,
    }

    impl Transport for ScriptedTransport {
        fn endpoint(&self) -> String {
            "http://127.0.0.1:9".into()
        }
        fn inspection_headers(&self) -> Vec<(String, String)> {
            vec![("Authorization".into(), "Basic c2VjcmV0".into())]
        }
        fn retries_requests(&self) -> bool {
            self.retries_requests
        }
        fn send(
            &mut self,
            method: Method,
            path: &str,
            body: &Body,
        ) -> Result<Option<HttpReply>, Error> {
            self.sent.push((method, path.to_string(), body.to_text()));
            Ok(Some(self.replies.pop_front().unwrap_or(HttpReply {
                status: 200,
                body: "{}".into(),
            })))
        }
    }

    pub(crate) fn doc(id: &str) -> AnomalyDocument {
        AnomalyDocument {
            id: id.into(),
            body: json!({"anomaly_score": 0.9}),
        }
    }

    fn items(statuses: &[u16]) -> HttpReply {
        let items: Vec<Value> = statuses
            .iter()
            .map(|&s| {
                if s < 300 {
                    json!({"create": {"status": s}})
                } else {
                    json!({"create": {"status": s, "error": {"type": "t", "reason": format!("r{s}")}}})
                }
            })
            .collect();
        HttpReply {
            status: 200,
            body: json!({"errors": true, "items": items}).to_string(),
        }
    }

    fn run(
        replies: Vec<HttpReply>,
        docs: &[AnomalyDocument],
    ) -> (WriteReport, ScriptedTransport, Vec<Duration>) {
        let mut transport = ScriptedTransport {
            replies: replies.into(),
            ..ScriptedTransport::default()
        };
        let waits = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&waits);
        let mut sleeper: Sleeper = Box::new(move |d| recorded.lock().expect("lock").push(d));
        let mut inspector = WriteInspector::new(WriteOptions::default());
        let retry = ItemRetry {
            max_retries: 2,
            backoff_base: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        let report = bulk_create(
            &mut transport,
            &mut inspector,
            &retry,
            &mut sleeper,
            "idx",
            docs,
        )
        .expect("bulk");
        let waits = waits.lock().expect("lock").clone();
        (report, transport, waits)
    }

    #[test]
    fn items_are_counted_by_outcome_and_retryable_ones_retried() {
        let docs = [doc("a"), doc("b"), doc("c"), doc("d")];
        let (report, transport, waits) = run(
            vec![items(&[201, 409, 429, 400]), items(&[503]), items(&[201])],
            &docs,
        );
        assert_eq!(report.written, 2);
        assert_eq!(report.already_present, 1);
        assert_eq!(report.retries, 2);
        assert_eq!(
            report.failed,
            vec![ItemFailure {
                id: "d".into(),
                status: 400,
                reason: "t: r400".into()
            }]
        );
        assert_eq!(
            waits,
            [Duration::from_millis(100), Duration::from_millis(200)]
        );
        // The retries carry only the retryable document.
        assert_eq!(
            transport.sent[1].2,
            "{\"create\":{\"_id\":\"c\",\"_index\":\"idx\"}}\n{\"anomaly_score\":0.9}\n"
        );
        assert!(report.into_result().is_err());
    }

    #[test]
    fn retryable_items_give_up_after_max_retries_and_are_reported() {
        let docs = [doc("a")];
        let (report, transport, _) = run(vec![items(&[429]), items(&[429]), items(&[502])], &docs);
        assert_eq!(transport.sent.len(), 3);
        assert_eq!(report.failed.len(), 1);
        assert_eq!(report.failed[0].status, 502);
        assert_eq!(
            report.written + report.already_present + report.failed.len(),
            1
        );
    }

    #[test]
    fn whole_request_503_is_retried() {
        let docs = [doc("a"), doc("b")];
        let (report, transport, _) = run(
            vec![
                HttpReply {
                    status: 503,
                    body: "busy".into(),
                },
                items(&[201, 201]),
            ],
            &docs,
        );
        assert_eq!(transport.sent.len(), 2);
        assert_eq!(report.written, 2);
        assert!(report.is_complete());
    }

    #[test]
    fn whole_request_503_after_transport_retries_is_reported_not_retried_again() {
        let mut transport = ScriptedTransport {
            replies: vec![HttpReply {
                status: 503,
                body: "busy".into(),
            }]
            .into(),
            retries_requests: true,
            ..ScriptedTransport::default()
        };
        let mut inspector = WriteInspector::new(WriteOptions::default());
        let mut sleeper: Sleeper = Box::new(|_| {});
        let report = bulk_create(
            &mut transport,
            &mut inspector,
            &ItemRetry::default(),
            &mut sleeper,
            "idx",
            &[doc("a"), doc("b")],
        )
        .expect("bulk");
        assert_eq!(transport.sent.len(), 1);
        let failed: Vec<(&str, u16)> = report
            .failed
            .iter()
            .map(|f| (f.id.as_str(), f.status))
            .collect();
        assert_eq!(failed, [("a", 503), ("b", 503)]);
    }

    #[test]
    fn a_rejected_request_is_an_error() {
        let mut transport = ScriptedTransport {
            replies: vec![HttpReply {
                status: 400,
                body: "bad".into(),
            }]
            .into(),
            ..ScriptedTransport::default()
        };
        let mut inspector = WriteInspector::new(WriteOptions::default());
        let mut sleeper: Sleeper = Box::new(|_| {});
        let err = bulk_create(
            &mut transport,
            &mut inspector,
            &ItemRetry::default(),
            &mut sleeper,
            "idx",
            &[doc("a")],
        )
        .expect_err("400 must fail");
        assert!(err.to_string().contains("400"), "{err}");
    }

    #[test]
    fn mismatched_item_count_is_an_error_not_a_silent_drop() {
        let mut transport = ScriptedTransport {
            replies: vec![items(&[201])].into(),
            ..ScriptedTransport::default()
        };
        let mut inspector = WriteInspector::new(WriteOptions::default());
        let mut sleeper: Sleeper = Box::new(|_| {});
        let result = bulk_create(
            &mut transport,
            &mut inspector,
            &ItemRetry::default(),
            &mut sleeper,
            "idx",
            &[doc("a"), doc("b")],
        );
        assert!(result.is_err());
    }

    #[test]
    fn dry_run_sends_nothing() {
        let mut transport = ScriptedTransport::default();
        let mut inspector = WriteInspector::new(WriteOptions {
            dry_run: true,
            ..WriteOptions::default()
        });
        let mut sleeper: Sleeper = Box::new(|_| {});
        let report = bulk_create(
            &mut transport,
            &mut inspector,
            &ItemRetry::default(),
            &mut sleeper,
            "idx",
            &[doc("a"), doc("b")],
        )
        .expect("dry run");
        assert!(transport.sent.is_empty());
        assert_eq!(report.skipped_dry_run, 2);
        assert_eq!(report.written, 0);
    }
}
