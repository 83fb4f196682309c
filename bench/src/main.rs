//! islet benchmarks that run in-process and print their figures:
//!
//! - `cold-start`: (1) isolate + context from the startup snapshot, many
//!   times, and the heap one of them holds, beside the same from V8's own
//!   snapshot (no runtime: the floor on this machine); (2) first request to
//!   never-served scripts end to end over loopback HTTP, each script on its
//!   own host.
//!
//! - `kv`: KV get and put rates through a script, embedded and Redis
//!   (see `kv.rs`).
//!
//! - `metrics`: the cost of recording a request's metrics, and of a
//!   scrape (see `metrics.rs`).
//!
//! - `routes`: route lookup with a few to 30,000 routes (see `routes.rs`).
//!
//! Usage: `cargo run --release -p islet-bench -- cold-start [--scripts 200]`
//! `ISLET_BENCH_V8_FLAGS` passes V8 flags, e.g. `--single-threaded` so that
//! instruction counts under callgrind do not depend on when background
//! compiles finish.
//! Throughput against Deno and workerd is `bench/throughput.sh`.

mod kv;
mod metrics;
mod routes;

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use islet_runtime::isolate::{IsolateOptions, JsIsolate, SpareIsolate};
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

/// Extra scripts for the spaced cold-start run.
fn spaced_count(scripts: usize) -> usize {
    (scripts / 2).max(10)
}

/// The hello-world script the benchmarks load.
fn hello_script() -> Arc<ScriptVersion> {
    Arc::new(ScriptVersion::single(
        "hello",
        1,
        "export default { fetch() { return new Response('Hello World') } }".into(),
    ))
}

/// Runs `f` on a current-thread runtime with a `LocalSet`, as a worker
/// thread does (async ops spawn local tasks).
fn on_local_thread<F: std::future::Future>(f: F) -> F::Output {
    islet_runtime::platform::block_on_local("bench", f).expect("runtime")
}

fn bench_isolates(n: usize) {
    islet_runtime::platform::init_v8();
    // A server always has an isolate alive (cached or spare). V8 shares the
    // read-only heap among live isolates and rebuilds it when the last one
    // goes, so one is kept for the whole run, as in a server. A spare, as
    // it is not entered: islet locks its isolates to a thread, which wants
    // no other isolate entered there.
    let _resident = SpareIsolate::new(IsolateOptions::default().limits.heap_bytes).expect("resident isolate");
    // Raw: isolate + context from the snapshot.
    let mut raw = Vec::with_capacity(n);
    let mut isolate_only = Vec::with_capacity(n);
    let mut heap = None;
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
        if heap.is_none() {
            heap = Some(isolate.get_heap_statistics());
        }
        drop(isolate);
    }
    report("isolate from snapshot (no context)", isolate_only);
    // The floor on this machine: V8's own snapshot, no runtime in it.
    let mut plain = Vec::with_capacity(n);
    let mut plain_context = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let mut isolate = v8::Isolate::new(v8::CreateParams::default());
        plain.push(start.elapsed());
        {
            v8::scope!(let scope, &mut isolate);
            let context = v8::Context::new(scope, Default::default());
            let _ = v8::ContextScope::new(scope, context);
        }
        plain_context.push(start.elapsed());
        drop(isolate);
    }
    report("isolate from V8's built-in snapshot", plain);
    report("isolate + context from V8's snapshot", plain_context);
    report("isolate + context from snapshot", raw);
    if let Some(h) = heap {
        // What each idle isolate costs in memory, before any script.
        println!(
            "{:<44} used={} KB  committed={} KB  physical={} KB  external={} KB",
            "heap of an isolate + context",
            h.used_heap_size() / 1024,
            h.total_heap_size() / 1024,
            h.total_physical_size() / 1024,
            h.external_memory() / 1024,
        );
    }

    // Isolate + context + a hello-world module loaded and its handler installed.
    let script = hello_script();
    on_local_thread(async {
        let mut loaded = Vec::with_capacity(n);
        for _ in 0..n {
            let start = Instant::now();
            let iso = JsIsolate::new(
                script.clone(),
                Rc::new(islet_bindings::host::Unobserved),
                IsolateOptions::default(),
            )
            .expect("isolate");
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
    let handle = start_server(Registry::new(versions, RouteTable::new(&routes).expect("routes")), 1);
    let mut sender = connect(handle.edge_addr).await;
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
    let script = hello_script();
    on_local_thread(async {
        // Measured under valgrind too, where one request may take longer
        // than the default CPU budget: that budget is not what is measured.
        let mut options = IsolateOptions::default();
        options.limits.cpu = Duration::from_secs(3600);
        let mut iso =
            JsIsolate::new(script.clone(), Rc::new(islet_bindings::host::Unobserved), options).expect("isolate");
        let run = |iso: &mut JsIsolate, n: usize| {
            for _ in 0..n {
                let mut pending = iso.dispatch_fetch(islet_runtime::isolate::IncomingRequest {
                    method: "GET",
                    url: "http://example.com/",
                    headers: http::HeaderMap::new(),
                    request_id: 0,
                    usage: Default::default(),
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

/// CPU-limit overshoot: a script that spins forever is dispatched on a
/// fresh isolate each time; the CPU time the thread spent in the request
/// beyond the budget is the overshoot.
fn bench_cpu_limit(runs: usize, budget_ms: u64) {
    islet_runtime::platform::init_v8();
    let script = Arc::new(ScriptVersion::single(
        "spin",
        1,
        "export default { fetch() { while (true) {} } }".into(),
    ));
    let mut options = IsolateOptions::default();
    options.limits.cpu = Duration::from_millis(budget_ms);
    on_local_thread(async {
        let mut overshoot = Vec::with_capacity(runs);
        for _ in 0..runs {
            let mut iso =
                JsIsolate::new(script.clone(), Rc::new(islet_bindings::host::Unobserved), options).expect("isolate");
            let before = islet_runtime::isolate::watchdog::thread_cpu_now();
            let mut pending = iso.dispatch_fetch(islet_runtime::isolate::IncomingRequest {
                method: "GET",
                url: "http://example.com/",
                headers: http::HeaderMap::new(),
                request_id: 0,
                usage: Default::default(),
                body: None,
            });
            let used = Duration::from_nanos(islet_runtime::isolate::watchdog::thread_cpu_now() - before);
            assert!(
                matches!(pending.try_recv(), Ok(Err(_))),
                "the spinning request must be stopped"
            );
            overshoot.push(used.saturating_sub(Duration::from_millis(budget_ms)));
        }
        report(&format!("CPU overshoot past a {budget_ms} ms budget"), overshoot);
    });
}

/// An edge server on a loopback port with default limits and no request
/// log, serving `registry` on `workers` threads.
fn start_server(registry: Registry, workers: usize) -> server::ServerHandle {
    let options = ServerOptions {
        listen: "127.0.0.1:0".parse().expect("addr"),
        workers,
        isolate: IsolateOptions::default(),
        edge: Default::default(),
    };
    server::start(
        &options,
        Arc::new(registry),
        Arc::new(islet_runtime::observe::Observability::new(None)),
    )
    .expect("server")
}

/// One keep-alive HTTP/1 connection to the edge.
async fn connect(addr: std::net::SocketAddr) -> hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    sender
}

/// A well-behaved script served at a steady rate: latencies and errors.
async fn steady_client(addr: std::net::SocketAddr, period: Duration, total: Duration) -> (Vec<Duration>, usize) {
    let mut sender = connect(addr).await;
    let mut lat = Vec::new();
    let mut errors = 0;
    let end = Instant::now() + total;
    let mut tick = tokio::time::interval(period);
    while Instant::now() < end {
        tick.tick().await;
        if sender.ready().await.is_err() {
            sender = connect(addr).await;
        }
        let req = http::Request::get("/")
            .header("host", "good.test")
            .body(Empty::<Bytes>::new())
            .expect("request");
        let start = Instant::now();
        match sender.send_request(req).await {
            Ok(res) => {
                let ok = res.status() == 200;
                let _ = res.into_body().collect().await;
                lat.push(start.elapsed());
                if !ok {
                    errors += 1;
                }
            }
            Err(_) => errors += 1,
        }
    }
    (lat, errors)
}

/// Sends requests for `host` back to back until `stop`.
async fn attacker(addr: std::net::SocketAddr, host: &'static str, stop: Arc<std::sync::atomic::AtomicBool>) -> usize {
    let mut sent = 0;
    let mut sender = connect(addr).await;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        if sender.ready().await.is_err() {
            sender = connect(addr).await;
        }
        let req = http::Request::get("/")
            .header("host", host)
            .body(Empty::<Bytes>::new())
            .expect("request");
        if let Ok(res) = sender.send_request(req).await {
            let _ = res.into_body().collect().await;
        }
        sent += 1;
    }
    sent
}

/// Noisy neighbours: one script spins on every request, one allocates
/// until the heap limit, and a third, well-behaved one is served at a
/// steady rate; its latency and errors are compared with a quiet run.
async fn bench_neighbours(workers: usize, seconds: u64) {
    let scripts = vec![
        ScriptVersion::single("spin", 1, "export default { fetch() { while (true) {} } }".into()),
        ScriptVersion::single(
            "bomb",
            1,
            "export default { fetch() { const a = []; while (true) a.push(new Array(100000).fill(a.length)); } }"
                .into(),
        ),
        ScriptVersion::single(
            "good",
            1,
            "export default { fetch() { return new Response('ok'); } }".into(),
        ),
    ];
    let routes: Vec<Route> = ["spin", "bomb", "good"]
        .iter()
        .map(|s| Route {
            pattern: format!("{s}.test/*"),
            script: s.to_string(),
        })
        .collect();
    let handle = start_server(
        Registry::new(scripts, RouteTable::new(&routes).expect("routes")),
        workers,
    );
    let addr = handle.edge_addr;
    let period = Duration::from_millis(5);
    let total = Duration::from_secs(seconds);
    let run_good = || async move {
        let clients: Vec<_> = (0..4)
            .map(|_| tokio::spawn(steady_client(addr, period, total)))
            .collect();
        let mut lat = Vec::new();
        let mut errors = 0;
        for c in clients {
            let (l, e) = c.await.expect("client");
            lat.extend(l);
            errors += e;
        }
        (lat, errors)
    };
    let (quiet, quiet_errors) = run_good().await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let attackers: Vec<_> = [("spin.test"), ("bomb.test")]
        .iter()
        .map(|h| tokio::spawn(attacker(addr, h, stop.clone())))
        .collect();
    let (noisy, noisy_errors) = run_good().await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut attacks = 0;
    for a in attackers {
        attacks += a.await.unwrap_or(0);
    }
    println!("good script, {workers} worker threads, 4 clients x 200 req/s for {seconds} s each run:");
    report(&format!("  no attackers       (errors {quiet_errors})"), quiet);
    report(&format!("  spin + heap bombs  (errors {noisy_errors})"), noisy);
    println!("  attacker requests stopped by limits meanwhile: {attacks}");
    handle.shutdown();
}

fn main() {
    if let Ok(flags) = std::env::var("ISLET_BENCH_V8_FLAGS") {
        v8::V8::set_flags_from_string(&flags);
    }
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
        Some("cpu-limit") => bench_cpu_limit(scripts.min(200), 50),
        Some("neighbours") => {
            let workers = args
                .iter()
                .position(|a| a == "--workers")
                .and_then(|i| args.get(i + 1))
                .and_then(|s| s.parse().ok())
                .unwrap_or(2);
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(bench_neighbours(workers, 10));
        }
        Some("kv") => kv::run(&args),
        Some("routes") => routes::run(),
        Some("metrics") => metrics::run(&args),
        Some(other) => {
            eprintln!(
                "unknown benchmark {other:?}; available: cold-start, dispatch, cpu-limit, neighbours, kv, metrics, routes"
            );
            std::process::exit(2);
        }
    }
}
