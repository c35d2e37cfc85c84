//! Istio networking resources (`networking.istio.io/v1`), built as JSON
//! values and validated in tests against Istio's CRD schemas.
//!
//! `istio/service-SERVICE.yaml`, for each service with something to say,
//! holds in this order:
//! - a `ServiceEntry` when the address is not a name Istio learns from
//!   Kubernetes (`*.svc.cluster.local` or a bare Service name), with the
//!   declared `endpoints` (zone as locality, weight) or the address itself;
//!   `STATIC` resolution when every host is an IP, else `DNS`;
//! - a `DestinationRule` for the address's host with the service's
//!   `traffic` block (load balancing, circuit breaker as connection pool,
//!   outlier detection; Istio has no active health checks);
//! - a `VirtualService` for the host carrying its callers' timeouts and
//!   retries. Istio applies a VirtualService to every caller, so each caller
//!   gets its own routes, matched by `sourceLabels` `app: CALLER` (and
//!   `sourceNamespace` when the caller's address names one): a route per
//!   call that names an operation (REST: method and path regex; gRPC: the
//!   method's path), then the caller's catch-all with the operation-less
//!   call or the caller's `call-defaults`, as in the Envoy sidecar. A last
//!   route without match serves callers the spec does not declare, with
//!   Istio's defaults.
//!
//! What a service's resources cannot carry (active health checks, endpoint
//! priorities, a `max-backoff` other than ten times the base; timeouts and
//! retries towards a service with no HTTP API, which Istio sees as TCP) is
//! listed in the first resource's `meshc/not-in-istio` annotation. Settings
//! nothing else reports (health checks, `max-backoff`, a gateway's
//! `error-format`) are also reported as [`Unexpressed`] (warning MESH0073).
//!
//! `istio/gateway-GATEWAY.yaml` holds an Istio `Gateway` (a server per
//! listener) and the `VirtualService`s bound to it with the routes: one per
//! `host` block with its hosts, then `gateway-GATEWAY` for the rest. Routes
//! whose meaning Istio cannot keep (`transcode`, `validate`) are left out;
//! features that do not change what reaches the service (`cache`, error
//! bodies, `rename-header`) are dropped from the route. Both are listed in
//! the last VirtualService's `meshc/not-in-istio` annotation (the Gateway's
//! when no route is left).
//!
//! `istio/mesh-tracing.yaml` holds the mesh's `tracing` as `Telemetry`
//! resources (`telemetry.rs`).
//! A `monitoring` block is reported as [`Unexpressed`] (`monitoring.rs`):
//! Istio's proxies name their stats their own way and keep their ports.
//!
//! Routes the spec gives no retries get `attempts: 0` (Istio would retry
//! twice by default) and routes without a timeout get Envoy's default of
//! 15 s, which meshc's Envoy backends rely on (Istio's default is none), so
//! the retry and timeout analyses hold for the Istio output too.

use std::net::IpAddr;

use serde_json::{json, Map, Value};

mod identity;
mod monitoring;
mod security;
mod telemetry;
mod version_routes;

use crate::emit::{path_template_regex, yaml, Artifact, Options, Unexpressed, VERSION_LABEL};
use crate::model::traffic::{FallbackKind, HealthCheck, LoadBalancing, Probe, RetryPolicy, VersionId};
use crate::model::values::{Duration, Operation};
use crate::model::{
    Call, Forward, Gateway, HeaderMatch, HeaderRule, HeaderTransform, Model, PathMatch, PathRewrite, PortId,
    PortProtocol, Redirect, RedirectPath, Rewrite, Route, RouteAction, RouteTimeout, Service, VirtualHostId,
};
use crate::schema::SchemaIndex;
use identity as istio_identity;
use security as istio_security;

const API_VERSION: &str = "networking.istio.io/v1";
/// Envoy's route timeout when a route sets none.
const DEFAULT_TIMEOUT: &str = "15s";
/// The annotation listing what of a service or gateway its Istio resources cannot carry.
const NOT_IN_ISTIO: &str = "meshc/not-in-istio";

pub fn emit(model: &Model, schemas: &SchemaIndex, _: &Options, unexpressed: &mut Vec<Unexpressed>) -> Vec<Artifact> {
    fallbacks(model, unexpressed);
    // Each service's incoming calls, callers in model order, calls in spec order.
    let mut incoming: Vec<Vec<(&Service, &Call)>> = model.services.iter().map(|_| Vec::new()).collect();
    for caller in &model.services {
        for call in &caller.calls {
            incoming[call.target.value.index()].push((caller, call));
        }
    }
    // Services in parallel (each file is built from the model alone), in model order.
    use rayon::prelude::*;
    let per_service: Vec<(Option<Artifact>, Vec<Unexpressed>)> = model
        .services
        .par_iter()
        .zip(&incoming)
        .map(|(service, calls)| {
            let mut unexpressed = Vec::new();
            let artifact = service_file(model, schemas, service, calls, &mut unexpressed);
            (artifact, unexpressed)
        })
        .collect();
    let mut artifacts = Vec::new();
    for (artifact, notes) in per_service {
        artifacts.extend(artifact);
        unexpressed.extend(notes);
    }
    if let Some(mtls) = &model.mtls {
        artifacts.push(Artifact {
            path: "istio/mesh-mtls.yaml".to_string(),
            contents: documents(model, &istio_identity::mesh_peer_authentications(mtls)),
            origin: mtls.span,
        });
    }
    monitoring::unexpressed(model, unexpressed);
    let telemetry = telemetry::resources(model, unexpressed);
    if let Some(tracing) = model.tracing.as_ref().filter(|_| !telemetry.is_empty()) {
        artifacts.push(Artifact {
            path: "istio/mesh-tracing.yaml".to_string(),
            contents: documents(model, &telemetry),
            origin: tracing.span,
        });
    }
    for gateway in &model.gateways {
        artifacts.push(Artifact {
            path: format!("istio/gateway-{}.yaml", gateway.name.value),
            contents: documents(model, &gateway_resources(model, schemas, gateway, unexpressed)),
            origin: gateway.name.span,
        });
    }
    artifacts
}

/// `istio/service-SERVICE.yaml`, unless the service gets no resource.
fn service_file(
    model: &Model,
    schemas: &SchemaIndex,
    service: &Service,
    calls: &[(&Service, &Call)],
    unexpressed: &mut Vec<Unexpressed>,
) -> Option<Artifact> {
    let mut docs: Vec<Value> = [service_entry(service), destination_rule(service), virtual_service(service, calls)]
        .into_iter()
        .flatten()
        .chain(istio_identity::service_resources(model, schemas, service))
        .collect();
    let path = format!("istio/service-{}.yaml", service.name.value);
    let without = if docs.is_empty() {
        "the service gets no Istio resource".to_string()
    } else {
        format!("`{path}` is built without it")
    };
    let notes = service_notes(service, calls, &without, unexpressed);
    if let (Some(first), false) = (docs.first_mut(), notes.is_empty()) {
        first["metadata"]["annotations"] = json!({ NOT_IN_ISTIO: notes.join("; ") });
    }
    (!docs.is_empty()).then(|| Artifact { path, contents: documents(model, &docs), origin: service.name.span })
}

/// A multi-document YAML file: the header once, documents joined by `---`.
fn documents(model: &Model, docs: &[Value]) -> String {
    let mut out = String::new();
    for (i, doc) in docs.iter().enumerate() {
        if i == 0 {
            out.push_str(&yaml(model, doc));
        } else {
            out.push_str("---\n");
            out.push_str(&crate::emit::yaml::to_string(doc));
        }
    }
    out
}

fn resource(kind: &str, metadata: Value, spec: Value) -> Value {
    json!({ "apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec })
}

/// A service's resources are named after it, in its address's namespace if it names one.
fn metadata(service: &Service) -> Value {
    let mut metadata = json!({ "name": service.name.value });
    if let Some((_, namespace)) = service.host().and_then(|h| h.kubernetes_service()) {
        metadata["namespace"] = json!(namespace);
    }
    metadata
}

/// Whether Istio learns the host from Kubernetes: `*.svc.cluster.local`, or
/// a bare Service name (resolved in the resource's namespace).
fn in_cluster(host: &str) -> bool {
    host.ends_with(".svc.cluster.local") || (!host.contains('.') && host.parse::<IpAddr>().is_err())
}

fn service_entry(service: &Service) -> Option<Value> {
    let host = service.host()?.as_str();
    if in_cluster(host) {
        return None;
    }
    let ports: Vec<Value> = service
        .ports()
        .map(|(_, port)| {
            let protocol = match port.protocol {
                PortProtocol::Grpc => "GRPC",
                PortProtocol::Http => "HTTP",
                PortProtocol::Http2 => "HTTP2",
                PortProtocol::Tcp(_) => "TCP",
            };
            json!({ "name": port.label(), "number": port.number.get(), "protocol": protocol })
        })
        .collect();
    let is_ip = |h: &str| h.parse::<IpAddr>().is_ok();
    let mut spec = json!({ "hosts": [host], "location": "MESH_EXTERNAL", "ports": ports });
    if is_ip(host) {
        spec["addresses"] = json!([host]);
    }
    let all_ips = if service.endpoints.is_empty() {
        if is_ip(host) {
            spec["endpoints"] = json!([{ "address": host }]);
        }
        is_ip(host)
    } else {
        let endpoints: Vec<Value> = service
            .endpoints
            .iter()
            .map(|instance| {
                let mut out = json!({ "address": instance.host.as_str() });
                if let Some(port) = instance.port.filter(|p| *p != service.first_port().number) {
                    out["ports"] = json!({ service.first_port().label(): port.get() });
                }
                if let Some(zone) = &instance.zone {
                    out["locality"] = json!(zone);
                }
                if let Some(weight) = instance.weight {
                    out["weight"] = json!(weight);
                }
                if let Some(version) = instance.version {
                    out["labels"] = json!({ VERSION_LABEL: service.version(version).name.value });
                }
                out
            })
            .collect();
        spec["endpoints"] = json!(endpoints);
        service.endpoints.iter().all(|i| is_ip(i.host.as_str()))
    };
    spec["resolution"] = json!(if all_ips { "STATIC" } else { "DNS" });
    Some(resource("ServiceEntry", metadata(service), spec))
}

/// What of a service's spec its Istio resources cannot carry; what nothing
/// else reports also goes to `unexpressed`, labelled `without`.
fn service_notes(
    service: &Service,
    calls: &[(&Service, &Call)],
    without: &str,
    unexpressed: &mut Vec<Unexpressed>,
) -> Vec<String> {
    let mut notes = Vec::new();
    let Some(host) = service.host().map(|h| h.as_str()) else { return notes };
    if let Some(check) = &service.traffic.health_check {
        notes.push("the health check (Istio has no active health checks)".to_string());
        unexpressed.push(Unexpressed::new(
            check.span,
            "this health check",
            without,
            health_check_help(service, &check.value),
        ));
    }
    if let Some(limit) = service.caller_limit() {
        notes.push("the per-caller limit (Istio has no per-caller rate limit without an EnvoyFilter)".to_string());
        unexpressed.push(Unexpressed::new(
            limit.span,
            "this `caller-limit`",
            without,
            "Istio's resources have no per-caller local rate limit; run the envoy backend's sidecars, or add an EnvoyFilter with the sidecar's `envoy.filters.http.local_ratelimit.caller` filter",
        ));
    }
    if let Some(audit) = service.audit() {
        notes.push("the audit record (Istio's Telemetry access logs have no per-service record format)".to_string());
        unexpressed.push(Unexpressed::new(
            audit.span,
            "this `audit`",
            without,
            "Istio's Telemetry API turns access logging on but takes its format from the mesh config, for every workload alike; set `accessLogFormat` in MeshConfig with the fields of the envoy backend's sidecar `access_log`",
        ));
    }
    if in_cluster(host) && !service.endpoints.is_empty() {
        notes.push("declared endpoints (Kubernetes serves the cluster name's own)".to_string());
    } else if service.endpoints.iter().any(|i| i.priority > 0) {
        notes.push("endpoint priorities (Istio orders endpoints by the caller's locality)".to_string());
    }
    if !in_cluster(host) && service.endpoints.is_empty() && !service.versions.is_empty() {
        notes.push(format!(
            "the versions' own addresses (Istio picks a subset by its endpoints' `{VERSION_LABEL}` label)"
        ));
    }
    let mut budgeted: Vec<&str> = calls
        .iter()
        .filter(|(caller, call)| caller.call_retries(call).is_some_and(|r| r.budget.is_some()))
        .map(|(caller, _)| caller.name.value.as_str())
        .collect();
    budgeted.dedup();
    if !budgeted.is_empty() {
        notes.push(format!("retry budgets of the calls from {} (Istio has none)", budgeted.join(", ")));
    }
    let mut exchanging: Vec<&str> = calls
        .iter()
        .filter(|(_, call)| call.token.exchange().is_some())
        .map(|(caller, _)| caller.name.value.as_str())
        .collect();
    exchanging.dedup();
    if !exchanging.is_empty() {
        notes.push(format!(
            "token exchange on the calls from {} (Istio has none: run meshc-runtime token-exchange and send its token from the app)",
            exchanging.join(", ")
        ));
    }
    let mut idle: Vec<&str> = calls
        .iter()
        .filter(|(_, call)| call.idle_timeout.is_some() && !service.port(call.port).protocol.is_http())
        .map(|(caller, _)| caller.name.value.as_str())
        .collect();
    idle.dedup();
    if !idle.is_empty() {
        notes.push(format!(
            "idle timeouts of the TCP calls from {} (Istio sets one per destination, not per caller)",
            idle.join(", ")
        ));
    }
    // Calls to TCP ports have no retries (`call_retries`), nor the caller's defaults.
    let mut capped: Vec<&str> = Vec::new();
    for group in calls.chunk_by(|a, b| std::ptr::eq(a.0, b.0)) {
        let caller = group[0].0;
        // The caller's routes: one per call, and the catch-all with `call-defaults` unless a call names no operation.
        let defaults = group.iter().all(|(_, c)| c.operation.is_some()).then_some(&caller.call_defaults.retries);
        let policies = group.iter().filter_map(|(_, c)| caller.call_retries(c)).chain(defaults.into_iter().flatten());
        for policy in policies {
            if let Some(help) = max_backoff_help(policy) {
                unexpressed.push(Unexpressed::new(policy.span, "this `max-backoff`", without, help));
                capped.push(caller.name.value.as_str());
            }
        }
    }
    capped.dedup();
    if !capped.is_empty() {
        notes.push(format!(
            "max-backoff of the calls from {} (Istio caps backoff at ten times the base)",
            capped.join(", ")
        ));
    }
    notes
}

/// What to do instead of an active health check, which Istio lacks: a
/// Kubernetes readiness probe of the same kind on our pods (Istio sends
/// traffic only to ready pods); outlier detection for an external service.
fn health_check_help(service: &Service, check: &HealthCheck) -> String {
    if service.external().is_some() {
        return "Istio has no active health checks; its callers can still eject failing instances of an external service with `outlier-detection`, which Istio expresses".to_string();
    }
    // Kubernetes counts whole seconds, at least one.
    let seconds = |d: Duration| d.as_millis().div_ceil(1000).max(1);
    let probe = match &check.probe {
        Probe::Http { path, .. } => format!("httpGet path {}", path.value),
        Probe::Grpc { service: Some(name) } => format!("grpc service {}", name.value),
        Probe::Grpc { service: None } => "grpc".to_string(),
        Probe::Tcp => "tcpSocket".to_string(),
    };
    // A start period is what a startupProbe is for: failures before it passes do not count.
    let startup = check
        .start_period
        .map_or(String::new(), |d| format!(", and a startupProbe with the same check allowing {}s", seconds(d)));
    format!(
        "Istio has no active health checks: give the pods a readinessProbe ({probe} on the app's port, periodSeconds {}, timeoutSeconds {}, successThreshold {}, failureThreshold {}){startup}; Istio sends traffic only to ready pods",
        seconds(check.interval.value),
        seconds(check.timeout.value),
        check.healthy_threshold,
        check.unhealthy_threshold
    )
}

/// Why a retry policy's `max-backoff` does not reach Istio, which sets only
/// the base interval (the cap stays ten times the base); `None` when the
/// cap is that already.
fn max_backoff_help(policy: &RetryPolicy) -> Option<String> {
    let backoff = policy.backoff.filter(|_| policy.retries > 0)?;
    let cap = backoff.base.as_millis() * 10;
    (backoff.max.as_millis() != cap).then(|| {
        format!(
            "Istio sets only the base interval; the proxy caps backoff at ten times it ({cap}ms), not {}: write `max-backoff=\"{cap}ms\"` (or leave it out) so the spec says what Istio does",
            backoff.max
        )
    })
}

/// The `traffic` block as a `trafficPolicy`; `None` when it sets nothing
/// Istio can express (an active health check alone).
fn destination_rule(service: &Service) -> Option<Value> {
    let traffic = &service.traffic;
    let mut policy = Map::new();
    if let Some(lb) = &traffic.load_balancing {
        let lb = match &lb.value {
            LoadBalancing::RoundRobin => json!({ "simple": "ROUND_ROBIN" }),
            LoadBalancing::LeastRequest => json!({ "simple": "LEAST_REQUEST" }),
            LoadBalancing::Random => json!({ "simple": "RANDOM" }),
            LoadBalancing::RingHash { header } => json!({ "consistentHash": { "httpHeaderName": header.as_str() } }),
        };
        policy.insert("loadBalancer".into(), lb);
    }
    if let Some(cb) = &traffic.circuit_breaker {
        let cb = cb.value;
        let mut pool = Map::new();
        if let Some(max) = cb.max_connections {
            pool.insert("tcp".into(), json!({ "maxConnections": max }));
        }
        let mut http = Map::new();
        for (key, value) in [
            ("http1MaxPendingRequests", cb.max_pending),
            ("http2MaxRequests", cb.max_requests),
            ("maxRetries", cb.max_retries),
        ] {
            if let Some(v) = value {
                http.insert(key.into(), json!(v));
            }
        }
        if !http.is_empty() {
            pool.insert("http".into(), Value::Object(http));
        }
        policy.insert("connectionPool".into(), Value::Object(pool));
    }
    if let Some(od) = &traffic.outlier_detection {
        let od = od.value;
        policy.insert(
            "outlierDetection".into(),
            json!({
                "baseEjectionTime": duration(od.base_ejection),
                "consecutive5xxErrors": od.consecutive_5xx,
                "interval": duration(od.interval),
                "maxEjectionPercent": od.max_ejection_percent,
            }),
        );
    }
    if policy.is_empty() && service.versions.is_empty() {
        return None;
    }
    let mut spec = json!({ "host": service.host()?.as_str() });
    if !policy.is_empty() {
        spec["trafficPolicy"] = Value::Object(policy);
    }
    if !service.versions.is_empty() {
        let subsets: Vec<Value> = service
            .versions
            .iter()
            .map(|v| json!({ "name": v.name.value, "labels": { VERSION_LABEL: v.name.value } }))
            .collect();
        spec["subsets"] = json!(subsets);
    }
    Some(resource("DestinationRule", metadata(service), spec))
}

/// One route's requests to `callee` under its traffic rules, as the Envoy
/// backends route them: a copy of the route per header rule, to that
/// version's subset, then the route split over subsets and mirrored.
fn versioned_http(route: Value, callee: &Service, port: PortId) -> Vec<Value> {
    let rules = &callee.traffic.rules;
    if rules.is_empty() {
        return vec![route];
    }
    let mut out = Vec::with_capacity(rules.header_routes.len() + 1);
    for rule in &rules.header_routes {
        let mut variant = route.clone();
        let version = callee.version(rule.to);
        variant["name"] = json!(format!("{}|{}", route["name"].as_str().unwrap_or_default(), version.name.value));
        let header = headers(std::slice::from_ref(&rule.header));
        let matches = variant["match"].as_array().cloned().unwrap_or_else(|| vec![json!({})]);
        variant["match"] = matches
            .into_iter()
            .map(|mut m| {
                let merged = m["headers"].as_object().cloned().unwrap_or_default().into_iter().chain(header.clone());
                m["headers"] = Value::Object(merged.collect());
                m
            })
            .collect();
        variant["route"] = json!([{ "destination": subset_destination(callee, port, Some(rule.to)) }]);
        out.push(variant);
    }
    let mut route = route;
    if !rules.split.is_empty() {
        let split: Vec<Value> = rules
            .split
            .iter()
            .map(|w| json!({ "destination": subset_destination(callee, port, Some(w.version)), "weight": w.weight }))
            .collect();
        route["route"] = json!(split);
    }
    if let Some(mirror) = &rules.mirror {
        route["mirror"] = subset_destination(callee, port, Some(mirror.to));
        route["mirrorPercentage"] = json!({ "value": f64::from(mirror.percent) });
    }
    out.push(route);
    out
}

/// Istio's `HTTPMatchRequest.headers`.
fn headers(matches: &[HeaderMatch]) -> Map<String, Value> {
    matches
        .iter()
        .map(|h| {
            let rule = match &h.rule {
                HeaderRule::Exact(v) => json!({ "exact": v }),
                HeaderRule::Prefix(v) => json!({ "prefix": v }),
                // An empty match checks that the header is present.
                HeaderRule::Present => json!({}),
            };
            (h.name.as_str().to_string(), rule)
        })
        .collect()
}

/// The callers' routes to `callee`; `None` when nobody calls its HTTP or
/// gRPC ports (Istio's timeouts and retries are HTTP's). Routes to a
/// service with several ports match the port they are for.
fn virtual_service(callee: &Service, calls: &[(&Service, &Call)]) -> Option<Value> {
    let calls: Vec<(&Service, &Call)> =
        calls.iter().filter(|(_, c)| callee.port(c.port).protocol.is_http()).copied().collect();
    let mut ports: Vec<PortId> = calls.iter().map(|(_, c)| c.port).collect();
    ports.sort();
    ports.dedup();
    let several = callee.address.as_ref().is_some_and(|a| a.value.ports.len() > 1);
    let mut http = Vec::new();
    for port in ports {
        let to = destination(callee, port);
        let number = callee.port(port).number.get();
        let on_port: Vec<(&Service, &Call)> = calls.iter().filter(|(_, c)| c.port == port).copied().collect();
        for group in on_port.chunk_by(|a, b| std::ptr::eq(a.0, b.0)) {
            let caller = group[0].0;
            let mut source = source_match(caller);
            if several {
                source["port"] = json!(number);
            }
            for (_, call) in group {
                let Some(operation) = &call.operation else { continue };
                let mut matcher = source.clone();
                match &operation.value {
                    Operation::Grpc { service, method } => {
                        matcher["uri"] = json!({ "exact": format!("/{service}/{method}") });
                    }
                    Operation::Rest { method, path } => {
                        matcher["uri"] = json!({ "regex": path_template_regex(path) });
                        matcher["method"] = json!({ "exact": method.as_str() });
                    }
                    // GraphQL operations share one endpoint: the caller's traffic to it.
                    Operation::Graphql { .. } => {}
                }
                let name = format!("{}: {}", caller.name.value, operation.value);
                http.extend(versioned_http(call_route(name, matcher, caller, Some(call), &to), callee, port));
            }
            // The caller's other traffic: its operation-less call, else its defaults.
            let rest = group.iter().map(|(_, c)| *c).find(|c| c.operation.is_none());
            let route = call_route(format!("{}: default", caller.name.value), source, caller, rest, &to);
            http.extend(versioned_http(route, callee, port));
        }
        let mut default = json!({ "name": "default", "route": to });
        if several {
            default["name"] = json!(format!("default: {}", callee.port(port).label()));
            default["match"] = json!([{ "port": number }]);
        }
        http.extend(versioned_http(default, callee, port));
    }
    if http.is_empty() {
        return None;
    }
    let host = callee.host()?.as_str();
    Some(resource("VirtualService", metadata(callee), json!({ "hosts": [host], "http": http })))
}

/// Requests from `caller`'s pods.
fn source_match(caller: &Service) -> Value {
    let mut matcher = json!({ "sourceLabels": { "app": caller.name.value } });
    if let Some((_, namespace)) = caller.host().and_then(|h| h.kubernetes_service()) {
        matcher["sourceNamespace"] = json!(namespace);
    }
    matcher
}

/// A route with a call's timeout and retries: its own, else the caller's `call-defaults`.
fn call_route(name: String, matcher: Value, caller: &Service, call: Option<&Call>, to: &Value) -> Value {
    let timeout = call.and_then(|c| caller.call_timeout(c)).or(caller.call_defaults.timeout.as_ref());
    let retries = call.and_then(|c| caller.call_retries(c)).or(caller.call_defaults.retries.as_ref());
    json!({
        "match": [matcher],
        "name": name,
        "retries": retry_policy(retries),
        "route": to,
        "timeout": timeout.map_or(DEFAULT_TIMEOUT.to_string(), |t| duration(t.value)),
    })
}

fn destination(service: &Service, port: PortId) -> Value {
    json!([{ "destination": subset_destination(service, port, None) }])
}

/// A `Destination`: one port of the service, or of one version's subset of it.
fn subset_destination(service: &Service, port: PortId, version: Option<VersionId>) -> Value {
    let host = service.host().map_or("", |h| h.as_str());
    let mut out = json!({ "host": host, "port": { "number": service.port(port).number.get() } });
    if let Some(v) = version {
        out["subset"] = json!(service.version(v).name.value);
    }
    out
}

/// Istio's `HTTPRetry`. `attempts` counts retries after the first attempt,
/// as meshc's `retries` does; none declared is `attempts: 0`, since Istio
/// would otherwise retry twice. Istio's `backoff` is Envoy's base interval;
/// the cap stays Envoy's default, ten times the base.
fn retry_policy(policy: Option<&RetryPolicy>) -> Value {
    let Some(policy) = policy.filter(|p| p.retries > 0) else {
        return json!({ "attempts": 0 });
    };
    // The spec's condition names are Istio's `retryOn` names (Envoy's).
    let conditions: Vec<&str> = policy.conditions().iter().map(|c| c.as_str()).collect();
    let mut out = json!({ "attempts": policy.retries, "retryOn": conditions.join(",") });
    if let Some(per_try) = &policy.per_try_timeout {
        out["perTryTimeout"] = json!(duration(per_try.value));
    }
    if let Some(backoff) = policy.backoff {
        out["backoff"] = json!(duration(backoff.base));
    }
    out
}

/// Protobuf JSON durations (`2s`, `0.250s`), which Istio and its CRDs' CEL rules read.
fn duration(d: Duration) -> String {
    d.to_proto_json()
}

/// The Istio `Gateway` and, when any route can be served, its `VirtualService`.
fn gateway_resources(
    model: &Model,
    schemas: &SchemaIndex,
    gateway: &Gateway,
    unexpressed: &mut Vec<Unexpressed>,
) -> Vec<Value> {
    let name = &gateway.name.value;
    let without = format!("`istio/gateway-{name}.yaml` is built without it");
    let servers: Vec<Value> = gateway
        .listeners
        .iter()
        .map(|listener| {
            let mut server = json!({
                "hosts": ["*"],
                "port": { "name": listener.name.value, "number": listener.port.get(), "protocol": "HTTP" },
            });
            if !listener.address.is_unspecified() {
                server["bind"] = json!(listener.address.to_string());
            }
            server
        })
        .collect();
    let mut out = vec![resource(
        "Gateway",
        json!({ "name": name }),
        json!({ "selector": { "istio": "ingressgateway" }, "servers": servers }),
    )];
    let mut not_in_istio = Vec::new();
    if let Some(span) = gateway.errors_declared {
        not_in_istio.push("the gateway's error-format (Istio answers with its own bodies)".to_string());
        let help = format!("Istio's gateway answers with its own local-reply bodies; the Envoy gateway (`envoy/gateway-{name}.yaml`) serves the declared ones");
        unexpressed.push(Unexpressed::new(span, "this `error-format`", without.as_str(), help));
    }
    // Each route's HTTP routes; empty when it is left out.
    let emitted: Vec<Vec<Value>> = gateway
        .routes
        .iter()
        .map(|route| match (gateway_route(model, route, &mut not_in_istio, &without, unexpressed), route.forward()) {
            (Some(http), Some(forward)) => {
                let target = model.service(forward.target.value);
                let port = route_port(target, forward);
                version_routes::routes(http, route, forward, target, port, &mut not_in_istio, unexpressed, &without)
            }
            (Some(http), None) => vec![http],
            (None, _) => Vec::new(),
        })
        .collect();
    let served: Vec<&str> = emitted.iter().flatten().filter_map(|r| r["name"].as_str()).collect();
    let security = istio_security::resources(model, schemas, gateway, &served, &mut not_in_istio);
    // A VirtualService per `host` block with its hosts and routes, then `*`
    // with the rest; Istio picks the most specific host's, as Envoy does.
    let http_of = |id: Option<VirtualHostId>| -> Vec<Value> {
        gateway
            .routes
            .iter()
            .zip(&emitted)
            .filter(|(r, _)| r.virtual_host == id)
            .flat_map(|(_, http)| http.iter().cloned())
            .collect()
    };
    let blocks = gateway.virtual_hosts_with_ids().map(|(id, vhost)| {
        let hosts: Vec<String> = vhost.domains.iter().map(|d| d.value.to_string()).collect();
        (format!("gateway-{name}-host-{}", id.index() + 1), json!(hosts), http_of(Some(id)))
    });
    let catch_all = (format!("gateway-{name}"), json!(["*"]), http_of(None));
    for (resource_name, hosts, http) in blocks.chain([catch_all]) {
        if !http.is_empty() {
            let spec = json!({ "gateways": [name], "hosts": hosts, "http": http });
            out.push(resource("VirtualService", json!({ "name": resource_name }), spec));
        }
    }
    // On the last VirtualService (`gateway-NAME` when it exists), or on the Gateway when no route is served.
    if !not_in_istio.is_empty() {
        let last = out.last_mut().expect("the Gateway is always there");
        last["metadata"]["annotations"] = json!({ NOT_IN_ISTIO: not_in_istio.join("; ") });
    }
    out.extend(security);
    out
}

/// The target's port a gateway route sends to (routes to a service without
/// an HTTP port are refused by the checks).
fn route_port(target: &Service, forward: &Forward) -> PortId {
    target.route_port(forward.operation.as_ref().map(|o| &o.value))
}

/// A gateway route as an Istio `HTTPRoute`; `None` (noted) when Istio would
/// change what reaches the service.
fn gateway_route(
    model: &Model,
    route: &Route,
    notes: &mut Vec<String>,
    without: &str,
    unexpressed: &mut Vec<Unexpressed>,
) -> Option<Value> {
    let name = &route.name.value;
    let forward = route.forward();
    if forward.is_some_and(|f| f.transcode.is_some()) {
        notes.push(format!("{name}: left out (transcode)"));
        return None;
    }
    if forward.is_some_and(|f| f.validate.is_some()) {
        notes.push(format!("{name}: left out (validate)"));
        return None;
    }
    if let Some(reason) = istio_security::left_out(model, route) {
        notes.push(format!("{name}: left out ({reason})"));
        return None;
    }
    let mut dropped = Vec::new();
    if forward.is_some_and(|f| f.cache.is_some()) {
        dropped.push("cache");
    }
    if route.errors.is_some() {
        dropped.push("error-format");
    }
    if forward.and_then(|f| f.retries.as_ref()).is_some_and(|r| r.budget.is_some()) {
        dropped.push("retry budget");
    }
    if let Some((policy, help)) = forward.and_then(|f| f.retries.as_ref()).and_then(|r| Some((r, max_backoff_help(r)?)))
    {
        dropped.push("max-backoff");
        unexpressed.push(Unexpressed::new(policy.span, "this `max-backoff`", without, help));
    }
    if forward.is_some_and(|f| f.idle_timeout.is_some()) {
        dropped.push("idle-timeout");
    }
    let matcher = &route.matcher;
    let mut m = json!({ "uri": match &matcher.path {
        PathMatch::Exact(path) => json!({ "exact": path }),
        PathMatch::Prefix(path) => json!({ "prefix": path }),
    }});
    if let Some(method) = matcher.method {
        m["method"] = json!({ "exact": method.as_str() });
    }
    if !matcher.headers.is_empty() {
        m["headers"] = Value::Object(headers(&matcher.headers));
    }
    let mut out = json!({ "match": [m], "name": name });
    match &route.action {
        RouteAction::Forward(forward) => {
            out["retries"] = retry_policy(forward.retries.as_ref());
            let target = model.service(forward.target.value);
            out["route"] = destination(target, route_port(target, forward));
            match forward.timeout {
                Some(RouteTimeout::After(t)) => out["timeout"] = json!(duration(t)),
                // Istio's default is no timeout (and its CRD refuses `0s`).
                Some(RouteTimeout::Never) => {}
                None => out["timeout"] = json!(DEFAULT_TIMEOUT),
            }
            if let Some(rewrite) = istio_rewrite(&forward.rewrite) {
                out["rewrite"] = rewrite;
            }
        }
        RouteAction::Redirect(redirect) => {
            out["redirect"] = istio_redirect(redirect);
            if redirect.strip_query {
                dropped.push("strip-query");
            }
        }
    }
    let (mut set, mut remove) = (Map::new(), Vec::new());
    for transform in &route.response {
        match transform {
            HeaderTransform::Set { name, value } => {
                set.insert(name.as_str().to_string(), json!(value));
            }
            HeaderTransform::Remove { name } => remove.push(name.as_str().to_string()),
            HeaderTransform::Rename { .. } => {
                if !dropped.contains(&"rename-header") {
                    dropped.push("rename-header");
                }
            }
        }
    }
    if !set.is_empty() || !remove.is_empty() {
        let mut response = Map::new();
        if !set.is_empty() {
            response.insert("set".into(), Value::Object(set));
        }
        if !remove.is_empty() {
            response.insert("remove".into(), json!(remove));
        }
        out["headers"] = json!({ "response": response });
    }
    dropped.extend(istio_security::dropped(route));
    if !dropped.is_empty() {
        notes.push(format!("{name}: without {}", dropped.join(", ")));
    }
    Some(out)
}

/// Istio's `HTTPRewrite`: `uri` replaces the matched prefix (meshc allows a
/// prefix rewrite on prefix matches only), `uriRegexRewrite` is RE2 as Envoy's.
fn istio_rewrite(rewrite: &Rewrite) -> Option<Value> {
    let mut out = Map::new();
    match rewrite.path.as_ref().map(|p| &p.value) {
        Some(PathRewrite::Prefix(prefix)) => {
            out.insert("uri".into(), json!(prefix));
        }
        Some(PathRewrite::Regex(regex)) => {
            out.insert("uriRegexRewrite".into(), json!({ "match": regex.pattern(), "rewrite": regex.substitution() }));
        }
        None => {}
    }
    if let Some(host) = &rewrite.host {
        out.insert("authority".into(), json!(host.value.as_str()));
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

/// Istio's `HTTPRedirect`.
fn istio_redirect(redirect: &Redirect) -> Value {
    let mut out = json!({ "redirectCode": redirect.code.status() });
    match redirect.path.as_ref().map(|p| &p.value) {
        Some(RedirectPath::Exact(path)) => out["uri"] = json!(path),
        Some(RedirectPath::Prefix(prefix)) => out["prefixRewrite"] = json!(prefix),
        None => {}
    }
    if let Some(host) = &redirect.host {
        out["authority"] = json!(host.as_str());
    }
    if let Some(scheme) = redirect.scheme {
        out["scheme"] = json!(scheme.as_str());
    }
    if let Some(port) = redirect.port {
        out["port"] = json!(port.get());
    }
    out
}

/// Istio fails over between localities of one service only, and its
/// `directResponse` answers every request, not the failed ones: no call's or
/// route's fallback has a form in its resources.
fn fallbacks(model: &Model, unexpressed: &mut Vec<Unexpressed>) {
    for used in model.fallback_uses() {
        let (setting, help) = match &used.fallback.kind {
            FallbackKind::Service { .. } => ("this fallback service", "Istio fails over between localities of one service, never to another service; run the Envoy sidecars meshc builds, or have the caller's code fall back"),
            FallbackKind::Static(_) => ("this static fallback", "Istio's `directResponse` answers every request of a route, not the failed ones; have the caller's code answer with the static response"),
            FallbackKind::Stale { .. } => ("this stale fallback", "Istio has no response cache; have the caller's code keep the last good response"),
        };
        let primary = &model.service(used.primary).name.value;
        let without = format!("the Istio resources of `{primary}` are built without it");
        unexpressed.push(Unexpressed::new(used.fallback.span, setting, without, help));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_names_need_no_service_entry() {
        assert!(in_cluster("orders.shop.svc.cluster.local"));
        assert!(in_cluster("orders"));
        assert!(!in_cluster("orders.svc"));
        assert!(!in_cluster("api.example.com"));
        assert!(!in_cluster("10.0.0.1"));
        assert!(!in_cluster("::1"));
    }
}
