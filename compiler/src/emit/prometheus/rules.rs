//! `prometheus/rules/meshc-red.yml` and `meshc.yml`: recording rules (RED per route, call and
//! service, and gRPC responses by status for those carrying gRPC; each consumer's lag), threshold alerts from the spec's `alert`s, and per `slo` the
//! error ratio over each burn window, the budget left and the
//! multi-window multi-burn-rate alerts. Every window is divided by the
//! build's time scale (`emit::Options::with_time_scale`, 1 unless testing); rule
//! names keep the unscaled windows.

use super::{RED_RULE_FILE, RULE_FILE};
use crate::emit::monitoring::{
    alert_labels, alert_name, burn_windows, error_ratio, errors, escape, failure_ratio, lags, le, runbook,
    slo_ratio_record, slo_windows, subjects, Labels, Lag, Subject, CONSUMER_LAG_ALERT, CONSUMER_LAG_RECORD, FAST_BURN,
    GRPC_RESPONSES_RECORD, SLOW_BURN,
};
use crate::emit::stats::{GRPC_RESPONSES, GRPC_STATUS};
use crate::emit::{yaml, Artifact, Options, Unexpressed};
use crate::model::monitoring::{decimal, Alert, AlertKind, Slo, Window};
use crate::model::Model;
use crate::schema::SchemaIndex;
use serde::Serialize;

#[derive(Serialize)]
pub struct RuleFile {
    pub groups: Vec<Group>,
}

#[derive(Serialize)]
pub struct Group {
    pub name: &'static str,
    pub rules: Vec<Rule>,
}

#[derive(Clone, Serialize)]
pub struct Rule {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    #[serde(skip_serializing_if = "Labels::is_empty")]
    pub annotations: Labels,
    pub expr: String,
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    pub hold: Option<String>,
    #[serde(skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
}

impl Rule {
    fn record(name: impl Into<String>, expr: String, labels: Labels) -> Rule {
        Rule { alert: None, annotations: Labels::new(), expr, hold: None, labels, record: Some(name.into()) }
    }
}

pub fn emit(model: &Model, _: &SchemaIndex, options: &Options, _: &mut Vec<Unexpressed>) -> Vec<Artifact> {
    let Some(monitoring) = &model.monitoring else { return Vec::new() };
    let (red, alerting) = rule_files(model, options.time_scale());
    [(RED_RULE_FILE, red), (RULE_FILE, alerting)]
        .into_iter()
        .filter(|(_, file)| !file.groups.is_empty())
        .map(|(path, file)| Artifact {
            path: format!("prometheus/{path}"),
            contents: yaml(model, &file),
            origin: monitoring.span,
        })
        .collect()
}

/// The rules, every window divided by `scale`. Groups are evaluated at
/// Prometheus' `evaluation_interval` (the scrape interval).
/// The RED file and the alerting one.
pub fn rule_files(model: &Model, scale: u32) -> (RuleFile, RuleFile) {
    let w = |window: Window| window.scaled(scale).prometheus();
    let rate5m = w(Window::from_millis(300_000));
    let mut red = Vec::new();
    for subject in subjects(model, true) {
        let labels = subject.label_map(&[]);
        let (r, h, sel) = (subject.responses, subject.histogram, &subject.selector);
        red.push(Rule::record("meshc:requests:rate5m", format!("sum(rate({r}{{{sel}}}[{rate5m}]))"), labels.clone()));
        red.push(Rule::record("meshc:errors:rate5m", errors(&subject, &rate5m), labels.clone()));
        red.push(Rule::record("meshc:error_ratio:rate5m", failure_ratio(&subject, &rate5m), labels.clone()));
        if let Some(grpc) = &subject.grpc {
            red.push(Rule::record(
                GRPC_RESPONSES_RECORD,
                format!("sum by ({GRPC_STATUS}) (rate({GRPC_RESPONSES}{{{}}}[{rate5m}]))", grpc.selector),
                labels.clone(),
            ));
        }
        for (q, name) in [("0.5", "p50"), ("0.99", "p99")] {
            red.push(Rule::record(
                format!("meshc:latency_ms_{name}:rate5m"),
                format!("histogram_quantile({q}, sum by (le) (rate({h}_bucket{{{sel}}}[{rate5m}])))"),
                labels.clone(),
            ));
        }
    }
    let lag_records = lags(model, true)
        .iter()
        .map(|lag| {
            Rule::record(
                CONSUMER_LAG_RECORD,
                lag.expr(),
                lag.labels.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
            )
        })
        .collect();
    let mut slo_records = Vec::new();
    let mut slo_alerts = Vec::new();
    let mut alerts = Vec::new();
    for subject in subjects(model, false) {
        for slo in subject.slos {
            slo_rules(&subject, slo, scale, &mut slo_records, &mut slo_alerts);
        }
        alerts.extend(subject.alerts.iter().filter_map(|alert| threshold_alert(&subject, alert, scale)));
    }
    for lag in lags(model, false) {
        alerts.extend(lag.alerts.iter().filter_map(|alert| lag_alert(&lag, alert, scale)));
    }
    let file = |groups: Vec<(&'static str, Vec<Rule>)>| RuleFile {
        groups: groups
            .into_iter()
            .filter(|(_, rules)| !rules.is_empty())
            .map(|(name, rules)| Group { name, rules })
            .collect(),
    };
    let alerting = vec![
        // One group: rules of a group run in order, so the burn-rate alerts
        // read the ratios of the same evaluation (groups run concurrently).
        ("meshc-slo", slo_records.into_iter().chain(slo_alerts).collect()),
        ("meshc-alerts", alerts),
    ];
    (file(vec![("meshc-red", red), ("meshc-lag", lag_records)]), file(alerting))
}

/// The PromQL condition of a threshold alert and its summary; `None` for
/// consumer lag, which no proxy measures ([`lag_expr`]).
pub fn threshold_expr(subject: &Subject, kind: &AlertKind, scale: u32) -> Option<(String, String)> {
    let rate5m = Window::from_millis(300_000).scaled(scale).prometheus();
    let (h, sel) = (subject.histogram, &subject.selector);
    let what = &subject.description;
    Some(match kind {
        AlertKind::ErrorRate { above } => (
            format!("{} > {}", failure_ratio(subject, &rate5m), above.value.decimal()),
            match subject.grpc {
                None => format!("More than {} of the responses of {what} are 5xx.", above.value),
                Some(_) => {
                    format!("More than {} of the responses of {what} are 5xx or gRPC server errors.", above.value)
                }
            },
        ),
        AlertKind::Latency { percentile, above } => (
            format!(
                "histogram_quantile({}, sum by (le) (rate({h}_bucket{{{sel}}}[{rate5m}]))) > {}",
                percentile.decimal(),
                le(above.value.as_millis() as u64)
            ),
            format!("The {} percentile of {what}'s response times is above {}.", percentile, above.value),
        ),
        AlertKind::Saturation { above } => (
            format!(
                "max(envoy_cluster_upstream_rq_active{{{}}}) / {} > {}",
                subject.clusters,
                subject.max_requests,
                above.value.decimal()
            ),
            format!(
                "Requests in flight for {what} are above {} of the circuit breaker's max-requests ({}).",
                above.value, subject.max_requests
            ),
        ),
        AlertKind::CertExpiry { below } => (
            format!(
                "min(envoy_server_days_until_first_cert_expiring{{{}}}) < {}",
                subject.proxy,
                days(below.value.as_millis())
            ),
            format!("A certificate of the proxy serving {what} expires within {}.", below.value),
        ),
        AlertKind::ConsumerLag { .. } => return None,
    })
}

/// The PromQL condition of a consumer-lag alert and its summary; `None`
/// for the other kinds, which a broker does not measure.
pub fn lag_expr(lag: &Lag, kind: &AlertKind) -> Option<(String, String)> {
    let AlertKind::ConsumerLag { above } = kind else { return None };
    Some((
        format!("{} > {}", lag.expr(), above.value),
        format!("More than {} events wait for {} at its broker.", above.value, lag.description),
    ))
}

fn lag_alert(lag: &Lag, alert: &Alert, scale: u32) -> Option<Rule> {
    let (expr, summary) = lag_expr(lag, &alert.kind)?;
    Some(Rule {
        alert: Some(CONSUMER_LAG_ALERT.into()),
        annotations: annotations(&summary, CONSUMER_LAG_ALERT),
        expr,
        hold: alert.hold.map(|h| h.scaled(scale).prometheus()),
        labels: lag.alert_labels(alert),
        record: None,
    })
}

/// Milliseconds as days, exact to the millisecond.
pub fn days(ms: u64) -> String {
    // 86,400,000 ms a day: as a decimal of up to 8 places, trimmed.
    let scaled = u128::from(ms) * 100_000_000 / 86_400_000;
    decimal(scaled as u64, 8)
}

fn threshold_alert(subject: &Subject, alert: &Alert, scale: u32) -> Option<Rule> {
    let name = alert_name(subject.scope, &alert.kind);
    let (expr, summary) = threshold_expr(subject, &alert.kind, scale)?;
    Some(Rule {
        alert: Some(name.clone()),
        annotations: annotations(&summary, &name),
        expr,
        hold: alert.hold.map(|h| h.scaled(scale).prometheus()),
        labels: alert_labels(subject, alert.severity.value.as_str(), &alert.labels),
        record: None,
    })
}

pub fn annotations(summary: &str, alert: &str) -> Labels {
    Labels::from([("runbook".to_string(), runbook(alert)), ("summary".to_string(), summary.to_string())])
}

/// An SLO's labels on its recording rules.
pub fn slo_labels(subject: &Subject, slo: &Slo) -> Labels {
    subject.label_map(&[("slo", slo.kind.name())])
}

/// The burn-rate alerts' summaries.
pub fn burn_summary(subject: &Subject, slo: &Slo, fast: bool) -> String {
    let speed = if fast { "fast" } else { "steadily" };
    format!(
        "The {} objective of {} ({} over {}) is burning its error budget {speed}.",
        slo.kind.name(),
        subject.description,
        slo.objective.value,
        slo.window
    )
}

fn slo_rules(subject: &Subject, slo: &Slo, scale: u32, records: &mut Vec<Rule>, alerts: &mut Vec<Rule>) {
    let labels = slo_labels(subject, slo);
    for window in slo_windows(slo) {
        records.push(Rule::record(
            slo_ratio_record(window),
            error_ratio(subject, &slo.kind, &window.scaled(scale).prometheus()),
            labels.clone(),
        ));
    }
    let budget = slo.objective.value.complement().decimal();
    records.push(Rule::record("meshc:slo_objective", slo.objective.value.decimal(), labels.clone()));
    let selector = format!("{},slo=\"{}\"", subject.label_matchers(), escape(slo.kind.name()));
    records.push(Rule::record(
        "meshc:slo_error_budget_remaining",
        format!("1 - {}{{{selector}}} / {budget}", slo_ratio_record(slo.window)),
        labels.clone(),
    ));
    let burn = |long: Window, short: Window, factor: &str| {
        format!(
            "({long_r}{{{selector}}} > ({factor} * {budget}) and {short_r}{{{selector}}} > ({factor} * {budget}))",
            long_r = slo_ratio_record(long),
            short_r = slo_ratio_record(short)
        )
    };
    let windows = burn_windows(slo);
    let page = windows.page.iter().map(|(l, s, f)| burn(*l, *s, f)).collect::<Vec<_>>().join(" or ");
    let mut page_labels = alert_labels(subject, slo.page.as_str(), &slo.labels);
    page_labels.insert("slo".into(), slo.kind.name().into());
    alerts.push(Rule {
        alert: Some(FAST_BURN.into()),
        annotations: annotations(&burn_summary(subject, slo, true), FAST_BURN),
        expr: page,
        hold: None,
        labels: page_labels,
        record: None,
    });
    if let Some(ticket) = slo.ticket {
        let (l, s, f) = windows.ticket;
        let mut ticket_labels = alert_labels(subject, ticket.as_str(), &slo.labels);
        ticket_labels.insert("slo".into(), slo.kind.name().into());
        alerts.push(Rule {
            alert: Some(SLOW_BURN.into()),
            annotations: annotations(&burn_summary(subject, slo, false), SLOW_BURN),
            expr: burn(l, s, f),
            hold: None,
            labels: ticket_labels,
            record: None,
        });
    }
}
