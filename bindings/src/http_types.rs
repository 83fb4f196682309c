//! Types that carry HTTP requests into JavaScript and responses out of it,
//! shared by the body ops and the runtime's request dispatch.

use std::pin::Pin;

use bytes::Bytes;

/// Errors from body streams, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request body as the runtime hands it in (hyper's incoming body, boxed).
pub type RequestBody = Pin<Box<dyn http_body::Body<Data = Bytes, Error = BoxError> + Send>>;

/// One chunk of a streamed response body; `Err` aborts the response.
pub type BodyChunk = Result<Bytes, String>;

/// The head of a response produced by a script, plus how its body arrives.
pub struct ResponseHead {
    /// HTTP status code.
    pub status: u16,
    /// Headers, in the order the script set them.
    pub headers: http::HeaderMap,
    /// The body.
    pub body: ResponseBody,
}

/// A response body: all at once, or streamed from JavaScript with backpressure.
pub enum ResponseBody {
    /// No body.
    Empty,
    /// The whole body.
    Full(Bytes),
    /// Chunks written by the JS pump; the channel's bound is the backpressure.
    Stream(tokio::sync::mpsc::Receiver<BodyChunk>),
    /// A `fetch()` response body the script returned untouched: streamed
    /// from the upstream connection to the client without entering JS.
    Upstream(hyper::body::Incoming),
    /// No response: the script failed after `ctx.passThroughOnException()`,
    /// and the edge sends the request to the origin instead (a 500 when
    /// none is configured).
    PassThrough(Box<PassThrough>),
}

/// What the edge needs to send a failed request on to the origin.
pub struct PassThrough {
    /// The uncaught error (message and stack), for the log.
    pub error: String,
    /// The request's headers as they arrived.
    pub headers: http::HeaderMap,
    /// The request body, when the script never read it.
    pub body: Option<RequestBody>,
    /// The request had a body that the script already read: it cannot be
    /// sent again.
    pub body_lost: bool,
}

/// Why a script produced no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The handler threw or its promise rejected.
    Exception,
    /// The request spent its CPU-time budget.
    CpuTime,
    /// The isolate reached its heap limit.
    Memory,
    /// The isolate was discarded (another request broke a limit).
    Discarded,
}

/// A script's failure to respond: what happened and a message for the log.
#[derive(Debug, Clone)]
pub struct ScriptFailure {
    /// What happened.
    pub kind: FailureKind,
    /// Detail for the log (message and stack for exceptions).
    pub message: String,
}

/// What a request's response head is, once the script produced it or failed.
pub type HeadResult = Result<ResponseHead, ScriptFailure>;

/// Where a request's response head goes.
pub enum Responder {
    /// The request is being dispatched: the head is kept in
    /// `HostState::immediate` for the dispatcher, which needs no channel
    /// when the script answers at once (most do).
    Dispatching,
    /// The dispatcher returned and waits on this channel.
    Channel(tokio::sync::oneshot::Sender<HeadResult>),
}

/// A request handed to JavaScript, kept in `HostState::requests` under the
/// request id: headers for lazy reads, the body for streaming reads.
pub struct RequestSlot {
    /// Request headers, materialised in JS only when the script reads them.
    pub headers: http::HeaderMap,
    /// The body, absent when there is none. Shared with an in-flight read,
    /// which takes it out and puts it back (empty once read to the end).
    pub body: Option<std::rc::Rc<std::cell::RefCell<Option<RequestBody>>>>,
    /// Where the response goes; taken by the first `op_respond`.
    pub responder: Option<Responder>,
    /// What the request has used of its limits; shared with the edge,
    /// which reports it when the request ends.
    pub usage: crate::limits::SharedUsage,
    /// The request's id in logs and the live tail.
    pub request_id: u64,
}
