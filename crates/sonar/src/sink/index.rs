//! The plain-index sink: anomaly documents into one index (`wazuh.anomalies_index`, by
//! default `wazuh-anomalies-mvad`) with `_bulk` `create` and deterministic ids, so detecting
//! the same buckets twice never duplicates a document.

use super::bulk::{bulk_create, thread_sleeper, ItemRetry, Sleeper, Transport};
use super::inspect::WriteInspector;
use super::{AnomalyDocument, AnomalySink, WriteReport};
use crate::Error;

/// The original's anomalies index (`wazuh.anomalies_index` default).
pub const DEFAULT_ANOMALIES_INDEX: &str = "wazuh-anomalies-mvad";

/// Refuses the production alert indices: anomaly (or synthetic) documents never go there.
pub fn check_writable_index(index: &str) -> Result<(), Error> {
    let lower = index.trim().to_ascii_lowercase();
    if lower.is_empty() || lower.starts_with("wazuh-alerts") {
        return Err(Error::SinkForbiddenIndex {
            index: index.to_string(),
        });
    }
    Ok(())
}

/// Writes anomaly documents to one index through `_bulk` `create`.
pub struct IndexSink<T: Transport> {
    transport: T,
    inspector: WriteInspector,
    index: String,
    retry: ItemRetry,
    sleeper: Sleeper,
}

impl<T: Transport> std::fmt::Debug for IndexSink<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexSink")
            .field("index", &self.index)
            .field(
                "endpoint",
                &super::inspect::redact_url(&self.transport.endpoint()),
            )
            .finish_non_exhaustive()
    }
}

impl<T: Transport> IndexSink<T> {
    /// A sink writing to `index` over `transport`. Fails for `wazuh-alerts-*`.
    pub fn new(
        transport: T,
        inspector: WriteInspector,
        index: impl Into<String>,
    ) -> Result<Self, Error> {
        let index = index.into();
        check_writable_index(&index)?;
        Ok(IndexSink {
            transport,
            inspector,
            index,
            retry: ItemRetry::default(),
            sleeper: thread_sleeper(),
        })
    }

    /// Replaces the retry policy for 429/5xx items and the way to wait (tests record waits).
    pub fn with_retry(mut self, retry: ItemRetry, sleeper: Sleeper) -> Self {
        self.retry = retry;
        self.sleeper = sleeper;
        self
    }

    /// The inspector, e.g. to list the payload files written.
    pub fn inspector(&self) -> &WriteInspector {
        &self.inspector
    }

    /// The transport (tests inspect what was sent).
    pub fn transport(&self) -> &T {
        &self.transport
    }
}

impl<T: Transport> AnomalySink for IndexSink<T> {
    fn write(&mut self, docs: &[AnomalyDocument]) -> Result<WriteReport, Error> {
        let report = bulk_create(
            &mut self.transport,
            &mut self.inspector,
            &self.retry,
            &mut self.sleeper,
            &self.index,
            docs,
        )?;
        tracing::info!(
            index = %self.index,
            written = report.written,
            already_present = report.already_present,
            dry_run = report.skipped_dry_run,
            failed = report.failed.len(),
            "anomaly documents indexed"
        );
        Ok(report)
    }

    fn destination(&self) -> String {
        self.index.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::bulk::tests::{doc, ScriptedTransport};
    use crate::sink::inspect::WriteOptions;

    #[test]
    fn alert_indices_are_refused() {
        for bad in ["wazuh-alerts-4.x-2025.12.30", "WAZUH-ALERTS-x", "", "  "] {
            let sink = IndexSink::new(
                ScriptedTransport::default(),
                WriteInspector::new(WriteOptions::default()),
                bad,
            );
            assert!(
                matches!(sink, Err(Error::SinkForbiddenIndex { .. })),
                "{bad:?}"
            );
        }
        assert!(check_writable_index(DEFAULT_ANOMALIES_INDEX).is_ok());
    }

    #[test]
    fn writes_bulk_create_with_deterministic_ids() {
        let mut sink = IndexSink::new(
            ScriptedTransport::default(),
            WriteInspector::new(WriteOptions::default()),
            "wazuh-anomalies-mvad",
        )
        .expect("sink");
        sink.transport.replies.push_back(crate::sink::HttpReply {
            status: 200,
            body: r#"{"errors":false,"items":[{"create":{"status":201}}]}"#.into(),
        });
        let report = sink.write(&[doc("bf01-20251230T101000Z")]).expect("write");
        assert_eq!(report.written, 1);
        let (method, path, body) = &sink.transport().sent[0];
        assert_eq!((method.as_str(), path.as_str()), ("POST", "/_bulk"));
        assert_eq!(
            body,
            "{\"create\":{\"_id\":\"bf01-20251230T101000Z\",\"_index\":\"wazuh-anomalies-mvad\"}}\n{\"anomaly_score\":0.9}\n"
        );
    }
}
