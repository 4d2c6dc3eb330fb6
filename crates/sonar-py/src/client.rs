//! `WazuhIndexerClient`: the CLI's alert source and anomaly sink for one set of settings. The
//! search is the CLI's (point-in-time + `search_after`, every page, retries); in debug mode it
//! reads the bundled local files instead and never opens a connection. Writes go through the
//! sink's write inspector, so `dry_run`, `print_payloads` and `payload_dir` behave as the CLI
//! flags, with secrets redacted.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use pyo3::prelude::*;
use sonar::config::Settings;
use sonar::pipeline::{indexer_client, open_source, write_options, Phase};
use sonar::sink::document::document_id_of;
use sonar::sink::{AnomalyDocument, AnomalySink, IndexSink, JsonlSink, WriteInspector};
use sonar::source::timestamp::parse_timestamp_value;
use sonar::source::{AlertQuery, TimeRange};

use crate::config::NativeSettings;
use crate::errors::{self, IntoPy};
use crate::matrix;

type Sink = Box<dyn AnomalySink + Send>;

/// An indexer client (or, in debug mode, the local demo files and the debug JSONL file).
#[pyclass(frozen, module = "sonar._native")]
pub struct NativeClient {
    settings: NativeSettings,
    payload_dir_given: bool,
    /// Opened at the first `index_anomaly`, then reused (one payload-file sequence).
    sink: Mutex<Option<Sink>>,
}

impl NativeClient {
    fn settings(&self) -> &Settings {
        self.settings.settings()
    }

    fn open_sink(&self) -> PyResult<Sink> {
        let s = self.settings();
        let inspector = WriteInspector::new(write_options(s, self.payload_dir_given));
        if s.debug.enabled {
            return Ok(Box::new(JsonlSink::new(
                s.debug.anomalies_file.clone(),
                inspector,
            )));
        }
        let client = indexer_client(s).py()?;
        Ok(Box::new(
            IndexSink::new(client, inspector, s.wazuh.anomalies_index.clone()).py()?,
        ))
    }
}

fn time(text: &str, what: &str) -> PyResult<DateTime<Utc>> {
    parse_timestamp_value(&serde_json::Value::String(text.to_owned()))
        .map_err(|e| errors::data(format!("{what} `{text}`: {e}")))
}

#[pymethods]
impl NativeClient {
    /// A client for `settings`; `payload_dir_given` says the caller chose a payload
    /// directory (then every write is saved there, as `--payload-dir`).
    #[new]
    fn new(settings: &NativeSettings, payload_dir_given: bool) -> PyResult<Self> {
        if !settings.settings().debug.enabled {
            // Fail early on a bad URL or CA file, as the CLI does.
            indexer_client(settings.settings()).py()?;
        }
        Ok(Self {
            settings: settings.clone(),
            payload_dir_given,
            sink: Mutex::new(None),
        })
    }

    /// The CLI's connection check (`sonar check`): DNS, TCP, TLS, HTTP, auth, cluster health,
    /// in that order. Returns `(ok, message)`: what the cluster is, or the first step that
    /// failed and what to do. In debug mode: whether the local demo files can be opened.
    fn check_connection(&self, py: Python<'_>) -> (bool, String) {
        let s = self.settings();
        py.detach(|| {
            if s.debug.enabled {
                return match open_source(s, Phase::Detection) {
                    Ok(_) => (
                        true,
                        format!(
                            "debug mode: local files {} and {}",
                            s.debug.training_data.display(),
                            s.debug.detection_data.display()
                        ),
                    ),
                    Err(e) => (false, errors::message(&e)),
                };
            }
            match indexer_client(s).and_then(|c| c.check()) {
                Ok(c) => (
                    true,
                    format!(
                        "cluster `{}` (version {}) at {}, health {}",
                        c.cluster_name, c.version, c.address, c.health
                    ),
                ),
                Err(e) => (false, errors::message(&e)),
            }
        })
    }

    /// Every alert with `start <= timestamp < end` (ISO 8601), oldest first, as a JSON array;
    /// `query_json` is an optional OpenSearch query fragment placed in `bool.must`. All pages
    /// are read. In debug mode the local files are read whole, whatever the window (as the
    /// original's debug mode did): the training file, then the detection file.
    #[pyo3(signature = (start, end, query_json=None))]
    fn search_alerts(
        &self,
        py: Python<'_>,
        start: &str,
        end: &str,
        query_json: Option<String>,
    ) -> PyResult<String> {
        let s = self.settings();
        let mut range = TimeRange {
            start: time(start, "start")?,
            end: time(end, "end")?,
        };
        if range.start > range.end {
            return Err(errors::data(format!("start {start} is after end {end}")));
        }
        if s.debug.enabled {
            range = TimeRange {
                start: DateTime::<Utc>::MIN_UTC,
                end: DateTime::<Utc>::MAX_UTC,
            };
        }
        let alert_filter = query_json
            .as_deref()
            .map(|q| matrix::json(q, "query"))
            .transpose()?;
        let query = AlertQuery {
            range,
            timestamp_field: s.features.timestamp_field.clone(),
            fields: Vec::new(),
            alert_filter,
        };
        let alerts = py.detach(|| -> Result<Vec<serde_json::Value>, sonar::Error> {
            let mut source = open_source(s, Phase::Detection)?;
            let mut alerts = Vec::new();
            source.stream(&query, &mut |page| {
                alerts.extend(page.into_iter().map(serde_json::Value::Object));
                Ok(())
            })?;
            Ok(alerts)
        });
        matrix::to_json(&alerts.py()?)
    }

    /// Writes one anomaly document (JSON object) to the anomalies index (the debug JSONL file
    /// in debug mode) and returns its `_id`: the deterministic id of a document built by
    /// `MVADPostProcessor` (scenario + bucket), so writing it twice stores it once.
    fn index_anomaly(&self, py: Python<'_>, doc_json: &str) -> PyResult<String> {
        let body = matrix::json(doc_json, "the anomaly document")?;
        if !body.is_object() {
            return Err(errors::data("an anomaly document must be a JSON object"));
        }
        let id = document_id_of(&body).ok_or_else(|| {
            errors::data(
                "the document has no `scenario_name` and `@timestamp` (RFC 3339) to derive its id from: build it with MVADPostProcessor.build_wazuh_anomaly_docs",
            )
        })?;
        let mut guard = self
            .sink
            .lock()
            .map_err(|_| errors::data("a previous write panicked; create a new client"))?;
        if guard.is_none() {
            *guard = Some(self.open_sink()?);
        }
        let Some(sink) = guard.as_mut() else {
            return Err(errors::data("no sink"));
        };
        let doc = AnomalyDocument {
            id: id.clone(),
            body,
        };
        py.detach(|| sink.write(std::slice::from_ref(&doc))?.into_result())
            .py()?;
        Ok(id)
    }

    /// Where `index_anomaly` writes (index name and endpoint, or the debug file).
    fn destination(&self) -> PyResult<String> {
        let mut guard = self
            .sink
            .lock()
            .map_err(|_| errors::data("a previous write panicked; create a new client"))?;
        if guard.is_none() {
            *guard = Some(self.open_sink()?);
        }
        Ok(guard.as_ref().map(|s| s.destination()).unwrap_or_default())
    }
}
