//! Event schemas: events travel as JSON (`content-type: application/json`)
//! and are checked against their topic's schema version, Avro, JSON Schema
//! or a protobuf message (in the protobuf JSON mapping).
//!
//! Avro schemas are applied to JSON by the plain mapping (not Avro's own
//! JSON encoding, which wraps union values): `null`, `boolean`, `string`
//! and `enum` (a symbol) as themselves; `int` and `long` as integers in
//! range; `float` and `double` as numbers; `bytes`, `fixed` and `decimal`
//! as strings of code points U+0000–U+00FF (one per byte; `fixed` of its
//! size); `array` as an array; `map` and `record` as objects (a record's
//! unknown fields are refused, missing ones need a default); a union as
//! the value of its first branch that accepts it; `uuid` as a UUID string;
//! `date`, `time-millis` as integers, `time-micros` and the timestamps as
//! integers.
//!
//! A producer's event is validated against its version ([`EventSchema::validate`]);
//! a consumer reads it with its reader version ([`EventSchema::read`]),
//! which for Avro is Avro's schema resolution on the JSON: fields the reader
//! does not know are dropped, fields it adds take their defaults (or an
//! alias's value), enum symbols it lacks take its enum default.
//!
//! Protobuf events are the message's JSON mapping: a producer's event must
//! deserialize into a `DynamicMessage` of its version's message, strictly
//! (unknown fields are refused); a consumer decodes it with its reader
//! version's message, ignoring fields that message does not know, as
//! protobuf JSON readers do, and receives the reader's canonical JSON
//! (lowerCamelCase names, 64-bit integers as strings, default values left
//! out).

use std::collections::HashMap;

use apache_avro::schema::{Name, RecordSchema, Schema};
use base64::Engine as _;
use prost_reflect::{DescriptorPool, DeserializeOptions, DynamicMessage, MessageDescriptor, SerializeOptions};
use serde_json::{Map, Value};

/// One schema version of a topic, compiled.
pub(crate) enum EventSchema {
    Avro(AvroSchema),
    JsonSchema(jsonschema::Validator),
    Protobuf(MessageDescriptor),
}

/// An Avro schema with its named types (records, enums, fixed) by full name.
pub(crate) struct AvroSchema {
    root: Schema,
    named: HashMap<Name, Schema>,
}

impl EventSchema {
    /// Compiles a schema's text; `format` is `avro` or `json-schema`.
    pub fn compile(format: &str, text: &str) -> Result<EventSchema, String> {
        match format {
            "avro" => {
                let root = Schema::parse_str(text).map_err(|e| format!("the Avro schema does not parse: {e}"))?;
                let resolved = apache_avro::schema::ResolvedSchema::try_from(&root)
                    .map_err(|e| format!("the Avro schema does not resolve: {e}"))?;
                let named =
                    resolved.get_names().iter().map(|(name, schema)| (name.clone(), (*schema).clone())).collect();
                Ok(EventSchema::Avro(AvroSchema { root, named }))
            }
            "json-schema" => {
                let schema: Value =
                    serde_json::from_str(text).map_err(|e| format!("the JSON Schema is not JSON: {e}"))?;
                let validator =
                    jsonschema::validator_for(&schema).map_err(|e| format!("the JSON Schema does not compile: {e}"))?;
                Ok(EventSchema::JsonSchema(validator))
            }
            "protobuf" => Err("`format`: \"protobuf\" takes `message` and `descriptor_set`, not `schema`".into()),
            other => Err(format!("`format`: {other:?}: the runtime reads avro, json-schema and protobuf events")),
        }
    }

    /// A protobuf message, `message` (its full name) in the base64
    /// `FileDescriptorSet` `descriptor_set` (its file and the file's imports).
    pub fn protobuf(descriptor_set: &str, message: &str) -> Result<EventSchema, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(descriptor_set)
            .map_err(|e| format!("`descriptor_set` is not base64: {e}"))?;
        let pool = DescriptorPool::decode(bytes.as_slice())
            .map_err(|e| format!("`descriptor_set` is not a usable FileDescriptorSet: {e}"))?;
        match pool.get_message_by_name(message) {
            Some(descriptor) => Ok(EventSchema::Protobuf(descriptor)),
            None => {
                let mut known: Vec<String> = pool.all_messages().map(|m| m.full_name().to_string()).collect();
                known.sort();
                let suggestion = crate::event_bus::config::did_you_mean(message, known.iter());
                Err(format!("`message`: no message {message:?} in the descriptor set{suggestion}"))
            }
        }
    }

    /// Whether `value` is an event of this schema; `Err` says where and why
    /// it is not (the first problem found).
    pub fn validate(&self, value: &Value) -> Result<(), String> {
        match self {
            EventSchema::Avro(avro) => avro.check(&avro.root, value, &mut String::new()),
            EventSchema::JsonSchema(validator) => validator.validate(value).map_err(|error| {
                let at = error.instance_path().as_str();
                format!("at `{}`: {error}", if at.is_empty() { "/" } else { at })
            }),
            EventSchema::Protobuf(message) => {
                decode(message, value, &DeserializeOptions::new().deny_unknown_fields(true)).map(|_| ())
            }
        }
    }

    /// The event as this (reader) schema sees it. `value` was valid for the
    /// writer's version; Avro resolves it, JSON Schema validates it as is.
    pub fn read(&self, value: Value) -> Result<Value, String> {
        match self {
            EventSchema::Avro(avro) => avro.read(&avro.root, value, &mut String::new()),
            EventSchema::JsonSchema(_) => self.validate(&value).map(|()| value),
            EventSchema::Protobuf(message) => {
                let read = decode(message, &value, &DeserializeOptions::new().deny_unknown_fields(false))?;
                read.serialize_with_options(serde_json::value::Serializer, &SerializeOptions::new())
                    .map_err(|e| format!("at `/`: the event does not encode as JSON: {e}"))
            }
        }
    }
}

/// The event as a message of `message`, or where and why it is not one
/// (a JSON Pointer to the value serde stopped at).
fn decode(message: &MessageDescriptor, value: &Value, options: &DeserializeOptions) -> Result<DynamicMessage, String> {
    let mut track = serde_path_to_error::Track::new();
    let deserializer = serde_path_to_error::Deserializer::new(value, &mut track);
    DynamicMessage::deserialize_with_options(message.clone(), deserializer, options).map_err(|error| {
        let mut path = String::new();
        for segment in track.path().iter() {
            match segment {
                serde_path_to_error::Segment::Seq { index } => path.push_str(&format!("/{index}")),
                serde_path_to_error::Segment::Map { key } => push_key(&mut path, key),
                serde_path_to_error::Segment::Enum { variant } => push_key(&mut path, variant),
                serde_path_to_error::Segment::Unknown => path.push_str("/?"),
            }
        }
        format!("{}: {error} (message {})", at(&path), message.full_name())
    })
}

/// `at `/a/0/b``, the root as `/`.
fn at(path: &str) -> String {
    format!("at `{}`", if path.is_empty() { "/" } else { path })
}

/// A short rendering of a value for messages.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= 60 {
        return text;
    }
    let cut: String = text.chars().take(57).collect();
    format!("{cut}...")
}

fn is_byte_string(value: &Value) -> Option<usize> {
    let text = value.as_str()?;
    text.chars().all(|c| u32::from(c) <= 0xFF).then(|| text.chars().count())
}

impl AvroSchema {
    fn named(&self, name: &Name) -> Result<&Schema, String> {
        self.named.get(name).ok_or_else(|| format!("the schema names an unknown type `{}`", name.fullname(None)))
    }

    /// The type's name for messages.
    fn describe(&self, schema: &Schema) -> String {
        match schema {
            Schema::Record(r) => format!("record {}", r.name.name),
            Schema::Enum(e) => format!("enum {}", e.name.name),
            Schema::Fixed(f) => format!("fixed {}", f.name.name),
            Schema::Ref { name } => name.name.clone(),
            Schema::Array(_) => "array".into(),
            Schema::Map(_) => "map".into(),
            Schema::Union(_) => "union".into(),
            Schema::Null => "null".into(),
            Schema::Boolean => "boolean".into(),
            Schema::Int => "int".into(),
            Schema::Long => "long".into(),
            Schema::Float => "float".into(),
            Schema::Double => "double".into(),
            Schema::Bytes => "bytes".into(),
            Schema::String => "string".into(),
            Schema::Decimal(_) => "decimal".into(),
            Schema::BigDecimal => "big-decimal".into(),
            Schema::Uuid => "uuid".into(),
            Schema::Date => "date".into(),
            Schema::TimeMillis => "time-millis".into(),
            Schema::TimeMicros => "time-micros".into(),
            Schema::TimestampMillis => "timestamp-millis".into(),
            Schema::TimestampMicros => "timestamp-micros".into(),
            Schema::TimestampNanos => "timestamp-nanos".into(),
            Schema::LocalTimestampMillis => "local-timestamp-millis".into(),
            Schema::LocalTimestampMicros => "local-timestamp-micros".into(),
            Schema::LocalTimestampNanos => "local-timestamp-nanos".into(),
            Schema::Duration => "duration".into(),
        }
    }

    fn check(&self, schema: &Schema, value: &Value, path: &mut String) -> Result<(), String> {
        let mismatch = || format!("{}: expected {}, found {}", at(path), self.describe(schema), shown(value));
        let ok = |good: bool| if good { Ok(()) } else { Err(mismatch()) };
        match schema {
            Schema::Null => ok(value.is_null()),
            Schema::Boolean => ok(value.is_boolean()),
            Schema::Int | Schema::Date | Schema::TimeMillis => {
                ok(value.as_i64().is_some_and(|n| i32::try_from(n).is_ok()))
            }
            Schema::Long
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => ok(value.as_i64().is_some()),
            Schema::Float | Schema::Double => ok(value.is_number()),
            Schema::String | Schema::BigDecimal => ok(value.is_string()),
            Schema::Uuid => ok(value.as_str().is_some_and(|s| uuid::Uuid::parse_str(s).is_ok())),
            Schema::Bytes => ok(is_byte_string(value).is_some()),
            Schema::Decimal(decimal) => self.check(&decimal.inner, value, path),
            Schema::Fixed(fixed) => ok(is_byte_string(value) == Some(fixed.size)),
            Schema::Duration => ok(is_byte_string(value) == Some(12)),
            Schema::Enum(e) => match value.as_str() {
                Some(symbol) if e.symbols.iter().any(|s| s == symbol) => Ok(()),
                Some(symbol) => Err(format!(
                    "{}: {symbol:?} is not a symbol of enum {} ({})",
                    at(path),
                    e.name.name,
                    e.symbols.join(", ")
                )),
                None => Err(mismatch()),
            },
            Schema::Array(array) => {
                let Value::Array(items) = value else { return Err(mismatch()) };
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("/{i}"));
                    self.check(&array.items, item, path)?;
                    path.truncate(len);
                }
                Ok(())
            }
            Schema::Map(map) => {
                let Value::Object(entries) = value else { return Err(mismatch()) };
                for (key, item) in entries {
                    let len = path.len();
                    push_key(path, key);
                    self.check(&map.types, item, path)?;
                    path.truncate(len);
                }
                Ok(())
            }
            Schema::Record(record) => self.check_record(record, value, path),
            Schema::Ref { name } => self.check(self.named(name)?, value, path),
            Schema::Union(union) => {
                let variants = union.variants();
                if variants.iter().any(|v| self.check(v, value, &mut path.clone()).is_ok()) {
                    return Ok(());
                }
                // A nullable type: say what is wrong with the one real branch.
                let real: Vec<&Schema> = variants.iter().filter(|v| !matches!(v, Schema::Null)).collect();
                if let [only] = real[..] {
                    if !value.is_null() {
                        return self.check(only, value, path);
                    }
                }
                let names: Vec<String> = variants.iter().map(|v| self.describe(v)).collect();
                Err(format!("{}: expected one of {}, found {}", at(path), names.join(", "), shown(value)))
            }
        }
    }

    fn check_record(&self, record: &RecordSchema, value: &Value, path: &mut String) -> Result<(), String> {
        let Value::Object(fields) = value else {
            return Err(format!("{}: expected record {}, found {}", at(path), record.name.name, shown(value)));
        };
        for key in fields.keys() {
            if !record.lookup.contains_key(key) {
                let known: Vec<&str> = record.fields.iter().map(|f| f.name.as_str()).collect();
                return Err(format!(
                    "{}: unknown field `{key}` (record {} has {})",
                    at(path),
                    record.name.name,
                    known.join(", ")
                ));
            }
        }
        for field in &record.fields {
            match fields.get(&field.name) {
                Some(item) => {
                    let len = path.len();
                    push_key(path, &field.name);
                    self.check(&field.schema, item, path)?;
                    path.truncate(len);
                }
                None if field.default.is_some() => {}
                None => {
                    return Err(format!(
                        "{}: missing field `{}` ({}, no default)",
                        at(path),
                        field.name,
                        self.describe(&field.schema)
                    ))
                }
            }
        }
        Ok(())
    }

    fn read(&self, schema: &Schema, value: Value, path: &mut String) -> Result<Value, String> {
        match schema {
            Schema::Record(record) => self.read_record(record, value, path),
            Schema::Ref { name } => self.read(self.named(name)?, value, path),
            Schema::Decimal(decimal) => self.read(&decimal.inner, value, path),
            Schema::Enum(e) => match value.as_str() {
                Some(symbol) if e.symbols.iter().any(|s| s == symbol) => Ok(value),
                Some(symbol) => match &e.default {
                    Some(default) => Ok(Value::String(default.clone())),
                    None => Err(format!(
                        "{}: {symbol:?} is not a symbol of the reader's enum {}, which has no default",
                        at(path),
                        e.name.name
                    )),
                },
                None => self.check(schema, &value, path).map(|()| value),
            },
            Schema::Array(array) => {
                let Value::Array(items) = value else { return self.check(schema, &value, path).map(|()| value) };
                let mut read = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("/{i}"));
                    read.push(self.read(&array.items, item, path)?);
                    path.truncate(len);
                }
                Ok(Value::Array(read))
            }
            Schema::Map(map) => {
                let Value::Object(entries) = value else { return self.check(schema, &value, path).map(|()| value) };
                let mut read = Map::new();
                for (key, item) in entries {
                    let len = path.len();
                    push_key(path, &key);
                    let item = self.read(&map.types, item, path)?;
                    path.truncate(len);
                    read.insert(key, item);
                }
                Ok(Value::Object(read))
            }
            Schema::Union(union) => {
                // The first branch that reads the value, as the writer's
                // branch would be matched by name in Avro's resolution.
                let mut first_error = None;
                for variant in union.variants() {
                    match self.read(variant, value.clone(), &mut path.clone()) {
                        Ok(read) => return Ok(read),
                        Err(e) => {
                            first_error.get_or_insert(e);
                        }
                    }
                }
                let names: Vec<String> = union.variants().iter().map(|v| self.describe(v)).collect();
                Err(match (first_error, union.variants().len()) {
                    (Some(e), 1) => e,
                    _ => format!("{}: expected one of {}, found {}", at(path), names.join(", "), shown(&value)),
                })
            }
            // Promotions (int → long → float → double) hold in JSON as is.
            _ => self.check(schema, &value, path).map(|()| value),
        }
    }

    fn read_record(&self, record: &RecordSchema, value: Value, path: &mut String) -> Result<Value, String> {
        let Value::Object(mut fields) = value else {
            return Err(format!("{}: expected record {}, found {}", at(path), record.name.name, shown(&value)));
        };
        let mut read = Map::new();
        for field in &record.fields {
            let given = fields
                .remove(&field.name)
                .or_else(|| field.aliases.iter().flatten().find_map(|alias| fields.remove(alias)));
            let item = match (given, &field.default) {
                (Some(item), _) => item,
                (None, Some(default)) => default.clone(),
                (None, None) => {
                    return Err(format!(
                        "{}: the event has no field `{}` and the reader's record {} gives it no default",
                        at(path),
                        field.name,
                        record.name.name
                    ))
                }
            };
            let len = path.len();
            push_key(path, &field.name);
            let item = self.read(&field.schema, item, path)?;
            path.truncate(len);
            read.insert(field.name.clone(), item);
        }
        Ok(Value::Object(read))
    }
}

/// Appends a JSON Pointer token (`~` and `/` escaped).
fn push_key(path: &mut String, key: &str) {
    path.push('/');
    path.push_str(&key.replace('~', "~0").replace('/', "~1"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const V1: &str = r#"{
        "type": "record", "name": "OrderPlaced", "namespace": "shop",
        "fields": [
            {"name": "orderId", "type": "string"},
            {"name": "quantity", "type": "int"},
            {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID"]}},
            {"name": "note", "type": ["null", "string"], "default": null},
            {"name": "lines", "type": {"type": "array", "items": {
                "type": "record", "name": "Line", "fields": [{"name": "sku", "type": "string"}, {"name": "next", "type": ["null", "Line"], "default": null}]}}}
        ]}"#;

    const V2: &str = r#"{
        "type": "record", "name": "OrderPlaced", "namespace": "shop",
        "fields": [
            {"name": "orderId", "type": "string"},
            {"name": "quantity", "type": "long"},
            {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW"], "default": "NEW"}},
            {"name": "currency", "type": "string", "default": "EUR"}
        ]}"#;

    fn avro(text: &str) -> EventSchema {
        EventSchema::compile("avro", text).unwrap()
    }

    fn event() -> Value {
        json!({"orderId": "o-1", "quantity": 2, "status": "PAID", "note": null, "lines": [{"sku": "a", "next": {"sku": "b"}}]})
    }

    #[test]
    fn valid_events_pass_and_invalid_ones_say_where() {
        let schema = avro(V1);
        schema.validate(&event()).unwrap();
        let cases = [
            ("/quantity", json!("2"), "at `/quantity`: expected int, found \"2\""),
            ("/quantity", json!(3_000_000_000_i64), "at `/quantity`: expected int, found 3000000000"),
            ("/status", json!("LOST"), "at `/status`: \"LOST\" is not a symbol of enum Status (NEW, PAID)"),
            ("/note", json!(7), "at `/note`: expected string, found 7"),
            ("/lines/0/next/sku", json!(1), "at `/lines/0/next/sku`: expected string, found 1"),
        ];
        for (pointer, bad, expected) in cases {
            let mut value = event();
            *value.pointer_mut(pointer).unwrap() = bad;
            assert_eq!(schema.validate(&value).unwrap_err(), expected);
        }
        let mut value = event();
        value.as_object_mut().unwrap().remove("orderId");
        assert_eq!(schema.validate(&value).unwrap_err(), "at `/`: missing field `orderId` (string, no default)");
        value = event();
        value.as_object_mut().unwrap().insert("extra".into(), json!(1));
        assert!(schema
            .validate(&value)
            .unwrap_err()
            .starts_with("at `/`: unknown field `extra` (record OrderPlaced has"));
        assert_eq!(schema.validate(&json!([1])).unwrap_err(), "at `/`: expected record OrderPlaced, found [1]");
    }

    #[test]
    fn a_reader_version_resolves_the_writers_event() {
        let reader = avro(V2);
        let read = reader.read(event()).unwrap();
        // `note` and `lines` dropped, `currency` defaulted, the unknown symbol defaulted.
        assert_eq!(read, json!({"orderId": "o-1", "quantity": 2, "status": "NEW", "currency": "EUR"}));
        let old_reader = avro(V1);
        let error =
            old_reader.read(json!({"orderId": "o", "quantity": 1, "status": "NEW", "currency": "EUR"})).unwrap_err();
        assert!(error.contains("no field `lines`"), "{error}");
    }

    #[test]
    fn json_schema_events_are_validated_with_the_path() {
        let schema = EventSchema::compile(
            "json-schema",
            r#"{"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}"#,
        )
        .unwrap();
        schema.validate(&json!({"id": "x"})).unwrap();
        let error = schema.validate(&json!({"id": 1})).unwrap_err();
        assert!(error.starts_with("at `/id`: "), "{error}");
        assert_eq!(schema.read(json!({"id": "x"})).unwrap(), json!({"id": "x"}));
        assert!(EventSchema::compile("json-schema", "{").is_err());
        assert!(EventSchema::compile("json-schema", r#"{"type": 3}"#).is_err());
    }

    #[test]
    fn logical_and_byte_types() {
        let schema = avro(
            r#"{"type": "record", "name": "R", "fields": [
                {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
                {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
                {"name": "hash", "type": {"type": "fixed", "name": "H", "size": 2}},
                {"name": "tags", "type": {"type": "map", "values": "bytes"}}]}"#,
        );
        let good =
            json!({"id": "67e55044-10b1-426f-9247-bb680e5fe0c8", "at": 1, "hash": "\u{00ff}a", "tags": {"a/b": ""}});
        schema.validate(&good).unwrap();
        let mut bad = good.clone();
        bad["hash"] = json!("abc");
        assert_eq!(schema.validate(&bad).unwrap_err(), "at `/hash`: expected fixed H, found \"abc\"");
        bad = good.clone();
        bad["tags"] = json!({"a/b": "\u{0100}"});
        assert_eq!(schema.validate(&bad).unwrap_err(), "at `/tags/a~1b`: expected bytes, found \"Ā\"");
        bad = good;
        bad["id"] = json!("not-a-uuid");
        assert!(schema.validate(&bad).unwrap_err().starts_with("at `/id`: expected uuid"));
    }

    const ORDERS_V2: &str = r#"
        syntax = "proto3";
        package shop.orders;
        import "google/protobuf/timestamp.proto";
        message Line { string sku = 1; int32 quantity = 2; }
        enum Status { STATUS_UNSPECIFIED = 0; NEW = 1; PAID = 2; }
        message OrderPlaced {
            string order_id = 1;
            repeated Line lines = 2;
            Status status = 3;
            int64 total_cents = 4;
            google.protobuf.Timestamp placed_at = 5;
            string currency = 6;
        }
        message OrderPlacedV1 { string order_id = 1; repeated Line lines = 2; }
    "#;

    /// The base64 descriptor set of `source` (as `orders.proto`) and its imports.
    fn descriptor_set(source: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("orders.proto"), source).unwrap();
        let mut compiler = protox::Compiler::new([dir.path()]).unwrap();
        compiler.include_imports(true);
        compiler.open_file("orders.proto").unwrap();
        base64::engine::general_purpose::STANDARD.encode(compiler.encode_file_descriptor_set())
    }

    fn proto_event() -> Value {
        json!({"orderId": "o-1", "lines": [{"sku": "a", "quantity": 2}], "status": "PAID",
               "totalCents": "1250", "placedAt": "2026-12-04T18:00:00Z", "currency": "EUR"})
    }

    #[test]
    fn protobuf_events_are_validated_strictly_with_the_path() {
        let set = descriptor_set(ORDERS_V2);
        let schema = EventSchema::protobuf(&set, "shop.orders.OrderPlaced").unwrap();
        schema.validate(&proto_event()).unwrap();
        // The proto field names are accepted too, as the JSON mapping says.
        schema.validate(&json!({"order_id": "o-2", "total_cents": 3})).unwrap();

        let mut wrong = proto_event();
        wrong["lines"][0]["quantity"] = json!("two");
        let error = schema.validate(&wrong).unwrap_err();
        assert_eq!(error, "at `/lines/0/quantity`: invalid digit found in string (message shop.orders.OrderPlaced)");
        assert!(error.ends_with("(message shop.orders.OrderPlaced)"), "{error}");

        wrong = proto_event();
        wrong["status"] = json!("LOST");
        assert!(schema.validate(&wrong).unwrap_err().starts_with("at `/status`: "));

        wrong = proto_event();
        wrong["placedAt"] = json!("yesterday");
        assert!(schema.validate(&wrong).unwrap_err().starts_with("at `/placedAt`: "));

        let mut unknown = proto_event();
        unknown["lines"][0]["colour"] = json!("red");
        let error = schema.validate(&unknown).unwrap_err();
        assert!(error.starts_with("at `/lines/0"), "{error}");
        assert!(error.contains("colour"), "{error}");

        assert!(schema.validate(&json!([1])).unwrap_err().starts_with("at `/`: "));
    }

    #[test]
    fn a_protobuf_reader_with_an_older_message_reads_a_newer_event() {
        let set = descriptor_set(ORDERS_V2);
        let reader = EventSchema::protobuf(&set, "shop.orders.OrderPlacedV1").unwrap();
        // The writer's fields the reader lacks are ignored; the reader sees its canonical JSON.
        let read = reader.read(proto_event()).unwrap();
        assert_eq!(read, json!({"orderId": "o-1", "lines": [{"sku": "a", "quantity": 2}]}));
        // Its own strict validation would refuse the same event.
        let error = reader.validate(&proto_event()).unwrap_err();
        assert!(error == "at `/`: unrecognized field name 'currency' (message shop.orders.OrderPlacedV1)", "{error}");
        // A field of the wrong type is still an error for the reader.
        let error = reader.read(json!({"orderId": 7})).unwrap_err();
        assert!(error.starts_with("at `/orderId`: "), "{error}");
    }

    #[test]
    fn a_bad_descriptor_set_or_message_is_refused() {
        let refused = |set: &str, message: &str| match EventSchema::protobuf(set, message) {
            Ok(_) => panic!("{message} compiled"),
            Err(error) => error,
        };
        let set = descriptor_set(ORDERS_V2);
        let error = refused(&set, "shop.orders.OrderPlace");
        assert!(error.starts_with("`message`: no message \"shop.orders.OrderPlace\" in the descriptor set"), "{error}");
        assert!(error.contains("did you mean \"shop.orders.OrderPlaced\""), "{error}");
        assert!(refused("not base64!", "shop.orders.OrderPlaced").starts_with("`descriptor_set` is not base64"));
        let garbage = base64::engine::general_purpose::STANDARD.encode([0xff, 0xff, 0xff]);
        assert!(refused(&garbage, "shop.orders.OrderPlaced")
            .starts_with("`descriptor_set` is not a usable FileDescriptorSet"));
    }
}
