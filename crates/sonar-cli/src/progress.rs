//! Progress display: a spinner counting fetched alerts and a bar over training epochs with
//! the losses, on stderr; both are hidden when stderr is not a terminal.

use indicatif::{ProgressBar, ProgressStyle};
use sonar::pipeline::Progress;
use sonar_mvad::EpochReport;

/// Draws indicatif bars for the pipeline's progress events.
#[derive(Debug, Default)]
pub struct CliProgress {
    bar: Option<ProgressBar>,
    phase: String,
}

impl CliProgress {
    /// No bar yet.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Progress for CliProgress {
    fn phase(&mut self, name: &str) {
        self.done();
        self.phase = name.to_owned();
    }

    fn fetched(&mut self, alerts: u64) {
        let phase = self.phase.clone();
        let bar = self.bar.get_or_insert_with(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar
        });
        bar.set_message(format!("{phase}: {alerts} alerts"));
        bar.tick();
    }

    fn epoch(&mut self, report: &EpochReport) {
        let bar = self.bar.get_or_insert_with(|| {
            let bar = ProgressBar::new(report.epochs as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "training {bar:30} {pos}/{len} epochs {msg} [{elapsed}]",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        bar.set_position(report.epoch as u64);
        bar.set_message(format!(
            "loss {:.4} val {:.4}",
            report.train_loss, report.val_loss
        ));
    }

    fn done(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
