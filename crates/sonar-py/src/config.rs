//! `PipelineConfig`: the CLI's settings (`sonar::config::Settings`), loaded the same way:
//! config file (`config/default_config.yaml` in the working directory when none is given),
//! optional scenario, environment (`SONAR_WAZUH_PASSWORD`, ...). Keyword sections from Python
//! (`PipelineConfig(features={...})`) are merged over the file's YAML before it is checked,
//! so they get the file's validation and messages; an unknown keyword key is an error.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pyo3::prelude::*;
use serde_json::json;
use sonar::config::{
    resolve, ConfigFile, Environment, Overrides, ScenarioFile, Settings, DEFAULT_CONFIG_PATH,
};
use sonar::Error;

use crate::errors::{self, IntoPy, Kind};
use crate::matrix;

/// One run's validated settings, shared by the components built from them.
#[pyclass(frozen, module = "sonar._native")]
#[derive(Debug, Clone)]
pub struct NativeSettings {
    pub(crate) inner: Arc<Settings>,
}

impl NativeSettings {
    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.inner
    }
}

#[pymethods]
impl NativeSettings {
    /// Every value a Python caller may read, as JSON text. The password is never included:
    /// only whether one is set and where it came from (as `sonar check` reports it).
    fn describe(&self) -> PyResult<String> {
        let s = &*self.inner;
        let w = &s.wazuh;
        let f = &s.features;
        let view = json!({
            "wazuh": {
                "base_url": w.base_url.as_str(),
                "username": w.username,
                "password_set": !w.password.is_empty(),
                "password_origin": format!("{:?}", w.password_origin),
                "verify_ssl": w.tls.verify,
                "ca_cert": w.tls.ca_cert.as_ref().map(|p| p.display().to_string()),
                "alerts_index_pattern": w.alerts_index_pattern,
                "anomalies_index": w.anomalies_index,
                "timestamp_field": f.timestamp_field,
                "page_size": w.page_size,
                "max_retries": w.max_retries,
            },
            "mvad": {
                "sliding_window": s.mvad.sliding_window.get(),
                "device": s.mvad.device.name(),
                "extra_params": s.mvad.extra_params,
            },
            "features": {
                "numeric_fields": f.numeric_fields,
                "bucket_minutes": f.bucket_minutes,
                "categorical_fields": f.categorical_fields,
                "categorical_top_k": f.categorical_top_k,
                "derived_features": f.derived_features,
                "alert_filter": s.alert_filter,
                "max_numeric_fields": f.max_numeric_fields,
            },
            "debug": {
                "enabled": s.debug.enabled,
                "training_data_file": s.debug.training_data.display().to_string(),
                "detection_data_file": s.debug.detection_data.display().to_string(),
                "anomalies_file": s.debug.anomalies_file.display().to_string(),
            },
            "shipping": {
                "enabled": s.shipping.enabled,
                "install_templates": s.shipping.install_templates,
                "scenario_id": s.shipping.scenario_id,
            },
            "detection": {
                "threshold": s.detection.threshold,
                "min_consecutive": s.detection.min_consecutive,
                "lookback_minutes": s.detection.lookback.as_secs() / 60,
            },
            "model_name": s.model_name,
            "model_path": s.model_path.display().to_string(),
            "scenario_name": s.scenario.as_ref().map(|sc| sc.name.clone()),
        });
        matrix::to_json(&view)
    }

    /// Warnings of the load (unknown keys, `verify_ssl: false`, ...), one sentence each.
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.inner.warnings.clone()
    }

    /// A copy with the payload switches of the CLI flags `--print-payloads`, `--dry-run`,
    /// `--payload-dir` (each `None` keeps the loaded value).
    #[pyo3(signature = (print_payloads=None, dry_run=None, payload_dir=None))]
    fn with_payloads(
        &self,
        print_payloads: Option<bool>,
        dry_run: Option<bool>,
        payload_dir: Option<PathBuf>,
    ) -> Self {
        let mut s = (*self.inner).clone();
        let p = &mut s.detection.payloads;
        if let Some(v) = print_payloads {
            p.print = v;
        }
        if let Some(v) = dry_run {
            p.dry_run = v;
        }
        if let Some(dir) = payload_dir {
            p.dir = dir;
        }
        Self { inner: Arc::new(s) }
    }
}

/// Loads settings as the CLI does, with keyword sections (`sections_json`, a JSON object of
/// top-level config keys) merged over the config file, `debug` as `--debug`, and `model_path`
/// replacing the configured model directory (relative to the working directory, as Python
/// paths are).
#[pyfunction]
#[pyo3(signature = (config=None, scenario=None, sections_json=None, debug=false, model_path=None))]
pub fn load_settings(
    config: Option<PathBuf>,
    scenario: Option<PathBuf>,
    sections_json: Option<String>,
    debug: bool,
    model_path: Option<PathBuf>,
) -> PyResult<NativeSettings> {
    let flags = Overrides {
        debug,
        ..Overrides::default()
    };
    let mut settings = match sections_json {
        None => Settings::load(config.as_deref(), scenario.as_deref(), &flags).py()?,
        Some(text) => {
            let sections = matrix::json(&text, "the keyword sections")?;
            with_sections(config.as_deref(), scenario.as_deref(), &sections, &flags)?
        }
    };
    if let Some(path) = model_path {
        settings.model_path = path;
    }
    Ok(NativeSettings {
        inner: Arc::new(settings),
    })
}

/// The config file's YAML (or an empty mapping) with `sections` merged in, checked as that
/// file, then resolved with the scenario, the environment and `flags`.
fn with_sections(
    config: Option<&Path>,
    scenario: Option<&Path>,
    sections: &serde_json::Value,
    flags: &Overrides,
) -> PyResult<Settings> {
    let path = match config {
        Some(path) => Some(path.to_path_buf()),
        None if Path::new(DEFAULT_CONFIG_PATH).is_file() => {
            Some(PathBuf::from(DEFAULT_CONFIG_PATH))
        }
        None => None,
    };
    let (origin, mut doc) = match &path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|source| Error::Io {
                    action: "reading",
                    path: path.clone(),
                    source,
                })
                .py()?;
            let doc: serde_yaml::Value = serde_yaml::from_str(&text)
                .map_err(|e| Error::ConfigSyntax {
                    path: path.clone(),
                    message: e.to_string(),
                })
                .py()?;
            (path.clone(), doc)
        }
        // Relative paths in keyword sections resolve against the working directory.
        None => (
            PathBuf::from("./keyword arguments"),
            serde_yaml::Value::Mapping(Default::default()),
        ),
    };
    let overlay: serde_yaml::Value = serde_json::from_value(sections.clone())
        .map_err(|e| errors::data(format!("keyword sections: {e}")))?;
    merge(&mut doc, overlay);
    let text =
        serde_yaml::to_string(&doc).map_err(|e| errors::data(format!("keyword sections: {e}")))?;
    let loaded = ConfigFile::parse(&text, &origin).py()?;
    let given = key_paths(sections, "");
    if let Some(w) = loaded.warnings.iter().find(|w| {
        given
            .iter()
            .any(|k| w.contains(&format!("unknown key `{k}`")))
    }) {
        return Err(errors::raise(
            Kind::Config,
            format!("{w} (given as a keyword argument)"),
        ));
    }
    let scenario = scenario.map(ScenarioFile::load).transpose().py()?;
    resolve(
        Some(&loaded),
        scenario.as_ref(),
        &Environment::from_process(),
        flags,
    )
    .py()
}

/// Deep merge: mappings merge key by key, anything else replaces.
fn merge(base: &mut serde_yaml::Value, overlay: serde_yaml::Value) {
    match (base, overlay) {
        (serde_yaml::Value::Mapping(b), serde_yaml::Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) if existing.is_mapping() && v.is_mapping() => merge(existing, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// Every dotted key path of a JSON object, at every level (`features`, `features.foo`).
fn key_paths(value: &serde_json::Value, prefix: &str) -> Vec<String> {
    let Some(map) = value.as_object() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, v) in map {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        // `extra_params` and `alert_filter` hold free-form maps.
        if k != "extra_params" && k != "alert_filter" {
            out.extend(key_paths(v, &path));
        }
        out.push(path);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_is_deep_and_key_paths_cover_every_level() {
        let mut base: serde_yaml::Value = serde_yaml::from_str(
            "features: {bucket_minutes: 5, numeric_fields: [a]}\nmodel_path: m",
        )
        .expect("yaml");
        let overlay: serde_yaml::Value =
            serde_yaml::from_str("features: {bucket_minutes: 10}").expect("yaml");
        merge(&mut base, overlay);
        assert_eq!(base["features"]["bucket_minutes"].as_u64(), Some(10));
        assert_eq!(base["features"]["numeric_fields"][0].as_str(), Some("a"));
        assert_eq!(base["model_path"].as_str(), Some("m"));
        let paths = key_paths(
            &json!({"features": {"bucket_minutes": 1}, "mvad": {"extra_params": {"epochs": 1}}}),
            "",
        );
        for p in [
            "features",
            "features.bucket_minutes",
            "mvad",
            "mvad.extra_params",
        ] {
            assert!(paths.contains(&p.to_string()), "{p} in {paths:?}");
        }
        assert!(!paths.contains(&"mvad.extra_params.epochs".to_string()));
    }
}
