//! Gateway routes beyond forwarding a path to a service: path and host
//! rewrites, redirects, WebSocket upgrades, routing on the request's host,
//! and routes without a timeout. Their diagnostics, and a live Envoy built
//! from a spec that uses them all, in front of tiny test upstreams.

use crate::support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use meshc::diag::Code;
use support::fixture::check;
use support::{
    build_workspace, codes, compile_mesh, envoy_validate, free_port, http_request, human, span_text, write_files,
    EnvoyProcess, Upstream,
};

const OPENAPI: &str = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths: {}\n";

/// A workspace with services `orders` and `events` and gateway `edge` holding `routes`.
fn mesh(routes: &str) -> String {
    format!(
        r#"
service "orders" {{
    owner "team-orders"
    address "orders.shop.svc.cluster.local" port=8080
}}
service "events" {{
    owner "team-events"
    address "events.shop.svc.cluster.local" port=8080
}}
gateway "edge" {{
    listener "http" port=8080
{routes}
}}
"#
    )
}

fn diagnose(routes: &str) -> meshc::driver::Compilation {
    compile_mesh(&mesh(routes)).1
}

/// The span texts of the diagnostics with `code`.
fn spans_of(c: &meshc::driver::Compilation, code: Code) -> Vec<String> {
    c.diagnostics
        .iter()
        .filter(|d| d.code == code)
        .map(|d| span_text(c, d.primary.as_ref().expect("a primary label").span))
        .collect()
}

#[test]
fn every_new_route_setting_checks_clean() {
    check(
        r##"
        service "orders" { owner "team-orders"; address "orders.shop.svc.cluster.local" port=8080; }
        service "events" { owner "team-events"; address "events.shop.svc.cluster.local" port=8080; }
        gateway "edge" {
            listener "http" port=8080
            route "v1" {
                match path-prefix="/v1/orders/"
                to "orders"
                rewrite prefix="/orders/" host="orders.internal"
            }
            route "shop" {
                match path-prefix="/shop/"
                to "orders"
                rewrite regex=#"^/shop/([a-z]+)/(\d+)$"# with=#"/\1/items/\2"#
            }
            route "old" {
                match path-prefix="/old/"
                redirect prefix="/orders/" code=308 strip-query=#true
            }
            route "tls" {
                match path="/login"
                redirect scheme="https" host="shop.example" port=8443
            }
            route "live" {
                match path="/live"
                to "events"
                websocket
                timeout "none"
                idle-timeout "10m"
            }
            host "api.shop.example" "*.api.shop.example" {
                route "api" {
                    match path-prefix="/"
                    to "orders"
                }
            }
        }
        "##,
    );
}

#[test]
fn a_prefix_rewrite_needs_a_prefix_match() {
    let c = check(
        r#"
        service "orders" { owner "team-orders"; address "orders.shop.svc.cluster.local" port=8080; }
        gateway "edge" {
            listener "http" port=8080
            route "r" {
                match path="/v1/orders"
                to "orders"
                rewrite prefix="/orders"
        //              ^^^^^^^^^^^^^^^^ MESH0068 error
            }
            route "old" {
                match path="/old"
                redirect prefix="/new"
        //               ^^^^^^^^^^^^^ MESH0068 error
            }
        }
        "#,
    );
    assert!(human(&c).contains(r#"path-prefix="/v1/orders""#), "{}", human(&c));
}

#[test]
fn rewrite_patterns_are_checked_as_re2_at_the_offending_part() {
    for (pattern, with, at) in [
        (r"^/a(?=b)", r"/\0", "(?="),
        (r"^/(a)\1", "/x", r"\1"),
        (r"^/[a[b]]", "/x", "[b]"),
        (r"^/(a)$", r"/\2", r"\2"),
        (r"^/a$", r"/\q", r"\q"),
    ] {
        let c = diagnose(&format!(
            "    route \"r\" {{\n        match path-prefix=\"/\"\n        to \"orders\"\n        rewrite regex=#\"{pattern}\"# with=#\"{with}\"#\n    }}"
        ));
        assert_eq!(codes(&c), [Code::InvalidRewriteRegex], "{pattern} {with}: {}", human(&c));
        assert_eq!(spans_of(&c, Code::InvalidRewriteRegex), [at], "{pattern} {with}");
    }
    // Written with escapes, the value is not verbatim in the source: the whole property is shown.
    let c = diagnose(
        "    route \"r\" {\n        match path-prefix=\"/\"\n        to \"orders\"\n        rewrite regex=\"^/a\\\\1\" with=\"/\"\n    }",
    );
    assert_eq!(spans_of(&c, Code::InvalidRewriteRegex), ["regex=\"^/a\\\\1\""]);
}

#[test]
fn a_redirect_route_takes_no_forwarding_setting() {
    check(
        r#"
        service "orders" { owner "team-orders"; address "orders.shop.svc.cluster.local" port=8080; }
        gateway "edge" {
            listener "http" port=8080
            route "old" {
                match path-prefix="/old/"
                redirect path="/new"
                to "orders"
        //      ^^ MESH0070 error
                timeout "2s"
        //      ^^^^^^^ MESH0070 error
                retries 2
        //      ^^^^^^^ MESH0070 error
                cache ttl="5s"
        //      ^^^^^ MESH0070 error
                websocket
        //      ^^^^^^^^^ MESH0070 error
            }
        }
        "#,
    );
}

#[test]
fn a_route_forwards_or_redirects_and_says_how() {
    let c = check(
        r#"
        service "orders" { owner "team-orders"; address "orders.shop.svc.cluster.local" port=8080; }
        gateway "edge" {
            listener "http" port=8080
            route "r" {
        //        ^^^ MESH0005 error: `to` missing
                match path-prefix="/"
            }
        }
        "#,
    );
    assert!(human(&c).contains("redirect path="), "{}", human(&c));
    check(
        r#"
        service "orders" { owner "team-orders"; address "orders.shop.svc.cluster.local" port=8080; }
        gateway "edge" {
            listener "http" port=8080
            route "r" {
                match path-prefix="/"
                redirect code=301
        //      ^^^^^^^^ MESH0005 error: nothing changes
            }
        }
        "#,
    );
    check(
        r#"
        service "orders" { owner "team-orders"; address "orders.shop.svc.cluster.local" port=8080; }
        gateway "edge" {
            listener "http" port=8080
            route "r" {
                match path-prefix="/"
                redirect path="/x" code=304
        //                         ^^^^^^^^ MESH0004 error
            }
        }
        "#,
    );
    let c = check(
        r#"
        service "orders" { owner "team-orders"; address "orders.shop.svc.cluster.local" port=8080; }
        gateway "edge" {
            listener "http" port=8080
            route "r" {
                match path-prefix="/"
                redirect scheme="htps"
        //               ^^^^^^^^^^^^^ MESH0004 error
            }
        }
        "#,
    );
    assert!(human(&c).contains("did you mean `https`"), "{}", human(&c));
    let c = check(
        r#"
        service "orders" { owner "team-orders"; address "orders.shop.svc.cluster.local" port=8080; }
        gateway "edge" {
            listener "http" port=8080
            route "r" {
                match path-prefix="/"
                to "orders"
                timeout "nope"
        //              ^^^^^^ MESH0004 error
            }
        }
        "#,
    );
    assert!(human(&c).contains("`none` for no timeout"), "{}", human(&c));
}

#[test]
fn new_nodes_are_listed_where_an_unknown_one_is_reported() {
    let c = check(
        r#"
        service "orders" { owner "team-orders"; address "orders.shop.svc.cluster.local" port=8080; }
        gateway "edge" {
            listener "http" port=8080
            route "r" {
                match path-prefix="/"
                to "orders"
                zzz
        //      ^^^ MESH0002 error
            }
        }
        "#,
    );
    // Unwrapped: the list is long enough to break inside `idle-timeout`.
    let text = support::unwrapped(&human(&c)).replace("- ", "-");
    for node in ["`redirect`", "`rewrite`", "`websocket`", "`idle-timeout`"] {
        assert!(text.contains(node), "{node} missing from: {text}");
    }
    let c = check(
        r#"
        service "orders" { owner "team-orders"; address "orders.shop.svc.cluster.local" port=8080; }
        gateway "edge" {
            listener "http" port=8080
            host "a.example" {
                listener "x" port=1
        //      ^^^^^^^^ MESH0002 error
            }
        }
        "#,
    );
    assert!(human(&c).contains("`host` takes: `route`"), "{}", human(&c));
    let c = check(
        r#"
        service "orders" { owner "team-orders"; address "orders.shop.svc.cluster.local" port=8080; }
        gateway "edge" {
            listener "http" port=8080
            hots "a.example" {
        //  ^^^^ MESH0002 error
            }
        }
        "#,
    );
    assert!(human(&c).contains("did you mean `host`?"), "{}", human(&c));
    let c = check(
        r#"
        service "orders" { owner "team-orders"; address "orders.shop.svc.cluster.local" port=8080; }
        gateway "edge" {
            listener "http" port=8080
            route "r" {
                match path-prefix="/"
                to "orders"
                redirekt path="/"
        //      ^^^^^^^^ MESH0002 error
            }
        }
        "#,
    );
    assert!(human(&c).contains("did you mean `redirect`?"), "{}", human(&c));
}

#[test]
fn hosts_are_unique_across_blocks_and_well_formed() {
    let block = |hosts: &str, route: &str| {
        format!("    host {hosts} {{\n        route \"{route}\" {{\n            match path-prefix=\"/\"\n            to \"orders\"\n        }}\n    }}\n")
    };
    let c = diagnose(&(block("\"api.example.com\" \"*.example.com\"", "a") + &block("\"API.example.com\"", "b")));
    assert_eq!(codes(&c), [Code::DuplicateRouteHost], "{}", human(&c));
    assert_eq!(spans_of(&c, Code::DuplicateRouteHost), ["\"API.example.com\""]);
    for bad in ["\"*\"", "\"api.example.com:8080\"", "\"a.*.com\""] {
        let c = diagnose(&block(bad, "a"));
        assert_eq!(spans_of(&c, Code::InvalidValue), [bad], "{}", human(&c));
    }
}

#[test]
fn routes_shadow_only_routes_of_the_same_hosts() {
    // Each route sees the requests of other hosts than the others.
    check(
        r#"
        service "orders" { owner "team-orders"; address "orders.shop.svc.cluster.local" port=8080; }
        service "events" { owner "team-events"; address "events.shop.svc.cluster.local" port=8080; }
        gateway "edge" {
            listener "http" port=8080
            host "api.example.com" {
                route "api" {
                    match path-prefix="/"
                    to "orders"
                }
            }
            route "rest" {
                match path-prefix="/"
                to "events"
            }
            host "www.example.com" {
                route "www" {
                    match path-prefix="/www/"
                    to "orders"
                }
            }
        }
        "#,
    );
    check(
        r#"
        service "orders" { owner "team-orders"; address "orders.shop.svc.cluster.local" port=8080; }
        service "events" { owner "team-events"; address "events.shop.svc.cluster.local" port=8080; }
        gateway "edge" {
            listener "http" port=8080
            host "api.example.com" {
                route "all" {
                    match path-prefix="/"
                    to "orders"
                }
                route "v2" {
                    match path-prefix="/v2/"
        //          ^^^^^^^^^^^^^^^^^^^^^^^^ MESH0017 warning: every request this matches…
                    to "events"
                }
            }
        }
        "#,
    );
}

#[test]
fn an_idle_timeout_must_be_shorter_than_the_request_timeout() {
    let route = |settings: &str| {
        diagnose(&format!("    route \"r\" {{\n        match path=\"/e\"\n        to \"events\"\n{settings}\n    }}"))
    };
    let c = route("        idle-timeout \"20s\"");
    assert_eq!(spans_of(&c, Code::IneffectiveIdleTimeout), ["\"20s\""], "{}", human(&c));
    assert!(human(&c).contains("Envoy's default timeout 15s"), "{}", human(&c));
    assert_eq!(codes(&route("        timeout \"1m\"\n        idle-timeout \"2m\"")), [Code::IneffectiveIdleTimeout]);
    for fine in [
        "        idle-timeout \"5s\"",
        "        timeout \"none\"\n        idle-timeout \"1h\"",
        "        websocket\n        idle-timeout \"1h\"",
    ] {
        let c = route(fine);
        assert!(c.diagnostics.is_empty(), "{fine}: {}", human(&c));
    }
}

// ---------------------------------------------------------------------------
// Live: the built gateway in front of real upstreams
// ---------------------------------------------------------------------------

/// Envoy's route timeout when a route sets none, which a slow upstream outlasts.
const ENVOY_DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

fn live_spec(listener: u16, orders: u16, api: u16, slow: u16, ws: u16) -> String {
    let service = |name: &str, port: u16| {
        format!(
            "service \"{name}\" {{\n    owner \"team\"\n    address \"127.0.0.1\" port={port}\n    api \"http\" kind=\"rest\" schema=\"api.yaml\"\n}}\n"
        )
    };
    format!(
        r##"mesh "live"
{}{}{}{}
gateway "edge" {{
    listener "http" address="127.0.0.1" port={listener}
    route "v1" {{
        match path-prefix="/v1/orders/"
        to "orders"
        rewrite prefix="/orders/" host="orders.internal"
    }}
    route "shop" {{
        match path-prefix="/shop/"
        to "orders"
        rewrite regex=#"^/shop/([a-z]+)/(\d+)$"# with=#"/\1/items/\2"#
    }}
    route "old" {{
        match path-prefix="/old/"
        redirect prefix="/orders/" code=308
    }}
    route "login" {{
        match path="/login"
        redirect scheme="https" host="shop.example" port=8443 code=302 strip-query=#true
    }}
    route "live" {{
        match path="/live"
        to "ws"
        websocket
        timeout "none"
        idle-timeout "1m"
    }}
    route "report" {{
        match path="/report"
        to "slow"
        timeout "none"
    }}
    route "report-default" {{
        match path="/report-default"
        to "slow"
    }}
    host "api.example.test" "*.api.example.test" {{
        route "api" {{
            match path-prefix="/"
            to "api"
        }}
    }}
    route "rest" {{
        match path-prefix="/"
        to "orders"
    }}
}}
"##,
        service("orders", orders),
        service("api", api),
        service("slow", slow),
        service("ws", ws),
    )
}

#[test]
fn live_gateway_rewrites_redirects_upgrades_routes_by_host_and_waits_without_timeout() {
    let orders = Upstream::start("orders");
    let api = Upstream::start("api");
    let slow_for = ENVOY_DEFAULT_TIMEOUT + Duration::from_millis(1500);
    let slow = Upstream::start_responding("slow", move |_| {
        thread::sleep(slow_for);
        (200, "text/plain", "finally".to_string())
    });
    let ws = WebSocketEcho::start();
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let spec = live_spec(port, orders.port(), api.port(), slow.port(), ws.port);
    write_files(dir.path(), &[("mesh.kdl", &spec), ("api.yaml", OPENAPI)]);
    let configs = build_workspace(dir.path(), &dir.path().join("out"));
    let config = configs.iter().find(|p| p.ends_with("envoy/gateway-edge.yaml")).unwrap();
    envoy_validate(config).unwrap();
    let envoy = EnvoyProcess::start(config);
    envoy.wait_ready(port);

    // The slow requests run while the rest is checked.
    let started = Instant::now();
    let without_timeout = thread::spawn(move || http_request(port, "GET", "/report", &[]));
    let with_default = thread::spawn(move || http_request(port, "GET", "/report-default", &[]));

    // Rewrites: the upstream sees the new path and host.
    let r = http_request(port, "GET", "/v1/orders/42?x=1", &[]);
    assert_eq!((r.status, r.header("x-upstream")), (200, Some("orders")), "{}", r.body);
    let r = http_request(port, "GET", "/shop/books/7", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = orders.requests();
    assert_eq!(seen[0].path, "/orders/42?x=1");
    assert_eq!(seen[0].header("host"), Some("orders.internal"));
    assert_eq!(seen[1].path, "/books/items/7");
    assert_eq!(seen[1].header("host"), Some(format!("127.0.0.1:{port}").as_str()), "no host rewrite here");

    // Redirects: status and Location, nothing reaches an upstream.
    let r = http_request(port, "GET", "/old/a/b?page=2", &[]);
    assert_eq!(r.status, 308);
    assert_eq!(r.header("location"), Some(format!("http://127.0.0.1:{port}/orders/a/b?page=2").as_str()));
    let r = http_request(port, "GET", "/login?next=/cart", &[]);
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("https://shop.example:8443/login"));
    assert_eq!(orders.hits(), 2);

    // Hosts: the block's routes serve its hosts (whatever the port), the
    // others serve every other host.
    for (host, path) in [
        ("api.example.test", "/anything"),
        ("API.example.test:8080", "/anything"),
        ("eu.api.example.test", "/anything"),
        ("api.example.test", "/v1/orders/1"),
    ] {
        let r = http_request(port, "GET", path, &[("host", host)]);
        assert_eq!(r.header("x-upstream"), Some("api"), "{host}{path}");
    }
    for host in ["shop.example.test", "api.example.test.evil"] {
        let r = http_request(port, "GET", "/anything", &[("host", host)]);
        assert_eq!(r.header("x-upstream"), Some("orders"), "{host}");
    }
    assert_eq!(api.hits(), 4);
    assert_eq!(orders.hits(), 4);

    // WebSocket: the handshake passes through and a frame comes back.
    let (status, echoed) = websocket_round_trip(port, "/live", "hello over envoy");
    assert!(status.starts_with("HTTP/1.1 101"), "{status}");
    assert_eq!(echoed, "hello over envoy");
    // A route without `websocket` refuses the upgrade (Envoy answers 403).
    let (status, _) = websocket_handshake(port, "/anything");
    assert!(status.starts_with("HTTP/1.1 403"), "{status}");

    // No timeout: the slow upstream's answer arrives after Envoy's default
    // timeout, which cuts the same request on a route without `timeout`.
    let cut = with_default.join().unwrap();
    assert_eq!(cut.status, 504, "{}", cut.body);
    let done = without_timeout.join().unwrap();
    assert_eq!((done.status, done.body.as_str()), (200, "finally"));
    assert!(started.elapsed() >= slow_for, "{:?}", started.elapsed());
    drop(envoy);
}

// ---------------------------------------------------------------------------
// A WebSocket echo server and client (RFC 6455, text frames only)
// ---------------------------------------------------------------------------

struct WebSocketEcho {
    port: u16,
}

impl WebSocketEcho {
    /// Accepts connections in a background thread for the rest of the test
    /// process: answers the upgrade with 101, then echoes one text frame.
    fn start() -> WebSocketEcho {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                thread::spawn(move || {
                    let _ = echo_one(stream);
                });
            }
        });
        WebSocketEcho { port }
    }
}

fn echo_one(mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let head = read_head(&mut stream)?;
    let key = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("sec-websocket-key")))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    let accept = accept_key(&key);
    write!(
        stream,
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {accept}\r\n\r\n"
    )?;
    let payload = read_frame(&mut stream)?;
    stream.write_all(&frame(&payload, None))?;
    Ok(())
}

fn accept_key(key: &str) -> String {
    use base64::Engine as _;
    let digest = ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        format!("{key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11").as_bytes(),
    );
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

/// Reads up to and including the blank line that ends an HTTP head.
fn read_head(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            break;
        }
        head.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// A final text frame; clients mask theirs.
fn frame(payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    assert!(payload.len() < 126, "short frames only");
    let mut out = vec![0x81, payload.len() as u8 | if mask.is_some() { 0x80 } else { 0 }];
    match mask {
        Some(mask) => {
            out.extend(mask);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        }
        None => out.extend(payload),
    }
    out
}

fn read_frame(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut header = [0u8; 2];
    stream.read_exact(&mut header)?;
    let len = (header[1] & 0x7f) as usize;
    let mut mask = [0u8; 4];
    if header[1] & 0x80 != 0 {
        stream.read_exact(&mut mask)?;
    }
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload)?;
    payload.iter_mut().enumerate().for_each(|(i, b)| *b ^= mask[i % 4]);
    Ok(payload)
}

/// Sends an upgrade request to the gateway; its status line, and the open connection.
fn websocket_handshake(port: u16, path: &str) -> (String, TcpStream) {
    let mut stream = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
         sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n"
    )
    .unwrap();
    let head = read_head(&mut stream).unwrap();
    (head.lines().next().unwrap_or_default().to_string(), stream)
}

/// The handshake's status line and the text echoed back for `text`.
fn websocket_round_trip(port: u16, path: &str, text: &str) -> (String, String) {
    let (status, mut stream) = websocket_handshake(port, path);
    stream.write_all(&frame(text.as_bytes(), Some([7, 1, 2, 9]))).unwrap();
    let echoed = read_frame(&mut stream).map(|p| String::from_utf8_lossy(&p).into_owned()).unwrap_or_default();
    (status, echoed)
}

/// Once upgraded, a WebSocket outlives the route's request timeout (which is
/// why `ineffective-idle-timeout` exempts WebSocket routes).
#[test]
fn live_websocket_outlives_the_route_timeout() {
    let ws = WebSocketEcho::start();
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let spec = format!(
        "service \"ws\" {{\n    owner \"t\"\n    address \"127.0.0.1\" port={}\n    api \"http\" kind=\"rest\" schema=\"api.yaml\"\n}}\n\
         gateway \"edge\" {{\n    listener \"http\" address=\"127.0.0.1\" port={port}\n    route \"live\" {{\n        \
         match path=\"/live\"\n        to \"ws\"\n        websocket\n        timeout \"1s\"\n    }}\n}}\n",
        ws.port
    );
    write_files(dir.path(), &[("mesh.kdl", &spec), ("api.yaml", OPENAPI)]);
    let configs = build_workspace(dir.path(), &dir.path().join("out"));
    let config = configs.iter().find(|p| p.ends_with("envoy/gateway-edge.yaml")).unwrap();
    let envoy = EnvoyProcess::start(config);
    envoy.wait_ready(port);
    let (status, mut stream) = websocket_handshake(port, "/live");
    assert!(status.starts_with("HTTP/1.1 101"), "{status}");
    thread::sleep(Duration::from_secs(3));
    stream.write_all(&frame(b"still here", Some([1, 2, 3, 4]))).unwrap();
    assert_eq!(read_frame(&mut stream).unwrap(), b"still here");
    drop(envoy);
}
