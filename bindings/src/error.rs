//! The error type of this crate and the JS error class each maps to.

/// Which JavaScript error class an op failure becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsErrorClass {
    /// `Error`
    Error,
    /// `TypeError`
    TypeError,
    /// `RangeError`
    RangeError,
}

/// An error raised by a binding; it reaches JavaScript as an exception or a
/// rejected promise of the class [`BindingError::js_class`] names.
#[derive(Debug, thiserror::Error)]
pub enum BindingError {
    /// A caller passed an argument of the wrong type or shape.
    #[error("{0}")]
    Type(String),
    /// A caller passed a value out of range.
    #[error("{0}")]
    Range(String),
    /// A resource id that does not exist (closed, or never opened).
    #[error("bad resource id {0}")]
    BadResource(u32),
    /// The peer of a body stream went away (client disconnected, etc.).
    #[error("{0}")]
    Io(String),
    /// A per-request limit is spent (see `limits`).
    #[error("{0}")]
    Limit(String),
}

impl BindingError {
    /// The JavaScript class this error becomes.
    pub fn js_class(&self) -> JsErrorClass {
        match self {
            BindingError::Type(_) | BindingError::BadResource(_) => JsErrorClass::TypeError,
            BindingError::Range(_) => JsErrorClass::RangeError,
            BindingError::Io(_) | BindingError::Limit(_) => JsErrorClass::Error,
        }
    }
}
