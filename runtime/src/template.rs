//! JSON response templates with `{{field}}` placeholders.
//!
//! A placeholder names a top-level field of the request (its protobuf JSON
//! name, or its proto name) and may stand inside any JSON string of the
//! template:
//!
//! - a string that is exactly one placeholder takes the request field's value
//!   in the type the response field expects: text for string, bytes and enum
//!   fields, the number (or its decimal string) for numeric fields, a boolean
//!   for bool fields, and the whole JSON value (object, list, ...) otherwise,
//!   so `"amount": "{{from}}"` copies a request message into the response;
//! - a placeholder inside longer text is replaced by the value's text
//!   (strings as they are, other values as compact JSON, unset ones as "").

use std::ops::Range;

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value};

/// `{{name}}` spans in `s`; `name` is trimmed and must be an identifier
/// (`[A-Za-z0-9_]+`), other `{{...}}` text is left alone.
pub(crate) fn placeholders(s: &str) -> Vec<(Range<usize>, &str)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(open) = s[from..].find("{{").map(|i| from + i) {
        let Some(close) = s[open + 2..].find("}}").map(|i| open + 2 + i) else { break };
        let name = s[open + 2..close].trim();
        if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            out.push((open..close + 2, name));
            from = close + 2;
        } else {
            from = open + 1;
        }
    }
    out
}

/// Every placeholder name used anywhere in `value`, in order of appearance.
pub(crate) fn placeholder_names(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.extend(placeholders(s).into_iter().map(|(_, n)| n.to_string())),
        Value::Array(items) => items.iter().for_each(|v| placeholder_names(v, out)),
        Value::Object(map) => map.values().for_each(|v| placeholder_names(v, out)),
        _ => {}
    }
}

/// The request field a placeholder names: JSON name first, then proto name.
pub(crate) fn request_field(input: &MessageDescriptor, name: &str) -> Option<FieldDescriptor> {
    input.get_field_by_json_name(name).or_else(|| input.get_field_by_name(name))
}

/// What a template value will be parsed as.
#[derive(Clone)]
enum Target {
    Message(MessageDescriptor),
    /// A repeated field: a list of the inner target.
    List(Box<Target>),
    /// The values of a map field.
    MapValues(Kind),
    Scalar(Kind),
    /// Unknown, or a well-known type with its own JSON form.
    Any,
}

fn kind_target(kind: Kind) -> Target {
    match kind {
        Kind::Message(m) if m.full_name().starts_with("google.protobuf.") => Target::Any,
        Kind::Message(m) => Target::Message(m),
        other => Target::Scalar(other),
    }
}

fn field_target(field: &FieldDescriptor) -> Target {
    match field.kind() {
        Kind::Message(entry) if field.is_map() => Target::MapValues(entry.map_entry_value_field().kind()),
        kind if field.is_list() => Target::List(Box::new(kind_target(kind))),
        kind => kind_target(kind),
    }
}

/// The request a template is filled from: its JSON with default values
/// included, and its type.
pub(crate) struct Request<'a> {
    pub json: &'a Map<String, Value>,
    pub input: &'a MessageDescriptor,
}

impl Request<'_> {
    fn get(&self, name: &str) -> Value {
        request_field(self.input, name).and_then(|f| self.json.get(f.json_name()).cloned()).unwrap_or(Value::Null)
    }
}

/// Fills `template`, whose top level is a message of type `output`.
pub(crate) fn render(template: &Value, output: &MessageDescriptor, request: &Request<'_>) -> Value {
    render_value(template, &kind_target(Kind::Message(output.clone())), request)
}

fn render_value(value: &Value, target: &Target, request: &Request<'_>) -> Value {
    match value {
        Value::String(s) => render_string(s, target, request),
        Value::Array(items) => {
            let element = match target {
                Target::List(element) => element,
                other => other,
            };
            Value::Array(items.iter().map(|v| render_value(v, element, request)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, v)| {
                    let child = match target {
                        Target::Message(m) => request_field(m, key).map(|f| field_target(&f)).unwrap_or(Target::Any),
                        Target::MapValues(kind) => kind_target(kind.clone()),
                        Target::List(_) | Target::Scalar(_) | Target::Any => Target::Any,
                    };
                    (key.clone(), render_value(v, &child, request))
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn render_string(s: &str, target: &Target, request: &Request<'_>) -> Value {
    let spans = placeholders(s);
    match spans.as_slice() {
        [] => Value::String(s.to_string()),
        [(range, name)] if *range == (0..s.len()) => typed(request.get(name), target),
        _ => {
            let mut out = String::with_capacity(s.len());
            let mut last = 0;
            for (range, name) in &spans {
                out.push_str(&s[last..range.start]);
                out.push_str(&text(&request.get(name)));
                last = range.end;
            }
            out.push_str(&s[last..]);
            Value::String(out)
        }
    }
}

/// A request value converted to what the target field parses.
fn typed(value: Value, target: &Target) -> Value {
    match target {
        Target::Scalar(Kind::String | Kind::Bytes) => Value::String(text(&value)),
        Target::Scalar(Kind::Enum(_)) => match value {
            Value::Number(_) => value,
            other => Value::String(text(&other)),
        },
        Target::Scalar(Kind::Bool) => match value {
            Value::String(s) if s == "true" => Value::Bool(true),
            Value::String(s) if s == "false" => Value::Bool(false),
            other => other,
        },
        _ => value,
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::placeholders;

    #[test]
    fn finds_identifier_placeholders_only() {
        let s = "a {{x}} b {{ y_2 }} {{not a name}} {{}} {{z";
        let found: Vec<_> = placeholders(s).into_iter().map(|(r, n)| (&s[r], n)).collect();
        assert_eq!(found, [("{{x}}", "x"), ("{{ y_2 }}", "y_2")]);
        assert!(placeholders("{{{a}}}").iter().any(|(_, n)| *n == "a"));
    }
}
