//! The spec AST: KDL's document model plus spans. It knows nothing of the
//! spec language's vocabulary; that is the model layer's business.

use crate::base::{FileId, Span};

#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    pub file: FileId,
    pub nodes: Vec<Node>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub name: String,
    /// The name (with its type annotation, if any).
    pub name_span: Span,
    pub type_annotation: Option<String>,
    pub entries: Vec<Entry>,
    /// `None` when the node has no `{ }` block.
    pub children: Option<Vec<Node>>,
    /// The whole node, through its closing brace or terminator.
    pub span: Span,
}

impl Node {
    pub fn children(&self) -> &[Node] {
        self.children.as_deref().unwrap_or(&[])
    }

    /// Positional arguments, in order.
    pub fn arguments(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|e| e.name.is_none())
    }

    /// The right-most property with this name (KDL: later properties win).
    pub fn property(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| e.name.as_deref() == Some(name))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The key, for a property; `None` for an argument.
    pub name: Option<String>,
    pub type_annotation: Option<String>,
    pub value: Value,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    String(String),
    Integer(i128),
    Float(f64),
    Bool(bool),
    Null,
}

impl Value {
    /// The value's KDL type, as named in diagnostics.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "string",
            Value::Integer(_) => "integer",
            Value::Float(_) => "number",
            Value::Bool(_) => "boolean",
            Value::Null => "#null",
        }
    }
}
