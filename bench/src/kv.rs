//! `kv`: KV get and put rates through a script, on the embedded store and
//! on Redis. A whole node (`serve::start`, one worker thread) serves a
//! script that calls `env.KV.get` or `env.KV.put` once per request; a
//! client with `--connections` keep-alive connections drives it for
//! `--seconds` per row. A row without KV (the same script answering
//! without touching it) gives the baseline; two more rows call the KV
//! store directly (no HTTP, no JS) from as many tasks.
//!
//! Redis: `--redis URL` uses that server; otherwise the benchmark starts a
//! `redis-server` of its own on a free port (skipped when none is installed).
//!
//! Usage: `cargo run --release -p islet-bench -- kv [--seconds 5]
//! [--connections 32] [--value-bytes 100] [--keys 10000] [--redis redis://...]`

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use islet_bindings::kv::{KvStore, PutOptions};
use islet_runtime::config::Config;
use islet_runtime::router::Route;
use islet_runtime::script::ScriptVersion;

const SCRIPT: &str = r#"
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const key = url.searchParams.get("k");
    switch (url.pathname) {
      case "/put":
        await env.KV.put(key, env.VALUE);
        return new Response("ok");
      case "/get": {
        const value = await env.KV.get(key);
        return new Response(value === null ? "missing" : "hit");
      }
      default:
        return new Response("ok");
    }
  },
};
"#;

/// Settings of the KV benchmark.
#[derive(Clone)]
struct Options {
    seconds: u64,
    connections: usize,
    value_bytes: usize,
    keys: u64,
    redis: Option<String>,
}

fn flag<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Runs the benchmark with the command-line `args`.
pub fn run(args: &[String]) {
    let options = Options {
        seconds: flag(args, "--seconds", 5),
        connections: flag(args, "--connections", 32),
        value_bytes: flag(args, "--value-bytes", 100),
        keys: flag(args, "--keys", 10_000),
        redis: args
            .iter()
            .position(|a| a == "--redis")
            .and_then(|i| args.get(i + 1))
            .cloned(),
    };
    println!(
        "KV through a script: {} connections, {}-byte values, {} keys, {} s per row, 1 worker thread",
        options.connections, options.value_bytes, options.keys, options.seconds
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let data = tempdir("embedded");
    rt.block_on(bench_backend("embedded", &data, None, &options));
    let _ = std::fs::remove_dir_all(&data);
    let (url, server) = match &options.redis {
        Some(url) => (Some(url.clone()), None),
        None => match RedisServer::start() {
            Some(s) => (Some(s.url()), Some(s)),
            None => {
                println!("redis: skipped (no redis-server on PATH; pass --redis URL)");
                (None, None)
            }
        },
    };
    if let Some(url) = url {
        let data = tempdir("redis");
        rt.block_on(bench_backend("redis", &data, Some(url), &options));
        let _ = std::fs::remove_dir_all(&data);
    }
    drop(server);
}

fn tempdir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("islet-bench-kv-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

async fn bench_backend(name: &str, data: &std::path::Path, redis: Option<String>, options: &Options) {
    let config = Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        admin_listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: data.to_path_buf(),
        workers: 1,
        store: redis,
        ..Config::default()
    };
    let node = islet_runtime::serve::start(&config).expect("node starts");
    let mut script = ScriptVersion::single("kvbench", 1, SCRIPT.to_string());
    script.vars.insert("VALUE".into(), "v".repeat(options.value_bytes));
    script.kv.namespaces.insert("KV".into(), "bench".into());
    node.registry.put_script(script.with_kv_store(&node.kv));
    node.registry
        .set_routes(&[Route {
            pattern: "*/*".into(),
            script: "kvbench".into(),
        }])
        .expect("route");
    let addr = node.edge_addr;
    let keys = options.keys;
    // Warm up: the isolate, the connections, the backend's first write.
    let warm_up = Options {
        seconds: 1,
        ..options.clone()
    };
    drive(addr, &warm_up, move |i| format!("/put?k=warm{}", i % 100)).await;
    let baseline = drive(addr, options, move |_| "/none".to_string()).await;
    row(name, "no KV (baseline)", &baseline);
    let put = drive(addr, options, move |i| format!("/put?k=key{}", i % keys)).await;
    row(name, "put", &put);
    let get = drive(addr, options, move |i| format!("/get?k=key{}", i % keys)).await;
    row(name, "get (hits)", &get);
    let miss = drive(addr, options, move |i| format!("/get?k=absent{}", i % keys)).await;
    row(name, "get (misses)", &miss);
    // The backend alone, without HTTP or JS: what the store itself sustains.
    let value = vec![b'v'; options.value_bytes];
    let put = direct(&node.kv, options, move |kv, i| {
        let value = value.clone();
        async move {
            kv.put("bench", &format!("key{}", i % keys), value, PutOptions::default())
                .await
                .is_ok()
        }
    })
    .await;
    row(name, "store put (no JS)", &put);
    let get = direct(&node.kv, options, move |kv, i| async move {
        kv.get("bench", &format!("key{}", i % keys))
            .await
            .is_ok_and(|v| v.is_some())
    })
    .await;
    row(name, "store get (no JS)", &get);
    node.shutdown();
}

/// What one row measured.
struct Outcome {
    requests: u64,
    errors: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

fn row(backend: &str, what: &str, o: &Outcome) {
    let mut lat = o.latencies.clone();
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len().saturating_sub(1)) as f64 * p).round() as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "{backend:<9} {what:<18} {:>9.0} req/s  p50={:.2} ms  p99={:.2} ms  errors={}",
        o.requests as f64 / o.elapsed.as_secs_f64(),
        pct(0.5),
        pct(0.99),
        o.errors
    );
}

/// Keeps `connections` connections busy for `seconds`, request `i` going
/// to `path(i)`.
async fn drive(
    addr: std::net::SocketAddr,
    options: &Options,
    path: impl Fn(u64) -> String + Send + Sync + 'static,
) -> Outcome {
    let path = Arc::new(path);
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..options.connections {
        let (path, next, errors, stop) = (path.clone(), next.clone(), errors.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let _ = stream.set_nodelay(true);
            let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .expect("handshake");
            tokio::spawn(conn);
            while !stop.load(Ordering::Relaxed) {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let req = http::Request::get(path(i))
                    .header("host", "bench.test")
                    .body(Empty::<Bytes>::new())
                    .expect("request");
                if sender.ready().await.is_err() {
                    errors.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                let at = Instant::now();
                match sender.send_request(req).await {
                    Ok(res) => {
                        let status = res.status();
                        let body = res
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        latencies.push(at.elapsed());
                        if !status.is_success() && errors.fetch_add(1, Ordering::Relaxed) == 0 {
                            eprintln!("first error: {status} {}", String::from_utf8_lossy(&body));
                        }
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
            }
            latencies
        }));
    }
    tokio::time::sleep(Duration::from_secs(options.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap_or_default());
    }
    let elapsed = started.elapsed();
    Outcome {
        requests: latencies.len() as u64,
        errors: errors.load(Ordering::Relaxed),
        elapsed,
        latencies,
    }
}

/// Runs `op` from `connections` concurrent tasks for `seconds` against
/// the KV store directly.
async fn direct<F, Fut>(kv: &Arc<KvStore>, options: &Options, op: F) -> Outcome
where
    F: Fn(Arc<KvStore>, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..options.connections {
        let (op, kv, next, errors, stop) = (op.clone(), kv.clone(), next.clone(), errors.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let at = Instant::now();
                if !op(kv.clone(), i).await {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                latencies.push(at.elapsed());
            }
            latencies
        }));
    }
    tokio::time::sleep(Duration::from_secs(options.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap_or_default());
    }
    Outcome {
        requests: latencies.len() as u64,
        errors: errors.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
        latencies,
    }
}

/// A `redis-server` of the benchmark's own, on a free port, without
/// persistence; stopped when dropped.
struct RedisServer {
    child: std::process::Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl RedisServer {
    fn start() -> Option<RedisServer> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .ok()?
            .port();
        let dir = tempdir("redis-server");
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
            .arg("--dir")
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let server = RedisServer { child, port, dir };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(server);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
