//! The HealthMonitor: probes the instances of each service with a
//! `health-check` as the compiled `runtime/health.json` describes them
//! (HTTP `GET` with accepted statuses, the gRPC health protocol, TCP
//! connect), each on its own schedule with a timeout, healthy and unhealthy
//! thresholds and a start period, and serves the results as Prometheus
//! metrics (`/metrics`) and JSON (`/status`). See `docs/runtime.md`
//! ("Health monitor") for the config, the states and the metrics.
//!
//! ```no_run
//! use meshc_runtime::health::{serve_health, HealthMonitor};
//! let text = std::fs::read_to_string("out/runtime/health.json").unwrap();
//! let monitor = HealthMonitor::from_json(&text).unwrap();
//! let handle = serve_health(monitor, "127.0.0.1:0".parse().unwrap(), |_| {}).unwrap();
//! println!("metrics on http://{}/metrics", handle.addr());
//! // dropping `handle` stops the probes and the server.
//! ```

mod config;
mod probe;
mod report;
mod server;
mod state;

pub use config::{HealthMonitor, Probe, Target};
pub use server::{serve_health, HealthHandle};
pub use state::{Health, Transition};
