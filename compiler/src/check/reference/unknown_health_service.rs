//! A gRPC health check calls `grpc.health.v1.Health/Check` asking about a
//! service name: `grpc-service=`, else the empty name (the whole server).
//! Health servers answer `NOT_FOUND` for a name they were never told about
//! (grpc-go's `health.Server`, grpc-java's `HealthStatusManager`), so a
//! name that none of the service's gRPC `.proto` files defines is likely a
//! typo that keeps every instance unhealthy: a warning with a did-you-mean.
//!
//! A check naming no service is not reported, even when no `.proto` of the
//! service defines or imports `grpc.health.v1.Health`: servers register
//! the health service from their gRPC library, not from their API's
//! `.proto` (the Online Boutique's do), so its absence there proves
//! nothing, and naming a service to silence a warning would make a server
//! that reports only the whole server's health (grpc-go's default) answer
//! `NOT_FOUND`.

use crate::diag::{did_you_mean, Code, Diagnostic, Sink};
use crate::model::traffic::Probe;
use crate::model::values::ApiKind;
use crate::model::Model;
use crate::schema::SchemaIndex;

pub fn run(model: &Model, schemas: &SchemaIndex, sink: &mut Sink) {
    for service in &model.services {
        let Some(check) = &service.traffic.health_check else { continue };
        let Probe::Grpc { service: Some(asked) } = &check.value.probe else { continue };
        let protos: Vec<_> =
            service.apis.iter().filter(|a| a.kind == ApiKind::Grpc).filter_map(|a| schemas.get(a.schema)).collect();
        if protos.is_empty() || protos.iter().any(|p| p.defines_grpc_service(&asked.value) == Some(true)) {
            continue;
        }
        let defined: Vec<&str> =
            protos.iter().flat_map(|p| p.grpc_services.iter().map(|(name, _)| name.as_str())).collect();
        let help = match did_you_mean(&asked.value, defined.iter().copied()) {
            Some(best) => format!("did you mean `{best}`? Health servers answer NOT_FOUND for a name they do not know"),
            None if defined.is_empty() => {
                "leave grpc-service out to ask about the whole server; its .proto files define no service".to_string()
            }
            None => format!(
                "name a service its .proto files define ({}), or leave grpc-service out to ask about the whole server",
                defined.join(", ")
            ),
        };
        sink.push(
            Diagnostic::new(
                Code::UnknownHealthService,
                format!(
                    "the gRPC health check of `{}` asks about `{}`, which its .proto files do not define",
                    service.name.value, asked.value
                ),
            )
            .at(asked.span, "not a service of its APIs")
            .help(help),
        );
    }
}
