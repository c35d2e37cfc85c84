//! What both benchmarks generate alike: names, operations tables, timing.
#![allow(dead_code)]

use std::time::{Duration, Instant};

pub fn service_name(i: usize) -> String {
    format!("svc-{i:05}")
}

pub fn proto_service(i: usize) -> String {
    format!("Svc{i:05}")
}

pub fn proto_package(group: usize) -> String {
    format!("synth.g{group:03}.v1")
}

pub const REST_OPS: &[(&str, &str)] = &[
    ("GET", "/items"),
    ("GET", "/items/{itemId}"),
    ("POST", "/items"),
    ("PUT", "/items/{itemId}"),
    ("DELETE", "/items/{itemId}"),
    ("GET", "/orders/{orderId}/lines"),
    ("POST", "/orders"),
    ("GET", "/health"),
];

pub const GRPC_METHODS: &[&str] = &["Get", "List", "Put", "Delete"];

pub fn best<T>(repeat: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..repeat.max(1) {
        let start = Instant::now();
        let out = f();
        best = best.min(start.elapsed());
        last = Some(out);
    }
    (best, last.unwrap())
}

/// The service that service `i`'s `k`-th call targets in a mesh of `n`:
/// spread over the services numbered above it, so the call graph is a DAG
/// as in a layered architecture (a cycle would be MESH0030); the last
/// service calls none.
pub fn callee(i: usize, k: usize, n: usize) -> Option<usize> {
    let above = n - i - 1;
    (above > 0).then(|| i + 1 + (k * 7919 + (i * 31) % 97) % above)
}

/// The entries and block of a call from `i` to `j` (its `k`-th): timeouts
/// shrink towards the leaves so every budget holds (MESH0032), and calls
/// into the last twentieth of the mesh retry once, so each path retries at
/// most once and the analyses have retries to multiply without crossing
/// the amplification limit.
pub fn call_settings(i: usize, j: usize, k: usize, n: usize) -> String {
    let timeout = 100 + 10 * (n - i);
    let leaves = n - n / 20;
    if k == 0 && i < leaves && j >= leaves {
        // Idempotent (an idempotency key), so retrying a `Put` or `POST` is safe (MESH0034).
        format!(" timeout=\"{timeout}ms\" idempotent=#true {{ retries 1 per-try-timeout=\"{}ms\" }}", timeout / 3)
    } else {
        format!(" timeout=\"{timeout}ms\"")
    }
}

/// Every service's traffic policy: outlier detection, so no call warns (MESH0035).
pub const TRAFFIC: &str = "    traffic { outlier-detection consecutive-5xx=5 }\n";
