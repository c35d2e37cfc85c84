//! Envoy v3 bootstrap per service: the sidecar proxy beside each instance.
//!
//! - Inbound: a listener per service port, on the sidecar's inbound port
//!   and the following ones (all interfaces), forwarding to the app on
//!   127.0.0.1 at that port; with mTLS it requires callers' certificates
//!   (both plaintext and TLS when permissive). HTTP ports verify the end
//!   user's token (`require-token`) and run the service's `authorization`
//!   as RBAC filters; TCP ports proxy connections (`tcp_proxy`) behind the
//!   caller-only rules as network RBAC (`envoy::tls`). A workload that
//!   listens nowhere has none.
//! - Outbound: a listener on 127.0.0.1 at the outbound port for the HTTP and
//!   gRPC calls. The app sends each call there with the callee's name (or
//!   address) as `host`; a virtual host per callee port routes its calls,
//!   each with the call's timeout, idle timeout and retries (its own or the
//!   service's `call-defaults`): a route per call that names an operation
//!   (REST: method and path template; gRPC: the method's path), then one
//!   for the rest. TCP calls get a listener each on 127.0.0.1 at the
//!   call's `local-port` or the callee's port.
//! - A cluster per callee port (and per version its traffic rules name)
//!   with the callee's `traffic` policy: load balancing, circuit breakers,
//!   outlier detection, health checks, retry budgets; HTTP/2 towards ports
//!   that serve only gRPC; mTLS towards callees that accept it.

use std::collections::BTreeMap;

use rayon::prelude::*;

use super::api::{
    Address, Any, Bootstrap, ClientCertDetails, Cluster, Empty, Filter, FilterChain, FilterChainMatch, HeaderMatcher,
    HttpConnectionManager, LbEndpoint, Listener, LocalityLbEndpoints, Node, ProtocolOptions, Regex, Route, RouteAction,
    RouteConfiguration, RouteMatch, StaticResources, StringMatcher, TcpProxy, TransportSocket, VirtualHost,
};
use super::security::{
    jwks_cluster_of, service_token_filter, token_exchange_cluster, token_exchange_filter, token_exchange_route,
};
use super::stats::{grpc_stats_filter, GrpcMethodSet};
use super::tls::{caller_limit_filters, downstream_tls, network_rbac_filters, rbac_filters, upstream_tls};
use super::{
    apply_retry_budget, callee_clusters, custom_response_filter, fail_over, hash_policy, retry_policy, static_fallback,
    upstream_cluster, versioned_routes, weighted_versions, CUSTOM_RESPONSE,
};
use crate::emit::{Options, Parts, Unexpressed};
use crate::model::identity::MtlsMode;
use crate::model::traffic::FallbackKind;
use crate::model::values::Operation;
use crate::model::{Call, Model, PortId, PortProtocol, Service, ServiceId};
use crate::schema::SchemaIndex;

pub fn emit(
    model: &Model,
    schemas: &SchemaIndex,
    options: &Options,
    unexpressed: &mut Vec<Unexpressed>,
    parts: Parts<'_>,
) {
    super::tracing::unexpressed(model, "the sidecars", unexpressed);
    stale_fallbacks(model, unexpressed);
    // A part per service: its proxy's files (17 KB each), written while the others are made.
    model
        .services
        .par_iter()
        .enumerate()
        // External services run no proxy of ours.
        .filter(|(_, s)| s.mesh().is_some())
        .for_each(|(index, s)| {
            if let Some(bootstrap) = bootstrap(model, schemas, options, s) {
                parts(index, super::xds::proxy_files(model, options, s.name.span, bootstrap));
            }
        });
}

/// The clusters of one bootstrap by name (listed in name order).
type Clusters<'a> = BTreeMap<String, Cluster<'a>>;

/// `None` for a workload that listens nowhere and calls nobody: nothing to proxy.
fn bootstrap<'a>(
    model: &'a Model,
    schemas: &SchemaIndex,
    options: &'a Options,
    service: &'a Service,
) -> Option<Bootstrap<'a>> {
    let name = &service.name.value;
    let mut clusters = Clusters::new();
    let mut listeners: Vec<Listener> = service
        .ports()
        .map(|(port, _)| inbound_listener(model, schemas, options, service, port, &mut clusters))
        .collect();
    listeners.extend(outbound_listener(model, options, service, &mut clusters));
    listeners.extend(tcp_outbound_listeners(model, options, service, &mut clusters));
    if listeners.is_empty() {
        return None;
    }
    if let Some((name, cluster)) = super::tracing::collector_cluster(model) {
        clusters.insert(name, cluster);
        // Spans of the inbound side are server spans, of the outbound side client spans.
        for listener in &mut listeners {
            let outbound = listener.address.socket_address.address == "127.0.0.1";
            listener.traffic_direction = Some(if outbound { "OUTBOUND" } else { "INBOUND" });
        }
    }
    let mut grpc = called_grpc_methods(model, service);
    super::stats::served_grpc_methods(schemas, service, None, &mut grpc);
    let monitored = super::stats::monitored(model, crate::emit::stats::sidecar_admin_port(model, service), &grpc);
    let (admin, stats_config) = match monitored {
        Some(m) => {
            listeners.push(m.listener);
            clusters.insert(super::stats::ADMIN_CLUSTER.to_string(), m.cluster);
            (Some(m.admin), Some(m.stats))
        }
        None => (None, None),
    };
    Some(Bootstrap {
        admin,
        node: Node { cluster: name.into(), id: format!("sidecar-{name}") },
        static_resources: StaticResources { clusters: clusters.into_values().collect(), listeners },
        stats_config,
    })
}

/// `BASE` for a service with one port, `BASE.PORT` for one with several.
pub(super) fn per_port(base: &str, service: &Service, port: PortId) -> String {
    match service.address.as_ref().is_some_and(|a| a.value.ports.len() > 1) {
        true => format!("{base}.{}", service.port(port).label()),
        false => base.to_string(),
    }
}

/// Callers' traffic on one of the service's ports, on its own inbound
/// port: mutual TLS per the service's mode; on HTTP ports the end user's
/// token and the callers' authorization checked, on TCP ports the
/// callers' identities; then on to the app.
fn inbound_listener<'a>(
    model: &'a Model,
    schemas: &SchemaIndex,
    options: &'a Options,
    service: &'a Service,
    port: PortId,
    clusters: &mut Clusters<'a>,
) -> Listener<'a> {
    let name = &service.name.value;
    let service_port = service.port(port);
    let mode = model.mtls_mode(service);
    let inbound_cluster = per_port(&format!("inbound.{name}"), service, port);
    let stat_prefix = per_port(&format!("inbound_{name}"), service, port).replace('.', "_");
    let inbound_tls = model
        .mtls
        .as_ref()
        .filter(|_| mode.accepts_tls())
        .map(|m| downstream_tls(m, options.cert_dir(m), name.as_str()));
    let filters = if service_port.protocol.is_http() {
        // Authentication (the end user's token), then authorization (the caller's identity).
        let token = service.require_token().map(|t| service_token_filter(model, schemas, t.value));
        let rbac = service.authorization().map_or(Vec::new(), |a| rbac_filters(model, model.mtls.as_ref(), a));
        let limit = service.caller_limit().map_or(Vec::new(), |l| caller_limit_filters(l, &stat_prefix));
        let mut route = Route::new("", RouteMatch::prefix("/"));
        // The caller's proxy owns timeouts and retries; the inbound side only forwards.
        route.route = Some(RouteAction {
            cluster: Some(inbound_cluster.clone().into()),
            timeout: Some("0s".into()),
            ..Default::default()
        });
        let host = VirtualHost { domains: vec!["*".into()], name: "inbound".into(), routes: vec![route] };
        // gRPC statuses per method, when monitored.
        let mut grpc = GrpcMethodSet::new();
        if model.monitoring.is_some() {
            super::stats::served_grpc_methods(schemas, service, Some(port), &mut grpc);
        }
        let grpc_stats = (!grpc.is_empty()).then(|| grpc_stats_filter(&grpc));
        let mut manager = connection_manager(
            "inbound",
            stat_prefix,
            vec![host],
            token.into_iter().chain(rbac).chain(limit).chain(grpc_stats).collect(),
        );
        traced(model, service, &mut manager);
        if let Some(audit) = service.audit() {
            manager.access_log.push(audit_log(model, service, audit));
        }
        if inbound_tls.is_some() {
            // The app learns who called: the caller's SPIFFE ID in `x-forwarded-client-cert`.
            manager.forward_client_cert_details = Some("SANITIZE_SET");
            manager.set_current_client_cert_details = Some(ClientCertDetails { uri: true });
        }
        vec![Filter::new(
            "envoy.filters.network.http_connection_manager",
            Any::HttpConnectionManager(Box::new(manager)),
        )]
    } else {
        let rbac = service
            .authorization()
            .map_or(Vec::new(), |a| network_rbac_filters(model, model.mtls.as_ref(), a, &stat_prefix));
        let proxy = TcpProxy {
            cluster: Some(inbound_cluster.clone().into()),
            idle_timeout: None,
            stat_prefix: stat_prefix.into(),
            weighted_clusters: None,
        };
        rbac.into_iter().chain([tcp_proxy(proxy)]).collect()
    };
    let listener_name = per_port("inbound", service, port);
    let inbound_port =
        service.sidecar().and_then(|s| s.inbound_ports(port.index() + 1)).and_then(|p| p.last().copied());
    let inbound_port = inbound_port.map_or(0, |p| p.get()); // past 65535 is refused when the spec is read
    let mut inbound = if mode == MtlsMode::Permissive {
        // Callers without mTLS are served too, by a plaintext chain the TLS inspector picks.
        let mut inbound = listener(listener_name, "0.0.0.0", inbound_port, filters.clone(), inbound_tls);
        inbound.filter_chains[0].filter_chain_match = Some(FilterChainMatch { transport_protocol: "tls" });
        inbound.filter_chains.push(FilterChain { filter_chain_match: None, filters, transport_socket: None });
        inbound
    } else {
        listener(listener_name, "0.0.0.0", inbound_port, filters, inbound_tls)
    };
    if mode == MtlsMode::Permissive {
        inbound.listener_filters =
            vec![Filter::new("envoy.filters.listener.tls_inspector", Any::TlsInspector(Empty {}))];
    }
    if service_port.protocol.is_http() {
        let issuer = service.require_token().and_then(|t| jwks_cluster_of(model.issuer(t.value)));
        if let Some((name, cluster)) = issuer {
            clusters.insert(name, cluster);
        }
    }
    let http2 = service_port.protocol == PortProtocol::Grpc;
    let app = static_cluster(inbound_cluster.clone(), "127.0.0.1", service_port.number.get(), http2);
    clusters.insert(inbound_cluster, app);
    inbound
}

/// Envoy's TCP proxy filter.
fn tcp_proxy(config: TcpProxy) -> Filter {
    Filter::new("envoy.filters.network.tcp_proxy", Any::TcpProxy(config))
}

/// The app's TCP calls: a listener on 127.0.0.1 per callee port (the
/// call's `local-port`, else the callee's port number), proxied to the
/// callee's cluster, with mTLS towards callees that accept it. Connections
/// silent for the call's idle timeout are closed (Envoy's default: an hour).
fn tcp_outbound_listeners<'a>(
    model: &'a Model,
    options: &'a Options,
    service: &'a Service,
    clusters: &mut Clusters<'a>,
) -> Vec<Listener<'a>> {
    let mut by_local: BTreeMap<u16, &Call> = BTreeMap::new();
    for call in &service.calls {
        let callee = model.service(call.target.value);
        if callee.port(call.port).protocol.is_http() {
            continue;
        }
        let local = call.local_port.as_ref().map_or(callee.port(call.port).number, |p| p.value);
        // Two calls to one port share its listener; other clashes are reported by the checks.
        by_local.entry(local.get()).or_insert(call);
    }
    by_local
        .into_iter()
        .map(|(local, call)| {
            let callee = model.service(call.target.value);
            let cluster = per_port(&format!("outbound.{}", callee.name.value), callee, call.port);
            add_callee_clusters(
                model,
                options,
                service,
                callee,
                call.port,
                &cluster,
                std::iter::empty(),
                false,
                clusters,
            );
            let stat_prefix = format!("{}_{local}", cluster.replace('.', "_"));
            let split = !callee.traffic.rules.split.is_empty();
            let proxy = TcpProxy {
                weighted_clusters: split.then(|| weighted_versions(&cluster, callee)),
                cluster: (!split).then(|| cluster.clone().into()),
                idle_timeout: call.idle_timeout.as_ref().map(|t| t.value.to_proto_json()),
                stat_prefix: stat_prefix.into(),
            };
            listener(format!("{cluster}:{local}"), "127.0.0.1", local, vec![tcp_proxy(proxy)], None)
        })
        .collect()
}

/// The clusters reaching one port of `callee` (the whole service and the
/// versions its rules name; the whole service always when `whole`), with
/// mTLS when both ends take it and the tightest retry budget of `retries`.
#[allow(clippy::too_many_arguments)]
fn add_callee_clusters<'a, 'r>(
    model: &'a Model,
    options: &'a Options,
    caller: &'a Service,
    callee: &'a Service,
    port: PortId,
    cluster: &str,
    retries: impl Iterator<Item = &'r crate::model::traffic::RetryPolicy> + Clone,
    whole: bool,
    clusters: &mut Clusters<'a>,
) {
    let tls: Option<TransportSocket> =
        model.mtls.as_ref().filter(|_| model.mtls_between(Some(caller), callee)).map(|m| {
            let host = callee.host().map_or("", |h| h.as_str());
            upstream_tls(m, options.cert_dir(m), caller.name.value.as_str(), &callee.identity(), host)
        });
    let mut wanted = callee_clusters(cluster, callee);
    if whole && wanted.iter().all(|(version, _)| version.is_some()) {
        wanted.insert(0, (None, cluster.to_string()));
    }
    for (version, cluster_name) in wanted {
        let mut outbound = upstream_cluster(&cluster_name, callee, port, version);
        if callee.port(port).protocol == PortProtocol::Grpc {
            outbound.typed_extension_protocol_options = Some(ProtocolOptions::http2());
        }
        apply_retry_budget(&mut outbound, retries.clone());
        outbound.transport_socket = tls.clone();
        clusters.insert(cluster_name, outbound);
    }
}

/// The app's calls: a virtual host per callee with the calls' routes, and
/// the callees' clusters. `None` for a service that calls nobody.
fn outbound_listener<'a>(
    model: &'a Model,
    options: &'a Options,
    service: &'a Service,
    clusters: &mut Clusters<'a>,
) -> Option<Listener<'a>> {
    let name = &service.name.value;
    // HTTP and gRPC calls grouped by callee and port, in the spec's order within each.
    let mut by_target: BTreeMap<(&str, PortId), (ServiceId, Vec<&Call>)> = BTreeMap::new();
    for call in &service.calls {
        let target = model.service(call.target.value);
        if target.port(call.port).protocol.is_http() {
            let key = (target.name.value.as_str(), call.port);
            by_target.entry(key).or_insert((call.target.value, Vec::new())).1.push(call);
        }
    }
    if by_target.is_empty() {
        return None;
    }
    let mut named = std::collections::HashSet::new();
    let hosts: Vec<VirtualHost> = by_target
        .iter()
        .map(|(&(target_name, port), (target, calls))| {
            let callee = model.service(*target);
            let cluster = per_port(&format!("outbound.{target_name}"), callee, port);
            let retries = calls.iter().filter_map(|c| service.call_retries(c)).chain(&service.call_defaults.retries);
            add_callee_clusters(model, options, service, callee, port, &cluster, retries, false, clusters);
            let host = callee.host().map_or("", |h| h.as_str());
            let number = callee.port(port).number;
            let mut routes: Vec<Route> = Vec::new();
            for call in calls.iter().filter(|c| c.operation.is_some()) {
                let mut variants = versioned_routes(route(model, service, callee, call, &cluster), callee);
                with_fallback(model, options, service, Some(call), &mut variants, clusters);
                routes.extend(variants);
            }
            // The rest of the callee's traffic: a call without an operation, else the defaults.
            let rest = calls.iter().find(|c| c.operation.is_none()).copied();
            let mut variants = versioned_routes(catch_all(model, service, callee, rest, &cluster), callee);
            with_fallback(model, options, service, rest, &mut variants, clusters);
            routes.extend(variants);
            // The bare names go to the first port called; `NAME:PORT` to each.
            let bare = named.insert(target_name);
            let mut domains = vec![
                target_name.to_string(),
                format!("{target_name}:{number}"),
                host.to_string(),
                format!("{host}:{number}"),
            ];
            if !bare {
                domains.retain(|d| d.ends_with(&format!(":{number}")));
            }
            // `address "cart" port=7070` for service `cart` names the same host
            // twice; Envoy refuses a virtual host listing a domain twice.
            let mut seen = std::collections::HashSet::new();
            domains.retain(|d| seen.insert(d.clone()));
            let domains = domains.into_iter().map(Into::into).collect();
            VirtualHost { domains, name: per_port(target_name, callee, port).into(), routes }
        })
        .collect();
    // One token exchange filter per (exchange, audience) the calls use, each off but on its calls' routes.
    let mut exchanges: BTreeMap<String, Filter> = BTreeMap::new();
    for exchange in service.calls.iter().filter_map(|c| c.token.exchange()) {
        let sts = model.token_exchange(exchange.exchange);
        let filter = token_exchange_filter(sts, &exchange.audience);
        exchanges.insert(filter.name.to_string(), filter);
        let (name, cluster) = token_exchange_cluster(sts);
        clusters.insert(name, cluster);
    }
    let grpc = called_grpc_methods(model, service);
    let grpc_stats = (!grpc.is_empty()).then(|| grpc_stats_filter(&grpc));
    let static_fallbacks =
        service.calls.iter().any(|c| c.fallback.as_ref().is_some_and(|f| matches!(f.kind, FallbackKind::Static(_))));
    let custom_response = static_fallbacks.then(custom_response_filter);
    let filters = exchanges.into_values().chain(grpc_stats).chain(custom_response).collect();
    let mut manager = connection_manager("outbound", format!("outbound_{name}"), hosts, filters);
    traced(model, service, &mut manager);
    let manager =
        Filter::new("envoy.filters.network.http_connection_manager", Any::HttpConnectionManager(Box::new(manager)));
    Some(listener("outbound", "127.0.0.1", service.sidecar()?.outbound.get(), vec![manager], None))
}

/// The gRPC methods `service` calls, when the mesh is monitored.
fn called_grpc_methods<'a>(model: &Model, service: &'a Service) -> GrpcMethodSet<'a> {
    let mut methods = GrpcMethodSet::new();
    if model.monitoring.is_some() {
        for call in &service.calls {
            if let Some((grpc_service, method)) = call.operation.as_ref().and_then(|o| o.value.grpc()) {
                methods.entry(grpc_service).or_default().insert(method);
            }
        }
    }
    methods
}

/// A listener with one filter chain: `filters`, behind `tls` when given.
fn listener<'a>(
    name: impl Into<super::api::Str<'a>>,
    address: &'static str,
    port: u16,
    filters: Vec<Filter<'a>>,
    tls: Option<TransportSocket<'a>>,
) -> Listener<'a> {
    Listener {
        address: Address::socket(address, port),
        filter_chains: vec![FilterChain { filter_chain_match: None, filters, transport_socket: tls }],
        listener_filters: Vec::new(),
        name: name.into(),
        traffic_direction: None,
    }
}

/// The mesh's tracer and the trace-id access log on a connection manager
/// of `service`'s sidecar, when the mesh traces.
fn traced<'a>(model: &'a Model, service: &'a Service, manager: &mut HttpConnectionManager<'a>) {
    if let Some(sampling) = service.trace_sampling(model) {
        manager.tracing = super::tracing::tracer(model, service.trace_name(), sampling);
        manager.access_log = super::tracing::access_logs(model);
    }
}

/// The service's audit record of each incoming request, one JSON line on
/// the proxy's stdout, in the gateway's format (claims of the token it requires).
fn audit_log<'a>(model: &Model, service: &Service, audit: &crate::model::security::Audit) -> super::api::AccessLog<'a> {
    let issuer = service.require_token().map(|t| model.issuer(t.value).name.value.as_str());
    let json_format = super::security::record(&audit.fields, issuer);
    use super::api::{AccessLog, JsonLogFormat, StdoutAccessLog};
    AccessLog {
        name: "envoy.access_loggers.stdout",
        typed_config: Any::StdoutAccessLog(StdoutAccessLog { log_format: JsonLogFormat { json_format } }),
    }
}

/// The HTTP connection manager: `filters` (authorization), then the router.
fn connection_manager<'a>(
    name: &'static str,
    stat_prefix: String,
    virtual_hosts: Vec<VirtualHost<'a>>,
    mut filters: Vec<Filter<'a>>,
) -> HttpConnectionManager<'a> {
    filters.push(Filter::new("envoy.filters.http.router", Any::Router(Empty {})));
    HttpConnectionManager {
        access_log: Vec::new(),
        codec_type: "AUTO",
        forward_client_cert_details: None,
        http_filters: filters,
        route_config: RouteConfiguration { ignore_port_in_host_matching: false, name: name.into(), virtual_hosts },
        set_current_client_cert_details: None,
        stat_prefix: stat_prefix.into(),
        tracing: None,
    }
}

/// A route for one call that names an operation.
fn route<'a>(model: &'a Model, caller: &'a Service, callee: &'a Service, call: &'a Call, cluster: &str) -> Route<'a> {
    let operation = &call.operation.as_ref().expect("routes are built for calls with an operation").value;
    let matcher = match operation {
        Operation::Grpc { service, method } => RouteMatch::path(format!("/{service}/{method}")),
        Operation::Rest { method, path } => RouteMatch {
            headers: vec![HeaderMatcher::string(":method", StringMatcher::exact(method.as_str()))],
            safe_regex: Some(Regex { regex: crate::emit::path_template_regex(path) }),
            ..RouteMatch::default()
        },
        // GraphQL operations share one endpoint; the catch-all carries them.
        Operation::Graphql { .. } => RouteMatch::prefix("/"),
    };
    let mut route = Route::new(operation.to_string(), matcher);
    route.route = Some(action(caller, callee, Some(call), cluster));
    if model.monitoring.is_some() {
        route.stat_prefix = Some(crate::emit::stats::call(model, call).into());
    }
    with_exchange(model, Some(call), route)
}

fn catch_all<'a>(
    model: &'a Model,
    caller: &'a Service,
    callee: &'a Service,
    call: Option<&'a Call>,
    cluster: &str,
) -> Route<'a> {
    let mut route = Route::new("default", RouteMatch::prefix("/"));
    route.route = Some(action(caller, callee, call, cluster));
    if model.monitoring.is_some() {
        route.stat_prefix = Some(callee.name.value.as_str().into());
    }
    with_exchange(model, call, route)
}

/// A call's fallback on its routes: a fallback service as an aggregate
/// cluster behind each of the routes' clusters (failing over when the
/// callee has no healthy instance), a static response as the
/// `custom_response` filter's route config.
fn with_fallback<'a>(
    model: &'a Model,
    options: &'a Options,
    caller: &'a Service,
    call: Option<&'a Call>,
    routes: &mut [Route<'a>],
    clusters: &mut Clusters<'a>,
) {
    let Some(fallback) = call.and_then(|c| c.fallback.as_ref()) else { return };
    match &fallback.kind {
        FallbackKind::Service { target, port } => {
            let callee = model.service(target.value);
            let cluster = per_port(&format!("outbound.{}", callee.name.value), callee, *port);
            add_callee_clusters(model, options, caller, callee, *port, &cluster, std::iter::empty(), true, clusters);
            for route in routes {
                fail_over(route, &cluster, clusters);
            }
        }
        FallbackKind::Static(response) => {
            for route in routes {
                route.typed_per_filter_config.insert(CUSTOM_RESPONSE.into(), static_fallback(response));
            }
        }
        // Reported by `stale_fallbacks`.
        FallbackKind::Stale { .. } => {}
    }
}

/// Envoy's cache filter does not serve stale responses on errors
/// (`stale-if-error`), and a sidecar caches nothing: stale fallbacks are unexpressed.
fn stale_fallbacks(model: &Model, unexpressed: &mut Vec<Unexpressed>) {
    for service in model.services.iter().filter(|s| s.mesh().is_some()) {
        for call in &service.calls {
            let Some(fallback) = &call.fallback else { continue };
            if let FallbackKind::Stale { .. } = fallback.kind {
                unexpressed.push(Unexpressed::new(
                    fallback.span,
                    "this stale fallback",
                    format!("`{}`'s sidecar is built without it", service.name.value),
                    "Envoy 1.40's HTTP cache does not serve stale responses when the upstream fails (no `stale-if-error`); use a static fallback or a fallback service",
                ));
            }
        }
    }
}

/// Turns the call's token exchange filter on for its route.
fn with_exchange<'a>(model: &Model, call: Option<&Call>, mut route: Route<'a>) -> Route<'a> {
    if let Some(exchange) = call.and_then(|c| c.token.exchange()) {
        let (filter, config) = token_exchange_route(model.token_exchange(exchange.exchange), &exchange.audience);
        route.typed_per_filter_config.insert(filter.into(), config);
    }
    route
}

/// Timeout and retries: the call's own, else the caller's `call-defaults`.
fn action<'a>(caller: &'a Service, callee: &'a Service, call: Option<&'a Call>, cluster: &str) -> RouteAction<'a> {
    let timeout = call.and_then(|c| caller.call_timeout(c)).or(caller.call_defaults.timeout.as_ref());
    let retries = call.and_then(|c| caller.call_retries(c)).or(caller.call_defaults.retries.as_ref());
    RouteAction {
        cluster: Some(cluster.to_string().into()),
        timeout: timeout.map(|t| t.value.to_proto_json().into()),
        idle_timeout: call.and_then(|c| c.idle_timeout.as_ref()).map(|idle| idle.value.to_proto_json()),
        retry_policy: retries.map(retry_policy),
        hash_policy: hash_policy(&callee.traffic),
        ..RouteAction::default()
    }
}

fn static_cluster<'a>(name: String, address: &'static str, port: u16, http2: bool) -> Cluster<'a> {
    let endpoints = vec![LocalityLbEndpoints::of(vec![LbEndpoint::at(address, port)])];
    let mut cluster = Cluster::new(name.into(), "STATIC", endpoints);
    if http2 {
        cluster.typed_extension_protocol_options = Some(ProtocolOptions::http2());
    }
    cluster
}
