//! [`Settings`]: everything one run needs, validated — a struct of the components' own
//! configuration types (`WazuhSettings` and `DebugSettings` of `source/`, `FeatureSpec` of
//! `features/`, `MvadSettings` and `TrainingSettings` of `engine.rs`, `DetectionSettings` of
//! `detect/`, `ShippingSettings` of `sink/`), plus the two layers that are not files: the
//! environment ([`Environment`]) and the command line ([`Overrides`]). `resolve.rs` builds it.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::file::ConfigFile;
use super::scenario::ScenarioFile;
use crate::features::FeatureSpec;
use crate::synthetic::{Injection, Placement};
use crate::Error;

pub use super::resolve::resolve;
use crate::detect::Entity;
pub use crate::detect::{DetectionMode, DetectionSettings, PayloadSettings};
pub use crate::engine::{MvadSettings, SlidingWindow, TrainingSettings};
use crate::pipeline::entity::Shard;
use crate::pipeline::EntitySettings;
pub use crate::sink::ShippingSettings;
pub use crate::source::{DebugSettings, Tls, WazuhSettings};

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

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
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
    /// `--shard I/N`: this process's share of a per-entity scenario's entities.
    pub shard: Option<Shard>,
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

/// Where the model runs: the engine's own enum, so the parsed value reaches it as is
/// (`cuda` and `gpu` in a file both select [`Device::Gpu`]).
pub use sonar_mvad::Device;

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

impl ScenarioInfo {
    /// `name` when none is given.
    pub const DEFAULT_NAME: &'static str = "unnamed_scenario";
}

/// Everything one run needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Indexer connection.
    pub wazuh: WazuhSettings,
    /// Model settings.
    pub mvad: MvadSettings,
    /// Feature settings (the alert time field included).
    pub features: FeatureSpec,
    /// `alert_filter`: an OpenSearch query fragment for `bool.must` (a JSON object).
    pub alert_filter: Option<serde_json::Value>,
    /// Debug mode.
    pub debug: DebugSettings,
    /// Shipping.
    pub shipping: ShippingSettings,
    /// Training extras.
    pub training: TrainingSettings,
    /// `training.entity_field` / `training.max_entities`: the scenario is split by entity
    /// (one model per entity, docs/entities.md); `None` scores the whole fleet as one series.
    pub entities: Option<EntitySettings>,
    /// `--shard I/N`: the share of the entities this process handles (per-entity scenarios).
    pub shard: Option<Shard>,
    /// The entity this run is restricted to: set by the per-entity runs
    /// ([`crate::pipeline::entity`]), never by a file.
    pub entity: Option<Entity>,
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
    /// `model_path` when none is given.
    pub const DEFAULT_MODEL_PATH: &'static str = "models/mvad_model";
    /// The model name of a run without a scenario or `--model-name`.
    pub const DEFAULT_MODEL_NAME: &'static str = "mvad_model";

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
