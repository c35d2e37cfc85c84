//! OpenAPI 3 documents (YAML or JSON) via the `openapiv3` crate.

use std::collections::HashMap;
use std::ops::Range;

use openapiv3::{OpenAPI, ReferenceOr};

use super::{Loaded, Parsed};
use crate::model::values::{HttpMethod, Operation};

pub(super) fn load(text: &str) -> Parsed {
    let position = |e: &serde_yaml_ng::Error| e.location().map(|l| l.index()..l.index() + 1);
    // A generic parse first rejects duplicate keys (on which openapiv3 can
    // panic); the typed parse then reports schema errors with their position.
    serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text).map_err(|e| (e.to_string(), position(&e)))?;
    let doc: OpenAPI = serde_yaml_ng::from_str(text).map_err(|e| (e.to_string(), position(&e)))?;
    let keys = path_keys(text);
    let mut ops = Vec::new();
    for (path, item) in doc.paths.paths.iter() {
        let ReferenceOr::Item(item) = item else {
            continue;
        };
        let range = keys.get(path.as_str()).cloned();
        for (method, _) in item.iter() {
            if let Ok(method) = HttpMethod::parse(&method.to_ascii_uppercase()) {
                ops.push((Operation::Rest { method, path: path.clone() }, range.clone()));
            }
        }
    }
    Ok(Loaded { operations: ops, ..Loaded::default() })
}

/// Where each path key (`  /orders:`, `"/orders":`) is written, found in
/// one pass over the text; used to point notes at an operation.
fn path_keys(text: &str) -> HashMap<&str, Range<usize>> {
    let mut keys = HashMap::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let indent = line.len() - line.trim_start().len();
        let rest = &line[indent..];
        let key = match rest.strip_prefix('"') {
            Some(quoted) => quoted.split_once('"').map(|(k, _)| k),
            None => rest.split_once(':').map(|(k, _)| k.trim_end()),
        };
        if let Some(key) = key.filter(|k| k.starts_with('/')) {
            let start = offset + indent;
            keys.entry(key).or_insert(start..start + key.len() + usize::from(rest.starts_with('"')) * 2);
        }
        offset += line.len();
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_method_of_every_path() {
        let text = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /orders:\n    get: {responses: {'200': {description: ok}}}\n    post: {responses: {'201': {description: ok}}}\n";
        let ops: Vec<String> = load(text).unwrap().operations.into_iter().map(|(o, _)| o.to_string()).collect();
        assert_eq!(ops, ["GET /orders", "POST /orders"]);
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let Err((_, range)) = load("openapi: 3.0.3\npaths: [\n") else { panic!("parsed") };
        assert!(range.is_some());
    }
}
