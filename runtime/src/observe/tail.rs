//! The live tail of one script (`GET /v1/scripts/{name}/tail`): its console
//! output and request outcomes as NDJSON lines, to any number of readers.
//! Publishing never waits: lines go into a bounded ring (a tokio broadcast
//! channel), and a reader that falls a whole ring behind is told so and
//! dropped, so a slow reader can never slow the script. With no reader,
//! nothing is formatted at all ([`Tail::is_active`] is one atomic load).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http_body::Frame;
use serde_json::json;
use tokio::sync::broadcast;

/// Lines a reader may fall behind before it is dropped.
pub const TAIL_BUFFER: usize = 256;

#[derive(Clone)]
enum TailMessage {
    Line(Bytes),
    /// The script was deleted: readers get this line and the stream ends.
    Closed(Bytes),
}

/// One script's tail.
pub struct Tail {
    sender: broadcast::Sender<TailMessage>,
    readers: AtomicUsize,
}

impl Default for Tail {
    fn default() -> Self {
        Tail {
            sender: broadcast::channel(TAIL_BUFFER).0,
            readers: AtomicUsize::new(0),
        }
    }
}

impl Tail {
    /// Whether anyone is reading: callers format a line only then.
    pub fn is_active(&self) -> bool {
        self.readers.load(Ordering::Relaxed) > 0
    }

    /// Sends one JSON value (one line) to every reader; never waits.
    pub fn publish(&self, event: &serde_json::Value) {
        let _ = self.sender.send(TailMessage::Line(ndjson_line(event)));
    }

    /// Ends every reader's stream with `event` as its last line.
    pub fn close(&self, event: &serde_json::Value) {
        let _ = self.sender.send(TailMessage::Closed(ndjson_line(event)));
    }
}

fn ndjson_line(event: &serde_json::Value) -> Bytes {
    let mut line = serde_json::to_vec(event).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

/// Something that owns a [`Tail`] (kept alive while a reader reads).
pub trait HasTail: Send + Sync + 'static {
    /// The tail.
    fn tail(&self) -> &Tail;
}

/// A reader's NDJSON stream: an HTTP body that ends when the script is
/// deleted, when the reader falls too far behind, or when the client goes.
pub struct TailStream {
    next: BoxFuture<'static, (Option<Bytes>, Reader)>,
}

/// The receiving end, counted in [`Tail::is_active`] while it exists.
struct Reader {
    owner: Arc<dyn HasTail>,
    rx: broadcast::Receiver<TailMessage>,
    done: bool,
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.owner.tail().readers.fetch_sub(1, Ordering::Relaxed);
    }
}

impl TailStream {
    /// A new reader of `owner`'s tail; lines published from now on reach it.
    pub fn subscribe(owner: Arc<dyn HasTail>) -> TailStream {
        let tail = owner.tail();
        let rx = tail.sender.subscribe();
        tail.readers.fetch_add(1, Ordering::Relaxed);
        let reader = Reader { owner, rx, done: false };
        TailStream {
            next: Box::pin(next_line(reader)),
        }
    }
}

async fn next_line(mut reader: Reader) -> (Option<Bytes>, Reader) {
    if reader.done {
        return (None, reader);
    }
    match reader.rx.recv().await {
        Ok(TailMessage::Line(line)) => (Some(line), reader),
        Ok(TailMessage::Closed(line)) => {
            reader.done = true;
            (Some(line), reader)
        }
        Err(broadcast::error::RecvError::Lagged(skipped)) => {
            reader.done = true;
            let event = json!({
                "type": "dropped",
                "skipped": skipped,
                "message": format!(
                    "this tail fell more than {TAIL_BUFFER} lines behind and was dropped so that the script is never slowed; reconnect, and read faster"
                ),
            });
            (Some(ndjson_line(&event)), reader)
        }
        Err(broadcast::error::RecvError::Closed) => (None, reader),
    }
}

impl http_body::Body for TailStream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let (line, reader) = std::task::ready!(self.next.as_mut().poll(cx));
        match line {
            Some(line) => {
                self.next = Box::pin(next_line(reader));
                Poll::Ready(Some(Ok(Frame::data(line))))
            }
            None => {
                // Keep the reader in a finished future so a poll after the
                // end still answers `None`.
                self.next = Box::pin(async move { (None, reader) });
                Poll::Ready(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    struct Owner(Tail);
    impl HasTail for Owner {
        fn tail(&self) -> &Tail {
            &self.0
        }
    }

    #[tokio::test]
    async fn readers_get_lines_and_a_lagging_reader_is_dropped() {
        let owner = Arc::new(Owner(Tail::default()));
        assert!(!owner.0.is_active());
        let mut fast = TailStream::subscribe(owner.clone());
        let mut slow = TailStream::subscribe(owner.clone());
        assert!(owner.0.is_active());
        owner.0.publish(&json!({"n": 0}));
        let first = fast.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&first[..], b"{\"n\":0}\n");
        for n in 1..=TAIL_BUFFER + 10 {
            owner.0.publish(&json!({ "n": n }));
        }
        let line = slow.frame().await.unwrap().unwrap().into_data().unwrap();
        let event: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(event["type"], "dropped");
        assert!(slow.frame().await.is_none());
        drop(slow);
        owner.0.close(&json!({"type": "closed"}));
        drop(fast);
        assert!(!owner.0.is_active());
    }
}
