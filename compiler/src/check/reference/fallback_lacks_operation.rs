//! A fallback service takes the requests of the call or route it backs up,
//! so it must implement the operation they name, as the callee does: the
//! same lookup as `unknown-operation`, in the fallback service's APIs of the
//! operation's kind.

use crate::diag::{close_matches, did_you_mean_text, Code, Diagnostic, Sink};
use crate::model::traffic::FallbackKind;
use crate::model::Model;
use crate::schema::SchemaIndex;

pub fn run(model: &Model, schemas: &SchemaIndex, sink: &mut Sink) {
    for used in model.fallback_uses() {
        let FallbackKind::Service { target, .. } = &used.fallback.kind else { continue };
        let Some(op) = used.operation else { continue };
        let service = model.service(target.value);
        let kind = op.value.kind();
        let apis: Vec<_> = service.apis.iter().filter(|a| a.kind == kind).collect();
        let loaded: Vec<_> = apis.iter().filter_map(|a| schemas.get(a.schema_for(None))).collect();
        if !apis.is_empty() && loaded.is_empty() {
            continue; // the schemas' own diagnostics explain why they did not load
        }
        let in_scope = |def: &&crate::schema::OperationDef| apis.iter().any(|a| a.serves(&def.operation));
        if loaded.iter().filter_map(|s| s.find(&op.value)).any(|def| in_scope(&def)) {
            continue;
        }
        let names: Vec<String> =
            loaded.iter().flat_map(|s| s.operations.iter()).filter(in_scope).map(|d| d.operation.to_string()).collect();
        let wanted = op.value.to_string();
        let close = close_matches(&wanted, names.iter().map(String::as_str));
        let help = match (apis.is_empty(), close.is_empty()) {
            (true, _) => format!(
                "fall back to a service that serves `{wanted}`, or declare its {kind} API: api \"name\" kind=\"{kind}\" schema=\"...\""
            ),
            (false, false) => format!("{}; or fall back to a service that implements `{wanted}`", did_you_mean_text(&close)),
            (false, true) => format!("implement `{wanted}` in its {kind} schema, or fall back to a service that does"),
        };
        sink.push(
            Diagnostic::new(
                Code::FallbackLacksOperation,
                format!("fallback service `{}` does not implement `{wanted}`", service.name.value),
            )
            .at(
                target.span,
                if apis.is_empty() { format!("serves no {kind} API") } else { "lacks the operation".into() },
            )
            .with_label(op.span, "the operation its requests call")
            .help(help),
        );
    }
}
