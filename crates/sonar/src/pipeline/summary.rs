//! [`RunSummary`]: the counts of one run, printed as its one summary line.

use std::time::Duration;

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
