//! Test harness: starts a real islet server in-process on a loopback port
#![allow(dead_code)]
//! and talks HTTP to it. `TestServer` serves scripts given in code;
//! `TestNode` is a whole node (store, edge, admin API) as `islet serve`
//! starts it.

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

/// Edge settings for tests: the defaults, with a short shutdown grace
/// (a test's own client connections cannot answer while the test thread
/// waits in the server's shutdown, so a drain would wait out the grace).
pub fn test_edge() -> server::EdgeOptions {
    let mut edge = server::EdgeOptions::default();
    edge.protection.shutdown_grace = std::time::Duration::from_secs(2);
    edge
}

/// A running islet server.
pub struct TestServer {
    handle: Option<ServerHandle>,
    pub registry: Arc<Registry>,
    /// The server's metrics and tails.
    pub observe: Arc<islet_runtime::observe::Observability>,
    pub addr: std::net::SocketAddr,
    /// The TLS edge address, when the server was started with TLS.
    pub tls_addr: Option<std::net::SocketAddr>,
}

impl TestServer {
    /// Serves fixture `file` for every host and path.
    pub async fn with_script(file: &str) -> TestServer {
        let name = file.trim_end_matches(".js");
        TestServer::start(vec![ScriptSpec::new(name, fixture(file), &["*/*"])], 1).await
    }

    /// Serves the given scripts on `workers` threads.
    pub async fn start(scripts: Vec<ScriptSpec>, workers: usize) -> TestServer {
        TestServer::start_with(scripts, workers, IsolateOptions::default()).await
    }

    /// Serves the given scripts on `workers` threads with these isolate
    /// settings (limits, cache size, idle timeout).
    pub async fn start_with(scripts: Vec<ScriptSpec>, workers: usize, isolate: IsolateOptions) -> TestServer {
        TestServer::start_full(scripts, workers, isolate, test_edge()).await
    }

    /// Serves the given scripts with these edge settings (TLS, origin,
    /// fetch policy, listener protection).
    pub async fn start_edge(scripts: Vec<ScriptSpec>, workers: usize, edge: server::EdgeOptions) -> TestServer {
        TestServer::start_full(scripts, workers, IsolateOptions::default(), edge).await
    }

    /// Serves the given scripts with isolate and edge settings.
    pub async fn start_full(
        scripts: Vec<ScriptSpec>,
        workers: usize,
        isolate: IsolateOptions,
        edge: server::EdgeOptions,
    ) -> TestServer {
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
            isolate,
            edge,
        };
        let observe = Arc::new(islet_runtime::observe::Observability::default());
        let handle = server::start(&options, registry.clone(), observe.clone()).expect("server starts");
        let addr = handle.edge_addr;
        let tls_addr = handle.tls_addr;
        TestServer {
            handle: Some(handle),
            registry,
            observe,
            addr,
            tls_addr,
        }
    }

    /// Takes the server handle (to shut it down from a test).
    pub fn take_handle(&mut self) -> Option<ServerHandle> {
        self.handle.take()
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
        send(self.addr, method, host, path, headers, body).await
    }
}

/// One HTTP/1.1 request to `addr` on a new connection.
pub async fn send(
    addr: std::net::SocketAddr,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> TestResponse {
    try_send(addr, method, host, path, headers, body)
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// A request to the admin API at `addr` with bearer `token`.
pub async fn admin_send(
    addr: std::net::SocketAddr,
    token: &str,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> TestResponse {
    let auth = format!("Bearer {token}");
    let mut headers = vec![("authorization", auth.as_str())];
    if let Some(ct) = content_type {
        headers.push(("content-type", ct));
    }
    send(addr, method, "localhost", path, &headers, body).await
}

/// Like [`send`], but a connection failure is an `Err`.
pub async fn try_send(
    addr: std::net::SocketAddr,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<TestResponse, String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(conn);
    let mut req = http::Request::builder().method(method).uri(path).header("host", host);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(Bytes::from(body))).map_err(|e| e.to_string())?;
    let res = sender.send_request(req).await.map_err(|e| format!("response: {e}"))?;
    let (parts, body) = res.into_parts();
    let body = body.collect().await.map_err(|e| format!("body: {e}"))?.to_bytes();
    Ok(TestResponse {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    })
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!("islet-test-{tag}-{}-{n}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The admin token test nodes are configured with.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef";

/// Configuration of a test node: loopback ports picked by the OS, one
/// worker, the data in `dir`, the test token.
pub fn node_config(dir: &std::path::Path) -> islet_runtime::config::Config {
    let defaults = islet_runtime::config::Config::default();
    islet_runtime::config::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin_listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        workers: 1,
        admin: islet_runtime::config::AdminConfig {
            token: Some(ADMIN_TOKEN.to_string()),
            ..defaults.admin.clone()
        },
        // As in test_edge(): a drain cannot wait for the test's own clients.
        edge: islet_runtime::config::EdgeSection {
            shutdown_grace_ms: 2000,
            ..defaults.edge.clone()
        },
        ..defaults
    }
}

/// A whole node (store, edge, admin API), started as `islet serve` does.
pub struct TestNode {
    node: Option<islet_runtime::serve::Node>,
    pub edge: std::net::SocketAddr,
    pub admin: std::net::SocketAddr,
    pub token: String,
}

impl TestNode {
    /// A node over `dir` with the test token.
    pub fn start(dir: &std::path::Path) -> TestNode {
        TestNode::start_with(&node_config(dir))
    }

    /// A node with `config`; the token is the configured one, or the one
    /// the node generated in its data directory.
    pub fn start_with(config: &islet_runtime::config::Config) -> TestNode {
        let node = islet_runtime::serve::start(config).expect("node starts");
        let token = match &config.admin.token {
            Some(t) => t.clone(),
            None => std::fs::read_to_string(config.data_dir.join(islet_runtime::admin::TOKEN_FILE))
                .expect("generated token file")
                .trim()
                .to_string(),
        };
        TestNode {
            edge: node.edge_addr,
            admin: node.admin_addr,
            token,
            node: Some(node),
        }
    }

    /// Stops the node and waits until its store is closed.
    pub fn stop(mut self) {
        if let Some(n) = self.node.take() {
            n.shutdown();
        }
    }

    /// An authenticated admin request.
    pub async fn admin(&self, method: &str, path: &str, content_type: Option<&str>, body: Vec<u8>) -> TestResponse {
        admin_send(self.admin, &self.token, method, path, content_type, body).await
    }

    /// `GET` on the admin API.
    pub async fn admin_get(&self, path: &str) -> TestResponse {
        self.admin("GET", path, None, Vec::new()).await
    }

    /// Uploads `source` as script `name` (a plain JavaScript body).
    pub async fn upload(&self, name: &str, source: &str) -> TestResponse {
        self.admin(
            "PUT",
            &format!("/v1/scripts/{name}"),
            Some("application/javascript"),
            source.as_bytes().to_vec(),
        )
        .await
    }

    /// Routes `pattern` to `script` under route id `id`.
    pub async fn route(&self, id: &str, pattern: &str, script: &str) -> TestResponse {
        let body = serde_json::json!({ "pattern": pattern, "script": script }).to_string();
        self.admin(
            "PUT",
            &format!("/v1/routes/{id}"),
            Some("application/json"),
            body.into_bytes(),
        )
        .await
    }

    /// A `GET` on the edge with this Host header.
    pub async fn edge_get(&self, host: &str, path: &str) -> TestResponse {
        send(self.edge, "GET", host, path, &[], Vec::new()).await
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(n) = self.node.take() {
            n.shutdown();
        }
    }
}

/// A multipart/form-data body: `(name, filename, content type, bytes)`
/// parts; returns the content type and the body.
pub fn multipart(parts: &[(&str, Option<&str>, &str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----islet-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, filename, content_type, bytes) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match filename {
            Some(f) => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n").as_bytes(),
            ),
            None => body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n").as_bytes()),
        }
        body.extend_from_slice(format!("Content-Type: {content_type}\r\n\r\n").as_bytes());
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The upload body of a one-module script: `index.js` holding `source`,
/// and its `metadata` (JSON); returns the content type and the body.
pub fn module_upload(source: &str, metadata: &str) -> (String, Vec<u8>) {
    multipart(&[
        (
            "index.js",
            Some("index.js"),
            "application/javascript+module",
            source.as_bytes(),
        ),
        ("metadata", None, "application/json", metadata.as_bytes()),
    ])
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown();
        }
    }
}

/// A `redis-server` of a test's own: a free loopback port, its data in a
/// temporary folder, no persistence to disk; stopped when dropped. Needs
/// the `redis-server` package (`.ci/run` installs it).
pub struct RedisServer {
    child: std::process::Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    _dir: TempDir,
}

impl RedisServer {
    /// Starts a server and waits until it answers PING.
    pub fn start() -> RedisServer {
        let dir = TempDir::new("redis");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--daemonize", "no", "--loglevel", "warning", "--dir"])
            .arg(&dir.path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run redis-server ({e}): install it with `apt-get install -y redis-server`")
            });
        let mut server = RedisServer { child, port, _dir: dir };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !server.answers_ping() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("redis-server exited at start: {status}");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start on port {port}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        server
    }

    /// `redis://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Sends one command (its words) and returns the raw reply.
    pub fn command(&self, words: &[&str]) -> String {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect to redis");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .expect("timeout");
        let mut request = format!("*{}\r\n", words.len());
        for w in words {
            request.push_str(&format!("${}\r\n{w}\r\n", w.len()));
        }
        stream.write_all(request.as_bytes()).expect("send to redis");
        let mut reply = [0u8; 4096];
        let n = stream.read(&mut reply).unwrap_or(0);
        String::from_utf8_lossy(&reply[..n]).into_owned()
    }

    fn answers_ping(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(std::time::Duration::from_millis(500)));
        let mut reply = [0u8; 16];
        stream.write_all(b"PING\r\n").is_ok() && stream.read(&mut reply).is_ok_and(|n| reply[..n].starts_with(b"+PONG"))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process killed when the test ends, even by a failed assertion.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A node running in a child process (this test binary run again), for
/// tests that kill it with SIGKILL or read its log.
pub struct ChildNode {
    /// The process; killed when this is dropped.
    pub process: KillOnDrop,
    /// Its admin API address.
    pub admin: std::net::SocketAddr,
    /// Its edge address.
    pub edge: std::net::SocketAddr,
}

/// Where a child node's stderr goes.
pub enum ChildStderr {
    /// To `<dir>/child-output.log`, shown if the child fails to start.
    ToFile,
    /// To a pipe the test reads (`process.0.stderr`).
    Piped,
}

/// Runs this test binary again as the test `test` (`module::name`), whose
/// body calls [`serve_child_node`] with `env_var`, over data directory
/// `dir`; returns once the node listens.
pub async fn start_child_node(test: &str, env_var: &str, dir: &std::path::Path, stderr: ChildStderr) -> ChildNode {
    start_child_node_with_env(test, env_var, dir, stderr, &[]).await
}

/// [`start_child_node`], with more environment variables for the child
/// (`ISLET_V8_FLAGS`, for one: V8's flags are per process).
pub async fn start_child_node_with_env(
    test: &str,
    env_var: &str,
    dir: &std::path::Path,
    stderr: ChildStderr,
    env: &[(&str, &str)],
) -> ChildNode {
    let addrs = dir.join("addrs");
    let _ = std::fs::remove_file(&addrs);
    let log_path = dir.join("child-output.log");
    let stderr = match stderr {
        ChildStderr::ToFile => std::process::Stdio::from(std::fs::File::create(&log_path).unwrap()),
        ChildStderr::Piped => std::process::Stdio::piped(),
    };
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .env(env_var, dir)
        .envs(env.iter().copied())
        .env_remove("ISLET_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut process = KillOnDrop(child);
    let started = std::time::Instant::now();
    let output = || std::fs::read_to_string(&log_path).unwrap_or_default();
    while !addrs.exists() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the child node did not start; its output:\n{}",
            output()
        );
        if let Some(status) = process.0.try_wait().unwrap() {
            panic!("the child node exited ({status}); its output:\n{}", output());
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let text = std::fs::read_to_string(&addrs).unwrap();
    let (admin, edge) = text.split_once(' ').unwrap();
    ChildNode {
        process,
        admin: admin.parse().unwrap(),
        edge: edge.parse().unwrap(),
    }
}

/// The body of a child-node test: when `env_var` names a data directory,
/// starts a node with `config(dir)`, publishes its addresses for
/// [`start_child_node`] and serves until killed; without the variable it
/// returns at once (the test then passes as a plain test).
pub fn serve_child_node(env_var: &str, config: impl FnOnce(&std::path::Path) -> islet_runtime::config::Config) {
    let Ok(dir) = std::env::var(env_var) else {
        return;
    };
    let dir = std::path::Path::new(&dir);
    let node = islet_runtime::serve::start(&config(dir)).expect("child node starts");
    let tmp = dir.join("addrs.tmp");
    std::fs::write(&tmp, format!("{} {}", node.admin_addr, node.edge_addr)).unwrap();
    std::fs::rename(&tmp, dir.join("addrs")).unwrap();
    node.wait();
}
