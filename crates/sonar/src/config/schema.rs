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
//! The key tree is the declarations of `keys.rs`: a path is a key when one is declared with it
//! for the file's side, a section when declared keys lie below it.

use std::path::Path;

use serde_yaml::{Mapping, Value};

use super::key::Kind;
use super::keys;
use super::path::normalise_path;

use crate::Error;

/// Which kind of file a walk checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileSide {
    /// A config file.
    Config,
    /// A scenario file.
    Scenario,
}

/// What a dotted path is in a file of one side.
enum Known {
    /// A declared key.
    Leaf(Kind),
    /// A section holding declared keys.
    Section,
}

fn known(side: FileSide, path: &str) -> Option<Known> {
    let mut section = false;
    for key in keys::ALL {
        let declared = match side {
            FileSide::Config => key.config(),
            FileSide::Scenario => key.scenario(),
        };
        let Some(declared) = declared else { continue };
        if declared == path {
            return Some(Known::Leaf(key.kind()));
        }
        section |= declared
            .strip_prefix(path)
            .is_some_and(|rest| rest.starts_with('.'));
    }
    section.then_some(Known::Section)
}

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
    side: FileSide,
    walk: &mut Walk<'_>,
) -> Result<(), Error> {
    if doc.is_null() {
        *doc = Value::Mapping(Mapping::new());
    }
    check_section(doc, side, "", walk)
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
    side: FileSide,
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
        let Some(known) = known(side, &path) else {
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
        match known {
            Known::Leaf(kind) => check_value(&mut child, kind, &path, walk)?,
            Known::Section => check_section(&mut child, side, &path, walk)?,
        }
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
        Kind::StrOrList => {
            if !value.is_string() {
                let Some(items) = value.as_sequence() else {
                    return Err(wrong(
                        "a field path or a list of them, e.g. agent.name",
                        value,
                    ));
                };
                if let Some(bad) = items.iter().find(|item| !item.is_string()) {
                    return Err(wrong("a list of strings", bad));
                }
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
