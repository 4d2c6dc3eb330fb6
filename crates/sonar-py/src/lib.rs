//! The native half of the `sonar` Python package (`sonar._native`): thin PyO3 bindings over the
//! SONAR library (`crates/sonar`) and the MVAD engine (`crates/sonar-mvad`). The Python half
//! (`python/sonar/`) gives the seed's names and call shapes and converts pandas frames; this
//! crate turns Python calls into library calls and library errors into Python exceptions.
//!
//! What it owns: argument conversion (JSON text for structured values, raw `f64` bytes for
//! matrices, so no numpy or pandas is needed at build or import time), releasing the GIL
//! around training and scoring, and the error mapping ([`errors`]). What it never does:
//! feature building, scoring, decisions or document layout; those are the library's.
//!
//! Each Python component maps to one library entry point:
//!
//! | Python | library |
//! |---|---|
//! | `PipelineConfig` | `sonar::config::Settings::load` / `resolve` ([`config`]) |
//! | `WazuhIndexerClient` | `sonar::pipeline::indexer_client`, `sonar::source`, `sonar::sink` ([`client`]) |
//! | `WazuhFeatureBuilder` | `sonar::features::FeatureBuilder` ([`features`]) |
//! | `MVADModelEngine` | `sonar_mvad::fit`, `StreamingScorer`, `sonar::detect::Detector` ([`engine`]) |
//! | `MVADPostProcessor` | `sonar::sink::document` ([`documents`]) |
//! | `sonar.mvad.MultivariateAnomalyDetector` | `sonar_mvad::{fit, MvadModel}` ([`mvad`]) |

use pyo3::prelude::*;

pub mod client;
pub mod config;
pub mod documents;
pub mod engine;
pub mod errors;
pub mod features;
pub mod matrix;
pub mod mvad;
pub mod slot;

/// The extension module `sonar._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<config::NativeSettings>()?;
    m.add_function(wrap_pyfunction!(config::load_settings, m)?)?;
    m.add_class::<client::NativeClient>()?;
    m.add_function(wrap_pyfunction!(features::build_timeseries, m)?)?;
    m.add_class::<engine::NativeEngine>()?;
    m.add_function(wrap_pyfunction!(documents::build_anomaly_docs, m)?)?;
    m.add_class::<mvad::NativeDetector>()?;
    Ok(())
}
