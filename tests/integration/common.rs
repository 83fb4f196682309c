//! Test harness: starts a real islet server in-process on a loopback port
#![allow(dead_code)]
//! and talks HTTP to it.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use islet_runtime::isolate::IsolateOptions;
use islet_runtime::registry::Registry;
use islet_runtime::router::{Route, RouteTable};
use islet_runtime::script::ScriptVersion;
use islet_runtime::server::{self, ServerHandle, ServerOptions};

/// Path of a fixture file.
pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)
}

/// Source of a fixture file.
pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixture_path(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// A script to serve: name, source, route patterns.
pub struct ScriptSpec {
    pub name: String,
    pub source: String,
    pub routes: Vec<String>,
}

impl ScriptSpec {
    pub fn new(name: &str, source: impl Into<String>, routes: &[&str]) -> ScriptSpec {
        ScriptSpec {
            name: name.into(),
            source: source.into(),
            routes: routes.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// A response as the tests see it.
#[derive(Debug)]
pub struct TestResponse {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl TestResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap_or_default().to_string())
    }
}

/// A running islet server.
pub struct TestServer {
    handle: Option<ServerHandle>,
    pub registry: Arc<Registry>,
    pub addr: std::net::SocketAddr,
}

impl TestServer {
    /// Serves fixture `file` for every host and path.
    pub async fn with_script(file: &str) -> TestServer {
        let name = file.trim_end_matches(".js");
        TestServer::start(vec![ScriptSpec::new(name, fixture(file), &["*/*"])], 1).await
    }

    /// Serves the given scripts on `workers` threads.
    pub async fn start(scripts: Vec<ScriptSpec>, workers: usize) -> TestServer {
        let mut routes = Vec::new();
        let mut versions = Vec::new();
        for s in scripts {
            for r in &s.routes {
                routes.push(Route {
                    pattern: r.clone(),
                    script: s.name.clone(),
                });
            }
            versions.push(ScriptVersion::single(&s.name, 1, s.source));
        }
        let table = RouteTable::new(&routes).expect("valid routes");
        let registry = Arc::new(Registry::new(versions, table));
        let options = ServerOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            workers,
            isolate: IsolateOptions::default(),
        };
        let handle = server::start(&options, registry.clone()).expect("server starts");
        let addr = handle.edge_addr;
        TestServer {
            handle: Some(handle),
            registry,
            addr,
        }
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.request("GET", "example.com", path, &[], Vec::new()).await
    }

    pub async fn post(&self, path: &str, body: Vec<u8>) -> TestResponse {
        self.request("POST", "example.com", path, &[], body).await
    }

    pub async fn post_with_headers(&self, path: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> TestResponse {
        self.request("POST", "example.com", path, headers, body).await
    }

    pub async fn get_host(&self, host: &str, path: &str) -> TestResponse {
        self.request("GET", host, path, &[], Vec::new()).await
    }

    /// One request on a new connection.
    pub async fn request(
        &self,
        method: &str,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> TestResponse {
        let stream = tokio::net::TcpStream::connect(self.addr).await.expect("connect");
        let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        let mut req = http::Request::builder().method(method).uri(path).header("host", host);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(Bytes::from(body))).expect("request");
        let res = sender.send_request(req).await.expect("response");
        let (parts, body) = res.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        TestResponse {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown();
        }
    }
}
