//! The config file (`config/default_config.yaml`) as written: every key optional, so a layer
//! that does not name a key leaves the value of the layer below in place. Defaults live in
//! `settings`, which merges the layers into typed values.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::schema::{self, Kind, Walk};
use crate::Error;

/// `wazuh:`: how to reach the Wazuh indexer (OpenSearch REST). Allowed in config files and
/// scenarios (a scenario's block overrides the config's, key by key).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WazuhSection {
    /// Indexer URL, e.g. `https://wazuh-indexer:9200`. Default `https://localhost:9200`.
    /// Environment: `SONAR_WAZUH_URL`.
    pub base_url: Option<String>,
    /// Basic-auth user. Default `admin`. Environment: `SONAR_WAZUH_USERNAME`.
    pub username: Option<String>,
    /// Basic-auth password in plain text (accepted for existing files, discouraged: prefer
    /// `password_file` or `SONAR_WAZUH_PASSWORD`). Default `admin`.
    pub password: Option<String>,
    /// File whose first line is the password (relative to the file that names it).
    pub password_file: Option<PathBuf>,
    /// Verify the indexer's TLS certificate. Default **true**; `false` prints a warning on
    /// every run. A path (the original's "CA bundle" form) means `true` plus `ca_cert`.
    pub verify_ssl: Option<VerifySsl>,
    /// PEM file of a private CA to trust in addition to the system roots.
    pub ca_cert: Option<PathBuf>,
    /// Index pattern searched for alerts. Default `wazuh-alerts-*`.
    pub alerts_index_pattern: Option<String>,
    /// Index that anomaly documents are written to when not shipping to a data stream.
    /// Default `wazuh-anomalies-mvad`.
    pub anomalies_index: Option<String>,
    /// Alert field holding the event time. Default `timestamp` (Wazuh 4.x).
    pub timestamp_field: Option<String>,
    /// Hits per search page (point-in-time + `search_after`). Default 5000, at most 10000.
    pub page_size: Option<u64>,
    /// TCP/TLS connect timeout. Default 10 s.
    pub connect_timeout_seconds: Option<u64>,
    /// Whole-request timeout. Default 60 s.
    pub request_timeout_seconds: Option<u64>,
    /// Retries (with exponential backoff) on 429, 5xx and connection errors. Default 5.
    pub max_retries: Option<u64>,
}

/// `wazuh.verify_ssl`: a flag, or (as the original allowed) the path of a CA bundle.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum VerifySsl {
    /// Verify (true) or not (false).
    Flag(bool),
    /// Verify against this CA bundle.
    CaBundle(PathBuf),
}

/// `mvad:`: model settings (the scenario's `training:` keys of the same names override them).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MvadSection {
    /// Rows per scoring window; MVAD uses W = sliding_window / 2 input rows and
    /// TW = min(200, sliding_window − W) threshold rows. Default 200, range 28..=2880.
    pub sliding_window: Option<u64>,
    /// `cpu` (always works) or `cuda`/`gpu` (needs the GPU build). Default `cpu`.
    pub device: Option<String>,
    /// Further MVAD parameters (`epochs`, `lr`, `batch_size`, `seed`, …); merged key by key
    /// over the config's when a scenario gives them. Unknown names are warned about.
    pub extra_params: Option<serde_json::Map<String, serde_json::Value>>,
}

/// `features:`: how alerts become a time series (overridden by the scenario's `training:`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FeaturesSection {
    /// Dotted alert fields averaged per bucket (numeric strings accepted). Default `[rule.level]`.
    pub numeric_fields: Option<Vec<String>>,
    /// Bucket length in minutes (epoch-aligned grid). Default 5, range 1..=1440.
    pub bucket_minutes: Option<u64>,
    /// Dotted alert fields one-hot encoded (top-k values + `__other`). Default none.
    pub categorical_fields: Option<Vec<String>>,
    /// Values kept per categorical field. Default 10; 0 keeps all.
    pub categorical_top_k: Option<u64>,
    /// Add the 13 derived indicator columns (auth failure, sudo, CPU high, …). Default true.
    pub derived_features: Option<bool>,
    /// OpenSearch query fragment every alert must match (placed in `bool.must`). Default none.
    pub alert_filter: Option<serde_json::Map<String, serde_json::Value>>,
    /// Numeric fields that also get a per-bucket maximum column `<field>__max`. Default none.
    pub max_numeric_fields: Option<Vec<String>>,
}

/// `debug:`: local files instead of the indexer, local JSONL instead of Wazuh.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DebugSection {
    /// Run in debug mode (the original ignored this key; here it really switches). Default false.
    pub enabled: Option<bool>,
    /// Directory of the alert files (relative to the file naming it). Default `demo` in the
    /// working directory.
    pub data_dir: Option<PathBuf>,
    /// Training alerts, inside `data_dir`. Default `security_training.ndjson`.
    pub training_data_file: Option<String>,
    /// Detection alerts, inside `data_dir`. Default `security_detection.ndjson`.
    pub detection_data_file: Option<String>,
    /// JSONL file the anomaly documents go to in debug mode. Default
    /// `sonar-debug/<scenario_id>.anomalies.jsonl` in the working directory.
    pub anomalies_file: Option<PathBuf>,
}

/// `shipping:`: anomaly documents to a data stream per scenario (for RADAR).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ShippingSection {
    /// Ship to the scenario's data stream instead of `anomalies_index` (`--ship` also turns
    /// it on). Never in debug mode. Default false.
    pub enabled: Option<bool>,
    /// Install the index templates at training time when shipping. Default true.
    pub install_templates: Option<bool>,
    /// Stream suffix `sonar_anomalies_<scenario_id>`; letters, digits, `_` and `-`. Default:
    /// the model name.
    pub scenario_id: Option<String>,
}

/// A whole config file, as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Indexer connection.
    #[serde(default)]
    pub wazuh: WazuhSection,
    /// Model settings.
    #[serde(default)]
    pub mvad: MvadSection,
    /// Feature settings.
    #[serde(default)]
    pub features: FeaturesSection,
    /// Debug mode.
    #[serde(default)]
    pub debug: DebugSection,
    /// Data-stream shipping.
    #[serde(default)]
    pub shipping: ShippingSection,
    /// Base path of the model files (weights + metadata; the engine adds the extensions). A
    /// scenario's model lives next to it as `<dir>/<model_name>`. Default `models/mvad_model`.
    pub model_path: Option<PathBuf>,
}

/// A parsed file plus the warnings its walk produced.
#[derive(Debug, Clone)]
pub struct Loaded<T> {
    /// The file's content.
    pub value: T,
    /// The file that was read.
    pub path: PathBuf,
    /// Unknown keys and similar findings, one sentence each, naming the file.
    pub warnings: Vec<String>,
}

impl ConfigFile {
    /// Reads, checks and parses a config file. Relative paths inside it are resolved against
    /// its directory; unknown keys become warnings.
    pub fn load(path: &Path) -> Result<Loaded<Self>, Error> {
        load_yaml(path, schema::CONFIG)
    }

    /// Parses config text as if it were the file `origin` (for tests and embedded defaults).
    pub fn parse(text: &str, origin: &Path) -> Result<Loaded<Self>, Error> {
        parse_yaml(text, origin, schema::CONFIG)
    }
}

pub(crate) fn load_yaml<T: DeserializeOwned>(
    path: &Path,
    fields: &'static [(&'static str, Kind)],
) -> Result<Loaded<T>, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        action: "reading",
        path: path.to_path_buf(),
        source,
    })?;
    parse_yaml(&text, path, fields)
}

pub(crate) fn parse_yaml<T: DeserializeOwned>(
    text: &str,
    path: &Path,
    fields: &'static [(&'static str, Kind)],
) -> Result<Loaded<T>, Error> {
    let mut doc: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| Error::ConfigSyntax {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    let base_dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut walk = Walk {
        origin: path,
        base_dir: &base_dir,
        warnings: Vec::new(),
    };
    schema::check_document(&mut doc, fields, &mut walk)?;
    // The walk has checked every kind, so this only fails if the walk and the structs
    // disagree; report it against the file rather than panic.
    let value = serde_yaml::from_value(doc).map_err(|e| Error::ConfigValue {
        origin: path.display().to_string(),
        key: "(file)".into(),
        problem: e.to_string(),
    })?;
    Ok(Loaded {
        value,
        path: path.to_path_buf(),
        warnings: walk.warnings,
    })
}
