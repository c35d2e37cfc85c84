//! An upstream's JSON as GraphQL values: objects answer their fields from
//! their JSON members, lists come from arrays, leaves pass through to
//! apollo's result coercion.

use apollo_compiler::ast::Type;
use apollo_compiler::resolvers::{AsyncObjectValue, AsyncResolvedValue, FieldError, ResolveInfo};
use apollo_compiler::response::{JsonMap, JsonValue};
use apollo_compiler::schema::ExtendedType;
use apollo_compiler::validation::Valid;
use apollo_compiler::Schema;
use futures::future::BoxFuture;

/// Longest piece of a value quoted in a field error.
const MAX_QUOTE_CHARS: usize = 120;

/// `value` as the value of a field of type `ty`.
///
/// JSON null is GraphQL null. A list type takes an array, item by item. An
/// object type takes a JSON object; an interface or union type a JSON object
/// whose `__typename` names the concrete object type. Scalars and enums
/// are leaves (`Float` also takes integers, `Int` integral floats and
/// decimal strings, as GraphQL result coercion allows).
pub(crate) fn resolve<'a>(
    schema: &'a Valid<Schema>,
    ty: &'a Type,
    value: JsonValue,
) -> Result<AsyncResolvedValue<'a>, FieldError> {
    if value.is_null() {
        return Ok(AsyncResolvedValue::null());
    }
    if ty.is_list() {
        let JsonValue::Array(items) = value else {
            return Err(error(format!("expected a list for {ty}, the upstream sent {}", quote(&value))));
        };
        let item_type = ty.item_type();
        let items = items.into_iter().map(move |item| resolve(schema, item_type, item));
        return Ok(AsyncResolvedValue::List(Box::pin(futures::stream::iter(items))));
    }
    let name = ty.inner_named_type();
    match schema.types.get(name) {
        Some(ExtendedType::Object(_)) => match value {
            JsonValue::Object(fields) => {
                Ok(AsyncResolvedValue::object(JsonObject { type_name: name.to_string(), fields }))
            }
            other => Err(error(format!("expected an object for {name}, the upstream sent {}", quote(&other)))),
        },
        Some(ExtendedType::Interface(_) | ExtendedType::Union(_)) => {
            let JsonValue::Object(fields) = value else {
                return Err(error(format!("expected an object for {name}, the upstream sent {}", quote(&value))));
            };
            let Some(type_name) = fields.get("__typename").and_then(JsonValue::as_str) else {
                return Err(error(format!(
                    "the upstream's object for the abstract type {name} has no `__typename` naming its object type"
                )));
            };
            let type_name = type_name.to_string();
            Ok(AsyncResolvedValue::object(JsonObject { type_name, fields }))
        }
        Some(ExtendedType::Scalar(_)) => Ok(AsyncResolvedValue::leaf(coerce_scalar(name.as_str(), value))),
        _ => Ok(AsyncResolvedValue::leaf(value)),
    }
}

/// A JSON object as an instance of the object type `type_name`.
struct JsonObject {
    type_name: String,
    fields: JsonMap,
}

impl AsyncObjectValue for JsonObject {
    fn type_name(&self) -> &str {
        &self.type_name
    }

    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> BoxFuture<'a, Result<AsyncResolvedValue<'a>, FieldError>> {
        let value = self.fields.get(info.field_name()).cloned().unwrap_or(JsonValue::Null);
        Box::pin(std::future::ready(resolve(info.schema(), &info.field_definition().ty, value)))
    }
}

/// The lossless result coercions apollo leaves out: an integer is a fine
/// `Float`; `3.0` and `"3"` are fine `Int`s (gRPC's JSON mapping writes
/// 64-bit integers as strings).
fn coerce_scalar(name: &str, value: JsonValue) -> JsonValue {
    match (name, &value) {
        ("Float", JsonValue::Number(n)) if !n.is_f64() => n.as_f64().map_or(value, JsonValue::from),
        ("Int", JsonValue::Number(n)) if n.is_f64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f >= f64::from(i32::MIN) && f <= f64::from(i32::MAX) => {
                JsonValue::from(f as i64)
            }
            _ => value,
        },
        ("Int", JsonValue::String(text)) => text.as_str().parse::<i32>().map_or(value, JsonValue::from),
        _ => value,
    }
}

fn error(message: String) -> FieldError {
    FieldError { message }
}

/// `value` as compact JSON, cut to [`MAX_QUOTE_CHARS`].
pub(crate) fn quote(value: &JsonValue) -> String {
    let text = value.to_string();
    match text.char_indices().nth(MAX_QUOTE_CHARS) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn json(value: serde_json::Value) -> JsonValue {
        JsonValue::from(value)
    }

    #[test]
    fn lossless_scalar_coercions() {
        assert_eq!(coerce_scalar("Float", json(json!(3))), json(json!(3.0)));
        assert!(coerce_scalar("Float", json(json!(3))).is_f64());
        assert_eq!(coerce_scalar("Int", json(json!(3.0))), json(json!(3)));
        assert_eq!(coerce_scalar("Int", json(json!("42"))), json(json!(42)));
        // Lossy or out of range: left for apollo to reject.
        assert_eq!(coerce_scalar("Int", json(json!(3.5))), json(json!(3.5)));
        assert_eq!(coerce_scalar("Int", json(json!("9999999999"))), json(json!("9999999999")));
        assert_eq!(coerce_scalar("Int", json(json!("x"))), json(json!("x")));
        assert_eq!(coerce_scalar("String", json(json!(1))), json(json!(1)));
    }
}
