//! The Envoy engine: its backends (`gateway`, `sidecar`, `ratelimit`), the
//! pieces they share for mutual TLS and authorization (`tls`) and for end
//! users' tokens and rate limits (`security`), and, here, what both proxy
//! backends emit the same way: retry policies, a callee's traffic policy on
//! its cluster, and the route hash policy ring-hash balancing needs.

pub mod gateway;
pub mod ratelimit;
mod security;
pub mod sidecar;
pub mod tls;

use serde_json::{json, Value};

use std::collections::BTreeMap;

use crate::model::traffic::{HealthCheck, Instance, LoadBalancing, Probe, RetryPolicy, TrafficPolicy, VersionId};
use crate::model::{HeaderMatch, HeaderRule, PortId, Service};

pub const HCM: &str =
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
pub const ROUTER: &str = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
pub const HTTP_OPTIONS: &str = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/// A cluster named `name` reaching `service`'s instances (of one version,
/// or all): its declared `endpoints`, grouped by priority and zone (Envoy
/// fails over to the next priority when a lower one's hosts are unhealthy),
/// or its `address` (the version's) resolved by DNS. `STATIC` when every
/// host is an IP address. The callee's `traffic` policy applies to it.
pub fn upstream_cluster(name: &str, service: &Service, port: PortId, version: Option<VersionId>) -> Value {
    let port = service.port(port).number;
    let socket = |host: &str, port: u16| {
        json!({ "endpoint": { "address": { "socket_address": {
            "address": host, "port_value": port
        }}}})
    };
    let instances: Vec<&Instance> =
        service.endpoints.iter().filter(|i| version.is_none() || i.version == version).collect();
    let (endpoints, all_ips) = if instances.is_empty() {
        let host = match version.and_then(|v| service.version(v).host.as_ref()) {
            Some(host) => host,
            None => service.host().expect("a service with a port has an address"),
        };
        let ip = host.as_str().parse::<std::net::IpAddr>().is_ok();
        (vec![json!({ "lb_endpoints": [socket(host.as_str(), port.get())] })], ip)
    } else {
        let mut groups: BTreeMap<(u32, Option<&str>), Vec<Value>> = BTreeMap::new();
        for instance in &instances {
            let mut endpoint = socket(instance.host.as_str(), instance.port.unwrap_or(port).get());
            if let Some(weight) = instance.weight {
                endpoint["load_balancing_weight"] = json!(weight);
            }
            groups.entry((instance.priority, instance.zone.as_deref())).or_default().push(endpoint);
        }
        let groups = groups
            .into_iter()
            .map(|((priority, zone), lb_endpoints)| {
                let mut group = json!({ "priority": priority, "lb_endpoints": lb_endpoints });
                if let Some(zone) = zone {
                    group["locality"] = json!({ "zone": zone });
                }
                group
            })
            .collect();
        let ips = instances.iter().all(|i| i.host.as_str().parse::<std::net::IpAddr>().is_ok());
        (groups, ips)
    };
    let mut cluster = json!({
        "name": name,
        "type": if all_ips { "STATIC" } else { "STRICT_DNS" },
        "connect_timeout": "1s",
        "lb_policy": "ROUND_ROBIN",
        "load_assignment": { "cluster_name": name, "endpoints": endpoints }
    });
    apply_traffic(&mut cluster, &service.traffic);
    cluster
}

/// Caps a cluster's concurrent retries with the tightest of the retry
/// budgets its routes declare (Envoy keeps one per cluster and priority).
/// A budget overrides the circuit breaker's `max_retries`.
pub fn apply_retry_budget<'a>(cluster: &mut Value, budgets: impl IntoIterator<Item = &'a RetryPolicy>) {
    let Some(budget) = budgets.into_iter().filter_map(|p| p.budget).min_by_key(|b| (b.percent, b.min_concurrency))
    else {
        return;
    };
    let thresholds = &mut cluster["circuit_breakers"]["thresholds"];
    if !thresholds.is_array() {
        *thresholds = json!([{ "priority": "DEFAULT" }]);
    }
    thresholds[0]["retry_budget"] = json!({
        "budget_percent": { "value": f64::from(budget.percent) },
        "min_retry_concurrency": budget.min_concurrency
    });
}

/// The clusters a caller needs to reach `callee` under its traffic rules,
/// as `(version, name)`: the whole service unless a split spreads all of
/// its requests over versions, and each version the rules send to.
/// A version's cluster is named `BASE|VERSION`.
pub fn callee_clusters(base: &str, callee: &Service) -> Vec<(Option<VersionId>, String)> {
    let rules = &callee.traffic.rules;
    let whole = rules.split.is_empty().then(|| (None, base.to_string()));
    whole.into_iter().chain(rules.versions().into_iter().map(|v| (Some(v), version_cluster(base, callee, v)))).collect()
}

pub fn version_cluster(base: &str, callee: &Service, version: VersionId) -> String {
    format!("{base}|{}", callee.version(version).name.value)
}

/// The routes that carry one route's requests to `callee`, whose action
/// names the whole service's cluster: first a copy per header rule, sending
/// the requests it matches to that version; then the route itself, its
/// requests split over versions and mirrored as the callee's rules say.
pub fn versioned_routes(route: Value, callee: &Service) -> Vec<Value> {
    let rules = &callee.traffic.rules;
    if rules.is_empty() {
        return vec![route];
    }
    let base = route["route"]["cluster"].as_str().expect("the route's action names a cluster").to_string();
    let mut out = Vec::with_capacity(rules.header_routes.len() + 1);
    for rule in &rules.header_routes {
        let mut variant = route.clone();
        let version = &callee.version(rule.to).name.value;
        variant["name"] = json!(format!("{}|{version}", route["name"].as_str().unwrap_or_default()));
        let headers = &mut variant["match"]["headers"];
        if !headers.is_array() {
            *headers = json!([]);
        }
        headers.as_array_mut().expect("an array").push(header_matcher(&rule.header));
        variant["route"]["cluster"] = json!(version_cluster(&base, callee, rule.to));
        out.push(variant);
    }
    let mut route = route;
    let action = route["route"].as_object_mut().expect("a route action");
    if !rules.split.is_empty() {
        action.remove("cluster");
        let clusters: Vec<Value> = rules
            .split
            .iter()
            .map(|w| json!({ "name": version_cluster(&base, callee, w.version), "weight": w.weight }))
            .collect();
        action.insert("weighted_clusters".into(), json!({ "clusters": clusters }));
    }
    if let Some(mirror) = &rules.mirror {
        action.insert(
            "request_mirror_policies".into(),
            json!([{
                "cluster": version_cluster(&base, callee, mirror.to),
                "runtime_fraction": { "default_value": { "numerator": mirror.percent, "denominator": "HUNDRED" } }
            }]),
        );
    }
    out.push(route);
    out
}

/// An Envoy route `HeaderMatcher`.
pub fn header_matcher(header: &HeaderMatch) -> Value {
    let name = header.name.as_str();
    match &header.rule {
        HeaderRule::Exact(v) => json!({ "name": name, "string_match": { "exact": v } }),
        HeaderRule::Prefix(v) => json!({ "name": name, "string_match": { "prefix": v } }),
        HeaderRule::Present => json!({ "name": name, "present_match": true }),
    }
}

/// A route's `retry_policy`.
pub fn retry_policy(policy: &RetryPolicy) -> Value {
    // The spec's condition names are Envoy's (`x-envoy-retry-on`, `x-envoy-retry-grpc-on`).
    let conditions: Vec<&str> = policy.conditions().iter().map(|c| c.as_str()).collect();
    let mut out = json!({ "retry_on": conditions.join(","), "num_retries": policy.retries });
    if let Some(per_try) = &policy.per_try_timeout {
        out["per_try_timeout"] = json!(per_try.value.to_proto_json());
    }
    if let Some(backoff) = policy.backoff {
        out["retry_back_off"] =
            json!({ "base_interval": backoff.base.to_proto_json(), "max_interval": backoff.max.to_proto_json() });
    }
    out
}

/// Sets a cluster's load balancing, circuit breakers, outlier detection and
/// health checks from the callee's `traffic` block.
fn apply_traffic(cluster: &mut Value, traffic: &TrafficPolicy) {
    if let Some(lb) = &traffic.load_balancing {
        cluster["lb_policy"] = json!(match lb.value {
            LoadBalancing::RoundRobin => "ROUND_ROBIN",
            LoadBalancing::LeastRequest => "LEAST_REQUEST",
            LoadBalancing::Random => "RANDOM",
            LoadBalancing::RingHash { .. } => "RING_HASH",
        });
    }
    if let Some(cb) = &traffic.circuit_breaker {
        let mut thresholds = json!({ "priority": "DEFAULT" });
        for (key, value) in [
            ("max_connections", cb.value.max_connections),
            ("max_pending_requests", cb.value.max_pending),
            ("max_requests", cb.value.max_requests),
            ("max_retries", cb.value.max_retries),
        ] {
            if let Some(v) = value {
                thresholds[key] = json!(v);
            }
        }
        cluster["circuit_breakers"] = json!({ "thresholds": [thresholds] });
    }
    if let Some(od) = &traffic.outlier_detection {
        cluster["outlier_detection"] = json!({
            "consecutive_5xx": od.value.consecutive_5xx,
            "interval": od.value.interval.to_proto_json(),
            "base_ejection_time": od.value.base_ejection.to_proto_json(),
            "max_ejection_percent": od.value.max_ejection_percent,
        });
    }
    if let Some(hc) = &traffic.health_check {
        cluster["health_checks"] = json!([health_check(&hc.value)]);
    }
}

fn health_check(hc: &HealthCheck) -> Value {
    let mut out = json!({
        "timeout": hc.timeout.to_proto_json(),
        "interval": hc.interval.to_proto_json(),
        // Probe at the same pace before the first request as after it (Envoy waits 60 s by default).
        "no_traffic_interval": hc.interval.to_proto_json(),
        "healthy_threshold": hc.healthy_threshold,
        "unhealthy_threshold": hc.unhealthy_threshold,
    });
    match &hc.probe {
        Probe::Http { path } => out["http_health_check"] = json!({ "path": path }),
        Probe::Grpc { service } => {
            out["grpc_health_check"] = match service {
                Some(name) => json!({ "service_name": name }),
                None => json!({}),
            }
        }
        Probe::Tcp => out["tcp_health_check"] = json!({}),
    }
    out
}

/// The route `hash_policy` a ring-hash callee needs, if it balances by ring hash.
pub fn hash_policy(traffic: &TrafficPolicy) -> Option<Value> {
    match &traffic.load_balancing.as_ref()?.value {
        LoadBalancing::RingHash { header } => Some(json!([{ "header": { "header_name": header.as_str() } }])),
        _ => None,
    }
}
