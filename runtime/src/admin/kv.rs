//! The admin API's KV endpoints: read, write, delete and list the keys of
//! any namespace, with the same rules (sizes, expirations, limits) as
//! scripts, since both go through [`KvStore`].
//!
//! - `PUT /v1/kv/{namespace}/values/{key}?expiration=&expiration_ttl=&metadata=`:
//!   the body is the value.
//! - `GET /v1/kv/{namespace}/values/{key}`: the value as the body; its
//!   expiration and metadata in `X-Islet-KV-Expiration` and
//!   `X-Islet-KV-Metadata`.
//! - `DELETE /v1/kv/{namespace}/values/{key}`
//! - `GET /v1/kv/{namespace}/keys?prefix=&cursor=&limit=`
//!
//! Namespace and key are percent-decoded; a key may hold `/`.
//! Not for authentication or dispatch of other paths (`api.rs`).

use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use islet_bindings::kv::{KvError, KvStore, PutOptions, MAX_VALUE_BYTES};
use serde_json::{json, Value};

use super::http::{full, json_response, read_body, AdminResponse};
use crate::error::RuntimeError;

/// Header with a value's expiration (Unix seconds) on `GET .../values/{key}`.
pub const EXPIRATION_HEADER: &str = "x-islet-kv-expiration";
/// Header with a value's metadata (JSON) on `GET .../values/{key}`.
pub const METADATA_HEADER: &str = "x-islet-kv-metadata";

/// Answers a request whose path starts with `/v1/kv/`; `rest` is the raw
/// (still percent-encoded) path after that prefix.
pub async fn dispatch(kv: &KvStore, rest: &str, req: Request<Incoming>) -> Result<AdminResponse, RuntimeError> {
    let (namespace, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let namespace = percent_decode(namespace, false)?;
    if let Some(key) = tail.strip_prefix("values/") {
        let key = percent_decode(key, false)?;
        return match *req.method() {
            Method::GET | Method::HEAD => get_value(kv, &namespace, &key).await,
            Method::PUT => put_value(kv, &namespace, &key, req).await,
            Method::DELETE => delete_value(kv, &namespace, &key).await,
            _ => Err(RuntimeError::MethodNotAllowed {
                allowed: "GET, PUT, DELETE",
            }),
        };
    }
    if tail == "keys" || tail == "keys/" {
        return match *req.method() {
            Method::GET | Method::HEAD => list_keys(kv, &namespace, req.uri().query().unwrap_or("")).await,
            _ => Err(RuntimeError::MethodNotAllowed { allowed: "GET" }),
        };
    }
    Err(RuntimeError::NotFound(format!(
        "no KV endpoint /v1/kv/{rest}: use /v1/kv/{{namespace}}/values/{{key}} or /v1/kv/{{namespace}}/keys"
    )))
}

async fn get_value(kv: &KvStore, namespace: &str, key: &str) -> Result<AdminResponse, RuntimeError> {
    let found = kv
        .get(namespace, key)
        .await?
        .ok_or_else(|| RuntimeError::NotFound(format!("no key {key:?} in KV namespace {namespace:?}")))?;
    let mut res = Response::new(full(found.value));
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Some(at) = found.expiration {
        headers.insert(EXPIRATION_HEADER, HeaderValue::from(at));
    }
    if let Some(m) = found.metadata.and_then(|m| HeaderValue::from_bytes(m.as_bytes()).ok()) {
        headers.insert(METADATA_HEADER, m);
    }
    Ok(res)
}

async fn put_value(
    kv: &KvStore,
    namespace: &str,
    key: &str,
    req: Request<Incoming>,
) -> Result<AdminResponse, RuntimeError> {
    let mut options = PutOptions::default();
    for (name, value) in query_pairs(req.uri().query().unwrap_or(""))? {
        match name.as_str() {
            "expiration" => options.expiration = Some(number(&name, &value)?),
            "expiration_ttl" => options.expiration_ttl = Some(number(&name, &value)?),
            "metadata" => {
                let parsed: Value = serde_json::from_str(&value).map_err(|e| {
                    RuntimeError::bad_request(format!("metadata is not JSON ({e}): pass ?metadata=<url-encoded JSON>"))
                })?;
                options.metadata = Some(parsed.to_string());
            }
            other => {
                return Err(RuntimeError::bad_request(format!(
                    "unknown parameter {other:?}: a KV PUT takes expiration, expiration_ttl and metadata"
                )))
            }
        }
    }
    let length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body = match read_body(req.into_body(), length, MAX_VALUE_BYTES as u64).await {
        Ok(b) => b,
        Err(RuntimeError::PayloadTooLarge { .. }) => {
            return Err(KvError::invalid(
                413,
                format!(
                    "Value length of {} exceeds limit of {MAX_VALUE_BYTES}.",
                    length.map_or_else(|| "more bytes than that".to_string(), |n: u64| n.to_string())
                ),
            )
            .into())
        }
        Err(e) => return Err(e),
    };
    let size = body.len();
    kv.put(namespace, key, body.to_vec(), options).await?;
    tracing::info!(target: "islet::admin", namespace, key, size, "KV value written");
    Ok(json_response(
        StatusCode::OK,
        &json!({ "namespace": namespace, "key": key, "size": size }),
    ))
}

async fn delete_value(kv: &KvStore, namespace: &str, key: &str) -> Result<AdminResponse, RuntimeError> {
    kv.delete(namespace, key).await?;
    tracing::info!(target: "islet::admin", namespace, key, "KV value deleted");
    Ok(json_response(
        StatusCode::OK,
        &json!({ "namespace": namespace, "deleted": key }),
    ))
}

async fn list_keys(kv: &KvStore, namespace: &str, query: &str) -> Result<AdminResponse, RuntimeError> {
    let (mut prefix, mut cursor, mut limit) = (String::new(), None, None);
    for (name, value) in query_pairs(query)? {
        match name.as_str() {
            "prefix" => prefix = value,
            "cursor" => cursor = Some(value),
            "limit" => limit = Some(number(&name, &value)?),
            other => {
                return Err(RuntimeError::bad_request(format!(
                    "unknown parameter {other:?}: a KV listing takes prefix, cursor and limit"
                )))
            }
        }
    }
    let page = kv.list(namespace, &prefix, limit, cursor.as_deref()).await?;
    let keys: Vec<Value> = page
        .keys
        .iter()
        .map(|k| {
            let mut key = json!({ "name": k.name });
            if let Some(at) = k.expiration {
                key["expiration"] = json!(at);
            }
            if let Some(m) = &k.metadata {
                key["metadata"] = serde_json::from_str(m).unwrap_or(Value::Null);
            }
            key
        })
        .collect();
    let mut body = json!({ "keys": keys, "list_complete": page.cursor.is_none() });
    if let Some(c) = page.cursor {
        body["cursor"] = json!(c);
    }
    Ok(json_response(StatusCode::OK, &body))
}

fn number(name: &str, value: &str) -> Result<f64, RuntimeError> {
    value
        .trim()
        .parse::<f64>()
        .map_err(|_| RuntimeError::bad_request(format!("{name} must be a number, not {value:?}")))
}

/// `a=1&b=2` as decoded pairs (`+` is a space, as in forms).
fn query_pairs(query: &str) -> Result<Vec<(String, String)>, RuntimeError> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((percent_decode(k, true)?, percent_decode(v, true)?))
        })
        .collect()
}

/// Decodes `%XX` escapes (and `+` when `plus_is_space`); the result must be UTF-8.
fn percent_decode(text: &str, plus_is_space: bool) -> Result<String, RuntimeError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| RuntimeError::bad_request(format!("bad percent-encoding in {text:?}")))?;
                out.push(hex);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| RuntimeError::bad_request(format!("{text:?} does not decode to UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("a%2Fb+c", false).unwrap(), "a/b+c");
        assert_eq!(percent_decode("a%2Fb+c", true).unwrap(), "a/b c");
        assert_eq!(percent_decode("caf%C3%A9", false).unwrap(), "caf\u{e9}");
        assert!(percent_decode("%zz", false).is_err());
        assert!(percent_decode("%2", false).is_err());
        assert!(percent_decode("%FF", false).is_err());
        assert_eq!(
            query_pairs("prefix=a%26b&limit=2&&cursor").unwrap(),
            vec![
                ("prefix".to_string(), "a&b".to_string()),
                ("limit".to_string(), "2".to_string()),
                ("cursor".to_string(), String::new())
            ]
        );
    }
}
