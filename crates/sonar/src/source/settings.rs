//! The source's configuration: how to reach the indexer (`wazuh:`) and which local files debug
//! mode reads instead (`debug:`); declared in `config/keys.rs`, defaults here beside the fields.

use std::path::PathBuf;
use std::time::Duration;

use super::secret::{Secret, SecretOrigin};

/// TLS settings of the indexer connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Tls {
    /// Verify the server certificate (default true).
    pub verify: bool,
    /// Extra CA certificate (PEM) to trust.
    pub ca_cert: Option<PathBuf>,
}

/// `wazuh.*`, typed.
#[derive(Debug, Clone)]
pub struct WazuhSettings {
    /// Indexer URL.
    pub base_url: url::Url,
    /// Basic-auth user.
    pub username: String,
    /// Basic-auth password (prints as `***`).
    pub password: Secret,
    /// Where the password came from.
    pub password_origin: SecretOrigin,
    /// Certificate verification.
    pub tls: Tls,
    /// Alerts index pattern.
    pub alerts_index_pattern: String,
    /// Plain anomalies index.
    pub anomalies_index: String,
    /// Hits per search page (1..=10000).
    pub page_size: u32,
    /// Whether the indexer computes feature matrices with aggregations (else SONAR pages
    /// alerts and computes them).
    pub server_features: bool,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout.
    pub request_timeout: Duration,
    /// Retries on 429/5xx/connection errors.
    pub max_retries: u32,
}

impl WazuhSettings {
    /// `wazuh.base_url` when none is given.
    pub const DEFAULT_BASE_URL: &'static str = "https://localhost:9200";
    /// `wazuh.username` when none is given.
    pub const DEFAULT_USERNAME: &'static str = "admin";
    /// The password when no file or environment gives one.
    pub const DEFAULT_PASSWORD: &'static str = "admin";
    /// `wazuh.connect_timeout_seconds` when none is given.
    pub const DEFAULT_CONNECT_TIMEOUT_SECONDS: u64 = 10;
    /// `wazuh.request_timeout_seconds` when none is given.
    pub const DEFAULT_REQUEST_TIMEOUT_SECONDS: u64 = 60;
    /// `wazuh.max_retries` when none is given.
    pub const DEFAULT_MAX_RETRIES: u64 = 5;
}

/// `debug.*`, typed: the effective switch and the resolved files.
#[derive(Debug, Clone, PartialEq)]
pub struct DebugSettings {
    /// Debug mode on (`--debug` or `debug.enabled: true`).
    pub enabled: bool,
    /// Training alerts file.
    pub training_data: PathBuf,
    /// Detection alerts file.
    pub detection_data: PathBuf,
    /// JSONL file for anomaly documents in debug mode.
    pub anomalies_file: PathBuf,
}

impl DebugSettings {
    /// `debug.data_dir` when none is given (relative to the working directory).
    pub const DEFAULT_DATA_DIR: &'static str = "demo";
    /// `debug.training_data_file` when none is given.
    pub const DEFAULT_TRAINING_DATA_FILE: &'static str = "security_training.ndjson";
    /// `debug.detection_data_file` when none is given.
    pub const DEFAULT_DETECTION_DATA_FILE: &'static str = "security_detection.ndjson";
}
