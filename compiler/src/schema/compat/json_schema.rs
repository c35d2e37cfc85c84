//! JSON Schema compatibility: a reader reads a writer's events when every
//! instance the writer's schema allows, the reader's schema allows too.
//! Deciding that exactly is as hard as regular-language inclusion (patterns)
//! and worse with combinators, so this is a structural comparison, keyword
//! by keyword, that reports only what it can show:
//!
//! - `type`: every type the writer allows, the reader allows (`integer` is a
//!   `number`); a writer without `type` (nor `enum`/`const`) allows every type.
//! - `enum` / `const`: a reader's list holds every value the writer's list
//!   has; a writer without a list allows values the reader's list lacks.
//!   Without a reader list, the writer's values are held to the reader's
//!   `type` and bounds.
//! - Bounds: `minimum`, `maximum`, their exclusive forms (numbers and the
//!   draft-04 booleans), `multipleOf`, `minLength`, `maxLength`,
//!   `minItems`, `maxItems`, `minProperties`, `maxProperties`: the reader's
//!   may not be stricter than the writer's. `uniqueItems` and `pattern`
//!   (compared as text) likewise.
//! - Objects: a property the reader `required`s, the writer requires; a
//!   property the writer writes, a closed reader (`additionalProperties:
//!   false`, or `unevaluatedProperties: false` without it) declares, and
//!   each property's schemas compare recursively. A writer with an open
//!   content model may write any property it does not declare, so a
//!   property only the reader declares is compared with the writer's
//!   `additionalProperties` (any value when absent), as Confluent's
//!   registry does; a closed reader rejects an open writer.
//! - Arrays: `items` (and `prefixItems`, or draft-07 tuple `items` with
//!   `additionalItems`) compare position by position.
//! - `$ref`s within the document are followed (64 hops at most);
//!   recursion counts a pair already being compared as compatible.
//! - Combinators: a writer's `allOf` is merged into one schema (later
//!   branches win a conflicting keyword; `required` and `properties`
//!   unite), a writer's `anyOf`/`oneOf` branch must each be readable, a
//!   reader's `allOf` branches must each read the writer, a reader's
//!   `anyOf`/`oneOf` needs one branch that reads it all.
//! - Not compared (approximations, listed in docs/events.md): `not`,
//!   `if`/`then`/`else`, `dependentRequired`, `dependentSchemas`,
//!   `propertyNames`, `contains`, `format` (an annotation in 2020-12),
//!   `patternProperties` (a writer property that a reader's pattern may
//!   match is taken as declared), `$ref`s to other files, and keywords
//!   beside a `$ref`.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::ops::Range;
use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};

use super::{join_path, Break, MAX_BREAKS};
use crate::base::{FileId, Span};

/// Schema pairs compared inside one another at most.
const MAX_DEPTH: usize = 200;
/// Marks a memo key as derived from the schema at the pointer before it
/// (merged, split, or an absent keyword's default): no JSON Pointer holds it.
const DERIVED: char = '\u{0}';
/// `$ref`s followed in a row at most.
const MAX_HOPS: usize = 64;

/// A JSON Schema document as compatibility reads it.
#[derive(Debug)]
pub struct JsonSchemaType {
    doc: Value,
    file: FileId,
    text: Arc<str>,
    /// JSON Pointer → range, built the first time a break needs a span.
    ranges: OnceLock<HashMap<String, Range<usize>>>,
}

impl JsonSchemaType {
    pub(in crate::schema) fn new(doc: Value, file: FileId, text: Arc<str>) -> JsonSchemaType {
        JsonSchemaType { doc, file, text, ranges: OnceLock::new() }
    }

    /// The schema document.
    pub fn document(&self) -> &Value {
        &self.doc
    }

    fn span(&self, pointer: &str) -> Option<Span> {
        let ranges = self.ranges.get_or_init(|| {
            let Some(spans) = crate::schema::json_spans::JsonSpans::new(&self.text) else { return HashMap::new() };
            spans.nodes().zip(spans.ids()).map(|((pointer, _), id)| (pointer, spans.locate_node(id))).collect()
        });
        // The nearest pointer that is written in the file.
        let mut pointer = pointer;
        loop {
            if let Some(range) = ranges.get(pointer) {
                return Some(Span::new(self.file, range.clone()));
            }
            pointer = &pointer[..pointer.rfind('/')?];
        }
    }
}

/// Whether `reader` accepts every instance `writer` allows.
pub fn reader_can_read(writer: &JsonSchemaType, reader: &JsonSchemaType) -> Vec<Break> {
    let (outcome, _) = check(writer, reader);
    outcome
        .breaks
        .iter()
        .map(|b| Break {
            path: b.path.clone(),
            reason: b.reason.clone(),
            writer: writer.span(&b.writer),
            reader: reader.span(&b.reader),
        })
        .collect()
}

/// The outcome, and how many pairs of schemas were compared.
fn check(writer: &JsonSchemaType, reader: &JsonSchemaType) -> (Arc<Outcome>, usize) {
    let mut checker = Checker { w: writer, r: reader, memo: HashMap::new(), depth: 0 };
    let w = Node { value: Cow::Borrowed(&writer.doc), key: String::new() };
    let r = Node { value: Cow::Borrowed(&reader.doc), key: String::new() };
    let outcome = checker.compare(&w, &r);
    (outcome, checker.memo.len())
}

/// A schema: the value (merged ones are owned) and its JSON Pointer in the
/// document (merged or split ones get a [`DERIVED`] suffix, so the memo
/// keys differ).
#[derive(Clone, Debug)]
struct Node<'a> {
    value: Cow<'a, Value>,
    key: String,
}

impl Node<'_> {
    /// The pointer to show: the key without derived suffixes.
    fn at(&self) -> String {
        self.key.split(DERIVED).next().unwrap_or_default().to_string()
    }

    fn get(&self, keyword: &str) -> Option<&Value> {
        self.value.as_object()?.get(keyword)
    }
}

#[derive(Clone, Debug)]
struct JBreak {
    path: String,
    reason: String,
    writer: String,
    reader: String,
}

#[derive(Debug, Default)]
struct Outcome {
    breaks: Vec<JBreak>,
    failed: bool,
}

impl Outcome {
    fn ok(&self) -> bool {
        !self.failed
    }

    fn add(&mut self, b: JBreak) {
        self.failed = true;
        if self.breaks.len() < MAX_BREAKS {
            self.breaks.push(b);
        }
    }

    fn merge(&mut self, segment: &str, other: &Outcome) {
        if other.ok() {
            return;
        }
        self.failed = true;
        for b in &other.breaks {
            if self.breaks.len() >= MAX_BREAKS {
                break;
            }
            self.breaks.push(JBreak { path: join_path(segment, &b.path), ..b.clone() });
        }
    }
}

enum Memo {
    InProgress,
    Done(Arc<Outcome>),
}

struct Checker<'a> {
    w: &'a JsonSchemaType,
    r: &'a JsonSchemaType,
    memo: HashMap<(String, String), Memo>,
    depth: usize,
}

const TYPES: [&str; 6] = ["null", "boolean", "object", "array", "number", "string"];

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Object(_) => "object",
        Value::Array(_) => "array",
        Value::Number(n) if n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0) => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
    }
}

/// Equality as JSON Schema sees it: numbers by value (1 equals 1.0).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 40 {
        let cut: String = text.chars().take(40).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// Keywords that constrain nothing (annotations, identifiers, definitions).
fn is_annotation(keyword: &str) -> bool {
    matches!(
        keyword,
        "$schema"
            | "$id"
            | "$anchor"
            | "$comment"
            | "$defs"
            | "definitions"
            | "title"
            | "description"
            | "default"
            | "examples"
            | "deprecated"
            | "readOnly"
            | "writeOnly"
            | "format"
            | "contentMediaType"
            | "contentEncoding"
    )
}

/// Whether a schema accepts every instance.
fn accepts_all(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Object(o) => o.keys().all(|k| is_annotation(k)),
        _ => true,
    }
}

/// Shallow merge for a writer's `allOf` and split combinators: `base`'s
/// keywords, then `extra`'s (which win), `required` and `properties` united.
fn merged(base: &Map<String, Value>, extra: &Value, drop: &[&str]) -> Value {
    let mut out: Map<String, Value> =
        base.iter().filter(|(k, _)| !drop.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
    let Some(extra) = extra.as_object() else {
        return match extra {
            Value::Bool(false) => Value::Bool(false),
            _ => Value::Object(out),
        };
    };
    for (key, value) in extra {
        match (key.as_str(), out.get_mut(key), value) {
            ("required", Some(Value::Array(have)), Value::Array(more)) => {
                for name in more {
                    if !have.contains(name) {
                        have.push(name.clone());
                    }
                }
            }
            ("properties", Some(Value::Object(have)), Value::Object(more)) => {
                for (name, schema) in more {
                    have.insert(name.clone(), schema.clone());
                }
            }
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    Value::Object(out)
}

/// A bound: its value and whether it is exclusive.
#[derive(Clone, Copy, Debug)]
struct Bound {
    value: f64,
    exclusive: bool,
}

fn number(v: Option<&Value>) -> Option<f64> {
    v.and_then(Value::as_f64)
}

/// A schema's lower (`min`) or upper bound on numbers, draft-04 booleans included.
fn numeric_bound(node: &Node, lower: bool) -> Option<Bound> {
    let (inclusive, exclusive) = if lower { ("minimum", "exclusiveMinimum") } else { ("maximum", "exclusiveMaximum") };
    let plain = number(node.get(inclusive));
    match node.get(exclusive) {
        Some(Value::Bool(true)) => plain.map(|value| Bound { value, exclusive: true }),
        Some(Value::Number(n)) => {
            let ex = Bound { value: n.as_f64().unwrap_or_default(), exclusive: true };
            match plain {
                // Both given: the stricter applies.
                Some(p) if (lower && p > ex.value) || (!lower && p < ex.value) => {
                    Some(Bound { value: p, exclusive: false })
                }
                _ => Some(ex),
            }
        }
        _ => plain.map(|value| Bound { value, exclusive: false }),
    }
}

/// Whether the writer's bound is at least as strict as the reader's.
fn within(writer: Option<Bound>, reader: Bound, lower: bool) -> bool {
    let Some(w) = writer else { return false };
    let tighter = if lower { w.value > reader.value } else { w.value < reader.value };
    tighter || (w.value == reader.value && (w.exclusive || !reader.exclusive))
}

fn describe_bound(keyword_lower: bool, b: Bound) -> String {
    let op = match (keyword_lower, b.exclusive) {
        (true, false) => "≥",
        (true, true) => ">",
        (false, false) => "≤",
        (false, true) => "<",
    };
    format!("{op} {}", b.value)
}

impl<'a> Checker<'a> {
    fn brk(&self, w: &Node, r: &Node, reason: String) -> JBreak {
        JBreak { path: String::new(), reason, writer: w.at(), reader: r.at() }
    }

    /// Follows `$ref`s (`#/...` in the same document).
    fn resolve<'n>(&self, doc: &'a Value, node: Node<'n>) -> Node<'n>
    where
        'a: 'n,
    {
        let mut node = node;
        for _ in 0..MAX_HOPS {
            let Some(Value::String(reference)) = node.get("$ref") else { return node };
            let Some(fragment) = reference.strip_prefix('#') else { return node };
            let decoded = fragment.replace("%25", "%").replace("%22", "\"");
            match doc.pointer(&decoded) {
                Some(target) => node = Node { value: Cow::Borrowed(target), key: decoded },
                None => return node,
            }
        }
        node
    }

    fn compare(&mut self, w: &Node, r: &Node) -> Arc<Outcome> {
        let key = (w.key.clone(), r.key.clone());
        match self.memo.get(&key) {
            Some(Memo::Done(outcome)) => return Arc::clone(outcome),
            Some(Memo::InProgress) => return Arc::new(Outcome::default()),
            None => {}
        }
        if self.depth >= MAX_DEPTH {
            let mut outcome = Outcome::default();
            outcome.add(self.brk(
                w,
                r,
                format!("the schemas nest more than {MAX_DEPTH} levels deep here; meshc compares no deeper"),
            ));
            return Arc::new(outcome);
        }
        self.memo.insert(key.clone(), Memo::InProgress);
        self.depth += 1;
        let outcome = Arc::new(self.calculate(w.clone(), r.clone()));
        self.depth -= 1;
        self.memo.insert(key, Memo::Done(Arc::clone(&outcome)));
        outcome
    }

    fn calculate(&mut self, w: Node, r: Node) -> Outcome {
        let (wt, rt) = (self.w, self.r);
        let w = self.resolve(&wt.doc, w);
        let r = self.resolve(&rt.doc, r);
        let mut out = Outcome::default();
        if accepts_all(&r.value) || w.value.as_ref() == &Value::Bool(false) {
            return out;
        }
        if r.value.as_ref() == &Value::Bool(false) {
            out.add(self.brk(&w, &r, "the reader's schema is `false`: it accepts no value".into()));
            return out;
        }
        let empty = Map::new();
        let wobj = w.value.as_object().unwrap_or(&empty);
        let robj = r.value.as_object().unwrap_or(&empty);
        // The writer's allOf, merged into one schema.
        if let Some(Value::Array(branches)) = wobj.get("allOf") {
            let mut value = Value::Object(
                wobj.iter().filter(|(k, _)| *k != "allOf").map(|(k, v)| (k.clone(), v.clone())).collect(),
            );
            for (i, branch) in branches.iter().enumerate() {
                let branch =
                    self.resolve(&wt.doc, Node { value: Cow::Borrowed(branch), key: format!("{}/allOf/{i}", w.key) });
                value = merged(value.as_object().unwrap_or(&empty), &branch.value, &[]);
            }
            let node = Node { value: Cow::Owned(value), key: format!("{}{DERIVED}allOf", w.key) };
            return self.outcome_of(&node, &r);
        }
        // A writer's anyOf/oneOf: each branch (with the keywords beside it) must be readable.
        for combinator in ["anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = wobj.get(combinator) {
                for (i, branch) in branches.iter().enumerate() {
                    let key = format!("{}/{combinator}/{i}", w.key);
                    let branch = self.resolve(&wt.doc, Node { value: Cow::Borrowed(branch), key: key.clone() });
                    let value = merged(wobj, &branch.value, &["anyOf", "oneOf"]);
                    let node = Node { value: Cow::Owned(value), key: format!("{key}{DERIVED}with siblings") };
                    let inner = self.compare(&node, &r);
                    out.merge("", &inner);
                }
                return out;
            }
        }
        // A reader's allOf: every branch, and the rest of the reader.
        if let Some(Value::Array(branches)) = robj.get("allOf") {
            for (i, branch) in branches.iter().enumerate() {
                let node = Node { value: Cow::Borrowed(branch), key: format!("{}/allOf/{i}", r.key) };
                let inner = self.compare(&w, &node);
                out.merge("", &inner);
            }
            let rest = Value::Object(
                robj.iter().filter(|(k, _)| *k != "allOf").map(|(k, v)| (k.clone(), v.clone())).collect(),
            );
            let inner =
                self.compare(&w, &Node { value: Cow::Owned(rest), key: format!("{}{DERIVED}without allOf", r.key) });
            out.merge("", &inner);
            return out;
        }
        // A reader's anyOf/oneOf: one branch must read everything.
        for combinator in ["anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = robj.get(combinator) {
                let mut first: Option<Arc<Outcome>> = None;
                for (i, branch) in branches.iter().enumerate() {
                    let key = format!("{}/{combinator}/{i}", r.key);
                    let branch = self.resolve(&rt.doc, Node { value: Cow::Borrowed(branch), key: key.clone() });
                    let value = merged(robj, &branch.value, &["anyOf", "oneOf"]);
                    let node = Node { value: Cow::Owned(value), key: format!("{key}{DERIVED}with siblings") };
                    let inner = self.compare(&w, &node);
                    if inner.ok() {
                        return Outcome::default();
                    }
                    first.get_or_insert(inner);
                }
                out.add(self.brk(
                    &w,
                    &r,
                    format!("no branch of the reader's `{combinator}` accepts every value the writer allows"),
                ));
                if let Some(first) = first {
                    out.merge("", &first);
                }
                return out;
            }
        }
        self.keywords(&w, &r, &mut out);
        out
    }

    fn outcome_of(&mut self, w: &Node, r: &Node) -> Outcome {
        let mut out = Outcome::default();
        let inner = self.compare(w, r);
        out.merge("", &inner);
        out
    }

    /// The types a schema allows: from `type`, else from its `enum`/`const`
    /// values, else all of them (`integer` only when `number` is absent).
    fn types(node: &Node) -> BTreeSet<&'static str> {
        let named = |t: &str| TYPES.iter().chain(&["integer"]).find(|k| **k == t).copied();
        match node.get("type") {
            Some(Value::String(t)) => named(t).into_iter().collect(),
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).filter_map(named).collect(),
            _ => match Self::values(node) {
                Some(values) => values.iter().map(|v| json_type(v)).collect(),
                None => TYPES.into_iter().collect(),
            },
        }
    }

    /// The values a schema allows when it lists them (`const`, `enum`).
    fn values<'n>(node: &'n Node) -> Option<Vec<&'n Value>> {
        if let Some(value) = node.get("const") {
            return Some(vec![value]);
        }
        node.get("enum").and_then(Value::as_array).map(|values| values.iter().collect())
    }

    fn keywords(&mut self, w: &Node, r: &Node, out: &mut Outcome) {
        // Types.
        let wtypes = Self::types(w);
        let rtypes = Self::types(r);
        let covers = |t: &str| rtypes.contains(t) || (t == "integer" && rtypes.contains("number"));
        let lost: Vec<&str> = wtypes.iter().copied().filter(|t| !covers(t)).collect();
        if !lost.is_empty() {
            let writer = if w.get("type").is_none() && Self::values(w).is_none() {
                "any type (it has no `type`)".to_string()
            } else {
                lost.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ")
            };
            let reader: Vec<String> = rtypes.iter().map(|t| format!("`{t}`")).collect();
            out.add(self.brk(w, r, format!("the writer allows {writer}, the reader only {}", reader.join(", "))));
        }
        let has = |t: &str| wtypes.contains(t) && covers(t);
        // Listed values.
        let wvalues = Self::values(w);
        if let Some(rvalues) = Self::values(r) {
            match &wvalues {
                None => out.add(self.brk(
                    w,
                    r,
                    format!(
                        "the reader allows only {} listed value(s), the writer any value of its type",
                        rvalues.len()
                    ),
                )),
                Some(wvalues) => {
                    let missing: Vec<String> = wvalues
                        .iter()
                        .filter(|v| !rvalues.iter().any(|r| same(v, r)))
                        .take(8)
                        .map(|v| shown(v))
                        .collect();
                    if !missing.is_empty() {
                        out.add(self.brk(
                            w,
                            r,
                            format!(
                                "the writer allows {}, which the reader's `enum`/`const` lacks",
                                missing.join(", ")
                            ),
                        ));
                    }
                }
            }
        } else if let Some(wvalues) = &wvalues {
            // Listed writer values are held to the reader's bounds one by one.
            for value in wvalues {
                if let Some(why) = self.value_rejected(value, r) {
                    out.add(self.brk(w, r, format!("the writer allows {}, {why}", shown(value))));
                }
            }
            return;
        }
        if wvalues.is_none() {
            if has("number") || has("integer") {
                self.numbers(w, r, out);
            }
            if has("string") {
                self.counts(w, r, "minLength", "maxLength", "characters", out);
                if let Some(Value::String(pattern)) = r.get("pattern") {
                    if w.get("pattern").and_then(Value::as_str) != Some(pattern) {
                        out.add(self.brk(w, r, format!("the reader requires strings to match `{pattern}`; the writer's are not held to that pattern")));
                    }
                }
            }
        }
        if has("array") {
            self.arrays(w, r, out);
        }
        if has("object") {
            self.objects(w, r, out);
        }
    }

    /// Why the reader rejects one listed writer value, if it does (types and bounds).
    fn value_rejected(&self, value: &Value, r: &Node) -> Option<String> {
        let rtypes = Self::types(r);
        let t = json_type(value);
        if !(rtypes.contains(t) || (t == "integer" && rtypes.contains("number"))) {
            return Some(format!("a `{t}` the reader's `type` rejects"));
        }
        if let Some(x) = value.as_f64() {
            for lower in [true, false] {
                if let Some(b) = numeric_bound(r, lower) {
                    let ok = if lower {
                        x > b.value || (x == b.value && !b.exclusive)
                    } else {
                        x < b.value || (x == b.value && !b.exclusive)
                    };
                    if !ok {
                        return Some(format!("outside the reader's bound {}", describe_bound(lower, b)));
                    }
                }
            }
        }
        if let Some(s) = value.as_str() {
            let n = s.chars().count() as f64;
            if number(r.get("minLength")).is_some_and(|m| n < m) || number(r.get("maxLength")).is_some_and(|m| n > m) {
                return Some("a length outside the reader's `minLength`/`maxLength`".into());
            }
        }
        None
    }

    fn numbers(&self, w: &Node, r: &Node, out: &mut Outcome) {
        for lower in [true, false] {
            if let Some(rb) = numeric_bound(r, lower) {
                let wb = numeric_bound(w, lower);
                if !within(wb, rb, lower) {
                    let writer = wb.map_or("no such bound".to_string(), |b| describe_bound(lower, b));
                    out.add(self.brk(
                        w,
                        r,
                        format!("the reader requires numbers {}, the writer's {writer}", describe_bound(lower, rb)),
                    ));
                }
            }
        }
        if let Some(rm) = number(r.get("multipleOf")) {
            let integers_only = !Self::types(w).contains("number");
            let wm = number(w.get("multipleOf")).or(integers_only.then_some(1.0));
            let divides = wm.is_some_and(|wm| rm > 0.0 && ((wm / rm) - (wm / rm).round()).abs() < 1e-9);
            if !divides {
                out.add(self.brk(w, r, format!("the reader requires multiples of {rm}; the writer's numbers are not")));
            }
        }
    }

    /// Count bounds (`minLength`/`maxLength` and the like).
    fn counts(&self, w: &Node, r: &Node, min: &str, max: &str, unit: &str, out: &mut Outcome) {
        if let Some(rmin) = number(r.get(min)) {
            if number(w.get(min)).is_none_or(|wmin| wmin < rmin) {
                out.add(self.brk(
                    w,
                    r,
                    format!("the reader requires at least {rmin} {unit} (`{min}`); the writer allows fewer"),
                ));
            }
        }
        if let Some(rmax) = number(r.get(max)) {
            if number(w.get(max)).is_none_or(|wmax| wmax > rmax) {
                out.add(self.brk(
                    w,
                    r,
                    format!("the reader allows at most {rmax} {unit} (`{max}`); the writer allows more"),
                ));
            }
        }
    }

    /// The schema for array position `i` (`None`: the rest) and its pointer.
    fn item<'n>(node: &'n Node, i: Option<usize>) -> (Cow<'n, Value>, String) {
        let tuple = node.get("prefixItems").or_else(|| node.get("items").filter(|v| v.is_array()));
        let tuple_key = if node.get("prefixItems").is_some() { "prefixItems" } else { "items" };
        if let (Some(Value::Array(tuple)), Some(i)) = (tuple, i) {
            if let Some(schema) = tuple.get(i) {
                return (Cow::Borrowed(schema), format!("{}/{tuple_key}/{i}", node.key));
            }
        }
        let rest_key = if tuple.is_some() && tuple_key == "items" { "additionalItems" } else { "items" };
        match node.get(rest_key).filter(|v| !v.is_array()) {
            Some(schema) => (Cow::Borrowed(schema), format!("{}/{rest_key}", node.key)),
            None => (Cow::Owned(Value::Bool(true)), format!("{}{DERIVED}{rest_key}", node.key)),
        }
    }

    fn arrays(&mut self, w: &Node, r: &Node, out: &mut Outcome) {
        let tuple_len =
            |n: &Node| n.get("prefixItems").or_else(|| n.get("items")).and_then(Value::as_array).map_or(0, Vec::len);
        let positions = tuple_len(w).max(tuple_len(r));
        for i in (0..positions).map(Some).chain([None]) {
            let (wv, wk) = Self::item(w, i);
            let (rv, rk) = Self::item(r, i);
            let inner = self.compare(&Node { value: wv, key: wk }, &Node { value: rv, key: rk });
            let segment = match i {
                Some(i) => format!("[{i}]"),
                None => "[]".to_string(),
            };
            out.merge(&segment, &inner);
        }
        self.counts(w, r, "minItems", "maxItems", "items", out);
        if r.get("uniqueItems") == Some(&Value::Bool(true)) && w.get("uniqueItems") != Some(&Value::Bool(true)) {
            out.add(self.brk(
                w,
                r,
                "the reader requires unique items (`uniqueItems`); the writer allows repeats".into(),
            ));
        }
    }

    /// `additionalProperties`, or `unevaluatedProperties` without it: the
    /// schema for undeclared properties (`true` when absent).
    fn additional<'n>(node: &'n Node) -> (Cow<'n, Value>, String) {
        for keyword in ["additionalProperties", "unevaluatedProperties"] {
            if let Some(schema) = node.get(keyword) {
                return (Cow::Borrowed(schema), format!("{}/{keyword}", node.key));
            }
        }
        (Cow::Owned(Value::Bool(true)), format!("{}{DERIVED}additionalProperties", node.key))
    }

    fn objects(&mut self, w: &Node, r: &Node, out: &mut Outcome) {
        let empty = Map::new();
        let wprops = w.get("properties").and_then(Value::as_object).unwrap_or(&empty);
        let rprops = r.get("properties").and_then(Value::as_object).unwrap_or(&empty);
        let required = |n: &Node| -> BTreeSet<String> {
            let names = n.get("required").and_then(Value::as_array).into_iter().flatten();
            names.filter_map(Value::as_str).map(str::to_string).collect()
        };
        let (wreq, rreq) = (required(w), required(r));
        let (wadd, wadd_key) = Self::additional(w);
        let (radd, radd_key) = Self::additional(r);
        let wclosed = wadd.as_ref() == &Value::Bool(false);
        let rclosed = radd.as_ref() == &Value::Bool(false);
        let rpatterns = r.get("patternProperties").and_then(Value::as_object).is_some_and(|p| !p.is_empty());
        for name in &rreq {
            if !wreq.contains(name) {
                let why = if wprops.contains_key(name) {
                    "the writer's schema does not require it, so events may lack it"
                } else {
                    "the writer's schema does not declare it"
                };
                let mut b = self.brk(w, r, format!("the reader requires `{name}`; {why}"));
                b.path = name.clone();
                b.writer = format!("{}/properties/{}", w.key, escape(name));
                b.reader = format!("{}/required", r.key);
                out.add(b);
            }
        }
        for (name, rschema) in rprops {
            let rnode = Node { value: Cow::Borrowed(rschema), key: format!("{}/properties/{}", r.key, escape(name)) };
            let declared = wprops.get(name);
            let wnode = match declared {
                Some(wschema) => {
                    Node { value: Cow::Borrowed(wschema), key: format!("{}/properties/{}", w.key, escape(name)) }
                }
                None if wclosed => continue,
                None => Node { value: Cow::Borrowed(wadd.as_ref()), key: wadd_key.clone() },
            };
            let inner = self.compare(&wnode, &rnode);
            if !inner.ok() && declared.is_none() {
                let mut b = self.brk(
                    &wnode,
                    &rnode,
                    format!("only the reader declares `{name}`; the writer's open content model may write it with any value its `additionalProperties` allows"),
                );
                b.path = name.clone();
                out.add(b);
            }
            out.merge(name, &inner);
        }
        for (name, wschema) in wprops {
            if rprops.contains_key(name) || rpatterns {
                continue;
            }
            let wnode = Node { value: Cow::Borrowed(wschema), key: format!("{}/properties/{}", w.key, escape(name)) };
            if rclosed {
                let mut b = self.brk(
                    &wnode,
                    r,
                    format!("the writer writes `{name}`, which the reader's closed content model (`additionalProperties: false`) rejects"),
                );
                b.path = name.clone();
                b.reader = radd_key.clone();
                out.add(b);
            } else if !accepts_all(&radd) {
                let inner = self.compare(&wnode, &Node { value: Cow::Borrowed(radd.as_ref()), key: radd_key.clone() });
                out.merge(name, &inner);
            }
        }
        if !wclosed && !rpatterns {
            if rclosed {
                let mut b = self.brk(
                    w,
                    r,
                    "the writer's open content model allows properties it does not declare; the reader's closed one (`additionalProperties: false`) rejects them".into(),
                );
                b.path = "*".into();
                b.writer = wadd_key.clone();
                b.reader = radd_key.clone();
                out.add(b);
            } else if !accepts_all(&radd) {
                let inner = self.compare(
                    &Node { value: Cow::Borrowed(wadd.as_ref()), key: wadd_key.clone() },
                    &Node { value: Cow::Borrowed(radd.as_ref()), key: radd_key.clone() },
                );
                out.merge("*", &inner);
            }
        }
        self.counts(w, r, "minProperties", "maxProperties", "properties", out);
    }
}

fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(text: &str) -> JsonSchemaType {
        JsonSchemaType::new(serde_json::from_str(text).unwrap(), FileId(0), Arc::from(text))
    }

    fn check(writer: &str, reader: &str) -> Vec<(String, String)> {
        reader_can_read(&schema(writer), &schema(reader)).into_iter().map(|b| (b.path, b.reason)).collect()
    }

    fn ok(writer: &str, reader: &str) {
        let found = check(writer, reader);
        assert!(found.is_empty(), "{writer} → {reader}: {found:#?}");
    }

    fn breaks(writer: &str, reader: &str, path: &str, reason: &str) {
        let found = check(writer, reader);
        assert!(
            found.iter().any(|(p, r)| p == path && r.contains(reason)),
            "{writer} → {reader}: expected `{path}`: {reason}, got {found:#?}"
        );
    }

    #[test]
    fn types_narrowed_break_widened_read() {
        ok(r#"{"type": "integer"}"#, r#"{"type": "number"}"#);
        ok(r#"{"type": "string"}"#, r#"{"type": ["string", "null"]}"#);
        breaks(r#"{"type": "number"}"#, r#"{"type": "integer"}"#, "", "the writer allows `number`");
        breaks(r#"{"type": ["string", "null"]}"#, r#"{"type": "string"}"#, "", "`null`");
        breaks(r#"{}"#, r#"{"type": "string"}"#, "", "any type");
        ok(r#"{"type": "string"}"#, r#"{}"#);
        ok(r#"{"type": "string"}"#, "true");
        breaks(r#"{"type": "string"}"#, "false", "", "accepts no value");
    }

    #[test]
    fn enums_and_consts_narrowed_break() {
        ok(r#"{"enum": ["a", "b"]}"#, r#"{"enum": ["a", "b", "c"]}"#);
        breaks(r#"{"enum": ["a", "d"]}"#, r#"{"enum": ["a", "b"]}"#, "", "\"d\"");
        breaks(r#"{"type": "string"}"#, r#"{"enum": ["a"]}"#, "", "only 1 listed value");
        ok(r#"{"const": 1}"#, r#"{"enum": [1.0, 2]}"#);
        ok(r#"{"enum": [1, 2]}"#, r#"{"type": "integer", "maximum": 5}"#);
        breaks(r#"{"enum": [1, 9]}"#, r#"{"type": "integer", "maximum": 5}"#, "", "9, outside");
    }

    #[test]
    fn bounds_narrowed_break() {
        ok(r#"{"type": "integer", "minimum": 1, "maximum": 5}"#, r#"{"type": "integer", "minimum": 0}"#);
        breaks(r#"{"type": "integer", "minimum": 0}"#, r#"{"type": "integer", "minimum": 1}"#, "", "≥ 1");
        breaks(r#"{"type": "integer"}"#, r#"{"type": "integer", "exclusiveMaximum": 10}"#, "", "< 10");
        ok(r#"{"type": "integer", "maximum": 9}"#, r#"{"type": "integer", "exclusiveMaximum": 10}"#);
        breaks(r#"{"type": "integer", "maximum": 10}"#, r#"{"type": "integer", "exclusiveMaximum": 10}"#, "", "< 10");
        ok(r#"{"type": "integer", "multipleOf": 4}"#, r#"{"type": "integer", "multipleOf": 2}"#);
        breaks(r#"{"type": "number"}"#, r#"{"type": "number", "multipleOf": 0.5}"#, "", "multiples");
        ok(r#"{"type": "string", "maxLength": 5}"#, r#"{"type": "string", "maxLength": 10}"#);
        breaks(r#"{"type": "string"}"#, r#"{"type": "string", "maxLength": 10}"#, "", "maxLength");
        breaks(r#"{"type": "string"}"#, r#"{"type": "string", "pattern": "^a"}"#, "", "pattern");
        ok(r#"{"type": "string", "pattern": "^a"}"#, r#"{"type": "string", "pattern": "^a"}"#);
    }

    const ORDER: &str = r#"{"type": "object", "required": ["id"], "properties": {
        "id": {"type": "string"}, "total": {"type": "integer"}}}"#;

    #[test]
    fn required_properties_and_closed_models() {
        ok(ORDER, ORDER);
        let requires_total = r#"{"type": "object", "required": ["id", "total"], "properties": {
            "id": {"type": "string"}, "total": {"type": "integer"}}}"#;
        breaks(ORDER, requires_total, "total", "does not require it");
        ok(requires_total, ORDER);
        let closed = r#"{"type": "object", "required": ["id"], "additionalProperties": false, "properties": {"id": {"type": "string"}}}"#;
        breaks(ORDER, closed, "total", "closed content model");
        breaks(ORDER, closed, "*", "open content model");
        let closed_writer = r#"{"type": "object", "required": ["id"], "additionalProperties": false, "properties": {"id": {"type": "string"}}}"#;
        ok(closed_writer, closed);
        // A property only the reader declares: an open writer may write it with anything.
        breaks(closed_writer.replace("false", "true").as_str(), ORDER, "total", "open content model");
        ok(closed_writer, ORDER);
    }

    #[test]
    fn nested_properties_items_and_refs_name_their_path() {
        let w = r##"{"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": "#/$defs/Item"}}},
            "$defs": {"Item": {"type": "object", "properties": {"quantity": {"type": "number"}}}}}"##;
        let r = r##"{"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": "#/$defs/Item"}}},
            "$defs": {"Item": {"type": "object", "properties": {"quantity": {"type": "integer"}}}}}"##;
        breaks(w, r, "items[].quantity", "`number`");
        ok(r, w);
        let tuple =
            |t: &str| format!(r#"{{"type": "array", "prefixItems": [{{"type": "string"}}, {{"type": "{t}"}}]}}"#);
        breaks(&tuple("number"), &tuple("integer"), "[1]", "`number`");
    }

    #[test]
    fn combinators() {
        let any = r#"{"anyOf": [{"type": "string"}, {"type": "integer"}]}"#;
        ok(r#"{"type": "integer"}"#, any);
        breaks(r#"{"type": "boolean"}"#, any, "", "no branch of the reader's `anyOf`");
        breaks(any, r#"{"type": "string"}"#, "", "`integer`");
        ok(any, r#"{"type": ["string", "number"]}"#);
        let all = r#"{"allOf": [{"type": "object", "properties": {"a": {"type": "string"}}}, {"required": ["a"]}]}"#;
        ok(all, r#"{"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}}}"#);
        breaks(r#"{"type": "object", "properties": {"a": {"type": "string"}}}"#, all, "a", "does not require it");
    }

    #[test]
    fn wide_schemas_compare_in_linear_work() {
        let n = 2000;
        let props: Vec<String> = (0..n).map(|i| format!(r#""p{i}": {{"type": "integer"}}"#)).collect();
        let doc = format!(r#"{{"type": "object", "properties": {{{}}}}}"#, props.join(", "));
        let (outcome, pairs) = super::check(&schema(&doc), &schema(&doc));
        assert!(outcome.ok(), "{:?}", outcome.breaks);
        assert!(pairs <= 2 * n, "{pairs} pairs compared for {n} properties");
        let values: Vec<String> = (0..n).map(|i| format!("\"v{i}\"")).collect();
        let listed = format!(r#"{{"enum": [{}]}}"#, values.join(", "));
        let (outcome, _) = super::check(&schema(&listed), &schema(&listed));
        assert!(outcome.ok());
    }

    #[test]
    fn recursive_refs_terminate() {
        let tree = |t: &str| {
            format!(
                r##"{{"$ref": "#/$defs/Node", "$defs": {{"Node": {{"type": "object", "properties": {{
                "value": {{"type": "{t}"}}, "children": {{"type": "array", "items": {{"$ref": "#/$defs/Node"}}}}}}}}}}}}"##
            )
        };
        ok(&tree("integer"), &tree("number"));
        breaks(&tree("number"), &tree("integer"), "value", "`number`");
    }

    #[test]
    fn breaks_point_into_both_files() {
        let w = schema(ORDER);
        let closed = r#"{"type": "object", "additionalProperties": false, "properties": {"id": {"type": "string"}}}"#;
        let r = schema(closed);
        let found = reader_can_read(&w, &r);
        let total = found.iter().find(|b| b.path == "total").expect("a break at total");
        let writer = total.writer.expect("a writer span");
        assert_eq!(&ORDER[writer.start as usize..writer.end as usize], "\"total\"");
        let reader = total.reader.expect("a reader span");
        assert_eq!(&closed[reader.start as usize..reader.end as usize], "false");
    }
}
