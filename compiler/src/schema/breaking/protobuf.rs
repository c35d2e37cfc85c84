//! buf's breaking-change rules over two modules of `.proto` files.
//!
//! Elements pair up as buf pairs them: files by path; messages, enums and
//! services by full name (wherever they live); fields by number within a
//! message, extensions by (extendee, number); enum values by number; RPCs by
//! name within a service. Each rule then compares a pair, or reports the old
//! element missing from the new module (per file for FILE rules, per
//! package for PACKAGE rules).
//!
//! Wire and JSON compatibility follow buf's groups, which are stricter than
//! what a decoder tolerates (`compat::protobuf` judges event schemas by
//! what a reader really decodes: there `int32` → `enum` keeps the wire; buf
//! reports it): a diff agrees with `buf breaking`, the tool users run in CI.
//!
//! Editions: protox 0.10 parses `proto2` and `proto3` files only, so
//! features (closed enums, JSON format, UTF-8 validation, presence) are
//! the defaults each syntax implies.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use prost_reflect::prost_types::{field_options, FieldOptions, FileOptions, MethodOptions};
use prost_reflect::{
    EnumDescriptor, ExtensionDescriptor, FieldDescriptor, FileDescriptor, Kind, MessageDescriptor, ServiceDescriptor,
    Syntax, Value,
};

use super::{Change, Rule};
use crate::base::Span;
use crate::schema::proto_module::{ModuleFile, ProtoModule};

/// Most changes reported for one pair of modules.
pub const MAX_CHANGES: usize = 10_000;

/// Every change from `old` to `new` that some rule reports, in every
/// category; callers keep the categories they check.
pub fn compare(old: &ProtoModule, new: &ProtoModule) -> Vec<Change> {
    let pair_single = old.single_file && new.single_file;
    let old = Side::new(old, pair_single.then(|| new.files.first().map(|f| f.name.clone())).flatten());
    let new = Side::new(new, None);
    let mut diff = Diff { old: &old, new: &new, out: Vec::new() };
    diff.files();
    diff.packages();
    diff.messages();
    diff.fields();
    diff.enums();
    diff.services();
    diff.out.sort_by(|a, b| (a.new, a.old, a.rule.id, &a.reason).cmp(&(b.new, b.old, b.rule.id, &b.reason)));
    diff.out
}

/// One version's elements, indexed as buf pairs them.
struct Side<'m> {
    /// Pairing key (the path in the module) → file.
    files: BTreeMap<String, (FileDescriptor, &'m ModuleFile)>,
    /// Pool file name → module file, for spans.
    by_name: HashMap<String, &'m ModuleFile>,
    messages: BTreeMap<String, MessageDescriptor>,
    enums: BTreeMap<String, EnumDescriptor>,
    services: BTreeMap<String, ServiceDescriptor>,
    extensions: BTreeMap<(String, u32), ExtensionDescriptor>,
}

impl<'m> Side<'m> {
    /// `key` renames the only file (two single files pair whatever their names).
    fn new(module: &'m ProtoModule, key: Option<String>) -> Side<'m> {
        let mut side = Side {
            files: BTreeMap::new(),
            by_name: HashMap::new(),
            messages: BTreeMap::new(),
            enums: BTreeMap::new(),
            services: BTreeMap::new(),
            extensions: BTreeMap::new(),
        };
        for file in &module.files {
            let Some(descriptor) = module.descriptor(file) else { continue };
            side.by_name.insert(file.name.clone(), file);
            let mut messages: Vec<MessageDescriptor> = descriptor.messages().collect();
            side.enums.extend(descriptor.enums().map(|e| (e.full_name().to_string(), e)));
            side.extensions.extend(descriptor.extensions().map(|e| ((extendee(&e), e.number()), e)));
            while let Some(message) = messages.pop() {
                messages.extend(message.child_messages());
                side.enums.extend(message.child_enums().map(|e| (e.full_name().to_string(), e)));
                side.extensions.extend(message.child_extensions().map(|e| ((extendee(&e), e.number()), e)));
                side.messages.insert(message.full_name().to_string(), message);
            }
            side.services.extend(descriptor.services().map(|s| (s.full_name().to_string(), s)));
            let name = key.clone().unwrap_or_else(|| file.name.clone());
            side.files.insert(name, (descriptor, file));
        }
        side
    }

    /// The span of the element at `path` in the pool file `file`.
    fn span(&self, file: &FileDescriptor, path: &[i32]) -> Option<Span> {
        self.by_name.get(file.name()).and_then(|f| f.span(path))
    }

    /// The span of a sub-element (`field` of the element's descriptor
    /// proto), else of the whole element.
    /// Elements protoc synthesizes (map entries and their fields) have no
    /// span: they point at the nearest enclosing element that has one.
    fn span_of(&self, file: &FileDescriptor, path: &[i32], field: &[i32]) -> Option<Span> {
        let mut sub = path.to_vec();
        sub.extend_from_slice(field);
        if let Some(span) = self.span(file, &sub) {
            return Some(span);
        }
        let mut path = path;
        while !path.is_empty() {
            if let Some(span) = self.span(file, path) {
                return Some(span);
            }
            path = &path[..path.len().saturating_sub(2)];
        }
        self.file_start(file)
    }

    /// The start of a pool file, for changes of a file as a whole.
    fn file_start(&self, file: &FileDescriptor) -> Option<Span> {
        self.by_name.get(file.name()).map(|f| f.start())
    }

    fn message_span(&self, message: &MessageDescriptor) -> Option<Span> {
        self.span_of(&message.parent_file(), message.path(), &[NAME])
    }

    fn enum_span(&self, e: &EnumDescriptor) -> Option<Span> {
        self.span_of(&e.parent_file(), e.path(), &[NAME])
    }

    fn field_span(&self, field: &FieldDescriptor, sub: &[i32]) -> Option<Span> {
        self.span_of(&field.parent_file(), field.path(), sub)
    }

    fn extension_span(&self, extension: &ExtensionDescriptor, sub: &[i32]) -> Option<Span> {
        self.span_of(&extension.parent_file(), extension.path(), sub)
    }

    /// Where a deleted element named `nested` (relative to its package) of
    /// `file` would be: the innermost enclosing message still present, else
    /// the file.
    fn enclosing(&self, file: &FileDescriptor, nested: &str) -> Option<Span> {
        let package = file.package_name();
        let mut parts: Vec<&str> = nested.split('.').collect();
        while parts.len() > 1 {
            parts.pop();
            let name = qualify(package, &parts.join("."));
            if let Some(message) = self.messages.get(&name).filter(|m| m.parent_file().name() == file.name()) {
                return self.message_span(message);
            }
        }
        self.file_start(file)
    }
}

/// Field numbers of the descriptor protos, for source-info paths.
const NAME: i32 = 1;
const FILE_PACKAGE: i32 = 2;
const FILE_OPTIONS: i32 = 8;
const FILE_SYNTAX: i32 = 12;
const MESSAGE_OPTIONS: i32 = 7;
const FIELD_LABEL: i32 = 4;
const FIELD_TYPE: i32 = 5;
const FIELD_TYPE_NAME: i32 = 6;
const FIELD_DEFAULT: i32 = 7;
const FIELD_OPTIONS: i32 = 8;
const FIELD_JSON_NAME: i32 = 10;
const METHOD_INPUT: i32 = 2;
const METHOD_OUTPUT: i32 = 3;
const METHOD_OPTIONS: i32 = 4;
const ENUM_VALUE_NUMBER: i32 = 2;

fn qualify(package: &str, name: &str) -> String {
    if package.is_empty() {
        name.to_string()
    } else {
        format!("{package}.{name}")
    }
}

/// An element's name relative to its package (`Outer.Inner`).
fn nested_name(full_name: &str, package: &str) -> String {
    if package.is_empty() {
        full_name.to_string()
    } else {
        full_name.strip_prefix(package).and_then(|n| n.strip_prefix('.')).unwrap_or(full_name).to_string()
    }
}

fn extendee(extension: &ExtensionDescriptor) -> String {
    extension.containing_message().full_name().to_string()
}

struct Diff<'a, 'm> {
    old: &'a Side<'m>,
    new: &'a Side<'m>,
    out: Vec<Change>,
}

/// One field or extension, seen alike by the field rules.
struct FieldView {
    name: String,
    json_name: Option<String>,
    kind: Kind,
    is_group: bool,
    cardinality: Cardinality,
    /// The non-synthetic oneof holding it.
    oneof: Option<String>,
    in_map_entry: bool,
    default: Option<Value>,
    options: Option<FieldOptions>,
    file: FileDescriptor,
    path: Vec<i32>,
    /// `Field "2" with name "b" on message "M"`, as buf describes it.
    description: String,
}

/// buf's cardinalities (`cardinality.go`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cardinality {
    OptionalExplicit,
    OptionalImplicit,
    Required,
    Repeated,
    Map,
}

impl Cardinality {
    fn describe(self) -> &'static str {
        match self {
            Cardinality::OptionalExplicit => "optional with explicit presence",
            Cardinality::OptionalImplicit => "optional with implicit presence",
            Cardinality::Required => "required",
            Cardinality::Repeated => "repeated",
            Cardinality::Map => "map",
        }
    }

    fn wire_group(self) -> u8 {
        match self {
            Cardinality::OptionalExplicit | Cardinality::OptionalImplicit => 1,
            Cardinality::Required => 2,
            Cardinality::Repeated | Cardinality::Map => 3,
        }
    }

    /// Maps and repeated fields differ in JSON (object vs array).
    fn wire_json_group(self) -> u8 {
        match self {
            Cardinality::Map => 4,
            other => other.wire_group(),
        }
    }
}

impl FieldView {
    fn of_field(field: &FieldDescriptor) -> FieldView {
        let message = field.parent_message();
        let proto = field.field_descriptor_proto();
        FieldView {
            name: field.name().to_string(),
            json_name: Some(field.json_name().to_string()),
            kind: field.kind(),
            is_group: field.is_group(),
            cardinality: cardinality(field.is_list(), field.is_map(), field.cardinality(), field.supports_presence()),
            oneof: field.containing_oneof().filter(|o| !o.is_synthetic()).map(|o| o.name().to_string()),
            in_map_entry: message.is_map_entry(),
            default: can_have_default(field.is_list(), field.is_map(), &field.kind()).then(|| field.default_value()),
            options: proto.options.clone(),
            file: field.parent_file(),
            path: field.path().to_vec(),
            description: format!(
                "Field \"{}\" with name \"{}\" on message \"{}\"",
                field.number(),
                field.name(),
                message.name()
            ),
        }
    }

    fn of_extension(extension: &ExtensionDescriptor) -> FieldView {
        let proto = extension.field_descriptor_proto();
        let extendee = extendee(extension);
        FieldView {
            name: extension.full_name().to_string(),
            json_name: None,
            kind: extension.kind(),
            is_group: extension.is_group(),
            cardinality: cardinality(
                extension.is_list(),
                extension.is_map(),
                extension.cardinality(),
                extension.supports_presence(),
            ),
            oneof: None,
            in_map_entry: false,
            default: can_have_default(extension.is_list(), extension.is_map(), &extension.kind())
                .then(|| extension.default_value()),
            options: proto.options.clone(),
            file: extension.parent_file(),
            path: extension.path().to_vec(),
            description: format!(
                "Extension \"{}\" with name \"{}\" on message \"{extendee}\"",
                extension.number(),
                extension.full_name()
            ),
        }
    }

    fn is_string(&self) -> bool {
        matches!(self.kind, Kind::String)
    }
}

fn cardinality(list: bool, map: bool, card: prost_reflect::Cardinality, presence: bool) -> Cardinality {
    match () {
        _ if list => Cardinality::Repeated,
        _ if map => Cardinality::Map,
        _ if card == prost_reflect::Cardinality::Required => Cardinality::Required,
        _ if presence => Cardinality::OptionalExplicit,
        _ => Cardinality::OptionalImplicit,
    }
}

fn can_have_default(list: bool, map: bool, kind: &Kind) -> bool {
    !list && !map && !matches!(kind, Kind::Message(_))
}

/// buf's name for a kind, as its messages print it.
fn kind_name(kind: &Kind, is_group: bool) -> String {
    match kind {
        Kind::Message(_) if is_group => "group".to_string(),
        Kind::Message(_) => "message".to_string(),
        Kind::Enum(_) => "enum".to_string(),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// The full name of a message or enum field's type.
fn type_name(kind: &Kind) -> Option<&str> {
    match kind {
        Kind::Message(m) => Some(m.full_name()),
        Kind::Enum(e) => Some(e.full_name()),
        _ => None,
    }
}

/// buf's wire compatibility groups (`fieldKindToWireCompatibilityGroup`).
fn wire_group(kind: &Kind, is_group: bool) -> u8 {
    match kind {
        Kind::Int32 | Kind::Int64 | Kind::Uint32 | Kind::Uint64 | Kind::Bool => 1,
        Kind::Sint32 | Kind::Sint64 => 2,
        Kind::String => 3,
        Kind::Bytes => 4,
        Kind::Fixed32 | Kind::Sfixed32 => 5,
        Kind::Fixed64 | Kind::Sfixed64 => 6,
        Kind::Double => 7,
        Kind::Float => 8,
        Kind::Message(_) if is_group => 9,
        Kind::Message(_) => 10,
        Kind::Enum(_) => 11,
    }
}

/// buf's wire and JSON compatibility groups (`fieldKindToWireJSONCompatibilityGroup`).
fn wire_json_group(kind: &Kind, is_group: bool) -> u8 {
    match kind {
        Kind::Int32 | Kind::Uint32 => 1,
        Kind::Int64 | Kind::Uint64 => 2,
        Kind::Fixed32 | Kind::Sfixed32 => 3,
        Kind::Fixed64 | Kind::Sfixed64 => 4,
        Kind::Bool => 5,
        Kind::Sint32 => 6,
        Kind::Sint64 => 7,
        Kind::String => 8,
        Kind::Bytes => 9,
        Kind::Double => 10,
        Kind::Float => 11,
        Kind::Message(_) if is_group => 12,
        Kind::Message(_) => 13,
        Kind::Enum(_) => 14,
    }
}

/// A default value, compared across kinds as buf compares them.
#[derive(Debug, PartialEq)]
enum Default {
    Number(f64),
    Text(String),
    Bytes(Vec<u8>),
}

impl Default {
    fn of(value: &Value) -> Default {
        match value {
            Value::Bool(b) => Default::Number(f64::from(u8::from(*b))),
            Value::I32(n) | Value::EnumNumber(n) => Default::Number(f64::from(*n)),
            Value::I64(n) => Default::Number(*n as f64),
            Value::U32(n) => Default::Number(f64::from(*n)),
            Value::U64(n) => Default::Number(*n as f64),
            Value::F32(n) => Default::Number(f64::from(*n)),
            Value::F64(n) => Default::Number(*n),
            Value::String(s) => Default::Text(s.clone()),
            Value::Bytes(b) => Default::Bytes(b.to_vec()),
            _ => Default::Text(String::new()),
        }
    }

    fn is_zero(&self) -> bool {
        match self {
            Default::Number(n) => *n == 0.0 && n.is_sign_positive(),
            Default::Text(s) => s.is_empty(),
            Default::Bytes(b) => b.is_empty(),
        }
    }

    fn same(&self, other: &Default) -> bool {
        match (self, other) {
            (Default::Number(a), Default::Number(b)) => a == b || (a.is_nan() && b.is_nan()),
            (a, b) => a == b,
        }
    }

    fn show(&self) -> String {
        match self {
            Default::Number(n) => n.to_string(),
            Default::Text(s) => format!("{s:?}"),
            Default::Bytes(b) => format!("{b:?}"),
        }
    }
}

/// What a syntax implies for the editions features buf compares.
fn closed_enums(syntax: Syntax) -> bool {
    syntax == Syntax::Proto2
}

fn json_format_allowed(syntax: Syntax) -> bool {
    syntax == Syntax::Proto3
}

fn utf8_verified(syntax: Syntax) -> bool {
    syntax == Syntax::Proto3
}

fn syntax_name(syntax: Syntax) -> &'static str {
    match syntax {
        Syntax::Proto2 => "proto2",
        _ => "proto3",
    }
}

/// C++ string type from `ctype`: (type, is STRING_PIECE).
fn cpp_string_type(options: Option<&FieldOptions>) -> (&'static str, bool) {
    match options.and_then(|o| o.ctype).and_then(|c| field_options::CType::try_from(c).ok()) {
        Some(field_options::CType::Cord) => ("CORD", false),
        Some(field_options::CType::StringPiece) => ("STRING", true),
        _ => ("STRING", false),
    }
}

impl Diff<'_, '_> {
    fn push(&mut self, id: &str, new: Option<Span>, old: Option<Span>, reason: String) {
        if self.out.len() >= MAX_CHANGES {
            return;
        }
        if let Some(rule) = Rule::get(id) {
            self.out.push(Change { rule, new, old, reason });
        }
    }

    // -- files ----------------------------------------------------------

    fn files(&mut self) {
        for (key, (old_file, _)) in &self.old.files {
            let Some((new_file, _)) = self.new.files.get(key) else {
                self.push(
                    "FILE_NO_DELETE",
                    None,
                    self.old.file_start(old_file),
                    format!("Previously present file \"{key}\" was deleted."),
                );
                continue;
            };
            self.file_pair(old_file, new_file);
        }
    }

    fn file_pair(&mut self, old: &FileDescriptor, new: &FileDescriptor) {
        let (old_syntax, new_syntax) = (syntax_name(old.syntax()), syntax_name(new.syntax()));
        if old_syntax != new_syntax {
            let (n, o) = (self.new.span_of(new, &[FILE_SYNTAX], &[]), self.old.span_of(old, &[FILE_SYNTAX], &[]));
            self.push(
                "FILE_SAME_SYNTAX",
                n.or(self.new.file_start(new)),
                o,
                format!("File syntax changed from \"{old_syntax}\" to \"{new_syntax}\"."),
            );
        }
        if old.package_name() != new.package_name() {
            let (n, o) = (self.new.span(new, &[FILE_PACKAGE]), self.old.span(old, &[FILE_PACKAGE]));
            self.push(
                "FILE_SAME_PACKAGE",
                n.or(self.new.file_start(new)),
                o,
                format!("File package changed from \"{}\" to \"{}\".", old.package_name(), new.package_name()),
            );
        }
        self.file_options(old, new);
        self.nested_deletions(old, new);
    }

    fn file_options(&mut self, old: &FileDescriptor, new: &FileDescriptor) {
        let default = FileOptions::default();
        let o = old.file_descriptor_proto().options.as_ref().unwrap_or(&default);
        let n = new.file_descriptor_proto().options.as_ref().unwrap_or(&default);
        // (rule, option, FileOptions field number, old value, new value)
        let options: [(&str, &str, i32, String, String); 15] = [
            (
                "FILE_SAME_CC_ENABLE_ARENAS",
                "cc_enable_arenas",
                31,
                o.cc_enable_arenas().to_string(),
                n.cc_enable_arenas().to_string(),
            ),
            (
                "FILE_SAME_CC_GENERIC_SERVICES",
                "cc_generic_services",
                16,
                o.cc_generic_services().to_string(),
                n.cc_generic_services().to_string(),
            ),
            (
                "FILE_SAME_CSHARP_NAMESPACE",
                "csharp_namespace",
                37,
                o.csharp_namespace().to_string(),
                n.csharp_namespace().to_string(),
            ),
            ("FILE_SAME_GO_PACKAGE", "go_package", 11, o.go_package().to_string(), n.go_package().to_string()),
            (
                "FILE_SAME_JAVA_GENERIC_SERVICES",
                "java_generic_services",
                17,
                o.java_generic_services().to_string(),
                n.java_generic_services().to_string(),
            ),
            (
                "FILE_SAME_JAVA_MULTIPLE_FILES",
                "java_multiple_files",
                10,
                o.java_multiple_files().to_string(),
                n.java_multiple_files().to_string(),
            ),
            (
                "FILE_SAME_JAVA_OUTER_CLASSNAME",
                "java_outer_classname",
                8,
                o.java_outer_classname().to_string(),
                n.java_outer_classname().to_string(),
            ),
            ("FILE_SAME_JAVA_PACKAGE", "java_package", 1, o.java_package().to_string(), n.java_package().to_string()),
            (
                "FILE_SAME_OBJC_CLASS_PREFIX",
                "objc_class_prefix",
                36,
                o.objc_class_prefix().to_string(),
                n.objc_class_prefix().to_string(),
            ),
            (
                "FILE_SAME_OPTIMIZE_FOR",
                "optimize_for",
                9,
                format!("{:?}", o.optimize_for()),
                format!("{:?}", n.optimize_for()),
            ),
            (
                "FILE_SAME_PHP_CLASS_PREFIX",
                "php_class_prefix",
                40,
                o.php_class_prefix().to_string(),
                n.php_class_prefix().to_string(),
            ),
            (
                "FILE_SAME_PHP_METADATA_NAMESPACE",
                "php_metadata_namespace",
                44,
                o.php_metadata_namespace().to_string(),
                n.php_metadata_namespace().to_string(),
            ),
            (
                "FILE_SAME_PHP_NAMESPACE",
                "php_namespace",
                41,
                o.php_namespace().to_string(),
                n.php_namespace().to_string(),
            ),
            (
                "FILE_SAME_PY_GENERIC_SERVICES",
                "py_generic_services",
                18,
                o.py_generic_services().to_string(),
                n.py_generic_services().to_string(),
            ),
            ("FILE_SAME_RUBY_PACKAGE", "ruby_package", 45, o.ruby_package().to_string(), n.ruby_package().to_string()),
        ];
        for (rule, option, number, before, after) in options {
            if before != after {
                let at = self.new.span(new, &[FILE_OPTIONS, number]).or(self.new.file_start(new));
                let was = self.old.span(old, &[FILE_OPTIONS, number]);
                self.push(rule, at, was, format!("File option \"{option}\" changed from \"{before}\" to \"{after}\"."));
            }
        }
        let (before, after) = (o.swift_prefix(), n.swift_prefix());
        if before != after {
            let at = self.new.span(new, &[FILE_OPTIONS, 39]).or(self.new.file_start(new));
            let was = self.old.span(old, &[FILE_OPTIONS, 39]);
            self.push(
                "FILE_SAME_SWIFT_PREFIX",
                at,
                was,
                format!("File option \"swift_prefix\" changed from \"{before}\" to \"{after}\"."),
            );
        }
    }

    /// Messages, enums, services and extensions deleted from a file.
    fn nested_deletions(&mut self, old: &FileDescriptor, new: &FileDescriptor) {
        let names = |side: &Side, file: &FileDescriptor| -> [BTreeSet<String>; 4] {
            let package = file.package_name();
            let in_file = |name: &str, f: &FileDescriptor| f.name() == file.name() && !name.is_empty();
            [
                side.messages
                    .values()
                    .filter(|m| in_file(m.name(), &m.parent_file()))
                    .map(|m| nested_name(m.full_name(), package))
                    .collect(),
                side.enums
                    .values()
                    .filter(|e| in_file(e.name(), &e.parent_file()))
                    .map(|e| nested_name(e.full_name(), package))
                    .collect(),
                side.services
                    .values()
                    .filter(|s| in_file(s.name(), &s.parent_file()))
                    .map(|s| s.name().to_string())
                    .collect(),
                side.extensions
                    .values()
                    .filter(|e| in_file(e.name(), &e.parent_file()))
                    .map(|e| nested_name(e.full_name(), package))
                    .collect(),
            ]
        };
        let [old_messages, old_enums, old_services, old_extensions] = names(self.old, old);
        let [new_messages, new_enums, new_services, new_extensions] = names(self.new, new);
        let old_package = old.package_name();
        for name in old_messages.difference(&new_messages) {
            let was = self.old.messages.get(&qualify(old_package, name)).and_then(|m| self.old.message_span(m));
            let at = self.new.enclosing(new, name);
            self.push(
                "MESSAGE_NO_DELETE",
                at,
                was,
                format!("Previously present message \"{name}\" was deleted from file."),
            );
        }
        for name in old_enums.difference(&new_enums) {
            let was = self.old.enums.get(&qualify(old_package, name)).and_then(|e| self.old.enum_span(e));
            let at = self.new.enclosing(new, name);
            self.push("ENUM_NO_DELETE", at, was, format!("Previously present enum \"{name}\" was deleted from file."));
        }
        for name in old_services.difference(&new_services) {
            let was = self
                .old
                .services
                .get(&qualify(old_package, name))
                .and_then(|s| self.old.span_of(&s.parent_file(), s.path(), &[NAME]));
            let at = self.new.file_start(new);
            self.push(
                "SERVICE_NO_DELETE",
                at,
                was,
                format!("Previously present service \"{name}\" was deleted from file."),
            );
        }
        for name in old_extensions.difference(&new_extensions) {
            let full = qualify(old_package, name);
            let was = self
                .old
                .extensions
                .values()
                .find(|e| e.full_name() == full)
                .and_then(|e| self.old.extension_span(e, &[NAME]));
            let at = self.new.enclosing(new, name);
            self.push(
                "EXTENSION_NO_DELETE",
                at,
                was,
                format!("Previously present extension \"{name}\" was deleted from file."),
            );
        }
    }

    // -- packages -------------------------------------------------------

    fn packages(&mut self) {
        let packages = |side: &Side| -> BTreeMap<String, Vec<FileDescriptor>> {
            let mut out: BTreeMap<String, Vec<FileDescriptor>> = BTreeMap::new();
            for (file, _) in side.files.values() {
                out.entry(file.package_name().to_string()).or_default().push(file.clone());
            }
            out
        };
        let (old, new) = (packages(self.old), packages(self.new));
        for (package, files) in &old {
            if !new.contains_key(package) {
                let was = files.iter().min_by(|a, b| a.name().cmp(b.name())).and_then(|f| self.old.file_start(f));
                self.push(
                    "PACKAGE_NO_DELETE",
                    None,
                    was,
                    format!("Previously present package \"{package}\" was deleted."),
                );
            }
        }
        let in_package = |package: &str, file: &FileDescriptor| file.package_name() == package;
        // Where a deleted element is reported: the new file at the old path, if any.
        let new_file_at = |old_file: &FileDescriptor| -> Option<FileDescriptor> {
            let key = self.old.files.iter().find(|(_, (f, _))| f.name() == old_file.name()).map(|(k, _)| k)?;
            self.new.files.get(key).map(|(f, _)| f.clone())
        };
        let mut found = Vec::new();
        for (name, message) in &self.old.messages {
            let package = message.package_name();
            if new.contains_key(package)
                && !self.new.messages.get(name).is_some_and(|m| in_package(package, &m.parent_file()))
            {
                let nested = nested_name(name, package);
                let at = new_file_at(&message.parent_file()).and_then(|f| self.new.enclosing(&f, &nested));
                found.push((
                    "PACKAGE_MESSAGE_NO_DELETE",
                    at,
                    self.old.message_span(message),
                    format!("Previously present message \"{nested}\" was deleted from package \"{package}\"."),
                ));
            }
        }
        for (name, e) in &self.old.enums {
            let package = e.package_name();
            if new.contains_key(package)
                && !self.new.enums.get(name).is_some_and(|n| in_package(package, &n.parent_file()))
            {
                let nested = nested_name(name, package);
                let at = new_file_at(&e.parent_file()).and_then(|f| self.new.enclosing(&f, &nested));
                found.push((
                    "PACKAGE_ENUM_NO_DELETE",
                    at,
                    self.old.enum_span(e),
                    format!("Previously present enum \"{nested}\" was deleted from package \"{package}\"."),
                ));
            }
        }
        for (name, service) in &self.old.services {
            let package = service.package_name();
            if new.contains_key(package) && !self.new.services.contains_key(name) {
                let at = new_file_at(&service.parent_file()).and_then(|f| self.new.file_start(&f));
                found.push((
                    "PACKAGE_SERVICE_NO_DELETE",
                    at,
                    self.old.span_of(&service.parent_file(), service.path(), &[NAME]),
                    format!(
                        "Previously present service \"{}\" was deleted from package \"{package}\".",
                        service.name()
                    ),
                ));
            }
        }
        for extension in self.old.extensions.values() {
            let package = extension.package_name();
            let kept = self.new.extensions.values().any(|e| e.full_name() == extension.full_name());
            if new.contains_key(package) && !kept {
                let nested = nested_name(extension.full_name(), package);
                let at = new_file_at(&extension.parent_file()).and_then(|f| self.new.enclosing(&f, &nested));
                found.push((
                    "PACKAGE_EXTENSION_NO_DELETE",
                    at,
                    self.old.extension_span(extension, &[NAME]),
                    format!("Previously present extension \"{nested}\" was deleted from package \"{package}\"."),
                ));
            }
        }
        for (rule, at, was, reason) in found {
            self.push(rule, at, was, reason);
        }
    }

    // -- messages -------------------------------------------------------

    fn messages(&mut self) {
        for (name, old) in &self.old.messages {
            let Some(new) = self.new.messages.get(name) else { continue };
            self.message_pair(old, new);
        }
    }

    fn message_pair(&mut self, old: &MessageDescriptor, new: &MessageDescriptor) {
        let (at, was) = (self.new.message_span(new), self.old.message_span(old));
        let name = new.name();
        let new_fields: BTreeMap<u32, FieldDescriptor> = new.fields().map(|f| (f.number(), f)).collect();
        let reserved_names: BTreeSet<&str> = new.reserved_names().collect();
        let reserved_number = |n: u32| new.reserved_ranges().any(|r| r.contains(&n));
        for field in old.fields() {
            if new_fields.contains_key(&field.number()) {
                continue;
            }
            let description = FieldView::of_field(&field).description;
            let lowered = format!("field{}", &description["Field".len()..]);
            self.push("FIELD_NO_DELETE", at, was, format!("Previously present {lowered} was deleted."));
            if !reserved_number(field.number()) {
                self.push(
                    "FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED",
                    at,
                    was,
                    format!(
                        "Previously present {lowered} was deleted without reserving the number \"{}\".",
                        field.number()
                    ),
                );
            }
            if !reserved_names.contains(field.name()) {
                self.push(
                    "FIELD_NO_DELETE_UNLESS_NAME_RESERVED",
                    at,
                    was,
                    format!(
                        "Previously present {lowered} was deleted without reserving the name \"{}\".",
                        field.name()
                    ),
                );
            }
        }
        let new_oneofs: BTreeSet<String> = new.oneofs().map(|o| o.name().to_string()).collect();
        for oneof in old.oneofs().filter(|o| !o.is_synthetic()) {
            if !new_oneofs.contains(oneof.name()) {
                self.push(
                    "ONEOF_NO_DELETE",
                    at,
                    was,
                    format!("Previously present oneof \"{}\" on message \"{name}\" was deleted.", oneof.name()),
                );
            }
        }
        let ranges = |m: &MessageDescriptor| {
            m.extension_ranges().map(|r| (i64::from(r.start), i64::from(r.end) - 1)).collect::<Vec<_>>()
        };
        for missing in missing_ranges(&ranges(old), &ranges(new)) {
            self.push(
                "EXTENSION_MESSAGE_NO_DELETE",
                at,
                was,
                format!("Previously present extension range {missing} on message \"{name}\" was deleted."),
            );
        }
        let reserved = |m: &MessageDescriptor| {
            m.reserved_ranges().map(|r| (i64::from(r.start), i64::from(r.end) - 1)).collect::<Vec<_>>()
        };
        for missing in missing_ranges(&reserved(old), &reserved(new)) {
            self.push(
                "RESERVED_MESSAGE_NO_DELETE",
                at,
                was,
                format!("Previously present reserved range {missing} on message \"{name}\" was deleted."),
            );
        }
        for reserved in old.reserved_names().filter(|n| !reserved_names.contains(n)) {
            self.push(
                "RESERVED_MESSAGE_NO_DELETE",
                at,
                was,
                format!("Previously present reserved name \"{reserved}\" on message \"{name}\" was deleted."),
            );
        }
        let required = |m: &MessageDescriptor| -> BTreeMap<u32, FieldDescriptor> {
            m.fields()
                .filter(|f| f.cardinality() == prost_reflect::Cardinality::Required)
                .map(|f| (f.number(), f))
                .collect()
        };
        let (old_required, new_required) = (required(old), required(new));
        for number in old_required.keys().filter(|n| !new_required.contains_key(n)) {
            self.push(
                "MESSAGE_SAME_REQUIRED_FIELDS",
                at,
                was,
                format!("Message \"{name}\" had required field \"{number}\" deleted."),
            );
        }
        for (number, field) in new_required.iter().filter(|(n, _)| !old_required.contains_key(n)) {
            self.push(
                "MESSAGE_SAME_REQUIRED_FIELDS",
                self.new.field_span(field, &[]),
                None,
                format!("Message \"{name}\" had required field \"{number}\" added."),
            );
        }
        let accessor = |m: &MessageDescriptor| {
            m.descriptor_proto().options.as_ref().is_some_and(|o| o.no_standard_descriptor_accessor())
        };
        if !accessor(old) && accessor(new) {
            let option_at = self.new.span_of(&new.parent_file(), new.path(), &[MESSAGE_OPTIONS, 2]);
            self.push(
                "MESSAGE_NO_REMOVE_STANDARD_DESCRIPTOR_ACCESSOR",
                option_at.or(at),
                was,
                "Message option \"no_standard_descriptor_accessor\" changed from \"false\" to \"true\".".to_string(),
            );
        }
        if json_format_allowed(old.parent_file().syntax()) && !json_format_allowed(new.parent_file().syntax()) {
            self.push(
                "MESSAGE_SAME_JSON_FORMAT",
                at,
                was,
                format!("Message \"{name}\" JSON format support changed from ALLOW to LEGACY_BEST_EFFORT."),
            );
        }
    }

    // -- fields ---------------------------------------------------------

    fn fields(&mut self) {
        let mut pairs = Vec::new();
        for (name, old) in &self.old.messages {
            let Some(new) = self.new.messages.get(name) else { continue };
            let new_fields: BTreeMap<u32, FieldDescriptor> = new.fields().map(|f| (f.number(), f)).collect();
            for field in old.fields() {
                if let Some(new_field) = new_fields.get(&field.number()) {
                    pairs.push((FieldView::of_field(&field), FieldView::of_field(new_field)));
                }
            }
        }
        for (key, old) in &self.old.extensions {
            if let Some(new) = self.new.extensions.get(key) {
                pairs.push((FieldView::of_extension(old), FieldView::of_extension(new)));
            }
        }
        for (old, new) in pairs {
            self.field_pair(&old, &new);
        }
    }

    fn field_span(&self, side: &Side, field: &FieldView, sub: &[i32]) -> Option<Span> {
        side.span_of(&field.file, &field.path, sub)
    }

    /// The span of a field's type: the type name for messages and enums.
    fn type_span(&self, side: &Side, field: &FieldView) -> Option<Span> {
        let sub = if type_name(&field.kind).is_some() { FIELD_TYPE_NAME } else { FIELD_TYPE };
        self.field_span(side, field, &[sub])
    }

    fn field_pair(&mut self, old: &FieldView, new: &FieldView) {
        let (at, was) = (self.field_span(self.new, new, &[]), self.field_span(self.old, old, &[]));
        let what = &new.description;
        let extension = old.json_name.is_none();
        if old.name != new.name {
            let without_name = what.split(" with name").next().unwrap_or(what);
            let on = what.rsplit(" on ").next().unwrap_or_default();
            self.push(
                "FIELD_SAME_NAME",
                self.field_span(self.new, new, &[NAME]),
                self.field_span(self.old, old, &[NAME]),
                format!("{without_name} on {on} changed name from \"{}\" to \"{}\".", old.name, new.name),
            );
        }
        if !extension && old.json_name != new.json_name {
            self.push(
                "FIELD_SAME_JSON_NAME",
                self.field_span(self.new, new, &[FIELD_JSON_NAME]),
                self.field_span(self.old, old, &[FIELD_JSON_NAME]),
                format!(
                    "{what} changed option \"json_name\" from \"{}\" to \"{}\".",
                    old.json_name.as_deref().unwrap_or_default(),
                    new.json_name.as_deref().unwrap_or_default()
                ),
            );
        }
        self.field_types(old, new);
        self.field_cardinality(old, new, at, was);
        if !extension && old.oneof != new.oneof {
            let reason = match (&old.oneof, &new.oneof) {
                (Some(o), Some(n)) => format!("{what} moved from oneof \"{o}\" to oneof \"{n}\"."),
                (Some(_), None) => format!("{what} moved from inside to outside a oneof."),
                _ => format!("{what} moved from outside to inside a oneof."),
            };
            self.push("FIELD_SAME_ONEOF", at, was, reason);
        }
        if let (Some(o), Some(n)) = (&old.default, &new.default) {
            let (o, n) = (Default::of(o), Default::of(n));
            let both_unset = o.is_zero() && n.is_zero();
            if !both_unset && !o.same(&n) {
                self.push(
                    "FIELD_SAME_DEFAULT",
                    self.field_span(self.new, new, &[FIELD_DEFAULT]),
                    self.field_span(self.old, old, &[FIELD_DEFAULT]),
                    format!("{what} changed default value from {} to {}.", o.show(), n.show()),
                );
            }
        }
        self.field_options(old, new, at, was);
    }

    fn field_types(&mut self, old: &FieldView, new: &FieldView) {
        let what = &new.description;
        let (at, was) = (self.type_span(self.new, new), self.type_span(self.old, old));
        let (old_kind, new_kind) = (kind_name(&old.kind, old.is_group), kind_name(&new.kind, new.is_group));
        let changed_name = |rule: &'static str| {
            let (o, n) = (type_name(&old.kind).unwrap_or_default(), type_name(&new.kind).unwrap_or_default());
            (rule, format!("{what} changed type from \"{o}\" to \"{n}\"."))
        };
        let changed_kind =
            |rule: &'static str| (rule, format!("{what} changed type from \"{old_kind}\" to \"{new_kind}\"."));
        let mut found = Vec::new();
        let same_named_type = type_name(&old.kind) == type_name(&new.kind);
        if old_kind != new_kind {
            found.push(changed_kind("FIELD_SAME_TYPE"));
        } else if !same_named_type {
            found.push(changed_name("FIELD_SAME_TYPE"));
        }
        // Wire: string → bytes keeps the wire; bytes → string may not (no UTF-8 check).
        let wire = (wire_group(&old.kind, old.is_group), wire_group(&new.kind, new.is_group));
        if wire.0 != wire.1 {
            if !(matches!(old.kind, Kind::String) && matches!(new.kind, Kind::Bytes)) {
                found.push(changed_kind("FIELD_WIRE_COMPATIBLE_TYPE"));
            }
        } else if !same_named_type && !self.enum_compatible(&old.kind, &new.kind) {
            found.push(changed_name("FIELD_WIRE_COMPATIBLE_TYPE"));
        }
        let json = (wire_json_group(&old.kind, old.is_group), wire_json_group(&new.kind, new.is_group));
        if json.0 != json.1 {
            found.push(changed_kind("FIELD_WIRE_JSON_COMPATIBLE_TYPE"));
        } else if !same_named_type && !self.enum_compatible(&old.kind, &new.kind) {
            found.push(changed_name("FIELD_WIRE_JSON_COMPATIBLE_TYPE"));
        }
        for (rule, reason) in found {
            self.push(rule, at, was, reason);
        }
    }

    /// Whether a field's enum type may change to another: same short name,
    /// and the new enum has every value (number and name) of the old one.
    /// Message types never may.
    fn enum_compatible(&self, old: &Kind, new: &Kind) -> bool {
        let (Kind::Enum(old), Kind::Enum(new)) = (old, new) else { return false };
        if old.name() != new.name() {
            return false;
        }
        let values: BTreeSet<(i32, String)> = new.values().map(|v| (v.number(), v.name().to_string())).collect();
        old.values().all(|v| values.contains(&(v.number(), v.name().to_string())))
    }

    fn field_cardinality(&mut self, old: &FieldView, new: &FieldView, at: Option<Span>, was: Option<Span>) {
        if old.in_map_entry && new.in_map_entry {
            return;
        }
        let (o, n) = (old.cardinality, new.cardinality);
        let reason =
            format!("{} changed cardinality from \"{}\" to \"{}\".", new.description, o.describe(), n.describe());
        let label_at = self.field_span(self.new, new, &[FIELD_LABEL]).or(at);
        if o != n {
            self.push("FIELD_SAME_CARDINALITY", label_at, was, reason.clone());
        }
        if o.wire_group() != n.wire_group() {
            self.push("FIELD_WIRE_COMPATIBLE_CARDINALITY", label_at, was, reason.clone());
        }
        if o.wire_json_group() != n.wire_json_group() {
            self.push("FIELD_WIRE_JSON_COMPATIBLE_CARDINALITY", label_at, was, reason);
        }
    }

    fn field_options(&mut self, old: &FieldView, new: &FieldView, at: Option<Span>, was: Option<Span>) {
        let what = &new.description;
        let option_at =
            |side: &Side, f: &FieldView, number: i32| side.span_of(&f.file, &f.path, &[FIELD_OPTIONS, number]);
        let is_64 = |k: &Kind| matches!(k, Kind::Int64 | Kind::Sint64 | Kind::Uint64 | Kind::Fixed64 | Kind::Sfixed64);
        if is_64(&old.kind) && is_64(&new.kind) {
            let jstype = |f: &FieldView| f.options.as_ref().map(|o| o.jstype()).unwrap_or_default();
            if jstype(old) != jstype(new) {
                self.push(
                    "FIELD_SAME_JSTYPE",
                    option_at(self.new, new, 6).or(at),
                    option_at(self.old, old, 6).or(was),
                    format!("{what} changed option \"jstype\" from \"{:?}\" to \"{:?}\".", jstype(old), jstype(new)),
                );
            }
        }
        let stringy = |k: &Kind| matches!(k, Kind::String | Kind::Bytes);
        if stringy(&old.kind) && stringy(&new.kind) && !(old.in_map_entry && new.in_map_entry) {
            let (o, n) = (cpp_string_type(old.options.as_ref()), cpp_string_type(new.options.as_ref()));
            let piece_to_string = o.1 && n.0 == "STRING";
            if o != n && !piece_to_string {
                let show = |t: (&'static str, bool)| if t.1 { "STRING_PIECE" } else { t.0 };
                self.push(
                    "FIELD_SAME_CPP_STRING_TYPE",
                    option_at(self.new, new, 1).or(at),
                    option_at(self.old, old, 1).or(was),
                    format!("{what} changed C++ string type from \"{}\" to \"{}\".", show(o), show(n)),
                );
            }
        }
        if old.is_string() && new.is_string() {
            let (o, n) = (utf8_verified(old.file.syntax()), utf8_verified(new.file.syntax()));
            let show = |verified: bool| if verified { "VERIFY" } else { "NONE" };
            if o != n {
                self.push(
                    "FIELD_SAME_UTF8_VALIDATION",
                    at,
                    was,
                    format!("{what} changed UTF8 validation from {} to {}.", show(o), show(n)),
                );
            }
            let java = |f: &FieldView| {
                let check = f.file.file_descriptor_proto().options.as_ref().is_some_and(|o| o.java_string_check_utf8());
                check || utf8_verified(f.file.syntax())
            };
            if java(old) != java(new) {
                self.push(
                    "FIELD_SAME_JAVA_UTF8_VALIDATION",
                    at,
                    was,
                    format!(
                        "{what} changed Java string UTF8 validation from \"{}\" to \"{}\".",
                        show(java(old)),
                        show(java(new))
                    ),
                );
            }
        }
    }

    // -- enums ----------------------------------------------------------

    fn enums(&mut self) {
        for (name, old) in &self.old.enums {
            let Some(new) = self.new.enums.get(name) else { continue };
            self.enum_pair(old, new);
        }
    }

    fn enum_pair(&mut self, old: &EnumDescriptor, new: &EnumDescriptor) {
        let (at, was) = (self.new.enum_span(new), self.old.enum_span(old));
        let name = new.name();
        let by_number = |e: &EnumDescriptor| {
            let mut out: BTreeMap<i32, Vec<prost_reflect::EnumValueDescriptor>> = BTreeMap::new();
            for value in e.values() {
                out.entry(value.number()).or_default().push(value);
            }
            out
        };
        let (old_values, new_values) = (by_number(old), by_number(new));
        let reserved_names: BTreeSet<&str> = new.reserved_names().collect();
        for (number, values) in &old_values {
            let Some(current) = new_values.get(number) else {
                let reason = format!("Previously present enum value \"{number}\" on enum \"{name}\" was deleted");
                self.push("ENUM_VALUE_NO_DELETE", at, was, format!("{reason}."));
                if !new.reserved_ranges().any(|r| r.contains(number)) {
                    self.push(
                        "ENUM_VALUE_NO_DELETE_UNLESS_NUMBER_RESERVED",
                        at,
                        was,
                        format!("{reason} without reserving the number \"{number}\"."),
                    );
                }
                if !values.iter().all(|v| reserved_names.contains(v.name())) {
                    let names: Vec<String> = values.iter().map(|v| format!("\"{}\"", v.name())).collect();
                    self.push(
                        "ENUM_VALUE_NO_DELETE_UNLESS_NAME_RESERVED",
                        at,
                        was,
                        format!("{reason} without reserving the name(s) {}.", names.join(", ")),
                    );
                }
                continue;
            };
            let old_names: BTreeSet<&str> = values.iter().map(|v| v.name()).collect();
            let new_names: BTreeSet<&str> = current.iter().map(|v| v.name()).collect();
            if !old_names.is_subset(&new_names) {
                for value in current {
                    let value_at = self.new.span_of(&new.parent_file(), value.path(), &[ENUM_VALUE_NUMBER]);
                    let value_was = values
                        .iter()
                        .find(|v| v.name() == value.name())
                        .and_then(|v| self.old.span_of(&old.parent_file(), v.path(), &[ENUM_VALUE_NUMBER]));
                    self.push(
                        "ENUM_VALUE_SAME_NAME",
                        value_at,
                        value_was.or(was),
                        format!(
                            "Enum value \"{number}\" on enum \"{name}\" changed name from {:?} to {:?}.",
                            old_names, new_names
                        ),
                    );
                }
            }
        }
        let (old_syntax, new_syntax) = (old.parent_file().syntax(), new.parent_file().syntax());
        if closed_enums(old_syntax) != closed_enums(new_syntax) {
            let show = |s: Syntax| if closed_enums(s) { "closed" } else { "open" };
            self.push(
                "ENUM_SAME_TYPE",
                at,
                was,
                format!("Enum \"{name}\" changed from {} to {}.", show(old_syntax), show(new_syntax)),
            );
        }
        if json_format_allowed(old_syntax) && !json_format_allowed(new_syntax) {
            self.push(
                "ENUM_SAME_JSON_FORMAT",
                at,
                was,
                format!("Enum \"{name}\" JSON format support changed from ALLOW to LEGACY_BEST_EFFORT."),
            );
        }
        let ranges = |e: &EnumDescriptor| {
            e.reserved_ranges().map(|r| (i64::from(*r.start()), i64::from(*r.end()))).collect::<Vec<_>>()
        };
        for missing in missing_ranges(&ranges(old), &ranges(new)) {
            self.push(
                "RESERVED_ENUM_NO_DELETE",
                at,
                was,
                format!("Previously present reserved range {missing} on enum \"{name}\" was deleted."),
            );
        }
        for reserved in old.reserved_names().filter(|n| !reserved_names.contains(n)) {
            self.push(
                "RESERVED_ENUM_NO_DELETE",
                at,
                was,
                format!("Previously present reserved name \"{reserved}\" on enum \"{name}\" was deleted."),
            );
        }
    }

    // -- services -------------------------------------------------------

    fn services(&mut self) {
        for (name, old) in &self.old.services {
            let Some(new) = self.new.services.get(name) else { continue };
            let service_at = self.new.span_of(&new.parent_file(), new.path(), &[NAME]);
            let service_was = self.old.span_of(&old.parent_file(), old.path(), &[NAME]);
            let methods: BTreeMap<String, prost_reflect::MethodDescriptor> =
                new.methods().map(|m| (m.name().to_string(), m)).collect();
            for method in old.methods() {
                let rpc = method.name();
                let service = new.name();
                let Some(current) = methods.get(rpc) else {
                    self.push(
                        "RPC_NO_DELETE",
                        service_at,
                        service_was,
                        format!("Previously present RPC \"{rpc}\" on service \"{service}\" was deleted."),
                    );
                    continue;
                };
                let file = (current.parent_file(), method.parent_file());
                let at = |sub: &[i32]| self.new.span_of(&file.0, current.path(), sub);
                let was = |sub: &[i32]| self.old.span_of(&file.1, method.path(), sub);
                let mut found = Vec::new();
                if method.input().full_name() != current.input().full_name() {
                    found.push((
                        "RPC_SAME_REQUEST_TYPE",
                        at(&[METHOD_INPUT]),
                        was(&[METHOD_INPUT]),
                        format!(
                            "RPC \"{rpc}\" on service \"{service}\" changed request type from \"{}\" to \"{}\".",
                            method.input().full_name(),
                            current.input().full_name()
                        ),
                    ));
                }
                if method.output().full_name() != current.output().full_name() {
                    found.push((
                        "RPC_SAME_RESPONSE_TYPE",
                        at(&[METHOD_OUTPUT]),
                        was(&[METHOD_OUTPUT]),
                        format!(
                            "RPC \"{rpc}\" on service \"{service}\" changed response type from \"{}\" to \"{}\".",
                            method.output().full_name(),
                            current.output().full_name()
                        ),
                    ));
                }
                let streaming = |s: bool| if s { "streaming" } else { "unary" };
                if method.is_client_streaming() != current.is_client_streaming() {
                    found.push((
                        "RPC_SAME_CLIENT_STREAMING",
                        at(&[]),
                        was(&[]),
                        format!(
                            "RPC \"{rpc}\" on service \"{service}\" changed from client {} to client {}.",
                            streaming(method.is_client_streaming()),
                            streaming(current.is_client_streaming())
                        ),
                    ));
                }
                if method.is_server_streaming() != current.is_server_streaming() {
                    found.push((
                        "RPC_SAME_SERVER_STREAMING",
                        at(&[]),
                        was(&[]),
                        format!(
                            "RPC \"{rpc}\" on service \"{service}\" changed from server {} to server {}.",
                            streaming(method.is_server_streaming()),
                            streaming(current.is_server_streaming())
                        ),
                    ));
                }
                let level = |m: &prost_reflect::MethodDescriptor| {
                    let default = MethodOptions::default();
                    let options = m.method_descriptor_proto().options.as_ref().unwrap_or(&default);
                    format!("{:?}", options.idempotency_level())
                };
                if level(&method) != level(current) {
                    // The option's span: MethodOptions.idempotency_level = 34.
                    found.push((
                        "RPC_SAME_IDEMPOTENCY_LEVEL",
                        at(&[METHOD_OPTIONS, 34]),
                        was(&[METHOD_OPTIONS, 34]),
                        format!(
                            "RPC \"{rpc}\" on service \"{service}\" changed option \"idempotency_level\" from \"{}\" to \"{}\".",
                            level(&method),
                            level(current)
                        ),
                    ));
                }
                for (rule, at, was, reason) in found {
                    self.push(rule, at, was, reason);
                }
            }
        }
    }
}

/// The parts of `old` ranges (inclusive) that `new` ranges do not cover,
/// as `"5"` or `"5 to 9"`.
fn missing_ranges(old: &[(i64, i64)], new: &[(i64, i64)]) -> Vec<String> {
    let mut covered: Vec<(i64, i64)> = new.to_vec();
    covered.sort();
    let mut merged: Vec<(i64, i64)> = Vec::new();
    for (start, end) in covered {
        match merged.last_mut() {
            Some(last) if start <= last.1.saturating_add(1) => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    let mut out = Vec::new();
    for &(start, end) in old {
        let mut cursor = start;
        for &(s, e) in &merged {
            if e < cursor || s > end {
                continue;
            }
            if s > cursor {
                out.push(show_range(cursor, s - 1));
            }
            cursor = cursor.max(e.saturating_add(1));
            if cursor > end {
                break;
            }
        }
        if cursor <= end {
            out.push(show_range(cursor, end));
        }
    }
    out
}

fn show_range(start: i64, end: i64) -> String {
    if start == end {
        format!("\"{start}\"")
    } else {
        format!("\"{start} to {end}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::fs::MemoryFs;
    use crate::base::Sources;
    use crate::schema::breaking::{example_files, PROTOBUF_RULES as RULES};
    use crate::schema::proto_module::load_module;
    use std::path::Path;

    /// The rule ids `compare` reports from `before` to `after` (fixtures as
    /// rule examples write them).
    fn rules(before: &str, after: &str) -> BTreeSet<&'static str> {
        let mut fs = MemoryFs::new();
        for (dir, text) in [("/old", before), ("/new", after)] {
            for (path, body) in example_files(text) {
                fs.insert(format!("{dir}/{path}"), body);
            }
        }
        let mut sources = Sources::new(Path::new("/"));
        let old = load_module(&fs, Path::new("/old"), &mut sources).unwrap_or_else(|d| panic!("{}", d.message));
        let new = load_module(&fs, Path::new("/new"), &mut sources).unwrap_or_else(|d| panic!("{}", d.message));
        compare(&old, &new).iter().map(|c| c.rule.id).collect()
    }

    #[test]
    fn every_rule_reports_its_own_example() {
        let missed: Vec<&str> =
            RULES.iter().filter(|r| !rules(r.before, r.after).contains(r.id)).map(|r| r.id).collect();
        assert!(missed.is_empty(), "these rules miss their own examples: {missed:?}");
    }

    /// Every rule's old example against every rule's new one: 4,000 unrelated
    /// pairs, none of which may panic, and each change points somewhere.
    #[test]
    fn any_two_examples_compare_without_panicking() {
        let mut fs = MemoryFs::new();
        for (i, rule) in RULES.iter().enumerate() {
            for (side, text) in [("before", rule.before), ("after", rule.after)] {
                for (path, body) in example_files(text) {
                    fs.insert(format!("/{side}{i}/{path}"), body);
                }
            }
        }
        let mut sources = Sources::new(Path::new("/"));
        let load = |side: &str, i: usize, sources: &mut Sources| {
            load_module(&fs, Path::new(&format!("/{side}{i}")), sources).unwrap_or_else(|d| panic!("{}", d.message))
        };
        let befores: Vec<ProtoModule> = (0..RULES.len()).map(|i| load("before", i, &mut sources)).collect();
        let afters: Vec<ProtoModule> = (0..RULES.len()).map(|i| load("after", i, &mut sources)).collect();
        for old in &befores {
            for new in &afters {
                for change in compare(old, new) {
                    assert!(change.new.is_some() || change.old.is_some(), "{change:?} points nowhere");
                }
            }
        }
    }

    #[test]
    fn two_single_files_pair_whatever_their_names() {
        let mut fs = MemoryFs::new();
        fs.insert("/v1/orders_v1.proto", "syntax = \"proto3\";\npackage p;\nmessage M { int32 a = 1; int32 b = 2; }\n");
        fs.insert("/v2/orders_v2.proto", "syntax = \"proto3\";\npackage p;\nmessage M { int32 a = 1; }\n");
        let mut sources = Sources::new(Path::new("/"));
        let old = load_module(&fs, Path::new("/v1/orders_v1.proto"), &mut sources).unwrap();
        let new = load_module(&fs, Path::new("/v2/orders_v2.proto"), &mut sources).unwrap();
        let found: BTreeSet<&str> = compare(&old, &new).iter().map(|c| c.rule.id).collect();
        assert_eq!(
            found,
            BTreeSet::from([
                "FIELD_NO_DELETE",
                "FIELD_NO_DELETE_UNLESS_NAME_RESERVED",
                "FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED"
            ])
        );
    }

    #[test]
    fn an_unchanged_module_has_no_change() {
        for rule in RULES {
            assert_eq!(rules(rule.before, rule.before), BTreeSet::new(), "{}", rule.id);
        }
    }

    #[test]
    fn a_field_deleted_with_its_number_and_name_reserved_breaks_only_generated_code() {
        let found = rules(
            "syntax = \"proto3\";\npackage p;\nmessage M { int32 a = 1; int32 b = 2; }\n",
            "syntax = \"proto3\";\npackage p;\nmessage M { int32 a = 1; reserved 2; reserved \"b\"; }\n",
        );
        assert_eq!(found, BTreeSet::from(["FIELD_NO_DELETE"]));
    }

    #[test]
    fn string_to_bytes_keeps_the_wire_but_not_json() {
        let found = rules(
            "syntax = \"proto3\";\npackage p;\nmessage M { string a = 1; }\n",
            "syntax = \"proto3\";\npackage p;\nmessage M { bytes a = 1; }\n",
        );
        assert_eq!(found, BTreeSet::from(["FIELD_SAME_TYPE", "FIELD_WIRE_JSON_COMPATIBLE_TYPE"]));
    }

    #[test]
    fn an_enum_type_change_to_a_superset_of_the_same_name_keeps_the_wire() {
        let found = rules(
            "syntax = \"proto3\";\npackage p;\nmessage M { a.E e = 1; }\nmessage a { enum E { X = 0; } }\n",
            "syntax = \"proto3\";\npackage p;\nmessage M { b.E e = 1; }\nmessage a { enum E { X = 0; } }\nmessage b { enum E { X = 0; Y = 1; } }\n",
        );
        assert_eq!(found, BTreeSet::from(["FIELD_SAME_TYPE"]));
    }

    #[test]
    fn missing_ranges_reports_the_uncovered_parts() {
        assert_eq!(missing_ranges(&[(5, 9)], &[(5, 7)]), ["\"8 to 9\""]);
        assert_eq!(missing_ranges(&[(1, 10)], &[(1, 3), (4, 10)]), Vec::<String>::new());
        assert_eq!(missing_ranges(&[(1, 10)], &[(3, 4)]), ["\"1 to 2\"", "\"5 to 10\""]);
    }
}
