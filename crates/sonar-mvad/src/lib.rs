//! MVAD engine: a faithful Rust port of the multivariate detector of Microsoft's
//! `time-series-anomaly-detector` 0.4.0 (an MTAD-GAT derivative), on burn's `flex` CPU backend.
//!
//! It knows nothing of alerts, HTTP or YAML: it takes a numeric [`Frame`] (row labels and
//! named columns) plus parameters, and returns per-row results.

mod error;

pub use error::{MvadError, Result};
