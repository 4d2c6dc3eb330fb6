//! Integration tests of the MVAD engine: golden conformance with the reference library,
//! model files, and training behaviour.

mod golden;
mod model_files;
mod streaming;
mod training;
