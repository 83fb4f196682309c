//! Per-request limits (CPU time, memory, wall time) and the isolate
//! lifecycle (LRU cap, idle disposal), seen from a client.

use std::time::Duration;

use islet_runtime::isolate::IsolateOptions;

use crate::common::{fixture, ScriptSpec, TestServer};

fn options(cpu_ms: u64, heap_mb: usize) -> IsolateOptions {
    let mut o = IsolateOptions::default();
    o.limits.cpu = Duration::from_millis(cpu_ms);
    o.limits.heap_bytes = heap_mb << 20;
    o
}

async fn limits_server(o: IsolateOptions) -> TestServer {
    TestServer::start_with(vec![ScriptSpec::new("limits", fixture("limits.js"), &["*/*"])], 1, o).await
}

/// Asserts `path` is stopped by the CPU limit, and that the script is
/// served by a fresh isolate afterwards.
async fn assert_cpu_limit(srv: &TestServer, path: &str) {
    assert_eq!(srv.get("/count").await.text(), "1");
    let res = srv.get(path).await;
    assert_eq!(res.status, 503, "{path}: {}", res.text());
    assert!(res.text().contains("CPU time limit"), "{path}: {}", res.text());
    assert_eq!(
        srv.get("/count").await.text(),
        "1",
        "{path}: the next request must get a fresh isolate"
    );
}

#[tokio::test]
async fn an_infinite_loop_is_stopped_by_the_cpu_limit() {
    let srv = limits_server(options(50, 128)).await;
    assert_cpu_limit(&srv, "/spin").await;
}

#[tokio::test]
async fn a_busy_loop_in_a_promise_chain_is_stopped() {
    let srv = limits_server(options(50, 128)).await;
    assert_cpu_limit(&srv, "/spin-in-promise-chain").await;
}

#[tokio::test]
async fn a_loop_in_a_timer_callback_is_stopped() {
    let srv = limits_server(options(50, 128)).await;
    assert_cpu_limit(&srv, "/spin-in-timer").await;
}

#[tokio::test]
async fn waiting_does_not_count_as_cpu_time() {
    let srv = limits_server(options(50, 128)).await;
    let res = srv.get("/wait-longer-than-cpu-budget").await;
    assert_eq!((res.status, res.text().as_str()), (200, "waited"));
}

#[tokio::test]
async fn cpu_time_adds_up_across_the_entries_of_one_request() {
    let srv = limits_server(options(50, 128)).await;
    // Each burst alone fits; together they exceed the budget.
    assert_eq!(srv.get("/small-burst").await.text(), "fine");
    let res = srv.get("/bursts").await;
    assert_eq!(res.status, 503, "{}", res.text());
    // With a larger budget the same request completes.
    let srv = limits_server(options(5_000, 128)).await;
    assert_eq!(srv.get("/bursts").await.text(), "all bursts done");
}

#[tokio::test]
async fn a_growing_array_hits_the_memory_limit_without_crashing_the_process() {
    let srv = limits_server(options(5_000, 48)).await;
    assert_eq!(srv.get("/count").await.text(), "1");
    let res = srv.get("/array-bomb").await;
    assert_eq!(res.status, 503, "{}", res.text());
    assert!(res.text().contains("memory limit"), "{}", res.text());
    assert_eq!(srv.get("/count").await.text(), "1");
}

#[tokio::test]
async fn growing_strings_hit_the_memory_limit_without_crashing_the_process() {
    let srv = limits_server(options(5_000, 48)).await;
    let res = srv.get("/string-bomb").await;
    assert_eq!(res.status, 503, "{}", res.text());
    assert!(res.text().contains("memory limit"), "{}", res.text());
    assert_eq!(srv.get("/count").await.text(), "1");
}

#[tokio::test]
async fn the_wall_time_limit_gives_504() {
    let mut o = options(50, 128);
    o.limits.wall = Duration::from_millis(300);
    let srv = limits_server(o).await;
    let res = srv.get("/slow").await;
    assert_eq!(res.status, 504, "{}", res.text());
    assert!(res.text().contains("wall time limit"), "{}", res.text());
    // The isolate is still healthy: only that request was cut.
    assert_eq!(srv.get("/count").await.text(), "1");
    assert_eq!(srv.get("/count").await.text(), "2");
}

#[tokio::test]
async fn per_script_limits_override_the_defaults() {
    let srv = TestServer::start_with(vec![], 1, options(50, 128)).await;
    let mut script = islet_runtime::script::ScriptVersion::single("limits", 1, fixture("limits.js"));
    script.limits.cpu_ms = Some(5_000);
    srv.registry.put_script(script);
    srv.registry
        .set_routes(&[islet_runtime::router::Route {
            pattern: "*/*".into(),
            script: "limits".into(),
        }])
        .unwrap();
    assert_eq!(srv.get("/bursts").await.text(), "all bursts done");
}

const COUNTER: &str = "let n = 0;\nexport default { fetch() { return new Response(String(++n)); } }";

#[tokio::test]
async fn the_least_recently_used_isolate_is_evicted_beyond_the_cap() {
    let o = IsolateOptions {
        max_isolates: 2,
        ..Default::default()
    };
    let srv = TestServer::start_with(
        vec![
            ScriptSpec::new("a", COUNTER, &["a.test/*"]),
            ScriptSpec::new("b", COUNTER, &["b.test/*"]),
            ScriptSpec::new("c", COUNTER, &["c.test/*"]),
        ],
        1,
        o,
    )
    .await;
    assert_eq!(srv.get_host("a.test", "/").await.text(), "1");
    assert_eq!(srv.get_host("b.test", "/").await.text(), "1");
    assert_eq!(
        srv.get_host("a.test", "/").await.text(),
        "2",
        "within the cap, isolates are kept"
    );
    // c pushes out the least recently used one: b.
    assert_eq!(srv.get_host("c.test", "/").await.text(), "1");
    assert_eq!(
        srv.get_host("a.test", "/").await.text(),
        "3",
        "a was used recently and stays"
    );
    assert_eq!(
        srv.get_host("b.test", "/").await.text(),
        "1",
        "b was evicted and starts fresh"
    );
}

#[tokio::test]
async fn idle_isolates_are_disposed() {
    let o = IsolateOptions {
        idle_timeout: Duration::from_millis(100),
        ..Default::default()
    };
    let srv = TestServer::start_with(vec![ScriptSpec::new("a", COUNTER, &["*/*"])], 1, o).await;
    assert_eq!(srv.get("/").await.text(), "1");
    assert_eq!(srv.get("/").await.text(), "2");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        srv.get("/").await.text(),
        "1",
        "the idle isolate was disposed; this is a fresh one"
    );
}

#[tokio::test]
async fn a_top_level_infinite_loop_fails_the_load_not_the_thread() {
    let srv = TestServer::start_with(
        vec![
            ScriptSpec::new(
                "stuck",
                "while (true) {}\nexport default { fetch() { return new Response('x') } }",
                &["stuck.test/*"],
            ),
            ScriptSpec::new("fine", COUNTER, &["*/*"]),
        ],
        1,
        options(50, 128),
    )
    .await;
    assert_eq!(srv.get_host("stuck.test", "/").await.status, 500);
    assert_eq!(srv.get_host("fine.test", "/").await.text(), "1");
}

#[tokio::test]
async fn a_script_that_keeps_breaking_its_limits_is_throttled_and_others_are_not() {
    let srv = TestServer::start_with(
        vec![
            ScriptSpec::new("limits", fixture("limits.js"), &["spin.test/*"]),
            ScriptSpec::new("good", COUNTER, &["*/*"]),
        ],
        1,
        options(20, 128),
    )
    .await;
    // The first breaches each get a fresh isolate and a 503 naming the limit.
    for _ in 0..4 {
        let res = srv.get_host("spin.test", "/spin").await;
        assert!(res.text().contains("CPU time limit"), "{}", res.text());
    }
    // Then the script is refused for a while, without running.
    let res = srv.get_host("spin.test", "/count").await;
    assert_eq!(res.status, 503);
    assert!(res.text().contains("throttled"), "{}", res.text());
    assert!(res.header("retry-after").is_some());
    // Other scripts on the same thread are served as usual.
    assert_eq!(srv.get_host("good.test", "/").await.text(), "1");
}

#[tokio::test]
async fn a_streamed_response_survives_a_deploy_of_a_new_version() {
    const STREAMER: &str = r#"
const V = "v1";
export default {
  fetch() {
    let i = 0;
    const stream = new ReadableStream({
      async pull(controller) {
        if (i === 6) return controller.close();
        await new Promise((r) => setTimeout(r, 50));
        controller.enqueue(new TextEncoder().encode(V + "-" + ++i + ";"));
      },
    });
    return new Response(stream);
  },
};
"#;
    let srv = TestServer::start(vec![ScriptSpec::new("s", STREAMER, &["*/*"])], 1).await;
    let registry = srv.registry.clone();
    let deploy = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(120)).await;
        registry.put_script(islet_runtime::script::ScriptVersion::single(
            "s",
            2,
            STREAMER.replace("\"v1\"", "\"v2\""),
        ));
    });
    let res = srv.get("/").await;
    deploy.await.unwrap();
    assert_eq!(
        res.text(),
        "v1-1;v1-2;v1-3;v1-4;v1-5;v1-6;",
        "the in-flight stream finishes on the old version"
    );
    assert!(
        srv.get("/").await.text().starts_with("v2-1;"),
        "new requests get the new version"
    );
}

#[tokio::test]
async fn an_isolate_stopped_with_async_work_pending_leaves_the_thread_idle() {
    // Timers and pending ops of a stopped isolate must not keep its event
    // loop busy: the thread goes on serving, and quickly.
    const SCRIPT: &str = r#"
let n = 0;
export default {
  async fetch(request) {
    if (new URL(request.url).pathname === "/spin") {
      for (let i = 0; i < 100; i++) setTimeout(() => {}, 1);
      const pending = new Promise((r) => setTimeout(r, 5));
      while (true) {}
    }
    return new Response(String(++n));
  },
};
"#;
    let srv = TestServer::start_with(vec![ScriptSpec::new("s", SCRIPT, &["*/*"])], 1, options(30, 128)).await;
    assert_eq!(srv.get("/spin").await.status, 503);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let start = std::time::Instant::now();
    for _ in 0..20 {
        assert_eq!(srv.get("/").await.status, 200);
    }
    assert!(start.elapsed() < Duration::from_secs(5), "the worker thread is busy");
}

#[tokio::test]
async fn deep_recursion_works_and_a_stack_overflow_is_a_range_error_the_script_catches() {
    // Cold starts of several scripts on two workers: a worker starts with
    // a spare made on the factory thread in stock, and the factory refills
    // it between these requests (a worker makes an isolate itself only
    // when its stock is empty).
    let source = fixture("deep_recursion.js");
    let scripts: Vec<ScriptSpec> = (0..6)
        .map(|i| ScriptSpec::new(&format!("recursion{i}"), source.clone(), &[&format!("r{i}.test/*")]))
        .collect();
    let srv = TestServer::start(scripts, 2).await;
    for i in 0..6 {
        let host = format!("r{i}.test");
        let res = srv.get_host(&host, "/deep").await;
        assert_eq!((res.status, res.text().as_str()), (200, "5000"), "{host}");
        let res = srv.get_host(&host, "/overflow").await;
        assert_eq!(
            (res.status, res.text().as_str()),
            (200, "RangeError: Maximum call stack size exceeded"),
            "{host}"
        );
    }
}
