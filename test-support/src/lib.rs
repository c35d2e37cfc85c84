//! What the compiler's and the runtime's integration tests share, a module
//! per concern: free ports ([`ports`]), a minimal HTTP/1.1 client
//! ([`http`]), tiny HTTP/1.1 upstream servers ([`upstream`]), the real Envoy
//! in validate and run modes ([`envoy`]), workspace paths and files
//! ([`files`]), and the message brokers: NATS JetStream ([`nats`]),
//! RabbitMQ ([`rabbitmq`]) and a Kafka-protocol broker with a real Kafka
//! client ([`kafka`]), with a restartable NATS server and a TCP relay that
//! cuts connections for the runtime's event bus ([`brokers`]), and a
//! headless Chromium driven over WebDriver ([`browser`]). Each test
//! binary's `support` module re-exports it beside the helpers only one side
//! needs (compiling a mesh with `meshc`, protos for the runtime).
//!
//! Everything listens on 127.0.0.1 only, and everything that is started is
//! stopped again by a `Drop` guard, also when a test panics. Envoy is never
//! optional: when it cannot be found the tests panic, they do not skip.

pub mod brokers;
pub mod browser;
pub mod envoy;
pub mod files;
pub mod http;
pub mod kafka;
pub mod nats;
pub mod ports;
pub mod rabbitmq;
pub mod upstream;

pub use browser::Browser;
pub use envoy::{envoy_bin, envoy_validate, static_cluster, EnvoyProcess};
pub use files::{copy_tree, corpora, repo_root, write_files};
pub use http::{http_date, http_request, http_request_with_body, try_http_request, HttpResponse};
pub use kafka::{kafka_admin, tansu_bin, write_unrelated_ca, KafkaBroker, SecuredKafka};
pub use nats::{shared_nats, JetStream, JsError, NatsCluster, NatsServer, StreamsGuard};
pub use ports::{dead_port, free_port, localhost};
pub use rabbitmq::{shared_rabbitmq, Rabbit, RabbitNode, RabbitVhost};
pub use upstream::{Answer, Upstream, UpstreamRequest};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

/// Locks `m`, also when another test thread panicked holding it: one failing
/// test must not poison the harness for the rest.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A message for a panic that must not be missed: a missing engine or
/// broker, a server that would not start.
pub(crate) fn loud(msg: &str) -> String {
    let bar = "!".repeat(78);
    format!("\n{bar}\n!! {msg}\n{bar}\n")
}

/// A tool's binary: `$VAR` when set (not empty), else `name` in a `PATH`
/// directory; `None` when neither names one.
fn tool_bin(var: &str, name: &str) -> Option<std::path::PathBuf> {
    if let Some(value) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        return Some(value.into());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// `<prefix>-<pid>-<time>-<n>` in lowercase letters, digits and `-`: a name
/// no other test run on this machine uses, valid as a JetStream stream, a
/// RabbitMQ vhost or queue, and a Kafka topic. Names on shared brokers are
/// made with it and removed again by the test that made them.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{:x}-{:x}-{n}", std::process::id(), nanos & 0xffff_ffff_ffff)
}
