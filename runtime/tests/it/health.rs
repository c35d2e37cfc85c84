//! The HealthMonitor against real servers this test starts on free ports:
//! HTTP servers that answer from a script, go down and come back; one that
//! accepts and never answers; gRPC health servers (the gRPC mock serving
//! `grpc.health.v1.Health`); TCP. Transitions are asserted at the exact
//! probe the thresholds put them, counting what the servers answered.
//! `/metrics` passes `promtool check metrics` (Debian's `prometheus`,
//! installed by scripts/test; MESHC_PROMTOOL overrides) and `/status` is
//! the JSON documented in docs/runtime.md.

use crate::support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use meshc_runtime::health::{serve_health, Health, HealthHandle, HealthMonitor, Probe, Target, Transition};
use meshc_runtime::GrpcMock;
use serde_json::{json, Value};
use support::{compile_proto, dead_port, localhost};

/// Transitions seen, with the instance's address.
type Seen = Arc<Mutex<Vec<(String, Transition)>>>;

fn target(address: String, probe: Probe, healthy: u32, unhealthy: u32) -> Target {
    Target {
        service: "svc".into(),
        address,
        version: None,
        zone: None,
        probe,
        interval: Duration::from_millis(40),
        timeout: Duration::from_millis(500),
        jitter: Duration::ZERO,
        start_period: Duration::ZERO,
        healthy_threshold: healthy,
        unhealthy_threshold: unhealthy,
    }
}

fn http(path: &str) -> Probe {
    Probe::Http { path: path.into(), first: 200, last: 299 }
}

fn monitor(targets: Vec<Target>) -> (HealthHandle, Seen) {
    let seen: Seen = Arc::default();
    let record = Arc::clone(&seen);
    let handle = serve_health(HealthMonitor::new(targets).unwrap(), localhost(), move |t, tr| {
        record.lock().unwrap().push((t.address.clone(), *tr));
    })
    .unwrap();
    (handle, seen)
}

/// The transitions of `address` so far.
fn transitions(seen: &Seen, address: &str) -> Vec<Transition> {
    seen.lock().unwrap().iter().filter(|(a, _)| a == address).map(|(_, t)| *t).collect()
}

/// Waits (up to 20 s) until `address` has made `count` transitions, and returns them.
fn wait_transitions(seen: &Seen, address: &str, count: usize) -> Vec<Transition> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = transitions(seen, address);
        if found.len() >= count {
            return found;
        }
        assert!(Instant::now() < deadline, "{address}: only {found:?} after 20 s");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A plain HTTP/1.1 GET, the whole response body.
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

fn status_of(handle: &HealthHandle, address: &str) -> Value {
    let (code, body) = get(handle.addr(), "/status");
    assert_eq!(code, 200);
    let status: Value = serde_json::from_str(&body).unwrap();
    status["targets"].as_array().unwrap().iter().find(|t| t["instance"] == address).cloned().unwrap()
}

/// An HTTP server answering the `n`-th request with `script[n]` (the last
/// status once the script is over), one request per connection, counting
/// answers. Dropping (or [`ScriptedHttp::stop`]) closes its port.
struct ScriptedHttp {
    addr: SocketAddr,
    answered: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ScriptedHttp {
    fn start(addr: SocketAddr, script: Vec<u16>) -> ScriptedHttp {
        let listener = TcpListener::bind(addr).unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (answered, stop) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        let (count, stopping) = (Arc::clone(&answered), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                let Ok((mut stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                let mut head = Vec::new();
                let mut byte = [0u8];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                let n = count.load(Ordering::SeqCst);
                let status = script.get(n).or(script.last()).copied().unwrap_or(200);
                let answer = format!("HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
                if stream.write_all(answer.as_bytes()).is_ok() {
                    count.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        ScriptedHttp { addr, answered, stop, thread: Some(thread) }
    }

    /// Stops accepting and closes the port; returns how many it answered.
    fn stop(mut self) -> usize {
        self.halt();
        self.answered.load(Ordering::SeqCst)
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

impl Drop for ScriptedHttp {
    fn drop(&mut self) {
        self.halt();
    }
}

#[test]
fn statuses_outside_the_expected_range_fail_and_flips_happen_at_exactly_the_thresholds() {
    // healthy=2, unhealthy=3: healthy at the 2nd pass, unhealthy at the 3rd
    // failure in a row (the 204 between failures starts the count over),
    // healthy again at the 2nd pass after that.
    let server = ScriptedHttp::start(localhost(), vec![200, 204, 503, 503, 204, 500, 503, 404, 200, 200]);
    let address = server.addr.to_string();
    let mut checked = target(address.clone(), Probe::Http { path: "/ready".into(), first: 200, last: 204 }, 2, 3);
    checked.interval = Duration::from_millis(20);
    let (handle, seen) = monitor(vec![checked]);
    let found = wait_transitions(&seen, &address, 3);
    assert_eq!(
        found[..3],
        [
            Transition { from: Health::Starting, to: Health::Healthy, probe: 2 },
            Transition { from: Health::Healthy, to: Health::Unhealthy, probe: 8 },
            Transition { from: Health::Unhealthy, to: Health::Healthy, probe: 10 },
        ]
    );
    let status = status_of(&handle, &address);
    assert_eq!(status["state"], "healthy");
    assert_eq!(status["check"], "http");
    assert_eq!(status["transitions"].as_array().unwrap().len(), 3);
}

#[test]
fn a_server_that_goes_down_and_comes_back_is_unhealthy_then_healthy_after_exactly_the_thresholds() {
    let server = ScriptedHttp::start(localhost(), vec![200]);
    let (addr, address) = (server.addr, server.addr.to_string());
    let (handle, seen) = monitor(vec![target(address.clone(), http("/healthz"), 2, 3)]);
    assert_eq!(
        wait_transitions(&seen, &address, 1)[0],
        Transition { from: Health::Starting, to: Health::Healthy, probe: 2 }
    );

    let answered = server.stop() as u64;
    let down = wait_transitions(&seen, &address, 2)[1];
    // Every answer was a pass; the third refused connection after them flips it.
    assert_eq!(down, Transition { from: Health::Healthy, to: Health::Unhealthy, probe: answered + 3 });
    let status = status_of(&handle, &address);
    assert_eq!(status["state"], "unhealthy");
    assert!(status["last"]["error"].as_str().unwrap().contains("onnect"), "{status}");

    let back = ScriptedHttp::start(addr, vec![200]);
    let up = wait_transitions(&seen, &address, 3)[2];
    let failures = status_of(&handle, &address)["failures"].as_u64().unwrap();
    // The second pass after the last failure.
    assert_eq!(up, Transition { from: Health::Unhealthy, to: Health::Healthy, probe: answered + failures + 2 });
    assert!(back.stop() >= 2);
}

#[test]
fn a_server_that_never_answers_is_cut_at_the_timeout() {
    // Accepts connections (the kernel's backlog does) and never answers.
    let hung = TcpListener::bind(localhost()).unwrap();
    let address = hung.local_addr().unwrap().to_string();
    let mut checked = target(address.clone(), http("/healthz"), 1, 2);
    checked.timeout = Duration::from_millis(300);
    let started = Instant::now();
    let (handle, seen) = monitor(vec![checked]);
    let down = wait_transitions(&seen, &address, 1)[0];
    let took = started.elapsed();
    assert_eq!(down, Transition { from: Health::Starting, to: Health::Unhealthy, probe: 2 });
    // Two probes, each held for the whole timeout, never much longer.
    assert!(took >= Duration::from_millis(600) && took < Duration::from_secs(5), "{took:?}");
    let status = status_of(&handle, &address);
    assert_eq!(status["last"]["error"], "no answer within 300 ms");
    let ms = status["last"]["duration_ms"].as_f64().unwrap();
    assert!((300.0..1300.0).contains(&ms), "{ms}");
    drop(hung);
}

const HEALTH_PROTO: &str = r#"
syntax = "proto3";
package grpc.health.v1;
message HealthCheckRequest { string service = 1; }
message HealthCheckResponse {
  enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; }
  ServingStatus status = 1;
}
service Health { rpc Check(HealthCheckRequest) returns (HealthCheckResponse); }
"#;

#[test]
fn grpc_health_servers_answering_serving_and_not_serving() {
    let pool = compile_proto("health.proto", HEALTH_PROTO).descriptor_pool();
    let health = |status: &str| {
        GrpcMock::new(pool.clone())
            .respond("/grpc.health.v1.Health/Check", json!({ "status": status }))
            .spawn(localhost())
            .unwrap()
    };
    let (serving, not_serving) = (health("SERVING"), health("NOT_SERVING"));
    // A gRPC server without the health service answers UNIMPLEMENTED.
    let without = GrpcMock::new(pool.clone()).spawn(localhost()).unwrap();
    let grpc = || Probe::Grpc { service: "pay.Pay".into() };
    let addresses = [serving.addr(), not_serving.addr(), without.addr()].map(|a| a.to_string());
    let (handle, seen) = monitor(addresses.iter().map(|a| target(a.clone(), grpc(), 1, 1)).collect());

    assert_eq!(wait_transitions(&seen, &addresses[0], 1)[0].to, Health::Healthy);
    assert_eq!(wait_transitions(&seen, &addresses[1], 1)[0].to, Health::Unhealthy);
    assert_eq!(wait_transitions(&seen, &addresses[2], 1)[0].to, Health::Unhealthy);
    assert_eq!(status_of(&handle, &addresses[1])["last"]["error"], "NOT_SERVING (2)");
    let error = status_of(&handle, &addresses[2])["last"]["error"].as_str().unwrap().to_string();
    assert!(error.starts_with("gRPC status Unimplemented"), "{error}");
    // The probe asks about the configured service.
    let (method, request) = serving.calls()[0].clone();
    assert_eq!((method.as_str(), request), ("/grpc.health.v1.Health/Check", json!({ "service": "pay.Pay" })));
}

#[test]
fn tcp_checks_pass_when_a_connection_is_accepted() {
    let open = TcpListener::bind(localhost()).unwrap();
    let (up, down) = (open.local_addr().unwrap().to_string(), format!("127.0.0.1:{}", dead_port()));
    let (_handle, seen) = monitor(vec![target(up.clone(), Probe::Tcp, 1, 1), target(down.clone(), Probe::Tcp, 1, 1)]);
    assert_eq!(
        wait_transitions(&seen, &up, 1)[0],
        Transition { from: Health::Starting, to: Health::Healthy, probe: 1 }
    );
    assert_eq!(
        wait_transitions(&seen, &down, 1)[0],
        Transition { from: Health::Starting, to: Health::Unhealthy, probe: 1 }
    );
}

#[test]
fn failures_in_the_start_period_do_not_count() {
    let down = format!("127.0.0.1:{}", dead_port());
    let mut checked = target(down.clone(), Probe::Tcp, 1, 1);
    checked.start_period = Duration::from_millis(400);
    let started = Instant::now();
    let (handle, seen) = monitor(vec![checked]);
    wait_transitions(&seen, &down, 1);
    assert!(started.elapsed() >= Duration::from_millis(400), "{:?}", started.elapsed());
    let status = status_of(&handle, &down);
    assert!(status["forgiven"].as_u64().unwrap() >= 3, "{status}");
    assert_eq!(status["transitions"][0]["probe"].as_u64(), Some(status["forgiven"].as_u64().unwrap() + 1));
}

/// promtool from MESHC_PROMTOOL or PATH; scripts/test installs it.
fn promtool() -> String {
    let tool = std::env::var("MESHC_PROMTOOL").unwrap_or_else(|_| "promtool".into());
    let found = Command::new(&tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
    assert!(
        found.is_ok_and(|s| s.success()),
        "promtool ({tool}) does not run: install Debian's prometheus (scripts/test does) or set MESHC_PROMTOOL"
    );
    tool
}

#[test]
fn the_command_prints_transitions_and_serves_metrics_promtool_accepts_and_status() {
    let server = ScriptedHttp::start(localhost(), vec![200]);
    let down = dead_port();
    let config = json!({
        "version": 1,
        "checks": [
            {
                "service": "catalog", "probe": { "kind": "http", "path": "/healthz", "expect_status": [200, 299] },
                "interval_ms": 50, "timeout_ms": 500, "jitter_ms": 10, "healthy_threshold": 1, "unhealthy_threshold": 1,
                "instances": [{ "address": server.addr.to_string(), "version": "v1" }],
            },
            {
                "service": "bank", "probe": { "kind": "tcp" },
                "interval_ms": 50, "timeout_ms": 500, "healthy_threshold": 1, "unhealthy_threshold": 1,
                "instances": [{ "address": format!("127.0.0.1:{down}") }],
            },
        ],
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("health.json");
    std::fs::write(&path, config.to_string()).unwrap();
    let mut serving = support::Serving::start(
        support::meshc_runtime().arg("health").arg("--config").arg(&path).args(["--listen", "127.0.0.1:0"]),
    );
    let mut lines = [serving.next_json(), serving.next_json()];
    lines.sort_by_key(|l| l["service"].as_str().unwrap().to_string());
    assert_eq!(
        lines[0],
        json!({ "service": "bank", "instance": format!("127.0.0.1:{down}"), "version": null, "from": "starting", "to": "unhealthy", "probe": 1 })
    );
    assert_eq!(lines[1]["to"], "healthy");
    assert_eq!(lines[1]["version"], "v1");

    let (code, metrics) = get(serving.addr, "/metrics");
    assert_eq!(code, 200);
    let labels = format!("service=\"catalog\",instance=\"{}\",check=\"http\",version=\"v1\"", server.addr);
    assert!(metrics.contains(&format!("meshc_health_up{{{labels}}} 1\n")), "{metrics}");
    assert!(metrics.contains(&format!("meshc_health_transitions_total{{{labels},to=\"healthy\"}} 1\n")), "{metrics}");
    assert!(metrics.contains("# TYPE meshc_health_check_duration_seconds histogram"));
    let mut check = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check.stdin.take().unwrap().write_all(metrics.as_bytes()).unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}{}\n{metrics}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let (code, body) = get(serving.addr, "/status");
    assert_eq!(code, 200);
    let status: Value = serde_json::from_str(&body).unwrap();
    let bank = &status["targets"][1];
    assert_eq!(
        (bank["service"].as_str(), bank["check"].as_str(), bank["state"].as_str()),
        (Some("bank"), Some("tcp"), Some("unhealthy"))
    );
    assert!(bank["failures"].as_u64().unwrap() >= 1 && bank["passes"] == 0);
    assert_eq!(get(serving.addr, "/other").0, 404);
}

#[test]
fn the_command_refuses_a_config_naming_the_wrong_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("health.json");
    std::fs::write(
        &path,
        r#"{"version": 1, "checks": [{"service": "a", "probe": {"kind": "tcp"}, "interval_ms": 0,
        "timeout_ms": 1, "healthy_threshold": 1, "unhealthy_threshold": 1, "instances": []}]}"#,
    )
    .unwrap();
    let out = support::meshc_runtime().arg("health").arg("--config").arg(&path).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`checks[0].interval_ms`: 0 is not from 1 to 86400000 milliseconds"), "{stderr}");
}
