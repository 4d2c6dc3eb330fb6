//! What a key declaration is ([`Key`], [`Opt`]) and how a declared key is read from the layers
//! ([`Layers`]): the highest file layer that gives it, else its declared default, with the
//! origin and key path an error message names.
//!
//! The declarations themselves are in `keys.rs`; the walk (`schema.rs`) checks every file
//! against them before any value is read, so reading a value here cannot meet a wrong type.

use std::path::PathBuf;

use serde_yaml::Value;

use super::file::{ConfigFile, Loaded, VerifySsl};
use super::scenario::ScenarioFile;
use crate::Error;

/// What a key accepts (the walk checks this).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// A string or a list of strings (read as a list).
    StrOrList,
    /// A file or directory path, resolved against the naming file's directory.
    Path,
    /// A boolean, or a CA bundle path (the original's `verify_ssl` accepted both).
    BoolOrPath,
    /// A mapping with free keys (checked elsewhere: `extra_params`).
    FreeMap,
    /// An OpenSearch query fragment: any mapping.
    Query,
}

/// The type of a declared key: its kind, how its checked YAML value reads, and how its
/// default is written (a `const`, so a declaration can hold it).
pub(crate) trait Setting: 'static {
    /// The value a run uses.
    type Out;
    /// What the walk accepts.
    const KIND: Kind;
    /// The value of a checked YAML node (`None` only if the walk and this disagree).
    fn read(value: &Value) -> Option<Self::Out>;
    /// The declared default as a value.
    fn out(&self) -> Self::Out;
    /// The declared default as the documentation shows it.
    fn show(&self) -> String;
}

/// A plain value that is its own default (`u64`, `bool`, `f64`).
macro_rules! plain_setting {
    ($($ty:ty => $kind:ident, $read:ident;)*) => {$(
        impl Setting for $ty {
            type Out = $ty;
            const KIND: Kind = Kind::$kind;
            fn read(value: &Value) -> Option<$ty> {
                value.$read()
            }
            fn out(&self) -> $ty {
                *self
            }
            fn show(&self) -> String {
                self.to_string()
            }
        }
    )*};
}

plain_setting! {
    u64 => UInt, as_u64;
    bool => Bool, as_bool;
    f64 => Float, as_f64;
}

impl Setting for &'static str {
    type Out = String;
    const KIND: Kind = Kind::Str;
    fn read(value: &Value) -> Option<String> {
        value.as_str().map(str::to_owned)
    }
    fn out(&self) -> String {
        (*self).to_owned()
    }
    fn show(&self) -> String {
        if self.is_empty() {
            "\"\"".to_owned()
        } else {
            (*self).to_owned()
        }
    }
}

impl Setting for &'static [&'static str] {
    type Out = Vec<String>;
    const KIND: Kind = Kind::StrList;
    fn read(value: &Value) -> Option<Vec<String>> {
        value
            .as_sequence()?
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect()
    }
    fn out(&self) -> Vec<String> {
        self.iter().map(|s| (*s).to_owned()).collect()
    }
    fn show(&self) -> String {
        format!("[{}]", self.join(", "))
    }
}

/// A field path or a list of them (`training.entity_field`); no default value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldList;

impl Setting for FieldList {
    type Out = Vec<String>;
    const KIND: Kind = Kind::StrOrList;
    fn read(value: &Value) -> Option<Vec<String>> {
        match value {
            Value::String(s) => Some(vec![s.clone()]),
            other => <&'static [&'static str]>::read(other),
        }
    }
    fn out(&self) -> Vec<String> {
        Vec::new()
    }
    fn show(&self) -> String {
        "[]".to_owned()
    }
}

/// A path key's type; the default is relative to the working directory.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FilePath(pub &'static str);

impl Setting for FilePath {
    type Out = PathBuf;
    const KIND: Kind = Kind::Path;
    fn read(value: &Value) -> Option<PathBuf> {
        value.as_str().map(PathBuf::from)
    }
    fn out(&self) -> PathBuf {
        PathBuf::from(self.0)
    }
    fn show(&self) -> String {
        self.0.to_owned()
    }
}

/// `wazuh.verify_ssl`'s type: a flag or a CA bundle path.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VerifyFlag(pub bool);

impl Setting for VerifyFlag {
    type Out = VerifySsl;
    const KIND: Kind = Kind::BoolOrPath;
    fn read(value: &Value) -> Option<VerifySsl> {
        match value {
            Value::Bool(b) => Some(VerifySsl::Flag(*b)),
            Value::String(s) => Some(VerifySsl::CaBundle(PathBuf::from(s))),
            _ => None,
        }
    }
    fn out(&self) -> VerifySsl {
        VerifySsl::Flag(self.0)
    }
    fn show(&self) -> String {
        self.0.to_string()
    }
}

/// A mapping key's type (`extra_params`: free names checked by the code that reads them).
#[derive(Debug, Clone, Copy)]
pub(crate) struct FreeMap;

/// An OpenSearch query fragment's type.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Query;

/// A mapping (no default value: `{}` stands for "none given").
macro_rules! map_setting {
    ($($ty:ty => $kind:ident;)*) => {$(
        impl Setting for $ty {
            type Out = serde_json::Map<String, serde_json::Value>;
            const KIND: Kind = Kind::$kind;
            fn read(value: &Value) -> Option<Self::Out> {
                serde_yaml::from_value(value.clone()).ok()
            }
            fn out(&self) -> Self::Out {
                serde_json::Map::new()
            }
            fn show(&self) -> String {
                "{}".to_owned()
            }
        }
    )*};
}

map_setting! {
    FreeMap => FreeMap;
    Query => Query;
}

/// A key with a default: its paths, default and one-line documentation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Key<T: Setting> {
    /// Its path in a config file, when a config file may set it.
    pub config: Option<&'static str>,
    /// Its path in a scenario file, when a scenario may set it (`training.<key>` for a
    /// `features.*` / `mvad.*` key; the same path for `wazuh.*`, `debug.*`, `shipping.*`).
    pub scenario: Option<&'static str>,
    /// The value when no layer gives one.
    pub default: T,
    /// Not in the original SONAR (the reference marks it *new*).
    pub new: bool,
    /// What it does, one table cell of docs/configuration.md.
    pub doc: &'static str,
}

/// A key whose absence means something (no default value, or one computed from other keys).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Opt<T: Setting> {
    /// Its path in a config file, when a config file may set it.
    pub config: Option<&'static str>,
    /// Its path in a scenario file, when a scenario may set it.
    pub scenario: Option<&'static str>,
    /// What applies when no layer gives it, as the documentation says it (`—`: nothing).
    pub default: &'static str,
    /// Not in the original SONAR.
    pub new: bool,
    /// What it does.
    pub doc: &'static str,
    /// Only for the type parameter.
    pub kind: std::marker::PhantomData<T>,
}

/// Any declaration, for the walk and the reference table.
pub(crate) trait Declared: Sync {
    /// Path in a config file.
    fn config(&self) -> Option<&'static str>;
    /// Path in a scenario file.
    fn scenario(&self) -> Option<&'static str>;
    /// What the walk accepts.
    fn kind(&self) -> Kind;
    /// The default as documented.
    fn default_text(&self) -> String;
    /// Not in the original.
    fn is_new(&self) -> bool;
    /// One table cell.
    fn doc(&self) -> &'static str;
}

impl<T: Setting + Sync> Declared for Key<T> {
    fn config(&self) -> Option<&'static str> {
        self.config
    }
    fn scenario(&self) -> Option<&'static str> {
        self.scenario
    }
    fn kind(&self) -> Kind {
        T::KIND
    }
    fn default_text(&self) -> String {
        format!("`{}`", self.default.show())
    }
    fn is_new(&self) -> bool {
        self.new
    }
    fn doc(&self) -> &'static str {
        self.doc
    }
}

impl<T: Setting + Sync> Declared for Opt<T> {
    fn config(&self) -> Option<&'static str> {
        self.config
    }
    fn scenario(&self) -> Option<&'static str> {
        self.scenario
    }
    fn kind(&self) -> Kind {
        T::KIND
    }
    fn default_text(&self) -> String {
        self.default.to_owned()
    }
    fn is_new(&self) -> bool {
        self.new
    }
    fn doc(&self) -> &'static str {
        self.doc
    }
}

/// One setting's value and where it came from, for messages that name the right origin.
#[derive(Debug, Clone)]
pub(crate) struct Pick<T> {
    /// The value.
    pub value: T,
    /// The file that gave it, or `built-in default`.
    pub origin: String,
    /// The key path as that layer writes it (`training.bucket_minutes` from a scenario).
    pub path: &'static str,
}

/// Which file layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layer {
    /// The config file.
    Config,
    /// The scenario file.
    Scenario,
}

/// The file layers of one run, highest first when read.
pub(crate) struct Layers<'a> {
    /// The config file, if any.
    pub config: Option<&'a Loaded<ConfigFile>>,
    /// The scenario file, if any.
    pub scenario: Option<&'a Loaded<ScenarioFile>>,
}

/// The origin of a value no file gave.
pub(crate) const BUILT_IN: &str = "built-in default";

impl Layers<'_> {
    /// The value of `key` in one layer, if that layer gives it.
    pub(crate) fn in_layer<T: Setting>(
        &self,
        layer: Layer,
        config: Option<&'static str>,
        scenario: Option<&'static str>,
    ) -> Result<Option<Pick<T::Out>>, Error> {
        let (tree, file, path) = match layer {
            Layer::Config => match (self.config, config) {
                (Some(l), Some(p)) => (&l.value.tree, &l.path, p),
                _ => return Ok(None),
            },
            Layer::Scenario => match (self.scenario, scenario) {
                (Some(l), Some(p)) => (&l.value.tree, &l.path, p),
                _ => return Ok(None),
            },
        };
        let Some(node) = lookup(tree, path) else {
            return Ok(None);
        };
        let origin = file.display().to_string();
        match T::read(node) {
            Some(value) => Ok(Some(Pick {
                value,
                origin,
                path,
            })),
            // The walk checked the kind; this is a disagreement between walk and reader.
            None => Err(Error::ConfigValue {
                origin,
                key: path.to_owned(),
                problem: format!("cannot be read as {:?}", T::KIND),
            }),
        }
    }

    /// The highest layer's value of a key without a default: scenario over config.
    pub(crate) fn given<T: Setting>(&self, key: &Opt<T>) -> Result<Option<Pick<T::Out>>, Error> {
        self.highest::<T>(key.config, key.scenario)
    }

    /// The highest layer's value: scenario over config over the declared default.
    pub(crate) fn value<T: Setting>(&self, key: &Key<T>) -> Result<Pick<T::Out>, Error> {
        Ok(match self.highest::<T>(key.config, key.scenario)? {
            Some(pick) => pick,
            None => Pick {
                value: key.default.out(),
                origin: BUILT_IN.to_owned(),
                path: key.config.or(key.scenario).unwrap_or_default(),
            },
        })
    }

    /// Whether any file gives the key.
    pub(crate) fn is_given<T: Setting>(&self, key: &Key<T>) -> Result<bool, Error> {
        Ok(self.highest::<T>(key.config, key.scenario)?.is_some())
    }

    fn highest<T: Setting>(
        &self,
        config: Option<&'static str>,
        scenario: Option<&'static str>,
    ) -> Result<Option<Pick<T::Out>>, Error> {
        if let Some(pick) = self.in_layer::<T>(Layer::Scenario, config, scenario)? {
            return Ok(Some(pick));
        }
        self.in_layer::<T>(Layer::Config, config, scenario)
    }
}

/// The node at a dotted path of a checked tree.
fn lookup<'v>(tree: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.')
        .try_fold(tree, |node, part| node.as_mapping()?.get(part))
}
