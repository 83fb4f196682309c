//! Web platform APIs as a Worker sees them: Event/EventTarget/CustomEvent,
//! AbortController/AbortSignal, DOMException, Blob/File, FormData with the
//! multipart/form-data encoding both ways (`request.formData()`,
//! `new Response(formData)`), and structuredClone.
//!
//! Fixtures: tests/fixtures/web_events.js, web_blob_formdata.js and
//! web_structured_clone.js; each path of a fixture is one case.

use crate::common::{TestResponse, TestServer};

const EVENTS: &str = "web_events.js";
const BLOB_FORMDATA: &str = "web_blob_formdata.js";
const STRUCTURED_CLONE: &str = "web_structured_clone.js";

/// GET `path` from `fixture`; the case must answer 200.
async fn get_text(fixture: &str, path: &str) -> String {
    let srv = TestServer::with_script(fixture).await;
    let res = srv.get(path).await;
    assert_eq!(res.status, 200, "GET {path}: {}", res.text());
    res.text()
}

/// POST `body` as multipart/form-data with `boundary` to the Blob/FormData fixture.
async fn post_multipart(path: &str, body: Vec<u8>, content_type: &str) -> TestResponse {
    let srv = TestServer::with_script(BLOB_FORMDATA).await;
    srv.post_with_headers(path, body, &[("content-type", content_type)])
        .await
}

/// A browser-style multipart body: two text fields, a repeated field, a text
/// file, a file with UTF-8 field name and filename, and a file part without
/// Content-Type (which must default to text/plain).
fn sample_multipart() -> Vec<u8> {
    let mut body = String::new();
    body.push_str("--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nHello, multipart\r\n");
    body.push_str(
        "--XyZ\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"hello.txt\"\r\n\
         Content-Type: text/plain\r\n\r\nfile contents\r\nline two\r\n",
    );
    body.push_str("--XyZ\r\nContent-Disposition: form-data; name=\"tags\"\r\n\r\na\r\n");
    body.push_str("--XyZ\r\nContent-Disposition: form-data; name=\"tags\"\r\n\r\nb\r\n");
    body.push_str(
        "--XyZ\r\nContent-Disposition: form-data; name=\"caf\u{e9}\"; filename=\"r\u{e9}sum\u{e9}.json\"\r\n\
         Content-Type: application/json\r\n\r\n{\"ok\":true}\r\n",
    );
    body.push_str("--XyZ\r\nContent-Disposition: form-data; name=\"raw\"; filename=\"noext\"\r\n\r\nraw\r\n");
    body.push_str("--XyZ--\r\n");
    body.into_bytes()
}

/// `await request.formData()` on a multipart POST: fields in order, files as
/// File objects with their name, type and contents.
#[tokio::test]
async fn blob_formdata_parse_multipart_request() {
    let res = post_multipart(
        "/formdata-parse",
        sample_multipart(),
        "multipart/form-data; boundary=XyZ",
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        res.json(),
        serde_json::json!([
            ["title", "Hello, multipart"],
            ["upload", {"file": "hello.txt", "type": "text/plain", "size": 23, "isFile": true, "text": "file contents\r\nline two"}],
            ["tags", "a"],
            ["tags", "b"],
            ["caf\u{e9}", {"file": "r\u{e9}sum\u{e9}.json", "type": "application/json", "size": 11, "isFile": true, "text": "{\"ok\":true}"}],
            ["raw", {"file": "noext", "type": "text/plain", "size": 3, "isFile": true, "text": "raw"}]
        ])
    );
}

/// The boundary parameter may be quoted and other parameters may come first.
#[tokio::test]
async fn blob_formdata_parse_quoted_boundary() {
    let res = post_multipart(
        "/formdata-parse",
        sample_multipart(),
        "multipart/form-data; charset=utf-8; boundary=\"XyZ\"",
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()[0], serde_json::json!(["title", "Hello, multipart"]));
    assert_eq!(res.json().as_array().map(|a| a.len()), Some(6));
}

/// request.formData() rejects with TypeError on a body cut short and on a
/// content-type without boundary.
#[tokio::test]
async fn blob_formdata_parse_invalid_rejects() {
    let truncated = b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunterminated".to_vec();
    let res = post_multipart(
        "/formdata-parse-invalid",
        truncated,
        "multipart/form-data; boundary=XyZ",
    )
    .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.text(), "rejected:TypeError");

    let res = post_multipart("/formdata-parse-invalid", sample_multipart(), "multipart/form-data").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.text(), "rejected:TypeError");

    let res = post_multipart(
        "/formdata-parse-invalid",
        sample_multipart(),
        "multipart/form-data; boundary=Other",
    )
    .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.text(), "rejected:TypeError");
}

/// A binary file part (with CRLF and dashes inside) is echoed back byte for
/// byte, with its type as content-type.
#[tokio::test]
async fn blob_formdata_echo_binary_file() {
    let payload: &[u8] = &[0, 1, 2, b'\r', b'\n', b'-', b'-', 255];
    let mut body = b"--b0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"pixel.bin\"\r\n\
Content-Type: application/x-test\r\n\r\n"
        .to_vec();
    body.extend_from_slice(payload);
    body.extend_from_slice(b"\r\n--b0undary--\r\n");
    let res = post_multipart("/formdata-echo-file", body, "multipart/form-data; boundary=b0undary").await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.header("content-type").as_deref(), Some("application/x-test"));
    assert_eq!(res.header("x-file-name").as_deref(), Some("pixel.bin"));
    assert_eq!(&res.body[..], payload);
}

/// `new Response(formData)`: multipart content-type with a boundary, CRLF
/// line breaks in values, `"` escaped as %22 in filenames.
#[tokio::test]
async fn blob_formdata_response_body() {
    let srv = TestServer::with_script(BLOB_FORMDATA).await;
    let res = srv.get("/formdata-response").await;
    assert_eq!(res.status, 200, "{}", res.text());
    let content_type = res.header("content-type").unwrap_or_default();
    let boundary = content_type
        .strip_prefix("multipart/form-data; boundary=")
        .unwrap_or_else(|| panic!("content-type {content_type:?}"))
        .to_string();
    assert!(!boundary.is_empty() && boundary.len() <= 70, "boundary {boundary:?}");
    let expected = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"greeting\"\r\n\r\nhello\r\nworld\r\n\
         --{b}\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"report %22final%22.txt\"\r\n\
         Content-Type: text/plain\r\n\r\npayload\r\n--{b}--\r\n",
        b = boundary
    );
    assert_eq!(res.text(), expected);
    // A second response gets a different random boundary.
    let again = srv.get("/formdata-response").await;
    assert_ne!(again.header("content-type"), Some(content_type));
}

/// FormData -> Response -> formData() keeps text (UTF-8), repeated names,
/// binary and empty files.
#[tokio::test]
async fn blob_formdata_roundtrip_through_response() {
    let srv = TestServer::with_script(BLOB_FORMDATA).await;
    let res = srv.get("/formdata-roundtrip").await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        res.json(),
        serde_json::json!({
            "multipart": true,
            "text": "caf\u{e9} \u{2615}",
            "multi": ["one", "two"],
            "bin": ["b.bin", "application/octet-stream", "000102fdfeff"],
            "empty": ["empty.txt", 0]
        })
    );
}

/// Bytes read from `new Response(blob)` belong to the reader: writing into
/// them changes neither the Blob nor a second read.
#[tokio::test]
async fn blob_response_body_is_a_copy() {
    assert_eq!(
        get_text(BLOB_FORMDATA, "/blob-response-independent").await,
        "xbc:ayc:abc"
    );
}

/// `new Response(blob)` sends the blob's bytes with its type as content-type.
#[tokio::test]
async fn blob_response_body_and_type() {
    let srv = TestServer::with_script(BLOB_FORMDATA).await;
    let res = srv.get("/blob-response").await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.header("content-type").as_deref(), Some("text/html"));
    assert_eq!(res.text(), "<p>blob body</p>");
}

/// Capturing listeners run first at the target; duplicates are ignored; `once` listeners run once; `handleEvent` objects are called.
#[tokio::test]
async fn events_event_order() {
    assert_eq!(
        get_text(EVENTS, "/event-order").await,
        r#"capture,plain:2:true,once,object:ping,capture,plain:2:true,object:ping"#
    );
}

/// removeEventListener matches on the capture flag.
#[tokio::test]
async fn events_event_remove() {
    assert_eq!(get_text(EVENTS, "/event-remove").await, r#"b,a"#);
}

/// preventDefault cancels only cancelable events, and not from a passive listener.
#[tokio::test]
async fn events_event_cancel() {
    assert_eq!(
        get_text(EVENTS, "/event-cancel").await,
        r#"{"cancelable":[false,true],"notCancelable":[true,false],"passive":true}"#
    );
}

/// stopImmediatePropagation skips the remaining listeners.
#[tokio::test]
async fn events_event_stop_immediate() {
    assert_eq!(get_text(EVENTS, "/event-stop-immediate").await, r#"1,2"#);
}

/// A throwing listener is reported and does not stop the next listener.
#[tokio::test]
async fn events_event_listener_throws() {
    assert_eq!(get_text(EVENTS, "/event-listener-throws").await, r#"first,second:true"#);
}

/// Event attributes before, during and after dispatch.
#[tokio::test]
async fn events_event_attributes() {
    assert_eq!(
        get_text(EVENTS, "/event-attributes").await,
        r#"{"before":["custom",true,true,true,false,0,null],"during":[true,true,2,1],"after":[0,null,true],"constants":[0,1,2,3],"tag":"[object Event]"}"#
    );
}

/// CustomEvent carries `detail` to listeners.
#[tokio::test]
async fn events_custom_event() {
    assert_eq!(
        get_text(EVENTS, "/custom-event").await,
        r#"{"seen":{"id":7,"tags":["a","b"]},"emptyDetail":null,"isEvent":true}"#
    );
}

/// Classes extending EventTarget dispatch to their own listeners.
#[tokio::test]
async fn events_event_target_subclass() {
    assert_eq!(get_text(EVENTS, "/event-target-subclass").await, r#"1,2"#);
}

/// The `signal` option removes the listener on abort and skips adding it when already aborted.
#[tokio::test]
async fn events_event_signal_option() {
    assert_eq!(get_text(EVENTS, "/event-signal-option").await, r#"1"#);
}

/// Argument errors are TypeErrors; re-dispatching an event being dispatched is an InvalidStateError DOMException.
#[tokio::test]
async fn events_event_errors() {
    assert_eq!(
        get_text(EVENTS, "/event-errors").await,
        r#"TypeError,TypeError,TypeError,ok,InvalidStateError:true"#
    );
}

/// abort() without a reason: AbortError DOMException, one trusted abort event to `onabort` and listeners.
#[tokio::test]
async fn events_abort_controller() {
    assert_eq!(
        get_text(EVENTS, "/abort-controller").await,
        r#"{"before":false,"aborted":true,"reasonName":"AbortError","reasonMessage":"signal is aborted without reason","isDOMException":true,"log":["onabort:abort:true","listener"]}"#
    );
}

/// A custom abort reason is kept and thrown by throwIfAborted().
#[tokio::test]
async fn events_abort_reason() {
    assert_eq!(get_text(EVENTS, "/abort-reason").await, r#"true:stop right there"#);
}

/// AbortSignal.abort() and the illegal AbortSignal constructor.
#[tokio::test]
async fn events_abort_static() {
    assert_eq!(
        get_text(EVENTS, "/abort-static").await,
        r#"[true,"AbortError","because","TypeError"]"#
    );
}

/// AbortSignal.timeout() aborts later with a TimeoutError DOMException.
#[tokio::test]
async fn events_abort_timeout() {
    assert_eq!(
        get_text(EVENTS, "/abort-timeout").await,
        r#"{"early":false,"aborted":true,"type":"abort","name":"TimeoutError","message":"signal timed out","code":23}"#
    );
}

/// AbortSignal.timeout() rejects out-of-range delays with TypeError ([EnforceRange]).
#[tokio::test]
async fn events_abort_timeout_invalid() {
    assert_eq!(
        get_text(EVENTS, "/abort-timeout-invalid").await,
        r#"TypeError,TypeError,TypeError"#
    );
}

/// AbortSignal.any() follows the first source to abort, including an already aborted one or a timeout.
#[tokio::test]
async fn events_abort_any() {
    assert_eq!(
        get_text(EVENTS, "/abort-any").await,
        r#"{"aborted":true,"reason":"b went first","log":["combined:b went first"],"already":"pre","viaTimeout":"TimeoutError"}"#
    );
}

/// A cancellable async operation rejects with the signal's reason.
#[tokio::test]
async fn events_abort_async_operation() {
    assert_eq!(
        get_text(EVENTS, "/abort-async-operation").await,
        r#"rejected:AbortError"#
    );
}

/// DOMException name, message, code, Error inheritance, toString, stack header and constants.
#[tokio::test]
async fn events_dom_exception() {
    assert_eq!(
        get_text(EVENTS, "/dom-exception").await,
        r#"{"name":"NotFoundError","message":"Something broke","code":8,"isError":true,"string":"NotFoundError: Something broke","tag":"[object DOMException]","stackHead":"NotFoundError: Something broke","plain":["Error","",0],"constants":[20,23,25,8]}"#
    );
}

/// Legacy codes of the named errors (0 for names without one).
#[tokio::test]
async fn events_dom_exception_codes() {
    assert_eq!(
        get_text(EVENTS, "/dom-exception-codes").await,
        r#"IndexSizeError=1,HierarchyRequestError=3,InvalidCharacterError=5,NotFoundError=8,NotSupportedError=9,InvalidStateError=11,SyntaxError=12,InvalidAccessError=15,SecurityError=18,NetworkError=19,AbortError=20,QuotaExceededError=22,TimeoutError=23,DataCloneError=25,EncodingError=0,OperationError=0"#
    );
}

/// A DOMException survives a promise rejection as itself.
#[tokio::test]
async fn events_dom_exception_throw() {
    assert_eq!(
        get_text(EVENTS, "/dom-exception-throw").await,
        r#"true:InvalidStateError:nope"#
    );
}

/// Blob size, lowercased type, text() and toString tag.
#[tokio::test]
async fn blob_blob_basics() {
    assert_eq!(
        get_text(BLOB_FORMDATA, "/blob-basics").await,
        r#"{"size":11,"type":"text/plain;charset=utf-8","text":"hello world","tag":"[object Blob]","empty":[0,""]}"#
    );
}

/// Blob parts: UTF-8 strings with line endings untouched, buffers, views, nested blobs; `endings: "native"`.
#[tokio::test]
async fn blob_blob_parts() {
    assert_eq!(
        get_text(BLOB_FORMDATA, "/blob-parts").await,
        r#"19:610d0a620ac3a9e282ac01020304050203055a:"x\ny\nz""#
    );
}

/// Blob.slice() with negative and out-of-range indices and a content type.
#[tokio::test]
async fn blob_blob_slice() {
    assert_eq!(
        get_text(BLOB_FORMDATA, "/blob-slice").await,
        r#"234|789|678||0123456789|34|true|application/json|7"#
    );
}

/// bytes() and arrayBuffer() give fresh copies.
#[tokio::test]
async fn blob_blob_bytes() {
    assert_eq!(get_text(BLOB_FORMDATA, "/blob-bytes").await, r#"true:true:4:007f80ff"#);
}

/// Blob.stream() delivers every byte in chunks, readable by async iteration and a reader.
#[tokio::test]
async fn blob_blob_stream() {
    assert_eq!(
        get_text(BLOB_FORMDATA, "/blob-stream").await,
        r#"200003:true:END:small:true"#
    );
}

/// Response#blob() takes the type from content-type.
#[tokio::test]
async fn blob_blob_from_response() {
    assert_eq!(
        get_text(BLOB_FORMDATA, "/blob-from-response").await,
        r#"15:text/x-custom:from a response"#
    );
}

/// File name, type, lastModified, Blob inheritance; slice() gives a Blob.
#[tokio::test]
async fn blob_file() {
    assert_eq!(
        get_text(BLOB_FORMDATA, "/file").await,
        r#"{"name":"notes.txt","type":"text/plain","size":12,"lastModified":1700000000000,"text":"file content","isBlob":true,"tag":"[object File]","sliceIsFile":false,"defaultedRecent":true}"#
    );
}

/// Blob/File argument errors; Blob methods reject on a wrong receiver.
#[tokio::test]
async fn blob_blob_errors() {
    assert_eq!(
        get_text(BLOB_FORMDATA, "/blob-errors").await,
        r#"TypeError,TypeError,TypeError,rejected:TypeError"#
    );
}

/// FormData append/get/getAll/has/set/delete and iteration.
#[tokio::test]
async fn blob_formdata_api() {
    assert_eq!(
        get_text(BLOB_FORMDATA, "/formdata-api").await,
        r#"1|1+3|null|true|false|a,n|only,42|a=only&n=42|[object FormData]"#
    );
}

/// Blobs appended to FormData become Files ("blob" or the given filename).
#[tokio::test]
async fn blob_formdata_files() {
    assert_eq!(
        get_text(BLOB_FORMDATA, "/formdata-files").await,
        r#"[["blob",{"file":"blob","type":"text/plain","size":9,"isFile":true,"text":"blob data"}],["named",{"file":"named.bin","type":"","size":10,"isFile":true,"text":"named data"}],["file",{"file":"renamed.md","type":"text/markdown","size":9,"isFile":true,"text":"file data"}]]"#
    );
}

/// Primitives clone to themselves (NaN, -0 and BigInt included).
#[tokio::test]
async fn clone_primitives() {
    assert_eq!(
        get_text(STRUCTURED_CLONE, "/primitives").await,
        r#"undefined:true,object:true,boolean:true,number:true,number:true,number:true,number:true,bigint:true,string:true,string:true"#
    );
}

/// Boolean/Number/String/BigInt wrapper objects clone as wrappers.
#[tokio::test]
async fn clone_wrappers() {
    assert_eq!(
        get_text(STRUCTURED_CLONE, "/wrappers").await,
        r#"object:[object Boolean]:true,object:[object Number]:7,object:[object String]:s,object:[object BigInt]:9"#
    );
}

/// Nested objects and arrays are deep copies.
#[tokio::test]
async fn clone_object_graph() {
    assert_eq!(
        get_text(STRUCTURED_CLONE, "/object-graph").await,
        r#"{"equal":true,"distinct":true,"copy":{"name":"root","list":[1,"two",{"three":3}],"nested":{"deep":{"deeper":true}}}}"#
    );
}

/// Cycles and shared references are preserved in the clone.
#[tokio::test]
async fn clone_cycles() {
    assert_eq!(
        get_text(STRUCTURED_CLONE, "/cycles").await,
        r#"[true,true,true,true,true,true,true,true]"#
    );
}

/// Sparse arrays keep their holes, length and extra properties.
#[tokio::test]
async fn clone_sparse_array() {
    assert_eq!(
        get_text(STRUCTURED_CLONE, "/sparse-array").await,
        r#"{"isArray":true,"length":10,"hole":false,"keys":["0","2","9","label"],"label":"extra"}"#
    );
}

/// Date and RegExp clone with their value, source and flags.
#[tokio::test]
async fn clone_date_regexp() {
    assert_eq!(
        get_text(STRUCTURED_CLONE, "/date-regexp").await,
        r#"{"date":"2024-02-29T12:00:00.000Z","source":"ab+c","flags":"giu","matches":["ABBC","abc"]}"#
    );
}

/// Map and Set clone with cloned keys and values.
#[tokio::test]
async fn clone_map_set() {
    assert_eq!(
        get_text(STRUCTURED_CLONE, "/map-set").await,
        r#"{"mapSize":2,"viaClonedKey":"object key","viaString":[1,2],"setHasClonedKey":true,"setValues":["x",1,"obj"]}"#
    );
}

/// Typed arrays and DataViews over one buffer share one cloned buffer.
#[tokio::test]
async fn clone_typed_arrays() {
    assert_eq!(
        get_text(STRUCTURED_CLONE, "/typed-arrays").await,
        r#"{"sharedBuffer":true,"independent":0,"floats":["Float32Array",8,2],"view":["DataView",4,4,4],"big":["-5","6"],"bytes":"0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15"}"#
    );
}

/// Transferring an ArrayBuffer detaches the original.
#[tokio::test]
async fn clone_transfer() {
    assert_eq!(
        get_text(STRUCTURED_CLONE, "/transfer").await,
        r#"{"originalByteLength":0,"originalViewLength":0,"clone":[10,20,30],"reclone":"DataCloneError"}"#
    );
}

/// Errors clone with their type, message, stack and cause; DOMException too.
#[tokio::test]
async fn clone_errors() {
    assert_eq!(
        get_text(STRUCTURED_CLONE, "/errors").await,
        r#"{"isRangeError":true,"name":"RangeError","message":"out of range","cause":{"code":42},"causeCopied":true,"sameStack":true,"custom":["Error","custom",true],"dom":[true,"NotFoundError","gone",8]}"#
    );
}

/// Functions, symbols, WeakMap, WeakSet, promises and platform objects throw DataCloneError.
#[tokio::test]
async fn clone_uncloneable() {
    assert_eq!(
        get_text(STRUCTURED_CLONE, "/uncloneable").await,
        r#"function:DataCloneError:true:25,symbol:DataCloneError:true:25,weakMap:DataCloneError:true:25,weakSet:DataCloneError:true:25,promise:DataCloneError:true:25,nestedFunction:DataCloneError:true:25,request:DataCloneError:true:25"#
    );
}

/// Blob and File clone with their contents and attributes.
#[tokio::test]
async fn clone_blob_file() {
    assert_eq!(
        get_text(STRUCTURED_CLONE, "/blob-file").await,
        r#"{"blob":[true,"text/plain","blob text"],"file":[true,"a.txt","text/csv",1234,"file text"]}"#
    );
}

/// Getters run once; class instances clone as plain objects.
#[tokio::test]
async fn clone_getters_and_prototypes() {
    assert_eq!(
        get_text(STRUCTURED_CLONE, "/getters-and-prototypes").await,
        r#"{"calls":1,"lazy":"computed","pointProtoIsObject":true,"point":{"x":1}}"#
    );
}
