//! Reading a rules file (`validation/gateway-NAME.json`) into routes with
//! compiled schemas. Every JSON schema is compiled here, once; checking a
//! request compiles nothing.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::xml::XmlShape;

/// How a rejected request is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorFormat {
    Json,
    Text,
}

pub(crate) struct Rules {
    pub gateway: String,
    pub format: ErrorFormat,
    pub message: String,
    pub routes: Vec<Route>,
}

pub(crate) struct Route {
    pub name: String,
    pub path: PathMatch,
    /// `None`: any method.
    pub method: Option<String>,
    pub headers: Vec<HeaderRule>,
    /// `path_template` split at `/`, each segment split into literal text
    /// and `{name}` captures.
    pub template: Vec<Vec<Piece>>,
    pub params: Vec<Param>,
    pub body: Option<Body>,
    /// The route's own `error` (format, message), over the gateway's.
    pub error: Option<(ErrorFormat, String)>,
}

pub(crate) enum PathMatch {
    Exact(String),
    Prefix(String),
}

pub(crate) struct HeaderRule {
    /// Lower case.
    pub name: String,
    pub test: HeaderTest,
}

pub(crate) enum HeaderTest {
    Exact(String),
    Prefix(String),
    /// `present: true` (the header must be there) or `present: false` (it must not).
    Present(bool),
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Piece {
    Literal(String),
    Param(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum In {
    Path,
    Query,
    Header,
    Cookie,
}

impl In {
    /// How a detail message names a parameter of this kind.
    pub fn label(self) -> &'static str {
        match self {
            In::Path => "path parameter",
            In::Query => "query parameter",
            In::Header => "header",
            In::Cookie => "cookie",
        }
    }
}

pub(crate) struct Param {
    pub name: String,
    pub location: In,
    pub required: bool,
    /// OpenAPI `explode` (query parameters default to `true`: repeated keys).
    pub explode: bool,
    pub value: ParamValue,
}

pub(crate) enum ParamValue {
    /// No schema: only presence is checked.
    Unchecked,
    /// `schema`: the text is coerced to `shape` and validated.
    Schema { shape: Shape, schema: Arc<jsonschema::Validator> },
    /// `content: {"application/json": {schema}}`: the text is parsed as JSON.
    Json { schema: Option<Arc<jsonschema::Validator>> },
}

/// The JSON type a parameter's text is coerced to before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Shape {
    String,
    Integer,
    Number,
    Boolean,
    Array(Box<Shape>),
    /// Objects are not coerced from text (no `deepObject` etc.): presence only.
    Object,
}

pub(crate) struct Body {
    pub required: bool,
    pub content: Vec<Content>,
}

pub(crate) struct Content {
    /// Lower case, without parameters; may be a range (`application/*`, `*/*`).
    pub media: String,
    /// Compiled for JSON-like and range media types.
    pub schema: Option<Arc<jsonschema::Validator>>,
    /// For XML-like and range media types: which children the root needs.
    pub xml: XmlShape,
}

/// Lower-cased media type without parameters (`; charset=...`).
pub(crate) fn essence(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

pub(crate) fn is_json(media: &str) -> bool {
    media == "application/json" || media.ends_with("+json")
}

pub(crate) fn is_xml(media: &str) -> bool {
    media == "application/xml" || media == "text/xml" || media.ends_with("+xml")
}

fn is_range(media: &str) -> bool {
    media.ends_with("/*")
}

pub(crate) fn parse(text: &str) -> Result<Rules, String> {
    let root: Value = serde_json::from_str(text).map_err(|e| format!("rules are not JSON: {e}"))?;
    let root = root.as_object().ok_or("rules: expected a JSON object")?;
    let gateway = opt_str(root, "gateway", "rules")?.unwrap_or_default().to_string();
    let (format, message) = error_from(root.get("error"), "rules")?
        .unwrap_or((ErrorFormat::Json, "the request does not match the API".to_string()));
    let mut components = match root.get("components") {
        None | Some(Value::Null) => json!({}),
        Some(c @ Value::Object(_)) => c.clone(),
        Some(_) => return Err("rules: `components` must be an object".into()),
    };
    if let Some(Value::Object(schemas)) = components.get_mut("schemas") {
        for schema in schemas.values_mut() {
            normalize(schema);
        }
    }
    let mut compiler = Compiler { components, cache: HashMap::new() };
    let routes = match root.get("routes") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(routes)) => {
            routes.iter().enumerate().map(|(i, route)| route_from(i, route, &mut compiler)).collect::<Result<_, _>>()?
        }
        Some(_) => return Err("rules: `routes` must be an array".into()),
    };
    Ok(Rules { gateway, format, message, routes })
}

/// An `error` object: `{"format": "json"|"text", "message": "..."}`.
fn error_from(value: Option<&Value>, at: &str) -> Result<Option<(ErrorFormat, String)>, String> {
    let error = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(error)) => error,
        Some(_) => return Err(format!("{at}: `error` must be an object")),
    };
    let format = match opt_str(error, "format", at)? {
        None | Some("json") => ErrorFormat::Json,
        Some("text") => ErrorFormat::Text,
        Some(other) => return Err(format!("{at}: `error.format` is `{other}`; expected `json` or `text`")),
    };
    let message = opt_str(error, "message", at)?.unwrap_or("the request does not match the API");
    Ok(Some((format, message.to_string())))
}

fn opt_str<'v>(map: &'v Map<String, Value>, key: &str, at: &str) -> Result<Option<&'v str>, String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("{at}: `{key}` must be a string")),
    }
}

fn route_from(index: usize, value: &Value, compiler: &mut Compiler) -> Result<Route, String> {
    let route = value.as_object().ok_or_else(|| format!("routes[{index}]: expected an object"))?;
    let name = opt_str(route, "route", &format!("routes[{index}]"))?.unwrap_or_default().to_string();
    let at = if name.is_empty() { format!("routes[{index}]") } else { format!("routes[{index}] (`{name}`)") };

    let matcher =
        route.get("match").and_then(Value::as_object).ok_or_else(|| format!("{at}: `match` must be an object"))?;
    let path = match (opt_str(matcher, "path", &at)?, opt_str(matcher, "prefix", &at)?) {
        (Some(path), None) => PathMatch::Exact(path.to_string()),
        (None, Some(prefix)) => PathMatch::Prefix(prefix.to_string()),
        _ => return Err(format!("{at}: `match` needs exactly one of `path` and `prefix`")),
    };
    let method = opt_str(route, "method", &at)?.map(str::to_string);

    let mut headers = Vec::new();
    match route.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Array(rules)) => {
            for rule in rules {
                let rule = rule.as_object().ok_or_else(|| format!("{at}: each of `headers` must be an object"))?;
                let header_at = format!("{at}: header rule");
                let name = opt_str(rule, "name", &header_at)?
                    .ok_or_else(|| format!("{header_at} without `name`"))?
                    .to_ascii_lowercase();
                let test = if let Some(exact) = opt_str(rule, "exact", &header_at)? {
                    HeaderTest::Exact(exact.to_string())
                } else if let Some(prefix) = opt_str(rule, "prefix", &header_at)? {
                    HeaderTest::Prefix(prefix.to_string())
                } else if let Some(present) = rule.get("present").and_then(Value::as_bool) {
                    HeaderTest::Present(present)
                } else {
                    return Err(format!("{header_at} `{name}` needs `exact`, `prefix` or `present`"));
                };
                headers.push(HeaderRule { name, test });
            }
        }
        Some(_) => return Err(format!("{at}: `headers` must be an array")),
    }

    let template = opt_str(route, "path_template", &at)?.map(parse_template).transpose()?.unwrap_or_default();

    let mut params = Vec::new();
    match route.get("parameters") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for param in list {
                params.push(param_from(param, &at, compiler)?);
            }
        }
        Some(_) => return Err(format!("{at}: `parameters` must be an array")),
    }
    for param in &params {
        if param.location == In::Path && !template.iter().flatten().any(|p| *p == Piece::Param(param.name.clone())) {
            return Err(format!("{at}: path parameter `{}` is not in `path_template`", param.name));
        }
    }

    let body = match route.get("body") {
        None | Some(Value::Null) => None,
        Some(Value::Object(body)) => Some(body_from(body, &at, compiler)?),
        Some(_) => return Err(format!("{at}: `body` must be an object or null")),
    };

    let error = error_from(route.get("error"), &at)?;

    Ok(Route { name, path, method, headers, template, params, body, error })
}

/// `/orders/{orderId}/items` → `["", "orders", "{orderId}", "items"]` with
/// each segment split into literal text and captures (`{name}.{ext}` too).
fn parse_template(template: &str) -> Result<Vec<Vec<Piece>>, String> {
    template
        .split('/')
        .map(|segment| {
            let mut pieces = Vec::new();
            let mut rest = segment;
            while let Some(open) = rest.find('{') {
                if open > 0 {
                    pieces.push(Piece::Literal(rest[..open].to_string()));
                }
                let close = rest[open..]
                    .find('}')
                    .map(|c| open + c)
                    .ok_or_else(|| format!("path template `{template}`: unclosed `{{`"))?;
                let name = &rest[open + 1..close];
                if name.is_empty() {
                    return Err(format!("path template `{template}`: empty `{{}}`"));
                }
                if matches!(pieces.last(), Some(Piece::Param(_))) {
                    return Err(format!("path template `{template}`: two parameters without text between them"));
                }
                pieces.push(Piece::Param(name.to_string()));
                rest = &rest[close + 1..];
            }
            if !rest.is_empty() || pieces.is_empty() {
                pieces.push(Piece::Literal(rest.to_string()));
            }
            Ok(pieces)
        })
        .collect()
}

fn param_from(value: &Value, route_at: &str, compiler: &mut Compiler) -> Result<Param, String> {
    let param = value.as_object().ok_or_else(|| format!("{route_at}: each of `parameters` must be an object"))?;
    let name = opt_str(param, "name", route_at)?.ok_or_else(|| format!("{route_at}: a parameter without `name`"))?;
    let at = format!("{route_at}: parameter `{name}`");
    let location = match opt_str(param, "in", &at)? {
        Some("path") => In::Path,
        Some("query") => In::Query,
        Some("header") => In::Header,
        Some("cookie") => In::Cookie,
        other => return Err(format!("{at}: `in` is {other:?}; expected path, query, header or cookie")),
    };
    let name = if location == In::Header { name.to_ascii_lowercase() } else { name.to_string() };
    let required = location == In::Path || param.get("required").and_then(Value::as_bool).unwrap_or(false);
    let explode = param.get("explode").and_then(Value::as_bool).unwrap_or(location == In::Query);
    let value = if let Some(schema) = param.get("schema").filter(|s| !s.is_null()) {
        let mut schema = schema.clone();
        normalize(&mut schema);
        let shape = compiler.shape(&schema, 0);
        ParamValue::Schema { shape, schema: compiler.compile(&schema).map_err(|e| format!("{at}: {e}"))? }
    } else if let Some(Value::Object(content)) = param.get("content") {
        match content.iter().find(|(media, _)| is_json(&essence(media))) {
            Some((_, entry)) => {
                let schema = match entry.get("schema").filter(|s| !s.is_null()) {
                    Some(schema) => {
                        let mut schema = schema.clone();
                        normalize(&mut schema);
                        Some(compiler.compile(&schema).map_err(|e| format!("{at}: {e}"))?)
                    }
                    None => None,
                };
                ParamValue::Json { schema }
            }
            None => ParamValue::Unchecked,
        }
    } else {
        ParamValue::Unchecked
    };
    Ok(Param { name, location, required, explode, value })
}

fn body_from(body: &Map<String, Value>, route_at: &str, compiler: &mut Compiler) -> Result<Body, String> {
    let required = body.get("required").and_then(Value::as_bool).unwrap_or(false);
    let mut content = Vec::new();
    match body.get("content") {
        None | Some(Value::Null) => {}
        Some(Value::Object(entries)) => {
            for (media, entry) in entries {
                let at = format!("{route_at}: body `{media}`");
                let media = essence(media);
                let schema = match entry.get("schema").filter(|s| !s.is_null()) {
                    Some(schema) => {
                        let mut schema = schema.clone();
                        normalize(&mut schema);
                        Some(schema)
                    }
                    None => None,
                };
                let compiled = match &schema {
                    Some(schema) if is_json(&media) || is_range(&media) => {
                        Some(compiler.compile(schema).map_err(|e| format!("{at}: {e}"))?)
                    }
                    _ => None,
                };
                let xml = match &schema {
                    Some(schema) if is_xml(&media) || is_range(&media) => XmlShape::of(schema, &compiler.components),
                    _ => XmlShape::default(),
                };
                content.push(Content { media, schema: compiled, xml });
            }
        }
        Some(_) => return Err(format!("{route_at}: `body.content` must be an object")),
    }
    Ok(Body { required, content })
}

/// Compiles schemas against the rules' components, once per distinct schema.
struct Compiler {
    components: Value,
    cache: HashMap<String, Arc<jsonschema::Validator>>,
}

impl Compiler {
    fn compile(&mut self, schema: &Value) -> Result<Arc<jsonschema::Validator>, String> {
        let key = schema.to_string();
        if let Some(compiled) = self.cache.get(&key) {
            return Ok(Arc::clone(compiled));
        }
        // `#/components/schemas/X` resolves against this root document.
        let root = json!({ "components": self.components, "allOf": [schema] });
        let compiled = jsonschema::draft4::options()
            .build(&root)
            .map_err(|e| format!("schema {} does not compile: {e}", abbreviate(&key, 200)))?;
        let compiled = Arc::new(compiled);
        self.cache.insert(key, Arc::clone(&compiled));
        Ok(compiled)
    }

    /// The type a parameter's text is coerced to: the schema's `type`
    /// after following `$ref`s (and looking into `allOf`/`oneOf`/`anyOf`).
    fn shape(&self, schema: &Value, depth: usize) -> Shape {
        let Some(schema) = resolve(schema, &self.components) else { return Shape::String };
        if depth > 16 {
            return Shape::String;
        }
        let ty = match schema.get("type") {
            Some(Value::String(t)) => Some(t.as_str()),
            Some(Value::Array(types)) => types.iter().filter_map(Value::as_str).find(|t| *t != "null"),
            _ => None,
        };
        match ty {
            Some("integer") => Shape::Integer,
            Some("number") => Shape::Number,
            Some("boolean") => Shape::Boolean,
            Some("object") => Shape::Object,
            Some("array") => Shape::Array(Box::new(match schema.get("items") {
                Some(items) if items.is_object() => self.shape(items, depth + 1),
                _ => Shape::String,
            })),
            Some(_) => Shape::String,
            None => ["allOf", "oneOf", "anyOf"]
                .iter()
                .filter_map(|k| schema.get(*k).and_then(Value::as_array))
                .flatten()
                .map(|member| self.shape(member, depth + 1))
                .find(|shape| *shape != Shape::String)
                .unwrap_or(Shape::String),
        }
    }
}

/// Follows a schema's `$ref` chain (`#/components/...` only) to the schema
/// it names. `None` for a reference that does not resolve.
pub(crate) fn resolve<'v>(mut schema: &'v Value, components: &'v Value) -> Option<&'v Value> {
    for _ in 0..32 {
        let Some(reference) = schema.get("$ref").and_then(Value::as_str) else { return Some(schema) };
        let pointer = reference.strip_prefix("#/components")?;
        schema = if pointer.is_empty() { components } else { components.pointer(pointer)? };
    }
    None
}

pub(crate) fn abbreviate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max).collect();
    cut.push('…');
    cut
}

/// Rewrites an OpenAPI 3.0 schema (and the 3.1 forms that differ) into
/// draft 4 JSON Schema, in place:
/// - `nullable: true` adds `"null"` to `type` (and `null` to `enum`);
/// - numeric `exclusiveMinimum`/`exclusiveMaximum` (3.1) become draft 4's
///   `minimum` + boolean form;
/// - `const` becomes a one-value `enum`;
/// - an empty `required` (draft 4 wants at least one name) is dropped.
pub(crate) fn normalize(schema: &mut Value) {
    let Value::Object(map) = schema else { return };
    if map.get("nullable") == Some(&Value::Bool(true)) {
        match map.get_mut("type") {
            Some(Value::String(t)) => {
                let t = std::mem::take(t);
                map.insert("type".into(), json!([t, "null"]));
            }
            Some(Value::Array(types)) if !types.iter().any(|t| t == "null") => types.push(json!("null")),
            _ => {}
        }
        if let Some(Value::Array(values)) = map.get_mut("enum") {
            if !values.contains(&Value::Null) {
                values.push(Value::Null);
            }
        }
    }
    for (exclusive, bound, stricter) in [
        ("exclusiveMinimum", "minimum", (|a: f64, b: f64| a > b) as fn(f64, f64) -> bool),
        ("exclusiveMaximum", "maximum", |a: f64, b: f64| a < b),
    ] {
        let Some(limit) = map.get(exclusive).filter(|v| v.is_number()).cloned() else { continue };
        let limit_f = limit.as_f64().unwrap_or(0.0);
        match map.get(bound).and_then(Value::as_f64) {
            // The inclusive bound is already stricter than the exclusive one.
            Some(current) if stricter(current, limit_f) => {
                map.remove(exclusive);
            }
            _ => {
                map.insert(bound.into(), limit);
                map.insert(exclusive.into(), Value::Bool(true));
            }
        }
    }
    if !map.contains_key("enum") {
        if let Some(value) = map.remove("const") {
            map.insert("enum".into(), Value::Array(vec![value]));
        }
    }
    if matches!(map.get("required"), Some(Value::Array(names)) if names.is_empty()) {
        map.remove("required");
    }
    for key in ["properties", "patternProperties", "definitions", "$defs"] {
        if let Some(Value::Object(children)) = map.get_mut(key) {
            children.values_mut().for_each(normalize);
        }
    }
    for key in ["items", "additionalProperties", "additionalItems", "not"] {
        match map.get_mut(key) {
            Some(child @ Value::Object(_)) => normalize(child),
            Some(Value::Array(children)) if key == "items" => children.iter_mut().for_each(normalize),
            _ => {}
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(children)) = map.get_mut(key) {
            children.iter_mut().for_each(normalize);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_split_into_literals_and_captures() {
        assert_eq!(
            parse_template("/files/{name}.{ext}").unwrap(),
            vec![
                vec![Piece::Literal(String::new())],
                vec![Piece::Literal("files".into())],
                vec![Piece::Param("name".into()), Piece::Literal(".".into()), Piece::Param("ext".into())],
            ]
        );
        assert!(parse_template("/a/{b").is_err());
        assert!(parse_template("/a/{b}{c}").is_err());
    }

    #[test]
    fn openapi_forms_become_draft4() {
        let mut schema = json!({
            "type": "object", "required": [],
            "properties": {
                "a": { "type": "string", "nullable": true, "enum": ["x"] },
                "b": { "type": "integer", "exclusiveMinimum": 0 },
                "c": { "const": 3 },
                "d": { "type": "number", "minimum": 5, "exclusiveMinimum": 1 }
            }
        });
        normalize(&mut schema);
        assert_eq!(
            schema,
            json!({
                "type": "object",
                "properties": {
                    "a": { "type": ["string", "null"], "nullable": true, "enum": ["x", null] },
                    "b": { "type": "integer", "minimum": 0, "exclusiveMinimum": true },
                    "c": { "enum": [3] },
                    "d": { "type": "number", "minimum": 5 }
                }
            })
        );
    }
}
