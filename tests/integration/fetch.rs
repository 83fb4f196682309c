//! Outbound `fetch()`: http and https (a self-signed CA from the config),
//! streaming both ways, redirects, AbortSignal, timeouts, the address
//! policy and the subrequest limit, against a test origin on loopback.

use std::time::Duration;

use islet_runtime::server::{EdgeOptions, FetchSettings};

use crate::common::{ScriptSpec, TestServer};
use crate::netkit::{checksum, OriginServer, Pki};

/// Fetch settings that allow loopback (the test origin), as tests must.
fn loopback_allowed() -> FetchSettings {
    FetchSettings {
        allow: vec!["127.0.0.0/8".parse().unwrap(), "::1".parse().unwrap()],
        ..FetchSettings::default()
    }
}

async fn serve(source: String, fetch: FetchSettings) -> TestServer {
    TestServer::start_edge(
        vec![ScriptSpec::new("fetcher", source, &["*/*"])],
        1,
        EdgeOptions {
            fetch,
            ..crate::common::test_edge()
        },
    )
    .await
}

#[tokio::test]
async fn fetch_reaches_an_http_origin_with_method_headers_and_body() {
    let origin = OriginServer::start();
    let url = origin.url("/echo?x=1");
    let srv = serve(
        format!(
            r#"export default {{ async fetch() {{
                const res = await fetch("{url}", {{ method: "POST", body: "hello", headers: {{ "x-test": "yes" }} }});
                const echo = await res.json();
                return Response.json({{ status: res.status, ok: res.ok, url: res.url, origin: res.headers.get("x-origin"), echo }});
            }} }}"#
        ),
        loopback_allowed(),
    )
    .await;
    let res = srv.get("/").await;
    assert_eq!(res.status, 200, "{}", res.text());
    let v = res.json();
    assert_eq!(v["status"], 200);
    assert_eq!(v["ok"], true);
    assert_eq!(v["url"], url);
    assert_eq!(v["origin"], "yes");
    assert_eq!(v["echo"]["method"], "POST");
    assert_eq!(v["echo"]["uri"], "/echo?x=1");
    assert_eq!(v["echo"]["body"], "hello");
    assert_eq!(v["echo"]["headers"]["x-test"], "yes");
    assert_eq!(v["echo"]["headers"]["content-type"], "text/plain;charset=UTF-8");
    assert_eq!(v["echo"]["headers"]["host"], origin.addr.to_string());
}

#[tokio::test]
async fn fetch_over_https_trusts_the_configured_ca() {
    let pki = Pki::new("fetch-https");
    let origin = OriginServer::start_tls(pki.server_config("origin", &["localhost"]));
    let url = format!("https://localhost:{}/echo", origin.addr.port());
    let source = format!(
        r#"export default {{ async fetch() {{
            try {{
                const res = await fetch("{url}");
                const echo = await res.json();
                return new Response(res.status + " " + echo.method + " " + echo.version);
            }} catch (e) {{
                return new Response(e.name + ": " + e.message, {{ status: 502 }});
            }}
        }} }}"#
    );
    let trusted = serve(
        source.clone(),
        FetchSettings {
            ca_file: Some(pki.ca_file()),
            ..loopback_allowed()
        },
    )
    .await;
    let res = trusted.get("/").await;
    assert_eq!(res.status, 200, "{}", res.text());
    // ALPN picks HTTP/2 with an origin that offers it.
    assert_eq!(res.text(), "200 GET HTTP/2.0");

    // Without the CA, the self-signed chain is refused.
    let untrusted = serve(source, loopback_allowed()).await;
    let res = untrusted.get("/").await;
    assert_eq!(res.status, 502);
    assert!(res.text().starts_with("TypeError"), "{}", res.text());
}

#[tokio::test]
async fn response_bodies_stream_to_the_client_as_they_arrive() {
    let origin = OriginServer::start();
    let url = origin.url("/gate");
    let srv = serve(
        format!(r#"export default {{ fetch() {{ return fetch("{url}"); }} }}"#),
        loopback_allowed(),
    )
    .await;
    // The origin sends "first;" and holds the rest until the test has seen
    // "first;" at the client: a buffering proxy would never deliver it.
    let stream = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    let mut sender = crate::netkit::h1_sender(stream).await;
    let res = sender
        .send_request(crate::netkit::get("/", "example.com"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut body = res.into_body();
    use http_body_util::BodyExt;
    let first = tokio::time::timeout(Duration::from_secs(10), body.frame())
        .await
        .expect("first chunk in time")
        .unwrap()
        .unwrap()
        .into_data()
        .unwrap();
    assert_eq!(&first[..], b"first;");
    origin.open_gate();
    let rest = body.collect().await.unwrap().to_bytes();
    assert_eq!(&rest[..], b"second");
}

#[tokio::test]
async fn request_bodies_stream_upstream_from_the_client_and_from_js_streams() {
    let origin = OriginServer::start();
    let url = origin.url("/count");
    let srv = serve(
        format!(
            r#"export default {{ async fetch(request) {{
                const path = new URL(request.url).pathname;
                if (path === "/forward") {{
                    // The incoming body goes upstream without passing through JS.
                    return fetch("{url}", {{ method: "POST", body: request.body, duplex: "half" }});
                }}
                if (path === "/request") {{
                    return fetch(new Request("{url}", request));
                }}
                let i = 0;
                const stream = new ReadableStream({{
                    pull(c) {{
                        if (i === 64) {{ c.close(); return; }}
                        const chunk = new Uint8Array(16384);
                        for (let j = 0; j < chunk.length; j++) chunk[j] = (i * 16384 + j) % 251;
                        i++;
                        c.enqueue(chunk);
                    }},
                }});
                return fetch("{url}", {{ method: "PUT", body: stream }});
            }} }}"#
        ),
        loopback_allowed(),
    )
    .await;
    let data: Vec<u8> = (0..(4usize << 20)).map(|i| (i % 251) as u8).collect();
    let expected = format!("{}:{}", data.len(), checksum(&data));
    let res = srv.post("/forward", data.clone()).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.text(), expected);
    let res = srv.post("/request", data).await;
    assert_eq!(res.text(), expected);

    let generated: Vec<u8> = (0..64 * 16384).map(|i| (i % 251) as u8).collect();
    let res = srv.get("/js").await;
    assert_eq!(res.text(), format!("{}:{}", generated.len(), checksum(&generated)));
}

#[tokio::test]
async fn redirects_follow_manual_and_error() {
    let origin = OriginServer::start();
    let base = origin.url("");
    let srv = serve(
        format!(
            r#"export default {{ async fetch(request) {{
                const mode = new URL(request.url).searchParams.get("mode");
                const status = new URL(request.url).searchParams.get("status");
                try {{
                    const res = await fetch("{base}/redirect?status=" + status + "&to=/echo", {{ method: "POST", body: "b", redirect: mode }});
                    const text = await res.text();
                    const method = res.status === 200 ? JSON.parse(text).method + " " + JSON.parse(text).body : "";
                    return Response.json({{ status: res.status, url: res.url, redirected: res.redirected, location: res.headers.get("location"), method }});
                }} catch (e) {{
                    return Response.json({{ error: e.name + ": " + e.message }});
                }}
            }} }}"#
        ),
        loopback_allowed(),
    )
    .await;
    let v = srv.get("/?mode=follow&status=302").await.json();
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(v["url"], format!("{base}/echo"));
    assert_eq!(v["method"], "GET ", "302 after POST becomes GET without body");
    assert_eq!(v["redirected"], true);
    let v = srv.get("/?mode=follow&status=307").await.json();
    assert_eq!(v["method"], "POST b", "307 keeps the method and the body");
    let v = srv.get("/?mode=manual&status=301").await.json();
    assert_eq!(v["status"], 301);
    assert_eq!(v["redirected"], false);
    assert_eq!(v["location"], "/echo");
    let v = srv.get("/?mode=error&status=302").await.json();
    let error = v["error"].as_str().unwrap();
    assert!(error.starts_with("TypeError"), "{error}");
    assert!(error.contains("redirect mode is \"error\""), "{error}");
}

#[tokio::test]
async fn abort_signal_cancels_a_request_and_a_body_read() {
    let origin = OriginServer::start();
    let slow = origin.url("/slow?ms=10000");
    let drip = origin.url("/drip");
    let srv = serve(
        format!(
            r#"export default {{ async fetch(request) {{
                const path = new URL(request.url).pathname;
                const controller = new AbortController();
                if (path === "/before") {{
                    controller.abort();
                    try {{ await fetch("{slow}", {{ signal: controller.signal }}); }}
                    catch (e) {{ return new Response("before " + e.name); }}
                }}
                if (path === "/head") {{
                    setTimeout(() => controller.abort(), 50);
                    try {{ await fetch("{slow}", {{ signal: controller.signal }}); }}
                    catch (e) {{ return new Response("head " + e.name); }}
                }}
                if (path === "/timeout") {{
                    try {{ await fetch("{slow}", {{ signal: AbortSignal.timeout(50) }}); }}
                    catch (e) {{ return new Response("timeout " + e.name); }}
                }}
                const res = await fetch("{drip}", {{ signal: controller.signal }});
                const reader = res.body.getReader();
                const first = await reader.read();
                setTimeout(() => controller.abort(), 50);
                try {{ await reader.read(); }}
                catch (e) {{ return new Response("body " + new TextDecoder().decode(first.value) + " " + e.name); }}
                return new Response("not aborted");
            }} }}"#
        ),
        loopback_allowed(),
    )
    .await;
    let started = std::time::Instant::now();
    assert_eq!(srv.get("/before").await.text(), "before AbortError");
    assert_eq!(srv.get("/head").await.text(), "head AbortError");
    assert_eq!(srv.get("/timeout").await.text(), "timeout TimeoutError");
    assert_eq!(srv.get("/body").await.text(), "body first; AbortError");
    // Nothing waited for the origin's 10 s and 30 s delays.
    assert!(started.elapsed() < Duration::from_secs(8));
}

#[tokio::test]
async fn the_configured_timeout_rejects_slow_fetches() {
    let origin = OriginServer::start();
    let slow = origin.url("/slow?ms=5000");
    let drip = origin.url("/drip");
    let srv = serve(
        format!(
            r#"export default {{ async fetch(request) {{
                const path = new URL(request.url).pathname;
                try {{
                    if (path === "/head") await fetch("{slow}");
                    else await (await fetch("{drip}")).text();
                    return new Response("no timeout");
                }} catch (e) {{ return new Response(e.name + ": " + e.message); }}
            }} }}"#
        ),
        FetchSettings {
            timeout: Duration::from_millis(300),
            ..loopback_allowed()
        },
    )
    .await;
    let text = srv.get("/head").await.text();
    assert!(
        text.starts_with("TypeError") && text.contains("timed out after 300 ms"),
        "{text}"
    );
    let text = srv.get("/body").await.text();
    assert!(text.starts_with("TypeError") && text.contains("300 ms"), "{text}");
}

#[tokio::test]
async fn loopback_and_private_addresses_are_denied_by_default() {
    let origin = OriginServer::start();
    let port = origin.addr.port();
    let srv = serve(
        r#"export default { async fetch(request) {
            const target = new URL(request.url).searchParams.get("to");
            try { await fetch(target); return new Response("allowed"); }
            catch (e) { return new Response(e.name + ": " + e.message); }
        } }"#
            .to_string(),
        FetchSettings::default(),
    )
    .await;
    // Literal addresses are checked before any packet is sent; names are
    // checked after DNS (localhost resolves to loopback).
    for target in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/"),
        format!("http://[::1]:{port}/"),
        "http://10.1.2.3/".to_string(),
        "http://192.168.0.1/".to_string(),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://[fd00::1]/".to_string(),
        "http://0.0.0.0/".to_string(),
    ] {
        let text = srv.get(&format!("/?to={target}")).await.text();
        assert!(text.starts_with("TypeError: fetch to "), "{target}: {text}");
        assert!(text.contains("was blocked"), "{target}: {text}");
        assert!(text.contains("allow_private = true"), "{target}: {text}");
    }
    // The allow list opens exactly what it names.
    let allowed = serve(
        r#"export default { async fetch(request) {
            const target = new URL(request.url).searchParams.get("to");
            try { await fetch(target); return new Response("allowed"); }
            catch (e) { return new Response(e.name + ": " + e.message); }
        } }"#
            .to_string(),
        FetchSettings {
            allow: vec!["127.0.0.1/32".parse().unwrap()],
            ..FetchSettings::default()
        },
    )
    .await;
    assert_eq!(
        allowed.get(&format!("/?to=http://127.0.0.1:{port}/")).await.text(),
        "allowed"
    );
    assert!(allowed
        .get("/?to=http://10.1.2.3/")
        .await
        .text()
        .contains("was blocked"));
}

#[tokio::test]
async fn the_51st_fetch_of_a_request_is_refused() {
    let origin = OriginServer::start();
    let url = origin.url("/plain");
    let srv = serve(
        format!(
            r#"export default {{ async fetch() {{
                for (let i = 0; i < 50; i++) await (await fetch("{url}")).text();
                try {{ await fetch("{url}"); return new Response("51 fetches allowed"); }}
                catch (e) {{ return new Response(e.name + ": " + e.message); }}
            }} }}"#
        ),
        loopback_allowed(),
    )
    .await;
    let text = srv.get("/").await.text();
    assert!(text.starts_with("Error: Too many subrequests"), "{text}");
}

#[tokio::test]
async fn fetch_responses_are_real_responses() {
    let origin = OriginServer::start();
    let url = origin.url("/status/404");
    let srv = serve(
        format!(
            r#"export default {{ async fetch() {{
                const res = await fetch("{url}");
                let immutable = false;
                try {{ res.headers.set("x", "y"); }} catch (e) {{ immutable = e instanceof TypeError; }}
                const copy = res.clone();
                return Response.json({{
                    status: res.status, ok: res.ok, statusText: res.statusText, immutable,
                    text: await res.text(), copy: await copy.text(), used: res.bodyUsed,
                    header: res.headers.get("x-origin-status"),
                }});
            }} }}"#
        ),
        loopback_allowed(),
    )
    .await;
    let v = srv.get("/").await.json();
    assert_eq!(v["status"], 404);
    assert_eq!(v["ok"], false);
    assert_eq!(v["statusText"], "Not Found");
    assert_eq!(v["immutable"], true);
    assert_eq!(v["text"], "status 404");
    assert_eq!(v["copy"], "status 404");
    assert_eq!(v["used"], true);
    assert_eq!(v["header"], "404");
}

#[tokio::test]
async fn fetch_rejects_bad_input_as_type_errors() {
    let srv = serve(
        r#"export default { async fetch() {
            const out = [];
            for (const url of ["ftp://example.com/", "not a url"]) {
                try { await fetch(url); out.push("ok"); } catch (e) { out.push(e.name); }
            }
            return Response.json(out);
        } }"#
            .to_string(),
        loopback_allowed(),
    )
    .await;
    assert_eq!(srv.get("/").await.json(), serde_json::json!(["TypeError", "TypeError"]));
}

#[tokio::test]
async fn a_returned_fetch_response_keeps_status_headers_and_body() {
    let origin = OriginServer::start();
    let base = origin.url("");
    let srv = serve(
        format!(
            r#"export default {{ async fetch(request) {{
                const path = new URL(request.url).pathname;
                const res = await fetch("{base}/status/" + (path === "/wrapped" ? "201" : "202"));
                if (path === "/as-is") return res;
                if (path === "/read") return new Response((await res.text()).toUpperCase(), res);
                const wrapped = new Response(res.body, res);
                wrapped.headers.set("x-added", "1");
                return wrapped;
            }} }}"#
        ),
        loopback_allowed(),
    )
    .await;
    let res = srv.get("/as-is").await;
    assert_eq!((res.status, res.text().as_str()), (202, "status 202"));
    assert_eq!(res.header("x-origin-status").as_deref(), Some("202"));
    let res = srv.get("/wrapped").await;
    assert_eq!((res.status, res.text().as_str()), (201, "status 201"));
    assert_eq!(res.header("x-added").as_deref(), Some("1"));
    let res = srv.get("/read").await;
    assert_eq!((res.status, res.text().as_str()), (202, "STATUS 202"));
}

#[tokio::test]
async fn the_connect_timeout_applies() {
    // A listener that never accepts, with its backlog full: further SYNs
    // are dropped, so connecting hangs (on loopback, no packet leaves).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut held = Vec::new();
    let mut hangs = false;
    for _ in 0..1024 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
            Ok(s) => held.push(s),
            Err(e) => {
                hangs = e.kind() == std::io::ErrorKind::TimedOut || e.kind() == std::io::ErrorKind::WouldBlock;
                break;
            }
        }
    }
    if !hangs {
        eprintln!("this kernel refuses connections to a full backlog instead of dropping them: nothing to time out");
        return;
    }
    let srv = serve(
        format!(
            r#"export default {{ async fetch() {{
                try {{ await fetch("http://{addr}/"); return new Response("connected"); }}
                catch (e) {{ return new Response(e.name + ": " + e.message); }}
            }} }}"#
        ),
        FetchSettings {
            connect_timeout: Duration::from_millis(300),
            ..loopback_allowed()
        },
    )
    .await;
    let started = std::time::Instant::now();
    let text = srv.get("/").await.text();
    assert!(text.starts_with("TypeError") && text.contains("timed out"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(5));
    drop((held, listener));
}
