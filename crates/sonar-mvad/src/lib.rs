//! MVAD engine: a faithful Rust port of the multivariate detector of Microsoft's
//! `time-series-anomaly-detector` 0.4.0 (an MTAD-GAT derivative), on burn's `flex` CPU backend.
//!
//! It knows nothing of alerts, HTTP or YAML: it takes a numeric [`Frame`] (row labels and
//! named columns) plus [`MvadParams`], and returns per-row results.

pub mod calibrate;
mod device;
mod error;
mod frame;
pub mod fused_encode;
pub mod fused_gru;
pub mod kernel;
pub mod native;
pub mod net;
mod params;
pub mod preprocess;
pub mod weights;

pub use calibrate::ScoreCalibration;
pub use device::{compute_device, Device};
pub use error::{MvadError, Result};
pub use frame::Frame;
pub use params::{MvadParams, TrainingRules, WindowSizes, MIN_SLIDING_WINDOW};
pub use preprocess::FillMethod;
mod model;
pub mod score;
mod stream;
pub mod subspace;
mod train;

pub use model::{
    model_files, ModelMeta, MvadModel, PredictOptions, TrainingSummary, META_FILE, MODEL_FORMAT,
    MODEL_FORMAT_VERSION, WEIGHTS_FILE,
};
pub use score::{
    Contribution, CorrelationChanges, ErrorKind, ErrorScales, RowResult, Scoring, ThresholdRule,
};
pub use stream::{warmup_rows, ScorerState, StreamingScorer};
pub use train::{
    data_needs, fit, fit_shared, DataNeeds, EpochReport, SharedFit, StepProfile, TrainObserver,
    Trainer,
};
