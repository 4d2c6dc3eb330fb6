//! A model slot shared by the Python classes that hold a model: empty until `fit`/`train` or
//! `load`, readable from any Python thread (`Mutex`, so the model itself need not be `Sync`).

use std::sync::Mutex;

use pyo3::prelude::*;

use crate::errors::{self, Kind};

/// `T` once trained or loaded; `missing` is the message of a call that needs it before.
/// The value is boxed: Python allocates objects 16-byte aligned, and a model holds 64-byte
/// aligned buffers, which must not live inline in a `#[pyclass]`.
pub struct Slot<T> {
    inner: Mutex<Option<Box<T>>>,
    missing: &'static str,
}

impl<T> Slot<T> {
    /// An empty slot.
    pub fn new(missing: &'static str) -> Self {
        Self {
            inner: Mutex::new(None),
            missing,
        }
    }

    fn lock(&self) -> PyResult<std::sync::MutexGuard<'_, Option<Box<T>>>> {
        self.inner
            .lock()
            .map_err(|_| errors::data("a previous call panicked; create a new object"))
    }

    /// Runs `f` on the value, or raises `ModelNotFoundError` when there is none.
    pub fn with<R>(&self, f: impl FnOnce(&T) -> PyResult<R>) -> PyResult<R> {
        match self.lock()?.as_deref() {
            Some(value) => f(value),
            None => Err(errors::raise(Kind::ModelNotFound, self.missing.into())),
        }
    }

    /// Runs `f` on the value if there is one.
    pub fn peek<R>(&self, f: impl FnOnce(Option<&T>) -> R) -> PyResult<R> {
        Ok(f(self.lock()?.as_deref()))
    }

    /// Replaces the value.
    pub fn set(&self, value: T) -> PyResult<()> {
        *self.lock()? = Some(Box::new(value));
        Ok(())
    }
}
