//! SONAR library: everything between the Wazuh indexer and the MVAD engine.
//!
//! Data flow (ARCHITECTURE.md): an alert source ([`source`]) streams alerts, the feature builder
//! ([`features`]) turns them into a regular time grid, the engine (`sonar_mvad`) scores it,
//! the detector applies the scenario's decision rules, and a sink ([`sink`]) writes anomaly
//! documents. Configuration and scenarios live in [`config`].

pub mod config;
pub mod detect;
pub mod engine;
pub mod error;
pub mod eval;
pub mod features;
pub mod field;
pub mod pipeline;
pub mod sink;
pub mod source;
pub mod synthetic;

pub use error::Error;
