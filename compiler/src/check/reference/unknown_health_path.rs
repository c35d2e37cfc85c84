//! An HTTP health check should probe a path the service serves. When the
//! service has REST APIs whose OpenAPI documents loaded, a probed path none
//! of them defines (as a `GET`, path templates matching any segment) is
//! likely a typo: every probe would get a 404 and every instance would go
//! unhealthy at once. A warning, with a did-you-mean among the documents'
//! `GET` paths, because some teams serve their health endpoint beside the
//! documented API; adding it to the document silences it.

use crate::diag::{did_you_mean, Code, Diagnostic, Sink};
use crate::model::traffic::Probe;
use crate::model::values::{path_parameters, ApiKind, HttpMethod, Operation};
use crate::model::Model;
use crate::schema::SchemaIndex;

pub fn run(model: &Model, schemas: &SchemaIndex, sink: &mut Sink) {
    for service in &model.services {
        let Some(check) = &service.traffic.health_check else { continue };
        let Probe::Http { path, .. } = &check.value.probe else { continue };
        let documents: Vec<_> =
            service.apis.iter().filter(|a| a.kind == ApiKind::Rest).filter_map(|a| schemas.get(a.schema)).collect();
        if documents.is_empty() {
            continue;
        }
        let gets: Vec<&str> = documents
            .iter()
            .flat_map(|d| &d.operations)
            .filter_map(|def| match &def.operation {
                Operation::Rest { method: HttpMethod::Get, path } => Some(path.as_str()),
                _ => None,
            })
            .collect();
        let probed = path.value.split(['?', '#']).next().unwrap_or_default();
        if gets.iter().any(|template| path_parameters(template, probed).is_ok()) {
            continue;
        }
        let help = match did_you_mean(probed, gets.iter().copied()) {
            Some(best) => format!("did you mean `{best}`? Or add `GET {probed}` to the API's OpenAPI document"),
            None => format!("add `GET {probed}` to the API's OpenAPI document, or probe a path it defines"),
        };
        sink.push(
            Diagnostic::new(
                Code::UnknownHealthPath,
                format!("the OpenAPI of `{}` defines no `GET {probed}` for its health check", service.name.value),
            )
            .at(path.span, "probed path")
            .help(help),
        );
    }
}
