//! Envoy v3 bootstrap per gateway: a listener per `listener`, one HTTP
//! connection manager with the gateway's routes, a cluster per (service,
//! protocol) the routes target, and local-reply mappers that render the
//! spec's error bodies for responses Envoy produces itself (404 no route,
//! 503 upstream unavailable, ...).

use std::collections::BTreeMap;

use base64::Engine as _;
use rayon::prelude::*;
use serde_json::{json, Value};

use super::api::{
    self, Any, Cluster, ExplicitHttpConfig, Filter, HeaderMatcher, HttpProtocolOptions, ProtocolOptions, Regex,
    RegexRewrite, RouteAction, RouteConfiguration, RouteMatch, StringMatcher, UpgradeConfig, VirtualHost,
};
use super::security as envoy_security;
use super::stats::{grpc_stats_filter, GrpcMethodSet};
use super::tls::upstream_tls;
use super::{
    apply_retry_budget, callee_clusters, custom_response_filter, fail_over, hash_policy, header_matcher, retry_policy,
    static_fallback, upstream_cluster, version_cluster, CUSTOM_RESPONSE, HCM, ROUTER,
};
use crate::emit::{Artifact, Options, Unexpressed};
use crate::model::api_versions::VersionSelector;
use crate::model::identity::gateway_workload;
use crate::model::traffic::{FallbackKind, RetryPolicy, VersionId};
use crate::model::values::{ApiKind, ErrorBodyFormat, Operation};
use crate::model::{
    self, ErrorFormat, Forward, Gateway, HeaderTransform, Model, PathMatch, PathRewrite, PortId, Redirect,
    RedirectCode, RedirectPath, Route, RouteTimeout, ServiceId, VirtualHostId,
};
use crate::schema::SchemaIndex;

/// Request header the gateway sets on routed requests so error mappers can
/// tell which route's error format applies.
const ROUTE_HEADER: &str = "x-meshc-route";
const CACHE_FILTER: &str = "envoy.filters.http.cache";
const CACHE_CONFIG: &str = "type.googleapis.com/envoy.extensions.filters.http.cache.v3.CacheConfig";
const SIMPLE_CACHE: &str = "type.googleapis.com/envoy.extensions.http.cache.simple_http_cache.v3.SimpleHttpCacheConfig";
const HEADER_MUTATION_FILTER: &str = "envoy.filters.http.header_mutation";
const HEADER_MUTATION: &str = "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation";
const HEADER_MUTATION_PER_ROUTE: &str =
    "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutationPerRoute";
const UPSTREAM_CODEC: &str = "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec";
const TRANSCODER_FILTER: &str = "envoy.filters.http.grpc_json_transcoder";
const TRANSCODER: &str = "type.googleapis.com/envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder";
const EXT_AUTHZ_FILTER: &str = "envoy.filters.http.ext_authz";
const EXT_AUTHZ: &str = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz";
const EXT_AUTHZ_PER_ROUTE: &str = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute";
/// The request validator's cluster; service names hold no dots, so it cannot clash.
pub(super) const VALIDATOR_CLUSTER: &str = "meshc.validator";
const FILTER_CONFIG: &str = "type.googleapis.com/envoy.config.route.v3.FilterConfig";

pub fn emit(
    model: &Model,
    schemas: &SchemaIndex,
    options: &Options,
    unexpressed: &mut Vec<Unexpressed>,
) -> Vec<Artifact> {
    unexpressed.extend(uncached_versions(model));
    unexpressed.extend(unexpressed_fallbacks(model));
    if !model.gateways.is_empty() {
        super::tracing::unexpressed(model, "the gateways", unexpressed);
    }
    model
        .gateways
        .par_iter()
        .flat_map_iter(|g| super::xds::proxy_files(model, options, g.name.span, bootstrap(model, schemas, options, g)))
        .collect()
}

/// Upstream protocol of a cluster: gRPC needs HTTP/2.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Protocol {
    Http,
    Grpc,
}

/// What distinguishes the clusters of one gateway: the service, the
/// protocol, and for cached routes the TTL, which the cluster's upstream
/// filters stamp on responses (the cache filter fetches misses through the
/// upstream filter chain only, so that is where the TTL must be set).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct ClusterKey {
    service: ServiceId,
    port: PortId,
    protocol: Protocol,
    cache_seconds: Option<u128>,
}

impl ClusterKey {
    fn of(model: &Model, forward: &Forward) -> ClusterKey {
        let protocol = match forward.operation.as_ref().map(|o| o.value.kind()) {
            Some(ApiKind::Grpc) => Protocol::Grpc,
            _ => Protocol::Http,
        };
        let cache_seconds = forward.cache.as_ref().map(|ttl| ttl.value.as_millis().div_ceil(1000));
        let target = model.service(forward.target.value);
        // Routes to a service without an HTTP port are refused by the checks.
        let port = target.route_port(forward.operation.as_ref().map(|o| &o.value));
        ClusterKey { service: forward.target.value, port, protocol, cache_seconds }
    }

    /// The cluster of the route's fallback service, if it has one: the
    /// route's protocol, without a TTL stamp of its own (the aggregate in
    /// front of it stamps a cached route's).
    fn fallback(model: &Model, forward: &Forward) -> Option<ClusterKey> {
        let Some(FallbackKind::Service { target, port }) = forward.fallback.as_ref().map(|f| &f.kind) else {
            return None;
        };
        let protocol = ClusterKey::of(model, forward).protocol;
        Some(ClusterKey { service: target.value, port: *port, protocol, cache_seconds: None })
    }

    /// `SERVICE[.PORT].PROTOCOL[.ttl-Ns]` (the port for services with
    /// several); service and port names hold no dots, so names never collide.
    fn name(self, model: &Model) -> String {
        let protocol = match self.protocol {
            Protocol::Http => "http",
            Protocol::Grpc => "grpc",
        };
        let target = model.service(self.service);
        let service = match target.address.as_ref().is_some_and(|a| a.value.ports.len() > 1) {
            true => format!("{}.{}", target.name.value, target.port(self.port).label()),
            false => target.name.value.clone(),
        };
        match self.cache_seconds {
            Some(ttl) => format!("{service}.{protocol}.ttl-{ttl}s"),
            None => format!("{service}.{protocol}"),
        }
    }
}

/// The gateway's listeners are not typed yet: they are JSON values.
fn bootstrap<'a>(
    model: &'a Model,
    schemas: &SchemaIndex,
    options: &'a Options,
    gateway: &'a Gateway,
) -> api::Bootstrap<'a, Value> {
    let optional = OptionalFilters {
        cache: forwards(gateway).any(|f| f.cache.is_some()),
        transcoder: forwards(gateway).any(|f| f.transcode.is_some()),
        validator: validating(gateway),
    };
    // The aggregate clusters failing routes over to their fallback services.
    let mut failovers: BTreeMap<String, Cluster> = BTreeMap::new();
    let route_config = RouteConfiguration {
        // Hosts match whatever port the client wrote (`Host: api.example.com:8080`); the header keeps it.
        ignore_port_in_host_matching: !gateway.virtual_hosts.is_empty(),
        name: gateway.name.value.as_str().into(),
        virtual_hosts: virtual_hosts(model, gateway, optional, &mut failovers),
    };
    // The gateway's connection manager is not typed yet: its route config joins it as a JSON value.
    let route_config = serde_json::to_value(&route_config).expect("a route config serializes");
    let mappers = local_reply_mappers(gateway);
    let grpc = grpc_routes(model, gateway);
    let filters = http_filters(model, schemas, gateway, &grpc);
    // Envoy stamps `server: envoy` after all filters; a route that removes or
    // renames `server` needs it to pass the upstream's header through instead.
    let touches_server = gateway.routes.iter().flat_map(|r| &r.response).any(|t| match t {
        HeaderTransform::Remove { name } | HeaderTransform::Rename { from: name, .. } => name.as_str() == "server",
        HeaderTransform::Set { .. } => false,
    });
    let server_header = if touches_server { "PASS_THROUGH" } else { "OVERWRITE" };
    let mut access_logs = envoy_security::access_logs(model, gateway);
    access_logs.extend(
        super::tracing::access_logs(model).iter().map(|l| serde_json::to_value(l).expect("an access log serializes")),
    );
    // The gateway starts the traces of the requests it takes (unless a caller sent a sampling decision).
    let tracer = gateway
        .trace_sampling(model)
        .and_then(|sampling| super::tracing::tracer(model, gateway.trace_name(), sampling))
        .map(|t| serde_json::to_value(&t).expect("a tracer serializes"));
    let mut listeners: Vec<Value> = gateway
        .listeners
        .iter()
        .map(|l| {
            let mut listener = json!({
                "name": l.name.value,
                "address": { "socket_address": { "address": l.address.to_string(), "port_value": l.port.get() } },
                "filter_chains": [{
                    "filters": [{
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": HCM,
                            "stat_prefix": format!("{}_{}", gateway.name.value, l.name.value),
                            "codec_type": "AUTO",
                            // Routes match the path as the upstream reads it: `..` and `//`
                            // resolved, an escaped slash refused (no prefix route can be
                            // escaped into another's path).
                            "normalize_path": true,
                            "merge_slashes": true,
                            "path_with_escaped_slashes_action": "REJECT_REQUEST",
                            "route_config": route_config,
                            "http_filters": filters,
                            "local_reply_config": { "mappers": mappers },
                            "server_header_transformation": server_header
                        }
                    }]
                }]
            });
            let hcm = &mut listener["filter_chains"][0]["filters"][0]["typed_config"];
            if !access_logs.is_empty() {
                hcm["access_log"] = json!(access_logs);
            }
            if envoy_security::keys_by_client_address(gateway) {
                hcm["use_remote_address"] = json!(true);
            }
            if let Some(tracer) = &tracer {
                hcm["tracing"] = tracer.clone();
            }
            listener
        })
        .collect();
    // One cluster per (service, protocol, cache TTL) and version in name order.
    // The routes' retry policies by cluster key: their budgets share the clusters.
    let mut retries: BTreeMap<ClusterKey, Vec<&RetryPolicy>> = BTreeMap::new();
    // The deployment versions API versions run on, by the cluster key whose name they extend.
    let mut deployments: BTreeMap<ClusterKey, std::collections::BTreeSet<VersionId>> = BTreeMap::new();
    // Fallback services' clusters: the whole service's is what an aggregate cluster names.
    let mut fallbacks = std::collections::BTreeSet::new();
    for forward in forwards(gateway) {
        let key = ClusterKey::of(model, forward);
        retries.entry(key).or_default().extend(&forward.retries);
        if let Some(fallback) = ClusterKey::fallback(model, forward) {
            retries.entry(fallback).or_default();
            fallbacks.insert(fallback);
        }
        if let Some(versions) = &forward.api_versions {
            let api = &model.service(forward.target.value).apis[versions.api().index()];
            deployments
                .entry(key)
                .or_default()
                .extend(api.versions.iter().filter_map(|v| v.deployment.as_ref()).map(|d| d.value));
        }
    }
    let mut clusters: BTreeMap<String, Cluster> = BTreeMap::new();
    // Clusters stamping a cache TTL on responses (their upstream filters).
    let mut cached = std::collections::BTreeSet::new();
    for (key, policies) in &retries {
        let base = key.name(model);
        let callee = model.service(key.service);
        let mut names = callee_clusters(&base, callee);
        if fallbacks.contains(key) && names.iter().all(|(version, _)| version.is_some()) {
            names.insert(0, (None, base.clone()));
        }
        for &version in deployments.get(key).into_iter().flatten() {
            names.push((Some(version), version_cluster(&base, callee, version)));
        }
        for (version, name) in names {
            let mut cluster = cluster(model, *key, version, &name);
            // Services that accept mutual TLS get it, with the gateway's certificate.
            let callee = model.service(key.service);
            if let Some(mtls) = model.mtls.as_ref().filter(|_| model.mtls_between(None, callee)) {
                let workload = gateway_workload(&gateway.name.value);
                let host = callee.host().map_or("", |h| h.as_str());
                let tls = upstream_tls(mtls, options.cert_dir(mtls), workload, &callee.identity(), host);
                cluster.transport_socket = Some(tls);
            }
            apply_retry_budget(&mut cluster, policies.iter().copied());
            if key.cache_seconds.is_some() {
                cached.insert(name.clone());
            }
            clusters.insert(name, cluster);
        }
    }
    // The router runs the upstream filters of the cluster a route names: an
    // aggregate in front of a cached cluster stamps its TTL too (on the
    // fallback's answers as well, which the route's cache then keeps).
    for (name, mut aggregate) in failovers {
        let primary = aggregate.cluster_type.as_ref().and_then(|t| t.typed_config.clusters.first());
        if let Some(primary) = primary.map(|p| p.to_string()).filter(|p| cached.contains(p)) {
            aggregate.typed_extension_protocol_options = clusters[&primary].typed_extension_protocol_options.clone();
        }
        clusters.insert(name, aggregate);
    }
    clusters.extend(envoy_security::clusters(model, gateway));
    clusters.extend(super::tracing::collector_cluster(model));
    if let (Some(validator), true) = (&gateway.validator, validating(gateway)) {
        let mut cluster =
            Cluster::single_host(VALIDATOR_CLUSTER, validator.value.host.as_str(), validator.value.port.get());
        // Resolved by DNS even at an IP address (Envoy accepts both).
        cluster.discovery = "STRICT_DNS";
        clusters.insert(VALIDATOR_CLUSTER.to_string(), cluster);
    }
    let monitored = super::stats::monitored(model, crate::emit::stats::gateway_admin_port(model, gateway), &grpc);
    let (admin, stats_config) = match monitored {
        Some(m) => {
            listeners.push(serde_json::to_value(&m.listener).expect("a listener serializes"));
            clusters.insert(super::stats::ADMIN_CLUSTER.to_string(), m.cluster);
            (Some(m.admin), Some(m.stats))
        }
        None => (None, None),
    };
    api::Bootstrap {
        admin,
        node: api::Node { cluster: model.name.as_str().into(), id: format!("gateway-{}", gateway.name.value) },
        static_resources: api::StaticResources { clusters: clusters.into_values().collect(), listeners },
        stats_config,
    }
}

/// Filters of a gateway's chain that routes not using them switch off.
#[derive(Clone, Copy)]
struct OptionalFilters {
    cache: bool,
    transcoder: bool,
    validator: bool,
}

/// Whether the gateway asks a request validator (some route validates and the validator is declared).
pub(super) fn validating(gateway: &Gateway) -> bool {
    gateway.validator.is_some() && forwards(gateway).any(|f| f.validate.is_some())
}

/// The forwarding settings of the gateway's routes that forward.
fn forwards(gateway: &Gateway) -> impl Iterator<Item = &Forward> {
    gateway.routes.iter().filter_map(Route::forward)
}

/// One virtual host per `host` block with its routes, then the catch-all
/// `*` with the routes outside any block (the only one when the gateway has
/// no `host` block). Envoy picks the virtual host by the request's host
/// first, then the route in order. A domain is in one block only
/// (checked), so Envoy's domains stay unique.
fn virtual_hosts<'a>(
    model: &'a Model,
    gateway: &'a Gateway,
    optional: OptionalFilters,
    failovers: &mut BTreeMap<String, Cluster<'a>>,
) -> Vec<VirtualHost<'a>> {
    let mut out: Vec<VirtualHost> = Vec::new();
    for (id, vhost) in gateway.virtual_hosts_with_ids() {
        let domains: Vec<api::Str> = vhost.domains.iter().map(|d| d.value.to_string().into()).collect();
        out.push(VirtualHost {
            name: format!("{}:{}", gateway.name.value, domains.first().map_or("", |d| d.as_ref())).into(),
            domains,
            routes: routes_of(model, gateway, Some(id), optional, failovers),
        });
    }
    out.push(VirtualHost {
        domains: vec!["*".into()],
        name: gateway.name.value.as_str().into(),
        routes: routes_of(model, gateway, None, optional, failovers),
    });
    out
}

/// The Envoy routes of the gateway's routes in virtual host `id` (`None`:
/// outside any `host` block). A route with a fallback service names an
/// aggregate cluster per cluster it sends to (added to `failovers`); the
/// other routes to the service keep its shared cluster.
fn routes_of<'a>(
    model: &'a Model,
    gateway: &'a Gateway,
    id: Option<VirtualHostId>,
    optional: OptionalFilters,
    failovers: &mut BTreeMap<String, Cluster<'a>>,
) -> Vec<api::Route<'a>> {
    let mut out = Vec::new();
    for r in gateway.routes.iter().filter(|r| r.virtual_host == id) {
        let Some(forward) = r.forward() else {
            out.push(route(model, gateway, r, optional));
            continue;
        };
        let mut routes = super::version_routes::routes(model, r, forward, route(model, gateway, r, optional));
        if let Some(fallback) = ClusterKey::fallback(model, forward) {
            let fallback = fallback.name(model);
            for variant in &mut routes {
                fail_over(variant, &fallback, failovers);
            }
        }
        out.extend(routes);
    }
    out
}

fn route<'a>(model: &'a Model, gateway: &Gateway, route: &'a Route, optional: OptionalFilters) -> api::Route<'a> {
    let mut matcher = match &route.matcher.path {
        PathMatch::Exact(p) => RouteMatch::path(p.as_str()),
        PathMatch::Prefix(p) => RouteMatch::prefix(p.as_str()),
    };
    if let Some(method) = route.matcher.method {
        matcher.headers.push(HeaderMatcher::string(":method", StringMatcher::exact(method.as_str())));
    }
    matcher.headers.extend(route.matcher.headers.iter().map(header_matcher));
    let mut per_filter = serde_json::Map::new();
    let mut out = api::Route::new(route.name.value.as_str(), matcher);
    if model.monitoring.is_some() {
        // Each route its own series: `envoy_route` is the spec's route name.
        out.stat_prefix = Some(route.name.value.as_str().into());
    }
    match &route.action {
        model::RouteAction::Forward(forward) => {
            let mut action = forward_action(model, forward);
            envoy_security::route(model, gateway, route, Some(&mut action), &mut per_filter);
            out.route = Some(action);
        }
        model::RouteAction::Redirect(redirect) => {
            envoy_security::route(model, gateway, route, None, &mut per_filter);
            out.redirect = Some(redirect_action(redirect));
        }
    }
    if route.errors.is_some() {
        out.request_headers_to_add = Some(json!([{
            "header": { "key": ROUTE_HEADER, "value": literal(&route.name.value) },
            "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"
        }]));
    }
    let mutations = response_mutations(route);
    if !mutations.is_empty() {
        per_filter.insert(
            HEADER_MUTATION_FILTER.into(),
            json!({
                "@type": HEADER_MUTATION_PER_ROUTE,
                "mutations": { "response_mutations": mutations }
            }),
        );
    }
    let forward = route.forward();
    if optional.cache && forward.is_none_or(|f| f.cache.is_none()) {
        per_filter.insert(CACHE_FILTER.into(), json!({ "@type": FILTER_CONFIG, "disabled": true }));
    }
    if optional.validator && forward.is_none_or(|f| f.validate.is_none()) {
        per_filter.insert(EXT_AUTHZ_FILTER.into(), json!({ "@type": EXT_AUTHZ_PER_ROUTE, "disabled": true }));
    }
    if optional.transcoder && forward.is_none_or(|f| f.transcode.is_none()) {
        per_filter.insert(TRANSCODER_FILTER.into(), json!({ "@type": FILTER_CONFIG, "disabled": true }));
    }
    // The gateway's per-route configs are not typed yet.
    out.typed_per_filter_config =
        per_filter.into_iter().map(|(name, config)| (name.into(), Any::Json(config))).collect();
    if let Some(FallbackKind::Static(response)) = forward.and_then(|f| f.fallback.as_ref()).map(|f| &f.kind) {
        out.typed_per_filter_config.insert(CUSTOM_RESPONSE.into(), static_fallback(response));
    }
    out
}

/// Route fallbacks the gateway does not express: stale responses (Envoy's
/// cache does not serve them when the upstream fails).
fn unexpressed_fallbacks(model: &Model) -> Vec<Unexpressed> {
    let mut out = Vec::new();
    for gateway in &model.gateways {
        for route in &gateway.routes {
            let Some(fallback) = route.forward().and_then(|f| f.fallback.as_ref()) else { continue };
            if let FallbackKind::Stale { .. } = fallback.kind {
                out.push(Unexpressed::new(
                    fallback.span,
                    "this fallback",
                    format!("gateway `{}` is built without it", gateway.name.value),
                    "Envoy 1.40's HTTP cache does not serve stale responses when the upstream fails (no `stale-if-error`); use a static fallback or a fallback service",
                ));
            }
        }
    }
    out
}

/// A forwarding route's `RouteAction`: cluster, timeouts, retries, rewrites, upgrades.
fn forward_action<'a>(model: &'a Model, forward: &'a Forward) -> RouteAction<'a> {
    let mut action = RouteAction {
        cluster: Some(ClusterKey::of(model, forward).name(model).into()),
        timeout: match forward.timeout {
            Some(RouteTimeout::After(timeout)) => Some(timeout.to_proto_json().into()),
            // Zero turns the route's timeout off.
            Some(RouteTimeout::Never) => Some("0s".into()),
            None => None,
        },
        idle_timeout: forward.idle_timeout.as_ref().map(|idle| idle.value.to_proto_json()),
        retry_policy: forward.retries.as_ref().map(retry_policy),
        hash_policy: hash_policy(&model.service(forward.target.value).traffic),
        host_rewrite_literal: forward.rewrite.host.as_ref().map(|host| host.value.as_str().into()),
        ..RouteAction::default()
    };
    match forward.rewrite.path.as_ref().map(|p| &p.value) {
        Some(PathRewrite::Prefix(prefix)) => action.prefix_rewrite = Some(prefix.as_str().into()),
        Some(PathRewrite::Regex(regex)) => {
            action.regex_rewrite = Some(RegexRewrite {
                pattern: Regex { regex: regex.pattern().to_string() },
                substitution: regex.substitution().to_string().into(),
            });
        }
        None => {}
    }
    if forward.websocket.is_some() {
        action.upgrade_configs = vec![UpgradeConfig { upgrade_type: "websocket" }];
    }
    action
}

/// A redirecting route's `RedirectAction`.
fn redirect_action(redirect: &Redirect) -> Value {
    let mut action = json!({ "response_code": match redirect.code {
        RedirectCode::MovedPermanently => "MOVED_PERMANENTLY",
        RedirectCode::Found => "FOUND",
        RedirectCode::SeeOther => "SEE_OTHER",
        RedirectCode::TemporaryRedirect => "TEMPORARY_REDIRECT",
        RedirectCode::PermanentRedirect => "PERMANENT_REDIRECT",
    }});
    match redirect.path.as_ref().map(|p| &p.value) {
        Some(RedirectPath::Exact(path)) => action["path_redirect"] = json!(path),
        Some(RedirectPath::Prefix(prefix)) => action["prefix_rewrite"] = json!(prefix),
        None => {}
    }
    if let Some(host) = &redirect.host {
        action["host_redirect"] = json!(host.as_str());
    }
    if let Some(scheme) = redirect.scheme {
        action["scheme_redirect"] = json!(scheme.as_str());
    }
    if let Some(port) = redirect.port {
        action["port_redirect"] = json!(port.get());
    }
    if redirect.strip_query {
        action["strip_query"] = json!(true);
    }
    action
}

/// Authentication, authorization and rate limits (envoy_security), request
/// validation (ext_authz), header mutation, gRPC statistics, the gRPC-JSON
/// transcoder, the cache, then the router.
/// The cache fetches misses through the upstream filter chain only, so
/// nothing but the router may sit after it; transforms before it apply to
/// hits and misses alike; transcoded requests reach it as gRPC POSTs and are
/// never cached. Filters are listed only when some route uses them.
fn http_filters(model: &Model, schemas: &SchemaIndex, gateway: &Gateway, grpc: &GrpcMethodSet) -> Vec<Value> {
    // Who the client is, what it may do and how often, before anything else looks at the request.
    let mut filters = envoy_security::http_filters(model, schemas, gateway);
    // Validation first: it judges the request as the client sent it.
    if validating(gateway) {
        filters.push(json!({ "name": EXT_AUTHZ_FILTER, "typed_config": {
            "@type": EXT_AUTHZ,
            "transport_api_version": "V3",
            "failure_mode_allow": false,
            "with_request_body": { "max_request_bytes": 1_048_576, "allow_partial_message": false, "pack_as_bytes": true },
            "http_service": {
                "server_uri": { "uri": format!("http://{VALIDATOR_CLUSTER}"), "cluster": VALIDATOR_CLUSTER, "timeout": "1s" }
            },
            // Every request header reaches the validator (header parameters, content-type).
            "allowed_headers": { "patterns": [{ "safe_regex": { "regex": ".*" } }] }
        }}));
    }
    if gateway.routes.iter().any(|r| !r.response.is_empty()) {
        filters.push(
            json!({ "name": HEADER_MUTATION_FILTER, "typed_config": { "@type": HEADER_MUTATION, "mutations": {} } }),
        );
    }
    // Static fallbacks replace what the filters after it (transcoder, cache, router) answered.
    if forwards(gateway).any(|f| f.fallback.as_ref().is_some_and(|f| matches!(f.kind, FallbackKind::Static(_)))) {
        filters.push(serde_json::to_value(custom_response_filter()).expect("a filter serializes"));
    }
    // gRPC statuses of the native gRPC routes, before the transcoder makes REST requests gRPC.
    if !grpc.is_empty() {
        filters.push(serde_json::to_value(grpc_stats_filter(grpc)).expect("a filter serializes"));
    }
    if let Some(transcoder) = transcoder(model, schemas, gateway) {
        filters.push(transcoder);
    }
    if forwards(gateway).any(|f| f.cache.is_some()) {
        filters.push(json!({ "name": CACHE_FILTER, "typed_config": {
            "@type": CACHE_CONFIG,
            "typed_config": { "@type": SIMPLE_CACHE }
        }}));
    }
    filters.push(json!({ "name": "envoy.filters.http.router", "typed_config": { "@type": ROUTER } }));
    filters
}

/// The gRPC methods the gateway's native gRPC routes forward, when the mesh is monitored.
fn grpc_routes<'a>(model: &Model, gateway: &'a Gateway) -> GrpcMethodSet<'a> {
    let mut methods = GrpcMethodSet::new();
    if model.monitoring.is_some() {
        for (service, method) in forwards(gateway).filter_map(crate::emit::stats::grpc_route) {
            methods.entry(service).or_default().insert(method);
        }
    }
    methods
}

/// Envoy's gRPC-JSON transcoder for the gateway's `transcode` routes, with
/// the descriptors of their schemas embedded (`proto_descriptor_bin`), so
/// the bootstrap needs no file beside it. Routes are matched on the
/// incoming REST path, so the spec's routes decide the upstream.
fn transcoder(model: &Model, schemas: &SchemaIndex, gateway: &Gateway) -> Option<Value> {
    let mut services = std::collections::BTreeSet::new();
    let mut schema_ids = std::collections::BTreeSet::new();
    let mut declared = Vec::new();
    for forward in forwards(gateway) {
        let (Some(op), Some(transcode)) = (&forward.operation, &forward.transcode) else { continue };
        let Operation::Grpc { service, .. } = &op.value else { continue };
        services.insert(service.clone());
        // The schema of the API version the route names (else each API's own, or current version's).
        let version = forward.api_versions.as_ref().and_then(|v| v.one());
        for (i, api) in model.service(forward.target.value).apis.iter().enumerate() {
            if api.serves(&op.value) {
                let named = version.filter(|v| v.api.index() == i).map(|v| v.version);
                schema_ids.insert(api.schema_for(named));
            }
        }
        if let Some(rule) = &transcode.rule {
            declared.push((op.value.clone(), rule.value.clone()));
        }
    }
    if services.is_empty() {
        return None;
    }
    let descriptors = schemas.descriptor_set_with_bindings(&schema_ids.into_iter().collect::<Vec<_>>(), &declared);
    Some(json!({ "name": TRANSCODER_FILTER, "typed_config": {
        "@type": TRANSCODER,
        "proto_descriptor_bin": base64::engine::general_purpose::STANDARD.encode(descriptors),
        "services": services.into_iter().collect::<Vec<_>>(),
        "match_incoming_request_route": true,
        "convert_grpc_status": true,
        "print_options": {
            "add_whitespace": false,
            "always_print_primitive_fields": true,
            "preserve_proto_field_names": true
        }
    }}))
}

/// The route's response header transforms in the spec's order; a rename
/// copies, then removes.
fn response_mutations(route: &Route) -> Vec<Value> {
    route
        .response
        .iter()
        .flat_map(|transform| match transform {
            HeaderTransform::Set { name, value } => vec![set_header(name.as_str(), literal(value))],
            HeaderTransform::Remove { name } => vec![json!({ "remove": name.as_str() })],
            HeaderTransform::Rename { from, to } => {
                vec![set_header(to.as_str(), format!("%RESP({from})%")), json!({ "remove": from.as_str() })]
            }
        })
        .collect()
}

/// Cached routes to APIs whose versions a header picks: Envoy 1.40's cache
/// crashes the proxy on the first response it would key by a request
/// header (`allowed_vary_headers`), so their responses carry `vary` and
/// are not cached at all.
fn uncached_versions(model: &Model) -> Vec<Unexpressed> {
    let mut out = Vec::new();
    for gateway in &model.gateways {
        for route in &gateway.routes {
            let Some(forward) = route.forward() else { continue };
            let (Some(cache), headers) = (&forward.cache, version_headers(model.service(forward.target.value))) else {
                continue;
            };
            if headers.is_empty() {
                continue;
            }
            let names: Vec<String> = headers.iter().map(|h| format!("`{h}`")).collect();
            out.push(Unexpressed::new(
                cache.span,
                format!("the cache of route `{}`", route.name.value),
                "not cached by the gateway",
                format!(
                    "its API versions are picked by {}: Envoy 1.40's cache cannot key responses by a request header without crashing, so meshc marks them `vary` and Envoy stores none; pick versions by path prefix to cache them",
                    names.join(", ")
                ),
            ));
        }
    }
    out
}

/// The request headers that pick a version of one of `service`'s APIs
/// (`header=` names, `accept` for media types), in name order.
fn version_headers(service: &model::Service) -> std::collections::BTreeSet<&str> {
    let selectors = service.apis.iter().flat_map(|api| &api.versions).map(|v| &v.selector.value);
    selectors
        .filter_map(|selector| match selector {
            VersionSelector::Header { name, .. } => Some(name.as_str()),
            VersionSelector::MediaType(_) => Some("accept"),
            VersionSelector::PathPrefix(_) | VersionSelector::GrpcPackage(_) => None,
        })
        .collect()
}

fn set_header(name: &str, value: String) -> Value {
    json!({ "append": { "header": { "key": name, "value": value }, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD" } })
}

/// Envoy header values and bodies are format strings: `%` starts a command.
fn literal(text: &str) -> String {
    text.replace('%', "%%")
}

fn cluster<'a>(model: &'a Model, key: ClusterKey, version: Option<VersionId>, name: &str) -> Cluster<'a> {
    let mut cluster = upstream_cluster(name, model.service(key.service), key.port, version);
    let explicit_http_config = if key.protocol == Protocol::Grpc {
        Some(ExplicitHttpConfig::http2())
    } else {
        // The options message requires a protocol once it is present.
        key.cache_seconds.map(|_| ExplicitHttpConfig::http1())
    };
    let http_filters = key.cache_seconds.map_or(Vec::new(), |ttl| {
        let mut mutations = vec![
            set_header("cache-control", format!("public, max-age={ttl}")),
            // The cache computes freshness from `date`; supply it for origins that omit it.
            json!({ "append": {
                "header": { "key": "date", "value": "%START_TIME(%a, %d %b %Y %H:%M:%S GMT)%" },
                "append_action": "ADD_IF_ABSENT"
            }}),
        ];
        // Responses of APIs versioned by a header vary by it. The cache
        // stores no response whose `vary` names a header it is not allowed
        // to key by, so one version's response is never served for another's
        // (see `uncached_versions`).
        for header in version_headers(model.service(key.service)) {
            mutations.push(json!({ "append": {
                "header": { "key": "vary", "value": header },
                "append_action": "APPEND_IF_EXISTS_OR_ADD"
            }}));
        }
        let mutation = json!({ "@type": HEADER_MUTATION, "mutations": { "response_mutations": mutations }});
        vec![
            Filter::new(HEADER_MUTATION_FILTER, Any::Json(mutation)),
            Filter::new("envoy.filters.http.upstream_codec", Any::Json(json!({ "@type": UPSTREAM_CODEC }))),
        ]
    });
    if explicit_http_config.is_some() || !http_filters.is_empty() {
        let options = HttpProtocolOptions { explicit_http_config, http_filters };
        cluster.typed_extension_protocol_options = Some(ProtocolOptions::http(options));
    }
    cluster
}

/// Route-specific mappers first (they also match the route header), then the gateway's.
fn local_reply_mappers(gateway: &Gateway) -> Vec<Value> {
    let mut mappers = Vec::new();
    // Envoy sends the validator's rejections as local replies (flag UAEX); they
    // already carry the spec's error body with the violation's detail, so the
    // first mapper matches them and changes nothing.
    if validating(gateway) {
        mappers.push(json!({ "filter": { "response_flag_filter": { "flags": ["UAEX"] } } }));
    }
    // jwt_authn answers a token of another audience with 403; it is an invalid token (RFC 6750): 401.
    if let Some(filter) = envoy_security::rejected_token_filter(gateway) {
        let message = gateway.errors.statuses.iter().find(|s| s.status == 401).map_or("", |s| s.message.as_str());
        let mut mapper = mapper(filter, &gateway.errors, 401, message, &gateway.name.value, None);
        mapper["status_code"] = json!(401);
        mappers.push(mapper);
    }
    for route in &gateway.routes {
        if let Some(errors) = &route.errors {
            for s in &errors.statuses {
                let filter = json!({ "and_filter": { "filters": [
                    status_filter(s.status),
                    { "header_filter": { "header": { "name": ROUTE_HEADER, "string_match": { "exact": route.name.value } } } }
                ]}});
                mappers.push(mapper(
                    filter,
                    errors,
                    s.status,
                    &s.message,
                    &gateway.name.value,
                    Some(&route.name.value),
                ));
            }
        }
    }
    for s in &gateway.errors.statuses {
        mappers.push(mapper(status_filter(s.status), &gateway.errors, s.status, &s.message, &gateway.name.value, None));
    }
    mappers
}

fn status_filter(status: u16) -> Value {
    json!({ "status_code_filter": { "comparison": {
        "op": "EQ",
        "value": { "default_value": status, "runtime_key": format!("meshc.local_reply.{status}") }
    }}})
}

fn mapper(
    filter: Value,
    errors: &ErrorFormat,
    status: u16,
    message: &str,
    gateway: &str,
    route: Option<&str>,
) -> Value {
    let body = match errors.format {
        ErrorBodyFormat::Json => {
            let mut fields = json!({
                "status": "%RESPONSE_CODE%",
                "error": literal(message),
                "gateway": literal(gateway),
                "request_id": "%REQ(X-REQUEST-ID)%"
            });
            if let Some(route) = route {
                fields["route"] = json!(literal(route));
            }
            json!({ "json_format": fields })
        }
        ErrorBodyFormat::Text => json!({
            "text_format_source": { "inline_string": format!("{status} {}\n", literal(message)) },
            "content_type": "text/plain; charset=utf-8"
        }),
    };
    json!({ "filter": filter, "body_format_override": body })
}
