//! The query an implicit contract of a GraphQL operation sends: the root
//! field, selecting what the consumer reads (or `__typename` of an object
//! it reads nothing of), so a runner can check the reads without an example.

use std::collections::BTreeMap;

use crate::model::contracts::{FieldPath, Segment};
use crate::model::values::{GraphqlRoot, Operation};
use crate::schema::{GraphqlType, Schema, TypeOf, TypeRef};

/// Selections deeper than this are cut to `__typename` (reads are short;
/// this bounds what a spec can make the emitter write).
const MAX_DEPTH: usize = 16;

/// `query { FIELD { SELECTION } }` for a `Query` field that takes no
/// required argument; `None` for mutations (an implicit contract must not
/// change anything) and fields that need arguments (only an example can
/// give their values).
pub fn implicit_query(schema: &Schema, operation: &Operation, reads: &[&FieldPath]) -> Option<String> {
    let Operation::Graphql { root: GraphqlRoot::Query, field } = operation else { return None };
    let signature = schema.graphql_signature(operation)?;
    if signature.arguments.iter().any(|a| a.required()) {
        return None;
    }
    let mut tree = Tree::default();
    for read in reads {
        tree.insert(read.segments().iter().filter_map(|s| match s {
            Segment::Field(name) => Some(name.as_str()),
            Segment::Each => None,
        }));
    }
    Some(format!("query {{ {field}{} }}", selection(schema, &signature.result, &tree, 0)))
}

/// Field names to select, nested.
#[derive(Default)]
struct Tree<'a>(BTreeMap<&'a str, Tree<'a>>);

impl<'a> Tree<'a> {
    fn insert(&mut self, mut path: impl Iterator<Item = &'a str>) {
        if let Some(name) = path.next() {
            self.0.entry(name).or_default().insert(path);
        }
    }
}

fn named(ty: &TypeRef) -> &str {
    match &ty.of {
        TypeOf::Named(name) => name,
        TypeOf::List(inner) => named(inner),
    }
}

/// ` { a b { c } }` for an object or abstract type, nothing for a leaf.
fn selection(schema: &Schema, ty: &TypeRef, tree: &Tree, depth: usize) -> String {
    let fields = match schema.graphql_type(named(ty)) {
        Some(GraphqlType::Object { fields }) => fields,
        Some(GraphqlType::Abstract) => return " { __typename }".to_string(),
        _ => return String::new(),
    };
    let chosen: Vec<String> = tree
        .0
        .iter()
        .filter(|_| depth < MAX_DEPTH)
        .filter_map(|(name, below)| {
            let field = fields.iter().find(|f| f.name == *name)?;
            Some(format!("{name}{}", selection(schema, &field.ty, below, depth + 1)))
        })
        .collect();
    if chosen.is_empty() {
        " { __typename }".to_string()
    } else {
        format!(" {{ {} }}", chosen.join(" "))
    }
}
