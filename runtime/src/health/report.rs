//! What the monitor knows, kept per target, and how it is shown: the
//! Prometheus text exposition format (version 0.0.4) for `/metrics` and
//! JSON for `/status`.

use std::collections::VecDeque;
use std::fmt::Write;
use std::time::Duration;

use serde::Serialize;

use super::config::Target;
use super::state::{Health, Tracker, Transition};

/// Upper bounds of the probe duration histogram, in seconds.
const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Transitions kept per target for `/status`.
const KEPT_TRANSITIONS: usize = 16;

/// One target's results so far.
pub(crate) struct TargetReport {
    pub target: Target,
    pub tracker: Tracker,
    /// Transitions into each state (`Health::ALL` order).
    entered: [u64; 3],
    recent: VecDeque<Transition>,
    /// Probes per histogram bucket (not cumulative), and over the last bound.
    buckets: [u64; BUCKETS.len() + 1],
    duration_sum: f64,
    last: Option<LastProbe>,
}

#[derive(Clone, Serialize)]
struct LastProbe {
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    duration_ms: f64,
}

impl TargetReport {
    pub fn new(target: Target) -> TargetReport {
        let tracker = Tracker::new(target.healthy_threshold, target.unhealthy_threshold);
        TargetReport {
            target,
            tracker,
            entered: [0; 3],
            recent: VecDeque::new(),
            buckets: [0; BUCKETS.len() + 1],
            duration_sum: 0.0,
            last: None,
        }
    }

    /// Counts one probe; returns the transition it caused.
    pub fn record(&mut self, result: Result<(), String>, took: Duration, in_start_period: bool) -> Option<Transition> {
        let seconds = took.as_secs_f64();
        let bucket = BUCKETS.iter().position(|b| seconds <= *b).unwrap_or(BUCKETS.len());
        self.buckets[bucket] += 1;
        self.duration_sum += seconds;
        let transition = self.tracker.record(result.is_ok(), in_start_period);
        self.last = Some(LastProbe { ok: result.is_ok(), error: result.err(), duration_ms: seconds * 1000.0 });
        if let Some(t) = transition {
            self.entered[Health::ALL.iter().position(|h| *h == t.to).unwrap_or(0)] += 1;
            if self.recent.len() == KEPT_TRANSITIONS {
                self.recent.pop_front();
            }
            self.recent.push_back(t);
        }
        transition
    }
}

/// `/metrics`: Prometheus text format, one family after another.
pub(crate) fn metrics(reports: &[TargetReport]) -> String {
    let mut out = String::new();
    let family = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    family(
        &mut out,
        "meshc_health_up",
        "gauge",
        "1 when the instance is healthy, 0 while it is starting or unhealthy.",
    );
    for r in reports {
        let up = u8::from(r.tracker.health == Health::Healthy);
        let _ = writeln!(out, "meshc_health_up{{{}}} {up}", labels(&r.target, &[]));
    }
    family(&mut out, "meshc_health_state", "gauge", "The instance's health state: 1 for the current one.");
    for r in reports {
        for state in Health::ALL {
            let value = u8::from(r.tracker.health == state);
            let _ = writeln!(out, "meshc_health_state{{{}}} {value}", labels(&r.target, &[("state", state.as_str())]));
        }
    }
    family(&mut out, "meshc_health_probes_total", "counter", "Probes run, by result.");
    for r in reports {
        for (result, n) in [("pass", r.tracker.passes), ("fail", r.tracker.failures)] {
            let _ = writeln!(out, "meshc_health_probes_total{{{}}} {n}", labels(&r.target, &[("result", result)]));
        }
    }
    family(&mut out, "meshc_health_transitions_total", "counter", "State changes, by the state entered.");
    for r in reports {
        for (state, n) in Health::ALL.iter().zip(r.entered).skip(1) {
            let _ =
                writeln!(out, "meshc_health_transitions_total{{{}}} {n}", labels(&r.target, &[("to", state.as_str())]));
        }
    }
    family(
        &mut out,
        "meshc_health_check_duration_seconds",
        "histogram",
        "How long probes took; a probe cut at its timeout counts the timeout.",
    );
    for r in reports {
        let mut cumulative = 0;
        for (bound, n) in BUCKETS.iter().zip(r.buckets) {
            cumulative += n;
            let le = bound.to_string();
            let _ = writeln!(
                out,
                "meshc_health_check_duration_seconds_bucket{{{}}} {cumulative}",
                labels(&r.target, &[("le", &le)])
            );
        }
        let count = r.tracker.probes;
        let base = labels(&r.target, &[]);
        let _ = writeln!(
            out,
            "meshc_health_check_duration_seconds_bucket{{{}}} {count}",
            labels(&r.target, &[("le", "+Inf")])
        );
        let _ = writeln!(out, "meshc_health_check_duration_seconds_sum{{{base}}} {}", r.duration_sum);
        let _ = writeln!(out, "meshc_health_check_duration_seconds_count{{{base}}} {count}");
    }
    out
}

/// `service="...",instance="...",check="..."[,version="..."]` and `extra`.
fn labels(target: &Target, extra: &[(&str, &str)]) -> String {
    let mut pairs =
        vec![("service", target.service.as_str()), ("instance", &target.address), ("check", target.probe.kind())];
    if let Some(version) = &target.version {
        pairs.push(("version", version));
    }
    pairs.extend_from_slice(extra);
    pairs.iter().map(|(name, value)| format!("{name}=\"{}\"", escape(value))).collect::<Vec<_>>().join(",")
}

/// A label value as the text format writes it.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[derive(Serialize)]
struct StatusEntry<'a> {
    service: &'a str,
    instance: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    zone: Option<&'a str>,
    check: &'static str,
    state: Health,
    probes: u64,
    passes: u64,
    failures: u64,
    /// Failures in the start period, which did not count.
    forgiven: u64,
    consecutive_passes: u32,
    consecutive_failures: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    last: Option<LastProbe>,
    transitions: Vec<Transition>,
}

/// `/status`: `{"targets": [...]}` in the config's order.
pub(crate) fn status(reports: &[TargetReport]) -> serde_json::Value {
    let targets: Vec<StatusEntry> = reports
        .iter()
        .map(|r| StatusEntry {
            service: &r.target.service,
            instance: &r.target.address,
            version: r.target.version.as_deref(),
            zone: r.target.zone.as_deref(),
            check: r.target.probe.kind(),
            state: r.tracker.health,
            probes: r.tracker.probes,
            passes: r.tracker.passes,
            failures: r.tracker.failures,
            forgiven: r.tracker.forgiven,
            consecutive_passes: r.tracker.consecutive_passes,
            consecutive_failures: r.tracker.consecutive_failures,
            last: r.last.clone(),
            transitions: r.recent.iter().copied().collect(),
        })
        .collect();
    serde_json::json!({ "targets": targets })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::config::Probe;

    fn target() -> Target {
        Target {
            service: "a\"b".into(),
            address: "127.0.0.1:1".into(),
            version: Some("v1".into()),
            zone: None,
            probe: Probe::Tcp,
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(100),
            jitter: Duration::ZERO,
            start_period: Duration::ZERO,
            healthy_threshold: 1,
            unhealthy_threshold: 1,
        }
    }

    #[test]
    fn metrics_carry_escaped_labels_and_a_cumulative_histogram() {
        let mut r = TargetReport::new(target());
        r.record(Ok(()), Duration::from_millis(3), false);
        r.record(Err("no".into()), Duration::from_millis(30), false);
        let text = metrics(&[r]);
        let labels = r#"service="a\"b",instance="127.0.0.1:1",check="tcp",version="v1""#;
        assert!(text.contains(&format!("meshc_health_up{{{labels}}} 0\n")), "{text}");
        assert!(text.contains(&format!("meshc_health_transitions_total{{{labels},to=\"unhealthy\"}} 1\n")), "{text}");
        assert!(text.contains(&format!("meshc_health_check_duration_seconds_bucket{{{labels},le=\"0.005\"}} 1\n")));
        assert!(text.contains(&format!("meshc_health_check_duration_seconds_bucket{{{labels},le=\"0.05\"}} 2\n")));
        assert!(text.contains(&format!("meshc_health_check_duration_seconds_count{{{labels}}} 2\n")));
    }
}
