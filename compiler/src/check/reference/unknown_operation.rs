//! Every call, route and GraphQL resolver that names an operation must name
//! one the target service's schemas define, through an API of the
//! operation's kind; a use naming an API version, one that version's schema
//! defines (a route weighing versions, one each of them defines).

use crate::base::{Span, Spanned};
use crate::diag::{close_matches, did_you_mean_text, Code, Diagnostic, Sink};
use crate::model::api_versions::{ApiVersionRef, RouteVersions};
use crate::model::values::Operation;
use crate::model::{CallOrigin, Model, ServiceId};
use crate::schema::SchemaIndex;

pub fn run(model: &Model, schemas: &SchemaIndex, sink: &mut Sink) {
    for (id, service) in model.service_ids().zip(&model.services) {
        // A resolver's call repeats the resolver, checked below (its field by graphql-resolvers).
        for call in service.calls.iter().filter(|c| c.origin == CallOrigin::Declared) {
            if let Some(op) = &call.operation {
                check(model, schemas, call.target.value, op, call.api_version, sink);
            }
            // `for=` names an operation of the caller itself.
            if let Some(op) = &call.serving {
                check(model, schemas, id, op, None, sink);
            }
        }
        for resolver in service.apis.iter().flat_map(|a| &a.resolvers) {
            check(model, schemas, resolver.target.value, &resolver.operation, None, sink);
        }
    }
    for gateway in &model.gateways {
        for route in &gateway.routes {
            if let Some(forward) = route.forward() {
                let Some(op) = &forward.operation else { continue };
                let named = forward.api_versions.as_ref().map(RouteVersions::named).unwrap_or_default();
                if named.is_empty() {
                    check(model, schemas, forward.target.value, op, None, sink);
                }
                for version in named {
                    check(model, schemas, forward.target.value, op, Some(version), sink);
                }
            }
        }
    }
}

fn check(
    model: &Model,
    schemas: &SchemaIndex,
    target: ServiceId,
    op: &Spanned<Operation>,
    version: Option<ApiVersionRef>,
    sink: &mut Sink,
) {
    let service = model.service(target);
    let kind = op.value.kind();
    let apis: Vec<_> = match version {
        // Lowering chose the API (one serving the operation, when it names one).
        Some(v) => vec![&service.apis[v.api.index()]],
        None => service.apis.iter().filter(|a| a.kind == kind).collect(),
    };
    let in_scope = |def: &&crate::schema::OperationDef| apis.iter().any(|a| a.serves(&def.operation));
    if apis.is_empty() {
        let served: Vec<String> = service.apis.iter().map(|a| format!("`{}` ({})", a.name.value, a.kind)).collect();
        sink.push(
            Diagnostic::new(
                Code::OperationKindMismatch,
                format!("`{}` is a {kind} operation, but service `{}` serves no {kind} API", op.value, service.name.value),
            )
            .at(op.span, format!("{kind} operation"))
            .with_label(service.name.span, if served.is_empty() { "declares no API".to_string() } else { format!("serves {}", served.join(", ")) })
            .help(format!("name an operation of one of its APIs, or declare its {kind} API: api \"name\" kind=\"{kind}\" schema=\"...\"")),
        );
        return;
    }
    let loaded: Vec<_> = apis.iter().filter_map(|a| schemas.get(a.schema_for(version.map(|v| v.version)))).collect();
    if loaded.is_empty() {
        return; // no index for these schemas: their own diagnostics explain why
    }
    if loaded.iter().filter_map(|s| s.find(&op.value)).any(|def| in_scope(&def)) {
        return;
    }
    let defs = loaded.iter().flat_map(|s| s.operations.iter()).filter(in_scope);
    let names: Vec<String> = defs.clone().map(|d| d.operation.to_string()).collect();
    let wanted = op.value.to_string();
    let close = closest_operations(&op.value, &names);
    let in_version = match version {
        Some(v) => format!(" in API version `{}`", apis[0].version(v.version).name.value),
        None => String::new(),
    };
    let mut d = Diagnostic::new(
        Code::UnknownOperation,
        format!("service `{}` has no operation `{wanted}`{in_version}", service.name.value),
    )
    .at(op.span, "unknown operation")
    .help(match close.first() {
        Some(_) => did_you_mean_text(&close),
        None if names.len() <= 8 && !names.is_empty() => {
            format!("its {kind} operations: {}", names.join(", "))
        }
        None => format!("see the operations its {kind} schema defines"),
    });
    let best = close.first();
    let pointer: Option<Span> = best
        .and_then(|b| defs.clone().find(|d| d.operation.to_string() == *b))
        .and_then(|d| d.span)
        .or_else(|| loaded.first().map(|s| Span { file: s.file, start: 0, end: 0 }));
    if let Some(span) = pointer {
        d = d.with_label(
            span,
            if best.is_some() { "the closest operation is defined here" } else { "the schema searched" },
        );
    }
    sink.push(d);
}

/// The operations closest to a missing one. A gRPC method is compared with
/// the methods of its own service by name alone (`ClearCart` with
/// `EmptyCart`, not with every `hipstershop.CartService/...` string, whose
/// shared prefix would make them all look alike); otherwise whole names.
fn closest_operations<'a>(wanted: &Operation, names: &'a [String]) -> Vec<&'a str> {
    if let Operation::Grpc { service, method } = wanted {
        let prefix = format!("{service}/");
        let siblings: Vec<&str> = names.iter().filter_map(|n| n.strip_prefix(&prefix)).collect();
        let close = close_matches(method, siblings.iter().copied());
        if !close.is_empty() {
            let full = |m: &str| names.iter().find(|n| n.strip_prefix(&prefix) == Some(m)).map(String::as_str);
            return close.into_iter().filter_map(full).collect();
        }
    }
    close_matches(&wanted.to_string(), names.iter().map(String::as_str))
}
