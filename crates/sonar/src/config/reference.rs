//! The key reference of docs/configuration.md, generated from the declarations (`keys.rs`), so
//! the documentation cannot drift from what the walk accepts and the defaults a run uses.
//! A test compares the file's generated part with [`key_reference`];
//! `SONAR_WRITE_DOCS=1 cargo test --workspace --lib config::reference` rewrites it.

use super::key::{Declared, Kind};
use super::keys::ALL;

/// First line of the generated part of docs/configuration.md.
#[cfg(test)]
const BEGIN: &str =
    "<!-- generated from crates/sonar/src/config/keys.rs: SONAR_WRITE_DOCS=1 cargo test --workspace --lib config::reference -->";
/// Last line of the generated part.
#[cfg(test)]
const END: &str = "<!-- end of generated key reference -->";

/// The key reference as Markdown tables (the config file's sections, then the scenario
/// file's), exactly as docs/configuration.md shows it.
pub fn key_reference() -> String {
    let mut out = String::from("## Config file\n");
    for section in sections(|k| k.config()) {
        let rows: Vec<_> = ALL
            .iter()
            .filter(|k| k.config().is_some_and(|p| in_section(p, &section)))
            .collect();
        out.push_str(&heading(&section));
        out.push_str("| Key | Default | Meaning |\n|---|---|---|\n");
        for key in rows {
            let path = key.config().unwrap_or_default();
            out.push_str(&row(
                path,
                &section,
                &key.default_text(),
                key.doc(),
                key.is_new(),
            ));
        }
    }
    out.push_str("\n## Scenario file\n");
    let scenario_only = |k: &&&dyn Declared| k.config().is_none() || k.config() != k.scenario();
    for section in sections(|k| {
        if k.config() == k.scenario() {
            None
        } else {
            k.scenario()
        }
    }) {
        out.push_str(&heading(&section));
        out.push_str("| Key | Default | Effect |\n|---|---|---|\n");
        for key in ALL.iter().filter(scenario_only) {
            let Some(path) = key.scenario().filter(|p| in_section(p, &section)) else {
                continue;
            };
            match key.config() {
                Some(config) => {
                    let how = if key.kind() == Kind::FreeMap {
                        "merged key by key over"
                    } else {
                        "overrides"
                    };
                    out.push_str(&row(
                        path,
                        &section,
                        &format!("`{config}`"),
                        &format!("{how} `{config}`"),
                        false,
                    ));
                }
                None => out.push_str(&row(
                    path,
                    &section,
                    &key.default_text(),
                    key.doc(),
                    key.is_new(),
                )),
            }
        }
        if section.is_empty() {
            out.push_str("| `training:` | — | present → the scenario command trains |\n");
            out.push_str("| `detection:` | — | present → the scenario command detects |\n");
            out.push_str("| `shipping:`, `debug:`, `wazuh:` | — | as in the config file, overriding it key by key |\n");
        }
    }
    out
}

/// The sections that `path_of` places keys in, in declaration order; `""` is the top level.
fn sections(path_of: impl Fn(&dyn Declared) -> Option<&'static str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for key in ALL {
        let Some(path) = path_of(*key) else { continue };
        let section = path
            .rsplit_once('.')
            .map(|(s, _)| s)
            .unwrap_or("")
            .to_owned();
        if !out.contains(&section) {
            out.push(section);
        }
    }
    // The top level first, as a file is read.
    out.sort_by_key(|s| !s.is_empty());
    out
}

fn in_section(path: &str, section: &str) -> bool {
    path.rsplit_once('.').map(|(s, _)| s).unwrap_or("") == section
}

fn heading(section: &str) -> String {
    if section.is_empty() {
        "\n### Top level\n".to_owned()
    } else {
        format!("\n### `{section}:`\n")
    }
}

fn row(path: &str, section: &str, default: &str, doc: &str, new: bool) -> String {
    let name = if section.is_empty() {
        path
    } else {
        &path[section.len() + 1..]
    };
    let new = if new { " *new*" } else { "" };
    format!("| `{name}`{new} | {default} | {doc} |\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_configuration_md_holds_the_generated_key_reference() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
        let text = std::fs::read_to_string(&path).expect("docs/configuration.md");
        let (Some(begin), Some(end)) = (text.find(BEGIN), text.find(END)) else {
            panic!("docs/configuration.md lacks the markers {BEGIN:?} … {END:?}");
        };
        let current = &text[begin + BEGIN.len()..end];
        let wanted = format!("\n{}\n", key_reference());
        if current == wanted {
            return;
        }
        if std::env::var_os("SONAR_WRITE_DOCS").is_some() {
            let updated = format!("{}{BEGIN}{wanted}{}", &text[..begin], &text[end..]);
            std::fs::write(&path, updated).expect("write docs/configuration.md");
            return;
        }
        panic!(
            "docs/configuration.md's key reference differs from the declarations in config/keys.rs; \
             regenerate it with SONAR_WRITE_DOCS=1 cargo test --workspace --lib config::reference"
        );
    }
}
