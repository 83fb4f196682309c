//! WHATWG Streams (js/10_streams.js) seen from a Worker: every test requests
//! one route of tests/fixtures/web_streams.js and checks the exact body.

use crate::common::TestServer;
use serde_json::{json, Value};

const SCRIPT: &str = "web_streams.js";

async fn server() -> TestServer {
    TestServer::with_script(SCRIPT).await
}

/// GETs `path`, requires a 200 and returns the body parsed as JSON.
async fn get_json(srv: &TestServer, path: &str) -> Value {
    let res = srv.get(path).await;
    let status = res.status;
    let body = res.text();
    assert_eq!(status, 200, "GET {path} answered {status}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: body is not JSON ({e}): {body}"))
}

/// POSTs `body` to `path`, requires a 200 and returns the body as text.
async fn post_text(srv: &TestServer, path: &str, body: Vec<u8>) -> String {
    let res = srv.post(path, body).await;
    let status = res.status;
    let text = res.text();
    assert_eq!(status, 200, "POST {path} answered {status}: {text}");
    text.to_string()
}

/// 300 000 bytes of "abc...zabc...", enough for the body to arrive in several chunks.
fn big_body() -> Vec<u8> {
    (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect()
}

#[tokio::test]
async fn stream_classes_are_globals() {
    let srv = server().await;
    assert_eq!(
        get_json(&srv, "/globals").await,
        json!({
            "missing": [],
            "tags": ["[object ReadableStream]", "[object WritableStream]", "[object TransformStream]"],
            "illegal": "TypeError",
            "asyncIterator": true
        })
    );
}

#[tokio::test]
async fn pipe_through_transform_stream_into_response() {
    let srv = server().await;
    let res = srv.get("/pipe-through").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type").as_deref(), Some("text/plain; charset=utf-8"));
    assert_eq!(res.text(), "HELLO, STREAMS!");
}

#[tokio::test]
async fn request_body_streams_through_uppercase_transform() {
    let srv = server().await;
    assert_eq!(post_text(&srv, "/echo-upper", b"hello".to_vec()).await, "HELLO");
}

#[tokio::test]
async fn echo_upper_keeps_multibyte_characters() {
    let srv = server().await;
    let body = "stra\u{df}e caf\u{e9}".as_bytes().to_vec();
    assert_eq!(post_text(&srv, "/echo-upper", body).await, "STRASSE CAF\u{c9}");
}

#[tokio::test]
async fn echo_upper_streams_a_large_body() {
    let srv = server().await;
    let body = big_body();
    let expected = String::from_utf8(body.to_ascii_uppercase()).unwrap_or_default();
    let got = post_text(&srv, "/echo-upper", body).await;
    assert_eq!(got.len(), expected.len(), "response length");
    assert!(got == expected, "upper-cased body differs from the expected bytes");
}

#[tokio::test]
async fn request_body_read_with_a_default_reader() {
    let srv = server().await;
    let body = big_body();
    let sum = body.iter().fold(0u64, |s, &b| (s + u64::from(b)) % 65521);
    let res = srv.post("/request-body", body).await;
    let status = res.status;
    let text = res.text();
    assert_eq!(status, 200, "{text}");
    let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(
        value,
        json!({ "bytes": 300000, "allUint8Array": true, "sum": sum, "bodyUsed": true })
    );
}

#[tokio::test]
async fn request_body_tee_feeds_both_branches() {
    let srv = server().await;
    assert_eq!(post_text(&srv, "/tee-request", b"MiXeD".to_vec()).await, "MIXED|mixed");
}

#[tokio::test]
async fn request_body_pipe_to_writable_stream() {
    let srv = server().await;
    let res = srv.post("/pipe-to", big_body()).await;
    let status = res.status;
    let text = res.text();
    assert_eq!(status, 200, "{text}");
    let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(
        value,
        json!({
            "bytes": 300000,
            "wrote": true,
            "closed": true,
            "sinkLocked": false,
            "bodyLocked": false,
            "bodyUsed": true
        })
    );
}

#[tokio::test]
async fn tee_gives_both_branches_every_chunk() {
    let srv = server().await;
    assert_eq!(
        get_json(&srv, "/tee").await,
        json!({
            "left": "abc",
            "right": "abc",
            "sourceLocked": true,
            "cancelReason": ["first", "second"]
        })
    );
}

#[tokio::test]
async fn backpressure_follows_high_water_marks() {
    let srv = server().await;
    assert_eq!(
        get_json(&srv, "/backpressure").await,
        json!({
            "readableSizes": [3, 2, 0, -1, 0],
            "pullsBeforeRead": 2,
            "firstPulled": 1,
            "pullsAfterRead": 3,
            "writableSizes": [8, 2, -4, 2, 8],
            "readyWhileFull": false,
            "readyAfterFirstWrite": true
        })
    );
}

#[tokio::test]
async fn async_iteration_and_break_cancels() {
    let srv = server().await;
    assert_eq!(
        get_json(&srv, "/async-iterate").await,
        json!({
            "seen": ["chunk1", "chunk2", "chunk3"],
            "pulls": 3,
            "cancelReason": "undefined",
            "locked": false,
            "first": [1],
            "rest": [2, 3],
            "okCount": 3,
            "iterError": "boom"
        })
    );
}

#[tokio::test]
async fn writable_stream_writer_lifecycle() {
    let srv = server().await;
    assert_eq!(
        get_json(&srv, "/writable").await,
        json!({
            "events": ["start", "write:a", "write:b", "close"],
            "desiredSizeAfterClose": 0,
            "aborted": ["abort:stop"],
            "writeAfterAbort": "stop",
            "signalAborted": true,
            "signalReason": "because",
            "closedError": "RangeError: bad sink",
            "releasedWrite": "TypeError"
        })
    );
}

#[tokio::test]
async fn readable_stream_from_async_generator_as_body() {
    let srv = server().await;
    let res = srv.get("/from").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.text(), "alpha beta gamma");
}

#[tokio::test]
async fn readable_stream_from_iterables() {
    let srv = server().await;
    assert_eq!(
        get_json(&srv, "/from-iterables").await,
        json!({
            "fromArray": ["x", "y", "z"],
            "first": 1,
            "finalized": true,
            "notIterable": "TypeError"
        })
    );
}

#[tokio::test]
async fn chunks_produced_over_time_are_streamed() {
    let srv = server().await;
    let res = srv.get("/streamed").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type").as_deref(), Some("text/plain"));
    assert_eq!(res.text(), "line 1\nline 2\nline 3\nline 4\nline 5\n");
}

#[tokio::test]
async fn byte_streams_with_byob_reader() {
    let srv = server().await;
    assert_eq!(
        get_json(&srv, "/byob").await,
        json!({
            "parts": ["012", "345", "678", "9"],
            "doneView": 0,
            "autoParts": ["0123", "4567", "89"],
            "fromQueue": "abcd"
        })
    );
}

#[tokio::test]
async fn pipe_to_stops_on_abort_signal() {
    let srv = server().await;
    assert_eq!(
        get_json(&srv, "/pipe-abort").await,
        json!({
            "written": [1, 2, 3],
            "pipeError": "AbortError",
            "cancelReason": "AbortError",
            "abortReason": "AbortError",
            "sameError": true,
            "locked": [false, false],
            "early": "early",
            "leftover": ["still here"]
        })
    );
}

#[tokio::test]
async fn pipe_to_options_and_propagation() {
    let srv = server().await;
    assert_eq!(
        get_json(&srv, "/pipe-options").await,
        json!({
            "chunks": ["one", "two"],
            "closedAfterPipe": false,
            "closeCalled": true,
            "forward": "source broke",
            "sinkAbort": "source broke",
            "backward": "sink broke",
            "sourceCancel": "sink broke",
            "closedError": "TypeError",
            "cancelledWith": "TypeError"
        })
    );
}

#[tokio::test]
async fn errors_propagate_with_the_right_classes() {
    let srv = server().await;
    assert_eq!(
        get_json(&srv, "/errors").await,
        json!({
            "first": "ok",
            "readError": "TypeError: source failed",
            "closedError": "source failed",
            "writeError": "RangeError: transform failed",
            "tsReadError": "RangeError: transform failed",
            "lockedError": "TypeError",
            "cancelLocked": "TypeError",
            "badStrategy": "RangeError",
            "badType": "TypeError",
            "byobOnDefault": "TypeError"
        })
    );
}

#[tokio::test]
async fn cancel_reasons_reach_the_source() {
    let srv = server().await;
    assert_eq!(
        get_json(&srv, "/cancel").await,
        json!({
            "reason": "client went away",
            "done": true,
            "closedResolved": true,
            "transformCancel": "readable cancelled",
            "writableError": "readable cancelled"
        })
    );
}

#[tokio::test]
async fn transform_stream_start_transform_flush_terminate() {
    let srv = server().await;
    assert_eq!(
        get_json(&srv, "/transform").await,
        json!({
            "doubled": "<aabb>",
            "terminated": ["go", "stop"],
            "writableAfterTerminate": "TypeError",
            "passthrough": ["same"],
            "desired": 5
        })
    );
}

#[tokio::test]
async fn queuing_strategies() {
    let srv = server().await;
    assert_eq!(
        get_json(&srv, "/strategies").await,
        json!({
            "bytesHwm": 16,
            "bytesSize": 5,
            "countHwm": 4,
            "countSize": 1,
            "sameSizeFunction": true,
            "missingHwm": "TypeError"
        })
    );
}

#[tokio::test]
async fn response_bodies_made_of_streams() {
    let srv = server().await;
    assert_eq!(
        get_json(&srv, "/response-body").await,
        json!({
            "text": "part1,part2",
            "lockedBefore": false,
            "bodyUsed": true,
            "badChunk": "TypeError",
            "stringBody": "abc"
        })
    );
}

#[tokio::test]
async fn unknown_route_is_404() {
    let srv = server().await;
    let res = srv.get("/no-such-route").await;
    assert_eq!(res.status, 404);
    assert_eq!(res.text(), "not found");
}
