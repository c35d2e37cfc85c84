//! What the monitoring backends share: the subjects measured (gateway
//! routes, calls, services) with their labels, series and objectives, the
//! names of the series the rules record, and the SLO windows. The
//! Prometheus backend defines them, as it records the series; Grafana's
//! dashboards read them from here, so that engines do not use each other.
//!
//! Merge note: this re-exports `prometheus/mod.rs` while that module is
//! still being written on its own branch; the definitions belong here, with
//! `prometheus` then using them from here as `grafana` does.

pub use super::prometheus::{
    escape, lags, slo_ratio_record, slo_windows, subjects, Scope, Subject, CONSUMER_LAG_RECORD, FAST_BURN,
    GRPC_RESPONSES_RECORD, SLOW_BURN,
};
