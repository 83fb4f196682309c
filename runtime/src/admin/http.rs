//! HTTP plumbing of the admin API: JSON responses, the JSON error shape,
//! and reading request bodies under the upload size limit.
//! Not for deciding what a request means (that is `api.rs`).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{header, Response, StatusCode};
use std::convert::Infallible;

use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::{json, Value};

use crate::error::RuntimeError;

/// The body of admin responses: whole, or streamed (the live tail).
pub type AdminBody = UnsyncBoxBody<Bytes, Infallible>;

/// The response type of every admin handler.
pub type AdminResponse = Response<AdminBody>;

/// A whole body.
pub fn full(bytes: impl Into<Bytes>) -> AdminBody {
    Full::new(bytes.into()).boxed_unsync()
}

/// A JSON response.
pub fn json_response(status: StatusCode, body: &Value) -> AdminResponse {
    let bytes = serde_json::to_vec_pretty(body).unwrap_or_default();
    let mut res = Response::new(full(bytes));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    res
}

/// The JSON error response for `error`: `{"error": "..."}`, plus `file`,
/// `line` and `column` for a script that does not compile.
pub fn error_response(error: &RuntimeError) -> AdminResponse {
    let status = error.http_status();
    let mut body = json!({ "error": error.to_string() });
    if let RuntimeError::BadRequest {
        location: Some(location),
        ..
    } = error
    {
        body["file"] = json!(location.file);
        body["line"] = json!(location.line);
        body["column"] = json!(location.column);
    }
    if status.is_server_error() {
        tracing::error!(target: "islet::admin", "{error}");
    }
    let mut res = json_response(status, &body);
    match error {
        RuntimeError::Unauthorized => {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Bearer"));
        }
        RuntimeError::MethodNotAllowed { allowed } => {
            res.headers_mut()
                .insert(header::ALLOW, http::HeaderValue::from_static(allowed));
        }
        _ => {}
    }
    res
}

/// Most of an oversized body that is read and dropped so that the client
/// sees the 413 instead of a reset connection; past it, the connection is
/// simply closed.
const DRAIN_MAX_BYTES: u64 = 64 << 20;
const DRAIN_MAX_TIME: Duration = Duration::from_secs(5);

/// Reads a whole request body of at most `limit` bytes.
pub async fn read_body(mut body: Incoming, content_length: Option<u64>, limit: u64) -> Result<Bytes, RuntimeError> {
    if content_length.is_some_and(|n| n > limit) {
        drain(body).await;
        return Err(RuntimeError::PayloadTooLarge { limit });
    }
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| RuntimeError::bad_request(format!("cannot read the request body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if (buf.len() + data.len()) as u64 > limit {
                drain(body).await;
                return Err(RuntimeError::PayloadTooLarge { limit });
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

async fn drain(mut body: Incoming) {
    let mut seen: u64 = 0;
    let _ = tokio::time::timeout(DRAIN_MAX_TIME, async {
        while let Some(Ok(frame)) = body.frame().await {
            if let Some(data) = frame.data_ref() {
                seen += data.len() as u64;
                if seen > DRAIN_MAX_BYTES {
                    break;
                }
            }
        }
    })
    .await;
}

/// Parses a JSON request body.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8], expected: &str) -> Result<T, RuntimeError> {
    serde_json::from_slice(body)
        .map_err(|e| RuntimeError::bad_request(format!("malformed JSON body: {e} (expected {expected})")))
}
