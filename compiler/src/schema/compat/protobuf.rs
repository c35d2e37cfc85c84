//! Protobuf compatibility of two messages, judged for the binary wire
//! format and for the JSON mapping separately (a change can keep one and
//! break the other); each break's reason says which.
//!
//! Fields pair up by number:
//! - Wire types: the varint group (`int32`, `int64`, `uint32`, `uint64`,
//!   `bool`, enums), zigzag (`sint32`, `sint64`), 32-bit (`fixed32`,
//!   `sfixed32`, `float`), 64-bit (`fixed64`, `sfixed64`, `double`) and
//!   length-delimited (`string`, `bytes`, messages) read within their group
//!   only; `string` ↔ `bytes` and message ↔ `bytes` keep the wire, other
//!   length-delimited changes do not. In JSON, booleans, enums (written as
//!   names), floating-point and integers are distinct, an integer type must
//!   hold the writer's range, `bytes` are base64 and `string`s text.
//! - Singular ↔ repeated: a repeated writer read as singular keeps the last
//!   element (packed numbers are lost); JSON arrays and values differ.
//!   Maps are objects in JSON, repeated messages arrays.
//! - Names: JSON readers match a field by its JSON name or its proto name,
//!   so a renamed field breaks JSON only. A field the reader lacks is
//!   skipped on the wire and rejected by JSON readers (unknown fields)
//!   unless the reader reserves its name.
//! - Messages compare field by field, recursively; a changed message type
//!   name does not break either encoding (neither carries it), except
//!   well-known types (`google.protobuf.*`), whose JSON forms are their
//!   own.
//! - Enums: JSON names must exist in the reader's enum; a closed (proto2)
//!   reader enum drops numbers it lacks on the wire.
//! - A proto2 `required` field of the reader must be required by the
//!   writer. Oneofs: fields the writer may set together must not share a
//!   oneof in the reader, which would keep only one of them.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::{Arc, OnceLock};

use prost_reflect::{Cardinality, FieldDescriptor, Kind, MessageDescriptor, Syntax};

use super::{join_path, Break, MAX_BREAKS};
use crate::base::{FileId, Span};

/// Messages compared inside one another at most.
const MAX_DEPTH: usize = 200;

/// The `.proto` file a topic's schema names, for spans.
#[derive(Debug)]
pub struct ProtoSource {
    pub(in crate::schema) file: FileId,
    /// Its name in the descriptor pool.
    pub(in crate::schema) name: String,
    pub(in crate::schema) text: Arc<str>,
    /// Source-info path → byte range, built when a break first needs one.
    pub(in crate::schema) ranges: OnceLock<HashMap<Vec<i32>, Range<usize>>>,
}

impl ProtoSource {
    fn span(&self, pool_file: &prost_reflect::FileDescriptor, path: &[i32]) -> Option<Span> {
        if pool_file.name() != self.name {
            return None;
        }
        let ranges = self.ranges.get_or_init(|| {
            let starts: Vec<usize> =
                std::iter::once(0).chain(self.text.match_indices('\n').map(|(i, _)| i + 1)).collect();
            let offset = |line: i32, column: i32| {
                let start = starts.get(line.max(0) as usize).copied().unwrap_or(self.text.len());
                (start + column.max(0) as usize).min(self.text.len())
            };
            let info = pool_file.file_descriptor_proto().source_code_info.as_ref();
            info.map(|i| i.location.as_slice())
                .unwrap_or_default()
                .iter()
                .filter_map(|l| {
                    let range = match l.span.as_slice() {
                        [line, col, end_col] => offset(*line, *col)..offset(*line, *end_col),
                        [line, col, end_line, end_col] => offset(*line, *col)..offset(*end_line, *end_col),
                        _ => return None,
                    };
                    Some((l.path.clone(), range))
                })
                .collect()
        });
        ranges.get(path).map(|r| Span::new(self.file, r.clone()))
    }
}

/// A message of a loaded `.proto` file, as an event type.
#[derive(Clone, Debug)]
pub struct ProtoMessage<'s> {
    pub(in crate::schema) message: MessageDescriptor,
    pub(in crate::schema) source: &'s ProtoSource,
}

/// Whether a reader of `reader`'s message reads every message written with
/// `writer`'s, on the wire and in JSON.
pub fn reader_can_read(writer: &ProtoMessage, reader: &ProtoMessage) -> Vec<Break> {
    let mut checker = Checker { w: writer.source, r: reader.source, seen: HashSet::new(), out: Vec::new(), depth: 0 };
    checker.message(&writer.message, &reader.message, "");
    checker.out
}

struct Checker<'s> {
    w: &'s ProtoSource,
    r: &'s ProtoSource,
    /// (writer, reader) message full names compared or being compared.
    seen: HashSet<(String, String)>,
    out: Vec<Break>,
    depth: usize,
}

/// The wire group of a field's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wire {
    Varint,
    Zigzag,
    Fixed32,
    Fixed64,
    Len,
    Group,
}

fn wire(field: &FieldDescriptor) -> Wire {
    if field.is_group() {
        return Wire::Group;
    }
    match field.kind() {
        Kind::Int32 | Kind::Int64 | Kind::Uint32 | Kind::Uint64 | Kind::Bool | Kind::Enum(_) => Wire::Varint,
        Kind::Sint32 | Kind::Sint64 => Wire::Zigzag,
        Kind::Fixed32 | Kind::Sfixed32 | Kind::Float => Wire::Fixed32,
        Kind::Fixed64 | Kind::Sfixed64 | Kind::Double => Wire::Fixed64,
        Kind::String | Kind::Bytes | Kind::Message(_) => Wire::Len,
    }
}

/// A field's type as `.proto` writes it: `repeated int64`, `map<string, Item>`, `shop.Item`.
fn describe(field: &FieldDescriptor) -> String {
    let kind = kind_name(&field.kind());
    if field.is_map() {
        if let Kind::Message(entry) = field.kind() {
            let key = entry.get_field(1).map(|f| kind_name(&f.kind())).unwrap_or_default();
            let value = entry.get_field(2).map(|f| kind_name(&f.kind())).unwrap_or_default();
            return format!("map<{key}, {value}>");
        }
    }
    if field.is_list() {
        format!("repeated {kind}")
    } else {
        kind
    }
}

fn kind_name(kind: &Kind) -> String {
    match kind {
        Kind::Message(m) => m.full_name().to_string(),
        Kind::Enum(e) => e.full_name().to_string(),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// The JSON form of a kind: what a JSON reader of the other kind accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Json {
    /// Integers with their range: (min, max) as i128.
    Integer(i128, i128),
    Float,
    Bool,
    /// Enum names (readers also accept numbers).
    Enum,
    String,
    Bytes,
    Message,
}

fn json(kind: &Kind) -> Json {
    match kind {
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Json::Integer(i32::MIN.into(), i32::MAX.into()),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Json::Integer(i64::MIN.into(), i64::MAX.into()),
        Kind::Uint32 | Kind::Fixed32 => Json::Integer(0, u32::MAX.into()),
        Kind::Uint64 | Kind::Fixed64 => Json::Integer(0, u64::MAX.into()),
        Kind::Float | Kind::Double => Json::Float,
        Kind::Bool => Json::Bool,
        Kind::Enum(_) => Json::Enum,
        Kind::String => Json::String,
        Kind::Bytes => Json::Bytes,
        Kind::Message(_) => Json::Message,
    }
}

/// Why a JSON reader of `reader` rejects what a writer of `writer` writes.
fn json_break(writer: &Kind, reader: &Kind) -> Option<String> {
    Some(match (json(writer), json(reader)) {
        (Json::Integer(wl, wh), Json::Integer(rl, rh)) if wl < rl || wh > rh => {
            format!("a `{}` value may not fit the reader's `{}`", kind_name(writer), kind_name(reader))
        }
        (Json::Integer(..), Json::Integer(..) | Json::Float | Json::Enum) => return None,
        (Json::Float, Json::Float) => return None,
        (Json::Enum, Json::Enum) | (Json::Message, Json::Message) | (Json::Bool, Json::Bool) => return None,
        (Json::String, Json::String) | (Json::Bytes, Json::Bytes) => return None,
        (Json::Bytes, Json::String) | (Json::String, Json::Bytes) => {
            "`bytes` are base64 in JSON and `string`s text: the reader misreads them".to_string()
        }
        (Json::Enum, _) => "the writer writes the enum's names, which the reader's type does not parse".to_string(),
        _ => format!("a `{}` and a `{}` are written differently in JSON", kind_name(writer), kind_name(reader)),
    })
}

/// Why the wire format of a writer's singular `writer` kind does not read
/// as the reader's `reader` kind (same wire group assumed).
fn wire_break(writer: &Kind, reader: &Kind) -> Option<String> {
    match (writer, reader) {
        (Kind::Message(_), Kind::String) | (Kind::String, Kind::Message(_)) | (Kind::Bytes, Kind::Message(_)) => {
            Some(format!(
                "a `{}` and a `{}` share the length-delimited wire type but not their contents",
                kind_name(writer),
                kind_name(reader)
            ))
        }
        _ => None,
    }
}

fn well_known(kind: &Kind) -> Option<String> {
    match kind {
        Kind::Message(m) if m.full_name().starts_with("google.protobuf.") => Some(m.full_name().to_string()),
        _ => None,
    }
}

impl Checker<'_> {
    fn push(&mut self, b: Break) {
        if self.out.len() < MAX_BREAKS {
            self.out.push(b);
        }
    }

    fn field_span(&self, source: &ProtoSource, field: &FieldDescriptor) -> Option<Span> {
        let mut path = field.path().to_vec();
        path.push(1); // FieldDescriptorProto.name
        source.span(&field.parent_file(), &path).or_else(|| source.span(&field.parent_file(), field.path()))
    }

    fn message_span(&self, source: &ProtoSource, message: &MessageDescriptor) -> Option<Span> {
        let mut path = message.path().to_vec();
        path.push(1); // DescriptorProto.name
        source.span(&message.parent_file(), &path)
    }

    /// Reports a break of the pair of fields (either may be absent).
    fn field_break(
        &mut self,
        path: &str,
        w: Option<&FieldDescriptor>,
        r: Option<&FieldDescriptor>,
        what: String,
        wire: Option<String>,
        json: Option<String>,
    ) {
        let side = |verdict: Option<String>| verdict.map_or("ok".to_string(), |why| format!("breaks ({why})"));
        let reason = format!("{what}; wire: {}; JSON: {}", side(wire), side(json));
        let writer = w.and_then(|f| self.field_span(self.w, f));
        let reader = r.and_then(|f| self.field_span(self.r, f));
        self.push(Break { path: path.to_string(), reason, writer, reader });
    }

    fn message(&mut self, w: &MessageDescriptor, r: &MessageDescriptor, path: &str) {
        if !self.seen.insert((w.full_name().to_string(), r.full_name().to_string())) {
            return;
        }
        if self.depth >= MAX_DEPTH {
            let (writer, reader) = (self.message_span(self.w, w), self.message_span(self.r, r));
            self.push(Break {
                path: path.to_string(),
                reason: format!("the messages nest more than {MAX_DEPTH} levels deep here; meshc compares no deeper"),
                writer,
                reader,
            });
            return;
        }
        self.depth += 1;
        for wf in w.fields() {
            let at = join_path(path, wf.name());
            match r.get_field(wf.number()) {
                Some(rf) => self.fields(&wf, &rf, &join_path(path, rf.name())),
                None => {
                    let reserved = r.reserved_names().any(|n| n == wf.name() || n == wf.json_name());
                    if !reserved {
                        self.field_break(
                            &at,
                            Some(&wf),
                            None,
                            format!("the reader's `{}` has no field {} (`{}`)", r.full_name(), wf.number(), wf.name()),
                            None,
                            Some(format!(
                                "a JSON reader rejects the unknown field `{}`; reserve the name in the reader (`reserved \"{}\";`) to have it skipped",
                                wf.json_name(),
                                wf.name()
                            )),
                        );
                    }
                }
            }
        }
        for rf in r.fields() {
            if w.get_field(rf.number()).is_none() && rf.cardinality() == Cardinality::Required {
                let why =
                    format!("the writer's `{}` has no field {}, which the reader requires", w.full_name(), rf.number());
                self.field_break(
                    &join_path(path, rf.name()),
                    None,
                    Some(&rf),
                    format!("the reader's proto2 `required` field `{}` is never written", rf.name()),
                    Some(why.clone()),
                    Some(why),
                );
            }
        }
        self.oneofs(w, r, path);
        self.depth -= 1;
    }

    fn fields(&mut self, wf: &FieldDescriptor, rf: &FieldDescriptor, path: &str) {
        let what = |detail: &str| {
            format!("field {} is {} in the writer, {} in the reader{detail}", wf.number(), describe(wf), describe(rf))
        };
        // Names: JSON matches by JSON name or proto name.
        if wf.json_name() != rf.json_name() && wf.json_name() != rf.name() {
            self.field_break(
                path,
                Some(wf),
                Some(rf),
                format!("field {} is `{}` in the writer, `{}` in the reader", wf.number(), wf.name(), rf.name()),
                None,
                Some(format!("JSON readers match fields by name; the reader does not know `{}`", wf.json_name())),
            );
        }
        if rf.cardinality() == Cardinality::Required && wf.cardinality() != Cardinality::Required {
            let why =
                "the writer may leave it unset; a proto2 reader rejects a message without a required field".to_string();
            self.field_break(
                path,
                Some(wf),
                Some(rf),
                format!("the reader requires field {}", rf.number()),
                Some(why.clone()),
                Some(why),
            );
        }
        let (wk, rk) = (wf.kind(), rf.kind());
        // Maps against repeated fields or singular ones.
        if wf.is_map() != rf.is_map() {
            let wire = (!rf.is_list()).then(|| "the reader keeps only the last entry".to_string());
            self.field_break(
                path,
                Some(wf),
                Some(rf),
                what(""),
                wire,
                Some("a map is an object in JSON, a repeated field an array".into()),
            );
            return;
        }
        if wf.is_list() != rf.is_list() {
            let wire = if wf.is_list() {
                if wf.is_packed() {
                    Some("the writer packs the values, which a singular reader does not parse".to_string())
                } else {
                    Some("a singular reader keeps only the last element".to_string())
                }
            } else if wire(wf) != wire(rf) {
                Some(format!("{:?} and {:?} are different wire types", wire(wf), wire(rf)))
            } else {
                None
            };
            self.field_break(
                path,
                Some(wf),
                Some(rf),
                what(""),
                wire,
                Some("JSON writes a repeated field as an array, a singular one as a value".into()),
            );
            return;
        }
        if wire(wf) != wire(rf) {
            let wire_why = format!("{:?} and {:?} are different wire types", wire(wf), wire(rf));
            self.field_break(path, Some(wf), Some(rf), what(""), Some(wire_why), json_break(&wk, &rk));
            return;
        }
        let (wire_why, mut json_why) = (wire_break(&wk, &rk), json_break(&wk, &rk));
        if let (Some(a), Some(b)) = (well_known(&wk), well_known(&rk)) {
            if a != b {
                json_why = Some(format!("`{a}` and `{b}` have their own JSON forms"));
            }
        } else if well_known(&wk).is_some() != well_known(&rk).is_some()
            && matches!((&wk, &rk), (Kind::Message(_), Kind::Message(_)))
        {
            json_why = Some("a well-known type (`google.protobuf.*`) has its own JSON form".into());
        }
        if wire_why.is_some() || json_why.is_some() {
            self.field_break(path, Some(wf), Some(rf), what(""), wire_why, json_why);
        }
        match (&wk, &rk) {
            (Kind::Message(wm), Kind::Message(rm)) => {
                let inner = if wf.is_map() {
                    format!("{path}{{}}")
                } else if wf.is_list() {
                    format!("{path}[]")
                } else {
                    path.to_string()
                };
                // A map compares its values; its keys are checked like fields (entry field 1).
                self.message(wm, rm, &inner);
            }
            (Kind::Enum(we), Kind::Enum(re)) => {
                let closed = re.parent_file().syntax() == Syntax::Proto2;
                let mut unknown_numbers = Vec::new();
                let mut unknown_names = Vec::new();
                for value in we.values() {
                    match re.get_value(value.number()) {
                        None => unknown_numbers.push(value.name().to_string()),
                        Some(read) if read.name() != value.name() && re.get_value_by_name(value.name()).is_none() => {
                            unknown_names.push(value.name().to_string())
                        }
                        Some(_) => {}
                    }
                }
                if !unknown_numbers.is_empty() || !unknown_names.is_empty() {
                    let missing: Vec<String> =
                        unknown_numbers.iter().chain(&unknown_names).take(8).map(|n| format!("`{n}`")).collect();
                    let wire = (closed && !unknown_numbers.is_empty())
                        .then(|| "the reader's proto2 enum is closed: it drops numbers it does not define".to_string());
                    self.field_break(
                        path,
                        Some(wf),
                        Some(rf),
                        format!(
                            "the writer's enum `{}` has {} that the reader's `{}` lacks",
                            we.full_name(),
                            missing.join(", "),
                            re.full_name()
                        ),
                        wire,
                        Some("JSON writes enum values by name; the reader rejects names it does not define".into()),
                    );
                }
            }
            _ => {}
        }
    }

    /// Fields the writer may set together that share a oneof in the reader.
    fn oneofs(&mut self, w: &MessageDescriptor, r: &MessageDescriptor, path: &str) {
        for oneof in r.oneofs().filter(|o| !o.is_synthetic()) {
            // The writer's fields among this oneof's, by the writer's oneof (None: on their own).
            let mut seen: Vec<(Option<String>, FieldDescriptor)> = Vec::new();
            for rf in oneof.fields() {
                let Some(wf) = w.get_field(rf.number()) else { continue };
                let group = wf.containing_oneof().filter(|o| !o.is_synthetic()).map(|o| o.full_name().to_string());
                seen.push((group, wf));
            }
            let together =
                seen.len() >= 2 && (seen.iter().any(|(g, _)| g.is_none()) || seen.iter().any(|(g, _)| g != &seen[0].0));
            if together {
                let names: Vec<String> = seen.iter().map(|(_, f)| format!("`{}`", f.name())).collect();
                let why = format!(
                    "the writer may set {} together; the reader's oneof `{}` keeps one of them",
                    names.join(", "),
                    oneof.name()
                );
                let wf = seen[0].1.clone();
                let rf = r.get_field(wf.number());
                self.field_break(
                    path,
                    Some(&wf),
                    rf.as_ref(),
                    format!("fields moved into the oneof `{}`", oneof.name()),
                    Some(why.clone()),
                    Some(why),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(text: &str, name: &str) -> (MessageDescriptor, ProtoSource) {
        let file = protox::file::File::from_source("event.proto", text).unwrap_or_else(|e| panic!("{e}"));
        let mut compiler = protox::Compiler::with_file_resolver(Single(file));
        compiler.include_source_info(true);
        compiler.open_file("event.proto").unwrap_or_else(|e| panic!("{e}"));
        let pool = compiler.descriptor_pool();
        let message = pool.get_message_by_name(name).unwrap_or_else(|| panic!("no {name}"));
        let source =
            ProtoSource { file: FileId(0), name: "event.proto".into(), text: Arc::from(text), ranges: OnceLock::new() };
        (message, source)
    }

    struct Single(protox::file::File);

    impl protox::file::FileResolver for Single {
        fn open_file(&self, name: &str) -> Result<protox::file::File, protox::Error> {
            if name == "event.proto" {
                Ok(self.0.clone())
            } else {
                protox::file::GoogleFileResolver::new().open_file(name)
            }
        }
    }

    fn check(writer: &str, reader: &str) -> Vec<(String, String)> {
        let (wm, ws) = message(writer, "e.M");
        let (rm, rs) = message(reader, "e.M");
        let w = ProtoMessage { message: wm, source: &ws };
        let r = ProtoMessage { message: rm, source: &rs };
        reader_can_read(&w, &r).into_iter().map(|b| (b.path, b.reason)).collect()
    }

    fn proto(body: &str) -> String {
        format!("syntax = \"proto3\";\npackage e;\nmessage M {{\n{body}\n}}\n")
    }

    fn ok(writer: &str, reader: &str) {
        let found = check(&proto(writer), &proto(reader));
        assert!(found.is_empty(), "{writer} → {reader}: {found:#?}");
    }

    fn breaks(writer: &str, reader: &str, path: &str, reason: &[&str]) {
        let found = check(&proto(writer), &proto(reader));
        assert!(
            found.iter().any(|(p, r)| p == path && reason.iter().all(|part| r.contains(part))),
            "{writer} → {reader}: expected `{path}`: {reason:?}, got {found:#?}"
        );
    }

    #[test]
    fn wire_groups_hold_and_json_ranges_decide() {
        ok("int32 a = 1;", "int64 a = 1;");
        breaks("int64 a = 1;", "int32 a = 1;", "a", &["wire: ok", "JSON: breaks", "may not fit"]);
        breaks("int32 a = 1;", "sint32 a = 1;", "a", &["wire: breaks (Varint and Zigzag"]);
        breaks("int32 a = 1;", "fixed32 a = 1;", "a", &["wire: breaks"]);
        ok("float a = 1;", "float a = 1;");
        breaks("float a = 1;", "fixed32 a = 1;", "a", &["wire: ok", "JSON: breaks"]);
        breaks("bool a = 1;", "int32 a = 1;", "a", &["wire: ok", "JSON: breaks"]);
        breaks("string a = 1;", "bytes a = 1;", "a", &["wire: ok", "JSON: breaks (`bytes` are base64"]);
        breaks("string a = 1;", "int64 a = 1;", "a", &["wire: breaks (Len and Varint"]);
    }

    #[test]
    fn renamed_removed_and_repeated_fields() {
        breaks("string a = 1;", "string b = 1;", "b", &["wire: ok", "JSON: breaks", "does not know `a`"]);
        breaks("string a = 1; string b = 2;", "string a = 1;", "b", &["wire: ok", "unknown field `b`"]);
        ok("string a = 1; string b = 2;", "string a = 1; reserved \"b\";");
        ok("string a = 1;", "string a = 1; string b = 2;");
        breaks("repeated int32 a = 1;", "int32 a = 1;", "a", &["wire: breaks (the writer packs", "JSON: breaks"]);
        breaks("repeated string a = 1;", "string a = 1;", "a", &["only the last element"]);
        breaks("string a = 1;", "repeated string a = 1;", "a", &["wire: ok", "JSON: breaks"]);
        breaks("map<string, string> a = 1;", "repeated string a = 1;", "a", &["a map is an object"]);
    }

    #[test]
    fn messages_recurse_and_well_known_types_keep_their_json() {
        let w = "message Item { int64 quantity = 1; } repeated Item items = 1;";
        let r = "message Line { int32 quantity = 1; } repeated Line items = 1;";
        breaks(w, r, "items[].quantity", &["may not fit"]);
        ok(r, w);
        let w = "google.protobuf.Timestamp at = 1;";
        let r = "google.protobuf.Duration at = 1;";
        let import = "import \"google/protobuf/timestamp.proto\";\nimport \"google/protobuf/duration.proto\";\n";
        let text = |body: &str| format!("syntax = \"proto3\";\n{import}package e;\nmessage M {{\n{body}\n}}\n");
        let found = check(&text(w), &text(r));
        assert!(found.iter().any(|(p, r)| p == "at" && r.contains("have their own JSON forms")), "{found:#?}");
    }

    #[test]
    fn enums_json_names_and_oneofs() {
        let e = |values: &str| format!("enum S {{ {values} }} S s = 1;");
        ok(&e("A = 0; B = 1;"), &e("A = 0; B = 1; C = 2;"));
        breaks(&e("A = 0; B = 1;"), &e("A = 0;"), "s", &["`B`", "wire: ok", "JSON: breaks"]);
        breaks(&e("A = 0; B = 1;"), &e("A = 0; BEE = 1;"), "s", &["`B`", "wire: ok"]);
        breaks("string a = 1; string b = 2;", "oneof x { string a = 1; string b = 2; }", "", &["keeps one"]);
        ok("oneof x { string a = 1; string b = 2; }", "string a = 1; string b = 2;");
        ok("string a = 1;", "oneof x { string a = 1; }");
    }

    #[test]
    fn proto2_required_fields() {
        let p2 = |body: &str| format!("syntax = \"proto2\";\npackage e;\nmessage M {{\n{body}\n}}\n");
        let found = check(&p2("optional string a = 1;"), &p2("optional string a = 1; required int32 b = 2;"));
        assert!(found.iter().any(|(p, r)| p == "b" && r.contains("never written")), "{found:#?}");
        let found = check(&p2("optional int32 b = 2;"), &p2("required int32 b = 2;"));
        assert!(found.iter().any(|(p, r)| p == "b" && r.contains("may leave it unset")), "{found:#?}");
        assert!(check(&p2("required int32 b = 2;"), &p2("optional int32 b = 2;")).is_empty());
    }

    #[test]
    fn breaks_point_at_field_names() {
        let (wm, ws) = message(&proto("string a = 1;"), "e.M");
        let (rm, rs) = message(&proto("bytes a = 1;"), "e.M");
        let found =
            reader_can_read(&ProtoMessage { message: wm, source: &ws }, &ProtoMessage { message: rm, source: &rs });
        let reader = found[0].reader.expect("a span");
        assert_eq!(&rs.text[reader.start as usize..reader.end as usize], "a");
    }
}
