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
//! - [`serve()`]: every enabled scenario in one process, each through its own [`Poller`].
//!
//! Named parts: [`clock`] (time, stopping, progress: always injected, so tests never sleep and
//! the library never draws on a terminal), [`summary`] (the run's summary line), [`wiring`]
//! (settings → engine parameters, indexer client, alert source), [`fetch`] (alerts → feature
//! matrix).

mod chain;
pub mod clock;
pub mod detect;
pub mod entity;
pub mod fetch;
pub mod realtime;
pub mod serve;
pub mod summary;
pub mod train;
pub mod wiring;

pub use crate::detect::entity::Entity;
/// Bucket rounding for a width held as seconds (kept for library users; the pipeline rounds
/// with [`crate::features::BucketWidth`]).
pub use crate::features::{ceil_to_bucket, floor_to_bucket};
pub use chain::ChainedSource;
pub use clock::{Clock, Progress, SimulatedClock, StopFlag, SystemClock};
pub use detect::{
    detect, historical_range, open_sink, DetectOutcome, DetectRequest, LoadedModel, PendingBucket,
};
pub use entity::{
    detect_entities, model_exists, run_realtime_entities, train_entities, EntityDetectOutcome,
    EntityModel, EntitySettings, EntityTrainOutcome, ModelSet,
};
pub use realtime::{run_realtime, LoopLimit, PollResult, Poller, RealtimeState};
pub use serve::{serve, ReloadFlag, ScenarioStatus, ServeRequest, StatusBoard};
pub use summary::RunSummary;
pub use train::{apply_small_data_rule, train, write_options, TrainOutcome};
pub(crate) use wiring::needed_fields;
pub use wiring::{
    debug_file, debug_window, file_extent, indexer_client, is_transient, mvad_params, open_source,
    window_range, Phase, ALERT_PCA_GAMMA, DEFAULT_EPOCHS,
};
