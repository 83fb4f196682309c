//! The edge listener's request handler: route the request, hand it to this
//! thread's isolate for the script, and turn the script's response (or its
//! failure) into an HTTP response. Requests that match no route, and
//! failed ones whose script asked for it, go to the origin (`proxy.rs`).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{HeaderValue, Request, Response, StatusCode};
use http_body::Body as _;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use islet_bindings::fetch::body::OutBody;
use islet_bindings::http_types::{HeadResult, PassThrough, RequestBody, ResponseBody, ResponseHead};
use tokio::sync::oneshot::error::TryRecvError;

use super::body::{EdgeBody, Recorded};
use super::outcome;
use super::proxy::{ClientInfo, Origin};
use crate::isolate::IncomingRequest;
use crate::observe::{next_request_id, Outcome, RequestRecord};
use crate::script::SharedScript;
use crate::worker::Worker;
use islet_bindings::http_types::FailureKind;

/// The future of one edge request: ready when the script answered during
/// its dispatch (most requests), so hyper holds a small future instead of
/// a large state machine; otherwise the rest of the work, boxed.
///
/// Under load, a response that is ready still waits for one turn of the
/// thread's task queue: the connections that became readable with this
/// one are read and dispatched first, and their responses then go out back
/// to back. A client that sent several requests is woken once for a burst
/// of responses instead of once per response, which costs both sides less
/// kernel time per request than the extra poll costs here. Without load
/// (requests spaced out) the wait would only add that poll, so there is
/// none ([`Worker::in_burst`]).
pub enum EdgeFuture {
    /// The response, until hyper takes it, and whether it still has to
    /// wait its turn.
    Ready(Option<Response<EdgeBody>>, bool),
    /// Waiting for the script, the origin or a pass-through.
    Pending(Pin<Box<dyn Future<Output = Response<EdgeBody>>>>),
}

impl EdgeFuture {
    fn ready(res: Response<EdgeBody>) -> EdgeFuture {
        EdgeFuture::Ready(Some(res), false)
    }

    /// The same future, made to wait one turn before a ready response.
    fn after_a_turn(self) -> EdgeFuture {
        match self {
            EdgeFuture::Ready(res, _) => EdgeFuture::Ready(res, true),
            pending => pending,
        }
    }

    fn pending(fut: impl Future<Output = Response<EdgeBody>> + 'static) -> EdgeFuture {
        EdgeFuture::Pending(Box::pin(fut))
    }
}

/// hyper's service future itself: the edge never fails a request at this
/// level (errors are responses), and a future of its own rather than an
/// `async` block around this one saves moving the response through one
/// more state machine.
impl Future for EdgeFuture {
    type Output = Result<Response<EdgeBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            // Taken once; hyper never polls a finished future again.
            EdgeFuture::Ready(res, wait) => {
                if *wait {
                    *wait = false;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                res.take().map_or(Poll::Pending, |res| Poll::Ready(Ok(res)))
            }
            EdgeFuture::Pending(fut) => fut.as_mut().poll(cx).map(Ok),
        }
    }
}

/// Handles one request on the edge listener; `origin` is where unmatched
/// requests go, `client` the connection it came on.
pub fn handle(
    worker: Rc<Worker>,
    req: Request<Incoming>,
    origin: Option<Rc<Origin>>,
    client: ClientInfo,
) -> EdgeFuture {
    let arrived = Instant::now();
    let (parts, body) = req.into_parts();
    let authority = host_header(&parts.headers)
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.authority().map(http::uri::Authority::as_str))
        .unwrap_or("localhost");
    let host = strip_port(authority);
    let path = parts.uri.path();
    let route = worker.registry.route(host, path);
    let Some(script) = route else {
        return match origin {
            Some(origin) => EdgeFuture::pending(async move {
                let body = if body.is_end_stream() {
                    OutBody::Empty
                } else {
                    OutBody::Stream(Box::pin(body.map_err(Into::into)))
                };
                let res = origin.forward(parts, body, client).await;
                worker.thread_stats().record_unrouted(Some(res.status().as_u16()));
                res
            }),
            None => {
                worker.thread_stats().record_unrouted(None);
                EdgeFuture::ready(plain(StatusCode::NOT_FOUND, "No route matches this request.\n"))
            }
        };
    };
    let request_id = next_request_id();
    let url = request_url(&parts, authority, client.tls);
    let log_level = worker.observability().request_log;
    // The record of a request that ends before its script runs.
    let unserved = |method, url| {
        let stats = worker.script_stats(&script.name);
        let mut rec = Recorded::new(RequestRecord::new(stats, log_level, arrived, request_id));
        rec.record.set_request(method, url);
        rec
    };
    if let Some(wait) = worker.throttled(&script.name) {
        let rec = unserved(parts.method, url);
        let res = outcome::throttled_response(&script.name, wait);
        return EdgeFuture::ready(recorded(rec, res, Outcome::Throttled, None));
    }
    let serving = match worker.isolate_for(&script, arrived) {
        Ok(serving) => serving,
        Err(e) => {
            tracing::error!(script = %script.name, %request_id, error = %e, "script failed to load");
            let rec = unserved(parts.method, url);
            let error = rec.record.is_tailed().then(|| e.to_string());
            let res = plain(StatusCode::INTERNAL_SERVER_ERROR, "The script failed to start.\n");
            return EdgeFuture::ready(recorded(rec, res, Outcome::LoadFailed, error));
        }
    };
    let mut rec = Recorded::new(RequestRecord::new(serving.stats, log_level, arrived, request_id));
    if serving.cold_start {
        rec.record.set_cold_start();
    }
    let body: Option<RequestBody> = if body.is_end_stream() {
        None
    } else {
        Some(Box::pin(body.map_err(Into::into)))
    };
    // Kept for ctx.passThroughOnException(): the request goes to the origin
    // if the script fails. Boxed, as most requests never need it; the
    // method is in the record.
    let pass_target = origin.map(|o| Box::new((o, parts.uri)));
    let mut pending = serving.iso.borrow_mut().dispatch_fetch(IncomingRequest {
        method: parts.method.as_str(),
        url: &url,
        headers: parts.headers,
        body,
        request_id: request_id.0,
        usage: rec.record.usage(),
    });
    rec.record.set_request(parts.method, url);
    let wall = serving.iso.borrow().limits().wall;
    drop(serving.iso);
    let in_burst = worker.in_burst(arrived);
    let answered = Answered {
        worker,
        script,
        rec,
        pass_target,
        client,
    };
    // Most handlers answer during the dispatch: no timer for those.
    match pending.try_recv() {
        Ok(head) if in_burst => answered.respond(Answer::Head(head)).after_a_turn(),
        Ok(head) => answered.respond(Answer::Head(head)),
        Err(TryRecvError::Closed) => answered.respond(Answer::Lost),
        Err(TryRecvError::Empty) => EdgeFuture::pending(async move {
            let answer = match tokio::time::timeout(wall, pending).await {
                Ok(Ok(head)) => Answer::Head(head),
                Ok(Err(_)) => Answer::Lost,
                Err(_) => Answer::WallTime(wall),
            };
            let Ok(res) = answered.respond(answer).await;
            res
        }),
    }
}

/// How waiting for a script's response head ended.
enum Answer {
    /// The head, or the script's failure.
    Head(HeadResult),
    /// The isolate went away first.
    Lost,
    /// The wall-time limit passed first.
    WallTime(std::time::Duration),
}

/// A dispatched request, waiting for its answer.
struct Answered {
    worker: Rc<Worker>,
    script: SharedScript,
    /// The request's record, boxed with room for the response body; also
    /// where ctx.passThroughOnException() finds the method.
    rec: Box<Recorded>,
    /// The origin and the request's URI, for ctx.passThroughOnException().
    pass_target: Option<Box<(Rc<Origin>, http::Uri)>>,
    client: ClientInfo,
}

impl Answered {
    /// The response for `answer`, with the request's record attached.
    fn respond(self, answer: Answer) -> EdgeFuture {
        let Answered {
            worker,
            script,
            rec,
            pass_target,
            client,
        } = self;
        let name = script.name.as_str();
        let request_id = rec.record.id();
        let (res, outcome, error) = match answer {
            Answer::Head(Ok(head)) => {
                worker.record_success(name);
                if let ResponseBody::PassThrough(pass) = head.body {
                    let error = rec.record.is_tailed().then(|| pass.error.clone());
                    let target = pass_target.map(|t| {
                        let (origin, uri) = *t;
                        (origin, rec.record.method().clone(), uri)
                    });
                    return EdgeFuture::pending(async move {
                        let (res, outcome) = pass_through(&script.name, *pass, target, client).await;
                        recorded(rec, res, outcome, error)
                    });
                }
                (build_response(head), Outcome::Ok, None)
            }
            Answer::Head(Err(failure)) => {
                if matches!(failure.kind, FailureKind::CpuTime | FailureKind::Memory) {
                    worker.record_breach(name);
                }
                let outcome = match failure.kind {
                    FailureKind::Exception => Outcome::Exception,
                    FailureKind::CpuTime => Outcome::CpuLimit,
                    FailureKind::Memory => Outcome::MemoryLimit,
                    FailureKind::Discarded => Outcome::Discarded,
                };
                let error = rec.record.is_tailed().then(|| failure.message.clone());
                (outcome::failure_response(name, request_id, &failure), outcome, error)
            }
            Answer::Lost => (outcome::discarded_response(name, request_id), Outcome::Discarded, None),
            Answer::WallTime(wall) => (
                outcome::wall_time_response(name, request_id, wall),
                Outcome::WallTime,
                None,
            ),
        };
        EdgeFuture::ready(recorded(rec, res, outcome, error))
    }
}

/// The request's absolute URL, as the script sees it.
fn request_url(parts: &http::request::Parts, authority: &str, tls: bool) -> String {
    let path_and_query = parts.uri.path_and_query().map_or("/", http::uri::PathAndQuery::as_str);
    let mut url = String::with_capacity(8 + authority.len() + path_and_query.len());
    url.push_str(if tls { "https://" } else { "http://" });
    url.push_str(authority);
    url.push_str(path_and_query);
    url
}

/// Attaches the request's record to its response: it is reported when
/// the body has been sent (or the client went away).
fn recorded(
    mut rec: Box<Recorded>,
    res: Response<EdgeBody>,
    outcome: Outcome,
    error: Option<String>,
) -> Response<EdgeBody> {
    rec.record.set_outcome(res.status().as_u16(), outcome, error);
    res.map(|body| {
        rec.body = body;
        EdgeBody::Recorded(rec)
    })
}

/// Sends a request whose script failed after `ctx.passThroughOnException()`
/// to the origin; without an origin (or when the script already read the
/// body, which cannot be sent twice), it is the usual 500.
async fn pass_through(
    script: &str,
    pass: PassThrough,
    target: Option<(Rc<Origin>, http::Method, http::Uri)>,
    client: ClientInfo,
) -> (Response<EdgeBody>, Outcome) {
    let exception = || {
        (
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error: the script threw an uncaught exception.\n",
            ),
            Outcome::Exception,
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
    (origin.forward(parts, body, client).await, Outcome::PassedThrough)
}

/// The request's Host header. Clients send it first or nearly so: a walk
/// over the first few entries costs less than hashing the name.
fn host_header(headers: &http::HeaderMap) -> Option<&HeaderValue> {
    headers
        .iter()
        .find_map(|(name, value)| (name == http::header::HOST).then_some(value))
}

fn strip_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority.split(']').next().map_or(authority, |h| &h[1..]);
    }
    // A byte search: `rsplit_once(':')` walks UTF-8 characters backwards.
    match authority.bytes().rposition(|b| b == b':') {
        Some(i) => &authority[..i],
        None => authority,
    }
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
