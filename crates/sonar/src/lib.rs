//! SONAR library: everything between the Wazuh indexer and the MVAD engine.
//!
//! Data flow (ARCHITECTURE.md): an alert source ([`source`]) streams alerts, the feature builder
//! ([`features`]) turns them into a regular time grid, the engine (`sonar_mvad`) scores it,
//! the detector applies the scenario's decision rules, and a sink ([`sink`]) writes anomaly
//! documents. Configuration and scenarios live in [`config`]; [`pipeline`] wires a whole run.
//!
//! The original's components, by their names (in Rust casing, at the crate root):
//!
//! | original | here |
//! |---|---|
//! | `PipelineConfig` | [`config::Settings::load`] |
//! | `WazuhIndexerClient` | [`WazuhIndexerClient`]: requests; alerts through [`source::AlertSource`] ([`pipeline::open_source`]), anomaly documents through [`sink::IndexSink`] |
//! | `WazuhFeatureBuilder` | [`WazuhFeatureBuilder`] (`build_timeseries`: `push_page` then `finish`) |
//! | `MVADModelEngine` | [`MvadModelEngine`] (`sonar_mvad::fit`, `save`, `load`, `predict`), [`detect::Detector`] for the scenario's decision |
//! | `MVADPostProcessor` | [`MvadPostProcessor`] (`build_anomaly_documents`) |
//!
//! `examples/quickstart.rs` walks the original's Python quick start in Rust.

#![warn(unreachable_pub)]

pub mod config;
pub mod detect;
pub mod engine;
pub mod error;
pub mod features;
pub mod field;
pub mod pipeline;
pub mod sink;
pub mod source;
pub mod synthetic;

pub use engine::MvadModelEngine;
pub use error::Error;
pub use features::WazuhFeatureBuilder;
pub use sink::MvadPostProcessor;
/// The engine crate, so that a user of this library reaches the engine's types (frames,
/// parameters, the model) through one dependency, at the version this library uses.
pub use sonar_mvad;
pub use source::indexer::WazuhIndexerClient;
