//! Envoy config pieces both Envoy backends (gateway, sidecar) emit the same
//! way: retry policies, a callee's traffic policy on its cluster, and the
//! route hash policy ring-hash balancing needs. Not a backend itself.

use serde_json::{json, Value};

use std::collections::BTreeMap;

use crate::model::traffic::{HealthCheck, LoadBalancing, Probe, RetryPolicy, TrafficPolicy};
use crate::model::Service;

pub const HCM: &str =
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
pub const ROUTER: &str = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
pub const HTTP_OPTIONS: &str = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/// A cluster named `name` reaching `service`'s instances: its declared
/// `endpoints`, grouped by priority and zone (Envoy fails over to the next
/// priority when a lower one's hosts are unhealthy), or its `address`
/// resolved by DNS. `STATIC` when every host is an IP address.
pub fn upstream_cluster(name: &str, service: &Service) -> Value {
    let address = &service.address.value;
    let socket = |host: &str, port: u16| {
        json!({ "endpoint": { "address": { "socket_address": {
            "address": host, "port_value": port
        }}}})
    };
    let (endpoints, all_ips) = if service.endpoints.is_empty() {
        let ip = address.host.as_str().parse::<std::net::IpAddr>().is_ok();
        (vec![json!({ "lb_endpoints": [socket(address.host.as_str(), address.port.get())] })], ip)
    } else {
        let mut groups: BTreeMap<(u32, Option<&str>), Vec<Value>> = BTreeMap::new();
        for instance in &service.endpoints {
            let mut endpoint = socket(instance.host.as_str(), instance.port.get());
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
        let ips = service.endpoints.iter().all(|i| i.host.as_str().parse::<std::net::IpAddr>().is_ok());
        (groups, ips)
    };
    json!({
        "name": name,
        "type": if all_ips { "STATIC" } else { "STRICT_DNS" },
        "connect_timeout": "1s",
        "lb_policy": "ROUND_ROBIN",
        "load_assignment": { "cluster_name": name, "endpoints": endpoints }
    })
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
pub fn apply_traffic(cluster: &mut Value, traffic: &TrafficPolicy) {
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
