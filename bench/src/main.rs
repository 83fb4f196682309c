//! islet benchmarks that run in-process and print their figures:
//!
//! - `cold-start`: (1) isolate + context from the startup snapshot, many
//!   times; (2) first request to never-served scripts end to end over
//!   loopback HTTP, each script on its own host.
//!
//! Usage: `cargo run --release -p islet-bench -- cold-start [--scripts 200]`
//! Throughput against Deno and workerd is `bench/throughput.sh`.

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use islet_runtime::isolate::{IsolateOptions, JsIsolate};
use islet_runtime::registry::Registry;
use islet_runtime::router::{Route, RouteTable};
use islet_runtime::script::ScriptVersion;
use islet_runtime::server::{self, ServerOptions};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<44} n={:<5} p50={:.3} ms  p90={:.3} ms  p99={:.3} ms  max={:.3} ms",
        samples.len(),
        ms(percentile(&samples, 0.5)),
        ms(percentile(&samples, 0.9)),
        ms(percentile(&samples, 0.99)),
        ms(*samples.last().unwrap_or(&Duration::ZERO)),
    );
}

struct Quiet;
impl islet_bindings::host::ConsoleSink for Quiet {
    fn write(&self, _: &str, _: islet_bindings::console::Level, _: &str) {}
}

/// Extra scripts for the spaced cold-start run.
fn spaced_count(scripts: usize) -> usize {
    (scripts / 2).max(10)
}

fn bench_isolates(n: usize) {
    islet_runtime::platform::init_v8();
    // Raw: isolate + context from the snapshot.
    let mut raw = Vec::with_capacity(n);
    let mut isolate_only = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let params = v8::CreateParams::default()
            .snapshot_blob(v8::StartupData::from(islet_runtime::platform::SNAPSHOT))
            .external_references(islet_runtime::platform::external_references());
        let mut isolate = v8::Isolate::new(params);
        isolate_only.push(start.elapsed());
        {
            v8::scope!(let scope, &mut isolate);
            let context = v8::Context::new(scope, Default::default());
            let _ = v8::ContextScope::new(scope, context);
        }
        raw.push(start.elapsed());
        drop(isolate);
    }
    report("isolate from snapshot (no context)", isolate_only);
    let mut plain = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let isolate = v8::Isolate::new(v8::CreateParams::default());
        plain.push(start.elapsed());
        drop(isolate);
    }
    report("isolate from V8's built-in snapshot", plain);
    report("isolate + context from snapshot", raw);

    // Isolate + context + a hello-world module loaded and its handler installed.
    let script = Arc::new(ScriptVersion::single(
        "hello",
        1,
        "export default { fetch() { return new Response('Hello World') } }".into(),
    ));
    let local = tokio::task::LocalSet::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    local.block_on(&rt, async {
        let mut loaded = Vec::with_capacity(n);
        for _ in 0..n {
            let start = Instant::now();
            let iso = JsIsolate::new(script.clone(), Rc::new(Quiet), IsolateOptions::default()).expect("isolate");
            loaded.push(start.elapsed());
            drop(iso);
        }
        report("isolate + context + script loaded", loaded);
    });
}

async fn bench_first_requests(scripts: usize) {
    let mut versions = Vec::new();
    let mut routes = Vec::new();
    for i in 0..scripts + spaced_count(scripts) {
        let name = format!("s{i}");
        versions.push(ScriptVersion::single(
            &name,
            1,
            format!("export default {{ async fetch(request) {{ return new Response('hello from {name}'); }} }}"),
        ));
        routes.push(Route {
            pattern: format!("{name}.test/*"),
            script: name,
        });
    }
    let registry = Arc::new(Registry::new(versions, RouteTable::new(&routes).expect("routes")));
    let options = ServerOptions {
        listen: "127.0.0.1:0".parse().expect("addr"),
        workers: 1,
        isolate: IsolateOptions::default(),
    };
    let handle = server::start(&options, registry).expect("server");
    let stream = tokio::net::TcpStream::connect(handle.edge_addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let get = |host: String| {
        http::Request::get("/")
            .header("host", host)
            .body(Empty::<Bytes>::new())
            .expect("request")
    };
    // Warm the connection and the thread with a script that is not measured.
    let mut first = Vec::with_capacity(scripts);
    let mut warm = Vec::with_capacity(scripts);
    for i in 0..scripts {
        sender.ready().await.expect("connection ready");
        let start = Instant::now();
        let res = sender.send_request(get(format!("s{i}.test"))).await.expect("response");
        let body = res.into_body().collect().await.expect("body").to_bytes();
        first.push(start.elapsed());
        assert_eq!(body, format!("hello from s{i}"));
    }
    for i in 0..scripts {
        sender.ready().await.expect("connection ready");
        let start = Instant::now();
        let res = sender.send_request(get(format!("s{i}.test"))).await.expect("response");
        let _ = res.into_body().collect().await;
        warm.push(start.elapsed());
    }
    report(&format!("first request to a new script ({scripts} scripts)"), first);
    report("second request to the same scripts", warm);
    // Cold starts as they usually arrive: now and then, so the thread has
    // quiet moments to prepare spare isolates.
    let mut spaced = Vec::new();
    for i in scripts..scripts + spaced_count(scripts) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        sender.ready().await.expect("connection ready");
        let start = Instant::now();
        let res = sender.send_request(get(format!("s{i}.test"))).await.expect("response");
        let _ = res.into_body().collect().await;
        spaced.push(start.elapsed());
    }
    report("first request, cold starts 20 ms apart", spaced);
    handle.shutdown();
}

/// The cost of one request inside the isolate, without the network: the
/// hello-world handler dispatched in a loop.
fn bench_dispatch(iterations: usize) {
    islet_runtime::platform::init_v8();
    let script = Arc::new(ScriptVersion::single(
        "hello",
        1,
        "export default { fetch() { return new Response('Hello World') } }".into(),
    ));
    let local = tokio::task::LocalSet::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    local.block_on(&rt, async {
        let mut iso = JsIsolate::new(script.clone(), Rc::new(Quiet), IsolateOptions::default()).expect("isolate");
        let run = |iso: &mut JsIsolate, n: usize| {
            for _ in 0..n {
                let mut pending = iso.dispatch_fetch(islet_runtime::isolate::IncomingRequest {
                    method: "GET",
                    url: "http://example.com/",
                    headers: http::HeaderMap::new(),
                    body: None,
                });
                match pending.try_recv() {
                    Ok(Ok(_head)) => {}
                    other => panic!("no synchronous response: {:?}", other.is_ok()),
                }
            }
        };
        run(&mut iso, 20_000.min(iterations));
        let start = Instant::now();
        run(&mut iso, iterations);
        let per = start.elapsed() / iterations as u32;
        println!(
            "dispatch of a hello-world request in the isolate: {:.2} us per request",
            per.as_secs_f64() * 1e6
        );
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let scripts = args
        .iter()
        .position(|a| a == "--scripts")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    match args.get(1).map(String::as_str) {
        Some("cold-start") | None => {
            bench_isolates(scripts);
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(bench_first_requests(scripts));
        }
        Some("dispatch") => {
            let iterations = args
                .iter()
                .position(|a| a == "--iterations")
                .and_then(|i| args.get(i + 1))
                .and_then(|s| s.parse().ok())
                .unwrap_or(200_000);
            bench_dispatch(iterations)
        }
        Some(other) => {
            eprintln!("unknown benchmark {other:?}; available: cold-start, dispatch");
            std::process::exit(2);
        }
    }
}
