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
use serde_json::{json, Value};

use super::security::{
    jwks_cluster_of, service_token_filter, token_exchange_cluster, token_exchange_filter, token_exchange_route,
};
use super::tls::{downstream_tls, network_rbac_filters, rbac_filters, upstream_tls};
use super::{
    apply_retry_budget, callee_clusters, hash_policy, retry_policy, upstream_cluster, version_cluster,
    versioned_routes, HCM, HTTP_OPTIONS, ROUTER,
};
use crate::emit::{yaml, Artifact, Options, Unexpressed};
use crate::model::identity::MtlsMode;
use crate::model::values::{Duration, Operation};
use crate::model::{Call, Model, PortId, PortProtocol, Service, ServiceId};
use crate::schema::SchemaIndex;

const TLS_INSPECTOR: &str = "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector";
const TCP_PROXY: &str = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";

pub fn emit(model: &Model, schemas: &SchemaIndex, options: &Options, _: &mut Vec<Unexpressed>) -> Vec<Artifact> {
    model
        .services
        .par_iter()
        // External services run no proxy of ours.
        .filter(|s| s.mesh().is_some())
        .filter_map(|s| {
            let bootstrap = bootstrap(model, schemas, options, s)?;
            Some(Artifact {
                path: format!("envoy/sidecar-{}.yaml", s.name.value),
                contents: yaml(model, &bootstrap),
                origin: s.name.span,
            })
        })
        .collect()
}

/// `None` for a workload that listens nowhere and calls nobody: nothing to proxy.
fn bootstrap(model: &Model, schemas: &SchemaIndex, options: &Options, service: &Service) -> Option<Value> {
    let name = &service.name.value;
    let mut clusters: BTreeMap<String, Value> = BTreeMap::new();
    let mut listeners: Vec<Value> = service
        .ports()
        .map(|(port, _)| inbound_listener(model, schemas, options, service, port, &mut clusters))
        .collect();
    listeners.extend(outbound_listener(model, options, service, &mut clusters));
    listeners.extend(tcp_outbound_listeners(model, options, service, &mut clusters));
    if listeners.is_empty() {
        return None;
    }
    Some(json!({
        "node": { "id": format!("sidecar-{name}"), "cluster": name },
        "static_resources": { "listeners": listeners, "clusters": clusters.into_values().collect::<Vec<_>>() }
    }))
}

/// `BASE` for a service with one port, `BASE.PORT` for one with several.
fn per_port(base: &str, service: &Service, port: PortId) -> String {
    match service.address.as_ref().is_some_and(|a| a.value.ports.len() > 1) {
        true => format!("{base}.{}", service.port(port).label()),
        false => base.to_string(),
    }
}

/// Callers' traffic on one of the service's ports, on its own inbound
/// port: mutual TLS per the service's mode; on HTTP ports the end user's
/// token and the callers' authorization checked, on TCP ports the
/// callers' identities; then on to the app.
fn inbound_listener(
    model: &Model,
    schemas: &SchemaIndex,
    options: &Options,
    service: &Service,
    port: PortId,
    clusters: &mut BTreeMap<String, Value>,
) -> Value {
    let name = &service.name.value;
    let service_port = service.port(port);
    let mode = model.mtls_mode(service);
    let inbound_cluster = per_port(&format!("inbound.{name}"), service, port);
    let stat_prefix = per_port(&format!("inbound_{name}"), service, port).replace('.', "_");
    let inbound_tls =
        model.mtls.as_ref().filter(|_| mode.accepts_tls()).map(|m| downstream_tls(m, options.cert_dir(m), name));
    let filter = if service_port.protocol.is_http() {
        // Authentication (the end user's token), then authorization (the caller's identity).
        let token = service.require_token().map(|t| service_token_filter(model, schemas, t.value));
        let rbac = service.authorization().map_or(Vec::new(), |a| rbac_filters(model, model.mtls.as_ref(), a));
        let mut manager = connection_manager(
            "inbound",
            &stat_prefix,
            json!([{ "name": "inbound", "domains": ["*"], "routes": [{
                "match": { "prefix": "/" },
                // The caller's proxy owns timeouts and retries; the inbound side only forwards.
                "route": { "cluster": inbound_cluster, "timeout": "0s" }
            }]}]),
            token.into_iter().chain(rbac).collect(),
        );
        if inbound_tls.is_some() {
            // The app learns who called: the caller's SPIFFE ID in `x-forwarded-client-cert`.
            let manager = &mut manager["typed_config"];
            manager["forward_client_cert_details"] = json!("SANITIZE_SET");
            manager["set_current_client_cert_details"] = json!({ "uri": true });
        }
        vec![manager]
    } else {
        let rbac = service
            .authorization()
            .map_or(Vec::new(), |a| network_rbac_filters(model, model.mtls.as_ref(), a, &stat_prefix));
        rbac.into_iter().chain([tcp_proxy(&stat_prefix, &inbound_cluster, None)]).collect()
    };
    let listener_name = per_port("inbound", service, port);
    let inbound_port =
        service.sidecar().and_then(|s| s.inbound_ports(port.index() + 1)).and_then(|p| p.last().copied());
    let inbound_port = inbound_port.map_or(0, |p| p.get()); // past 65535 is refused when the spec is read
    let mut inbound = listener(&listener_name, "0.0.0.0", inbound_port, filter.clone(), inbound_tls);
    if mode == MtlsMode::Permissive {
        // Callers without mTLS are served too, by a plaintext chain the TLS inspector picks.
        inbound["filter_chains"][0]["filter_chain_match"] = json!({ "transport_protocol": "tls" });
        inbound["filter_chains"].as_array_mut().expect("chains").push(json!({ "filters": filter }));
        inbound["listener_filters"] = json!([{
            "name": "envoy.filters.listener.tls_inspector",
            "typed_config": { "@type": TLS_INSPECTOR }
        }]);
    }
    if service_port.protocol.is_http() {
        let issuer = service.require_token().and_then(|t| jwks_cluster_of(model.issuer(t.value)));
        if let Some((name, cluster)) = issuer {
            clusters.insert(name, cluster);
        }
    }
    let http2 = service_port.protocol == PortProtocol::Grpc;
    clusters.insert(
        inbound_cluster.clone(),
        static_cluster(&inbound_cluster, "127.0.0.1", service_port.number.get(), http2),
    );
    inbound
}

/// Envoy's TCP proxy to `cluster`, closing connections silent for `idle`
/// (Envoy's default: an hour).
fn tcp_proxy(stat_prefix: &str, cluster: &str, idle: Option<Duration>) -> Value {
    let mut config = json!({ "@type": TCP_PROXY, "stat_prefix": stat_prefix, "cluster": cluster });
    if let Some(idle) = idle {
        config["idle_timeout"] = json!(idle.to_proto_json());
    }
    json!({ "name": "envoy.filters.network.tcp_proxy", "typed_config": config })
}

/// The app's TCP calls: a listener on 127.0.0.1 per callee port (the
/// call's `local-port`, else the callee's port number), proxied to the
/// callee's cluster, with mTLS towards callees that accept it.
fn tcp_outbound_listeners(
    model: &Model,
    options: &Options,
    service: &Service,
    clusters: &mut BTreeMap<String, Value>,
) -> Vec<Value> {
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
            add_callee_clusters(model, options, service, callee, call.port, &cluster, std::iter::empty(), clusters);
            let stat_prefix = format!("{}_{local}", cluster.replace('.', "_"));
            let mut proxy = tcp_proxy(&stat_prefix, &cluster, call.idle_timeout.as_ref().map(|t| t.value));
            if !callee.traffic.rules.split.is_empty() {
                let split: Vec<Value> = callee
                    .traffic
                    .rules
                    .split
                    .iter()
                    .map(|w| json!({ "name": version_cluster(&cluster, callee, w.version), "weight": w.weight }))
                    .collect();
                let config = &mut proxy["typed_config"];
                config.as_object_mut().expect("an object").remove("cluster");
                config["weighted_clusters"] = json!({ "clusters": split });
            }
            let name = format!("{cluster}:{local}");
            listener(&name, "127.0.0.1", local, vec![proxy], None)
        })
        .collect()
}

/// The clusters reaching one port of `callee` (the whole service and the
/// versions its rules name), with mTLS when both ends take it and the
/// tightest retry budget of `retries`.
#[allow(clippy::too_many_arguments)]
fn add_callee_clusters<'a>(
    model: &Model,
    options: &Options,
    caller: &Service,
    callee: &Service,
    port: PortId,
    cluster: &str,
    retries: impl Iterator<Item = &'a crate::model::traffic::RetryPolicy> + Clone,
    clusters: &mut BTreeMap<String, Value>,
) {
    let tls = model.mtls.as_ref().filter(|_| model.mtls_between(Some(caller), callee)).map(|m| {
        let host = callee.host().map_or("", |h| h.as_str());
        upstream_tls(m, options.cert_dir(m), &caller.name.value, &callee.identity(), host)
    });
    for (version, cluster_name) in callee_clusters(cluster, callee) {
        let mut outbound = upstream_cluster(&cluster_name, callee, port, version);
        if callee.port(port).protocol == PortProtocol::Grpc {
            outbound["typed_extension_protocol_options"] = http2_options();
        }
        apply_retry_budget(&mut outbound, retries.clone());
        if let Some(tls) = &tls {
            outbound["transport_socket"] = tls.clone();
        }
        clusters.insert(cluster_name, outbound);
    }
}

/// The app's calls: a virtual host per callee with the calls' routes, and
/// the callees' clusters. `None` for a service that calls nobody.
fn outbound_listener(
    model: &Model,
    options: &Options,
    service: &Service,
    clusters: &mut BTreeMap<String, Value>,
) -> Option<Value> {
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
    let hosts: Vec<Value> = by_target
        .iter()
        .map(|(&(target_name, port), (target, calls))| {
            let callee = model.service(*target);
            let cluster = per_port(&format!("outbound.{target_name}"), callee, port);
            let retries = calls.iter().filter_map(|c| service.call_retries(c)).chain(&service.call_defaults.retries);
            add_callee_clusters(model, options, service, callee, port, &cluster, retries, clusters);
            let host = callee.host().map_or("", |h| h.as_str());
            let number = callee.port(port).number;
            let mut routes: Vec<Value> = calls
                .iter()
                .filter(|c| c.operation.is_some())
                .flat_map(|c| versioned_routes(route(model, service, callee, c, &cluster), callee))
                .collect();
            // The rest of the callee's traffic: a call without an operation, else the defaults.
            let rest = calls.iter().find(|c| c.operation.is_none());
            routes.extend(versioned_routes(catch_all(model, service, callee, rest.copied(), &cluster), callee));
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
            json!({ "name": per_port(target_name, callee, port), "domains": domains, "routes": routes })
        })
        .collect();
    // One token exchange filter per (exchange, audience) the calls use, each off but on its calls' routes.
    let mut exchanges: BTreeMap<String, Value> = BTreeMap::new();
    for exchange in service.calls.iter().filter_map(|c| c.token.exchange()) {
        let sts = model.token_exchange(exchange.exchange);
        let filter = token_exchange_filter(sts, &exchange.audience);
        exchanges.insert(filter["name"].as_str().unwrap_or_default().to_string(), filter);
        let (name, cluster) = token_exchange_cluster(sts);
        clusters.insert(name, cluster);
    }
    let filters = exchanges.into_values().collect();
    let manager = connection_manager("outbound", &format!("outbound_{name}"), Value::Array(hosts), filters);
    Some(listener("outbound", "127.0.0.1", service.sidecar()?.outbound.get(), vec![manager], None))
}

/// A listener with one filter chain: `filters`, behind `tls` when given.
fn listener(name: &str, address: &str, port: u16, filters: Vec<Value>, tls: Option<Value>) -> Value {
    let mut chain = json!({ "filters": filters });
    if let Some(tls) = tls {
        chain["transport_socket"] = tls;
    }
    json!({
        "name": name,
        "address": { "socket_address": { "address": address, "port_value": port } },
        "filter_chains": [chain]
    })
}

/// The HTTP connection manager: `filters` (authorization), then the router.
fn connection_manager(name: &str, stat_prefix: &str, virtual_hosts: Value, mut filters: Vec<Value>) -> Value {
    filters.push(json!({ "name": "envoy.filters.http.router", "typed_config": { "@type": ROUTER } }));
    json!({
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": HCM,
            "stat_prefix": stat_prefix,
            "codec_type": "AUTO",
            "route_config": { "name": name, "virtual_hosts": virtual_hosts },
            "http_filters": filters
        }
    })
}

/// A route for one call that names an operation.
fn route(model: &Model, caller: &Service, callee: &Service, call: &Call, cluster: &str) -> Value {
    let operation = &call.operation.as_ref().expect("routes are built for calls with an operation").value;
    let matcher = match operation {
        Operation::Grpc { service, method } => json!({ "path": format!("/{service}/{method}") }),
        Operation::Rest { method, path } => json!({
            "safe_regex": { "regex": crate::emit::path_template_regex(path) },
            "headers": [{ "name": ":method", "string_match": { "exact": method.as_str() } }]
        }),
        // GraphQL operations share one endpoint; the catch-all carries them.
        Operation::Graphql { .. } => json!({ "prefix": "/" }),
    };
    let route = json!({ "name": operation.to_string(), "match": matcher, "route": action(caller, callee, Some(call), cluster) });
    with_exchange(model, Some(call), route)
}

fn catch_all(model: &Model, caller: &Service, callee: &Service, call: Option<&Call>, cluster: &str) -> Value {
    let route =
        json!({ "name": "default", "match": { "prefix": "/" }, "route": action(caller, callee, call, cluster) });
    with_exchange(model, call, route)
}

/// Turns the call's token exchange filter on for its route.
fn with_exchange(model: &Model, call: Option<&Call>, mut route: Value) -> Value {
    if let Some(exchange) = call.and_then(|c| c.token.exchange()) {
        let (filter, config) = token_exchange_route(model.token_exchange(exchange.exchange), &exchange.audience);
        route["typed_per_filter_config"] = json!({ filter: config });
    }
    route
}

/// Timeout and retries: the call's own, else the caller's `call-defaults`.
fn action(caller: &Service, callee: &Service, call: Option<&Call>, cluster: &str) -> Value {
    let timeout = call.and_then(|c| caller.call_timeout(c)).or(caller.call_defaults.timeout.as_ref());
    let retries = call.and_then(|c| caller.call_retries(c)).or(caller.call_defaults.retries.as_ref());
    let mut action = json!({ "cluster": cluster });
    if let Some(t) = timeout {
        action["timeout"] = json!(t.value.to_proto_json());
    }
    if let Some(idle) = call.and_then(|c| c.idle_timeout.as_ref()) {
        action["idle_timeout"] = json!(idle.value.to_proto_json());
    }
    if let Some(policy) = retries {
        action["retry_policy"] = retry_policy(policy);
    }
    if let Some(hash) = hash_policy(&callee.traffic) {
        action["hash_policy"] = hash;
    }
    action
}

fn static_cluster(name: &str, address: &str, port: u16, http2: bool) -> Value {
    let mut cluster = json!({
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": { "cluster_name": name, "endpoints": [{ "lb_endpoints": [{ "endpoint": { "address": {
            "socket_address": { "address": address, "port_value": port }
        }}}]}]}
    });
    if http2 {
        cluster["typed_extension_protocol_options"] = http2_options();
    }
    cluster
}

fn http2_options() -> Value {
    json!({ "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": HTTP_OPTIONS,
        "explicit_http_config": { "http2_protocol_options": {} }
    }})
}
