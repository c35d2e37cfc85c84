//! Istio networking resources (`networking.istio.io/v1`), built as the
//! typed structs of `api.rs` and validated in tests against Istio's CRD
//! schemas.
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

use std::collections::BTreeMap;
use std::net::IpAddr;

mod api;
mod identity;
mod monitoring;
mod security;
mod telemetry;
mod version_routes;

use crate::emit::{path_template_regex, yaml, Artifact, Options, Parts, Unexpressed, VERSION_LABEL};
use crate::model::traffic::{FallbackKind, HealthCheck, LoadBalancing, Probe, RetryPolicy, VersionId};
use crate::model::values::{Duration, Operation};
use crate::model::{
    Call, Forward, Gateway, HeaderMatch, HeaderRule, HeaderTransform, Model, PathMatch, PathRewrite, PortId,
    PortProtocol, Redirect, RedirectPath, Rewrite, Route, RouteAction, RouteTimeout, Service, VirtualHostId,
};
use crate::schema::SchemaIndex;
use api::{
    Annotations, Destination, HttpMatch, HttpRoute, Metadata, Percent, PortSelector, Resource, Retry, RouteDestination,
    Spec, StringMatch,
};
use identity as istio_identity;
use security as istio_security;

const API_VERSION: &str = "networking.istio.io/v1";
/// Envoy's route timeout when a route sets none.
const DEFAULT_TIMEOUT: &str = "15s";

pub fn emit(model: &Model, schemas: &SchemaIndex, _: &Options, unexpressed: &mut Vec<Unexpressed>, parts: Parts<'_>) {
    fallbacks(model, unexpressed);
    // Each service's incoming calls, callers in model order, calls in spec order.
    let mut incoming: Vec<Vec<(&Service, &Call)>> = model.services.iter().map(|_| Vec::new()).collect();
    for caller in &model.services {
        for call in &caller.calls {
            incoming[call.target.value.index()].push((caller, call));
        }
    }
    // Services in parallel (each file is built from the model alone), a
    // part each, numbered by service; what they cannot express in model order.
    use rayon::prelude::*;
    let per_service: Vec<Vec<Unexpressed>> = model
        .services
        .par_iter()
        .zip(&incoming)
        .enumerate()
        .map(|(index, (service, calls))| {
            let mut unexpressed = Vec::new();
            if let Some(artifact) = service_file(model, schemas, service, calls, &mut unexpressed) {
                parts(index, vec![artifact]);
            }
            unexpressed
        })
        .collect();
    unexpressed.extend(per_service.into_iter().flatten());
    // The mesh's and the gateways' files: one part after the services'.
    let mut artifacts = Vec::new();
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
    parts(model.services.len(), artifacts);
}

/// `istio/service-SERVICE.yaml`, unless the service gets no resource.
fn service_file(
    model: &Model,
    schemas: &SchemaIndex,
    service: &Service,
    calls: &[(&Service, &Call)],
    unexpressed: &mut Vec<Unexpressed>,
) -> Option<Artifact> {
    let mut docs: Vec<Resource> = [service_entry(service), destination_rule(service), virtual_service(service, calls)]
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
        first.metadata.annotations = Some(Annotations { not_in_istio: notes.join("; ") });
    }
    (!docs.is_empty()).then(|| Artifact { path, contents: documents(model, &docs), origin: service.name.span })
}

/// A multi-document YAML file: the header once, documents joined by `---`.
fn documents(model: &Model, docs: &[Resource]) -> String {
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

fn resource<'a>(kind: &'static str, metadata: Metadata<'a>, spec: Spec<'a>) -> Resource<'a> {
    Resource { api_version: API_VERSION, kind, metadata, spec }
}

/// A service's resources are named after it, in its address's namespace if it names one.
fn metadata(service: &Service) -> Metadata<'_> {
    let namespace = service.host().and_then(|h| h.kubernetes_service()).map(|(_, namespace)| namespace);
    Metadata::named(service.name.value.as_str(), namespace)
}

/// Whether Istio learns the host from Kubernetes: `*.svc.cluster.local`, or
/// a bare Service name (resolved in the resource's namespace).
fn in_cluster(host: &str) -> bool {
    host.ends_with(".svc.cluster.local") || (!host.contains('.') && host.parse::<IpAddr>().is_err())
}

fn service_entry(service: &Service) -> Option<Resource<'_>> {
    let host = service.host()?.as_str();
    if in_cluster(host) {
        return None;
    }
    let ports = service
        .ports()
        .map(|(_, port)| {
            let protocol = match port.protocol {
                PortProtocol::Grpc => "GRPC",
                PortProtocol::Http => "HTTP",
                PortProtocol::Http2 => "HTTP2",
                PortProtocol::Tcp(_) => "TCP",
            };
            api::Port { name: port.label().into(), number: port.number.get(), protocol }
        })
        .collect();
    let is_ip = |h: &str| h.parse::<IpAddr>().is_ok();
    let address = |address| api::WorkloadEntry { address, labels: None, locality: None, ports: None, weight: None };
    let (endpoints, all_ips) = if service.endpoints.is_empty() {
        (is_ip(host).then(|| vec![address(host)]), is_ip(host))
    } else {
        let first = service.first_port();
        let endpoints = service
            .endpoints
            .iter()
            .map(|instance| api::WorkloadEntry {
                ports: instance
                    .port
                    .filter(|p| *p != first.number)
                    .map(|port| BTreeMap::from([(first.label(), port.get())])),
                locality: instance.zone.as_deref(),
                weight: instance.weight,
                labels: instance
                    .version
                    .map(|v| BTreeMap::from([(VERSION_LABEL, service.version(v).name.value.as_str())])),
                ..address(instance.host.as_str())
            })
            .collect();
        (Some(endpoints), service.endpoints.iter().all(|i| is_ip(i.host.as_str())))
    };
    let spec = api::ServiceEntry {
        addresses: is_ip(host).then(|| vec![host]),
        endpoints,
        hosts: vec![host],
        location: "MESH_EXTERNAL",
        ports,
        resolution: if all_ips { "STATIC" } else { "DNS" },
    };
    Some(resource("ServiceEntry", metadata(service), Spec::ServiceEntry(spec)))
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
fn destination_rule(service: &Service) -> Option<Resource<'_>> {
    let traffic = &service.traffic;
    let mut policy = api::TrafficPolicy::default();
    if let Some(lb) = &traffic.load_balancing {
        let simple = |simple| api::LoadBalancer::Simple { simple };
        policy.load_balancer = Some(match &lb.value {
            LoadBalancing::RoundRobin => simple("ROUND_ROBIN"),
            LoadBalancing::LeastRequest => simple("LEAST_REQUEST"),
            LoadBalancing::Random => simple("RANDOM"),
            LoadBalancing::RingHash { header } => api::LoadBalancer::ConsistentHash {
                consistent_hash: api::ConsistentHash { http_header_name: header.as_str() },
            },
        });
    }
    if let Some(cb) = &traffic.circuit_breaker {
        let cb = cb.value;
        let http = (cb.max_pending.is_some() || cb.max_requests.is_some() || cb.max_retries.is_some()).then_some(
            api::HttpPool {
                http1_max_pending_requests: cb.max_pending,
                http2_max_requests: cb.max_requests,
                max_retries: cb.max_retries,
            },
        );
        let tcp = cb.max_connections.map(|max_connections| api::TcpPool { max_connections });
        policy.connection_pool = Some(api::ConnectionPool { http, tcp });
    }
    if let Some(od) = &traffic.outlier_detection {
        let od = od.value;
        policy.outlier_detection = Some(api::OutlierDetection {
            base_ejection_time: duration(od.base_ejection),
            consecutive_5xx_errors: od.consecutive_5xx,
            interval: duration(od.interval),
            max_ejection_percent: od.max_ejection_percent,
        });
    }
    if policy.is_empty() && service.versions.is_empty() {
        return None;
    }
    let subsets = service
        .versions
        .iter()
        .map(|v| api::Subset {
            labels: BTreeMap::from([(VERSION_LABEL, v.name.value.as_str())]),
            name: v.name.value.as_str(),
        })
        .collect();
    let spec = api::DestinationRule {
        host: service.host()?.as_str(),
        subsets,
        traffic_policy: (!policy.is_empty()).then_some(policy),
    };
    Some(resource("DestinationRule", metadata(service), Spec::DestinationRule(spec)))
}

/// One route's requests to `callee` under its traffic rules, as the Envoy
/// backends route them: a copy of the route per header rule, to that
/// version's subset, then the route split over subsets and mirrored.
fn versioned_http<'a>(route: HttpRoute<'a>, callee: &'a Service, port: PortId) -> Vec<HttpRoute<'a>> {
    let rules = &callee.traffic.rules;
    if rules.is_empty() {
        return vec![route];
    }
    let mut out = Vec::with_capacity(rules.header_routes.len() + 1);
    for rule in &rules.header_routes {
        let mut variant = route.clone();
        let version = callee.version(rule.to);
        variant.name = format!("{}|{}", route.name, version.name.value);
        let header = headers(std::slice::from_ref(&rule.header));
        let matches = variant.matches.take().unwrap_or_else(|| vec![HttpMatch::default()]);
        variant.matches = Some(
            matches
                .into_iter()
                .map(|mut m| {
                    m.headers.get_or_insert_with(BTreeMap::new).extend(header.clone());
                    m
                })
                .collect(),
        );
        variant.route = Some(vec![to(subset_destination(callee, port, Some(rule.to)))]);
        out.push(variant);
    }
    let mut route = route;
    if !rules.split.is_empty() {
        let split = rules
            .split
            .iter()
            .map(|w| RouteDestination {
                weight: Some(w.weight),
                ..to(subset_destination(callee, port, Some(w.version)))
            })
            .collect();
        route.route = Some(split);
    }
    if let Some(mirror) = &rules.mirror {
        route.mirror = Some(subset_destination(callee, port, Some(mirror.to)));
        route.mirror_percentage = Some(Percent { value: f64::from(mirror.percent) });
    }
    out.push(route);
    out
}

/// Istio's `HTTPMatchRequest.headers`.
fn headers(matches: &[HeaderMatch]) -> BTreeMap<String, StringMatch> {
    matches
        .iter()
        .map(|h| {
            let rule = match &h.rule {
                HeaderRule::Exact(v) => StringMatch::Exact { exact: v.clone() },
                HeaderRule::Prefix(v) => StringMatch::Prefix { prefix: v.clone() },
                // An empty match checks that the header is present.
                HeaderRule::Present => StringMatch::Present {},
            };
            (h.name.as_str().to_string(), rule)
        })
        .collect()
}

/// The callers' routes to `callee`; `None` when nobody calls its HTTP or
/// gRPC ports (Istio's timeouts and retries are HTTP's). Routes to a
/// service with several ports match the port they are for.
fn virtual_service<'a>(callee: &'a Service, calls: &[(&'a Service, &'a Call)]) -> Option<Resource<'a>> {
    let calls: Vec<(&Service, &Call)> =
        calls.iter().filter(|(_, c)| callee.port(c.port).protocol.is_http()).copied().collect();
    let mut ports: Vec<PortId> = calls.iter().map(|(_, c)| c.port).collect();
    ports.sort();
    ports.dedup();
    let several = callee.address.as_ref().is_some_and(|a| a.value.ports.len() > 1);
    let mut http = Vec::new();
    for port in ports {
        let number = callee.port(port).number.get();
        let on_port: Vec<(&Service, &Call)> = calls.iter().filter(|(_, c)| c.port == port).copied().collect();
        for group in on_port.chunk_by(|a, b| std::ptr::eq(a.0, b.0)) {
            let caller = group[0].0;
            let mut source = source_match(caller);
            if several {
                source.port = Some(number);
            }
            for (_, call) in group {
                let Some(operation) = &call.operation else { continue };
                let mut matcher = source.clone();
                match &operation.value {
                    Operation::Grpc { service, method } => {
                        matcher.uri = Some(StringMatch::Exact { exact: format!("/{service}/{method}") });
                    }
                    Operation::Rest { method, path } => {
                        matcher.uri = Some(StringMatch::Regex { regex: path_template_regex(path) });
                        matcher.method = Some(StringMatch::Exact { exact: method.as_str().to_string() });
                    }
                    // GraphQL operations share one endpoint: the caller's traffic to it.
                    Operation::Graphql { .. } => {}
                }
                let name = format!("{}: {}", caller.name.value, operation.value);
                let route = call_route(name, matcher, caller, Some(call), destination(callee, port));
                http.extend(versioned_http(route, callee, port));
            }
            // The caller's other traffic: its operation-less call, else its defaults.
            let rest = group.iter().map(|(_, c)| *c).find(|c| c.operation.is_none());
            let route =
                call_route(format!("{}: default", caller.name.value), source, caller, rest, destination(callee, port));
            http.extend(versioned_http(route, callee, port));
        }
        let mut default =
            HttpRoute { name: "default".into(), route: Some(destination(callee, port)), ..Default::default() };
        if several {
            default.name = format!("default: {}", callee.port(port).label());
            default.matches = Some(vec![HttpMatch { port: Some(number), ..Default::default() }]);
        }
        http.extend(versioned_http(default, callee, port));
    }
    if http.is_empty() {
        return None;
    }
    let host = callee.host()?.as_str();
    let spec = api::VirtualService { gateways: None, hosts: vec![host.to_string()], http };
    Some(resource("VirtualService", metadata(callee), Spec::VirtualService(spec)))
}

/// Requests from `caller`'s pods.
fn source_match(caller: &Service) -> HttpMatch<'_> {
    HttpMatch {
        source_labels: Some(BTreeMap::from([("app", caller.name.value.as_str())])),
        source_namespace: caller.host().and_then(|h| h.kubernetes_service()).map(|(_, namespace)| namespace),
        ..Default::default()
    }
}

/// A route with a call's timeout and retries: its own, else the caller's `call-defaults`.
fn call_route<'a>(
    name: String,
    matcher: HttpMatch<'a>,
    caller: &Service,
    call: Option<&Call>,
    to: Vec<RouteDestination<'a>>,
) -> HttpRoute<'a> {
    let timeout = call.and_then(|c| caller.call_timeout(c)).or(caller.call_defaults.timeout.as_ref());
    let retries = call.and_then(|c| caller.call_retries(c)).or(caller.call_defaults.retries.as_ref());
    HttpRoute {
        matches: Some(vec![matcher]),
        name,
        retries: Some(retry_policy(retries)),
        route: Some(to),
        timeout: Some(timeout.map_or(DEFAULT_TIMEOUT.to_string(), |t| duration(t.value))),
        ..Default::default()
    }
}

/// A route to one destination.
fn to(destination: Destination<'_>) -> RouteDestination<'_> {
    RouteDestination { destination, headers: None, weight: None }
}

fn destination(service: &Service, port: PortId) -> Vec<RouteDestination<'_>> {
    vec![to(subset_destination(service, port, None))]
}

/// A `Destination`: one port of the service, or of one version's subset of it.
fn subset_destination(service: &Service, port: PortId, version: Option<VersionId>) -> Destination<'_> {
    Destination {
        host: service.host().map_or("", |h| h.as_str()),
        port: PortSelector { number: service.port(port).number.get() },
        subset: version.map(|v| service.version(v).name.value.as_str()),
    }
}

/// Istio's `HTTPRetry`. `attempts` counts retries after the first attempt,
/// as meshc's `retries` does; none declared is `attempts: 0`, since Istio
/// would otherwise retry twice. Istio's `backoff` is Envoy's base interval;
/// the cap stays Envoy's default, ten times the base.
fn retry_policy(policy: Option<&RetryPolicy>) -> Retry {
    let Some(policy) = policy.filter(|p| p.retries > 0) else {
        return Retry { attempts: 0, backoff: None, per_try_timeout: None, retry_on: None };
    };
    // The spec's condition names are Istio's `retryOn` names (Envoy's).
    let conditions: Vec<&str> = policy.conditions().iter().map(|c| c.as_str()).collect();
    Retry {
        attempts: policy.retries,
        backoff: policy.backoff.map(|b| duration(b.base)),
        per_try_timeout: policy.per_try_timeout.as_ref().map(|t| duration(t.value)),
        retry_on: Some(conditions.join(",")),
    }
}

/// Protobuf JSON durations (`2s`, `0.250s`), which Istio and its CRDs' CEL rules read.
fn duration(d: Duration) -> String {
    d.to_proto_json()
}

/// The Istio `Gateway` and, when any route can be served, its `VirtualService`.
fn gateway_resources<'a>(
    model: &'a Model,
    schemas: &SchemaIndex,
    gateway: &'a Gateway,
    unexpressed: &mut Vec<Unexpressed>,
) -> Vec<Resource<'a>> {
    let name = &gateway.name.value;
    let without = format!("`istio/gateway-{name}.yaml` is built without it");
    let servers = gateway
        .listeners
        .iter()
        .map(|listener| api::Server {
            bind: (!listener.address.is_unspecified()).then(|| listener.address.to_string()),
            hosts: vec!["*"],
            port: api::Port {
                name: listener.name.value.as_str().into(),
                number: listener.port.get(),
                protocol: "HTTP",
            },
        })
        .collect();
    let selector = BTreeMap::from([("istio", "ingressgateway")]);
    let mut out = vec![resource(
        "Gateway",
        Metadata::named(name.as_str(), None),
        Spec::Gateway(api::Gateway { selector, servers }),
    )];
    let mut not_in_istio = Vec::new();
    if let Some(span) = gateway.errors_declared {
        not_in_istio.push("the gateway's error-format (Istio answers with its own bodies)".to_string());
        let help = format!("Istio's gateway answers with its own local-reply bodies; the Envoy gateway (`envoy/gateway-{name}.yaml`) serves the declared ones");
        unexpressed.push(Unexpressed::new(span, "this `error-format`", without.as_str(), help));
    }
    // Each route's HTTP routes; empty when it is left out.
    let emitted: Vec<Vec<HttpRoute>> = gateway
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
    let served: Vec<&str> = emitted.iter().flatten().map(|r| r.name.as_str()).collect();
    let security = istio_security::resources(model, schemas, gateway, &served, &mut not_in_istio);
    // A VirtualService per `host` block with its hosts and routes, then `*`
    // with the rest; Istio picks the most specific host's, as Envoy does.
    let http_of = |id: Option<VirtualHostId>| -> Vec<HttpRoute> {
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
        (format!("gateway-{name}-host-{}", id.index() + 1), hosts, http_of(Some(id)))
    });
    let catch_all = (format!("gateway-{name}"), vec!["*".to_string()], http_of(None));
    for (resource_name, hosts, http) in blocks.chain([catch_all]) {
        if !http.is_empty() {
            let spec = api::VirtualService { gateways: Some(vec![name.as_str()]), hosts, http };
            out.push(resource("VirtualService", Metadata::named(resource_name, None), Spec::VirtualService(spec)));
        }
    }
    // On the last VirtualService (`gateway-NAME` when it exists), or on the Gateway when no route is served.
    if !not_in_istio.is_empty() {
        let last = out.last_mut().expect("the Gateway is always there");
        last.metadata.annotations = Some(Annotations { not_in_istio: not_in_istio.join("; ") });
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
fn gateway_route<'a>(
    model: &'a Model,
    route: &'a Route,
    notes: &mut Vec<String>,
    without: &str,
    unexpressed: &mut Vec<Unexpressed>,
) -> Option<HttpRoute<'a>> {
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
    let m = HttpMatch {
        uri: Some(match &matcher.path {
            PathMatch::Exact(path) => StringMatch::Exact { exact: path.clone() },
            PathMatch::Prefix(path) => StringMatch::Prefix { prefix: path.clone() },
        }),
        method: matcher.method.map(|method| StringMatch::Exact { exact: method.as_str().to_string() }),
        headers: (!matcher.headers.is_empty()).then(|| headers(&matcher.headers)),
        ..Default::default()
    };
    let mut out = HttpRoute { matches: Some(vec![m]), name: name.clone(), ..Default::default() };
    match &route.action {
        RouteAction::Forward(forward) => {
            out.retries = Some(retry_policy(forward.retries.as_ref()));
            let target = model.service(forward.target.value);
            out.route = Some(destination(target, route_port(target, forward)));
            out.timeout = match forward.timeout {
                Some(RouteTimeout::After(t)) => Some(duration(t)),
                // Istio's default is no timeout (and its CRD refuses `0s`).
                Some(RouteTimeout::Never) => None,
                None => Some(DEFAULT_TIMEOUT.to_string()),
            };
            out.rewrite = istio_rewrite(&forward.rewrite);
        }
        RouteAction::Redirect(redirect) => {
            out.redirect = Some(istio_redirect(redirect));
            if redirect.strip_query {
                dropped.push("strip-query");
            }
        }
    }
    let (mut set, mut remove) = (BTreeMap::new(), Vec::new());
    for transform in &route.response {
        match transform {
            HeaderTransform::Set { name, value } => {
                set.insert(name.as_str().to_string(), value.clone());
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
        let response = api::HeaderOperations {
            add: None,
            remove: (!remove.is_empty()).then_some(remove),
            set: (!set.is_empty()).then_some(set),
        };
        out.headers = Some(api::Headers { request: None, response: Some(response) });
    }
    dropped.extend(istio_security::dropped(route));
    if !dropped.is_empty() {
        notes.push(format!("{name}: without {}", dropped.join(", ")));
    }
    Some(out)
}

/// Istio's `HTTPRewrite`: `uri` replaces the matched prefix (meshc allows a
/// prefix rewrite on prefix matches only), `uriRegexRewrite` is RE2 as Envoy's.
fn istio_rewrite(rewrite: &Rewrite) -> Option<api::Rewrite<'_>> {
    let mut out = api::Rewrite { authority: rewrite.host.as_ref().map(|h| h.value.as_str()), ..Default::default() };
    match rewrite.path.as_ref().map(|p| &p.value) {
        Some(PathRewrite::Prefix(prefix)) => out.uri = Some(prefix.clone()),
        Some(PathRewrite::Regex(regex)) => {
            out.uri_regex_rewrite = Some(api::RegexRewrite { matches: regex.pattern(), rewrite: regex.substitution() })
        }
        None => {}
    }
    (out.authority.is_some() || out.uri.is_some() || out.uri_regex_rewrite.is_some()).then_some(out)
}

/// Istio's `HTTPRedirect`.
fn istio_redirect(redirect: &Redirect) -> api::Redirect<'_> {
    let (uri, prefix_rewrite) = match redirect.path.as_ref().map(|p| &p.value) {
        Some(RedirectPath::Exact(path)) => (Some(path.as_str()), None),
        Some(RedirectPath::Prefix(prefix)) => (None, Some(prefix.as_str())),
        None => (None, None),
    };
    api::Redirect {
        authority: redirect.host.as_ref().map(|h| h.as_str()),
        port: redirect.port.map(|p| p.get()),
        prefix_rewrite,
        redirect_code: redirect.code.status(),
        scheme: redirect.scheme.map(|s| s.as_str()),
        uri,
    }
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
