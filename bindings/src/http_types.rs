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
}

/// Where a request's response head goes; `Err` is an uncaught script error
/// (message with stack), already logged.
pub type Responder = tokio::sync::oneshot::Sender<Result<ResponseHead, String>>;

/// A request handed to JavaScript, kept in the resource table under the
/// request id: headers for lazy reads, the body for streaming reads.
pub struct RequestSlot {
    /// Request headers, materialised in JS only when the script reads them.
    pub headers: http::HeaderMap,
    /// The body, absent when there is none. Shared with an in-flight read,
    /// which takes it out and puts it back (empty once read to the end).
    pub body: Option<std::rc::Rc<std::cell::RefCell<Option<RequestBody>>>>,
    /// Where the response goes; taken by the first `op_respond`.
    pub responder: Option<Responder>,
    /// What the request has used of its limits.
    pub usage: crate::limits::RequestUsage,
}
