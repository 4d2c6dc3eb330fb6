//! The engine's one error type.

use std::path::PathBuf;

/// Everything the MVAD engine can refuse or fail at. Variants carry what a caller needs:
/// the minimum rows, the offending column, the bad parameter, the file and its problem.
#[derive(Debug, thiserror::Error)]
pub enum MvadError {
    /// A parameter is out of range or of the wrong kind.
    #[error("invalid MVAD parameter `{name}`: {problem}")]
    InvalidParam {
        /// Parameter name as the user wrote it (`sliding_window`, `fill_na_method`, ...).
        name: &'static str,
        /// What is wrong and what is accepted.
        problem: String,
    },
    /// A parameter name the engine does not know.
    #[error("invalid MVAD parameter `params`: unknown parameter `{0}`")]
    UnknownParam(String),
    /// The input frame is malformed (ragged rows, no columns, duplicate names, bad values).
    #[error("invalid input data: {0}")]
    InvalidData(String),
    /// Not enough rows for the requested operation.
    #[error("not enough data to {action}: {rows} rows given, at least {minimum} needed ({why})")]
    NotEnoughData {
        /// "train" or "score".
        action: &'static str,
        /// Rows given.
        rows: usize,
        /// Minimum rows needed.
        minimum: usize,
        /// Where the minimum comes from.
        why: String,
    },
    /// The columns given for scoring differ from the ones the model was trained on.
    #[error("columns differ from the trained model's: missing {missing:?}, unexpected {extra:?}")]
    ColumnMismatch {
        /// Trained columns absent from the input.
        missing: Vec<String>,
        /// Input columns the model does not know.
        extra: Vec<String>,
    },
    /// A model file could not be read, parsed, or is incompatible.
    #[error("model file {path}: {problem}")]
    ModelFile {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// Training was cancelled by the caller between two batches.
    #[error("training cancelled")]
    Cancelled,
    /// The requested compute device is not available in this build.
    #[error("device `{0}` is not available: {1}")]
    Device(String, String),
}

/// Result alias for the engine.
pub type Result<T, E = MvadError> = std::result::Result<T, E>;
