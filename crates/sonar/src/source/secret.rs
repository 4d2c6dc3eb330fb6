//! A secret string (the indexer password) that never prints itself.

use std::fmt;

/// A password or token. `Debug` and `Display` print `***`, so a secret cannot reach a log line,
/// a payload dump or an error message by accident; [`Secret::expose`] is the one way to read it,
/// and its callers are the places that send it (the HTTP client).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the code that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when no secret was given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where the effective password came from, for `sonar check` and the run's first log line
/// (which say where, never what).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretOrigin {
    /// No file or environment gave one; the built-in default (`admin`) applies.
    BuiltInDefault,
    /// `wazuh.password` in a config or scenario file (plain text; discouraged).
    ConfigFile,
    /// The file named by `wazuh.password_file`.
    PasswordFile,
    /// The `SONAR_WAZUH_PASSWORD` environment variable.
    Environment,
}
