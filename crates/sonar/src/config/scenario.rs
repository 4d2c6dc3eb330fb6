//! Scenario ("use case") files, `scenarios/*.yaml`: what to learn, how to detect, where to
//! ship. Same schema as the original's; every accepted key has an effect (see
//! `docs/configuration.md` for where each one goes). A section's presence matters: the
//! `scenario` command trains when `training:` is present and detects when `detection:` is.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::file::{self, DebugSection, Loaded, ShippingSection, WazuhSection};
use super::schema;
use crate::Error;

/// `training:`: the data and model settings; each key overrides the config's `features.*` /
/// `mvad.*` key of the same name.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingSection {
    /// Hours of alerts to train on, ending now. Default 24 (`--lookback-hours` overrides).
    pub lookback_hours: Option<u64>,
    /// Overrides `features.numeric_fields`.
    pub numeric_fields: Option<Vec<String>>,
    /// Overrides `features.categorical_fields`.
    pub categorical_fields: Option<Vec<String>>,
    /// Overrides `features.categorical_top_k`.
    pub categorical_top_k: Option<u64>,
    /// Overrides `features.bucket_minutes` (detection uses the model's bucket).
    pub bucket_minutes: Option<u64>,
    /// Overrides `mvad.sliding_window`.
    pub sliding_window: Option<u64>,
    /// Overrides `mvad.device`.
    pub device: Option<String>,
    /// Merged key by key over `mvad.extra_params`.
    pub extra_params: Option<serde_json::Map<String, serde_json::Value>>,
    /// Overrides `features.derived_features`.
    pub derived_features: Option<bool>,
    /// Overrides `features.alert_filter` (training and detection searches).
    pub alert_filter: Option<serde_json::Map<String, serde_json::Value>>,
    /// Overrides `features.max_numeric_fields`.
    pub max_numeric_fields: Option<Vec<String>>,
    /// Minimum number of training buckets. Fewer → training stops with a clear message, or,
    /// with `fill_with_synthetic`, synthetic buckets pad the series up to it. Default (and
    /// lowest accepted value): what MVAD needs to train, see `Settings::min_training_buckets`.
    pub min_samples: Option<u64>,
    /// `sonar serve` retrains the model this often (hours); absent or 0: never.
    pub retrain_every_hours: Option<u64>,
    /// Pad short training data with synthetic alerts up to `min_samples` buckets
    /// (`--fill-with-synthetic` also turns it on). Default false.
    pub fill_with_synthetic: Option<bool>,
    /// At least this many synthetic alerts when padding. Default 100.
    pub synthetic_count: Option<u64>,
    /// How synthetic values are chosen: `constant`, `random` or `copy` (the original's
    /// modes); `append`, `prepend` or `only` are also accepted and set where injected alerts go.
    /// Default `random`.
    pub synthetic_mode: Option<String>,
    /// `rule.level` of synthetic alerts (constant mode). Default 5.
    pub synthetic_level: Option<u64>,
    /// `data.srcip` of synthetic alerts (constant mode). Default `192.0.2.0`.
    pub synthetic_srcip: Option<String>,
}

/// `detection:`: how and when to score.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DetectionSection {
    /// `historical` (score the lookback with the existing model), `batch` (train, then score)
    /// or `realtime` (poll). Default `historical`; `--mode` overrides.
    pub mode: Option<String>,
    /// Minutes of alerts to score, ending now (historical, batch; also the first realtime
    /// poll). Default 10; raised to the model's minimum window with a warning.
    pub lookback_minutes: Option<u64>,
    /// Realtime poll period. Default: one bucket.
    pub polling_interval_seconds: Option<u64>,
    /// Realtime: a bucket is scored only once it ended this long ago, so late alerts are in.
    /// Default 60.
    pub ingestion_delay_seconds: Option<u64>,
    /// Reported anomalies need `anomaly_score` ≥ this, in [0, 1]: `anomaly_score` is
    /// `1 − p`, `p` the share of normal buckets scoring at least as high, so 0.99 lets one
    /// normal bucket in a hundred through. Set this or `false_alarm_rate`, not both. Default:
    /// from `false_alarm_rate`.
    pub threshold: Option<f64>,
    /// Expected false anomalous buckets per day under normal traffic; sets `threshold` to
    /// `1 − rate · bucket_minutes / 1440`. Default 0.5 (see docs/quality.md).
    pub false_alarm_rate: Option<f64>,
    /// Consecutive anomalous buckets needed before an event is reported. Default 1.
    pub min_consecutive: Option<u64>,
    /// Local-threshold rule of the engine: `lagged` (the reference's, default) or `trailing`
    /// (the window ends at the judged bucket).
    pub threshold_rule: Option<String>,
    /// Print every payload sent to the indexer (`--print-payloads` also). Default false.
    pub print_payloads: Option<bool>,
    /// Build payloads but send nothing (`--dry-run` also). Default false.
    pub dry_run: Option<bool>,
    /// Directory for payload dumps (relative to the scenario file). Default `payloads` in the
    /// working directory; `--payload-dir` overrides.
    pub payload_dir: Option<std::path::PathBuf>,
    /// Pad a too-short detection series with synthetic buckets before the first real one, so
    /// the model has a full window. Default false.
    pub fill_with_synthetic: Option<bool>,
    /// At least this many synthetic alerts when padding detection data. Default 50.
    pub synthetic_count: Option<u64>,
}

/// A scenario file, as written.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Shown in logs and documents; the model name and stream id derive from it.
    #[serde(default = "default_name")]
    pub name: String,
    /// Logged at start.
    #[serde(default)]
    pub description: String,
    /// `false` → the `scenario` command says so and exits 0. Default true.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Model file name under the model directory. Default: the name's slug (no timestamp,
    /// so a later detect-only run finds the model again).
    pub model_name: Option<String>,
    /// Training settings; presence enables the training phase.
    pub training: Option<TrainingSection>,
    /// Detection settings; presence enables the detection phase.
    pub detection: Option<DetectionSection>,
    /// Overrides the config's `shipping:` key by key.
    pub shipping: Option<ShippingSection>,
    /// Overrides the config's `debug:` key by key.
    pub debug: Option<DebugSection>,
    /// Overrides the config's `wazuh:` key by key (honoured by every command).
    pub wazuh: Option<WazuhSection>,
}

fn default_name() -> String {
    "unnamed_scenario".into()
}

fn default_true() -> bool {
    true
}

impl Default for ScenarioFile {
    fn default() -> Self {
        Self {
            name: default_name(),
            description: String::new(),
            enabled: true,
            model_name: None,
            training: None,
            detection: None,
            shipping: None,
            debug: None,
            wazuh: None,
        }
    }
}

impl ScenarioFile {
    /// Reads, checks and parses a scenario file. Relative paths inside it are resolved
    /// against its directory; unknown keys become warnings.
    pub fn load(path: &Path) -> Result<Loaded<Self>, Error> {
        file::load_yaml(path, schema::SCENARIO)
    }

    /// Parses scenario text as if it were the file `origin`.
    pub fn parse(text: &str, origin: &Path) -> Result<Loaded<Self>, Error> {
        file::parse_yaml(text, origin, schema::SCENARIO)
    }

    /// The model name: `model_name` if given, else [`slug`] of `name`.
    pub fn model_name(&self) -> String {
        match &self.model_name {
            Some(given) => given.clone(),
            None => slug(&self.name),
        }
    }
}

/// The original's name rule without its timestamp: characters outside `[A-Za-z0-9_-]` become
/// `_`, runs of `_` collapse, leading/trailing `_` go, lower case. "Brute Force Detection" →
/// `brute_force_detection`. An empty result becomes `scenario`.
pub fn slug(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            c.to_ascii_lowercase()
        } else {
            '_'
        };
        if c == '_' && (out.is_empty() || out.ends_with('_')) {
            continue;
        }
        out.push(c);
    }
    while out.ends_with('_') {
        out.pop();
    }
    if out.is_empty() {
        out.push_str("scenario");
    }
    out
}
