//! Library errors → Python exceptions. The classes live in `sonar/errors.py` (so they can
//! also derive from the built-in exception a Python caller expects: `ValueError`,
//! `FileNotFoundError`, `ConnectionError`); the message is the library's own, with its causes.

use pyo3::prelude::*;
use pyo3::types::PyType;
use sonar::Error;
use sonar_mvad::MvadError;

/// Which `sonar.errors` class an error becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A config or scenario value, or a feature setting.
    Config,
    /// No model at the given path.
    ModelNotFound,
    /// A model file that cannot be read or is incompatible.
    ModelFile,
    /// Scoring columns differ from the trained ones.
    ColumnMismatch,
    /// Too few rows to train or score.
    NotEnoughData,
    /// A bad MVAD parameter.
    InvalidParameter,
    /// Malformed input data.
    DataFormat,
    /// The indexer could not be reached or refused a request.
    Indexer,
    /// Anything else the library reports.
    Other,
}

impl Kind {
    fn class_name(self) -> &'static str {
        match self {
            Kind::Config => "ConfigError",
            Kind::ModelNotFound => "ModelNotFoundError",
            Kind::ModelFile => "ModelFileError",
            Kind::ColumnMismatch => "ColumnMismatchError",
            Kind::NotEnoughData => "NotEnoughDataError",
            Kind::InvalidParameter => "InvalidParameterError",
            Kind::DataFormat => "DataFormatError",
            Kind::Indexer => "IndexerError",
            Kind::Other => "SonarError",
        }
    }
}

fn mvad_kind(e: &MvadError) -> Kind {
    match e {
        MvadError::InvalidParam { .. } | MvadError::UnknownParam(_) => Kind::InvalidParameter,
        MvadError::InvalidData(_) => Kind::DataFormat,
        MvadError::NotEnoughData { .. } => Kind::NotEnoughData,
        MvadError::ColumnMismatch { .. } => Kind::ColumnMismatch,
        MvadError::ModelFile { .. } => Kind::ModelFile,
        MvadError::Cancelled | MvadError::Device(..) => Kind::Other,
    }
}

fn sonar_kind(e: &Error) -> Kind {
    match e {
        Error::Engine(inner) => mvad_kind(inner),
        Error::ConfigSyntax { .. }
        | Error::ConfigValue { .. }
        | Error::FeatureSetting { .. }
        | Error::AlertFilter { .. } => Kind::Config,
        Error::ModelMissing { .. } => Kind::ModelNotFound,
        Error::ModelSchema { .. } | Error::ModelSet { .. } => Kind::ModelFile,
        Error::NotEnoughTrainingData { .. } => Kind::NotEnoughData,
        Error::IndexerSetting { .. }
        | Error::IndexerUnreachable { .. }
        | Error::IndexerHttp { .. }
        | Error::IndexerResponse { .. }
        | Error::IndexNotFound { .. }
        | Error::IndexerCheck { .. }
        | Error::SinkItemsFailed { .. }
        | Error::SinkRejected { .. }
        | Error::SinkBadResponse { .. } => Kind::Indexer,
        Error::LocalPathMissing { .. } => Kind::Config,
        _ => Kind::Other,
    }
}

/// The error's message followed by its causes (`message: cause: cause`), skipping a cause
/// the message already quotes.
pub fn message(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
        source = cause.source();
    }
    text
}

/// A `sonar.errors` exception of `kind` carrying `text`.
pub fn raise(kind: Kind, text: String) -> PyErr {
    Python::attach(|py| {
        let class = py
            .import("sonar.errors")
            .and_then(|m| m.getattr(kind.class_name()))
            .and_then(|c| c.cast_into::<PyType>().map_err(PyErr::from));
        match class {
            Ok(class) => PyErr::from_type(class, text),
            // The package is broken if its own module is missing; still say what failed.
            Err(e) => pyo3::exceptions::PyRuntimeError::new_err(format!(
                "{text} (and sonar.errors could not be imported: {e})"
            )),
        }
    })
}

/// A library error as a Python exception.
pub fn from_sonar(e: Error) -> PyErr {
    raise(sonar_kind(&e), message(&e))
}

/// An engine error as a Python exception.
pub fn from_mvad(e: MvadError) -> PyErr {
    raise(mvad_kind(&e), message(&e))
}

/// Malformed input from the Python side (bad JSON, wrong buffer size).
pub fn data(text: impl Into<String>) -> PyErr {
    raise(Kind::DataFormat, text.into())
}

/// Shorthand: `.map_err(py_sonar)?`.
pub trait IntoPy<T> {
    /// Converts the error half into a Python exception.
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPy<T> for Result<T, Error> {
    fn py(self) -> PyResult<T> {
        self.map_err(from_sonar)
    }
}

impl<T> IntoPy<T> for Result<T, MvadError> {
    fn py(self) -> PyResult<T> {
        self.map_err(from_mvad)
    }
}
