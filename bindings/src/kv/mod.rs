//! The KV binding (Workers KV): `env.NAMESPACE.get/getWithMetadata/put/
//! delete/list` in `js/18_kv.js`, the `op_kv_*` ops here, and
//! [`KvStore`], which checks every call against the Workers KV rules (key
//! and value sizes, metadata size, expirations, list limits) before it
//! reaches a [`KvBackend`]. The admin API's `/v1/kv` endpoints use the same
//! [`KvStore`], so both paths obey the same rules.
//!
//! Isolation: a script's `env` holds one object per KV binding, and that
//! object carries only the binding's index. The namespaces themselves are
//! in an isolate slot ([`bind_env`] fills it when the script is loaded), so
//! a script can reach the namespaces bound to it and no other.
//!
//! Not for storage itself: that is behind [`KvBackend`] (`embedded.rs`,
//! `redis.rs`).

pub mod backend;
pub mod embedded;
pub mod redis;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use backend::{
    KvBackend, KvClock, KvError, KvFuture, KvKey, KvKeys, KvListQuery, KvValue, ManualClock, SystemClock,
};

use crate::error::BindingError;
use crate::host::{self, OpDecl, OpValue};
use crate::op;
use crate::v8_util;

/// Longest key, UTF-8 bytes.
pub const MAX_KEY_BYTES: usize = 512;
/// Largest value, bytes (25 MiB).
pub const MAX_VALUE_BYTES: usize = 25 << 20;
/// Largest metadata, bytes of its JSON text.
pub const MAX_METADATA_BYTES: usize = 1024;
/// Most keys one `list` returns, and the default.
pub const MAX_LIST_LIMIT: usize = 1000;
/// Shortest `expirationTtl`, and how far ahead an `expiration` must be, seconds.
pub const MIN_TTL_SECS: u64 = 60;
/// Longest namespace name, bytes.
pub const MAX_NAMESPACE_BYTES: usize = 256;

/// How a `put` asks for its key to expire, as the caller gave it.
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    /// Absolute expiration, Unix seconds.
    pub expiration: Option<f64>,
    /// Expiration relative to now, seconds; wins over `expiration`.
    pub expiration_ttl: Option<f64>,
    /// Metadata as JSON text.
    pub metadata: Option<String>,
}

/// A page of a listing as the KV API returns it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KvListPage {
    /// The keys, in byte order.
    pub keys: Vec<KvKey>,
    /// Where the next page starts; `None` when the listing is complete.
    pub cursor: Option<String>,
}

/// A KV backend behind the Workers KV rules: what ops and the admin API
/// call. Cheap to share behind an `Arc`.
pub struct KvStore {
    backend: Arc<dyn KvBackend>,
    clock: Arc<dyn KvClock>,
}

impl std::fmt::Debug for KvStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvStore")
            .field("backend", &self.backend.kind())
            .finish()
    }
}

impl KvStore {
    /// A store over `backend`, whose expirations are measured with `clock`
    /// (the clock the backend was given).
    pub fn new(backend: Arc<dyn KvBackend>, clock: Arc<dyn KvClock>) -> KvStore {
        KvStore { backend, clock }
    }

    /// The backend's name (`embedded`, `redis`).
    pub fn kind(&self) -> &'static str {
        self.backend.kind()
    }

    /// The value of `key`, or `None` when it is missing or expired.
    pub async fn get(&self, namespace: &str, key: &str) -> Result<Option<KvValue>, KvError> {
        check_namespace(namespace)?;
        check_key(key)?;
        self.backend.get(namespace, key).await
    }

    /// Stores `value` under `key` with the expiration and metadata of `options`.
    pub async fn put(&self, namespace: &str, key: &str, value: Vec<u8>, options: PutOptions) -> Result<(), KvError> {
        check_namespace(namespace)?;
        check_key(key)?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(KvError::invalid(
                413,
                format!("Value length of {} exceeds limit of {MAX_VALUE_BYTES}.", value.len()),
            ));
        }
        if let Some(m) = &options.metadata {
            if m.len() > MAX_METADATA_BYTES {
                return Err(KvError::invalid(
                    413,
                    format!("Metadata length of {} exceeds limit of {MAX_METADATA_BYTES}.", m.len()),
                ));
            }
        }
        let expiration = resolve_expiration(&options, self.clock.now())?;
        let record = KvValue {
            value,
            metadata: options.metadata,
            expiration,
        };
        self.backend.put(namespace, key, record).await
    }

    /// Removes `key` (a missing key is not an error).
    pub async fn delete(&self, namespace: &str, key: &str) -> Result<(), KvError> {
        check_namespace(namespace)?;
        check_key(key)?;
        self.backend.delete(namespace, key).await
    }

    /// A page of the keys starting with `prefix`: at most `limit` (default
    /// and maximum 1000), from `cursor` (what the previous page returned).
    pub async fn list(
        &self,
        namespace: &str,
        prefix: &str,
        limit: Option<f64>,
        cursor: Option<&str>,
    ) -> Result<KvListPage, KvError> {
        check_namespace(namespace)?;
        let limit = check_limit(limit)?;
        let after = match cursor {
            Some(c) if !c.is_empty() => Some(decode_cursor(c)?),
            _ => None,
        };
        let query = KvListQuery {
            prefix: prefix.to_string(),
            after,
            limit,
        };
        let page = self.backend.list(namespace, query).await?;
        let cursor = match (page.more, page.keys.last()) {
            (true, Some(last)) => Some(encode_cursor(&last.name)),
            _ => None,
        };
        Ok(KvListPage {
            keys: page.keys,
            cursor,
        })
    }
}

/// Checks a namespace name: 1 to 256 bytes without control characters.
pub fn check_namespace(namespace: &str) -> Result<(), KvError> {
    if namespace.is_empty() || namespace.len() > MAX_NAMESPACE_BYTES || namespace.chars().any(char::is_control) {
        return Err(KvError::invalid(
            400,
            format!("Invalid namespace {namespace:?}: use 1 to {MAX_NAMESPACE_BYTES} characters without control characters."),
        ));
    }
    Ok(())
}

/// Checks a key as Workers KV does: not empty, not `.` or `..`, at most 512
/// bytes of UTF-8.
pub fn check_key(key: &str) -> Result<(), KvError> {
    match key {
        "" => Err(KvError::invalid(400, "Key names must not be empty.")),
        "." | ".." => Err(KvError::invalid(
            400,
            format!("Illegal key name \"{key}\". Please use a different name."),
        )),
        _ if key.len() > MAX_KEY_BYTES => Err(KvError::invalid(
            414,
            format!(
                "UTF-8 encoded length of {} exceeds key length limit of {MAX_KEY_BYTES}.",
                key.len()
            ),
        )),
        _ => Ok(()),
    }
}

fn check_limit(limit: Option<f64>) -> Result<usize, KvError> {
    let Some(limit) = limit else {
        return Ok(MAX_LIST_LIMIT);
    };
    if !(limit.is_finite() && limit >= 1.0) {
        return Err(KvError::invalid(
            400,
            format!("Invalid key_count_limit of {limit}. Please specify an integer greater than 0."),
        ));
    }
    if limit > MAX_LIST_LIMIT as f64 {
        return Err(KvError::invalid(
            400,
            format!(
                "Invalid key_count_limit of {limit}. Please specify an integer less than or equal to {MAX_LIST_LIMIT}."
            ),
        ));
    }
    // In range 1..=1000, checked above.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let limit = limit.floor() as usize;
    Ok(limit)
}

/// The absolute expiration of a put, checked: a TTL of at least 60 s, or a
/// time at least 60 s after `now`.
// Both floats are finite and in range where they are converted.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]
fn resolve_expiration(options: &PutOptions, now: u64) -> Result<Option<u64>, KvError> {
    if let Some(ttl) = options.expiration_ttl {
        if !(ttl.is_finite() && ttl >= MIN_TTL_SECS as f64 && ttl < 1e15) {
            return Err(KvError::invalid(
                400,
                format!("Invalid expiration_ttl of {ttl}. Expiration TTL must be at least {MIN_TTL_SECS}."),
            ));
        }
        return Ok(Some(now.saturating_add(ttl.floor() as u64)));
    }
    if let Some(at) = options.expiration {
        let earliest = now.saturating_add(MIN_TTL_SECS) as f64;
        if !(at.is_finite() && at >= earliest && at < 1e15) {
            return Err(KvError::invalid(
                400,
                format!(
                    "Invalid expiration of {at}. Expiration times must be at least {MIN_TTL_SECS} seconds in the future."
                ),
            ));
        }
        return Ok(Some(at.floor() as u64));
    }
    Ok(None)
}

/// A cursor is the last key of a page, hex-encoded: opaque to callers,
/// and the next page starts right after it.
fn encode_cursor(last: &str) -> String {
    let mut out = String::with_capacity(last.len() * 2);
    for b in last.bytes() {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    out
}

fn decode_cursor(cursor: &str) -> Result<String, KvError> {
    let invalid = || {
        KvError::invalid(
            400,
            format!("Invalid cursor {cursor:?}: pass the cursor a list() returned."),
        )
    };
    if !cursor.len().is_multiple_of(2) || cursor.len() > MAX_KEY_BYTES * 2 {
        return Err(invalid());
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let bytes = cursor
        .as_bytes()
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(invalid)?;
    String::from_utf8(bytes).map_err(|_| invalid())
}

/// The KV namespaces a script version is bound to, and the store they live
/// in. `store` is `None` where no store exists (a compile check): calls
/// then reject.
#[derive(Clone, Default)]
pub struct KvBindings {
    /// Binding name on `env` -> namespace.
    pub namespaces: BTreeMap<String, String>,
    /// The node's KV store.
    pub store: Option<Arc<KvStore>>,
}

impl std::fmt::Debug for KvBindings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvBindings")
            .field("namespaces", &self.namespaces)
            .field("store", &self.store.as_ref().map(|s| s.kind()))
            .finish()
    }
}

/// What the ops of one isolate reach: its namespaces, by binding index.
struct KvSlot {
    store: Option<Arc<KvStore>>,
    namespaces: Vec<String>,
}

/// Puts one KV namespace object on `env` per binding of `kv` (made by
/// `internals.kvNamespace(index)` of `js/18_kv.js`, found through the
/// context's embedder data slot `internals_slot`) and gives this isolate's
/// ops the namespaces. Called once, when the script is loaded.
pub fn bind_env(scope: &mut v8::PinScope, internals_slot: i32, env: v8::Local<v8::Object>, kv: &KvBindings) {
    if kv.namespaces.is_empty() {
        return;
    }
    let context = scope.get_current_context();
    let make = context
        .get_embedder_data(scope, internals_slot)
        .and_then(|v| v8::Local::<v8::Object>::try_from(v).ok())
        .and_then(|internals| {
            let name = v8_util::new_string(scope, "kvNamespace");
            internals.get(scope, name.into())
        })
        .and_then(|f| v8::Local::<v8::Function>::try_from(f).ok());
    let Some(make) = make else {
        tracing::error!("the snapshot lacks internals.kvNamespace: KV bindings are not on env");
        return;
    };
    let mut namespaces = Vec::with_capacity(kv.namespaces.len());
    for (index, (binding, namespace)) in kv.namespaces.iter().enumerate() {
        let Ok(index) = u32::try_from(index) else {
            break;
        };
        let undefined = v8::undefined(scope).into();
        let arg = v8::Integer::new_from_unsigned(scope, index).into();
        let Some(object) = make.call(scope, undefined, &[arg]) else {
            continue;
        };
        let key = v8_util::new_string(scope, binding);
        env.set(scope, key.into(), object);
        namespaces.push(namespace.clone());
    }
    scope.set_slot(KvSlot {
        store: kv.store.clone(),
        namespaces,
    });
}

/// A kind of KV call, as reported to the runtime's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KvOp {
    /// `get` and `getWithMetadata`.
    Get,
    /// `put`.
    Put,
    /// `delete`.
    Delete,
    /// `list`.
    List,
}

impl KvOp {
    /// Every kind, in a fixed order.
    pub const ALL: [KvOp; 4] = [KvOp::Get, KvOp::Put, KvOp::Delete, KvOp::List];

    /// Lowercase name (`get`, `put`, `delete`, `list`).
    pub fn as_str(self) -> &'static str {
        match self {
            KvOp::Get => "get",
            KvOp::Put => "put",
            KvOp::Delete => "delete",
            KvOp::List => "list",
        }
    }
}

/// The KV ops.
pub fn ops() -> Vec<OpDecl> {
    vec![op!(op_kv_get), op!(op_kv_put), op!(op_kv_delete), op!(op_kv_list)]
}

/// The store and namespace of binding `index` of this isolate; reports
/// the call (`op`) to the isolate's observer.
fn target(
    scope: &mut v8::PinScope,
    args: &v8::FunctionCallbackArguments,
    op: KvOp,
) -> Result<(Arc<KvStore>, String), KvError> {
    let index = v8_util::arg_u32(args, 0).map_err(|e| KvError::invalid(400, e.to_string()))?;
    let slot = scope.get_slot::<KvSlot>().ok_or(KvError::Unavailable)?;
    let namespace = slot
        .namespaces
        .get(index as usize)
        .cloned()
        .ok_or_else(|| KvError::invalid(400, "no such KV binding"))?;
    let store = slot.store.clone().ok_or(KvError::Unavailable)?;
    host::state(scope).observer.kv_operation(&namespace, op);
    Ok((store, namespace))
}

/// The JS error for a failed KV call: Workers KV's text, as a TypeError
/// when the caller's input is at fault.
fn js_error(op: &str, e: KvError) -> BindingError {
    match e {
        KvError::Invalid { status, message } => BindingError::Type(format!("KV {op} failed: {status} {message}")),
        KvError::Unavailable => BindingError::Io(format!("KV {op} failed: KV is not available while the script loads")),
        KvError::Backend(m) => BindingError::Io(format!("KV {op} failed: {m}")),
    }
}

/// Starts `fut` as the op's promise.
fn spawn(
    scope: &mut v8::PinScope,
    rv: &mut v8::ReturnValue,
    op: &'static str,
    fut: impl std::future::Future<Output = Result<OpValue, KvError>> + 'static,
) {
    let fut = async move { fut.await.map_err(|e| js_error(op, e)) };
    if let Some(p) = host::spawn_async(scope, fut) {
        rv.set(p.into());
    }
}

/// Rejects at once: the promise of an op whose arguments are wrong.
fn reject(scope: &mut v8::PinScope, rv: &mut v8::ReturnValue, op: &'static str, e: KvError) {
    spawn(scope, rv, op, async move { Err(e) });
}

/// Optional number argument: `undefined` and `null` are `None`.
fn arg_opt_f64(args: &v8::FunctionCallbackArguments, i: i32) -> Option<f64> {
    let v = args.get(i);
    if v.is_null_or_undefined() {
        None
    } else {
        Some(v8::Local::<v8::Number>::try_from(v).map_or(f64::NAN, |n| n.value()))
    }
}

/// Optional string argument: `undefined` and `null` are `None`.
fn arg_opt_string(scope: &mut v8::PinScope, args: &v8::FunctionCallbackArguments, i: i32) -> Option<String> {
    let v = args.get(i);
    if v.is_null_or_undefined() {
        None
    } else {
        v.to_string(scope).map(|s| s.to_rust_string_lossy(scope))
    }
}

/// Mode bits of `op_kv_get`.
const GET_BYTES: u32 = 1;
const GET_METADATA: u32 = 2;

/// `(binding, key, mode) -> Promise<null | value | [value, metadataJson | null, expiration | null]>`:
/// the value as a string (mode bit 1 clear) or a Uint8Array (set); with
/// mode bit 2, an array with the metadata.
fn op_kv_get(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, mut rv: v8::ReturnValue) {
    let (store, namespace) = match target(scope, &args, KvOp::Get) {
        Ok(t) => t,
        Err(e) => return reject(scope, &mut rv, "GET", e),
    };
    let key = v8_util::arg_string(scope, &args, 1).unwrap_or_default();
    let mode = v8_util::arg_u32(&args, 2).unwrap_or(0);
    spawn(scope, &mut rv, "GET", async move {
        let Some(found) = store.get(&namespace, &key).await? else {
            return Ok(OpValue::Null);
        };
        let value = if mode & GET_BYTES != 0 {
            OpValue::Bytes(found.value)
        } else {
            OpValue::String(
                String::from_utf8(found.value).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            )
        };
        if mode & GET_METADATA == 0 {
            return Ok(value);
        }
        let (metadata, expiration) = (found.metadata, found.expiration);
        Ok(OpValue::Custom(Box::new(move |scope| {
            let value = value.into_js(scope);
            let metadata = match &metadata {
                Some(m) => v8_util::new_string(scope, m).into(),
                None => v8::null(scope).into(),
            };
            let expiration = match expiration {
                Some(e) => v8::Number::new(scope, e as f64).into(),
                None => v8::null(scope).into(),
            };
            v8::Array::new_with_elements(scope, &[value, metadata, expiration]).into()
        })))
    });
}

/// `(binding, key, value, expiration, expirationTtl, metadataJson) -> Promise<undefined>`;
/// `value` is a string, an ArrayBuffer or an ArrayBufferView.
fn op_kv_put(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, mut rv: v8::ReturnValue) {
    let (store, namespace) = match target(scope, &args, KvOp::Put) {
        Ok(t) => t,
        Err(e) => return reject(scope, &mut rv, "PUT", e),
    };
    let key = v8_util::arg_string(scope, &args, 1).unwrap_or_default();
    let value = put_value(scope, args.get(2));
    let value = match value {
        Ok(v) => v,
        Err(e) => return reject(scope, &mut rv, "PUT", e),
    };
    let options = PutOptions {
        expiration: arg_opt_f64(&args, 3),
        expiration_ttl: arg_opt_f64(&args, 4),
        metadata: arg_opt_string(scope, &args, 5),
    };
    spawn(scope, &mut rv, "PUT", async move {
        store.put(&namespace, &key, value, options).await?;
        Ok(OpValue::Undefined)
    });
}

/// The bytes of a put's value: a string as UTF-8, or a copy of an
/// ArrayBuffer's or view's bytes. A value over the limit is refused before
/// it is copied.
fn put_value(scope: &mut v8::PinScope, raw: v8::Local<v8::Value>) -> Result<Vec<u8>, KvError> {
    let too_large = |len: usize| {
        KvError::invalid(
            413,
            format!("Value length of {len} exceeds limit of {MAX_VALUE_BYTES}."),
        )
    };
    if let Ok(s) = v8::Local::<v8::String>::try_from(raw) {
        // UTF-8 has at least one byte per UTF-16 unit.
        if s.length() > MAX_VALUE_BYTES {
            return Err(too_large(s.utf8_length(scope)));
        }
        return Ok(s.to_rust_string_lossy(scope).into_bytes());
    }
    v8_util::with_bytes(raw, |bytes| {
        if bytes.len() > MAX_VALUE_BYTES {
            Err(too_large(bytes.len()))
        } else {
            Ok(bytes.to_vec())
        }
    })
    .unwrap_or_else(|| {
        Err(KvError::invalid(
            400,
            "KV put() accepts only strings, ArrayBuffers, ArrayBufferViews, and ReadableStreams as values.",
        ))
    })
}

/// `(binding, key) -> Promise<undefined>`.
fn op_kv_delete(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, mut rv: v8::ReturnValue) {
    let (store, namespace) = match target(scope, &args, KvOp::Delete) {
        Ok(t) => t,
        Err(e) => return reject(scope, &mut rv, "DELETE", e),
    };
    let key = v8_util::arg_string(scope, &args, 1).unwrap_or_default();
    spawn(scope, &mut rv, "DELETE", async move {
        store.delete(&namespace, &key).await?;
        Ok(OpValue::Undefined)
    });
}

/// `(binding, prefix, limit, cursor) -> Promise<[cursor | null, name, expiration | null, metadataJson | null, ...]>`:
/// a flat array, three entries per key, that `js/18_kv.js` turns into objects.
fn op_kv_list(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, mut rv: v8::ReturnValue) {
    let (store, namespace) = match target(scope, &args, KvOp::List) {
        Ok(t) => t,
        Err(e) => return reject(scope, &mut rv, "LIST", e),
    };
    let prefix = arg_opt_string(scope, &args, 1).unwrap_or_default();
    let limit = arg_opt_f64(&args, 2);
    let cursor = arg_opt_string(scope, &args, 3);
    spawn(scope, &mut rv, "LIST", async move {
        let page = store.list(&namespace, &prefix, limit, cursor.as_deref()).await?;
        Ok(OpValue::Custom(Box::new(move |scope| {
            let mut items: Vec<v8::Local<v8::Value>> = Vec::with_capacity(1 + page.keys.len() * 3);
            items.push(match &page.cursor {
                Some(c) => v8_util::new_string(scope, c).into(),
                None => v8::null(scope).into(),
            });
            for key in &page.keys {
                items.push(v8_util::new_string(scope, &key.name).into());
                items.push(match key.expiration {
                    Some(e) => v8::Number::new(scope, e as f64).into(),
                    None => v8::null(scope).into(),
                });
                items.push(match &key.metadata {
                    Some(m) => v8_util::new_string(scope, m).into(),
                    None => v8::null(scope).into(),
                });
            }
            v8::Array::new_with_elements(scope, &items).into()
        })))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_workers_rules() {
        assert!(check_key("a").is_ok());
        assert!(check_key(&"k".repeat(512)).is_ok());
        let err = check_key(&"k".repeat(513)).unwrap_err();
        assert!(matches!(err, KvError::Invalid { status: 414, .. }), "{err}");
        assert!(err.to_string().contains("513 exceeds key length limit of 512"));
        assert!(check_key("").is_err());
        assert!(check_key(".").is_err());
        assert!(check_key("..").is_err());
        assert!(check_key("...").is_ok());
    }

    #[test]
    fn expirations_are_checked_against_the_clock() {
        let now = 1_000_000;
        let ttl = |t| PutOptions {
            expiration_ttl: Some(t),
            ..PutOptions::default()
        };
        let at = |t| PutOptions {
            expiration: Some(t),
            ..PutOptions::default()
        };
        assert_eq!(resolve_expiration(&ttl(60.0), now).unwrap(), Some(now + 60));
        assert_eq!(resolve_expiration(&ttl(90.7), now).unwrap(), Some(now + 90));
        let err = resolve_expiration(&ttl(59.0), now).unwrap_err().to_string();
        assert_eq!(err, "Invalid expiration_ttl of 59. Expiration TTL must be at least 60.");
        assert!(resolve_expiration(&ttl(f64::NAN), now).is_err());
        assert_eq!(resolve_expiration(&at(1_000_060.0), now).unwrap(), Some(1_000_060));
        let err = resolve_expiration(&at(1_000_059.0), now).unwrap_err().to_string();
        assert!(err.contains("at least 60 seconds in the future"), "{err}");
        assert_eq!(resolve_expiration(&PutOptions::default(), now).unwrap(), None);
    }

    #[test]
    fn limits_and_cursors() {
        assert_eq!(check_limit(None).unwrap(), 1000);
        assert_eq!(check_limit(Some(1.0)).unwrap(), 1);
        assert_eq!(check_limit(Some(1000.0)).unwrap(), 1000);
        assert!(check_limit(Some(1001.0)).is_err());
        assert!(check_limit(Some(0.0)).is_err());
        assert!(check_limit(Some(f64::NAN)).is_err());
        for key in ["a", "caf\u{e9}/\u{1f600}", &"x".repeat(512)] {
            assert_eq!(decode_cursor(&encode_cursor(key)).unwrap(), key);
        }
        assert!(decode_cursor("zz").is_err());
        assert!(decode_cursor("abc").is_err());
        assert!(decode_cursor("ff").is_err(), "not UTF-8");
    }
}
