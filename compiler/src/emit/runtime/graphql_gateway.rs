//! Configs for `meshc-runtime graphql`: for each GraphQL API the mesh
//! composes, `graphql/SERVICE-API.json` carries the SDL, each root field's
//! upstream call (REST: method, path template and which arguments go to the
//! path, query, headers and body; gRPC: the method and the descriptors to
//! encode it) and its timeout. The format is documented in docs/runtime.md.

use std::collections::BTreeSet;

use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::emit::{Artifact, Options, Unexpressed};
use crate::model::values::Operation;
use crate::model::{Api, Model, Resolver, SchemaId, Service};
use crate::schema::SchemaIndex;

pub fn emit(model: &Model, schemas: &SchemaIndex, _: &Options, _: &mut Vec<Unexpressed>) -> Vec<Artifact> {
    let mut artifacts = Vec::new();
    for service in &model.services {
        for api in service.apis.iter().filter(|a| !a.resolvers.is_empty()) {
            let Some(config) = config(model, schemas, service, api) else { continue };
            artifacts.push(Artifact {
                path: format!("graphql/{}-{}.json", service.name.value, api.name.value),
                contents: crate::emit::pretty_json(&config),
                origin: api.name.span,
            });
        }
    }
    artifacts
}

fn config(model: &Model, schemas: &SchemaIndex, service: &Service, api: &Api) -> Option<Value> {
    let sdl = schemas.get(api.schema)?.graphql_sdl()?;
    let mut resolvers = Map::new();
    let mut protos: BTreeSet<SchemaId> = BTreeSet::new();
    for resolver in &api.resolvers {
        let target = model.service(resolver.target.value);
        // Resolvers to a service that listens nowhere are refused when the spec is read.
        let Some(host) = target.host().map(|h| h.as_str()) else { continue };
        let port = target.port(resolver.port).number;
        // `host:port` as a URL authority: IPv6 literals in brackets.
        let upstream = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
        let call = match &resolver.operation.value {
            Operation::Grpc { service, method } => {
                protos.extend(target.apis.iter().filter(|a| a.serves(&resolver.operation.value)).map(|a| a.schema));
                json!({ "grpc": { "upstream": upstream, "method": format!("/{service}/{method}") } })
            }
            Operation::Rest { method, path } => {
                let mut rest = rest_call(model, schemas, api, resolver);
                rest.insert("upstream".into(), json!(upstream));
                rest.insert("method".into(), json!(method.as_str()));
                rest.insert("path".into(), json!(path));
                json!({ "rest": rest })
            }
            Operation::Graphql { .. } => continue, // ruled out when the spec is read
        };
        let mut entry = call.as_object().cloned().unwrap_or_default();
        entry.insert("timeout_ms".into(), json!(resolver.effective_timeout().as_millis() as u64));
        resolvers.insert(resolver.field.value.to_string(), Value::Object(entry));
    }
    let mut config = json!({
        "service": service.name.value,
        "api": api.name.value,
        "sdl": sdl,
        "resolvers": resolvers,
    });
    if !protos.is_empty() {
        let descriptors = schemas.descriptor_set(&protos.into_iter().collect::<Vec<_>>());
        config["descriptor_set"] = json!(base64::engine::general_purpose::STANDARD.encode(descriptors));
    }
    Some(config)
}

/// Where each argument of the field goes: a parameter of the same name, or
/// the body (`body=`). Arguments without a place are left out (the
/// graphql-resolvers check reports them).
fn rest_call(model: &Model, schemas: &SchemaIndex, api: &Api, resolver: &Resolver) -> Map<String, Value> {
    let operation = &resolver.operation.value;
    let arguments: Vec<String> = schemas
        .get(api.schema)
        .and_then(|s| s.graphql_signature(&resolver.field.value))
        .map(|sig| sig.arguments.iter().map(|a| a.name.clone()).collect())
        .unwrap_or_default();
    let shapes = schemas.defining(model, resolver.target.value, operation).and_then(|s| s.rest_shapes(operation));
    let body = resolver.body.as_ref().map(|b| b.value.clone());
    let mut places: Map<String, Value> =
        ["path_params", "query_params", "header_params"].iter().map(|k| (k.to_string(), json!([]))).collect();
    for argument in arguments.iter().filter(|a| Some(*a) != body.as_ref()) {
        let location = shapes.as_ref().and_then(|s| s.parameters.iter().find(|p| &p.name == argument));
        let key = match location.map(|p| p.location.as_str()) {
            Some("path") => "path_params",
            Some("query") => "query_params",
            Some("header") => "header_params",
            _ => continue,
        };
        if let Some(Value::Array(list)) = places.get_mut(key) {
            list.push(json!(argument));
        }
    }
    places.insert("body".into(), json!(body));
    places
}
