//! JSON Schema files for topics: parsed with serde_json, then checked
//! against their meta-schema with `jsonschema` (the draft `$schema` names;
//! 2020-12 without one). The top-level `title`, `type`, `properties` (with
//! `required`) and the names in `$defs` / `definitions` are indexed.
//!
//! A meta-schema error is pointed at its instance location: the JSON
//! Pointer jsonschema reports, found in the text by [`JsonSpans`].

use std::ops::Range;

use serde_json::Value;

use super::json_spans::{self, JsonSpans};
use super::{EventField, EventShape, LoadedEvent, Parsed};

pub(super) fn load(text: &str) -> Parsed {
    let value: Value = serde_json::from_str(text).map_err(|e| json_spans::syntax_error(text, &e))?;
    let spans = JsonSpans::new(text);
    if let Err(error) = jsonschema::meta::validate(&value) {
        let mut pointer = error.instance_path().as_str().to_string();
        if pointer.is_empty() && value.get("$schema").is_some() && error.to_string().contains("$schema") {
            pointer = "/$schema".into();
        }
        let range = spans.as_ref().and_then(|s| s.locate(&pointer)).or_else(|| start(text));
        let at = if pointer.is_empty() { String::new() } else { format!(" at `{pointer}`") };
        return Err((format!("not a valid JSON Schema{at}: {error}"), range));
    }
    super::refs::check(&value, text)?;
    let mut event = LoadedEvent {
        shape: EventShape {
            name: value.get("title").and_then(Value::as_str).map(str::to_string),
            kind: type_of(&value),
            ..EventShape::default()
        },
        ..LoadedEvent::default()
    };
    event.name_range = spans.as_ref().and_then(|s| s.locate("/title"));
    let required: Vec<&str> =
        value.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    if let Some(properties) = value.get("properties").and_then(Value::as_object) {
        for (name, range) in members(properties, spans.as_ref(), "/properties") {
            let property = &properties[&name];
            event.shape.fields.push(EventField {
                ty: type_of(property),
                required: required.contains(&name.as_str()),
                default: property.get("default").is_some(),
                name,
                span: None,
            });
            event.field_ranges.push(range);
        }
    }
    for key in ["$defs", "definitions"] {
        if let Some(defs) = value.get(key).and_then(Value::as_object) {
            let pointer = json_spans::join("", key);
            event.shape.types.extend(members(defs, spans.as_ref(), &pointer).into_iter().map(|(name, _)| name));
        }
    }
    Ok(super::Loaded { event: Some(event), json_schema: Some(value), ..super::Loaded::default() })
}

/// An object's member names in file order (serde_json's map is sorted), with
/// the range of each key.
fn members(
    object: &serde_json::Map<String, Value>,
    spans: Option<&JsonSpans>,
    pointer: &str,
) -> Vec<(String, Option<Range<usize>>)> {
    let Some(spans) = spans else {
        return object.keys().map(|k| (k.clone(), None)).collect();
    };
    let Some(parent) = spans.find(pointer) else { return Vec::new() };
    spans
        .children(parent)
        .filter_map(|child| {
            let name = spans.key(child)?;
            // The last of repeated keys is the one serde_json kept.
            let kept = object.contains_key(name.as_ref()) && spans.member(parent, &name) == Some(child);
            kept.then(|| (name.into_owned(), spans.node(child).key.clone()))
        })
        .collect()
}

/// A schema's `type` (`string`, `integer|null` for several), else its
/// `$ref`, else empty.
fn type_of(schema: &Value) -> String {
    match (schema.get("type"), schema.get("$ref")) {
        (Some(Value::String(t)), _) => t.clone(),
        (Some(Value::Array(types)), _) => types.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("|"),
        (_, Some(Value::String(r))) => r.clone(),
        _ => String::new(),
    }
}

/// The first non-blank character: where an error without a better place is shown.
fn start(text: &str) -> Option<Range<usize>> {
    let at = text.len() - text.trim_start().len();
    Some(json_spans::char_at(text, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REVIEW: &str = r##"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "ReviewPosted",
  "type": "object",
  "required": ["reviewId", "rating"],
  "properties": {
    "reviewId": {"type": "string", "format": "uuid"},
    "rating": {"type": "integer", "minimum": 1, "maximum": 5},
    "body": {"type": ["string", "null"], "default": null},
    "author": {"$ref": "#/$defs/Author"}
  },
  "$defs": {"Author": {"type": "object"}}
}"##;

    fn error(text: &str) -> (String, String) {
        let Err((message, Some(range))) = load(text) else { panic!("loaded: {text}") };
        (message, text[range].to_string())
    }

    #[test]
    fn title_type_properties_and_definitions_are_indexed_in_file_order() {
        let loaded = load(REVIEW).unwrap_or_else(|e| panic!("{e:?}"));
        let event = loaded.event.unwrap();
        assert_eq!(event.shape.name.as_deref(), Some("ReviewPosted"));
        assert_eq!(event.shape.kind, "object");
        let fields: Vec<(&str, &str, bool, bool)> =
            event.shape.fields.iter().map(|f| (f.name.as_str(), f.ty.as_str(), f.required, f.default)).collect();
        assert_eq!(
            fields,
            [
                ("reviewId", "string", true, false),
                ("rating", "integer", true, false),
                ("body", "string|null", false, true),
                ("author", "#/$defs/Author", false, false),
            ]
        );
        let keys: Vec<&str> = event.field_ranges.iter().map(|r| &REVIEW[r.clone().unwrap()]).collect();
        assert_eq!(keys, ["\"reviewId\"", "\"rating\"", "\"body\"", "\"author\""]);
        assert_eq!(&REVIEW[event.name_range.unwrap()], "\"ReviewPosted\"");
        assert_eq!(event.shape.types, ["Author"]);
    }

    #[test]
    fn json_syntax_errors_point_at_the_character() {
        let text = "{\n  \"type\": \"object\",\n  \"properties\": {\"a\": {\"type\": \"string\"}}}\n}\n";
        let (message, at) = error(text);
        assert_eq!(message, "JSON syntax error: trailing characters");
        assert_eq!(at, "}");
        let Err((_, Some(range))) = load(text) else { unreachable!() };
        assert_eq!(range.start, text.rfind('}').unwrap());
    }

    #[test]
    fn meta_schema_errors_point_at_the_instance_location() {
        let text = r#"{
  "type": "object",
  "properties": {
    "rating": {"type": "integr"}
  }
}"#;
        let (message, at) = error(text);
        assert!(message.starts_with("not a valid JSON Schema at `/properties/rating/type`: "), "{message}");
        assert_eq!(at, "\"integr\"");
        let text = r#"{"properties": {"a/b": {"minimum": "one"}}}"#;
        let (message, at) = error(text);
        assert!(message.contains("`/properties/a~1b/minimum`"), "{message}");
        assert_eq!(at, "\"one\"");
        let text = r#"{"required": "rating"}"#;
        assert_eq!(error(text).1, "\"rating\"");
        let text = r#"{"properties": []}"#;
        assert_eq!(error(text).1, "\"properties\"", "a container is shown by its key");
    }

    #[test]
    fn the_draft_comes_from_dollar_schema() {
        // `$defs` is not a keyword of draft 7: only 2020-12 checks inside it.
        let bad_def = r#"{"$defs": {"A": {"type": 5}}}"#;
        assert!(load(bad_def).is_err());
        let draft7 = r#"{"$schema": "http://json-schema.org/draft-07/schema#", "$defs": {"A": {"type": 5}}}"#;
        assert!(load(draft7).is_ok(), "{:?}", load(draft7).err());
    }

    #[test]
    fn an_unknown_meta_schema_is_an_error_not_a_panic() {
        let text = r#"{"$schema": "https://example.com/no-such-draft", "type": "object"}"#;
        let result = std::panic::catch_unwind(|| load(text));
        let Ok(Err((message, range))) = result else { panic!("loaded or panicked") };
        assert!(message.contains("no-such-draft"), "{message}");
        assert!(range.is_some());
    }

    #[test]
    fn a_boolean_schema_is_valid_and_has_no_fields() {
        let event = load("true").unwrap().event.unwrap();
        assert!(event.shape.fields.is_empty() && event.shape.name.is_none());
    }
}
