//! Reading a config or scenario file: parse the YAML, walk it against the declared keys
//! (`schema.rs`), keep the checked tree. A layer that does not name a key leaves the value of
//! the layer below in place; `settings` merges the layers into typed values.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::schema::{self, FileSide, Walk};
use crate::Error;

/// `wazuh.verify_ssl`: a flag, or (as the original allowed) the path of a CA bundle.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum VerifySsl {
    /// Verify (true) or not (false).
    Flag(bool),
    /// Verify against this CA bundle.
    CaBundle(PathBuf),
}

/// A config file as written: its checked key tree (unknown keys and nulls removed, paths
/// resolved). Values are read through the declarations of `keys.rs`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigFile {
    pub(crate) tree: serde_yaml::Value,
}

impl<T> Loaded<T> {
    /// The same file with its value mapped.
    pub(crate) fn map<U>(self, f: impl FnOnce(T) -> U) -> Loaded<U> {
        Loaded {
            value: f(self.value),
            path: self.path,
            warnings: self.warnings,
        }
    }
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
        Ok(load_tree(path, FileSide::Config)?.map(|tree| Self { tree }))
    }

    /// Parses config text as if it were the file `origin` (for tests and embedded defaults).
    pub fn parse(text: &str, origin: &Path) -> Result<Loaded<Self>, Error> {
        Ok(parse_tree(text, origin, FileSide::Config)?.map(|tree| Self { tree }))
    }
}

pub(crate) fn load_tree(path: &Path, side: FileSide) -> Result<Loaded<serde_yaml::Value>, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        action: "reading",
        path: path.to_path_buf(),
        source,
    })?;
    parse_tree(&text, path, side)
}

pub(crate) fn parse_tree(
    text: &str,
    path: &Path,
    side: FileSide,
) -> Result<Loaded<serde_yaml::Value>, Error> {
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
    schema::check_document(&mut doc, side, &mut walk)?;
    Ok(Loaded {
        value: doc,
        path: path.to_path_buf(),
        warnings: walk.warnings,
    })
}
