//! The body type of every response the edge sends: empty, whole, streamed
//! from a script chunk by chunk (with backpressure through the bounded
//! channel the script writes into), or streamed from the origin.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use islet_bindings::http_types::{BodyChunk, BoxError, ResponseBody};
use tokio::sync::mpsc;

use crate::observe::RequestRecord;

/// A response body.
pub enum EdgeBody {
    /// Nothing.
    Empty,
    /// All of it, sent in one frame.
    Full(Option<Bytes>),
    /// Chunks from a script's stream.
    Stream(mpsc::Receiver<BodyChunk>),
    /// The origin's response body, as it arrives (drop-in proxy).
    Upstream(hyper::body::Incoming),
    /// A script request's body, with the request's record.
    Recorded(Box<Recorded>),
}

/// A script request's response body with the request's record, which
/// reports the request when the body is over (sent, or dropped with the
/// connection). Boxed when the request arrives, so that the edge moves a
/// pointer through its steps rather than the record.
pub struct Recorded {
    /// The response body; empty until the response is known.
    pub body: EdgeBody,
    /// The request's record.
    pub record: RequestRecord,
}

impl Recorded {
    /// The record of a request whose response is not known yet.
    pub fn new(record: RequestRecord) -> Box<Recorded> {
        Box::new(Recorded {
            body: EdgeBody::Empty,
            record,
        })
    }
}

impl EdgeBody {
    /// A body from text.
    pub fn text(s: impl Into<String>) -> EdgeBody {
        EdgeBody::Full(Some(Bytes::from(s.into())))
    }
}

impl From<ResponseBody> for EdgeBody {
    fn from(b: ResponseBody) -> Self {
        match b {
            ResponseBody::Empty => EdgeBody::Empty,
            ResponseBody::Full(bytes) => EdgeBody::Full(Some(bytes)),
            ResponseBody::Stream(rx) => EdgeBody::Stream(rx),
            ResponseBody::Upstream(body) => EdgeBody::Upstream(body),
            // The edge answers a pass-through before it builds a body.
            ResponseBody::PassThrough(_) => EdgeBody::Empty,
        }
    }
}

/// The script aborted its response stream.
#[derive(Debug, thiserror::Error)]
#[error("response stream aborted by the script: {0}")]
pub struct StreamAborted(String);

impl http_body::Body for EdgeBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            EdgeBody::Empty => Poll::Ready(None),
            EdgeBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            EdgeBody::Stream(rx) => match rx.poll_recv(cx) {
                Poll::Ready(Some(Ok(b))) => Poll::Ready(Some(Ok(Frame::data(b)))),
                Poll::Ready(Some(Err(reason))) => Poll::Ready(Some(Err(Box::new(StreamAborted(reason))))),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
            EdgeBody::Upstream(body) => Pin::new(body).poll_frame(cx).map_err(|e| Box::new(e) as BoxError),
            EdgeBody::Recorded(inner) => Pin::new(&mut inner.body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            EdgeBody::Empty => true,
            EdgeBody::Full(b) => b.is_none(),
            EdgeBody::Stream(_) => false,
            EdgeBody::Upstream(body) => body.is_end_stream(),
            EdgeBody::Recorded(inner) => inner.body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            EdgeBody::Empty => SizeHint::with_exact(0),
            EdgeBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            EdgeBody::Full(None) => SizeHint::with_exact(0),
            EdgeBody::Stream(_) => SizeHint::default(),
            EdgeBody::Upstream(body) => body.size_hint(),
            EdgeBody::Recorded(inner) => inner.body.size_hint(),
        }
    }
}
