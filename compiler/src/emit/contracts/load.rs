//! The load-test plan (`load/plan.json`, format `meshc-load/1`,
//! docs/testing.md#load-tests): every route and call that declares its
//! load (`load rps= latency=`), with the request that exercises it and the
//! claims the spec makes about it under that load, each naming its spec
//! line:
//!
//! - the latency objectives and latency and error-rate alerts hold at the
//!   declared load;
//! - the local rate limits admit what their buckets hold and shed the rest
//!   with 429, and the callee's circuit breaker bounds what is in flight,
//!   so at twice the load the proxy sheds instead of queueing;
//! - the upstream sees at most the requests the retry policy allows per
//!   request (the attempts, beside the service's worst amplification that
//!   `Model::retry_amplification` computes over every path).
//!
//! `meshc-runtime up OUT --load` runs it against the mesh on one machine,
//! `meshc-runtime load --plan` against a staging gateway.

use serde::Serialize;

use super::access::{self, Auth, GatewayEntry};
use super::plan::Header;
use super::probes::{self, location, Request};
use crate::base::Span;
use crate::emit::{Artifact, Options, Unexpressed};
use crate::model::monitoring::{Alert, AlertKind, Slo, SloKind};
use crate::model::security::RouteRateLimits;
use crate::model::traffic::{Load, RetryPolicy};
use crate::model::values::Operation;
use crate::model::{Call, GatewayId, Model, PathMatch, Route, ServiceId};
use crate::schema::SchemaIndex;

/// The plan's format; bumped on any incompatible change.
const FORMAT: &str = "meshc-load/1";

#[derive(Serialize)]
struct Plan<'a> {
    format: &'static str,
    mesh: &'a str,
    targets: Vec<Target<'a>>,
}

#[derive(Serialize)]
struct Target<'a> {
    /// Requests the upstream may see per request sent.
    amplification: Amplification,
    /// The end user's token the requests carry.
    #[serde(skip_serializing_if = "Option::is_none")]
    auth: Option<Auth<'a>>,
    /// The callee's circuit breaker (at the gateway or the caller's sidecar).
    #[serde(skip_serializing_if = "Option::is_none")]
    breaker: Option<Breaker>,
    /// A call's requests leave from the caller's sidecar.
    #[serde(skip_serializing_if = "Option::is_none")]
    call: Option<CallEntry<'a>>,
    /// A route's requests enter at its gateway.
    #[serde(skip_serializing_if = "Option::is_none")]
    gateway: Option<GatewayEntry<'a>>,
    /// `SUBJECT`, unique in the plan.
    id: String,
    /// The upstream's usual response time.
    latency_ms: u64,
    /// The route's rate limits.
    limits: Vec<Limit>,
    objectives: Vec<Objective>,
    /// `http` or `grpc` (HTTP/2).
    protocol: &'static str,
    request: Request<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retries: Option<Retries>,
    /// Requests per second, all clients together.
    rps: u32,
    /// The upstream service: its sidecar counts what reaches it.
    service: &'a str,
    /// `file:line` of the `load` node.
    source: String,
    /// `gateway:NAME/ROUTE` or `service:CALLER/CALLEE`.
    subject: String,
    /// The request's deadline at the proxy.
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout_ms: Option<u64>,
}

#[derive(Serialize)]
struct Amplification {
    /// Requests the upstream may see per request sent: the attempts.
    per_request: u64,
    /// The upstream's worst amplification per gateway request over every path.
    #[serde(skip_serializing_if = "Option::is_none")]
    service_worst: Option<u64>,
    source: String,
}

#[derive(Serialize)]
struct Breaker {
    /// Requests in flight at the declared load (rate × latency).
    concurrency: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_connections: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_pending: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_requests: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_retries: Option<u32>,
    source: String,
}

#[derive(Serialize)]
struct CallEntry<'a> {
    /// The `host` the caller's sidecar routes by: the callee's declared `HOST:PORT`.
    authority: String,
    caller: &'a str,
}

#[derive(Serialize)]
struct Limit {
    /// Counted by the shared rate limit service (a quota), not at the proxy.
    global: bool,
    /// `route`, `client-ip`, `claim:NAME` or `header:NAME`.
    key: String,
    per_seconds: u64,
    requests: u32,
    source: String,
}

/// A claim about latency or errors at the declared load.
#[derive(Serialize)]
struct Objective {
    /// Alerts: the share of 5xx above which the alert fires, in percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    above_percent: Option<f64>,
    /// `latency-slo`, `availability-slo`, `latency-alert` or `error-rate-alert`.
    kind: &'static str,
    /// Latency: the percentile held (`99` for p99).
    #[serde(skip_serializing_if = "Option::is_none")]
    percentile: Option<f64>,
    source: String,
    /// Availability: the share of good responses, in percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    target_percent: Option<f64>,
    /// Latency: the threshold.
    #[serde(skip_serializing_if = "Option::is_none")]
    under_ms: Option<u64>,
}

#[derive(Serialize)]
struct Retries {
    on: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    per_try_timeout_ms: Option<u64>,
    retries: u32,
    source: String,
}

pub fn emit(model: &Model, _: &SchemaIndex, _: &Options, _: &mut Vec<Unexpressed>) -> Vec<Artifact> {
    let amplified = model.retry_amplification();
    let worst = |service: ServiceId| amplified[service.index()].map(|a| a.amplification);
    let mut targets = Vec::new();
    for id in model.gateway_ids() {
        for route in &model.gateway(id).routes {
            if let Some(target) = route_target(model, id, route, &worst) {
                targets.push(target);
            }
        }
    }
    for caller in model.service_ids() {
        for call in &model.service(caller).calls {
            if let Some(target) = call_target(model, caller, call, &worst) {
                targets.push(target);
            }
        }
    }
    if targets.is_empty() {
        return Vec::new();
    }
    let origin = model.gateways.first().map_or_else(|| model.services[0].name.span, |g| g.name.span);
    let plan = Plan { format: FORMAT, mesh: &model.name, targets };
    let contents = crate::emit::pretty_json(&plan);
    vec![Artifact { path: "load/plan.json".into(), contents, origin }]
}

fn route_target<'a>(
    model: &'a Model,
    id: GatewayId,
    route: &'a Route,
    worst: &dyn Fn(ServiceId) -> Option<u64>,
) -> Option<Target<'a>> {
    let forward = route.forward()?;
    let load = forward.load.as_ref()?;
    let service = forward.target.value;
    let mut request = probes::route_request(route);
    if let (Some(path), None) = (filled_path(route), &forward.rewrite.path) {
        request.path = path;
    }
    let grpc = matches!(forward.operation.as_ref().map(|o| &o.value), Some(Operation::Grpc { .. }))
        && forward.transcode.is_none();
    if grpc {
        request.headers.push(Header { name: "content-type", value: "application/grpc" });
    }
    let gateway = model.gateway(id);
    Some(Target {
        amplification: amplification(model, forward.retries.as_ref(), route.span, service, worst),
        auth: access::route_auth(model, route),
        breaker: breaker(model, service, &load.value),
        call: None,
        gateway: Some(access::route_entry(model, id, route)),
        id: format!("gateway:{}/{}", gateway.name.value, route.name.value),
        latency_ms: millis(load.value.latency.as_millis()),
        limits: limits(model, &route.rate_limits),
        objectives: objectives(model, &forward.objectives.slos, &forward.objectives.alerts),
        protocol: if grpc { "grpc" } else { "http" },
        request,
        retries: forward.retries.as_ref().map(|p| retries(model, p)),
        rps: load.value.rps,
        service: &model.service(service).name.value,
        source: location(model, load.span),
        subject: format!("gateway:{}/{}", gateway.name.value, route.name.value),
        timeout_ms: forward.timeout.and_then(|t| t.duration()).map(|d| millis(d.as_millis())),
    })
}

fn call_target<'a>(
    model: &'a Model,
    caller: ServiceId,
    call: &'a Call,
    worst: &dyn Fn(ServiceId) -> Option<u64>,
) -> Option<Target<'a>> {
    let load = call.load.as_ref()?;
    let from = model.service(caller);
    let callee = model.service(call.target.value);
    let (protocol, method, path, headers) = match call.operation.as_ref().map(|o| &o.value) {
        Some(Operation::Grpc { service, method }) => (
            "grpc",
            "POST".to_string(),
            format!("/{service}/{method}"),
            vec![Header { name: "content-type", value: "application/grpc" }],
        ),
        Some(Operation::Rest { method, path }) => ("http", method.to_string(), fill(path), Vec::new()),
        _ => ("http", "GET".to_string(), "/".to_string(), Vec::new()),
    };
    let host = callee.host().map_or("", |h| h.as_str());
    let retries_policy = from.call_retries(call);
    let subject = format!("service:{}/{}", from.name.value, callee.name.value);
    Some(Target {
        amplification: amplification(model, retries_policy, call.span, call.target.value, worst),
        auth: access::call_auth(model, caller, call),
        breaker: breaker(model, call.target.value, &load.value),
        call: Some(CallEntry {
            authority: format!("{host}:{}", callee.port(call.port).number.get()),
            caller: &from.name.value,
        }),
        gateway: None,
        id: subject.clone(),
        latency_ms: millis(load.value.latency.as_millis()),
        limits: Vec::new(),
        objectives: objectives(model, &[], &call.alerts),
        protocol,
        request: Request { body: None, headers, method, path },
        retries: retries_policy.map(|p| retries(model, p)),
        rps: load.value.rps,
        service: &callee.name.value,
        source: location(model, load.span),
        subject,
        timeout_ms: model.service(caller).call_timeout(call).map(|t| millis(t.value.as_millis())),
    })
}

fn millis(ms: u128) -> u64 {
    u64::try_from(ms).unwrap_or(u64::MAX)
}

/// The route's REST operation path with its parameters filled, when the
/// route's match takes it as it is.
fn filled_path(route: &Route) -> Option<String> {
    let Some(Operation::Rest { path, .. }) = route.forward()?.operation.as_ref().map(|o| &o.value) else {
        return None;
    };
    let path = fill(path);
    let taken = match &route.matcher.path {
        PathMatch::Exact(exact) => *exact == path,
        PathMatch::Prefix(prefix) => path.starts_with(prefix.as_str()),
    };
    taken.then_some(path)
}

/// A path template with every `{parameter}` as `1`.
fn fill(template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut in_param = false;
    for c in template.chars() {
        match (c, in_param) {
            ('{', _) => in_param = true,
            ('}', true) => {
                in_param = false;
                out.push('1');
            }
            (_, true) => {}
            (c, false) => out.push(c),
        }
    }
    out
}

fn amplification(
    model: &Model,
    policy: Option<&RetryPolicy>,
    fallback_span: Span,
    service: ServiceId,
    worst: &dyn Fn(ServiceId) -> Option<u64>,
) -> Amplification {
    Amplification {
        per_request: policy.map_or(1, RetryPolicy::attempts),
        service_worst: worst(service),
        source: location(model, policy.map_or(fallback_span, |p| p.span)),
    }
}

fn breaker(model: &Model, service: ServiceId, load: &Load) -> Option<Breaker> {
    let breaker = model.service(service).traffic.circuit_breaker.as_ref()?;
    Some(Breaker {
        concurrency: load.concurrency(),
        max_connections: breaker.value.max_connections,
        max_pending: breaker.value.max_pending,
        max_requests: breaker.value.max_requests,
        max_retries: breaker.value.max_retries,
        source: location(model, breaker.span),
    })
}

fn limits(model: &Model, limits: &RouteRateLimits) -> Vec<Limit> {
    limits
        .iter()
        .map(|limit| Limit {
            global: limits.global.as_ref().is_some_and(|g| std::ptr::eq(g, limit)),
            key: limit.key.value.to_string(),
            per_seconds: limit.per.seconds(),
            requests: limit.requests,
            source: location(model, limit.span),
        })
        .collect()
}

fn percent(ratio: crate::model::monitoring::Ratio) -> f64 {
    f64::from(ratio.ppm()) / 10_000.0
}

fn objectives(model: &Model, slos: &[Slo], alerts: &[Alert]) -> Vec<Objective> {
    let empty = |kind, source| Objective {
        above_percent: None,
        kind,
        percentile: None,
        source,
        target_percent: None,
        under_ms: None,
    };
    let slos = slos.iter().map(|slo| {
        let source = location(model, slo.span);
        match &slo.kind {
            SloKind::Availability => {
                Objective { target_percent: Some(percent(slo.objective.value)), ..empty("availability-slo", source) }
            }
            SloKind::Latency { under } => Objective {
                percentile: Some(percent(slo.objective.value)),
                under_ms: Some(millis(under.value.as_millis())),
                ..empty("latency-slo", source)
            },
        }
    });
    let alerts = alerts.iter().filter_map(|alert| {
        let source = location(model, alert.span);
        match &alert.kind {
            AlertKind::Latency { percentile, above } => Some(Objective {
                percentile: Some(percent(*percentile)),
                under_ms: Some(millis(above.value.as_millis())),
                ..empty("latency-alert", source)
            }),
            AlertKind::ErrorRate { above } => {
                Some(Objective { above_percent: Some(percent(above.value)), ..empty("error-rate-alert", source) })
            }
            _ => None,
        }
    });
    slos.chain(alerts).collect()
}

fn retries(model: &Model, policy: &RetryPolicy) -> Retries {
    Retries {
        on: policy.conditions().iter().map(|c| c.as_str()).collect(),
        per_try_timeout_ms: policy.per_try_timeout.as_ref().map(|t| millis(t.value.as_millis())),
        retries: policy.retries,
        source: location(model, policy.span),
    }
}

#[cfg(test)]
mod tests {
    use super::fill;

    #[test]
    fn fill_puts_a_value_in_every_parameter() {
        assert_eq!(fill("/products/{productId}/reviews/{n}"), "/products/1/reviews/1");
        assert_eq!(fill("/orders"), "/orders");
    }
}
