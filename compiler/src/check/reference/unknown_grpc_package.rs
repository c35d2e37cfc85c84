//! A gRPC API version picked by package (`grpc-package=`) must name a
//! package its `.proto` schema defines services in: the gateway routes the
//! version's requests by that package's method paths (`/PACKAGE.Service/Method`).

use crate::diag::{close_matches, did_you_mean_text, Code, Diagnostic, Sink};
use crate::model::api_versions::VersionSelector;
use crate::model::values::Operation;
use crate::model::Model;
use crate::schema::SchemaIndex;

pub fn run(model: &Model, schemas: &SchemaIndex, sink: &mut Sink) {
    for (_, _, _, version) in model.api_versions() {
        let VersionSelector::GrpcPackage(package) = &version.selector.value else { continue };
        let Some(schema) = schemas.get(version.schema) else { continue };
        let mut packages: Vec<&str> = schema
            .operations
            .iter()
            .filter_map(|def| match &def.operation {
                Operation::Grpc { service, .. } => Some(service.rsplit_once('.').map_or("", |(p, _)| p)),
                _ => None,
            })
            .collect();
        packages.sort_unstable();
        packages.dedup();
        if packages.contains(&package.as_str()) {
            continue;
        }
        let close = close_matches(package, packages.iter().copied());
        let help = match close.first() {
            Some(_) => did_you_mean_text(&close),
            None if packages.is_empty() => "its schema defines no service with methods".to_string(),
            None => format!("its schema's packages: {}", packages.join(", ")),
        };
        sink.push(
            Diagnostic::new(
                Code::ApiVersionSelectorConflict,
                format!(
                    "version `{}` is picked by package `{package}`, which its schema defines no service in",
                    version.name.value
                ),
            )
            .at(version.selector.span, "no such package in the schema")
            .help(help),
        );
    }
}
