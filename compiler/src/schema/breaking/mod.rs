//! Breaking-change detection between two versions of a schema, as
//! `meshc diff OLD NEW` runs it. Rules are data: one table per format
//! ([`PROTOBUF_RULES`], [`openapi::RULES`], [`graphql::RULES`],
//! [`avro::RULES`], [`json_schema::RULES`]; [`rules`] walks them all) holds every rule with its id,
//! how its changes are judged, its purpose and a before/after example
//! (docs/versioning.md is generated from them; tests hold each example
//! against its rule). One module per format compares two loaded versions
//! and reports [`Change`]s.
//!
//! How a change is judged depends on the format ([`Judged`]):
//!
//! - protobuf rules are buf's (`buf breaking`, config v2) and belong to
//!   categories that nest by strictness: FILE (generated code keeps
//!   compiling, per file) ⊃ PACKAGE (per package) ⊃ WIRE_JSON (encoded
//!   messages, binary and JSON, keep reading) ⊃ WIRE (binary only). A rule
//!   belongs to the categories that care about it, exactly as buf assigns
//!   them, so a stricter category is not always a superset rule by rule:
//!   `FIELD_NO_DELETE` is FILE and PACKAGE, while WIRE_JSON checks
//!   `FIELD_NO_DELETE_UNLESS_NAME_RESERVED` instead;
//! - OpenAPI and GraphQL rules have a level: breaking (clients built
//!   against the old version fail) or dangerous (they may behave
//!   differently: a new enum value in a response, a changed default);
//! - Avro and JSON Schema rules name a direction (the new version reads the
//!   old one's data, or the old one reads the new one's), which the
//!   compatibility mode asks for or not, as schema registries judge it.

pub mod affected;
pub mod avro;
pub mod graphql;
pub mod json_schema;
pub mod openapi;
pub mod protobuf;
pub mod spec;

use crate::base::Span;
/// buf's categories protobuf rules are judged by.
pub use crate::model::api_versions::Category;
/// The compatibility modes Avro and JSON Schema rules are judged by.
pub use crate::model::events::Compatibility;

/// The schema format a rule judges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Protobuf,
    OpenApi,
    Graphql,
    Avro,
    JsonSchema,
    /// The spec itself (`mesh.kdl`): routes, auth, policies, topics, ports.
    Spec,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Protobuf => "protobuf",
            Format::OpenApi => "openapi",
            Format::Graphql => "graphql",
            Format::Avro => "avro",
            Format::JsonSchema => "json-schema",
            Format::Spec => "spec",
        }
    }

    /// The language of the format's files, for documentation code blocks.
    pub fn code_language(self) -> &'static str {
        match self {
            Format::Protobuf => "proto",
            Format::OpenApi => "yaml",
            Format::Graphql => "graphql",
            Format::Avro | Format::JsonSchema => "json",
            Format::Spec => "kdl",
        }
    }

    /// The file name of a rule example with no `//- path` line.
    fn example_file(self) -> &'static str {
        match self {
            Format::Protobuf => "demo.proto",
            Format::OpenApi => "openapi.yaml",
            Format::Graphql => "schema.graphql",
            Format::Avro => "event.avsc",
            Format::JsonSchema => "event.schema.json",
            // Spec examples are workspaces: every file is a `//- path` section.
            Format::Spec => "mesh.kdl",
        }
    }
}

/// Whether a change of an OpenAPI, GraphQL or spec rule breaks clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Clients built against the old version fail (an error).
    Breaking,
    /// Clients may behave differently but keep working (a warning).
    Dangerous,
}

/// Which reader an Avro or JSON Schema rule protects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Consumers on the new version read events written with the old one.
    Backward,
    /// Consumers still on the old version read events written with the new one.
    Forward,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Backward => "backward",
            Direction::Forward => "forward",
        }
    }

    /// Whether `mode` asks for this direction.
    pub fn asked_by(self, mode: Compatibility) -> bool {
        match self {
            Direction::Backward => mode.backward(),
            Direction::Forward => mode.forward(),
        }
    }
}

/// How the changes a rule reports are judged.
#[derive(Clone, Copy, Debug)]
pub enum Judged {
    /// protobuf: by the categories the rule belongs to (`--category`).
    Categories(&'static [Category]),
    /// OpenAPI, GraphQL, the spec: whatever the options.
    Level(Level),
    /// Avro, JSON Schema: by the compatibility mode (`--compatibility`).
    Direction(Direction),
}

impl Judged {
    /// For listings: the categories (`FILE,PACKAGE`), the level
    /// (`breaking`, `dangerous`) or the direction (`backward`, `forward`).
    pub fn describe(&self) -> String {
        match self {
            Judged::Categories(categories) => categories.iter().map(|c| c.id()).collect::<Vec<_>>().join(","),
            Judged::Level(Level::Breaking) => "breaking".to_string(),
            Judged::Level(Level::Dangerous) => "dangerous".to_string(),
            Judged::Direction(direction) => direction.as_str().to_string(),
        }
    }
}

/// What `meshc diff` is asked to protect.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// protobuf: the category whose rules are errors.
    pub category: Category,
    /// Avro and JSON Schema: the mode whose directions are errors.
    pub compatibility: Compatibility,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy { category: Category::WireJson, compatibility: Compatibility::Backward }
    }
}

/// What a change of a rule is under a [`Policy`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It breaks what the policy protects: an error.
    Breaking,
    /// It breaks only something stricter (a stricter protobuf category, a
    /// direction the compatibility mode does not ask for), or it is a
    /// dangerous change: a warning.
    Warning,
    /// Nothing the policy or a stricter one cares about.
    Ignored,
}

/// One breaking-change rule.
#[derive(Debug)]
pub struct Rule {
    /// Stable id; for protobuf, buf's (`FIELD_NO_DELETE`).
    pub id: &'static str,
    pub format: Format,
    pub judged: Judged,
    pub purpose: &'static str,
    /// A change the rule reports: the old and the new files, one file
    /// (named by [`Format`]: `demo.proto`, `openapi.yaml`, ...) or several
    /// as `//- path` sections.
    pub before: &'static str,
    pub after: &'static str,
}

impl Rule {
    /// The protobuf categories the rule belongs to; empty for other formats.
    pub fn categories(&self) -> &'static [Category] {
        match self.judged {
            Judged::Categories(categories) => categories,
            Judged::Level(_) | Judged::Direction(_) => &[],
        }
    }

    pub fn in_category(&self, category: Category) -> bool {
        self.categories().contains(&category)
    }

    /// Whether the rule is not in `category` but in a stricter one: a
    /// change it reports breaks stricter users than `category` protects.
    pub fn only_stricter_than(&self, category: Category) -> bool {
        !self.in_category(category) && self.categories().iter().any(|c| c.stricter_than(category))
    }

    /// What a change this rule reports is under `policy`.
    pub fn verdict(&self, policy: &Policy) -> Verdict {
        match self.judged {
            Judged::Categories(_) if self.in_category(policy.category) => Verdict::Breaking,
            Judged::Categories(_) if self.only_stricter_than(policy.category) => Verdict::Warning,
            Judged::Categories(_) => Verdict::Ignored,
            Judged::Level(Level::Breaking) => Verdict::Breaking,
            Judged::Level(Level::Dangerous) => Verdict::Warning,
            Judged::Direction(d) if d.asked_by(policy.compatibility) => Verdict::Breaking,
            Judged::Direction(_) => Verdict::Warning,
        }
    }

    /// The rule with this id, of any format.
    pub fn get(id: &str) -> Option<&'static Rule> {
        rules().find(|r| r.id == id)
    }
}

/// Every rule of every format: protobuf, OpenAPI, GraphQL, Avro, JSON
/// Schema, then the spec's own.
pub fn rules() -> impl Iterator<Item = &'static Rule> {
    [PROTOBUF_RULES, openapi::RULES, graphql::RULES, &avro::RULES[..], &json_schema::RULES[..], spec::RULES]
        .into_iter()
        .flatten()
}

/// One change between two versions that a rule reports.
#[derive(Clone, Debug)]
pub struct Change {
    pub rule: &'static Rule,
    /// Where the change is in the new version; `None` when the element is
    /// gone with nothing left to point at (a deleted file or package).
    pub new: Option<Span>,
    /// Where the changed element was in the old version.
    pub old: Option<Span>,
    /// One line: what changed.
    pub reason: String,
}

/// The changes of an event schema's new version (Avro, JSON Schema), from
/// what the compatibility checks (`schema::compat`) find in each direction:
/// `backward` are the breaks of the new version reading the old one's
/// events, `forward` of the old version reading the new one's.
pub(crate) fn direction_changes(
    rules: &'static [Rule; 2],
    backward: Vec<crate::schema::compat::Break>,
    forward: Vec<crate::schema::compat::Break>,
) -> Vec<Change> {
    let [backward_rule, forward_rule] = rules;
    let mut out = Vec::with_capacity(backward.len() + forward.len());
    for b in backward {
        // The new version reads: it is the reader.
        let reason = format!("the new version cannot read the old one's events {}: {}", b.location(), b.reason);
        out.push(Change { rule: backward_rule, new: b.reader, old: b.writer, reason });
    }
    for b in forward {
        let reason = format!("the old version cannot read the new one's events {}: {}", b.location(), b.reason);
        out.push(Change { rule: forward_rule, new: b.writer, old: b.reader, reason });
    }
    sort_changes(&mut out);
    out
}

/// Sorts changes by place, rule and reason, and drops repeats: the order
/// every comparator returns.
pub(crate) fn sort_changes(changes: &mut Vec<Change>) {
    changes.sort_by(|a, b| (a.new, a.old, a.rule.id, &a.reason).cmp(&(b.new, b.old, b.rule.id, &b.reason)));
    changes.dedup_by(|a, b| (a.new, a.old, a.rule.id, &a.reason) == (b.new, b.old, b.rule.id, &b.reason));
}

use Category::{File as F, Package as P, Wire as W, WireJson as WJ};

const FP: &[Category] = &[F, P];
const FPWJ: &[Category] = &[F, P, WJ];
const FPWJW: &[Category] = &[F, P, WJ, W];

macro_rules! proto_rules {
    ($($id:literal, $cats:expr, $purpose:literal, $before:expr, $after:expr;)*) => {
        /// Every protobuf rule, in the order buf lists them (`buf config ls-breaking-rules`).
        pub static PROTOBUF_RULES: &[Rule] = &[
            $(Rule { id: $id, format: Format::Protobuf, judged: Judged::Categories($cats), purpose: $purpose, before: $before, after: $after }),*
        ];
    };
}

proto_rules! {
    "EXTENSION_NO_DELETE", &[F], "Checks that extensions are not deleted from a given file.",
        "syntax = \"proto2\";\npackage demo;\nmessage M { extensions 10 to 20; }\nextend M { optional int32 note = 10; }\n",
        "syntax = \"proto2\";\npackage demo;\nmessage M { extensions 10 to 20; }\n";
    "SERVICE_NO_DELETE", &[F], "Checks that services are not deleted from a given file.",
        "syntax = \"proto3\";\npackage demo;\nmessage M {}\nservice S { rpc Get(M) returns (M); }\n",
        "syntax = \"proto3\";\npackage demo;\nmessage M {}\n";
    "ENUM_NO_DELETE", &[F], "Checks that enums are not deleted from a given file.",
        "syntax = \"proto3\";\npackage demo;\nenum E { E_UNSPECIFIED = 0; }\n",
        "syntax = \"proto3\";\npackage demo;\n";
    "FILE_NO_DELETE", &[F], "Checks that files are not deleted.",
        "//- a.proto\nsyntax = \"proto3\";\npackage demo;\nmessage A {}\n//- b.proto\nsyntax = \"proto3\";\npackage demo;\nmessage B {}\n",
        "//- a.proto\nsyntax = \"proto3\";\npackage demo;\nmessage A {}\nmessage B {}\n";
    "MESSAGE_NO_DELETE", &[F], "Checks that messages are not deleted from a given file.",
        "syntax = \"proto3\";\npackage demo;\nmessage M {}\nmessage N {}\n",
        "syntax = \"proto3\";\npackage demo;\nmessage M {}\n";
    "ENUM_SAME_TYPE", FP, "Checks that enums have the same type (open vs closed).",
        "syntax = \"proto3\";\npackage demo;\nenum E { E_UNSPECIFIED = 0; }\n",
        "syntax = \"proto2\";\npackage demo;\nenum E { E_UNSPECIFIED = 0; }\n";
    "FIELD_SAME_CARDINALITY", FP, "Checks that fields have the same cardinalities in a given message.",
        "syntax = \"proto3\";\npackage demo;\nmessage M { int32 a = 1; }\n",
        "syntax = \"proto3\";\npackage demo;\nmessage M { optional int32 a = 1; }\n";
    "FIELD_SAME_CPP_STRING_TYPE", FP, "Checks that fields have the same C++ string type, based on ctype field option or (pb.cpp).string_type feature.",
        "syntax = \"proto2\";\npackage demo;\nmessage M { optional string a = 1; }\n",
        "syntax = \"proto2\";\npackage demo;\nmessage M { optional string a = 1 [ctype = CORD]; }\n";
    "FIELD_SAME_JAVA_UTF8_VALIDATION", FP, "Checks that fields have the same Java string UTF8 validation, based on java_string_check_utf8 file option or (pb.java).utf8_validation feature.",
        "syntax = \"proto2\";\npackage demo;\nmessage M { optional string a = 1; }\n",
        "syntax = \"proto2\";\npackage demo;\noption java_string_check_utf8 = true;\nmessage M { optional string a = 1; }\n";
    "FIELD_SAME_JSTYPE", FP, "Checks that fields have the same value for the jstype option.",
        "syntax = \"proto3\";\npackage demo;\nmessage M { int64 a = 1; }\n",
        "syntax = \"proto3\";\npackage demo;\nmessage M { int64 a = 1 [jstype = JS_STRING]; }\n";
    "FIELD_SAME_UTF8_VALIDATION", FP, "Checks that string fields have the same UTF8 validation mode.",
        "syntax = \"proto3\";\npackage demo;\nmessage M { optional string a = 1; }\n",
        "syntax = \"proto2\";\npackage demo;\nmessage M { optional string a = 1; }\n";
    "FILE_SAME_CC_ENABLE_ARENAS", FP, "Checks that files have the same value for the cc_enable_arenas option.",
        "syntax = \"proto3\";\npackage demo;\n",
        "syntax = \"proto3\";\npackage demo;\noption cc_enable_arenas = false;\n";
    "FILE_SAME_CC_GENERIC_SERVICES", FP, "Checks that files have the same value for the cc_generic_services option.",
        "syntax = \"proto2\";\npackage demo;\n",
        "syntax = \"proto2\";\npackage demo;\noption cc_generic_services = true;\n";
    "FILE_SAME_CSHARP_NAMESPACE", FP, "Checks that files have the same value for the csharp_namespace option.",
        "syntax = \"proto3\";\npackage demo;\n",
        "syntax = \"proto3\";\npackage demo;\noption csharp_namespace = \"Demo.V1\";\n";
    "FILE_SAME_GO_PACKAGE", FP, "Checks that files have the same value for the go_package option.",
        "syntax = \"proto3\";\npackage demo;\noption go_package = \"example.com/demo\";\n",
        "syntax = \"proto3\";\npackage demo;\noption go_package = \"example.com/demo/v1\";\n";
    "FILE_SAME_JAVA_GENERIC_SERVICES", FP, "Checks that files have the same value for the java_generic_services option.",
        "syntax = \"proto2\";\npackage demo;\n",
        "syntax = \"proto2\";\npackage demo;\noption java_generic_services = true;\n";
    "FILE_SAME_JAVA_MULTIPLE_FILES", FP, "Checks that files have the same value for the java_multiple_files option.",
        "syntax = \"proto3\";\npackage demo;\n",
        "syntax = \"proto3\";\npackage demo;\noption java_multiple_files = true;\n";
    "FILE_SAME_JAVA_OUTER_CLASSNAME", FP, "Checks that files have the same value for the java_outer_classname option.",
        "syntax = \"proto3\";\npackage demo;\n",
        "syntax = \"proto3\";\npackage demo;\noption java_outer_classname = \"DemoProto\";\n";
    "FILE_SAME_JAVA_PACKAGE", FP, "Checks that files have the same value for the java_package option.",
        "syntax = \"proto3\";\npackage demo;\noption java_package = \"com.example.demo\";\n",
        "syntax = \"proto3\";\npackage demo;\noption java_package = \"com.example.demo.v1\";\n";
    "FILE_SAME_OBJC_CLASS_PREFIX", FP, "Checks that files have the same value for the objc_class_prefix option.",
        "syntax = \"proto3\";\npackage demo;\n",
        "syntax = \"proto3\";\npackage demo;\noption objc_class_prefix = \"DMO\";\n";
    "FILE_SAME_OPTIMIZE_FOR", FP, "Checks that files have the same value for the optimize_for option.",
        "syntax = \"proto3\";\npackage demo;\n",
        "syntax = \"proto3\";\npackage demo;\noption optimize_for = CODE_SIZE;\n";
    "FILE_SAME_PHP_CLASS_PREFIX", FP, "Checks that files have the same value for the php_class_prefix option.",
        "syntax = \"proto3\";\npackage demo;\n",
        "syntax = \"proto3\";\npackage demo;\noption php_class_prefix = \"Dmo\";\n";
    "FILE_SAME_PHP_METADATA_NAMESPACE", FP, "Checks that files have the same value for the php_metadata_namespace option.",
        "syntax = \"proto3\";\npackage demo;\n",
        "syntax = \"proto3\";\npackage demo;\noption php_metadata_namespace = \"Demo\\\\Meta\";\n";
    "FILE_SAME_PHP_NAMESPACE", FP, "Checks that files have the same value for the php_namespace option.",
        "syntax = \"proto3\";\npackage demo;\n",
        "syntax = \"proto3\";\npackage demo;\noption php_namespace = \"Demo\\\\V1\";\n";
    "FILE_SAME_PY_GENERIC_SERVICES", FP, "Checks that files have the same value for the py_generic_services option.",
        "syntax = \"proto2\";\npackage demo;\n",
        "syntax = \"proto2\";\npackage demo;\noption py_generic_services = true;\n";
    "FILE_SAME_RUBY_PACKAGE", FP, "Checks that files have the same value for the ruby_package option.",
        "syntax = \"proto3\";\npackage demo;\n",
        "syntax = \"proto3\";\npackage demo;\noption ruby_package = \"Demo::V1\";\n";
    "FILE_SAME_SWIFT_PREFIX", FP, "Checks that files have the same value for the swift_prefix option.",
        "syntax = \"proto3\";\npackage demo;\n",
        "syntax = \"proto3\";\npackage demo;\noption swift_prefix = \"DM\";\n";
    "RPC_NO_DELETE", FP, "Checks that rpcs are not deleted from a given service.",
        "syntax = \"proto3\";\npackage demo;\nmessage M {}\nservice S {\n  rpc Get(M) returns (M);\n  rpc List(M) returns (M);\n}\n",
        "syntax = \"proto3\";\npackage demo;\nmessage M {}\nservice S {\n  rpc Get(M) returns (M);\n}\n";
    "ENUM_VALUE_NO_DELETE", FP, "Checks that enum values are not deleted from a given enum.",
        "syntax = \"proto3\";\npackage demo;\nenum E {\n  E_UNSPECIFIED = 0;\n  E_ON = 1;\n}\n",
        "syntax = \"proto3\";\npackage demo;\nenum E {\n  E_UNSPECIFIED = 0;\n}\n";
    "EXTENSION_MESSAGE_NO_DELETE", FP, "Checks that extension ranges are not deleted from a given message.",
        "syntax = \"proto2\";\npackage demo;\nmessage M { extensions 100 to 200; }\n",
        "syntax = \"proto2\";\npackage demo;\nmessage M { extensions 100 to 150; }\n";
    "FIELD_NO_DELETE", FP, "Checks that fields are not deleted from a given message.",
        "syntax = \"proto3\";\npackage demo;\nmessage M {\n  string id = 1;\n  int64 total = 2;\n}\n",
        "syntax = \"proto3\";\npackage demo;\nmessage M {\n  string id = 1;\n  reserved 2;\n  reserved \"total\";\n}\n";
    "FIELD_SAME_TYPE", FP, "Checks that fields have the same types in a given message.",
        "syntax = \"proto3\";\npackage demo;\nmessage M { int32 a = 1; }\n",
        "syntax = \"proto3\";\npackage demo;\nmessage M { uint32 a = 1; }\n";
    "FILE_SAME_SYNTAX", FP, "Checks that files have the same syntax.",
        "syntax = \"proto2\";\npackage demo;\n",
        "syntax = \"proto3\";\npackage demo;\n";
    "MESSAGE_NO_REMOVE_STANDARD_DESCRIPTOR_ACCESSOR", FP, "Checks that messages do not change the no_standard_descriptor_accessor option from false or unset to true.",
        "syntax = \"proto3\";\npackage demo;\nmessage M {}\n",
        "syntax = \"proto3\";\npackage demo;\nmessage M { option no_standard_descriptor_accessor = true; }\n";
    "ONEOF_NO_DELETE", FP, "Checks that oneofs are not deleted from a given message.",
        "syntax = \"proto3\";\npackage demo;\nmessage M {\n  oneof choice { int32 a = 1; }\n}\n",
        "syntax = \"proto3\";\npackage demo;\nmessage M {}\n";
    "ENUM_SAME_JSON_FORMAT", FPWJ, "Checks that enums have the same JSON format support.",
        "syntax = \"proto3\";\npackage demo;\nenum E { E_UNSPECIFIED = 0; }\n",
        "syntax = \"proto2\";\npackage demo;\nenum E { E_UNSPECIFIED = 0; }\n";
    "ENUM_VALUE_SAME_NAME", FPWJ, "Checks that enum values have the same name.",
        "syntax = \"proto3\";\npackage demo;\nenum E {\n  E_UNSPECIFIED = 0;\n  E_ON = 1;\n}\n",
        "syntax = \"proto3\";\npackage demo;\nenum E {\n  E_UNSPECIFIED = 0;\n  E_ENABLED = 1;\n}\n";
    "FIELD_SAME_JSON_NAME", FPWJ, "Checks that fields have the same value for the json_name option.",
        "syntax = \"proto3\";\npackage demo;\nmessage M { string order_id = 1; }\n",
        "syntax = \"proto3\";\npackage demo;\nmessage M { string order_id = 1 [json_name = \"id\"]; }\n";
    "FIELD_SAME_NAME", FPWJ, "Checks that fields have the same names in a given message.",
        "syntax = \"proto3\";\npackage demo;\nmessage M { string id = 1; }\n",
        "syntax = \"proto3\";\npackage demo;\nmessage M { string key = 1; }\n";
    "MESSAGE_SAME_JSON_FORMAT", FPWJ, "Checks that messages have the same JSON format support.",
        "syntax = \"proto3\";\npackage demo;\nmessage M {}\n",
        "syntax = \"proto2\";\npackage demo;\nmessage M {}\n";
    "FIELD_SAME_DEFAULT", FPWJW, "Checks that fields have the same default value, if a default is specified.",
        "syntax = \"proto2\";\npackage demo;\nmessage M { optional int32 limit = 1 [default = 10]; }\n",
        "syntax = \"proto2\";\npackage demo;\nmessage M { optional int32 limit = 1 [default = 20]; }\n";
    "FIELD_SAME_ONEOF", FPWJW, "Checks that fields have the same oneofs in a given message.",
        "syntax = \"proto3\";\npackage demo;\nmessage M {\n  oneof choice {\n    int32 a = 1;\n    int32 b = 2;\n  }\n}\n",
        "syntax = \"proto3\";\npackage demo;\nmessage M {\n  oneof choice { int32 a = 1; }\n  int32 b = 2;\n}\n";
    "FILE_SAME_PACKAGE", FPWJW, "Checks that files have the same package.",
        "syntax = \"proto3\";\npackage demo.v1;\nmessage M {}\n",
        "syntax = \"proto3\";\npackage demo.v2;\nmessage M {}\n";
    "MESSAGE_SAME_REQUIRED_FIELDS", FPWJW, "Checks that messages have no added or deleted required fields.",
        "syntax = \"proto2\";\npackage demo;\nmessage M { optional string id = 1; }\n",
        "syntax = \"proto2\";\npackage demo;\nmessage M { required string id = 1; }\n";
    "RESERVED_ENUM_NO_DELETE", FPWJW, "Checks that reserved ranges and names are not deleted from a given enum.",
        "syntax = \"proto3\";\npackage demo;\nenum E {\n  E_UNSPECIFIED = 0;\n  reserved 5 to 9;\n}\n",
        "syntax = \"proto3\";\npackage demo;\nenum E {\n  E_UNSPECIFIED = 0;\n  reserved 5 to 7;\n}\n";
    "RESERVED_MESSAGE_NO_DELETE", FPWJW, "Checks that reserved ranges and names are not deleted from a given message.",
        "syntax = \"proto3\";\npackage demo;\nmessage M {\n  reserved 2;\n  reserved \"total\";\n}\n",
        "syntax = \"proto3\";\npackage demo;\nmessage M {\n  reserved 2;\n}\n";
    "RPC_SAME_CLIENT_STREAMING", FPWJW, "Checks that rpcs have the same client streaming value.",
        "syntax = \"proto3\";\npackage demo;\nmessage M {}\nservice S { rpc Put(M) returns (M); }\n",
        "syntax = \"proto3\";\npackage demo;\nmessage M {}\nservice S { rpc Put(stream M) returns (M); }\n";
    "RPC_SAME_IDEMPOTENCY_LEVEL", FPWJW, "Checks that rpcs have the same value for the idempotency_level option.",
        "syntax = \"proto3\";\npackage demo;\nmessage M {}\nservice S { rpc Get(M) returns (M); }\n",
        "syntax = \"proto3\";\npackage demo;\nmessage M {}\nservice S {\n  rpc Get(M) returns (M) { option idempotency_level = NO_SIDE_EFFECTS; }\n}\n";
    "RPC_SAME_REQUEST_TYPE", FPWJW, "Checks that rpcs are have the same request type.",
        "syntax = \"proto3\";\npackage demo;\nmessage M {}\nmessage N {}\nservice S { rpc Get(M) returns (M); }\n",
        "syntax = \"proto3\";\npackage demo;\nmessage M {}\nmessage N {}\nservice S { rpc Get(N) returns (M); }\n";
    "RPC_SAME_RESPONSE_TYPE", FPWJW, "Checks that rpcs are have the same response type.",
        "syntax = \"proto3\";\npackage demo;\nmessage M {}\nmessage N {}\nservice S { rpc Get(M) returns (M); }\n",
        "syntax = \"proto3\";\npackage demo;\nmessage M {}\nmessage N {}\nservice S { rpc Get(M) returns (N); }\n";
    "RPC_SAME_SERVER_STREAMING", FPWJW, "Checks that rpcs have the same server streaming value.",
        "syntax = \"proto3\";\npackage demo;\nmessage M {}\nservice S { rpc Watch(M) returns (M); }\n",
        "syntax = \"proto3\";\npackage demo;\nmessage M {}\nservice S { rpc Watch(M) returns (stream M); }\n";
    "PACKAGE_ENUM_NO_DELETE", &[P], "Checks that enums are not deleted from a given package.",
        "//- a.proto\nsyntax = \"proto3\";\npackage demo;\nenum E { E_UNSPECIFIED = 0; }\n//- b.proto\nsyntax = \"proto3\";\npackage demo;\nenum K { K_UNSPECIFIED = 0; }\n",
        "//- a.proto\nsyntax = \"proto3\";\npackage demo;\n//- b.proto\nsyntax = \"proto3\";\npackage demo;\nenum K { K_UNSPECIFIED = 0; }\n";
    "PACKAGE_EXTENSION_NO_DELETE", &[P], "Checks that extensions are not deleted from a given package.",
        "syntax = \"proto2\";\npackage demo;\nmessage M { extensions 10 to 20; }\nextend M {\n  optional int32 note = 10;\n  optional int32 tag = 11;\n}\n",
        "syntax = \"proto2\";\npackage demo;\nmessage M { extensions 10 to 20; }\nextend M {\n  optional int32 tag = 11;\n}\n";
    "PACKAGE_MESSAGE_NO_DELETE", &[P], "Checks that messages are not deleted from a given package.",
        "//- a.proto\nsyntax = \"proto3\";\npackage demo;\nmessage M {}\n//- b.proto\nsyntax = \"proto3\";\npackage demo;\nmessage N {}\n",
        "//- a.proto\nsyntax = \"proto3\";\npackage demo;\n//- b.proto\nsyntax = \"proto3\";\npackage demo;\nmessage N {}\n";
    "PACKAGE_NO_DELETE", &[P], "Checks that packages are not deleted.",
        "syntax = \"proto3\";\npackage demo.v1;\nmessage M {}\n",
        "syntax = \"proto3\";\npackage demo.v2;\nmessage M {}\n";
    "PACKAGE_SERVICE_NO_DELETE", &[P], "Checks that services are not deleted from a given package.",
        "syntax = \"proto3\";\npackage demo;\nmessage M {}\nservice S { rpc Get(M) returns (M); }\n",
        "syntax = \"proto3\";\npackage demo;\nmessage M {}\n";
    "ENUM_VALUE_NO_DELETE_UNLESS_NAME_RESERVED", &[WJ], "Checks that enum values are not deleted from a given enum unless the name is reserved.",
        "syntax = \"proto3\";\npackage demo;\nenum E {\n  E_UNSPECIFIED = 0;\n  E_ON = 1;\n}\n",
        "syntax = \"proto3\";\npackage demo;\nenum E {\n  E_UNSPECIFIED = 0;\n  reserved 1;\n}\n";
    "FIELD_NO_DELETE_UNLESS_NAME_RESERVED", &[WJ], "Checks that fields are not deleted from a given message unless the name is reserved.",
        "syntax = \"proto3\";\npackage demo;\nmessage M {\n  string id = 1;\n  int64 total = 2;\n}\n",
        "syntax = \"proto3\";\npackage demo;\nmessage M {\n  string id = 1;\n  reserved 2;\n}\n";
    "FIELD_WIRE_JSON_COMPATIBLE_CARDINALITY", &[WJ], "Checks that fields have wire and JSON compatible cardinalities in a given message.",
        "syntax = \"proto3\";\npackage demo;\nmessage M { repeated int32 a = 1; }\n",
        "syntax = \"proto3\";\npackage demo;\nmessage M { int32 a = 1; }\n";
    "FIELD_WIRE_JSON_COMPATIBLE_TYPE", &[WJ], "Checks that fields have wire and JSON compatible types in a given message.",
        "syntax = \"proto3\";\npackage demo;\nmessage M { int32 a = 1; }\n",
        "syntax = \"proto3\";\npackage demo;\nmessage M { int64 a = 1; }\n";
    "ENUM_VALUE_NO_DELETE_UNLESS_NUMBER_RESERVED", &[WJ, W], "Checks that enum values are not deleted from a given enum unless the number is reserved.",
        "syntax = \"proto3\";\npackage demo;\nenum E {\n  E_UNSPECIFIED = 0;\n  E_ON = 1;\n}\n",
        "syntax = \"proto3\";\npackage demo;\nenum E {\n  E_UNSPECIFIED = 0;\n  reserved \"E_ON\";\n}\n";
    "FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED", &[WJ, W], "Checks that fields are not deleted from a given message unless the number is reserved.",
        "syntax = \"proto3\";\npackage demo;\nmessage M {\n  string id = 1;\n  int64 total = 2;\n}\n",
        "syntax = \"proto3\";\npackage demo;\nmessage M {\n  string id = 1;\n  reserved \"total\";\n}\n";
    "FIELD_WIRE_COMPATIBLE_CARDINALITY", &[W], "Checks that fields have wire-compatible cardinalities in a given message.",
        "syntax = \"proto3\";\npackage demo;\nmessage M { repeated int32 a = 1; }\n",
        "syntax = \"proto3\";\npackage demo;\nmessage M { int32 a = 1; }\n";
    "FIELD_WIRE_COMPATIBLE_TYPE", &[W], "Checks that fields have wire-compatible types in a given message.",
        "syntax = \"proto3\";\npackage demo;\nmessage M { int32 a = 1; }\n",
        "syntax = \"proto3\";\npackage demo;\nmessage M { fixed32 a = 1; }\n";
}

/// The files of a protobuf rule example: `(path, text)`; a text with no
/// `//- path` line is one file, `demo.proto`.
pub fn example_files(example: &str) -> Vec<(String, String)> {
    example_files_of(Format::Protobuf, example)
}

/// The files of a rule example of `format`: `(path, text)`; a text with no
/// `//- path` line is one file named by the format (`openapi.yaml`, ...).
pub fn example_files_of(format: Format, example: &str) -> Vec<(String, String)> {
    if !example.starts_with("//- ") {
        return vec![(format.example_file().to_string(), example.to_string())];
    }
    let mut files: Vec<(String, String)> = Vec::new();
    for line in example.split_inclusive('\n') {
        match line.strip_prefix("//- ") {
            Some(path) => files.push((path.trim().to_string(), String::new())),
            None => {
                if let Some((_, text)) = files.last_mut() {
                    text.push_str(line);
                }
            }
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn rule_ids_are_unique_and_each_has_a_category() {
        let mut seen = HashSet::new();
        for rule in rules() {
            assert!(seen.insert(rule.id), "{} is listed twice", rule.id);
            let protobuf = rule.format == Format::Protobuf;
            assert_eq!(protobuf, !rule.categories().is_empty(), "{}: categories are protobuf's only", rule.id);
        }
    }

    #[test]
    fn only_stricter_than_names_rules_outside_a_category_but_in_a_stricter_one() {
        let field_no_delete = Rule::get("FIELD_NO_DELETE").unwrap();
        assert!(field_no_delete.only_stricter_than(Category::WireJson));
        assert!(!field_no_delete.only_stricter_than(Category::File));
        let unless_number = Rule::get("FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED").unwrap();
        assert!(!unless_number.only_stricter_than(Category::WireJson));
        assert!(!unless_number.only_stricter_than(Category::File), "FILE is the strictest");
    }

    #[test]
    fn verdicts_follow_the_policy_of_each_format() {
        let policy = Policy::default();
        assert_eq!(Rule::get("FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED").unwrap().verdict(&policy), Verdict::Breaking);
        assert_eq!(Rule::get("FIELD_NO_DELETE").unwrap().verdict(&policy), Verdict::Warning);
        let wire = Policy { category: Category::Wire, ..policy };
        assert_eq!(Rule::get("FIELD_SAME_JSON_NAME").unwrap().verdict(&wire), Verdict::Warning);
        assert_eq!(
            Rule::get("FILE_SAME_GO_PACKAGE").unwrap().verdict(&Policy { category: Category::File, ..policy }),
            Verdict::Breaking
        );
        assert_eq!(Rule::get("OPENAPI_OPERATION_NO_DELETE").unwrap().verdict(&policy), Verdict::Breaking);
        assert_eq!(Rule::get("OPENAPI_RESPONSE_ENUM_VALUE_NO_ADD").unwrap().verdict(&policy), Verdict::Warning);
        let forward = Rule::get("AVRO_FORWARD").unwrap();
        assert_eq!(forward.verdict(&policy), Verdict::Warning);
        let full = Policy { compatibility: Compatibility::Full, ..policy };
        assert_eq!(forward.verdict(&full), Verdict::Breaking);
    }

    #[test]
    fn example_files_split_sections_and_default_to_demo_proto() {
        assert_eq!(
            example_files("syntax = \"proto3\";\n"),
            [("demo.proto".to_string(), "syntax = \"proto3\";\n".to_string())]
        );
        let files = example_files("//- a.proto\nA\n//- b/c.proto\nC\n");
        assert_eq!(files, [("a.proto".to_string(), "A\n".to_string()), ("b/c.proto".to_string(), "C\n".to_string())]);
    }
}
