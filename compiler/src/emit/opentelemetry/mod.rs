//! The OpenTelemetry Collector: its configuration for the mesh's
//! `tracing` block (`collector`).

pub mod collector;
