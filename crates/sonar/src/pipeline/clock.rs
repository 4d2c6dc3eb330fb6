//! Time and stopping, injected into every run: [`Clock`] (the system clock, or a simulated one
//! whose waits advance instantly, so tests never sleep), [`StopFlag`] (raised by signals), and
//! [`Progress`] (what the CLI draws; the library never draws on a terminal).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

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
