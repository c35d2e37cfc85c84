//! An example's `body`, a topic example's `message` and a static
//! fallback's `body` must be JSON; the label points at the character the
//! parser stopped at.

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::Model;
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _: &SchemaIndex, sink: &mut Sink) {
    for json in model.contract_json() {
        let Err(error) = serde_json::from_str::<serde::de::IgnoredAny>(&json.text) else { continue };
        let offset = byte_offset(&json.text, error.line(), error.column());
        let message = error.to_string();
        let message = message.rsplit_once(" at line ").map_or(message.as_str(), |(m, _)| m);
        sink.push(
            Diagnostic::new(Code::InvalidExampleJson, format!("not valid JSON: {message}"))
                .at(json.span_of(offset..offset + 1), "the JSON parser stopped here")
                .help("write the JSON in a raw string, #\"...\"# (or #\"\"\" ... \"\"\"# over several lines), so quotes need no escapes"),
        );
    }
}

/// The byte offset of serde_json's 1-based line and column in `text`.
fn byte_offset(text: &str, line: usize, column: usize) -> usize {
    let start: usize = text.split('\n').take(line.saturating_sub(1)).map(|l| l.len() + 1).sum();
    (start + column.saturating_sub(1)).min(text.len().saturating_sub(1))
}
