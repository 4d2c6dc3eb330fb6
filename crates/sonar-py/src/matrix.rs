//! Numeric tables across the boundary: row labels and column names as Python lists, values as
//! the raw bytes of a row-major `float64` array (what `numpy.ndarray.tobytes()` or
//! `array.array("d").tobytes()` give), so neither side needs numpy bindings.

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use sonar_mvad::Frame;

use crate::errors::{self, IntoPy};

/// Decodes native-endian `f64`s.
pub fn floats(bytes: &[u8]) -> PyResult<Vec<f64>> {
    if !bytes.len().is_multiple_of(8) {
        return Err(errors::data(format!(
            "the value buffer holds {} bytes, not a whole number of float64 values",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            f64::from_ne_bytes(b)
        })
        .collect())
}

/// Encodes `f64`s as native-endian bytes for Python.
pub fn bytes<'py>(py: Python<'py>, values: &[f64]) -> Bound<'py, PyBytes> {
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
    PyBytes::new(py, &raw)
}

/// The engine's frame from labels, names and row-major values (checked by [`Frame::new`]:
/// shape, duplicate names, infinities).
pub fn frame(labels: Vec<String>, columns: Vec<String>, values: &[u8]) -> PyResult<Frame> {
    Frame::new(labels, columns, floats(values)?).py()
}

/// Parses JSON text handed over by the Python half.
pub fn json(text: &str, what: &str) -> PyResult<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| errors::data(format!("{what} is not valid JSON: {e}")))
}

/// Serialises a value for the Python half (which `json.loads` it).
pub fn to_json(value: &impl serde::Serialize) -> PyResult<String> {
    serde_json::to_string(value)
        .map_err(|e| errors::data(format!("cannot serialise the result: {e}")))
}
