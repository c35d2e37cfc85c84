//! Envoy v3 bootstrap per gateway: a listener per `listener`, one HTTP
//! connection manager with the gateway's routes, a cluster per (service,
//! protocol) the routes target, and local-reply mappers that render the
//! spec's error bodies for responses Envoy produces itself (404 no route,
//! 503 upstream unavailable, ...).

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde_json::{json, Value};

use super::{yaml, Artifact};
use crate::model::values::{ApiKind, ErrorBodyFormat};
use crate::model::{ErrorFormat, Gateway, HeaderRule, Model, PathMatch, Route, ServiceId};
use crate::schema::SchemaIndex;

/// Request header the gateway sets on routed requests so error mappers can
/// tell which route's error format applies.
const ROUTE_HEADER: &str = "x-meshc-route";
const HCM: &str =
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER: &str = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
const HTTP_OPTIONS: &str = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

pub fn emit(model: &Model, _: &SchemaIndex) -> Vec<Artifact> {
    model
        .gateways
        .par_iter()
        .map(|g| Artifact {
            path: format!("envoy/gateway-{}.yaml", g.name.value),
            contents: yaml(model, &bootstrap(model, g)),
        })
        .collect()
}

/// Upstream protocol of a cluster: gRPC needs HTTP/2.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Protocol {
    Http,
    Grpc,
}

fn protocol(route: &Route) -> Protocol {
    match route.operation.as_ref().map(|o| o.value.kind()) {
        Some(ApiKind::Grpc) => Protocol::Grpc,
        _ => Protocol::Http,
    }
}

fn cluster_name(model: &Model, id: ServiceId, protocol: Protocol) -> String {
    let suffix = match protocol {
        Protocol::Http => "http",
        Protocol::Grpc => "grpc",
    };
    format!("{}.{suffix}", model.service(id).name.value)
}

fn bootstrap(model: &Model, gateway: &Gateway) -> Value {
    let routes: Vec<Value> = gateway.routes.iter().map(|r| route(model, r)).collect();
    let mappers = local_reply_mappers(gateway);
    let listeners: Vec<Value> = gateway
        .listeners
        .iter()
        .map(|l| {
            json!({
                "name": l.name.value,
                "address": { "socket_address": { "address": l.address.to_string(), "port_value": l.port.get() } },
                "filter_chains": [{
                    "filters": [{
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": HCM,
                            "stat_prefix": format!("{}_{}", gateway.name.value, l.name.value),
                            "codec_type": "AUTO",
                            "route_config": {
                                "name": gateway.name.value,
                                "virtual_hosts": [{ "name": gateway.name.value, "domains": ["*"], "routes": routes }]
                            },
                            "http_filters": [{ "name": "envoy.filters.http.router", "typed_config": { "@type": ROUTER } }],
                            "local_reply_config": { "mappers": mappers }
                        }
                    }]
                }]
            })
        })
        .collect();
    // One cluster per (service, protocol) in name order.
    let mut clusters: BTreeMap<String, Value> = BTreeMap::new();
    for r in &gateway.routes {
        let proto = protocol(r);
        let name = cluster_name(model, r.target.value, proto);
        clusters.entry(name.clone()).or_insert_with(|| cluster(model, r.target.value, &name, proto));
    }
    json!({
        "node": { "id": format!("gateway-{}", gateway.name.value), "cluster": model.name },
        "static_resources": { "listeners": listeners, "clusters": clusters.into_values().collect::<Vec<_>>() }
    })
}

fn route(model: &Model, route: &Route) -> Value {
    let mut matcher = match &route.matcher.path {
        PathMatch::Exact(p) => json!({ "path": p }),
        PathMatch::Prefix(p) => json!({ "prefix": p }),
    };
    let mut headers = Vec::new();
    if let Some(method) = route.matcher.method {
        headers.push(json!({ "name": ":method", "string_match": { "exact": method.as_str() } }));
    }
    for h in &route.matcher.headers {
        headers.push(match &h.rule {
            HeaderRule::Exact(v) => json!({ "name": h.name, "string_match": { "exact": v } }),
            HeaderRule::Prefix(v) => json!({ "name": h.name, "string_match": { "prefix": v } }),
            HeaderRule::Present => json!({ "name": h.name, "present_match": true }),
        });
    }
    if !headers.is_empty() {
        matcher["headers"] = Value::Array(headers);
    }
    let mut action = json!({ "cluster": cluster_name(model, route.target.value, protocol(route)) });
    if let Some(timeout) = route.timeout {
        action["timeout"] = json!(timeout.to_proto_json());
    }
    let mut out = json!({ "name": route.name.value, "match": matcher, "route": action });
    if route.errors.is_some() {
        out["request_headers_to_add"] = json!([{
            "header": { "key": ROUTE_HEADER, "value": route.name.value },
            "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"
        }]);
    }
    out
}

fn cluster(model: &Model, id: ServiceId, name: &str, protocol: Protocol) -> Value {
    let endpoint = &model.service(id).address.value;
    let mut cluster = json!({
        "name": name,
        "type": "STRICT_DNS",
        "connect_timeout": "1s",
        "lb_policy": "ROUND_ROBIN",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{ "lb_endpoints": [{ "endpoint": { "address": { "socket_address": {
                "address": endpoint.host.as_str(),
                "port_value": endpoint.port.get()
            }}}}]}]
        }
    });
    if protocol == Protocol::Grpc {
        cluster["typed_extension_protocol_options"] = json!({
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": HTTP_OPTIONS,
                "explicit_http_config": { "http2_protocol_options": {} }
            }
        });
    }
    cluster
}

/// Route-specific mappers first (they also match the route header), then the gateway's.
fn local_reply_mappers(gateway: &Gateway) -> Vec<Value> {
    let mut mappers = Vec::new();
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
    // Envoy format strings treat `%` as a command prefix.
    let literal = |s: &str| s.replace('%', "%%");
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
