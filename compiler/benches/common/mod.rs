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
