//! Answers made up from a schema, for requests no canned answer matches:
//! JSON from a REST operation's response schema, protobuf messages from a
//! gRPC method's output type. Values are fixed (the same schema always
//! gives the same answer) and never a type's default, so a consumer that
//! reads a field sees that it was sent.

use std::collections::HashSet;

use prost_reflect::{DynamicMessage, Kind, MapKey, MessageDescriptor, Value as ProtoValue};
use serde_json::{Map, Value};

use crate::contracts::plan::{JsonType, Read};

/// Deepest nesting generated in full; below it objects hold their required
/// properties only, lists their minimum of items and messages nothing, so
/// recursive schemas end.
const MAX_DEPTH: usize = 8;

/// Values made in full before only what is required is (a schema whose
/// every object holds several of itself would otherwise grow to millions).
const FULL_BUDGET: usize = 10_000;

/// Values made at all, and the deepest nesting, before generating gives up
/// (a schema that requires itself has no finite value).
const HARD_BUDGET: usize = 100_000;
const HARD_DEPTH: usize = 32;

/// The whole schema and how many values are left to make.
struct Walk<'r> {
    root: &'r Value,
    made: usize,
}

impl Walk<'_> {
    /// Whether a value at `depth` gets every property and a list item.
    fn full(&self, depth: usize) -> bool {
        depth < MAX_DEPTH && self.made < FULL_BUDGET
    }
}

/// A value for `root`, a draft 4 JSON Schema (OpenAPI's Schema Object after
/// `validator::normalize`) whose `$ref`s point into itself: every property
/// declared is present, lists hold one item (or their minimum), strings
/// their property's name, numbers 1 (or the nearest the bounds allow).
/// `pattern` is not honoured: the caller validates the result.
pub(crate) fn from_schema(root: &Value) -> Value {
    let mut walk = Walk { root, made: 0 };
    generate(root, &mut walk, "value", 0).unwrap_or_else(|| Value::String("value".into()))
}

/// `None` for a schema that constrains nothing (any value fits), or when
/// generating gave up.
fn generate(schema: &Value, walk: &mut Walk, name: &str, depth: usize) -> Option<Value> {
    if depth > HARD_DEPTH || walk.made >= HARD_BUDGET {
        return None;
    }
    walk.made += 1;
    let schema = resolve(schema, walk.root)?;
    if let Some(Value::Array(values)) = schema.get("enum") {
        return values.iter().find(|v| !v.is_null()).or(values.first()).cloned();
    }
    // `allOf` members and the schema's own keywords all apply: merge them.
    // Of `oneOf`/`anyOf`, the first member.
    let members: Vec<&Value> = schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .chain(["oneOf", "anyOf"].iter().filter_map(|k| schema.get(*k)?.as_array()?.first()))
        .collect();
    let own = own_type(schema).and_then(|ty| typed(schema, ty, walk, name, depth));
    members.into_iter().filter_map(|member| generate(member, walk, name, depth + 1)).fold(own, merge)
}

/// Follows `$ref`s (`#/...` into `root`); `None` for one that does not resolve.
fn resolve<'v>(mut schema: &'v Value, root: &'v Value) -> Option<&'v Value> {
    for _ in 0..32 {
        let Some(reference) = schema.get("$ref").and_then(Value::as_str) else { return Some(schema) };
        let pointer = reference.strip_prefix('#')?;
        schema = root.pointer(pointer)?;
    }
    None
}

/// The schema's type (the first that is not `null`), or the one its
/// keywords imply.
fn own_type(schema: &Value) -> Option<&str> {
    match schema.get("type") {
        Some(Value::String(ty)) => Some(ty),
        Some(Value::Array(types)) => types.iter().filter_map(Value::as_str).find(|t| *t != "null").or(Some("null")),
        _ if schema.get("properties").is_some() || schema.get("required").is_some() => Some("object"),
        _ if schema.get("items").is_some() => Some("array"),
        _ => None,
    }
}

fn typed(schema: &Value, ty: &str, walk: &mut Walk, name: &str, depth: usize) -> Option<Value> {
    Some(match ty {
        "object" => object(schema, walk, depth),
        "array" => array(schema, walk, name, depth),
        "string" => Value::String(string(schema, name)),
        "integer" => number(schema, 1.0, true),
        "number" => number(schema, 1.5, false),
        "boolean" => Value::Bool(true),
        "null" => Value::Null,
        _ => return None,
    })
}

fn object(schema: &Value, walk: &mut Walk, depth: usize) -> Value {
    let required: HashSet<&str> =
        schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    let mut out = Map::new();
    if let Some(Value::Object(properties)) = schema.get("properties") {
        for (key, property) in properties {
            if walk.full(depth) || required.contains(key.as_str()) {
                let value = generate(property, walk, key, depth + 1).unwrap_or_else(|| Value::String(key.clone()));
                out.insert(key.clone(), value);
            }
        }
    }
    // Required names the properties do not declare: any value fits.
    for key in required {
        out.entry(key).or_insert_with(|| Value::String(key.to_string()));
    }
    Value::Object(out)
}

fn array(schema: &Value, walk: &mut Walk, name: &str, depth: usize) -> Value {
    let min = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0);
    let max = schema.get("maxItems").and_then(Value::as_u64).unwrap_or(u64::MAX);
    let count = if walk.full(depth) { min.max(1).min(max) } else { min };
    let items = match schema.get("items") {
        // A tuple: one value per position.
        Some(Value::Array(positions)) => {
            return Value::Array(
                positions
                    .iter()
                    .map(|p| generate(p, walk, name, depth + 1).unwrap_or_else(|| Value::String(name.into())))
                    .collect(),
            )
        }
        Some(items) => items,
        None => &Value::Null,
    };
    let item = if items.is_null() { None } else { generate(items, walk, name, depth + 1) };
    let item = item.unwrap_or_else(|| Value::String(name.into()));
    Value::Array((0..count.min(16)).map(|_| item.clone()).collect())
}

fn string(schema: &Value, name: &str) -> String {
    let text = match schema.get("format").and_then(Value::as_str) {
        Some("date-time") => "2024-01-01T00:00:00Z".to_string(),
        Some("date") => "2024-01-01".to_string(),
        Some("time") => "00:00:00Z".to_string(),
        Some("email") => "someone@example.com".to_string(),
        Some("uuid") => "00000000-0000-4000-8000-000000000001".to_string(),
        Some("uri" | "url") => "https://example.com/".to_string(),
        Some("hostname") => "example.com".to_string(),
        Some("ipv4") => "127.0.0.1".to_string(),
        Some("ipv6") => "::1".to_string(),
        Some("byte") => "Ynl0ZXM=".to_string(),
        _ => name.to_string(),
    };
    let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
    let max = schema.get("maxLength").and_then(Value::as_u64).map_or(usize::MAX, |m| m as usize);
    let mut text: String = text.chars().take(max).collect();
    while text.chars().count() < min.min(4096) {
        text.push('x');
    }
    text
}

/// `preferred`, or the nearest value the bounds and `multipleOf` allow
/// (`exclusiveMinimum`/`exclusiveMaximum` in draft 4's boolean form).
fn number(schema: &Value, preferred: f64, integer: bool) -> Value {
    let bound = |key: &str, exclusive: &str, step: f64| {
        let value = schema.get(key).and_then(Value::as_f64)?;
        let exclusive = schema.get(exclusive).and_then(Value::as_bool).unwrap_or(false);
        Some(if !exclusive {
            value
        } else if integer {
            value + step
        } else {
            value + step / 1000.0
        })
    };
    let low = bound("minimum", "exclusiveMinimum", 1.0);
    let high = bound("maximum", "exclusiveMaximum", -1.0);
    let mut value = preferred;
    if let Some(low) = low.filter(|l| value < *l) {
        value = if integer { low.ceil() } else { low };
    }
    if let Some(high) = high.filter(|h| value > *h) {
        value = if integer { high.floor() } else { high };
    }
    if let Some(step) = schema.get("multipleOf").and_then(Value::as_f64).filter(|s| *s > 0.0) {
        let up = (value / step).ceil() * step;
        value = if high.is_some_and(|h| up > h) { (value / step).floor() * step } else { up };
    }
    if integer {
        return Value::from(value as i64);
    }
    serde_json::Number::from_f64(value).map_or(Value::from(1), Value::Number)
}

/// Objects merge key by key (the later member's values win for scalars);
/// otherwise the first value stands.
fn merge(into: Option<Value>, next: Value) -> Option<Value> {
    match (into, next) {
        (None, next) => Some(next),
        (Some(Value::Object(mut a)), Value::Object(b)) => {
            for (key, value) in b {
                let merged = match a.remove(&key) {
                    Some(old) => merge(Some(old), value).unwrap_or(Value::Null),
                    None => value,
                };
                a.insert(key, merged);
            }
            Some(Value::Object(a))
        }
        (Some(first), _) => Some(first),
    }
}

/// Puts a value of its type at every read path `value` lacks (`a.b`,
/// `items[].sku`, `[].id`); values already there stay.
pub(crate) fn hold_reads(value: &mut Value, reads: &[Read]) {
    for read in reads {
        let segments: Vec<&str> = read.path.split('.').filter(|s| !s.is_empty()).collect();
        hold(value, &segments, read.ty);
    }
}

fn hold(value: &mut Value, segments: &[&str], ty: JsonType) {
    let Some((first, rest)) = segments.split_first() else {
        if value.is_null() {
            *value = placeholder(ty);
        }
        return;
    };
    let (key, list) = match first.strip_suffix("[]") {
        Some(key) => (key, true),
        None => (*first, false),
    };
    let mut at = value;
    if !key.is_empty() {
        if !at.is_object() {
            *at = Value::Object(Map::new());
        }
        let Value::Object(map) = at else { return };
        at = map.entry(key.to_string()).or_insert(Value::Null);
    }
    if !list {
        return hold(at, rest, ty);
    }
    if !at.is_array() {
        *at = Value::Array(Vec::new());
    }
    let Value::Array(items) = at else { return };
    if items.is_empty() {
        items.push(Value::Null);
    }
    for item in items {
        hold(item, rest, ty);
    }
}

fn placeholder(ty: JsonType) -> Value {
    match ty {
        JsonType::String => Value::String("string".into()),
        JsonType::Integer => Value::from(1),
        JsonType::Number => Value::from(1.5),
        JsonType::Boolean => Value::Bool(true),
        JsonType::Object => Value::Object(Map::new()),
        JsonType::Array => Value::Array(Vec::new()),
        JsonType::Any => Value::String("any".into()),
    }
}

/// A message of type `descriptor` with every field set to a value other
/// than its default (the first field of each `oneof`; lists and maps with
/// one entry), down to [`MAX_DEPTH`]. `google.protobuf.Any` stays empty:
/// it would need a type to pack.
pub(crate) fn message(descriptor: &MessageDescriptor) -> DynamicMessage {
    message_at(descriptor, 0, &mut 0)
}

/// `made`: messages made so far; past [`FULL_BUDGET`] the rest stay empty.
fn message_at(descriptor: &MessageDescriptor, depth: usize, made: &mut usize) -> DynamicMessage {
    let mut message = DynamicMessage::new(descriptor.clone());
    if depth >= MAX_DEPTH || *made >= FULL_BUDGET || descriptor.full_name() == "google.protobuf.Any" {
        return message;
    }
    *made += 1;
    let mut oneofs = HashSet::new();
    for field in descriptor.fields() {
        if let Some(oneof) = field.containing_oneof() {
            if !oneofs.insert(oneof.full_name().to_string()) {
                continue;
            }
        }
        let value = if field.is_map() {
            let entry = field.kind();
            let Some(entry) = entry.as_message() else { continue };
            let key = map_key(&entry.map_entry_key_field().kind());
            let value = single(&entry.map_entry_value_field().kind(), field.name(), depth, made);
            ProtoValue::Map([(key, value)].into_iter().collect())
        } else if field.is_list() {
            ProtoValue::List(vec![single(&field.kind(), field.name(), depth, made)])
        } else {
            single(&field.kind(), field.name(), depth, made)
        };
        message.set_field(&field, value);
    }
    message
}

fn single(kind: &Kind, name: &str, depth: usize, made: &mut usize) -> ProtoValue {
    match kind {
        Kind::Double => ProtoValue::F64(1.5),
        Kind::Float => ProtoValue::F32(1.5),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => ProtoValue::I32(1),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => ProtoValue::I64(1),
        Kind::Uint32 | Kind::Fixed32 => ProtoValue::U32(1),
        Kind::Uint64 | Kind::Fixed64 => ProtoValue::U64(1),
        Kind::Bool => ProtoValue::Bool(true),
        Kind::String => ProtoValue::String(name.to_string()),
        Kind::Bytes => ProtoValue::Bytes(bytes::Bytes::from_static(b"bytes")),
        Kind::Message(m) => ProtoValue::Message(message_at(m, depth + 1, made)),
        Kind::Enum(e) => {
            let value = e.values().find(|v| v.number() != 0).unwrap_or_else(|| e.default_value());
            ProtoValue::EnumNumber(value.number())
        }
    }
}

fn map_key(kind: &Kind) -> MapKey {
    match kind {
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => MapKey::I32(1),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => MapKey::I64(1),
        Kind::Uint32 | Kind::Fixed32 => MapKey::U32(1),
        Kind::Uint64 | Kind::Fixed64 => MapKey::U64(1),
        Kind::Bool => MapKey::Bool(true),
        _ => MapKey::String("key".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_schema_with_references_bounds_and_enums_gets_a_valid_value() {
        let schema = json!({
            "$ref": "#/definitions/Order",
            "definitions": {
                "Order": {
                    "type": "object", "required": ["id", "status"],
                    "properties": {
                        "id": { "type": "string", "minLength": 12 },
                        "status": { "type": "string", "enum": ["placed", "paid"] },
                        "total": { "type": "integer", "minimum": 10, "multipleOf": 4 },
                        "lines": { "type": "array", "items": { "$ref": "#/definitions/Order" } },
                        "note": { "type": ["string", "null"], "format": "email" }
                    }
                }
            }
        });
        let value = from_schema(&schema);
        assert_eq!(value["id"], "idxxxxxxxxxx");
        assert_eq!(value["status"], "placed");
        assert_eq!(value["total"], 12);
        assert_eq!(value["note"], "someone@example.com");
        // Recursion ends, and what it made still validates.
        let validator = jsonschema::draft4::options().build(&schema).unwrap();
        assert!(validator.is_valid(&value), "{value}");
    }

    #[test]
    fn schemas_that_grow_without_end_stop() {
        // Every node holds six of itself: generating ends, and validates.
        let properties: Map<String, Value> =
            (0..6).map(|i| (format!("n{i}"), json!({ "$ref": "#/definitions/Node" }))).collect();
        let schema = json!({ "$ref": "#/definitions/Node",
                             "definitions": { "Node": { "type": "object", "properties": properties } } });
        let value = from_schema(&schema);
        assert!(jsonschema::draft4::options().build(&schema).unwrap().is_valid(&value));
        // A node that requires itself has no finite value: none is made.
        let endless = json!({ "$ref": "#/definitions/Node", "definitions": { "Node": {
            "type": "object", "required": ["next"], "properties": { "next": { "$ref": "#/definitions/Node" } } } } });
        let value = from_schema(&endless);
        assert!(!jsonschema::draft4::options().build(&endless).unwrap().is_valid(&value));
        let endless_all_of =
            json!({ "$ref": "#/definitions/A", "definitions": { "A": { "allOf": [{ "$ref": "#/definitions/A" }] } } });
        from_schema(&endless_all_of);
    }

    #[test]
    fn all_of_members_merge_into_one_object() {
        let schema = json!({ "allOf": [
            { "type": "object", "properties": { "a": { "type": "integer" } } },
            { "type": "object", "properties": { "b": { "type": "boolean" } } }
        ]});
        assert_eq!(from_schema(&schema), json!({ "a": 1, "b": true }));
    }

    #[test]
    fn reads_missing_from_the_value_are_filled_in_with_their_types() {
        let reads = |paths: &[(&str, JsonType)]| -> Vec<Read> {
            paths.iter().map(|(p, t)| Read { guaranteed: true, path: p.to_string(), ty: *t }).collect()
        };
        let mut value = json!({ "id": "kept" });
        hold_reads(
            &mut value,
            &reads(&[("id", JsonType::String), ("items[].sku", JsonType::String), ("total.cents", JsonType::Integer)]),
        );
        assert_eq!(value, json!({ "id": "kept", "items": [{ "sku": "string" }], "total": { "cents": 1 } }));
    }
}
