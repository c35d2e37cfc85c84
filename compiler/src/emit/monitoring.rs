//! What the monitoring backends share: the subjects measured with their
//! labels, series and objectives, the names of the series the rules
//! record, the alerts' names and labels, and the SLO windows. The
//! Prometheus backend (`prometheus/`) records and alerts on them; Grafana's
//! dashboards read them, so that neither engine uses the other.
//!
//! What is measured is a **subject**: a gateway route (its series at the
//! gateway: `envoy_vhost_route_*` with `envoy_route` = the route's name), a
//! call (at the caller's sidecar: `envoy_route` = the call's stat name, see
//! `emit::stats::call`), or a service (at its own sidecar's inbound
//! connection managers: `envoy_http_downstream_*`). Every rule of a subject
//! carries its labels (`gateway`+`route`, `caller`+`callee`+`call`,
//! `service`), and every alert `team` (the owner) and `severity`.
//!
//! A consumer's lag ([`Lag`]) is measured at its broker's exporter
//! (`model::events::Exporter`): scraped as the job `broker-<name>`, its
//! alerts carry `service`, `topic`, `group` and `broker`.
//!
//! gRPC answers failures with HTTP 200 and a `grpc-status`: for a subject
//! carrying gRPC (a route or call to a gRPC method, a service serving gRPC
//! APIs) the errors are its 5xx responses plus its gRPC responses with a
//! server-error status (`emit::stats::GRPC_SERVER_ERRORS`), counted by the
//! proxies' `grpc_stats` filters.

use std::collections::BTreeMap;

use crate::emit::stats::{self, GRPC_RESPONSES, GRPC_SERVER_ERRORS, GRPC_STATUS};
use crate::model::events::{BrokerId, BrokerKind, QueueType, StreamSettings};
use crate::model::monitoring::{Alert, AlertKind, Objectives, Slo, SloKind, Window};
use crate::model::{Model, Service};

/// The recorded lag of each consumer, labelled `service`, `topic`, `group`, `broker`.
pub const CONSUMER_LAG_RECORD: &str = "meshc:consumer_lag";

/// Envoy's circuit breaker default for `max_requests`.
const ENVOY_MAX_REQUESTS: u32 = 1024;

/// The scrape job of a gateway's proxy.
pub fn gateway_job(name: &str) -> String {
    format!("envoy-gateway-{name}")
}

/// The scrape job of a service's sidecar.
pub fn sidecar_job(name: &str) -> String {
    format!("envoy-sidecar-{name}")
}

/// The scrape job of a broker's exporter.
pub fn broker_job(name: &str) -> String {
    format!("broker-{name}")
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Route,
    Call,
    Service,
}

impl Scope {
    fn prefix(self) -> &'static str {
        match self {
            Scope::Route => "Route",
            Scope::Call => "Call",
            Scope::Service => "Service",
        }
    }
}

/// A consumer whose lag is watched, at its broker's exporter.
pub struct Lag<'a> {
    pub broker: BrokerId,
    /// `service`, `topic`, `group`, `broker`.
    pub labels: Vec<(&'static str, String)>,
    /// Words for summaries: "consumer group `billing` of service `invoices` on topic `orders`".
    pub description: String,
    pub team: Option<&'a str>,
    /// The gauges whose sum is the lag, each with the matchers of its
    /// series (equalities only, so they are also one series' labels).
    pub series: Vec<String>,
    /// How one gauge's series combine: `max` where every broker node
    /// reporting the object reports all of it, `sum` over Kafka's partitions.
    pub aggregate: &'static str,
    pub alerts: &'a [Alert],
}

impl Lag<'_> {
    /// The lag in PromQL.
    pub fn expr(&self) -> String {
        self.series.iter().map(|s| format!("{}({s})", self.aggregate)).collect::<Vec<_>>().join(" + ")
    }

    /// Its alert labels: its own, `team`, `severity`, and the spec's routing labels.
    pub fn alert_labels(&self, alert: &Alert) -> Labels {
        let own = self.labels.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        labelled(own, self.team, alert.severity.value.as_str(), &alert.labels)
    }
}

/// Every durable consumer whose lag its broker's exporter reports and that
/// has lag alerts (`all`: or whose broker declares `metrics`, for the lag
/// recording rule), in spec order; the unmeasured-objective check warns of
/// alerts on the others.
pub fn lags(model: &Model, all: bool) -> Vec<Lag<'_>> {
    let mut out = Vec::new();
    for consumer in &model.events.consumers {
        let Some(group) = consumer.group() else { continue };
        let Some(stream) = model.events.streams.iter().find(|s| s.topic == consumer.topic.value) else { continue };
        if matches!(stream.settings, StreamSettings::Rabbitmq { queue_type: QueueType::Stream, .. }) {
            continue;
        }
        let broker = model.events.broker(stream.broker);
        if consumer.alerts.is_empty() && !(all && broker.metrics.is_some()) {
            continue;
        }
        let (topic, group) = (&stream.name.value, &group.value);
        let job = format!("job=\"{}\"", escape(&broker_job(&broker.name.value)));
        let (matchers, aggregate) = match broker.kind {
            BrokerKind::Rabbitmq => (
                format!("{job},queue=\"{}\",vhost=\"{}\"", escape(&stream.queue(group)), escape(broker.vhost())),
                "max",
            ),
            BrokerKind::Nats => {
                (format!("{job},consumer_name=\"{}\",stream_name=\"{}\"", escape(group), escape(topic)), "max")
            }
            BrokerKind::Kafka => {
                (format!("{job},consumergroup=\"{}\",topic=\"{}\"", escape(group), escape(topic)), "sum")
            }
        };
        let service = model.service(consumer.service);
        let name = &service.name.value;
        out.push(Lag {
            broker: stream.broker,
            labels: vec![
                ("broker", broker.name.value.clone()),
                ("group", group.clone()),
                ("service", name.clone()),
                ("topic", topic.clone()),
            ],
            description: format!("consumer group `{group}` of service `{name}` on topic `{topic}`"),
            team: service.owner.as_ref().map(|o| o.value.as_str()),
            series: broker.kind.exporter().lag_metrics.iter().map(|m| format!("{m}{{{matchers}}}")).collect(),
            aggregate,
            alerts: &consumer.alerts,
        });
    }
    out
}

/// Something measured: its labels, series and objectives.
pub struct Subject<'a> {
    pub scope: Scope,
    /// Identifying labels, in order (`gateway`, `route`).
    pub labels: Vec<(&'static str, String)>,
    /// Words for summaries: "route `orders` of gateway `public`".
    pub description: String,
    pub team: Option<&'a str>,
    /// The counter of responses by class (`envoy_response_code_class`).
    pub responses: &'static str,
    /// The request-time histogram, without `_bucket`/`_count`.
    pub histogram: &'static str,
    /// The label matchers selecting the subject's series.
    pub selector: String,
    /// Labels of one concrete series the selector takes (for rule tests).
    pub series_labels: String,
    /// Matchers of the clusters whose circuit breaker guards it.
    pub clusters: String,
    pub max_requests: u32,
    /// Matchers of the proxies holding its certificates.
    pub proxy: String,
    /// Its gRPC responses' series, for a subject carrying gRPC.
    pub grpc: Option<GrpcSeries>,
    pub slos: &'a [Slo],
    pub alerts: &'a [Alert],
}

impl Subject<'_> {
    /// Its labels as a map, plus `extra`.
    pub fn label_map(&self, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut map: BTreeMap<String, String> = self.labels.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        for (k, v) in extra {
            map.insert(k.to_string(), v.to_string());
        }
        map
    }

    /// `gateway="public",route="orders"`.
    pub fn label_matchers(&self) -> String {
        self.labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect::<Vec<_>>().join(",")
    }
}

/// The gRPC status counters (`emit::stats::GRPC_RESPONSES`) of a subject.
pub struct GrpcSeries {
    /// The label matchers selecting them.
    pub selector: String,
    /// Labels of one concrete series the selector takes (for rule tests).
    pub series_labels: String,
}

impl GrpcSeries {
    /// At `job`, through the clusters `CLUSTER(.PORT...)`, of `method` (every method when `None`).
    fn new(job: &str, cluster: Option<&str>, method: Option<(&str, &str)>) -> GrpcSeries {
        let mut selector = format!("job=\"{job}\"");
        let mut series_labels = selector.clone();
        if let Some(cluster) = cluster {
            let pattern = regex_literal(cluster).replace('\\', "\\\\");
            selector.push_str(&format!(",{}=~\"{pattern}(\\\\..*)?\"", stats::GRPC_CLUSTER));
            series_labels.push_str(&format!(",{}=\"{}\"", stats::GRPC_CLUSTER, escape(cluster)));
        }
        if let Some((service, method)) = method {
            let labels = format!(
                ",{}=\"{}\",{}=\"{}\"",
                stats::GRPC_SERVICE,
                escape(service),
                stats::GRPC_METHOD,
                escape(method)
            );
            selector.push_str(&labels);
            series_labels.push_str(&labels);
        }
        GrpcSeries { selector, series_labels }
    }
}

/// A PromQL / YAML-safe label value (spec names are plain; this guards the rest).
pub fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

/// An RE2 literal.
fn regex_literal(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if !c.is_ascii_alphanumeric() && c != '_' && c != '-' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn max_requests(service: &Service) -> u32 {
    service.traffic.circuit_breaker.as_ref().and_then(|c| c.value.max_requests).unwrap_or(ENVOY_MAX_REQUESTS)
}

/// Every subject with objectives or alerts (`all`: every subject, for RED
/// recording rules), in spec order: routes, then each service and its calls.
pub fn subjects(model: &Model, all: bool) -> Vec<Subject<'_>> {
    static EMPTY: Objectives = Objectives { slos: Vec::new(), exempt: None, alerts: Vec::new() };
    let mut out = Vec::new();
    for gateway in &model.gateways {
        let job = gateway_job(&gateway.name.value);
        for route in &gateway.routes {
            let Some(forward) = route.forward() else { continue };
            if !all && forward.objectives.is_empty() {
                continue;
            }
            let target = model.service(forward.target.value);
            let g = &gateway.name.value;
            let r = &route.name.value;
            out.push(Subject {
                scope: Scope::Route,
                labels: vec![("gateway", g.clone()), ("route", r.clone())],
                description: format!("route `{r}` of gateway `{g}`"),
                team: target.owner.as_ref().map(|o| o.value.as_str()),
                responses: "envoy_vhost_route_upstream_rq_xx",
                histogram: "envoy_vhost_route_upstream_rq_time",
                selector: format!("job=\"{job}\",envoy_route=\"{}\"", escape(r)),
                series_labels: format!("job=\"{job}\",envoy_route=\"{}\"", escape(r)),
                clusters: format!(
                    "job=\"{job}\",meshc_cluster=~\"{}\\\\..*\"",
                    regex_literal(&target.name.value).replace('\\', "\\\\")
                ),
                max_requests: max_requests(target),
                proxy: format!("job=\"{job}\""),
                grpc: stats::grpc_route(forward).map(|m| GrpcSeries::new(&job, None, Some(m))),
                slos: &forward.objectives.slos,
                alerts: &forward.objectives.alerts,
            });
        }
    }
    for service in &model.services {
        if service.mesh().is_none() {
            continue;
        }
        let name = &service.name.value;
        let job = sidecar_job(name);
        let http = service.ports().any(|(_, p)| p.protocol.is_http());
        if http && (all || !service.objectives.is_empty()) {
            let objectives = if service.objectives.is_empty() { &EMPTY } else { &service.objectives };
            out.push(Subject {
                scope: Scope::Service,
                labels: vec![("service", name.clone())],
                description: format!("service `{name}`"),
                team: service.owner.as_ref().map(|o| o.value.as_str()),
                responses: "envoy_http_downstream_rq_xx",
                histogram: "envoy_http_downstream_rq_time",
                selector: format!("job=\"{job}\",envoy_http_conn_manager_prefix=~\"inbound_{}(_.+)?\"", escape(name)),
                series_labels: format!("job=\"{job}\",envoy_http_conn_manager_prefix=\"inbound_{}\"", escape(name)),
                clusters: format!(
                    "meshc_cluster=~\"(outbound\\\\.)?{}(\\\\..*)?\"",
                    regex_literal(name).replace('\\', "\\\\")
                ),
                max_requests: max_requests(service),
                proxy: format!("job=\"{job}\""),
                grpc: stats::serves_grpc(service)
                    .then(|| GrpcSeries::new(&job, Some(&format!("inbound.{name}")), None)),
                slos: &objectives.slos,
                alerts: &objectives.alerts,
            });
        }
        for call in &service.calls {
            if call.tcp || call.origin != crate::model::CallOrigin::Declared || (!all && call.alerts.is_empty()) {
                continue;
            }
            let callee = model.service(call.target.value);
            let stat = stats::call(model, call);
            out.push(Subject {
                scope: Scope::Call,
                labels: vec![("caller", name.clone()), ("callee", callee.name.value.clone()), ("call", stat.clone())],
                description: format!("call `{stat}` of service `{name}`"),
                team: service.owner.as_ref().map(|o| o.value.as_str()),
                responses: "envoy_vhost_route_upstream_rq_xx",
                histogram: "envoy_vhost_route_upstream_rq_time",
                selector: format!("job=\"{job}\",envoy_route=\"{}\"", escape(&stat)),
                series_labels: format!("job=\"{job}\",envoy_route=\"{}\"", escape(&stat)),
                clusters: format!(
                    "job=\"{job}\",meshc_cluster=~\"outbound\\\\.{}(\\\\..*)?\"",
                    regex_literal(&callee.name.value).replace('\\', "\\\\")
                ),
                max_requests: max_requests(callee),
                proxy: format!("job=\"{job}\""),
                grpc: call
                    .operation
                    .as_ref()
                    .and_then(|o| o.value.grpc())
                    .map(|m| GrpcSeries::new(&job, Some(&format!("outbound.{}", callee.name.value)), Some(m))),
                slos: &[],
                alerts: &call.alerts,
            });
        }
    }
    // Two calls of one caller sharing a stat name share their series: keep the first.
    let mut seen = std::collections::HashSet::new();
    out.retain(|s| seen.insert(s.label_matchers()));
    out
}

/// The windows of an SLO's burn-rate alerts: the SRE workbook's for a
/// 30-day objective (page 1h/5m at 14.4×, 6h/30m at 6×; ticket 3d/6h at
/// 1×), scaled by window / 30 days for other windows as Pyrra does.
pub struct BurnWindows {
    pub page: [(Window, Window, &'static str); 2],
    pub ticket: (Window, Window, &'static str),
}

pub fn burn_windows(slo: &Slo) -> BurnWindows {
    const DAY: u64 = 86_400_000;
    let scale = |ms: u64| {
        Window::from_millis(((u128::from(ms) * u128::from(slo.window.as_millis())) / u128::from(30 * DAY)).max(1) as u64)
    };
    BurnWindows {
        page: [(scale(3_600_000), scale(300_000), "14.4"), (scale(6 * 3_600_000), scale(1_800_000), "6")],
        ticket: (scale(3 * DAY), scale(6 * 3_600_000), "1"),
    }
}

/// Every window an SLO's error ratio is recorded over (its own last).
pub fn slo_windows(slo: &Slo) -> Vec<Window> {
    let w = burn_windows(slo);
    let mut windows = vec![w.page[0].0, w.page[0].1, w.page[1].0, w.page[1].1, w.ticket.0, w.ticket.1];
    windows.sort();
    windows.dedup();
    windows.retain(|x| *x != slo.window);
    windows.push(slo.window);
    windows
}

/// The alert of `alert "consumer-lag"` (a consumer's, not a proxy scope's).
pub const CONSUMER_LAG_ALERT: &str = "ConsumerLagHigh";

/// The alert name of a threshold alert at a scope.
pub fn alert_name(scope: Scope, kind: &AlertKind) -> String {
    let what = match kind {
        AlertKind::ConsumerLag { .. } => return CONSUMER_LAG_ALERT.to_string(),
        AlertKind::ErrorRate { .. } => "ErrorRateHigh",
        AlertKind::Latency { .. } => "LatencyHigh",
        AlertKind::Saturation { .. } => "SaturationHigh",
        AlertKind::CertExpiry { .. } => "CertificateExpiring",
    };
    format!("{}{what}", scope.prefix())
}

/// The recording rule of a gRPC subject's responses per second by `grpc_status`.
pub const GRPC_RESPONSES_RECORD: &str = "meshc:grpc_responses:rate5m";

pub const FAST_BURN: &str = "SLOErrorBudgetFastBurn";
pub const SLOW_BURN: &str = "SLOErrorBudgetSlowBurn";

/// The name of an SLO recording rule over `window` (unscaled).
pub fn slo_ratio_record(window: Window) -> String {
    format!("meshc:slo_error_ratio:rate{}", window.prometheus())
}

/// `le` as Envoy writes it: milliseconds, no trailing `.0`.
pub fn le(ms: u64) -> String {
    ms.to_string()
}

/// The failed responses per second of a subject over a window (PromQL):
/// 5xx, and for gRPC traffic the server-error statuses.
pub fn errors(subject: &Subject, window: &str) -> String {
    let http = format!(
        "sum(rate({}{{{},envoy_response_code_class=\"5\"}}[{window}])) or vector(0)",
        subject.responses, subject.selector
    );
    match &subject.grpc {
        None => http,
        Some(grpc) => format!(
            "({http}) + (sum(rate({GRPC_RESPONSES}{{{},{GRPC_STATUS}=~\"{GRPC_SERVER_ERRORS}\"}}[{window}])) or vector(0))",
            grpc.selector
        ),
    }
}

/// The share of failed responses of a subject over a window (PromQL).
pub fn failure_ratio(subject: &Subject, window: &str) -> String {
    format!("({}) / sum(rate({}{{{}}}[{window}]))", errors(subject, window), subject.responses, subject.selector)
}

/// The error ratio of a subject over a window (PromQL), for an SLO kind.
pub fn error_ratio(subject: &Subject, kind: &SloKind, window: &str) -> String {
    let sel = &subject.selector;
    match kind {
        SloKind::Availability => failure_ratio(subject, window),
        SloKind::Latency { under } => format!(
            "1 - (sum(rate({h}_bucket{{{sel},le=\"{le}\"}}[{window}])) or vector(0)) / sum(rate({h}_count{{{sel}}}[{window}]))",
            h = subject.histogram,
            le = le(under.value.as_millis() as u64)
        ),
    }
}

/// A labelled YAML map for rules and tests.
pub type Labels = BTreeMap<String, String>;

/// The labels of an alert of `subject`: its own, `team`, `severity`, and the spec's routing labels.
pub fn alert_labels(subject: &Subject, severity: &str, extra: &[(String, String)]) -> Labels {
    labelled(subject.label_map(&[]), subject.team, severity, extra)
}

/// `own` labels with `severity`, `team` and the spec's routing labels.
fn labelled(mut labels: Labels, team: Option<&str>, severity: &str, extra: &[(String, String)]) -> Labels {
    labels.insert("severity".into(), severity.to_string());
    if let Some(team) = team {
        labels.insert("team".into(), team.to_string());
    }
    for (k, v) in extra {
        labels.insert(k.clone(), v.clone());
    }
    labels
}

/// The runbook link of an alert, in the operator's guide.
pub fn runbook(alert: &str) -> String {
    format!("docs/operations/monitoring.md#{}", alert.to_ascii_lowercase())
}
