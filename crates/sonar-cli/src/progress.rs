//! Progress display: a spinner counting fetched alerts and a bar over training epochs with
//! the losses, on stderr; both are hidden (no control codes at all) when stderr is not a
//! terminal, whatever `--color` says.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sonar::pipeline::Progress;
use sonar_mvad::EpochReport;

/// Draws indicatif bars for the pipeline's progress events.
#[derive(Debug)]
pub struct CliProgress {
    bar: Option<ProgressBar>,
    phase: String,
    /// stderr is a terminal: bars are drawn, else they are hidden.
    draw: bool,
}

impl CliProgress {
    /// No bar yet; bars will be drawn only if stderr is a terminal.
    pub fn new() -> Self {
        Self {
            bar: None,
            phase: String::new(),
            draw: std::io::stderr().is_terminal(),
        }
    }

    /// Where a new bar draws: stderr, or nowhere when it is not a terminal.
    fn target(&self) -> ProgressDrawTarget {
        if self.draw {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        }
    }
}

impl Default for CliProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress for CliProgress {
    fn phase(&mut self, name: &str) {
        self.done();
        self.phase = name.to_owned();
    }

    fn fetched(&mut self, alerts: u64) {
        let phase = self.phase.clone();
        let target = self.target();
        let bar = self.bar.get_or_insert_with(|| {
            let bar = ProgressBar::with_draw_target(None, target);
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
        let target = self.target();
        let bar = self.bar.get_or_insert_with(|| {
            let bar = ProgressBar::with_draw_target(Some(report.epochs as u64), target);
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
