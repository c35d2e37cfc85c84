//! Reading a rules file (`validation/gateway-NAME.json`) into routes with
//! compiled schemas. Every JSON schema is compiled here, once; checking a
//! request compiles nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::xml::XmlShape;

/// The 400 message when neither the route nor the gateway names one.
const DEFAULT_MESSAGE: &str = "the request does not match the API";

/// How a rejected request is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase", expecting = "`json` or `text`")]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase", expecting = "`path`, `query`, `header` or `cookie`")]
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

/// The rules file as written; [`parse`] compiles its schemas into [`Rules`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object with `gateway`, `error`, `routes` and `components`")]
struct RulesFile {
    gateway: Option<String>,
    error: Option<ErrorFile>,
    routes: Option<Vec<RouteFile>>,
    components: Option<ComponentsFile>,
}

/// `{"format": "json"|"text", "message": "..."}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object with `format` and `message`")]
struct ErrorFile {
    format: Option<ErrorFormat>,
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object with `schemas`")]
struct ComponentsFile {
    /// Name → schema, the targets of `#/components/schemas/NAME`.
    schemas: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a route: an object with `route`, `match`, `method`, ...")]
struct RouteFile {
    route: Option<String>,
    #[serde(rename = "match")]
    matcher: MatchFile,
    method: Option<String>,
    headers: Option<Vec<HeaderRuleFile>>,
    /// `METHOD /path`, for people reading the file; not checked.
    #[serde(rename = "operation")]
    _operation: Option<String>,
    path_template: Option<String>,
    parameters: Option<Vec<ParamFile>>,
    body: Option<BodyFile>,
    error: Option<ErrorFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object with `path` or `prefix`")]
struct MatchFile {
    path: Option<String>,
    prefix: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object with `name` and `exact`, `prefix` or `present`")]
struct HeaderRuleFile {
    name: String,
    exact: Option<String>,
    prefix: Option<String>,
    present: Option<bool>,
}

/// An OpenAPI parameter: `schema`, or `content` with a JSON media type.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a parameter: an object with `name`, `in`, `required`, `schema`, ...")]
struct ParamFile {
    name: String,
    #[serde(rename = "in")]
    location: In,
    required: Option<bool>,
    explode: Option<bool>,
    schema: Option<Value>,
    content: Option<BTreeMap<String, MediaFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object with `required` and `content`")]
struct BodyFile {
    required: Option<bool>,
    content: Option<BTreeMap<String, MediaFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object with `schema`")]
struct MediaFile {
    schema: Option<Value>,
}

pub(crate) fn parse(text: &str) -> Result<Rules, String> {
    let file: RulesFile = crate::config::from_json(text)?;
    let (format, message) = error_from(file.error).unwrap_or((ErrorFormat::Json, DEFAULT_MESSAGE.to_string()));
    let mut schemas = file.components.and_then(|c| c.schemas).unwrap_or_default();
    schemas.values_mut().for_each(normalize);
    let mut compiler = Compiler { components: json!({ "schemas": schemas }), cache: HashMap::new() };
    let routes = file.routes.unwrap_or_default();
    let routes = routes
        .into_iter()
        .enumerate()
        .map(|(i, route)| route_from(i, route, &mut compiler))
        .collect::<Result<_, _>>()?;
    Ok(Rules { gateway: file.gateway.unwrap_or_default(), format, message, routes })
}

fn error_from(error: Option<ErrorFile>) -> Option<(ErrorFormat, String)> {
    let error = error?;
    Some((error.format.unwrap_or(ErrorFormat::Json), error.message.unwrap_or_else(|| DEFAULT_MESSAGE.to_string())))
}

fn route_from(index: usize, route: RouteFile, compiler: &mut Compiler) -> Result<Route, String> {
    let name = route.route.unwrap_or_default();
    let at = if name.is_empty() { format!("routes[{index}]") } else { format!("routes[{index}] (`{name}`)") };

    let path = match (route.matcher.path, route.matcher.prefix) {
        (Some(path), None) => PathMatch::Exact(path),
        (None, Some(prefix)) => PathMatch::Prefix(prefix),
        _ => return Err(format!("{at}: `match` needs exactly one of `path` and `prefix`")),
    };

    let mut headers = Vec::new();
    for rule in route.headers.unwrap_or_default() {
        let name = rule.name.to_ascii_lowercase();
        let test = if let Some(exact) = rule.exact {
            HeaderTest::Exact(exact)
        } else if let Some(prefix) = rule.prefix {
            HeaderTest::Prefix(prefix)
        } else if let Some(present) = rule.present {
            HeaderTest::Present(present)
        } else {
            return Err(format!("{at}: header rule `{name}` needs `exact`, `prefix` or `present`"));
        };
        headers.push(HeaderRule { name, test });
    }

    let template = route.path_template.as_deref().map(parse_template).transpose()?.unwrap_or_default();

    let params = route
        .parameters
        .unwrap_or_default()
        .into_iter()
        .map(|param| param_from(param, &at, compiler))
        .collect::<Result<Vec<_>, _>>()?;
    for param in &params {
        if param.location == In::Path && !template.iter().flatten().any(|p| *p == Piece::Param(param.name.clone())) {
            return Err(format!("{at}: path parameter `{}` is not in `path_template`", param.name));
        }
    }

    let body = route.body.map(|body| body_from(body, &at, compiler)).transpose()?;

    Ok(Route { name, path, method: route.method, headers, template, params, body, error: error_from(route.error) })
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

fn param_from(param: ParamFile, route_at: &str, compiler: &mut Compiler) -> Result<Param, String> {
    let at = format!("{route_at}: parameter `{}`", param.name);
    let location = param.location;
    let name = if location == In::Header { param.name.to_ascii_lowercase() } else { param.name };
    let required = location == In::Path || param.required.unwrap_or(false);
    let explode = param.explode.unwrap_or(location == In::Query);
    let value = if let Some(mut schema) = param.schema {
        normalize(&mut schema);
        let shape = compiler.shape(&schema, 0);
        ParamValue::Schema { shape, schema: compiler.compile(&schema).map_err(|e| format!("{at}: {e}"))? }
    } else if let Some(content) = param.content {
        match content.into_iter().find(|(media, _)| is_json(&essence(media))) {
            Some((_, entry)) => {
                let schema = match entry.schema {
                    Some(mut schema) => {
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

fn body_from(body: BodyFile, route_at: &str, compiler: &mut Compiler) -> Result<Body, String> {
    let mut content = Vec::new();
    for (media, entry) in body.content.unwrap_or_default() {
        let at = format!("{route_at}: body `{media}`");
        let media = essence(&media);
        let schema = entry.schema.map(|mut schema| {
            normalize(&mut schema);
            schema
        });
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
    Ok(Body { required: body.required.unwrap_or(false), content })
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
