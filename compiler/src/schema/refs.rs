//! Local `$ref`s (`#/...`) of OpenAPI and JSON Schema documents: each must
//! name a place in the document, and a chain of references must end in a
//! schema rather than loop. A broken one would otherwise reach request
//! validator rules and topic schemas, where it fails at run time.
//! References to other files are not followed (and not checked).

use std::collections::HashSet;
use std::ops::Range;

use serde_json::Value;

use super::json_spans::{self, JsonSpans};

/// Longest chain of `$ref`s to `$ref`s followed before it counts as a loop.
const MAX_CHAIN: usize = 64;

/// The first dangling or looping `$ref` of `doc`: a message and the range
/// of its value in `text`.
pub(super) fn check(doc: &Value, text: &str) -> Result<(), (String, Option<Range<usize>>)> {
    let Some((pointer, reference, why)) = first_broken(doc) else { return Ok(()) };
    let at = format!("{pointer}/$ref");
    let range = JsonSpans::new(text)
        .and_then(|s| s.locate(&json_spans::join(&pointer, "$ref")))
        .or_else(|| text.find(&reference).map(|i| i..i + reference.len()));
    Err((format!("the `$ref` `{reference}` at `{at}` {why}"), range))
}

/// (pointer of the object holding the `$ref`, the reference, what is wrong).
fn first_broken(doc: &Value) -> Option<(String, String, &'static str)> {
    // An explicit stack: documents nest as deep as their authors like.
    let mut stack: Vec<(String, &Value)> = vec![(String::new(), doc)];
    while let Some((pointer, value)) = stack.pop() {
        match value {
            Value::Object(members) => {
                if let Some(Value::String(reference)) = members.get("$ref") {
                    if let Some(why) = broken(doc, reference) {
                        return Some((pointer, reference.clone(), why));
                    }
                }
                for (key, member) in members.iter().rev() {
                    stack.push((json_spans::join(&pointer, key), member));
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate().rev() {
                    stack.push((format!("{pointer}/{i}"), item));
                }
            }
            _ => {}
        }
    }
    None
}

/// Why a local reference does not lead to a schema, if it does not.
fn broken(doc: &Value, reference: &str) -> Option<&'static str> {
    let mut seen = HashSet::new();
    let mut next = reference;
    loop {
        let fragment = next.strip_prefix('#')?; // another file's: not followed
        if !seen.insert(next) || seen.len() > MAX_CHAIN {
            return Some("is part of a cycle of references that never reaches a schema");
        }
        match doc.pointer(fragment) {
            None => return Some("points at nothing in this document"),
            Some(Value::Object(t)) => match t.get("$ref") {
                Some(Value::String(r)) => next = r,
                _ => return None,
            },
            Some(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        check(&serde_json::from_str(text).unwrap(), text).unwrap_err().0
    }

    #[test]
    fn dangling_and_looping_refs_are_found_and_located() {
        let text = r##"{"properties": {"a": {"$ref": "#/$defs/missing"}}, "$defs": {}}"##;
        let (message, range) = check(&serde_json::from_str(text).unwrap(), text).unwrap_err();
        assert_eq!(message, "the `$ref` `#/$defs/missing` at `/properties/a/$ref` points at nothing in this document");
        assert_eq!(&text[range.unwrap()], "\"#/$defs/missing\"");
        let cycle = r##"{"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}}"##;
        assert!(error(cycle).contains("cycle"));
        assert!(error(r##"{"$defs": {"a": {"$ref": "#/$defs/a"}}}"##).contains("cycle"));
    }

    #[test]
    fn resolving_recursive_and_external_refs_pass() {
        let tree = r##"{"$defs": {"node": {"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}}, "$ref": "#/$defs/node"}"##;
        assert!(check(&serde_json::from_str(tree).unwrap(), tree).is_ok());
        let external = r#"{"$ref": "other.json#/x"}"#;
        assert!(check(&serde_json::from_str(external).unwrap(), external).is_ok());
        let escaped = r##"{"$defs": {"a/b": {}}, "$ref": "#/$defs/a~1b"}"##;
        assert!(check(&serde_json::from_str(escaped).unwrap(), escaped).is_ok());
    }
}
