//! Lexical path normalisation for the paths settings resolve and the CLI prints: a file's
//! relative paths are joined to its directory (`config/` + `../models/x`), which reads badly
//! in messages and compares unequal to the same path written directly.

use std::path::{Component, Path, PathBuf};

/// `path` with `.` components dropped and each `..` folded into the name before it:
/// `config/../models/x` → `models/x`, `././models/ait` → `models/ait`. Purely lexical (the
/// filesystem is not read, so a symbolic link followed by `..` is folded as if it were a
/// directory); an absolute path stays absolute, a relative one relative, leading `..` of a
/// relative path are kept, `/..` is `/`, and a path that folds to nothing is `.`.
pub fn normalise_path(path: &Path) -> PathBuf {
    let mut parts: Vec<Component<'_>> = Vec::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => match parts.last() {
                Some(Component::Normal(_)) => {
                    parts.pop();
                }
                Some(Component::RootDir) => {}
                _ => parts.push(component),
            },
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        return PathBuf::from(".");
    }
    parts.iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        assert_eq!(
            normalise_path(Path::new(input)),
            PathBuf::from(expected),
            "{input}"
        );
    }

    #[test]
    fn folds_dots_lexically_and_keeps_the_path_kind() {
        check("config/../models/x", "models/x");
        check("././models/ait", "models/ait");
        check("./models/ait/", "models/ait");
        check("models/x", "models/x");
        check("a/b/../../c", "c");
        check("config/../../models", "../models");
        check("../../x/./y", "../../x/y");
        check("/etc/sonar/../models/x", "/etc/models/x");
        check("/../x", "/x");
        check("/", "/");
        check(".", ".");
        check("./", ".");
        check("a/..", ".");
        check("", ".");
    }
}
