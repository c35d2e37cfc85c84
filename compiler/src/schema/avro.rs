//! Avro schema files (`.avsc`) via `apache-avro`: a topic's events are the
//! file's top-level type. Its full name, a record's fields and every named
//! type the file defines are indexed.
//!
//! apache-avro's errors carry no position, so the text is parsed with
//! serde_json first (a syntax error's line and column), and a semantic error
//! is pointed at the JSON value it names (an unknown type name, a field's
//! bad `default`), or else at the start of the document.

use std::ops::Range;

use apache_avro::error::Details;
use apache_avro::schema::{Name, RecordSchema};
use apache_avro::Schema;
use serde_json::Value;

use super::json_spans::{self, JsonSpans};
use super::{EventField, EventShape, LoadedEvent, Parsed};

pub(super) fn load(text: &str) -> Parsed {
    super::avro_names::install();
    let value: Value = serde_json::from_str(text).map_err(|e| json_spans::syntax_error(text, &e))?;
    let spans = JsonSpans::new(text);
    if let Some(spans) = &spans {
        check_type_names(spans)?;
    }
    let schema = Schema::parse(&value).map_err(|e| {
        let range = spans
            .as_ref()
            .and_then(|s| locate(e.details(), s).or_else(|| first_misshapen(e.details(), &value, s)))
            .or_else(|| start(text));
        (message(e.details()), range)
    })?;
    let mut event = LoadedEvent {
        shape: EventShape { name: schema.name().map(full_name), kind: kind(&schema), ..EventShape::default() },
        ..LoadedEvent::default()
    };
    event.name_range = spans.as_ref().and_then(|s| s.locate("/name"));
    if let Schema::Record(record) = &schema {
        for field in &record.fields {
            event.shape.fields.push(EventField {
                name: field.name.clone(),
                ty: display(&field.schema),
                required: true,
                default: field.default.is_some(),
                span: None,
            });
            event.field_ranges.push(spans.as_ref().and_then(|s| {
                let field = s.element(s.member(s.root(), "fields")?, field.position)?;
                Some(s.locate_node(s.member(field, "name")?))
            }));
        }
    }
    named_types(&schema, &mut event.shape.types, 0);
    // apache-avro 0.21 lets a schema define a name twice; the specification does not.
    let mut seen = std::collections::HashSet::new();
    if let Some(again) = event.shape.types.iter().find(|name| !seen.insert(name.as_str())) {
        let range = spans.as_ref().and_then(|s| defined_name(s, again)).or_else(|| start(text));
        return Err((format!("the name `{again}` is defined twice; a schema defines each name once"), range));
    }
    let avro = super::compat::avro::AvroType::build(&value, spans.as_ref());
    Ok(super::Loaded { event: Some(event), avro: Some(avro), ..super::Loaded::default() })
}

/// Checks the names of records, enums and fixed types before apache-avro
/// does: 0.21 panics on an invalid one (an `unwrap` in `Name::parse`).
fn check_type_names(spans: &JsonSpans) -> Result<(), (String, Option<Range<usize>>)> {
    for id in spans.ids() {
        if spans.key(id).as_deref() != Some("name") {
            continue;
        }
        let (node, Some(object)) = (spans.node(id), spans.parent(id)) else { continue };
        let Some(name) = spans.string_of(node) else { continue };
        let kind = spans.member(object, "type").and_then(|ty| spans.string_of(spans.node(ty)));
        let named = matches!(kind.as_deref(), Some("record" | "enum" | "fixed" | "error"));
        if named && !valid_full_name(&name) {
            return Err((
                format!(
                    "invalid name `{name}`: a name is letters, digits and `_`, not starting with a digit, after an optional dotted namespace"
                ),
                Some(node.value.clone()),
            ));
        }
    }
    Ok(())
}

/// `[namespace.]name`, each part `[A-Za-z_][A-Za-z0-9_]*` (the Avro specification).
fn valid_full_name(name: &str) -> bool {
    let ident = |s: &str| {
        s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    // A leading dot means the null namespace (`.Name`).
    name.strip_prefix('.').unwrap_or(name).split('.').all(ident)
}

/// `name.fullname(None)` without `format!`'s machinery (one per named type
/// and per reference to one, in every Avro file).
fn full_name(name: &Name) -> String {
    match name.namespace.as_deref() {
        Some(namespace) if !namespace.is_empty() && !name.name.contains('.') => [namespace, ".", &name.name].concat(),
        _ => name.name.clone(),
    }
}

/// The first non-blank character: where an error without a better place is shown.
fn start(text: &str) -> Option<Range<usize>> {
    let at = text.len() - text.trim_start().len();
    Some(json_spans::char_at(text, at))
}

/// The top-level type's kind: `record`, `enum`, `fixed`, or the type itself.
fn kind(schema: &Schema) -> String {
    match schema {
        Schema::Record(_) => "record".into(),
        Schema::Enum(_) => "enum".into(),
        Schema::Fixed(_) => "fixed".into(),
        other => display(other),
    }
}

/// A type as Avro IDL writes it: `long`, `array<shop.Item>`,
/// `map<string>`, `union { null, string }`, `timestamp-millis`, `decimal(9, 2)`.
fn display(schema: &Schema) -> String {
    match schema {
        Schema::Null => "null".into(),
        Schema::Boolean => "boolean".into(),
        Schema::Int => "int".into(),
        Schema::Long => "long".into(),
        Schema::Float => "float".into(),
        Schema::Double => "double".into(),
        Schema::Bytes => "bytes".into(),
        Schema::String => "string".into(),
        Schema::Array(a) => ["array<", &display(&a.items), ">"].concat(),
        Schema::Map(m) => ["map<", &display(&m.types), ">"].concat(),
        Schema::Union(u) if u.variants().is_empty() => "union {}".into(),
        Schema::Union(u) => {
            ["union { ", &u.variants().iter().map(display).collect::<Vec<_>>().join(", "), " }"].concat()
        }
        Schema::Record(r) => full_name(&r.name),
        Schema::Enum(e) => full_name(&e.name),
        Schema::Fixed(f) => full_name(&f.name),
        Schema::Ref { name } => full_name(name),
        Schema::Decimal(d) => format!("decimal({}, {})", d.precision, d.scale),
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

/// Full names of the records, enums and fixed types a schema defines, in
/// definition order. Depth is bounded by serde_json's nesting limit; the
/// counter guards the recursion all the same.
fn named_types(schema: &Schema, out: &mut Vec<String>, depth: usize) {
    if depth > 256 {
        return;
    }
    let depth = depth + 1;
    match schema {
        Schema::Record(RecordSchema { name, fields, .. }) => {
            out.push(full_name(name));
            for field in fields {
                named_types(&field.schema, out, depth);
            }
        }
        Schema::Enum(e) => out.push(full_name(&e.name)),
        Schema::Fixed(f) => out.push(full_name(&f.name)),
        Schema::Decimal(d) => named_types(&d.inner, out, depth),
        Schema::Array(a) => named_types(&a.items, out, depth),
        Schema::Map(m) => named_types(&m.types, out, depth),
        Schema::Union(u) => {
            for variant in u.variants() {
                named_types(variant, out, depth);
            }
        }
        _ => {}
    }
}

/// apache-avro's message, reworded where it is hard to read.
fn message(details: &Details) -> String {
    match details {
        Details::ParsePrimitive(name) => {
            format!("unknown type `{name}`: not a primitive type, nor a named type defined before this use")
        }
        Details::GetDefaultRecordField(field, record, ty) => {
            let ty = serde_json::from_str::<String>(ty).unwrap_or_else(|_| ty.clone());
            format!("the `default` of field `{field}` in `{record}` is not a value of its type, `{ty}`")
        }
        other => other.to_string(),
    }
}

/// The place in the file an apache-avro error is about, when it names one.
fn locate(details: &Details, spans: &JsonSpans) -> Option<Range<usize>> {
    match details {
        // An unknown type name, given fully qualified by apache-avro.
        Details::ParsePrimitive(name) => type_name(spans, name),
        Details::SchemaResolutionError(name) => type_name(spans, &full_name(name)),
        Details::InvalidSchemaRecord(name) => type_name(spans, name),
        Details::GetDefaultRecordField(field, _, _) => field_member(spans, field, "default"),
        Details::GetDefaultUnion(..) => union_default(spans),
        Details::GetEnumDefault { symbol, .. } => string_under(spans, "default", symbol, false),
        Details::FieldNameDuplicate(name) => string_under(spans, "name", name, true),
        Details::FieldName(name) => string_under(spans, "name", name, false),
        Details::InvalidSchemaName(name, _) => {
            string_under(spans, "name", name, false).or_else(|| type_name(spans, name))
        }
        Details::InvalidNamespace(name, _) => string_under(spans, "namespace", name, false),
        Details::EnumSymbolName(symbol) | Details::EnumSymbolDuplicate(symbol) => {
            string_in_array(spans, "symbols", symbol, matches!(details, Details::EnumSymbolDuplicate(_)))
        }
        Details::NameCollision(name) => defined_name(spans, name),
        Details::AmbiguousSchemaDefinition(name) => defined_name(spans, &full_name(name)),
        _ => None,
    }
}

/// Whether the value at `pointer` is read as a type: the document, a
/// `type`, `items` or `values` member, or a union's branch.
fn is_type_position(pointer: &str) -> bool {
    match json_spans::split_last(pointer) {
        None => true,
        Some((parent, last)) => {
            matches!(last.as_str(), "type" | "items" | "values")
                || last.parse::<usize>().is_ok()
                    && (parent.is_empty() || is_type_position(parent) && !parent.ends_with("/fields"))
        }
    }
}

/// For errors about a type's missing or malformed member, which name no
/// value: the first place in the document (in text order) the error fits.
fn first_misshapen(details: &Details, value: &Value, spans: &JsonSpans) -> Option<Range<usize>> {
    let fits = |pointer: &str, v: &Value| -> Option<String> {
        let member = |key: &str| json_spans::join(pointer, key);
        if let Details::ParseSchemaFromValidJson = details {
            let scalar = !(v.is_string() || v.is_object() || v.is_array());
            return (scalar && is_type_position(pointer)).then(|| pointer.to_string());
        }
        let object = v.as_object()?;
        let ty = object.get("type").and_then(Value::as_str);
        let lacks = |key: &str| !object.contains_key(key);
        let in_fields = json_spans::split_last(pointer).is_some_and(|(parent, _)| parent.ends_with("/fields"));
        let named = matches!(ty, Some("record" | "error" | "enum" | "fixed"));
        match details {
            // A record field without `type` is reported so too: show the field's name.
            Details::GetComplexTypeField if in_fields && lacks("type") && object.contains_key("name") => {
                Some(member("name"))
            }
            Details::GetComplexTypeField => {
                ((is_type_position(pointer) || in_fields) && lacks("type")).then(|| pointer.to_string())
            }
            Details::GetNameFieldFromRecord => {
                (in_fields && !object.get("name").is_some_and(Value::is_string)).then(|| pointer.to_string())
            }
            Details::GetNameField => {
                (named && !in_fields && !object.get("name").is_some_and(Value::is_string)).then(|| member("type"))
            }
            Details::GetRecordFieldsJson => (matches!(ty, Some("record" | "error"))
                && !object.get("fields").is_some_and(Value::is_array))
            .then(|| member("type")),
            Details::GetEnumSymbolsField | Details::GetEnumSymbols if ty == Some("enum") => {
                match object.get("symbols") {
                    None => Some(member("type")),
                    Some(Value::Array(symbols)) if symbols.iter().all(Value::is_string) => None,
                    Some(_) => Some(member("symbols")),
                }
            }
            Details::GetArrayItemsField => (ty == Some("array") && lacks("items")).then(|| member("type")),
            Details::GetMapValuesField => (ty == Some("map") && lacks("values")).then(|| member("type")),
            Details::GetFixedSizeField | Details::GetFixedSizeFieldPositive(_) if ty == Some("fixed") => {
                match object.get("size") {
                    None => Some(member("type")),
                    Some(size) if size.as_u64().is_some_and(|n| n > 0) => None,
                    Some(_) => Some(member("size")),
                }
            }
            Details::GetComplexType(_) => {
                let ty = object.get("type")?;
                (!(ty.is_string() || ty.is_object() || ty.is_array())).then(|| member("type"))
            }
            Details::GetLogicalTypeField => {
                (object.contains_key("logicalType") && lacks("type")).then(|| pointer.to_string())
            }
            Details::GetLogicalTypeFieldType(_) => {
                object.get("logicalType").filter(|l| !l.is_string()).map(|_| member("logicalType"))
            }
            Details::EnumDefaultWrongType(_) if ty == Some("enum") => {
                object.get("default").filter(|d| !d.is_string()).map(|_| member("default"))
            }
            _ => None,
        }
    };
    spans
        .nodes()
        .find_map(|(pointer, _)| fits(&pointer, value.pointer(&pointer)?))
        .and_then(|pointer| spans.locate(&pointer))
}

/// Where a type name is used: a string under `type`, `items`, `values`, or in a union.
fn type_name(spans: &JsonSpans, full: &str) -> Option<Range<usize>> {
    let short = full.rsplit('.').next().unwrap_or(full);
    let found = |wanted: &str| {
        spans.strings().find(|(p, _, s)| s == wanted && is_type_position(p)).map(|(_, n, _)| n.value.clone())
    };
    found(full).or_else(|| found(short))
}

/// A string value of member `key` (`"name": "x"`): the first, or the last.
fn string_under(spans: &JsonSpans, key: &str, wanted: &str, last: bool) -> Option<Range<usize>> {
    let mut hits = spans
        .strings()
        .filter(|(p, _, s)| s == wanted && json_spans::split_last(p).is_some_and(|(_, k)| k == key))
        .map(|(_, n, _)| n.value.clone());
    if last {
        hits.last()
    } else {
        hits.next()
    }
}

/// A string in the array of member `key` (`"symbols": ["A", "x"]`).
fn string_in_array(spans: &JsonSpans, key: &str, wanted: &str, last: bool) -> Option<Range<usize>> {
    let suffix = format!("/{key}");
    let mut hits = spans
        .strings()
        .filter(|(p, _, s)| {
            s == wanted && json_spans::split_last(p).is_some_and(|(parent, _)| parent.ends_with(&suffix))
        })
        .map(|(_, n, _)| n.value.clone());
    if last {
        hits.last()
    } else {
        hits.next()
    }
}

/// The second definition of a named type (`"name": "x"`), by full or short name.
fn defined_name(spans: &JsonSpans, full: &str) -> Option<Range<usize>> {
    let short = full.rsplit('.').next().unwrap_or(full);
    string_under(spans, "name", full, true).or_else(|| string_under(spans, "name", short, true))
}

/// Member `member` of the record field named `field` (its `"default"`).
fn field_member(spans: &JsonSpans, field: &str, member: &str) -> Option<Range<usize>> {
    spans
        .strings()
        .filter(|(p, _, s)| s == field && p.ends_with("/name"))
        .filter_map(|(p, _, _)| {
            let (parent, _) = json_spans::split_last(&p)?;
            json_spans::split_last(parent).filter(|(grand, _)| grand.ends_with("/fields"))?;
            spans.locate(&json_spans::join(parent, member))
        })
        .next()
        .or_else(|| string_under(spans, "name", field, false))
}

/// A union-typed field's `default` that apache-avro rejected (its error does
/// not name the field): the first whose JSON kind fits no branch of the union.
fn union_default(spans: &JsonSpans) -> Option<Range<usize>> {
    let unions: Vec<String> = spans
        .nodes()
        .filter_map(|(pointer, node)| {
            let field = pointer.strip_suffix("/type")?;
            let has_default = spans.get(&json_spans::join(field, "default")).is_some();
            (has_default && spans.text_of(node).starts_with('[')).then(|| field.to_string())
        })
        .collect();
    // A branch's type name: the string, or an inline type's `type`.
    let branch = |pointer: &str| -> Option<String> {
        spans.get(pointer)?;
        spans.string_at(pointer).or_else(|| spans.string_at(&json_spans::join(pointer, "type")))
    };
    let fits = |field: &str| -> bool {
        let Some(default) = spans.get(&json_spans::join(field, "default")) else { return true };
        let first = spans.text_of(default).bytes().next().unwrap_or(b' ');
        let branches: Vec<String> =
            (0..).map_while(|i| branch(&json_spans::join(&json_spans::join(field, "type"), &i.to_string()))).collect();
        let numeric = |b: &str| matches!(b, "int" | "long" | "float" | "double");
        // A reference to a named type (record, enum or fixed).
        let named = |b: &str| {
            !numeric(b)
                && !matches!(b, "null" | "boolean" | "bytes" | "string" | "array" | "map" | "record" | "enum" | "fixed")
        };
        branches.iter().map(String::as_str).any(|b| match first {
            b'n' => b == "null",
            b't' | b'f' => b == "boolean",
            b'"' => matches!(b, "string" | "bytes" | "enum" | "fixed") || named(b),
            b'[' => b == "array",
            b'{' => matches!(b, "map" | "record") || named(b),
            _ => numeric(b),
        })
    };
    let field = unions.iter().find(|f| !fits(f)).or(unions.first())?;
    spans.locate(&json_spans::join(field, "default"))
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// The `.avsc` files of Avro's own shared test schemas
    /// (`../shared/corpora/avro`), sorted: what the loader's and the
    /// compatibility checker's tests read.
    pub(in crate::schema) fn corpus_files() -> Vec<std::path::PathBuf> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpora/avro");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "avsc"))
            .collect();
        files.sort();
        files
    }

    fn loaded(text: &str) -> (EventShape, Vec<String>) {
        let loaded = load(text).unwrap_or_else(|e| panic!("{e:?}"));
        let event = loaded.event.expect("an event shape");
        let fields = event.field_ranges.iter().map(|r| text[r.clone().expect("a range")].to_string()).collect();
        (event.shape, fields)
    }

    fn error(text: &str) -> (String, String) {
        let Err((message, Some(range))) = load(text) else { panic!("loaded: {text}") };
        (message, text[range].to_string())
    }

    const ORDER: &str = r#"{
  "type": "record",
  "name": "OrderPlaced",
  "namespace": "shop.orders",
  "fields": [
    {"name": "orderId", "type": "string"},
    {"name": "items", "type": {"type": "array", "items": {
      "type": "record", "name": "Item",
      "fields": [{"name": "sku", "type": "string"}, {"name": "quantity", "type": "int"}]}}},
    {"name": "coupon", "type": ["null", "string"], "default": null},
    {"name": "placedAt", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID"]}, "default": "NEW"}
  ]
}"#;

    #[test]
    fn full_names_are_apache_avros() {
        let names = [("Order", None), ("Order", Some("shop")), ("Order", Some("")), ("a.Order", Some("shop"))];
        for (name, namespace) in names {
            let name = Name { name: name.to_string(), namespace: namespace.map(str::to_string) };
            assert_eq!(full_name(&name), name.fullname(None), "{name:?}");
        }
    }

    #[test]
    fn a_record_indexes_its_full_name_fields_and_named_types() {
        let (shape, names) = loaded(ORDER);
        assert_eq!(shape.name.as_deref(), Some("shop.orders.OrderPlaced"));
        assert_eq!(shape.kind, "record");
        let fields: Vec<(&str, &str, bool)> =
            shape.fields.iter().map(|f| (f.name.as_str(), f.ty.as_str(), f.default)).collect();
        assert_eq!(
            fields,
            [
                ("orderId", "string", false),
                ("items", "array<shop.orders.Item>", false),
                ("coupon", "union { null, string }", true),
                ("placedAt", "timestamp-millis", false),
                ("status", "shop.orders.Status", true),
            ]
        );
        assert!(shape.fields.iter().all(|f| f.required), "every Avro record value has every field");
        assert_eq!(names, ["\"orderId\"", "\"items\"", "\"coupon\"", "\"placedAt\"", "\"status\""]);
        assert_eq!(shape.types, ["shop.orders.OrderPlaced", "shop.orders.Item", "shop.orders.Status"]);
    }

    #[test]
    fn a_non_record_top_level_type_has_no_fields() {
        let (shape, _) = loaded(r#"{"type": "enum", "name": "a.Kind", "symbols": ["A"]}"#);
        assert_eq!((shape.name.as_deref(), shape.kind.as_str()), (Some("a.Kind"), "enum"));
        assert!(shape.fields.is_empty());
        let (shape, _) = loaded(r#"["null", "string"]"#);
        assert_eq!((shape.name, shape.kind.as_str()), (None, "union { null, string }"));
    }

    #[test]
    fn json_syntax_errors_point_at_the_character() {
        let text = "{\n  \"type\": \"record\",\n  \"name\": \"A\"\n  \"fields\": []\n}\n";
        let (message, at) = error(text);
        assert_eq!(message, "JSON syntax error: expected `,` or `}`");
        assert_eq!(at, "\"");
        let Err((_, Some(range))) = load(text) else { unreachable!() };
        assert_eq!(range.start, text.find("\"fields\"").unwrap());
    }

    #[test]
    fn an_unknown_type_name_is_pointed_at() {
        let text = r#"{"type": "record", "name": "A", "namespace": "n",
 "fields": [{"name": "name", "type": "string"}, {"name": "b", "type": "Missing"}]}"#;
        let (message, at) = error(text);
        assert_eq!(message, "unknown type `n.Missing`: not a primitive type, nor a named type defined before this use");
        assert_eq!(at, "\"Missing\"");
        let text =
            r#"{"type": "record", "name": "A", "fields": [{"name": "b", "type": {"type": "array", "items": "Itm"}}]}"#;
        assert_eq!(error(text).1, "\"Itm\"");
    }

    #[test]
    fn a_bad_default_is_pointed_at() {
        let text = r#"{"type": "record", "name": "A", "fields": [
  {"name": "a", "type": "long", "default": 1},
  {"name": "total", "type": "long", "default": "ten"}]}"#;
        let (message, at) = error(text);
        assert_eq!(message, "the `default` of field `total` in `A` is not a value of its type, `long`");
        assert_eq!(at, "\"ten\"");
        let text = r#"{"type": "record", "name": "A", "fields": [
  {"name": "a", "type": ["null", "long"], "default": null},
  {"name": "b", "type": ["null", "long"], "default": "x"}]}"#;
        assert_eq!(error(text).1, "\"x\"");
    }

    #[test]
    fn names_symbols_and_duplicates_are_pointed_at() {
        let duplicate = r#"{"type": "record", "name": "A", "fields": [{"name": "x", "type": "int"}, {"name": "x", "type": "long"}]}"#;
        let (message, at) = error(duplicate);
        assert!(message.contains("Duplicate field name x"), "{message}");
        let Err((_, Some(range))) = load(duplicate) else { unreachable!() };
        assert_eq!((at.as_str(), range.start), ("\"x\"", duplicate.rfind("\"x\"").unwrap()));
        assert_eq!(error(r#"{"type": "record", "name": "1A", "fields": []}"#).1, "\"1A\"");
        assert_eq!(error(r#"{"type": "enum", "name": "E", "symbols": ["A", "b-c"]}"#).1, "\"b-c\"");
        let twice = r#"{"type": "record", "name": "A", "namespace": "n", "fields": [
  {"name": "x", "type": {"type": "record", "name": "B", "fields": []}},
  {"name": "y", "type": {"type": "enum", "name": "B", "symbols": ["Q"]}}]}"#;
        let Err((message, Some(range))) = load(twice) else { panic!("loaded") };
        assert!(message.contains("`n.B` is defined twice"), "{message}");
        assert_eq!(range.start, twice.rfind("\"B\"").unwrap());
    }

    #[test]
    fn missing_and_malformed_members_are_pointed_at() {
        let no_type = r#"{"type": "record", "name": "A", "fields": [{"name": "a", "type": "int"}, {"name": "b"}]}"#;
        assert_eq!(error(no_type), ("No `type` in complex type".to_string(), "\"b\"".to_string()));
        let no_items = r#"{"type": "record", "name": "A", "fields": [{"name": "a", "type": {"type": "array"}}]}"#;
        let Err((_, Some(range))) = load(no_items) else { panic!("loaded") };
        assert_eq!(range.start, no_items.find("\"array\"").unwrap());
        let size = r#"{"type": "record", "name": "A", "fields": [{"name": "a", "type": {"type": "fixed", "name": "F", "size": -2}}]}"#;
        assert_eq!(error(size).1, "-2");
        let symbols = r#"{"type": "enum", "name": "E", "symbols": "A"}"#;
        assert_eq!(error(symbols).1, "\"A\"");
        let no_fields = r#"{"type": "record", "name": "A"}"#;
        assert_eq!(error(no_fields), ("No `fields` in record".to_string(), "\"record\"".to_string()));
    }

    #[test]
    fn other_errors_point_at_the_document_start() {
        let (message, at) = error("  [\"int\", \"int\"]");
        assert_eq!(message, "Unions cannot contain duplicate types");
        assert_eq!(at, "[");
    }

    /// Avro's own shared test schemas (`../shared/corpora/avro`): every file
    /// loads, with exactly these named types.
    #[test]
    fn every_schema_of_the_avro_corpus_loads_with_its_named_types() {
        let files = corpus_files();
        let o = "org.apache.avro";
        let expected: &[(&str, &[&str])] = &[
            ("FooBarSpecificRecord.avsc", &[&format!("{o}.FooBarSpecificRecord"), &format!("{o}.TypeEnum")]),
            (
                "RecordWithRequiredFields.avsc",
                &[
                    &format!("{o}.RecordWithRequiredFields"),
                    &format!("{o}.UnionRecord"),
                    &format!("{o}.ArrayRecord"),
                    &format!("{o}.MapRecord"),
                    &format!("{o}.MapRecordEnum"),
                ],
            ),
            ("fooBar.avsc", &["example.avro.Bar"]),
            (
                "interop.avsc",
                &[
                    &format!("{o}.Interop"),
                    &format!("{o}.Foo"),
                    &format!("{o}.Kind"),
                    &format!("{o}.MD5"),
                    &format!("{o}.Node"),
                ],
            ),
            ("reserved.avsc", &["org.apache.avro.test.Reserved"]),
            ("weather.avsc", &["test.Weather"]),
        ];
        let names: Vec<String> = files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, expected.iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>(), "the corpus changed");
        for (file, (_, types)) in files.iter().zip(expected) {
            let text = std::fs::read_to_string(file).unwrap();
            let (shape, spans) = loaded(&text);
            assert_eq!(shape.types, *types, "{}", file.display());
            assert_eq!(shape.name.as_deref(), Some(types[0]), "{}", file.display());
            assert_eq!(spans.len(), shape.fields.len(), "{}: every field has a span", file.display());
        }
        let interop_file = files.iter().find(|f| f.ends_with("interop.avsc")).expect("the corpus has interop.avsc");
        let interop = std::fs::read_to_string(interop_file).unwrap();
        let fields: Vec<String> = loaded(&interop).0.fields.iter().map(|f| format!("{}: {}", f.name, f.ty)).collect();
        assert_eq!(
            fields,
            [
                "intField: int",
                "longField: long",
                "stringField: string",
                "boolField: boolean",
                "floatField: float",
                "doubleField: double",
                "bytesField: bytes",
                "nullField: null",
                "arrayField: array<double>",
                "mapField: map<org.apache.avro.Foo>",
                "unionField: union { boolean, double, array<bytes> }",
                "enumField: org.apache.avro.Kind",
                "fixedField: org.apache.avro.MD5",
                "recordField: org.apache.avro.Node",
            ]
        );
    }
}
