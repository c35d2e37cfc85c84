//! What a monitored mesh adds to every proxy (`monitoring`): the admin
//! endpoint on 127.0.0.1, a metrics listener on all addresses that serves
//! only `/stats/prometheus` from it (as Istio's port 15090 does), and the
//! request-time histogram buckets holding the spec's latency thresholds.

use super::api::{
    Address, Admin, Any, Cluster, Empty, Filter, FilterChain, HistogramBucketSettings, HttpConnectionManager,
    Listener, Regex, Route, RouteAction, RouteConfiguration, RouteMatch, StatsConfig, StringMatcher, VirtualHost,
};
use crate::emit::stats::latency_buckets_ms;
use crate::model::Model;

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

pub fn monitored<'a>(model: &Model, admin_port: Option<u16>) -> Option<Monitored<'a>> {
    let monitoring = model.monitoring.as_ref()?;
    let admin_port = admin_port?;
    let mut route = Route::new("metrics", RouteMatch::path(METRICS_PATH));
    route.route = Some(RouteAction { cluster: Some(ADMIN_CLUSTER.into()), ..RouteAction::default() });
    let host = VirtualHost { domains: vec!["*".into()], name: "metrics".into(), routes: vec![route] };
    let manager = HttpConnectionManager {
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
        },
    })
}
