//! An example's request must be one the provider's operation takes, or the
//! runner sends it to another route (or none): its concrete path matches
//! the operation's path template, and its path and query parameters are
//! ones the OpenAPI operation declares, of their types, with every required
//! query parameter given.

use std::collections::HashMap;

use crate::base::Span;
use crate::diag::{suggestion, Code, Diagnostic, Sink};
use crate::model::contracts::{ContractUse, Example};
use crate::model::values::{path_parameters, Operation};
use crate::model::Model;
use crate::schema::{shape, RestParameter, SchemaIndex};

pub fn run(model: &Model, schemas: &SchemaIndex, sink: &mut Sink) {
    for used in model.contract_uses() {
        let Operation::Rest { path: template, .. } = &used.operation.value else { continue };
        let parameters = schemas
            .defining_in(model, used.provider, &used.operation.value, used.api_version)
            .and_then(|schema| schema.rest_shapes(&used.operation.value))
            .map(|shapes| shapes.parameters);
        for example in &used.contract.examples {
            check_example(&used, template, parameters.as_deref(), example, sink);
        }
    }
}

fn check_example(
    used: &ContractUse,
    template: &str,
    parameters: Option<&[RestParameter]>,
    example: &Example,
    sink: &mut Sink,
) {
    let operation = &used.operation.value;
    let mismatch = |message: String, at: Span, label: &str, help: String| {
        Diagnostic::new(Code::ExampleRequestMismatch, message)
            .at(at, label)
            .with_label(used.operation.span, "the operation")
            .help(help)
    };
    let path_values = match &example.request.path {
        Some(path) => {
            match path_parameters(template, &path.value).and_then(|values| match path.value.find(['?', '#']) {
                Some(at) => Err(format!("it carries `{}`", &path.value[at..at + 1])),
                None => Ok(values),
            }) {
                Ok(values) => values,
                Err(why) => {
                    sink.push(mismatch(
                        format!("the path of example `{}` does not match `{operation}`: {why}", example.name.value),
                        path.span,
                        "not a path of the operation",
                        format!("give a path of the form `{template}`, its query as `query` children"),
                    ));
                    return;
                }
            }
        }
        None if template.contains('{') => {
            sink.push(mismatch(
                format!("example `{}` gives no path, and `{operation}` has path parameters", example.name.value),
                example.name.span,
                "no concrete path",
                format!("add `request path=\"...\"` with values for the parameters of `{template}`"),
            ));
            return;
        }
        None => Vec::new(),
    };
    let Some(parameters) = parameters else { return };
    let declared = |location: &str, name: &str| parameters.iter().find(|p| p.location == location && p.name == name);
    for (name, value) in &path_values {
        if let (Some(parameter), Some(path)) = (declared("path", name), &example.request.path) {
            if let Some(why) = value_mismatch(value, parameter) {
                sink.push(mismatch(
                    format!("path parameter `{name}` of example `{}` is `{value}`: {why}", example.name.value),
                    path.span,
                    "a parameter of the wrong type",
                    "give a value of the parameter's type".to_string(),
                ));
            }
        }
    }
    let queries: Vec<&str> = parameters.iter().filter(|p| p.location == "query").map(|p| p.name.as_str()).collect();
    let mut given: HashMap<&str, usize> = HashMap::new();
    for pair in &example.request.query {
        *given.entry(pair.name.value.as_str()).or_default() += 1;
        let Some(parameter) = declared("query", &pair.name.value) else {
            sink.push(mismatch(
                format!("`{operation}` declares no query parameter `{}`", pair.name.value),
                pair.name.span,
                "not a parameter of the operation",
                suggestion(&pair.name.value, queries.iter().copied())
                    .unwrap_or_else(|| "the operation takes no query parameters".to_string()),
            ));
            continue;
        };
        if let Some(why) = value_mismatch(&pair.value.value, parameter) {
            sink.push(mismatch(
                format!("query parameter `{}` of example `{}`: {why}", pair.name.value, example.name.value),
                pair.value.span,
                "a value of the wrong type",
                "give a value of the parameter's type".to_string(),
            ));
        }
    }
    for missing in
        parameters.iter().filter(|p| p.location == "query" && p.required && !given.contains_key(p.name.as_str()))
    {
        sink.push(mismatch(
            format!("example `{}` lacks the required query parameter `{}`", example.name.value, missing.name),
            example.name.span,
            "a required parameter is missing",
            format!("add `query \"{}\" \"...\"` to its request", missing.name),
        ));
    }
}

/// Why `value` is not a value of the parameter, if it is not. A number or
/// boolean parameter's value is its text as JSON; anything else, a string.
/// List and object parameters (styles and explode rules) are not judged.
fn value_mismatch(value: &str, parameter: &RestParameter) -> Option<String> {
    let json = match &parameter.slot.shape {
        shape::Shape::List(_) | shape::Shape::Object(_) | shape::Shape::Any => return None,
        shape::Shape::Scalar(
            shape::Scalar::Bool
            | shape::Scalar::Int32
            | shape::Scalar::UInt32
            | shape::Scalar::Integer
            | shape::Scalar::Float,
        ) => match serde_json::from_str::<serde_json::Value>(value) {
            Ok(parsed) if parsed.is_number() || parsed.is_boolean() => value.to_string(),
            _ => serde_json::Value::String(value.to_string()).to_string(),
        },
        _ => serde_json::Value::String(value.to_string()).to_string(),
    };
    let slot = shape::Slot { shape: parameter.slot.shape.clone(), optional: false };
    shape::validate(&json, &slot).into_iter().next().map(|m| m.message)
}
