//! The library's one error type. Variants carry what a caller needs to act on them
//! (file, key path, index, HTTP status, expected vs actual). Each area of the library
//! keeps its variants together under its own heading comment.

use std::path::PathBuf;

/// Every failure the SONAR library reports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ---- files -------------------------------------------------------------------------
    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What we were doing ("reading", "writing", "creating directory").
        action: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    // ---- engine ------------------------------------------------------------------------
    /// The MVAD engine refused or failed.
    #[error(transparent)]
    Engine(#[from] sonar_mvad::MvadError),
    // ---- source (alerts in) ------------------------------------------------------------
    /// The indexer connection settings are unusable (bad URL, unreadable CA certificate).
    #[error("indexer connection setting `{setting}`: {problem}")]
    IndexerSetting {
        /// The setting concerned (`base_url`, `ca_cert`, ...).
        setting: &'static str,
        /// What is wrong with it and what to do.
        problem: String,
    },
    /// The indexer could not be reached (connection refused, timeout, TLS) after every retry.
    #[error("{method} {path}: indexer unreachable after {attempts} attempt(s): {detail}")]
    IndexerUnreachable {
        /// HTTP method of the request.
        method: String,
        /// Path (and query) of the request, without credentials.
        path: String,
        /// Attempts made, retries included.
        attempts: u32,
        /// The transport error, with its cause chain.
        detail: String,
    },
    /// The indexer answered with an HTTP error (4xx, or 429/5xx after every retry).
    #[error(
        "{method} {path}: HTTP {status} from the indexer after {attempts} attempt(s): {reason}"
    )]
    IndexerHttp {
        /// HTTP method of the request.
        method: String,
        /// Path (and query) of the request: it names the index.
        path: String,
        /// The HTTP status.
        status: u16,
        /// Attempts made, retries included.
        attempts: u32,
        /// The server's `error.reason` (and root cause), or the start of its body.
        reason: String,
    },
    /// The indexer's answer was not what the API promises (unparsable JSON, missing field).
    #[error("{path}: unexpected indexer response: {problem}")]
    IndexerResponse {
        /// Path of the request.
        path: String,
        /// What was missing or malformed.
        problem: String,
    },
    /// No index matches the alert index pattern.
    #[error("no index matches `{pattern}`: check `wazuh.alerts_index_pattern` and that Wazuh is writing alerts")]
    IndexNotFound {
        /// The index pattern searched.
        pattern: String,
    },
    /// The connection check failed at one step.
    #[error("indexer check failed at the {step} step for {url}: {detail}. {hint}")]
    IndexerCheck {
        /// The step that failed.
        step: crate::source::indexer::CheckStep,
        /// The base URL checked.
        url: String,
        /// What happened.
        detail: String,
        /// What to do about it.
        hint: String,
    },
    // local files
    /// A local alert file or directory (debug mode) does not exist.
    #[error(
        "local alert path {path} does not exist: check `debug.data_dir` and the data file names"
    )]
    LocalPathMissing {
        /// The path that was looked for.
        path: PathBuf,
    },
    /// A local alert directory holds no `*.json` or `*.ndjson` file.
    #[error("local alert directory {path} holds no *.json or *.ndjson file")]
    LocalNoFiles {
        /// The directory.
        path: PathBuf,
    },
    /// A local alert file is not valid JSON (NDJSON lines that fail are skipped and counted instead).
    #[error("{path}: line {line}, column {column}: not valid JSON: {problem}")]
    LocalJson {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// The parser's description.
        problem: String,
    },
    /// The `alert_filter` cannot be evaluated on local files (debug mode): a query clause or
    /// parameter outside the supported subset, or a malformed one.
    #[error("`{at}`: {problem}")]
    AlertFilter {
        /// Where in the filter, e.g. `alert_filter.bool.must[1].query_string`.
        at: String,
        /// What is wrong and what to do.
        problem: String,
    },
    // ---- features ----------------------------------------------------------------------
    /// A feature setting is unusable (zero bucket width, empty field path...).
    #[error("feature setting `{key}`: {problem}")]
    FeatureSetting {
        /// The setting (`bucket_minutes`, `numeric_fields[2]`, ...).
        key: String,
        /// What is wrong and what to do.
        problem: String,
    },
    /// The time range cannot be cut into buckets (empty, reversed or too many buckets).
    #[error("cannot build a feature grid for {start} .. {end} with {bucket_minutes}-minute buckets: {problem}")]
    FeatureGrid {
        /// Range start (RFC 3339).
        start: String,
        /// Range end (RFC 3339).
        end: String,
        /// Bucket width in minutes.
        bucket_minutes: u32,
        /// What is wrong.
        problem: String,
    },
    // ---- sink (anomalies out) ----------------------------------------------------------
    /// Some anomaly documents could not be written, even after retries.
    #[error(
        "{failed} of {submitted} anomaly documents were not written to {destination}; first: \
         {first_id} (HTTP {first_status}: {first_reason}); re-run detection to retry them \
         (ids are deterministic, so nothing is duplicated)"
    )]
    SinkItemsFailed {
        /// Index, data stream or file.
        destination: String,
        /// Documents that failed.
        failed: usize,
        /// Documents submitted.
        submitted: usize,
        /// `_id` of the first failed document.
        first_id: String,
        /// Its HTTP status.
        first_status: u16,
        /// The server's reason.
        first_reason: String,
    },
    /// The indexer refused a whole write request (template, policy or `_bulk`).
    #[error("{request} for {destination} was refused with HTTP {status}: {body}")]
    SinkRejected {
        /// Index, data stream or template concerned.
        destination: String,
        /// What was sent (`_bulk`, `PUT /_index_template/...`).
        request: String,
        /// HTTP status.
        status: u16,
        /// Start of the response body.
        body: String,
    },
    /// The indexer's answer to a write could not be understood.
    #[error("unexpected answer from the indexer for {destination}: {message}")]
    SinkBadResponse {
        /// Index or data stream concerned.
        destination: String,
        /// What was wrong.
        message: String,
    },
    /// A sink was pointed at an index it must never write to (the production alert indices).
    #[error(
        "refusing to write anomaly documents to `{index}`: it matches the Wazuh alert indices \
         (wazuh-alerts-*); set wazuh.anomalies_index to another name"
    )]
    SinkForbiddenIndex {
        /// The refused index name.
        index: String,
    },
    // ---- config and scenarios ----------------------------------------------------------
    /// A config or scenario file is not valid YAML.
    #[error("{path}: not valid YAML: {message}")]
    ConfigSyntax {
        /// The file concerned.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A config or scenario value (from a file, the environment or a flag) is wrong.
    #[error("{origin}: `{key}`: {problem}")]
    ConfigValue {
        /// Where the value came from: a file path, `environment variable X` or `command line`.
        origin: String,
        /// The dotted key path, e.g. `training.bucket_minutes`.
        key: String,
        /// What is wrong and what to do about it.
        problem: String,
    },
    // ---- detection and pipeline ---------------------------------------------------------
    /// Training found fewer buckets than the model needs.
    #[error(
        "not enough training data: {rows} buckets of {bucket_minutes} min, need at least {needed} \
         ({why}); widen the training window (--lookback-hours), or pad it with \
         --fill-with-synthetic"
    )]
    NotEnoughTrainingData {
        /// Buckets available.
        rows: usize,
        /// Buckets needed.
        needed: usize,
        /// Bucket width in minutes.
        bucket_minutes: u32,
        /// Which rule set the minimum.
        why: String,
    },
    /// No trained model where the settings say it is.
    #[error(
        "no model at {path}: train it first (`sonar train --scenario FILE` or \
         `sonar scenario --use-case FILE --mode batch`)"
    )]
    ModelMissing {
        /// The model directory looked for.
        path: PathBuf,
    },
    /// A model exists but does not carry a usable SONAR feature schema.
    #[error("model {path}: {problem}")]
    ModelSchema {
        /// The model directory.
        path: PathBuf,
        /// What is wrong and what to do.
        problem: String,
    },
    /// A per-entity scenario's model set (docs/entities.md "Model set") is damaged, from
    /// another split, or cannot be written.
    #[error("model set {path}: {problem}")]
    ModelSet {
        /// The manifest or member file concerned.
        path: PathBuf,
        /// What is wrong and what to do.
        problem: String,
    },
    /// A per-entity scenario cannot run as asked (no entity in the data, a mode that does
    /// not split by entity yet, a failing member).
    #[error("scenario {scenario}, per-entity detection: {problem}")]
    Entities {
        /// The scenario name.
        scenario: String,
        /// What is wrong and what to do.
        problem: String,
    },
    /// The realtime state file is unreadable or from another scenario.
    #[error("realtime state {path}: {problem}")]
    RealtimeState {
        /// The state file.
        path: PathBuf,
        /// What is wrong and what to do.
        problem: String,
    },
    /// The run was stopped (Ctrl+C or SIGTERM) before it finished.
    #[error("stopped by signal before {during} finished")]
    Stopped {
        /// What was running.
        during: &'static str,
    },
    // ---- service ----
    /// A scenario of `sonar serve` failed (set up, training or a poll); it is retried.
    #[error("scenario {scenario}: {problem}")]
    Service {
        /// The scenario id.
        scenario: String,
        /// What failed.
        problem: String,
    },
}
