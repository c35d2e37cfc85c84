//! Grafana (monitored meshes): a dashboard per service, per gateway and an
//! overview (`dashboards`), and the provisioning files that load them with
//! a Prometheus data source (`provisioning`).
//!
//! Dashboards are the classic JSON model (`schemaVersion` [`SCHEMA_VERSION`],
//! Grafana 12), built on the Prometheus backend's recording rules: every
//! metric a panel reads is named in [`metrics`], the one place to follow a
//! rename of a rule or of an Envoy statistic.

pub mod dashboards;
pub mod json;
pub mod provisioning;

/// The dashboard JSON model's version: Grafana 12's.
pub const SCHEMA_VERSION: u32 = 41;

/// The provisioned data source's uid, the dashboards' default.
pub const DATASOURCE_UID: &str = "meshc-prometheus";

/// The data source's name in Grafana.
pub const DATASOURCE_NAME: &str = "Prometheus";

/// Where Prometheus answers when the spec does not say: the service name
/// `prometheus` on its default port (docs/backends/grafana.md).
pub const DEFAULT_PROMETHEUS_URL: &str = "http://prometheus:9090";

/// Where the file provider reads the dashboards (mount `grafana/dashboards/` there).
pub const DASHBOARDS_PATH: &str = "/var/lib/grafana/dashboards/meshc";

/// The Grafana folder the dashboards appear in, and their common tag.
pub const FOLDER: &str = "meshc";

/// Every metric and label the dashboards read, and how they read them.
pub mod metrics {
    use crate::emit::monitoring::{self as shared, Subject};
    use crate::model::monitoring::{Slo, Window};

    /// Recording rules of `prometheus/rules/meshc.yml` (group `meshc-red`),
    /// per route, call and service, labelled as the subject.
    pub const REQUESTS: &str = "meshc:requests:rate5m";
    pub const ERRORS: &str = "meshc:errors:rate5m";
    pub const ERROR_RATIO: &str = "meshc:error_ratio:rate5m";
    pub const LATENCY_P50: &str = "meshc:latency_ms_p50:rate5m";
    pub const LATENCY_P99: &str = "meshc:latency_ms_p99:rate5m";
    /// Per route, call and service carrying gRPC, by `grpc_status`.
    pub const GRPC_RESPONSES: &str = shared::GRPC_RESPONSES_RECORD;
    /// Per SLO (group `meshc-slo`), labelled as the subject plus `slo`.
    pub const SLO_BUDGET_REMAINING: &str = "meshc:slo_error_budget_remaining";
    pub const SLO_OBJECTIVE: &str = "meshc:slo_objective";
    /// Per durable consumer whose lag is measured, labelled `service`,
    /// `topic`, `group`, `broker` (group `meshc-lag`).
    pub const CONSUMER_LAG: &str = shared::CONSUMER_LAG_RECORD;
    /// Prometheus' own series of pending and firing alerts.
    pub const ALERTS: &str = "ALERTS";
    /// The runtime HealthMonitor's (docs/runtime.md#metrics), labelled
    /// `service`, `instance`, `check`.
    pub const HEALTH_UP: &str = "meshc_health_up";
    pub const HEALTH_STATE: &str = "meshc_health_state";

    /// The burn-rate alerts' names.
    pub const SLO_ALERTS: [&str; 2] = [shared::FAST_BURN, shared::SLOW_BURN];

    /// An SLO's error ratio over `window` (a recording rule).
    pub fn slo_ratio(window: Window) -> String {
        shared::slo_ratio_record(window)
    }

    /// The windows an SLO's ratio is recorded over, its own last.
    pub fn slo_windows(slo: &Slo) -> Vec<Window> {
        shared::slo_windows(slo)
    }

    /// A subject's label matchers on its recording rules.
    pub fn matchers(subject: &Subject) -> String {
        subject.label_matchers()
    }

    /// A subject's p95, straight from Envoy's histogram (the rules record
    /// p50 and p99), over 5 minutes divided by the build's time scale.
    pub fn latency_p95(subject: &Subject, scale: u32) -> String {
        format!(
            "histogram_quantile(0.95, sum by (le) (rate({}_bucket{{{}}}[{}])))",
            subject.histogram,
            subject.selector,
            Window::from_millis(300_000).scaled(scale).prometheus()
        )
    }

    /// A PromQL label value.
    pub fn escape(value: &str) -> String {
        shared::escape(value)
    }
}

/// A Grafana uid for `kind` and `name`: `meshc-KIND-NAME` when it fits
/// Grafana's 40 characters of `[A-Za-z0-9_-]`, else a readable head and a
/// hash of the whole (stable across builds and machines).
pub fn uid(kind: &str, name: &str) -> String {
    let plain = format!("meshc-{kind}-{name}");
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if plain.len() <= 40 && plain.chars().all(valid) {
        return plain;
    }
    let head: String = plain.chars().map(|c| if valid(c) { c } else { '_' }).take(23).collect();
    format!("{head}-{:016x}", fnv1a(plain.as_bytes()))
}

/// FNV-1a, 64 bits: stable, unlike `std`'s hashers.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::uid;

    #[test]
    fn uids_are_the_names_when_they_fit_else_a_stable_hash_of_40_characters() {
        assert_eq!(uid("service", "orders"), "meshc-service-orders");
        let long = uid("service", "a-service-name-far-too-long-for-a-grafana-uid");
        assert_eq!(long.len(), 40, "{long}");
        assert_eq!(long, uid("service", "a-service-name-far-too-long-for-a-grafana-uid"));
        assert_ne!(long, uid("service", "a-service-name-far-too-long-for-a-grafana-uie"));
        let odd = uid("service", "orders.v2");
        assert!(odd.len() <= 40 && odd.chars().all(|c| c.is_ascii_alphanumeric() || "-_".contains(c)), "{odd}");
    }
}
