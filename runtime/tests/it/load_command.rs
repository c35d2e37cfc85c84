//! `meshc-runtime load` as a process, as staging runs it: a plan against
//! an upstream given by address, the summary on stdout, the JSON report and
//! a plot per target, exit 1 when a claim failed (here a latency objective
//! the 20 ms upstream cannot meet), each claim with its spec line.

use crate::support;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use serde_json::{json, Value};

/// An HTTP/1.1 server answering every request `200 {}` after 20 ms, a thread per connection.
fn upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = stream.set_nodelay(true);
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                loop {
                    let mut line = String::new();
                    // The request line and headers, up to the empty line (requests have no body).
                    loop {
                        line.clear();
                        match reader.read_line(&mut line) {
                            Ok(0) | Err(_) => return,
                            Ok(_) if line == "\r\n" => break,
                            Ok(_) => {}
                        }
                    }
                    std::thread::sleep(Duration::from_millis(20));
                    if writer.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}").is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn target(route: &str, under_ms: u64, line: u32) -> Value {
    json!({
        "amplification": { "per_request": 1, "source": format!("gateway.kdl:{line}") },
        "gateway": { "headers": [], "name": "edge" },
        "id": format!("gateway:edge/{route}"),
        "latency_ms": 20,
        "limits": [],
        "objectives": [{ "kind": "latency-slo", "percentile": 99.0, "source": format!("gateway.kdl:{line}"), "under_ms": under_ms }],
        "protocol": "http",
        "request": { "headers": [], "method": "GET", "path": format!("/{route}") },
        "rps": 40,
        "service": route,
        "source": format!("gateway.kdl:{}", line + 1),
        "subject": format!("gateway:edge/{route}"),
    })
}

#[test]
fn a_staging_run_reports_each_claim_with_its_line_and_fails_on_a_missed_objective() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.json");
    let targets = [target("relaxed", 1000, 10), target("strict", 5, 20)];
    std::fs::write(&plan, json!({ "format": "meshc-load/1", "mesh": "m", "targets": targets }).to_string()).unwrap();
    let (report, plots) = (dir.path().join("load.json"), dir.path().join("plots"));
    let out = support::meshc_runtime()
        .args(["load", "--plan"])
        .arg(&plan)
        .args(["--gateway", &format!("edge={}", upstream()), "--duration", "500ms", "--multiple", "2", "--json"])
        .arg(&report)
        .arg("--svg-dir")
        .arg(&plots)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("pass latency objective: p99 under 1000 ms at the declared load (gateway.kdl:10)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("FAIL latency objective: p99 under 5 ms at the declared load (gateway.kdl:20)"),
        "{stdout}"
    );
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(report["format"], "meshc-load-report/1");
    // The strict objective fails at the declared load, and bounds the doubled load's p99 too.
    assert_eq!((report["totals"]["passed"].as_u64(), report["totals"]["failed"].as_u64()), (Some(2), Some(2)));
    let relaxed = &report["targets"][0]["phases"];
    assert_eq!((relaxed[0]["sent"].as_u64(), relaxed[1]["sent"].as_u64()), (Some(20), Some(40)));
    assert_eq!(relaxed[1]["statuses"]["200"], 40);
    let p50 = relaxed[0]["latency_ms"]["p50"].as_f64().unwrap();
    assert!((20.0..200.0).contains(&p50), "p50 {p50}");
    for route in ["relaxed", "strict"] {
        let svg = std::fs::read_to_string(plots.join(format!("gateway_edge_{route}.svg"))).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains(&format!("gateway:edge/{route}")), "{svg}");
    }
}
