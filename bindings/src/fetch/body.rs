//! The body type of outbound requests (script `fetch()` and the origin
//! proxy): none, whole bytes (replayable for redirects), chunks a script
//! pumps through a bounded channel, or a body streamed from elsewhere (the
//! incoming request being forwarded). Not for response bodies: those are
//! hyper's `Incoming`.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::sync::mpsc;

use crate::http_types::{BodyChunk, BoxError, RequestBody};

/// An outbound request body.
pub enum OutBody {
    /// No body.
    Empty,
    /// All of it in one frame (taken when sent).
    Full(Option<Bytes>),
    /// Chunks written by a script's stream pump; an `Err` aborts the upload.
    Channel(mpsc::Receiver<BodyChunk>),
    /// Another body streamed through as it arrives.
    Stream(RequestBody),
}

/// A script aborted the stream it was uploading.
#[derive(Debug, thiserror::Error)]
#[error("the request body stream was aborted: {0}")]
pub struct UploadAborted(pub String);

impl http_body::Body for OutBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            OutBody::Empty => Poll::Ready(None),
            OutBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            OutBody::Channel(rx) => match rx.poll_recv(cx) {
                Poll::Ready(Some(Ok(b))) => Poll::Ready(Some(Ok(Frame::data(b)))),
                Poll::Ready(Some(Err(reason))) => Poll::Ready(Some(Err(Box::new(UploadAborted(reason))))),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
            OutBody::Stream(body) => body.as_mut().poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            OutBody::Empty => true,
            OutBody::Full(b) => b.is_none(),
            OutBody::Channel(_) => false,
            OutBody::Stream(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            OutBody::Empty | OutBody::Full(None) => SizeHint::with_exact(0),
            OutBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            OutBody::Channel(_) => SizeHint::default(),
            OutBody::Stream(b) => b.size_hint(),
        }
    }
}
