//! Explicit examples are type-checked against the schemas: a call's or
//! route's request body against its operation's request, a success
//! response's body against its response (GraphQL: against what the
//! example's query selects), a topic's example event against the schema
//! version it names. A mismatch points inside the example.

use crate::base::Span;
use crate::diag::{Code, Diagnostic, Sink};
use crate::model::contracts::{ContractUse, JsonText};
use crate::model::values::Operation;
use crate::model::Model;
use crate::schema::{shape, SchemaIndex};

pub fn run(model: &Model, schemas: &SchemaIndex, sink: &mut Sink) {
    for used in model.contract_uses() {
        if let Operation::Graphql { .. } = used.operation.value {
            graphql_requests(model, schemas, &used, sink);
        }
        let Some(bodies) = schemas.bodies_of(model, &used) else { continue };
        let grpc = matches!(used.operation.value, Operation::Grpc { .. });
        for example in &used.contract.examples {
            let what =
                |part: &str| format!("the {part} of example `{}` for `{}`", example.name.value, used.operation.value);
            if let (Some(body), Some(slot)) = (&example.request.body, &bodies.request) {
                report(body, slot, &what("request"), used.operation.span, sink);
            }
            let status = example.response.status.value;
            let success = if grpc { status == 0 } else { (200..300).contains(&status) };
            if let (Some(body), Some(slot), true) = (&example.response.body, &bodies.response, success) {
                report(body, slot, &what("response"), used.operation.span, sink);
            }
        }
    }
    for (id, example) in model.event_examples() {
        let topic = model.topic(id);
        let version = match &example.version {
            Some(number) => match topic.version(number.value) {
                Some(version) => version,
                None => {
                    sink.push(
                        Diagnostic::new(
                            Code::ExampleSchemaMismatch,
                            format!("topic `{}` has no schema version {}", topic.name.value, number.value),
                        )
                        .at(number.span, "no such version")
                        .help(format!(
                            "its versions: {}",
                            topic.versions.iter().map(|v| v.number.to_string()).collect::<Vec<_>>().join(", ")
                        )),
                    );
                    continue;
                }
            },
            None => topic.current(),
        };
        let message = version.message.as_ref().map(|m| m.value.as_str());
        let Some(slot) = schemas.get(version.schema).and_then(|s| s.event_slot(message)) else { continue };
        let what = format!(
            "example event `{}` of topic `{}` (schema version {})",
            example.name.value, topic.name.value, version.number
        );
        report(&example.message, &slot, &what, version.span, sink);
    }
}

/// A GraphQL example's request body is `{"query": ..., "variables": ...}`
/// whose query is valid for the provider's SDL and selects the operation's
/// root field.
fn graphql_requests(model: &Model, schemas: &SchemaIndex, used: &ContractUse, sink: &mut Sink) {
    let operation = &used.operation.value;
    let Some(schema) = schemas.defining_in(model, used.provider, operation, used.api_version) else { return };
    for example in &used.contract.examples {
        let Some(body) = &example.request.body else { continue };
        // Text that is not JSON is invalid-example-json's.
        let Ok(value) = serde_json::from_str::<serde_json::Value>(&body.text) else { continue };
        let query = value.get("query").and_then(|q| q.as_str());
        let problem = match query {
            None => Some("a GraphQL request is an object with a `query` string".to_string()),
            Some(query) => schema.graphql_query_problem(query, operation),
        };
        // A valid query's success response is typed by what it selects.
        let success = (200..300).contains(&example.response.status.value);
        if let (None, Some(query), Some(body), true) = (&problem, query, &example.response.body, success) {
            if let Some(response) = schema.graphql_response_schema(query) {
                let slot = shape::json(&response, &response);
                let what = format!("the response of example `{}` for `{operation}`", example.name.value);
                report(body, &slot, &what, used.operation.span, sink);
            }
        }
        if let Some(problem) = problem {
            sink.push(
                Diagnostic::new(
                    Code::ExampleSchemaMismatch,
                    format!(
                        "the request of example `{}` is not a query for `{operation}`: {problem}",
                        example.name.value
                    ),
                )
                .at(body.span, "not a request for the operation")
                .with_label(used.operation.span, "the operation")
                .help(format!(
                    "send `{{\"query\": \"...\"}}` selecting `{operation}` as the provider's schema defines it"
                )),
            );
        }
    }
}

fn report(json: &JsonText, slot: &shape::Slot, what: &str, schema_at: Span, sink: &mut Sink) {
    for mismatch in shape::validate(&json.text, slot) {
        let span = mismatch.range.map_or(json.span, |r| json.span_of(r));
        sink.push(
            Diagnostic::new(
                Code::ExampleSchemaMismatch,
                format!("{what} does not match its schema: {}", mismatch.message),
            )
            .at(span, "does not match the schema")
            .with_label(schema_at, "the schema comes from here")
            .help("fix the example, or the schema if the example is right"),
        );
    }
}
