//! Host side of the global `fetch()` (`js/17_fetch.js`): outbound HTTP
//! requests through a hyper client with rustls, one per worker thread
//! (connection pooling per thread; nothing shared on the hot path), with
//! the outbound address policy applied after DNS resolution, redirects,
//! cancellation by `AbortSignal`, connect and total timeouts, and streamed
//! bodies both ways. Also `op_request_pass_through`, which hands a failed
//! request back to the edge for `ctx.passThroughOnException()`.
//!
//! Not for the origin proxy of the edge (the runtime's `server::proxy`
//! reuses [`connector`] and [`body`] but has its own client and no policy).

pub mod body;
pub mod connector;
pub mod policy;

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use http_body::Body as _;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::sync::Notify;
use tokio::time::Instant;

use self::body::OutBody;
use self::connector::{ConnectError, Connector};
use self::policy::{Cidr, Policy};
use crate::error::BindingError;
use crate::host::{self, OpDecl, OpValue};
use crate::http_types::{PassThrough, ResponseBody, ResponseHead};
use crate::op;
use crate::v8_util;

/// Outbound settings (`[fetch]` in `islet.toml`), as the runtime reads them.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    /// Allow every address, private and loopback ones included.
    pub allow_private: bool,
    /// Non-public networks allowed anyway.
    pub allow: Vec<Cidr>,
    /// A PEM file of extra CA certificates trusted besides the Mozilla roots.
    pub ca_file: Option<PathBuf>,
    /// Time to resolve, connect and finish the TLS handshake.
    pub connect_timeout: Duration,
    /// Time from the call of `fetch()` to the end of the response body.
    pub timeout: Duration,
    /// Redirects followed before `fetch()` rejects.
    pub max_redirects: u32,
}

impl Default for FetchSettings {
    fn default() -> Self {
        FetchSettings {
            allow_private: false,
            allow: Vec::new(),
            ca_file: None,
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(60),
            max_redirects: 20,
        }
    }
}

/// Settings checked and prepared once (the CA file read), shared by the
/// worker threads, each of which builds its own client from them.
pub struct FetchConfig {
    policy: Arc<Policy>,
    tls: Arc<rustls::ClientConfig>,
    connect_timeout: Duration,
    timeout: Duration,
    max_redirects: u32,
}

impl FetchConfig {
    /// Prepares `settings`; fails when the CA file cannot be read.
    pub fn new(settings: &FetchSettings) -> Result<FetchConfig, String> {
        Ok(FetchConfig {
            policy: Arc::new(Policy {
                allow_all: settings.allow_private,
                allow: settings.allow.clone(),
            }),
            tls: connector::tls_config(settings.ca_file.as_deref())?,
            connect_timeout: settings.connect_timeout,
            timeout: settings.timeout,
            max_redirects: settings.max_redirects,
        })
    }
}

/// The HTTP client type used for outbound requests.
pub type HttpClient = Client<Connector, OutBody>;

/// A pooling HTTP/1.1 and HTTP/2 client over `connector`.
pub fn build_client(connector: Connector) -> HttpClient {
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .timer(TokioTimer::new())
        .build(connector)
}

struct ThreadClient {
    client: HttpClient,
    config: Arc<FetchConfig>,
}

thread_local! {
    static CONFIG: RefCell<Option<Arc<FetchConfig>>> = const { RefCell::new(None) };
    static CLIENT: RefCell<Option<Rc<ThreadClient>>> = const { RefCell::new(None) };
}

/// Makes `config` the outbound settings of the calling (worker) thread.
pub fn install(config: Arc<FetchConfig>) {
    CONFIG.with(|c| *c.borrow_mut() = Some(config));
    CLIENT.with(|c| *c.borrow_mut() = None);
}

fn thread_client() -> Result<Rc<ThreadClient>, BindingError> {
    if let Some(client) = CLIENT.with(|c| c.borrow().clone()) {
        return Ok(client);
    }
    let config = match CONFIG.with(|c| c.borrow().clone()) {
        Some(c) => c,
        None => Arc::new(FetchConfig::new(&FetchSettings::default()).map_err(BindingError::Type)?),
    };
    let connector = Connector::new(config.policy.clone(), config.tls.clone(), config.connect_timeout);
    let client = Rc::new(ThreadClient {
        client: build_client(connector),
        config,
    });
    CLIENT.with(|c| *c.borrow_mut() = Some(client.clone()));
    Ok(client)
}

/// The fetch ops.
pub fn ops() -> Vec<OpDecl> {
    vec![
        op!(op_fetch_cancel_handle),
        op!(op_fetch_send),
        op!(op_fetch_read),
        op!(op_fetch_abort),
        op!(op_fetch_close),
        op!(op_request_pass_through),
    ]
}

/// Set once by `AbortSignal`; wakes every await on it.
#[derive(Default)]
struct AbortFlag {
    aborted: Cell<bool>,
    notify: Notify,
}

impl AbortFlag {
    fn abort(&self) {
        self.aborted.set(true);
        self.notify.notify_waiters();
    }

    async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            if self.aborted.get() {
                return;
            }
            notified.await;
        }
    }
}

/// The handle JS holds to cancel one `fetch()` (request and body).
struct FetchCancel(Rc<AbortFlag>);

/// An upstream response body being read by JS.
struct FetchResponseBody {
    body: Rc<RefCell<Option<Incoming>>>,
    abort: Rc<AbortFlag>,
    deadline: Instant,
    timeout: Duration,
}

/// Takes a fetched response body nobody has started to read out of the
/// table, so that the edge streams it to the client directly (`op_respond`
/// with the body's rid). `None` when the rid is not such a body or a read
/// is in progress.
pub(crate) fn take_upstream_body(resources: &mut crate::resources::ResourceTable, rid: u32) -> Option<Incoming> {
    let body = resources
        .get_mut::<FetchResponseBody>(rid)
        .ok()?
        .body
        .borrow_mut()
        .take()?;
    resources.close(rid);
    Some(body)
}

/// Response bodies handed to JS in this isolate, each with the request
/// that fetched it: a body nobody read (or cancelled) is closed once its
/// request is over, which frees its connection. Kept in an isolate slot.
#[derive(Default)]
struct OpenBodies(Vec<(u32, u32)>);

fn track_body(scope: &mut v8::PinScope, rid: u32, owner: u32) {
    if scope.get_slot::<OpenBodies>().is_none() {
        scope.set_slot(OpenBodies::default());
    }
    if let Some(open) = scope.get_slot_mut::<OpenBodies>() {
        open.0.push((rid, owner));
    }
}

/// Closes the bodies whose request has ended.
fn sweep_bodies(scope: &mut v8::PinScope) {
    let Some(open) = scope.get_slot_mut::<OpenBodies>() else {
        return;
    };
    let list = std::mem::take(&mut open.0);
    let st = host::state(scope);
    let (resources, requests) = (&mut st.resources, &st.requests);
    let mut keep = Vec::with_capacity(list.len());
    for (rid, owner) in list {
        if resources.get_mut::<FetchResponseBody>(rid).is_err() {
            continue;
        }
        if requests.get(owner).is_some() {
            keep.push((rid, owner));
        } else {
            tracing::debug!(rid, "closing a fetch() response body its request never read");
            resources.close(rid);
        }
    }
    if let Some(open) = scope.get_slot_mut::<OpenBodies>() {
        open.0 = keep;
    }
}

fn throw(scope: &mut v8::PinScope, err: BindingError) {
    v8_util::throw(scope, &err);
}

fn rejected<'s>(scope: &mut v8::PinScope<'s, '_>, err: BindingError) -> Option<v8::Local<'s, v8::Promise>> {
    host::spawn_async(scope, async move { Err(err) })
}

/// `() -> rid` of a cancel handle for one fetch.
fn op_fetch_cancel_handle(scope: &mut v8::PinScope, _args: v8::FunctionCallbackArguments, mut rv: v8::ReturnValue) {
    let rid = host::state(scope)
        .resources
        .add(FetchCancel(Rc::new(AbortFlag::default())));
    rv.set(v8::Integer::new_from_unsigned(scope, rid).into());
}

/// `(cancelRid)`: aborts the fetch (its request, or the reading of its body).
fn op_fetch_abort(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, _rv: v8::ReturnValue) {
    if let Ok(rid) = v8_util::arg_u32(&args, 0) {
        if let Ok(cancel) = host::state(scope).resources.get_mut::<FetchCancel>(rid) {
            cancel.0.abort();
        }
    }
}

/// `(rid)`: frees a cancel handle or a response body (dropping an unread
/// body closes or returns its connection).
fn op_fetch_close(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, _rv: v8::ReturnValue) {
    if let Ok(rid) = v8_util::arg_u32(&args, 0) {
        let resources = &mut host::state(scope).resources;
        if resources.take::<FetchResponseBody>(rid).is_err() {
            let _ = resources.take::<FetchCancel>(rid);
        }
    }
}

/// How `fetch()` treats redirects (`RequestInit.redirect`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Redirect {
    Follow,
    Error,
    Manual,
}

/// The body of an outbound request as JS hands it over.
enum BodySource {
    None,
    /// Replayable when a 307/308 redirect asks for it again.
    Bytes(Bytes),
    /// Sent once; a redirect that needs it again fails.
    Stream(Option<OutBody>),
}

/// `(cancelRid, method, url, [name, value, ...], bodyKind, body, redirect)
/// -> Promise<[status, statusText, [name, value, ...], bodyRid, url, redirected]>`.
///
/// `bodyKind`: 0 none, 1 a string or bytes in `body`, 2 the rid of an
/// incoming request whose body is forwarded, 3 the reader rid of a stream
/// JS pumps (`op_body_stream_open`). `redirect`: 0 follow, 1 error,
/// 2 manual. `bodyRid` is 0 when the response has no body.
fn op_fetch_send(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, mut rv: v8::ReturnValue) {
    let promise = match prepare(scope, &args) {
        Ok((outbound, redirect, abort, client)) => host::spawn_async(scope, run(outbound, redirect, abort, client)),
        Err(e) => rejected(scope, e),
    };
    if let Some(p) = promise {
        rv.set(p.into());
    }
}

struct Outbound {
    /// The request on whose behalf the fetch runs.
    owner: u32,
    method: Method,
    url: String,
    headers: HeaderMap,
    body: BodySource,
}

type Prepared = (Outbound, Redirect, Rc<AbortFlag>, Rc<ThreadClient>);

fn prepare(scope: &mut v8::PinScope, args: &v8::FunctionCallbackArguments) -> Result<Prepared, BindingError> {
    let cancel = v8_util::arg_u32(args, 0)?;
    let method = v8_util::arg_string(scope, args, 1)?;
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| BindingError::Type(format!("'{method}' is not a valid HTTP method")))?;
    let url = v8_util::arg_string(scope, args, 2)?;
    let headers = match v8::Local::<v8::Array>::try_from(args.get(3)) {
        Ok(list) => read_headers(scope, list),
        Err(_) => HeaderMap::new(),
    };
    let kind = v8_util::arg_u32(args, 4).unwrap_or(0);
    let redirect = match v8_util::arg_u32(args, 6).unwrap_or(0) {
        1 => Redirect::Error,
        2 => Redirect::Manual,
        _ => Redirect::Follow,
    };
    check_scheme(&url)?;
    // The budget is counted only for requests that are really sent.
    crate::limits::start_subrequest(scope)?;
    sweep_bodies(scope);
    let body = match kind {
        1 => {
            let value = args.get(5);
            if let Ok(text) = v8::Local::<v8::String>::try_from(value) {
                BodySource::Bytes(Bytes::from(text.to_rust_string_lossy(scope)))
            } else {
                match v8_util::with_bytes(value, Bytes::copy_from_slice) {
                    Some(b) => BodySource::Bytes(b),
                    None => return Err(BindingError::Type("unsupported fetch() body".into())),
                }
            }
        }
        2 => {
            let rid = v8_util::arg_u32(args, 5)?;
            let slot = host::state(scope)
                .requests
                .get_mut(rid)
                .ok_or(BindingError::BadResource(rid))?;
            let body = slot.body.as_ref().and_then(|cell| cell.borrow_mut().take());
            match body {
                Some(b) => BodySource::Stream(Some(OutBody::Stream(b))),
                None => BodySource::None,
            }
        }
        3 => {
            let rid = v8_util::arg_u32(args, 5)?;
            let rx = crate::body::take_stream_receiver(&mut host::state(scope).resources, rid)?;
            BodySource::Stream(Some(OutBody::Channel(rx)))
        }
        _ => BodySource::None,
    };
    let abort = host::state(scope).resources.get_mut::<FetchCancel>(cancel)?.0.clone();
    let client = thread_client()?;
    let owner = host::state(scope).current_request;
    Ok((
        Outbound {
            owner,
            method,
            url,
            headers,
            body,
        },
        redirect,
        abort,
        client,
    ))
}

fn check_scheme(url: &str) -> Result<(), BindingError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(BindingError::Type(format!(
            "fetch() supports http: and https: URLs only, not {url}"
        )))
    }
}

/// Headers a client never forwards: connection-level ones (hyper manages
/// them) and the ones the URL and body decide.
fn is_dropped_request_header(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "host"
            | "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
            | "content-length"
    )
}

/// Connection-level headers of a response, which belong to the upstream
/// connection and not to the Response a script sees.
fn is_hop_by_hop_response_header(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection" | "keep-alive" | "proxy-connection" | "transfer-encoding" | "te" | "trailer" | "upgrade"
    )
}

fn read_headers(scope: &mut v8::PinScope, list: v8::Local<v8::Array>) -> HeaderMap {
    let len = list.length();
    let mut headers = HeaderMap::with_capacity(len as usize / 2);
    let mut i = 0;
    while i + 1 < len {
        let (name, value) = (list.get_index(scope, i), list.get_index(scope, i + 1));
        i += 2;
        let (Some(name), Some(value)) = (name, value) else {
            continue;
        };
        let name = name.to_rust_string_lossy(scope);
        let value = value.to_rust_string_lossy(scope);
        let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), latin1_value(&value)) else {
            continue;
        };
        if !is_dropped_request_header(&name) {
            headers.append(name, value);
        }
    }
    headers
}

/// A header value from a JS ByteString (code units up to 0xFF).
fn latin1_value(value: &str) -> Result<HeaderValue, http::header::InvalidHeaderValue> {
    if value.is_ascii() {
        return HeaderValue::from_str(value);
    }
    let bytes: Vec<u8> = value
        .chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect();
    HeaderValue::from_bytes(&bytes)
}

/// A header value as a JS ByteString (isomorphic decode).
fn latin1_string(value: &HeaderValue) -> String {
    match value.to_str() {
        Ok(s) => s.to_string(),
        Err(_) => crate::encoding::isomorphic_decode(value.as_bytes()),
    }
}

/// What a completed fetch hands to JS.
struct Fetched {
    response: http::Response<Incoming>,
    url: String,
    redirected: bool,
}

async fn run(outbound: Outbound, redirect: Redirect, abort: Rc<AbortFlag>, client: Rc<ThreadClient>) -> host::OpResult {
    let timeout = client.config.timeout;
    let deadline = Instant::now() + timeout;
    let url = outbound.url.clone();
    let owner = outbound.owner;
    let work = send(outbound, redirect, client.clone());
    let fetched = tokio::select! {
        r = tokio::time::timeout_at(deadline, work) => match r {
            Ok(r) => r?,
            Err(_) => return Err(timed_out(&url, timeout)),
        },
        () = abort.wait() => return Err(BindingError::Type("The operation was aborted.".into())),
    };
    Ok(OpValue::Custom(Box::new(move |scope| {
        to_js(scope, fetched, abort, deadline, timeout, owner)
    })))
}

fn timed_out(url: &str, timeout: Duration) -> BindingError {
    BindingError::Type(format!(
        "fetch to {url} timed out after {} ms (timeout_ms in the [fetch] section of islet.toml)",
        timeout.as_millis()
    ))
}

fn to_js<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    fetched: Fetched,
    abort: Rc<AbortFlag>,
    deadline: Instant,
    timeout: Duration,
    owner: u32,
) -> v8::Local<'s, v8::Value> {
    let (parts, body) = fetched.response.into_parts();
    let status = parts.status;
    let reason = parts
        .extensions
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
        .or_else(|| status.canonical_reason().map(str::to_string))
        .unwrap_or_default();
    let mut flat: Vec<v8::Local<v8::Value>> = Vec::with_capacity(parts.headers.len() * 2);
    for (name, value) in &parts.headers {
        if is_hop_by_hop_response_header(name) {
            continue;
        }
        flat.push(v8_util::new_string(scope, name.as_str()).into());
        flat.push(v8_util::new_string(scope, &latin1_string(value)).into());
    }
    let null_body = body.is_end_stream() || matches!(status.as_u16(), 101 | 103 | 204 | 205 | 304);
    let body_rid = if null_body {
        0
    } else {
        let rid = host::state(scope).resources.add(FetchResponseBody {
            body: Rc::new(RefCell::new(Some(body))),
            abort,
            deadline,
            timeout,
        });
        track_body(scope, rid, owner);
        rid
    };
    let values = [
        v8::Integer::new_from_unsigned(scope, u32::from(status.as_u16())).into(),
        v8_util::new_string(scope, &reason).into(),
        v8::Array::new_with_elements(scope, &flat).into(),
        v8::Integer::new_from_unsigned(scope, body_rid).into(),
        v8_util::new_string(scope, &fetched.url).into(),
        v8::Boolean::new(scope, fetched.redirected).into(),
    ];
    v8::Array::new_with_elements(scope, &values).into()
}

/// Sends the request and follows redirects as `redirect` says.
async fn send(mut out: Outbound, redirect: Redirect, client: Rc<ThreadClient>) -> Result<Fetched, BindingError> {
    let mut redirects = 0u32;
    loop {
        let uri: http::Uri = out
            .url
            .parse()
            .map_err(|e| BindingError::Type(format!("fetch(): invalid URL {}: {e}", out.url)))?;
        let body = match &mut out.body {
            BodySource::None => OutBody::Empty,
            BodySource::Bytes(b) => OutBody::Full(Some(b.clone())),
            BodySource::Stream(s) => s.take().unwrap_or(OutBody::Empty),
        };
        let mut request = http::Request::new(body);
        *request.method_mut() = out.method.clone();
        *request.uri_mut() = uri;
        *request.headers_mut() = out.headers.clone();
        let response = client
            .client
            .request(request)
            .await
            .map_err(|e| network_error(&out.url, &e))?;
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(http::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let (true, Some(location), false) = (
            matches!(status, 301 | 302 | 303 | 307 | 308),
            location,
            redirect == Redirect::Manual,
        ) else {
            return Ok(Fetched {
                response,
                url: out.url,
                redirected: redirects > 0,
            });
        };
        drop(response);
        if redirect == Redirect::Error {
            return Err(BindingError::Type(format!(
                "fetch to {} was redirected ({status}) to {location}, and the request's redirect mode is \"error\"",
                out.url
            )));
        }
        redirects += 1;
        if redirects > client.config.max_redirects {
            return Err(BindingError::Type(format!(
                "fetch to {} was redirected more than {} times",
                out.url, client.config.max_redirects
            )));
        }
        follow(&mut out, status, &location)?;
    }
}

/// Rewrites `out` for a redirect to `location` (the fetch standard's
/// HTTP-redirect fetch, steps on method, body and cross-origin headers).
fn follow(out: &mut Outbound, status: u16, location: &str) -> Result<(), BindingError> {
    let next = ada_url::Url::parse(location, Some(out.url.as_str())).map_err(|_| {
        BindingError::Type(format!(
            "fetch(): the redirect location {location:?} is not a valid URL"
        ))
    })?;
    if next.protocol() != "http:" && next.protocol() != "https:" {
        return Err(BindingError::Type(format!(
            "fetch(): refusing to follow a redirect to {}",
            next.href()
        )));
    }
    let to_get =
        (status == 303 && out.method != Method::HEAD) || (matches!(status, 301 | 302) && out.method == Method::POST);
    if to_get {
        out.method = Method::GET;
        out.body = BodySource::None;
        for name in [
            "content-type",
            "content-encoding",
            "content-language",
            "content-location",
        ] {
            out.headers.remove(name);
        }
    } else if matches!(out.body, BodySource::Stream(_)) {
        return Err(BindingError::Type(format!(
            "fetch(): cannot follow the {status} redirect to {}: the request body was a stream and has been sent already",
            next.href()
        )));
    }
    let same_origin = ada_url::Url::parse(out.url.as_str(), None).is_ok_and(|u| u.origin() == next.origin());
    if !same_origin {
        out.headers.remove(http::header::AUTHORIZATION);
        out.headers.remove(http::header::PROXY_AUTHORIZATION);
        out.headers.remove(http::header::COOKIE);
    }
    out.url = next.href().to_string();
    Ok(())
}

/// A network failure as the TypeError scripts see, with the cause.
fn network_error(url: &str, err: &hyper_util::client::legacy::Error) -> BindingError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(s) = source {
        if let Some(c) = s.downcast_ref::<ConnectError>() {
            return match c {
                ConnectError::Denied(d) => BindingError::Type(d.to_string()),
                other => BindingError::Type(format!("fetch to {url} failed: {other}")),
            };
        }
        source = s.source();
    }
    let mut message = format!("fetch to {url} failed: {err}");
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    BindingError::Type(message)
}

/// `(bodyRid) -> Promise<Uint8Array | null>`: the next chunk of a fetched
/// response body, null at its end.
fn op_fetch_read(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, mut rv: v8::ReturnValue) {
    let rid = match v8_util::arg_u32(&args, 0) {
        Ok(r) => r,
        Err(e) => return throw(scope, e),
    };
    let (cell, abort, deadline, timeout) = match host::state(scope).resources.get_mut::<FetchResponseBody>(rid) {
        Ok(b) => (b.body.clone(), b.abort.clone(), b.deadline, b.timeout),
        Err(_) => {
            if let Some(p) = host::spawn_async(scope, async { Ok(OpValue::Null) }) {
                rv.set(p.into());
            }
            return;
        }
    };
    // As in op_body_read: the body leaves its cell while a read is pending.
    let body = cell.borrow_mut().take();
    let fut = async move {
        let Some(mut body) = body else {
            return Ok(OpValue::Null);
        };
        let next = async {
            loop {
                match body.frame().await {
                    None => return Ok(None),
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            if !data.is_empty() {
                                return Ok(Some(data));
                            }
                        }
                    }
                    Some(Err(e)) => {
                        return Err(BindingError::Type(format!(
                            "fetch(): reading the response body failed: {e}"
                        )))
                    }
                }
            }
        };
        let chunk = tokio::select! {
            r = tokio::time::timeout_at(deadline, next) => match r {
                Ok(r) => r?,
                Err(_) => return Err(BindingError::Type(format!(
                    "fetch(): the response body did not arrive within {} ms (timeout_ms in the [fetch] section of islet.toml)",
                    timeout.as_millis()
                ))),
            },
            () = abort.wait() => return Err(BindingError::Type("The operation was aborted.".into())),
        };
        match chunk {
            Some(data) => {
                *cell.borrow_mut() = Some(body);
                Ok(OpValue::Bytes(Vec::from(data)))
            }
            None => Ok(OpValue::Null),
        }
    };
    if let Some(p) = host::spawn_async(scope, fut) {
        rv.set(p.into());
    }
}

/// `(requestId, bodyUnread, message)`: the handler of a request that called
/// `ctx.passThroughOnException()` failed. Instead of a 500, the edge sends
/// the request to the origin; this hands it the request's headers, and its
/// body when the script never touched it (a body already read cannot be
/// sent again). A later `op_respond_error` for the request does nothing.
fn op_request_pass_through(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, _rv: v8::ReturnValue) {
    let Ok(rid) = v8_util::arg_u32(&args, 0) else {
        return;
    };
    let body_unread = args.get(1).boolean_value(scope);
    let message = v8_util::arg_string(scope, &args, 2).unwrap_or_default();
    let st = host::state(scope);
    let Some(slot) = st.requests.get_mut(rid) else {
        return;
    };
    if slot.responder.is_none() {
        return;
    }
    let headers = slot.headers.clone();
    let had_body = slot.body.is_some();
    let body = if body_unread {
        slot.body.as_ref().and_then(|cell| cell.borrow_mut().take())
    } else {
        None
    };
    let body_lost = had_body && body.is_none();
    let head = ResponseHead {
        status: 500,
        headers: HeaderMap::new(),
        body: ResponseBody::PassThrough(Box::new(PassThrough {
            error: message,
            headers,
            body,
            body_lost,
        })),
    };
    st.respond(rid, Ok(head));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbound(method: Method, url: &str, body: BodySource) -> Outbound {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("Bearer x"));
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        Outbound {
            owner: 0,
            method,
            url: url.into(),
            headers,
            body,
        }
    }

    #[test]
    fn see_other_becomes_get_without_body() {
        let mut out = outbound(
            Method::POST,
            "http://a.test/x",
            BodySource::Bytes(Bytes::from_static(b"hi")),
        );
        follow(&mut out, 303, "/y?z=1").unwrap();
        assert_eq!(out.method, Method::GET);
        assert_eq!(out.url, "http://a.test/y?z=1");
        assert!(matches!(out.body, BodySource::None));
        assert!(out.headers.get("content-type").is_none());
        assert!(
            out.headers.get("authorization").is_some(),
            "same origin keeps credentials"
        );
    }

    #[test]
    fn temporary_redirect_keeps_method_and_replays_bytes() {
        let mut out = outbound(
            Method::PUT,
            "http://a.test/x",
            BodySource::Bytes(Bytes::from_static(b"hi")),
        );
        follow(&mut out, 307, "http://b.test/y").unwrap();
        assert_eq!(out.method, Method::PUT);
        assert!(matches!(out.body, BodySource::Bytes(_)));
        assert!(
            out.headers.get("authorization").is_none(),
            "cross origin drops credentials"
        );
    }

    #[test]
    fn streamed_bodies_cannot_be_replayed() {
        let mut out = outbound(Method::POST, "http://a.test/x", BodySource::Stream(None));
        assert!(follow(&mut out, 308, "/y").is_err());
        assert!(follow(&mut out, 302, "/y").is_ok());
    }

    #[test]
    fn only_http_redirects_are_followed() {
        let mut out = outbound(Method::GET, "http://a.test/x", BodySource::None);
        assert!(follow(&mut out, 302, "file:///etc/passwd").is_err());
    }

    #[test]
    fn header_values_are_latin1() {
        assert_eq!(latin1_value("caf\u{e9}").unwrap().as_bytes(), b"caf\xe9");
        assert_eq!(
            latin1_string(&HeaderValue::from_bytes(b"caf\xe9").unwrap()),
            "caf\u{e9}"
        );
    }
}
