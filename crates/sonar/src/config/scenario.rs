//! Scenario ("use case") files, `scenarios/*.yaml`: what to learn, how to detect, where to
//! ship. Same schema as the original's; every accepted key has an effect (see
//! `docs/configuration.md` for where each one goes). A section's presence matters: the
//! `scenario` command trains when `training:` is present and detects when `detection:` is.

use std::path::Path;

use super::file::{self, Loaded};
use super::schema::FileSide;
use crate::Error;

/// A scenario file as written: its checked key tree. `training:` and `detection:` sections
/// switch the scenario command's phases on by being present.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScenarioFile {
    pub(crate) tree: serde_yaml::Value,
}

impl ScenarioFile {
    /// Reads, checks and parses a scenario file. Relative paths inside it are resolved
    /// against its directory; unknown keys become warnings.
    pub fn load(path: &Path) -> Result<Loaded<Self>, Error> {
        Ok(file::load_tree(path, FileSide::Scenario)?.map(|tree| Self { tree }))
    }

    /// Parses scenario text as if it were the file `origin`.
    pub fn parse(text: &str, origin: &Path) -> Result<Loaded<Self>, Error> {
        Ok(file::parse_tree(text, origin, FileSide::Scenario)?.map(|tree| Self { tree }))
    }

    /// Whether the file has a `section:` (`training`, `detection`).
    pub fn has_section(&self, section: &str) -> bool {
        self.tree.get(section).is_some()
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
