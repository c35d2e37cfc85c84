//! What the compiler's and the runtime's integration tests share, a module
//! per concern: free ports ([`ports`]), a minimal HTTP/1.1 client
//! ([`http`]), tiny HTTP/1.1 upstream servers ([`upstream`]), the real Envoy
//! in validate and run modes ([`envoy`]), message brokers for event-bus
//! tests ([`brokers`]), and workspace paths and files ([`files`]). Each test
//! binary's `support` module re-exports it beside the helpers only one side
//! needs (compiling a mesh with `meshc`, protos for the runtime).
//!
//! Everything listens on 127.0.0.1 only, and everything that is started is
//! stopped again by a `Drop` guard, also when a test panics. Envoy is never
//! optional: when it cannot be found the tests panic, they do not skip.

pub mod brokers;
pub mod envoy;
pub mod files;
pub mod http;
pub mod ports;
pub mod upstream;

pub use envoy::{envoy_bin, envoy_validate, static_cluster, EnvoyProcess};
pub use files::{copy_tree, corpora, repo_root, write_files};
pub use http::{http_date, http_request, http_request_with_body, try_http_request, HttpResponse};
pub use ports::{dead_port, free_port, localhost};
pub use upstream::{Answer, Upstream, UpstreamRequest};

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, also when another test thread panicked holding it: one failing
/// test must not poison the harness for the rest.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
