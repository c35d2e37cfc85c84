//! Rules for the request validator (`meshc-runtime validator`): for each
//! gateway with validating routes, `validation/gateway-NAME.json` lists those
//! routes in Envoy's match order with their OpenAPI request shapes, so the
//! validator (asked by Envoy's ext_authz filter) can pick the route a request
//! took and check its parameters and body. The format is documented in
//! docs/runtime.md.

use serde_json::{json, Map, Value};

use crate::emit::{Artifact, Options, Unexpressed};
use crate::model::values::ErrorBodyFormat;
use crate::model::{Gateway, HeaderRule, Model, PathMatch, Route};
use crate::schema::SchemaIndex;

/// The message of a 400 when neither the route nor the gateway declares one.
const DEFAULT_MESSAGE: &str = "the request does not match the API";

pub fn emit(model: &Model, schemas: &SchemaIndex, _: &Options, _: &mut Vec<Unexpressed>) -> Vec<Artifact> {
    model
        .gateways
        .iter()
        .filter(|g| g.routes.iter().any(validates))
        .map(|g| {
            let contents = crate::emit::pretty_json(&rules(model, schemas, g));
            Artifact { path: format!("validation/gateway-{}.json", g.name.value), contents, origin: g.name.span }
        })
        .collect()
}

fn rules(model: &Model, schemas: &SchemaIndex, gateway: &Gateway) -> Value {
    let mut components = Map::new();
    let routes: Vec<Value> = gateway
        .routes
        .iter()
        .filter(|r| validates(r))
        .filter_map(|route| {
            let forward = route.forward()?;
            let op = &forward.operation.as_ref()?.value;
            // A route naming one API version validates against its schema.
            let version = forward.api_versions.as_ref().and_then(|v| v.one());
            let schema = schemas.defining_in(model, forward.target.value, op, version)?;
            let detail = schema.rest_detail(op)?;
            // Component schemas of every document involved; the first document wins a name clash.
            if let Some(Value::Object(found)) = schema.openapi_components().and_then(|c| c.get("schemas")) {
                for (name, value) in found {
                    components.entry(name.clone()).or_insert_with(|| value.clone());
                }
            }
            Some(json!({
                "route": route.name.value,
                "match": path_match(route),
                "method": route.matcher.method.map(|m| m.as_str()),
                "headers": route.matcher.headers.iter().map(|h| match &h.rule {
                    HeaderRule::Exact(v) => json!({ "name": h.name.as_str(), "exact": v }),
                    HeaderRule::Prefix(v) => json!({ "name": h.name.as_str(), "prefix": v }),
                    HeaderRule::Present => json!({ "name": h.name.as_str(), "present": true }),
                }).collect::<Vec<_>>(),
                "operation": op.to_string(),
                "path_template": detail.path_template,
                "parameters": detail.parameters,
                "body": detail.body,
                "error": error(gateway, route),
            }))
        })
        .collect();
    json!({
        "gateway": gateway.name.value,
        "error": error(gateway, &gateway.routes[0]),
        "routes": routes,
        "components": { "schemas": components },
    })
}

fn validates(route: &Route) -> bool {
    route.forward().is_some_and(|f| f.validate.is_some())
}

fn path_match(route: &Route) -> Value {
    match &route.matcher.path {
        PathMatch::Exact(p) => json!({ "path": p }),
        PathMatch::Prefix(p) => json!({ "prefix": p }),
    }
}

/// The body format and 400 message for a route: its own `error-format`
/// first, then the gateway's.
fn error(gateway: &Gateway, route: &Route) -> Value {
    let own = route.errors.as_ref();
    let format = own.map_or(gateway.errors.format, |e| e.format);
    let message = [own, Some(&gateway.errors)]
        .into_iter()
        .flatten()
        .find_map(|e| e.statuses.iter().find(|s| s.status == 400))
        .map_or(DEFAULT_MESSAGE, |s| s.message.as_str());
    let format = match format {
        ErrorBodyFormat::Json => "json",
        ErrorBodyFormat::Text => "text",
    };
    json!({ "format": format, "message": message })
}
