//! What a monitored mesh adds to every proxy (`monitoring`): the admin
//! endpoint on 127.0.0.1, a metrics listener on all addresses that serves
//! only `/stats/prometheus` from it (as Istio's port 15090 does), the
//! request-time histogram buckets holding the spec's latency thresholds,
//! and on proxies carrying gRPC the `grpc_stats` filter with the tags that
//! make its counters one metric (`emit::stats::GRPC_RESPONSES`).

use std::collections::{BTreeMap, BTreeSet};

use super::api::{
    Address, Admin, Any, Cluster, Empty, Filter, FilterChain, GrpcMethodList, GrpcMethods, GrpcStats,
    HistogramBucketSettings, HttpConnectionManager, Listener, Regex, Route, RouteAction, RouteConfiguration,
    RouteMatch, StatsConfig, StringMatcher, TagSpecifier, VirtualHost,
};
use crate::emit::stats::{
    latency_buckets_ms, ACTIVE_REQUESTS_CLUSTER, GRPC_CLUSTER, GRPC_METHOD, GRPC_SERVICE, GRPC_STATUS,
};
use crate::model::Model;
use crate::schema::SchemaIndex;

/// The cluster the metrics listener forwards to: the proxy's own admin
/// endpoint. Service names hold no dots, so it cannot clash.
pub const ADMIN_CLUSTER: &str = "meshc.admin";
/// The metrics listener's name.
pub const METRICS_LISTENER: &str = "meshc.metrics";
/// The only path the metrics listener serves.
pub const METRICS_PATH: &str = "/stats/prometheus";

/// The pieces of a monitored proxy: `None` when the mesh has no `monitoring`.
pub struct Monitored<'a> {
    pub admin: Admin<'a>,
    pub listener: Listener<'a>,
    pub cluster: Cluster<'a>,
    pub stats: StatsConfig<'a>,
}

/// `grpc`: the gRPC methods the proxy's `grpc_stats` filters count one by one.
pub fn monitored<'a>(model: &Model, admin_port: Option<u16>, grpc: &GrpcMethodSet) -> Option<Monitored<'a>> {
    let monitoring = model.monitoring.as_ref()?;
    let admin_port = admin_port?;
    let mut route = Route::new("metrics", RouteMatch::path(METRICS_PATH));
    route.route = Some(RouteAction { cluster: Some(ADMIN_CLUSTER.into()), ..RouteAction::default() });
    let host = VirtualHost { domains: vec!["*".into()], name: "metrics".into(), routes: vec![route] };
    let manager = HttpConnectionManager {
        access_log: Vec::new(),
        codec_type: "AUTO",
        forward_client_cert_details: None,
        http_filters: vec![Filter::new("envoy.filters.http.router", Any::Router(Empty {}))],
        route_config: RouteConfiguration {
            ignore_port_in_host_matching: false,
            name: "metrics".into(),
            virtual_hosts: vec![host],
        },
        set_current_client_cert_details: None,
        stat_prefix: "metrics".into(),
        tracing: None,
    };
    let listener = Listener {
        address: Address::socket("0.0.0.0", monitoring.metrics_port.get()),
        filter_chains: vec![FilterChain {
            filter_chain_match: None,
            filters: vec![Filter::new(
                "envoy.filters.network.http_connection_manager",
                Any::HttpConnectionManager(Box::new(manager)),
            )],
            transport_socket: None,
        }],
        listener_filters: Vec::new(),
        name: METRICS_LISTENER.into(),
        traffic_direction: None,
    };
    let buckets = std::iter::once(0.5).chain(latency_buckets_ms(model).into_iter().map(|ms| ms as f64)).collect();
    Some(Monitored {
        admin: Admin { address: Address::socket("127.0.0.1", admin_port) },
        listener,
        cluster: Cluster::single_host(ADMIN_CLUSTER, "127.0.0.1", admin_port),
        stats: StatsConfig {
            histogram_bucket_settings: vec![HistogramBucketSettings {
                buckets,
                matcher: StringMatcher {
                    safe_regex: Some(Regex { regex: ".*_rq_time".into() }),
                    ..StringMatcher::default()
                },
            }],
            stats_tags: std::iter::once(active_requests_tag()).chain(grpc_tags(grpc)).collect(),
        },
    })
}

/// gRPC methods by service.
pub type GrpcMethodSet<'a> = BTreeMap<&'a str, BTreeSet<&'a str>>;

/// The methods of the gRPC APIs `service` serves on `port` (every port when `None`), per their schemas.
pub fn served_grpc_methods<'a>(
    schemas: &'a SchemaIndex,
    service: &'a crate::model::Service,
    port: Option<crate::model::PortId>,
    into: &mut GrpcMethodSet<'a>,
) {
    for api in service.apis.iter().filter(|a| port.is_none_or(|p| a.port == p)) {
        // What `Api::serves` admits of gRPC operations: those of the one
        // service the API names, else all when it is a gRPC API.
        if api.grpc_service.is_none() && api.kind != crate::model::values::ApiKind::Grpc {
            continue;
        }
        let ids = std::iter::once(api.schema).chain(api.versions.iter().map(|v| v.schema));
        for schema in ids.filter_map(|id| schemas.get(id)) {
            let mut methods = schema
                .grpc_methods()
                .filter(|(s, _)| api.grpc_service.as_ref().is_none_or(|only| only.value == *s))
                .peekable();
            // Sorted by service: each service is looked up once for all its methods.
            while let Some((grpc_service, first)) = methods.next() {
                let rest = std::iter::from_fn(|| methods.next_if(|(s, _)| *s == grpc_service).map(|(_, m)| m));
                into.entry(grpc_service).or_default().extend(std::iter::once(first).chain(rest));
            }
        }
    }
}

/// The `grpc_stats` filter counting `methods` one by one (others
/// together): an allowlist, so callers cannot grow the stats without bound.
pub fn grpc_stats_filter<'b>(methods: &GrpcMethodSet) -> Filter<'b> {
    let services = methods
        .iter()
        .map(|(service, methods)| GrpcMethods {
            method_names: methods.iter().map(|m| m.to_string().into()).collect(),
            name: service.to_string().into(),
        })
        .collect();
    Filter::new(
        "envoy.filters.http.grpc_stats",
        Any::GrpcStats(GrpcStats { individual_method_stats_allowlist: GrpcMethodList { services } }),
    )
}

/// The tag naming the whole cluster of `cluster.CLUSTER.upstream_rq_active`:
/// the stat's fixed ending marks where the dotted name ends.
fn active_requests_tag() -> TagSpecifier {
    TagSpecifier { regex: r"^cluster\.((.+)\.)upstream_rq_active$".into(), tag_name: ACTIVE_REQUESTS_CLUSTER }
}

/// Tags turning `cluster.CLUSTER.grpc[.SERVICE.METHOD].STATUS` into the
/// counter `cluster` (`envoy_cluster`) with the four as labels. Envoy's own
/// tags take one dot-free token for the cluster and the service, and
/// cluster names (`inbound.orders`) and services (`shop.v1.Orders`) hold
/// dots, so the services are spelled out: the status is the last token,
/// the method the one before, and the cluster ends where `.grpc.` meets a
/// known service. The `.grpc.` goes with the cluster: at a gateway, whose
/// gRPC clusters are `SERVICE.grpc`, Envoy's `envoy.grpc_bridge_*` tags
/// cut a `grpc.` too, so only without it is the name the same everywhere.
fn grpc_tags(grpc: &GrpcMethodSet) -> Vec<TagSpecifier> {
    if grpc.is_empty() {
        return Vec::new();
    }
    let services = grpc.keys().map(|s| regex_literal(s)).collect::<Vec<_>>().join("|");
    let tag = |tag_name, regex: String| TagSpecifier { regex, tag_name };
    vec![
        tag(GRPC_CLUSTER, format!(r"^cluster\.((.+)\.grpc\.)(?:(?:{services})\.[^.]+\.)?\d+$")),
        tag(GRPC_SERVICE, format!(r"^cluster\..+\.grpc(\.({services}))\.[^.]+\.\d+$")),
        tag(GRPC_METHOD, format!(r"^cluster\..+\.grpc\.(?:{services})(\.([^.]+))\.\d+$")),
        tag(GRPC_STATUS, format!(r"^cluster\..+\.grpc(?:\.(?:{services})\.[^.]+)?(\.(\d+))$")),
    ]
}

/// A RE2 literal: proto names are letters, digits, `_` and `.`.
fn regex_literal(text: &str) -> String {
    text.replace('.', r"\.")
}
