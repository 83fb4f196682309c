//! Script formats, routing, isolation between scripts, errors, streaming.

use crate::common::{
    admin_send, fixture, node_config, send, serve_child_node, start_child_node_with_env, ChildStderr, ScriptSpec,
    TempDir, TestServer, ADMIN_TOKEN,
};
use islet_runtime::script::ScriptVersion;

#[tokio::test]
async fn module_worker_answers() {
    let srv = TestServer::start(
        vec![ScriptSpec::new(
            "hello",
            r#"export default { async fetch(request, env, ctx) { return new Response("Hello " + new URL(request.url).pathname); } }"#,
            &["*/*"],
        )],
        1,
    )
    .await;
    let res = srv.get("/world").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.text(), "Hello /world");
    assert_eq!(res.header("content-type").as_deref(), Some("text/plain;charset=UTF-8"));
}

#[tokio::test]
async fn service_worker_format_answers() {
    let srv = TestServer::with_script("service_worker.js").await;
    let res = srv
        .request("PUT", "example.com", "/a/b?x=1", &[], b"body".to_vec())
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.text(), "sw PUT /a/b?x=1");
    assert_eq!(res.header("x-format").as_deref(), Some("service-worker"));
}

#[tokio::test]
async fn modules_import_each_other() {
    let mut modules = std::collections::BTreeMap::new();
    for path in ["index.js", "config.js", "lib/greet.js"] {
        modules.insert(path.to_string(), fixture(&format!("multi_module/{path}")));
    }
    let srv = TestServer::start(vec![], 1).await;
    srv.registry.put_script(ScriptVersion {
        name: "multi".into(),
        version: 1,
        modules,
        main: "index.js".into(),
        format: islet_runtime::script::ScriptFormat::Module,
        vars: Default::default(),
        limits: Default::default(),
        kv: Default::default(),
    });
    srv.registry
        .set_routes(&[islet_runtime::router::Route {
            pattern: "*/*".into(),
            script: "multi".into(),
        }])
        .unwrap();
    let res = srv.get("/").await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        res.json(),
        serde_json::json!({"greeting": "hello, modules!", "from": "multi_module"})
    );
}

#[tokio::test]
async fn routes_by_host_and_path() {
    let script = |name: &str| format!(r#"export default {{ fetch() {{ return new Response("{name}"); }} }}"#);
    let srv = TestServer::start(
        vec![
            ScriptSpec::new("api", script("api"), &["example.com/api/*"]),
            ScriptSpec::new("site", script("site"), &["example.com/*"]),
            ScriptSpec::new("subs", script("subs"), &["*.example.com/*"]),
            ScriptSpec::new("exact", script("exact"), &["other.org/only"]),
        ],
        1,
    )
    .await;
    assert_eq!(srv.get_host("example.com", "/api/users").await.text(), "api");
    assert_eq!(srv.get_host("example.com", "/index.html").await.text(), "site");
    assert_eq!(srv.get_host("example.com:8080", "/api").await.text(), "site");
    assert_eq!(srv.get_host("shop.example.com", "/").await.text(), "subs");
    assert_eq!(srv.get_host("other.org", "/only").await.text(), "exact");
    let miss = srv.get_host("other.org", "/elsewhere").await;
    assert_eq!(miss.status, 404);
    assert_eq!(srv.get_host("unknown.net", "/").await.status, 404);
}

#[tokio::test]
async fn scripts_cannot_see_each_others_globals() {
    let srv = TestServer::start(
        vec![
            ScriptSpec::new("writer", fixture("globals_writer.js"), &["writer.test/*"]),
            ScriptSpec::new("reader", fixture("globals_reader.js"), &["reader.test/*"]),
        ],
        1,
    )
    .await;
    assert_eq!(
        srv.get_host("writer.test", "/").await.text(),
        "writer count=1 secret=writer-secret"
    );
    assert_eq!(srv.get_host("reader.test", "/").await.text(), "reader sees=undefined");
    // Module state persists within one script's isolate.
    assert_eq!(
        srv.get_host("writer.test", "/").await.text(),
        "writer count=2 secret=writer-secret"
    );
}

#[tokio::test]
async fn uncaught_errors_become_500_and_the_server_keeps_serving() {
    let srv = TestServer::with_script("errors.js").await;
    for path in ["/throw", "/reject", "/not-a-response", "/later"] {
        let res = srv.get(path).await;
        assert_eq!(res.status, 500, "{path}");
        assert!(res.text().contains("uncaught exception"), "{path}: {}", res.text());
        assert!(!res.text().contains("thrown"), "stack must not leak to clients");
        let ok = srv.get("/ok").await;
        assert_eq!((ok.status, ok.text().as_str()), (200, "ok"));
    }
}

#[tokio::test]
async fn a_script_without_handler_or_with_syntax_error_gives_500_not_a_crash() {
    let srv = TestServer::start(
        vec![
            ScriptSpec::new("broken", "export default { fetch( { }", &["broken.test/*"]),
            ScriptSpec::new("nohandler", "export default {}", &["none.test/*"]),
            ScriptSpec::new(
                "fine",
                "export default { fetch() { return new Response('fine') } }",
                &["*/*"],
            ),
        ],
        1,
    )
    .await;
    assert_eq!(srv.get_host("broken.test", "/").await.status, 500);
    assert_eq!(srv.get_host("none.test", "/").await.status, 500);
    assert_eq!(srv.get_host("fine.test", "/").await.text(), "fine");
}

#[tokio::test]
async fn request_body_is_readable_as_text() {
    let srv = TestServer::with_script("streaming.js").await;
    let res = srv.post("/text", "héllo wörld".as_bytes().to_vec()).await;
    assert_eq!(res.text(), "héllo wörld");
}

#[tokio::test]
async fn generated_stream_reaches_the_client() {
    let srv = TestServer::with_script("streaming.js").await;
    let res = srv.get("/generate?chunks=20&size=1000").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.body.len(), 20_000);
    assert!(res.body[..1000].iter().all(|b| *b == b'a'));
    assert!(res.body[19_000..].iter().all(|b| *b == b'a' + 19));
}

/// Peak resident memory of this process, from /proc (Linux).
fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[tokio::test]
async fn a_1_gib_upload_is_echoed_back_without_being_held_in_memory() {
    use bytes::Bytes;
    use futures_util::StreamExt;
    use http_body_util::{BodyExt, StreamBody};

    const CHUNK: usize = 256 * 1024;
    const TOTAL: usize = 1 << 30;
    // Every chunk passes through the script's JS (reader -> response
    // stream), which costs CPU time: give this script a budget for 1 GiB.
    let mut options = islet_runtime::isolate::IsolateOptions::default();
    options.limits.cpu = std::time::Duration::from_secs(600);
    let srv = TestServer::start_with(
        vec![ScriptSpec::new("streaming", fixture("streaming.js"), &["*/*"])],
        1,
        options,
    )
    .await;
    let before = peak_rss_bytes();

    let chunk = Bytes::from(vec![7u8; CHUNK]);
    let upload = futures_util::stream::iter(
        (0..TOTAL / CHUNK).map(move |_| Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(chunk.clone()))),
    );
    let stream = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = http::Request::post("/echo")
        .header("host", "example.com")
        .body(StreamBody::new(upload))
        .unwrap();
    let res = sender.send_request(req).await.unwrap();
    assert_eq!(res.status(), 200);
    let mut body = res.into_body().into_data_stream();
    let mut received = 0usize;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap();
        assert!(chunk.iter().all(|b| *b == 7));
        received += chunk.len();
    }
    assert_eq!(received, TOTAL);
    let growth = peak_rss_bytes().saturating_sub(before);
    assert!(
        growth < 256 << 20,
        "peak memory grew by {} MiB while echoing 1 GiB",
        growth >> 20
    );
}

#[tokio::test]
async fn a_hono_app_answers_its_routes_with_json() {
    let srv = TestServer::with_script("hono_app.js").await;
    let res = srv.get("/").await;
    assert_eq!(
        (res.status, res.json()),
        (200, serde_json::json!({"message": "hello from hono"}))
    );
    let res = srv.get("/users/7").await;
    assert_eq!(res.json(), serde_json::json!({"id": "7", "name": "user-7"}));
    assert!(res
        .header("content-type")
        .unwrap_or_default()
        .starts_with("application/json"));
    let res = srv.get("/search?q=edge%20runtime").await;
    assert_eq!(res.json(), serde_json::json!({"q": "edge runtime"}));
    let res = srv
        .post_with_headers(
            "/echo",
            br#"{"a":[1,2]}"#.to_vec(),
            &[("content-type", "application/json")],
        )
        .await;
    assert_eq!(res.json(), serde_json::json!({"received": {"a": [1, 2]}}));
    let res = srv.get("/api/v1/ping").await;
    assert_eq!(res.json(), serde_json::json!({"pong": true}));
    assert_eq!(res.header("x-powered-by").as_deref(), Some("islet-test"));
    let res = srv.get("/api/v1/items/42").await;
    assert_eq!(res.json(), serde_json::json!({"item": "42"}));
    let res = srv.get("/nowhere").await;
    assert_eq!(
        (res.status, res.json()),
        (404, serde_json::json!({"error": "not found"}))
    );
    let res = srv.get("/boom").await;
    assert_eq!(
        (res.status, res.json()),
        (500, serde_json::json!({"error": "internal error", "message": "boom"}))
    );
}

#[tokio::test]
async fn an_itty_router_app_answers_its_routes_with_json() {
    let srv = TestServer::with_script("itty_app.js").await;
    let res = srv.get("/").await;
    assert_eq!(
        (res.status, res.json()),
        (200, serde_json::json!({"message": "hello from itty"}))
    );
    assert_eq!(
        srv.get("/users/9").await.json(),
        serde_json::json!({"id": "9", "name": "user-9"})
    );
    assert_eq!(srv.get("/search?q=x").await.json(), serde_json::json!({"q": "x"}));
    let res = srv.post("/echo", br#"{"k":"v"}"#.to_vec()).await;
    assert_eq!(res.json(), serde_json::json!({"received": {"k": "v"}}));
    let res = srv.get("/missing").await;
    assert_eq!(
        (res.status, res.json()),
        (404, serde_json::json!({"status": 404, "error": "not found"}))
    );
}

#[tokio::test]
async fn wait_until_work_runs_after_the_response() {
    let srv = TestServer::start(
        vec![ScriptSpec::new(
            "wait",
            r#"
            let log = [];
            export default {
              fetch(request, env, ctx) {
                const path = new URL(request.url).pathname;
                if (path === "/log") return Response.json(log);
                ctx.waitUntil(new Promise((r) => setTimeout(r, 30)).then(() => log.push("background done")));
                return new Response("responded");
              },
            };
            "#,
            &["*/*"],
        )],
        1,
    )
    .await;
    assert_eq!(srv.get("/work").await.text(), "responded");
    assert_eq!(
        srv.get("/log").await.json(),
        serde_json::json!([]),
        "waitUntil work must not delay the response"
    );
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(srv.get("/log").await.json(), serde_json::json!(["background done"]));
}

#[tokio::test]
async fn env_vars_reach_the_handler() {
    let srv = TestServer::start(vec![], 1).await;
    let mut script = ScriptVersion::single(
        "vars",
        1,
        "export default { fetch(req, env) { return Response.json(env) } }".into(),
    );
    script.vars.insert("GREETING".into(), "hi".into());
    srv.registry.put_script(script);
    srv.registry
        .set_routes(&[islet_runtime::router::Route {
            pattern: "*/*".into(),
            script: "vars".into(),
        }])
        .unwrap();
    assert_eq!(srv.get("/").await.json(), serde_json::json!({"GREETING": "hi"}));
}

/// Environment variable that turns [`eager_jit_child_node`] into a node.
const EAGER_JIT_CHILD_DIR: &str = "ISLET_TEST_EAGER_JIT_CHILD_DIR";

/// Not a test of its own: the body of the node that
/// `responses_stay_right_once_the_respond_path_is_optimised` starts (this
/// test binary, run again with `EAGER_JIT_CHILD_DIR` set). Without the
/// variable it returns at once.
#[test]
fn eager_jit_child_node() {
    serve_child_node(EAGER_JIT_CHILD_DIR, node_config);
}

/// Once V8 has optimised the runtime's respond path, responses go out
/// through the op's fast-API call (a flat one-byte string body with a
/// content type the runtime sets). They must stay byte for byte what the
/// slow call sends: Latin-1 text re-encoded as UTF-8, JSON, and bodies the
/// fast call does not take (none, here). The node runs in its own process
/// with V8 told to optimise after 200 calls instead of thousands, so the
/// fast call is reached within the test (checked by hand with a counter
/// in the fast path: from about the 400th round on).
#[tokio::test]
async fn responses_stay_right_once_the_respond_path_is_optimised() {
    let dir = TempDir::new("eager-jit");
    let node = start_child_node_with_env(
        "core::eager_jit_child_node",
        EAGER_JIT_CHILD_DIR,
        &dir.path,
        ChildStderr::ToFile,
        &[("ISLET_V8_FLAGS", "--invocation-count-for-turbofan=200")],
    )
    .await;
    let source = r#"export default { fetch(request) {
        const url = new URL(request.url);
        if (url.pathname === "/latin1") return new Response("café, naïve");
        if (url.pathname === "/json") return Response.json({ n: url.searchParams.get("n") });
        if (url.pathname === "/empty") return new Response(null, { status: 204 });
        return new Response("plain " + url.searchParams.get("n"));
      } }"#;
    let res = admin_send(
        node.admin,
        ADMIN_TOKEN,
        "PUT",
        "/v1/scripts/texts",
        Some("application/javascript"),
        source.as_bytes().to_vec(),
    )
    .await;
    assert!(res.status < 300, "upload: {}", res.text());
    let route = serde_json::json!({ "pattern": "*/*", "script": "texts" }).to_string();
    let res = admin_send(
        node.admin,
        ADMIN_TOKEN,
        "PUT",
        "/v1/routes/texts",
        Some("application/json"),
        route.into_bytes(),
    )
    .await;
    assert!(res.status < 300, "route: {}", res.text());
    async fn get(edge: std::net::SocketAddr, path: &str) -> crate::common::TestResponse {
        send(edge, "GET", "example.com", path, &[], Vec::new()).await
    }
    for i in 0..1500 {
        let res = get(node.edge, &format!("/latin1?n={i}")).await;
        assert_eq!(res.text(), "café, naïve", "round {i}");
        assert_eq!(res.header("content-type").as_deref(), Some("text/plain;charset=UTF-8"));
        let res = get(node.edge, &format!("/json?n={i}")).await;
        assert_eq!(res.json(), serde_json::json!({ "n": i.to_string() }), "round {i}");
        assert_eq!(res.header("content-type").as_deref(), Some("application/json"));
        let res = get(node.edge, &format!("/plain?n={i}")).await;
        assert_eq!(res.text(), format!("plain {i}"), "round {i}");
        let res = get(node.edge, "/empty").await;
        assert_eq!((res.status, res.text().as_str()), (204, ""), "round {i}");
        assert_eq!(res.header("content-type"), None);
    }
}
