//! Breaking changes between two OpenAPI 3 documents, judged by the
//! direction data flows (the checks oasdiff makes): a request may only
//! accept more (no new required parameter or property, no narrowed type,
//! enum, format or bound, no removed media type), a response may only
//! promise more (no removed status, property or media type, no property
//! made optional, no widened type; a new enum value is dangerous).
//!
//! Operations pair by method and path, the names of path parameters
//! aside (`/orders/{id}` is `/orders/{orderId}`); parameters by place and
//! name; responses by status; bodies by media type; schema properties by
//! name, array items and `allOf`/`oneOf`/`anyOf` members by position.
//! Local `$ref`s are followed (chains of at most [`MAX_REF_HOPS`]); each
//! pair of referenced schemas is compared once per direction, so
//! recursive schemas terminate and shared ones cost their size once.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde_json::Value;

use super::{Change, Format, Judged, Level, Rule};
use crate::base::Span;
use crate::schema::json_spans::join;
use crate::schema::openapi::{Locator, OpenApiDocument};

/// Most changes reported for one pair of documents.
pub const MAX_CHANGES: usize = 10_000;
/// Most schema pairs compared for one pair of documents (a bound on work
/// however the documents nest).
const MAX_VISITS: usize = 200_000;
/// Deepest nesting of schemas compared (properties, items, members,
/// references), which bounds the recursion.
pub const MAX_DEPTH: usize = 128;
/// Longest chain of `$ref`s followed to a schema.
pub const MAX_REF_HOPS: usize = 32;

macro_rules! oas {
    ($paths:literal) => {
        concat!("openapi: 3.0.3\ninfo:\n  title: demo\n  version: '1'\npaths:\n", $paths)
    };
}

macro_rules! openapi_rules {
    ($($id:literal, $level:ident, $purpose:literal, $before:expr, $after:expr;)*) => {
        /// Every OpenAPI rule: operations, then requests, then responses.
        pub static RULES: &[Rule] = &[
            $(Rule { id: $id, format: Format::OpenApi, judged: Judged::Level(Level::$level), purpose: $purpose, before: $before, after: $after }),*
        ];
    };
}

openapi_rules! {
    "OPENAPI_OPERATION_NO_DELETE", Breaking, "Checks that operations (a path's methods) are not deleted.",
        oas!("  /orders:\n    get:\n      responses:\n        '200': {description: ok}\n    post:\n      responses:\n        '201': {description: created}\n"),
        oas!("  /orders:\n    get:\n      responses:\n        '200': {description: ok}\n");
    "OPENAPI_OPERATION_ID_SAME", Dangerous, "Checks that operations keep their operationId, which names generated client methods.",
        oas!("  /orders:\n    get:\n      operationId: listOrders\n      responses:\n        '200': {description: ok}\n"),
        oas!("  /orders:\n    get:\n      operationId: getOrders\n      responses:\n        '200': {description: ok}\n");
    "OPENAPI_SECURITY_NO_ADD", Breaking, "Checks that operations require no credentials their clients may not send: every old security alternative still satisfies a new one.",
        oas!("  /orders:\n    get:\n      responses:\n        '200': {description: ok}\ncomponents:\n  securitySchemes:\n    key: {type: apiKey, in: header, name: X-Key}\n"),
        oas!("  /orders:\n    get:\n      security:\n      - key: []\n      responses:\n        '200': {description: ok}\ncomponents:\n  securitySchemes:\n    key: {type: apiKey, in: header, name: X-Key}\n");
    "OPENAPI_REQUEST_PARAMETER_REQUIRED_NO_ADD", Breaking, "Checks that operations take no new required parameter.",
        oas!("  /orders:\n    get:\n      responses:\n        '200': {description: ok}\n"),
        oas!("  /orders:\n    get:\n      parameters:\n      - name: tenant\n        in: header\n        required: true\n        schema: {type: string}\n      responses:\n        '200': {description: ok}\n");
    "OPENAPI_REQUEST_PARAMETER_NO_REQUIRE", Breaking, "Checks that optional parameters do not become required.",
        oas!("  /orders:\n    get:\n      parameters:\n      - name: limit\n        in: query\n        schema: {type: integer}\n      responses:\n        '200': {description: ok}\n"),
        oas!("  /orders:\n    get:\n      parameters:\n      - name: limit\n        in: query\n        required: true\n        schema: {type: integer}\n      responses:\n        '200': {description: ok}\n");
    "OPENAPI_REQUEST_PARAMETER_NO_DELETE", Dangerous, "Checks that parameters are not deleted: clients still send them, and a strict server rejects them.",
        oas!("  /orders:\n    get:\n      parameters:\n      - name: limit\n        in: query\n        schema: {type: integer}\n      responses:\n        '200': {description: ok}\n"),
        oas!("  /orders:\n    get:\n      responses:\n        '200': {description: ok}\n");
    "OPENAPI_REQUEST_BODY_NO_REQUIRE", Breaking, "Checks that request bodies do not become required, and that no required body is added.",
        oas!("  /orders:\n    post:\n      requestBody:\n        content:\n          application/json:\n            schema: {type: object}\n      responses:\n        '201': {description: created}\n"),
        oas!("  /orders:\n    post:\n      requestBody:\n        required: true\n        content:\n          application/json:\n            schema: {type: object}\n      responses:\n        '201': {description: created}\n");
    "OPENAPI_REQUEST_MEDIA_TYPE_NO_DELETE", Breaking, "Checks that request bodies keep accepting every media type they accepted.",
        oas!("  /orders:\n    post:\n      requestBody:\n        content:\n          application/json:\n            schema: {type: object}\n          application/xml:\n            schema: {type: object}\n      responses:\n        '201': {description: created}\n"),
        oas!("  /orders:\n    post:\n      requestBody:\n        content:\n          application/json:\n            schema: {type: object}\n      responses:\n        '201': {description: created}\n");
    "OPENAPI_REQUEST_PROPERTY_REQUIRED_NO_ADD", Breaking, "Checks that request schemas require no new property (added as required, or made required).",
        oas!("  /orders:\n    post:\n      requestBody:\n        content:\n          application/json:\n            schema:\n              type: object\n              properties:\n                sku: {type: string}\n      responses:\n        '201': {description: created}\n"),
        oas!("  /orders:\n    post:\n      requestBody:\n        content:\n          application/json:\n            schema:\n              type: object\n              required: [sku]\n              properties:\n                sku: {type: string}\n      responses:\n        '201': {description: created}\n");
    "OPENAPI_REQUEST_PROPERTY_NO_DELETE", Dangerous, "Checks that request schemas do not delete properties: clients still send them.",
        oas!("  /orders:\n    post:\n      requestBody:\n        content:\n          application/json:\n            schema:\n              type: object\n              properties:\n                sku: {type: string}\n                note: {type: string}\n      responses:\n        '201': {description: created}\n"),
        oas!("  /orders:\n    post:\n      requestBody:\n        content:\n          application/json:\n            schema:\n              type: object\n              properties:\n                sku: {type: string}\n      responses:\n        '201': {description: created}\n");
    "OPENAPI_REQUEST_TYPE_NO_NARROW", Breaking, "Checks that request schemas (parameters and bodies) accept everything they accepted: no changed type or format, removed enum value, raised minimum, lowered maximum, new pattern or closed object.",
        oas!("  /orders:\n    get:\n      parameters:\n      - name: limit\n        in: query\n        schema: {type: integer, maximum: 100}\n      responses:\n        '200': {description: ok}\n"),
        oas!("  /orders:\n    get:\n      parameters:\n      - name: limit\n        in: query\n        schema: {type: integer, maximum: 50}\n      responses:\n        '200': {description: ok}\n");
    "OPENAPI_RESPONSE_SUCCESS_NO_DELETE", Breaking, "Checks that success (2xx) responses are not deleted.",
        oas!("  /orders:\n    post:\n      responses:\n        '200': {description: ok}\n        '201': {description: created}\n"),
        oas!("  /orders:\n    post:\n      responses:\n        '201': {description: created}\n");
    "OPENAPI_RESPONSE_NON_SUCCESS_NO_DELETE", Dangerous, "Checks that error and default responses are not deleted: clients may handle them.",
        oas!("  /orders:\n    get:\n      responses:\n        '200': {description: ok}\n        '404': {description: missing}\n"),
        oas!("  /orders:\n    get:\n      responses:\n        '200': {description: ok}\n");
    "OPENAPI_RESPONSE_MEDIA_TYPE_NO_DELETE", Breaking, "Checks that responses keep every media type they had.",
        oas!("  /orders:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {type: object}\n            text/csv:\n              schema: {type: string}\n"),
        oas!("  /orders:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {type: object}\n");
    "OPENAPI_RESPONSE_PROPERTY_NO_DELETE", Breaking, "Checks that response schemas do not delete properties clients read.",
        oas!("  /orders:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema:\n                type: object\n                properties:\n                  id: {type: string}\n                  total: {type: number}\n"),
        oas!("  /orders:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema:\n                type: object\n                properties:\n                  id: {type: string}\n");
    "OPENAPI_RESPONSE_PROPERTY_NO_OPTIONAL", Breaking, "Checks that required response properties stay required: clients rely on them.",
        oas!("  /orders:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema:\n                type: object\n                required: [id]\n                properties:\n                  id: {type: string}\n"),
        oas!("  /orders:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema:\n                type: object\n                properties:\n                  id: {type: string}\n");
    "OPENAPI_RESPONSE_TYPE_NO_WIDEN", Breaking, "Checks that response schemas promise everything they promised: no changed type or format, lowered minimum, raised maximum, dropped pattern or enum.",
        oas!("  /orders:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {type: integer}\n"),
        oas!("  /orders:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {type: string}\n");
    "OPENAPI_RESPONSE_HEADER_NO_DELETE", Breaking, "Checks that responses keep every header they had, and that required headers stay required: clients read them (`Location`, `ETag`, rate-limit headers).",
        oas!("  /orders:\n    post:\n      responses:\n        '201':\n          description: created\n          headers:\n            Location:\n              required: true\n              schema: {type: string}\n"),
        oas!("  /orders:\n    post:\n      responses:\n        '201':\n          description: created\n");
    "OPENAPI_RESPONSE_ENUM_VALUE_NO_ADD", Dangerous, "Checks that response enums gain no value: clients that switch over the values meet one they do not know.",
        oas!("  /orders:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {type: string, enum: [open, paid]}\n"),
        oas!("  /orders:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {type: string, enum: [open, paid, refunded]}\n");
}

fn rule(id: &str) -> &'static Rule {
    RULES.iter().find(|r| r.id == id).unwrap_or(&RULES[0])
}

/// Every change from `old` to `new` that some rule reports.
pub fn compare(old: &OpenApiDocument, new: &OpenApiDocument) -> Vec<Change> {
    compare_placed(old, new).changes
}

/// Every change from `old` to `new`, with the operations each is in.
pub fn compare_placed(old: &OpenApiDocument, new: &OpenApiDocument) -> Placed {
    let mut diff = Diff {
        old: Side { doc: old, locator: old.locator() },
        new: Side { doc: new, locator: new.locator() },
        out: Vec::new(),
        compared: HashMap::new(),
        visits: 0,
        depth: 0,
        scope: UNPLACED,
        scopes: Vec::new(),
        change_scopes: Vec::new(),
    };
    diff.operations();
    let mut placed: Vec<(Change, usize)> = diff.out.into_iter().zip(diff.change_scopes).collect();
    let key = |c: &Change| (c.new, c.old, c.rule.id, c.reason.clone());
    placed.sort_by_key(|(c, _)| key(c));
    placed.dedup_by(|a, b| key(&a.0) == key(&b.0));
    placed.truncate(MAX_CHANGES);
    let (changes, change_scopes) = placed.into_iter().unzip();
    Placed { changes, change_scopes, scopes: diff.scopes }
}

/// No scope: a change outside every operation.
const UNPLACED: usize = usize::MAX;

/// A place changes are found in: an operation of the old document, or a
/// referenced schema (reached from the scopes it is compared in).
#[derive(Debug)]
enum Scope {
    /// `GET /orders/{}`: the method and the path, parameter names blanked.
    Operation(String),
    Shared {
        reached_from: Vec<usize>,
    },
}

/// The changes between two OpenAPI documents and, for consumer awareness,
/// the operations each is in: its own, or every operation that reaches
/// the referenced schema it is in.
#[derive(Debug)]
pub struct Placed {
    /// Sorted as every comparator's.
    pub changes: Vec<Change>,
    change_scopes: Vec<usize>,
    scopes: Vec<Scope>,
}

impl Placed {
    /// The operations change `index` is in (`GET /orders/{}`: see
    /// [`operation_key`]); `None` when it is in none the comparison could
    /// name, i.e. it may affect every operation.
    pub fn operations(&self, index: usize) -> Option<BTreeSet<&str>> {
        let start = *self.change_scopes.get(index)?;
        let mut out = BTreeSet::new();
        let mut seen = HashSet::from([start]);
        let mut queue = vec![start];
        while let Some(scope) = queue.pop() {
            // UNPLACED, or a schema compared outside every operation.
            match self.scopes.get(scope)? {
                Scope::Operation(key) => {
                    out.insert(key.as_str());
                }
                Scope::Shared { reached_from } => {
                    queue.extend(reached_from.iter().copied().filter(|s| seen.insert(*s)));
                }
            }
        }
        Some(out)
    }
}

/// How [`Placed::operations`] names an operation: `GET /orders/{}` (the
/// method upper-case, path parameter names blanked, as operations pair).
pub fn operation_key(method: &str, path: &str) -> String {
    format!("{} {}", method.to_ascii_uppercase(), blank_parameters(path))
}

/// One version: the document and where its values are written.
struct Side<'d> {
    doc: &'d OpenApiDocument,
    locator: Locator<'d>,
}

/// A value with its JSON Pointer in the document.
#[derive(Clone, Copy)]
struct At<'v, 'p> {
    value: &'v Value,
    pointer: &'p str,
}

impl<'d> Side<'d> {
    fn span(&self, pointer: &str) -> Option<Span> {
        let range = self.locator.nearest(pointer).unwrap_or(0..0);
        Some(Span::new(self.doc.file, range))
    }

    /// `value`, or what its `$ref` chain points at in this document, with
    /// the pointer of what was found; whether a reference was followed.
    fn resolve(&self, value: &'d Value, pointer: String) -> (&'d Value, String, bool) {
        let (mut value, mut pointer, mut followed) = (value, pointer, false);
        for _ in 0..MAX_REF_HOPS {
            let Some(target) = value.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix('#')) else {
                break;
            };
            let Some(found) = self.doc.value.pointer(target) else { break };
            (value, pointer, followed) = (found, target.to_string(), true);
        }
        (value, pointer, followed)
    }
}

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// An operation: its path item's pointer and its own.
struct Operation<'d> {
    path: &'d str,
    item: String,
    pointer: String,
    value: &'d Value,
    item_value: &'d Value,
}

/// Operations by (path with parameter names blanked, method).
fn operations<'d>(side: &Side<'d>) -> BTreeMap<(String, &'static str), Operation<'d>> {
    let mut out = BTreeMap::new();
    let Some(paths) = side.doc.value.get("paths").and_then(Value::as_object) else { return out };
    for (path, item) in paths {
        let item_pointer = join("/paths", path);
        let (item_value, item_pointer, _) = side.resolve(item, item_pointer);
        for method in METHODS {
            let Some(value) = item_value.get(method) else { continue };
            let pointer = join(&item_pointer, method);
            let operation = Operation { path, item: item_pointer.clone(), pointer, value, item_value };
            out.insert((blank_parameters(path), method), operation);
        }
    }
    out
}

/// One security alternative: scheme names with the scopes each needs.
type Alternative = BTreeMap<String, BTreeSet<String>>;

/// An operation's security alternatives (its own `security`, else the
/// document's; none is one alternative asking nothing), and where they are.
fn security(side: &Side<'_>, op: &Operation<'_>) -> (Vec<Alternative>, String) {
    let (list, pointer) = match (op.value.get("security"), side.doc.value.get("security")) {
        (Some(own), _) => (own, join(&op.pointer, "security")),
        (None, Some(document)) => (document, "/security".to_string()),
        (None, None) => return (vec![Alternative::new()], op.pointer.clone()),
    };
    let alternatives: Vec<Alternative> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .map(|requirement| {
            requirement
                .iter()
                .map(|(scheme, scopes)| {
                    let scopes = scopes.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string);
                    (scheme.clone(), scopes.collect())
                })
                .collect()
        })
        .collect();
    // `security: []` removes the requirement.
    if alternatives.is_empty() {
        return (vec![Alternative::new()], pointer);
    }
    (alternatives, pointer)
}

/// `/orders/{id}` → `/orders/{}`.
fn blank_parameters(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut inside = false;
    for c in path.chars() {
        match c {
            '{' => {
                inside = true;
                out.push('{');
            }
            '}' => {
                inside = false;
                out.push('}');
            }
            _ if inside => {}
            _ => out.push(c),
        }
    }
    out
}

/// Data sent by clients, or returned to them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Flow {
    Request,
    Response,
}

struct Diff<'d> {
    old: Side<'d>,
    new: Side<'d>,
    out: Vec<Change>,
    /// Pairs of referenced schemas already compared, per flow, with their
    /// scope.
    compared: HashMap<(Flow, String, String), usize>,
    /// The scope comparisons run in now, and every scope so far.
    scope: usize,
    scopes: Vec<Scope>,
    /// The scope of each change of `out`.
    change_scopes: Vec<usize>,
    visits: usize,
    /// Schemas being compared, outermost first.
    depth: usize,
}

/// Where in an operation a schema is, for messages: `the request body
/// (application/json) of POST /orders`, with the field path inside it.
struct Place<'p> {
    what: &'p str,
    path: String,
}

impl Place<'_> {
    fn describe(&self) -> String {
        if self.path.is_empty() {
            self.what.to_string()
        } else {
            format!("`{}` in {}", self.path, self.what)
        }
    }

    fn child(&self, segment: &str) -> String {
        crate::schema::compat::join_path(&self.path, segment)
    }
}

impl<'d> Diff<'d> {
    fn report(&mut self, id: &str, new: &str, old: &str, reason: String) {
        if self.out.len() < MAX_CHANGES {
            let (new, old) = (self.new.span(new), self.old.span(old));
            self.out.push(Change { rule: rule(id), new, old, reason });
            self.change_scopes.push(self.scope);
        }
    }

    fn operations(&mut self) {
        let (old, new) = (operations(&self.old), operations(&self.new));
        for (key, o) in &old {
            let name = format!("{} {}", key.1.to_ascii_uppercase(), o.path);
            self.scope = self.scopes.len();
            self.scopes.push(Scope::Operation(operation_key(key.1, &key.0)));
            match new.get(key) {
                None => {
                    // Another method of the same path, if any (keys sort by path first).
                    let near = new
                        .range((key.0.clone(), "")..)
                        .next()
                        .filter(|((path, _), _)| *path == key.0)
                        .map_or("/paths".to_string(), |(_, n)| n.item.clone());
                    self.report(
                        "OPENAPI_OPERATION_NO_DELETE",
                        &near,
                        &o.pointer,
                        format!("the operation {name} was deleted"),
                    );
                }
                Some(n) => self.operation(&name, o, n),
            }
        }
    }

    fn operation(&mut self, name: &str, o: &Operation<'d>, n: &Operation<'d>) {
        let id = |op: &Operation<'_>| op.value.get("operationId").and_then(Value::as_str).map(str::to_string);
        if let (Some(old_id), new_id) = (id(o), id(n)) {
            if new_id.as_deref() != Some(&old_id) {
                let now = new_id.map_or("none".to_string(), |i| format!("`{i}`"));
                let at = join(&n.pointer, "operationId");
                let was = join(&o.pointer, "operationId");
                self.report(
                    "OPENAPI_OPERATION_ID_SAME",
                    &at,
                    &was,
                    format!("the operationId of {name} changed from `{old_id}` to {now}"),
                );
            }
        }
        self.security(name, o, n);
        self.parameters(name, o, n);
        self.request_body(name, o, n);
        self.responses(name, o, n);
    }

    /// A client that satisfied one of the old alternatives sends its
    /// credentials (schemes and scopes); it still passes when some new
    /// alternative asks for no more.
    fn security(&mut self, name: &str, o: &Operation<'d>, n: &Operation<'d>) {
        let (old, old_at) = security(&self.old, o);
        let (new, new_at) = security(&self.new, n);
        let covered = |a: &Alternative| {
            new.iter().any(|b| b.iter().all(|(s, scopes)| a.get(s).is_some_and(|have| scopes.is_subset(have))))
        };
        if let Some(lost) = old.iter().find(|a| !covered(a)) {
            let sent = if lost.is_empty() {
                "no credentials".to_string()
            } else {
                lost.keys().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(" and ")
            };
            let why = format!("{name} requires credentials beyond what its clients sent ({sent})");
            self.report("OPENAPI_SECURITY_NO_ADD", &new_at, &old_at, why);
        }
    }

    /// Parameters by (place, name): the path item's, overridden by the
    /// operation's; path parameters by their position in the path (their
    /// names are the server's business), with their names.
    fn parameter_map(side: &Side<'d>, op: &Operation<'d>) -> BTreeMap<(String, String), (&'d Value, String, String)> {
        let template: Vec<&str> =
            op.path.split('{').skip(1).filter_map(|p| p.split_once('}').map(|(name, _)| name)).collect();
        let mut out = BTreeMap::new();
        for (owner, pointer) in [(op.item_value, &op.item), (op.value, &op.pointer)] {
            let list_pointer = join(pointer, "parameters");
            let Some(list) = owner.get("parameters").and_then(Value::as_array) else { continue };
            for (i, p) in list.iter().enumerate() {
                let (p, p_pointer, _) = side.resolve(p, join(&list_pointer, &i.to_string()));
                let field = |f: &str| p.get(f).and_then(Value::as_str).unwrap_or_default().to_string();
                let (place, name) = (field("in"), field("name"));
                let key = match template.iter().position(|n| *n == name) {
                    Some(position) if place == "path" => format!("#{position}"),
                    _ => name.clone(),
                };
                out.insert((place, key), (p, p_pointer, name));
            }
        }
        out
    }

    fn parameters(&mut self, name: &str, o: &Operation<'d>, n: &Operation<'d>) {
        let (old, new) = (Self::parameter_map(&self.old, o), Self::parameter_map(&self.new, n));
        let required =
            |(place, _): &(String, String), p: &Value| place == "path" || p.get("required") == Some(&Value::Bool(true));
        for (key, (p, pointer, shown)) in &old {
            let what = format!("the {} parameter `{shown}` of {name}", key.0);
            match new.get(key) {
                None => self.report(
                    "OPENAPI_REQUEST_PARAMETER_NO_DELETE",
                    &n.pointer,
                    pointer,
                    format!("{what} was deleted"),
                ),
                Some((np, npointer, _)) => {
                    if !required(key, p) && required(key, np) {
                        self.report(
                            "OPENAPI_REQUEST_PARAMETER_NO_REQUIRE",
                            npointer,
                            pointer,
                            format!("{what} became required"),
                        );
                    }
                    let (os, ns) = (parameter_schema(p, pointer), parameter_schema(np, npointer));
                    if let (Some((os, op)), Some((ns, np))) = (os, ns) {
                        self.schema(Flow::Request, &Place { what: &what, path: String::new() }, os, op, ns, np);
                    }
                }
            }
        }
        for (key, (p, pointer, shown)) in &new {
            if !old.contains_key(key) && required(key, p) {
                let what = format!("the {} parameter `{shown}` of {name}", key.0);
                self.report(
                    "OPENAPI_REQUEST_PARAMETER_REQUIRED_NO_ADD",
                    pointer,
                    &o.pointer,
                    format!("{what} is new and required"),
                );
            }
        }
    }

    fn request_body(&mut self, name: &str, o: &Operation<'d>, n: &Operation<'d>) {
        let body = |side: &Side<'d>, op: &Operation<'d>| {
            op.value.get("requestBody").map(|b| side.resolve(b, join(&op.pointer, "requestBody")))
        };
        let required = |b: &Value| b.get("required") == Some(&Value::Bool(true));
        let what = format!("the request body of {name}");
        match (body(&self.old, o), body(&self.new, n)) {
            (None, Some((nb, np, _))) if required(nb) => {
                self.report("OPENAPI_REQUEST_BODY_NO_REQUIRE", &np, &o.pointer, format!("{what} is new and required"));
            }
            (Some((ob, op, _)), Some((nb, np, _))) => {
                if !required(ob) && required(nb) {
                    self.report(
                        "OPENAPI_REQUEST_BODY_NO_REQUIRE",
                        &join(&np, "required"),
                        &op,
                        format!("{what} became required"),
                    );
                }
                self.contents(Flow::Request, &what, (ob, &op), (nb, &np));
            }
            _ => {}
        }
    }

    fn responses(&mut self, name: &str, o: &Operation<'d>, n: &Operation<'d>) {
        let (Some(old), Some(new)) =
            (o.value.get("responses").and_then(Value::as_object), n.value.get("responses").and_then(Value::as_object))
        else {
            return;
        };
        let (old_list, new_list) = (join(&o.pointer, "responses"), join(&n.pointer, "responses"));
        for (status, response) in old {
            let (response, op, _) = self.old.resolve(response, join(&old_list, status));
            let what = format!("the {status} response of {name}");
            match new.get(status) {
                None => {
                    let id = if status.starts_with('2') {
                        "OPENAPI_RESPONSE_SUCCESS_NO_DELETE"
                    } else {
                        "OPENAPI_RESPONSE_NON_SUCCESS_NO_DELETE"
                    };
                    self.report(id, &new_list, &op, format!("{what} was deleted"));
                }
                Some(nr) => {
                    let (nr, np, _) = self.new.resolve(nr, join(&new_list, status));
                    self.response_headers(&what, (response, &op), (nr, &np));
                    self.contents(Flow::Response, &what, (response, &op), (nr, &np));
                }
            }
        }
    }

    /// A body's media types (`content`) and their schemas.
    /// A response's headers: deleted, made optional, or promising less
    /// (their schemas, as response schemas). Names match case-insensitively.
    fn response_headers(&mut self, what: &str, (o, op): (&'d Value, &str), (n, np): (&'d Value, &str)) {
        let Some(old) = o.get("headers").and_then(Value::as_object) else { return };
        let new = n.get("headers").and_then(Value::as_object);
        let near = if new.is_some() { join(np, "headers") } else { np.to_string() };
        for (name, header) in old {
            let (header, ohp, _) = self.old.resolve(header, join(&join(op, "headers"), name));
            let found = new.and_then(|h| h.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)));
            let Some((new_name, new_header)) = found else {
                let reason = format!("{what} no longer has the header `{name}`");
                self.report("OPENAPI_RESPONSE_HEADER_NO_DELETE", &near, &ohp, reason);
                continue;
            };
            let (new_header, nhp, _) = self.new.resolve(new_header, join(&join(np, "headers"), new_name));
            let required = |h: &Value| h.get("required").and_then(Value::as_bool).unwrap_or(false);
            if required(header) && !required(new_header) {
                let reason = format!("{what}: the header `{name}` is no longer required");
                self.report("OPENAPI_RESPONSE_HEADER_NO_DELETE", &nhp, &ohp, reason);
            }
            if let (Some(os), Some(ns)) = (header.get("schema"), new_header.get("schema")) {
                let what = format!("{what}, header `{name}`");
                let place = Place { what: &what, path: String::new() };
                self.schema(Flow::Response, &place, os, join(&ohp, "schema"), ns, join(&nhp, "schema"));
            }
        }
    }

    fn contents(&mut self, flow: Flow, what: &str, (o, op): (&'d Value, &str), (n, np): (&'d Value, &str)) {
        let (Some(old), new) =
            (o.get("content").and_then(Value::as_object), n.get("content").and_then(Value::as_object))
        else {
            return;
        };
        let (old_list, new_list) = (join(op, "content"), join(np, "content"));
        for (media, om) in old {
            let omp = join(&old_list, media);
            match new.and_then(|n| n.get(media)) {
                None => {
                    let id = match flow {
                        Flow::Request => "OPENAPI_REQUEST_MEDIA_TYPE_NO_DELETE",
                        Flow::Response => "OPENAPI_RESPONSE_MEDIA_TYPE_NO_DELETE",
                    };
                    let near = if new.is_some() { new_list.clone() } else { np.to_string() };
                    self.report(id, &near, &omp, format!("{what} no longer has the media type `{media}`"));
                }
                Some(nm) => {
                    let nmp = join(&new_list, media);
                    if let (Some(os), Some(ns)) = (om.get("schema"), nm.get("schema")) {
                        let what = format!("{what} ({media})");
                        let place = Place { what: &what, path: String::new() };
                        self.schema(flow, &place, os, join(&omp, "schema"), ns, join(&nmp, "schema"));
                    }
                }
            }
        }
    }

    /// Compares two schemas, at most [`MAX_DEPTH`] levels down (references
    /// to ever new schemas could otherwise nest without bound).
    fn schema(&mut self, flow: Flow, place: &Place<'_>, old: &'d Value, op: String, new: &'d Value, np: String) {
        if self.visits >= MAX_VISITS || self.out.len() >= MAX_CHANGES || self.depth >= MAX_DEPTH {
            return;
        }
        self.visits += 1;
        self.depth += 1;
        self.schema_pair(flow, place, old, op, new, np);
        self.depth -= 1;
    }

    fn schema_pair(&mut self, flow: Flow, place: &Place<'_>, old: &'d Value, op: String, new: &'d Value, np: String) {
        let (old, op, old_ref) = self.old.resolve(old, op);
        let (new, np, new_ref) = self.new.resolve(new, np);
        let outer = self.scope;
        if old_ref || new_ref {
            let next = self.scopes.len();
            let scope = *self.compared.entry((flow, op.clone(), np.clone())).or_insert(next);
            if scope != next {
                if let Scope::Shared { reached_from } = &mut self.scopes[scope] {
                    reached_from.push(outer);
                }
                return;
            }
            self.scopes.push(Scope::Shared { reached_from: vec![outer] });
            self.scope = scope;
        }
        let (o, n) = (At { value: old, pointer: &op }, At { value: new, pointer: &np });
        self.types(flow, place, o, n);
        self.formats(flow, place, o, n);
        self.enums(flow, place, o, n);
        self.bounds(flow, place, o, n);
        self.properties(flow, place, o, n);
        if let (Some(oi), Some(ni)) = (old.get("items"), new.get("items")) {
            let inner = Place { what: place.what, path: place.child("[]") };
            self.schema(flow, &inner, oi, join(&op, "items"), ni, join(&np, "items"));
        }
        if let (Some(oa), Some(na)) = (old.get("additionalProperties"), new.get("additionalProperties")) {
            if oa.is_object() && na.is_object() {
                let inner = Place { what: place.what, path: place.child("{}") };
                self.schema(flow, &inner, oa, join(&op, "additionalProperties"), na, join(&np, "additionalProperties"));
            }
        }
        self.members(flow, place, o, n);
        self.scope = outer;
    }

    /// A change narrowing a request or widening a response.
    fn mismatch(&mut self, flow: Flow, place: &Place<'_>, (n, o): (String, String), what: String) {
        let id = match flow {
            Flow::Request => "OPENAPI_REQUEST_TYPE_NO_NARROW",
            Flow::Response => "OPENAPI_RESPONSE_TYPE_NO_WIDEN",
        };
        self.report(id, &n, &o, format!("{}: {what}", place.describe()));
    }

    fn types(&mut self, flow: Flow, place: &Place<'_>, o: At<'_, '_>, n: At<'_, '_>) {
        let (old, new) = (types(o.value), types(n.value));
        // A request accepting fewer types narrows; a response returning more widens.
        let (from, to) = match flow {
            Flow::Request => (&old, &new),
            Flow::Response => (&new, &old),
        };
        let lost = match (from, to) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(from), Some(to)) => from.iter().any(|t| !covers(to, t)),
        };
        if lost {
            let show = |t: &Option<BTreeSet<&str>>| match t {
                None => "any type".to_string(),
                Some(t) => t.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(" or "),
            };
            let at = pointer_of(n, "type");
            let was = pointer_of(o, "type");
            self.mismatch(flow, place, (at, was), format!("the type changed from {} to {}", show(&old), show(&new)));
        }
    }

    fn formats(&mut self, flow: Flow, place: &Place<'_>, o: At<'_, '_>, n: At<'_, '_>) {
        let (old, new) = (str_field(o.value, "format"), str_field(n.value, "format"));
        let narrowed = match flow {
            Flow::Request => new.is_some() && new != old,
            Flow::Response => old.is_some() && new != old,
        };
        if narrowed && old != new {
            let show = |f: Option<&str>| f.map_or("none".to_string(), |f| format!("`{f}`"));
            let what = format!("the format changed from {} to {}", show(old), show(new));
            self.mismatch(flow, place, (pointer_of(n, "format"), pointer_of(o, "format")), what);
        }
    }

    fn enums(&mut self, flow: Flow, place: &Place<'_>, o: At<'_, '_>, n: At<'_, '_>) {
        let (old, new) = (o.value.get("enum").and_then(Value::as_array), n.value.get("enum").and_then(Value::as_array));
        let at = (pointer_of(n, "enum"), pointer_of(o, "enum"));
        fn missing(from: &[Value], to: &[Value]) -> Vec<String> {
            from.iter().filter(|v| !to.contains(v)).map(|v| format!("`{}`", show_value(v))).collect()
        }
        match (flow, old, new) {
            (Flow::Request, None, Some(_)) => {
                self.mismatch(flow, place, at, "the values are now limited to an enum".into())
            }
            (Flow::Request, Some(old), Some(new)) => {
                let gone = missing(old, new);
                if !gone.is_empty() {
                    self.mismatch(flow, place, at, format!("the enum no longer has {}", gone.join(", ")));
                }
            }
            (Flow::Response, Some(_), None) => {
                self.mismatch(flow, place, at, "the values are no longer limited to an enum".into())
            }
            (Flow::Response, Some(old), Some(new)) => {
                let added = missing(new, old);
                if !added.is_empty() {
                    let what = format!("{}: the enum gained {}", place.describe(), added.join(", "));
                    self.report("OPENAPI_RESPONSE_ENUM_VALUE_NO_ADD", &at.0, &at.1, what);
                }
            }
            _ => {}
        }
    }

    fn bounds(&mut self, flow: Flow, place: &Place<'_>, o: At<'_, '_>, n: At<'_, '_>) {
        const LOWER: [&str; 5] = ["minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties"];
        const UPPER: [&str; 5] = ["maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties"];
        for (keyword, lower) in LOWER.iter().map(|k| (*k, true)).chain(UPPER.iter().map(|k| (*k, false))) {
            let (old, new) = (number(o.value, keyword), number(n.value, keyword));
            // Tighter: a lower bound raised or an upper bound lowered, or a bound added.
            let tighter = |from: Option<f64>, to: Option<f64>| match (from, to) {
                (_, None) => false,
                (None, Some(_)) => true,
                (Some(f), Some(t)) => (lower && t > f) || (!lower && t < f),
            };
            let changed = match flow {
                Flow::Request => tighter(old, new),
                Flow::Response => tighter(new, old),
            };
            if changed {
                let show = |v: Option<f64>| v.map_or("none".to_string(), |v| format!("{v}"));
                let what = format!("`{keyword}` changed from {} to {}", show(old), show(new));
                self.mismatch(flow, place, (pointer_of(n, keyword), pointer_of(o, keyword)), what);
            }
        }
        let (old, new) = (str_field(o.value, "pattern"), str_field(n.value, "pattern"));
        let changed = match flow {
            Flow::Request => new.is_some() && new != old,
            Flow::Response => old.is_some() && new != old,
        };
        if changed {
            let show = |p: Option<&str>| p.map_or("none".to_string(), |p| format!("`{p}`"));
            let what = format!("the pattern changed from {} to {}", show(old), show(new));
            self.mismatch(flow, place, (pointer_of(n, "pattern"), pointer_of(o, "pattern")), what);
        }
        let closed = |s: &Value| s.get("additionalProperties") == Some(&Value::Bool(false));
        if flow == Flow::Request && !closed(o.value) && closed(n.value) && is_object(n.value) {
            let at = (pointer_of(n, "additionalProperties"), o.pointer.to_string());
            self.mismatch(flow, place, at, "the object no longer accepts other properties".into());
        }
    }

    fn properties(&mut self, flow: Flow, place: &Place<'_>, o: At<'d, '_>, n: At<'d, '_>) {
        let props = |s: &'d Value| s.get("properties").and_then(Value::as_object);
        let required = |s: &Value| -> BTreeSet<String> {
            s.get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        };
        let flag = |s: Option<&Value>, f: &str| s.and_then(|s| s.get(f)) == Some(&Value::Bool(true));
        let (old_props, new_props) = (props(o.value), props(n.value));
        let (old_required, new_required) = (required(o.value), required(n.value));
        let (old_list, new_list) = (join(o.pointer, "properties"), join(n.pointer, "properties"));
        match flow {
            Flow::Request => {
                for name in new_required.difference(&old_required) {
                    let prop = new_props.and_then(|p| p.get(name));
                    if flag(prop, "readOnly") {
                        continue;
                    }
                    let at = if prop.is_some() { join(&new_list, name) } else { join(n.pointer, "required") };
                    let what = format!("{}: the property `{}` is now required", place.describe(), place.child(name));
                    self.report("OPENAPI_REQUEST_PROPERTY_REQUIRED_NO_ADD", &at, o.pointer, what);
                }
                for (name, _) in old_props.into_iter().flatten().filter(|(name, p)| {
                    !flag(Some(*p), "readOnly") && !new_props.is_some_and(|n| n.contains_key(*name))
                }) {
                    if new_props.is_none() && !closed_or_typed(n.value) {
                        continue;
                    }
                    let what = format!("{}: the property `{}` was deleted", place.describe(), place.child(name));
                    self.report("OPENAPI_REQUEST_PROPERTY_NO_DELETE", n.pointer, &join(&old_list, name), what);
                }
            }
            Flow::Response => {
                for (name, p) in old_props.into_iter().flatten() {
                    if flag(Some(p), "writeOnly") {
                        continue;
                    }
                    let gone = !new_props.is_some_and(|n| n.contains_key(name));
                    if gone && (new_props.is_some() || closed_or_typed(n.value)) {
                        let what = format!("{}: the property `{}` was deleted", place.describe(), place.child(name));
                        self.report("OPENAPI_RESPONSE_PROPERTY_NO_DELETE", n.pointer, &join(&old_list, name), what);
                    } else if !gone && old_required.contains(name) && !new_required.contains(name) {
                        let what =
                            format!("{}: the property `{}` is no longer required", place.describe(), place.child(name));
                        self.report(
                            "OPENAPI_RESPONSE_PROPERTY_NO_OPTIONAL",
                            &join(&new_list, name),
                            &join(o.pointer, "required"),
                            what,
                        );
                    }
                }
            }
        }
        let (Some(old_props), Some(new_props)) = (old_props, new_props) else { return };
        for (name, os) in old_props {
            if let Some(ns) = new_props.get(name) {
                let inner = Place { what: place.what, path: place.child(name) };
                self.schema(flow, &inner, os, join(&old_list, name), ns, join(&new_list, name));
            }
        }
    }

    /// `allOf`, `oneOf`, `anyOf`: members by position; a request losing an
    /// alternative narrows, a response gaining one widens.
    fn members(&mut self, flow: Flow, place: &Place<'_>, o: At<'d, '_>, n: At<'d, '_>) {
        for keyword in ["allOf", "oneOf", "anyOf"] {
            let (Some(old), Some(new)) =
                (o.value.get(keyword).and_then(Value::as_array), n.value.get(keyword).and_then(Value::as_array))
            else {
                continue;
            };
            let (old_list, new_list) = (join(o.pointer, keyword), join(n.pointer, keyword));
            for (i, (os, ns)) in old.iter().zip(new).enumerate() {
                let i = i.to_string();
                self.schema(flow, place, os, join(&old_list, &i), ns, join(&new_list, &i));
            }
            let lost = match flow {
                Flow::Request => keyword != "allOf" && new.len() < old.len(),
                Flow::Response => keyword != "allOf" && new.len() > old.len(),
            };
            if lost {
                let what = format!("`{keyword}` went from {} to {} alternatives", old.len(), new.len());
                self.mismatch(flow, place, (new_list, old_list), what);
            }
        }
    }
}

/// A parameter's schema: `schema`, else its `content`'s first one.
fn parameter_schema<'d>(parameter: &'d Value, pointer: &str) -> Option<(&'d Value, String)> {
    if let Some(schema) = parameter.get("schema") {
        return Some((schema, join(pointer, "schema")));
    }
    let (media, value) = parameter.get("content")?.as_object()?.iter().next()?;
    Some((value.get("schema")?, join(&join(&join(pointer, "content"), media), "schema")))
}

/// The types a schema allows (`type`, a string or a list, and 3.0's
/// `nullable`); `None` for any type.
fn types(schema: &Value) -> Option<BTreeSet<&str>> {
    let mut out: BTreeSet<&str> = match schema.get("type")? {
        Value::String(t) => BTreeSet::from([t.as_str()]),
        Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
        _ => return None,
    };
    if schema.get("nullable") == Some(&Value::Bool(true)) {
        out.insert("null");
    }
    Some(out)
}

/// Whether the types `set` include `t` (`number` includes `integer`).
fn covers(set: &BTreeSet<&str>, t: &str) -> bool {
    set.contains(t) || (t == "integer" && set.contains("number"))
}

fn is_object(schema: &Value) -> bool {
    types(schema).is_some_and(|t| t.contains("object")) || schema.get("properties").is_some()
}

/// Whether a schema without `properties` still says what an object holds
/// (closed, or typed as something other than an object): a property gone
/// with all `properties` is then really gone.
fn closed_or_typed(schema: &Value) -> bool {
    schema.get("additionalProperties") == Some(&Value::Bool(false))
        || types(schema).is_some_and(|t| !t.contains("object"))
}

fn str_field<'v>(schema: &'v Value, field: &str) -> Option<&'v str> {
    schema.get(field).and_then(Value::as_str)
}

fn number(schema: &Value, field: &str) -> Option<f64> {
    schema.get(field).and_then(Value::as_f64)
}

/// The pointer of `field` of a schema when it has one, else of the schema.
fn pointer_of(at: At<'_, '_>, field: &str) -> String {
    if at.value.get(field).is_some() {
        join(at.pointer, field)
    } else {
        at.pointer.to_string()
    }
}

fn show_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::FileId;
    use std::sync::Arc;

    fn document(text: &str, file: u32) -> OpenApiDocument {
        let path = std::path::PathBuf::from(format!("/{file}.yaml"));
        let schema = crate::schema::fuzzing::load_text(crate::model::values::SchemaFormat::OpenApi, &path, text)
            .1
            .unwrap_or_else(|d| panic!("{d:?}"));
        let doc = schema.openapi_document().expect("an OpenAPI document");
        OpenApiDocument::new(doc.value.clone(), FileId(file), Arc::from(text))
    }

    fn changes(before: &str, after: &str) -> Vec<(&'static str, String)> {
        compare(&document(before, 0), &document(after, 1)).into_iter().map(|c| (c.rule.id, c.reason)).collect()
    }

    fn ids(before: &str, after: &str) -> BTreeSet<&'static str> {
        changes(before, after).into_iter().map(|(id, _)| id).collect()
    }

    #[test]
    fn changes_are_placed_in_their_operation_or_every_operation_reaching_their_schema() {
        let doc = |total: &str, limit: u32| {
            format!(
                "openapi: 3.0.3\ninfo:\n  title: t\n  version: '1'\npaths:\n  /orders/{{id}}:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {{$ref: '#/components/schemas/Order'}}\n  /orders:\n    get:\n      parameters:\n      - name: limit\n        in: query\n        schema: {{type: integer, maximum: {limit}}}\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {{type: array, items: {{$ref: '#/components/schemas/Order'}}}}\n    post:\n      responses:\n        '201': {{description: created}}\ncomponents:\n  schemas:\n    Order:\n      type: object\n      properties:\n        id: {{type: string}}\n{total}"
            )
        };
        let before = document(&doc("        total: {type: number}\n", 100), 0);
        let after = document(&doc("", 50), 1);
        let placed = compare_placed(&before, &after);
        let mut found: Vec<(&str, Vec<&str>)> = (0..placed.changes.len())
            .map(|i| (placed.changes[i].rule.id, placed.operations(i).unwrap().into_iter().collect()))
            .collect();
        found.sort();
        assert_eq!(
            found,
            [
                ("OPENAPI_REQUEST_TYPE_NO_NARROW", vec!["GET /orders"]),
                ("OPENAPI_RESPONSE_PROPERTY_NO_DELETE", vec!["GET /orders", "GET /orders/{}"]),
            ]
        );
        assert_eq!(operation_key("get", "/orders/{orderId}"), "GET /orders/{}");
    }

    #[test]
    fn every_rule_reports_its_own_example_and_nothing_else() {
        for rule in RULES {
            assert_eq!(ids(rule.before, rule.after), BTreeSet::from([rule.id]), "{}", rule.id);
            assert!(ids(rule.before, rule.before).is_empty(), "{}: an unchanged document reports nothing", rule.id);
        }
    }

    #[test]
    fn security_may_offer_more_alternatives_but_not_ask_more() {
        let doc = |security: &str| {
            format!(
                "{}security: {security}\ncomponents:\n  securitySchemes:\n    key: {{type: apiKey, in: header, name: X-Key}}\n    oauth: {{type: oauth2, flows: {{}}}}\n",
                oas!("  /a:\n    get:\n      responses:\n        '200': {description: ok}\n")
            )
        };
        let safe = [
            ("[{key: []}]", "[{key: []}, {oauth: []}]"),
            ("[{oauth: [write]}]", "[{oauth: []}]"),
            ("[{key: []}]", "[]"),
        ];
        for (before, after) in safe {
            assert!(ids(&doc(before), &doc(after)).is_empty(), "{before} -> {after}");
        }
        let breaking = [
            ("[{key: []}, {oauth: []}]", "[{key: []}]"),
            ("[{oauth: []}]", "[{oauth: [write]}]"),
            ("[{key: []}]", "[{key: [], oauth: []}]"),
            ("[]", "[{key: []}]"),
        ];
        for (before, after) in breaking {
            assert_eq!(
                ids(&doc(before), &doc(after)),
                BTreeSet::from(["OPENAPI_SECURITY_NO_ADD"]),
                "{before} -> {after}"
            );
        }
    }

    #[test]
    fn path_parameter_names_do_not_matter() {
        let a = oas!("  /orders/{id}:\n    get:\n      parameters:\n      - {name: id, in: path, required: true, schema: {type: string}}\n      responses:\n        '200': {description: ok}\n");
        let b = oas!("  /orders/{orderId}:\n    get:\n      parameters:\n      - {name: orderId, in: path, required: true, schema: {type: string}}\n      responses:\n        '200': {description: ok}\n");
        assert!(ids(a, b).is_empty(), "{:?}", changes(a, b));
        let c = b.replace("type: string", "type: integer");
        assert_eq!(ids(b, &c), BTreeSet::from(["OPENAPI_REQUEST_TYPE_NO_NARROW"]));
    }

    #[test]
    fn refs_are_followed_and_recursive_schemas_terminate() {
        let doc = |extra: &str| {
            format!(
                "{}components:\n  schemas:\n    Node:\n      type: object\n      required: [id{extra}]\n      properties:\n        id: {{type: string}}\n        label: {{type: string}}\n        children:\n          type: array\n          items: {{$ref: '#/components/schemas/Node'}}\n",
                oas!("  /tree:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {$ref: '#/components/schemas/Node'}\n    put:\n      requestBody:\n        content:\n          application/json:\n            schema: {$ref: '#/components/schemas/Node'}\n      responses:\n        '204': {description: done}\n")
            )
        };
        let (before, after) = (doc(""), doc(", label"));
        let found = changes(&before, &after);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "OPENAPI_REQUEST_PROPERTY_REQUIRED_NO_ADD");
        assert!(found[0].1.contains("PUT /tree"), "{}", found[0].1);
        // Dropping the requirement again makes the response's `label` optional.
        let back = ids(&after, &before);
        assert_eq!(back, BTreeSet::from(["OPENAPI_RESPONSE_PROPERTY_NO_OPTIONAL"]));
    }

    #[test]
    fn long_reference_chains_stay_bounded() {
        // S0 → S1 → ... → S4999, each through a property: the comparison
        // stops at MAX_DEPTH levels instead of recursing 5,000 deep.
        let chain = |last: &str| {
            let mut text = oas!("  /a:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {$ref: '#/components/schemas/S0'}\ncomponents:\n  schemas:\n").to_string();
            for i in 0..5000 {
                text.push_str(&format!("    S{i}:\n      type: object\n      properties:\n        next: {{$ref: '#/components/schemas/S{}'}}\n", i + 1));
            }
            text.push_str(&format!("    S5000: {{type: {last}}}\n"));
            text
        };
        let started = std::time::Instant::now();
        let result = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || ids(&chain("string"), &chain("integer")))
            .unwrap()
            .join()
            .expect("no stack overflow");
        assert!(result.is_empty(), "the change is deeper than MAX_DEPTH: {result:?}");
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        let shallow = |t: &str| chain(t).replace("S0'}", "S4990'}");
        assert_eq!(ids(&shallow("string"), &shallow("integer")), BTreeSet::from(["OPENAPI_RESPONSE_TYPE_NO_WIDEN"]));
    }

    #[test]
    fn widening_a_request_and_narrowing_a_response_are_safe() {
        let request = |t: &str| {
            oas!("  /a:\n    post:\n      requestBody:\n        content:\n          application/json:\n            schema: {type: TYPE, maximum: 10}\n      responses:\n        '200': {description: ok}\n").replace("TYPE", t)
        };
        assert!(ids(&request("integer"), &request("number")).is_empty());
        assert_eq!(ids(&request("number"), &request("integer")), BTreeSet::from(["OPENAPI_REQUEST_TYPE_NO_NARROW"]));
        let response = |e: &str| {
            oas!("  /a:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {type: string, enum: [ENUM]}\n").replace("ENUM", e)
        };
        assert!(ids(&response("a, b"), &response("a")).is_empty());
        assert_eq!(ids(&response("a"), &response("a, b")), BTreeSet::from(["OPENAPI_RESPONSE_ENUM_VALUE_NO_ADD"]));
    }

    #[test]
    fn spans_point_at_the_new_and_the_old_element() {
        let rule = Rule::get("OPENAPI_REQUEST_TYPE_NO_NARROW").unwrap();
        let found = compare(&document(rule.before, 0), &document(rule.after, 1));
        let (new, old) = (found[0].new.unwrap(), found[0].old.unwrap());
        assert_eq!((new.file, old.file), (FileId(1), FileId(0)));
        // Flow mappings are found through their key: the parameter's `schema`.
        assert_eq!(&rule.after[new.range()], "schema");
        assert!(found[0].reason.contains("`maximum` changed from 100 to 50"), "{}", found[0].reason);
    }
}
