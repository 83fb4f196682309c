//! The admin API, the durable store and `islet deploy`, end to end: a real
//! node (store, edge, admin API) on loopback, driven over HTTP the way an
//! operator or the CLI drives it.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{
    admin_send, fixture, fixture_path, multipart, send, serve_child_node, start_child_node, try_send, ChildNode,
    ChildStderr, TempDir, TestNode, ADMIN_TOKEN,
};
use islet_runtime::deploy::{self, DeployArgs};

fn hello(text: &str) -> String {
    format!(r#"export default {{ fetch() {{ return new Response({text:?}); }} }}"#)
}

fn version_numbers(details: &Value) -> Vec<u64> {
    details["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn healthz_answers_without_a_token() {
    let dir = TempDir::new("healthz");
    let node = TestNode::start(&dir.path);
    let res = send(node.admin, "GET", "localhost", "/healthz", &[], Vec::new()).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["status"], "ok");
}

#[tokio::test]
async fn a_missing_or_wrong_token_gets_401_and_changes_nothing() {
    let dir = TempDir::new("auth");
    let node = TestNode::start(&dir.path);
    let source = hello("sneaky").into_bytes();
    for auth in [
        None,
        Some("Bearer wrong-token"),
        Some("Basic dGVzdA=="),
        Some(ADMIN_TOKEN),
    ] {
        let mut headers = vec![("content-type", "application/javascript")];
        if let Some(a) = auth {
            headers.push(("authorization", a));
        }
        for (method, path) in [
            ("PUT", "/v1/scripts/sneaky"),
            ("GET", "/v1/scripts"),
            ("DELETE", "/v1/routes/r1"),
            ("GET", "/v1/nowhere"),
        ] {
            let res = send(node.admin, method, "localhost", path, &headers, source.clone()).await;
            assert_eq!(res.status, 401, "{method} {path} with {auth:?}");
            assert!(res.json()["error"].as_str().unwrap().contains("token"));
            assert_eq!(res.header("www-authenticate").as_deref(), Some("Bearer"));
        }
    }
    let list = node.admin_get("/v1/scripts").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.json()["scripts"], json!([]));
}

#[tokio::test]
async fn upload_route_and_curl() {
    let dir = TempDir::new("upload");
    let node = TestNode::start(&dir.path);
    let res = node.upload("hello", &hello("hello from islet")).await;
    assert_eq!(res.status, 201, "{}", res.text());
    let body = res.json();
    assert_eq!(body["name"], "hello");
    assert_eq!(body["version"], 1);
    assert_eq!(body["created"], true);
    // Uploaded but not routed: the edge does not serve it yet.
    assert_eq!(node.edge_get("example.com", "/").await.status, 404);

    let res = node.route("main", "example.com/*", "hello").await;
    assert_eq!(res.status, 201, "{}", res.text());
    assert_eq!(
        res.json(),
        json!({"id": "main", "pattern": "example.com/*", "script": "hello"})
    );
    let res = node.edge_get("example.com", "/anything").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.text(), "hello from islet");
    assert_eq!(node.edge_get("other.org", "/").await.status, 404);
}

#[tokio::test]
async fn an_update_is_live_when_its_response_returns_and_in_flight_requests_finish_on_the_old_version() {
    let dir = TempDir::new("update");
    let node = TestNode::start(&dir.path);
    let v1 = r#"export default { async fetch(request) {
        if (new URL(request.url).pathname === "/slow") await new Promise((r) => setTimeout(r, 800));
        return new Response("v1");
    } }"#;
    assert_eq!(node.upload("app", v1).await.status, 201);
    assert_eq!(node.route("app", "*/*", "app").await.status, 201);
    assert_eq!(node.edge_get("example.com", "/").await.text(), "v1");

    let edge = node.edge;
    let slow = tokio::spawn(async move { send(edge, "GET", "example.com", "/slow", &[], Vec::new()).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let res = node.upload("app", &hello("v2")).await;
    assert_eq!(res.status, 200, "an update answers 200: {}", res.text());
    assert_eq!(res.json()["version"], 2);
    assert_eq!(res.json()["created"], false);
    // The very next request gets the new version...
    assert_eq!(node.edge_get("example.com", "/").await.text(), "v2");
    // ...while the one that started before the deploy finishes on v1.
    let slow = slow.await.unwrap();
    assert_eq!(slow.status, 200);
    assert_eq!(slow.text(), "v1");
}

#[tokio::test]
async fn list_and_details_show_versions_and_routes() {
    let dir = TempDir::new("list");
    let node = TestNode::start(&dir.path);
    for text in ["one", "two", "three"] {
        assert!(node.upload("alpha", &hello(text)).await.status < 300);
    }
    assert_eq!(node.upload("beta", &hello("beta")).await.status, 201);
    assert_eq!(
        node.route("alpha-route", "alpha.example.com/*", "alpha").await.status,
        201
    );

    let list = node.admin_get("/v1/scripts").await.json();
    let scripts = list["scripts"].as_array().unwrap();
    assert_eq!(scripts.len(), 2);
    assert_eq!(scripts[0]["name"], "alpha");
    assert_eq!(scripts[0]["current_version"], 3);
    assert_eq!(scripts[0]["routes"][0]["pattern"], "alpha.example.com/*");
    assert_eq!(scripts[1]["name"], "beta");
    assert_eq!(scripts[1]["routes"], json!([]));

    let details = node.admin_get("/v1/scripts/alpha").await;
    assert_eq!(details.status, 200);
    let details = details.json();
    assert_eq!(version_numbers(&details), vec![1, 2, 3]);
    assert_eq!(details["current"]["version"], 3);
    assert_eq!(details["versions"][2]["current"], true);
    assert_eq!(details["versions"][0]["current"], false);
    assert_eq!(details["current"]["modules"], json!(["alpha.js"]));
    assert_eq!(details["current"]["format"], "module");

    let missing = node.admin_get("/v1/scripts/gamma").await;
    assert_eq!(missing.status, 404);
    assert!(missing.json()["error"].as_str().unwrap().contains("gamma"));
}

#[tokio::test]
async fn rollback_returns_to_the_previous_version() {
    let dir = TempDir::new("rollback");
    let node = TestNode::start(&dir.path);
    for text in ["v1", "v2", "v3"] {
        assert!(node.upload("app", &hello(text)).await.status < 300);
    }
    assert_eq!(node.route("app", "*/*", "app").await.status, 201);
    assert_eq!(node.edge_get("example.com", "/").await.text(), "v3");

    let res = node.admin("POST", "/v1/scripts/app/rollback", None, Vec::new()).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["version"], 2);
    assert_eq!(res.json()["rolled_back_from"], 3);
    assert_eq!(node.edge_get("example.com", "/").await.text(), "v2");

    let res = node.admin("POST", "/v1/scripts/app/rollback", None, Vec::new()).await;
    assert_eq!(res.json()["version"], 1);
    assert_eq!(node.edge_get("example.com", "/").await.text(), "v1");

    let res = node.admin("POST", "/v1/scripts/app/rollback", None, Vec::new()).await;
    assert_eq!(res.status, 409, "nothing before v1: {}", res.text());
    assert_eq!(node.edge_get("example.com", "/").await.text(), "v1");

    // Back to a named version, and a version that does not exist.
    let body = br#"{"version": 3}"#.to_vec();
    let res = node
        .admin("POST", "/v1/scripts/app/rollback", Some("application/json"), body)
        .await;
    assert_eq!(res.json()["version"], 3);
    assert_eq!(node.edge_get("example.com", "/").await.text(), "v3");
    let body = br#"{"version": 9}"#.to_vec();
    let res = node
        .admin("POST", "/v1/scripts/app/rollback", Some("application/json"), body)
        .await;
    assert_eq!(res.status, 404);

    // Versions are all kept, and the next upload gets a new number.
    let res = node.upload("app", &hello("v4")).await;
    assert_eq!(res.json()["version"], 4);
    let details = node.admin_get("/v1/scripts/app").await.json();
    assert_eq!(version_numbers(&details), vec![1, 2, 3, 4]);
    assert_eq!(node.edge_get("example.com", "/").await.text(), "v4");

    let res = node.admin("POST", "/v1/scripts/nope/rollback", None, Vec::new()).await;
    assert_eq!(res.status, 404);
}

#[tokio::test]
async fn delete_removes_the_script_and_its_routes() {
    let dir = TempDir::new("delete");
    let node = TestNode::start(&dir.path);
    assert_eq!(node.upload("doomed", &hello("doomed")).await.status, 201);
    assert_eq!(node.upload("keeper", &hello("keeper")).await.status, 201);
    assert_eq!(node.route("d1", "doomed.example.com/*", "doomed").await.status, 201);
    assert_eq!(node.route("d2", "example.com/doomed/*", "doomed").await.status, 201);
    assert_eq!(node.route("k1", "*/*", "keeper").await.status, 201);
    assert_eq!(node.edge_get("doomed.example.com", "/").await.text(), "doomed");

    let res = node.admin("DELETE", "/v1/scripts/doomed", None, Vec::new()).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let body = res.json();
    assert_eq!(body["deleted"], "doomed");
    assert_eq!(body["routes_removed"].as_array().unwrap().len(), 2);

    // Its hosts fall through to the catch-all of the other script.
    assert_eq!(node.edge_get("doomed.example.com", "/").await.text(), "keeper");
    assert_eq!(node.admin_get("/v1/scripts/doomed").await.status, 404);
    let routes = node.admin_get("/v1/routes").await.json();
    assert_eq!(
        routes["routes"],
        json!([{"id": "k1", "pattern": "*/*", "script": "keeper"}])
    );
    let again = node.admin("DELETE", "/v1/scripts/doomed", None, Vec::new()).await;
    assert_eq!(again.status, 404);

    // The name can be used again, from version 1.
    let res = node.upload("doomed", &hello("reborn")).await;
    assert_eq!((res.status, res.json()["version"].as_u64()), (201, Some(1)));
}

#[tokio::test]
async fn routes_are_created_replaced_listed_and_deleted() {
    let dir = TempDir::new("routes");
    let node = TestNode::start(&dir.path);
    assert_eq!(node.upload("api", &hello("api")).await.status, 201);
    assert_eq!(node.upload("site", &hello("site")).await.status, 201);

    assert_eq!(node.route("site", "example.com/*", "site").await.status, 201);
    assert_eq!(node.route("api", "example.com/api/*", "api").await.status, 201);
    assert_eq!(node.edge_get("example.com", "/api/users").await.text(), "api");
    assert_eq!(node.edge_get("example.com", "/index.html").await.text(), "site");

    // Replacing a route moves its traffic.
    let res = node.route("api", "api.example.com/*", "api").await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(node.edge_get("example.com", "/api/users").await.text(), "site");
    assert_eq!(node.edge_get("api.example.com", "/users").await.text(), "api");
    let one = node.admin_get("/v1/routes/api").await;
    assert_eq!(one.json()["pattern"], "api.example.com/*");

    // A pattern another route serves, a script that does not exist, a bad pattern.
    let res = node.route("dup", "EXAMPLE.com/*", "api").await;
    assert_eq!(res.status, 409, "{}", res.text());
    assert!(res.json()["error"].as_str().unwrap().contains("site"));
    let res = node.route("ghost", "ghost.example.com/*", "ghost").await;
    assert_eq!(res.status, 404, "{}", res.text());
    let res = node.route("bad", "ex*ample.com/*", "api").await;
    assert_eq!(res.status, 400);
    assert!(res.json()["error"].as_str().unwrap().contains("wildcard"));

    let list = node.admin_get("/v1/routes").await.json();
    assert_eq!(
        list["routes"],
        json!([
            {"id": "api", "pattern": "api.example.com/*", "script": "api"},
            {"id": "site", "pattern": "example.com/*", "script": "site"},
        ])
    );

    let res = node.admin("DELETE", "/v1/routes/site", None, Vec::new()).await;
    assert_eq!(res.status, 200);
    assert_eq!(node.edge_get("example.com", "/").await.status, 404);
    assert_eq!(
        node.admin("DELETE", "/v1/routes/site", None, Vec::new()).await.status,
        404
    );
    assert_eq!(node.admin_get("/v1/routes/site").await.status, 404);
}

fn deploy_env_parts() -> Vec<(String, Vec<u8>)> {
    ["index.js", "lib/shout.js"]
        .iter()
        .map(|p| (p.to_string(), fixture(&format!("deploy_env/{p}")).into_bytes()))
        .collect()
}

#[tokio::test]
async fn multipart_upload_carries_modules_bindings_limits_and_routes() {
    let dir = TempDir::new("multipart");
    let node = TestNode::start(&dir.path);
    let metadata = json!({
        "main": "index.js",
        "bindings": {
            "vars": {"GREETING": "hello"},
            "secrets": {"API_KEY": "s3cret-value"},
            "kv_namespaces": {"CACHE": "cache-ns"},
        },
        "limits": {"cpu_ms": 20, "heap_mb": 64},
        "routes": ["env.example.com/*", {"pattern": "example.com/env/*"}],
    })
    .to_string();
    let modules = deploy_env_parts();
    let mut parts: Vec<(&str, Option<&str>, &str, &[u8])> =
        vec![("metadata", None, "application/json", metadata.as_bytes())];
    // Modules in reverse order: `main` picks the entry, not the order.
    for (path, bytes) in modules.iter().rev() {
        parts.push((path, Some(path), "application/javascript+module", bytes));
    }
    let (content_type, body) = multipart(&parts);
    let res = node.admin("PUT", "/v1/scripts/envy", Some(&content_type), body).await;
    assert_eq!(res.status, 201, "{}", res.text());
    let answer = res.text();
    assert!(
        !answer.contains("s3cret-value"),
        "the API never returns a secret: {answer}"
    );
    let answer = res.json();
    assert_eq!(answer["main"], "index.js");
    assert_eq!(answer["modules"], json!(["index.js", "lib/shout.js"]));
    assert_eq!(answer["bindings"]["vars"], json!({"GREETING": "hello"}));
    assert_eq!(answer["bindings"]["secrets"], json!(["API_KEY"]));
    assert_eq!(answer["bindings"]["kv_namespaces"], json!({"CACHE": "cache-ns"}));
    assert_eq!(answer["limits"], json!({"cpu_ms": 20, "heap_mb": 64}));
    assert_eq!(answer["routes"].as_array().unwrap().len(), 2);

    // The script sees vars, secrets and its KV binding on env, through its own import.
    let seen = node.edge_get("env.example.com", "/").await;
    assert_eq!(seen.status, 200, "{}", seen.text());
    assert_eq!(
        seen.json(),
        json!({"greeting": "HELLO!", "secret_seen": "s3cret-value", "env_keys": ["API_KEY", "CACHE", "GREETING"]})
    );
    assert_eq!(node.edge_get("example.com", "/env/x").await.status, 200);

    let details = node.admin_get("/v1/scripts/envy").await.text();
    assert!(
        details.contains("API_KEY") && !details.contains("s3cret-value"),
        "{details}"
    );

    // A code-only update keeps every binding and the routes; secrets
    // persist across deploys until removed with null.
    // An upload whose import cannot be resolved is refused like a syntax error.
    let res = node.upload("envy", &fixture("deploy_env/index.js")).await;
    assert_eq!(res.status, 400, "{}", res.text());
    let metadata = json!({"bindings": {"vars": {"GREETING": "changed"}}}).to_string();
    let mut parts: Vec<(&str, Option<&str>, &str, &[u8])> =
        vec![("metadata", None, "application/json", metadata.as_bytes())];
    for (path, bytes) in &modules {
        parts.push((path, Some(path), "application/javascript", bytes));
    }
    let (content_type, body) = multipart(&parts);
    let res = node.admin("PUT", "/v1/scripts/envy", Some(&content_type), body).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["bindings"]["secrets"], json!(["API_KEY"]));
    assert_eq!(res.json()["bindings"]["kv_namespaces"], json!({"CACHE": "cache-ns"}));
    let seen = node.edge_get("env.example.com", "/").await.json();
    assert_eq!(seen["greeting"], "CHANGED!");
    assert_eq!(seen["secret_seen"], "s3cret-value");

    let metadata = json!({"bindings": {"secrets": {"API_KEY": null}}}).to_string();
    let mut parts: Vec<(&str, Option<&str>, &str, &[u8])> =
        vec![("metadata", None, "application/json", metadata.as_bytes())];
    for (path, bytes) in &modules {
        parts.push((path, Some(path), "application/javascript", bytes));
    }
    let (content_type, body) = multipart(&parts);
    let res = node.admin("PUT", "/v1/scripts/envy", Some(&content_type), body).await;
    assert_eq!(res.json()["bindings"]["secrets"], json!([]));
    assert_eq!(
        node.edge_get("env.example.com", "/").await.json()["secret_seen"],
        Value::Null
    );
}

#[tokio::test]
async fn a_syntax_error_is_rejected_with_its_location_and_the_old_version_keeps_serving() {
    let dir = TempDir::new("syntax");
    let node = TestNode::start(&dir.path);
    assert_eq!(node.upload("app", &hello("still v1")).await.status, 201);
    assert_eq!(node.route("app", "*/*", "app").await.status, 201);

    let res = node.upload("app", &fixture("deploy_syntax_error.js")).await;
    assert_eq!(res.status, 400, "{}", res.text());
    let error = res.json();
    assert!(error["error"].as_str().unwrap().contains("SyntaxError"), "{error}");
    assert_eq!(error["file"], "app.js");
    assert_eq!(error["line"], 3);
    assert!(error["column"].as_u64().unwrap() > 1, "{error}");

    // A script that throws while loading is rejected the same way.
    let res = node
        .upload(
            "app",
            "const x = 1;\nthrow new Error('broken at load');\nexport default {};\n",
        )
        .await;
    assert_eq!(res.status, 400);
    assert!(res.json()["error"].as_str().unwrap().contains("broken at load"));
    assert_eq!(res.json()["line"], 2);

    // A top level that never ends is stopped by the startup CPU budget
    // and rejected, instead of hanging the admin API.
    let res = node
        .upload(
            "app",
            "while (true) {}\nexport default { fetch() { return new Response('x') } };\n",
        )
        .await;
    assert_eq!(res.status, 400, "{}", res.text());
    assert!(
        res.json()["error"].as_str().unwrap().contains("CPU time limit"),
        "{}",
        res.text()
    );

    // Nothing changed: still one version, still serving it.
    assert_eq!(node.edge_get("example.com", "/").await.text(), "still v1");
    let details = node.admin_get("/v1/scripts/app").await.json();
    assert_eq!(version_numbers(&details), vec![1]);
    // A new script with an error is not created at all.
    assert_eq!(
        node.upload("broken", &fixture("deploy_syntax_error.js")).await.status,
        400
    );
    assert_eq!(node.admin_get("/v1/scripts/broken").await.status, 404);
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let dir = TempDir::new("badinput");
    let node = TestNode::start(&dir.path);
    assert_eq!(node.upload("app", &hello("v1")).await.status, 201);
    assert_eq!(node.route("app", "*/*", "app").await.status, 201);
    let before_scripts = node.admin_get("/v1/scripts").await.json();
    let before_routes = node.admin_get("/v1/routes").await.json();

    // Default limit: 10 MiB.
    let big = format!("export default {{}};\n//{}", "x".repeat(10 << 20));
    let res = node.upload("app", &big).await;
    assert_eq!(res.status, 413, "{}", res.text());
    assert!(res.json()["error"].as_str().unwrap().contains("10485760"));

    // (method, path, content type, body, expected status)
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, Vec<u8>, u16);
    let cases: Vec<Case> = vec![
        (
            "PUT",
            "/v1/routes/r",
            Some("application/json"),
            b"{\"pattern\": ".to_vec(),
            400,
        ),
        (
            "PUT",
            "/v1/routes/r",
            Some("application/json"),
            b"{\"pattern\": \"a/*\"}".to_vec(),
            400,
        ),
        (
            "PUT",
            "/v1/scripts/app",
            Some("multipart/form-data; boundary=xyz"),
            b"--xyz\r\nnot a part".to_vec(),
            400,
        ),
        (
            "PUT",
            "/v1/scripts/app",
            Some("multipart/form-data"),
            b"--xyz--".to_vec(),
            400,
        ),
        ("PUT", "/v1/scripts/app", Some("application/json"), b"{}".to_vec(), 415),
        (
            "PUT",
            "/v1/scripts/app",
            Some("application/javascript"),
            vec![0xff, 0xfe, 0x00],
            400,
        ),
        (
            "PUT",
            "/v1/scripts/app",
            Some("application/javascript"),
            Vec::new(),
            400,
        ),
        (
            "PUT",
            "/v1/scripts/bad%20name",
            Some("application/javascript"),
            hello("x").into_bytes(),
            400,
        ),
        (
            "POST",
            "/v1/scripts/app/rollback",
            Some("application/json"),
            b"[1,".to_vec(),
            400,
        ),
        ("PATCH", "/v1/scripts/app", None, Vec::new(), 405),
        ("GET", "/v1/nothing-here", None, Vec::new(), 404),
    ];
    for (method, path, content_type, body, status) in cases {
        let res = node.admin(method, path, content_type, body).await;
        assert_eq!(res.status, status, "{method} {path}: {}", res.text());
        assert!(res.json()["error"].is_string(), "{method} {path}: JSON error");
    }
    for metadata in [
        "{not json",
        r#"{"bindngs": {}}"#,
        r#"{"main": "missing.js"}"#,
        r#"{"routes": ["ex*ample.com/*"]}"#,
        r#"{"bindings": {"vars": {"A": "1"}, "secrets": {"A": "2"}}}"#,
    ] {
        let source = hello("never");
        let (content_type, body) = multipart(&[
            ("metadata", None, "application/json", metadata.as_bytes()),
            (
                "app.js",
                Some("app.js"),
                "application/javascript+module",
                source.as_bytes(),
            ),
        ]);
        let res = node.admin("PUT", "/v1/scripts/app", Some(&content_type), body).await;
        assert_eq!(res.status, 400, "metadata {metadata}: {}", res.text());
    }

    assert_eq!(node.admin_get("/v1/scripts").await.json(), before_scripts);
    assert_eq!(node.admin_get("/v1/routes").await.json(), before_routes);
    assert_eq!(node.edge_get("example.com", "/").await.text(), "v1");
}

#[tokio::test]
async fn the_upload_limit_is_configurable() {
    let dir = TempDir::new("limit");
    let mut config = crate::common::node_config(&dir.path);
    config.admin.max_upload_bytes = 1024;
    let node = TestNode::start_with(&config);
    let res = node.upload("small", &hello(&"s".repeat(500))).await;
    assert_eq!(res.status, 201);
    let res = node.upload("small", &hello(&"s".repeat(2000))).await;
    assert_eq!(res.status, 413);

    // Without a Content-Length (a chunked body) the limit holds too.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(node.admin).await.unwrap();
    let head = format!(
        "PUT /v1/scripts/small HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer {ADMIN_TOKEN}\r\n\
         content-type: application/javascript\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("//{}\n", "c".repeat(600));
    for _ in 0..4 {
        let framed = format!("{:x}\r\n{chunk}\r\n", chunk.len());
        stream.write_all(framed.as_bytes()).await.unwrap();
    }
    stream.write_all(b"0\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    let res = node.admin_get("/v1/scripts/small").await.json();
    assert_eq!(version_numbers(&res), vec![1]);
}

#[tokio::test]
async fn deploys_survive_a_restart() {
    let dir = TempDir::new("restart");
    {
        let node = TestNode::start(&dir.path);
        let metadata = json!({
            "main": "index.js",
            "bindings": {"vars": {"GREETING": "persisted"}, "secrets": {"API_KEY": "kept"}},
            "routes": ["*/*"],
        })
        .to_string();
        let modules = deploy_env_parts();
        let mut parts: Vec<(&str, Option<&str>, &str, &[u8])> =
            vec![("metadata", None, "application/json", metadata.as_bytes())];
        for (path, bytes) in &modules {
            parts.push((path, Some(path), "application/javascript+module", bytes));
        }
        let (content_type, body) = multipart(&parts);
        assert_eq!(
            node.admin("PUT", "/v1/scripts/envy", Some(&content_type), body)
                .await
                .status,
            201
        );
        assert_eq!(node.upload("other", &hello("v1")).await.status, 201);
        assert_eq!(node.upload("other", &hello("v2")).await.status, 200);
        assert_eq!(
            node.admin("POST", "/v1/scripts/other/rollback", None, Vec::new())
                .await
                .status,
            200
        );
        assert_eq!(node.route("other", "other.example.com/*", "other").await.status, 201);
        node.stop();
    }
    let node = TestNode::start(&dir.path);
    let seen = node.edge_get("example.com", "/").await;
    assert_eq!(seen.status, 200, "{}", seen.text());
    assert_eq!(seen.json()["greeting"], "PERSISTED!");
    assert_eq!(seen.json()["secret_seen"], "kept");
    assert_eq!(node.edge_get("other.example.com", "/").await.text(), "v1");
    let other = node.admin_get("/v1/scripts/other").await.json();
    assert_eq!(version_numbers(&other), vec![1, 2]);
    assert_eq!(other["current_version"], 1);
    assert_eq!(
        node.admin_get("/v1/routes").await.json()["routes"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn an_old_scripts_folder_is_imported_once() {
    let dir = TempDir::new("import");
    std::fs::create_dir_all(dir.path.join("scripts")).unwrap();
    std::fs::write(
        dir.path.join("scripts/legacy.js"),
        "export default { fetch(request, env) { return new Response('legacy ' + env.MODE); } };\n",
    )
    .unwrap();
    std::fs::write(
        dir.path.join("scripts/legacy.json"),
        r#"{"vars": {"MODE": "imported"}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path.join("routes.json"),
        r#"[{"pattern": "*/*", "script": "legacy"}]"#,
    )
    .unwrap();
    let node = TestNode::start(&dir.path);
    assert_eq!(node.edge_get("example.com", "/").await.text(), "legacy imported");
    let details = node.admin_get("/v1/scripts/legacy").await.json();
    assert_eq!(version_numbers(&details), vec![1]);
    assert_eq!(details["routes"][0]["id"], "imported-1");

    // From now on the store is the truth: a delete sticks across a restart.
    assert_eq!(
        node.admin("DELETE", "/v1/scripts/legacy", None, Vec::new())
            .await
            .status,
        200
    );
    node.stop();
    let node = TestNode::start(&dir.path);
    assert_eq!(node.admin_get("/v1/scripts").await.json()["scripts"], json!([]));
    assert_eq!(node.edge_get("example.com", "/").await.status, 404);
}

#[tokio::test]
async fn without_a_configured_token_one_is_generated_into_the_data_dir() {
    let dir = TempDir::new("gentoken");
    let mut config = crate::common::node_config(&dir.path);
    config.admin.token = None;
    let node = TestNode::start_with(&config);
    let path = dir.path.join(islet_runtime::admin::TOKEN_FILE);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "only the owner may read the token");
    }
    assert!(node.token.len() >= 32);
    assert_ne!(node.token, ADMIN_TOKEN);
    assert_eq!(node.admin_get("/v1/scripts").await.status, 200);
    let wrong = format!("Bearer {ADMIN_TOKEN}");
    let res = send(
        node.admin,
        "GET",
        "localhost",
        "/v1/scripts",
        &[("authorization", &wrong)],
        Vec::new(),
    )
    .await;
    assert_eq!(res.status, 401);
    let first = node.token.clone();
    node.stop();
    let node = TestNode::start_with(&config);
    assert_eq!(node.token, first, "the same token after a restart");
}

/// Runs `islet deploy` with these arguments (as typed after `islet`).
async fn islet_deploy(args: &[&str]) -> Result<deploy::DeployReport, String> {
    let args = DeployArgs::parse_from_args(std::iter::once("deploy").chain(args.iter().copied()))
        .map_err(|e| e.to_string())?;
    deploy::run(args).await.map_err(|e| e.to_string())
}

#[tokio::test]
async fn islet_deploy_with_flags() {
    let dir = TempDir::new("cli-flags");
    let mut config = crate::common::node_config(&dir.path);
    config.admin.token = None;
    let node = TestNode::start_with(&config);
    let admin = format!("http://{}", node.admin);
    let token_file = dir.path.join(islet_runtime::admin::TOKEN_FILE);
    let token_file = token_file.to_str().unwrap();
    let main = fixture_path("deploy_env/index.js");
    let main = main.to_str().unwrap();

    let report = islet_deploy(&[
        main,
        "--name",
        "envy",
        "--route",
        "cli.example.com/*",
        "--var",
        "GREETING=from the cli",
        "--secret",
        "API_KEY=cli-secret",
        "--kv",
        "CACHE=cache-ns",
        "--admin",
        &admin,
        "--token-file",
        token_file,
    ])
    .await
    .unwrap();
    assert_eq!(
        (report.name.as_str(), report.version, report.created),
        ("envy", 1, true)
    );
    assert_eq!(report.modules, vec!["index.js", "lib/shout.js"]);
    assert_eq!(report.routes, vec!["cli.example.com/*"]);
    assert!(report.to_string().contains("Deployed envy version 1"));
    let seen = node.edge_get("cli.example.com", "/").await.json();
    assert_eq!(seen["greeting"], "FROM THE CLI!");
    assert_eq!(seen["secret_seen"], "cli-secret");
    let details = node.admin_get("/v1/scripts/envy").await.json();
    assert_eq!(
        details["current"]["bindings"]["kv_namespaces"],
        json!({"CACHE": "cache-ns"})
    );

    // A second deploy is version 2 and keeps routes it does not mention.
    let report = islet_deploy(&[main, "--name", "envy", "--admin", &admin, "--token-file", token_file])
        .await
        .unwrap();
    assert_eq!((report.version, report.created), (2, false));
    assert_eq!(report.routes, vec!["cli.example.com/*"]);

    // Errors say what to do next.
    let wrong = dir.path.join("wrong-token");
    std::fs::write(&wrong, "not-the-token").unwrap();
    let err = islet_deploy(&[
        main,
        "--name",
        "envy",
        "--admin",
        &admin,
        "--token-file",
        wrong.to_str().unwrap(),
    ])
    .await
    .unwrap_err();
    assert!(
        err.contains("refused the token") && err.contains("ISLET_ADMIN_TOKEN"),
        "{err}"
    );
    let broken = fixture_path("deploy_syntax_error.js");
    let err = islet_deploy(&[
        broken.to_str().unwrap(),
        "--name",
        "envy",
        "--admin",
        &admin,
        "--token-file",
        token_file,
    ])
    .await
    .unwrap_err();
    assert!(err.contains("deploy_syntax_error.js:3:"), "{err}");
    assert!(err.contains("keeps serving"), "{err}");
    assert_eq!(
        node.edge_get("cli.example.com", "/").await.json()["secret_seen"],
        "cli-secret"
    );
    let err = islet_deploy(&[main, "--admin", &admin, "--token-file", token_file])
        .await
        .unwrap_err();
    assert!(err.contains("--name"), "{err}");
    let err = islet_deploy(&[main, "--name", "envy", "--var", "NOEQUALS", "--token-file", token_file])
        .await
        .unwrap_err();
    assert!(err.contains("KEY=VALUE"), "{err}");
    let err = islet_deploy(&["/no/such/file.js", "--name", "x", "--token-file", token_file])
        .await
        .unwrap_err();
    assert!(err.contains("does not exist"), "{err}");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let err = islet_deploy(&[
        main,
        "--name",
        "envy",
        "--admin",
        &format!("http://{closed}"),
        "--token-file",
        token_file,
    ])
    .await
    .unwrap_err();
    assert!(
        err.contains("cannot reach the admin API") && err.contains("islet serve"),
        "{err}"
    );
}

#[tokio::test]
async fn islet_deploy_reads_a_wrangler_toml() {
    let dir = TempDir::new("cli-wrangler");
    let node = TestNode::start(&dir.path);
    let admin = format!("http://{}", node.admin);
    let token_file = dir.path.join("token");
    std::fs::write(&token_file, format!("{ADMIN_TOKEN}\n")).unwrap();
    let toml = fixture_path("wrangler_project/wrangler.toml");

    let report = islet_deploy(&[
        "--config",
        toml.to_str().unwrap(),
        "--admin",
        &admin,
        "--token-file",
        token_file.to_str().unwrap(),
    ])
    .await
    .unwrap();
    assert_eq!(report.name, "wrangler-app");
    assert_eq!(report.modules, vec!["index.js", "describe.js"]);
    let mut routes = report.routes.clone();
    routes.sort();
    assert_eq!(routes, vec!["api.example.com/v1/*", "shop.example.com/*"]);

    let res = node.edge_get("shop.example.com", "/cart").await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        res.json(),
        json!({"app": "wrangler-app", "host": "shop.example.com", "greeting": "hello from wrangler.toml", "max_items": 3})
    );
    assert_eq!(node.edge_get("api.example.com", "/v1/items").await.status, 200);
    assert_eq!(node.edge_get("api.example.com", "/v2/items").await.status, 404);
    let details = node.admin_get("/v1/scripts/wrangler-app").await.json();
    assert_eq!(
        details["current"]["bindings"]["kv_namespaces"],
        json!({"CACHE": "cache-namespace-id"})
    );

    // Flags override the file.
    let report = islet_deploy(&[
        "--config",
        toml.to_str().unwrap(),
        "--var",
        "GREETING=overridden",
        "--route",
        "flags.example.com/*",
        "--admin",
        &admin,
        "--token-file",
        token_file.to_str().unwrap(),
    ])
    .await
    .unwrap();
    assert_eq!(report.version, 2);
    assert_eq!(report.routes, vec!["flags.example.com/*"]);
    assert_eq!(
        node.edge_get("flags.example.com", "/").await.json()["greeting"],
        "overridden"
    );
    assert_eq!(node.edge_get("shop.example.com", "/").await.status, 404);
}

/// Environment variable that turns [`crash_child_node`] into a node.
const CRASH_CHILD_DIR: &str = "ISLET_TEST_CRASH_CHILD_DIR";

/// Not a test of its own: the body of the process that
/// `acknowledged_deploys_survive_kill_9` starts (this test binary, run
/// again with `CRASH_CHILD_DIR` set) and kills with SIGKILL. Without the
/// variable it returns at once.
#[test]
fn crash_child_node() {
    serve_child_node(CRASH_CHILD_DIR, crate::common::node_config);
}

const CRASH_SCRIPTS: usize = 3;

/// Starts this test binary as a node over `dir`.
async fn start_crash_child(dir: &Path) -> ChildNode {
    start_child_node("admin::crash_child_node", CRASH_CHILD_DIR, dir, ChildStderr::ToFile).await
}

/// Checks what a node over the crashed data serves: every acknowledged
/// version is stored, versions have no gaps, the current one serves.
/// Returns each script's current version.
async fn check_after_crash(admin: std::net::SocketAddr, edge: Option<std::net::SocketAddr>, acked: &[u64]) -> Vec<u64> {
    let mut currents = Vec::new();
    for (script, &max_acked) in acked.iter().enumerate() {
        let path = format!("/v1/scripts/crash-{script}");
        let res = admin_send(admin, ADMIN_TOKEN, "GET", &path, None, Vec::new()).await;
        if res.status == 404 && max_acked == 0 {
            currents.push(0);
            continue;
        }
        assert_eq!(res.status, 200, "crash-{script}: {}", res.text());
        let details = res.json();
        let current = details["current_version"].as_u64().unwrap();
        assert!(
            current >= max_acked,
            "crash-{script}: acknowledged v{max_acked}, found v{current}"
        );
        assert_eq!(
            version_numbers(&details),
            (1..=current).collect::<Vec<_>>(),
            "crash-{script}: gaps"
        );
        if let Some(edge) = edge {
            let res = send(edge, "GET", &format!("crash-{script}.test"), "/", &[], Vec::new()).await;
            assert_eq!(res.text(), format!("crash-{script} deploy {current}"));
        }
        currents.push(current);
    }
    currents
}

#[tokio::test]
async fn acknowledged_deploys_survive_kill_9() {
    let dir = TempDir::new("crash");
    let mut acked = vec![0u64; CRASH_SCRIPTS];
    for round in 0..3u32 {
        let ChildNode { mut process, admin, .. } = start_crash_child(&dir.path).await;
        let currents = check_after_crash(admin, None, &acked).await;
        // One deployer per script, each as fast as acknowledgements come,
        // so that deploys are always in flight; then kill -9 at a moment
        // that differs from round to round.
        let (acked_tx, mut acked_rx) = tokio::sync::mpsc::unbounded_channel::<(usize, u64)>();
        let mut deployers = Vec::new();
        for (script, &current) in currents.iter().enumerate() {
            let acked_tx = acked_tx.clone();
            deployers.push(tokio::spawn(async move {
                let auth = format!("Bearer {ADMIN_TOKEN}");
                for deploy_no in current + 1.. {
                    let source = hello(&format!("crash-{script} deploy {deploy_no}"));
                    let metadata = json!({"routes": [format!("crash-{script}.test/*")]}).to_string();
                    let (content_type, body) = multipart(&[
                        ("metadata", None, "application/json", metadata.as_bytes()),
                        ("w.js", Some("w.js"), "application/javascript+module", source.as_bytes()),
                    ]);
                    let path = format!("/v1/scripts/crash-{script}");
                    let headers = [
                        ("authorization", auth.as_str()),
                        ("content-type", content_type.as_str()),
                    ];
                    match try_send(admin, "PUT", "localhost", &path, &headers, body).await {
                        Ok(res) if res.status < 300 => {
                            assert_eq!(res.json()["version"].as_u64(), Some(deploy_no));
                            let _ = acked_tx.send((script, deploy_no));
                        }
                        Ok(res) => panic!("deploy refused: {} {}", res.status, res.text()),
                        Err(_) => return,
                    }
                }
            }));
        }
        drop(acked_tx);
        for _ in 0..12 {
            let (script, version) = acked_rx.recv().await.expect("deploys are acknowledged");
            acked[script] = acked[script].max(version);
        }
        tokio::time::sleep(Duration::from_micros(u64::from(round) * 1700)).await;
        process.0.kill().unwrap();
        process.0.wait().unwrap();
        for d in deployers {
            d.await.unwrap();
        }
        while let Some((script, version)) = acked_rx.recv().await {
            acked[script] = acked[script].max(version);
        }
    }
    // Finally a node in this process over the same data, edge included.
    let node = TestNode::start(&dir.path);
    check_after_crash(node.admin, Some(node.edge), &acked).await;
}
