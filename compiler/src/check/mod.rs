//! Check passes over the model. Each pass is one module with one entry
//! point, `run`, registered in [`PASSES`], in the folder of its category
//! (`check/traffic/`, `check/security/`, ...); a new pass is a new file,
//! its `mod` line below and its entry in [`PASSES`]. Passes read the model
//! and the schema index and do no IO.

mod compliance {
    pub mod compliance_rules;
}
mod contracts {
    pub mod example_request_mismatch;
    pub mod example_schema_mismatch;
    pub mod fallback_body_mismatch;
    pub mod invalid_example_json;
    pub mod invalid_matcher;
    pub mod unguaranteed_read;
    pub mod unknown_read_field;
}
mod events {
    pub mod consumer_compatibility;
    pub mod consumer_redelivery;
    pub mod dead_letter_path;
    pub mod filter_never_matches;
    pub mod jetstream_duration_limits;
    pub mod min_insync_above_replicas;
    pub mod stream_subjects_overlap;
    pub mod subject_compatibility;
    pub mod subject_outside_stream;
    pub mod topic_without_producer;
    pub mod work_queue_ack_all;
    pub mod work_queue_consumers_overlap;
}
mod gateway {
    pub mod duplicate_route_host;
    pub mod grpc_transcoding;
    pub mod ineffective_cache;
    pub mod ineffective_idle_timeout;
    pub mod listener_port_conflict;
    pub mod missing_rate_limit_service;
    pub mod request_validation;
    pub mod shadowed_route;
}
mod hygiene {
    pub mod missing_owner;
}
mod monitoring {
    pub mod duplicate_alert;
    pub mod latency_objective_beyond_timeout;
    pub mod latency_objective_within_per_try_timeout;
    pub mod missing_slo;
    pub mod unmeasured_objective;
    pub mod warning_not_below_critical;
}
mod reference {
    pub mod deprecated_api_version_used;
    pub mod fallback_lacks_operation;
    pub mod unknown_event_message;
    pub mod unknown_exception_target;
    pub mod unknown_grpc_package;
    pub mod unknown_grpc_service;
    pub mod unknown_health_path;
    pub mod unknown_health_service;
    pub mod unknown_operation;
    pub mod unpinned_api_version;
}
mod schema {
    pub mod expired_evolution_exception;
    pub mod graphql_resolvers;
}
mod security {
    pub mod authorization_policy;
    pub mod caller_limit_load;
    pub mod jwt_consistency;
    pub mod mtls_mismatch;
    pub mod public_exposure;
    pub mod token_propagation;
}
mod traffic {
    pub mod circuit_breaker_load;
    pub mod fallback_never_engaged;
    pub mod fallback_shares_failure;
    pub mod health_timeout_not_below_interval;
    pub mod http_on_tcp;
    pub mod ineffective_per_try_timeout;
    pub mod no_health_policy;
    pub mod pod_port_conflict;
    pub mod retries_on_stream;
    pub mod retry_amplification;
    pub mod retry_non_idempotent;
    pub mod sync_call_cycle;
    pub mod timeout_budget;
    pub mod trace_propagation_broken;
}

use rayon::prelude::*;

use crate::diag::{Category, Code, Sink};
use crate::model::Model;
use crate::schema::SchemaIndex;

/// A registered check pass.
pub struct Pass {
    /// kebab-case, after the defect it finds; the module is the snake_case form.
    pub name: &'static str,
    /// What kind of defect it finds; its module lives in `check/CATEGORY/`.
    pub category: Category,
    /// One line: what it checks.
    pub purpose: &'static str,
    /// The codes the pass may emit.
    pub codes: &'static [Code],
    pub run: fn(&Model, &SchemaIndex, &mut Sink),
}

pub static PASSES: &[Pass] = &[
    Pass {
        name: "authorization-policy",
        category: Category::Security,
        purpose: "A service's `authorization` rules against the call graph.",
        codes: &[Code::CallDeniedByPolicy, Code::UnusedAllowRule, Code::OverBroadAllowRule, Code::IneffectiveDenyRule],
        run: security::authorization_policy::run,
    },
    Pass {
        name: "caller-limit-load",
        category: Category::Security,
        purpose: "A callee's `caller-limit` must admit each caller's declared load, retries included.",
        codes: &[Code::QuotaBelowLoad],
        run: security::caller_limit_load::run,
    },
    Pass {
        name: "circuit-breaker-load",
        category: Category::Traffic,
        purpose: "A callee's circuit breaker must admit the traffic its callers expect.",
        codes: &[Code::CircuitBreakerBelowLoad],
        run: traffic::circuit_breaker_load::run,
    },
    Pass {
        name: "compliance-rules",
        category: Category::Compliance,
        purpose: "The spec's and imported rule sets' `compliance-rule`s against every service, route, call, topic and consumer; suppressions must not be expired and must silence something.",
        codes: &[Code::ComplianceViolation, Code::ExpiredSuppression, Code::UnusedSuppression],
        run: compliance::compliance_rules::run,
    },
    Pass {
        name: "consumer-compatibility",
        category: Category::Events,
        purpose: "Every consumer's reader schema version must read what every producer of its topic writes with its version.",
        codes: &[Code::ConsumerIncompatibleSchema],
        run: events::consumer_compatibility::run,
    },
    Pass {
        name: "consumer-redelivery",
        category: Category::Events,
        purpose: "An at-least-once consumer's failures must end: ack wait above the processing time, bounded deliveries, and a dead letter for what fails them all.",
        codes: &[Code::AckWaitBelowProcessingTime, Code::UnboundedRedelivery, Code::RetriesWithoutDeadLetter],
        run: events::consumer_redelivery::run,
    },
    Pass {
        name: "example-request-mismatch",
        category: Category::Contracts,
        purpose: "An example's path and query fit its REST operation's template and parameters.",
        codes: &[Code::ExampleRequestMismatch],
        run: contracts::example_request_mismatch::run,
    },
    Pass {
        name: "example-schema-mismatch",
        category: Category::Contracts,
        purpose: "Explicit examples (requests, responses, events) must match their operation's or topic's schema.",
        codes: &[Code::ExampleSchemaMismatch],
        run: contracts::example_schema_mismatch::run,
    },
    Pass {
        name: "fallback-body-mismatch",
        category: Category::Contracts,
        purpose: "A static fallback's body must match the response schema of the operation it answers for.",
        codes: &[Code::FallbackBodyMismatch],
        run: contracts::fallback_body_mismatch::run,
    },
    Pass {
        name: "dead-letter-path",
        category: Category::Events,
        purpose: "A dead-letter topic must be kept on the broker of the topic it catches for, and some service must read it.",
        codes: &[Code::DeadLetterElsewhere, Code::DeadLetterUnread],
        run: events::dead_letter_path::run,
    },
    Pass {
        name: "deprecated-api-version-used",
        category: Category::Reference,
        purpose: "Calls and routes naming a deprecated API version: one warning per version listing who must move (its migration path); an error for each use past its sunset.",
        codes: &[Code::DeprecatedApiVersionUsed, Code::ApiVersionPastSunset],
        run: reference::deprecated_api_version_used::run,
    },
    Pass {
        name: "expired-evolution-exception",
        category: Category::Schema,
        purpose: "An `evolution` exception past its `until` day: the change it allowed must be fixed or the exception renewed.",
        codes: &[Code::ExpiredEvolutionException],
        run: schema::expired_evolution_exception::run,
    },
    Pass {
        name: "duplicate-route-host",
        category: Category::Gateway,
        purpose: "A host named twice among a gateway's `host` blocks.",
        codes: &[Code::DuplicateRouteHost],
        run: gateway::duplicate_route_host::run,
    },
    Pass {
        name: "filter-never-matches",
        category: Category::Events,
        purpose: "A consumer's subject filter must match some subject its topic's producers publish under.",
        codes: &[Code::FilterNeverMatches],
        run: events::filter_never_matches::run,
    },
    Pass {
        name: "graphql-resolvers",
        category: Category::Schema,
        purpose: "A GraphQL API the mesh composes (an `api` with `resolve` children) must resolve every Query and Mutation field, and each resolver's operation must fit its field.",
        codes: &[Code::UnresolvedGraphqlField, Code::ResolverArgumentMismatch, Code::ResolverResultMismatch, Code::UnsafeQueryResolver, Code::UnknownOperation],
        run: schema::graphql_resolvers::run,
    },
    Pass {
        name: "grpc-transcoding",
        category: Category::Gateway,
        purpose: "REST routes to gRPC operations must transcode, by bindings that exist and fit the route.",
        codes: &[Code::GrpcRouteWithoutTranscoding, Code::MissingHttpRule, Code::HttpRuleUnknownField, Code::TranscodeRouteMismatch],
        run: gateway::grpc_transcoding::run,
    },
    Pass {
        name: "health-timeout-not-below-interval",
        category: Category::Traffic,
        purpose: "A health check's timeout should be shorter than its interval.",
        codes: &[Code::HealthTimeoutNotBelowInterval],
        run: traffic::health_timeout_not_below_interval::run,
    },
    Pass {
        name: "http-on-tcp",
        category: Category::Traffic,
        purpose: "What only HTTP and gRPC have, set where only plain TCP flows.",
        codes: &[Code::HttpSettingOnTcp, Code::TargetListensNowhere],
        run: traffic::http_on_tcp::run,
    },
    Pass {
        name: "ineffective-cache",
        category: Category::Gateway,
        purpose: "`cache` on a route whose requests are never cached.",
        codes: &[Code::IneffectiveCache],
        run: gateway::ineffective_cache::run,
    },
    Pass {
        name: "ineffective-idle-timeout",
        category: Category::Gateway,
        purpose: "An idle timeout that can never fire.",
        codes: &[Code::IneffectiveIdleTimeout],
        run: gateway::ineffective_idle_timeout::run,
    },
    Pass {
        name: "ineffective-per-try-timeout",
        category: Category::Traffic,
        purpose: "A per-try timeout at or above the call's timeout means the first attempt uses up the whole budget.",
        codes: &[Code::IneffectivePerTryTimeout],
        run: traffic::ineffective_per_try_timeout::run,
    },
    Pass {
        name: "invalid-example-json",
        category: Category::Contracts,
        purpose: "Example bodies and messages must be JSON.",
        codes: &[Code::InvalidExampleJson],
        run: contracts::invalid_example_json::run,
    },
    Pass {
        name: "invalid-matcher",
        category: Category::Contracts,
        purpose: "Response matchers must point at paths of the response type, with a rule that fits the type there.",
        codes: &[Code::UnknownMatcherPath, Code::IncompatibleMatcher],
        run: contracts::invalid_matcher::run,
    },
    Pass {
        name: "jetstream-duration-limits",
        category: Category::Events,
        purpose: "A NATS stream's max-age and duplicate window must be ones JetStream accepts.",
        codes: &[Code::JetstreamDurationLimits],
        run: events::jetstream_duration_limits::run,
    },
    Pass {
        name: "jwt-consistency",
        category: Category::Security,
        purpose: "Routes' tokens, claims and roles must agree with the JWT issuers that declare them.",
        codes: &[Code::UndeclaredClaim, Code::ClaimTypeMismatch],
        run: security::jwt_consistency::run,
    },
    Pass {
        name: "latency-objective-beyond-timeout",
        category: Category::Monitoring,
        purpose: "A latency objective or alert must be below the longest a request it watches can last (timeout, per-try timeouts).",
        codes: &[Code::LatencyObjectiveBeyondTimeout],
        run: monitoring::latency_objective_beyond_timeout::run,
    },
    Pass {
        name: "latency-objective-within-per-try-timeout",
        category: Category::Monitoring,
        purpose: "A route's latency objective must leave its retries time: above the per-try timeout.",
        codes: &[Code::LatencyObjectiveWithinPerTryTimeout],
        run: monitoring::latency_objective_within_per_try_timeout::run,
    },
    Pass {
        name: "listener-port-conflict",
        category: Category::Gateway,
        purpose: "Two listeners of one gateway that bind the same port on overlapping addresses.",
        codes: &[Code::ListenerPortConflict],
        run: gateway::listener_port_conflict::run,
    },
    Pass {
        name: "min-insync-above-replicas",
        category: Category::Events,
        purpose: "A Kafka stream must not need more in-sync replicas than it has.",
        codes: &[Code::MinInsyncAboveReplicas],
        run: events::min_insync_above_replicas::run,
    },
    Pass {
        name: "missing-owner",
        category: Category::Hygiene,
        purpose: "A service nobody owns.",
        codes: &[Code::MissingOwner],
        run: hygiene::missing_owner::run,
    },
    Pass {
        name: "missing-slo",
        category: Category::Monitoring,
        purpose: "In a monitored mesh, every service behind a gateway route has an SLO or is exempt.",
        codes: &[Code::MissingSlo],
        run: monitoring::missing_slo::run,
    },
    Pass {
        name: "mtls-mismatch",
        category: Category::Security,
        purpose: "Mutual TLS between a caller and its callee must agree.",
        codes: &[Code::MtlsMismatch],
        run: security::mtls_mismatch::run,
    },
    Pass {
        name: "missing-rate-limit-service",
        category: Category::Gateway,
        purpose: "A gateway with global rate limits must declare the rate limit service that counts them.",
        codes: &[Code::MissingRateLimitService],
        run: gateway::missing_rate_limit_service::run,
    },
    Pass {
        name: "no-health-policy",
        category: Category::Traffic,
        purpose: "A called service should have a way to take failing instances out of rotation.",
        codes: &[Code::NoHealthPolicy],
        run: traffic::no_health_policy::run,
    },
    Pass {
        name: "fallback-shares-failure",
        category: Category::Traffic,
        purpose: "A fallback service must not depend on the service it stands in for.",
        codes: &[Code::FallbackSharesFailure],
        run: traffic::fallback_shares_failure::run,
    },
    Pass {
        name: "fallback-never-engaged",
        category: Category::Traffic,
        purpose: "A fallback service is used only when something marks its callee's instances unhealthy.",
        codes: &[Code::FallbackNeverEngaged],
        run: traffic::fallback_never_engaged::run,
    },
    Pass {
        name: "pod-port-conflict",
        category: Category::Traffic,
        purpose: "Two listeners in one service's pod on the same port.",
        codes: &[Code::PodPortConflict],
        run: traffic::pod_port_conflict::run,
    },
    Pass {
        name: "public-exposure",
        category: Category::Security,
        purpose: "Gateway routes reachable without a token must be allowed by the security level, and rate limited.",
        codes: &[Code::UnauthenticatedRoute, Code::UnlimitedPublicRoute],
        run: security::public_exposure::run,
    },
    Pass {
        name: "request-validation",
        category: Category::Gateway,
        purpose: "Routes that validate requests must name a REST operation, and their gateway a validator.",
        codes: &[Code::UnvalidatableRoute, Code::MissingValidator],
        run: gateway::request_validation::run,
    },
    Pass {
        name: "retries-on-stream",
        category: Category::Traffic,
        purpose: "Retries and per-try timeouts on streaming gRPC methods, which the proxy cannot replay.",
        codes: &[Code::RetriesOnStream],
        run: traffic::retries_on_stream::run,
    },
    Pass {
        name: "retry-amplification",
        category: Category::Traffic,
        purpose: "Retries multiply along a call path.",
        codes: &[Code::RetryAmplification],
        run: traffic::retry_amplification::run,
    },
    Pass {
        name: "retry-non-idempotent",
        category: Category::Traffic,
        purpose: "Retries of operations that are not safe to repeat.",
        codes: &[Code::RetryNonIdempotent],
        run: traffic::retry_non_idempotent::run,
    },
    Pass {
        name: "shadowed-route",
        category: Category::Gateway,
        purpose: "A route that an earlier route of the same gateway always wins over.",
        codes: &[Code::ShadowedRoute],
        run: gateway::shadowed_route::run,
    },
    Pass {
        name: "stream-subjects-overlap",
        category: Category::Events,
        purpose: "Streams on one NATS broker must not share subjects.",
        codes: &[Code::StreamSubjectsOverlap],
        run: events::stream_subjects_overlap::run,
    },
    Pass {
        name: "subject-compatibility",
        category: Category::Events,
        purpose: "A topic's schema versions, oldest first, must keep its compatibility mode (backward, forward, full, transitive or none).",
        codes: &[Code::IncompatibleSchemaVersion, Code::UnusedEvolutionException],
        run: events::subject_compatibility::run,
    },
    Pass {
        name: "subject-outside-stream",
        category: Category::Events,
        purpose: "A producer's subject must be one its stream keeps.",
        codes: &[Code::SubjectOutsideStream],
        run: events::subject_outside_stream::run,
    },
    Pass {
        name: "sync-call-cycle",
        category: Category::Traffic,
        purpose: "Synchronous calls must not form a cycle.",
        codes: &[Code::SyncCallCycle],
        run: traffic::sync_call_cycle::run,
    },
    Pass {
        name: "timeout-budget",
        category: Category::Traffic,
        purpose: "A caller's timeout must leave its callee time for the callee's own calls.",
        codes: &[Code::TimeoutBudget],
        run: traffic::timeout_budget::run,
    },
    Pass {
        name: "token-propagation",
        category: Category::Security,
        purpose: "A service that requires the end user's token (`require-token`) gets one only if every path to it carries it.",
        codes: &[Code::TokenNotPropagated],
        run: security::token_propagation::run,
    },
    Pass {
        name: "topic-without-producer",
        category: Category::Events,
        purpose: "A topic no service publishes.",
        codes: &[Code::TopicWithoutProducer],
        run: events::topic_without_producer::run,
    },
    Pass {
        name: "trace-propagation-broken",
        category: Category::Traffic,
        purpose: "A service on a traced call path that does not forward the trace context splits its requests' traces.",
        codes: &[Code::TracePropagationBroken],
        run: traffic::trace_propagation_broken::run,
    },
    Pass {
        name: "unguaranteed-read",
        category: Category::Contracts,
        purpose: "A consumer's reads and matchers must be guaranteed by its provider's schema (not optional, not nullable).",
        codes: &[Code::UnguaranteedRead],
        run: contracts::unguaranteed_read::run,
    },
    Pass {
        name: "unknown-event-message",
        category: Category::Reference,
        purpose: "A protobuf event schema must name a message its `.proto` file defines.",
        codes: &[Code::UnknownEventMessage],
        run: reference::unknown_event_message::run,
    },
    Pass {
        name: "unknown-exception-target",
        category: Category::Reference,
        purpose: "An `evolution` exception must name a `meshc diff` rule of its API's schema format, a version of its API, or a schema version of its topic.",
        codes: &[Code::UnknownExceptionTarget, Code::UnknownApiVersion],
        run: reference::unknown_exception_target::run,
    },
    Pass {
        name: "unknown-grpc-package",
        category: Category::Reference,
        purpose: "A gRPC API version picked by `grpc-package` must name a package its schema defines services in.",
        codes: &[Code::ApiVersionSelectorConflict],
        run: reference::unknown_grpc_package::run,
    },
    Pass {
        name: "unknown-grpc-service",
        category: Category::Reference,
        purpose: "An API that claims one `.proto` service (`grpc-service=`) must name a service its schema file defines; otherwise none of its operations exist.",
        codes: &[Code::UnknownGrpcService],
        run: reference::unknown_grpc_service::run,
    },
    Pass {
        name: "unknown-health-path",
        category: Category::Reference,
        purpose: "An HTTP health check should probe a path the service's OpenAPI defines.",
        codes: &[Code::UnknownHealthPath],
        run: reference::unknown_health_path::run,
    },
    Pass {
        name: "unknown-health-service",
        category: Category::Reference,
        purpose: "A gRPC health check should ask about a service the service's protos define.",
        codes: &[Code::UnknownHealthService],
        run: reference::unknown_health_service::run,
    },
    Pass {
        name: "unknown-operation",
        category: Category::Reference,
        purpose: "Every call, route and GraphQL resolver that names an operation must name one the target service's schemas define, through an API of the operation's kind.",
        codes: &[Code::UnknownOperation, Code::OperationKindMismatch],
        run: reference::unknown_operation::run,
    },
    Pass {
        name: "fallback-lacks-operation",
        category: Category::Reference,
        purpose: "A fallback service must implement the operation of the call or route it backs up.",
        codes: &[Code::FallbackLacksOperation],
        run: reference::fallback_lacks_operation::run,
    },
    Pass {
        name: "unknown-read-field",
        category: Category::Contracts,
        purpose: "Every field a consumer reads must exist in its provider operation's response type.",
        codes: &[Code::UnknownReadField],
        run: contracts::unknown_read_field::run,
    },
    Pass {
        name: "unmeasured-objective",
        category: Category::Monitoring,
        purpose: "An SLO or alert must watch a metric some emitted config produces.",
        codes: &[Code::UnmeasuredObjective],
        run: monitoring::unmeasured_objective::run,
    },
    Pass {
        name: "unpinned-api-version",
        category: Category::Reference,
        purpose: "A call to a versioned API should name the version it is written against; naming none follows the current one.",
        codes: &[Code::UnpinnedApiVersion],
        run: reference::unpinned_api_version::run,
    },
    Pass {
        name: "duplicate-alert",
        category: Category::Monitoring,
        purpose: "Alerts at one place differ in kind, severity or labels.",
        codes: &[Code::DuplicateAlert],
        run: monitoring::duplicate_alert::run,
    },
    Pass {
        name: "warning-not-below-critical",
        category: Category::Monitoring,
        purpose: "A warning alert's threshold comes before the critical one's.",
        codes: &[Code::WarningNotBelowCritical],
        run: monitoring::warning_not_below_critical::run,
    },
    Pass {
        name: "work-queue-ack-all",
        category: Category::Events,
        purpose: "Consumers of a NATS work-queue stream must acknowledge each event.",
        codes: &[Code::WorkQueueAckAll],
        run: events::work_queue_ack_all::run,
    },
    Pass {
        name: "work-queue-consumers-overlap",
        category: Category::Events,
        purpose: "Consumers of a NATS work-queue stream must read disjoint subjects.",
        codes: &[Code::WorkQueueConsumersOverlap],
        run: events::work_queue_consumers_overlap::run,
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
    fn every_pass_file_is_registered_in_its_category_and_named_after_it() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/check");
        let mut files = Vec::new();
        for category in std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()).filter(|e| e.path().is_dir()) {
            let category_name = category.file_name().into_string().unwrap();
            for file in std::fs::read_dir(category.path()).unwrap().filter_map(|e| e.ok()) {
                let name = file.file_name().into_string().unwrap();
                files.push((category_name.clone(), name.trim_end_matches(".rs").replace('_', "-")));
            }
        }
        files.sort();
        let mut passes: Vec<(String, String)> =
            PASSES.iter().map(|p| (p.category.as_str().to_string(), p.name.to_string())).collect();
        passes.sort();
        assert_eq!(files, passes);
    }
}
