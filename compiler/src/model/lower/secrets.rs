//! Literal secrets: one scan over every string of the spec, whatever node
//! holds it, since any of them may be copied into a generated file. A
//! secret is reported by kind and place, never by value.

use std::ops::Deref;

use super::{Decls, Lower};
use crate::base::Span;
use crate::diag::{Code, Diagnostic};
use crate::load::Workspace;
use crate::model::values::{literal_secret, SecretKind};
use crate::syntax::{Entry, Node, Value};
use rayon::prelude::*;

impl<D: Deref<Target = Decls>> Lower<'_, D> {
    /// An entry's value, without a property's `name=`.
    fn value_span(&self, entry: &Entry) -> Span {
        let span = entry.span;
        let text = &self.sources.get(span.file).text[span.start as usize..span.end as usize];
        let skip = if entry.name.is_some() { text.find('=').map_or(0, |i| i + 1) } else { 0 };
        Span::new(span.file, span.start as usize + skip..span.end as usize)
    }
}

/// The literal secrets in `top` and the nodes below it, with the node whose
/// entry holds each.
fn secrets_under(top: &Node) -> Vec<(&Node, &Entry, SecretKind)> {
    let mut found = Vec::new();
    // An explicit stack: the spec's nesting depth is the input's to choose.
    let mut stack = vec![top];
    while let Some(node) = stack.pop() {
        for entry in &node.entries {
            if let Value::String(text) = &entry.value {
                if let Some(kind) = literal_secret(text) {
                    found.push((node, entry, kind));
                }
            }
        }
        stack.extend(node.children());
    }
    found
}

/// What declares or records: needs the declarations mutably.
impl Lower<'_> {
    pub(super) fn refuse_literal_secrets(&mut self, workspace: &Workspace) {
        let specs =
            workspace.documents.iter().filter(|d| !crate::load::stdlib::contains(&self.sources.get(d.file).path));
        let tops: Vec<&Node> = specs.flat_map(|d| d.nodes.iter()).collect();
        // Every string of the spec is scanned: in parallel, each top-level
        // node's subtree alone; reported in one order whatever the threads.
        let found: Vec<Vec<(&Node, &Entry, SecretKind)>> = tops.par_iter().map(|&top| secrets_under(top)).collect();
        for (node, entry, kind) in found.into_iter().flatten() {
            let place = match &entry.name {
                Some(property) => format!("`{}`'s `{property}`", node.name),
                None => format!("an argument of `{}`", node.name),
            };
            self.d.model.secret_spans.push(self.value_span(entry));
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
    }
}
