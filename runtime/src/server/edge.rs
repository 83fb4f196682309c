//! The edge listener's request handler: route the request, hand it to this
//! thread's isolate for the script, and turn the script's response (or its
//! failure) into an HTTP response.

use std::rc::Rc;

use http::{HeaderValue, Request, Response, StatusCode};
use http_body::Body as _;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use islet_bindings::http_types::{RequestBody, ResponseHead};

use super::body::EdgeBody;
use crate::isolate::IncomingRequest;
use crate::worker::Worker;

/// Handles one request on the edge listener.
pub async fn handle(worker: Rc<Worker>, req: Request<Incoming>) -> Response<EdgeBody> {
    let _in_flight = worker.request_started();
    let (parts, body) = req.into_parts();
    let authority = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.authority().map(http::uri::Authority::as_str))
        .unwrap_or("localhost")
        .to_string();
    let host = strip_port(&authority);
    let path = parts.uri.path();
    let Some(script) = worker.registry.route(host, path) else {
        return plain(StatusCode::NOT_FOUND, "No route matches this request.\n");
    };
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
    let mut url = String::with_capacity(7 + authority.len() + path_and_query.len());
    url.push_str("http://");
    url.push_str(&authority);
    url.push_str(path_and_query);
    let body: Option<RequestBody> = if body.is_end_stream() {
        None
    } else {
        Some(Box::pin(body.map_err(Into::into)))
    };
    let pending = iso.borrow_mut().dispatch_fetch(IncomingRequest {
        method: parts.method.as_str(),
        url: &url,
        headers: parts.headers,
        body,
    });
    match pending.await {
        Ok(Ok(head)) => build_response(head),
        Ok(Err(error)) => {
            tracing::error!(script = %script.name, "uncaught exception in fetch handler: {error}");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error: the script threw an uncaught exception.\n",
            )
        }
        Err(_) => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error: the script never produced a response.\n",
        ),
    }
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
