//! GraphQL SDL files via `apollo-compiler`: the file is parsed and validated
//! as a schema; every field of a root operation type becomes an operation
//! (`Query.orders`), with its argument and result types. The validated
//! schema is kept, so checks can unfold the types a field returns
//! ([`GraphqlType`]) and backends can ship the SDL.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::ops::Range;

use apollo_compiler::ast::{Definition, Document, FieldDefinition, OperationType, Type};
use apollo_compiler::diagnostic::ToCliReport;
use apollo_compiler::parser::{FileId, SourceSpan};
use apollo_compiler::schema::ExtendedType;
use apollo_compiler::validation::{DiagnosticData, DiagnosticList, Valid};
use apollo_compiler::Node;

use super::{Loaded, Parsed};
use crate::model::values::{GraphqlRoot, Operation};

/// A GraphQL type reference: `Review`, `[Review!]!`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeRef {
    pub non_null: bool,
    pub of: TypeOf,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypeOf {
    Named(String),
    List(Box<TypeRef>),
}

impl TypeRef {
    fn from_ast(ty: &Type) -> TypeRef {
        match ty {
            Type::Named(n) => TypeRef { non_null: false, of: TypeOf::Named(n.to_string()) },
            Type::NonNullNamed(n) => TypeRef { non_null: true, of: TypeOf::Named(n.to_string()) },
            Type::List(inner) => TypeRef { non_null: false, of: TypeOf::List(Box::new(TypeRef::from_ast(inner))) },
            Type::NonNullList(inner) => {
                TypeRef { non_null: true, of: TypeOf::List(Box::new(TypeRef::from_ast(inner))) }
            }
        }
    }

    /// The named type at the bottom of any lists.
    pub fn innermost(&self) -> &str {
        match &self.of {
            TypeOf::Named(name) => name,
            TypeOf::List(inner) => inner.innermost(),
        }
    }
}

impl fmt::Display for TypeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.of {
            TypeOf::Named(name) => f.write_str(name)?,
            TypeOf::List(inner) => write!(f, "[{inner}]")?,
        }
        if self.non_null {
            f.write_str("!")?;
        }
        Ok(())
    }
}

/// The types of a root field, for checks of the arguments a call passes
/// and the type it expects back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldSignature {
    pub arguments: Vec<ArgumentSignature>,
    pub result: TypeRef,
}

/// An argument of a field, or a field of an input object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgumentSignature {
    pub name: String,
    pub ty: TypeRef,
    /// The default value as written in GraphQL syntax, e.g. `10`.
    pub default: Option<String>,
}

impl ArgumentSignature {
    /// A non-null argument without a default must be passed.
    pub fn required(&self) -> bool {
        self.ty.non_null && self.default.is_none()
    }
}

/// A named type of the schema, as far as checks unfold it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GraphqlType {
    /// A built-in (`String`, `Int`, `Float`, `Boolean`, `ID`) or custom scalar.
    Scalar {
        builtin: bool,
    },
    Enum {
        values: Vec<String>,
    },
    Object {
        fields: Vec<OutputField>,
    },
    InputObject {
        fields: Vec<ArgumentSignature>,
    },
    /// An interface or union: the concrete type is known only per value.
    Abstract,
}

/// A field of an object type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputField {
    pub name: String,
    pub ty: TypeRef,
    /// Where the SDL defines it (byte range in the file).
    pub range: Option<Range<usize>>,
}

/// What the GraphQL loader keeps beyond operations.
pub(super) struct LoadedGraphql {
    pub schema: Valid<apollo_compiler::Schema>,
    pub signatures: HashMap<String, FieldSignature>,
}

impl fmt::Debug for LoadedGraphql {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedGraphql").field("signatures", &self.signatures).finish_non_exhaustive()
    }
}

impl LoadedGraphql {
    /// Why `query` (an example's GraphQL request) is not valid for the
    /// schema, or selects no root field `field` of a `root` operation; `None`
    /// when it is valid and does.
    pub fn query_problem(&self, query: &str, root: GraphqlRoot, field: &str) -> Option<String> {
        use apollo_compiler::executable::Selection;
        let document =
            match apollo_compiler::ExecutableDocument::parse_and_validate(&self.schema, query, "query.graphql") {
                Ok(document) => document,
                Err(invalid) => return Some(first_error(&invalid.errors).0),
            };
        let kind = match root {
            GraphqlRoot::Query => OperationType::Query,
            GraphqlRoot::Mutation => OperationType::Mutation,
            GraphqlRoot::Subscription => OperationType::Subscription,
        };
        // Fragments may select it: only plain field selections are judged.
        let selects = document.operations.iter().filter(|op| op.operation_type == kind).any(|op| {
            op.selection_set.selections.iter().any(|s| match s {
                Selection::Field(f) => f.name == field,
                Selection::FragmentSpread(_) | Selection::InlineFragment(_) => true,
            })
        });
        (!selects).then(|| format!("it selects no `{field}` in a {} operation", kind.name()))
    }

    /// The JSON Schema (OpenAPI dialect, for [`super::shape::json`]) of a
    /// response to `query`: `{"data": ...}` holding, per selected field
    /// under its response key, its type as the SDL declares it (non-null
    /// fields required, nullable ones `nullable`), objects narrowed to
    /// their selections; fields a fragment selects are optional (its type
    /// condition may not hold). `None` when the query is not valid.
    pub fn response_schema(&self, query: &str) -> Option<serde_json::Value> {
        let document =
            apollo_compiler::ExecutableDocument::parse_and_validate(&self.schema, query, "query.graphql").ok()?;
        let operation = document.operations.iter().next()?;
        let data = self.selection_schema(&document, &operation.selection_set, 0);
        Some(serde_json::json!({
            "type": "object",
            "properties": {
                "data": with_nullable(data),
                "errors": {"type": "array"},
                "extensions": {},
            },
        }))
    }

    fn selection_schema(
        &self,
        document: &apollo_compiler::ExecutableDocument,
        selections: &apollo_compiler::executable::SelectionSet,
        depth: usize,
    ) -> serde_json::Value {
        let mut properties = serde_json::Map::new();
        let mut required = Vec::new();
        self.collect_fields(document, selections, false, depth, &mut properties, &mut required);
        let title = selections.ty.as_str();
        serde_json::json!({ "type": "object", "title": title, "properties": properties, "required": required })
    }

    /// Adds a selection set's fields; `conditional`: under a fragment.
    fn collect_fields(
        &self,
        document: &apollo_compiler::ExecutableDocument,
        selections: &apollo_compiler::executable::SelectionSet,
        conditional: bool,
        depth: usize,
        properties: &mut serde_json::Map<String, serde_json::Value>,
        required: &mut Vec<String>,
    ) {
        use apollo_compiler::executable::Selection;
        // Validated queries are finite, but deep ones are bounded all the same.
        if depth > MAX_SELECTION_DEPTH {
            return;
        }
        for selection in &selections.selections {
            match selection {
                Selection::Field(field) => {
                    let key = field.response_key().to_string();
                    if properties.contains_key(&key) {
                        continue;
                    }
                    let schema = self.type_schema(document, field.ty(), &field.selection_set, depth + 1);
                    if field.ty().is_non_null() && !conditional {
                        required.push(key.clone());
                    }
                    properties.insert(key, schema);
                }
                Selection::InlineFragment(inline) => {
                    let conditional = conditional || inline.type_condition.is_some();
                    self.collect_fields(document, &inline.selection_set, conditional, depth + 1, properties, required);
                }
                Selection::FragmentSpread(spread) => {
                    if let Some(fragment) = document.fragments.get(&spread.fragment_name) {
                        let set = &fragment.selection_set;
                        self.collect_fields(document, set, true, depth + 1, properties, required);
                    }
                }
            }
        }
    }

    fn type_schema(
        &self,
        document: &apollo_compiler::ExecutableDocument,
        ty: &Type,
        selections: &apollo_compiler::executable::SelectionSet,
        depth: usize,
    ) -> serde_json::Value {
        let schema = match ty {
            Type::List(inner) | Type::NonNullList(inner) => {
                serde_json::json!({ "type": "array", "items": self.type_schema(document, inner, selections, depth) })
            }
            Type::Named(name) | Type::NonNullNamed(name) => match name.as_str() {
                "Int" => serde_json::json!({ "type": "integer", "format": "int32" }),
                "Float" => serde_json::json!({ "type": "number" }),
                "String" | "ID" => serde_json::json!({ "type": "string" }),
                "Boolean" => serde_json::json!({ "type": "boolean" }),
                _ => match self.schema.types.get(name.as_str()) {
                    Some(ExtendedType::Enum(e)) => {
                        serde_json::json!({ "type": "string", "enum": e.values.keys().map(|v| v.as_str()).collect::<Vec<_>>() })
                    }
                    Some(ExtendedType::Object(_) | ExtendedType::Interface(_) | ExtendedType::Union(_)) => {
                        self.selection_schema(document, selections, depth)
                    }
                    // Custom scalars travel as any JSON value.
                    _ => serde_json::json!({}),
                },
            },
        };
        if ty.is_non_null() {
            schema
        } else {
            with_nullable(schema)
        }
    }

    pub fn named_type(&self, name: &str) -> Option<GraphqlType> {
        let argument = |a: &apollo_compiler::ast::InputValueDefinition| ArgumentSignature {
            name: a.name.to_string(),
            ty: TypeRef::from_ast(&a.ty),
            default: a.default_value.as_ref().map(|v| v.to_string()),
        };
        Some(match self.schema.types.get(name)? {
            ExtendedType::Scalar(s) => GraphqlType::Scalar { builtin: s.is_built_in() },
            ExtendedType::Enum(e) => GraphqlType::Enum { values: e.values.keys().map(|v| v.to_string()).collect() },
            ExtendedType::Object(o) => GraphqlType::Object {
                fields: o
                    .fields
                    .values()
                    .map(|f| OutputField {
                        name: f.name.to_string(),
                        ty: TypeRef::from_ast(&f.ty),
                        range: definition_range(f.name.location(), f.location()),
                    })
                    .collect(),
            },
            ExtendedType::InputObject(i) => {
                GraphqlType::InputObject { fields: i.fields.values().map(|f| argument(f)).collect() }
            }
            ExtendedType::Interface(_) | ExtendedType::Union(_) => GraphqlType::Abstract,
        })
    }
}

/// Selection sets nested deeper than this are not described.
const MAX_SELECTION_DEPTH: usize = 64;

fn with_nullable(mut schema: serde_json::Value) -> serde_json::Value {
    schema["nullable"] = true.into();
    schema
}

pub(super) fn load(text: &str) -> Parsed {
    // The path only names the file in apollo's own messages, which are not shown.
    let mut document = Document::parse(text, "schema.graphql").map_err(|e| first_error(&e.errors))?;
    drop_repeated_fields(&mut document);
    let schema = document.to_schema_validate().map_err(|e| first_error(&e.errors))?;
    let mut loaded = Loaded::default();
    let mut signatures = HashMap::new();
    for (kind, root) in [
        (OperationType::Query, GraphqlRoot::Query),
        (OperationType::Mutation, GraphqlRoot::Mutation),
        (OperationType::Subscription, GraphqlRoot::Subscription),
    ] {
        // Without a `schema` definition, apollo-compiler makes the types
        // named Query, Mutation and Subscription the roots.
        let Some(object) = schema.root_operation(kind).and_then(|name| schema.get_object(name)) else {
            continue;
        };
        for field in object.fields.values() {
            let operation = Operation::Graphql { root, field: field.name.to_string() };
            let signature = FieldSignature {
                arguments: field
                    .arguments
                    .iter()
                    .map(|a| ArgumentSignature {
                        name: a.name.to_string(),
                        ty: TypeRef::from_ast(&a.ty),
                        default: a.default_value.as_ref().map(|v| v.to_string()),
                    })
                    .collect(),
                result: TypeRef::from_ast(&field.ty),
            };
            signatures.insert(operation.key(), signature);
            loaded.operations.push((operation, definition_range(field.name.location(), field.location())));
        }
    }
    loaded.graphql = Some(LoadedGraphql { schema, signatures });
    Ok(loaded)
}

/// The first error inside the file, with the number of others; apollo
/// sorts errors by file and offset, those without a location first.
fn first_error(errors: &DiagnosticList) -> (String, Option<Range<usize>>) {
    let located = |d: &DiagnosticData| d.location().filter(|l| l.file_id() != FileId::BUILT_IN);
    let all: Vec<&DiagnosticData> = errors.iter().map(|d| d.error).collect();
    let Some(first) = all.iter().find(|d| located(d).is_some()).or(all.first()) else {
        return ("the schema does not validate".to_string(), None);
    };
    let mut message = readable(&first.to_string());
    if all.len() > 1 {
        let more = all.len() - 1;
        message.push_str(&format!(" (and {more} more error{})", if more == 1 { "" } else { "s" }));
    }
    (message, located(first).map(|l| l.offset()..l.end_offset()))
}

/// apollo-parser names punctuation by token kind (`expected R_BRACK, got }`).
fn readable(message: &str) -> String {
    const TOKENS: [(&str, &str); 12] = [
        ("L_BRACK", "`[`"),
        ("R_BRACK", "`]`"),
        ("L_CURLY", "`{`"),
        ("R_CURLY", "`}`"),
        ("L_PAREN", "`(`"),
        ("R_PAREN", "`)`"),
        ("COLON", "`:`"),
        ("EQ", "`=`"),
        ("BANG", "`!`"),
        ("PIPE", "`|`"),
        ("AT", "`@`"),
        ("AMP", "`&`"),
    ];
    message
        .split(' ')
        .map(|word| {
            let bare = word.trim_end_matches(',');
            match TOKENS.iter().find(|(kind, _)| *kind == bare) {
                Some((_, text)) => word.replacen(bare, text, 1),
                None => word.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Drops a field defined a second time in the same type with the same
/// arguments and type (descriptions aside): the schema means the same either
/// way, and GitHub's published schema has such repeats
/// (`EnterpriseOwnerInfo.repositoryDeployKeySetting`). Repeats that disagree
/// are left for validation to report.
fn drop_repeated_fields(document: &mut Document) {
    for definition in &mut document.definitions {
        let fields = match definition {
            Definition::ObjectTypeDefinition(d) => &mut d.make_mut().fields,
            Definition::ObjectTypeExtension(d) => &mut d.make_mut().fields,
            Definition::InterfaceTypeDefinition(d) => &mut d.make_mut().fields,
            Definition::InterfaceTypeExtension(d) => &mut d.make_mut().fields,
            _ => continue,
        };
        let mut names = HashSet::with_capacity(fields.len());
        if fields.iter().all(|f| names.insert(&f.name)) {
            continue;
        }
        let mut kept: Vec<Node<FieldDefinition>> = Vec::with_capacity(fields.len());
        for field in fields.drain(..) {
            let same = |k: &Node<FieldDefinition>| k.name == field.name && undescribed(k) == undescribed(&field);
            if !kept.iter().any(same) {
                kept.push(field);
            }
        }
        *fields = kept;
    }
}

/// A field definition without its own or its arguments' descriptions.
fn undescribed(field: &FieldDefinition) -> FieldDefinition {
    let mut field = field.clone();
    field.description = None;
    for argument in &mut field.arguments {
        argument.make_mut().description = None;
    }
    field
}

/// A field definition from its name to its end: the description before
/// the name is left out, so a pointer at the field shows its signature.
fn definition_range(name: Option<SourceSpan>, field: Option<SourceSpan>) -> Option<Range<usize>> {
    let field = field?;
    let start = name.map_or(field.offset(), |n| n.offset());
    Some(start..field.end_offset())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operations(text: &str) -> Vec<(String, String)> {
        let loaded = load(text).unwrap_or_else(|e| panic!("{e:?}"));
        loaded.operations.into_iter().map(|(o, r)| (o.to_string(), text[r.expect("a range")].to_string())).collect()
    }

    #[test]
    fn root_types_default_to_query_mutation_and_subscription() {
        let text = "type Query {\n  \"\"\"All reviews.\"\"\"\n  reviews(first: Int = 10, product: ID!): [Review!]!\n  review(id: ID!): Review\n}\n\
                    type Mutation { addReview(text: String!): Review! }\n\
                    type Subscription { reviewAdded: Review! }\n\
                    type Review { id: ID! text: String }\n";
        assert_eq!(
            operations(text),
            [
                ("Query.reviews".to_string(), "reviews(first: Int = 10, product: ID!): [Review!]!".to_string()),
                ("Query.review".to_string(), "review(id: ID!): Review".to_string()),
                ("Mutation.addReview".to_string(), "addReview(text: String!): Review!".to_string()),
                ("Subscription.reviewAdded".to_string(), "reviewAdded: Review!".to_string()),
            ]
        );
    }

    #[test]
    fn a_schema_definition_names_the_root_types() {
        let text = "schema { query: Root mutation: Changes }\n\
                    type Root { ping: String }\n\
                    type Changes { bump(by: Int!): Int }\n\
                    type Query { notRoot: String }\n";
        let ops: Vec<String> = operations(text).into_iter().map(|(o, _)| o).collect();
        assert_eq!(ops, ["Query.ping", "Mutation.bump"]);
    }

    #[test]
    fn signatures_keep_argument_and_result_types_as_written() {
        let text = "type Query { reviews(first: Int = 10, product: ID!, tags: [String!]): [Review!]! }\ntype Review { id: ID! }\n";
        let loaded = load(text).unwrap();
        let sig = &loaded.graphql.as_ref().unwrap().signatures["Query.reviews"];
        assert_eq!(sig.result.to_string(), "[Review!]!");
        let args: Vec<(&str, String, Option<&str>, bool)> =
            sig.arguments.iter().map(|a| (&*a.name, a.ty.to_string(), a.default.as_deref(), a.required())).collect();
        assert_eq!(
            args,
            [
                ("first", "Int".to_string(), Some("10"), false),
                ("product", "ID!".to_string(), None, true),
                ("tags", "[String!]".to_string(), None, false)
            ]
        );
    }

    #[test]
    fn named_types_unfold_objects_inputs_and_enums() {
        let text = "type Query { a(in: In): Out }\ntype Out { id: ID! tags: [String!] kind: Kind next: Out }\n\
                    input In { x: Int = 1 y: [Kind!]! }\nenum Kind { A B }\nunion U = Out\nscalar Date\n";
        let loaded = load(text).unwrap();
        let graphql = loaded.graphql.as_ref().unwrap();
        let Some(GraphqlType::Object { fields }) = graphql.named_type("Out") else { panic!() };
        let fields: Vec<String> = fields.iter().map(|f| format!("{}: {}", f.name, f.ty)).collect();
        assert_eq!(fields, ["id: ID!", "tags: [String!]", "kind: Kind", "next: Out"]);
        let Some(GraphqlType::InputObject { fields }) = graphql.named_type("In") else { panic!() };
        assert_eq!((fields[0].required(), fields[1].required()), (false, true));
        assert_eq!(graphql.named_type("Kind"), Some(GraphqlType::Enum { values: vec!["A".into(), "B".into()] }));
        assert_eq!(graphql.named_type("U"), Some(GraphqlType::Abstract));
        assert_eq!(graphql.named_type("Date"), Some(GraphqlType::Scalar { builtin: false }));
        assert_eq!(graphql.named_type("Int"), Some(GraphqlType::Scalar { builtin: true }));
        assert_eq!(graphql.named_type("Nope"), None);
    }

    #[test]
    fn extensions_add_root_fields() {
        let text = "type Query { a: Int }\nextend type Query { b: Int }\n";
        let ops: Vec<String> = operations(text).into_iter().map(|(o, _)| o).collect();
        assert_eq!(ops, ["Query.a", "Query.b"]);
    }

    #[test]
    fn syntax_errors_point_into_the_file() {
        let text = "type Query {\n  reviews: [Review!\n}\ntype Review { id: ID! }\n";
        let Err((message, Some(range))) = load(text) else { panic!("parsed") };
        assert_eq!(message, "syntax error: expected `]`, got }");
        assert!(range.start >= text.find("reviews").unwrap() && range.end <= text.len(), "{range:?}");
    }

    #[test]
    fn validation_errors_point_at_the_first_one() {
        let text = "type Query {\n  reviews: [Review!]!\n  author: Author\n}\n";
        let Err((message, Some(range))) = load(text) else { panic!("validated") };
        assert!(message.contains("Review"), "{message}");
        assert!(message.contains("1 more error"), "{message}");
        assert_eq!(&text[range], "Review");
    }

    #[test]
    fn a_schema_without_a_query_type_is_invalid() {
        // GraphQL requires a query root; apollo-compiler reports its absence without a location.
        let result = load("type Mutation { a: Int }\n");
        assert!(result.is_err(), "{:?}", result.map(|l| l.operations));
    }

    #[test]
    fn an_empty_file_is_invalid() {
        assert!(load("").is_err());
    }

    #[test]
    fn a_field_repeated_alike_is_indexed_once() {
        let text = "type Query {\n  \"\"\"One.\"\"\"\n  a(x: Int): Int\n  \"\"\"Two.\"\"\"\n  a(\"\"\"X.\"\"\" x: Int): Int\n  b: Int\n}\n";
        let ops = operations(text);
        assert_eq!(ops.iter().map(|(o, _)| o.as_str()).collect::<Vec<_>>(), ["Query.a", "Query.b"]);
        assert_eq!(ops[0].1, "a(x: Int): Int", "the first definition is kept");
    }

    #[test]
    fn a_field_repeated_differently_is_an_error() {
        let text = "type Query {\n  a: Int\n  a: String\n}\n";
        let Err((message, Some(range))) = load(text) else { panic!("validated") };
        assert!(message.contains("duplicate definitions for the `a` field"), "{message}");
        assert_eq!(&text[range], "a: String");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        // Schemas load on rayon's worker threads, which have 2 MiB stacks.
        let n = 20_000;
        let inputs = [
            format!("type Query {{ a: {}Int{} }}\n", "[".repeat(n), "]".repeat(n)),
            format!("type Query {{ a(x: [Int] = {}1{}): Int }}\n", "[".repeat(n), "]".repeat(n)),
            format!("type Query {{ a(x: In = {}): Int }}\ninput In {{ b: Int }}\n", "{b: ".repeat(n) + &"}".repeat(n)),
        ];
        for text in inputs {
            let result = std::thread::Builder::new()
                .stack_size(2 << 20)
                .spawn(move || load(&text).map(|_| ()).map_err(|(m, _)| m))
                .unwrap()
                .join()
                .expect("no stack overflow");
            assert!(result.is_err(), "{result:?}");
        }
    }
}
