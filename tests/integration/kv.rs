//! The KV binding end to end: scripts on a real node use `env.KV`, the
//! admin API's `/v1/kv` endpoints read and write the same namespaces, and
//! every behaviour runs twice, against the embedded store and against a
//! real `redis-server` started for the test (`embedded::*`, `redis::*`).
//! Expirations use a manual clock handed to the node, so no test sleeps
//! for a TTL.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use islet_bindings::kv::{KvBackend, KvFuture, KvKeys, KvListQuery, KvValue, ManualClock};
use islet_runtime::config::{Config, KvLayer};
use serde_json::{json, Value};

use crate::common::{
    fixture, module_upload, node_config, send, serve_child_node, start_child_node, ChildNode, ChildStderr, RedisServer,
    TempDir, TestNode, TestResponse,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Embedded,
    Redis,
}

/// A node with the KV fixture deployed as script `kvw` (binding `KV` ->
/// namespace `main`, route `example.com/*`), over one backend.
struct Harness {
    dir: TempDir,
    redis: Option<RedisServer>,
    clock: Arc<ManualClock>,
    layer: Option<KvLayer>,
    cleanup_interval_secs: u64,
    node: Option<TestNode>,
}

impl Harness {
    async fn start(backend: Backend) -> Harness {
        Harness::start_with(backend, None).await
    }

    async fn start_with(backend: Backend, layer: Option<KvLayer>) -> Harness {
        Harness::start_full(backend, layer, 60).await
    }

    async fn start_full(backend: Backend, layer: Option<KvLayer>, cleanup_interval_secs: u64) -> Harness {
        let mut h = Harness {
            dir: TempDir::new("kv"),
            redis: (backend == Backend::Redis).then(RedisServer::start),
            clock: Arc::new(ManualClock::new()),
            layer,
            cleanup_interval_secs,
            node: None,
        };
        h.node = Some(TestNode::start_with(&h.config()));
        let res = h
            .deploy("kvw", &fixture("kv_worker.js"), &[("KV", "main")], &["example.com/*"])
            .await;
        assert_eq!(res.status, 201, "{}", res.text());
        h
    }

    fn config(&self) -> Config {
        let mut config = node_config(&self.dir.path);
        config.store = self.redis.as_ref().map(RedisServer::url);
        config.kv.clock = Some(self.clock.clone());
        config.kv.layer = self.layer.clone();
        config.kv.cleanup_interval_secs = self.cleanup_interval_secs;
        config
    }

    fn node(&self) -> &TestNode {
        self.node.as_ref().expect("node running")
    }

    /// Stops the node and starts it again over the same data (and Redis).
    fn restart(&mut self) {
        if let Some(node) = self.node.take() {
            node.stop();
        }
        self.node = Some(TestNode::start_with(&self.config()));
    }

    /// Uploads `source` as `name` with these KV bindings and routes, and a
    /// CPU budget for debug builds.
    async fn deploy(&self, name: &str, source: &str, kv: &[(&str, &str)], routes: &[&str]) -> TestResponse {
        let kv: serde_json::Map<String, Value> = kv.iter().map(|(b, ns)| (b.to_string(), json!(ns))).collect();
        // Debug builds copy 25 MiB values and write thousands of keys in one
        // request: the scripts get room beyond the default CPU budget.
        let metadata = json!({
            "main": "index.js",
            "bindings": { "kv_namespaces": kv },
            "routes": routes,
            "limits": { "cpu_ms": 60_000 },
        })
        .to_string();
        let (content_type, body) = module_upload(source, &metadata);
        self.node()
            .admin("PUT", &format!("/v1/scripts/{name}"), Some(&content_type), body)
            .await
    }

    async fn get_host(&self, host: &str, path: &str) -> TestResponse {
        send(self.node().edge, "GET", host, path, &[], Vec::new()).await
    }

    async fn get(&self, path: &str) -> TestResponse {
        self.get_host("example.com", path).await
    }

    async fn post(&self, path: &str, body: &str) -> TestResponse {
        send(
            self.node().edge,
            "POST",
            "example.com",
            path,
            &[],
            body.as_bytes().to_vec(),
        )
        .await
    }

    /// A JSON answer of the fixture that must be a success.
    async fn ok(&self, path: &str) -> Value {
        let res = self.get(path).await;
        assert_eq!(res.status, 200, "{path}: {}", res.text());
        res.json()
    }

    async fn put(&self, path: &str, body: &str) -> Value {
        let res = self.post(path, body).await;
        assert_eq!(res.status, 200, "{path}: {}", res.text());
        res.json()
    }
}

fn type_error(v: &Value, contains: &str) {
    let s = v.as_str().unwrap_or_else(|| panic!("not an error string: {v}"));
    assert!(s.starts_with("TypeError: "), "{s}");
    assert!(s.contains(contains), "{s:?} lacks {contains:?}");
}

fn names(list: &Value) -> Vec<String> {
    list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap().to_string())
        .collect()
}

async fn every_type_and_kind_of_value(backend: Backend) {
    let h = Harness::start(backend).await;
    let out = h.ok("/scenario/types").await;
    assert_eq!(out["text"], "h\u{e9}llo");
    assert_eq!(out["textExplicit"], "h\u{e9}llo");
    assert_eq!(out["textObject"], "h\u{e9}llo");
    assert_eq!(
        out["arrayBuffer"],
        json!({ "arrayBuffer": "h\u{e9}llo", "byteLength": 6 })
    );
    assert_eq!(out["streamType"], json!({ "stream": "h\u{e9}llo" }));
    assert_eq!(out["json"], json!({ "a": [1, 2], "b": "c" }));
    for kind in ["buffer", "view", "dataview", "stream"] {
        assert_eq!(out[kind], format!("value from {kind}"), "{kind}");
    }
    assert_eq!(out["bigStreamLength"], 1_000_000);
    assert_eq!(out["binaryIntact"], true);
    assert_eq!(
        out["missing"],
        json!({ "text": null, "json": null, "arrayBuffer": null, "stream": null,
                "withMetadata": { "value": null, "metadata": null, "cacheStatus": null } })
    );
    assert_eq!(
        out["bulk"],
        json!({ "t/text": "h\u{e9}llo", "t/none": null, "t/json": "{\"a\":[1,2],\"b\":\"c\"}" })
    );
    assert_eq!(out["bulkJson"], json!({ "a": [1, 2], "b": "c" }));
    assert_eq!(out["afterDelete"], Value::Null);
    assert!(out.get("deleteResult").is_none(), "delete resolves to undefined");
    assert!(out.get("deleteMissing").is_none());
    assert!(out.get("putResult").is_none(), "put resolves to undefined");
    assert_eq!(out["tag"], "[object KvNamespace]");
    type_error(&out["badType"], "Unknown response type");
    type_error(&out["badCacheTtl"], "Invalid cacheTtl of 10");
    for bad in ["putNumber", "putObject", "putNull"] {
        type_error(
            &out[bad],
            "KV put() accepts only strings, ArrayBuffers, ArrayBufferViews, and ReadableStreams",
        );
    }
    type_error(&out["streamOfStrings"], "ReadableStream of bytes");
    assert_eq!(out["rejectsNotThrows"], true);

    // Values written through the fixture's plain endpoints too.
    h.put("/put?key=plain", "body text").await;
    assert_eq!(h.ok("/get?key=plain").await["value"], "body text");
    assert_eq!(
        h.ok("/get?key=plain&type=stream").await["value"],
        json!({ "stream": "body text" })
    );
    h.ok("/delete?key=plain").await;
    assert_eq!(h.ok("/get?key=plain").await["value"], Value::Null);
}

async fn metadata_round_trips(backend: Backend) {
    let h = Harness::start(backend).await;
    let out = h.ok("/scenario/metadata").await;
    let meta = json!({ "owner": "ada", "tags": ["x", "y"], "n": 1.5, "nested": { "ok": true } });
    assert_eq!(
        out["withMeta"],
        json!({ "value": "v1", "metadata": meta, "cacheStatus": null })
    );
    assert_eq!(out["withMetaJson"], "SyntaxError", "v1 is not JSON");
    assert_eq!(
        out["withMetaBuffer"],
        json!({ "value": { "arrayBuffer": "v1", "byteLength": 2 }, "metadata": meta })
    );
    assert_eq!(
        out["plain"],
        json!({ "value": "v2", "metadata": null, "cacheStatus": null })
    );
    assert_eq!(
        out["overwritten"],
        json!({ "value": "v3", "metadata": null, "cacheStatus": null }),
        "a put without metadata clears it"
    );
    assert_eq!(out["scalar"], "just a string");
    assert_eq!(
        out["list"]["keys"],
        json!([
            { "name": "m/listed", "metadata": { "listed": 1 } },
            { "name": "m/plain" },
            { "name": "m/scalar", "metadata": "just a string" },
            { "name": "m/with" },
        ])
    );
    assert_eq!(out["list"]["list_complete"], true);
    assert!(out["list"].get("cursor").is_none());
    assert_eq!(out["maxMetadata"], 1022, "1024 bytes of JSON with the quotes");
    type_error(
        &out["tooMuchMetadata"],
        "KV PUT failed: 413 Metadata length of 1025 exceeds limit of 1024.",
    );
    type_error(&out["unserializable"], "metadata must be serializable to JSON");
    assert_eq!(
        out["bulk"],
        json!({ "m/listed": { "value": "v5", "metadata": { "listed": 1 } }, "m/missing": null })
    );
}

async fn expiration_follows_the_clock(backend: Backend) {
    let h = Harness::start(backend).await;
    let now = islet_bindings::kv::KvClock::now(&*h.clock);
    h.put("/put?key=e/ttl&ttl=60", "short").await;
    h.put(&format!("/put?key=e/abs&exp={}", now + 120), "absolute").await;
    h.put("/put?key=e/meta&ttl=300&meta=%7B%22a%22%3A1%7D", "with metadata")
        .await;
    h.put("/put?key=e/forever", "stays").await;
    let listed = h.ok("/list?prefix=e/").await;
    assert_eq!(
        listed["keys"],
        json!([
            { "name": "e/abs", "expiration": now + 120 },
            { "name": "e/forever" },
            { "name": "e/meta", "expiration": now + 300, "metadata": { "a": 1 } },
            { "name": "e/ttl", "expiration": now + 60 },
        ])
    );
    let admin = h.node().admin_get("/v1/kv/main/values/e%2Fttl").await;
    assert_eq!(admin.status, 200);
    assert_eq!(admin.header("x-islet-kv-expiration"), Some((now + 60).to_string()));

    h.clock.advance(59);
    assert_eq!(
        h.ok("/get?key=e/ttl").await["value"],
        "short",
        "alive one second before"
    );
    h.clock.advance(1);
    assert_eq!(
        h.ok("/get?key=e/ttl").await["value"],
        Value::Null,
        "gone at its expiration"
    );
    assert_eq!(
        h.ok("/get?key=e/ttl&meta=1").await,
        json!({ "value": null, "metadata": null })
    );
    assert_eq!(names(&h.ok("/list?prefix=e/").await), ["e/abs", "e/forever", "e/meta"]);
    assert_eq!(h.node().admin_get("/v1/kv/main/values/e%2Fttl").await.status, 404);
    h.clock.advance(60);
    assert_eq!(h.ok("/get?key=e/abs").await["value"], Value::Null);
    assert_eq!(names(&h.ok("/list?prefix=e/").await), ["e/forever", "e/meta"]);
    h.clock.advance(1000);
    assert_eq!(names(&h.ok("/list?prefix=e/").await), ["e/forever"]);
    assert_eq!(h.ok("/get?key=e/forever").await["value"], "stays");

    // Writing an expired key again gives it a new life; a put without an
    // expiration makes it permanent.
    h.put("/put?key=e/ttl", "back").await;
    h.clock.advance(100_000);
    assert_eq!(h.ok("/get?key=e/ttl").await["value"], "back");

    // Expirations are checked against the same clock.
    let now = islet_bindings::kv::KvClock::now(&*h.clock);
    h.put(&format!("/put?key=e/edge&exp={}", now + 60), "ok").await;
    let res = h.post(&format!("/put?key=e/edge&exp={}", now + 59), "no").await;
    assert_eq!(res.status, 400);
    assert_eq!(res.json()["error"], "TypeError");
    assert_eq!(
        res.json()["message"],
        format!(
            "KV PUT failed: 400 Invalid expiration of {}. Expiration times must be at least 60 seconds in the future.",
            now + 59
        )
    );
}

async fn pagination_over_2500_keys(backend: Backend) {
    let h = Harness::start(backend).await;
    assert_eq!(h.ok("/fill?n=2500&prefix=p/").await["written"], 2500);
    h.ok("/fill?n=3&prefix=a/").await;
    h.ok("/fill?n=3&prefix=q/").await;
    let all = h.ok("/list-all?prefix=p/").await;
    assert_eq!(
        all["pages"],
        json!([
            { "count": 1000, "complete": false, "hasCursor": true },
            { "count": 1000, "complete": false, "hasCursor": true },
            { "count": 500, "complete": true, "hasCursor": false },
        ])
    );
    let expected: Vec<String> = (0..2500).map(|i| format!("p/{i:05}")).collect();
    assert_eq!(all["names"], json!(expected), "every key once, in order");

    // Small pages, a prefix inside the keys, and the whole namespace.
    let small = h.ok("/list-all?prefix=p/0001&limit=7").await;
    assert_eq!(
        small["pages"],
        json!([
            { "count": 7, "complete": false, "hasCursor": true },
            { "count": 3, "complete": true, "hasCursor": false },
        ])
    );
    assert_eq!(small["names"][0], "p/00010");
    assert_eq!(small["names"][9], "p/00019");
    let everything = h.ok("/list-all").await;
    assert_eq!(everything["names"].as_array().unwrap().len(), 2506);
    assert_eq!(everything["names"][0], "a/00000");
    assert_eq!(everything["names"][2505], "q/00002");
    let first = h.ok("/list").await;
    assert_eq!(
        first["keys"].as_array().unwrap().len(),
        1000,
        "the default limit is 1000"
    );
    assert_eq!(first["list_complete"], false);

    // A deleted key drops out of later pages; the cursor stays valid.
    let page = h.ok("/list?prefix=p/&limit=2").await;
    assert_eq!(names(&page), ["p/00000", "p/00001"]);
    let cursor = page["cursor"].as_str().unwrap().to_string();
    h.ok("/delete?key=p/00002").await;
    let next = h.ok(&format!("/list?prefix=p/&limit=2&cursor={cursor}")).await;
    assert_eq!(names(&next), ["p/00003", "p/00004"]);

    // The admin API pages the same way.
    let res = h.node().admin_get("/v1/kv/main/keys?prefix=p%2F&limit=1000").await;
    assert_eq!(res.status, 200);
    let body = res.json();
    assert_eq!(body["keys"].as_array().unwrap().len(), 1000);
    let cursor = body["cursor"].as_str().unwrap();
    let res = h
        .node()
        .admin_get(&format!("/v1/kv/main/keys?prefix=p%2F&cursor={cursor}"))
        .await;
    let body = res.json();
    assert_eq!(body["keys"].as_array().unwrap().len(), 1000);
    assert_eq!(body["keys"][0]["name"], "p/01001", "p/00002 was deleted");
}

async fn limits_reject_with_type_errors(backend: Backend) {
    let h = Harness::start(backend).await;
    let out = h.ok("/scenario/limits").await;
    assert_eq!(out["key512"], "ok");
    for case in ["key513", "key513get", "key513delete"] {
        type_error(
            &out[case],
            "414 UTF-8 encoded length of 513 exceeds key length limit of 512.",
        );
    }
    assert!(out["key513get"].as_str().unwrap().contains("KV GET failed"));
    assert!(out["key513delete"].as_str().unwrap().contains("KV DELETE failed"));
    type_error(&out["keyUtf8"], "UTF-8 encoded length of 513");
    type_error(&out["emptyKey"], "Key names must not be empty");
    type_error(&out["dotKey"], "Illegal key name \".\"");
    type_error(
        &out["ttl59"],
        "KV PUT failed: 400 Invalid expiration_ttl of 59. Expiration TTL must be at least 60.",
    );
    type_error(&out["ttlNaN"], "Invalid expiration_ttl of NaN");
    type_error(&out["expirationPast"], "Invalid expiration of 1000.");
    type_error(
        &out["limit1001"],
        "KV LIST failed: 400 Invalid key_count_limit of 1001.",
    );
    type_error(&out["limit0"], "Invalid key_count_limit of 0");
    type_error(&out["badCursor"], "Invalid cursor");
    assert_eq!(out["maxValue"], 25 * 1024 * 1024, "25 MiB is allowed");
    type_error(
        &out["tooBig"],
        "KV PUT failed: 413 Value length of 26214401 exceeds limit of 26214400.",
    );
    type_error(
        &out["tooBigBuffer"],
        "Value length of 26214401 exceeds limit of 26214400.",
    );
    type_error(&out["tooBigStream"], "exceeds limit of 26214400");
    assert_eq!(out["bigNotStored"], Value::Null);
    assert_eq!(out["list1000"], true);
}

async fn namespaces_are_isolated_between_scripts(backend: Backend) {
    let h = Harness::start(backend).await;
    let source = fixture("kv_worker.js");
    assert_eq!(
        h.deploy("a", &source, &[("KV", "ns-a")], &["a.test/*"]).await.status,
        201
    );
    assert_eq!(
        h.deploy("b", &source, &[("KV", "ns-b"), ("OTHER", "ns-shared")], &["b.test/*"])
            .await
            .status,
        201
    );
    let post = |host: &'static str, path: &'static str, body: &'static str| {
        let edge = h.node().edge;
        async move { send(edge, "POST", host, path, &[], body.as_bytes().to_vec()).await }
    };
    assert_eq!(post("a.test", "/put?key=k", "from a").await.status, 200);
    let b_sees = h.get_host("b.test", "/get?key=k").await.json();
    assert_eq!(b_sees["value"], Value::Null, "b cannot read a's namespace");
    assert_eq!(post("b.test", "/put?key=k", "from b").await.status, 200);
    assert_eq!(h.get_host("a.test", "/get?key=k").await.json()["value"], "from a");
    assert_eq!(h.get_host("b.test", "/get?key=k").await.json()["value"], "from b");
    assert_eq!(
        h.get_host("a.test", "/list").await.json()["keys"],
        json!([{ "name": "k" }])
    );
    assert_eq!(
        h.ok("/get?key=k").await["value"],
        Value::Null,
        "kvw's own namespace is apart"
    );
    // A second binding of b reaches its own namespace, and only b has it.
    assert_eq!(post("b.test", "/put?key=k&ns=OTHER", "shared").await.status, 200);
    assert_eq!(h.get_host("b.test", "/env").await.json(), json!(["KV", "OTHER"]));
    assert_eq!(h.get_host("a.test", "/env").await.json(), json!(["KV"]));
    let res = h.get_host("a.test", "/get?key=k&ns=OTHER").await;
    assert_eq!(res.status, 400, "a has no OTHER binding: {}", res.text());
    // The admin API sees each namespace on its own.
    let keys = |ns: &'static str| {
        let node = h.node();
        async move { node.admin_get(&format!("/v1/kv/{ns}/values/k")).await.text() }
    };
    assert_eq!(keys("ns-a").await, "from a");
    assert_eq!(keys("ns-b").await, "from b");
    assert_eq!(keys("ns-shared").await, "shared");
    // No way to build a namespace object by hand.
    let forge = h.get_host("a.test", "/scenario/forge").await.json();
    type_error(&forge["construct"], "Illegal constructor");
    assert_eq!(forge["ownKeys"], 0, "no readable state on the object");
    assert_eq!(
        forge["protoMethods"],
        json!(["constructor", "delete", "get", "getWithMetadata", "list", "put"])
    );
    type_error(&forge["borrowedMethod"], "");
    // Rebinding b to ns-a on a new version gives it a's data.
    assert_eq!(
        h.deploy("b", &source, &[("KV", "ns-a")], &["b.test/*"]).await.status,
        200
    );
    assert_eq!(h.get_host("b.test", "/get?key=k").await.json()["value"], "from a");
}

async fn data_survives_a_restart(backend: Backend) {
    let mut h = Harness::start(backend).await;
    h.put("/put?key=durable&ttl=3600&meta=%5B1%2C2%5D", "still here").await;
    h.put("/put?key=binary&as=buffer", "bytes too").await;
    h.ok("/fill?n=50&prefix=many/").await;
    let put = h
        .node()
        .admin("PUT", "/v1/kv/other/values/admin-key", None, b"from admin".to_vec())
        .await;
    assert_eq!(put.status, 200);
    h.restart();
    assert_eq!(
        h.ok("/get?key=durable&meta=1").await,
        json!({ "value": "still here", "metadata": [1, 2] })
    );
    assert_eq!(
        h.ok("/get?key=binary&type=arrayBuffer").await["value"]["arrayBuffer"],
        "bytes too"
    );
    assert_eq!(
        h.ok("/list-all?prefix=many/").await["names"].as_array().unwrap().len(),
        50
    );
    assert_eq!(
        h.node().admin_get("/v1/kv/other/values/admin-key").await.text(),
        "from admin"
    );
    // Twice, to be sure the first restart closed everything it opened.
    h.restart();
    assert_eq!(h.ok("/get?key=durable").await["value"], "still here");
}

async fn admin_api_reads_and_writes_namespaces(backend: Backend) {
    let h = Harness::start(backend).await;
    let node = h.node();
    let now = islet_bindings::kv::KvClock::now(&*h.clock);
    let res = node
        .admin(
            "PUT",
            "/v1/kv/main/values/dir%2Fa%20b?expiration_ttl=120&metadata=%7B%22by%22%3A%22ops%22%7D",
            Some("application/octet-stream"),
            b"admin value".to_vec(),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json(), json!({ "namespace": "main", "key": "dir/a b", "size": 11 }));
    // The script sees what the admin API wrote.
    assert_eq!(
        h.ok("/get?key=dir/a%20b&meta=1").await,
        json!({ "value": "admin value", "metadata": { "by": "ops" } })
    );
    // And the admin API sees what the script wrote; an unencoded `/` works too.
    h.put("/put?key=from/script&meta=%7B%22x%22%3A2%7D", "script value")
        .await;
    let res = node.admin_get("/v1/kv/main/values/from/script").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.text(), "script value");
    assert_eq!(res.header("content-type").as_deref(), Some("application/octet-stream"));
    assert_eq!(res.header("x-islet-kv-metadata").as_deref(), Some("{\"x\":2}"));
    assert_eq!(res.header("x-islet-kv-expiration"), None);
    let res = node.admin_get("/v1/kv/main/keys").await;
    assert_eq!(
        res.json(),
        json!({ "keys": [
            { "name": "dir/a b", "expiration": now + 120, "metadata": { "by": "ops" } },
            { "name": "from/script", "metadata": { "x": 2 } },
        ], "list_complete": true })
    );
    let res = node.admin_get("/v1/kv/main/keys?limit=1").await.json();
    assert_eq!(
        res["keys"],
        json!([{ "name": "dir/a b", "expiration": now + 120, "metadata": { "by": "ops" } }])
    );
    assert_eq!(res["list_complete"], false);
    let cursor = res["cursor"].as_str().unwrap();
    let res = node
        .admin_get(&format!("/v1/kv/main/keys?limit=1&cursor={cursor}"))
        .await
        .json();
    assert_eq!(res["keys"], json!([{ "name": "from/script", "metadata": { "x": 2 } }]));
    assert_eq!(res["list_complete"], true);
    let res = node.admin_get("/v1/kv/main/keys?prefix=dir%2F").await.json();
    assert_eq!(names(&res), ["dir/a b"]);
    let res = node
        .admin("DELETE", "/v1/kv/main/values/dir%2Fa%20b", None, Vec::new())
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json(), json!({ "namespace": "main", "deleted": "dir/a b" }));
    assert_eq!(h.ok("/get?key=dir/a%20b").await["value"], Value::Null);
    assert_eq!(node.admin_get("/v1/kv/main/values/dir%2Fa%20b").await.status, 404);
    let res = node.admin("DELETE", "/v1/kv/main/values/never", None, Vec::new()).await;
    assert_eq!(res.status, 200, "deleting a missing key succeeds, as in Workers KV");

    // Errors: the same rules as scripts, with Workers KV's statuses.
    let long_key = "k".repeat(513);
    let res = node
        .admin("PUT", &format!("/v1/kv/main/values/{long_key}"), None, b"v".to_vec())
        .await;
    assert_eq!(res.status, 414);
    assert!(res.json()["error"]
        .as_str()
        .unwrap()
        .contains("exceeds key length limit of 512"));
    let res = node
        .admin("PUT", "/v1/kv/main/values/k?expiration_ttl=10", None, b"v".to_vec())
        .await;
    assert_eq!(res.status, 400);
    assert!(res.json()["error"]
        .as_str()
        .unwrap()
        .contains("Expiration TTL must be at least 60"));
    let res = node
        .admin("PUT", "/v1/kv/main/values/k?metadata=not-json", None, b"v".to_vec())
        .await;
    assert_eq!(res.status, 400);
    let res = node
        .admin("PUT", "/v1/kv/main/values/k?ttl=60", None, b"v".to_vec())
        .await;
    assert_eq!(res.status, 400, "unknown parameters are refused");
    assert_eq!(node.admin_get("/v1/kv/main/keys?limit=1001").await.status, 400);
    assert_eq!(node.admin_get("/v1/kv/main/keys?cursor=zz").await.status, 400);
    let res = node.admin("POST", "/v1/kv/main/values/k", None, Vec::new()).await;
    assert_eq!(res.status, 405);
    assert_eq!(res.header("allow").as_deref(), Some("GET, PUT, DELETE"));
    assert_eq!(node.admin_get("/v1/kv/main/nothing").await.status, 404);
    assert_eq!(node.admin_get("/v1/kv").await.status, 404);
    let res = send(node.admin, "GET", "localhost", "/v1/kv/main/keys", &[], Vec::new()).await;
    assert_eq!(res.status, 401, "KV endpoints need the token");
}

/// A backend wrapper that holds `get`s of keys starting with `gated/`
/// until the gate opens, counting the ones waiting.
struct Gate {
    inner: Arc<dyn KvBackend>,
    open: tokio::sync::watch::Receiver<bool>,
    waiting: Arc<AtomicUsize>,
}

impl KvBackend for Gate {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    fn get(&self, namespace: &str, key: &str) -> KvFuture<Option<KvValue>> {
        let inner = self.inner.get(namespace, key);
        if !key.starts_with("gated/") {
            return inner;
        }
        let mut open = self.open.clone();
        let waiting = self.waiting.clone();
        Box::pin(async move {
            waiting.fetch_add(1, Ordering::SeqCst);
            while !*open.borrow_and_update() {
                if open.changed().await.is_err() {
                    break;
                }
            }
            waiting.fetch_sub(1, Ordering::SeqCst);
            inner.await
        })
    }
    fn put(&self, namespace: &str, key: &str, value: KvValue) -> KvFuture<()> {
        self.inner.put(namespace, key, value)
    }
    fn delete(&self, namespace: &str, key: &str) -> KvFuture<()> {
        self.inner.delete(namespace, key)
    }
    fn list(&self, namespace: &str, query: KvListQuery) -> KvFuture<KvKeys> {
        self.inner.list(namespace, query)
    }
}

async fn a_kv_call_in_flight_does_not_block_the_isolate(backend: Backend) {
    let (open_tx, open_rx) = tokio::sync::watch::channel(false);
    let waiting = Arc::new(AtomicUsize::new(0));
    let counter = waiting.clone();
    let layer: KvLayer = Arc::new(move |inner| {
        Arc::new(Gate {
            inner,
            open: open_rx.clone(),
            waiting: counter.clone(),
        })
    });
    let h = Harness::start_with(backend, Some(layer)).await;
    h.put("/put?key=gated/k", "worth the wait").await;
    // One worker thread, one isolate: the held read and the next requests share them.
    let edge = h.node().edge;
    let held = tokio::spawn(async move { send(edge, "GET", "example.com", "/get?key=gated/k", &[], Vec::new()).await });
    for _ in 0..500 {
        if waiting.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(waiting.load(Ordering::SeqCst), 1, "the read is in flight");
    for _ in 0..5 {
        let res = tokio::time::timeout(Duration::from_secs(5), h.get("/ping"))
            .await
            .expect("the isolate answers while a KV read waits");
        assert_eq!(res.text(), "pong");
        assert_eq!(
            h.ok("/get?key=other").await["value"],
            Value::Null,
            "other KV calls go on"
        );
    }
    assert!(!held.is_finished(), "the held read is still waiting");
    open_tx.send(true).unwrap();
    let res = tokio::time::timeout(Duration::from_secs(10), held)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(res.json()["value"], "worth the wait");
}

async fn islet_deploy_kv_flag_binds_a_namespace(backend: Backend) {
    let h = Harness::start(backend).await;
    let file = h.dir.path.join("deployed.js");
    std::fs::write(&file, fixture("kv_worker.js")).unwrap();
    let admin = format!("http://{}", h.node().admin);
    let token_file = h.dir.path.join("token");
    std::fs::write(&token_file, &h.node().token).unwrap();
    let args = [
        "deploy",
        file.to_str().unwrap(),
        "--name",
        "deployed",
        "--route",
        "deployed.test/*",
        "--kv",
        "KV=from-cli",
        "--admin",
        &admin,
        "--token-file",
        token_file.to_str().unwrap(),
    ];
    let args = islet_runtime::deploy::DeployArgs::parse_from_args(args.iter().copied()).unwrap();
    islet_runtime::deploy::run(args).await.expect("islet deploy succeeds");
    let res = send(
        h.node().edge,
        "POST",
        "deployed.test",
        "/put?key=cli",
        &[],
        b"bound by --kv".to_vec(),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let res = h.node().admin_get("/v1/kv/from-cli/values/cli").await;
    assert_eq!(res.text(), "bound by --kv");
    let details = h.node().admin_get("/v1/scripts/deployed").await.json();
    assert_eq!(
        details["current"]["bindings"]["kv_namespaces"],
        json!({ "KV": "from-cli" })
    );
}

/// Each behaviour against each backend: `kv::embedded::NAME` and `kv::redis::NAME`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Backend::Embedded).await
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Backend::Redis).await
                }
            )*
        }
    };
}

on_both_backends!(
    every_type_and_kind_of_value,
    metadata_round_trips,
    expiration_follows_the_clock,
    pagination_over_2500_keys,
    limits_reject_with_type_errors,
    namespaces_are_isolated_between_scripts,
    data_survives_a_restart,
    admin_api_reads_and_writes_namespaces,
    a_kv_call_in_flight_does_not_block_the_isolate,
    islet_deploy_kv_flag_binds_a_namespace,
);

/// A Redis server that stops answering (CLIENT PAUSE) holds the KV read
/// that waits on it, and nothing else: the same isolate answers other
/// requests meanwhile.
#[tokio::test]
async fn redis_paused_holds_only_the_kv_call() {
    let h = Harness::start(Backend::Redis).await;
    h.put("/put?key=k", "after the pause").await;
    let redis = h.redis.as_ref().unwrap();
    assert!(redis.command(&["CLIENT", "PAUSE", "1500", "ALL"]).starts_with("+OK"));
    let started = std::time::Instant::now();
    let edge = h.node().edge;
    let held = tokio::spawn(async move { send(edge, "GET", "example.com", "/get?key=k", &[], Vec::new()).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let res = h.get("/ping").await;
    assert_eq!(res.text(), "pong");
    assert!(
        started.elapsed() < Duration::from_millis(1200),
        "the ping waited for Redis: {:?}",
        started.elapsed()
    );
    let res = held.await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "the read waited for the pause"
    );
    assert_eq!(res.json()["value"], "after the pause");
}

/// Redis expires values by itself; the cleanup task also drops expired
/// keys from their namespace's listing set, so it does not grow.
#[tokio::test]
async fn redis_cleanup_drops_expired_keys_from_the_listing_set() {
    let h = Harness::start_full(Backend::Redis, None, 1).await;
    let redis = h.redis.as_ref().unwrap();
    let count = |key: &str| {
        let reply = redis.command(&["ZCARD", key]);
        reply
            .trim_start_matches(':')
            .trim()
            .parse::<u64>()
            .unwrap_or_else(|_| panic!("{reply:?}"))
    };
    let index = "islet:kv:{4:main}:i";
    h.put("/put?key=c/short&ttl=60", "a").await;
    h.put("/put?key=c/rewritten&ttl=60", "b").await;
    h.put("/put?key=c/long&ttl=600", "c").await;
    h.put("/put?key=c/forever", "d").await;
    assert_eq!((count(index), count("islet:kv:expiring")), (4, 3));
    h.put("/put?key=c/rewritten", "no expiration now").await;
    assert_eq!(
        count("islet:kv:expiring"),
        2,
        "a put without expiration leaves the expiring set"
    );
    h.clock.advance(61);
    for _ in 0..100 {
        if count(index) == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(count(index), 3, "c/short left the listing set");
    assert_eq!(count("islet:kv:expiring"), 1);
    assert!(redis
        .command(&["EXISTS", "islet:kv:{4:main}:v:c/short"])
        .starts_with(":0"));
    assert_eq!(
        names(&h.ok("/list?prefix=c/").await),
        ["c/forever", "c/long", "c/rewritten"]
    );
    assert_eq!(h.ok("/get?key=c/rewritten").await["value"], "no expiration now");
    h.ok("/delete?key=c/long").await;
    assert_eq!((count(index), count("islet:kv:expiring")), (2, 0));
}

/// A node told to use an unreachable Redis refuses to start and says why.
#[test]
fn an_unreachable_redis_stops_the_start() {
    let dir = TempDir::new("kv-noredis");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let mut config = node_config(&dir.path);
    config.store = Some(format!("redis://:secret@127.0.0.1:{port}"));
    let err = islet_runtime::serve::start(&config).err().expect("no node").to_string();
    assert!(err.contains("Redis"), "{err}");
    assert!(!err.contains("secret"), "the password stays out of messages: {err}");
    config.store = Some("memcached://127.0.0.1:1".into());
    let err = islet_runtime::serve::start(&config).err().expect("no node").to_string();
    assert!(err.contains("redis://"), "{err}");
}

/// Environment variable that turns [`kv_crash_child_node`] into a node.
const KV_CRASH_CHILD_DIR: &str = "ISLET_TEST_KV_CRASH_CHILD_DIR";

/// Not a test of its own: the body of the process that
/// `embedded_acknowledged_puts_survive_kill_9` starts (this test binary,
/// run again with `KV_CRASH_CHILD_DIR` set) and kills with SIGKILL.
/// Without the variable it returns at once.
#[test]
fn kv_crash_child_node() {
    serve_child_node(KV_CRASH_CHILD_DIR, node_config);
}

/// Starts this test binary as a node over `dir`.
async fn start_kv_child(dir: &std::path::Path) -> ChildNode {
    start_child_node("kv::kv_crash_child_node", KV_CRASH_CHILD_DIR, dir, ChildStderr::ToFile).await
}

/// Every put a script saw resolve is on disk: writers put keys as fast as
/// they are acknowledged, the node is killed with SIGKILL mid-stream, and
/// after a restart every acknowledged key is there with its value.
#[tokio::test]
async fn embedded_acknowledged_puts_survive_kill_9() {
    const WRITERS: usize = 4;
    let dir = TempDir::new("kv-crash");
    let mut acked = [0u64; WRITERS];
    for round in 0..2u64 {
        let ChildNode {
            mut process,
            admin,
            edge,
        } = start_kv_child(&dir.path).await;
        if round == 0 {
            let metadata = json!({
                "main": "index.js",
                "bindings": { "kv_namespaces": { "KV": "crash" } },
                "routes": ["example.com/*"],
                "limits": { "cpu_ms": 60_000 },
            })
            .to_string();
            let source = fixture("kv_worker.js");
            let (content_type, body) = module_upload(&source, &metadata);
            let auth = format!("Bearer {}", crate::common::ADMIN_TOKEN);
            let headers = [
                ("authorization", auth.as_str()),
                ("content-type", content_type.as_str()),
            ];
            let res = send(admin, "PUT", "localhost", "/v1/scripts/kvw", &headers, body).await;
            assert_eq!(res.status, 201, "{}", res.text());
        }
        // What survived the previous kill: every acknowledged key, in order.
        for (w, &count) in acked.iter().enumerate() {
            let res = send(
                edge,
                "GET",
                "example.com",
                &format!("/list-all?prefix=w{w}/"),
                &[],
                Vec::new(),
            )
            .await;
            let names = res.json()["names"].as_array().unwrap().len() as u64;
            assert!(names >= count, "writer {w}: {names} keys on disk, {count} acknowledged");
            if count > 0 {
                let last = format!("/get?key=w{w}/{:06}", count - 1);
                let res = send(edge, "GET", "example.com", &last, &[], Vec::new()).await;
                assert_eq!(res.json()["value"], format!("value {}", count - 1));
            }
        }
        let (acked_tx, mut acked_rx) = tokio::sync::mpsc::unbounded_channel::<(usize, u64)>();
        let mut writers = Vec::new();
        for (w, &start) in acked.iter().enumerate() {
            let acked_tx = acked_tx.clone();
            writers.push(tokio::spawn(async move {
                for n in start.. {
                    let path = format!("/put?key=w{w}/{n:06}");
                    let body = format!("value {n}").into_bytes();
                    match crate::common::try_send(edge, "POST", "example.com", &path, &[], body).await {
                        Ok(res) if res.status == 200 => {
                            let _ = acked_tx.send((w, n + 1));
                        }
                        _ => return,
                    }
                }
            }));
        }
        drop(acked_tx);
        for _ in 0..200 {
            let (w, count) = acked_rx.recv().await.expect("puts are acknowledged");
            acked[w] = acked[w].max(count);
        }
        process.0.kill().unwrap();
        process.0.wait().unwrap();
        while let Ok((w, count)) = acked_rx.try_recv() {
            acked[w] = acked[w].max(count);
        }
        for w in writers {
            let _ = w.await;
        }
        while let Ok((w, count)) = acked_rx.try_recv() {
            acked[w] = acked[w].max(count);
        }
    }
    let ChildNode {
        edge, process: _child, ..
    } = start_kv_child(&dir.path).await;
    for (w, &count) in acked.iter().enumerate() {
        let res = send(
            edge,
            "GET",
            "example.com",
            &format!("/list-all?prefix=w{w}/"),
            &[],
            Vec::new(),
        )
        .await;
        let names: Vec<String> = res.json()["names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_string())
            .collect();
        assert!(
            names.len() as u64 >= count,
            "writer {w}: {} on disk, {count} acknowledged",
            names.len()
        );
        for (n, name) in names.iter().enumerate().take(count as usize) {
            assert_eq!(name, &format!("w{w}/{n:06}"), "no acknowledged key is missing");
        }
    }
}
