//! The edge listener's request handler: route the request, hand it to this
//! thread's isolate for the script, and turn the script's response (or its
//! failure) into an HTTP response. Requests that match no route, and
//! failed ones whose script asked for it, go to the origin (`proxy.rs`).

use std::rc::Rc;

use http::{HeaderValue, Request, Response, StatusCode};
use http_body::Body as _;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use islet_bindings::fetch::body::OutBody;
use islet_bindings::http_types::{PassThrough, RequestBody, ResponseBody, ResponseHead};
use tokio::sync::oneshot::error::TryRecvError;

use super::body::EdgeBody;
use super::outcome;
use super::proxy::{ClientInfo, Origin};
use crate::isolate::IncomingRequest;
use crate::worker::Worker;
use islet_bindings::http_types::FailureKind;

/// Handles one request on the edge listener; `origin` is where unmatched
/// requests go, `client` the connection it came on.
pub async fn handle(
    worker: Rc<Worker>,
    req: Request<Incoming>,
    origin: Option<Rc<Origin>>,
    client: ClientInfo,
) -> Response<EdgeBody> {
    let _in_flight = worker.request_started();
    let (parts, body) = req.into_parts();
    let authority = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.authority().map(http::uri::Authority::as_str))
        .unwrap_or("localhost");
    let host = strip_port(authority);
    let path = parts.uri.path();
    let route = worker.registry.route(host, path);
    let Some(script) = route else {
        return match origin {
            Some(origin) => {
                let body = if body.is_end_stream() {
                    OutBody::Empty
                } else {
                    OutBody::Stream(Box::pin(body.map_err(Into::into)))
                };
                // Boxed, here and below: a future awaited inline makes this
                // one (moved on every request) as large as itself.
                Box::pin(origin.forward(parts, body, client)).await
            }
            None => plain(StatusCode::NOT_FOUND, "No route matches this request.\n"),
        };
    };
    if let Some(wait) = worker.throttled(&script.name) {
        return outcome::throttled_response(&script.name, wait);
    }
    let iso = match worker.isolate_for(&script) {
        Ok(iso) => {
            worker.schedule_refill();
            iso
        }
        Err(e) => {
            tracing::error!(script = %script.name, error = %e, "script failed to load");
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "The script failed to start.\n");
        }
    };
    let path_and_query = parts.uri.path_and_query().map_or("/", http::uri::PathAndQuery::as_str);
    let mut url = String::with_capacity(8 + authority.len() + path_and_query.len());
    url.push_str(if client.tls { "https://" } else { "http://" });
    url.push_str(authority);
    url.push_str(path_and_query);
    let body: Option<RequestBody> = if body.is_end_stream() {
        None
    } else {
        Some(Box::pin(body.map_err(Into::into)))
    };
    // Kept for ctx.passThroughOnException(): the head goes to the origin
    // if the script fails.
    let target = origin.map(|o| (o, parts.method.clone(), parts.uri.clone()));
    let mut pending = iso.borrow_mut().dispatch_fetch(IncomingRequest {
        method: parts.method.as_str(),
        url: &url,
        headers: parts.headers,
        body,
    });
    let wall = iso.borrow().limits().wall;
    // Most handlers answer during the dispatch: no timer for those.
    let answered = match pending.try_recv() {
        Ok(head) => Ok(Ok(head)),
        Err(TryRecvError::Empty) => Box::pin(tokio::time::timeout(wall, pending))
            .await
            .map(|r| r.map_err(|_| ())),
        Err(TryRecvError::Closed) => Ok(Err(())),
    };
    match answered {
        Ok(Ok(Ok(head))) => {
            worker.record_success(&script.name);
            match head.body {
                ResponseBody::PassThrough(pass) => Box::pin(pass_through(&script.name, *pass, target, client)).await,
                _ => build_response(head),
            }
        }
        Ok(Ok(Err(failure))) => {
            if matches!(failure.kind, FailureKind::CpuTime | FailureKind::Memory) {
                worker.record_breach(&script.name);
            }
            outcome::failure_response(&script.name, &failure)
        }
        Ok(Err(_)) => outcome::discarded_response(&script.name),
        Err(_) => outcome::wall_time_response(&script.name, wall),
    }
}

/// Sends a request whose script failed after `ctx.passThroughOnException()`
/// to the origin; without an origin (or when the script already read the
/// body, which cannot be sent twice), it is the usual 500.
async fn pass_through(
    script: &str,
    pass: PassThrough,
    target: Option<(Rc<Origin>, http::Method, http::Uri)>,
    client: ClientInfo,
) -> Response<EdgeBody> {
    let exception = || {
        plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error: the script threw an uncaught exception.\n",
        )
    };
    let Some((origin, method, uri)) = target else {
        tracing::error!(
            script,
            "uncaught exception in fetch handler (no origin to pass through to): {}",
            pass.error
        );
        return exception();
    };
    if pass.body_lost {
        tracing::error!(
            script,
            "uncaught exception in fetch handler; not passed through: the script had read the request body: {}",
            pass.error
        );
        return exception();
    }
    tracing::warn!(
        script,
        "uncaught exception in fetch handler, passing the request to the origin: {}",
        pass.error
    );
    let Ok(mut request) = Request::builder().method(method).uri(uri).body(()) else {
        return exception();
    };
    *request.headers_mut() = pass.headers;
    let (parts, ()) = request.into_parts();
    let body = pass.body.map_or(OutBody::Empty, OutBody::Stream);
    origin.forward(parts, body, client).await
}

fn strip_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority.split(']').next().map_or(authority, |h| &h[1..]);
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

fn build_response(head: ResponseHead) -> Response<EdgeBody> {
    let mut res = Response::new(EdgeBody::from(head.body));
    *res.status_mut() = StatusCode::from_u16(head.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    *res.headers_mut() = head.headers;
    res
}

/// A plain-text response from islet itself.
pub fn plain(status: StatusCode, text: &str) -> Response<EdgeBody> {
    let mut res = Response::new(EdgeBody::text(text));
    *res.status_mut() = status;
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::strip_port;

    #[test]
    fn ports_are_stripped_from_hosts() {
        assert_eq!(strip_port("example.com:8080"), "example.com");
        assert_eq!(strip_port("example.com"), "example.com");
        assert_eq!(strip_port("[::1]:80"), "::1");
    }
}
