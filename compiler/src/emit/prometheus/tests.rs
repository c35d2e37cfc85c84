//! `prometheus/tests/meshc.test.yml`: promtool unit tests of the emitted
//! rules (`promtool test rules`), generated from the spec. Per subject and
//! alert kind, Envoy series that make its alerts fire (every alert of the
//! kind whose threshold the input crosses is expected) and series of
//! healthy traffic that fire none; per SLO, a fast burn that pages and a
//! slow one that opens a ticket, and healthy traffic that does neither;
//! per watched consumer, a backlog past every lag threshold and one below
//! the lowest. For a subject carrying gRPC, the failures are HTTP 200
//! answers with UNAVAILABLE and the healthy traffic includes
//! INVALID_ARGUMENT answers: the tests hold which statuses count.

use std::collections::BTreeMap;

use serde::Serialize;

use super::rules::{annotations, burn_summary, lag_expr, threshold_expr};
use super::RULE_FILE;
use crate::emit::monitoring::{
    self, alert_labels, alert_name, burn_windows, lags, le, subjects, Labels, Lag, Scope, Subject, CONSUMER_LAG_ALERT,
    FAST_BURN, SLOW_BURN,
};
use crate::emit::stats::{GRPC_RESPONSES, GRPC_STATUS};
use crate::emit::{yaml, Artifact, Options, Unexpressed};
use crate::model::monitoring::{Alert, AlertKind, Slo, SloKind, Window};
use crate::model::Model;
use crate::schema::SchemaIndex;

#[derive(Serialize)]
pub struct TestFile {
    pub evaluation_interval: String,
    pub rule_files: Vec<String>,
    pub tests: Vec<TestGroup>,
}

#[derive(Serialize)]
pub struct TestGroup {
    pub alert_rule_test: Vec<AlertTest>,
    pub input_series: Vec<Series>,
    pub interval: String,
}

#[derive(Serialize)]
pub struct AlertTest {
    pub alertname: String,
    pub eval_time: String,
    pub exp_alerts: Vec<ExpAlert>,
}

#[derive(Serialize)]
pub struct ExpAlert {
    pub exp_annotations: Labels,
    pub exp_labels: Labels,
}

#[derive(Serialize)]
pub struct Series {
    pub series: String,
    pub values: String,
}

/// Requests per sample in generated series.
const PER_SAMPLE: u64 = 1_000_000;

/// The test files: thresholds and fast burns evaluated every minute; slow
/// burns (three-day windows) every 72 minutes, a fifth of their short
/// window, so promtool replays days of series in a second.
pub fn emit(model: &Model, _: &SchemaIndex, options: &Options, _: &mut Vec<Unexpressed>) -> Vec<Artifact> {
    let Some(monitoring) = &model.monitoring else { return Vec::new() };
    let (fast, slow) = test_files(model, options.time_scale());
    [("prometheus/tests/meshc.test.yml", fast), ("prometheus/tests/meshc-slow-burn.test.yml", slow)]
        .into_iter()
        .filter(|(_, file)| !file.tests.is_empty())
        .map(|(path, file)| Artifact { path: path.into(), contents: yaml(model, &file), origin: monitoring.span })
        .collect()
}

/// The fast test file and the slow-burn one.
pub fn test_files(model: &Model, scale: u32) -> (TestFile, TestFile) {
    let step = Window::from_millis(60_000).scaled(scale);
    let slow_step = Window::from_millis(6 * 3_600_000).scaled(scale).scaled(5);
    let mut tests = Vec::new();
    let mut slow = Vec::new();
    let subjects = subjects(model, false);
    // Certificate alerts by (proxy, alert name): subjects sharing a proxy
    // share its certificates, so one expiring fires all their alerts.
    let mut cert_expiry: BTreeMap<(&str, String), Vec<(&Subject, &Alert)>> = BTreeMap::new();
    for subject in &subjects {
        let mut kinds: Vec<&'static str> = subject.alerts.iter().map(|a| a.kind.name()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        for kind in kinds {
            let alerts: Vec<&Alert> = subject.alerts.iter().filter(|a| a.kind.name() == kind).collect();
            if let AlertKind::CertExpiry { .. } = alerts[0].kind {
                let key = (subject.proxy.as_str(), alert_name(subject.scope, &alerts[0].kind));
                cert_expiry.entry(key).or_default().extend(alerts.iter().map(|a| (subject, *a)));
            } else {
                tests.extend(threshold_tests(subject, &alerts, step, scale));
            }
        }
        for slo in subject.slos {
            let (fast, slow_burn) = slo_tests(subject, slo, scale);
            tests.extend(fast);
            slow.extend(slow_burn);
        }
    }
    for ((proxy, name), alerts) in &cert_expiry {
        tests.extend(cert_expiry_tests(proxy, name, alerts, step, scale));
    }
    for lag in lags(model, false) {
        tests.extend(lag_tests(&lag, step, scale));
    }
    let file = |step: Window, tests| TestFile {
        evaluation_interval: step.prometheus(),
        rule_files: vec![format!("../{RULE_FILE}")],
        tests,
    };
    (file(step, tests), file(slow_step, slow))
}

fn counter(per_sample: u64, samples: u64) -> String {
    format!("0+{per_sample}x{samples}")
}

fn gauge(value: u64, samples: u64) -> String {
    format!("{value}+0x{samples}")
}

/// `step × n` as a duration.
fn times(step: Window, n: u64) -> String {
    Window::from_millis(step.as_millis().saturating_mul(n)).prometheus()
}

fn responses(subject: &Subject, class: &str, per_sample: u64, samples: u64) -> Series {
    Series {
        series: format!("{}{{{},envoy_response_code_class=\"{class}\"}}", subject.responses, subject.series_labels),
        values: counter(per_sample, samples),
    }
}

/// gRPC responses of `status` (for a subject carrying gRPC).
fn grpc_responses(subject: &Subject, status: &str, per_sample: u64, samples: u64) -> Option<Series> {
    subject.grpc.as_ref().map(|grpc| Series {
        series: format!("{GRPC_RESPONSES}{{{},{GRPC_STATUS}=\"{status}\"}}", grpc.series_labels),
        values: counter(per_sample, samples),
    })
}

/// Failed responses: 5xx, or for gRPC HTTP 200 with UNAVAILABLE (14).
fn failing(subject: &Subject, samples: u64) -> Vec<Series> {
    match grpc_responses(subject, "14", PER_SAMPLE, samples) {
        None => vec![responses(subject, "5", PER_SAMPLE, samples), responses(subject, "2", 0, samples)],
        Some(grpc) => vec![responses(subject, "2", PER_SAMPLE, samples), grpc],
    }
}

/// Concrete labels of a cluster the subject's saturation matchers select.
fn cluster_series(subject: &Subject) -> String {
    let name = |i: usize| subject.labels.get(i).map_or("", |(_, v)| v.as_str());
    let (job, cluster) = match subject.scope {
        Scope::Route => (monitoring::gateway_job(name(0)), format!("{}.http", route_target(subject))),
        Scope::Call => (monitoring::sidecar_job(name(0)), format!("outbound.{}", name(1))),
        Scope::Service => ("envoy-sidecar-any-caller".to_string(), format!("outbound.{}", name(0))),
    };
    format!("envoy_cluster_upstream_rq_active{{meshc_cluster=\"{cluster}\",job=\"{job}\"}}")
}

/// The service a route subject's clusters are named after (from its matchers).
fn route_target(subject: &Subject) -> String {
    // `...meshc_cluster=~"NAME\\..*"`: NAME is the service.
    let after = subject.clusters.split("=~\"").nth(1).unwrap_or("");
    after.split("\\\\.").next().unwrap_or("").replace('\\', "")
}

fn expected(subject: &Subject, alert: &Alert, scale: u32) -> Option<ExpAlert> {
    let name = alert_name(subject.scope, &alert.kind);
    let (_, summary) = threshold_expr(subject, &alert.kind, scale)?;
    Some(ExpAlert {
        exp_annotations: annotations(&summary, &name),
        exp_labels: alert_labels(subject, alert.severity.value.as_str(), &alert.labels),
    })
}

/// Samples that outlast the longest hold of `alerts` by four steps.
fn samples_past_hold(alerts: &[&Alert], window: Window, step: Window, scale: u32) -> u64 {
    let hold = alerts.iter().filter_map(|a| a.hold).map(|h| h.scaled(scale)).max().unwrap_or(step);
    (window.as_millis() + hold.as_millis()).div_ceil(step.as_millis()) + 4
}

/// A consumer's backlog past its highest lag threshold (every alert fires)
/// and below its lowest (none does). The backlog is all in the first gauge
/// (RabbitMQ's ready messages, JetStream's undelivered ones).
fn lag_tests(lag: &Lag, step: Window, scale: u32) -> Vec<TestGroup> {
    let alerts: Vec<&Alert> = lag.alerts.iter().collect();
    if alerts.is_empty() {
        return Vec::new();
    }
    let name = CONSUMER_LAG_ALERT;
    let samples = samples_past_hold(&alerts, step, step, scale);
    let thresholds = alerts.iter().map(|a| a.kind.threshold().0);
    let (lowest, highest) = (thresholds.clone().min().unwrap_or(0), thresholds.max().unwrap_or(0));
    let input = |backlog: u64| -> Vec<Series> {
        lag.series
            .iter()
            .enumerate()
            .map(|(i, s)| Series { series: s.clone(), values: gauge(if i == 0 { backlog } else { 0 }, samples) })
            .collect()
    };
    let expected = |alert: &&Alert| {
        let (_, summary) = lag_expr(lag, &alert.kind)?;
        Some(ExpAlert { exp_annotations: annotations(&summary, name), exp_labels: lag.alert_labels(alert) })
    };
    let group = |input: Vec<Series>, exp: Vec<ExpAlert>| TestGroup {
        alert_rule_test: vec![AlertTest { alertname: name.into(), eval_time: times(step, samples), exp_alerts: exp }],
        input_series: input,
        interval: step.prometheus(),
    };
    vec![
        group(input(highest.saturating_add(1)), alerts.iter().filter_map(expected).collect()),
        group(input(lowest / 2), Vec::new()),
    ]
}

/// A test whose input fires every alert of `alerts` (one kind) it crosses, and one of healthy traffic.
fn threshold_tests(subject: &Subject, alerts: &[&Alert], step: Window, scale: u32) -> Vec<TestGroup> {
    let name = alert_name(subject.scope, &alerts[0].kind);
    let window = Window::from_millis(300_000).scaled(scale);
    let samples = samples_past_hold(alerts, window, step, scale);
    let eval_time = times(step, samples);
    let mut fire_input = Vec::new();
    let mut quiet_input = Vec::new();
    let fires: Vec<&Alert> = match &alerts[0].kind {
        AlertKind::ErrorRate { .. } => {
            let lowest = alerts.iter().map(|a| a.kind.threshold().0).min().unwrap_or(0);
            fire_input.extend(failing(subject, samples));
            let errors = lowest * PER_SAMPLE / 1_000_000 / 2;
            quiet_input.push(responses(subject, "5", errors, samples));
            quiet_input.push(responses(subject, "2", PER_SAMPLE - errors, samples));
            // The client's errors (INVALID_ARGUMENT) are not the server's.
            quiet_input.extend(grpc_responses(subject, "3", PER_SAMPLE - errors, samples));
            alerts.iter().copied().filter(|a| a.kind.threshold().0 < 1_000_000).collect()
        }
        AlertKind::Saturation { .. } => {
            let lowest = alerts.iter().map(|a| a.kind.threshold().0).min().unwrap_or(0);
            let max = u64::from(subject.max_requests);
            fire_input.push(Series { series: cluster_series(subject), values: gauge(max, samples) });
            quiet_input
                .push(Series { series: cluster_series(subject), values: gauge(max * lowest / 2_000_000, samples) });
            alerts.iter().copied().filter(|a| a.kind.threshold().0 < 1_000_000).collect()
        }
        AlertKind::Latency { .. } => {
            let mut bounds: Vec<u64> = alerts.iter().map(|a| a.kind.threshold().0).collect();
            let lowest = bounds.iter().copied().min().unwrap_or(1);
            let slow = bounds.iter().copied().max().unwrap_or(1).saturating_mul(2);
            bounds.push(slow);
            bounds.sort_unstable();
            bounds.dedup();
            let bucket = |le_value: &str, per: u64| Series {
                series: format!("{}_bucket{{{},le=\"{le_value}\"}}", subject.histogram, subject.series_labels),
                values: counter(per, samples),
            };
            for &b in &bounds {
                fire_input.push(bucket(&le(b), 0));
                quiet_input.push(bucket(&le(b), if b >= lowest { PER_SAMPLE } else { 0 }));
            }
            fire_input.push(bucket("+Inf", PER_SAMPLE));
            quiet_input.push(bucket("+Inf", PER_SAMPLE));
            alerts.to_vec()
        }
        // Per proxy (`cert_expiry_tests`); measured at a broker (`lag_tests`).
        AlertKind::CertExpiry { .. } | AlertKind::ConsumerLag { .. } => return Vec::new(),
    };
    let group = |input: Vec<Series>, exp: Vec<ExpAlert>| TestGroup {
        alert_rule_test: vec![AlertTest { alertname: name.clone(), eval_time: eval_time.clone(), exp_alerts: exp }],
        input_series: input,
        interval: step.prometheus(),
    };
    vec![
        group(fire_input, fires.iter().filter_map(|a| expected(subject, a, scale)).collect()),
        group(quiet_input, Vec::new()),
    ]
}

/// A proxy's certificate expiring now fires every certificate alert of
/// every subject it serves; one lasting twice the longest threshold, none.
fn cert_expiry_tests(
    proxy: &str,
    name: &str,
    alerts: &[(&Subject, &Alert)],
    step: Window,
    scale: u32,
) -> Vec<TestGroup> {
    let window = Window::from_millis(300_000).scaled(scale);
    let only_alerts: Vec<&Alert> = alerts.iter().map(|(_, a)| *a).collect();
    let samples = samples_past_hold(&only_alerts, window, step, scale);
    let longest = only_alerts.iter().map(|a| a.kind.threshold().0).max().unwrap_or(0);
    let series = format!("envoy_server_days_until_first_cert_expiring{{{proxy}}}");
    let safe_days = longest / 86_400_000 * 2 + 2;
    let group = |days: u64, exp: Vec<ExpAlert>| TestGroup {
        alert_rule_test: vec![AlertTest { alertname: name.into(), eval_time: times(step, samples), exp_alerts: exp }],
        input_series: vec![Series { series: series.clone(), values: gauge(days, samples) }],
        interval: step.prometheus(),
    };
    vec![
        group(0, alerts.iter().filter_map(|(subject, alert)| expected(subject, alert, scale)).collect()),
        group(safe_days, Vec::new()),
    ]
}

/// Series making the SLO's error ratio 1 (`bad`) or 0.
fn slo_input(subject: &Subject, slo: &Slo, bad: bool, samples: u64) -> Vec<Series> {
    match &slo.kind {
        SloKind::Availability if bad => failing(subject, samples),
        SloKind::Availability => {
            let mut ok = vec![responses(subject, "5", 0, samples), responses(subject, "2", PER_SAMPLE, samples)];
            ok.extend(grpc_responses(subject, "3", PER_SAMPLE, samples));
            ok
        }
        SloKind::Latency { under } => vec![
            Series {
                series: format!(
                    "{}_bucket{{{},le=\"{}\"}}",
                    subject.histogram,
                    subject.series_labels,
                    le(under.value.as_millis() as u64)
                ),
                values: counter(if bad { 0 } else { PER_SAMPLE }, samples),
            },
            Series {
                series: format!("{}_count{{{}}}", subject.histogram, subject.series_labels),
                values: counter(PER_SAMPLE, samples),
            },
        ],
    }
}

/// The fast-burn tests and the slow-burn ones.
fn slo_tests(subject: &Subject, slo: &Slo, scale: u32) -> (Vec<TestGroup>, Vec<TestGroup>) {
    let windows = burn_windows(slo);
    let budget_ppm = u64::from(slo.objective.value.complement().ppm());
    let labels = |severity: &str| {
        let mut l = alert_labels(subject, severity, &slo.labels);
        l.insert("slo".into(), slo.kind.name().into());
        l
    };
    let mut out = Vec::new();
    // Fast burn: the 1h/5m pair (scaled), sampled five times per short window.
    let (long, short, _) = windows.page[0];
    let step = short.scaled(scale).scaled(5);
    let samples = long.scaled(scale).as_millis().div_ceil(step.as_millis()) + 3;
    let eval = times(step, samples);
    // 14.4 × the budget must be reachable: an error ratio cannot pass 1.
    let pageable = budget_ppm * 144 / 10 < 1_000_000;
    let page = ExpAlert {
        exp_annotations: annotations(&burn_summary(subject, slo, true), FAST_BURN),
        exp_labels: labels(slo.page.as_str()),
    };
    let test = |bad: bool, name: &str, eval: &str, step: Window, samples: u64, exp: Vec<ExpAlert>| TestGroup {
        alert_rule_test: vec![AlertTest { alertname: name.into(), eval_time: eval.into(), exp_alerts: exp }],
        input_series: slo_input(subject, slo, bad, samples),
        interval: step.prometheus(),
    };
    if pageable {
        out.push(test(true, FAST_BURN, &eval, step, samples, vec![page]));
    }
    out.push(test(false, FAST_BURN, &eval, step, samples, Vec::new()));
    let mut slow = Vec::new();
    if let Some(ticket) = slo.ticket {
        let (long, short, _) = windows.ticket;
        let step = short.scaled(scale).scaled(5);
        let samples = long.scaled(scale).as_millis().div_ceil(step.as_millis()) + 3;
        let eval = times(step, samples);
        let exp = ExpAlert {
            exp_annotations: annotations(&burn_summary(subject, slo, false), SLOW_BURN),
            exp_labels: labels(ticket.as_str()),
        };
        slow.push(test(true, SLOW_BURN, &eval, step, samples, vec![exp]));
        slow.push(test(false, SLOW_BURN, &eval, step, samples, Vec::new()));
    }
    (out, slow)
}
