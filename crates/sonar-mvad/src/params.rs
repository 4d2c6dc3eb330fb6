//! Parameters of the detector, validated once.
//!
//! The names and defaults are the reference library's (`MultiADConfig` plus the three keys it
//! consumes before filtering: `sliding_window`, `fill_na_method`, `fill_na_value`). Unlike the
//! reference, unknown keys are an error instead of being dropped silently.

use serde::{Deserialize, Serialize};

use crate::device::Device;
use crate::error::{MvadError, Result};
use crate::preprocess::FillMethod;
use crate::score::Scoring;

/// The window sizes derived from `sliding_window`: the model's input length `W` and the
/// number of past scores `TW` the local threshold looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowSizes {
    /// Rows in one model input window (`input_size`).
    pub input: usize,
    /// Scores in the local-threshold window (`threshold_window`).
    pub threshold: usize,
}

impl WindowSizes {
    /// Rows needed to report one scored row: `W + TW`.
    pub fn min_score_rows(&self) -> usize {
        self.input + self.threshold
    }
}

/// Training-time behaviours that change results and so are switchable. The reference's
/// behaviour is [`TrainingRules::reference`]; SONAR's default fixes its flaws.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainingRules {
    /// Keep a partial last batch (the reference drops it, so fewer than `batch_size` training
    /// windows means no optimizer step at all: flaw F1).
    pub keep_partial_batch: bool,
    /// Stop when the validation loss has not improved for this many epochs (`None`: run all
    /// epochs, as the reference). What counts as an improvement: the two fields below.
    pub early_stopping_patience: Option<usize>,
    /// An epoch improves when its smoothed validation loss is below the best smoothed loss so
    /// far by more than this fraction of it (0: any decrease). Rules saved before it existed
    /// read 0.
    #[serde(default)]
    pub early_stopping_min_delta: f64,
    /// Epochs in the trailing mean of the validation loss that the early stop compares (1: the
    /// loss itself, as rules saved before it existed read). The weights kept are still those
    /// of the epoch with the lowest (unsmoothed) validation loss.
    #[serde(default = "one_epoch")]
    pub early_stopping_smoothing: usize,
    /// At most this many validation windows per epoch, evenly spread (`None`: every window,
    /// as the reference).
    pub max_validation_windows: Option<usize>,
}

impl TrainingRules {
    /// Exactly the reference's rules.
    pub fn reference() -> Self {
        Self {
            keep_partial_batch: false,
            early_stopping_patience: None,
            early_stopping_min_delta: 0.0,
            early_stopping_smoothing: 1,
            max_validation_windows: None,
        }
    }
}

fn one_epoch() -> usize {
    1
}

/// The default early stop: (patience, min_delta, smoothing), chosen by detection quality on
/// the development data (docs/benchmarks.md "Early stopping that fires").
const EARLY_STOPPING: (usize, f64, usize) = (5, 0.01, 3);

impl Default for TrainingRules {
    fn default() -> Self {
        Self {
            keep_partial_batch: true,
            early_stopping_patience: Some(EARLY_STOPPING.0),
            early_stopping_min_delta: EARLY_STOPPING.1,
            early_stopping_smoothing: EARLY_STOPPING.2,
            max_validation_windows: Some(2048),
        }
    }
}

/// All parameters of fitting and scoring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MvadParams {
    /// `sliding_window`: `W = sw / 2`, `TW = min(200, sw − W)`. `None` gives the reference's
    /// defaults `W = 200`, `TW = 200`.
    pub sliding_window: Option<usize>,
    /// Missing-value filling.
    pub fill: FillMethod,
    /// Training epochs (an upper bound when early stopping is on).
    pub epochs: usize,
    /// Windows per optimizer step.
    pub batch_size: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Seed of every random draw of training (initialisation, shuffling, noise, dropout).
    pub seed: u64,
    /// Stride between training windows.
    pub interval: usize,
    /// Quantile of the training scores that becomes the model threshold.
    pub level: f64,
    /// Weight of the VAE loss.
    pub beta: f64,
    /// Share of rows used for training (chronologically first).
    pub train_ratio: f64,
    /// Share of rows used for validation (right after the training rows).
    pub val_ratio: f64,
    /// Compute device, as written (`cpu`; a GPU needs the `gpu` cargo feature); a typed
    /// [`Device`] sets it through [`MvadParams::with_device`].
    pub device: String,
    /// Switchable training behaviours.
    pub rules: TrainingRules,
    /// How rows are scored (the improved score by default). Parameters saved before scoring
    /// was switchable had the reference's score, so a missing key reads as faithful.
    #[serde(default = "Scoring::faithful")]
    pub scoring: Scoring,
}

impl Default for MvadParams {
    fn default() -> Self {
        Self {
            sliding_window: None,
            fill: FillMethod::Linear,
            epochs: 100,
            batch_size: 128,
            lr: 1e-3,
            seed: 42,
            interval: 10,
            level: 0.8,
            beta: 1.0,
            train_ratio: 0.8,
            val_ratio: 0.1,
            device: "cpu".to_string(),
            rules: TrainingRules::default(),
            scoring: Scoring::default(),
        }
    }
}

/// Smallest accepted `sliding_window`: below it the model window (`sw / 2`) is shorter than
/// the 7-point moving average and the reference crashes.
pub const MIN_SLIDING_WINDOW: usize = 14;

impl MvadParams {
    /// The reference's defaults, rules and score (for conformance runs).
    pub fn reference() -> Self {
        Self {
            rules: TrainingRules::reference(),
            scoring: Scoring::faithful(),
            ..Self::default()
        }
    }

    /// These parameters on `device`, stored as its `device` string ([`Device::name`]).
    pub fn with_device(self, device: Device) -> Self {
        Self {
            device: device.name().to_owned(),
            ..self
        }
    }

    /// Window sizes derived from `sliding_window`.
    pub fn windows(&self) -> WindowSizes {
        match self.sliding_window {
            None => WindowSizes {
                input: 200,
                threshold: 200,
            },
            Some(sw) => {
                let input = sw / 2;
                WindowSizes {
                    input,
                    threshold: 200.min(sw - input),
                }
            }
        }
    }

    /// Checks every value; the error names the parameter and what is accepted.
    pub fn validate(&self) -> Result<()> {
        let bad =
            |name: &'static str, problem: String| Err(MvadError::InvalidParam { name, problem });
        if let Some(sw) = self.sliding_window {
            if sw < MIN_SLIDING_WINDOW {
                return bad(
                    "sliding_window",
                    format!("{sw} is too small: at least {MIN_SLIDING_WINDOW} (the model window sw/2 must cover the 7-point moving average)"),
                );
            }
        }
        if self.epochs == 0 {
            return bad("epochs", "must be at least 1".into());
        }
        if self.batch_size == 0 {
            return bad("batch_size", "must be at least 1".into());
        }
        if self.interval == 0 {
            return bad("interval", "must be at least 1".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("lr", format!("{} is not a positive number", self.lr));
        }
        if !(self.level > 0.0 && self.level < 1.0) {
            return bad("level", format!("{} is not in (0, 1)", self.level));
        }
        if !(self.beta.is_finite() && self.beta >= 0.0) {
            return bad(
                "beta",
                format!("{} is not a non-negative number", self.beta),
            );
        }
        if !(self.train_ratio > 0.0
            && self.val_ratio >= 0.0
            && self.train_ratio + self.val_ratio <= 1.0)
        {
            return bad(
                "train_ratio",
                format!(
                    "train_ratio {} and val_ratio {} must be positive and sum to at most 1",
                    self.train_ratio, self.val_ratio
                ),
            );
        }
        if let FillMethod::Fixed(v) = self.fill {
            if !v.is_finite() {
                return bad("fill_na_value", format!("{v} is not a finite number"));
            }
        }
        if self.rules.early_stopping_patience == Some(0) {
            return bad(
                "early_stopping_patience",
                "must be at least 1 (or off)".into(),
            );
        }
        let min_delta = self.rules.early_stopping_min_delta;
        if !(0.0..1.0).contains(&min_delta) {
            return bad(
                "early_stopping_min_delta",
                format!("{min_delta} is not in [0, 1) (a fraction of the best smoothed validation loss)"),
            );
        }
        if self.rules.early_stopping_smoothing == 0 {
            return bad(
                "early_stopping_smoothing",
                "must be at least 1 (1: the validation loss itself)".into(),
            );
        }
        if self.rules.max_validation_windows == Some(0) {
            return bad(
                "max_validation_windows",
                "must be at least 1 (or off)".into(),
            );
        }
        self.scoring.validate()
    }

    /// Applies a reference-style parameter dictionary (`{"sliding_window": 200, "epochs": 5,
    /// ...}`) on top of `self`. Unknown keys and wrong types are errors naming the key.
    pub fn apply_json(mut self, params: &serde_json::Value) -> Result<Self> {
        let obj = params.as_object().ok_or_else(|| MvadError::InvalidParam {
            name: "params",
            problem: "must be a mapping of parameter names to values".into(),
        })?;
        let mut fill_name = self.fill.name().to_string();
        let mut fill_value = match self.fill {
            FillMethod::Fixed(v) => v,
            _ => 0.0,
        };
        for (key, value) in obj {
            match key.as_str() {
                "sliding_window" => self.sliding_window = Some(as_usize("sliding_window", value)?),
                "fill_na_method" => {
                    fill_name = value
                        .as_str()
                        .ok_or_else(|| type_error("fill_na_method", "a string", value))?
                        .to_string()
                }
                "fill_na_value" => fill_value = as_f64("fill_na_value", value)?,
                "epochs" => self.epochs = as_usize("epochs", value)?,
                "batch_size" => self.batch_size = as_usize("batch_size", value)?,
                "lr" => self.lr = as_f64("lr", value)?,
                "seed" => self.seed = as_usize("seed", value)? as u64,
                "interval" => self.interval = as_usize("interval", value)?,
                "level" => self.level = as_f64("level", value)?,
                "beta" => self.beta = as_f64("beta", value)?,
                "train_ratio" => self.train_ratio = as_f64("train_ratio", value)?,
                "val_ratio" => self.val_ratio = as_f64("val_ratio", value)?,
                "device" => {
                    self.device = value
                        .as_str()
                        .ok_or_else(|| type_error("device", "a string", value))?
                        .to_string()
                }
                "horizon" => {
                    if as_usize("horizon", value)? != 1 {
                        return Err(MvadError::InvalidParam {
                            name: "horizon",
                            problem: "only 1 is supported (as in the reference)".into(),
                        });
                    }
                }
                "early_stopping_patience" => {
                    self.rules.early_stopping_patience = match value {
                        serde_json::Value::Null => None,
                        v => Some(as_usize("early_stopping_patience", v)?),
                    }
                }
                "early_stopping_min_delta" => {
                    self.rules.early_stopping_min_delta = as_f64("early_stopping_min_delta", value)?
                }
                "early_stopping_smoothing" => {
                    self.rules.early_stopping_smoothing =
                        as_usize("early_stopping_smoothing", value)?
                }
                "max_validation_windows" => {
                    self.rules.max_validation_windows = match value {
                        serde_json::Value::Null => None,
                        v => Some(as_usize("max_validation_windows", v)?),
                    }
                }
                "scoring" => {
                    self.scoring = serde_json::from_value(value.clone()).map_err(|e| {
                        MvadError::InvalidParam {
                            name: "scoring",
                            problem: format!(
                                "{e} (a preset: {}; or a map with keys error = \"faithful\" or \"standardised\", recon_gamma, smooth_rows, pca_gamma)",
                                crate::score::SCORING_PRESETS
                            ),
                        }
                    })?
                }
                "keep_partial_batch" => {
                    self.rules.keep_partial_batch = value
                        .as_bool()
                        .ok_or_else(|| type_error("keep_partial_batch", "true or false", value))?
                }
                // The reference's config has these too, so a dict written for it works here:
                // `gamma` and `dropout` are unused there, `input_size`, `threshold_window` and
                // `data_dim` are recomputed from `sliding_window` and the columns there.
                "gamma" | "dropout" => {
                    as_f64(reference_key(key), value)?;
                }
                "input_size" | "threshold_window" | "data_dim" => {
                    as_usize(reference_key(key), value)?;
                }
                // Layer sizes the port fixes at the reference's defaults.
                "hidden_size" | "z_dim" | "enc_dim" | "dec_dim" | "gat_window_size"
                | "cnn_kernel_size" => {
                    let name = reference_key(key);
                    let fixed = if name == "cnn_kernel_size" { 7 } else { 100 };
                    if as_usize(name, value)? != fixed {
                        return Err(MvadError::InvalidParam {
                            name,
                            problem: format!(
                                "only the reference's {fixed} is supported (the architecture is fixed)"
                            ),
                        });
                    }
                }
                other => return Err(MvadError::UnknownParam(other.to_string())),
            }
        }
        self.fill = FillMethod::parse(&fill_name, fill_value)?;
        self.validate()?;
        Ok(self)
    }
}

/// The static name of a reference-only key (error messages carry `&'static str`).
fn reference_key(key: &str) -> &'static str {
    const KEYS: [&str; 11] = [
        "gamma",
        "dropout",
        "input_size",
        "threshold_window",
        "data_dim",
        "hidden_size",
        "z_dim",
        "enc_dim",
        "dec_dim",
        "gat_window_size",
        "cnn_kernel_size",
    ];
    KEYS.iter()
        .find(|k| **k == key)
        .copied()
        .unwrap_or("params")
}

fn type_error(name: &'static str, expected: &str, got: &serde_json::Value) -> MvadError {
    MvadError::InvalidParam {
        name,
        problem: format!("expected {expected}, got {got}"),
    }
}

fn as_usize(name: &'static str, v: &serde_json::Value) -> Result<usize> {
    v.as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| type_error(name, "a non-negative integer", v))
}

fn as_f64(name: &'static str, v: &serde_json::Value) -> Result<f64> {
    v.as_f64().ok_or_else(|| type_error(name, "a number", v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typed_device_is_stored_as_its_name() {
        let gpu = MvadParams::default().with_device(Device::Gpu);
        assert_eq!(gpu.device, "cuda");
        assert_eq!(
            MvadParams::default().with_device(Device::Cpu),
            MvadParams::default()
        );
    }

    #[test]
    fn window_sizes_follow_the_reference() {
        let check = |sw: Option<usize>, w: usize, tw: usize| {
            let p = MvadParams {
                sliding_window: sw,
                ..MvadParams::default()
            };
            assert_eq!(
                p.windows(),
                WindowSizes {
                    input: w,
                    threshold: tw
                },
                "sw={sw:?}"
            );
        };
        check(None, 200, 200);
        check(Some(200), 100, 100);
        check(Some(300), 150, 150);
        check(Some(1000), 500, 200);
        check(Some(41), 20, 21);
    }

    #[test]
    fn scoring_is_a_checked_parameter() {
        let p = MvadParams::default()
            .apply_json(&serde_json::json!({"scoring": {"error": "standardised", "recon_gamma": 1.0, "smooth_rows": 10}}))
            .expect("valid scoring");
        assert_eq!(p.scoring.error, crate::score::ErrorKind::Standardised);
        assert_eq!((p.scoring.recon_gamma, p.scoring.smooth_rows), (1.0, 10));
        assert_eq!(MvadParams::default().scoring, Scoring::default());
        assert!(MvadParams::reference().scoring.is_faithful());
        for (preset, faithful) in [
            ("faithful", true),
            ("reference", true),
            ("improved", false),
            ("default", false),
        ] {
            let p = MvadParams::default()
                .apply_json(&serde_json::json!({ "scoring": preset }))
                .expect("preset");
            assert_eq!(p.scoring.is_faithful(), faithful, "{preset}");
        }
        // A partial map takes the other fields from the default.
        let p = MvadParams::default()
            .apply_json(&serde_json::json!({"scoring": {"smooth_rows": 3}}))
            .expect("partial");
        assert_eq!(
            p.scoring,
            Scoring {
                smooth_rows: 3,
                ..Scoring::default()
            }
        );
        for (bad, says) in [
            (serde_json::json!({"error": "zscore"}), "unknown variant"),
            (serde_json::json!({"smoth_rows": 3}), "unknown field"),
            (serde_json::json!({"smooth_rows": 0}), "smooth_rows"),
            (serde_json::json!({"recon_gamma": -1.0}), "recon_gamma"),
            (serde_json::json!("precise"), "unknown scoring preset"),
        ] {
            let e = MvadParams::default()
                .apply_json(&serde_json::json!({ "scoring": bad }))
                .expect_err("refused")
                .to_string();
            assert!(e.contains("scoring") && e.contains(says), "{e}");
        }
        // Parameters saved before scoring existed still load.
        let mut old = serde_json::to_value(MvadParams::default()).expect("json");
        old.as_object_mut().expect("object").remove("scoring");
        let p: MvadParams = serde_json::from_value(old).expect("old params");
        assert!(p.scoring.is_faithful());
    }

    #[test]
    fn json_params_are_checked() {
        let ok = MvadParams::default()
            .apply_json(&serde_json::json!({"sliding_window": 40, "epochs": 5, "fill_na_method": "Fixed", "fill_na_value": 2.5}))
            .expect("valid params");
        assert_eq!(ok.sliding_window, Some(40));
        assert_eq!(ok.fill, FillMethod::Fixed(2.5));
        let err = |v: serde_json::Value| {
            MvadParams::default()
                .apply_json(&v)
                .expect_err("must be refused")
                .to_string()
        };
        assert!(err(serde_json::json!({"abcd": 1})).contains("unknown parameter `abcd`"));
        assert!(err(serde_json::json!({"sliding_window": 10})).contains("sliding_window"));
        assert!(err(serde_json::json!({"sliding_window": "x"})).contains("sliding_window"));
        assert!(err(serde_json::json!({"fill_na_method": "linear"})).contains("fill_na_method"));
        assert!(err(serde_json::json!({"level": 1.5})).contains("level"));
        assert!(err(serde_json::json!({"epochs": 0})).contains("epochs"));
        // The reference's own config keys: accepted when the port can honour them.
        let reference_dict = serde_json::json!({"sliding_window": 40, "gamma": 1.0, "dropout": 0.5,
            "hidden_size": 100, "cnn_kernel_size": 7, "input_size": 20, "data_dim": 3});
        assert_eq!(
            MvadParams::default()
                .apply_json(&reference_dict)
                .expect("reference keys")
                .sliding_window,
            Some(40)
        );
        assert!(err(serde_json::json!({"hidden_size": 64})).contains("`hidden_size`"));
        assert!(err(serde_json::json!({"cnn_kernel_size": 5})).contains("7"));
        assert!(err(serde_json::json!({"gamma": "x"})).contains("`gamma`"));
    }
}
