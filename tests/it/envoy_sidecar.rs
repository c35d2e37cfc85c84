//! The Envoy sidecar backend against the real Envoy: a caller's sidecar,
//! built from the spec, retries exactly as many times as the spec allows
//! and cuts slow calls at the declared timeouts.

use crate::support;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::{envoy_validate, free_port, http_request, write_files, EnvoyProcess, Upstream};

/// A caller `web` whose sidecar listens on `outbound`, calling `orders` at
/// `orders_port` with `call` as the body of its `calls` node.
fn spec(outbound: u16, orders_port: u16, call: &str) -> String {
    format!(
        r#"
service "web" {{
    owner "team-web"
    address "127.0.0.1" port={web}
    sidecar inbound-port={inbound} outbound-port={outbound}
    calls "orders" {call}
}}
service "orders" {{
    owner "team-orders"
    address "127.0.0.1" port={orders_port}
    traffic {{ outlier-detection consecutive-5xx=100 }}
}}
"#,
        web = free_port(),
        inbound = free_port(),
    )
}

/// Builds the spec in `dir` and starts web's sidecar, ready on `outbound`.
pub(crate) fn start_sidecar(dir: &Path, mesh: &str, outbound: u16) -> EnvoyProcess {
    write_files(dir, &[("mesh.kdl", mesh)]);
    let compilation = meshc::driver::compile(dir);
    assert!(compilation.diagnostics.is_empty(), "{:?}", compilation.diagnostics);
    let artifacts = compilation.emit().unwrap();
    let sidecar = artifacts.iter().find(|a| a.path == "envoy/sidecar-web.yaml").expect("web's sidecar");
    let path = dir.join("sidecar-web.yaml");
    std::fs::write(&path, &sidecar.contents).unwrap();
    envoy_validate(&path).unwrap();
    let envoy = EnvoyProcess::start(&path);
    envoy.wait_ready(outbound);
    envoy
}

/// An upstream that answers 503 to its first `failures` requests, then 200.
fn failing_first(failures: usize) -> Upstream {
    let seen = Arc::new(AtomicUsize::new(0));
    Upstream::start_responding("orders", move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) < failures {
            (503, "text/plain", "busy".into())
        } else {
            (200, "text/plain", "ok".into())
        }
    })
}

#[test]
fn the_sidecar_retries_exactly_the_declared_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let outbound = free_port();
    let orders = failing_first(2);
    let call = r#"timeout="5s" {
        retries 2 on="5xx" backoff="10ms" max-backoff="20ms"
    }"#;
    let _envoy = start_sidecar(dir.path(), &spec(outbound, orders.port(), call), outbound);
    let response = http_request(outbound, "GET", "/orders/17", &[("host", "orders")]);
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(orders.hits(), 3, "two failures, then the third attempt succeeds");

    // Failing for good: 1 + 2 attempts, then the last 503 reaches the app.
    let dir = tempfile::tempdir().unwrap();
    let outbound = free_port();
    let orders = failing_first(usize::MAX);
    let _envoy = start_sidecar(dir.path(), &spec(outbound, orders.port(), call), outbound);
    let response = http_request(outbound, "GET", "/orders/17", &[("host", "orders")]);
    assert_eq!(response.status, 503, "{}", response.body);
    assert_eq!(orders.hits(), 3, "exactly the attempts the spec allows");
}

#[test]
fn a_call_without_retries_is_attempted_once() {
    let dir = tempfile::tempdir().unwrap();
    let outbound = free_port();
    let orders = failing_first(1);
    let _envoy = start_sidecar(dir.path(), &spec(outbound, orders.port(), r#"timeout="5s""#), outbound);
    let response = http_request(outbound, "GET", "/orders/17", &[("host", "orders")]);
    assert_eq!(response.status, 503);
    assert_eq!(orders.hits(), 1);
}

#[test]
fn retries_are_per_operation_and_follow_the_services_defaults() {
    // Defaults retry; the POST call turns retries off for its operation only.
    let dir = tempfile::tempdir().unwrap();
    let outbound = free_port();
    let orders = failing_first(usize::MAX);
    let mesh = spec(outbound, orders.port(), r#"timeout="5s""#).replace(
        "    calls \"orders\" timeout=\"5s\"\n",
        r#"    call-defaults {
        timeout "5s"
        retries 1 on="5xx" backoff="10ms"
    }
    calls "orders" operation="POST /orders" {
        retries 0
    }
    calls "orders"
"#,
    );
    let orders_api = "openapi: 3.0.3\ninfo: {title: Orders, version: '1'}\npaths:\n  /orders:\n    post: {responses: {'201': {description: ok}}}\n";
    let mesh = mesh.replace(
        "    traffic { outlier-detection consecutive-5xx=100 }",
        "    api \"orders-http\" kind=\"rest\" schema=\"orders.yaml\"\n    traffic { outlier-detection consecutive-5xx=100 }",
    );
    write_files(dir.path(), &[("orders.yaml", orders_api)]);
    let _envoy = start_sidecar(dir.path(), &mesh, outbound);

    let post = support::http_request_with_body(outbound, "POST", "/orders", &[("host", "orders")], b"{}");
    assert_eq!(post.status, 503);
    assert_eq!(orders.hits(), 1, "POST /orders is not retried");
    let get = http_request(outbound, "GET", "/orders/17", &[("host", "orders")]);
    assert_eq!(get.status, 503);
    assert_eq!(orders.hits(), 3, "other requests use the defaults: 1 + 1 attempts");
}

#[test]
fn a_slow_upstream_is_cut_at_the_declared_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let outbound = free_port();
    let slow = Upstream::start_responding("orders", |_| {
        std::thread::sleep(Duration::from_secs(3));
        (200, "text/plain", "late".into())
    });
    let _envoy = start_sidecar(dir.path(), &spec(outbound, slow.port(), r#"timeout="200ms""#), outbound);
    let response = http_request(outbound, "GET", "/orders/17", &[("host", "orders")]);
    assert_eq!(response.status, 504, "{}", response.body);
    assert_eq!(response.body, "upstream request timeout");
}

#[test]
fn a_per_try_timeout_retries_a_slow_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let outbound = free_port();
    let seen = Arc::new(AtomicUsize::new(0));
    let arrived = Arc::clone(&seen);
    let first_slow = Upstream::start_responding("orders", move |_| {
        if arrived.fetch_add(1, Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_secs(3));
        }
        (200, "text/plain", "ok".into())
    });
    let call = r#"timeout="2s" {
        retries 1 per-try-timeout="200ms" on="5xx" backoff="10ms"
    }"#;
    let _envoy = start_sidecar(dir.path(), &spec(outbound, first_slow.port(), call), outbound);
    let response = http_request(outbound, "GET", "/orders/17", &[("host", "orders")]);
    assert_eq!(response.status, 200, "{}", response.body);
    // Counted on arrival: the abandoned first attempt is still sleeping.
    assert_eq!(seen.load(Ordering::SeqCst), 2, "the slow first attempt is abandoned and retried");
    drop(first_slow);
}

/// `web` calling `orders`, whose instances are the given upstreams, with
/// `traffic` as orders' traffic block and `extra` for each endpoint.
fn instances_spec(outbound: u16, instances: &[(u16, &str)], traffic: &str) -> String {
    let endpoints: String =
        instances.iter().map(|(port, extra)| format!("        endpoint \"127.0.0.1\" port={port} {extra}\n")).collect();
    format!(
        r#"
service "web" {{
    owner "team-web"
    address "127.0.0.1" port={web}
    sidecar inbound-port={inbound} outbound-port={outbound}
    calls "orders" timeout="2s"
}}
service "orders" {{
    owner "team-orders"
    address "orders.internal" port=8080
    endpoints {{
{endpoints}    }}
    traffic {{
        {traffic}
    }}
}}
"#,
        web = free_port(),
        inbound = free_port(),
    )
}

fn get_orders(outbound: u16) -> support::HttpResponse {
    http_request(outbound, "GET", "/orders/1", &[("host", "orders")])
}

#[test]
fn round_robin_spreads_requests_evenly_over_the_instances() {
    let dir = tempfile::tempdir().unwrap();
    let outbound = free_port();
    let instances = [Upstream::start("one"), Upstream::start("two"), Upstream::start("three")];
    let list: Vec<(u16, &str)> = instances.iter().map(|u| (u.port(), "")).collect();
    let traffic = "load-balancing \"round-robin\"\n        outlier-detection consecutive-5xx=100";
    let _envoy = start_sidecar(dir.path(), &instances_spec(outbound, &list, traffic), outbound);
    for _ in 0..30 {
        assert_eq!(get_orders(outbound).status, 200);
    }
    let hits: Vec<usize> = instances.iter().map(Upstream::hits).collect();
    assert_eq!(hits, [10, 10, 10], "one Envoy worker: strict rotation");
}

#[test]
fn ring_hash_keeps_a_key_on_one_instance() {
    let dir = tempfile::tempdir().unwrap();
    let outbound = free_port();
    let instances = [Upstream::start("one"), Upstream::start("two"), Upstream::start("three")];
    let list: Vec<(u16, &str)> = instances.iter().map(|u| (u.port(), "")).collect();
    let traffic = "load-balancing \"ring-hash\" hash-header=\"x-user\"\n        outlier-detection consecutive-5xx=100";
    let _envoy = start_sidecar(dir.path(), &instances_spec(outbound, &list, traffic), outbound);
    let mut owners = std::collections::BTreeSet::new();
    for user in 0..40 {
        let key = format!("user-{user}");
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..3 {
            let response = http_request(outbound, "GET", "/orders/1", &[("host", "orders"), ("x-user", &key)]);
            seen.insert(response.header("x-upstream").unwrap().to_string());
        }
        assert_eq!(seen.len(), 1, "{key} went to {seen:?}");
        owners.extend(seen);
    }
    assert!(owners.len() > 1, "40 keys all hashed to {owners:?}");
}

#[test]
fn outlier_detection_ejects_a_failing_instance_and_traffic_goes_to_the_healthy_one() {
    let dir = tempfile::tempdir().unwrap();
    let outbound = free_port();
    let good = Upstream::start("good");
    let bad = Upstream::start_with_status("bad", 500);
    let traffic = "outlier-detection consecutive-5xx=3 interval=\"10s\" base-ejection=\"60s\" max-ejection-percent=50";
    let spec = instances_spec(outbound, &[(good.port(), ""), (bad.port(), "")], traffic);
    let _envoy = start_sidecar(dir.path(), &spec, outbound);
    // Round robin alternates until the bad instance has failed three times in a row.
    let mut statuses = Vec::new();
    while bad.hits() < 3 {
        assert!(statuses.len() < 20, "the bad instance was not reached: {statuses:?}");
        statuses.push(get_orders(outbound).status);
    }
    // Envoy's main thread ejects it on the workers' report; give it a moment.
    std::thread::sleep(Duration::from_millis(300));
    let failed = bad.hits();
    let after: Vec<u16> = (0..20).map(|_| get_orders(outbound).status).collect();
    assert!(after.iter().all(|s| *s == 200), "ejected after its third consecutive 5xx: {statuses:?} then {after:?}");
    assert_eq!(bad.hits(), failed, "no request reaches the ejected instance");
}

#[test]
fn traffic_fails_over_to_the_next_priority_when_the_first_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let outbound = free_port();
    let secondary = Upstream::start("secondary");
    let down = support::dead_port();
    let traffic = "health-check \"tcp\" interval=\"100ms\" timeout=\"50ms\" healthy=1 unhealthy=1";
    let spec = instances_spec(
        outbound,
        &[(down, "zone=\"zone-a\" priority=0"), (secondary.port(), "zone=\"zone-b\" priority=1")],
        traffic,
    );
    let _envoy = start_sidecar(dir.path(), &spec, outbound);
    // The health checker marks the primary down within a few intervals.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while get_orders(outbound).status != 200 {
        assert!(std::time::Instant::now() < deadline, "never failed over");
        std::thread::sleep(Duration::from_millis(100));
    }
    let before = secondary.hits();
    for _ in 0..10 {
        let response = get_orders(outbound);
        assert_eq!(response.status, 200);
        assert_eq!(response.header("x-upstream"), Some("secondary"));
    }
    assert_eq!(secondary.hits(), before + 10);
}

#[test]
fn the_circuit_breaker_fails_requests_beyond_its_limits_fast() {
    let dir = tempfile::tempdir().unwrap();
    let outbound = free_port();
    // Slow enough to overlap, fast enough that the queued request meets the 2 s call timeout.
    let slow = Upstream::start_responding("orders", |_| {
        std::thread::sleep(Duration::from_millis(700));
        (200, "text/plain", "ok".into())
    });
    // One request in flight and one waiting; a third concurrent request is refused.
    let traffic =
        "circuit-breaker max-connections=1 max-pending=1 max-requests=1\n        outlier-detection consecutive-5xx=100";
    let spec = instances_spec(outbound, &[(slow.port(), "")], traffic);
    let _envoy = start_sidecar(dir.path(), &spec, outbound);
    let responses: Vec<support::HttpResponse> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..3)
            .map(|i| {
                scope.spawn(move || {
                    std::thread::sleep(Duration::from_millis(100 * i));
                    get_orders(outbound)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 2, "{statuses:?}");
    let refused = responses.iter().find(|r| r.status == 503).expect("one request refused");
    assert_eq!(refused.header("x-envoy-overloaded"), Some("true"), "{:?}", refused.headers);
    assert_eq!(slow.hits(), 2, "the refused request never reached the upstream");
}

// ---------------------------------------------------------------------------
// Traffic rules between versions, and retry budgets
// ---------------------------------------------------------------------------

/// web calling `orders`, whose versions run on the given upstreams (one
/// static endpoint each), with `rules` as the rest of orders' `traffic` block.
fn versioned_spec(outbound: u16, versions: &[(&str, &Upstream)], rules: &str) -> String {
    let declared: String = versions.iter().map(|(name, _)| format!("        version \"{name}\"\n")).collect();
    let marks: Vec<String> = versions.iter().map(|(name, _)| format!("version=\"{name}\"")).collect();
    let instances: Vec<(u16, &str)> =
        versions.iter().zip(&marks).map(|((_, up), mark)| (up.port(), mark.as_str())).collect();
    let traffic = format!("outlier-detection consecutive-5xx=100\n{rules}");
    instances_spec(outbound, &instances, &traffic)
        .replace("    endpoints {", &format!("    versions {{\n{declared}    }}\n    endpoints {{"))
}

#[test]
fn header_rules_pick_a_version_and_the_rest_is_split_by_weight() {
    let dir = tempfile::tempdir().unwrap();
    let outbound = free_port();
    let (v1, v2) = (Upstream::start("orders-v1"), Upstream::start("orders-v2"));
    let rules = r#"
        match-header "x-canary" exact="always" to="v2"
        split {
            to "v1" weight=80
            to "v2" weight=20
        }"#;
    let mesh = versioned_spec(outbound, &[("v1", &v1), ("v2", &v2)], rules);
    let _envoy = start_sidecar(dir.path(), &mesh, outbound);

    // Opted in by the header: every request reaches the canary.
    for _ in 0..20 {
        let response = http_request(outbound, "GET", "/orders/1", &[("host", "orders"), ("x-canary", "always")]);
        assert_eq!(response.status, 200, "{}", response.body);
    }
    assert_eq!((v1.hits(), v2.hits()), (0, 20));
    // A different value does not match: the request is split like the rest.
    let total = 400;
    for _ in 0..total {
        let response = http_request(outbound, "GET", "/orders/1", &[("host", "orders"), ("x-canary", "never")]);
        assert_eq!(response.status, 200, "{}", response.body);
    }
    let canary = v2.hits() - 20;
    assert_eq!(v1.hits() + canary, total, "every request reached one version");
    // 20 % of 400 is 80 (standard deviation 8): 40..=120 is five deviations either side.
    assert!((40..=120).contains(&canary), "the canary took {canary} of {total}, expected about 80");
}

#[test]
fn mirrored_requests_reach_the_mirror_version_while_the_caller_gets_the_primarys_answer() {
    let dir = tempfile::tempdir().unwrap();
    let outbound = free_port();
    let v1 = Upstream::start_responding("orders-v1", |_| (200, "text/plain", "from v1".into()));
    let v2 = Upstream::start_responding("orders-v2", |_| (500, "text/plain", "from v2".into()));
    let rules = r#"
        split {
            to "v1" weight=100
        }
        mirror "v2" percent=100"#;
    let mesh = versioned_spec(outbound, &[("v1", &v1), ("v2", &v2)], rules);
    let _envoy = start_sidecar(dir.path(), &mesh, outbound);

    for _ in 0..10 {
        let response = http_request(outbound, "GET", "/orders/1", &[("host", "orders")]);
        // The mirror's 500 never reaches the caller.
        assert_eq!((response.status, response.body.as_str()), (200, "from v1"));
    }
    assert_eq!(v1.hits(), 10);
    // Mirrored requests are sent without waiting for them: give them a moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while v2.hits() < 10 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(v2.hits(), 10, "a copy of every request");
    // Envoy marks the copies: the host gets a `-shadow` suffix.
    let host = v2.requests()[0].header("host").map(str::to_string);
    assert_eq!(host.as_deref(), Some("orders-shadow"));
}

#[test]
fn an_exhausted_retry_budget_stops_retries() {
    // A budget of 0 % with no floor allows no retry at all, whatever the count says.
    let dir = tempfile::tempdir().unwrap();
    let outbound = free_port();
    let orders = failing_first(usize::MAX);
    let call = r#"timeout="5s" {
        retries 3 on="5xx" backoff="10ms" budget="0%" min-retry-concurrency=0
    }"#;
    let _envoy = start_sidecar(dir.path(), &spec(outbound, orders.port(), call), outbound);
    let response = http_request(outbound, "GET", "/orders/17", &[("host", "orders")]);
    assert_eq!(response.status, 503);
    assert_eq!(orders.hits(), 1, "the budget refused every retry");

    // The same call with the floor Envoy defaults to: retries run (1 + 3 attempts).
    let dir = tempfile::tempdir().unwrap();
    let outbound = free_port();
    let orders = failing_first(usize::MAX);
    let call = r#"timeout="5s" {
        retries 3 on="5xx" backoff="10ms" budget="0%"
    }"#;
    let _envoy = start_sidecar(dir.path(), &spec(outbound, orders.port(), call), outbound);
    let response = http_request(outbound, "GET", "/orders/17", &[("host", "orders")]);
    assert_eq!(response.status, 503);
    assert_eq!(orders.hits(), 4, "min-retry-concurrency 3 lets one request's retries run");
}

#[test]
fn a_callee_addressed_by_its_bare_name_gets_a_virtual_host_envoy_accepts() {
    // docker-compose style: service `orders` at `address "orders"`, so the
    // virtual host's name and host domains coincide.
    let mesh = spec(free_port(), 8080, r#"timeout="1s""#)
        .replace(r#"address "127.0.0.1" port=8080"#, r#"address "orders" port=8080"#);
    assert!(mesh.contains(r#"address "orders" port=8080"#));
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("mesh.kdl", &mesh)]);
    let artifacts = meshc::driver::compile(dir.path()).emit().expect("no errors");
    let sidecar = artifacts.iter().find(|a| a.path == "envoy/sidecar-web.yaml").unwrap();
    let path = dir.path().join("sidecar-web.yaml");
    std::fs::write(&path, &sidecar.contents).unwrap();
    envoy_validate(&path).unwrap();
}
