//! Orchestration (the commands in README.md "Commands"): one training run, one detection run, and
//! the realtime loop, each wiring a source, the feature builder, the engine, the detector and a
//! sink.
//!
//! - [`train()`]: source → features (schema frozen into the model's metadata) → fit → save.
//! - [`detect()`]: model + schema → source (lookback window plus the `W + TW − 1` buckets of
//!   context the model reads before the first scored bucket) → features → streaming scorer →
//!   detector → anomaly documents → sink.
//! - [`realtime`]: polls with an injected [`Clock`], scores each complete bucket exactly once,
//!   keeps its position and the streaming scorer in a per-scenario state file written
//!   atomically, so a poll reads only its new buckets.
//!
//! Time is always injected ([`Clock`]), so tests never sleep; progress is reported through
//! [`Progress`], so the library never draws on a terminal.

mod chain;
pub mod detect;
pub mod realtime;
pub mod serve;
pub mod train;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::config::Settings;
use crate::features::{FeatureBuilder, FeatureMatrix, FeatureSpec};
use crate::source::indexer::{
    IndexerClient, IndexerConnection, IndexerSource, Password, RetryPolicy,
};
use crate::source::local::LocalFiles;
use crate::source::timestamp::parse_timestamp_value;
use crate::source::{Alert, AlertQuery, AlertSource, StreamStats, TimeRange};
use crate::Error;

pub use chain::ChainedSource;
pub use detect::{
    detect, historical_range, open_sink, DetectOutcome, DetectRequest, LoadedModel, PendingBucket,
};
pub use realtime::{run_realtime, LoopLimit, PollResult, Poller, RealtimeState};
pub use serve::{serve, ReloadFlag, ScenarioStatus, ServeRequest, StatusBoard};
pub use train::{train, write_options, TrainOutcome};

/// The current time and a way to wait: the system clock in production, a simulated one in
/// tests (its `sleep` advances time instantly).
pub trait Clock: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;
    /// Waits `duration`, returning early when `stop` is raised.
    fn sleep(&self, duration: Duration, stop: &StopFlag);
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep(&self, duration: Duration, stop: &StopFlag) {
        // Short naps so Ctrl+C is honoured within a quarter of a second.
        let deadline = std::time::Instant::now() + duration;
        while !stop.is_raised() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(Duration::from_millis(250)));
        }
    }
}

/// A clock that starts at a given time and jumps forward on `sleep` (tests, `--now`).
#[derive(Debug)]
pub struct SimulatedClock {
    now: Mutex<DateTime<Utc>>,
}

impl SimulatedClock {
    /// A clock reading `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }
}

impl Clock for SimulatedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sleep(&self, duration: Duration, _stop: &StopFlag) {
        let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
        *now += TimeDelta::from_std(duration).unwrap_or(TimeDelta::zero());
    }
}

/// Raised by Ctrl+C / SIGTERM; long work checks it between steps and stops cleanly.
#[derive(Debug, Clone, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    /// A flag not yet raised.
    pub fn new() -> Self {
        Self::default()
    }

    /// The shared flag, for signal handlers (`signal_hook::flag::register`).
    pub fn shared(&self) -> Arc<AtomicBool> {
        self.0.clone()
    }

    /// Raises the flag.
    pub fn raise(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// True once raised.
    pub fn is_raised(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Receives progress for display (the CLI draws bars; tests ignore it).
pub trait Progress {
    /// A phase starts (`"fetching training alerts"`, `"training"`, ...).
    fn phase(&mut self, _name: &str) {}
    /// Alerts read so far in the current fetch.
    fn fetched(&mut self, _alerts: u64) {}
    /// One training epoch finished.
    fn epoch(&mut self, _report: &sonar_mvad::EpochReport) {}
    /// The current phase ended.
    fn done(&mut self) {}
}

/// Progress that shows nothing.
impl Progress for () {}

/// What a run did, for its one summary line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunSummary {
    /// Alerts read from the source (real and synthetic).
    pub alerts_read: u64,
    /// Alerts skipped (malformed, missing timestamp, not an object).
    pub skipped: u64,
    /// Alerts in range left out by `alert_filter` (debug mode: local files are filtered
    /// in-process; the indexer filters server-side, so this stays 0 there).
    pub filtered: u64,
    /// Synthetic alerts injected or padded in memory.
    pub synthetic: u64,
    /// Buckets built (context included).
    pub buckets: usize,
    /// Buckets scored and judged in this run.
    pub scored: usize,
    /// Buckets reported as anomalous.
    pub anomalies: usize,
    /// Events (runs of anomalous buckets).
    pub events: usize,
    /// Where the output went (model directory, index, stream or file).
    pub destination: Option<String>,
    /// Documents newly written.
    pub written: usize,
    /// Documents already present (re-run of the same buckets).
    pub already_present: usize,
    /// Documents not sent because of `--dry-run`.
    pub dry_run: usize,
    /// Wall time taken.
    pub elapsed: Duration,
}

impl RunSummary {
    /// Adds another run's counts (realtime: one line per poll, one total at the end).
    pub fn absorb(&mut self, other: &RunSummary) {
        self.alerts_read += other.alerts_read;
        self.skipped += other.skipped;
        self.filtered += other.filtered;
        self.synthetic += other.synthetic;
        self.buckets += other.buckets;
        self.scored += other.scored;
        self.anomalies += other.anomalies;
        self.events += other.events;
        self.written += other.written;
        self.already_present += other.already_present;
        self.dry_run += other.dry_run;
        if other.destination.is_some() {
            self.destination.clone_from(&other.destination);
        }
    }
}

impl std::fmt::Display for RunSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "alerts read={} skipped={} synthetic={} buckets={} scored={} anomalies={} events={}",
            self.alerts_read,
            self.skipped,
            self.synthetic,
            self.buckets,
            self.scored,
            self.anomalies,
            self.events
        )?;
        if self.filtered > 0 {
            write!(f, " filtered by alert_filter={}", self.filtered)?;
        }
        if let Some(dest) = &self.destination {
            write!(
                f,
                " → {dest} (written={} already present={} dry-run={})",
                self.written, self.already_present, self.dry_run
            )?;
        }
        write!(f, " in {:.1}s", self.elapsed.as_secs_f64())
    }
}

/// Which data a run reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Training data.
    Training,
    /// Detection data (in debug mode: the training file as context, then the detection file).
    Detection,
}

/// The feature settings of a run as a [`FeatureSpec`].
pub fn feature_spec(settings: &Settings) -> FeatureSpec {
    let f = &settings.features;
    FeatureSpec {
        bucket_minutes: f.bucket_minutes,
        numeric_fields: f.numeric_fields.clone(),
        max_numeric_fields: f.max_numeric_fields.clone(),
        categorical_fields: f.categorical_fields.clone(),
        categorical_top_k: f.categorical_top_k,
        derived_features: f.derived_features,
        timestamp_field: settings.wazuh.timestamp_field.clone(),
    }
}

/// Training epochs of a scenario that sets none (`extra_params.epochs`). The engine's own
/// default is the reference's 100; on alert data that over-fits: measured with
/// `sonar eval --alerts` on the four AIT-ADS sets (docs/quality.md "Alert data at the default
/// threshold"), 15 epochs gave 4 false events in 7.3 detection days where 100 (with early
/// stopping) gave 22, with every attack chain still found.
pub const DEFAULT_EPOCHS: usize = 15;

/// The engine parameters of a run: `sliding_window`, device, then `extra_params`.
pub fn mvad_params(settings: &Settings) -> Result<sonar_mvad::MvadParams, Error> {
    let params = sonar_mvad::MvadParams {
        sliding_window: Some(settings.mvad.sliding_window.get() as usize),
        epochs: DEFAULT_EPOCHS,
        ..sonar_mvad::MvadParams::default()
    }
    .with_device(settings.mvad.device);
    let extra = serde_json::Value::Object(settings.mvad.extra_params.clone());
    Ok(params.apply_json(&extra)?)
}

/// An indexer client from the run's `wazuh` settings.
pub fn indexer_client(settings: &Settings) -> Result<IndexerClient, Error> {
    let w = &settings.wazuh;
    IndexerClient::new(IndexerConnection {
        base_url: w.base_url.as_str().trim_end_matches('/').to_owned(),
        username: w.username.clone(),
        password: Password::new(w.password.expose()),
        verify_ssl: w.tls.verify,
        ca_cert: w.tls.ca_cert.clone(),
        timeout: w.request_timeout,
        connect_timeout: w.connect_timeout,
        retry: RetryPolicy {
            max_retries: w.max_retries,
            ..RetryPolicy::default()
        },
    })
}

/// The alert source of a phase: local files in debug mode, the indexer otherwise.
pub fn open_source(settings: &Settings, phase: Phase) -> Result<Box<dyn AlertSource>, Error> {
    if settings.debug.enabled {
        let training = LocalFiles::open(&settings.debug.training_data)?;
        return Ok(match phase {
            Phase::Training => Box::new(training),
            Phase::Detection => Box::new(ChainedSource::new(vec![
                Box::new(training),
                Box::new(LocalFiles::open(&settings.debug.detection_data)?),
            ])),
        });
    }
    let client = indexer_client(settings)?;
    Ok(Box::new(
        IndexerSource::new(client, settings.wazuh.alerts_index_pattern.clone())
            .with_page_size(settings.wazuh.page_size as usize),
    ))
}

/// The debug-mode data file of a phase (its time extent sets the window in debug mode).
pub fn debug_file(settings: &Settings, phase: Phase) -> PathBuf {
    match phase {
        Phase::Training => settings.debug.training_data.clone(),
        Phase::Detection => settings.debug.detection_data.clone(),
    }
}

/// In debug mode, the window of a phase: its data file's extent snapped to whole buckets
/// (`None` outside debug mode or for a file without timestamps).
pub fn debug_window(
    settings: &Settings,
    phase: Phase,
    bucket_seconds: i64,
) -> Result<Option<TimeRange>, Error> {
    if !settings.debug.enabled {
        return Ok(None);
    }
    let extent = file_extent(
        &debug_file(settings, phase),
        &settings.wazuh.timestamp_field,
    )?;
    Ok(extent.map(|e| TimeRange {
        start: floor_to_bucket(e.start, bucket_seconds),
        end: ceil_to_bucket(e.end, bucket_seconds),
    }))
}

/// The first and last alert time in a local file (debug mode windows cover the whole file,
/// as in the original, where the time filter was off in debug mode).
pub fn file_extent(
    path: &std::path::Path,
    timestamp_field: &str,
) -> Result<Option<TimeRange>, Error> {
    let mut files = LocalFiles::open(path)?;
    let all = TimeRange {
        start: DateTime::from_timestamp(0, 0).unwrap_or_default(),
        end: DateTime::from_timestamp(32_503_680_000, 0).unwrap_or_default(),
    };
    let query = AlertQuery {
        range: all,
        timestamp_field: timestamp_field.to_owned(),
        fields: Vec::new(),
        alert_filter: None,
    };
    let field = crate::field::FieldPath::parse(timestamp_field);
    let mut extent: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
    files.stream(&query, &mut |page| {
        for alert in &page {
            let t = field
                .as_ref()
                .and_then(|f| f.lookup(alert))
                .and_then(|v| parse_timestamp_value(v).ok());
            if let Some(t) = t {
                extent = Some(match extent {
                    None => (t, t),
                    Some((a, b)) => (a.min(t), b.max(t)),
                });
            }
        }
        Ok(())
    })?;
    Ok(extent.map(|(start, end)| TimeRange {
        start,
        end: end + TimeDelta::seconds(1),
    }))
}

/// Floors `t` to a bucket boundary (buckets are aligned on the Unix epoch).
pub fn floor_to_bucket(t: DateTime<Utc>, bucket_seconds: i64) -> DateTime<Utc> {
    let s = t.timestamp().div_euclid(bucket_seconds) * bucket_seconds;
    DateTime::from_timestamp(s, 0).unwrap_or(t)
}

/// Ceils `t` to a bucket boundary.
pub fn ceil_to_bucket(t: DateTime<Utc>, bucket_seconds: i64) -> DateTime<Utc> {
    let floor = floor_to_bucket(t, bucket_seconds);
    if floor == t {
        t
    } else {
        floor + TimeDelta::seconds(bucket_seconds)
    }
}

/// Alerts of one fetch: streamed straight into the builder, or (when synthetic alerts must
/// be mixed in) collected first.
pub(crate) struct Fetched {
    pub matrix: FeatureMatrix,
    pub stats: StreamStats,
    pub synthetic: u64,
}

impl Fetched {
    /// The summary counts the fetch determines (alerts, skips, filter, synthetic, buckets).
    pub(crate) fn summary(&self) -> RunSummary {
        RunSummary {
            alerts_read: self.stats.alerts,
            skipped: self.stats.skipped + self.matrix.stats.skipped,
            filtered: self.stats.filtered,
            synthetic: self.synthetic,
            buckets: self.matrix.rows(),
            ..RunSummary::default()
        }
    }
}

/// Streams `query` from `source` into `builder` page by page (memory bounded by buckets).
pub(crate) fn stream_into(
    source: &mut dyn AlertSource,
    query: &AlertQuery,
    mut builder: FeatureBuilder,
    progress: &mut dyn Progress,
    stop: &StopFlag,
) -> Result<Fetched, Error> {
    let mut seen = 0u64;
    let stats = source.stream(query, &mut |page| {
        if stop.is_raised() {
            return Err(Error::Stopped {
                during: "fetching alerts",
            });
        }
        seen += page.len() as u64;
        builder.push_page(&page);
        progress.fetched(seen);
        Ok(())
    })?;
    progress.done();
    Ok(Fetched {
        matrix: builder.finish(),
        stats,
        synthetic: 0,
    })
}

/// Collects every alert of `query` (only when synthetic alerts must be mixed in).
pub(crate) fn collect(
    source: &mut dyn AlertSource,
    query: &AlertQuery,
    progress: &mut dyn Progress,
    stop: &StopFlag,
) -> Result<(Vec<Alert>, StreamStats), Error> {
    let mut alerts = Vec::new();
    let stats = source.stream(query, &mut |page| {
        if stop.is_raised() {
            return Err(Error::Stopped {
                during: "fetching alerts",
            });
        }
        alerts.extend(page);
        progress.fetched(alerts.len() as u64);
        Ok(())
    })?;
    progress.done();
    Ok((alerts, stats))
}

/// The `_source` fields a run needs; empty (every field) when derived flags are on, since
/// they read many fields.
pub(crate) fn needed_fields(settings: &Settings) -> Vec<String> {
    let f = &settings.features;
    if f.derived_features {
        return Vec::new();
    }
    let mut fields = vec![settings.wazuh.timestamp_field.clone()];
    for list in [
        &f.numeric_fields,
        &f.max_numeric_fields,
        &f.categorical_fields,
    ] {
        for field in list {
            if !fields.contains(field) {
                fields.push(field.clone());
            }
        }
    }
    fields
}

/// True for failures that waiting may cure (the indexer is down or overloaded).
pub fn is_transient(error: &Error) -> bool {
    match error {
        Error::IndexerUnreachable { .. } => true,
        Error::IndexerHttp { status, .. } => *status == 429 || *status >= 500,
        _ => false,
    }
}
