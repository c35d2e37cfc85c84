//! Avro schema resolution (the specification's "Schema Resolution"), as
//! Apache Avro's own compatibility checkers decide it: Java's
//! `SchemaCompatibility` and Python's `avro.compatibility`, which agree rule
//! for rule (the test suite holds ours against the Python one on generated
//! pairs: `tests/it/avro_reference.rs`).
//!
//! - Same types: primitives match; arrays compare items, maps values.
//! - Promotions: the writer's `int` is read as `long`, `float` or `double`,
//!   `long` as `float` or `double`, `float` as `double`; `string` and
//!   `bytes` read each other.
//! - Named types (records, enums, fixed) match by unqualified name, or when
//!   one of the reader's aliases is the writer's full name (aliases resolve
//!   against the type's namespace, as in Java and the specification).
//! - Records: every reader field is found in the writer's record by name or
//!   by one of the reader field's aliases, and reads it; a reader field
//!   the writer lacks needs a `default`. Writer fields the reader lacks are
//!   skipped.
//! - Enums: every writer symbol is a reader symbol, unless the reader's
//!   enum has a `default` (one of its symbols).
//! - Fixed: the same size.
//! - Unions: a writer's union is readable when each of its branches is; a
//!   reader's union reads a writer's type when any of its branches does.
//! - Logical types are ignored: the underlying type decides (a
//!   `timestamp-millis` is a `long`), as both checkers do.
//! - Recursive types: a pair of types already being compared counts as
//!   compatible (both checkers do so).
//!
//! The parsed form, [`AvroType`], is built once per file from the JSON the
//! loader already parsed and apache-avro validated: an arena of nodes with
//! named references resolved to their definitions, so a recursive type is a
//! cycle of indices and each pair of nodes is compared at most once.

use std::collections::HashMap;
use std::ops::Range;
use std::rc::Rc;

use rustc_hash::FxHashMap;
use serde_json::{Map, Value};

use super::{join_path, Break, MAX_BREAKS};
use crate::base::{FileId, Span};
use crate::schema::json_spans::{JsonSpans, NodeId};
use crate::schema::shape;

/// Pairs of named types compared inside one another at most; deeper
/// schemas are reported rather than followed (the recursion is bounded).
const MAX_DEPTH: usize = 200;

/// An Avro schema's types, resolved, with where the file writes them.
#[derive(Debug)]
pub struct AvroType {
    nodes: Vec<Node>,
    root: u32,
    file: FileId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Array,
    Map,
    Union,
    Record,
    Enum,
    Fixed,
    /// A name apache-avro resolved but this resolver did not: never
    /// compatible, reported as such.
    Unresolved,
}

impl Kind {
    fn primitive(name: &str) -> Option<Kind> {
        Some(match name {
            "null" => Kind::Null,
            "boolean" => Kind::Boolean,
            "int" => Kind::Int,
            "long" => Kind::Long,
            "float" => Kind::Float,
            "double" => Kind::Double,
            "bytes" => Kind::Bytes,
            "string" => Kind::String,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Boolean => "boolean",
            Kind::Int => "int",
            Kind::Long => "long",
            Kind::Float => "float",
            Kind::Double => "double",
            Kind::Bytes => "bytes",
            Kind::String => "string",
            Kind::Array => "array",
            Kind::Map => "map",
            Kind::Union => "union",
            Kind::Record => "record",
            Kind::Enum => "enum",
            Kind::Fixed => "fixed",
            Kind::Unresolved => "unresolved name",
        }
    }

    /// Whether a reader of this kind reads a writer's `writer` by promotion.
    fn promotes(self, writer: Kind) -> bool {
        match self {
            Kind::Long => writer == Kind::Int,
            Kind::Float => matches!(writer, Kind::Int | Kind::Long),
            Kind::Double => matches!(writer, Kind::Int | Kind::Long | Kind::Float),
            Kind::Bytes => writer == Kind::String,
            Kind::String => writer == Kind::Bytes,
            _ => false,
        }
    }
}

#[derive(Debug)]
struct Node {
    kind: Kind,
    /// Where the type is written (for a named type, its `name`).
    at: Loc,
    detail: Detail,
}

/// A byte range of the file, compact (`u32::MAX` start: none).
#[derive(Clone, Copy, Debug)]
struct Loc(u32, u32);

impl Loc {
    const NONE: Loc = Loc(u32::MAX, 0);

    fn new(range: Option<Range<usize>>) -> Loc {
        match range {
            Some(r) if r.start < u32::MAX as usize => Loc(r.start as u32, r.end.min(u32::MAX as usize) as u32),
            _ => Loc::NONE,
        }
    }
}

#[derive(Debug)]
enum Detail {
    None,
    /// An array's items or a map's values.
    Inner(u32),
    Union(Box<Union>),
    Record(Box<Named>, Box<Record>),
    Enum(Box<Named>, Box<Enum>),
    Fixed(Box<Named>, u64),
    /// The name that did not resolve.
    Unresolved(String),
}

#[derive(Debug)]
struct Named {
    full: String,
    /// Aliases as full names.
    aliases: Vec<String>,
}

impl Record {
    /// The field named `name`.
    fn field(&self, name: &str) -> Option<&Field> {
        let at = self.by_name.partition_point(|i| self.fields[*i as usize].name.as_str() < name);
        let i = *self.by_name.get(at)? as usize;
        (self.fields[i].name == name).then(|| &self.fields[i])
    }
}

impl Named {
    fn short(&self) -> &str {
        self.full.rsplit('.').next().unwrap_or(&self.full)
    }
}

#[derive(Debug)]
struct Union {
    branches: Vec<u32>,
    /// Named branches by (kind, unqualified name), and by each alias.
    by_name: HashMap<(Kind, String), Vec<u32>>,
    by_alias: HashMap<(Kind, String), Vec<u32>>,
    /// The other branches (one per kind at most: Avro forbids repeats).
    unnamed: Vec<u32>,
}

#[derive(Debug)]
struct Record {
    fields: Vec<Field>,
    /// Indices into `fields`, sorted by name (the first of repeats first).
    by_name: Vec<u32>,
}

#[derive(Debug)]
struct Field {
    name: String,
    aliases: Vec<String>,
    ty: u32,
    has_default: bool,
    /// The field's `name`.
    at: Loc,
}

#[derive(Debug)]
struct Enum {
    symbols: Vec<String>,
    /// Indices into `symbols`, sorted by symbol, for lookups.
    sorted: Vec<u32>,
    default: Option<String>,
}

impl AvroType {
    /// The parsed form of a schema apache-avro accepted; `spans` locate
    /// its types in the file's text.
    pub(in crate::schema) fn build(value: &Value, spans: Option<&JsonSpans>) -> AvroType {
        let mut builder = Builder { nodes: Vec::new(), names: HashMap::new(), spans };
        let root = builder.build(value, spans.map(JsonSpans::root), None, 0);
        AvroType { nodes: builder.nodes, root, file: FileId(0) }
    }

    /// The shape of the events the schema describes, in the plain JSON
    /// mapping the runtime's event bus uses (`runtime/src/event_bus/schema.rs`):
    /// `long` a JSON integer, `bytes` and `fixed` strings, a union with
    /// `null` its other branch or null, other unions and maps any value.
    pub fn slot(&self) -> shape::Slot<'_> {
        self.slot_of(self.root)
    }

    fn slot_of(&self, id: u32) -> shape::Slot<'_> {
        use shape::{Scalar, Shape, Slot};
        let node = self.node(id);
        let shape = match (&node.kind, &node.detail) {
            (Kind::Boolean, _) => Shape::Scalar(Scalar::Bool),
            (Kind::Int, _) => Shape::Scalar(Scalar::Int32),
            (Kind::Long, _) => Shape::Scalar(Scalar::Integer),
            (Kind::Float | Kind::Double, _) => Shape::Scalar(Scalar::Float),
            (Kind::Bytes | Kind::String | Kind::Fixed, _) => Shape::Scalar(Scalar::String),
            (Kind::Enum, Detail::Enum(named, e)) => Shape::Enum { name: named.full.clone(), values: e.symbols.clone() },
            (Kind::Array, Detail::Inner(items)) => Shape::List(Box::new(self.slot_of(*items))),
            (Kind::Record, _) => shape::avro_record(self, id),
            (Kind::Union, Detail::Union(union)) => {
                let other: Vec<u32> =
                    union.branches.iter().copied().filter(|b| self.node(*b).kind != Kind::Null).collect();
                let nullable = other.len() < union.branches.len();
                return match other[..] {
                    [only] => Slot { optional: nullable, ..self.slot_of(only) },
                    _ => Slot { shape: Shape::Any, optional: nullable },
                };
            }
            (Kind::Null, _) => return Slot { shape: Shape::Any, optional: true },
            _ => Shape::Any,
        };
        Slot { shape, optional: false }
    }

    /// A record node's full name.
    pub(in crate::schema) fn record_name(&self, id: u32) -> &str {
        match &self.node(id).detail {
            Detail::Record(named, _) => &named.full,
            _ => "record",
        }
    }

    /// A record node's fields as shapes: one without a `default` is
    /// required; one of a union with `null` may be null.
    pub(in crate::schema) fn record_fields(&self, id: u32) -> Vec<shape::FieldShape<'_>> {
        let Detail::Record(_, record) = &self.node(id).detail else { return Vec::new() };
        record
            .fields
            .iter()
            .map(|field| shape::FieldShape {
                name: field.name.clone(),
                alias: None,
                slot: self.slot_of(field.ty),
                required: !field.has_default,
            })
            .collect()
    }

    /// Sets the file the ranges are in.
    pub(in crate::schema) fn set_file(&mut self, file: FileId) {
        self.file = file;
    }

    fn span(&self, loc: &Loc) -> Option<Span> {
        (loc.0 != u32::MAX).then(|| Span::new(self.file, loc.0 as usize..loc.1 as usize))
    }

    fn node(&self, id: u32) -> &Node {
        &self.nodes[id as usize]
    }

    /// How the type is written in messages: `long`, `record shop.Order`.
    fn describe(&self, id: u32) -> String {
        let node = self.node(id);
        match &node.detail {
            Detail::Record(n, _) | Detail::Enum(n, _) | Detail::Fixed(n, _) => {
                format!("{} `{}`", node.kind.name(), n.full)
            }
            Detail::Unresolved(name) => format!("`{name}` (not defined)"),
            Detail::Inner(inner) => format!("{}<{}>", node.kind.name(), self.short(*inner)),
            Detail::Union(u) => {
                let branches: Vec<String> = u.branches.iter().take(6).map(|b| self.short(*b)).collect();
                let more = if u.branches.len() > 6 { ", ..." } else { "" };
                format!("union {{ {}{more} }}", branches.join(", "))
            }
            Detail::None => node.kind.name().to_string(),
        }
    }

    /// A type's name without detail: `long`, `shop.Order`, `array`.
    fn short(&self, id: u32) -> String {
        match &self.node(id).detail {
            Detail::Record(n, _) | Detail::Enum(n, _) | Detail::Fixed(n, _) => n.full.clone(),
            Detail::Unresolved(name) => name.clone(),
            _ => self.node(id).kind.name().to_string(),
        }
    }

    fn named(&self, id: u32) -> Option<&Named> {
        match &self.node(id).detail {
            Detail::Record(n, _) | Detail::Enum(n, _) | Detail::Fixed(n, _) => Some(n),
            _ => None,
        }
    }
}

struct Builder<'l> {
    nodes: Vec<Node>,
    /// Defined names (full) → node.
    names: HashMap<String, u32>,
    spans: Option<&'l JsonSpans<'l>>,
}

/// Where the value being built is written, if the text was read.
type Here = Option<NodeId>;

/// `name` qualified by `namespace` when it has no dot of its own.
fn qualify(name: &str, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) if !ns.is_empty() && !name.contains('.') => [ns, ".", name].concat(),
        _ => name.trim_start_matches('.').to_string(),
    }
}

fn namespace_of(full: &str) -> Option<&str> {
    full.rsplit_once('.').map(|(ns, _)| ns)
}

impl Builder<'_> {
    fn member(&self, here: Here, key: &str) -> Here {
        self.spans?.member(here?, key)
    }

    fn element(&self, here: Here, index: usize) -> Here {
        self.spans?.element(here?, index)
    }

    fn range(&self, here: Here) -> Option<Range<usize>> {
        Some(self.spans?.locate_node(here?))
    }

    fn push(&mut self, kind: Kind, at: Option<Range<usize>>, detail: Detail) -> u32 {
        self.nodes.push(Node { kind, at: Loc::new(at), detail });
        (self.nodes.len() - 1) as u32
    }

    fn unresolved(&mut self, what: String, at: Option<Range<usize>>) -> u32 {
        self.push(Kind::Unresolved, at, Detail::Unresolved(what))
    }

    /// The node for the type written `here`. Depth follows the JSON
    /// nesting, which the loader bounds.
    fn build(&mut self, value: &Value, here: Here, namespace: Option<&str>, depth: usize) -> u32 {
        let at = self.range(here);
        if depth > 256 {
            return self.unresolved("a type nested too deep".into(), at);
        }
        match value {
            Value::String(name) => self.reference(name, namespace, at),
            Value::Array(branches) => {
                let ids: Vec<u32> = branches
                    .iter()
                    .enumerate()
                    .map(|(i, b)| self.build(b, self.element(here, i), namespace, depth + 1))
                    .collect();
                let union = self.union(ids);
                self.push(Kind::Union, at, Detail::Union(Box::new(union)))
            }
            Value::Object(object) => self.object(object, here, namespace, depth, at),
            other => self.unresolved(other.to_string(), at),
        }
    }

    fn reference(&mut self, name: &str, namespace: Option<&str>, at: Option<Range<usize>>) -> u32 {
        if let Some(kind) = Kind::primitive(name) {
            return self.push(kind, at, Detail::None);
        }
        let full = qualify(name, namespace);
        match self.names.get(&full).or_else(|| self.names.get(name)) {
            Some(&id) => id,
            None => self.unresolved(full, at),
        }
    }

    fn object(
        &mut self,
        object: &Map<String, Value>,
        here: Here,
        namespace: Option<&str>,
        depth: usize,
        at: Option<Range<usize>>,
    ) -> u32 {
        let ty = object.get("type");
        let Some(Value::String(ty)) = ty else {
            // `{"type": {...}}` or `{"type": [...]}`: the inner type.
            return match ty {
                Some(inner) => self.build(inner, self.member(here, "type"), namespace, depth + 1),
                None => self.unresolved("a type without `type`".into(), at),
            };
        };
        match ty.as_str() {
            "array" | "map" => {
                let (key, kind) = if ty == "array" { ("items", Kind::Array) } else { ("values", Kind::Map) };
                let inner = match object.get(key) {
                    Some(inner) => self.build(inner, self.member(here, key), namespace, depth + 1),
                    None => self.unresolved(format!("an {ty} without `{key}`"), at.clone()),
                };
                self.push(kind, at, Detail::Inner(inner))
            }
            "record" | "error" | "enum" | "fixed" => self.named(ty, object, here, namespace, depth),
            other => self.reference(other, namespace, at),
        }
    }

    fn named(
        &mut self,
        ty: &str,
        object: &Map<String, Value>,
        here: Here,
        namespace: Option<&str>,
        depth: usize,
    ) -> u32 {
        let name = object.get("name").and_then(Value::as_str).unwrap_or_default();
        let own_namespace = object.get("namespace").and_then(Value::as_str);
        let full = match own_namespace {
            // An explicit namespace, even the empty (null) one, wins over the enclosing one.
            Some(ns) if !name.contains('.') => qualify(name, Some(ns)),
            _ => qualify(name, namespace),
        };
        let space = namespace_of(&full).map(str::to_string);
        let aliases = strings(object.get("aliases")).map(|a| qualify(a, space.as_deref())).collect();
        let named = Named { full: full.clone(), aliases };
        let at = self.range(self.member(here, "name"));
        match ty {
            "enum" => {
                let symbols: Vec<String> = strings(object.get("symbols")).map(str::to_string).collect();
                let mut sorted: Vec<u32> = (0..symbols.len() as u32).collect();
                sorted.sort_by(|a, b| symbols[*a as usize].cmp(&symbols[*b as usize]));
                let default = object.get("default").and_then(Value::as_str).map(str::to_string);
                let id = self.push(
                    Kind::Enum,
                    at,
                    Detail::Enum(Box::new(named), Box::new(Enum { symbols, sorted, default })),
                );
                self.names.insert(full, id);
                id
            }
            "fixed" => {
                let size = object.get("size").and_then(Value::as_u64).unwrap_or(0);
                let id = self.push(Kind::Fixed, at, Detail::Fixed(Box::new(named), size));
                self.names.insert(full, id);
                id
            }
            _ => {
                // Registered before its fields, which may refer to it.
                let empty = Record { fields: Vec::new(), by_name: Vec::new() };
                let id = self.push(Kind::Record, at, Detail::Record(Box::new(named), Box::new(empty)));
                self.names.insert(full, id);
                let mut fields = Vec::new();
                let written = object.get("fields").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
                let fields_here = self.member(here, "fields");
                for (i, field) in written.iter().enumerate() {
                    let field_here = self.element(fields_here, i);
                    let Some(field) = field.as_object() else { continue };
                    let ty = match field.get("type") {
                        Some(ty) => self.build(ty, self.member(field_here, "type"), space.as_deref(), depth + 1),
                        None => self.unresolved("a field without `type`".into(), None),
                    };
                    fields.push(Field {
                        name: field.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
                        aliases: strings(field.get("aliases")).map(str::to_string).collect(),
                        ty,
                        has_default: field.contains_key("default"),
                        at: Loc::new(self.range(self.member(field_here, "name"))),
                    });
                }
                let mut by_name: Vec<u32> = (0..fields.len() as u32).collect();
                // Stable: of repeated names the first stays first.
                by_name.sort_by(|a, b| fields[*a as usize].name.cmp(&fields[*b as usize].name));
                if let Detail::Record(_, record) = &mut self.nodes[id as usize].detail {
                    **record = Record { fields, by_name };
                }
                id
            }
        }
    }

    fn union(&self, branches: Vec<u32>) -> Union {
        let mut by_name: HashMap<(Kind, String), Vec<u32>> = HashMap::new();
        let mut by_alias: HashMap<(Kind, String), Vec<u32>> = HashMap::new();
        let mut unnamed = Vec::new();
        for &branch in &branches {
            let node = &self.nodes[branch as usize];
            match &node.detail {
                Detail::Record(n, _) | Detail::Enum(n, _) | Detail::Fixed(n, _) => {
                    by_name.entry((node.kind, n.short().to_string())).or_default().push(branch);
                    for alias in &n.aliases {
                        by_alias.entry((node.kind, alias.clone())).or_default().push(branch);
                    }
                }
                _ => unnamed.push(branch),
            }
        }
        Union { branches, by_name, by_alias, unnamed }
    }
}

fn strings(value: Option<&Value>) -> impl Iterator<Item = &str> {
    value.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str)
}

/// Whether `reader` can read every event written with `writer`.
pub fn reader_can_read(writer: &AvroType, reader: &AvroType) -> Vec<Break> {
    check(writer, reader).0
}

/// The breaks, and how many pairs of types were compared.
fn check(writer: &AvroType, reader: &AvroType) -> (Vec<Break>, usize) {
    let mut checker = Checker { w: writer, r: reader, memo: FxHashMap::default(), depth: 0 };
    let outcome = checker.compat(reader.root, writer.root);
    (outcome.breaks.clone(), checker.memo.len())
}

/// The outcome of comparing two types; break paths relative to them.
#[derive(Debug, Default)]
struct Outcome {
    ok: bool,
    breaks: Vec<Break>,
}

impl Outcome {
    fn ok() -> Outcome {
        Outcome { ok: true, breaks: Vec::new() }
    }

    fn add(&mut self, b: Break) {
        self.ok = false;
        if self.breaks.len() < MAX_BREAKS {
            self.breaks.push(b);
        }
    }

    /// Merges another outcome found at `segment` below this one.
    fn merge(&mut self, segment: &str, other: &Outcome) {
        if other.ok {
            return;
        }
        self.ok = false;
        for b in &other.breaks {
            if self.breaks.len() >= MAX_BREAKS {
                break;
            }
            self.breaks.push(Break { path: join_path(segment, &b.path), ..b.clone() });
        }
    }
}

enum Memo {
    InProgress,
    Done(Rc<Outcome>),
}

struct Checker<'a> {
    w: &'a AvroType,
    r: &'a AvroType,
    /// (reader node, writer node) → outcome.
    memo: FxHashMap<(u32, u32), Memo>,
    depth: usize,
}

impl Checker<'_> {
    fn compat(&mut self, r: u32, w: u32) -> Rc<Outcome> {
        match self.memo.get(&(r, w)) {
            Some(Memo::Done(outcome)) => return Rc::clone(outcome),
            // Compared further up: assumed compatible, as both reference checkers do.
            Some(Memo::InProgress) => return Rc::new(Outcome::ok()),
            None => {}
        }
        if self.depth >= MAX_DEPTH {
            let mut outcome = Outcome::ok();
            outcome.add(self.brk(
                r,
                w,
                format!("the schemas nest more than {MAX_DEPTH} types deep here; meshc compares no deeper"),
            ));
            return Rc::new(outcome);
        }
        self.memo.insert((r, w), Memo::InProgress);
        self.depth += 1;
        let outcome = Rc::new(self.calculate(r, w));
        self.depth -= 1;
        self.memo.insert((r, w), Memo::Done(Rc::clone(&outcome)));
        outcome
    }

    fn brk(&self, r: u32, w: u32, reason: String) -> Break {
        Break {
            path: String::new(),
            reason,
            writer: self.w.span(&self.w.node(w).at),
            reader: self.r.span(&self.r.node(r).at),
        }
    }

    fn mismatch(&self, r: u32, w: u32) -> Outcome {
        let mut outcome = Outcome::ok();
        let (rk, wk) = (self.r.node(r).kind, self.w.node(w).kind);
        let why = if rk == Kind::Unresolved || wk == Kind::Unresolved {
            "a type name does not resolve".to_string()
        } else if rk == wk {
            // Two named types of one kind: only their names differ (checked by the caller).
            String::new()
        } else if is_numeric(rk) && is_numeric(wk) {
            "Avro promotes numbers only towards wider types (int → long → float → double)".into()
        } else {
            "Avro converts between these types only as int → long → float → double and string ↔ bytes".into()
        };
        outcome.add(self.brk(
            r,
            w,
            format!("the writer writes {} where the reader expects {}: {why}", self.w.describe(w), self.r.describe(r)),
        ));
        outcome
    }

    fn calculate(&mut self, r: u32, w: u32) -> Outcome {
        let (rt, wt) = (self.r, self.w);
        let (rn, wn) = (rt.node(r), wt.node(w));
        if rn.kind == wn.kind {
            match (&rn.detail, &wn.detail) {
                (Detail::None, Detail::None) => return Outcome::ok(),
                (Detail::Inner(ri), Detail::Inner(wi)) => {
                    let inner = self.compat(*ri, *wi);
                    let mut outcome = Outcome::ok();
                    outcome.merge(if rn.kind == Kind::Array { "[]" } else { "{}" }, &inner);
                    return outcome;
                }
                (Detail::Fixed(rname, rsize), Detail::Fixed(wname, wsize)) => {
                    let mut outcome = self.names(r, w, rname, wname);
                    if rsize != wsize {
                        outcome.add(self.brk(
                            r,
                            w,
                            format!(
                                "the writer's fixed `{}` has {wsize} bytes, the reader's `{}` {rsize}: fixed types are read only at their own size",
                                wname.full, rname.full
                            ),
                        ));
                    }
                    return outcome;
                }
                (Detail::Enum(rname, re), Detail::Enum(wname, we)) => {
                    let mut outcome = self.names(r, w, rname, wname);
                    self.symbols(r, w, rname, re, we, &mut outcome);
                    return outcome;
                }
                (Detail::Record(rname, rr), Detail::Record(wname, wr)) => {
                    let mut outcome = self.names(r, w, rname, wname);
                    self.fields(r, w, wname, rr, wr, &mut outcome);
                    return outcome;
                }
                (Detail::Union(_), Detail::Union(wu)) => {
                    let mut outcome = Outcome::ok();
                    for &branch in &wu.branches {
                        let inner = self.compat(r, branch);
                        outcome.merge("", &inner);
                    }
                    return outcome;
                }
                _ => return self.mismatch(r, w),
            }
        }
        if let Detail::Union(wu) = &wn.detail {
            let mut outcome = Outcome::ok();
            for &branch in &wu.branches {
                let inner = self.compat(r, branch);
                outcome.merge("", &inner);
            }
            return outcome;
        }
        if rn.kind.promotes(wn.kind) {
            return Outcome::ok();
        }
        if let Detail::Union(ru) = &rn.detail {
            return self.reader_union(r, ru, w);
        }
        self.mismatch(r, w)
    }

    /// A reader's union reading a writer's non-union type: compatible when
    /// any branch reads it. Only branches that can (same kind and name, or a
    /// promotion) are tried; the others fail on their type or name alone.
    fn reader_union(&mut self, r: u32, union: &Union, w: u32) -> Outcome {
        let (rt, wt) = (self.r, self.w);
        let wn = wt.node(w);
        let mut candidates: Vec<u32> = Vec::new();
        if let Some(named) = wt.named(w) {
            let key = (wn.kind, named.short().to_string());
            candidates.extend(union.by_name.get(&key).into_iter().flatten());
            let key = (wn.kind, named.full.clone());
            candidates.extend(union.by_alias.get(&key).into_iter().flatten());
        }
        candidates.extend(union.unnamed.iter().copied().filter(|&b| {
            let kind = rt.node(b).kind;
            kind == wn.kind || kind.promotes(wn.kind)
        }));
        candidates.sort_unstable();
        candidates.dedup();
        let mut first_failure: Option<Rc<Outcome>> = None;
        for branch in candidates {
            let outcome = self.compat(branch, w);
            if outcome.ok {
                return Outcome::ok();
            }
            first_failure.get_or_insert(outcome);
        }
        // A branch of the writer's name or kind that fails says more than "no branch".
        if let Some(failure) = first_failure {
            let mut outcome = Outcome::ok();
            outcome.merge("", &failure);
            return outcome;
        }
        let mut outcome = Outcome::ok();
        outcome.add(self.brk(
            r,
            w,
            format!(
                "the writer writes {}, which no branch of the reader's {} reads",
                self.w.describe(w),
                self.r.describe(r)
            ),
        ));
        outcome
    }

    fn names(&self, r: u32, w: u32, rname: &Named, wname: &Named) -> Outcome {
        let mut outcome = Outcome::ok();
        if rname.short() != wname.short() && !rname.aliases.contains(&wname.full) {
            let kind = self.r.node(r).kind.name();
            outcome.add(self.brk(
                r,
                w,
                format!(
                    "the writer's {kind} is named `{}`, the reader's `{}`: named types match by name, or by one of the reader's aliases (add \"aliases\": [\"{}\"] to the reader's {kind})",
                    wname.full, rname.full, wname.full
                ),
            ));
        }
        outcome
    }

    fn symbols(&self, r: u32, w: u32, rname: &Named, re: &Enum, we: &Enum, outcome: &mut Outcome) {
        let found = |s: &String| re.sorted.binary_search_by(|i| re.symbols[*i as usize].cmp(s)).is_ok();
        let missing: Vec<&str> = we.symbols.iter().filter(|s| !found(s)).map(String::as_str).collect();
        if missing.is_empty() || re.default.as_ref().is_some_and(found) {
            return;
        }
        let shown: Vec<String> = missing.iter().take(8).map(|s| format!("`{s}`")).collect();
        let more = if missing.len() > 8 { format!(" and {} more", missing.len() - 8) } else { String::new() };
        outcome.add(self.brk(
            r,
            w,
            format!(
                "the writer's enum has {}{more}, which the reader's enum `{}` lacks, and the reader's enum has no `default` symbol to read them as",
                shown.join(", "),
                rname.full
            ),
        ));
    }

    fn fields(&mut self, r: u32, w: u32, wname: &Named, rr: &Record, wr: &Record, out: &mut Outcome) {
        for field in &rr.fields {
            let found = wr.field(&field.name).or_else(|| field.aliases.iter().find_map(|a| wr.field(a)));
            match found {
                Some(written) => {
                    let inner = self.compat(field.ty, written.ty);
                    let mut at_field = Outcome::ok();
                    at_field.merge(&field.name, &inner);
                    // A break at the field itself points at both fields' names.
                    for b in &mut at_field.breaks {
                        if b.path == field.name {
                            b.writer = b.writer.or_else(|| self.w.span(&written.at));
                            b.reader = b.reader.or_else(|| self.r.span(&field.at));
                        }
                    }
                    out.merge("", &at_field);
                }
                None if field.has_default => {}
                None => out.add(Break {
                    path: field.name.clone(),
                    reason: format!(
                        "the reader's field `{}` has no `default`, and the writer's record `{}` has no field `{}`{}: add a default to the reader's field",
                        field.name,
                        wname.full,
                        field.name,
                        if field.aliases.is_empty() { "" } else { " nor one named by its aliases" }
                    ),
                    writer: self.w.span(&self.w.node(w).at),
                    reader: self.r.span(&field.at).or_else(|| self.r.span(&self.r.node(r).at)),
                }),
            }
        }
    }
}

fn is_numeric(kind: Kind) -> bool {
    matches!(kind, Kind::Int | Kind::Long | Kind::Float | Kind::Double)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> AvroType {
        let value: Value = serde_json::from_str(text).unwrap();
        apache_avro::Schema::parse(&value).unwrap_or_else(|e| panic!("{text}: {e}"));
        AvroType::build(&value, None)
    }

    /// The breaks as (path, reason), writer first.
    fn check(writer: &str, reader: &str) -> Vec<(String, String)> {
        reader_can_read(&parse(writer), &parse(reader)).into_iter().map(|b| (b.path, b.reason)).collect()
    }

    fn ok(writer: &str, reader: &str) {
        let breaks = check(writer, reader);
        assert!(breaks.is_empty(), "{writer} → {reader}: {breaks:#?}");
    }

    fn breaks(writer: &str, reader: &str, path: &str, reason: &str) {
        let breaks = check(writer, reader);
        assert!(
            breaks.iter().any(|(p, r)| p == path && r.contains(reason)),
            "{writer} → {reader}: expected `{path}`: {reason}, got {breaks:#?}"
        );
    }

    fn record(name: &str, fields: &str) -> String {
        format!(r#"{{"type": "record", "name": "{name}", "fields": [{fields}]}}"#)
    }

    #[test]
    fn primitives_read_themselves_and_promote_to_wider_types() {
        let all = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"];
        let promotions = [
            ("int", "long"),
            ("int", "float"),
            ("int", "double"),
            ("long", "float"),
            ("long", "double"),
            ("float", "double"),
            ("string", "bytes"),
            ("bytes", "string"),
        ];
        for w in all {
            for r in all {
                let expected = w == r || promotions.contains(&(w, r));
                let found = check(&format!("\"{w}\""), &format!("\"{r}\"")).is_empty();
                assert_eq!(found, expected, "{w} → {r}");
            }
        }
        breaks("\"long\"", "\"int\"", "", "wider types");
    }

    #[test]
    fn a_reader_field_the_writer_lacks_needs_a_default() {
        let w = record("A", r#"{"name": "a", "type": "int"}"#);
        let r = record("A", r#"{"name": "a", "type": "int"}, {"name": "b", "type": "string"}"#);
        breaks(&w, &r, "b", "the reader's field `b` has no `default`");
        ok(&w, &record("A", r#"{"name": "a", "type": "int"}, {"name": "b", "type": "string", "default": ""}"#));
        ok(&w, &record("A", r#"{"name": "b", "type": ["null", "int"], "default": null}"#));
        // Writer fields the reader does not know are skipped.
        ok(&r, &w);
    }

    #[test]
    fn fields_match_by_the_readers_aliases() {
        let w = record("A", r#"{"name": "old", "type": "int"}"#);
        ok(&w, &record("A", r#"{"name": "new", "aliases": ["old"], "type": "long"}"#));
        breaks(&w, &record("A", r#"{"name": "new", "type": "long"}"#), "new", "has no `default`");
        // The direct name wins over an alias.
        let w2 = record("A", r#"{"name": "old", "type": "int"}, {"name": "new", "type": "string"}"#);
        breaks(&w2, &record("A", r#"{"name": "new", "aliases": ["old"], "type": "long"}"#), "new", "string");
    }

    #[test]
    fn named_types_match_by_unqualified_name_or_reader_alias() {
        ok(&record("a.X", ""), &record("b.X", ""));
        breaks(&record("a.X", ""), &record("a.Y", ""), "", "add \"aliases\": [\"a.X\"]");
        ok(&record("a.X", ""), r#"{"type": "record", "name": "a.Y", "aliases": ["a.X"], "fields": []}"#);
        // An unqualified alias is in the reader's namespace (Java, the specification).
        ok(&record("a.X", ""), r#"{"type": "record", "name": "Y", "namespace": "a", "aliases": ["X"], "fields": []}"#);
        breaks(
            &record("b.X", ""),
            r#"{"type": "record", "name": "Y", "namespace": "a", "aliases": ["X"], "fields": []}"#,
            "",
            "named",
        );
        let e = |name: &str, extra: &str| format!(r#"{{"type": "enum", "name": "{name}", "symbols": ["A"]{extra}}}"#);
        breaks(&e("E", ""), &e("F", ""), "", "enum is named `E`");
        ok(&e("E", ""), &e("F", r#", "aliases": ["E"]"#));
    }

    #[test]
    fn enums_need_every_writer_symbol_or_a_reader_default() {
        let e =
            |symbols: &str, extra: &str| format!(r#"{{"type": "enum", "name": "E", "symbols": [{symbols}]{extra}}}"#);
        ok(&e(r#""A""#, ""), &e(r#""A", "B""#, ""));
        breaks(&e(r#""A", "C""#, ""), &e(r#""A", "B""#, ""), "", "`C`");
        ok(&e(r#""A", "C""#, ""), &e(r#""A", "B""#, r#", "default": "B""#));
    }

    #[test]
    fn fixed_types_need_the_same_name_and_size() {
        let f = |name: &str, size: u32| format!(r#"{{"type": "fixed", "name": "{name}", "size": {size}}}"#);
        ok(&f("F", 16), &f("F", 16));
        breaks(&f("F", 16), &f("F", 12), "", "has 16 bytes");
        breaks(&f("F", 16), &f("G", 16), "", "named `F`");
        breaks(&f("F", 16), "\"bytes\"", "", "fixed `F`");
    }

    #[test]
    fn unions_resolve_both_ways() {
        ok("\"int\"", r#"["null", "long"]"#);
        breaks("\"string\"", r#"["null", "long"]"#, "", "no branch of the reader's union");
        ok(r#"["null", "int"]"#, r#"["null", "long", "string"]"#);
        breaks(r#"["null", "string"]"#, "\"string\"", "", "writer writes null");
        ok(r#"["int"]"#, "\"long\"");
        // A record branch is found by name; its own breaks are reported.
        let w = record("R", r#"{"name": "a", "type": "int"}"#);
        let r = format!(r#"["null", {}]"#, record("R", r#"{"name": "b", "type": "int"}"#));
        breaks(&w, &r, "b", "has no `default`");
    }

    #[test]
    fn nested_breaks_name_their_path() {
        let item = |q: &str| record("Item", &format!(r#"{{"name": "quantity", "type": "{q}"}}"#));
        let order = |q: &str| {
            record(
                "Order",
                &format!(
                    r#"{{"name": "items", "type": {{"type": "array", "items": {}}}}}, {{"name": "tags", "type": {{"type": "map", "values": "{q}"}}}}"#,
                    item(q)
                ),
            )
        };
        ok(&order("int"), &order("long"));
        let found = check(&order("long"), &order("int"));
        let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["items[].quantity", "tags{}"]);
    }

    #[test]
    fn logical_types_are_their_underlying_types() {
        let ts = r#"{"type": "long", "logicalType": "timestamp-millis"}"#;
        ok(ts, "\"long\"");
        ok("\"long\"", ts);
        ok(r#"{"type": "int", "logicalType": "date"}"#, ts);
        breaks(ts, r#"{"type": "int", "logicalType": "date"}"#, "", "writer writes long");
        let d = |p: u32| format!(r#"{{"type": "bytes", "logicalType": "decimal", "precision": {p}, "scale": 2}}"#);
        ok(&d(9), &d(4));
        ok(r#"{"type": "string", "logicalType": "uuid"}"#, "\"bytes\"");
    }

    #[test]
    fn recursive_types_terminate() {
        let list = |extra: &str| {
            format!(
                r#"{{"type": "record", "name": "Node", "fields": [{{"name": "next", "type": ["null", "Node"]}}{extra}]}}"#
            )
        };
        ok(&list(""), &list(""));
        ok(&list(r#", {"name": "v", "type": "int"}"#), &list(r#", {"name": "v", "type": "long"}"#));
        breaks(&list(""), &list(r#", {"name": "v", "type": "int"}"#), "v", "no `default`");
    }

    /// Avro's own test schemas (`../shared/corpora/avro`): each reads itself,
    /// and any pair compares without a panic.
    #[test]
    fn the_avro_corpus_reads_itself() {
        let files = crate::schema::avro::tests::corpus_files();
        let texts: Vec<String> = files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect();
        assert!(texts.len() >= 5, "the corpus has {} schemas", texts.len());
        for (file, text) in files.iter().zip(&texts) {
            assert_eq!(check(text, text), [], "{}", file.display());
        }
        for w in &texts {
            for r in &texts {
                reader_can_read(&parse(w), &parse(r));
            }
        }
    }

    /// Wide unions and records cost a comparison per branch and field, not
    /// per pair of them.
    #[test]
    fn wide_schemas_compare_in_linear_work() {
        let n = 2000;
        let branches: Vec<String> = (0..n)
            .map(|i| {
                record(
                    &format!("R{i}"),
                    &format!(r#"{{"name": "a", "type": "int"}}, {{"name": "b{i}", "type": "string"}}"#),
                )
            })
            .collect();
        let union = format!("[{}]", branches.join(", "));
        let (breaks, pairs) = super::check(&parse(&union), &parse(&union));
        assert!(breaks.is_empty(), "{breaks:?}");
        assert!(pairs <= 5 * n, "{pairs} pairs compared for {n} branches");
        let fields: Vec<String> = (0..n).map(|i| format!(r#"{{"name": "f{i}", "type": "long"}}"#)).collect();
        let wide = record("W", &fields.join(", "));
        let (breaks, pairs) = super::check(&parse(&wide), &parse(&wide));
        assert!(breaks.is_empty());
        assert!(pairs <= 2 * n, "{pairs} pairs compared for {n} fields");
        // Breaks are capped; the verdict is not.
        let narrow = record("W", &fields.join(", ").replace("long", "int"));
        let (breaks, _) = super::check(&parse(&wide), &parse(&narrow));
        assert_eq!(breaks.len(), MAX_BREAKS);
    }

    #[test]
    fn names_resolve_in_the_enclosing_namespace() {
        let text = r#"{"type": "record", "name": "Outer", "namespace": "n", "fields": [
            {"name": "a", "type": {"type": "enum", "name": "E", "symbols": ["X"]}},
            {"name": "b", "type": "E"},
            {"name": "c", "type": "n.E"}]}"#;
        let parsed = parse(text);
        assert!(!parsed.nodes.iter().any(|n| n.kind == Kind::Unresolved), "{parsed:#?}");
        ok(text, text);
    }
}
