//! The engine as SONAR configures it: the model's window, device and further parameters
//! (`mvad:`, or a scenario's `training:` keys of the same names) and the training run's own
//! settings (`training:`); declared in `config/keys.rs`, defaults here beside the fields. The
//! engine's own parameters and their reference defaults are `sonar_mvad::MvadParams`.

use std::time::Duration;

use crate::synthetic::SyntheticSpec;
use sonar_mvad::Device;

/// MVAD's window setting, validated to 28..=2880 (the range of the retired Azure service;
/// below 28 the model's convolutions have nothing to work on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlidingWindow(u32);

impl SlidingWindow {
    /// Smallest accepted value.
    pub const MIN: u32 = 28;
    /// Largest accepted value.
    pub const MAX: u32 = 2880;

    /// Checks the range.
    pub fn new(value: u64) -> Result<Self, String> {
        if (u64::from(Self::MIN)..=u64::from(Self::MAX)).contains(&value) {
            Ok(Self(value as u32))
        } else {
            Err(format!(
                "must be between {} and {}, found {value}",
                Self::MIN,
                Self::MAX
            ))
        }
    }

    /// The configured value.
    pub fn get(self) -> u32 {
        self.0
    }

    /// W: rows the model reads per window (`sliding_window / 2`).
    pub fn input_rows(self) -> u32 {
        self.0 / 2
    }

    /// TW: rows of the threshold window (`min(200, sliding_window − W)`).
    pub fn threshold_rows(self) -> u32 {
        (self.0 - self.input_rows()).min(200)
    }

    /// Rows needed before the first score: W + TW.
    pub fn min_scoring_rows(self) -> u32 {
        self.input_rows() + self.threshold_rows()
    }
}

/// `mvad.*` (with the scenario's training overrides), typed.
#[derive(Debug, Clone, PartialEq)]
pub struct MvadSettings {
    /// Window size.
    pub sliding_window: SlidingWindow,
    /// A file set the window (`mvad.sliding_window` or `training.sliding_window`). When none
    /// did, training on too few buckets fits a smaller window with a warning instead of
    /// failing (the small-data rule, docs/configuration.md).
    pub sliding_window_given: bool,
    /// Device.
    pub device: Device,
    /// Further MVAD parameters, checked against the known names.
    pub extra_params: serde_json::Map<String, serde_json::Value>,
}

impl MvadSettings {
    /// `mvad.sliding_window` when none is given.
    pub const DEFAULT_SLIDING_WINDOW: u64 = 200;
    /// `mvad.device` when none is given.
    pub const DEFAULT_DEVICE: &'static str = "cpu";
}

/// The scenario's `training:` extras, typed.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingSettings {
    /// Training window length.
    pub lookback: Duration,
    /// Minimum training buckets (≥ [`crate::config::Settings::min_training_buckets`]).
    pub min_samples: usize,
    /// `training.min_samples` was set (else it follows the window: `sliding_window + 1`).
    pub min_samples_given: bool,
    /// Pad short training data with synthetic buckets.
    pub fill_with_synthetic: bool,
    /// `training.retrain_every_hours`: how often `sonar serve` retrains (`None`: never).
    pub retrain_every: Option<Duration>,
    /// How padding alerts look.
    pub synthetic: SyntheticSpec,
}

impl TrainingSettings {
    /// `training.lookback_hours` when none is given.
    pub const DEFAULT_LOOKBACK_HOURS: u64 = 24;
    /// `training.synthetic_count` when none is given.
    pub const DEFAULT_SYNTHETIC_COUNT: u64 = 100;
}
