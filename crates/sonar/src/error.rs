//! The library's one error type. Variants carry what a caller needs to act on them
//! (file, key path, index, HTTP status, expected vs actual). Each area of the library
//! keeps its variants together under its own heading comment.

use std::path::PathBuf;

/// Every failure the SONAR library reports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ---- files -------------------------------------------------------------------------
    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What we were doing ("reading", "writing", "creating directory").
        action: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    // ---- engine ------------------------------------------------------------------------
    /// The MVAD engine refused or failed.
    #[error(transparent)]
    Engine(#[from] sonar_mvad::MvadError),
    // ---- source (alerts in) ------------------------------------------------------------
    // ---- features ----------------------------------------------------------------------
    // ---- sink (anomalies out) ----------------------------------------------------------
    // ---- config and scenarios ----------------------------------------------------------
}
