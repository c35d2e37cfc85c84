//! OpenAPI 3 documents (YAML or JSON) via the `openapiv3` crate.

use openapiv3::{OpenAPI, ReferenceOr};

use super::Parsed;
use crate::model::values::{HttpMethod, Operation};

pub(super) fn operations(text: &str) -> Parsed {
    let position = |e: &serde_yaml_ng::Error| e.location().map(|l| l.index()..l.index() + 1);
    // A generic parse first rejects duplicate keys (on which openapiv3 can
    // panic); the typed parse then reports schema errors with their position.
    serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text).map_err(|e| (e.to_string(), position(&e)))?;
    let doc: OpenAPI = serde_yaml_ng::from_str(text).map_err(|e| (e.to_string(), position(&e)))?;
    let mut ops = Vec::new();
    for (path, item) in doc.paths.paths.iter() {
        let ReferenceOr::Item(item) = item else {
            continue;
        };
        let range = find_key(text, path);
        for (method, _) in item.iter() {
            if let Ok(method) = HttpMethod::parse(&method.to_ascii_uppercase()) {
                ops.push((Operation::Rest { method, path: path.clone() }, range.clone()));
            }
        }
    }
    Ok(ops)
}

/// The span of a path key (`  /orders:` or `"/orders":`), for notes.
fn find_key(text: &str, key: &str) -> Option<std::ops::Range<usize>> {
    [format!("{key}:"), format!("\"{key}\"")]
        .iter()
        .find_map(|needle| text.find(needle.as_str()).map(|i| i..i + needle.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_method_of_every_path() {
        let text = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /orders:\n    get: {responses: {'200': {description: ok}}}\n    post: {responses: {'201': {description: ok}}}\n";
        let ops: Vec<String> = operations(text).unwrap().into_iter().map(|(o, _)| o.to_string()).collect();
        assert_eq!(ops, ["GET /orders", "POST /orders"]);
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let (_, range) = operations("openapi: 3.0.3\npaths: [\n").unwrap_err();
        assert!(range.is_some());
    }
}
