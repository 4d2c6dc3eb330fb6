//! The key tree of config and scenario files, and the walk that checks a parsed YAML document
//! against it before serde sees it.
//!
//! Why a walk instead of `#[serde(deny_unknown_fields)]`: serde stops at the first unknown key
//! and reports neither the key path of a type error nor the other problems in the file. The walk
//! knows every accepted key and its kind, so it (1) collects every unknown key as a warning
//! (the key is then removed, so it cannot be mistaken for a setting), (2) rejects a wrong type
//! with the full key path (`training.bucket_minutes`), (3) treats `key:` with a null value as
//! "not given" (the original turned such keys into crashes), and (4) resolves path values
//! against the directory of the file that names them (normalised: `config/../models/x` is
//! `models/x`). After the walk, deserialising into the serde structs cannot fail on shape;
//! range checks happen on the typed values.
//! `schema_matches_structs` (tests) keeps this table and the serde structs in step.

use std::path::Path;

use serde_yaml::{Mapping, Value};

use super::path::normalise_path;

use crate::Error;

/// What a key accepts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// `true` / `false`.
    Bool,
    /// A whole number ≥ 0.
    UInt,
    /// Any number.
    Float,
    /// A string.
    Str,
    /// A list of strings.
    StrList,
    /// A file or directory path, resolved against the naming file's directory.
    Path,
    /// A boolean, or a CA bundle path (the original's `verify_ssl` accepted both).
    BoolOrPath,
    /// A mapping with free keys (checked elsewhere: `extra_params`).
    FreeMap,
    /// An OpenSearch query fragment: any mapping.
    Query,
    /// A nested section with known keys.
    Section(&'static [(&'static str, Kind)]),
}

const WAZUH: &[(&str, Kind)] = &[
    ("base_url", Kind::Str),
    ("username", Kind::Str),
    ("password", Kind::Str),
    ("password_file", Kind::Path),
    ("verify_ssl", Kind::BoolOrPath),
    ("ca_cert", Kind::Path),
    ("alerts_index_pattern", Kind::Str),
    ("anomalies_index", Kind::Str),
    ("timestamp_field", Kind::Str),
    ("page_size", Kind::UInt),
    ("connect_timeout_seconds", Kind::UInt),
    ("request_timeout_seconds", Kind::UInt),
    ("max_retries", Kind::UInt),
];

const MVAD: &[(&str, Kind)] = &[
    ("sliding_window", Kind::UInt),
    ("device", Kind::Str),
    ("extra_params", Kind::FreeMap),
];

const FEATURES: &[(&str, Kind)] = &[
    ("numeric_fields", Kind::StrList),
    ("bucket_minutes", Kind::UInt),
    ("categorical_fields", Kind::StrList),
    ("categorical_top_k", Kind::UInt),
    ("derived_features", Kind::Bool),
    ("alert_filter", Kind::Query),
    ("max_numeric_fields", Kind::StrList),
];

const DEBUG: &[(&str, Kind)] = &[
    ("enabled", Kind::Bool),
    ("data_dir", Kind::Path),
    ("training_data_file", Kind::Str),
    ("detection_data_file", Kind::Str),
    ("anomalies_file", Kind::Path),
];

const SHIPPING: &[(&str, Kind)] = &[
    ("enabled", Kind::Bool),
    ("install_templates", Kind::Bool),
    ("scenario_id", Kind::Str),
];

/// Top level of a config file (`config/default_config.yaml`).
pub(crate) const CONFIG: &[(&str, Kind)] = &[
    ("wazuh", Kind::Section(WAZUH)),
    ("mvad", Kind::Section(MVAD)),
    ("features", Kind::Section(FEATURES)),
    ("debug", Kind::Section(DEBUG)),
    ("shipping", Kind::Section(SHIPPING)),
    ("model_path", Kind::Path),
];

const TRAINING: &[(&str, Kind)] = &[
    ("lookback_hours", Kind::UInt),
    ("numeric_fields", Kind::StrList),
    ("categorical_fields", Kind::StrList),
    ("categorical_top_k", Kind::UInt),
    ("bucket_minutes", Kind::UInt),
    ("sliding_window", Kind::UInt),
    ("device", Kind::Str),
    ("extra_params", Kind::FreeMap),
    ("derived_features", Kind::Bool),
    ("alert_filter", Kind::Query),
    ("max_numeric_fields", Kind::StrList),
    ("min_samples", Kind::UInt),
    ("retrain_every_hours", Kind::UInt),
    ("fill_with_synthetic", Kind::Bool),
    ("synthetic_count", Kind::UInt),
    ("synthetic_mode", Kind::Str),
    ("synthetic_level", Kind::UInt),
    ("synthetic_srcip", Kind::Str),
];

const DETECTION: &[(&str, Kind)] = &[
    ("mode", Kind::Str),
    ("lookback_minutes", Kind::UInt),
    ("polling_interval_seconds", Kind::UInt),
    ("ingestion_delay_seconds", Kind::UInt),
    ("threshold", Kind::Float),
    ("false_alarm_rate", Kind::Float),
    ("min_consecutive", Kind::UInt),
    ("threshold_rule", Kind::Str),
    ("print_payloads", Kind::Bool),
    ("dry_run", Kind::Bool),
    ("payload_dir", Kind::Path),
    ("fill_with_synthetic", Kind::Bool),
    ("synthetic_count", Kind::UInt),
];

/// Top level of a scenario file (`scenarios/*.yaml`).
pub(crate) const SCENARIO: &[(&str, Kind)] = &[
    ("name", Kind::Str),
    ("description", Kind::Str),
    ("enabled", Kind::Bool),
    ("model_name", Kind::Str),
    ("training", Kind::Section(TRAINING)),
    ("detection", Kind::Section(DETECTION)),
    ("shipping", Kind::Section(SHIPPING)),
    ("debug", Kind::Section(DEBUG)),
    ("wazuh", Kind::Section(WAZUH)),
];

/// Keys that moved or were misspelt in files written for the original, with the hint shown
/// next to the "unknown key" warning.
const HINTS: &[(&str, &str)] = &[
    ("verify_certs", "use wazuh.verify_ssl"),
    ("host", "use wazuh.base_url"),
    ("url", "use wazuh.base_url"),
    ("min_consecutive_anomalies", "use detection.min_consecutive"),
    ("anomaly_threshold", "use detection.threshold"),
];

/// Shared state of one walk: where the document came from, and what it found.
pub(crate) struct Walk<'a> {
    /// The file name shown in messages.
    pub origin: &'a Path,
    /// Directory that relative paths are resolved against.
    pub base_dir: &'a Path,
    /// Unknown keys and other non-fatal findings, one sentence each.
    pub warnings: Vec<String>,
}

impl Walk<'_> {
    fn error(&self, key: &str, problem: impl Into<String>) -> Error {
        Error::ConfigValue {
            origin: self.origin.display().to_string(),
            key: key.to_string(),
            problem: problem.into(),
        }
    }
}

/// Checks the document's top level against `fields`, cleaning it in place (unknown keys and
/// nulls removed, paths resolved). An empty document is an empty mapping.
pub(crate) fn check_document(
    doc: &mut Value,
    fields: &'static [(&'static str, Kind)],
    walk: &mut Walk<'_>,
) -> Result<(), Error> {
    if doc.is_null() {
        *doc = Value::Mapping(Mapping::new());
    }
    check_section(doc, fields, "", walk)
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "nothing (null)".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a mapping".into(),
        Value::Tagged(t) => format!("a value tagged {}", t.tag),
    }
}

fn check_section(
    value: &mut Value,
    fields: &'static [(&'static str, Kind)],
    prefix: &str,
    walk: &mut Walk<'_>,
) -> Result<(), Error> {
    let Value::Mapping(map) = value else {
        let what = if prefix.is_empty() {
            "the file"
        } else {
            prefix
        };
        return Err(walk.error(
            if prefix.is_empty() {
                "(top level)"
            } else {
                prefix
            },
            format!(
                "{what} must be a mapping of keys to values, found {}",
                describe(value)
            ),
        ));
    };
    let mut cleaned = Mapping::new();
    for (key, mut child) in std::mem::take(map) {
        let Some(name) = key.as_str().map(str::to_string) else {
            walk.warnings.push(format!(
                "{}: ignoring a key that is not a string ({}) under `{}`",
                walk.origin.display(),
                describe(&key),
                if prefix.is_empty() {
                    "(top level)"
                } else {
                    prefix
                }
            ));
            continue;
        };
        let path = join(prefix, &name);
        let Some((_, kind)) = fields.iter().find(|(known, _)| *known == name) else {
            let hint = HINTS
                .iter()
                .find(|(old, _)| *old == name)
                .map(|(_, hint)| format!(" ({hint})"))
                .unwrap_or_default();
            walk.warnings.push(format!(
                "{}: unknown key `{path}` is ignored{hint}",
                walk.origin.display()
            ));
            continue;
        };
        if child.is_null() {
            continue; // `key:` with nothing after it means "not given".
        }
        check_value(&mut child, *kind, &path, walk)?;
        cleaned.insert(Value::String(name), child);
    }
    *map = cleaned;
    Ok(())
}

fn check_value(
    value: &mut Value,
    kind: Kind,
    path: &str,
    walk: &mut Walk<'_>,
) -> Result<(), Error> {
    let wrong = |expected: &str, value: &Value| {
        walk.error(
            path,
            format!("expected {expected}, found {}", describe(value)),
        )
    };
    match kind {
        Kind::Bool => {
            if !value.is_bool() {
                return Err(wrong("true or false", value));
            }
        }
        Kind::UInt => match value.as_i64() {
            Some(n) if n < 0 => {
                return Err(walk.error(path, format!("must not be negative, found {n}")));
            }
            Some(_) => {}
            None => return Err(wrong("a whole number", value)),
        },
        Kind::Float => {
            if !value.is_number() {
                return Err(wrong("a number", value));
            }
        }
        Kind::Str => {
            if !value.is_string() {
                return Err(wrong("a string", value));
            }
        }
        Kind::StrList => {
            let Some(items) = value.as_sequence() else {
                return Err(wrong("a list of strings, e.g. [\"rule.level\"]", value));
            };
            if let Some(bad) = items.iter().find(|item| !item.is_string()) {
                return Err(wrong("a list of strings", bad));
            }
        }
        Kind::Path => resolve_path(value, path, walk)?,
        Kind::BoolOrPath => {
            if !value.is_bool() {
                if !value.is_string() {
                    return Err(wrong("true, false or a CA bundle path", value));
                }
                resolve_path(value, path, walk)?;
            }
        }
        Kind::FreeMap | Kind::Query => {
            let Some(map) = value.as_mapping() else {
                return Err(wrong("a mapping", value));
            };
            if let Some(bad) = map.keys().find(|k| !k.is_string()) {
                return Err(walk.error(
                    path,
                    format!("keys must be strings, found {}", describe(bad)),
                ));
            }
        }
        Kind::Section(fields) => check_section(value, fields, path, walk)?,
    }
    Ok(())
}

fn resolve_path(value: &mut Value, path: &str, walk: &mut Walk<'_>) -> Result<(), Error> {
    let Some(text) = value.as_str() else {
        return Err(walk.error(path, format!("expected a path, found {}", describe(value))));
    };
    if text.is_empty() {
        return Err(walk.error(path, "an empty path is not a path; remove the key instead"));
    }
    let given = Path::new(text);
    let resolved = if given.is_relative() {
        normalise_path(&walk.base_dir.join(given))
    } else {
        normalise_path(given)
    };
    *value = Value::String(resolved.to_string_lossy().into_owned());
    Ok(())
}

/// The names of every key under a section, for the schema/struct consistency test.
#[cfg(test)]
pub(crate) fn key_paths(fields: &'static [(&'static str, Kind)], prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (name, kind) in fields {
        let path = join(prefix, name);
        if let Kind::Section(inner) = kind {
            out.extend(key_paths(inner, &path));
        }
        out.push(path);
    }
    out
}
