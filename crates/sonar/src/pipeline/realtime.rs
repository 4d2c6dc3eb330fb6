//! The realtime loop: every `polling_interval`, score the complete buckets (ended at least
//! `ingestion_delay` ago) that no earlier poll scored, then record the position in a
//! per-scenario state file. The file is replaced atomically (temporary file + rename), and it
//! is written only after the poll's anomalies were written, so a crash or restart re-scores at
//! most one poll's buckets (their documents have the same ids, so the index refuses
//! duplicates) and never skips one.
//!
//! The state also holds the engine's streaming-scorer state (the last `W` rows and the
//! threshold context), so a poll reads only its new buckets and scores each with one window
//! forward; after a restart with a state that does not line up (older state, retrained model)
//! the poll reads the model's context again, which gives the same scores.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use sonar_mvad::ScorerState;

use super::detect::{detect_from, DetectOutcome, DetectRequest, LoadedModel, PendingBucket};
use super::{is_transient, Clock, Progress, RunSummary, StopFlag};
use crate::config::Settings;
use crate::detect::AnomalyEvent;
use crate::sink::AnomalySink;
use crate::source::{AlertSource, TimeRange};
use crate::Error;

/// Version of the state file format.
pub const STATE_VERSION: u32 = 2;
/// First wait after a failed poll; doubled at each further failure, capped at the interval.
pub const BACKOFF_BASE: Duration = Duration::from_secs(5);

/// An event as the state file keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Event id.
    pub id: String,
    /// First bucket start.
    pub start: DateTime<Utc>,
    /// Last bucket end.
    pub end: DateTime<Utc>,
    /// Buckets so far.
    pub bucket_count: usize,
}

/// Where realtime detection stands for one scenario.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RealtimeState {
    /// [`STATE_VERSION`].
    pub version: u32,
    /// The scenario id the state belongs to.
    pub scenario_id: String,
    /// End of the last scored bucket: the next poll starts here.
    pub last_scored_end: Option<DateTime<Utc>>,
    /// Candidate buckets in a row at `last_scored_end` (for `min_consecutive`).
    pub pending_run: usize,
    /// Those candidates, while their run is shorter than `min_consecutive` (not reported yet).
    #[serde(default)]
    pub pending: Vec<PendingBucket>,
    /// The event still open at `last_scored_end`.
    pub open_event: Option<StoredEvent>,
    /// The streaming scorer after the bucket ending at `last_scored_end`.
    #[serde(default)]
    pub scorer: Option<ScorerState>,
}

impl RealtimeState {
    /// The state file of a run: `<model directory's parent>/<scenario_id>.realtime.json`.
    pub fn path(settings: &Settings) -> PathBuf {
        let dir = settings
            .model_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        dir.join(format!("{}.realtime.json", settings.shipping.scenario_id))
    }

    /// Reads the state file; a missing file is a fresh start.
    pub fn load(path: &Path, scenario_id: &str) -> Result<Self, Error> {
        let bad = |problem: String| Error::RealtimeState {
            path: path.to_path_buf(),
            problem,
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self {
                    version: STATE_VERSION,
                    scenario_id: scenario_id.to_owned(),
                    ..Self::default()
                })
            }
            Err(e) => return Err(bad(format!("cannot read: {e}"))),
        };
        let state: Self = serde_json::from_str(&text).map_err(|e| {
            bad(format!(
                "not a valid state file ({e}); delete it to start over"
            ))
        })?;
        if state.version != STATE_VERSION {
            return Err(bad(format!(
                "format version {} is not {STATE_VERSION}; delete it to start over",
                state.version
            )));
        }
        if state.scenario_id != scenario_id {
            return Err(bad(format!(
                "belongs to scenario {:?}, not {scenario_id:?}",
                state.scenario_id
            )));
        }
        Ok(state)
    }

    /// Writes the state: a temporary file in the same directory, then a rename.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let io = |action: &'static str, p: &Path| {
            let p = p.to_path_buf();
            move |source: std::io::Error| Error::Io {
                action,
                path: p,
                source,
            }
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io("creating directory", dir))?;
        }
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::RealtimeState {
            path: path.to_path_buf(),
            problem: e.to_string(),
        })?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text).map_err(io("writing", &tmp))?;
        std::fs::rename(&tmp, path).map_err(io("renaming into", path))
    }
}

/// How long the loop runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoopLimit {
    /// Stop after this many polls (`None`: until stopped).
    pub max_polls: Option<u64>,
}

/// What one poll did.
#[derive(Debug)]
pub enum PollResult {
    /// New complete buckets were scored and their anomalies written.
    Scored(Box<DetectOutcome>),
    /// No bucket completed since the last poll.
    NothingNew,
    /// The poll failed in a way waiting may cure (the indexer is down or overloaded); the
    /// next poll retries the same buckets after [`Poller::wait`].
    Retrying(Error),
    /// The stop flag was raised during the poll.
    Stopped,
}

/// One scenario's realtime position and schedule, one poll at a time: what
/// [`run_realtime`] loops over, and what `sonar serve` interleaves for many scenarios.
#[derive(Debug)]
pub struct Poller {
    path: PathBuf,
    state: RealtimeState,
    failures: u32,
    wait: Duration,
}

impl Poller {
    /// Loads the scenario's realtime state (a fresh one when there is no state file).
    pub fn new(settings: &Settings) -> Result<Self, Error> {
        super::entity::check_supported(settings, true)?;
        Self::at(RealtimeState::path(settings), settings)
    }

    /// The poller whose state file is `path` (one entity of a per-entity scenario).
    pub(crate) fn at(path: PathBuf, settings: &Settings) -> Result<Self, Error> {
        let state = RealtimeState::load(&path, settings.shipping.scenario_id.as_str())?;
        Ok(Self {
            path,
            state,
            failures: 0,
            wait: polling_interval(settings),
        })
    }

    /// The buckets the next poll would score: from the end of the last scored bucket (or the
    /// lookback) to the last complete bucket; `None` when none completed.
    pub(crate) fn next_range(
        &self,
        settings: &Settings,
        model: &LoadedModel,
        clock: &dyn Clock,
    ) -> Result<Option<TimeRange>, Error> {
        let delay = TimeDelta::from_std(settings.detection.ingestion_delay).unwrap_or_default();
        let lookback =
            TimeDelta::from_std(settings.detection.lookback).unwrap_or(TimeDelta::minutes(10));
        let b = model.bucket()?;
        let end = b.floor(clock.now() - delay);
        let start = self
            .state
            .last_scored_end
            .unwrap_or_else(|| b.floor(end - lookback));
        Ok((start < end).then_some(TimeRange { start, end }))
    }

    /// Whether the state holds a streaming scorer to resume (then a poll reads only its new
    /// buckets, not the model's context).
    pub(crate) fn resumes(&self) -> bool {
        self.state.scorer.is_some()
    }

    /// The state file.
    pub fn state_path(&self) -> &Path {
        &self.path
    }

    /// End of the last scored bucket.
    pub fn last_scored_end(&self) -> Option<DateTime<Utc>> {
        self.state.last_scored_end
    }

    /// How long to wait before the next poll: the polling interval, or the backoff after a
    /// failure (5 s doubling, capped at the interval).
    pub fn wait(&self) -> Duration {
        self.wait
    }

    /// Scores the complete buckets that no earlier poll scored, writes their anomalies to
    /// `sink`, then saves the position. Errors other than transient ones are returned (the
    /// position is unchanged, so a later poll retries the same buckets).
    pub fn poll(
        &mut self,
        settings: &Settings,
        model: &LoadedModel,
        sink: &mut dyn AnomalySink,
        clock: &dyn Clock,
        progress: &mut dyn Progress,
        stop: &StopFlag,
    ) -> Result<PollResult, Error> {
        self.poll_from(None, settings, model, sink, clock, progress, stop)
    }

    /// [`Poller::poll`] reading from `source` (an entity's prefetched features), or from the
    /// run's own source when `None`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn poll_from(
        &mut self,
        source: Option<Box<dyn AlertSource + '_>>,
        settings: &Settings,
        model: &LoadedModel,
        sink: &mut dyn AnomalySink,
        clock: &dyn Clock,
        progress: &mut dyn Progress,
        stop: &StopFlag,
    ) -> Result<PollResult, Error> {
        let interval = polling_interval(settings);
        self.wait = interval;
        let k = settings.detection.min_consecutive.max(1) as usize;
        let Some(TimeRange {
            start,
            end: complete_end,
        }) = self.next_range(settings, model, clock)?
        else {
            tracing::info!("no complete bucket since the last poll");
            return Ok(PollResult::NothingNew);
        };
        let state = &mut self.state;
        let request = DetectRequest {
            range: Some(TimeRange {
                start,
                end: complete_end,
            }),
            pending: state.pending.clone(),
            prior: if state.pending_run >= k {
                state.pending_run
            } else {
                0
            },
            open_event: state.open_event.as_ref().map(|e| AnomalyEvent {
                id: e.id.clone(),
                start: e.start,
                end: e.end,
                bucket_count: e.bucket_count,
            }),
            scorer: state.scorer.clone(),
        };
        match detect_from(
            source, settings, model, &request, sink, clock, progress, stop,
        ) {
            Ok(outcome) => {
                self.failures = 0;
                state.last_scored_end = Some(complete_end);
                state.pending_run = outcome.trailing_run;
                state.pending = outcome.pending.clone();
                state.scorer = Some(outcome.scorer.clone());
                state.open_event = outcome.open_event.as_ref().map(|e| StoredEvent {
                    id: e.id.clone(),
                    start: e.start,
                    end: e.end,
                    bucket_count: e.bucket_count,
                });
                state.save(&self.path)?;
                Ok(PollResult::Scored(Box::new(outcome)))
            }
            Err(Error::Stopped { .. }) => Ok(PollResult::Stopped),
            Err(e) if is_transient(&e) => {
                self.failures += 1;
                self.wait = backoff(self.failures, interval);
                tracing::warn!(
                    error = %e, failures = self.failures, retry_in_s = self.wait.as_secs(),
                    "poll failed; the indexer looks unavailable, retrying with backoff (nothing is skipped)"
                );
                Ok(PollResult::Retrying(e))
            }
            Err(e) => Err(e),
        }
    }
}

/// The scenario's polling interval (at least a second).
pub(crate) fn polling_interval(settings: &Settings) -> Duration {
    settings
        .detection
        .polling_interval
        .max(Duration::from_secs(1))
}

/// The wait after the `failures`-th failure in a row: [`BACKOFF_BASE`] doubling, at most `cap`.
pub fn backoff(failures: u32, cap: Duration) -> Duration {
    BACKOFF_BASE
        .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1)))
        .min(cap)
}

/// Runs the realtime loop until `stop` is raised or `limit` is reached. `on_poll` sees each
/// poll's outcome (the CLI prints one summary line per poll). Returns the totals.
#[allow(clippy::too_many_arguments)]
pub fn run_realtime(
    settings: &Settings,
    model: &LoadedModel,
    sink: &mut dyn AnomalySink,
    clock: &dyn Clock,
    progress: &mut dyn Progress,
    stop: &StopFlag,
    limit: LoopLimit,
    on_poll: &mut dyn FnMut(&DetectOutcome),
) -> Result<RunSummary, Error> {
    let mut poller = Poller::new(settings)?;
    let mut total = RunSummary::default();
    let mut polls: u64 = 0;
    tracing::info!(
        state = %poller.state_path().display(), resume_from = ?poller.last_scored_end(),
        interval_s = poller.wait().as_secs(), "realtime detection started; Ctrl+C stops it"
    );
    while !stop.is_raised() {
        match poller.poll(settings, model, sink, clock, progress, stop)? {
            PollResult::Scored(outcome) => {
                total.absorb(&outcome.summary);
                on_poll(&outcome);
            }
            PollResult::Stopped => break,
            PollResult::NothingNew | PollResult::Retrying(_) => {}
        }
        polls += 1;
        if limit.max_polls.is_some_and(|m| polls >= m) {
            break;
        }
        clock.sleep(poller.wait(), stop);
    }
    Ok(total)
}
