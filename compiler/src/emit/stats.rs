//! What the proxies' statistics are named after, which the Envoy backends
//! write and the Prometheus rules select (both must agree).

use crate::model::monitoring::{AlertKind, SloKind};
use crate::model::values::{ApiKind, Operation};
use crate::model::{Call, Forward, Model, Service};

/// Envoy's default request-time histogram bounds, in milliseconds.
pub const ENVOY_BUCKETS_MS: &[u64] =
    &[1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];

/// The stat prefix of a call's route at the caller's sidecar (the
/// `envoy_route` label): the callee and the operation, lower case,
/// other characters as `-` (Envoy's tag extraction takes one token of
/// letters, digits, `_` and `-`); the callee alone for a call without one.
pub fn call(model: &Model, call: &Call) -> String {
    let callee = &model.service(call.target.value).name.value;
    match call.operation.as_ref().map(|o| &o.value) {
        Some(Operation::Graphql { .. }) | None => callee.clone(),
        Some(op) => format!("{callee}-{}", slug(&op.to_string())),
    }
}

fn slug(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// The request-time histogram bounds every proxy uses: Envoy's, the
/// sub-millisecond 0.5 kept apart, and every latency threshold of the
/// spec (SLO `under`, alert `above`), so each is a bound.
pub fn latency_buckets_ms(model: &Model) -> Vec<u64> {
    let mut bounds: Vec<u64> = ENVOY_BUCKETS_MS.to_vec();
    let services = model.services.iter().map(|s| &s.objectives);
    let routes = model.gateways.iter().flat_map(|g| &g.routes).filter_map(|r| r.forward()).map(|f| &f.objectives);
    for objectives in services.chain(routes) {
        for slo in &objectives.slos {
            if let SloKind::Latency { under } = &slo.kind {
                bounds.push(under.value.as_millis() as u64);
            }
        }
        bounds.extend(objectives.alerts.iter().filter_map(latency_bound));
    }
    let calls = model.services.iter().flat_map(|s| &s.calls).flat_map(|c| &c.alerts);
    bounds.extend(calls.filter_map(latency_bound));
    bounds.sort_unstable();
    bounds.dedup();
    bounds
}

fn latency_bound(alert: &crate::model::monitoring::Alert) -> Option<u64> {
    match &alert.kind {
        AlertKind::Latency { above, .. } => Some(above.value.as_millis() as u64),
        _ => None,
    }
}

/// The port a service's sidecar admin endpoint listens on, when the mesh is monitored.
pub fn sidecar_admin_port(model: &Model, service: &Service) -> Option<u16> {
    let monitoring = model.monitoring.as_ref()?;
    let own = service.sidecar().and_then(|s| s.admin);
    Some(own.unwrap_or(monitoring.admin_port).get())
}

/// The port a gateway's admin endpoint listens on, when the mesh is monitored.
pub fn gateway_admin_port(model: &Model, gateway: &crate::model::Gateway) -> Option<u16> {
    let monitoring = model.monitoring.as_ref()?;
    Some(gateway.admin_port.as_ref().map_or(monitoring.admin_port, |p| p.value).get())
}

/// The label naming the cluster of `envoy_cluster_upstream_rq_active`
/// (what saturation alerts divide by `max-requests`). Envoy's default
/// `envoy_cluster_name` tag takes the name's first dot-free token
/// (`outbound` of `outbound.orders`) and leaves the rest in the metric's
/// name, so each bootstrap's stats tags name the whole cluster here.
pub const ACTIVE_REQUESTS_CLUSTER: &str = "meshc_cluster";

/// The counter of gRPC responses by status, as the proxies' `grpc_stats`
/// filters count them and their stats tags (`envoy::stats`) name it:
/// Envoy's `cluster.CLUSTER.grpc.SERVICE.METHOD.STATUS` (or
/// `cluster.CLUSTER.grpc.STATUS` for a method outside the allowlist) with
/// CLUSTER, SERVICE, METHOD and STATUS as labels, leaving `cluster`.
pub const GRPC_RESPONSES: &str = "envoy_cluster";
/// The labels of [`GRPC_RESPONSES`]; Envoy names tags after these.
pub const GRPC_CLUSTER: &str = "grpc_cluster";
pub const GRPC_SERVICE: &str = "grpc_service";
pub const GRPC_METHOD: &str = "grpc_method";
pub const GRPC_STATUS: &str = "grpc_status";

/// The gRPC status codes that count as failures of the server: those the
/// standard gRPC-to-HTTP mapping turns into 5xx (UNKNOWN 2,
/// DEADLINE_EXCEEDED 4, UNIMPLEMENTED 12, INTERNAL 13, UNAVAILABLE 14,
/// DATA_LOSS 15). The others are the caller's (INVALID_ARGUMENT,
/// NOT_FOUND, PERMISSION_DENIED, ...), a cancellation (CANCELLED) or
/// a limit (RESOURCE_EXHAUSTED is 429), and burn no budget.
pub const GRPC_SERVER_ERRORS: &str = "2|4|12|13|14|15";

/// The native gRPC operation a gateway route forwards, if any (a
/// transcoded route's clients speak REST: it is measured by HTTP status,
/// which the transcoder derives from the gRPC status).
pub fn grpc_route(forward: &Forward) -> Option<(&str, &str)> {
    forward.transcode.is_none().then_some(())?;
    forward.operation.as_ref()?.value.grpc()
}

/// Whether a service serves gRPC APIs (its sidecar counts their statuses).
pub fn serves_grpc(service: &Service) -> bool {
    service.apis.iter().any(|a| a.kind == ApiKind::Grpc)
}
