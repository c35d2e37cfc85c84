//! REST routes to gRPC operations. A route that targets a gRPC operation
//! either carries gRPC (its match admits `/package.Service/Method`) or says
//! `transcode`, in which case the gateway maps REST requests to the method by
//! its `google.api.http` bindings (Envoy's gRPC-JSON transcoder), or by the
//! binding the route declares (`transcode "POST /v1/x" body="*"`). This pass
//! checks that a binding exists, names real request fields, and is
//! reachable through the route's match.

use crate::base::Span;
use crate::diag::{did_you_mean, Code, Diagnostic, Sink};
use crate::model::values::Operation;
use crate::model::{Model, PathMatch, Route, Transcode};
use crate::schema::{HttpRule, SchemaIndex};

pub fn run(model: &Model, schemas: &SchemaIndex, sink: &mut Sink) {
    for gateway in &model.gateways {
        for route in &gateway.routes {
            let Some(forward) = route.forward() else { continue };
            let Some(op) = &forward.operation else { continue };
            match (&op.value, &forward.transcode) {
                (Operation::Grpc { .. }, None) => carries_grpc(route, &op.value, sink),
                (Operation::Grpc { .. }, Some(transcode)) => {
                    let version = forward.api_versions.as_ref().and_then(|v| v.one());
                    let Some(schema) = schemas.defining_in(model, forward.target.value, &op.value, version) else {
                        continue;
                    };
                    check_bindings(route, &op.value, transcode, schema, sink);
                }
                (_, Some(transcode)) => sink.push(
                    Diagnostic::new(
                        Code::MissingHttpRule,
                        format!("route `{}` transcodes, but `{}` is not a gRPC operation", route.name.value, op.value),
                    )
                    .at(transcode.span, "transcoding needs a gRPC target")
                    .with_label(op.span, "not a gRPC operation")
                    .help("remove `transcode`; REST and GraphQL operations are proxied as they are"),
                ),
                (_, None) => {}
            }
        }
    }
}

/// Without `transcode`, the route must admit the gRPC request path.
fn carries_grpc(route: &Route, op: &Operation, sink: &mut Sink) {
    let grpc_path = format!("/{op}");
    let admits = match &route.matcher.path {
        PathMatch::Exact(p) => *p == grpc_path,
        PathMatch::Prefix(p) => grpc_path.starts_with(p.as_str()),
    };
    if !admits {
        sink.push(
            Diagnostic::new(
                Code::GrpcRouteWithoutTranscoding,
                format!("route `{}` sends plain HTTP requests to the gRPC operation `{op}`", route.name.value),
            )
            .at(route.matcher.span, format!("never matches the gRPC path `{grpc_path}`"))
            .help(
                "add `transcode` to map REST requests by the method's google.api.http binding, or match the gRPC path",
            ),
        );
    }
}

fn check_bindings(
    route: &Route,
    op: &Operation,
    transcode: &Transcode,
    schema: &crate::schema::Schema,
    sink: &mut Sink,
) {
    // A declared binding is added to the method's own ones; the route must reach it.
    let declared: Vec<(HttpRule, Option<Span>)> =
        transcode.rule.iter().map(|r| (r.value.clone(), Some(r.span))).collect();
    let bindings = if declared.is_empty() { schema.http_rules(op) } else { &declared };
    let transcode = transcode.span;
    if bindings.is_empty() {
        let method = schema.find(op).and_then(|d| d.span);
        let mut d = Diagnostic::new(
            Code::MissingHttpRule,
            format!("route `{}` transcodes to `{op}`, which has no google.api.http binding", route.name.value),
        )
        .at(transcode, "no HTTP binding to transcode by")
        .help(
            "declare the binding on the route: transcode \"POST /v1/...\" body=\"*\", or annotate the rpc: option (google.api.http) = { post: \"/v1/...\" body: \"*\" };",
        );
        if let Some(span) = method {
            d = d.with_label(span, "this rpc has no google.api.http option");
        }
        sink.push(d);
        return;
    }
    for (rule, span) in bindings {
        let fields = rule
            .variables()
            .into_iter()
            .map(|v| (v, "path variable"))
            .chain(rule.body.as_deref().filter(|b| *b != "*").map(|b| (b, "body field")));
        for (field, role) in fields {
            if let Err(missing) = schema.input_field(op, field) {
                let help = match did_you_mean(&missing.segment, missing.fields.iter().map(String::as_str)) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => format!("fields of `{}`: {}", missing.message, missing.fields.join(", ")),
                };
                let message = format!(
                    "{role} `{field}` of `{} {}` is not a field of `{}`",
                    rule.method, rule.path, missing.message
                );
                let d = match span {
                    Some(span) if *span != transcode => Diagnostic::new(Code::HttpRuleUnknownField, message)
                        .at(*span, format!("`{}` is not a field", missing.segment))
                        .with_label(transcode, "transcoded here"),
                    _ => Diagnostic::new(Code::HttpRuleUnknownField, message)
                        .at(transcode, format!("`{}` is not a field", missing.segment)),
                };
                sink.push(d.help(help));
            }
        }
    }
    if !bindings.iter().any(|(rule, _)| reachable(route, rule)) {
        let list: Vec<String> = bindings.iter().map(|(r, _)| format!("{} {}", r.method, r.path)).collect();
        let mut d = Diagnostic::new(
            Code::TranscodeRouteMismatch,
            format!("route `{}` admits none of the HTTP bindings of `{op}`", route.name.value),
        )
        .at(route.matcher.span, "matches none of the bindings")
        .help(format!("match one of: {}", list.join(", ")));
        if let Some(span) = bindings[0].1.filter(|s| *s != transcode) {
            d = d.with_label(span, "the bindings are declared here");
        }
        sink.push(d);
    }
}

/// Whether some request of the binding can take the route.
fn reachable(route: &Route, rule: &HttpRule) -> bool {
    let method = route.matcher.method.is_none_or(|m| m.as_str() == rule.method);
    let path = match &route.matcher.path {
        PathMatch::Prefix(p) => {
            let literal = rule.literal_prefix();
            literal.starts_with(p.as_str()) || p.starts_with(literal)
        }
        PathMatch::Exact(p) => template_matches(&rule.path, p),
    };
    method && path
}

/// Whether a concrete path fits a template, segment by segment.
fn template_matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    t.len() == p.len() && t.iter().zip(&p).all(|(t, p)| t.starts_with('{') || t.starts_with('*') || t == p)
}
