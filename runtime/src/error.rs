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
    /// The script store (embedded database) failed.
    #[error("script store: {0}")]
    Store(String),
    /// A request to the admin API is malformed or names something invalid;
    /// for a script that does not compile, `location` says where.
    #[error("{message}")]
    BadRequest {
        /// What is wrong and what to do instead.
        message: String,
        /// Where in the script, for a compile or load error.
        location: Option<ScriptErrorLocation>,
    },
    /// A named script, version or route does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the stored state (a taken route pattern,
    /// no version to roll back to).
    #[error("{0}")]
    Conflict(String),
    /// An upload exceeds the configured size limit.
    #[error("the upload is larger than the limit of {limit} bytes (max_upload_bytes in the [admin] config)")]
    PayloadTooLarge {
        /// The limit, bytes.
        limit: u64,
    },
    /// The upload's content type is neither JavaScript nor multipart.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The admin token is missing or wrong.
    #[error("missing or wrong admin token: send `Authorization: Bearer <token>`")]
    Unauthorized,
    /// The path exists but does not take this method.
    #[error("method not allowed: this path takes {allowed}")]
    MethodNotAllowed {
        /// The methods it takes, for the `Allow` header.
        allowed: &'static str,
    },
    /// `islet deploy` could not complete; the message says what to do next.
    #[error("{0}")]
    Deploy(String),
    /// A KV operation of the admin API failed: bad input (400, 413, 414)
    /// or the KV storage (503).
    #[error("{0}")]
    Kv(#[from] islet_bindings::kv::KvError),
}

impl RuntimeError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> RuntimeError {
        RuntimeError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    /// A 400 error without a script location.
    pub fn bad_request(message: impl Into<String>) -> RuntimeError {
        RuntimeError::BadRequest {
            message: message.into(),
            location: None,
        }
    }

    /// The HTTP status a request (edge or admin) gets when this error stops it.
    pub fn http_status(&self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            RuntimeError::Script { .. }
            | RuntimeError::V8(_)
            | RuntimeError::Io { .. }
            | RuntimeError::Store(_)
            | RuntimeError::Deploy(_) => StatusCode::INTERNAL_SERVER_ERROR,
            RuntimeError::Config(_) | RuntimeError::Listen { .. } => StatusCode::SERVICE_UNAVAILABLE,
            RuntimeError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            RuntimeError::NotFound(_) => StatusCode::NOT_FOUND,
            RuntimeError::Conflict(_) => StatusCode::CONFLICT,
            RuntimeError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            RuntimeError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RuntimeError::Unauthorized => StatusCode::UNAUTHORIZED,
            RuntimeError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            RuntimeError::Kv(e) => match e {
                islet_bindings::kv::KvError::Invalid { status, .. } => {
                    StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST)
                }
                islet_bindings::kv::KvError::Unavailable | islet_bindings::kv::KvError::Backend(_) => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
            },
        }
    }
}
