//! Host side of request and response bodies (`js/14_body.js`,
//! `js/20_worker.js`): lazy request headers, streaming reads of the request
//! body, the response hand-off (`op_respond`) and streamed response bodies
//! written chunk by chunk with backpressure.

use bytes::Bytes;
use http_body_util::BodyExt;
use tokio::sync::mpsc;

use crate::error::BindingError;
use crate::host::{self, OpDecl, OpValue};
use crate::http_types::{BodyChunk, ResponseBody, ResponseHead};
use crate::op;
use crate::v8_util;

/// How many chunks a streamed response may run ahead of the client.
const RESPONSE_CHANNEL_CHUNKS: usize = 4;

/// The body ops.
pub fn ops() -> Vec<OpDecl> {
    vec![
        op!(op_request_headers),
        op!(op_body_read),
        op!(op_body_stream_open),
        op!(op_body_write),
        op!(op_body_close),
        op!(op_body_abort),
        op!(op_respond),
        op!(op_respond_typed, fast = FAST_RESPOND_TYPED),
        op!(op_respond_error),
        op!(op_request_done),
    ]
}

fn throw(scope: &mut v8::PinScope, err: BindingError) {
    v8_util::throw(scope, &err);
}

/// `(rid) -> [name, value, ...]` of the request's headers.
fn op_request_headers(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, mut rv: v8::ReturnValue) {
    let rid = match v8_util::arg_u32(&args, 0) {
        Ok(r) => r,
        Err(e) => return throw(scope, e),
    };
    let pairs: Vec<(String, String)> = match host::state(scope).requests.get(rid) {
        Some(slot) => slot
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        None => Vec::new(),
    };
    let mut values: Vec<v8::Local<v8::Value>> = Vec::with_capacity(pairs.len() * 2);
    for (k, v) in &pairs {
        values.push(v8_util::new_string(scope, k).into());
        values.push(v8_util::new_string(scope, v).into());
    }
    rv.set(v8::Array::new_with_elements(scope, &values).into());
}

/// `(rid) -> Promise<Uint8Array | null>`: the next chunk of the request
/// body, null at its end.
fn op_body_read(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, mut rv: v8::ReturnValue) {
    let rid = match v8_util::arg_u32(&args, 0) {
        Ok(r) => r,
        Err(e) => return throw(scope, e),
    };
    let cell = match host::state(scope).requests.get(rid) {
        Some(slot) => slot.body.clone(),
        None => return throw(scope, BindingError::BadResource(rid)),
    };
    // The body leaves its cell for the read and comes back after, so a
    // second concurrent read sees the end instead of racing this one.
    let body = cell.as_ref().and_then(|c| c.borrow_mut().take());
    let fut = async move {
        let Some(mut body) = body else {
            return Ok(OpValue::Null);
        };
        loop {
            match body.frame().await {
                None => return Ok(OpValue::Null),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        if !data.is_empty() {
                            if let Some(cell) = &cell {
                                *cell.borrow_mut() = Some(body);
                            }
                            return Ok(OpValue::Bytes(Vec::from(data)));
                        }
                    }
                }
                Some(Err(e)) => return Err(BindingError::Io(format!("request body: {e}"))),
            }
        }
    };
    if let Some(p) = host::spawn_async(scope, fut) {
        rv.set(p.into());
    }
}

/// A streamed response body's sending half.
struct ResponseStream(mpsc::Sender<BodyChunk>);

/// A streamed response body's receiving half, until `op_respond` takes it.
struct ResponseStreamReceiver(mpsc::Receiver<BodyChunk>);

/// Takes the receiving half opened by `op_body_stream_open` out of the
/// table, for a body that goes somewhere other than the response (an
/// outbound `fetch()` upload).
pub(crate) fn take_stream_receiver(
    table: &mut crate::resources::ResourceTable,
    rid: u32,
) -> Result<mpsc::Receiver<BodyChunk>, BindingError> {
    table.take::<ResponseStreamReceiver>(rid).map(|r| r.0)
}

/// `() -> [writerRid, readerRid]` for a new streamed response body.
fn op_body_stream_open(scope: &mut v8::PinScope, _args: v8::FunctionCallbackArguments, mut rv: v8::ReturnValue) {
    let (tx, rx) = mpsc::channel(RESPONSE_CHANNEL_CHUNKS);
    let st = host::state(scope);
    let writer = st.resources.add(ResponseStream(tx));
    let reader = st.resources.add(ResponseStreamReceiver(rx));
    let pair = [
        v8::Integer::new_from_unsigned(scope, writer).into(),
        v8::Integer::new_from_unsigned(scope, reader).into(),
    ];
    rv.set(v8::Array::new_with_elements(scope, &pair).into());
}

/// `(writerRid, chunk) -> Promise<void>`, settled once the chunk is queued;
/// rejects when the client went away.
fn op_body_write(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, mut rv: v8::ReturnValue) {
    let rid = match v8_util::arg_u32(&args, 0) {
        Ok(r) => r,
        Err(e) => return throw(scope, e),
    };
    let chunk = match v8_util::arg_bytes(&args, 1) {
        Ok(b) => Bytes::from(b),
        Err(e) => return throw(scope, e),
    };
    let sender = match host::state(scope).resources.get_mut::<ResponseStream>(rid) {
        Ok(s) => s.0.clone(),
        Err(e) => return throw(scope, e),
    };
    let fut = async move {
        sender
            .send(Ok(chunk))
            .await
            .map(|()| OpValue::Undefined)
            .map_err(|_| BindingError::Io("the client closed the connection".into()))
    };
    if let Some(p) = host::spawn_async(scope, fut) {
        rv.set(p.into());
    }
}

/// `(writerRid)`: ends a streamed response body.
fn op_body_close(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, _rv: v8::ReturnValue) {
    if let Ok(rid) = v8_util::arg_u32(&args, 0) {
        host::state(scope).resources.close(rid);
    }
}

/// `(writerRid, reason)`: aborts a streamed response body mid-way.
fn op_body_abort(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, _rv: v8::ReturnValue) {
    let Ok(rid) = v8_util::arg_u32(&args, 0) else {
        return;
    };
    let reason = v8_util::arg_string(scope, &args, 1).unwrap_or_default();
    if let Ok(ResponseStream(tx)) = host::state(scope).resources.take::<ResponseStream>(rid) {
        let _ = tx.try_send(Err(reason));
    }
}

/// Set in op_respond's status argument when the request is over with the
/// response (a whole body, no `waitUntil` work): the call also does what
/// `op_request_done` would, which saves JS a second host call.
const RESPOND_DONE: u32 = 1 << 16;

/// Content types `js/20_worker.js` passes to op_respond_typed as a number:
/// 1 and 2 (0 is none). Constants, so that the bytes are checked when
/// islet is compiled rather than on every response.
const TEXT_PLAIN: http::HeaderValue = http::HeaderValue::from_static("text/plain;charset=UTF-8");
const APPLICATION_JSON: http::HeaderValue = http::HeaderValue::from_static("application/json");

/// `(requestId, status, body, name0, value0, name1, value1, ...)` or
/// `(requestId, status, body, [name, value, ...])`, where body is
/// undefined/null, a string, bytes, or the reader rid of a streamed body,
/// and status may carry [`RESPOND_DONE`].
/// Headers come as arguments when there are few (reading arguments is much
/// cheaper than reading array elements), as one flat array otherwise.
fn op_respond(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, _rv: v8::ReturnValue) {
    let headers = if args.length() == 4 && args.get(3).is_array() {
        match v8::Local::<v8::Array>::try_from(args.get(3)) {
            Ok(list) => read_header_list(scope, list),
            Err(_) => http::HeaderMap::new(),
        }
    } else {
        read_header_args(scope, &args, 3)
    };
    if let Some((rid, flags, body)) = response_from_args(scope, &args) {
        send_head(host::state(scope), rid, flags, body, |_| headers);
    }
}

/// `(requestId, status, body, contentType)`: a response whose only header
/// is one the runtime sets itself, given by number ([`known_content_type`]). The
/// common case, a flat one-byte string body, takes the fast-API overload
/// [`fast_respond_typed`]; this callback takes every other call.
fn op_respond_typed(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, _rv: v8::ReturnValue) {
    let known = v8_util::arg_u32(&args, 3).unwrap_or(0);
    if let Some((rid, flags, body)) = response_from_args(scope, &args) {
        send_typed_head(host::state(scope), rid, flags, known, body);
    }
}

/// op_respond_typed for `(u32, u32, flat one-byte string, u32)`: called
/// straight from optimised JS, with no `FunctionCallbackInfo`, no handle
/// scope and the arguments already converted. It only moves Rust values
/// (no V8 calls, no JS), as fast-API callbacks must.
extern "C" fn fast_respond_typed(
    _receiver: v8::Local<v8::Object>,
    rid: u32,
    flags: u32,
    body: *const v8::fast_api::FastApiOneByteString,
    content_type: u32,
    options: *mut v8::fast_api::FastApiCallbackOptions,
) {
    // SAFETY: V8 passes a valid string and options for the call's duration,
    // and calls on the isolate's own thread while it is entered.
    let (text, isolate) = unsafe { ((*body).as_bytes(), (*options).isolate_unchecked_mut()) };
    // One-byte strings hold Latin-1: ASCII is its own UTF-8.
    let body = if text.is_ascii() {
        Bytes::copy_from_slice(text)
    } else {
        Bytes::from(crate::encoding::isomorphic_decode(text))
    };
    if let Some(st) = isolate.get_slot_mut::<host::HostState>() {
        send_typed_head(st, rid, flags, content_type, ResponseBody::Full(body));
    }
}

/// op_respond_typed's fast overload and its argument types.
static FAST_RESPOND_TYPED: host::FastCall = host::FastCall(v8::fast_api::CFunction::new(
    fast_respond_typed as *const std::ffi::c_void,
    &v8::fast_api::CFunctionInfo::new(
        v8::fast_api::Type::Void.as_info(),
        &[
            v8::fast_api::Type::V8Value.as_info(),
            v8::fast_api::Type::Uint32.as_info(),
            v8::fast_api::Type::Uint32.as_info(),
            v8::fast_api::Type::SeqOneByteString.as_info(),
            v8::fast_api::Type::Uint32.as_info(),
            v8::fast_api::Type::CallbackOptions.as_info(),
        ],
        v8::fast_api::Int64Representation::Number,
    ),
));

/// The header value of content type `known`: 1 is [`TEXT_PLAIN`], 2
/// [`APPLICATION_JSON`], anything else none.
fn known_content_type(known: u32) -> Option<http::HeaderValue> {
    match known {
        1 => Some(TEXT_PLAIN),
        2 => Some(APPLICATION_JSON),
        _ => None,
    }
}

/// Hands request `rid` a head whose only header is content type `known`
/// (see [`known_content_type`]), in the request's own header map, emptied,
/// when the request is over with it: a map neither dropped nor allocated.
fn send_typed_head(st: &mut host::HostState, rid: u32, flags: u32, known: u32, body: ResponseBody) {
    send_head(st, rid, flags, body, |mut headers| {
        headers.clear();
        if let Some(value) = known_content_type(known) {
            headers.insert(http::header::CONTENT_TYPE, value);
        }
        headers
    });
}

/// Request id, status (with flags) and body from arguments 0 to 2; `None`
/// after throwing for a bad argument.
fn response_from_args(
    scope: &mut v8::PinScope,
    args: &v8::FunctionCallbackArguments,
) -> Option<(u32, u32, ResponseBody)> {
    let rid = match v8_util::arg_u32(args, 0) {
        Ok(r) => r,
        Err(e) => {
            throw(scope, e);
            return None;
        }
    };
    let flags = v8_util::arg_u32(args, 1).unwrap_or(200);
    let body_arg = args.get(2);
    let body = if body_arg.is_null_or_undefined() {
        ResponseBody::Empty
    } else if let Ok(text) = v8::Local::<v8::String>::try_from(body_arg) {
        ResponseBody::Full(string_bytes(scope, text))
    } else if body_arg.is_number() {
        let reader = v8_util::arg_u32(args, 2).unwrap_or(0);
        let resources = &mut host::state(scope).resources;
        match resources.take::<ResponseStreamReceiver>(reader) {
            Ok(r) => ResponseBody::Stream(r.0),
            // A fetch() response body handed on whole (js/17_fetch.js).
            Err(e) => match crate::fetch::take_upstream_body(resources, reader) {
                Some(body) => ResponseBody::Upstream(body),
                None => {
                    throw(scope, e);
                    return None;
                }
            },
        }
    } else {
        match v8_util::with_bytes(body_arg, Bytes::copy_from_slice) {
            Some(b) => ResponseBody::Full(b),
            None => {
                throw(scope, BindingError::Type("unsupported response body".into()));
                return None;
            }
        }
    };
    Some((rid, flags, body))
}

/// Hands request `rid` its response head; `flags` is the status, possibly
/// with [`RESPOND_DONE`]. `headers` makes the head's header map from a
/// spare one: the request's own when the request is over with this
/// response (it has no more use for it), a new empty one otherwise.
fn send_head(
    st: &mut host::HostState,
    rid: u32,
    flags: u32,
    body: ResponseBody,
    headers: impl FnOnce(http::HeaderMap) -> http::HeaderMap,
) {
    let status = u16::try_from(flags & !RESPOND_DONE).unwrap_or(500);
    let head = |spare| {
        Ok(ResponseHead {
            status,
            headers: headers(spare),
            body,
        })
    };
    if flags & RESPOND_DONE != 0 {
        st.respond_and_finish(rid, head);
    } else {
        st.respond(rid, head(http::HeaderMap::new()));
    }
}

/// UTF-8 bytes of a JS string, written straight into their buffer.
fn string_bytes(scope: &mut v8::PinScope, text: v8::Local<v8::String>) -> Bytes {
    let units = text.length();
    // ASCII text in a one-byte string is its own UTF-8: a plain copy.
    if units <= 4096 && text.is_onebyte() {
        let mut buf: Vec<u8> = Vec::with_capacity(units);
        text.write_one_byte_uninit_v2(scope, 0, buf.spare_capacity_mut(), v8::WriteFlags::empty());
        // SAFETY: V8 wrote `units` bytes (the whole string) into the
        // spare capacity, which is exactly `units` long.
        unsafe { buf.set_len(units) };
        if buf.is_ascii() {
            return Bytes::from(buf);
        }
    }
    // Short strings: 3 bytes per UTF-16 unit always suffice, which saves a
    // pass to measure; long ones are measured so memory is not tripled.
    let capacity = if units <= 4096 {
        units * 3
    } else {
        text.utf8_length(scope)
    };
    let mut buf: Vec<u8> = Vec::with_capacity(capacity);
    let written = text.write_utf8_uninit_v2(
        scope,
        buf.spare_capacity_mut(),
        v8::WriteFlags::kReplaceInvalidUtf8,
        None,
    );
    // SAFETY: V8 initialised the first `written` bytes of the spare capacity.
    unsafe { buf.set_len(written.min(capacity)) };
    Bytes::from(buf)
}

/// Header names and values a script sends again and again (mostly its
/// literals), found by the V8 string's hash and checked byte for byte
/// instead of parsed and copied on every response. Direct-mapped: a miss
/// replaces the slot.
pub struct HeaderCache {
    names: Box<[Option<(i32, http::HeaderName)>]>,
    values: Box<[Option<(i32, http::HeaderValue)>]>,
}

/// Slots of each table of the cache (a power of two).
const HEADER_CACHE_SLOTS: usize = 64;
/// Longest name or value the cache holds, bytes.
const HEADER_CACHE_MAX_LEN: usize = 128;

impl Default for HeaderCache {
    fn default() -> Self {
        HeaderCache {
            names: vec![None; HEADER_CACHE_SLOTS].into_boxed_slice(),
            values: vec![None; HEADER_CACHE_SLOTS].into_boxed_slice(),
        }
    }
}

/// The ASCII bytes of a short one-byte string, copied into `buf`; None for
/// anything else (which takes the general path).
fn short_ascii<'b>(
    scope: &v8::PinScope,
    s: v8::Local<v8::String>,
    buf: &'b mut [std::mem::MaybeUninit<u8>; HEADER_CACHE_MAX_LEN],
) -> Option<&'b [u8]> {
    let len = s.length();
    if len == 0 || len > HEADER_CACHE_MAX_LEN || !s.is_onebyte() {
        return None;
    }
    s.write_one_byte_uninit_v2(scope, 0, &mut buf[..len], v8::WriteFlags::empty());
    // SAFETY: V8 wrote the whole string, `len` bytes, into `buf[..len]`.
    let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), len) };
    bytes.is_ascii().then_some(bytes)
}

fn slot_of(hash: i32) -> usize {
    // Only the low bits pick the slot: the cast cannot lose them.
    #[allow(clippy::cast_sign_loss)]
    let h = hash as u32 as usize;
    h & (HEADER_CACHE_SLOTS - 1)
}

/// The header name for a JS string, from the cache when it was seen before.
fn cached_name(scope: &mut v8::PinScope, s: v8::Local<v8::String>) -> Option<Option<http::HeaderName>> {
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); HEADER_CACHE_MAX_LEN];
    let bytes = short_ascii(scope, s, &mut buf)?;
    let hash = s.get_identity_hash().get();
    let slot = slot_of(hash);
    let cache = &mut host::state(scope).header_cache;
    if let Some((h, name)) = &cache.names[slot] {
        if *h == hash && name.as_str().as_bytes() == bytes {
            return Some(Some(name.clone()));
        }
    }
    let name = http::HeaderName::from_bytes(bytes).ok();
    if let Some(n) = &name {
        cache.names[slot] = Some((hash, n.clone()));
    }
    Some(name)
}

/// The header value for a JS string, from the cache when it was seen before.
fn cached_value(scope: &mut v8::PinScope, s: v8::Local<v8::String>) -> Option<Option<http::HeaderValue>> {
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); HEADER_CACHE_MAX_LEN];
    let bytes = short_ascii(scope, s, &mut buf)?;
    let hash = s.get_identity_hash().get();
    let slot = slot_of(hash);
    let cache = &mut host::state(scope).header_cache;
    if let Some((h, value)) = &cache.values[slot] {
        if *h == hash && value.as_bytes() == bytes {
            return Some(Some(value.clone()));
        }
    }
    let value = http::HeaderValue::from_bytes(bytes).ok();
    if let Some(v) = &value {
        cache.values[slot] = Some((hash, v.clone()));
    }
    Some(value)
}

/// Header values scripts set most often, kept as static values so that no
/// bytes are copied for them.
fn common_header_value(value: &str) -> Option<http::HeaderValue> {
    const COMMON: [&str; 6] = [
        "text/plain;charset=UTF-8",
        "application/json",
        "text/html;charset=UTF-8",
        "application/octet-stream",
        "text/html; charset=utf-8",
        "application/json; charset=utf-8",
    ];
    COMMON
        .iter()
        .find(|c| **c == value)
        .map(|c| http::HeaderValue::from_static(c))
}

/// Appends one header from two JS strings; invalid ones are skipped (JS
/// Headers already rejects them).
fn append_header(
    scope: &mut v8::PinScope,
    headers: &mut http::HeaderMap,
    name: v8::Local<v8::Value>,
    value: v8::Local<v8::Value>,
) {
    let (Ok(name), Ok(value)) = (
        v8::Local::<v8::String>::try_from(name),
        v8::Local::<v8::String>::try_from(value),
    ) else {
        return;
    };
    if let (Some(name), Some(value)) = (cached_name(scope, name), cached_value(scope, value)) {
        if let (Some(name), Some(value)) = (name, value) {
            headers.append(name, value);
        }
        return;
    }
    let mut name_buf = [std::mem::MaybeUninit::<u8>::uninit(); 64];
    let name = name.to_rust_cow_lossy(scope, &mut name_buf);
    let Ok(name) = http::HeaderName::from_bytes(name.as_bytes()) else {
        return;
    };
    let mut value_buf = [std::mem::MaybeUninit::<u8>::uninit(); 256];
    let value = value.to_rust_cow_lossy(scope, &mut value_buf);
    let value = match common_header_value(&value) {
        Some(v) => v,
        None => match http::HeaderValue::from_str(&value) {
            Ok(v) => v,
            Err(_) => return,
        },
    };
    headers.append(name, value);
}

/// Headers passed as arguments `first`, `first + 1`, ... in name/value pairs.
fn read_header_args(scope: &mut v8::PinScope, args: &v8::FunctionCallbackArguments, first: i32) -> http::HeaderMap {
    let count = (args.length() - first).max(0) / 2;
    let mut headers = http::HeaderMap::with_capacity(count as usize);
    for i in 0..count {
        let at = first + 2 * i;
        append_header(scope, &mut headers, args.get(at), args.get(at + 1));
    }
    headers
}

/// Reads a flat `[name, value, ...]` array into a HeaderMap.
fn read_header_list(scope: &mut v8::PinScope, list: v8::Local<v8::Array>) -> http::HeaderMap {
    let len = list.length();
    let mut headers = http::HeaderMap::with_capacity(len as usize / 2);
    let mut i = 0;
    while i + 1 < len {
        let name = list.get_index(scope, i);
        let value = list.get_index(scope, i + 1);
        i += 2;
        if let (Some(name), Some(value)) = (name, value) {
            append_header(scope, &mut headers, name, value);
        }
    }
    headers
}

/// `(requestId, message)`: the handler threw or its promise rejected.
fn op_respond_error(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, _rv: v8::ReturnValue) {
    let Ok(rid) = v8_util::arg_u32(&args, 0) else {
        return;
    };
    let message = v8_util::arg_string(scope, &args, 1).unwrap_or_default();
    host::state(scope).respond(
        rid,
        Err(crate::http_types::ScriptFailure {
            kind: crate::http_types::FailureKind::Exception,
            message,
        }),
    );
}

/// `(requestId)`: the request and its `waitUntil` work are over; frees it.
fn op_request_done(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, _rv: v8::ReturnValue) {
    if let Ok(rid) = v8_util::arg_u32(&args, 0) {
        host::state(scope).request_done(rid);
    }
}
