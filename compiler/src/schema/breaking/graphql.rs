//! Breaking and dangerous changes between two GraphQL schemas, as
//! graphql-js's `findBreakingChanges` and `findDangerousChanges` decide
//! them (the reference implementation; `tests/it/graphql_breaking.rs`
//! holds meshc against it): types pair by name, fields, arguments, enum
//! values, union members, interfaces and directives by name within their
//! owner. Nullability is judged by position: an output (a field's type)
//! may only become stricter (`Int` → `Int!`), an input (an argument, an
//! input field) only looser (`Int!` → `Int`).
//!
//! Built-in scalars are left out of type deletions: a schema that stops
//! using `Float` has not deleted it (graphql-js reports it, as its type map
//! holds only the scalars in use).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use apollo_compiler::ast::{InputValueDefinition, OperationType, Type, Value};
use apollo_compiler::parser::SourceSpan;
use apollo_compiler::schema::{ExtendedType, FieldDefinition};
use apollo_compiler::Node;

use super::{Change, Format, Judged, Level, Rule};
use crate::base::Span;
use crate::model::values::GraphqlRoot;
use crate::schema::GraphqlDocument;

macro_rules! graphql_rules {
    ($($id:literal, $level:ident, $reference:literal, $purpose:literal, $before:expr, $after:expr;)*) => {
        /// Every GraphQL rule: breaking, then dangerous.
        pub static RULES: &[Rule] = &[
            $(Rule { id: $id, format: Format::Graphql, judged: Judged::Level(Level::$level), purpose: $purpose, before: $before, after: $after }),*
        ];

        /// Each rule's change type in graphql-js (`BreakingChangeType`,
        /// `DangerousChangeType`), for the agreement test.
        pub static GRAPHQL_JS: &[(&str, &str)] = &[$(($id, $reference)),*];
    };
}

graphql_rules! {
    "GRAPHQL_TYPE_NO_DELETE", Breaking, "TYPE_REMOVED", "Checks that types are not deleted.",
        "type Query { order: Order }\ntype Order { id: ID }\ntype Refund { id: ID }\n",
        "type Query { order: Order }\ntype Order { id: ID }\n";
    "GRAPHQL_TYPE_SAME_KIND", Breaking, "TYPE_CHANGED_KIND", "Checks that types keep their kind (object, interface, union, enum, input, scalar).",
        "type Query { a: Int }\ntype Extra { x: Int }\n",
        "type Query { a: Int }\ninterface Extra { x: Int }\n";
    "GRAPHQL_FIELD_NO_DELETE", Breaking, "FIELD_REMOVED", "Checks that fields of objects, interfaces and input objects are not deleted.",
        "type Query {\n  a: Int\n  b: Int\n}\n",
        "type Query {\n  a: Int\n}\n";
    "GRAPHQL_FIELD_SAME_TYPE", Breaking, "FIELD_CHANGED_KIND", "Checks that fields change type only safely: an output field may become non-null, an input field nullable.",
        "type Query { a: Int! }\n",
        "type Query { a: Int }\n";
    "GRAPHQL_ARGUMENT_NO_DELETE", Breaking, "ARG_REMOVED", "Checks that arguments are not deleted.",
        "type Query { a(x: Int, y: Int): Int }\n",
        "type Query { a(x: Int): Int }\n";
    "GRAPHQL_ARGUMENT_SAME_TYPE", Breaking, "ARG_CHANGED_KIND", "Checks that arguments change type only safely (they may become nullable).",
        "type Query { a(x: Int): Int }\n",
        "type Query { a(x: Int!): Int }\n";
    "GRAPHQL_ARGUMENT_REQUIRED_NO_ADD", Breaking, "REQUIRED_ARG_ADDED", "Checks that fields take no new required argument (non-null without a default).",
        "type Query { a: Int }\n",
        "type Query { a(x: Int!): Int }\n";
    "GRAPHQL_INPUT_FIELD_REQUIRED_NO_ADD", Breaking, "REQUIRED_INPUT_FIELD_ADDED", "Checks that input objects get no new required field (non-null without a default).",
        "type Query { a(f: F): Int }\ninput F { x: Int }\n",
        "type Query { a(f: F): Int }\ninput F { x: Int y: Int! }\n";
    "GRAPHQL_ENUM_VALUE_NO_DELETE", Breaking, "VALUE_REMOVED_FROM_ENUM", "Checks that enum values are not deleted.",
        "type Query { a: E }\nenum E { ON OFF }\n",
        "type Query { a: E }\nenum E { ON }\n";
    "GRAPHQL_UNION_MEMBER_NO_DELETE", Breaking, "TYPE_REMOVED_FROM_UNION", "Checks that unions keep their member types.",
        "type Query { a: U }\nunion U = A | B\ntype A { x: Int }\ntype B { x: Int }\n",
        "type Query { a: U }\nunion U = A\ntype A { x: Int }\ntype B { x: Int }\n";
    "GRAPHQL_INTERFACE_IMPLEMENTATION_NO_DELETE", Breaking, "IMPLEMENTED_INTERFACE_REMOVED", "Checks that objects and interfaces keep implementing their interfaces.",
        "type Query { a: A }\ninterface Node { id: ID }\ntype A implements Node { id: ID }\n",
        "type Query { a: A }\ninterface Node { id: ID }\ntype A { id: ID }\n";
    "GRAPHQL_DIRECTIVE_NO_DELETE", Breaking, "DIRECTIVE_REMOVED", "Checks that directives are not deleted.",
        "directive @cached on FIELD\ntype Query { a: Int }\n",
        "type Query { a: Int }\n";
    "GRAPHQL_DIRECTIVE_ARGUMENT_NO_DELETE", Breaking, "DIRECTIVE_ARG_REMOVED", "Checks that directive arguments are not deleted.",
        "directive @cached(ttl: Int) on FIELD\ntype Query { a: Int }\n",
        "directive @cached on FIELD\ntype Query { a: Int }\n";
    "GRAPHQL_DIRECTIVE_ARGUMENT_REQUIRED_NO_ADD", Breaking, "REQUIRED_DIRECTIVE_ARG_ADDED", "Checks that directives take no new required argument.",
        "directive @cached on FIELD\ntype Query { a: Int }\n",
        "directive @cached(ttl: Int!) on FIELD\ntype Query { a: Int }\n";
    "GRAPHQL_DIRECTIVE_REPEATABLE_NO_DELETE", Breaking, "DIRECTIVE_REPEATABLE_REMOVED", "Checks that repeatable directives stay repeatable.",
        "directive @tag repeatable on FIELD\ntype Query { a: Int }\n",
        "directive @tag on FIELD\ntype Query { a: Int }\n";
    "GRAPHQL_DIRECTIVE_LOCATION_NO_DELETE", Breaking, "DIRECTIVE_LOCATION_REMOVED", "Checks that directives stay allowed where they were.",
        "directive @cached on FIELD | FRAGMENT_SPREAD\ntype Query { a: Int }\n",
        "directive @cached on FIELD\ntype Query { a: Int }\n";
    "GRAPHQL_ENUM_VALUE_NO_ADD", Dangerous, "VALUE_ADDED_TO_ENUM", "Checks that enums gain no value: clients that switch over the values meet one they do not know.",
        "type Query { a: E }\nenum E { ON }\n",
        "type Query { a: E }\nenum E { ON OFF }\n";
    "GRAPHQL_UNION_MEMBER_NO_ADD", Dangerous, "TYPE_ADDED_TO_UNION", "Checks that unions gain no member type: clients may not handle it.",
        "type Query { a: U }\nunion U = A\ntype A { x: Int }\ntype B { x: Int }\n",
        "type Query { a: U }\nunion U = A | B\ntype A { x: Int }\ntype B { x: Int }\n";
    "GRAPHQL_INPUT_FIELD_OPTIONAL_NO_ADD", Dangerous, "OPTIONAL_INPUT_FIELD_ADDED", "Checks that input objects gain no optional field (clients that do not send it get the server's choice).",
        "type Query { a(f: F): Int }\ninput F { x: Int }\n",
        "type Query { a(f: F): Int }\ninput F { x: Int y: Int }\n";
    "GRAPHQL_ARGUMENT_OPTIONAL_NO_ADD", Dangerous, "OPTIONAL_ARG_ADDED", "Checks that fields take no new optional argument (clients that do not pass it get the server's choice).",
        "type Query { a: Int }\n",
        "type Query { a(x: Int): Int }\n";
    "GRAPHQL_INTERFACE_IMPLEMENTATION_NO_ADD", Dangerous, "IMPLEMENTED_INTERFACE_ADDED", "Checks that objects implement no new interface: fragments on it now match them.",
        "type Query { a: A }\ninterface Node { id: ID }\ntype A { id: ID }\n",
        "type Query { a: A }\ninterface Node { id: ID }\ntype A implements Node { id: ID }\n";
    "GRAPHQL_ARGUMENT_SAME_DEFAULT", Dangerous, "ARG_DEFAULT_VALUE_CHANGE", "Checks that arguments keep their default values: clients that do not pass them get another behaviour.",
        "type Query { a(first: Int = 10): Int }\n",
        "type Query { a(first: Int = 20): Int }\n";
}

/// Most changes reported for one pair of schemas.
pub const MAX_CHANGES: usize = 10_000;

fn rule(id: &str) -> &'static Rule {
    RULES.iter().find(|r| r.id == id).unwrap_or(&RULES[0])
}

/// Every change from `old` to `new` that some rule reports.
pub fn compare(old: &GraphqlDocument<'_>, new: &GraphqlDocument<'_>) -> Vec<Change> {
    compare_placed(old, new).changes
}

/// Every change from `old` to `new`, with the root fields each affects.
pub fn compare_placed(old: &GraphqlDocument<'_>, new: &GraphqlDocument<'_>) -> Placed {
    let mut diff = Diff { old, new, out: Vec::new(), place: Place::Nowhere, places: Vec::new() };
    diff.types();
    diff.directives();
    let mut placed: Vec<(Change, Place)> = diff.out.into_iter().zip(diff.places).collect();
    let key = |c: &Change| (c.new, c.old, c.rule.id, c.reason.clone());
    placed.sort_by_key(|(c, _)| key(c));
    placed.dedup_by(|a, b| key(&a.0) == key(&b.0));
    placed.truncate(MAX_CHANGES);
    let (changes, places) = placed.into_iter().unzip();
    Placed { changes, places, roots: [roots(old), roots(new)], referrers: referrers(old, new) }
}

/// Where a change is: a field of a type, a type, or neither (a directive).
#[derive(Clone, Debug)]
enum Place {
    Field(String, String),
    Type(String),
    Nowhere,
}

/// What refers to a type: another type (through a field, an argument, an
/// input field, a union membership or an implemented interface) or a root
/// field (`Query.order`, through its type or an argument).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Referrer {
    Type(String),
    RootField(String),
}

/// The changes between two GraphQL schemas and, for consumer awareness,
/// the root fields each affects.
#[derive(Debug)]
pub struct Placed {
    /// Sorted as every comparator's.
    pub changes: Vec<Change>,
    places: Vec<Place>,
    /// Each version's root object types, by the root they are.
    roots: [HashMap<String, GraphqlRoot>; 2],
    /// Who refers to each type, in either version.
    referrers: HashMap<String, Vec<Referrer>>,
}

impl Placed {
    /// The root fields change `index` affects (`Query.order`, `Mutation.placeOrder`):
    /// its own when it is on a root field, else every root field whose type
    /// or arguments reach the changed type (through fields, arguments,
    /// input fields, union members and implementations); `None` when it is
    /// on no type (a directive) or on a root type itself: it may affect
    /// every root field.
    pub fn root_fields(&self, index: usize) -> Option<BTreeSet<String>> {
        let root_of = |ty: &str| self.roots.iter().find_map(|r| r.get(ty).copied());
        let ty = match self.places.get(index)? {
            Place::Nowhere => return None,
            Place::Field(ty, field) => match root_of(ty) {
                Some(root) => return Some(BTreeSet::from([format!("{}.{field}", root.as_str())])),
                None => ty,
            },
            Place::Type(ty) if root_of(ty).is_some() => return None,
            Place::Type(ty) => ty,
        };
        let mut out = BTreeSet::new();
        let mut seen = HashSet::from([ty.as_str()]);
        let mut queue = vec![ty.as_str()];
        while let Some(ty) = queue.pop() {
            for referrer in self.referrers.get(ty).into_iter().flatten() {
                match referrer {
                    Referrer::RootField(field) => {
                        out.insert(field.clone());
                    }
                    Referrer::Type(t) if seen.insert(t.as_str()) => queue.push(t.as_str()),
                    Referrer::Type(_) => {}
                }
            }
        }
        Some(out)
    }
}

/// A schema's root object types by name (`Query`, or what `schema { query: ... }` names).
fn roots(doc: &GraphqlDocument<'_>) -> HashMap<String, GraphqlRoot> {
    [
        (OperationType::Query, GraphqlRoot::Query),
        (OperationType::Mutation, GraphqlRoot::Mutation),
        (OperationType::Subscription, GraphqlRoot::Subscription),
    ]
    .into_iter()
    .filter_map(|(kind, root)| Some((doc.schema.root_operation(kind)?.to_string(), root)))
    .collect()
}

/// Who refers to each type in either schema (one pass over each).
fn referrers(old: &GraphqlDocument<'_>, new: &GraphqlDocument<'_>) -> HashMap<String, Vec<Referrer>> {
    let mut out: HashMap<String, HashSet<Referrer>> = HashMap::new();
    for doc in [old, new] {
        let roots = roots(doc);
        let mut named = |to: &str, from: Referrer| {
            out.entry(to.to_string()).or_default().insert(from);
        };
        for (name, ty) in &doc.schema.types {
            let owner = Referrer::Type(name.to_string());
            let fields = match ty {
                ExtendedType::Object(o) => Some(&o.fields),
                ExtendedType::Interface(i) => Some(&i.fields),
                _ => None,
            };
            for (field, definition) in fields.into_iter().flatten() {
                let from = match roots.get(name.as_str()) {
                    Some(root) => Referrer::RootField(format!("{}.{field}", root.as_str())),
                    None => owner.clone(),
                };
                named(definition.ty.inner_named_type().as_str(), from.clone());
                for argument in &definition.arguments {
                    named(argument.ty.inner_named_type().as_str(), from.clone());
                }
            }
            match ty {
                ExtendedType::InputObject(input) => {
                    for field in input.fields.values() {
                        named(field.ty.inner_named_type().as_str(), owner.clone());
                    }
                }
                // A member or an implementation is reached through its union or interface.
                ExtendedType::Union(union) => {
                    for member in &union.members {
                        named(member.name.as_str(), owner.clone());
                    }
                }
                ExtendedType::Object(o) => {
                    for interface in &o.implements_interfaces {
                        named(name.as_str(), Referrer::Type(interface.name.to_string()));
                    }
                }
                ExtendedType::Interface(i) => {
                    for interface in &i.implements_interfaces {
                        named(name.as_str(), Referrer::Type(interface.name.to_string()));
                    }
                }
                _ => {}
            }
        }
    }
    out.into_iter().map(|(ty, from)| (ty, from.into_iter().collect())).collect()
}

struct Diff<'a, 's> {
    old: &'a GraphqlDocument<'s>,
    new: &'a GraphqlDocument<'s>,
    out: Vec<Change>,
    /// Where the changes reported now are, and where each of `out` is.
    place: Place,
    places: Vec<Place>,
}

/// A location in a document's file, unless apollo-compiler defined it (built-ins).
fn span(doc: &GraphqlDocument<'_>, location: Option<SourceSpan>) -> Option<Span> {
    let location = location.filter(|l| l.file_id() != apollo_compiler::parser::FileId::BUILT_IN)?;
    Some(Span::new(doc.file, location.offset()..location.end_offset()))
}

fn kind(ty: &ExtendedType) -> &'static str {
    match ty {
        ExtendedType::Scalar(_) => "a scalar",
        ExtendedType::Object(_) => "an object type",
        ExtendedType::Interface(_) => "an interface",
        ExtendedType::Union(_) => "a union",
        ExtendedType::Enum(_) => "an enum",
        ExtendedType::InputObject(_) => "an input object",
    }
}

/// Whether a value of output type `old` is still what `new` returns: the
/// same type, or one made non-null at some level (graphql-js's
/// `isChangeSafeForObjectOrInterfaceField`).
fn output_change_safe(old: &Type, new: &Type) -> bool {
    match old {
        Type::List(o) => match new {
            Type::List(n) => output_change_safe(o, n),
            Type::NonNullList(n) => output_change_safe(o, n),
            _ => false,
        },
        Type::NonNullList(o) => matches!(new, Type::NonNullList(n) if output_change_safe(o, n)),
        Type::NonNullNamed(o) => matches!(new, Type::NonNullNamed(n) if o == n),
        Type::Named(o) => matches!(new, Type::Named(n) | Type::NonNullNamed(n) if o == n),
    }
}

/// Whether an input of type `old` is still accepted as `new`: the same
/// type, or one made nullable at some level (graphql-js's
/// `isChangeSafeForInputObjectFieldOrFieldArg`).
fn input_change_safe(old: &Type, new: &Type) -> bool {
    match old {
        Type::List(o) => matches!(new, Type::List(n) if input_change_safe(o, n)),
        Type::NonNullList(o) => match new {
            Type::NonNullList(n) | Type::List(n) => input_change_safe(o, n),
            _ => false,
        },
        Type::Named(o) => matches!(new, Type::Named(n) if o == n),
        Type::NonNullNamed(o) => matches!(new, Type::Named(n) | Type::NonNullNamed(n) if o == n),
    }
}

/// A non-null argument or input field without a default must be given.
fn required(input: &InputValueDefinition) -> bool {
    input.ty.is_non_null() && input.default_value.is_none()
}

/// A default value in one spelling: object fields sorted, numbers as numbers.
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(fields) => {
            let mut fields: Vec<String> = fields.iter().map(|(k, v)| format!("{k}: {}", canonical(v))).collect();
            fields.sort();
            format!("{{{}}}", fields.join(", "))
        }
        Value::List(items) => format!("[{}]", items.iter().map(|v| canonical(v)).collect::<Vec<_>>().join(", ")),
        Value::Int(i) => i.as_str().parse::<f64>().map_or(i.as_str().to_string(), |n| n.to_string()),
        Value::Float(f) => f.as_str().parse::<f64>().map_or(f.as_str().to_string(), |n| n.to_string()),
        other => other.to_string(),
    }
}

impl Diff<'_, '_> {
    fn report(&mut self, id: &str, new: Option<Span>, old: Option<Span>, reason: String) {
        if self.out.len() < MAX_CHANGES {
            self.out.push(Change { rule: rule(id), new, old, reason });
            self.places.push(self.place.clone());
        }
    }

    fn types(&mut self) {
        let (old_schema, new_schema) = (self.old.schema, self.new.schema);
        for (name, old) in &old_schema.types {
            if old.is_built_in() {
                continue;
            }
            self.place = Place::Type(name.to_string());
            let old_span = span(self.old, name_location(old));
            let Some(new) = new_schema.types.get(name) else {
                self.report("GRAPHQL_TYPE_NO_DELETE", None, old_span, format!("the type `{name}` was deleted"));
                continue;
            };
            let new_span = span(self.new, name_location(new));
            if std::mem::discriminant(old) != std::mem::discriminant(new) {
                let what = format!("`{name}` changed from {} to {}", kind(old), kind(new));
                self.report("GRAPHQL_TYPE_SAME_KIND", new_span, old_span, what);
                continue;
            }
            match (old, new) {
                (ExtendedType::Enum(o), ExtendedType::Enum(n)) => {
                    let (ov, nv): (BTreeSet<_>, BTreeSet<_>) = (o.values.keys().collect(), n.values.keys().collect());
                    for value in ov.difference(&nv) {
                        let at = span(self.old, o.values[*value].location());
                        self.report(
                            "GRAPHQL_ENUM_VALUE_NO_DELETE",
                            new_span,
                            at,
                            format!("the value `{value}` was deleted from the enum `{name}`"),
                        );
                    }
                    for value in nv.difference(&ov) {
                        let at = span(self.new, n.values[*value].location());
                        self.report(
                            "GRAPHQL_ENUM_VALUE_NO_ADD",
                            at,
                            old_span,
                            format!("the value `{value}` was added to the enum `{name}`"),
                        );
                    }
                }
                (ExtendedType::Union(o), ExtendedType::Union(n)) => {
                    let (om, nm) = (named(&o.members), named(&n.members));
                    for member in om.keys().filter(|m| !nm.contains_key(*m)) {
                        self.report(
                            "GRAPHQL_UNION_MEMBER_NO_DELETE",
                            new_span,
                            old_span,
                            format!("`{member}` is no longer a member of the union `{name}`"),
                        );
                    }
                    for (member, location) in nm.iter().filter(|(m, _)| !om.contains_key(*m)) {
                        self.report(
                            "GRAPHQL_UNION_MEMBER_NO_ADD",
                            span(self.new, *location).or(new_span),
                            old_span,
                            format!("`{member}` was added to the union `{name}`"),
                        );
                    }
                }
                (ExtendedType::InputObject(o), ExtendedType::InputObject(n)) => {
                    for (field, of) in &o.fields {
                        let what = format!("the input field `{name}.{field}`");
                        match n.fields.get(field) {
                            None => self.report(
                                "GRAPHQL_FIELD_NO_DELETE",
                                new_span,
                                span(self.old, of.location()),
                                format!("{what} was deleted"),
                            ),
                            Some(nf) if !input_change_safe(&of.ty, &nf.ty) => {
                                let why = format!("{what} changed type from `{}` to `{}`", of.ty, nf.ty);
                                self.report(
                                    "GRAPHQL_FIELD_SAME_TYPE",
                                    span(self.new, nf.location()),
                                    span(self.old, of.location()),
                                    why,
                                );
                            }
                            Some(_) => {}
                        }
                    }
                    for (field, nf) in n.fields.iter().filter(|(f, _)| !o.fields.contains_key(*f)) {
                        let (id, how) = if required(nf) {
                            ("GRAPHQL_INPUT_FIELD_REQUIRED_NO_ADD", "required")
                        } else {
                            ("GRAPHQL_INPUT_FIELD_OPTIONAL_NO_ADD", "optional")
                        };
                        self.report(
                            id,
                            span(self.new, nf.location()),
                            old_span,
                            format!("the {how} input field `{name}.{field}` was added"),
                        );
                    }
                }
                (ExtendedType::Object(o), ExtendedType::Object(n)) => {
                    self.interfaces(name, (&o.implements_interfaces, old_span), (&n.implements_interfaces, new_span));
                    self.fields(name, (&o.fields, new_span), &n.fields);
                }
                (ExtendedType::Interface(o), ExtendedType::Interface(n)) => {
                    self.interfaces(name, (&o.implements_interfaces, old_span), (&n.implements_interfaces, new_span));
                    self.fields(name, (&o.fields, new_span), &n.fields);
                }
                _ => {}
            }
        }
    }

    fn interfaces(
        &mut self,
        name: &str,
        (old, old_span): (
            &apollo_compiler::collections::IndexSet<apollo_compiler::schema::ComponentName>,
            Option<Span>,
        ),
        (new, new_span): (
            &apollo_compiler::collections::IndexSet<apollo_compiler::schema::ComponentName>,
            Option<Span>,
        ),
    ) {
        let (o, n) = (named(old), named(new));
        for interface in o.keys().filter(|i| !n.contains_key(*i)) {
            self.report(
                "GRAPHQL_INTERFACE_IMPLEMENTATION_NO_DELETE",
                new_span,
                old_span,
                format!("`{name}` no longer implements `{interface}`"),
            );
        }
        for (interface, location) in n.iter().filter(|(i, _)| !o.contains_key(*i)) {
            self.report(
                "GRAPHQL_INTERFACE_IMPLEMENTATION_NO_ADD",
                span(self.new, *location).or(new_span),
                old_span,
                format!("`{name}` now implements `{interface}`"),
            );
        }
    }

    fn fields(
        &mut self,
        owner: &str,
        (old, new_owner): (
            &apollo_compiler::collections::IndexMap<
                apollo_compiler::Name,
                apollo_compiler::schema::Component<FieldDefinition>,
            >,
            Option<Span>,
        ),
        new: &apollo_compiler::collections::IndexMap<
            apollo_compiler::Name,
            apollo_compiler::schema::Component<FieldDefinition>,
        >,
    ) {
        for (name, of) in old {
            self.place = Place::Field(owner.to_string(), name.to_string());
            let old_span = span(self.old, of.location());
            let Some(nf) = new.get(name) else {
                self.report(
                    "GRAPHQL_FIELD_NO_DELETE",
                    new_owner,
                    old_span,
                    format!("the field `{owner}.{name}` was deleted"),
                );
                continue;
            };
            let new_span = span(self.new, nf.location());
            if !output_change_safe(&of.ty, &nf.ty) {
                let why = format!("the field `{owner}.{name}` changed type from `{}` to `{}`", of.ty, nf.ty);
                self.report("GRAPHQL_FIELD_SAME_TYPE", new_span, old_span, why);
            }
            let field = format!("{owner}.{name}");
            self.arguments(&field, (&of.arguments, old_span), (&nf.arguments, new_span));
        }
    }

    fn arguments(
        &mut self,
        field: &str,
        (old, old_owner): (&[Node<InputValueDefinition>], Option<Span>),
        (new, new_owner): (&[Node<InputValueDefinition>], Option<Span>),
    ) {
        let new_by_name: HashMap<&str, &Node<InputValueDefinition>> =
            new.iter().map(|a| (a.name.as_str(), a)).collect();
        for oa in old {
            let what = format!("the argument `{}` of `{field}`", oa.name);
            let old_span = span(self.old, oa.location());
            let Some(na) = new_by_name.get(oa.name.as_str()) else {
                self.report("GRAPHQL_ARGUMENT_NO_DELETE", new_owner, old_span, format!("{what} was deleted"));
                continue;
            };
            let new_span = span(self.new, na.location());
            if !input_change_safe(&oa.ty, &na.ty) {
                let why = format!("{what} changed type from `{}` to `{}`", oa.ty, na.ty);
                self.report("GRAPHQL_ARGUMENT_SAME_TYPE", new_span, old_span, why);
            } else if let Some(old_default) = &oa.default_value {
                let old_default = canonical(old_default);
                let changed = match &na.default_value {
                    None => Some("was removed".to_string()),
                    Some(new_default) => {
                        let new_default = canonical(new_default);
                        (new_default != old_default).then(|| format!("changed from `{old_default}` to `{new_default}`"))
                    }
                };
                if let Some(how) = changed {
                    self.report(
                        "GRAPHQL_ARGUMENT_SAME_DEFAULT",
                        new_span,
                        old_span,
                        format!("the default of {what} {how}"),
                    );
                }
            }
        }
        let old_names: HashSet<&str> = old.iter().map(|a| a.name.as_str()).collect();
        for na in new.iter().filter(|na| !old_names.contains(na.name.as_str())) {
            let (id, how) = if required(na) {
                ("GRAPHQL_ARGUMENT_REQUIRED_NO_ADD", "required")
            } else {
                ("GRAPHQL_ARGUMENT_OPTIONAL_NO_ADD", "optional")
            };
            let why = format!("the {how} argument `{}` was added to `{field}`", na.name);
            self.report(id, span(self.new, na.location()), old_owner, why);
        }
    }

    fn directives(&mut self) {
        self.place = Place::Nowhere;
        for (name, od) in &self.old.schema.directive_definitions {
            let old_span = span(self.old, od.location());
            let Some(nd) = self.new.schema.directive_definitions.get(name) else {
                self.report(
                    "GRAPHQL_DIRECTIVE_NO_DELETE",
                    None,
                    old_span,
                    format!("the directive `@{name}` was deleted"),
                );
                continue;
            };
            let new_span = span(self.new, nd.location());
            let (old_names, new_names): (HashSet<&str>, HashSet<&str>) = (
                od.arguments.iter().map(|a| a.name.as_str()).collect(),
                nd.arguments.iter().map(|a| a.name.as_str()).collect(),
            );
            for oa in od.arguments.iter().filter(|oa| !new_names.contains(oa.name.as_str())) {
                let why = format!("the argument `{}` of `@{name}` was deleted", oa.name);
                self.report("GRAPHQL_DIRECTIVE_ARGUMENT_NO_DELETE", new_span, span(self.old, oa.location()), why);
            }
            for na in nd.arguments.iter().filter(|na| required(na) && !old_names.contains(na.name.as_str())) {
                let why = format!("the required argument `{}` was added to `@{name}`", na.name);
                self.report("GRAPHQL_DIRECTIVE_ARGUMENT_REQUIRED_NO_ADD", span(self.new, na.location()), old_span, why);
            }
            if od.repeatable && !nd.repeatable {
                self.report(
                    "GRAPHQL_DIRECTIVE_REPEATABLE_NO_DELETE",
                    new_span,
                    old_span,
                    format!("`@{name}` is no longer repeatable"),
                );
            }
            for location in od.locations.iter().filter(|l| !nd.locations.contains(l)) {
                let why = format!("`@{name}` is no longer allowed on {location}");
                self.report("GRAPHQL_DIRECTIVE_LOCATION_NO_DELETE", new_span, old_span, why);
            }
        }
    }
}

/// Union members or implemented interfaces by name, sorted, with where each is named.
fn named(
    names: &apollo_compiler::collections::IndexSet<apollo_compiler::schema::ComponentName>,
) -> BTreeMap<&str, Option<SourceSpan>> {
    names.iter().map(|c| (c.name.as_str(), c.name.location())).collect()
}

/// Where a type's name is written (its definition when the name has no location).
fn name_location(ty: &ExtendedType) -> Option<SourceSpan> {
    ty.name().location().or_else(|| ty.location())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::FileId;
    use crate::model::values::SchemaFormat;
    use crate::schema::fuzzing::load_text;

    fn changes(before: &str, after: &str) -> Vec<(&'static str, String)> {
        let load = |text: &str| load_text(SchemaFormat::Graphql, std::path::Path::new("/s.graphql"), text).1.unwrap();
        let (old, new) = (load(before), load(after));
        let (old, new) = (old.graphql_document().unwrap(), new.graphql_document().unwrap());
        let new = GraphqlDocument { file: FileId(1), ..new };
        compare(&old, &new).into_iter().map(|c| (c.rule.id, c.reason)).collect()
    }

    fn root_fields(before: &str, after: &str) -> Vec<(&'static str, Option<Vec<String>>)> {
        let load = |text: &str| load_text(SchemaFormat::Graphql, std::path::Path::new("/s.graphql"), text).1.unwrap();
        let (old, new) = (load(before), load(after));
        let (old, new) = (old.graphql_document().unwrap(), new.graphql_document().unwrap());
        let placed = compare_placed(&old, &new);
        let mut out: Vec<_> = (0..placed.changes.len())
            .map(|i| (placed.changes[i].rule.id, placed.root_fields(i).map(|f| f.into_iter().collect())))
            .collect();
        out.sort();
        out
    }

    #[test]
    fn changes_are_placed_at_the_root_fields_reaching_them() {
        let sdl = "schema { query: Q mutation: M }\ntype Q { order: Order, pings: [Int] }\ntype M { place(input: New): ID }\ninterface Node { id: ID }\ntype Order implements Node { id: ID, line: Line }\ntype Line { sku: String, qty: Int }\ninput New { sku: String }\n";
        let fields = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        // Through a field's type, two levels down.
        assert_eq!(
            root_fields(sdl, &sdl.replace(", qty: Int", "")),
            [("GRAPHQL_FIELD_NO_DELETE", fields(&["Query.order"]))]
        );
        // A root field itself, and an input type reached through an argument.
        let after = sdl.replace(", pings: [Int]", "").replace("input New { sku: String }", "input New { sku: Int }");
        assert_eq!(
            root_fields(sdl, &after),
            [
                ("GRAPHQL_FIELD_NO_DELETE", fields(&["Query.pings"])),
                ("GRAPHQL_FIELD_SAME_TYPE", fields(&["Mutation.place"])),
            ]
        );
        // A directive is on no type: it may affect every root field.
        let directive = "directive @cached on FIELD_DEFINITION\n";
        assert_eq!(root_fields(&format!("{directive}{sdl}"), sdl), [("GRAPHQL_DIRECTIVE_NO_DELETE", None)]);
    }

    fn ids(before: &str, after: &str) -> BTreeSet<&'static str> {
        changes(before, after).into_iter().map(|(id, _)| id).collect()
    }

    #[test]
    fn every_rule_reports_its_own_example_and_nothing_else() {
        for rule in RULES {
            assert_eq!(ids(rule.before, rule.after), BTreeSet::from([rule.id]), "{}", rule.id);
            assert!(ids(rule.before, rule.before).is_empty(), "{}", rule.id);
        }
        assert_eq!(GRAPHQL_JS.len(), RULES.len());
    }

    #[test]
    fn nullability_is_judged_by_position() {
        // Output: nullable → non-null is safe, the reverse breaks.
        assert!(ids("type Query { a: [Int] }\n", "type Query { a: [Int!]! }\n").is_empty());
        assert_eq!(
            ids("type Query { a: [Int!] }\n", "type Query { a: [Int] }\n"),
            BTreeSet::from(["GRAPHQL_FIELD_SAME_TYPE"])
        );
        // Input: non-null → nullable is safe, the reverse breaks.
        assert!(ids("type Query { a(x: [Int!]!): Int }\n", "type Query { a(x: [Int]): Int }\n").is_empty());
        let input = |t: &str| format!("type Query {{ a(f: F): Int }}\ninput F {{ x: {t} }}\n");
        assert_eq!(ids(&input("Int"), &input("Int!")), BTreeSet::from(["GRAPHQL_FIELD_SAME_TYPE"]));
        assert!(ids(&input("Int!"), &input("Int")).is_empty());
    }

    #[test]
    fn defaults_compare_by_value_not_spelling() {
        let arg = |d: &str| format!("type Query {{ a(f: F = {d}): Int }}\ninput F {{ x: Int y: Int }}\n");
        assert!(ids(&arg("{x: 1, y: 2}"), &arg("{y: 2, x: 1}")).is_empty());
        assert_eq!(ids(&arg("{x: 1}"), &arg("{x: 2}")), BTreeSet::from(["GRAPHQL_ARGUMENT_SAME_DEFAULT"]));
    }

    #[test]
    fn reasons_name_the_element() {
        let rule = Rule::get("GRAPHQL_ARGUMENT_REQUIRED_NO_ADD").unwrap();
        let found = changes(rule.before, rule.after);
        assert_eq!(found[0].1, "the required argument `x` was added to `Query.a`");
    }
}
