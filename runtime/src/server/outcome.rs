//! The one mapping from a script's failure to the HTTP response a client
//! gets: an uncaught exception is a 500, a spent CPU or memory budget a
//! 503 naming the limit, a spent wall-time budget a 504. Details (stacks)
//! go to the log, never to the client.

use std::time::Duration;

use http::{Response, StatusCode};
use islet_bindings::http_types::{FailureKind, ScriptFailure};

use super::body::EdgeBody;
use super::edge::plain;
use crate::observe::RequestId;

/// The response for a script failure, logged with the script name.
pub fn failure_response(script: &str, request_id: RequestId, failure: &ScriptFailure) -> Response<EdgeBody> {
    match failure.kind {
        FailureKind::Exception => {
            tracing::error!(script, %request_id, "uncaught exception in fetch handler: {}", failure.message);
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error: the script threw an uncaught exception.\n",
            )
        }
        FailureKind::CpuTime => {
            tracing::warn!(script, %request_id, "request stopped: {}", failure.message);
            plain(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("Service Unavailable: the script {}.\n", failure.message),
            )
        }
        FailureKind::Memory => {
            tracing::warn!(script, %request_id, "request stopped: {}", failure.message);
            plain(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("Service Unavailable: the script {}.\n", failure.message),
            )
        }
        FailureKind::Discarded => discarded_response(script, request_id),
    }
}

/// The response when the isolate went away before answering (a limit hit
/// by another request in the same isolate).
pub fn discarded_response(script: &str, request_id: RequestId) -> Response<EdgeBody> {
    tracing::warn!(script, %request_id, "request lost its isolate before a response");
    plain(
        StatusCode::SERVICE_UNAVAILABLE,
        "Service Unavailable: the script's isolate was stopped by a limit; retry the request.\n",
    )
}

/// The response when the script took longer than its wall-time limit.
pub fn wall_time_response(script: &str, request_id: RequestId, wall: Duration) -> Response<EdgeBody> {
    tracing::warn!(
        script,
        %request_id,
        limit_ms = wall.as_millis() as u64,
        "request exceeded the wall time limit"
    );
    plain(
        StatusCode::GATEWAY_TIMEOUT,
        &format!(
            "Gateway Timeout: the script exceeded the wall time limit ({} ms).\n",
            wall.as_millis()
        ),
    )
}

/// The response while a script is throttled for breaking its limits again
/// and again.
pub fn throttled_response(script: &str, wait: Duration) -> Response<EdgeBody> {
    tracing::debug!(script, "request refused: script throttled");
    let secs = wait.as_secs() + 1;
    let mut res = plain(
        StatusCode::SERVICE_UNAVAILABLE,
        &format!(
            "Service Unavailable: the script keeps exceeding its CPU or memory limits and is throttled; retry in {secs} s.\n"
        ),
    );
    if let Ok(v) = http::HeaderValue::from_str(&secs.to_string()) {
        res.headers_mut().insert(http::header::RETRY_AFTER, v);
    }
    res
}
