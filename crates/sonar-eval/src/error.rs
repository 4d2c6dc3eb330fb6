//! The errors of the evaluation tooling: its own input problems, and the library's and the
//! engine's errors passed through unchanged (file errors are the library's `Error::Io`).

use std::path::{Path, PathBuf};

/// Everything that can go wrong in an evaluation or the demo-data generator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An evaluation input file is malformed (CSV shape, labels, a score file).
    #[error("{path}: {problem}")]
    EvalInput {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong and what to do.
        problem: String,
    },
    /// Evaluation series do not fit together (columns, labels, too few rows).
    #[error("evaluation of `{series}`: {problem}")]
    EvalData {
        /// The series' name.
        series: String,
        /// What is wrong.
        problem: String,
    },
    /// An error of the SONAR library (settings, sources, the pipeline).
    #[error(transparent)]
    Sonar(#[from] sonar::Error),
    /// An error of the engine.
    #[error(transparent)]
    Engine(#[from] sonar_mvad::MvadError),
}

impl Error {
    /// A file error, as the library reports it (`sonar::Error::Io`).
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        Self::Sonar(sonar::Error::Io {
            action,
            path: path.to_path_buf(),
            source,
        })
    }
}
