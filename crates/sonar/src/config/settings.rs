//! Typed, validated settings for one run, merged from the layers
//! built-in defaults < config file < scenario < environment < command-line flags.
//!
//! Each value is taken from the highest layer that gives it, validated once here, and handed
//! on as a typed value (durations, window sizes, modes, a [`Secret`]); nothing downstream
//! re-reads YAML. Every error names its origin (file, environment variable or command line),
//! the key path and the problem.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::file::{ConfigFile, Loaded, VerifySsl};
use super::path::normalise_path;
use super::scenario::ScenarioFile;
use super::secret::{Secret, SecretOrigin};
use crate::source::filter::AlertFilter;
use crate::synthetic::{Injection, Placement, SyntheticSpec, ValueMode};
use crate::Error;

/// Environment variable holding the indexer password (wins over any file).
pub const ENV_PASSWORD: &str = "SONAR_WAZUH_PASSWORD";
/// Environment variable overriding `wazuh.base_url`.
pub const ENV_URL: &str = "SONAR_WAZUH_URL";
/// Environment variable overriding `wazuh.username`.
pub const ENV_USERNAME: &str = "SONAR_WAZUH_USERNAME";
/// Config file used when none is named, if it exists in the working directory.
pub const DEFAULT_CONFIG_PATH: &str = "config/default_config.yaml";

/// The environment layer: the `SONAR_*` variables SONAR reads. Tests build one from pairs,
/// so no test touches the process environment.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    vars: BTreeMap<String, String>,
}

impl Environment {
    /// The variables of this process that SONAR reads.
    pub fn from_process() -> Self {
        Self::from_pairs(
            [ENV_PASSWORD, ENV_URL, ENV_USERNAME]
                .iter()
                .filter_map(|name| std::env::var(name).ok().map(|v| (name.to_string(), v))),
        )
    }

    /// An environment made of the given pairs.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            vars: pairs.into_iter().collect(),
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// The command-line layer, filled by the CLI from its flags. `None`/`false` means "flag not
/// given" (the layers below decide). Paths are used as given (relative to the working
/// directory).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--debug`: local files in, local JSONL out.
    pub debug: bool,
    /// `--print-payloads`.
    pub print_payloads: bool,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--payload-dir DIR`.
    pub payload_dir: Option<PathBuf>,
    /// `--lookback-hours H` (training window).
    pub lookback_hours: Option<u64>,
    /// `--lookback-minutes M` (detection window).
    pub lookback_minutes: Option<u64>,
    /// `--mode historical|batch|realtime`.
    pub mode: Option<DetectionMode>,
    /// `--ship`.
    pub ship: bool,
    /// `--model-name NAME`.
    pub model_name: Option<String>,
    /// `--fill-with-synthetic`.
    pub fill_with_synthetic: bool,
    /// `--synthetic-count N`: inject N synthetic alerts (in memory only).
    pub synthetic_count: Option<u64>,
    /// `--synthetic-mode append|prepend|only`.
    pub synthetic_mode: Option<Placement>,
    /// `--synthetic-level L` (default 5).
    pub synthetic_level: Option<u64>,
    /// `--synthetic-srcip IP`.
    pub synthetic_srcip: Option<IpAddr>,
    /// `--start` / `--end`: the window of a one-off train or detect run.
    pub window: RunWindow,
}

/// `--start` / `--end` (RFC 3339): the window of a one-off `train` or `detect` run, overriding
/// the lookbacks (backfill any range; train on a period known to be clean). A missing end is
/// now, a missing start is the lookback before the end (`pipeline::window_range`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunWindow {
    /// First instant (floored to a bucket).
    pub start: Option<chrono::DateTime<chrono::Utc>>,
    /// End, exclusive (floored to a bucket: only complete buckets).
    pub end: Option<chrono::DateTime<chrono::Utc>>,
}

impl RunWindow {
    /// Whether either end was given.
    pub fn is_set(&self) -> bool {
        self.start.is_some() || self.end.is_some()
    }
}

/// How `detection.mode` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectionMode {
    /// Score the lookback window with the existing model.
    Historical,
    /// Train, then score the lookback window.
    Batch,
    /// Poll, scoring each complete bucket once.
    Realtime,
}

impl std::str::FromStr for DetectionMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "historical" => Ok(Self::Historical),
            "batch" => Ok(Self::Batch),
            "realtime" => Ok(Self::Realtime),
            other => Err(format!(
                "unknown mode {other:?}; use historical, batch or realtime"
            )),
        }
    }
}

/// Where the model runs: the engine's own enum, so the parsed value reaches it as is
/// (`cuda` and `gpu` in a file both select [`Device::Gpu`]).
pub use sonar_mvad::Device;

/// MVAD's window setting, validated to 28..=2880 (the range of the retired Azure service;
/// below 28 the model's convolutions have nothing to work on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlidingWindow(u32);

impl SlidingWindow {
    /// Smallest accepted value.
    pub const MIN: u32 = 28;
    /// Largest accepted value.
    pub const MAX: u32 = 2880;

    /// Checks the range.
    pub fn new(value: u64) -> Result<Self, String> {
        if (u64::from(Self::MIN)..=u64::from(Self::MAX)).contains(&value) {
            Ok(Self(value as u32))
        } else {
            Err(format!(
                "must be between {} and {}, found {value}",
                Self::MIN,
                Self::MAX
            ))
        }
    }

    /// The configured value.
    pub fn get(self) -> u32 {
        self.0
    }

    /// W: rows the model reads per window (`sliding_window / 2`).
    pub fn input_rows(self) -> u32 {
        self.0 / 2
    }

    /// TW: rows of the threshold window (`min(200, sliding_window − W)`).
    pub fn threshold_rows(self) -> u32 {
        (self.0 - self.input_rows()).min(200)
    }

    /// Rows needed before the first score: W + TW.
    pub fn min_scoring_rows(self) -> u32 {
        self.input_rows() + self.threshold_rows()
    }
}

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
    /// Alert timestamp field.
    pub timestamp_field: String,
    /// Hits per search page (1..=10000).
    pub page_size: u32,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout.
    pub request_timeout: Duration,
    /// Retries on 429/5xx/connection errors.
    pub max_retries: u32,
}

/// `mvad.*` (with the scenario's training overrides), typed.
#[derive(Debug, Clone, PartialEq)]
pub struct MvadSettings {
    /// Window size.
    pub sliding_window: SlidingWindow,
    /// A file set the window (`mvad.sliding_window` or `training.sliding_window`). When none
    /// did, training on too few buckets fits a smaller window with a warning instead of
    /// failing (the small-data rule, docs/configuration.md).
    pub sliding_window_given: bool,
    /// Device.
    pub device: Device,
    /// Further MVAD parameters, checked against the known names.
    pub extra_params: serde_json::Map<String, serde_json::Value>,
}

/// `features.*` (with the scenario's training overrides), typed.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureSettings {
    /// Fields averaged per bucket.
    pub numeric_fields: Vec<String>,
    /// Bucket length in minutes (1..=1440).
    pub bucket_minutes: u32,
    /// One-hot fields.
    pub categorical_fields: Vec<String>,
    /// Values kept per categorical field (0 = all).
    pub categorical_top_k: usize,
    /// The 13 derived indicators on/off.
    pub derived_features: bool,
    /// Query fragment for `bool.must` (a JSON object).
    pub alert_filter: Option<serde_json::Value>,
    /// Fields with a `<field>__max` column (a subset of `numeric_fields`).
    pub max_numeric_fields: Vec<String>,
}

impl FeatureSettings {
    /// The bucket length as a duration.
    pub fn bucket(&self) -> Duration {
        Duration::from_secs(u64::from(self.bucket_minutes) * 60)
    }
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

/// `shipping.*`, typed.
#[derive(Debug, Clone, PartialEq)]
pub struct ShippingSettings {
    /// Ship to a data stream: (`shipping.enabled` or `--ship`) and not debug mode.
    pub enabled: bool,
    /// Install templates at training time.
    pub install_templates: bool,
    /// Stream id: `sonar_anomalies_<scenario_id>`.
    pub scenario_id: String,
}

/// The scenario's `training:` extras, typed.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingSettings {
    /// Training window length.
    pub lookback: Duration,
    /// Minimum training buckets (≥ [`Settings::min_training_buckets`]).
    pub min_samples: usize,
    /// `training.min_samples` was set (else it follows the window: `sliding_window + 1`).
    pub min_samples_given: bool,
    /// Pad short training data with synthetic buckets.
    pub fill_with_synthetic: bool,
    /// `training.retrain_every_hours`: how often `sonar serve` retrains (`None`: never).
    pub retrain_every: Option<Duration>,
    /// How padding alerts look.
    pub synthetic: SyntheticSpec,
}

/// Payload inspection switches, shared by every write path.
#[derive(Debug, Clone, PartialEq)]
pub struct PayloadSettings {
    /// Print every payload.
    pub print: bool,
    /// Send nothing.
    pub dry_run: bool,
    /// Where payload dumps go.
    pub dir: PathBuf,
}

/// The scenario's `detection:` section, typed.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectionSettings {
    /// Mode.
    pub mode: DetectionMode,
    /// Window of buckets to score, ending now.
    pub lookback: Duration,
    /// Realtime poll period.
    pub polling_interval: Duration,
    /// Realtime: wait this long after a bucket ends before scoring it.
    pub ingestion_delay: Duration,
    /// `anomaly_score` threshold in [0, 1].
    pub threshold: f64,
    /// Consecutive anomalous buckets per reported event (≥ 1).
    pub min_consecutive: u32,
    /// The engine's local-threshold rule.
    pub threshold_rule: sonar_mvad::ThresholdRule,
    /// Payload switches.
    pub payloads: PayloadSettings,
    /// Pad a short detection series with synthetic buckets.
    pub fill_with_synthetic: bool,
    /// Minimum synthetic alerts when padding detection data.
    pub synthetic_count: usize,
}

/// What the run knows about its scenario file.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioInfo {
    /// The file.
    pub path: PathBuf,
    /// `name`.
    pub name: String,
    /// `description`.
    pub description: String,
    /// `enabled`.
    pub enabled: bool,
    /// A `training:` section exists (the scenario command trains).
    pub has_training: bool,
    /// A `detection:` section exists (the scenario command detects).
    pub has_detection: bool,
}

/// Everything one run needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Indexer connection.
    pub wazuh: WazuhSettings,
    /// Model settings.
    pub mvad: MvadSettings,
    /// Feature settings.
    pub features: FeatureSettings,
    /// Debug mode.
    pub debug: DebugSettings,
    /// Shipping.
    pub shipping: ShippingSettings,
    /// Training extras.
    pub training: TrainingSettings,
    /// Detection settings.
    pub detection: DetectionSettings,
    /// Model name (file stem).
    pub model_name: String,
    /// Base path of the model files (no extension).
    pub model_path: PathBuf,
    /// The scenario, when one was given.
    pub scenario: Option<ScenarioInfo>,
    /// Synthetic alerts to inject (`--synthetic-count`), in memory only.
    pub injection: Option<Injection>,
    /// `--start` / `--end`, when given.
    pub window: RunWindow,
    /// Warnings to log once at the start of the run (unknown keys, `verify_ssl: false`, …).
    pub warnings: Vec<String>,
}

impl Settings {
    /// Loads the config file (`config`, else [`DEFAULT_CONFIG_PATH`] if it exists, else
    /// built-in defaults) and the scenario, reads the process environment and applies the
    /// flags.
    pub fn load(
        config: Option<&Path>,
        scenario: Option<&Path>,
        flags: &Overrides,
    ) -> Result<Self, Error> {
        let config = match config {
            Some(path) => Some(ConfigFile::load(path)?),
            None if Path::new(DEFAULT_CONFIG_PATH).is_file() => {
                Some(ConfigFile::load(Path::new(DEFAULT_CONFIG_PATH))?)
            }
            None => None,
        };
        let scenario = scenario.map(ScenarioFile::load).transpose()?;
        resolve(
            config.as_ref(),
            scenario.as_ref(),
            &Environment::from_process(),
            flags,
        )
    }

    /// Buckets training needs at the least: `sliding_window + 1` (one full window plus the
    /// row it predicts).
    pub fn min_training_buckets(&self) -> usize {
        self.mvad.sliding_window.get() as usize + 1
    }

    /// Buckets before the first scored one that detection must also read (W + TW − 1), so
    /// that every bucket of the lookback window gets a score.
    pub fn context_buckets(&self) -> usize {
        self.mvad.sliding_window.min_scoring_rows() as usize - 1
    }
}

const CLI: &str = "command line";

fn value_error(origin: &str, key: &str, problem: impl Into<String>) -> Error {
    Error::ConfigValue {
        origin: origin.to_string(),
        key: key.to_string(),
        problem: problem.into(),
    }
}

/// One setting's value and the layer that gave it, for messages that name the right origin.
struct Pick<T> {
    value: T,
    origin: String,
    /// The scenario gave it (so a model or feature key sits under `training:`).
    from_scenario: bool,
}

impl<T> Pick<T> {
    /// The full dotted key path of a model or feature setting `name`: a scenario gives it
    /// under `training:`, a config file (and the built-in default) under `section`.
    fn key(&self, section: &str, name: &str) -> String {
        let section = if self.from_scenario {
            "training"
        } else {
            section
        };
        format!("{section}.{name}")
    }
}

/// Picks the highest layer's value: scenario over config over default.
fn pick<T: Clone>(
    scenario: Option<(&Option<T>, &Path)>,
    config: Option<(&Option<T>, &Path)>,
    default: T,
) -> Pick<T> {
    let layers = [(scenario, true), (config, false)];
    for (layer, from_scenario) in layers {
        if let Some((Some(v), path)) = layer {
            return Pick {
                value: v.clone(),
                origin: path.display().to_string(),
                from_scenario,
            };
        }
    }
    Pick {
        value: default,
        origin: "built-in default".into(),
        from_scenario: false,
    }
}

/// Merges the layers into validated settings.
pub fn resolve(
    config: Option<&Loaded<ConfigFile>>,
    scenario: Option<&Loaded<ScenarioFile>>,
    env: &Environment,
    flags: &Overrides,
) -> Result<Settings, Error> {
    let empty_config = ConfigFile::default();
    let (cfg, cfg_path) = match config {
        Some(l) => (&l.value, l.path.as_path()),
        None => (&empty_config, Path::new("built-in defaults")),
    };
    let empty_scenario = ScenarioFile::default();
    let (sc, sc_path) = match scenario {
        Some(l) => (&l.value, l.path.as_path()),
        None => (&empty_scenario, Path::new("(no scenario)")),
    };
    let mut warnings: Vec<String> = Vec::new();
    warnings.extend(config.iter().flat_map(|l| l.warnings.iter().cloned()));
    warnings.extend(scenario.iter().flat_map(|l| l.warnings.iter().cloned()));

    let tr = sc.training.clone().unwrap_or_default();
    let det = sc.detection.clone().unwrap_or_default();
    let sw = sc.wazuh.clone().unwrap_or_default();
    let sd = sc.debug.clone().unwrap_or_default();
    let ss = sc.shipping.clone().unwrap_or_default();

    // ---- wazuh ----
    let w = &cfg.wazuh;
    let mut base = pick(
        Some((&sw.base_url, sc_path)),
        Some((&w.base_url, cfg_path)),
        "https://localhost:9200".into(),
    );
    if let Some(v) = env.get(ENV_URL) {
        base = Pick {
            value: v.to_string(),
            origin: format!("environment variable {ENV_URL}"),
            from_scenario: false,
        };
    }
    let base_url = url::Url::parse(&base.value).map_err(|e| {
        value_error(
            &base.origin,
            "wazuh.base_url",
            format!("not a URL ({e}): {:?}", base.value),
        )
    })?;
    if !matches!(base_url.scheme(), "http" | "https") {
        return Err(value_error(
            &base.origin,
            "wazuh.base_url",
            "must start with https:// or http://",
        ));
    }
    let mut username = pick(
        Some((&sw.username, sc_path)),
        Some((&w.username, cfg_path)),
        "admin".to_string(),
    )
    .value;
    if let Some(v) = env.get(ENV_USERNAME) {
        username = v.to_string();
    }
    let (password, password_origin) = resolve_password(
        env,
        (&sw.password, &sw.password_file, sc_path),
        (&w.password, &w.password_file, cfg_path),
    )?;
    let verify = pick(
        Some((&sw.verify_ssl, sc_path)),
        Some((&w.verify_ssl, cfg_path)),
        VerifySsl::Flag(true),
    )
    .value;
    let mut ca_cert = pick(
        Some((&sw.ca_cert, sc_path)),
        Some((&w.ca_cert, cfg_path)),
        PathBuf::new(),
    );
    let ca_given = sw.ca_cert.is_some() || w.ca_cert.is_some();
    let tls = match verify {
        VerifySsl::Flag(true) => Tls {
            verify: true,
            ca_cert: ca_given.then(|| std::mem::take(&mut ca_cert.value)),
        },
        VerifySsl::Flag(false) => Tls {
            verify: false,
            ca_cert: ca_given.then(|| std::mem::take(&mut ca_cert.value)),
        },
        VerifySsl::CaBundle(path) => Tls {
            verify: true,
            ca_cert: Some(path),
        },
    };
    // One warning per insecure connection, worded for what is actually insecure: on plain
    // http there is no certificate to verify, so `verify_ssl` does not matter there.
    if base_url.scheme() == "http" {
        if password_origin != SecretOrigin::BuiltInDefault || !tls.verify {
            warnings.push(format!(
                "connection to {base_url} is not encrypted (http): credentials and alerts travel in clear text; use https://"
            ));
        }
    } else if !tls.verify {
        warnings.push(format!(
            "wazuh.verify_ssl is false: the TLS certificate of {base_url} is NOT verified (anyone on the path can read the password); set a CA with wazuh.ca_cert instead"
        ));
    }
    let page = pick(
        Some((&sw.page_size, sc_path)),
        Some((&w.page_size, cfg_path)),
        5000,
    );
    if !(1..=10_000).contains(&page.value) {
        return Err(value_error(
            &page.origin,
            "wazuh.page_size",
            format!("must be between 1 and 10000, found {}", page.value),
        ));
    }
    let connect = positive(
        pick(
            Some((&sw.connect_timeout_seconds, sc_path)),
            Some((&w.connect_timeout_seconds, cfg_path)),
            10,
        ),
        "wazuh.connect_timeout_seconds",
    )?;
    let request = positive(
        pick(
            Some((&sw.request_timeout_seconds, sc_path)),
            Some((&w.request_timeout_seconds, cfg_path)),
            60,
        ),
        "wazuh.request_timeout_seconds",
    )?;
    let retries = pick(
        Some((&sw.max_retries, sc_path)),
        Some((&w.max_retries, cfg_path)),
        5,
    );
    let wazuh = WazuhSettings {
        base_url,
        username,
        password,
        password_origin,
        tls,
        alerts_index_pattern: non_empty(
            pick(
                Some((&sw.alerts_index_pattern, sc_path)),
                Some((&w.alerts_index_pattern, cfg_path)),
                "wazuh-alerts-*".into(),
            ),
            "wazuh.alerts_index_pattern",
        )?,
        anomalies_index: non_empty(
            pick(
                Some((&sw.anomalies_index, sc_path)),
                Some((&w.anomalies_index, cfg_path)),
                "wazuh-anomalies-mvad".into(),
            ),
            "wazuh.anomalies_index",
        )?,
        timestamp_field: non_empty(
            pick(
                Some((&sw.timestamp_field, sc_path)),
                Some((&w.timestamp_field, cfg_path)),
                "timestamp".into(),
            ),
            "wazuh.timestamp_field",
        )?,
        page_size: page.value as u32,
        connect_timeout: Duration::from_secs(connect),
        request_timeout: Duration::from_secs(request),
        max_retries: retries.value.min(100) as u32,
    };

    // ---- mvad ----
    let m = &cfg.mvad;
    let sw_pick = pick(
        Some((&tr.sliding_window, sc_path)),
        Some((&m.sliding_window, cfg_path)),
        200,
    );
    let sliding_window = SlidingWindow::new(sw_pick.value)
        .map_err(|p| value_error(&sw_pick.origin, &sw_pick.key("mvad", "sliding_window"), p))?;
    let dev = pick(
        Some((&tr.device, sc_path)),
        Some((&m.device, cfg_path)),
        "cpu".into(),
    );
    let device = match dev.value.to_ascii_lowercase().as_str() {
        "cpu" => Device::Cpu,
        "cuda" | "gpu" => Device::Gpu,
        other => {
            return Err(value_error(
                &dev.origin,
                &dev.key("mvad", "device"),
                format!("unknown device {other:?}; use cpu or cuda"),
            ))
        }
    };
    // Each layer's map is checked on its own, so a message names the file and section that
    // hold the key.
    let mut extra_params = serde_json::Map::new();
    for (layer, path, section) in [
        (&m.extra_params, cfg_path, "mvad.extra_params"),
        (&tr.extra_params, sc_path, "training.extra_params"),
    ] {
        let Some(layer) = layer else { continue };
        check_extra_params(layer, &path.display().to_string(), section, &mut warnings)?;
        extra_params.extend(layer.clone());
    }

    // ---- features ----
    let f = &cfg.features;
    let bucket = pick(
        Some((&tr.bucket_minutes, sc_path)),
        Some((&f.bucket_minutes, cfg_path)),
        5,
    );
    if !(1..=1440).contains(&bucket.value) {
        return Err(value_error(
            &bucket.origin,
            &bucket.key("features", "bucket_minutes"),
            format!("must be between 1 and 1440, found {}", bucket.value),
        ));
    }
    let numeric_fields = fields(
        pick(
            Some((&tr.numeric_fields, sc_path)),
            Some((&f.numeric_fields, cfg_path)),
            vec!["rule.level".into()],
        ),
        "numeric_fields",
    )?;
    let max_pick = pick(
        Some((&tr.max_numeric_fields, sc_path)),
        Some((&f.max_numeric_fields, cfg_path)),
        Vec::new(),
    );
    let max_origin = max_pick.origin.clone();
    let max_key = max_pick.key("features", "max_numeric_fields");
    let max_numeric_fields = fields(max_pick, "max_numeric_fields")?;
    if let Some(stray) = max_numeric_fields
        .iter()
        .find(|m| !numeric_fields.contains(m))
    {
        return Err(value_error(&max_origin, &max_key, format!("{stray:?} is not in numeric_fields; add it there too (the max column is built from the same values)")));
    }
    let alert_filter = pick(
        Some((&tr.alert_filter, sc_path)),
        Some((&f.alert_filter, cfg_path)),
        serde_json::Map::new(),
    );
    let filter_given = tr.alert_filter.is_some() || f.alert_filter.is_some();
    let features = FeatureSettings {
        numeric_fields,
        bucket_minutes: bucket.value as u32,
        categorical_fields: fields(
            pick(
                Some((&tr.categorical_fields, sc_path)),
                Some((&f.categorical_fields, cfg_path)),
                Vec::new(),
            ),
            "categorical_fields",
        )?,
        categorical_top_k: pick(
            Some((&tr.categorical_top_k, sc_path)),
            Some((&f.categorical_top_k, cfg_path)),
            10,
        )
        .value as usize,
        derived_features: pick(
            Some((&tr.derived_features, sc_path)),
            Some((&f.derived_features, cfg_path)),
            true,
        )
        .value,
        alert_filter: filter_given.then_some(serde_json::Value::Object(alert_filter.value)),
        max_numeric_fields,
    };

    // ---- model name and path ----
    let model_name = match &flags.model_name {
        Some(name) => name.clone(),
        None if scenario.is_some() => sc.model_name(),
        None => "mvad_model".into(),
    };
    if model_name.is_empty() || model_name.contains(['/', '\\']) || model_name.starts_with('.') {
        let origin = if flags.model_name.is_some() {
            CLI.to_string()
        } else {
            sc_path.display().to_string()
        };
        return Err(value_error(
            &origin,
            "model_name",
            format!(
                "{model_name:?} must be a plain file name (no directories, not starting with '.')"
            ),
        ));
    }
    let mut config_model_path = cfg
        .model_path
        .clone()
        .unwrap_or_else(|| PathBuf::from("models/mvad_model"));
    if config_model_path.extension().is_some_and(|e| e == "pkl") {
        warnings.push(format!("{}: model_path {} names a pickle file; SONAR never writes pickle, it uses {} (weights + JSON metadata)", cfg_path.display(), config_model_path.display(), config_model_path.with_extension("").display()));
        config_model_path.set_extension("");
    }
    let model_path = normalise_path(&if scenario.is_some() || flags.model_name.is_some() {
        config_model_path
            .parent()
            .map(|d| d.join(&model_name))
            .unwrap_or_else(|| PathBuf::from(&model_name))
    } else {
        config_model_path
    });

    // ---- debug ----
    let d = &cfg.debug;
    let debug_enabled = flags.debug
        || pick(
            Some((&sd.enabled, sc_path)),
            Some((&d.enabled, cfg_path)),
            false,
        )
        .value;
    // Debug mode evaluates alert_filter on local files itself: refuse here, naming the file
    // and the clause, what it cannot evaluate (the indexer evaluates it otherwise).
    if let (true, Some(filter)) = (debug_enabled, &features.alert_filter) {
        let section = if tr.alert_filter.is_some() {
            "training"
        } else {
            "features"
        };
        AlertFilter::parse(filter).map_err(|e| match e {
            Error::AlertFilter { at, problem } => value_error(
                &alert_filter.origin,
                &format!("{section}.{at}"),
                format!("{problem} (debug mode evaluates alert_filter on the local files itself)"),
            ),
            other => other,
        })?;
    }
    let data_dir = pick(
        Some((&sd.data_dir, sc_path)),
        Some((&d.data_dir, cfg_path)),
        PathBuf::from("demo"),
    )
    .value;
    let train_file = pick(
        Some((&sd.training_data_file, sc_path)),
        Some((&d.training_data_file, cfg_path)),
        "security_training.ndjson".into(),
    )
    .value;
    let detect_file = pick(
        Some((&sd.detection_data_file, sc_path)),
        Some((&d.detection_data_file, cfg_path)),
        "security_detection.ndjson".into(),
    )
    .value;

    // ---- shipping ----
    let sh = &cfg.shipping;
    let id = pick(
        Some((&ss.scenario_id, sc_path)),
        Some((&sh.scenario_id, cfg_path)),
        model_name.clone(),
    );
    if id.value.is_empty()
        || !id
            .value
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_' || ch == '-')
    {
        return Err(value_error(&id.origin, "shipping.scenario_id", format!("{:?} must be lowercase letters, digits, '_' or '-' (it becomes part of a data stream name)", id.value)));
    }
    let ship_wanted = flags.ship
        || pick(
            Some((&ss.enabled, sc_path)),
            Some((&sh.enabled, cfg_path)),
            false,
        )
        .value;
    if ship_wanted && debug_enabled {
        warnings.push("shipping is off in debug mode: anomalies go to the local JSONL file".into());
    }
    let anomalies_file = pick(
        Some((&sd.anomalies_file, sc_path)),
        Some((&d.anomalies_file, cfg_path)),
        PathBuf::from("sonar-debug").join(format!("{}.anomalies.jsonl", id.value)),
    )
    .value;
    let debug = DebugSettings {
        enabled: debug_enabled,
        training_data: normalise_path(&data_dir.join(train_file)),
        detection_data: normalise_path(&data_dir.join(detect_file)),
        anomalies_file: normalise_path(&anomalies_file),
    };
    let shipping = ShippingSettings {
        enabled: ship_wanted && !debug_enabled,
        install_templates: pick(
            Some((&ss.install_templates, sc_path)),
            Some((&sh.install_templates, cfg_path)),
            true,
        )
        .value,
        scenario_id: id.value,
    };

    // ---- training ----
    let sc_origin = sc_path.display().to_string();
    let lookback_hours = match flags.lookback_hours {
        Some(h) => Pick {
            value: h,
            origin: CLI.into(),
            from_scenario: false,
        },
        None => pick(Some((&tr.lookback_hours, sc_path)), None, 24),
    };
    let lookback_hours = bounded(
        lookback_hours,
        "training.lookback_hours",
        MAX_LOOKBACK_MINUTES / 60,
    )?;
    let min_needed = sliding_window.get() as u64 + 1;
    let min_samples = match tr.min_samples {
        Some(n) if n < min_needed => return Err(value_error(&sc_origin, "training.min_samples", format!("{n} is below what MVAD needs to train with sliding_window {} ({min_needed} buckets); raise it or remove the key", sliding_window.get()))),
        Some(n) => n,
        None => min_needed,
    };
    let (value_mode, file_placement) = match &tr.synthetic_mode {
        None => (ValueMode::Random, None),
        Some(text) => match (text.parse::<ValueMode>(), text.parse::<Placement>()) {
            (Ok(v), _) => (v, None),
            (_, Ok(p)) => (ValueMode::Random, Some(p)),
            _ => return Err(value_error(&sc_origin, "training.synthetic_mode", format!("unknown mode {text:?}; use constant, random or copy (padding values) or append, prepend or only (injection)"))),
        },
    };
    let level = tr.synthetic_level.unwrap_or(5);
    if level > 16 {
        return Err(value_error(
            &sc_origin,
            "training.synthetic_level",
            format!("Wazuh rule levels are 0..=16, found {level}"),
        ));
    }
    let srcip = match &tr.synthetic_srcip {
        Some(text) => text.parse::<IpAddr>().map_err(|_| {
            value_error(
                &sc_origin,
                "training.synthetic_srcip",
                format!("{text:?} is not an IP address"),
            )
        })?,
        None => IpAddr::from([192, 0, 2, 0]),
    };
    let synthetic = SyntheticSpec {
        values: value_mode,
        level: level as u8,
        srcip,
        min_count: tr.synthetic_count.unwrap_or(100) as usize,
        numeric_fields: features.numeric_fields.clone(),
        categorical_fields: features.categorical_fields.clone(),
        timestamp_field: wazuh.timestamp_field.clone(),
    };
    let training = TrainingSettings {
        lookback: Duration::from_secs(lookback_hours * 3600),
        min_samples: min_samples as usize,
        min_samples_given: tr.min_samples.is_some(),
        fill_with_synthetic: flags.fill_with_synthetic || tr.fill_with_synthetic.unwrap_or(false),
        retrain_every: tr
            .retrain_every_hours
            .filter(|h| *h > 0)
            .map(|h| Duration::from_secs(h.saturating_mul(3600))),
        synthetic: synthetic.clone(),
    };

    // ---- detection ----
    let mode = match (flags.mode, &det.mode) {
        (Some(m), _) => m,
        (None, Some(text)) => text
            .parse()
            .map_err(|p: String| value_error(&sc_origin, "detection.mode", p))?,
        (None, None) => DetectionMode::Historical,
    };
    let lookback_minutes = match flags.lookback_minutes {
        Some(m) => Pick {
            value: m,
            origin: CLI.into(),
            from_scenario: false,
        },
        None => pick(Some((&det.lookback_minutes, sc_path)), None, 10),
    };
    let lookback_minutes = bounded(
        lookback_minutes,
        "detection.lookback_minutes",
        MAX_LOOKBACK_MINUTES,
    )?;
    let polling = match det.polling_interval_seconds {
        Some(0) => {
            return Err(value_error(
                &sc_origin,
                "detection.polling_interval_seconds",
                "must be at least 1 (remove the key to poll once per bucket)",
            ))
        }
        Some(n) => n,
        None => bucket.value * 60,
    };
    let threshold = match (det.threshold, det.false_alarm_rate) {
        (Some(_), Some(_)) => {
            return Err(value_error(
                &sc_origin,
                "detection.false_alarm_rate",
                "set either detection.threshold or detection.false_alarm_rate, not both",
            ))
        }
        (Some(t), None) => t,
        (None, rate) => {
            let rate = rate.unwrap_or(crate::detect::DEFAULT_FALSE_ALARM_RATE);
            let buckets_per_day = 1440.0 / bucket.value as f64;
            if !(rate.is_finite() && rate > 0.0 && rate < buckets_per_day) {
                return Err(value_error(
                    &sc_origin,
                    "detection.false_alarm_rate",
                    format!(
                        "must be above 0 and below the {buckets_per_day} buckets of a day, found {rate}"
                    ),
                ));
            }
            crate::detect::threshold_for_rate(rate, bucket.value as u32)
        }
    };
    if !(0.0..=1.0).contains(&threshold) {
        return Err(value_error(
            &sc_origin,
            "detection.threshold",
            format!("must be between 0 and 1 (anomaly_score is in [0, 1]), found {threshold}"),
        ));
    }
    let min_consecutive = det.min_consecutive.unwrap_or(1);
    if min_consecutive == 0 {
        return Err(value_error(
            &sc_origin,
            "detection.min_consecutive",
            "must be at least 1",
        ));
    }
    let threshold_rule = match det.threshold_rule.as_deref() {
        None | Some("lagged") => sonar_mvad::ThresholdRule::Lagged,
        Some("trailing") => sonar_mvad::ThresholdRule::Trailing,
        Some(other) => {
            return Err(value_error(
                &sc_origin,
                "detection.threshold_rule",
                format!("must be `lagged` or `trailing`, found `{other}`"),
            ))
        }
    };
    let payload_dir = normalise_path(
        &flags
            .payload_dir
            .clone()
            .or(det.payload_dir.clone())
            .unwrap_or_else(|| PathBuf::from("payloads")),
    );
    let detection = DetectionSettings {
        mode,
        lookback: Duration::from_secs(lookback_minutes * 60),
        polling_interval: Duration::from_secs(polling),
        ingestion_delay: Duration::from_secs(det.ingestion_delay_seconds.unwrap_or(60)),
        threshold,
        min_consecutive: min_consecutive.min(u64::from(u32::MAX)) as u32,
        threshold_rule,
        payloads: PayloadSettings {
            print: flags.print_payloads || det.print_payloads.unwrap_or(false),
            dry_run: flags.dry_run || det.dry_run.unwrap_or(false),
            dir: payload_dir,
        },
        fill_with_synthetic: flags.fill_with_synthetic || det.fill_with_synthetic.unwrap_or(false),
        synthetic_count: det.synthetic_count.unwrap_or(50) as usize,
    };

    // ---- the run's window (flags only) ----
    if let (Some(start), Some(end)) = (flags.window.start, flags.window.end) {
        if start >= end {
            return Err(value_error(
                CLI,
                "--start",
                format!("{start} is not before --end {end}"),
            ));
        }
    }
    if flags.window.is_set() && detection.mode == DetectionMode::Realtime {
        return Err(value_error(
            CLI,
            "--start",
            "realtime mode polls from now on; use --start/--end with a historical or batch run",
        ));
    }

    // ---- injection (flags only, or a placement named in the scenario) ----
    let injection = match flags.synthetic_count {
        Some(0) => return Err(value_error(CLI, "--synthetic-count", "must be at least 1")),
        Some(count) => {
            let level = flags.synthetic_level.unwrap_or(5);
            if level > 16 {
                return Err(value_error(
                    CLI,
                    "--synthetic-level",
                    format!("Wazuh rule levels are 0..=16, found {level}"),
                ));
            }
            Some(Injection {
                count: count as usize,
                placement: flags
                    .synthetic_mode
                    .or(file_placement)
                    .unwrap_or(Placement::Append),
                spec: SyntheticSpec {
                    values: ValueMode::Constant,
                    level: level as u8,
                    srcip: flags.synthetic_srcip.unwrap_or(synthetic.srcip),
                    ..synthetic
                },
            })
        }
        None => {
            if flags.synthetic_mode.is_some()
                || flags.synthetic_level.is_some()
                || flags.synthetic_srcip.is_some()
            {
                warnings.push("--synthetic-mode/--synthetic-level/--synthetic-srcip do nothing without --synthetic-count N".into());
            }
            None
        }
    };

    let scenario_info = scenario.map(|l| ScenarioInfo {
        path: l.path.clone(),
        name: l.value.name.clone(),
        description: l.value.description.clone(),
        enabled: l.value.enabled,
        has_training: l.value.training.is_some(),
        has_detection: l.value.detection.is_some(),
    });
    Ok(Settings {
        wazuh,
        mvad: MvadSettings {
            sliding_window,
            sliding_window_given: tr.sliding_window.is_some() || m.sliding_window.is_some(),
            device,
            extra_params,
        },
        features,
        debug,
        shipping,
        training,
        detection,
        model_name,
        model_path,
        scenario: scenario_info,
        injection,
        window: flags.window,
        warnings,
    })
}

/// Longest lookback accepted: 100 years (larger values overflow time arithmetic).
const MAX_LOOKBACK_MINUTES: u64 = 100 * 366 * 24 * 60;

/// [`positive`] and at most `max`.
fn bounded(p: Pick<u64>, key: &str, max: u64) -> Result<u64, Error> {
    if p.value > max {
        return Err(value_error(
            &p.origin,
            key,
            format!("must be at most {max} (100 years), found {}", p.value),
        ));
    }
    positive(p, key)
}

fn positive(p: Pick<u64>, key: &str) -> Result<u64, Error> {
    if p.value == 0 {
        return Err(value_error(&p.origin, key, "must be at least 1"));
    }
    Ok(p.value)
}

fn non_empty(p: Pick<String>, key: &str) -> Result<String, Error> {
    if p.value.trim().is_empty() {
        return Err(value_error(&p.origin, key, "must not be empty"));
    }
    Ok(p.value)
}

/// A list of dotted field paths: the feature setting `name` (`features.` or `training.`).
fn fields(p: Pick<Vec<String>>, name: &str) -> Result<Vec<String>, Error> {
    if let Some(bad) = p
        .value
        .iter()
        .find(|f| f.trim().is_empty() || f.starts_with('.') || f.ends_with('.') || f.contains(".."))
    {
        return Err(value_error(
            &p.origin,
            &p.key("features", name),
            format!("{bad:?} is not a dotted field path like \"rule.level\""),
        ));
    }
    Ok(p.value)
}

/// The password: `SONAR_WAZUH_PASSWORD` > scenario (file, then inline) > config (file, then
/// inline) > `admin`. Naming both `password` and `password_file` in one file is an error.
fn resolve_password(
    env: &Environment,
    scenario: (&Option<String>, &Option<PathBuf>, &Path),
    config: (&Option<String>, &Option<PathBuf>, &Path),
) -> Result<(Secret, SecretOrigin), Error> {
    if let Some(v) = env.get(ENV_PASSWORD) {
        return Ok((Secret::new(v), SecretOrigin::Environment));
    }
    for (inline, file, origin) in [scenario, config] {
        match (inline, file) {
            (Some(_), Some(_)) => {
                return Err(value_error(
                    &origin.display().to_string(),
                    "wazuh.password_file",
                    "give either wazuh.password or wazuh.password_file, not both",
                ));
            }
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    value_error(
                        &origin.display().to_string(),
                        "wazuh.password_file",
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                let first = text.lines().next().unwrap_or("").trim_end_matches('\r');
                if first.is_empty() {
                    return Err(value_error(
                        &origin.display().to_string(),
                        "wazuh.password_file",
                        format!(
                            "{} is empty; its first line must be the password",
                            path.display()
                        ),
                    ));
                }
                return Ok((Secret::new(first), SecretOrigin::PasswordFile));
            }
            (Some(p), None) => return Ok((Secret::new(p.clone()), SecretOrigin::ConfigFile)),
            (None, None) => {}
        }
    }
    Ok((Secret::new("admin"), SecretOrigin::BuiltInDefault))
}

/// MVAD parameters the engine understands, and whether each takes a whole number.
const EXTRA_PARAMS: &[(&str, bool)] = &[
    ("epochs", true),
    ("batch_size", true),
    ("lr", false),
    ("seed", true),
    ("interval", true),
    ("horizon", true),
    ("train_ratio", false),
    ("val_ratio", false),
    ("level", false),
    ("beta", false),
    ("cnn_kernel_size", true),
    ("gat_window_size", true),
    ("hidden_size", true),
    ("z_dim", true),
    ("enc_dim", true),
    ("dec_dim", true),
    ("fill_na_method", false),
    ("fill_na_value", false),
    ("patience", true),
];

/// Checks one layer's `extra_params` (`section` is `mvad.extra_params` or
/// `training.extra_params`, the key path messages name).
fn check_extra_params(
    params: &serde_json::Map<String, serde_json::Value>,
    origin: &str,
    section: &str,
    warnings: &mut Vec<String>,
) -> Result<(), Error> {
    for (name, value) in params {
        let key = format!("{section}.{name}");
        match name.as_str() {
            "sliding_window" | "device" => {
                return Err(value_error(
                    origin,
                    &key,
                    format!(
                        "set {name} directly (training.{name} or mvad.{name}), not in extra_params"
                    ),
                ));
            }
            "learning_rate" => {
                warnings.push(format!(
                    "{origin}: `{key}` is not an MVAD parameter and is ignored; did you mean `lr`?"
                ));
                continue;
            }
            "save" => {
                warnings.push(format!(
                    "{origin}: `{key}` is ignored; model files go to model_path"
                ));
                continue;
            }
            "scoring" => {
                // The engine's own parsing and checks, reported against this file and key.
                sonar_mvad::MvadParams::default()
                    .apply_json(&serde_json::json!({ "scoring": value }))
                    .map_err(|e| value_error(origin, &key, e.to_string()))?;
                continue;
            }
            _ => {}
        }
        match EXTRA_PARAMS.iter().find(|(known, _)| known == name) {
            None => warnings.push(format!(
                "{origin}: `{key}` is not an MVAD parameter and is ignored"
            )),
            Some((_, true)) => {
                if value.as_u64().is_none_or(|n| n == 0) {
                    return Err(value_error(
                        origin,
                        &key,
                        format!("expected a whole number ≥ 1, found {value}"),
                    ));
                }
            }
            Some((_, false)) => {
                if name == "fill_na_method" {
                    if !value.as_str().is_some_and(|m| {
                        ["Previous", "Subsequent", "Linear", "Zero", "Fixed"].contains(&m)
                    }) {
                        return Err(value_error(origin, &key, format!("expected one of Previous, Subsequent, Linear, Zero, Fixed, found {value}")));
                    }
                } else if !value.is_number() {
                    return Err(value_error(
                        origin,
                        &key,
                        format!("expected a number, found {value}"),
                    ));
                }
            }
        }
    }
    Ok(())
}
