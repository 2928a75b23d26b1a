//! The one mapping from core errors to the exception classes of `treelens.exceptions`.

use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::types::PyType;
use treelens_core::Error;

/// A core error on its way to Python.
pub struct CoreError(pub Error);

impl From<Error> for CoreError {
    fn from(e: Error) -> Self {
        CoreError(e)
    }
}

fn exception_class(err: &Error) -> &'static str {
    match err {
        Error::InvalidInput(_) => "InvalidInputError",
        Error::InvalidModel(_) => "ModelFormatError",
        Error::Unsupported(_) => "UnsupportedModelError",
        Error::TooLarge { .. } => "OutputTooLargeError",
        Error::Interrupted => "KeyboardInterrupt",
        Error::Internal(_) => "TreelensError",
    }
}

impl From<CoreError> for PyErr {
    fn from(e: CoreError) -> PyErr {
        let message = e.0.to_string();
        if matches!(e.0, Error::Interrupted) {
            return PyKeyboardInterrupt::new_err(message);
        }
        let name = exception_class(&e.0);
        Python::attach(|py| {
            let class = py
                .import("treelens.exceptions")
                .and_then(|m| m.getattr(name))
                .and_then(|c| c.cast_into::<PyType>().map_err(PyErr::from));
            match class {
                Ok(class) => PyErr::from_type(class, message),
                Err(_) => PyRuntimeError::new_err(message),
            }
        })
    }
}
