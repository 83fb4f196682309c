//! The runtime's error type, and the one function that maps runtime errors
//! to HTTP statuses.

use std::path::Path;

/// Where in a script a compile or load error is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ScriptErrorLocation {
    /// Module specifier (file name within the script).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// Errors of the runtime crate.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Bad configuration (file, flags, metadata).
    #[error("configuration error: {0}")]
    Config(String),
    /// A script failed to compile or to evaluate its top level.
    #[error("{message}")]
    Script {
        /// The JS error message, e.g. `SyntaxError: Unexpected token '}'`.
        message: String,
        /// Where, when V8 knows.
        location: Option<ScriptErrorLocation>,
    },
    /// Binding the listener failed.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// Address.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// V8 could not create an isolate or context.
    #[error("V8 failed: {0}")]
    V8(String),
}

impl RuntimeError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> RuntimeError {
        RuntimeError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    /// The HTTP status a request gets when this error stops it.
    pub fn http_status(&self) -> http::StatusCode {
        match self {
            RuntimeError::Script { .. } | RuntimeError::V8(_) | RuntimeError::Io { .. } => {
                http::StatusCode::INTERNAL_SERVER_ERROR
            }
            RuntimeError::Config(_) | RuntimeError::Listen { .. } => http::StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}
