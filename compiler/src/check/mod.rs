//! Check passes over the model. Each pass is one module with one entry
//! point, `run`, registered in [`PASSES`]; a new pass is a new file plus one
//! line here. Passes read the model and the schema index and do no IO.

mod authorization_policy;
mod circuit_breaker_load;
mod duplicate_route_host;
mod graphql_resolvers;
mod grpc_transcoding;
mod http_on_tcp;
mod ineffective_cache;
mod ineffective_idle_timeout;
mod ineffective_per_try_timeout;
mod jwt_consistency;
mod listener_port_conflict;
mod missing_owner;
mod missing_rate_limit_service;
mod mtls_mismatch;
mod no_health_policy;
mod pod_port_conflict;
mod public_exposure;
mod request_validation;
mod retries_on_stream;
mod retry_amplification;
mod retry_non_idempotent;
mod shadowed_route;
mod sync_call_cycle;
mod timeout_budget;
mod token_propagation;
mod topic_without_producer;
mod unknown_grpc_service;
mod unknown_operation;

use rayon::prelude::*;

use crate::diag::{Code, Sink};
use crate::model::Model;
use crate::schema::SchemaIndex;

/// A registered check pass.
pub struct Pass {
    /// kebab-case, after the defect it finds; the module is the snake_case form.
    pub name: &'static str,
    /// The codes the pass may emit.
    pub codes: &'static [Code],
    pub run: fn(&Model, &SchemaIndex, &mut Sink),
}

pub static PASSES: &[Pass] = &[
    Pass {
        name: "authorization-policy",
        codes: &[Code::CallDeniedByPolicy, Code::UnusedAllowRule, Code::OverBroadAllowRule, Code::IneffectiveDenyRule],
        run: authorization_policy::run,
    },
    Pass { name: "circuit-breaker-load", codes: &[Code::CircuitBreakerBelowLoad], run: circuit_breaker_load::run },
    Pass { name: "duplicate-route-host", codes: &[Code::DuplicateRouteHost], run: duplicate_route_host::run },
    Pass {
        name: "graphql-resolvers",
        codes: &[
            Code::UnresolvedGraphqlField,
            Code::ResolverArgumentMismatch,
            Code::ResolverResultMismatch,
            Code::UnsafeQueryResolver,
            Code::UnknownOperation,
        ],
        run: graphql_resolvers::run,
    },
    Pass {
        name: "grpc-transcoding",
        codes: &[
            Code::GrpcRouteWithoutTranscoding,
            Code::MissingHttpRule,
            Code::HttpRuleUnknownField,
            Code::TranscodeRouteMismatch,
        ],
        run: grpc_transcoding::run,
    },
    Pass { name: "http-on-tcp", codes: &[Code::HttpSettingOnTcp, Code::TargetListensNowhere], run: http_on_tcp::run },
    Pass { name: "ineffective-cache", codes: &[Code::IneffectiveCache], run: ineffective_cache::run },
    Pass {
        name: "ineffective-idle-timeout",
        codes: &[Code::IneffectiveIdleTimeout],
        run: ineffective_idle_timeout::run,
    },
    Pass {
        name: "ineffective-per-try-timeout",
        codes: &[Code::IneffectivePerTryTimeout],
        run: ineffective_per_try_timeout::run,
    },
    Pass {
        name: "jwt-consistency",
        codes: &[Code::UndeclaredClaim, Code::ClaimTypeMismatch],
        run: jwt_consistency::run,
    },
    Pass { name: "listener-port-conflict", codes: &[Code::ListenerPortConflict], run: listener_port_conflict::run },
    Pass { name: "missing-owner", codes: &[Code::MissingOwner], run: missing_owner::run },
    Pass { name: "mtls-mismatch", codes: &[Code::MtlsMismatch], run: mtls_mismatch::run },
    Pass {
        name: "missing-rate-limit-service",
        codes: &[Code::MissingRateLimitService],
        run: missing_rate_limit_service::run,
    },
    Pass { name: "no-health-policy", codes: &[Code::NoHealthPolicy], run: no_health_policy::run },
    Pass { name: "pod-port-conflict", codes: &[Code::PodPortConflict], run: pod_port_conflict::run },
    Pass {
        name: "public-exposure",
        codes: &[Code::UnauthenticatedRoute, Code::UnlimitedPublicRoute],
        run: public_exposure::run,
    },
    Pass {
        name: "request-validation",
        codes: &[Code::UnvalidatableRoute, Code::MissingValidator],
        run: request_validation::run,
    },
    Pass { name: "retries-on-stream", codes: &[Code::RetriesOnStream], run: retries_on_stream::run },
    Pass { name: "retry-amplification", codes: &[Code::RetryAmplification], run: retry_amplification::run },
    Pass { name: "retry-non-idempotent", codes: &[Code::RetryNonIdempotent], run: retry_non_idempotent::run },
    Pass { name: "shadowed-route", codes: &[Code::ShadowedRoute], run: shadowed_route::run },
    Pass { name: "sync-call-cycle", codes: &[Code::SyncCallCycle], run: sync_call_cycle::run },
    Pass { name: "timeout-budget", codes: &[Code::TimeoutBudget], run: timeout_budget::run },
    Pass { name: "token-propagation", codes: &[Code::TokenNotPropagated], run: token_propagation::run },
    Pass { name: "topic-without-producer", codes: &[Code::TopicWithoutProducer], run: topic_without_producer::run },
    Pass { name: "unknown-grpc-service", codes: &[Code::UnknownGrpcService], run: unknown_grpc_service::run },
    Pass {
        name: "unknown-operation",
        codes: &[Code::UnknownOperation, Code::OperationKindMismatch],
        run: unknown_operation::run,
    },
];

/// Runs every pass in parallel; results are merged in list order.
pub fn run_all(model: &Model, schemas: &SchemaIndex, sink: &mut Sink) {
    let results: Vec<Sink> = PASSES
        .par_iter()
        .map(|pass| {
            let mut local = Sink::new();
            (pass.run)(model, schemas, &mut local);
            local
        })
        .collect();
    for local in results {
        sink.extend(local.into_sorted());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pass_file_is_registered_and_named_after_it() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/check");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n != "mod.rs")
            .map(|n| n.trim_end_matches(".rs").replace('_', "-"))
            .collect();
        files.sort();
        let mut names: Vec<String> = PASSES.iter().map(|p| p.name.to_string()).collect();
        names.sort();
        assert_eq!(files, names);
    }
}
