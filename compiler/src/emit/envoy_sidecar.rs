//! Envoy v3 bootstrap per service: the sidecar proxy beside each instance.
//!
//! - Inbound: a listener on the sidecar's inbound port (all interfaces)
//!   forwarding to the app on 127.0.0.1 at the service's port; with mTLS it
//!   requires callers' certificates (both plaintext and TLS when
//!   permissive), verifies the end user's token (`require-token`) and runs
//!   the service's `authorization` as RBAC filters (`envoy_mtls`).
//! - Outbound: a listener on 127.0.0.1 at the outbound port. The app sends
//!   each call there with the callee's name (or address) as `host`; a
//!   virtual host per callee routes its calls, each with the call's timeout
//!   and retries (its own or the service's `call-defaults`): a route per
//!   call that names an operation (REST: method and path template; gRPC:
//!   the method's path), then one for the rest.
//! - A cluster per callee (and per version its traffic rules name) with the
//!   callee's `traffic` policy: load balancing, circuit breakers, outlier
//!   detection, health checks, retry budgets; HTTP/2 towards services that
//!   serve only gRPC; mTLS towards callees that accept it.

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde_json::{json, Value};

use super::envoy_common::{
    apply_retry_budget, callee_clusters, hash_policy, retry_policy, upstream_cluster, versioned_routes, HCM,
    HTTP_OPTIONS, ROUTER,
};
use super::envoy_mtls::{downstream_tls, rbac_filters, upstream_tls};
use super::envoy_security::{
    jwks_cluster_of, service_token_filter, token_exchange_cluster, token_exchange_filter, token_exchange_route,
};
use super::{yaml, Artifact, Options, Unexpressed};
use crate::model::identity::MtlsMode;
use crate::model::traffic::VersionId;
use crate::model::values::{ApiKind, Operation};
use crate::model::{Call, Model, Service, ServiceId};
use crate::schema::SchemaIndex;

const TLS_INSPECTOR: &str = "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector";

pub fn emit(model: &Model, schemas: &SchemaIndex, options: &Options, _: &mut Vec<Unexpressed>) -> Vec<Artifact> {
    model
        .services
        .par_iter()
        // External services run no proxy of ours.
        .filter(|s| s.external.is_none())
        .map(|s| Artifact {
            path: format!("envoy/sidecar-{}.yaml", s.name.value),
            contents: yaml(model, &bootstrap(model, schemas, options, s)),
            origin: s.name.span,
        })
        .collect()
}

fn bootstrap(model: &Model, schemas: &SchemaIndex, options: &Options, service: &Service) -> Value {
    let name = &service.name.value;
    let mut clusters: BTreeMap<String, Value> = BTreeMap::new();
    let mut listeners = vec![inbound_listener(model, schemas, options, service, &mut clusters)];
    listeners.extend(outbound_listener(model, options, service, &mut clusters));
    json!({
        "node": { "id": format!("sidecar-{name}"), "cluster": name },
        "static_resources": { "listeners": listeners, "clusters": clusters.into_values().collect::<Vec<_>>() }
    })
}

/// Callers' traffic: mutual TLS per the service's mode, the end user's
/// token and the callers' authorization checked, then on to the app.
fn inbound_listener(
    model: &Model,
    schemas: &SchemaIndex,
    options: &Options,
    service: &Service,
    clusters: &mut BTreeMap<String, Value>,
) -> Value {
    let name = &service.name.value;
    let mode = model.mtls_mode(service);
    let inbound_cluster = format!("inbound.{name}");
    // Authentication (the end user's token), then authorization (the caller's identity).
    let token = service.require_token.as_ref().map(|t| service_token_filter(model, schemas, t.value));
    let rbac = service.authorization.as_ref().map_or(Vec::new(), |a| rbac_filters(model, model.mtls.as_ref(), a));
    let inbound_filters: Vec<Value> = token.into_iter().chain(rbac).collect();
    let mut inbound_manager = connection_manager(
        "inbound",
        &format!("inbound_{name}"),
        json!([{ "name": "inbound", "domains": ["*"], "routes": [{
            "match": { "prefix": "/" },
            // The caller's proxy owns timeouts and retries; the inbound side only forwards.
            "route": { "cluster": inbound_cluster, "timeout": "0s" }
        }]}]),
        inbound_filters,
    );
    let inbound_tls =
        model.mtls.as_ref().filter(|_| mode.accepts_tls()).map(|m| downstream_tls(m, options.cert_dir(m), name));
    if inbound_tls.is_some() {
        // The app learns who called: the caller's SPIFFE ID in `x-forwarded-client-cert`.
        let manager = &mut inbound_manager["typed_config"];
        manager["forward_client_cert_details"] = json!("SANITIZE_SET");
        manager["set_current_client_cert_details"] = json!({ "uri": true });
    }
    let mut inbound =
        listener("inbound", "0.0.0.0", service.sidecar.inbound.get(), inbound_manager.clone(), inbound_tls);
    if mode == MtlsMode::Permissive {
        // Callers without mTLS are served too, by a plaintext chain the TLS inspector picks.
        inbound["filter_chains"][0]["filter_chain_match"] = json!({ "transport_protocol": "tls" });
        inbound["filter_chains"].as_array_mut().expect("chains").push(json!({ "filters": [inbound_manager] }));
        inbound["listener_filters"] = json!([{
            "name": "envoy.filters.listener.tls_inspector",
            "typed_config": { "@type": TLS_INSPECTOR }
        }]);
    }
    if let Some((name, cluster)) = service.require_token.as_ref().and_then(|t| jwks_cluster_of(model.issuer(t.value))) {
        clusters.insert(name, cluster);
    }
    clusters.insert(
        inbound_cluster.clone(),
        static_cluster(&inbound_cluster, "127.0.0.1", service.address.value.port.get(), grpc_only(service)),
    );
    inbound
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
    // Calls grouped by callee, in the spec's order within each.
    let mut by_target: BTreeMap<String, (ServiceId, Vec<&Call>)> = BTreeMap::new();
    for call in &service.calls {
        let target = model.service(call.target.value);
        by_target.entry(target.name.value.clone()).or_insert((call.target.value, Vec::new())).1.push(call);
    }
    if by_target.is_empty() {
        return None;
    }
    let hosts: Vec<Value> = by_target
        .iter()
        .map(|(target_name, (target, calls))| {
            let callee = model.service(*target);
            let cluster = format!("outbound.{target_name}");
            let retries = calls.iter().filter_map(|c| service.call_retries(c)).chain(&service.call_defaults.retries);
            let tls = model.mtls.as_ref().filter(|_| model.mtls_between(Some(service), callee)).map(|m| {
                upstream_tls(m, options.cert_dir(m), name, &callee.identity, callee.address.value.host.as_str())
            });
            for (version, cluster_name) in callee_clusters(&cluster, callee) {
                let mut outbound = outbound_cluster(&cluster_name, callee, version);
                apply_retry_budget(&mut outbound, retries.clone());
                if let Some(tls) = &tls {
                    outbound["transport_socket"] = tls.clone();
                }
                clusters.insert(cluster_name, outbound);
            }
            let endpoint = &callee.address.value;
            let mut routes: Vec<Value> = calls
                .iter()
                .filter(|c| c.operation.is_some())
                .flat_map(|c| versioned_routes(route(model, service, callee, c, &cluster), callee))
                .collect();
            // The rest of the callee's traffic: a call without an operation, else the defaults.
            let rest = calls.iter().find(|c| c.operation.is_none());
            routes.extend(versioned_routes(catch_all(model, service, callee, rest.copied(), &cluster), callee));
            let mut domains = vec![
                target_name.clone(),
                format!("{target_name}:{}", endpoint.port),
                endpoint.host.as_str().to_string(),
                format!("{}:{}", endpoint.host, endpoint.port),
            ];
            // `address "cart" port=7070` for service `cart` names the same host
            // twice; Envoy refuses a virtual host listing a domain twice.
            let mut seen = std::collections::HashSet::new();
            domains.retain(|d| seen.insert(d.clone()));
            json!({ "name": target_name, "domains": domains, "routes": routes })
        })
        .collect();
    // One token exchange filter per (exchange, audience) the calls use, each off but on its calls' routes.
    let mut exchanges: BTreeMap<String, Value> = BTreeMap::new();
    for exchange in service.calls.iter().filter_map(|c| c.exchange_token.as_ref()) {
        let sts = model.token_exchange(exchange.exchange);
        let filter = token_exchange_filter(sts, &exchange.audience);
        exchanges.insert(filter["name"].as_str().unwrap_or_default().to_string(), filter);
        let (name, cluster) = token_exchange_cluster(sts);
        clusters.insert(name, cluster);
    }
    let filters = exchanges.into_values().collect();
    let manager = connection_manager("outbound", &format!("outbound_{name}"), Value::Array(hosts), filters);
    Some(listener("outbound", "127.0.0.1", service.sidecar.outbound.get(), manager, None))
}

/// A listener with one filter chain: `manager`, behind `tls` when given.
fn listener(name: &str, address: &str, port: u16, manager: Value, tls: Option<Value>) -> Value {
    let mut chain = json!({ "filters": [manager] });
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
            "safe_regex": { "regex": super::path_template_regex(path) },
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
    if let Some(exchange) = call.and_then(|c| c.exchange_token.as_ref()) {
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
    if let Some(policy) = retries {
        action["retry_policy"] = retry_policy(policy);
    }
    if let Some(hash) = hash_policy(&callee.traffic) {
        action["hash_policy"] = hash;
    }
    action
}

fn grpc_only(service: &Service) -> bool {
    !service.apis.is_empty() && service.apis.iter().all(|a| a.kind == ApiKind::Grpc)
}

fn outbound_cluster(name: &str, callee: &Service, version: Option<VersionId>) -> Value {
    let mut cluster = upstream_cluster(name, callee, version);
    if grpc_only(callee) {
        cluster["typed_extension_protocol_options"] = http2_options();
    }
    cluster
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
