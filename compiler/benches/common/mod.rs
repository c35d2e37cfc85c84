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
/// spread over the whole mesh, never the caller itself.
pub fn callee(i: usize, k: usize, n: usize) -> usize {
    let j = (i + 1 + k * 7919 + (i * 31) % 97) % n;
    if j == i {
        (j + 1) % n
    } else {
        j
    }
}
