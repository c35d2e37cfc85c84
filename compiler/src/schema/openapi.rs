//! OpenAPI 3 documents (YAML or JSON) via the `openapiv3` crate.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use openapiv3::{OpenAPI, ReferenceOr};

use super::{Loaded, Parsed};
use crate::base::FileId;
use crate::model::values::{HttpMethod, Operation};

pub(super) fn load(text: &str) -> Parsed {
    let position = |e: &serde_yaml_ng::Error| e.location().map(|l| l.index()..l.index() + 1);
    // A generic parse first rejects duplicate keys (on which openapiv3 can
    // panic); the typed parse then reports schema errors with their position.
    let generic = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text).map_err(|e| (e.to_string(), position(&e)))?;
    // Mappings with keys other than strings do not convert; openapiv3 rejects those anyway.
    // The JSON form is kept: `meshc diff` compares documents through it.
    let document = serde_json::to_value(&generic).ok();
    drop(generic);
    if let Some(document) = &document {
        super::refs::check(document, text)?;
    }
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
    let loaded = LoadedOpenApi { details, components, document };
    Ok(Loaded { operations: ops, openapi: Some(loaded), ..Loaded::default() })
}

/// What the OpenAPI loader keeps beyond operations: each operation's
/// request shape, the document's component schemas its `$ref`s point into,
/// and the whole document as JSON.
pub(super) struct LoadedOpenApi {
    pub details: Vec<(String, RestDetail)>,
    pub components: serde_json::Value,
    pub document: Option<serde_json::Value>,
}

/// A loaded OpenAPI document as `meshc diff` compares it: the document as
/// JSON (YAML converted), and its text to point into.
#[derive(Debug)]
pub struct OpenApiDocument {
    pub(in crate::schema) value: serde_json::Value,
    pub(in crate::schema) file: FileId,
    pub(in crate::schema) text: Arc<str>,
}

impl OpenApiDocument {
    pub(super) fn new(value: serde_json::Value, file: FileId, text: Arc<str>) -> OpenApiDocument {
        OpenApiDocument { value, file, text }
    }

    /// The document's own version (`info.version`), as written.
    pub fn info_version(&self) -> Option<&str> {
        self.value.pointer("/info/version")?.as_str()
    }

    /// Where each value of the document is written, by JSON Pointer.
    pub(in crate::schema) fn locator(&self) -> Locator<'_> {
        match super::json_spans::JsonSpans::new(&self.text) {
            Some(spans) => Locator::Json(spans),
            None => Locator::Yaml(yaml_keys(&self.text)),
        }
    }
}

/// Byte ranges of a document's values by JSON Pointer: for JSON texts,
/// every value; for YAML, the keys and sequence items of block style
/// (values in flow style, `{a: 1}`, are found through their parent).
pub(in crate::schema) enum Locator<'t> {
    Json(super::json_spans::JsonSpans<'t>),
    Yaml(HashMap<String, Range<usize>>),
}

impl Locator<'_> {
    /// The range of the value at `pointer`, else of its nearest ancestor
    /// that is found; `None` when not even the root is.
    pub fn nearest(&self, pointer: &str) -> Option<Range<usize>> {
        let mut pointer = pointer;
        loop {
            let found = match self {
                Locator::Json(spans) => spans.locate(pointer),
                Locator::Yaml(keys) => keys.get(pointer).cloned(),
            };
            if found.is_some() {
                return found;
            }
            pointer = &pointer[..pointer.rfind('/')?];
        }
    }
}

/// Where each key and sequence item of a block-style YAML text is written,
/// by JSON Pointer (`/paths/~1orders/get`, `/parameters/0`), in one pass
/// over the lines: indentation gives the nesting. Block scalars' lines are
/// skipped; flow collections are not entered.
fn yaml_keys(text: &str) -> HashMap<String, Range<usize>> {
    struct Frame {
        indent: usize,
        pointer: String,
        item: bool,
        next_item: usize,
    }
    let mut frames: Vec<Frame> = Vec::new();
    let mut root_items = 0;
    let mut out = HashMap::new();
    let mut offset = 0;
    let mut block_scalar: Option<usize> = None;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let body = line.trim_end_matches(['\n', '\r']);
        let indent = body.len() - body.trim_start_matches(' ').len();
        let mut rest = &body[indent..];
        if let Some(limit) = block_scalar {
            if rest.is_empty() || indent > limit {
                continue;
            }
            block_scalar = None;
        }
        if rest.is_empty() || rest.starts_with('#') || rest.starts_with("---") || rest.starts_with("...") {
            continue;
        }
        let mut column = indent;
        while rest == "-" || rest.starts_with("- ") {
            while frames.last().is_some_and(|f| f.indent > column || (f.indent == column && f.item)) {
                frames.pop();
            }
            let (parent, index) = match frames.last_mut() {
                Some(parent) => {
                    parent.next_item += 1;
                    (parent.pointer.as_str(), parent.next_item - 1)
                }
                None => {
                    root_items += 1;
                    ("", root_items - 1)
                }
            };
            let pointer = format!("{parent}/{index}");
            // An item is shown by its line: `- name: cursor`.
            out.entry(pointer.clone()).or_insert(start + column..start + body.trim_end().len());
            frames.push(Frame { indent: column, pointer, item: true, next_item: 0 });
            let after = rest[1..].trim_start_matches(' ');
            column += rest.len() - after.len();
            rest = after;
        }
        let Some((key, key_len, value)) = split_key(rest) else { continue };
        while frames.last().is_some_and(|f| f.indent >= column) {
            frames.pop();
        }
        let pointer = super::json_spans::join(frames.last().map_or("", |f| f.pointer.as_str()), &key);
        out.entry(pointer.clone()).or_insert(start + column..start + column + key_len);
        frames.push(Frame { indent: column, pointer, item: false, next_item: 0 });
        if value.starts_with('|') || value.starts_with('>') {
            block_scalar = Some(column);
        }
    }
    out
}

/// A line's mapping key (unquoted), its length as written, and the value
/// text after the colon; `None` when the line is no `key: value`.
fn split_key(rest: &str) -> Option<(String, usize, &str)> {
    let (key, len) = match rest.as_bytes().first()? {
        quote @ (b'"' | b'\'') => {
            let close = rest[1..].find(*quote as char)? + 1;
            (rest[1..close].to_string(), close + 1)
        }
        b'{' | b'[' | b'?' | b'#' => return None,
        _ => {
            let bytes = rest.as_bytes();
            let colon = (0..bytes.len()).find(|&i| bytes[i] == b':' && bytes.get(i + 1).is_none_or(|b| *b == b' '))?;
            (rest[..colon].trim_end().to_string(), rest[..colon].trim_end().len())
        }
    };
    let after = rest[len..].trim_start_matches(' ');
    let value = after.strip_prefix(':')?;
    Some((key, len, value.trim()))
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
    /// The first success (2xx) response's status (`2XX`: 299), if it declares one.
    pub response_status: Option<u16>,
    /// The JSON schema of that response's JSON body, if it declares one.
    pub response: Option<serde_json::Value>,
    /// That response's status and its JSON body's examples (`example`, or
    /// each of `examples` with a `value`, by name), in document order.
    pub response_examples: Vec<ResponseExample>,
}

/// An example a provider's OpenAPI document gives for a success response.
#[derive(Clone, Debug)]
pub struct ResponseExample {
    /// `example` for the media type's single `example`.
    pub name: String,
    pub status: u16,
    pub value: serde_json::Value,
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
    let (response_status, (response, response_examples)) = match success_response(doc, &op.responses) {
        Some((status, r)) => (Some(status), success_body(status, r).unwrap_or_default()),
        None => (None, Default::default()),
    };
    RestDetail { path_template: path.to_string(), parameters, body, response_status, response, response_examples }
}

/// The first success response (lowest 2xx; `2XX` counts as 299) and its status.
fn success_response<'d>(
    doc: &'d OpenAPI,
    responses: &'d openapiv3::Responses,
) -> Option<(u16, &'d openapiv3::Response)> {
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
    Some((success.first()?.0, response))
}

/// A success response's JSON body schema (if it declares one) and its examples.
fn success_body(
    status: u16,
    response: &openapiv3::Response,
) -> Option<(Option<serde_json::Value>, Vec<ResponseExample>)> {
    let json = |media: &str| media == "application/json" || media.ends_with("+json");
    let media = response.content.iter().find(|(media, _)| json(media))?.1;
    let schema = media.schema.as_ref().map(|s| serde_json::to_value(s).unwrap_or_default()).unwrap_or_default();
    let example = |name: &str, value: &serde_json::Value| ResponseExample {
        name: name.to_string(),
        status,
        value: value.clone(),
    };
    let mut examples: Vec<ResponseExample> = media.example.iter().map(|v| example("example", v)).collect();
    for (name, item) in &media.examples {
        if let Some(value) = item.as_item().and_then(|e| e.value.as_ref()) {
            examples.push(example(name, value));
        }
    }
    Some((Some(schema), examples))
}

/// `schema` with every component schema it references (transitively) in
/// its own `definitions`, each `#/components/schemas/NAME` rewritten to
/// `#/definitions/NAME`: one document a JSON Schema validator reads alone,
/// recursive schemas included. Other references are left as they are.
pub fn self_contained_schema(schema: &serde_json::Value, components: Option<&serde_json::Value>) -> serde_json::Value {
    const PREFIX: &str = "#/components/schemas/";
    let schemas = components.and_then(|c| c.get("schemas"));
    let mut root = schema.clone();
    let mut definitions = serde_json::Map::new();
    let mut pending = rewrite_refs(&mut root, PREFIX);
    while let Some(escaped) = pending.pop() {
        // The reference is a JSON pointer: `a~1b` names `a/b`.
        let name = escaped.replace("~1", "/").replace("~0", "~");
        if definitions.contains_key(&name) {
            continue;
        }
        let Some(mut target) = schemas.and_then(|s| s.get(&name)).cloned() else { continue };
        pending.extend(rewrite_refs(&mut target, PREFIX));
        definitions.insert(name, target);
    }
    if definitions.is_empty() {
        return root;
    }
    match &mut root {
        serde_json::Value::Object(map) if !map.contains_key("definitions") => {
            map.insert("definitions".into(), serde_json::Value::Object(definitions));
            root
        }
        _ => serde_json::json!({ "allOf": [root], "definitions": definitions }),
    }
}

/// Rewrites `$ref`s starting with `prefix` to `#/definitions/...` in place;
/// returns the names referenced (escaped as in the pointer).
fn rewrite_refs(value: &mut serde_json::Value, prefix: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::String(reference)) = map.get_mut("$ref") {
                    if let Some(name) = reference.strip_prefix(prefix).map(str::to_string) {
                        *reference = format!("#/definitions/{name}");
                        names.push(name);
                    }
                }
                stack.extend(map.values_mut());
            }
            serde_json::Value::Array(items) => stack.extend(items.iter_mut()),
            _ => {}
        }
    }
    names
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
    fn a_self_contained_schema_carries_the_components_it_reaches() {
        let components = serde_json::json!({ "schemas": {
            "Node": { "type": "object", "properties": { "next": { "$ref": "#/components/schemas/Node" },
                                                       "tag": { "$ref": "#/components/schemas/a~1b" } } },
            "a/b": { "type": "string" },
            "Unused": { "type": "integer" }
        }});
        let schema = serde_json::json!({ "type": "array", "items": { "$ref": "#/components/schemas/Node" } });
        assert_eq!(
            self_contained_schema(&schema, Some(&components)),
            serde_json::json!({
                "type": "array", "items": { "$ref": "#/definitions/Node" },
                "definitions": {
                    "Node": { "type": "object", "properties": { "next": { "$ref": "#/definitions/Node" },
                                                               "tag": { "$ref": "#/definitions/a~1b" } } },
                    "a/b": { "type": "string" }
                }
            })
        );
        // Nothing referenced: the schema as it is.
        let plain = serde_json::json!({ "type": "string" });
        assert_eq!(self_contained_schema(&plain, Some(&components)), plain);
    }

    #[test]
    fn lists_every_method_of_every_path() {
        let text = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /orders:\n    get: {responses: {'200': {description: ok}}}\n    post: {responses: {'201': {description: ok}}}\n";
        let ops: Vec<String> = load(text).unwrap().operations.into_iter().map(|(o, _)| o.to_string()).collect();
        assert_eq!(ops, ["GET /orders", "POST /orders"]);
    }

    #[test]
    fn yaml_keys_point_at_keys_and_items_by_pointer() {
        let text = "openapi: 3.0.3\ninfo:\n  description: |\n    a: not a key\n  title: t\npaths:\n  /orders/{id}:\n    get:\n      parameters:\n      - name: id\n        in: path\n      - in: query\n        name: 'x'\n      responses:\n        \"200\": {description: ok}\n";
        let keys = yaml_keys(text);
        let at = |pointer: &str| keys.get(pointer).map(|r| &text[r.clone()]);
        assert_eq!(at("/info/title"), Some("title"));
        assert_eq!(at("/info/description/a"), None, "block scalars hold no keys");
        assert_eq!(at("/paths/~1orders~1{id}/get"), Some("get"));
        assert_eq!(at("/paths/~1orders~1{id}/get/parameters/0"), Some("- name: id"));
        assert_eq!(at("/paths/~1orders~1{id}/get/parameters/0/in"), Some("in"));
        assert_eq!(at("/paths/~1orders~1{id}/get/parameters/1/name"), Some("name"));
        assert_eq!(at("/paths/~1orders~1{id}/get/responses/200"), Some("\"200\""));
    }

    #[test]
    fn the_locator_falls_back_to_the_nearest_ancestor() {
        let doc = OpenApiDocument::new(serde_json::Value::Null, FileId(0), Arc::from("a:\n  b: {c: 1}\n"));
        let locator = doc.locator();
        assert_eq!(locator.nearest("/a/b/c"), Some(5..6));
        assert_eq!(locator.nearest("/z"), None);
        let json = OpenApiDocument::new(serde_json::Value::Null, FileId(0), Arc::from("{\"a\": {\"b\": 1}}"));
        assert_eq!(json.locator().nearest("/a/b/c"), Some(12..13));
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let Err((_, range)) = load("openapi: 3.0.3\npaths: [\n") else { panic!("parsed") };
        assert!(range.is_some());
    }
}
