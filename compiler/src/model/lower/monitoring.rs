//! Monitoring: the top-level `monitoring` block (admin and metrics ports,
//! scrape interval, Alertmanager receivers), the named `slo-policy` and
//! `alert-policy` templates (`import "std:slo"`), and the `slo`,
//! `slo-exempt` and `alert` nodes of services, gateway routes and calls.

use std::ops::Deref;

use std::collections::HashMap;

use super::read::{self, Once};
use super::{declare_once, Decls, Lower};
use crate::base::{Span, Spanned};
use crate::diag::{suggestion, Code, Diagnostic};
use crate::model::monitoring::{
    Alert, AlertKind, Monitoring, Objectives, Ratio, Receiver, Severity, Slo, SloKind, Window,
};
use crate::model::values::{Duration, Port};
use crate::syntax::{Node, Value};

const SLO_PROPS: &[&str] = &["policy", "objective", "window", "under", "page", "ticket"];
const SLO_EXAMPLE: &str = "slo \"availability\" objective=\"99.9%\" window=\"30d\"";
const ALERT_PROPS: &[&str] = &["policy", "above", "below", "percentile", "for", "severity"];
const ALERT_EXAMPLE: &str = "alert \"error-rate\" above=\"5%\" for=\"5m\" severity=\"critical\"";
const ALERT_KINDS: &[&str] = &["error-rate", "latency", "saturation", "cert-expiry", "consumer-lag"];
const LAG_EXAMPLE: &str = "alert \"consumer-lag\" above=1000 for=\"5m\" severity=\"warning\"";
/// Labels meshc sets itself on every alert; `labels` may not replace them.
const RESERVED_LABELS: &[&str] = &[
    "alertname",
    "severity",
    "service",
    "gateway",
    "route",
    "caller",
    "callee",
    "slo",
    "job",
    "instance",
    "le",
    "topic",
    "group",
];

/// Where objectives are declared: what a service, route or call may hold.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Scope {
    Service,
    Route,
    Call,
}

impl Scope {
    fn name(self) -> &'static str {
        match self {
            Scope::Service => "service",
            Scope::Route => "route",
            Scope::Call => "calls",
        }
    }
}

impl<D: Deref<Target = Decls>> Lower<'_, D> {
    /// The root's `monitoring { admin-port N; metrics-port N; scrape-interval D; alertmanager A; health-monitor A;
    /// receiver ...; default-receiver NAME }`.
    pub(super) fn monitoring(&mut self, node: &Node) -> Option<Monitoring> {
        read::check_entries(node, 0, &[], self.sink);
        let mut once = Once::default();
        let mut monitoring = Monitoring {
            admin_port: Port::new(i128::from(Monitoring::DEFAULT_ADMIN_PORT)).expect("a port"),
            metrics_port: Port::new(i128::from(Monitoring::DEFAULT_METRICS_PORT)).expect("a port"),
            scrape_interval: Window::from_millis(15_000),
            alertmanager: Spanned::new("alertmanager:9093".into(), node.span),
            health_monitor: Spanned::new(Monitoring::DEFAULT_HEALTH_MONITOR.into(), node.span),
            receivers: Vec::new(),
            default_receiver: None,
            span: node.span,
        };
        let mut receiver_names: HashMap<String, Span> = HashMap::new();
        let mut default_receiver = None;
        let mut failed = false;
        for child in node.children() {
            let single = child.name != "receiver";
            if single && !once.first(child, self.sink) {
                continue;
            }
            match child.name.as_str() {
                "admin-port" | "metrics-port" => {
                    read::check_entries(child, 1, &[], self.sink);
                    read::no_children(child, self.sink);
                    let example = format!("{} 15000", child.name);
                    match read::int_arg(child, 0, "a port", &example, self.sink)
                        .and_then(|p| read::parse(&p, |p| Port::new(*p), self.sink))
                    {
                        Some(port) if child.name == "admin-port" => monitoring.admin_port = port,
                        Some(port) => monitoring.metrics_port = port,
                        None => failed = true,
                    }
                }
                "scrape-interval" => {
                    read::check_entries(child, 1, &[], self.sink);
                    read::no_children(child, self.sink);
                    match read::string_arg(child, 0, "a duration", "scrape-interval \"15s\"", self.sink)
                        .and_then(|t| read::parse(&t, |t| Window::parse(t), self.sink))
                    {
                        Some(w) => monitoring.scrape_interval = w,
                        None => failed = true,
                    }
                }
                "alertmanager" | "health-monitor" => {
                    read::check_entries(child, 1, &[], self.sink);
                    read::no_children(child, self.sink);
                    let example = if child.name == "alertmanager" {
                        "alertmanager \"alertmanager.monitoring.svc:9093\""
                    } else {
                        "health-monitor \"127.0.0.1:9464\""
                    };
                    match read::string_arg(child, 0, "a host:port", example, self.sink) {
                        Some(a) if valid_host_port(&a.value) && child.name == "alertmanager" => {
                            monitoring.alertmanager = a
                        }
                        Some(a) if valid_host_port(&a.value) => monitoring.health_monitor = a,
                        Some(a) => {
                            self.sink.push(
                                Diagnostic::new(Code::InvalidValue, format!("`{}` is not HOST:PORT", a.value))
                                    .at(a.span, "expected host:port")
                                    .help(format!("for example: {example}")),
                            );
                            failed = true;
                        }
                        None => failed = true,
                    }
                }
                "default-receiver" => {
                    read::check_entries(child, 1, &[], self.sink);
                    read::no_children(child, self.sink);
                    default_receiver =
                        read::string_arg(child, 0, "a receiver", "default-receiver \"oncall\"", self.sink);
                    failed |= default_receiver.is_none();
                }
                "receiver" => match self.receiver(child) {
                    Some(r) => {
                        let what = ("receiver", r.name.value.as_str());
                        if declare_once(&mut receiver_names, r.name.value.clone(), r.name.span, what, self.sink) {
                            monitoring.receivers.push(r);
                        }
                    }
                    None => failed = true,
                },
                _ => read::unknown_child(
                    child,
                    "monitoring",
                    &[
                        "admin-port",
                        "metrics-port",
                        "scrape-interval",
                        "alertmanager",
                        "health-monitor",
                        "receiver",
                        "default-receiver",
                    ],
                    self.sink,
                ),
            }
        }
        if monitoring.admin_port == monitoring.metrics_port {
            self.sink.push(
                Diagnostic::new(Code::InvalidValue, "the proxies' admin and metrics ports are the same")
                    .at(node.name_span, format!("both {}", monitoring.admin_port))
                    .help("give them different ports, e.g. admin-port 15000 and metrics-port 15090"),
            );
            failed = true;
        }
        if let Some(name) = default_receiver {
            match monitoring.receivers.iter().position(|r| r.name.value == name.value) {
                Some(i) => monitoring.default_receiver = Some(i),
                None => {
                    let known = monitoring.receivers.iter().map(|r| r.name.value.as_str());
                    self.sink.push(
                        Diagnostic::new(Code::UnknownReceiver, format!("no receiver named `{}`", name.value))
                            .at(name.span, "unknown receiver")
                            .help_opt(
                                suggestion(&name.value, known)
                                    .or(Some("declare it: receiver \"oncall\" webhook=\"http://...\"".into())),
                            ),
                    );
                    failed = true;
                }
            }
        }
        (!failed).then_some(monitoring)
    }

    /// `receiver NAME webhook=URL { match LABEL=VALUE ... }`.
    fn receiver(&mut self, node: &Node) -> Option<Receiver> {
        read::check_entries(node, 1, &["webhook"], self.sink);
        let example = "receiver \"oncall\" webhook=\"http://alerts.example.com/hook\"";
        let name = read::string_arg(node, 0, "a name", example, self.sink)?;
        let webhook = read::string_prop(node, "webhook", Some(example), self.sink)?;
        if !(webhook.value.starts_with("http://") || webhook.value.starts_with("https://"))
            || webhook.value.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            self.sink.push(
                Diagnostic::new(Code::InvalidValue, format!("`{}` is not an http(s) URL", webhook.value))
                    .at(webhook.span, "not a URL")
                    .help("Alertmanager posts alerts to it: webhook=\"http://alerts.example.com/hook\""),
            );
            return None;
        }
        let mut matches = Vec::new();
        for child in node.children() {
            match child.name.as_str() {
                "match" => {
                    read::no_children(child, self.sink);
                    let labels = self.label_props(child, &[])?;
                    if labels.is_empty() {
                        self.sink.push(
                            Diagnostic::new(Code::MissingRequired, "`match` names no label")
                                .at(child.name_span, "matches nothing in particular")
                                .help("give the labels the alerts must carry: match severity=\"critical\" team=\"orders\""),
                        );
                        return None;
                    }
                    matches.push(labels);
                }
                _ => read::unknown_child(child, "receiver", &["match"], self.sink),
            }
        }
        Some(Receiver { name, webhook, matches, span: node.span })
    }

    /// Every property of `node` as a Prometheus label (string values), but `except`.
    fn label_props(&mut self, node: &Node, except: &[&str]) -> Option<Vec<(String, String)>> {
        let mut labels = Vec::new();
        let mut failed = false;
        for entry in &node.entries {
            let Some(key) = entry.name.as_deref() else {
                self.sink.push(
                    Diagnostic::new(Code::UnknownProperty, format!("`{}` takes labels as properties", node.name))
                        .at(entry.span, "unexpected argument")
                        .help("write them as name=\"value\": team=\"orders\""),
                );
                failed = true;
                continue;
            };
            if except.contains(&key) {
                continue;
            }
            let valid_name = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !key.starts_with("__");
            let value = match &entry.value {
                Value::String(s) => s.clone(),
                _ => {
                    self.sink.push(
                        Diagnostic::new(Code::InvalidValue, format!("label `{key}` must be a string"))
                            .at(entry.span, "expected a string")
                            .help(format!("for example: {key}=\"orders\"")),
                    );
                    failed = true;
                    continue;
                }
            };
            if !valid_name {
                self.sink.push(
                    Diagnostic::new(Code::InvalidValue, format!("`{key}` is not a Prometheus label name"))
                        .at(entry.span, "invalid label name")
                        .help("label names are letters, digits and `_`, not starting with a digit or `__`: team, pager_route"),
                );
                failed = true;
                continue;
            }
            labels.push((key.to_string(), value));
        }
        labels.sort();
        (!failed).then_some(labels)
    }

    /// The `labels K=V ...` child of an `slo` or `alert`: routing labels.
    fn routing_labels(&mut self, node: &Node) -> Option<Vec<(String, String)>> {
        let mut once = Once::default();
        let mut labels = Vec::new();
        for child in node.children() {
            match child.name.as_str() {
                "labels" if once.first(child, self.sink) => {
                    read::no_children(child, self.sink);
                    labels = self.label_props(child, &[])?;
                    if let Some((key, _)) = labels.iter().find(|(k, _)| RESERVED_LABELS.contains(&k.as_str())) {
                        self.sink.push(
                            Diagnostic::new(Code::InvalidValue, format!("meshc sets the label `{key}` itself"))
                                .at(child.span, "reserved label")
                                .help(format!("choose another name; reserved: {}", RESERVED_LABELS.join(", "))),
                        );
                        return None;
                    }
                }
                "labels" => {}
                _ => read::unknown_child(child, &node.name, &["labels"], self.sink),
            }
        }
        Some(labels)
    }

    /// The `slo`, `slo-exempt` and `alert` children of a service, route or
    /// call (a call takes alerts only). `None` when one is invalid (reported).
    pub(super) fn objectives(&mut self, node: &Node, scope: Scope) -> Option<Objectives> {
        let mut objectives = Objectives::default();
        let mut failed = false;
        let mut kinds: HashMap<&'static str, Span> = HashMap::new();
        let mut exempt_once = Once::default();
        for child in node.children() {
            match child.name.as_str() {
                "slo" | "slo-exempt" if scope == Scope::Call => {
                    self.sink.push(
                        Diagnostic::new(Code::UnknownNode, format!("a call takes no `{}`", child.name))
                            .at(child.name_span, "objectives belong to services and routes")
                            .help("declare the objective on the called service, or on the gateway route; a call takes `alert`s"),
                    );
                    failed = true;
                }
                "slo" => match self.slo(child) {
                    Some(slo) => {
                        if declare_once(&mut kinds, slo.kind.name(), child.span, ("slo", slo.kind.name()), self.sink) {
                            objectives.slos.push(slo);
                        } else {
                            failed = true;
                        }
                    }
                    None => failed = true,
                },
                "slo-exempt" if exempt_once.first(child, self.sink) => {
                    read::check_entries(child, 0, &["reason"], self.sink);
                    read::no_children(child, self.sink);
                    let example = "slo-exempt reason=\"internal batch API; nobody waits on it\"";
                    match read::string_prop(child, "reason", Some(example), self.sink) {
                        Some(reason) if !reason.value.trim().is_empty() => objectives.exempt = Some(reason),
                        Some(reason) => {
                            self.sink.push(
                                Diagnostic::new(Code::InvalidValue, "an exemption needs a reason")
                                    .at(reason.span, "empty reason")
                                    .help(format!("say why it needs no objective: {example}")),
                            );
                            failed = true;
                        }
                        None => failed = true,
                    }
                }
                "alert" => match self.alert(child) {
                    Some(alert) if matches!(alert.kind, AlertKind::ConsumerLag { .. }) => {
                        self.sink.push(
                            Diagnostic::new(Code::MisplacedAlert, format!("a {} takes no `consumer-lag` alert", scope.name()))
                                .at(child.span, "consumer lag is measured per consumer")
                                .help(format!("put it inside the consumer's `subscribes` node: subscribes \"orders\" group=\"billing\" {{ {LAG_EXAMPLE} }}")),
                        );
                        failed = true;
                    }
                    Some(alert) => objectives.alerts.push(alert),
                    None => failed = true,
                },
                _ => {}
            }
        }
        if let (Some(exempt), Some(slo)) = (&objectives.exempt, objectives.slos.first()) {
            self.sink.push(
                Diagnostic::new(
                    Code::InvalidValue,
                    format!("this {} is exempt from objectives but declares one", scope.name()),
                )
                .at(exempt.span, "declared exempt")
                .with_label(slo.span, "an objective")
                .help("remove `slo-exempt`, or the `slo`"),
            );
            failed = true;
        }
        (!failed).then_some(objectives)
    }

    /// `slo "availability"|"latency" objective="99.9%" window="30d" [under="300ms"] [page=SEV] [ticket=SEV|"none"]`,
    /// or `slo policy="NAME"`.
    fn slo(&mut self, node: &Node) -> Option<Slo> {
        read::check_entries(node, 1, SLO_PROPS, self.sink);
        if let Some(policy) = read::string_prop(node, "policy", None, self.sink) {
            let policy = self.policy_ref(node, &policy, "slo")?;
            let labels = self.routing_labels(node)?;
            let found = self.d.slo_policies.get(&policy.value).cloned();
            return found.map(|slo| Slo { labels: merge_labels(&slo.labels, labels), span: node.span, ..slo });
        }
        let kind = read::string_arg(node, 0, "a kind", SLO_EXAMPLE, self.sink)?;
        let objective = read::string_prop(node, "objective", Some(SLO_EXAMPLE), self.sink);
        let objective =
            objective.and_then(|o| read::parse(&o, |t| Ratio::parse(t), self.sink).map(|r| Spanned::new(r, o.span)));
        let window = read::string_prop(node, "window", Some(SLO_EXAMPLE), self.sink)
            .and_then(|w| read::parse(&w, |t| Window::parse(t), self.sink));
        let under = self.spanned_duration(node, "under");
        let page = match read::string_prop(node, "page", None, self.sink) {
            Some(p) => read::parse(&p, |t| Severity::parse(t), self.sink),
            None if node.property("page").is_some() => None,
            None => Some(Severity::Critical),
        };
        let ticket = match read::string_prop(node, "ticket", None, self.sink) {
            Some(t) if t.value == "none" => Some(None),
            Some(t) => read::parse(&t, |t| Severity::parse(t), self.sink).map(Some),
            None if node.property("ticket").is_some() => None,
            None => Some(Some(Severity::Warning)),
        };
        let labels = self.routing_labels(node);
        let kind = match (kind.value.as_str(), under?) {
            ("availability", None) => SloKind::Availability,
            ("availability", Some(under)) => {
                self.sink.push(
                    Diagnostic::new(Code::UnknownProperty, "an availability objective counts errors, not durations")
                        .at(under.span, "`under` is for latency objectives")
                        .help("remove `under`, or make it slo \"latency\" objective=\"99%\" under=\"300ms\" window=\"30d\""),
                );
                return None;
            }
            ("latency", Some(under)) => SloKind::Latency { under },
            ("latency", None) => {
                self.sink.push(
                    Diagnostic::new(Code::MissingRequired, "a latency objective needs `under`")
                        .at(kind.span, "how fast is good?")
                        .help("for example: slo \"latency\" objective=\"99%\" under=\"300ms\" window=\"30d\""),
                );
                return None;
            }
            (other, _) => {
                self.sink.push(
                    Diagnostic::new(Code::InvalidValue, format!("`{other}` is not a kind of objective"))
                        .at(kind.span, "unknown kind")
                        .help_opt(
                            suggestion(other, ["availability", "latency"])
                                .or(Some("use \"availability\" or \"latency\"".into())),
                        ),
                );
                return None;
            }
        };
        let objective = objective?;
        if objective.value.ppm() == 0 || objective.value.ppm() >= 1_000_000 {
            self.sink.push(
                Diagnostic::new(
                    Code::InvalidValue,
                    format!("an objective of {} leaves no error budget to measure", objective.value),
                )
                .at(objective.span, "must be above 0% and below 100%")
                .help("objectives are like \"99.9%\": the rest is the error budget the alerts watch"),
            );
            return None;
        }
        Some(Slo { kind, objective, window: window?, page: page?, ticket: ticket?, labels: labels?, span: node.span })
    }

    /// The `alert` children of a `subscribes` node: `consumer-lag` alone.
    pub(super) fn consumer_alerts(&mut self, node: &Node) -> Option<Vec<Alert>> {
        let mut alerts = Vec::new();
        let mut failed = false;
        for child in node.children().iter().filter(|c| c.name == "alert") {
            match self.alert(child) {
                Some(alert) if matches!(alert.kind, AlertKind::ConsumerLag { .. }) => alerts.push(alert),
                Some(alert) => {
                    self.sink.push(
                        Diagnostic::new(
                            Code::MisplacedAlert,
                            format!("a `subscribes` node takes no `{}` alert", alert.kind.name()),
                        )
                        .at(child.span, "a consumer's alerts watch its lag")
                        .help(format!(
                            "write `{LAG_EXAMPLE}` here, and put request alerts on the service, its calls or gateway routes"
                        )),
                    );
                    failed = true;
                }
                None => failed = true,
            }
        }
        (!failed).then_some(alerts)
    }

    /// `alert KIND above=...|below=... [percentile="99%"] [for=D] severity=SEV`, or `alert policy="NAME"`.
    fn alert(&mut self, node: &Node) -> Option<Alert> {
        read::check_entries(node, 1, ALERT_PROPS, self.sink);
        if let Some(policy) = read::string_prop(node, "policy", None, self.sink) {
            let policy = self.policy_ref(node, &policy, "alert")?;
            let labels = self.routing_labels(node)?;
            let found = self.d.alert_policies.get(&policy.value).cloned();
            return found.map(|a| Alert { labels: merge_labels(&a.labels, labels), span: node.span, ..a });
        }
        let kind = read::string_arg(node, 0, "a kind", ALERT_EXAMPLE, self.sink)?;
        let severity = read::string_prop(node, "severity", Some(ALERT_EXAMPLE), self.sink)
            .and_then(|s| read::parse(&s, |t| Severity::parse(t), self.sink).map(|v| Spanned::new(v, s.span)));
        let hold = match read::string_prop(node, "for", None, self.sink) {
            Some(t) => read::parse(&t, |t| Window::parse(t), self.sink).map(Some),
            None if node.property("for").is_some() => None,
            None => Some(None),
        };
        let labels = self.routing_labels(node);
        let ratio = |cx: &mut Self, key: &str, example: &str| {
            read::string_prop(node, key, Some(example), cx.sink)
                .and_then(|t| read::parse(&t, |v| Ratio::parse(v), cx.sink).map(|r| Spanned::new(r, t.span)))
        };
        let forbid = |cx: &mut Self, keys: &[&str]| {
            let mut ok = true;
            for key in keys {
                if let Some(entry) = node.property(key) {
                    cx.sink.push(
                        Diagnostic::new(Code::UnknownProperty, format!("a `{}` alert takes no `{key}`", kind.value))
                            .at(entry.span, "not for this kind")
                            .help("see docs/language.md#alerts for each kind's properties"),
                    );
                    ok = false;
                }
            }
            ok
        };
        let kind = match kind.value.as_str() {
            "error-rate" => {
                let ok = forbid(self, &["below", "percentile"]);
                let above = ratio(self, "above", "alert \"error-rate\" above=\"5%\" severity=\"critical\"");
                ok.then_some(AlertKind::ErrorRate { above: above? })?
            }
            "saturation" => {
                let ok = forbid(self, &["below", "percentile"]);
                let above = ratio(self, "above", "alert \"saturation\" above=\"80%\" severity=\"warning\"");
                ok.then_some(AlertKind::Saturation { above: above? })?
            }
            "latency" => {
                let ok = forbid(self, &["below"]);
                let example = "alert \"latency\" percentile=\"99%\" above=\"500ms\" severity=\"warning\"";
                let percentile = ratio(self, "percentile", example);
                let above = read::string_prop(node, "above", Some(example), self.sink)
                    .and_then(|t| read::parse(&t, |v| Duration::parse(v), self.sink).map(|d| Spanned::new(d, t.span)));
                let percentile = percentile?;
                if percentile.value.ppm() == 0 || percentile.value.ppm() >= 1_000_000 {
                    self.sink.push(
                        Diagnostic::new(
                            Code::InvalidValue,
                            format!("the {} percentile is not a quantile", percentile.value),
                        )
                        .at(percentile.span, "must be above 0% and below 100%")
                        .help("for example percentile=\"99%\""),
                    );
                    return None;
                }
                ok.then_some(AlertKind::Latency { percentile: percentile.value, above: above? })?
            }
            "cert-expiry" => {
                let ok = forbid(self, &["above", "percentile"]);
                let below = read::string_prop(
                    node,
                    "below",
                    Some("alert \"cert-expiry\" below=\"14d\" severity=\"warning\""),
                    self.sink,
                )
                .and_then(|t| read::parse(&t, |v| Window::parse(v), self.sink).map(|w| Spanned::new(w, t.span)));
                ok.then_some(AlertKind::CertExpiry { below: below? })?
            }
            "consumer-lag" => {
                let ok = forbid(self, &["below", "percentile"]);
                let above = read::int_prop(node, "above", Some(LAG_EXAMPLE), self.sink).and_then(|a| {
                    let count = read::parse(
                        &a,
                        |n| u64::try_from(*n).map_err(|_| format!("{n} events: the lag is a count, 0 or more")),
                        self.sink,
                    )?;
                    Some(Spanned::new(count, a.span))
                });
                ok.then_some(AlertKind::ConsumerLag { above: above? })?
            }
            other => {
                self.sink.push(
                    Diagnostic::new(Code::InvalidValue, format!("`{other}` is not a kind of alert"))
                        .at(kind.span, "unknown kind")
                        .help_opt(
                            suggestion(other, ALERT_KINDS.iter().copied())
                                .or(Some(format!("the kinds are {}", ALERT_KINDS.join(", ")))),
                        ),
                );
                return None;
            }
        };
        Some(Alert { kind, hold: hold?, severity: severity?, labels: labels?, span: node.span })
    }

    /// `policy="NAME"` of an `slo` or `alert`: no other settings beside it; the name must be declared.
    fn policy_ref(&mut self, node: &Node, policy: &Spanned<String>, inner: &str) -> Option<Spanned<String>> {
        if let Some(extra) = node.entries.iter().find(|e| e.name.as_deref() != Some("policy")) {
            self.sink.push(
                Diagnostic::new(
                    Code::UnknownProperty,
                    format!("`{inner} policy=...` takes its settings from the policy"),
                )
                .at(extra.span, "set by the policy")
                .help(format!("declare another {inner}-policy, or write the {inner} out")),
            );
            return None;
        }
        let known: Vec<&str> = match inner {
            "slo" => self.d.slo_policies.keys().map(String::as_str).collect(),
            _ => self.d.alert_policies.keys().map(String::as_str).collect(),
        };
        if known.contains(&policy.value.as_str()) {
            return Some(policy.clone());
        }
        let mut known = known;
        known.sort_unstable();
        self.sink.push(
            Diagnostic::new(Code::UnknownMonitoringPolicy, format!("no {inner}-policy named `{}`", policy.value))
                .at(policy.span, format!("unknown {inner} policy"))
                .help_opt(suggestion(&policy.value, known.iter().copied()).or(Some(format!(
                    "declare it with {inner}-policy \"name\" {{ {inner} ... }}, or `import \"std:slo\"` for the standard ones"
                )))),
        );
        None
    }
}

/// A policy's labels with a use's own over them.
fn merge_labels(base: &[(String, String)], own: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut merged: std::collections::BTreeMap<String, String> = base.iter().cloned().collect();
    merged.extend(own);
    merged.into_iter().collect()
}

/// `host:port`: a host of letters, digits, `.`, `-`, and a port 1-65535.
fn valid_host_port(text: &str) -> bool {
    let Some((host, port)) = text.rsplit_once(':') else { return false };
    !host.is_empty()
        && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && port.parse::<u16>().is_ok_and(|p| p > 0)
}

/// What declares or records: needs the declarations mutably.
impl Lower<'_> {
    /// A top-level `slo-policy NAME { slo ... }` or `alert-policy NAME { alert ... }`.
    pub(super) fn monitoring_policy_decl(&mut self, node: &Node, seen: &mut HashMap<String, Span>) {
        read::check_entries(node, 1, &[], self.sink);
        let (inner, example) = match node.name.as_str() {
            "slo-policy" => ("slo", SLO_EXAMPLE),
            _ => ("alert", ALERT_EXAMPLE),
        };
        let Some(name) =
            read::string_arg(node, 0, "a name", &format!("{} \"standard\" {{ {example} }}", node.name), self.sink)
        else {
            return;
        };
        // Both kinds share one namespace per kind: the key is prefixed.
        let key = format!("{}/{}", node.name, name.value);
        if !declare_once(seen, key, name.span, (node.name.as_str(), &name.value), self.sink) {
            return;
        }
        let bodies: Vec<&Node> = node.children().iter().filter(|c| c.name == inner).collect();
        for child in node.children().iter().filter(|c| c.name != inner) {
            read::unknown_child(child, &node.name, &[inner], self.sink);
        }
        let [body] = bodies.as_slice() else {
            self.sink.push(
                Diagnostic::new(
                    Code::MissingRequired,
                    format!("{} `{}` needs exactly one `{inner}`", node.name, name.value),
                )
                .at(name.span, format!("{} `{inner}` nodes", bodies.len()))
                .help(format!("write one: {example}")),
            );
            return;
        };
        if body.property("policy").is_some() {
            self.sink.push(
                Diagnostic::new(Code::UnknownProperty, "a named policy cannot refer to another")
                    .at(body.span, "refers to a policy")
                    .help(format!("write it out: {example}")),
            );
            return;
        }
        if inner == "slo" {
            if let Some(slo) = self.slo(body) {
                self.d.slo_policies.insert(name.value, slo);
            }
        } else if let Some(alert) = self.alert(body) {
            self.d.alert_policies.insert(name.value, alert);
        }
    }
}
