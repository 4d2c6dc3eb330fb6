//! Configuration and scenarios: the config file (`config/default_config.yaml`), scenario files
//! (`scenarios/*.yaml`), the environment and the command line, merged into one validated
//! [`Settings`] per run (reference: `docs/configuration.md`).
//!
//! Layering, lowest first: built-in defaults < config file < scenario < environment
//! (`SONAR_WAZUH_URL`, `SONAR_WAZUH_USERNAME`, `SONAR_WAZUH_PASSWORD`) < command-line flags
//! ([`Overrides`]). Files are checked by walking their YAML against the known key tree first
//! (`schema`): unknown keys become warnings, wrong types errors naming file and key path, and
//! relative paths are resolved against the naming file's directory and normalised lexically
//! (`config/../models/x` → `models/x`, [`normalise_path`]).
//!
//! Typical use by the CLI:
//! ```no_run
//! # fn main() -> Result<(), sonar::Error> {
//! use sonar::config::{Overrides, Settings};
//! let flags = Overrides { debug: true, ..Overrides::default() };
//! let settings = Settings::load(None, Some("scenarios/brute_force_detection.yaml".as_ref()), &flags)?;
//! for warning in &settings.warnings {
//!     eprintln!("warning: {warning}");
//! }
//! # Ok(()) }
//! ```

mod file;
mod key;
mod keys;
mod path;
mod reference;
mod resolve;
mod scenario;
mod schema;
mod settings;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use crate::source::{Secret, SecretOrigin};
pub use file::{ConfigFile, Loaded, VerifySsl};
pub use path::normalise_path;
pub use reference::key_reference;
pub use scenario::{slug, ScenarioFile};
pub use settings::{
    resolve, DebugSettings, DetectionMode, DetectionSettings, Device, Environment, MvadSettings,
    Overrides, PayloadSettings, RunWindow, ScenarioInfo, Settings, ShippingSettings, SlidingWindow,
    Tls, TrainingSettings, WazuhSettings, DEFAULT_CONFIG_PATH, ENV_PASSWORD, ENV_URL, ENV_USERNAME,
};

use crate::Error;

/// What kind of file [`validate`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A config file (`wazuh`, `mvad`, `features`, … at the top level).
    Config,
    /// A scenario file (`name`, `training`, `detection`, … at the top level).
    Scenario,
}

/// The outcome of validating one file that has no errors.
#[derive(Debug, Clone)]
pub struct Validation {
    /// Config or scenario.
    pub kind: FileKind,
    /// Warnings (unknown keys, insecure TLS, …); empty means the file is clean.
    pub warnings: Vec<String>,
}

/// Checks one config or scenario file completely, for `sonar validate FILE...`: parse, key
/// walk, and the same typed validation a run does (a scenario is validated on top of the
/// built-in defaults; the environment is not read). The kind is told from the top-level keys.
pub fn validate(path: &Path) -> Result<Validation, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        action: "reading",
        path: path.to_path_buf(),
        source,
    })?;
    let top: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| Error::ConfigSyntax {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let scenario_keys = [
        "name",
        "description",
        "enabled",
        "model_name",
        "training",
        "detection",
    ];
    let is_scenario = top.as_mapping().is_some_and(|m| {
        m.keys()
            .any(|k| k.as_str().is_some_and(|k| scenario_keys.contains(&k)))
    });
    let env = Environment::default();
    let flags = Overrides::default();
    if is_scenario {
        let loaded = ScenarioFile::parse(&text, path)?;
        let settings = resolve(None, Some(&loaded), &env, &flags)?;
        Ok(Validation {
            kind: FileKind::Scenario,
            warnings: settings.warnings,
        })
    } else {
        let loaded = ConfigFile::parse(&text, path)?;
        let settings = resolve(Some(&loaded), None, &env, &flags)?;
        Ok(Validation {
            kind: FileKind::Config,
            warnings: settings.warnings,
        })
    }
}
