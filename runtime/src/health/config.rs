//! `runtime/health.json`, read and checked into the targets to probe.

use std::time::Duration;

use serde::Deserialize;

/// The only format version this runtime reads.
const FORMAT_VERSION: u32 = 1;
/// Most instances one monitor probes: each is a task and a row of metrics.
pub(crate) const MAX_TARGETS: usize = 4096;
/// Longest interval, timeout, jitter or start period accepted: a day.
const MAX_MILLIS: u64 = 86_400_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HealthFile {
    version: u32,
    checks: Vec<CheckEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckEntry {
    service: String,
    probe: ProbeEntry,
    interval_ms: u64,
    timeout_ms: u64,
    #[serde(default)]
    jitter_ms: Option<u64>,
    #[serde(default)]
    start_period_ms: Option<u64>,
    healthy_threshold: u32,
    unhealthy_threshold: u32,
    instances: Vec<InstanceEntry>,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
enum ProbeEntry {
    Http { path: String, expect_status: [u16; 2] },
    Grpc { service: String },
    Tcp {},
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstanceEntry {
    address: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    zone: Option<String>,
}

/// What a probe asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// `GET path`; healthy when the status is in `first..=last`.
    Http { path: String, first: u16, last: u16 },
    /// `grpc.health.v1.Health/Check` about `service` (empty: the whole server); healthy when SERVING.
    Grpc { service: String },
    /// A TCP connection is accepted.
    Tcp,
}

impl Probe {
    /// `http`, `grpc` or `tcp`: the `check` label of the metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Probe::Http { .. } => "http",
            Probe::Grpc { .. } => "grpc",
            Probe::Tcp => "tcp",
        }
    }
}

/// One instance to probe, with its service's check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub service: String,
    /// `host:port`, resolved at each probe.
    pub address: String,
    pub version: Option<String>,
    pub zone: Option<String>,
    pub probe: Probe,
    pub interval: Duration,
    pub timeout: Duration,
    pub jitter: Duration,
    pub start_period: Duration,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
}

/// A checked config: the targets, in the file's order.
#[derive(Debug, Clone)]
pub struct HealthMonitor {
    targets: Vec<Target>,
}

impl HealthMonitor {
    /// Reads `runtime/health.json`. `Err` names the key that is wrong:
    /// unknown, missing or mistyped keys, another format version, zero or
    /// over-a-day durations, thresholds outside 1 to 100, an empty status
    /// range, a path not starting with `/`, more than 4096 instances.
    pub fn from_json(text: &str) -> Result<HealthMonitor, String> {
        let file: HealthFile = crate::config::from_json(text)?;
        if file.version != FORMAT_VERSION {
            return Err(format!("`version`: {} is not {FORMAT_VERSION}, the format this runtime reads", file.version));
        }
        let total: usize = file.checks.iter().map(|c| c.instances.len()).sum();
        if total > MAX_TARGETS {
            return Err(format!("`checks`: {total} instances to probe, more than the {MAX_TARGETS} one monitor takes"));
        }
        let mut targets = Vec::with_capacity(total);
        for (i, check) in file.checks.into_iter().enumerate() {
            let at = |key: &str| format!("`checks[{i}].{key}`");
            let duration = |key: &str, ms: u64| {
                if ms == 0 || ms > MAX_MILLIS {
                    Err(format!("{}: {ms} is not from 1 to {MAX_MILLIS} milliseconds", at(key)))
                } else {
                    Ok(Duration::from_millis(ms))
                }
            };
            let interval = duration("interval_ms", check.interval_ms)?;
            let timeout = duration("timeout_ms", check.timeout_ms)?;
            let jitter = check.jitter_ms.map(|ms| duration("jitter_ms", ms)).transpose()?.unwrap_or_default();
            let start_period =
                check.start_period_ms.map(|ms| duration("start_period_ms", ms)).transpose()?.unwrap_or_default();
            for (key, n) in
                [("healthy_threshold", check.healthy_threshold), ("unhealthy_threshold", check.unhealthy_threshold)]
            {
                if !(1..=100).contains(&n) {
                    return Err(format!("{}: {n} is not from 1 to 100", at(key)));
                }
            }
            let probe = match check.probe {
                ProbeEntry::Http { path, expect_status: [first, last] } => {
                    if !path.starts_with('/') {
                        return Err(format!("{}: {path:?} does not start with `/`", at("probe.path")));
                    }
                    if !(100..=599).contains(&first) || !(first..=599).contains(&last) {
                        return Err(format!(
                            "{}: [{first}, {last}] is not a range of HTTP statuses",
                            at("probe.expect_status")
                        ));
                    }
                    Probe::Http { path, first, last }
                }
                ProbeEntry::Grpc { service } => Probe::Grpc { service },
                ProbeEntry::Tcp {} => Probe::Tcp,
            };
            for (j, instance) in check.instances.into_iter().enumerate() {
                if instance.address.rsplit_once(':').is_none_or(|(_, port)| port.parse::<u16>().is_err()) {
                    return Err(format!(
                        "{}: {:?} is not HOST:PORT",
                        at(&format!("instances[{j}].address")),
                        instance.address
                    ));
                }
                targets.push(Target {
                    service: check.service.clone(),
                    address: instance.address,
                    version: instance.version,
                    zone: instance.zone,
                    probe: probe.clone(),
                    interval,
                    timeout,
                    jitter,
                    start_period,
                    healthy_threshold: check.healthy_threshold,
                    unhealthy_threshold: check.unhealthy_threshold,
                });
            }
        }
        Ok(HealthMonitor { targets })
    }

    /// A monitor of these targets (for tests and embedding).
    pub fn new(targets: Vec<Target>) -> Result<HealthMonitor, String> {
        if targets.len() > MAX_TARGETS {
            return Err(format!("{} targets, more than the {MAX_TARGETS} one monitor takes", targets.len()));
        }
        Ok(HealthMonitor { targets })
    }

    pub fn targets(&self) -> &[Target] {
        &self.targets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"{"version": 1, "checks": [{"service": "a", "probe": {"kind": "http", "path": "/ready",
        "expect_status": [200, 204]}, "interval_ms": 2000, "timeout_ms": 500, "start_period_ms": 10000,
        "healthy_threshold": 1, "unhealthy_threshold": 4,
        "instances": [{"address": "a-v1.svc:80", "version": "v1"}, {"address": "[::1]:81"}]}]}"#;

    #[test]
    fn each_instance_becomes_a_target_with_its_services_check() {
        let monitor = HealthMonitor::from_json(FILE).unwrap();
        let targets = monitor.targets();
        assert_eq!(targets.len(), 2);
        assert_eq!(targets[0].probe, Probe::Http { path: "/ready".into(), first: 200, last: 204 });
        assert_eq!(targets[0].version.as_deref(), Some("v1"));
        assert_eq!(targets[1].address, "[::1]:81");
        assert_eq!(targets[1].start_period, Duration::from_secs(10));
        assert_eq!(targets[1].jitter, Duration::ZERO);
    }

    #[test]
    fn a_wrong_value_is_named_by_its_key() {
        let cases = [
            (FILE.replace("\"version\": 1", "\"version\": 2"), "`version`"),
            (FILE.replace("\"interval_ms\": 2000", "\"interval_ms\": 0"), "`checks[0].interval_ms`"),
            (FILE.replace("\"healthy_threshold\": 1", "\"healthy_threshold\": 0"), "`checks[0].healthy_threshold`"),
            (FILE.replace("[200, 204]", "[204, 200]"), "`checks[0].probe.expect_status`"),
            (FILE.replace("a-v1.svc:80", "a-v1.svc"), "`checks[0].instances[0].address`"),
            (FILE.replace("\"kind\": \"http\"", "\"kind\": \"udp\""), "checks[0].probe"),
            (FILE.replace("\"version\": \"v1\"", "\"weight\": 1"), "weight"),
        ];
        for (text, wanted) in cases {
            let error = HealthMonitor::from_json(&text).unwrap_err();
            assert!(error.contains(wanted), "{wanted}: {error}");
        }
    }
}
