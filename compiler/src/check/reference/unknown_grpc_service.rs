//! An API that claims one `.proto` service (`grpc-service=`) must name a
//! service its schema file defines; otherwise none of its operations exist.

use crate::diag::{did_you_mean, Code, Diagnostic, Sink};
use crate::model::Model;
use crate::schema::SchemaIndex;

pub fn run(model: &Model, schemas: &SchemaIndex, sink: &mut Sink) {
    for service in &model.services {
        for api in &service.apis {
            let (Some(wanted), Some(schema)) = (&api.grpc_service, schemas.get(api.schema)) else { continue };
            if schema.grpc_services.iter().any(|(name, _)| *name == wanted.value) {
                continue;
            }
            let names = schema.grpc_services.iter().map(|(n, _)| n.as_str());
            let best = did_you_mean(&wanted.value, names.clone());
            let mut d = Diagnostic::new(
                Code::UnknownGrpcService,
                format!("the schema of API `{}` defines no gRPC service `{}`", api.name.value, wanted.value),
            )
            .at(wanted.span, "unknown gRPC service")
            .help(match best {
                Some(b) => format!("did you mean `{b}`?"),
                None if schema.grpc_services.is_empty() => "the .proto file defines no service".to_string(),
                None => format!("it defines: {}", names.collect::<Vec<_>>().join(", ")),
            });
            if let Some(span) =
                best.and_then(|b| schema.grpc_services.iter().find(|(n, _)| n == b)).and_then(|(_, s)| *s)
            {
                d = d.with_label(span, "defined here");
            }
            sink.push(d);
        }
    }
}
