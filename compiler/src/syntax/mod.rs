//! KDL text → AST with a span on every node and entry.
//!
//! **Invariant:** parsing never fails and does no IO: it returns the nodes it
//! could read plus diagnostics. Plain KDL, what nearly every spec file is
//! written in, is read by a one-pass reader of its own ([`plain`]); any
//! other text, and every syntax error, by the streaming `just-kdl` reader
//! (see docs/architecture.md for the measurements).

mod ast;
mod input;
mod plain;

pub use ast::{Document, Entry, Node, Value};

use just_kdl::dom::number::Description;
use just_kdl::dom::{Event, Number};
use just_kdl::reader::Reader;

use crate::base::{FileId, Span};
use crate::diag::{Code, Diagnostic};

/// Parses one file. On a syntax error, nodes completed before it are kept.
pub fn parse(file: FileId, text: &str) -> (Document, Vec<Diagnostic>) {
    match plain::read(file, text) {
        Some(nodes) => (Document { file, nodes }, Vec::new()),
        None => parse_general(file, text),
    }
}

/// [`parse`] by the general reader alone, whatever the text: the reference
/// the plain reader is held to (tests and the fuzzer compare the two).
#[doc(hidden)]
pub fn parse_general(file: FileId, text: &str) -> (Document, Vec<Diagnostic>) {
    let mut builder = Builder { stack: Vec::new(), top: Vec::new(), too_deep: None };
    let mut diagnostics = Vec::new();
    let mut read_up_to = 0;
    let outcome = crate::base::catch_panic(|| {
        for item in Reader::new(input::GuardedInput::new(text.as_bytes())) {
            match item {
                Ok((event, range)) => {
                    read_up_to = range.end;
                    builder.push(event, Span::new(file, range));
                    if let Some(span) = builder.too_deep {
                        diagnostics.push(too_deep(span));
                        break;
                    }
                }
                Err((error, range)) => {
                    let span = Span::new(file, clamp(range, text.len()));
                    diagnostics.push(
                        Diagnostic::new(
                            Code::KdlSyntax,
                            format!("invalid KDL: {}", without_offset(&error.to_string())),
                        )
                        .at(span, "the parser stopped here")
                        .help("the spec language is KDL v2; see docs/language.md for the syntax"),
                    );
                    break;
                }
            }
        }
    });
    // just-kdl 0.3 panics on some malformed multi-line strings; report it
    // like any other syntax error, after the last event it did read.
    if outcome.is_err() {
        let span = Span::new(file, clamp(read_up_to..read_up_to + 1, text.len()));
        diagnostics.push(
            Diagnostic::new(Code::KdlSyntax, "invalid KDL: the parser could not read past this point")
                .at(span, "the parser stopped after this")
                .help("check the string or block that follows, e.g. the indentation of a multi-line string's closing `\"\"\"`"),
        );
    }
    (Document { file, nodes: builder.top }, diagnostics)
}

/// Blocks nested deeper than this end the parse: the spec language nests a
/// handful of levels, and a bound keeps every later recursion (lowering,
/// dropping the tree) far from the stack's limit.
pub const MAX_NESTING: usize = 32;

fn too_deep(span: Span) -> Diagnostic {
    Diagnostic::new(Code::NestingTooDeep, format!("blocks nest deeper than {MAX_NESTING} levels"))
        .at(span, format!("level {} starts here", MAX_NESTING + 1))
        .help("the spec language nests a few levels (service → traffic → circuit-breaker); flatten the file, or look for unbalanced `{`")
}

/// The reader's messages end in a byte offset (`... at 142`); the span already says where.
fn without_offset(message: &str) -> &str {
    match message.rsplit_once(" at ") {
        Some((head, tail)) if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) => head,
        _ => message,
    }
}

fn clamp(range: std::ops::Range<usize>, len: usize) -> std::ops::Range<usize> {
    let start = range.start.min(len);
    start..range.end.clamp(start, len)
}

/// Assembles the reader's event stream into nodes; unfinished nodes are
/// dropped when the stream ends early.
struct Builder {
    /// Open nodes, innermost last.
    stack: Vec<Node>,
    top: Vec<Node>,
    /// The node that opened a level past [`MAX_NESTING`]; nothing is read after it.
    too_deep: Option<Span>,
}

impl Builder {
    fn push(&mut self, event: Event, span: Span) {
        match event {
            Event::Node { .. } if self.stack.len() >= MAX_NESTING => self.too_deep = Some(span),
            Event::Node { r#type, name } => self.stack.push(Node {
                name: name.to_string(),
                name_span: span,
                type_annotation: r#type.map(|t| t.to_string()),
                entries: Vec::new(),
                children: None,
                span,
            }),
            Event::Entry(entry) => {
                if let Some(node) = self.stack.last_mut() {
                    node.entries.push(Entry {
                        name: entry.name.map(|n| n.to_string()),
                        type_annotation: entry.r#type.map(|t| t.to_string()),
                        value: value(entry.value),
                        span,
                    });
                }
            }
            Event::Children => {
                if let Some(node) = self.stack.last_mut() {
                    node.children.get_or_insert_with(Vec::new);
                }
            }
            Event::End => {
                if let Some(mut node) = self.stack.pop() {
                    // A block ends at its `}`; otherwise the node ends at its last
                    // entry, not at the newline or `;` that terminates it.
                    node.span = match (&node.children, node.entries.last()) {
                        (Some(_), _) => node.span.to(span),
                        (None, Some(last)) => node.span.to(last.span),
                        (None, None) => node.span,
                    };
                    match self.stack.last_mut() {
                        Some(parent) => parent.children.get_or_insert_with(Vec::new).push(node),
                        None => self.top.push(node),
                    }
                }
            }
        }
    }
}

fn value(value: just_kdl::dom::Value) -> Value {
    match value {
        just_kdl::dom::Value::String(s) => Value::String(s.to_string()),
        just_kdl::dom::Value::Number(n) => number(&n),
        just_kdl::dom::Value::Bool(b) => Value::Bool(b),
        just_kdl::dom::Value::Null => Value::Null,
    }
}

fn number(n: &Number) -> Value {
    match n.describe() {
        Description::Integer { base, text } => match i128::from_str_radix(text, base.as_radix()) {
            Ok(i) => Value::Integer(i),
            Err(_) => Value::Float(n.coerce_to_f64()),
        },
        Description::Float { .. } | Description::Special { .. } => Value::Float(n.coerce_to_f64()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Document {
        let (doc, diags) = parse(FileId(0), text);
        assert!(diags.is_empty(), "{diags:?}");
        doc
    }

    #[test]
    fn nodes_entries_and_children_keep_spans() {
        let text = "service \"orders\" {\n  address \"o.svc\" port=8080\n}\n";
        let doc = parse_ok(text);
        let service = &doc.nodes[0];
        assert_eq!(service.name, "service");
        assert_eq!(&text[service.name_span.range()], "service");
        let address = &service.children.as_ref().unwrap()[0];
        assert_eq!(address.entries[1].name.as_deref(), Some("port"));
        assert_eq!(address.entries[1].value, Value::Integer(8080));
        assert_eq!(&text[address.entries[1].span.range()], "port=8080");
        assert!(text[service.span.range()].ends_with('}'));
    }

    #[test]
    fn syntax_error_is_a_diagnostic_and_completed_nodes_survive() {
        let (doc, diags) = parse(FileId(0), "mesh \"a\"\nservice \"x\" {\n  owner \"t\n");
        assert_eq!(doc.nodes.len(), 1);
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].code, Code::KdlSyntax);
    }

    #[test]
    fn nesting_past_the_limit_is_a_diagnostic_not_a_stack_overflow() {
        let text = format!("{}{}", "a {".repeat(200_000), "}".repeat(200_000));
        // 200,000 levels overflowed the stack before the limit.
        let (doc, diags) = parse(FileId(0), &text);
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].code, Code::NestingTooDeep);
        assert_eq!(diags[0].primary.as_ref().unwrap().span.start as usize, 3 * MAX_NESTING);
        assert!(doc.nodes.is_empty(), "unfinished nodes are dropped");
        let (_, ok) = parse(FileId(0), &format!("{}{}", "a {".repeat(MAX_NESTING), "}".repeat(MAX_NESTING)));
        assert!(ok.is_empty(), "{ok:?}");
    }

    #[test]
    fn numbers_in_other_bases_are_integers() {
        let doc = parse_ok("n 0x10 0o10 0b10 1.5");
        let values: Vec<_> = doc.nodes[0].entries.iter().map(|e| e.value.clone()).collect();
        assert_eq!(values, vec![Value::Integer(16), Value::Integer(8), Value::Integer(2), Value::Float(1.5)]);
    }
}
