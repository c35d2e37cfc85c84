//! OpenAPI 3 documents (YAML or JSON) via the `openapiv3` crate.

use std::collections::HashMap;
use std::ops::Range;

use openapiv3::{OpenAPI, ReferenceOr};

use super::{Loaded, Parsed};
use crate::model::values::{HttpMethod, Operation};

pub(super) fn load(text: &str) -> Parsed {
    let position = |e: &serde_yaml_ng::Error| e.location().map(|l| l.index()..l.index() + 1);
    // A generic parse first rejects duplicate keys (on which openapiv3 can
    // panic); the typed parse then reports schema errors with their position.
    let generic = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text).map_err(|e| (e.to_string(), position(&e)))?;
    // Mappings with keys other than strings do not convert; openapiv3 rejects those anyway.
    if let Ok(generic) = serde_json::to_value(&generic) {
        super::refs::check(&generic, text)?;
    }
    drop(generic);
    let doc: OpenAPI = serde_yaml_ng::from_str(text).map_err(|e| (e.to_string(), position(&e)))?;
    let keys = path_keys(text);
    let mut ops = Vec::new();
    let mut details = Vec::new();
    for (path, item) in doc.paths.paths.iter() {
        let ReferenceOr::Item(item) = item else {
            continue;
        };
        let range = keys.get(path.as_str()).cloned();
        for (method, op) in item.iter() {
            if let Ok(method) = HttpMethod::parse(&method.to_ascii_uppercase()) {
                let operation = Operation::Rest { method, path: path.clone() };
                details.push((operation.key(), rest_detail(&doc, path, &item.parameters, op)));
                ops.push((operation, range.clone()));
            }
        }
    }
    let components = doc
        .components
        .as_ref()
        .map(|c| serde_json::json!({ "schemas": serde_json::to_value(&c.schemas).unwrap_or_default() }))
        .unwrap_or_else(|| serde_json::json!({ "schemas": {} }));
    Ok(Loaded { operations: ops, openapi: Some(LoadedOpenApi { details, components }), ..Loaded::default() })
}

/// What the OpenAPI loader keeps beyond operations: each operation's
/// request shape, and the document's component schemas its `$ref`s point into.
pub(super) struct LoadedOpenApi {
    pub details: Vec<(String, RestDetail)>,
    pub components: serde_json::Value,
}

/// A REST operation's request: parameters and body, as JSON Schema-ready
/// values (`$ref`s to `#/components/schemas/...` kept; parameter and body
/// references resolved).
#[derive(Clone, Debug)]
pub struct RestDetail {
    /// The OpenAPI path, e.g. `/orders/{orderId}`.
    pub path_template: String,
    /// `{ "name", "in", "required", "schema" }` each, path-item parameters first.
    pub parameters: Vec<serde_json::Value>,
    /// `{ "required", "content": { TYPE: { "schema" } } }`, if the operation takes a body.
    pub body: Option<serde_json::Value>,
    /// The JSON schema of the first success (2xx) response's JSON body, if it declares one.
    pub response: Option<serde_json::Value>,
}

fn rest_detail(
    doc: &OpenAPI,
    path: &str,
    shared: &[ReferenceOr<openapiv3::Parameter>],
    op: &openapiv3::Operation,
) -> RestDetail {
    let components = doc.components.as_ref();
    let mut parameters: Vec<serde_json::Value> = Vec::new();
    for p in shared.iter().chain(&op.parameters) {
        let parameter = match p {
            ReferenceOr::Item(p) => Some(p),
            ReferenceOr::Reference { reference } => components
                .and_then(|c| c.parameters.get(reference.trim_start_matches("#/components/parameters/")))
                .and_then(|p| p.as_item()),
        };
        let Some(parameter) = parameter else { continue };
        let (location, data) = match parameter {
            openapiv3::Parameter::Path { parameter_data, .. } => ("path", parameter_data),
            openapiv3::Parameter::Query { parameter_data, .. } => ("query", parameter_data),
            openapiv3::Parameter::Header { parameter_data, .. } => ("header", parameter_data),
            openapiv3::Parameter::Cookie { parameter_data, .. } => ("cookie", parameter_data),
        };
        let schema = match &data.format {
            openapiv3::ParameterSchemaOrContent::Schema(schema) => serde_json::to_value(schema).unwrap_or_default(),
            openapiv3::ParameterSchemaOrContent::Content(_) => serde_json::json!({}),
        };
        // An operation parameter overrides a path-item one of the same name and place.
        parameters.retain(|p| !(p["name"] == data.name.as_str() && p["in"] == location));
        parameters.push(serde_json::json!({
            "name": data.name, "in": location, "required": data.required || location == "path", "schema": schema
        }));
    }
    let body = op.request_body.as_ref().and_then(|b| match b {
        ReferenceOr::Item(b) => Some(b),
        ReferenceOr::Reference { reference } => components
            .and_then(|c| c.request_bodies.get(reference.trim_start_matches("#/components/requestBodies/")))
            .and_then(|b| b.as_item()),
    });
    let body = body.map(|b| {
        let content: serde_json::Map<String, serde_json::Value> = b
            .content
            .iter()
            .map(|(media, m)| {
                let schema = m.schema.as_ref().map(|s| serde_json::to_value(s).unwrap_or_default()).unwrap_or_default();
                (media.clone(), serde_json::json!({ "schema": schema }))
            })
            .collect();
        serde_json::json!({ "required": b.required, "content": content })
    });
    RestDetail { path_template: path.to_string(), parameters, body, response: success_body(doc, &op.responses) }
}

fn success_body(doc: &OpenAPI, responses: &openapiv3::Responses) -> Option<serde_json::Value> {
    use openapiv3::StatusCode;
    let mut success: Vec<(u16, &ReferenceOr<openapiv3::Response>)> = responses
        .responses
        .iter()
        .filter_map(|(status, r)| match status {
            StatusCode::Code(code @ 200..=299) => Some((*code, r)),
            StatusCode::Range(2) => Some((299, r)),
            _ => None,
        })
        .collect();
    success.sort_by_key(|(code, _)| *code);
    let response = match success.first()?.1 {
        ReferenceOr::Item(r) => r,
        ReferenceOr::Reference { reference } => doc
            .components
            .as_ref()?
            .responses
            .get(reference.trim_start_matches("#/components/responses/"))?
            .as_item()?,
    };
    let json = |media: &str| media == "application/json" || media.ends_with("+json");
    let media = response.content.iter().find(|(media, _)| json(media))?.1;
    Some(media.schema.as_ref().map(|s| serde_json::to_value(s).unwrap_or_default()).unwrap_or_default())
}

/// Where each path key (`  /orders:`, `"/orders":`) is written, found in
/// one pass over the text; used to point notes at an operation.
fn path_keys(text: &str) -> HashMap<&str, Range<usize>> {
    let mut keys = HashMap::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let indent = line.len() - line.trim_start().len();
        let rest = &line[indent..];
        let key = match rest.strip_prefix('"') {
            Some(quoted) => quoted.split_once('"').map(|(k, _)| k),
            None => rest.split_once(':').map(|(k, _)| k.trim_end()),
        };
        if let Some(key) = key.filter(|k| k.starts_with('/')) {
            let start = offset + indent;
            keys.entry(key).or_insert(start..start + key.len() + usize::from(rest.starts_with('"')) * 2);
        }
        offset += line.len();
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_method_of_every_path() {
        let text = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /orders:\n    get: {responses: {'200': {description: ok}}}\n    post: {responses: {'201': {description: ok}}}\n";
        let ops: Vec<String> = load(text).unwrap().operations.into_iter().map(|(o, _)| o.to_string()).collect();
        assert_eq!(ops, ["GET /orders", "POST /orders"]);
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let Err((_, range)) = load("openapi: 3.0.3\npaths: [\n") else { panic!("parsed") };
        assert!(range.is_some());
    }
}
