//! Metrics, the request log and the live tail (design section 10): the
//! `/metrics` output parses and its values move as requests, cold starts,
//! KV calls, subrequests and limit hits happen; `promtool` accepts it;
//! the tail carries console lines and request outcomes to several readers,
//! and a reader that stops reading is dropped without slowing requests;
//! request and console log lines are JSON with the script, request id,
//! status, duration, CPU time and cold start.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{
    admin_send, fixture, module_upload, node_config, send, serve_child_node, start_child_node, ChildNode, ChildStderr,
    TempDir, TestNode, TestResponse, ADMIN_TOKEN,
};

/// The script the tests deploy, bound to this KV namespace.
const NAMESPACE: &str = "observed-ns";

/// A node with `fetch()` to loopback allowed (for a subrequest to its own
/// admin `/healthz`), and `name` deployed from `observe_worker.js` on
/// `{name}.test/*`.
async fn node_with_script(dir: &Path, name: &str) -> TestNode {
    let mut config = node_config(dir);
    config.fetch.allow_private = true;
    let node = TestNode::start_with(&config);
    deploy(&node, name).await;
    node
}

async fn deploy(node: &TestNode, name: &str) {
    let metadata = json!({
        "main": "index.js",
        "bindings": { "kv_namespaces": { "KV": NAMESPACE } },
        "routes": [format!("{name}.test/*")],
    })
    .to_string();
    let source = fixture("observe_worker.js");
    let (content_type, body) = module_upload(&source, &metadata);
    let res = node
        .admin("PUT", &format!("/v1/scripts/{name}"), Some(&content_type), body)
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
}

async fn get(node: &TestNode, name: &str, path: &str) -> TestResponse {
    node.edge_get(&format!("{name}.test"), path).await
}

/// One scrape of `/metrics`, parsed by a Prometheus text-format parser.
struct Scrape {
    text: String,
    parsed: prometheus_parse::Scrape,
}

impl Scrape {
    async fn take(node: &TestNode) -> Scrape {
        let res = node.admin_get("/metrics").await;
        assert_eq!(res.status, 200, "{}", res.text());
        let content_type = res.headers.get("content-type").unwrap().to_str().unwrap();
        assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
        let text = res.text();
        let parsed = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
            .unwrap_or_else(|e| panic!("the metrics do not parse ({e}):\n{text}"));
        Scrape { text, parsed }
    }

    fn samples<'a>(
        &'a self,
        metric: &'a str,
        labels: &'a [(&str, &str)],
    ) -> impl Iterator<Item = &'a prometheus_parse::Sample> {
        self.parsed
            .samples
            .iter()
            .filter(move |s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
    }

    /// The value of a counter or gauge, if the series exists.
    fn value(&self, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples(metric, labels).find_map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => Some(v),
            _ => None,
        })
    }

    /// A histogram's buckets (upper bound, cumulative count).
    fn buckets(&self, metric: &str, labels: &[(&str, &str)]) -> Vec<(f64, f64)> {
        self.samples(metric, labels)
            .find_map(|s| match &s.value {
                prometheus_parse::Value::Histogram(b) => Some(b.iter().map(|c| (c.less_than, c.count)).collect()),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// How many values a histogram holds (its `+Inf` bucket).
    fn count(&self, metric: &str, labels: &[(&str, &str)]) -> f64 {
        self.buckets(metric, labels)
            .iter()
            .find(|(le, _)| le.is_infinite())
            .map_or(0.0, |(_, n)| *n)
    }

    fn has_script(&self, script: &str) -> bool {
        self.parsed
            .samples
            .iter()
            .any(|s| s.labels.get("script") == Some(script))
    }
}

/// Scrapes until `ready` holds (a request is recorded once its response
/// body has been sent, which can be a moment after the client has it).
async fn scrape_until(node: &TestNode, ready: impl Fn(&Scrape) -> bool) -> Scrape {
    let started = std::time::Instant::now();
    loop {
        let scrape = Scrape::take(node).await;
        if ready(&scrape) {
            return scrape;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the metrics did not reach the expected values:\n{}",
            scrape.text
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `promtool check metrics` on `text`; promtool comes with the
/// Debian package `prometheus`, which `.ci/run` installs.
fn promtool_check(text: &str) {
    let child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = child.unwrap_or_else(|e| {
        panic!("cannot run promtool ({e}): install it with `apt-get install -y prometheus` (.ci/run does)")
    });
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(text.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n--- metrics ---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn metrics_move_with_requests_cold_starts_kv_subrequests_and_limits() {
    let dir = TempDir::new("metrics");
    let node = node_with_script(&dir.path, "observed").await;
    let script = [("script", "observed")];

    let before = Scrape::take(&node).await;
    assert_eq!(before.value("islet_scripts", &[]), Some(1.0));
    assert!(!before.has_script("observed"), "no series before the first request");
    assert!(before.value("process_resident_memory_bytes", &[]).unwrap() > 0.0);
    assert!(before.value("process_open_fds", &[]).unwrap() > 0.0);

    for _ in 0..3 {
        assert_eq!(get(&node, "observed", "/hello").await.status, 200);
    }
    assert_eq!(get(&node, "observed", "/missing").await.status, 404);
    assert_eq!(get(&node, "observed", "/boom").await.status, 500);
    assert_eq!(get(&node, "observed", "/kv").await.text(), "v");
    let healthz = format!("/fetch?url=http://{}/healthz", node.admin);
    assert_eq!(get(&node, "observed", &healthz).await.text(), "upstream said 200");
    // Stopped by the CPU limit: the next request needs a new isolate.
    assert_eq!(get(&node, "observed", "/spin").await.status, 503);
    assert_eq!(get(&node, "observed", "/hello").await.status, 200);

    let m = scrape_until(&node, |m| m.count("islet_request_duration_seconds", &script) >= 9.0).await;
    let requests = |class: &str| m.value("islet_requests_total", &[("script", "observed"), ("status", class)]);
    assert_eq!(requests("2xx"), Some(6.0), "{}", m.text);
    assert_eq!(requests("4xx"), Some(1.0), "{}", m.text);
    assert_eq!(requests("5xx"), Some(2.0), "{}", m.text);
    assert_eq!(requests("3xx"), Some(0.0), "{}", m.text);
    assert_eq!(m.count("islet_request_duration_seconds", &script), 9.0);
    assert_eq!(m.count("islet_cpu_time_seconds", &script), 9.0);
    assert_eq!(m.value("islet_cold_starts_total", &script), Some(2.0));
    let limit = |l: &str| m.value("islet_limit_exceeded_total", &[("script", "observed"), ("limit", l)]);
    assert_eq!(limit("cpu"), Some(1.0));
    assert_eq!(limit("memory"), Some(0.0));
    assert_eq!(limit("wall_time"), Some(0.0));
    assert_eq!(m.value("islet_subrequests_total", &script), Some(1.0));
    let kv = |op: &str| m.value("islet_kv_operations_total", &[("namespace", NAMESPACE), ("op", op)]);
    assert_eq!(kv("put"), Some(1.0));
    assert_eq!(kv("get"), Some(1.0));
    assert_eq!(kv("list"), Some(0.0));
    assert!(m.count("islet_isolate_startup_seconds", &[]) >= 2.0);
    // Every cold start took a spare from the stock or made its isolate.
    let source = |s: &str| {
        m.value("islet_cold_start_isolates_total", &[("thread", "0"), ("source", s)])
            .unwrap_or_else(|| panic!("no islet_cold_start_isolates_total for {s}:\n{}", m.text))
    };
    assert_eq!(
        source("stock") + source("thread"),
        m.count("islet_isolate_startup_seconds", &[]),
        "{}",
        m.text
    );
    assert_eq!(m.value("islet_isolates", &[("thread", "0")]), Some(1.0));
    assert!(m.value("process_cpu_seconds_total", &[]).unwrap() > 0.0);

    // The spinning request's CPU time is in the histogram: the sum passes
    // the 50 ms budget, and it sits in a bucket at or above 50 ms.
    let cpu = m.buckets("islet_cpu_time_seconds", &script);
    let below_limit = cpu.iter().find(|(le, _)| (*le - 0.025).abs() < 1e-9).unwrap().1;
    assert_eq!(below_limit, 8.0, "{cpu:?}");
    // Buckets resolve sub-millisecond times.
    assert!(cpu.iter().filter(|(le, _)| *le < 0.001).count() >= 4, "{cpu:?}");
    let startup = m.buckets("islet_isolate_startup_seconds", &[]);
    assert!(
        startup.iter().filter(|(le, _)| *le <= 0.001).count() >= 4,
        "{startup:?}"
    );

    promtool_check(&m.text);

    // A deleted script's series disappear.
    let res = node.admin("DELETE", "/v1/scripts/observed", None, Vec::new()).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let after = Scrape::take(&node).await;
    assert!(!after.has_script("observed"), "{}", after.text);
    assert_eq!(after.value("islet_scripts", &[]), Some(0.0));
    promtool_check(&after.text);
}

#[tokio::test]
async fn metrics_need_the_token_and_only_answer_get() {
    let dir = TempDir::new("metrics-auth");
    let node = TestNode::start(&dir.path);
    let res = send(node.admin, "GET", "localhost", "/metrics", &[], Vec::new()).await;
    assert_eq!(res.status, 401);
    let res = node.admin("POST", "/metrics", None, Vec::new()).await;
    assert_eq!(res.status, 405);
}

/// A reader of a script's live tail, line by line.
struct TailReader {
    body: hyper::body::Incoming,
    buffered: Vec<u8>,
}

impl TailReader {
    async fn open(node: &TestNode, script: &str) -> TailReader {
        let stream = tokio::net::TcpStream::connect(node.admin).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let req = http::Request::get(format!("/v1/scripts/{script}/tail"))
            .header("host", "localhost")
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
            .body(Empty::<Bytes>::new())
            .unwrap();
        let res = sender.send_request(req).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "application/x-ndjson");
        TailReader {
            body: res.into_body(),
            buffered: Vec::new(),
        }
    }

    /// The next line as JSON; `None` when the stream ended.
    async fn next(&mut self) -> Option<Value> {
        loop {
            if let Some(end) = self.buffered.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffered.drain(..=end).collect();
                return Some(serde_json::from_slice(&line).expect("each tail line is JSON"));
            }
            let frame = tokio::time::timeout(Duration::from_secs(10), self.body.frame())
                .await
                .expect("a tail line within 10 s");
            match frame {
                Some(Ok(frame)) => self.buffered.extend_from_slice(&frame.into_data().unwrap_or_default()),
                Some(Err(e)) => panic!("tail stream failed: {e}"),
                None => return None,
            }
        }
    }

    /// Lines up to and including the next request outcome.
    async fn until_request(&mut self) -> (Vec<Value>, Value) {
        let mut console = Vec::new();
        loop {
            let line = self.next().await.expect("a request line before the end");
            if line["type"] == "request" {
                return (console, line);
            }
            console.push(line);
        }
    }
}

#[tokio::test]
async fn the_tail_carries_console_lines_and_request_outcomes_to_every_reader() {
    let dir = TempDir::new("tail");
    let node = node_with_script(&dir.path, "tailed").await;
    let mut first = TailReader::open(&node, "tailed").await;
    let mut second = TailReader::open(&node, "tailed").await;

    assert_eq!(get(&node, "tailed", "/hello").await.status, 200);
    for reader in [&mut first, &mut second] {
        let (console, request) = reader.until_request().await;
        assert_eq!(console.len(), 1, "{console:?}");
        let line = &console[0];
        assert_eq!(line["type"], "console");
        assert_eq!(line["level"], "log");
        assert_eq!(line["message"], "hello from /hello");
        assert_eq!(line["script"], "tailed");
        assert_eq!(line["request_id"], request["request_id"]);
        assert_eq!(request["request_id"].as_str().unwrap().len(), 16);
        assert_eq!(request["status"], 200);
        assert_eq!(request["outcome"], "ok");
        assert_eq!(request["method"], "GET");
        assert_eq!(request["url"], "http://tailed.test/hello");
        assert_eq!(request["cold_start"], true);
        assert!(request["duration_ms"].as_f64().unwrap() > 0.0);
        assert!(request["cpu_ms"].as_f64().unwrap() > 0.0);
    }

    assert_eq!(get(&node, "tailed", "/boom").await.status, 500);
    let (console, request) = first.until_request().await;
    assert_eq!(console[0]["level"], "error");
    assert_eq!(console[0]["message"], "about to throw");
    assert_eq!(request["status"], 500);
    assert_eq!(request["outcome"], "exception");
    assert_eq!(request["cold_start"], false);
    assert!(
        request["error"].as_str().unwrap().contains("boom for the tail"),
        "{request}"
    );

    assert_eq!(get(&node, "tailed", "/spin").await.status, 503);
    let (_, request) = second.until_request().await;
    let (_, request_again) = second.until_request().await;
    assert_eq!(request["outcome"], "exception");
    assert_eq!(request_again["outcome"], "cpu_limit");
    assert_eq!(request_again["status"], 503);

    // Deleting the script ends its tails.
    let res = node.admin("DELETE", "/v1/scripts/tailed", None, Vec::new()).await;
    assert_eq!(res.status, 200);
    for reader in [&mut first, &mut second] {
        let mut last = None;
        while let Some(line) = reader.next().await {
            last = Some(line);
        }
        assert_eq!(last.unwrap()["type"], "closed");
    }
}

#[tokio::test]
async fn a_tail_of_an_unknown_script_is_404_and_needs_the_token() {
    let dir = TempDir::new("tail-errors");
    let node = TestNode::start(&dir.path);
    let res = node.admin_get("/v1/scripts/nope/tail").await;
    assert_eq!(res.status, 404, "{}", res.text());
    let res = send(node.admin, "GET", "localhost", "/v1/scripts/nope/tail", &[], Vec::new()).await;
    assert_eq!(res.status, 401);
}

#[tokio::test]
async fn a_tail_reader_that_stops_reading_is_dropped_and_requests_go_on() {
    let dir = TempDir::new("tail-slow");
    let node = node_with_script(&dir.path, "loud").await;
    // A reader that asks for the tail and then never reads.
    let mut stalled = tokio::net::TcpStream::connect(node.admin).await.unwrap();
    let request =
        format!("GET /v1/scripts/loud/tail HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer {ADMIN_TOKEN}\r\n\r\n");
    stalled.write_all(request.as_bytes()).await.unwrap();
    let mut head = [0u8; 12];
    stalled.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");

    // About 48 MB of console output: more than the socket buffers and the
    // tail's buffer hold. If publishing waited for the reader, these
    // requests would hang; the timeout only detects such a hang.
    let requests = async {
        for _ in 0..800 {
            let res = get(&node, "loud", "/shout?bytes=60000").await;
            assert_eq!(res.status, 200);
        }
    };
    tokio::time::timeout(Duration::from_secs(300), requests)
        .await
        .expect("requests went on while a tail reader was stalled");

    // The stalled reader, read now, learns it was dropped.
    let mut seen = Vec::new();
    let mut chunk = vec![0u8; 1 << 20];
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let n = stalled.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the tail ended without saying the reader was dropped");
            seen.extend_from_slice(&chunk[..n]);
            if let Some(at) = find(&seen, b"\"type\":\"dropped\"") {
                let line_start = seen[..at].iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
                let line_end = at + seen[at..].iter().position(|b| *b == b'\n').unwrap_or(0);
                if line_end > at {
                    return serde_json::from_slice::<Value>(&seen[line_start..line_end]).unwrap();
                }
            }
            // Keep memory bounded: only the tail of what was read matters.
            if seen.len() > 4 << 20 {
                seen.drain(..seen.len() - (1 << 20));
            }
        }
    })
    .await
    .expect("the dropped notice within 30 s");
    assert!(found["skipped"].as_u64().unwrap() > 0, "{found}");
    assert!(found["message"].as_str().unwrap().contains("reconnect"), "{found}");

    // A new reader gets lines again.
    let mut fresh = TailReader::open(&node, "loud").await;
    assert_eq!(get(&node, "loud", "/hello").await.status, 200);
    let (console, _) = fresh.until_request().await;
    assert_eq!(console[0]["message"], "hello from /hello");
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Set for the child process of the request-log test: its data directory.
const LOG_CHILD_DIR: &str = "ISLET_TEST_LOG_CHILD_DIR";

/// Not a test on its own: the child process of
/// `request_and_console_logs_are_json_lines_with_the_request_id`, a node
/// logging JSON to stderr with request lines at info. Without the
/// environment variable it returns at once.
#[test]
fn log_child_node() {
    serve_child_node(LOG_CHILD_DIR, |dir| {
        let mut config = node_config(dir);
        config.log.requests = "info".into();
        config.log.format = islet_runtime::observe::logging::LogFormat::Json;
        islet_runtime::observe::logging::init("info", config.log.format).unwrap();
        config
    });
}

#[tokio::test]
async fn request_and_console_logs_are_json_lines_with_the_request_id() {
    let dir = TempDir::new("log-json");
    let ChildNode {
        mut process,
        admin,
        edge,
    } = start_child_node("observe::log_child_node", LOG_CHILD_DIR, &dir.path, ChildStderr::Piped).await;
    let stderr = process.0.stderr.take().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });

    let upload = admin_send(
        admin,
        ADMIN_TOKEN,
        "PUT",
        "/v1/scripts/logged",
        Some("application/javascript+module"),
        fixture("observe_worker.js").into_bytes(),
    )
    .await;
    assert_eq!(upload.status, 201, "{}", upload.text());
    let route = admin_send(
        admin,
        ADMIN_TOKEN,
        "PUT",
        "/v1/routes/logged",
        Some("application/json"),
        json!({ "pattern": "logged.test/*", "script": "logged" })
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(route.status, 201, "{}", route.text());
    assert_eq!(
        send(edge, "GET", "logged.test", "/hello", &[], Vec::new()).await.status,
        200
    );
    assert_eq!(
        send(edge, "GET", "logged.test", "/missing", &[], Vec::new())
            .await
            .status,
        404
    );

    let mut lines: Vec<Value> = Vec::new();
    let requests = |lines: &[Value]| lines.iter().filter(|l| l["target"] == "islet::request").count();
    while requests(&lines) < 2 {
        let line = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("log lines within 10 s")
            .expect("the child is still logging");
        let parsed: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        lines.push(parsed);
    }
    let request_lines: Vec<&Value> = lines.iter().filter(|l| l["target"] == "islet::request").collect();
    let hello = request_lines[0];
    assert_eq!(hello["level"], "INFO");
    assert_eq!(hello["script"], "logged");
    assert_eq!(hello["status"], 200);
    assert_eq!(hello["outcome"], "ok");
    assert_eq!(hello["method"], "GET");
    assert_eq!(hello["url"], "http://logged.test/hello");
    assert_eq!(hello["cold_start"], true);
    assert!(hello["duration_ms"].as_f64().unwrap() > 0.0, "{hello}");
    assert!(hello["cpu_ms"].as_f64().unwrap() > 0.0, "{hello}");
    assert!(hello["timestamp"].is_string(), "{hello}");
    let missing = request_lines[1];
    assert_eq!(missing["status"], 404);
    assert_eq!(missing["cold_start"], false);
    assert_ne!(missing["request_id"], hello["request_id"]);

    let console = lines
        .iter()
        .find(|l| l["target"] == "islet::console")
        .expect("a console line");
    assert_eq!(console["message"], "hello from /hello");
    assert_eq!(console["script"], "logged");
    assert_eq!(console["request_id"], hello["request_id"]);
}

/// `deploy/`: the scrape config passes `promtool check config`, and every
/// metric the Grafana dashboard queries is one that islet exports.
#[tokio::test]
async fn the_scrape_config_is_valid_and_the_dashboard_queries_exported_metrics() {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let dir = TempDir::new("deploy-files");
    std::fs::copy(deploy.join("prometheus.yml"), dir.path.join("prometheus.yml")).unwrap();
    std::fs::write(dir.path.join("islet-admin-token"), ADMIN_TOKEN).unwrap();
    let out = std::process::Command::new("promtool")
        .args(["check", "config"])
        .arg(dir.path.join("prometheus.yml"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run promtool ({e}): install it with `apt-get install -y prometheus`"));
    assert!(
        out.status.success(),
        "promtool check config: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let node = node_with_script(&dir.path, "dashboarded").await;
    assert_eq!(get(&node, "dashboarded", "/kv").await.status, 200);
    let scrape = scrape_until(&node, |m| {
        m.value("islet_kv_operations_total", &[("op", "put")]).is_some()
    })
    .await;
    let exported: Vec<&str> = scrape
        .text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();

    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(deploy.join("grafana/islet-dashboard.json")).unwrap()).unwrap();
    let mut queried = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap();
            queried.extend(metric_names(expr));
        }
    }
    assert!(queried.len() >= 10, "{queried:?}");
    for name in &queried {
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix).filter(|f| exported.contains(f)))
            .unwrap_or(name);
        assert!(
            exported.contains(&family),
            "the dashboard queries {name}, which islet does not export"
        );
    }
}

/// The metric names (`islet_...`, `process_...`) in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("islet_") || word.starts_with("process_"))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn requests_that_match_no_route_are_counted_as_origin_or_no_route() {
    let dir = TempDir::new("metrics-unrouted");
    let without_origin = TestNode::start(&dir.path);
    assert_eq!(without_origin.edge_get("nowhere.test", "/").await.status, 404);
    let m = scrape_until(&without_origin, |m| m.value("islet_no_route_total", &[]) == Some(1.0)).await;
    assert_eq!(m.value("islet_origin_requests_total", &[("status", "2xx")]), Some(0.0));
    without_origin.stop();

    let origin = crate::netkit::OriginServer::start();
    let dir = TempDir::new("metrics-origin");
    let mut config = node_config(&dir.path);
    config.origin.url = Some(origin.url(""));
    let node = TestNode::start_with(&config);
    let res = node.edge_get("origin.test", "/page").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.text(), "origin GET /page");
    let m = scrape_until(&node, |m| {
        m.value("islet_origin_requests_total", &[("status", "2xx")]) == Some(1.0)
    })
    .await;
    assert_eq!(m.value("islet_no_route_total", &[]), Some(0.0));
    promtool_check(&m.text);
}
