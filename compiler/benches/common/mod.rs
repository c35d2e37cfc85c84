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

/// Exits (status 2) unless the general KDL reader works in this optimised
/// build: it needs just-kdl's debug assertions (see docs/benchmarks.md).
pub fn preflight() {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let parsed = std::panic::catch_unwind(|| meshc::syntax::parse_general(meshc::base::FileId(0), "n 8080 1.5\n"));
    std::panic::set_hook(hook);
    let ok = matches!(&parsed, Ok((doc, d)) if d.is_empty()
        && doc.nodes[0].entries.iter().map(|e| e.value.clone()).collect::<Vec<_>>()
            == [meshc::syntax::Value::Integer(8080), meshc::syntax::Value::Float(1.5)]);
    if !ok {
        eprintln!(
            "the general KDL reader (meshc::syntax::parse_general) fails on `n 8080 1.5` in this (optimised) build: just-kdl 0.3.0 writes \
             characters inside a debug_assert! (src/ssb2.rs, SmolStrBuilder2::push), so without debug \
             assertions number literals are corrupted and coerce_to_f64 panics. Enable them for that crate: \
             [profile.release.package.just-kdl] debug-assertions = true in the workspace Cargo.toml, or \
             pass --config 'profile.release.package.just-kdl.debug-assertions=true' to cargo bench"
        );
        std::process::exit(2);
    }
}
