//! Literal secrets: one scan over every string of the spec, whatever node
//! holds it, since any of them may be copied into a generated file. A
//! secret is reported by kind and place, never by value.

use super::Lower;
use crate::base::Span;
use crate::diag::{Code, Diagnostic};
use crate::load::Workspace;
use crate::model::values::literal_secret;
use crate::syntax::{Entry, Node, Value};

impl Lower<'_> {
    pub(super) fn refuse_literal_secrets(&mut self, workspace: &Workspace) {
        let specs =
            workspace.documents.iter().filter(|d| !crate::load::stdlib::contains(&self.sources.get(d.file).path));
        // An explicit stack: the spec's nesting depth is the input's to choose.
        let mut stack: Vec<&Node> = specs.flat_map(|d| d.nodes.iter()).collect();
        while let Some(node) = stack.pop() {
            for entry in &node.entries {
                let Value::String(text) = &entry.value else { continue };
                let Some(kind) = literal_secret(text) else { continue };
                let place = match &entry.name {
                    Some(property) => format!("`{}`'s `{property}`", node.name),
                    None => format!("an argument of `{}`", node.name),
                };
                self.model.secret_spans.push(self.value_span(entry));
                self.sink.push(
                    Diagnostic::new(Code::LiteralSecret, format!("{place} holds {}", kind.describe()))
                        .at(entry.span, "a secret, written literally (its value is not shown)")
                        .help(
                            "specs hold no secrets: they are copied into generated configs; name a JWKS file of \
                             public keys (`jwks`) or a URI (`jwks-uri`), and give credentials to the workload \
                             (a Kubernetes Secret, an environment variable), not to the spec",
                        ),
                );
            }
            stack.extend(node.children());
        }
    }

    /// An entry's value, without a property's `name=`.
    fn value_span(&self, entry: &Entry) -> Span {
        let span = entry.span;
        let text = &self.sources.get(span.file).text[span.start as usize..span.end as usize];
        let skip = if entry.name.is_some() { text.find('=').map_or(0, |i| i + 1) } else { 0 };
        Span::new(span.file, span.start as usize + skip..span.end as usize)
    }
}
