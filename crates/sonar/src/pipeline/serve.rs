//! `sonar serve`: every enabled scenario of a directory (or a list of files) in one process
//! (README "Run as a service").
//!
//! Each scenario keeps its own schedule: a [`Poller`] (the realtime loop's state and backoff,
//! the same as `--mode realtime`), its model, and its sink. The loop runs whichever scenarios
//! are due, then sleeps until the next one is. A scenario whose model is missing is trained
//! first; one with `training.retrain_every_hours` is retrained on that schedule. A failing
//! scenario (setup, training or poll) is recorded in the [`StatusBoard`] and retried with
//! backoff; it never stops the others. Raising the reload flag (SIGHUP) reads the scenario
//! files again; each scenario resumes from its realtime state file, so nothing is scored twice
//! or skipped. The stop flag (SIGTERM, Ctrl+C) ends the loop after the current poll.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};

use super::detect::{open_sink, LoadedModel};
use super::realtime::{backoff, polling_interval, LoopLimit, PollResult, Poller};
use super::{train, Clock, Progress, StopFlag};
use crate::config::{Overrides, Settings};
use crate::sink::AnomalySink;
use crate::Error;

/// What one scenario has done since the service started (read by `/metrics` and `/health`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScenarioStatus {
    /// The scenario file.
    pub file: PathBuf,
    /// `shipping.scenario_id` (the metrics label).
    pub scenario_id: String,
    /// Polls run, successful or not.
    pub polls: u64,
    /// Polls that failed (reading alerts, scoring or writing anomalies), and failed setups or
    /// trainings.
    pub failures: u64,
    /// Buckets scored.
    pub buckets_scored: u64,
    /// Anomalous buckets written.
    pub anomalies: u64,
    /// Events.
    pub events: u64,
    /// End of the last successful poll.
    pub last_success: Option<DateTime<Utc>>,
    /// Wall time of the last poll.
    pub last_poll_seconds: f64,
    /// When the model in use was trained (its files' modification time).
    pub model_trained: Option<DateTime<Utc>>,
    /// The polling interval.
    pub interval: Duration,
    /// The last failure, while the scenario has not succeeded since.
    pub last_error: Option<String>,
}

/// The service's view of every scenario, shared with the metrics listener.
#[derive(Debug, Clone, Default)]
pub struct StatusBoard(Arc<Mutex<Vec<ScenarioStatus>>>);

impl StatusBoard {
    /// A snapshot of every scenario's status.
    pub fn snapshot(&self) -> Vec<ScenarioStatus> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn replace(&self, all: Vec<ScenarioStatus>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = all;
    }

    fn update(&self, i: usize, f: impl FnOnce(&mut ScenarioStatus)) {
        if let Some(s) = self.0.lock().unwrap_or_else(|p| p.into_inner()).get_mut(i) {
            f(s);
        }
    }

    /// `None` when every scenario succeeded within two polling intervals of `now`, else the
    /// reasons, one per scenario (what `/health` answers).
    pub fn unhealthy(&self, now: DateTime<Utc>) -> Option<Vec<String>> {
        let all = self.snapshot();
        if all.is_empty() {
            return Some(vec!["no enabled scenario".into()]);
        }
        let reasons: Vec<String> = all
            .iter()
            .filter_map(|s| {
                let late = TimeDelta::from_std(s.interval * 2).unwrap_or(TimeDelta::MAX);
                let fresh = s.last_success.is_some_and(|t| now - t <= late);
                (!fresh).then(|| match (&s.last_error, s.last_success) {
                    (Some(e), _) => format!("{}: failing: {e}", s.scenario_id),
                    (None, None) => format!("{}: no successful poll yet", s.scenario_id),
                    (None, Some(t)) => format!("{}: last successful poll at {t}", s.scenario_id),
                })
            })
            .collect();
        (!reasons.is_empty()).then_some(reasons)
    }
}

/// A flag raised from a signal handler (SIGHUP) and taken by the loop.
#[derive(Debug, Clone, Default)]
pub struct ReloadFlag(Arc<AtomicBool>);

impl ReloadFlag {
    /// The shared flag, for `signal_hook::flag::register`.
    pub fn shared(&self) -> Arc<AtomicBool> {
        self.0.clone()
    }

    /// Raises the flag.
    pub fn raise(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn take(&self) -> bool {
        self.0.swap(false, Ordering::SeqCst)
    }
}

/// What `sonar serve` runs.
#[derive(Debug, Clone, Default)]
pub struct ServeRequest {
    /// The config file (default: config/default_config.yaml when it exists).
    pub config: Option<PathBuf>,
    /// Scenario files, or directories whose `*.yaml` / `*.yml` files are scenarios.
    pub scenarios: Vec<PathBuf>,
    /// Flags that apply to every scenario.
    pub overrides: Overrides,
    /// `--payload-dir` was given.
    pub payload_dir_given: bool,
}

/// The scenario files of `paths`: files as given, directories expanded to their `*.yaml` and
/// `*.yml` files in name order.
pub fn scenario_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|e| Error::Io {
                action: "reading directory",
                path: path.clone(),
                source: e,
            })?;
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect();
            files.sort();
            out.extend(files);
        } else if path.is_file() {
            out.push(path.clone());
        } else {
            return Err(Error::LocalPathMissing { path: path.clone() });
        }
    }
    Ok(out)
}

/// A scenario's running parts once set up.
struct Ready {
    model: LoadedModel,
    sink: Box<dyn AnomalySink>,
    poller: Poller,
}

/// One scenario in the service.
struct Unit {
    settings: Settings,
    ready: Option<Ready>,
    next_due: DateTime<Utc>,
    failures: u32,
    trained_at: Option<DateTime<Utc>>,
}

/// Loads every enabled scenario. A file that does not load is an error naming it: a service
/// must not start with half its scenarios silently missing.
fn load_units(
    request: &ServeRequest,
    now: DateTime<Utc>,
) -> Result<(Vec<Unit>, Vec<ScenarioStatus>), Error> {
    let mut units = Vec::new();
    let mut status = Vec::new();
    for file in scenario_files(&request.scenarios)? {
        let settings = Settings::load(request.config.as_deref(), Some(&file), &request.overrides)?;
        for warning in &settings.warnings {
            tracing::warn!(file = %file.display(), "{warning}");
        }
        if settings.scenario.as_ref().is_some_and(|s| !s.enabled) {
            tracing::info!(file = %file.display(), "scenario disabled (enabled: false); not served");
            continue;
        }
        if let Err(e) = super::entity::check_supported(&settings, true) {
            // Not a failing scenario (health stays green): one that serve cannot run yet.
            tracing::warn!(file = %file.display(), "not served: {e}");
            continue;
        }
        status.push(ScenarioStatus {
            file: file.clone(),
            scenario_id: settings.shipping.scenario_id.clone(),
            interval: polling_interval(&settings),
            ..ScenarioStatus::default()
        });
        units.push(Unit {
            settings,
            ready: None,
            next_due: now,
            failures: 0,
            trained_at: None,
        });
    }
    Ok((units, status))
}

/// When the model's files were last written.
fn model_time(path: &Path) -> Option<DateTime<Utc>> {
    let modified = std::fs::metadata(path.join(sonar_mvad::META_FILE))
        .and_then(|m| m.modified())
        .ok()?;
    Some(DateTime::<Utc>::from(modified))
}

impl Unit {
    /// Trains when the model is missing or the retraining period has passed, and sets up the
    /// model, sink and poller when needed.
    fn prepare(
        &mut self,
        request: &ServeRequest,
        clock: &dyn Clock,
        progress: &mut dyn Progress,
        stop: &StopFlag,
    ) -> Result<(), Error> {
        let s = &self.settings;
        let exists = s.model_path.join(sonar_mvad::META_FILE).is_file();
        let now = clock.now();
        let retrain_due = match (s.training.retrain_every, self.trained_at) {
            (Some(every), Some(at)) => {
                now - at >= TimeDelta::from_std(every).unwrap_or(TimeDelta::MAX)
            }
            _ => false,
        };
        if !exists || retrain_due {
            tracing::info!(scenario = %s.shipping.scenario_id, retrain = retrain_due, "training");
            train::train(s, clock, progress, stop, request.payload_dir_given)?;
            self.trained_at = Some(now);
            self.ready = None;
        }
        if self.trained_at.is_none() {
            // A model from an earlier run: the retraining period counts from its training.
            self.trained_at = Some(model_time(&s.model_path).unwrap_or(now).min(now));
        }
        if self.ready.is_none() {
            let model = LoadedModel::load(&s.model_path)?;
            let sink = open_sink(s, &model, request.payload_dir_given)?;
            let poller = Poller::new(s)?;
            self.ready = Some(Ready {
                model,
                sink,
                poller,
            });
        }
        Ok(())
    }
}

/// Runs every enabled scenario until `stop` is raised, or until each scenario has polled
/// `limit.max_polls` times. `on_poll` sees each poll (scenario id, result).
#[allow(clippy::too_many_arguments)]
pub fn serve(
    request: &ServeRequest,
    clock: &dyn Clock,
    progress: &mut dyn Progress,
    stop: &StopFlag,
    reload: &ReloadFlag,
    board: &StatusBoard,
    limit: LoopLimit,
    on_poll: &mut dyn FnMut(&str, &PollResult),
) -> Result<(), Error> {
    let (mut units, status) = load_units(request, clock.now())?;
    board.replace(status);
    tracing::info!(scenarios = units.len(), "serving");
    let mut polls: Vec<u64> = vec![0; units.len()];
    while !stop.is_raised() {
        if reload.take() {
            match load_units(request, clock.now()) {
                Ok((fresh, status)) => {
                    tracing::info!(scenarios = fresh.len(), "scenario files reloaded");
                    units = fresh;
                    polls = vec![0; units.len()];
                    board.replace(status);
                }
                Err(e) => {
                    tracing::error!(error = %e, "reload failed; keeping the scenarios already loaded")
                }
            }
        }
        for (i, unit) in units.iter_mut().enumerate() {
            if stop.is_raised() {
                break;
            }
            let now = clock.now();
            if unit.next_due > now || limit.max_polls.is_some_and(|m| polls[i] >= m) {
                continue;
            }
            let id = unit.settings.shipping.scenario_id.clone();
            let interval = polling_interval(&unit.settings);
            let started = Instant::now();
            let result =
                unit.prepare(request, clock, progress, stop)
                    .and_then(|()| match &mut unit.ready {
                        Some(r) => r.poller.poll(
                            &unit.settings,
                            &r.model,
                            r.sink.as_mut(),
                            clock,
                            progress,
                            stop,
                        ),
                        None => Ok(PollResult::NothingNew),
                    });
            polls[i] += 1;
            let seconds = started.elapsed().as_secs_f64();
            let trained = unit
                .ready
                .as_ref()
                .and_then(|_| model_time(&unit.settings.model_path));
            let wait = match &result {
                Ok(PollResult::Retrying(_)) | Err(_) => {
                    unit.failures += 1;
                    match &unit.ready {
                        Some(r) if result.is_ok() => r.poller.wait(),
                        _ => backoff(unit.failures, interval),
                    }
                }
                Ok(_) => {
                    unit.failures = 0;
                    unit.ready.as_ref().map_or(interval, |r| r.poller.wait())
                }
            };
            let end = clock.now();
            board.update(i, |s| {
                s.polls += 1;
                s.last_poll_seconds = seconds;
                s.model_trained = trained.or(s.model_trained);
                match &result {
                    Ok(PollResult::Scored(o)) => {
                        s.buckets_scored += o.summary.scored as u64;
                        s.anomalies += o.summary.anomalies as u64;
                        s.events += o.summary.events as u64;
                        s.last_success = Some(end);
                        s.last_error = None;
                    }
                    Ok(PollResult::NothingNew) => {
                        s.last_success = Some(end);
                        s.last_error = None;
                    }
                    Ok(PollResult::Stopped) => {}
                    Ok(PollResult::Retrying(e)) | Err(e) => {
                        s.failures += 1;
                        s.last_error = Some(e.to_string());
                    }
                }
            });
            match &result {
                Ok(r) => on_poll(&id, r),
                Err(e) => {
                    tracing::error!(scenario = %id, error = %e, retry_in_s = wait.as_secs(), "scenario failed; the others go on, this one is retried with backoff");
                    on_poll(
                        &id,
                        &PollResult::Retrying(Error::Service {
                            scenario: id.clone(),
                            problem: e.to_string(),
                        }),
                    );
                }
            }
            unit.next_due = end + TimeDelta::from_std(wait).unwrap_or(TimeDelta::seconds(60));
        }
        if let Some(m) = limit.max_polls {
            if polls.iter().all(|p| *p >= m) {
                break;
            }
        }
        let now = clock.now();
        let next = units
            .iter()
            .enumerate()
            .filter(|(i, _)| limit.max_polls.is_none_or(|m| polls[*i] < m))
            .map(|(_, u)| u.next_due)
            .min();
        let wait = match next {
            Some(t) if t > now => (t - now).to_std().unwrap_or(Duration::from_secs(1)),
            Some(_) => Duration::ZERO,
            None => Duration::from_secs(1),
        };
        if !wait.is_zero() {
            clock.sleep(wait, stop);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_entity_scenarios_are_left_out_of_serve_with_a_warning() {
        let dir = tempfile::tempdir().expect("temp dir");
        let fleet = "name: fleet\ntraining: {categorical_fields: [agent.name]}\ndetection: {mode: realtime}\n";
        let by_host =
            "name: by host\ntraining: {entity_field: agent.name}\ndetection: {mode: realtime}\n";
        std::fs::write(dir.path().join("a.yaml"), fleet).expect("write");
        std::fs::write(dir.path().join("b.yaml"), by_host).expect("write");
        let request = ServeRequest {
            config: None,
            scenarios: vec![dir.path().to_path_buf()],
            overrides: Overrides::default(),
            payload_dir_given: false,
        };
        let (units, status) = load_units(&request, Utc::now()).expect("loads");
        assert_eq!(units.len(), 1);
        assert_eq!(status.len(), 1, "not counted by /health either");
        assert_eq!(status[0].file, dir.path().join("a.yaml"));
    }
}
