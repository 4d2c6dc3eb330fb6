//! Debug mode's sink: anomaly documents appended to a local JSONL file, one document a line, so a
//! debug run persists everything it found and sends nothing anywhere (docs/configuration.md
//! "`debug:`"). Like the index, the file keeps one document per `_id`: a re-run over the same
//! buckets appends only documents that are not in the file yet, and reports the others as already
//! present.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::document::document_id_of;
use super::inspect::{Body, Method, Verdict, WriteInspector, WriteRequest};
use super::{AnomalyDocument, AnomalySink, WriteReport};
use crate::Error;

/// Appends anomaly documents to a JSONL file (created with its directory if missing).
#[derive(Debug)]
pub struct JsonlSink {
    path: PathBuf,
    inspector: WriteInspector,
    /// Ids in the file, read on the first write.
    present: Option<HashSet<String>>,
}

impl JsonlSink {
    /// A sink appending to `path`; every append goes through `inspector` first.
    pub fn new(path: impl Into<PathBuf>, inspector: WriteInspector) -> Self {
        JsonlSink {
            path: path.into(),
            inspector,
            present: None,
        }
    }

    /// The ids of the documents already in the file (none when it does not exist).
    fn ids_in_file(&self) -> Result<HashSet<String>, Error> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashSet::new()),
            Err(source) => {
                return Err(Error::Io {
                    action: "reading",
                    path: self.path.clone(),
                    source,
                })
            }
        };
        let mut ids = HashSet::new();
        let mut unknown = 0usize;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str(line)
                .ok()
                .as_ref()
                .and_then(document_id_of)
            {
                Some(id) => {
                    ids.insert(id);
                }
                None => unknown += 1,
            }
        }
        if unknown > 0 {
            tracing::warn!(path = %self.path.display(), lines = unknown, "lines of the anomalies file are not SONAR anomaly documents; kept as they are");
        }
        Ok(ids)
    }

    /// The file documents are appended to (print it so the user can find them).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The inspector, e.g. to list the payload files written.
    pub fn inspector(&self) -> &WriteInspector {
        &self.inspector
    }
}

impl AnomalySink for JsonlSink {
    fn write(&mut self, docs: &[AnomalyDocument]) -> Result<WriteReport, Error> {
        let mut report = WriteReport::new(self.path.display().to_string());
        report.submitted = docs.len();
        if docs.is_empty() {
            return Ok(report);
        }
        let present = match self.present.take() {
            Some(ids) => ids,
            None => self.ids_in_file()?,
        };
        let (old, new): (Vec<&AnomalyDocument>, Vec<&AnomalyDocument>) =
            docs.iter().partition(|d| present.contains(&d.id));
        self.present = Some(present);
        report.already_present = old.len();
        if new.is_empty() {
            return Ok(report);
        }
        let request = WriteRequest {
            kind: "jsonl",
            method: Method::Post,
            target: self.path.display().to_string(),
            body: Body::Ndjson(new.iter().map(|d| d.body.clone()).collect()),
        };
        if self.inspector.inspect(&request, "file://", &[])? == Verdict::Skip {
            report.skipped_dry_run = new.len();
            return Ok(report);
        }
        let io_err = |action: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source: std::io::Error| Error::Io {
                action,
                path,
                source,
            }
        };
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io_err("creating directory", parent))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io_err("opening", &self.path))?;
        // One write of the whole batch keeps lines whole even if another process appends.
        file.write_all(request.body.to_text().as_bytes())
            .map_err(io_err("appending to", &self.path))?;
        report.written = new.len();
        if let Some(present) = &mut self.present {
            present.extend(new.iter().map(|d| d.id.clone()));
        }
        Ok(report)
    }

    fn destination(&self) -> String {
        self.path.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::inspect::WriteOptions;
    use serde_json::{json, Value};

    fn doc(id: &str, score: f64) -> AnomalyDocument {
        AnomalyDocument {
            id: id.into(),
            body: json!({"anomaly_score": score}),
        }
    }

    fn lines(path: &Path) -> Vec<Value> {
        std::fs::read_to_string(path)
            .expect("read")
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect()
    }

    #[test]
    fn appends_one_line_per_document_across_writes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out/anomalies.jsonl");
        let mut sink = JsonlSink::new(&path, WriteInspector::new(WriteOptions::default()));
        let r1 = sink
            .write(&[doc("a", 0.5), doc("b", 0.75)])
            .expect("write 1");
        let r2 = sink.write(&[doc("c", 1.0)]).expect("write 2");
        assert_eq!((r1.written, r2.written), (2, 1));
        assert_eq!(r1.destination, path.display().to_string());
        assert_eq!(
            lines(&path),
            [
                json!({"anomaly_score": 0.5}),
                json!({"anomaly_score": 0.75}),
                json!({"anomaly_score": 1.0})
            ]
        );
    }

    /// A document shaped like the real ones (the file is read back by `scenario_name` and
    /// `@timestamp`).
    fn real_doc(minute: u32) -> AnomalyDocument {
        use chrono::TimeZone;
        let start = chrono::Utc
            .with_ymd_and_hms(2024, 5, 8, 10, minute, 0)
            .single()
            .expect("time");
        let body = json!({
            "@timestamp": crate::sink::document::iso_timestamp(start),
            "scenario_name": "bf",
            "anomaly_score": 0.9,
        });
        AnomalyDocument {
            id: crate::sink::document::document_id("bf", start),
            body,
        }
    }

    #[test]
    fn a_rerun_over_the_same_buckets_appends_only_new_documents() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("anomalies.jsonl");
        let options = || WriteInspector::new(WriteOptions::default());
        let first = JsonlSink::new(&path, options())
            .write(&[real_doc(0), real_doc(5)])
            .expect("first run");
        assert_eq!((first.written, first.already_present), (2, 0));
        // A new process (new sink) over the same file: the two known buckets are recognised.
        let mut sink = JsonlSink::new(&path, options());
        let again = sink
            .write(&[real_doc(0), real_doc(5), real_doc(10)])
            .expect("second run");
        assert_eq!((again.written, again.already_present), (1, 2));
        let third = sink.write(&[real_doc(10)]).expect("third write");
        assert_eq!((third.written, third.already_present), (0, 1));
        assert_eq!(lines(&path).len(), 3);
    }

    #[test]
    fn dry_run_writes_no_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("anomalies.jsonl");
        let inspector = WriteInspector::new(WriteOptions {
            dry_run: true,
            ..WriteOptions::default()
        });
        let mut sink = JsonlSink::new(&path, inspector);
        let report = sink.write(&[doc("a", 0.5)]).expect("write");
        assert_eq!(report.skipped_dry_run, 1);
        assert!(!path.exists());
    }
}
