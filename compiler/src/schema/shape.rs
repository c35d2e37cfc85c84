//! A format-neutral view of the values an operation takes and returns, so
//! checks can compare a GraphQL type with a protobuf message or an OpenAPI
//! JSON Schema without knowing either format. Shapes unfold one level at a
//! time ([`ObjectShape::fields`]): schemas may be recursive.

use std::ops::Range;

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use serde_json::Value;

use super::compat::avro::AvroType;
use super::json_spans::JsonSpans;
use crate::model::contracts::{FieldPath, Segment};

/// A value's type, as the backend's schema declares it.
#[derive(Clone, Debug)]
pub enum Shape<'s> {
    Scalar(Scalar),
    /// A closed set of string values.
    Enum {
        name: String,
        values: Vec<String>,
    },
    Object(ObjectShape<'s>),
    List(Box<Slot<'s>>),
    /// Any JSON value: maps, `google.protobuf.Struct`, schemas that leave the type open.
    Any,
}

/// How a scalar travels as JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scalar {
    String,
    Bool,
    /// A JSON number that fits 32 signed bits (proto `int32`, OpenAPI `format: int32`).
    Int32,
    /// A JSON number that fits 32 unsigned bits (proto `uint32`, `fixed32`).
    UInt32,
    /// A 64-bit integer, a JSON *string* in protobuf's JSON mapping.
    Int64,
    /// A JSON number of unstated width (OpenAPI `integer`).
    Integer,
    Float,
    /// Base64 text (proto `bytes`, OpenAPI `format: byte`).
    Bytes,
}

impl Scalar {
    pub fn describe(self) -> &'static str {
        match self {
            Scalar::String => "string",
            Scalar::Bool => "boolean",
            Scalar::Int32 => "32-bit integer",
            Scalar::UInt32 => "unsigned 32-bit integer",
            Scalar::Int64 => "64-bit integer (a JSON string)",
            Scalar::Integer => "integer",
            Scalar::Float => "number",
            Scalar::Bytes => "bytes (base64 text)",
        }
    }
}

/// A shape with whether the value may be null or absent.
#[derive(Clone, Debug)]
pub struct Slot<'s> {
    pub shape: Shape<'s>,
    /// In a response: may be null or left out. In a request: may be left out.
    pub optional: bool,
}

/// One named member of an object shape.
#[derive(Clone, Debug)]
pub struct FieldShape<'s> {
    /// The name on the wire (a proto field's JSON name).
    pub name: String,
    /// Another name the backend accepts in requests (a proto field's own name).
    pub alias: Option<String>,
    pub slot: Slot<'s>,
    /// A request must carry it (JSON Schema `required`; protobuf has none).
    pub required: bool,
}

#[derive(Clone, Debug)]
pub struct ObjectShape<'s>(ObjectRepr<'s>);

#[derive(Clone, Debug)]
enum ObjectRepr<'s> {
    Message(MessageDescriptor),
    Json {
        schema: &'s Value,
        components: &'s Value,
        name: Option<String>,
    },
    /// An Avro record: its node in the schema's arena.
    Avro {
        ty: &'s AvroType,
        node: u32,
    },
}

impl<'s> ObjectShape<'s> {
    /// A readable name: the message's full name or the schema's component name.
    pub fn name(&self) -> String {
        match &self.0 {
            ObjectRepr::Message(m) => m.full_name().to_string(),
            ObjectRepr::Json { name, .. } => name.clone().unwrap_or_else(|| "object".to_string()),
            ObjectRepr::Avro { ty, node } => ty.record_name(*node).to_string(),
        }
    }

    /// Identifies the object for cycle detection while comparing recursive types.
    pub fn key(&self) -> String {
        match &self.0 {
            ObjectRepr::Message(m) => m.full_name().to_string(),
            ObjectRepr::Json { schema, .. } => format!("json@{:p}", *schema),
            ObjectRepr::Avro { ty, node } => format!("avro@{:p}#{node}", *ty),
        }
    }

    pub fn fields(&self) -> Vec<FieldShape<'s>> {
        match &self.0 {
            ObjectRepr::Message(m) => m.fields().map(|f| proto_field(&f)).collect(),
            ObjectRepr::Json { schema, components, .. } => json_fields(schema, components),
            ObjectRepr::Avro { ty, node } => ty.record_fields(*node),
        }
    }
}

// ---- protobuf ----------------------------------------------------------

/// An Avro record (a node of `ty`) as an object shape.
pub fn avro_record(ty: &AvroType, node: u32) -> Shape<'_> {
    Shape::Object(ObjectShape(ObjectRepr::Avro { ty, node }))
}

/// A message as an object shape.
pub fn message<'s>(message: MessageDescriptor) -> Shape<'s> {
    Shape::Object(ObjectShape(ObjectRepr::Message(message)))
}

fn proto_field<'s>(field: &FieldDescriptor) -> FieldShape<'s> {
    let alias = (field.name() != field.json_name()).then(|| field.name().to_string());
    let slot = if field.is_map() {
        Slot { shape: Shape::Any, optional: false }
    } else if field.is_list() {
        let item = Slot { shape: proto_kind(&field.kind()).0, optional: false };
        Slot { shape: Shape::List(Box::new(item)), optional: false }
    } else {
        let (shape, wrapper) = proto_kind(&field.kind());
        // Serialized with defaults, a plain scalar is always present; messages,
        // `optional` fields and oneof members only when set.
        let optional = wrapper || matches!(field.kind(), Kind::Message(_)) || field.supports_presence();
        Slot { shape, optional }
    };
    FieldShape { name: field.json_name().to_string(), alias, slot, required: false }
}

/// The shape of a proto type; `true` for wrapper messages (`StringValue`),
/// which map to a nullable scalar.
fn proto_kind<'s>(kind: &Kind) -> (Shape<'s>, bool) {
    let scalar = |s| (Shape::Scalar(s), false);
    match kind {
        Kind::Double | Kind::Float => scalar(Scalar::Float),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => scalar(Scalar::Int32),
        Kind::Uint32 | Kind::Fixed32 => scalar(Scalar::UInt32),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 | Kind::Uint64 | Kind::Fixed64 => scalar(Scalar::Int64),
        Kind::Bool => scalar(Scalar::Bool),
        Kind::String => scalar(Scalar::String),
        Kind::Bytes => scalar(Scalar::Bytes),
        Kind::Enum(e) => (
            Shape::Enum { name: e.full_name().to_string(), values: e.values().map(|v| v.name().to_string()).collect() },
            false,
        ),
        Kind::Message(m) => match m.full_name() {
            // Well-known types have their own JSON forms.
            "google.protobuf.Timestamp" | "google.protobuf.Duration" | "google.protobuf.FieldMask" => {
                scalar(Scalar::String)
            }
            "google.protobuf.StringValue" => (Shape::Scalar(Scalar::String), true),
            "google.protobuf.BytesValue" => (Shape::Scalar(Scalar::Bytes), true),
            "google.protobuf.BoolValue" => (Shape::Scalar(Scalar::Bool), true),
            "google.protobuf.Int32Value" => (Shape::Scalar(Scalar::Int32), true),
            "google.protobuf.UInt32Value" => (Shape::Scalar(Scalar::UInt32), true),
            "google.protobuf.Int64Value" | "google.protobuf.UInt64Value" => (Shape::Scalar(Scalar::Int64), true),
            "google.protobuf.FloatValue" | "google.protobuf.DoubleValue" => (Shape::Scalar(Scalar::Float), true),
            "google.protobuf.Struct"
            | "google.protobuf.Value"
            | "google.protobuf.ListValue"
            | "google.protobuf.Any"
            | "google.protobuf.Empty" => (Shape::Any, false),
            _ => (message(m.clone()), false),
        },
    }
}

// ---- JSON Schema (OpenAPI 3.0 dialect) ------------------------------------

/// A JSON Schema as a shape; `$ref`s resolve into `components`
/// (`{"schemas": {...}}`).
pub fn json<'s>(schema: &'s Value, components: &'s Value) -> Slot<'s> {
    json_slot(schema, components, 0)
}

/// `$ref` chains longer than this are treated as open (a loop of bare refs).
const MAX_REF_HOPS: usize = 32;

fn resolve<'s>(mut schema: &'s Value, components: &'s Value) -> (&'s Value, Option<String>) {
    let mut name = None;
    for _ in 0..MAX_REF_HOPS {
        let Some(reference) = schema.get("$ref").and_then(Value::as_str) else { break };
        // OpenAPI components, or a JSON Schema document's own `$defs` (its `components` is itself).
        let (table, component) =
            match (reference.strip_prefix("#/components/schemas/"), reference.strip_prefix("#/$defs/")) {
                (Some(component), _) => ("schemas", component),
                (None, Some(component)) => ("$defs", component),
                (None, None) => return (&Value::Null, None),
            };
        match components.get(table).and_then(|s| s.get(component)) {
            Some(next) => {
                name = Some(component.to_string());
                schema = next;
            }
            None => return (&Value::Null, None),
        }
    }
    (schema, name)
}

fn json_slot<'s>(schema: &'s Value, components: &'s Value, depth: usize) -> Slot<'s> {
    let (schema, name) = resolve(schema, components);
    let optional = schema.get("nullable").and_then(Value::as_bool).unwrap_or(false);
    let shape = if depth > MAX_REF_HOPS {
        Shape::Any
    } else if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        match values.iter().map(|v| v.as_str().map(str::to_string)).collect::<Option<Vec<_>>>() {
            Some(values) => Shape::Enum { name: name.clone().unwrap_or_else(|| "enum".into()), values },
            None => Shape::Any,
        }
    } else {
        let format = schema.get("format").and_then(Value::as_str);
        match schema.get("type").and_then(Value::as_str) {
            Some("string") if format == Some("byte") => Shape::Scalar(Scalar::Bytes),
            Some("string") => Shape::Scalar(Scalar::String),
            Some("boolean") => Shape::Scalar(Scalar::Bool),
            Some("integer") if format == Some("int32") => Shape::Scalar(Scalar::Int32),
            Some("integer") => Shape::Scalar(Scalar::Integer),
            Some("number") => Shape::Scalar(Scalar::Float),
            Some("array") => match schema.get("items") {
                Some(items) => Shape::List(Box::new(json_slot(items, components, depth + 1))),
                None => Shape::List(Box::new(Slot { shape: Shape::Any, optional: true })),
            },
            Some("object") | None if schema.get("properties").is_some() || schema.get("allOf").is_some() => {
                // A component's name, else the schema's `title`.
                let name = name.or_else(|| schema.get("title").and_then(Value::as_str).map(str::to_string));
                Shape::Object(ObjectShape(ObjectRepr::Json { schema, components, name }))
            }
            _ => Shape::Any,
        }
    };
    Slot { shape, optional }
}

fn json_fields<'s>(schema: &'s Value, components: &'s Value) -> Vec<FieldShape<'s>> {
    let mut fields: Vec<FieldShape<'s>> = Vec::new();
    collect_json_fields(schema, components, &[], &mut fields, 0);
    fields
}

/// Properties of a schema and of every `allOf` member, first definition
/// winning; `required` may sit beside `allOf` and name members' properties.
fn collect_json_fields<'s>(
    schema: &'s Value,
    components: &'s Value,
    required_outside: &[&str],
    out: &mut Vec<FieldShape<'s>>,
    depth: usize,
) {
    let (schema, _) = resolve(schema, components);
    if depth > MAX_REF_HOPS {
        return;
    }
    let mut required: Vec<&str> = required_outside.to_vec();
    required.extend(schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str));
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            if out.iter().any(|f| &f.name == name) {
                continue;
            }
            let required = required.contains(&name.as_str());
            let mut slot = json_slot(property, components, depth + 1);
            slot.optional |= !required;
            out.push(FieldShape { name: name.clone(), alias: None, slot, required });
        }
    }
    for member in schema.get("allOf").and_then(Value::as_array).into_iter().flatten() {
        collect_json_fields(member, components, &required, out, depth + 1);
    }
}

// ---- contracts: paths into shapes, values against shapes -----------------

impl Shape<'_> {
    /// What the shape is, for messages: `string`, `list`, `object Product`.
    pub fn describe(&self) -> String {
        match self {
            Shape::Scalar(s) => s.describe().to_string(),
            Shape::Enum { name, .. } => format!("enum {name}"),
            Shape::Object(o) => format!("object {}", o.name()),
            Shape::List(_) => "list".to_string(),
            Shape::Any => "any value".to_string(),
        }
    }

    /// A JSON number (of any width; 64-bit integers are strings in protobuf's mapping).
    pub fn is_number(&self) -> bool {
        matches!(self, Shape::Scalar(Scalar::Int32 | Scalar::UInt32 | Scalar::Integer | Scalar::Float))
    }

    /// A JSON string.
    pub fn is_string(&self) -> bool {
        matches!(self, Shape::Scalar(Scalar::String | Scalar::Bytes | Scalar::Int64) | Shape::Enum { .. })
    }
}

/// Where a path stops resolving in a shape.
#[derive(Debug)]
pub struct PathError {
    /// The index of the segment that fails.
    pub segment: usize,
    pub reason: PathFailure,
}

#[derive(Debug)]
pub enum PathFailure {
    /// No field of that name; the object's name and its fields.
    NoField { object: String, fields: Vec<String> },
    /// `[]` on something that is not a list (its description).
    NotList(String),
    /// A field name on something that is not an object (its description).
    NotObject(String),
}

impl PathError {
    /// Why `path` does not resolve, in words, and a did-you-mean when a field is misspelt.
    pub fn explain(&self, path: &FieldPath) -> (String, Option<String>) {
        let prefix = FieldPath::from_segments(&path.segments()[..self.segment]).to_string();
        let at = if self.segment == 0 { "the top level".to_string() } else { format!("`{prefix}`") };
        match &self.reason {
            PathFailure::NoField { object, fields } => {
                let name = match &path.segments()[self.segment] {
                    Segment::Field(name) => name.as_str(),
                    Segment::Each => "[]",
                };
                let help = match crate::diag::did_you_mean(name, fields.iter().map(String::as_str)) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => format!("the fields of {object}: {}", fields.join(", ")),
                };
                (format!("{object} at {at} has no field `{name}`"), Some(help))
            }
            PathFailure::NotList(what) => (format!("{at} is {what}, not a list: `[]` does not apply"), None),
            PathFailure::NotObject(what) => (format!("{at} is {what}, which has no fields"), None),
        }
    }
}

/// The value a path leads to.
#[derive(Debug)]
pub struct Resolved<'s> {
    pub slot: Slot<'s>,
    /// The first step that may be absent or null: its segment index.
    pub optional_at: Option<usize>,
}

/// Follows `path` from `root` (a response or message); past an open shape
/// (`Any`) everything resolves, to `Any`.
pub fn lookup<'s>(root: &Slot<'s>, path: &FieldPath) -> Result<Resolved<'s>, PathError> {
    let mut slot = root.clone();
    let mut optional_at = None;
    for (i, segment) in path.segments().iter().enumerate() {
        let next = match (&slot.shape, segment) {
            (Shape::Any, _) => return Ok(Resolved { slot: Slot { shape: Shape::Any, optional: true }, optional_at }),
            (Shape::List(item), Segment::Each) => (**item).clone(),
            (Shape::Object(object), Segment::Field(name)) => {
                let fields = object.fields();
                match fields.iter().find(|f| &f.name == name || f.alias.as_ref() == Some(name)) {
                    Some(field) => field.slot.clone(),
                    None => {
                        let reason = PathFailure::NoField {
                            object: object.name(),
                            fields: fields.into_iter().map(|f| f.name).collect(),
                        };
                        return Err(PathError { segment: i, reason });
                    }
                }
            }
            (other, Segment::Each) => {
                return Err(PathError { segment: i, reason: PathFailure::NotList(other.describe()) });
            }
            (other, Segment::Field(_)) => {
                return Err(PathError { segment: i, reason: PathFailure::NotObject(other.describe()) });
            }
        };
        if next.optional && optional_at.is_none() {
            optional_at = Some(i);
        }
        slot = next;
    }
    Ok(Resolved { slot, optional_at })
}

/// Where a JSON value does not fit its shape.
#[derive(Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// The byte range of the offending value (or of the object missing a
    /// member) in the JSON text.
    pub range: Option<Range<usize>>,
    pub message: String,
}

/// Checks a JSON document against a shape: types, enum values, required
/// members, members the shape does not have. Text that is not JSON has no
/// mismatches (it is reported as such).
pub fn validate(text: &str, slot: &Slot) -> Vec<Mismatch> {
    let Ok(value) = serde_json::from_str::<Value>(text) else { return Vec::new() };
    let spans = JsonSpans::new(text);
    let mut found = Vec::new();
    check_value(&value, slot, "", "", 0, &mut found);
    found
        .into_iter()
        .map(|(at, message)| {
            let range = spans.as_ref().and_then(|s| match at {
                At::Value(pointer) => s.locate(&pointer),
                At::Key(pointer) => s.get(&pointer).and_then(|n| n.key.clone()),
            });
            Mismatch { range, message }
        })
        .collect()
}

/// What a mismatch points at, by JSON pointer: a value, or the key of an object member.
enum At {
    Value(String),
    Key(String),
}

/// Pushes where and why per mismatch.
fn check_value(value: &Value, slot: &Slot, pointer: &str, path: &str, depth: usize, out: &mut Vec<(At, String)>) {
    let mut mismatch = |message: String| out.push((At::Value(pointer.to_string()), at(path, message)));
    if value.is_null() {
        if !slot.optional && !matches!(slot.shape, Shape::Any) {
            mismatch(format!("expected {}, found null", slot.shape.describe()));
        }
        return;
    }
    if depth > MAX_REF_HOPS {
        return;
    }
    match &slot.shape {
        Shape::Any => {}
        Shape::Scalar(scalar) => {
            let fits = match scalar {
                Scalar::String | Scalar::Bytes => value.is_string(),
                Scalar::Bool => value.is_boolean(),
                Scalar::Int32 => value.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
                Scalar::UInt32 => value.as_u64().is_some_and(|n| u32::try_from(n).is_ok()),
                Scalar::Integer => value.is_i64() || value.is_u64(),
                Scalar::Int64 => {
                    value.is_i64() || value.is_u64() || value.as_str().is_some_and(|s| s.parse::<i128>().is_ok())
                }
                Scalar::Float => value.is_number(),
            };
            if !fits {
                mismatch(format!("expected {}, found {}", scalar.describe(), json_type(value)));
            }
        }
        Shape::Enum { name, values } => match value.as_str() {
            Some(s) if values.iter().any(|v| v == s) => {}
            Some(s) => mismatch(format!("`{s}` is not a value of enum {name} ({})", values.join(", "))),
            None if value.is_i64() => {}
            None => mismatch(format!("expected enum {name}, found {}", json_type(value))),
        },
        Shape::List(item) => match value.as_array() {
            Some(items) => {
                for (i, v) in items.iter().enumerate() {
                    check_value(v, item, &format!("{pointer}/{i}"), &format!("{path}[{i}]"), depth + 1, out);
                }
            }
            None => mismatch(format!("expected a list, found {}", json_type(value))),
        },
        Shape::Object(object) => match value.as_object() {
            Some(members) => {
                let fields = object.fields();
                for field in fields.iter().filter(|f| f.required) {
                    if !members.contains_key(&field.name) {
                        mismatch(format!("the required field `{}` of {} is missing", field.name, object.name()));
                    }
                }
                for (key, v) in members {
                    let member_pointer = format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"));
                    let member_path = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                    match fields.iter().find(|f| &f.name == key || f.alias.as_ref() == Some(key)) {
                        Some(field) => check_value(v, &field.slot, &member_pointer, &member_path, depth + 1, out),
                        None => out.push((
                            At::Key(member_pointer),
                            at(&member_path, format!("{} has no field `{key}`", object.name())),
                        )),
                    }
                }
            }
            None => mismatch(format!("expected {}, found {}", object.name(), json_type(value))),
        },
    }
}

fn at(path: &str, message: String) -> String {
    if path.is_empty() {
        message
    } else {
        format!("at `{path}`: {message}")
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a fractional number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn describe(slot: &Slot) -> String {
        let shape = match &slot.shape {
            Shape::Scalar(s) => s.describe().to_string(),
            Shape::Enum { values, .. } => format!("enum {}", values.join("|")),
            Shape::Object(o) => format!("object {}", o.name()),
            Shape::List(item) => format!("list of {}", describe(item)),
            Shape::Any => "any".to_string(),
        };
        if slot.optional {
            format!("{shape}?")
        } else {
            shape
        }
    }

    #[test]
    fn json_schemas_resolve_refs_required_and_all_of() {
        let components = json!({ "schemas": {
            "Money": { "type": "object", "required": ["cents"], "properties": {
                "cents": { "type": "integer", "format": "int64" }, "currency": { "type": "string", "enum": ["EUR", "USD"] } } },
            "Priced": { "allOf": [ { "$ref": "#/components/schemas/Money" },
                { "type": "object", "properties": { "tags": { "type": "array", "items": { "type": "string" } } } } ],
                "required": ["tags"] }
        }});
        let schema = json!({ "$ref": "#/components/schemas/Priced" });
        let slot = json(&schema, &components);
        assert_eq!(describe(&slot), "object Priced");
        let Shape::Object(object) = &slot.shape else { unreachable!() };
        let fields: Vec<String> =
            object.fields().iter().map(|f| format!("{}: {}", f.name, describe(&f.slot))).collect();
        assert_eq!(fields, ["cents: integer", "currency: enum EUR|USD?", "tags: list of string"]);
    }

    #[test]
    fn self_referencing_refs_do_not_loop() {
        let components = json!({ "schemas": { "A": { "$ref": "#/components/schemas/A" } } });
        let schema = json!({ "$ref": "#/components/schemas/A" });
        assert_eq!(describe(&json(&schema, &components)), "any");
        let missing = json!({ "$ref": "#/components/schemas/Nope" });
        assert_eq!(describe(&json(&missing, &components)), "any");
    }
}
