//! How to reach the indexer: URL, credentials, TLS, timeouts and the retry policy. The
//! config loader turns `wazuh.*` keys into an [`IndexerConnection`]; the client never reads
//! YAML or the environment itself.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// A password that never shows itself: `Debug` and `Display` print `***`.
///
/// The only way to the clear text is [`Password::expose`], used where the HTTP basic-auth
/// header is built.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a clear-text password.
    pub fn new(clear: impl Into<String>) -> Self {
        Self(clear.into())
    }

    /// The clear text, for the authentication header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<&str> for Password {
    fn from(clear: &str) -> Self {
        Self::new(clear)
    }
}

impl From<String> for Password {
    fn from(clear: String) -> Self {
        Self(clear)
    }
}

/// When and how long to wait before retrying a failed request.
///
/// Attempt `n` (0-based) waits a random time in `[d/2, d]` where `d = min(max_delay, base *
/// 2^n)` ("equal jitter": spread out, never longer than the cap). A `Retry-After` header on a
/// 429 or 503 replaces the computed delay, capped at `max_delay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 = never retry).
    pub max_retries: u32,
    /// Delay before the first retry, doubled at each further one.
    pub backoff_base: Duration,
    /// Upper bound on any single wait, `Retry-After` included.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            backoff_base: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The jittered delay before retry number `retry` (0 = first retry); `unit` in `[0, 1)`
    /// picks the point inside the jitter interval.
    pub fn delay(&self, retry: u32, unit: f64) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(31));
        let full = self.backoff_base.saturating_mul(factor).min(self.max_delay);
        let unit = unit.clamp(0.0, 1.0);
        full.mul_f64(0.5 + 0.5 * unit)
    }
}

/// Everything needed to talk to one indexer (OpenSearch) cluster.
#[derive(Debug, Clone)]
pub struct IndexerConnection {
    /// `https://host:9200` (no credentials in the URL: use `username`/`password`).
    pub base_url: String,
    /// HTTP basic-auth user; empty means no authentication header.
    pub username: String,
    /// HTTP basic-auth password.
    pub password: Password,
    /// Verify the server's TLS certificate (default true). The client does not warn when it
    /// is off: the settings (`config`) word that warning once per run.
    pub verify_ssl: bool,
    /// PEM file with the CA certificate(s) that signed the indexer's certificate, trusted in
    /// addition to the system roots.
    pub ca_cert: Option<PathBuf>,
    /// Limit for one whole request (connect, send, receive).
    pub timeout: Duration,
    /// Limit for establishing the TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// Retries with backoff on connection errors, timeouts, 429 and 5xx.
    pub retry: RetryPolicy,
}

impl Default for IndexerConnection {
    fn default() -> Self {
        Self {
            base_url: "https://localhost:9200".to_owned(),
            username: "admin".to_owned(),
            password: Password::default(),
            verify_ssl: true,
            ca_cert: None,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
        }
    }
}

impl IndexerConnection {
    /// A connection to `base_url` with the default settings and no credentials.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            username: String::new(),
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_never_prints() {
        let p = Password::new("hunter2");
        assert_eq!(format!("{p:?} {p}"), "*** ***");
        let conn = IndexerConnection {
            password: p,
            ..IndexerConnection::default()
        };
        assert!(!format!("{conn:?}").contains("hunter2"));
    }

    #[test]
    fn delay_doubles_jitters_and_caps() {
        let policy = RetryPolicy {
            max_retries: 5,
            backoff_base: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
        };
        let check = |retry, unit, expected_ms| {
            assert_eq!(
                policy.delay(retry, unit),
                Duration::from_millis(expected_ms)
            );
        };
        check(0, 0.0, 50);
        check(0, 1.0, 100);
        check(1, 1.0, 200);
        check(2, 0.0, 175);
        check(2, 1.0, 350);
        check(40, 1.0, 350);
    }
}
