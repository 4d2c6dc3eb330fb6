//! The detector's rules as a scenario's `detection:` section sets them (declared in
//! `config/keys.rs`, defaults here beside the fields): mode, windows, threshold, event rule,
//! write inspection, padding.

use std::path::PathBuf;
use std::time::Duration;

/// How `detection.mode` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectionMode {
    /// Score the lookback window with the existing model.
    Historical,
    /// Train, then score the lookback window.
    Batch,
    /// Poll, scoring each complete bucket once.
    Realtime,
}

impl std::str::FromStr for DetectionMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "historical" => Ok(Self::Historical),
            "batch" => Ok(Self::Batch),
            "realtime" => Ok(Self::Realtime),
            other => Err(format!(
                "unknown mode {other:?}; use historical, batch or realtime"
            )),
        }
    }
}

/// Payload inspection switches, shared by every write path.
#[derive(Debug, Clone, PartialEq)]
pub struct PayloadSettings {
    /// Print every payload.
    pub print: bool,
    /// Send nothing.
    pub dry_run: bool,
    /// Where payload dumps go.
    pub dir: PathBuf,
}

impl PayloadSettings {
    /// `detection.payload_dir` when none is given (relative to the working directory).
    pub const DEFAULT_DIR: &'static str = "payloads";
}

/// The scenario's `detection:` section, typed.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectionSettings {
    /// Mode.
    pub mode: DetectionMode,
    /// Window of buckets to score, ending now.
    pub lookback: Duration,
    /// Realtime poll period.
    pub polling_interval: Duration,
    /// Realtime: wait this long after a bucket ends before scoring it.
    pub ingestion_delay: Duration,
    /// `anomaly_score` threshold in [0, 1].
    pub threshold: f64,
    /// Consecutive anomalous buckets per reported event (≥ 1).
    pub min_consecutive: u32,
    /// The engine's local-threshold rule.
    pub threshold_rule: sonar_mvad::ThresholdRule,
    /// Variables listed in each anomaly document's `top_contributors`.
    pub top_contributors: usize,
    /// Payload switches.
    pub payloads: PayloadSettings,
    /// Pad a short detection series with synthetic buckets.
    pub fill_with_synthetic: bool,
    /// Minimum synthetic alerts when padding detection data.
    pub synthetic_count: usize,
}

impl DetectionSettings {
    /// `detection.lookback_minutes` when none is given.
    pub const DEFAULT_LOOKBACK_MINUTES: u64 = 10;
    /// `detection.ingestion_delay_seconds` when none is given.
    pub const DEFAULT_INGESTION_DELAY_SECONDS: u64 = 60;
    /// `detection.min_consecutive` when none is given.
    pub const DEFAULT_MIN_CONSECUTIVE: u64 = 1;
    /// `detection.synthetic_count` when none is given.
    pub const DEFAULT_SYNTHETIC_COUNT: u64 = 50;
}
