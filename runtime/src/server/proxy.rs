//! The drop-in proxy: requests that match no route (and requests whose
//! script failed after `ctx.passThroughOnException()`) go to the configured
//! origin, streamed both ways, with method, path, query, headers, body and
//! status preserved, the usual forwarding headers added, and HTTP/1.1
//! upgrades (WebSocket) passed through as raw bytes. One client per worker
//! thread, pooling connections to the origin. Not for scripts' `fetch()`
//! (no outbound policy applies here: the operator chose the origin).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use islet_bindings::fetch::body::OutBody;
use islet_bindings::fetch::connector::{self, Connector};
use islet_bindings::fetch::policy::Policy;
use islet_bindings::fetch::{build_client, HttpClient};

use super::body::EdgeBody;
use super::edge::plain;
use crate::error::RuntimeError;

/// Where unmatched requests go (`--origin`, `origin` in `islet.toml`).
#[derive(Debug, Clone)]
pub struct OriginOptions {
    /// The origin's base URL: scheme, authority and an optional path prefix.
    pub url: Uri,
    /// Extra CA certificates (PEM) to trust for an https origin.
    pub ca_file: Option<PathBuf>,
    /// Time to connect (and finish TLS).
    pub connect_timeout: Duration,
    /// Time until the origin's response head.
    pub timeout: Duration,
}

impl OriginOptions {
    /// Options for `url` with default timeouts; the URL must be http(s)
    /// with a host.
    pub fn parse(url: &str) -> Result<OriginOptions, RuntimeError> {
        let uri: Uri = url
            .parse()
            .map_err(|e| RuntimeError::Config(format!("origin {url:?} is not a URL: {e}")))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
            return Err(RuntimeError::Config(format!(
                "origin {url:?} must be an http:// or https:// URL with a host, like http://127.0.0.1:3000"
            )));
        }
        Ok(OriginOptions {
            url: uri,
            ca_file: None,
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(100),
        })
    }
}

/// Connection facts the forwarding headers report.
#[derive(Debug, Clone, Copy)]
pub struct ClientInfo {
    /// The client's address.
    pub peer: SocketAddr,
    /// Whether the client came over TLS.
    pub tls: bool,
}

/// One worker thread's way to the origin.
pub struct Origin {
    base: Uri,
    client: HttpClient,
    timeout: Duration,
}

impl Origin {
    /// A client for `options`; `tls` is the prepared rustls configuration.
    pub fn new(options: &OriginOptions, tls: Arc<rustls::ClientConfig>) -> Origin {
        let connector = Connector::new(Arc::new(Policy::allow_all()), tls, options.connect_timeout);
        Origin {
            base: options.url.clone(),
            client: build_client(connector),
            timeout: options.timeout,
        }
    }

    /// The rustls configuration for `options` (reads the CA file once).
    pub fn tls_config(options: &OriginOptions) -> Result<Arc<rustls::ClientConfig>, RuntimeError> {
        connector::tls_config(options.ca_file.as_deref()).map_err(|e| RuntimeError::Config(format!("origin: {e}")))
    }

    /// Forwards one request and streams the origin's answer back.
    pub async fn forward(
        &self,
        mut parts: http::request::Parts,
        body: OutBody,
        client: ClientInfo,
    ) -> Response<EdgeBody> {
        let upgrade = wants_upgrade(&parts.headers)
            .then(|| parts.extensions.remove::<OnUpgrade>())
            .flatten();
        let uri = match self.target(&parts.uri) {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!("cannot build the origin URL: {e}");
                return plain(
                    StatusCode::BAD_GATEWAY,
                    "Bad Gateway: the request cannot be sent to the origin.\n",
                );
            }
        };
        let mut headers = std::mem::take(&mut parts.headers);
        let original_host = headers.get(http::header::HOST).cloned().or_else(|| {
            parts
                .uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        });
        strip_hop_by_hop(&mut headers, upgrade.is_some());
        if let Some(host) = &original_host {
            headers.insert(http::header::HOST, host.clone());
        }
        add_forwarding(&mut headers, client, original_host.as_ref());
        let mut request = Request::new(body);
        *request.method_mut() = parts.method;
        *request.uri_mut() = uri;
        *request.version_mut() = Version::HTTP_11;
        *request.headers_mut() = headers;
        let response = match tokio::time::timeout(self.timeout, self.client.request(request)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                tracing::warn!(origin = %self.base, "origin request failed: {}", error_chain(&e));
                return plain(StatusCode::BAD_GATEWAY, "Bad Gateway: the origin cannot be reached.\n");
            }
            Err(_) => {
                tracing::warn!(origin = %self.base, "origin did not answer within {:?}", self.timeout);
                return plain(
                    StatusCode::GATEWAY_TIMEOUT,
                    "Gateway Timeout: the origin did not answer in time.\n",
                );
            }
        };
        let (mut res_parts, res_body) = response.into_parts();
        if res_parts.status == StatusCode::SWITCHING_PROTOCOLS {
            if let (Some(client_side), Some(origin_side)) = (upgrade, res_parts.extensions.remove::<OnUpgrade>()) {
                tokio::task::spawn_local(tunnel(client_side, origin_side));
                let mut res = Response::new(EdgeBody::Empty);
                *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
                *res.headers_mut() = res_parts.headers;
                return res;
            }
            return plain(
                StatusCode::BAD_GATEWAY,
                "Bad Gateway: the origin switched protocols unasked.\n",
            );
        }
        strip_hop_by_hop(&mut res_parts.headers, false);
        let mut res = Response::new(EdgeBody::Upstream(res_body));
        *res.status_mut() = res_parts.status;
        *res.headers_mut() = res_parts.headers;
        res
    }

    /// The origin URL for a request: the origin's scheme and authority, its
    /// path prefix, then the request's path and query.
    fn target(&self, request: &Uri) -> Result<Uri, http::Error> {
        let prefix = self.base.path().trim_end_matches('/');
        let path = request.path_and_query().map_or("/", http::uri::PathAndQuery::as_str);
        let mut builder = Uri::builder();
        if let Some(scheme) = self.base.scheme() {
            builder = builder.scheme(scheme.clone());
        }
        if let Some(authority) = self.base.authority() {
            builder = builder.authority(authority.clone());
        }
        builder.path_and_query(format!("{prefix}{path}")).build()
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Copies bytes both ways once both sides have switched protocols.
async fn tunnel(client: OnUpgrade, origin: OnUpgrade) {
    let (client, origin) = match tokio::try_join!(client, origin) {
        Ok(pair) => pair,
        Err(e) => {
            tracing::debug!("upgrade failed: {e}");
            return;
        }
    };
    let mut client = TokioIo::new(client);
    let mut origin = TokioIo::new(origin);
    if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut origin).await {
        tracing::debug!("upgraded connection ended: {e}");
    }
}

fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(http::header::UPGRADE)
        && headers
            .get_all(http::header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// Removes the headers that belong to one connection (RFC 9110 7.6.1);
/// for an upgrade, `Connection: upgrade` and `Upgrade` stay.
fn strip_hop_by_hop(headers: &mut HeaderMap, upgrading: bool) {
    let listed: Vec<HeaderName> = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        if !(upgrading && name == http::header::UPGRADE) {
            headers.remove(name);
        }
    }
    for name in [
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
    ] {
        headers.remove(name);
    }
    headers.remove(http::header::CONNECTION);
    if upgrading {
        headers.insert(http::header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(http::header::UPGRADE);
    }
}

/// `X-Forwarded-For` (appended), `X-Forwarded-Proto`, `X-Forwarded-Host`
/// and `Forwarded` (RFC 7239, appended).
fn add_forwarding(headers: &mut HeaderMap, client: ClientInfo, host: Option<&HeaderValue>) {
    let ip = client.peer.ip().to_canonical();
    let proto = if client.tls { "https" } else { "http" };
    let xff = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prev) if !prev.trim().is_empty() => format!("{prev}, {ip}"),
        _ => ip.to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        headers.insert("x-forwarded-for", v);
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static(proto));
    if let Some(host) = host {
        if !headers.contains_key("x-forwarded-host") {
            headers.insert("x-forwarded-host", host.clone());
        }
    }
    let node = if ip.is_ipv6() {
        format!("\"[{ip}]\"")
    } else {
        ip.to_string()
    };
    let mut element = format!("for={node};proto={proto}");
    if let Some(host) = host.and_then(|h| h.to_str().ok()) {
        element.push_str(";host=\"");
        element.push_str(&host.replace(['"', '\\'], ""));
        element.push('"');
    }
    let forwarded = match headers.get(http::header::FORWARDED).and_then(|v| v.to_str().ok()) {
        Some(prev) if !prev.trim().is_empty() => format!("{prev}, {element}"),
        _ => element,
    };
    if let Ok(v) = HeaderValue::from_str(&forwarded) {
        headers.insert(http::header::FORWARDED, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_are_removed() {
        let mut h = HeaderMap::new();
        h.insert("connection", HeaderValue::from_static("keep-alive, x-secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }

    #[test]
    fn upgrades_keep_their_headers() {
        let mut h = HeaderMap::new();
        h.insert("connection", HeaderValue::from_static("Upgrade"));
        h.insert("upgrade", HeaderValue::from_static("websocket"));
        assert!(wants_upgrade(&h));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h.get("upgrade").unwrap(), "websocket");
        assert_eq!(h.get("connection").unwrap(), "upgrade");
    }

    #[test]
    fn forwarding_headers_append() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.7"));
        let client = ClientInfo {
            peer: "[::ffff:10.0.0.1]:5000".parse().unwrap(),
            tls: true,
        };
        add_forwarding(&mut h, client, Some(&HeaderValue::from_static("example.com")));
        assert_eq!(h.get("x-forwarded-for").unwrap(), "203.0.113.7, 10.0.0.1");
        assert_eq!(h.get("x-forwarded-proto").unwrap(), "https");
        assert_eq!(h.get("x-forwarded-host").unwrap(), "example.com");
        assert_eq!(
            h.get("forwarded").unwrap(),
            "for=10.0.0.1;proto=https;host=\"example.com\""
        );
    }

    #[test]
    fn origin_urls_keep_the_prefix() {
        let options = OriginOptions::parse("http://127.0.0.1:9/base/").unwrap();
        let tls = Origin::tls_config(&options).unwrap();
        let origin = Origin::new(&options, tls);
        let uri: Uri = "/a/b?c=1".parse().unwrap();
        assert_eq!(
            origin.target(&uri).unwrap().to_string(),
            "http://127.0.0.1:9/base/a/b?c=1"
        );
        assert!(OriginOptions::parse("ftp://x").is_err());
    }
}
