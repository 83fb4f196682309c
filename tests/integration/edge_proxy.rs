//! The edge as a drop-in proxy (unmatched routes and
//! `ctx.passThroughOnException()` go to the origin, WebSocket upgrades
//! included), HTTP/2 (h2 by ALPN over TLS, h2c by prior knowledge), TLS
//! certificates by SNI and their reload, and the listener's protections:
//! header limits, slow clients, graceful shutdown.

use std::time::Duration;

use http::Version;
use islet_runtime::server::{CertSpec, EdgeOptions, OriginOptions, Protection, TlsOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{send, ScriptSpec, TestServer};
use crate::netkit::{get, h1_sender, h2_sender, read, read_until, tls_connect, OriginServer, Pki};

fn with_origin(origin: &OriginServer) -> EdgeOptions {
    EdgeOptions {
        origin: Some(OriginOptions::parse(&origin.url("")).unwrap()),
        ..crate::common::test_edge()
    }
}

const API_SCRIPT: &str =
    r#"export default { fetch(request) { return new Response("script " + new URL(request.url).pathname); } }"#;

#[tokio::test]
async fn unmatched_requests_go_to_the_origin_unchanged() {
    let origin = OriginServer::start();
    let srv = TestServer::start_edge(
        vec![ScriptSpec::new("api", API_SCRIPT, &["example.com/api/*"])],
        1,
        with_origin(&origin),
    )
    .await;
    // A matched route is the script's.
    assert_eq!(srv.get("/api/users").await.text(), "script /api/users");
    // Everything else is the origin's: method, path, query, headers, body.
    let res = send(
        srv.addr,
        "POST",
        "example.com",
        "/echo?x=1&y=two",
        &[
            ("x-custom", "kept"),
            ("x-forwarded-for", "203.0.113.9"),
            ("connection", "keep-alive, x-hop"),
            ("x-hop", "dropped"),
        ],
        b"request body".to_vec(),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.header("x-origin").as_deref(), Some("yes"), "{res:?}");
    let v = res.json();
    assert_eq!(v["method"], "POST");
    assert_eq!(v["uri"], "/echo?x=1&y=two");
    assert_eq!(v["body"], "request body");
    let h = &v["headers"];
    assert_eq!(h["host"], "example.com");
    assert_eq!(h["x-custom"], "kept");
    assert!(
        h.get("x-hop").is_none(),
        "headers named by Connection are hop-by-hop: {h}"
    );
    assert_eq!(h["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-host"], "example.com");
    assert_eq!(h["forwarded"], "for=127.0.0.1;proto=http;host=\"example.com\"");
    // Statuses and bodies come back as the origin sent them.
    let res = srv.get("/status/418").await;
    assert_eq!(res.status, 418);
    assert_eq!(res.text(), "status 418");
    assert_eq!(res.header("x-origin-status").as_deref(), Some("418"));
}

#[tokio::test]
async fn without_an_origin_unmatched_requests_are_404() {
    let srv = TestServer::start(vec![ScriptSpec::new("api", API_SCRIPT, &["example.com/api/*"])], 1).await;
    assert_eq!(srv.get("/elsewhere").await.status, 404);
}

#[tokio::test]
async fn an_unreachable_origin_is_a_502() {
    // A port nothing listens on (bound, then closed).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let srv = TestServer::start_edge(
        vec![],
        1,
        EdgeOptions {
            origin: Some(OriginOptions::parse(&format!("http://127.0.0.1:{port}")).unwrap()),
            ..crate::common::test_edge()
        },
    )
    .await;
    assert_eq!(srv.get("/").await.status, 502);
}

#[tokio::test]
async fn websocket_upgrades_pass_through_to_the_origin() {
    let origin = OriginServer::start();
    let srv = TestServer::start_edge(vec![], 1, with_origin(&origin)).await;
    let mut stream = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    stream
        .write_all(
            b"GET /ws HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
              Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        )
        .await
        .unwrap();
    let head = read_until(&mut stream, b"\r\n\r\n").await;
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    for message in [&b"hello"[..], b"islet edge"] {
        stream.write_all(message).await.unwrap();
        let echoed = read_until(&mut stream, &message.to_ascii_uppercase()).await;
        assert_eq!(echoed, message.to_ascii_uppercase());
    }
}

#[tokio::test]
async fn pass_through_on_exception_sends_the_request_to_the_origin() {
    let origin = OriginServer::start();
    let script = r#"export default { async fetch(request, env, ctx) {
        const path = new URL(request.url).pathname;
        if (path === "/fine") return new Response("script answered");
        if (path !== "/no-pass") ctx.passThroughOnException();
        if (path === "/read") await request.text();
        if (path === "/later") await new Promise((r) => setTimeout(r, 10));
        throw new Error("boom");
    } }"#;
    let srv = TestServer::start_edge(
        vec![ScriptSpec::new("thrower", script, &["*/*"])],
        1,
        with_origin(&origin),
    )
    .await;
    assert_eq!(srv.get("/fine").await.text(), "script answered");
    // The script threw: the origin answers instead, with the request intact.
    let res = srv
        .request(
            "PUT",
            "example.com",
            "/echo?q=1",
            &[("x-kept", "1")],
            b"unread body".to_vec(),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let v = res.json();
    assert_eq!(v["method"], "PUT");
    assert_eq!(v["uri"], "/echo?q=1");
    assert_eq!(v["body"], "unread body");
    assert_eq!(v["headers"]["x-kept"], "1");
    // Also when the exception comes after an await.
    let res = srv.get("/later").await;
    assert_eq!(res.text(), "origin GET /later");
    // Without passThroughOnException it is the script's 500.
    assert_eq!(srv.get("/no-pass").await.status, 500);
    // A body the script already read cannot be sent twice: 500.
    assert_eq!(srv.post("/read", b"consumed".to_vec()).await.status, 500);
}

#[tokio::test]
async fn http2_over_tls_by_alpn_and_h2c_by_prior_knowledge() {
    let pki = Pki::new("h2");
    let (cert, key) = pki.issue("edge", &["example.com"]);
    let srv = TestServer::start_edge(
        vec![ScriptSpec::new("api", API_SCRIPT, &["*/*"])],
        1,
        EdgeOptions {
            tls: Some(TlsOptions {
                listen: "127.0.0.1:0".parse().unwrap(),
                certificates: vec![CertSpec {
                    hosts: vec!["example.com".into()],
                    cert,
                    key,
                }],
                reload_interval: Duration::from_secs(1),
            }),
            ..crate::common::test_edge()
        },
    )
    .await;
    let tls_addr = srv.tls_addr.expect("TLS listener");
    // h2 negotiated by ALPN.
    let tls = tls_connect(tls_addr, "example.com", pki.client_config(&[b"h2", b"http/1.1"]))
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let mut h2 = h2_sender(tls).await;
    for path in ["/one", "/two"] {
        let req = http::Request::get(format!("https://example.com{path}"))
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        let (status, version, body) = read(h2.send_request(req).await.unwrap()).await;
        assert_eq!(
            (status, version, body.as_str()),
            (200, Version::HTTP_2, format!("script {path}").as_str())
        );
    }
    // HTTP/1.1 over TLS when the client offers only that.
    let tls = tls_connect(tls_addr, "example.com", pki.client_config(&[b"http/1.1"]))
        .await
        .unwrap();
    let mut h1 = h1_sender(tls).await;
    let (status, version, body) = read(h1.send_request(get("/tls1", "example.com")).await.unwrap()).await;
    assert_eq!(
        (status, version, body.as_str()),
        (200, Version::HTTP_11, "script /tls1")
    );
    // h2c: HTTP/2 with prior knowledge on the cleartext port.
    let tcp = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    let mut h2c = h2_sender(tcp).await;
    let req = http::Request::get("http://example.com/clear")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let (status, version, body) = read(h2c.send_request(req).await.unwrap()).await;
    assert_eq!(
        (status, version, body.as_str()),
        (200, Version::HTTP_2, "script /clear")
    );
    // Closing the clients lets the server's shutdown finish at once.
    drop((h2, h1, h2c));
    tokio::time::sleep(Duration::from_millis(50)).await;
}

#[tokio::test]
async fn scripts_see_https_urls_on_the_tls_listener() {
    let pki = Pki::new("scheme");
    let (cert, key) = pki.issue("edge", &["example.com"]);
    let srv = TestServer::start_edge(
        vec![ScriptSpec::new(
            "url",
            r#"export default { fetch(request) { return new Response(request.url); } }"#,
            &["*/*"],
        )],
        1,
        EdgeOptions {
            tls: Some(TlsOptions {
                listen: "127.0.0.1:0".parse().unwrap(),
                certificates: vec![CertSpec {
                    hosts: vec!["example.com".into()],
                    cert,
                    key,
                }],
                reload_interval: Duration::from_secs(1),
            }),
            ..crate::common::test_edge()
        },
    )
    .await;
    let tls = tls_connect(srv.tls_addr.unwrap(), "example.com", pki.client_config(&[b"http/1.1"]))
        .await
        .unwrap();
    let mut h1 = h1_sender(tls).await;
    let (_, _, body) = read(h1.send_request(get("/p?q=1", "example.com")).await.unwrap()).await;
    assert_eq!(body, "https://example.com/p?q=1");
}

#[tokio::test]
async fn sni_picks_the_certificate_and_a_changed_one_is_reloaded() {
    let pki = Pki::new("sni");
    let (a_cert, a_key) = pki.issue("a", &["a.test"]);
    let (b_cert, b_key) = pki.issue("b", &["b.test", "*.b.test"]);
    let srv = TestServer::start_edge(
        vec![ScriptSpec::new("api", API_SCRIPT, &["*/*"])],
        1,
        EdgeOptions {
            tls: Some(TlsOptions {
                listen: "127.0.0.1:0".parse().unwrap(),
                certificates: vec![
                    CertSpec {
                        hosts: vec!["a.test".into()],
                        cert: a_cert,
                        key: a_key,
                    },
                    CertSpec {
                        hosts: vec!["b.test".into(), "*.b.test".into()],
                        cert: b_cert,
                        key: b_key,
                    },
                ],
                reload_interval: Duration::from_millis(50),
            }),
            ..crate::common::test_edge()
        },
    )
    .await;
    let addr = srv.tls_addr.unwrap();
    let client = pki.client_config(&[b"http/1.1"]);
    // The client checks the name: each handshake succeeds only with the
    // certificate of the name it asked for.
    for name in ["a.test", "b.test", "www.b.test"] {
        let tls = tls_connect(addr, name, client.clone())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut h1 = h1_sender(tls).await;
        let (status, _, _) = read(h1.send_request(get("/", name)).await.unwrap()).await;
        assert_eq!(status, 200, "{name}");
    }
    // A connection opened before the reload.
    let before = tls_connect(addr, "a.test", client.clone()).await.unwrap();
    let mut before = h1_sender(before).await;

    // Replace a.test's certificate with one from another CA.
    let other = Pki::new("sni-new");
    let (new_cert, new_key) = other.issue("new-a", &["a.test"]);
    std::fs::copy(&new_key, pki.dir.path.join("a.key.tmp")).unwrap();
    std::fs::copy(&new_cert, pki.dir.path.join("a.crt.tmp")).unwrap();
    std::fs::rename(pki.dir.path.join("a.key.tmp"), pki.dir.path.join("a.key")).unwrap();
    std::fs::rename(pki.dir.path.join("a.crt.tmp"), pki.dir.path.join("a.crt")).unwrap();
    let new_client = other.client_config(&[b"http/1.1"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if tls_connect(addr, "a.test", new_client.clone()).await.is_ok() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the new certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // b.test is unchanged, and the old connection still works.
    assert!(tls_connect(addr, "b.test", client.clone()).await.is_ok());
    let (status, _, _) = read(before.send_request(get("/", "a.test")).await.unwrap()).await;
    assert_eq!(status, 200);
}

fn protected(protection: Protection) -> EdgeOptions {
    EdgeOptions {
        protection,
        ..crate::common::test_edge()
    }
}

/// The API script behind a listener that waits `timeout` for a request head.
async fn api_with_head_timeout(timeout: Duration) -> TestServer {
    TestServer::start_edge(
        vec![ScriptSpec::new("api", API_SCRIPT, &["*/*"])],
        1,
        protected(Protection {
            header_read_timeout: timeout,
            ..crate::common::test_edge().protection
        }),
    )
    .await
}

#[tokio::test]
async fn slow_clients_are_cut_off() {
    let srv = api_with_head_timeout(Duration::from_millis(400)).await;
    // Slowloris: a header line every 100 ms, never the end of the head.
    let mut slow = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: example.com\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut closed = false;
    for i in 0..100 {
        if slow.write_all(format!("X-Slow-{i}: 1\r\n").as_bytes()).await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 512];
        match tokio::time::timeout(Duration::from_millis(100), slow.read(&mut buf)).await {
            Ok(Ok(_)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Err(_) => {}
        }
    }
    assert!(closed, "the slow client was never cut off");
    assert!(started.elapsed() < Duration::from_secs(5));
    // A client that connects and sends nothing is closed too.
    let mut idle = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut buf))
        .await
        .expect("idle connection closed in time")
        .unwrap_or(0);
    assert_eq!(n, 0);
    // Normal clients are unaffected.
    assert_eq!(srv.get("/ok").await.text(), "script /ok");
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let srv = api_with_head_timeout(Duration::from_millis(400)).await;
    let mut conn = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    conn.write_all(b"GET /first HTTP/1.1\r\nHost: example.com\r\n\r\n")
        .await
        .unwrap();
    let head = read_until(&mut conn, b"script /first").await;
    assert!(String::from_utf8_lossy(&head).contains("200 OK"));
    // Then nothing: the connection is closed once the next head is overdue.
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf))
        .await
        .expect("idle keep-alive connection closed in time")
        .unwrap_or(0);
    assert_eq!(n, 0);
}

#[tokio::test]
async fn oversized_request_heads_are_refused() {
    let srv = TestServer::start_edge(
        vec![ScriptSpec::new("api", API_SCRIPT, &["*/*"])],
        1,
        protected(Protection {
            max_headers: 20,
            max_header_bytes: 8192,
            ..crate::common::test_edge().protection
        }),
    )
    .await;
    let many: Vec<(String, String)> = (0..40).map(|i| (format!("x-h{i}"), "v".to_string())).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let res = crate::common::try_send(srv.addr, "GET", "example.com", "/", &many, Vec::new()).await;
    assert!(res.map_or(true, |r| r.status == 431), "40 headers were accepted");
    let big = "x".repeat(16 * 1024);
    let res = crate::common::try_send(
        srv.addr,
        "GET",
        "example.com",
        "/",
        &[("x-big", big.as_str())],
        Vec::new(),
    )
    .await;
    assert!(res.map_or(true, |r| r.status == 431), "a 16 KiB header was accepted");
    assert_eq!(srv.get("/ok").await.status, 200);
}

#[tokio::test]
async fn graceful_shutdown_finishes_requests_in_flight() {
    let script = r#"export default { async fetch() {
        await new Promise((r) => setTimeout(r, 400));
        return new Response("finished");
    } }"#;
    let mut srv = TestServer::start(vec![ScriptSpec::new("slow", script, &["*/*"])], 1).await;
    let addr = srv.addr;
    let in_flight = tokio::spawn(async move { send(addr, "GET", "example.com", "/", &[], Vec::new()).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let handle = srv.take_handle().unwrap();
    let stopped = tokio::task::spawn_blocking(move || handle.shutdown());
    let res = in_flight.await.unwrap();
    assert_eq!(res.status, 200);
    assert_eq!(res.text(), "finished");
    stopped.await.unwrap();
    // After the drain, the listener is gone.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
