//! Anomaly sinks: where anomaly documents go, and the document builder itself.
//!
//! - [`document`]: scored buckets ([`crate::detect::ScoredBucket`], events already grouped by
//!   the detector) → anomaly documents (the seed's `MVADPostProcessor`) with deterministic ids.
//! - [`inspect`]: `--dry-run` / `--print-payloads` / `--payload-dir`, one component that every
//!   write goes through.
//! - [`jsonl`]: debug mode's local JSONL file.
//! - [`index`]: a plain index (`wazuh-anomalies-mvad`) through `_bulk` `create` with the
//!   deterministic `_id`, so re-runs never duplicate.
//! - [`stream`]: `--ship`: component and index templates, then a per-scenario data stream
//!   whose name matches its template's pattern; optional ISM rollover policy.
//! - [`bulk`]: the `_bulk` request/response handling both OpenSearch sinks share (per-item
//!   results, retry of 429/5xx items with backoff), over a [`Transport`] that the indexer
//!   client ([`crate::source::indexer::IndexerClient`]) implements.
//!
//! Invariants: only this module and `source` know index names; a sink never writes to
//! `wazuh-alerts-*`; nothing leaves the process without passing [`inspect::WriteInspector`].

pub mod bulk;
pub mod document;
pub mod index;
mod indexer;
pub mod inspect;
pub mod jsonl;
pub mod settings;
pub mod stream;

pub use bulk::{HttpReply, ItemRetry, Transport};
pub use document::{
    build_anomaly_document, build_anomaly_documents, document_id, AnomalyDocument, DocumentContext,
    DEFAULT_TOP_CONTRIBUTORS,
};
pub use index::{IndexSink, DEFAULT_ANOMALIES_INDEX};
pub use inspect::{WriteInspector, WriteOptions};
pub use jsonl::JsonlSink;
pub use settings::ShippingSettings;
pub use stream::{DataStreamSink, RolloverPolicy, StreamTemplates};

/// One document a sink could not write, with the server's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemFailure {
    /// The document's `_id`.
    pub id: String,
    /// HTTP status of the item (0 when the whole request failed before reaching the server).
    pub status: u16,
    /// The server's error type and reason.
    pub reason: String,
}

/// What a write did, document by document. Every submitted document is counted exactly once:
/// `submitted == written + already_present + skipped_dry_run + failed.len()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// Where the documents went: an index, a data stream or a file path.
    pub destination: String,
    /// Documents handed to the sink.
    pub submitted: usize,
    /// Documents newly written.
    pub written: usize,
    /// Documents whose `_id` already existed (a re-run): not written again, not an error.
    pub already_present: usize,
    /// Documents not sent because of `--dry-run`.
    pub skipped_dry_run: usize,
    /// Item retries made (429 / 5xx answers) before the final outcome.
    pub retries: usize,
    /// Documents that could not be written, after retries.
    pub failed: Vec<ItemFailure>,
}

impl WriteReport {
    /// An empty report for `destination`.
    pub fn new(destination: impl Into<String>) -> Self {
        WriteReport {
            destination: destination.into(),
            ..WriteReport::default()
        }
    }

    /// True when no document failed.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty()
    }

    /// `Ok(self)` when every document was written, already present or skipped by dry-run;
    /// otherwise [`crate::Error::SinkItemsFailed`] naming the first failure.
    pub fn into_result(self) -> Result<Self, crate::Error> {
        match self.failed.first() {
            None => Ok(self),
            Some(first) => Err(crate::Error::SinkItemsFailed {
                destination: self.destination.clone(),
                failed: self.failed.len(),
                submitted: self.submitted,
                first_id: first.id.clone(),
                first_status: first.status,
                first_reason: first.reason.clone(),
            }),
        }
    }

    /// Adds another report's counts (same destination) to this one.
    pub fn absorb(&mut self, other: WriteReport) {
        self.submitted += other.submitted;
        self.written += other.written;
        self.already_present += other.already_present;
        self.skipped_dry_run += other.skipped_dry_run;
        self.retries += other.retries;
        self.failed.extend(other.failed);
    }
}

/// A destination for anomaly documents.
pub trait AnomalySink {
    /// Writes `docs`. Per-document failures are in the report (never dropped silently);
    /// `Err` means the sink as a whole failed (unreachable server, rejected request, I/O).
    fn write(&mut self, docs: &[AnomalyDocument]) -> Result<WriteReport, crate::Error>;

    /// Where documents go, for the run summary (index, stream name or file path).
    fn destination(&self) -> String;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::collections::HashSet;

    /// The shipped saved-objects file: valid NDJSON, embedded JSON strings parse, every
    /// reference resolves inside the file, and the index pattern covers both destinations.
    #[test]
    fn dashboards_file_is_consistent_with_the_sinks() {
        let text = include_str!("../../../../dashboards/sonar_anomalies.ndjson");
        let objects: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
            .collect();
        let ids: HashSet<(String, String)> = objects
            .iter()
            .map(|o| {
                (
                    o["type"].as_str().expect("type").to_string(),
                    o["id"].as_str().expect("id").to_string(),
                )
            })
            .collect();
        for o in &objects {
            for r in o["references"].as_array().expect("references") {
                let key = (
                    r["type"].as_str().expect("ref type").to_string(),
                    r["id"].as_str().expect("ref id").to_string(),
                );
                assert!(ids.contains(&key), "dangling reference {key:?}");
            }
            let attrs = o["attributes"].as_object().expect("attributes");
            for key in ["visState", "panelsJSON", "optionsJSON", "uiStateJSON"] {
                if let Some(s) = attrs.get(key) {
                    serde_json::from_str::<Value>(s.as_str().expect("string")).expect(key);
                }
            }
            if let Some(meta) = attrs.get("kibanaSavedObjectMeta") {
                let s = meta["searchSourceJSON"].as_str().expect("searchSourceJSON");
                serde_json::from_str::<Value>(s).expect("searchSourceJSON parses");
            }
        }
        let pattern = objects
            .iter()
            .find(|o| o["type"] == "index-pattern")
            .expect("an index pattern");
        let title = pattern["attributes"]["title"].as_str().expect("title");
        let parts: Vec<&str> = title.split(',').collect();
        assert!(
            parts.contains(&format!("{DEFAULT_ANOMALIES_INDEX}*").as_str()),
            "{title}"
        );
        assert!(
            parts.contains(&format!("{}*", stream::STREAM_PREFIX).as_str()),
            "{title}"
        );
        assert_eq!(pattern["attributes"]["timeFieldName"], "timestamp");
    }

    #[test]
    fn report_into_result_names_the_first_failure() {
        let mut report = WriteReport::new("idx");
        report.submitted = 2;
        report.written = 1;
        report.failed.push(ItemFailure {
            id: "a".into(),
            status: 400,
            reason: "mapper_parsing_exception: bad".into(),
        });
        let err = report.into_result().expect_err("a failure");
        let msg = err.to_string();
        assert!(
            msg.starts_with("1 of 2 anomaly documents were not written to idx; first: a (HTTP 400"),
            "{msg}"
        );
        assert!(WriteReport::new("idx").into_result().is_ok());
    }
}
