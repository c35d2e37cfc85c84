//! The one table of diagnostic codes. Codes are never reused: a retired code
//! stays here with status `Removed`.

use super::Severity;

/// What kind of defect a code reports; used to group codes in docs and SARIF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    Syntax,
    Workspace,
    Schema,
    Reference,
    Gateway,
    Traffic,
    Events,
    Security,
    Monitoring,
    Contracts,
    Compliance,
    Hygiene,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Syntax => "syntax",
            Category::Workspace => "workspace",
            Category::Schema => "schema",
            Category::Reference => "reference",
            Category::Gateway => "gateway",
            Category::Traffic => "traffic",
            Category::Events => "events",
            Category::Security => "security",
            Category::Monitoring => "monitoring",
            Category::Contracts => "contracts",
            Category::Compliance => "compliance",
            Category::Hygiene => "hygiene",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Stable { since: &'static str },
    Removed { since: &'static str },
}

/// Static facts about one code.
#[derive(Debug)]
pub struct CodeInfo {
    pub code: Code,
    pub id: &'static str,
    pub name: &'static str,
    pub category: Category,
    pub severity: Severity,
    pub status: Status,
    pub summary: &'static str,
    /// The code's page: What / Why / Failing example / Fixed example.
    pub doc: &'static str,
}

macro_rules! codes {
    ($($variant:ident = $id:literal, $name:literal, $cat:ident, $sev:ident, $since:literal, $summary:literal;)*) => {
        /// A stable diagnostic code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code { $($variant),* }

        /// Every code, in id order.
        pub static CODES: &[CodeInfo] = &[
            $(CodeInfo {
                code: Code::$variant,
                id: $id,
                name: $name,
                category: Category::$cat,
                severity: Severity::$sev,
                status: Status::Stable { since: $since },
                summary: $summary,
                doc: include_str!(concat!("../../../docs/diagnostics/", $id, ".md")),
            }),*
        ];
    };
}

codes! {
    KdlSyntax = "MESH0001", "kdl-syntax", Syntax, Error, "0.1.0", "The file is not valid KDL v2.";
    UnknownNode = "MESH0002", "unknown-node", Syntax, Error, "0.1.0", "A node name the spec language does not define at this place.";
    UnknownProperty = "MESH0003", "unknown-property", Syntax, Error, "0.1.0", "A property or argument the node does not take.";
    InvalidValue = "MESH0004", "invalid-value", Syntax, Error, "0.1.0", "A value of the wrong type or outside its range (duration, port, hostname, enum, ...).";
    MissingRequired = "MESH0005", "missing-required", Syntax, Error, "0.1.0", "A required node, argument or property is absent.";
    DuplicateName = "MESH0006", "duplicate-name", Reference, Error, "0.1.0", "Two declarations share a name in the same scope.";
    UnknownService = "MESH0007", "unknown-service", Reference, Error, "0.1.0", "A reference to a service that is not declared.";
    UnknownOperation = "MESH0008", "unknown-operation", Reference, Error, "0.1.0", "An operation that none of the target service's APIs defines.";
    UnreadableFile = "MESH0009", "unreadable-file", Workspace, Error, "0.1.0", "An imported spec or a referenced schema file is missing or unreadable.";
    ImportCycle = "MESH0010", "import-cycle", Workspace, Error, "0.1.0", "Spec files import each other in a cycle.";
    ImportOutsideRoot = "MESH0011", "import-outside-root", Workspace, Error, "0.1.0", "An import points outside the workspace root directory.";
    ListenerPortConflict = "MESH0012", "listener-port-conflict", Gateway, Error, "0.1.0", "Two listeners of one gateway bind the same address and port.";
    EmptyImport = "MESH0013", "empty-import", Workspace, Warning, "0.1.0", "An import glob matches no file.";
    OperationKindMismatch = "MESH0014", "operation-kind-mismatch", Reference, Error, "0.1.0", "An operation is written for an API kind the target service does not serve.";
    InvalidSchema = "MESH0015", "invalid-schema", Schema, Error, "0.1.0", "A referenced schema file (OpenAPI, .proto, GraphQL SDL, Avro, JSON Schema) does not parse or validate.";
    MissingOwner = "MESH0016", "missing-owner", Hygiene, Warning, "0.1.0", "A service declares no owning team.";
    ShadowedRoute = "MESH0017", "shadowed-route", Gateway, Warning, "0.1.0", "A route can never match because an earlier route matches all its requests.";
    UnknownGrpcService = "MESH0018", "unknown-grpc-service", Reference, Error, "0.1.0", "An API's `grpc-service` names a service its .proto file does not define.";
    IneffectiveCache = "MESH0019", "ineffective-cache", Gateway, Warning, "0.1.0", "A route caches responses to requests the gateway never caches (only GET is cached).";
    GrpcRouteWithoutTranscoding = "MESH0020", "grpc-route-without-transcoding", Gateway, Error, "0.1.0", "A route sends plain HTTP requests to a gRPC operation without transcoding them.";
    MissingHttpRule = "MESH0021", "missing-http-rule", Schema, Error, "0.1.0", "A route transcodes to a gRPC method that has no google.api.http binding.";
    HttpRuleUnknownField = "MESH0022", "http-rule-unknown-field", Schema, Error, "0.1.0", "A google.api.http binding names a field its request message does not have.";
    TranscodeRouteMismatch = "MESH0023", "transcode-route-mismatch", Gateway, Error, "0.1.0", "A transcoding route's match admits none of the method's HTTP bindings.";
    UnvalidatableRoute = "MESH0024", "unvalidatable-route", Gateway, Error, "0.1.0", "A route validates requests but names no REST operation its OpenAPI document defines.";
    MissingValidator = "MESH0025", "missing-validator", Gateway, Error, "0.1.0", "A gateway has validating routes but declares no request validator endpoint.";
    UnresolvedGraphqlField = "MESH0026", "unresolved-graphql-field", Reference, Error, "0.1.0", "A composed GraphQL API leaves a Query or Mutation field without a resolver.";
    ResolverArgumentMismatch = "MESH0027", "resolver-argument-mismatch", Schema, Error, "0.1.0", "A GraphQL field's arguments do not fill its resolver operation's request.";
    ResolverResultMismatch = "MESH0028", "resolver-result-mismatch", Schema, Error, "0.1.0", "A resolver operation's response does not fit the GraphQL field's type.";
    UnsafeQueryResolver = "MESH0029", "unsafe-query-resolver", Hygiene, Warning, "0.1.0", "A GraphQL Query field is resolved by a REST operation that changes state.";
    SyncCallCycle = "MESH0030", "sync-call-cycle", Traffic, Error, "0.1.0", "Services call each other synchronously in a cycle.";
    RetryAmplification = "MESH0031", "retry-amplification", Traffic, Error, "0.1.0", "Retries along a call path multiply beyond the mesh's limit.";
    TimeoutBudget = "MESH0032", "timeout-budget", Traffic, Error, "0.1.0", "A caller's timeout is shorter than what its callee may spend on its own calls.";
    IneffectivePerTryTimeout = "MESH0033", "ineffective-per-try-timeout", Traffic, Error, "0.1.0", "A per-try timeout is not shorter than the call's timeout, so no retry ever happens.";
    RetryNonIdempotent = "MESH0034", "retry-non-idempotent", Traffic, Error, "0.1.0", "A call retries an operation that is not safe to repeat.";
    NoHealthPolicy = "MESH0035", "no-health-policy", Traffic, Warning, "0.1.0", "Calls go to a service whose unhealthy instances nothing takes out of rotation.";
    UnknownTopic = "MESH0036", "unknown-topic", Reference, Error, "0.1.0", "A `publishes` or `subscribes` names a topic that is not declared.";
    TopicWithoutProducer = "MESH0037", "topic-without-producer", Events, Warning, "0.1.0", "A topic that no service publishes to, so nothing produces its events.";
    CircuitBreakerBelowLoad = "MESH0038", "circuit-breaker-below-load", Traffic, Error, "0.1.0", "A callee's circuit breaker admits fewer requests in flight than a caller's declared load needs.";
    UnknownRetryPolicy = "MESH0039", "unknown-retry-policy", Reference, Error, "0.1.0", "`retries policy=NAME` names a retry policy that is not declared.";
    UnknownVersion = "MESH0040", "unknown-version", Reference, Error, "0.1.0", "A traffic rule or endpoint names a version its service does not declare.";
    InvalidSplit = "MESH0041", "invalid-split", Traffic, Error, "0.1.0", "A traffic split's weights do not total 100%, or name a version twice.";
    UnknownGateway = "MESH0042", "unknown-gateway", Reference, Error, "0.1.0", "An authorization rule names a gateway that is not declared.";
    CallDeniedByPolicy = "MESH0043", "call-denied-by-policy", Security, Error, "0.1.0", "A declared call or gateway route is refused by the callee's authorization rules.";
    UnusedAllowRule = "MESH0044", "unused-allow-rule", Security, Warning, "0.1.0", "An allow rule admits no declared call or route.";
    OverBroadAllowRule = "MESH0045", "over-broad-allow-rule", Security, Warning, "0.1.0", "An allow rule admits every operation of a caller that calls only some.";
    MtlsMismatch = "MESH0046", "mtls-mismatch", Security, Error, "0.1.0", "A caller sends plaintext to a service that accepts only mutual TLS.";
    UnknownIssuer = "MESH0047", "unknown-issuer", Reference, Error, "0.1.0", "A route's `auth` names a JWT issuer that is not declared.";
    UnknownRole = "MESH0048", "unknown-role", Reference, Error, "0.1.0", "A route's `require-role` names a role that is not declared.";
    UndeclaredClaim = "MESH0049", "undeclared-claim", Security, Error, "0.1.0", "A claim is used that the route's JWT issuer does not declare, or the route verifies no token.";
    ClaimTypeMismatch = "MESH0050", "claim-type-mismatch", Security, Error, "0.1.0", "A claim is tested or used in a way its declared type does not allow.";
    UnauthenticatedRoute = "MESH0051", "unauthenticated-route", Security, Error, "0.1.0", "A gateway route is reachable without a token although the spec requires authentication.";
    UnlimitedPublicRoute = "MESH0052", "unlimited-public-route", Security, Warning, "0.1.0", "A gateway route reachable without a token has no rate limit.";
    MissingRateLimitService = "MESH0053", "missing-rate-limit-service", Gateway, Error, "0.1.0", "A gateway has global rate limits but declares no rate limit service.";
    TokenNotPropagated = "MESH0054", "token-not-propagated", Security, Error, "0.1.0", "A service requires the end user's token, but a route or call to it does not pass one on.";
    UnknownTokenExchange = "MESH0055", "unknown-token-exchange", Reference, Error, "0.1.0", "A call's `exchange-token` names a token exchange that is not declared.";
    NestingTooDeep = "MESH0056", "nesting-too-deep", Syntax, Error, "0.1.0", "A spec or schema file nests blocks deeper than meshc reads.";
    ImportChainTooDeep = "MESH0057", "import-chain-too-deep", Workspace, Error, "0.1.0", "Spec files import each other in a chain longer than meshc follows.";
    IneffectiveDenyRule = "MESH0058", "ineffective-deny-rule", Security, Warning, "0.1.0", "A deny rule names a caller that calls in plaintext, whose identity the proxy never sees.";
    RetriesOnStream = "MESH0059", "retries-on-stream", Traffic, Error, "0.1.0", "Retries or a per-try timeout on a streaming gRPC method, which the proxy cannot replay.";
    ArtifactPathCollision = "MESH0060", "artifact-path-collision", Workspace, Error, "0.1.0", "Two declarations would produce artifacts with the same file path.";
    FileOutsideWorkspace = "MESH0061", "file-outside-workspace", Workspace, Error, "0.1.0", "A file the spec names lies outside the workspace and the directories it allows, or under /proc, /sys or /dev; meshc does not read it.";
    LiteralSecret = "MESH0062", "literal-secret", Security, Error, "0.1.0", "A spec string or a JWKS file holds a secret (private key, JWT, symmetric key, password in a URL); its value is never printed.";
    EmptySchema = "MESH0063", "empty-schema", Schema, Warning, "0.1.0", "A `.proto` file an API names defines no service, so the API serves no operation.";
    HttpSettingOnTcp = "MESH0064", "http-setting-on-tcp", Traffic, Error, "0.1.0", "A call, route or service sets what only HTTP and gRPC have (an operation, a request timeout, retries, a token, an operation rule) on a port that carries plain TCP.";
    TargetListensNowhere = "MESH0065", "target-listens-nowhere", Reference, Error, "0.1.0", "A call, route or resolver targets a service that declares no address: a workload that listens nowhere.";
    PodPortConflict = "MESH0066", "pod-port-conflict", Traffic, Error, "0.1.0", "Two listeners in one service's pod (its own ports, its sidecar's inbound and outbound ports, the local ports of its TCP calls) bind the same port.";
    UnknownPort = "MESH0067", "unknown-port", Reference, Error, "0.1.0", "An API or a call names a port its service does not declare.";
    PrefixRewriteWithoutPrefixMatch = "MESH0068", "prefix-rewrite-without-prefix-match", Gateway, Error, "0.1.0", "A route replaces the matched prefix of the path (rewrite or redirect) but matches an exact path.";
    InvalidRewriteRegex = "MESH0069", "invalid-rewrite-regex", Gateway, Error, "0.1.0", "A route's rewrite pattern is not an RE2 regular expression, or its substitution names a group the pattern lacks.";
    RedirectWithForwarding = "MESH0070", "redirect-with-forwarding", Gateway, Error, "0.1.0", "A redirect route also sets what only forwarded requests have: a target, timeouts, retries, caching, rewrites, validation.";
    DuplicateRouteHost = "MESH0071", "duplicate-route-host", Gateway, Error, "0.1.0", "Two `host` blocks of one gateway name the same host, which Envoy refuses.";
    IneffectiveIdleTimeout = "MESH0072", "ineffective-idle-timeout", Gateway, Warning, "0.1.0", "A route's idle timeout is not shorter than its request timeout, so it never fires.";
    BackendCannotExpress = "MESH0073", "backend-cannot-express", Hygiene, Warning, "0.1.0", "A spec setting one backend's engine cannot express; that backend's artifacts are built without it.";
    UnknownBroker = "MESH0074", "unknown-broker", Reference, Error, "0.1.0", "A topic's `stream` names a broker that is not declared.";
    BrokerSettingMismatch = "MESH0075", "broker-setting-mismatch", Events, Error, "0.1.0", "A stream, producer or consumer sets what only another kind of broker has (Kafka partitions on NATS, a subject on Kafka).";
    UnknownSchemaVersion = "MESH0076", "unknown-schema-version", Reference, Error, "0.1.0", "A `publishes` or `subscribes` names a schema version its topic does not declare.";
    SubjectOutsideStream = "MESH0077", "subject-outside-stream", Events, Error, "0.1.0", "A producer publishes under a subject that none of its stream's subjects matches: the broker would refuse or drop its events.";
    FilterNeverMatches = "MESH0078", "filter-never-matches", Events, Warning, "0.1.0", "A consumer's subject filter matches nothing any producer of its topic publishes, so it never receives an event.";
    DeadLetterElsewhere = "MESH0079", "dead-letter-elsewhere", Events, Error, "0.1.0", "A consumer's dead-letter topic is not kept on the broker of the topic it reads.";
    DeadLetterUnread = "MESH0080", "dead-letter-unread", Events, Warning, "0.1.0", "No service consumes a dead-letter topic: failed events pile up unseen.";
    AckWaitBelowProcessingTime = "MESH0081", "ack-wait-below-processing-time", Events, Error, "0.1.0", "A consumer's ack wait is shorter than its declared processing time: the broker redelivers events still being handled.";
    RetriesWithoutDeadLetter = "MESH0082", "retries-without-dead-letter", Events, Warning, "0.1.0", "A consumer bounds its deliveries but names no dead letter: an event that fails them all is dropped without a trace.";
    UnboundedRedelivery = "MESH0083", "unbounded-redelivery", Events, Warning, "0.1.0", "An at-least-once consumer of a stream redelivers a failing event for ever: one poison event blocks or loops.";
    UnknownEventMessage = "MESH0084", "unknown-event-message", Schema, Error, "0.1.0", "A topic's protobuf schema names a message its `.proto` file does not define.";
    OutputRefused = "MESH0085", "output-refused", Workspace, Error, "0.1.0", "meshc refused to write its build output or certificates there (the workspace or around it, a directory it did not build, a symbolic link, half a CA), or writing failed; nothing was changed.";
    ConsumerIncompatibleSchema = "MESH0086", "consumer-incompatible-schema", Events, Error, "0.1.0", "A consumer's reader schema version cannot read the events a producer of its topic writes with its version.";
    IncompatibleSchemaVersion = "MESH0087", "incompatible-schema-version", Events, Error, "0.1.0", "A topic's schema version breaks the topic's compatibility mode with an earlier version.";
    StreamSubjectsOverlap = "MESH0088", "stream-subjects-overlap", Events, Error, "0.1.0", "Two streams on one NATS broker share subjects: JetStream refuses to create the second.";
    JetstreamDurationLimits = "MESH0089", "jetstream-duration-limits", Events, Error, "0.1.0", "A NATS stream's max-age or duplicate window is one JetStream refuses: under 100ms, or a window longer than the max-age.";
    WorkQueueConsumersOverlap = "MESH0090", "work-queue-consumers-overlap", Events, Error, "0.1.0", "Two consumers of a NATS work-queue stream read overlapping subjects, which JetStream refuses.";
    WorkQueueAckAll = "MESH0091", "work-queue-ack-all", Events, Error, "0.1.0", "A consumer of a NATS work-queue stream acknowledges cumulatively (`ack=\"all\"`), which JetStream refuses.";
    MinInsyncAboveReplicas = "MESH0092", "min-insync-above-replicas", Events, Error, "0.1.0", "A Kafka stream needs more in-sync replicas than it has replicas: every `acks=all` write fails.";
    BreakingChange = "MESH0093", "breaking-change", Schema, Error, "0.1.0", "`meshc diff`: a schema change breaks a rule (protobuf: of the chosen category; OpenAPI, GraphQL: a breaking one; Avro, JSON Schema: of the compatibility mode); the diagnostic names the rule, e.g. `FIELD_NO_DELETE`.";
    UnknownApiVersion = "MESH0094", "unknown-api-version", Reference, Error, "0.1.0", "A call, route or `replaced-by` names a version its API does not declare.";
    InvalidApiVersionLifecycle = "MESH0095", "invalid-api-version-lifecycle", Reference, Error, "0.1.0", "An API version's lifecycle contradicts itself: a sunset before its deprecation, or a `replaced-by` that names itself or leads back.";
    ApiVersionSelectorConflict = "MESH0096", "api-version-selector-conflict", Gateway, Error, "0.1.0", "An API's versions cannot be told apart: mixed selector strategies, one selector twice, or a gRPC package its schema does not define.";
    DeprecatedApiVersionUsed = "MESH0097", "deprecated-api-version-used", Reference, Warning, "0.1.0", "Calls or routes use a deprecated API version: the warning lists every one that must move, and where to.";
    ApiVersionPastSunset = "MESH0098", "api-version-past-sunset", Reference, Error, "0.1.0", "A call or route uses an API version past its sunset date.";
    UnpinnedApiVersion = "MESH0099", "unpinned-api-version", Reference, Warning, "0.1.0", "A call to a versioned API names no version: it follows the current one, and moves with it.";
    HealthTimeoutNotBelowInterval = "MESH0100", "health-timeout-not-below-interval", Traffic, Warning, "0.1.0", "A health check's timeout is not shorter than its interval: probes run back to back and a hung instance is noticed late.";
    UnknownHealthPath = "MESH0101", "unknown-health-path", Reference, Warning, "0.1.0", "An HTTP health check probes a path the service's OpenAPI document does not define.";
    UnknownHealthService = "MESH0102", "unknown-health-service", Reference, Warning, "0.1.0", "A gRPC health check asks about a service name that the service's `.proto` files do not define.";
    UnreadableGitRef = "MESH0103", "unreadable-git-ref", Workspace, Error, "0.1.0", "`meshc diff --against REF`: the workspace cannot be read at that git ref (no repository, unknown ref, the directory absent from it, a symlink or too many files in its tree).";
    SchemaChangeNotCompared = "MESH0104", "schema-change-not-compared", Schema, Warning, "0.1.0", "`meshc diff` of two workspaces: an API changed kind, or its schema changed in a format meshc does not compare for APIs, so its breaking changes are not reported.";
    ExpiredEvolutionException = "MESH0105", "expired-evolution-exception", Schema, Error, "0.1.0", "An `evolution` exception (`allow`) is past its `until` day: the breaking change it allowed must be fixed, or the exception renewed with a new reason.";
    UnknownExceptionTarget = "MESH0106", "unknown-exception-target", Reference, Error, "0.1.0", "An `evolution` exception names a rule that `meshc diff` has no rule of for the API's schema format, or a schema version its topic does not declare.";
    UnusedEvolutionException = "MESH0107", "unused-evolution-exception", Schema, Warning, "0.1.0", "A topic's `evolution` exception allows a schema version that breaks nothing: remove it before it hides a real break.";
    UnknownMonitoringPolicy = "MESH0108", "unknown-monitoring-policy", Reference, Error, "0.1.0", "`slo policy=NAME` or `alert policy=NAME` names an slo-policy or alert-policy that is not declared.";
    UnknownReceiver = "MESH0109", "unknown-receiver", Reference, Error, "0.1.0", "`monitoring { default-receiver NAME }` names a receiver the block does not declare.";
    UnmeasuredObjective = "MESH0110", "unmeasured-objective", Monitoring, Warning, "0.1.0", "An SLO or alert watches a metric no emitted config produces (no `monitoring` block, an external service, a plain-TCP service, a certificate alert without mTLS): it can never fire.";
    LatencyObjectiveBeyondTimeout = "MESH0111", "latency-objective-beyond-timeout", Monitoring, Warning, "0.1.0", "A latency objective or alert's threshold is not below the longest a request to the route or call can last (its timeout, or its retries' per-try timeouts and back-offs): every request ends before it, so it can never burn or fire.";
    WarningNotBelowCritical = "MESH0112", "warning-not-below-critical", Monitoring, Warning, "0.1.0", "A warning alert's threshold is not below the critical one of the same kind at the same place: the warning never comes first.";
    MissingSlo = "MESH0113", "missing-slo", Monitoring, Warning, "0.1.0", "In a monitored mesh, a service behind a gateway route has no SLO (on itself or its routes) and is not declared `slo-exempt`.";
    TracePropagationBroken = "MESH0114", "trace-propagation-broken", Traffic, Warning, "0.1.0", "A service on a traced call path does not forward the trace context: the calls it makes start new traces, and a request can no longer be followed past it.";
    TracingWithoutMeshTracing = "MESH0115", "tracing-without-mesh-tracing", Traffic, Warning, "0.1.0", "A service or gateway sets its own tracing, but the mesh declares no `tracing` block: no proxy traces anything, so the setting has no effect.";
    LatencyObjectiveWithinPerTryTimeout = "MESH0116", "latency-objective-within-per-try-timeout", Monitoring, Warning, "0.1.0", "A route's latency objective is not above its retries' per-try timeout: a stuck attempt is retried only after the objective is already missed.";
    MisplacedAlert = "MESH0117", "misplaced-alert", Monitoring, Error, "0.1.0", "An alert where its kind is not measured: a `consumer-lag` alert outside a `subscribes` node, or a request alert (error rate, latency, saturation, certificate expiry) inside one.";
    InvalidExampleJson = "MESH0118", "invalid-example-json", Contracts, Error, "0.1.0", "An example's `body` or `message` is not valid JSON.";
    InvalidMatcherRegex = "MESH0119", "invalid-matcher-regex", Contracts, Error, "0.1.0", "A `regex` matcher's pattern is not a valid regular expression.";
    ContractWithoutOperation = "MESH0120", "contract-without-operation", Contracts, Error, "0.1.0", "`reads` or `example` on a call or route that names no operation: there is nothing to hold the contract against.";
    UnknownReadField = "MESH0121", "unknown-read-field", Contracts, Error, "0.1.0", "A consumer reads a field (`reads`) that the provider operation's response type does not have.";
    ExampleSchemaMismatch = "MESH0122", "example-schema-mismatch", Contracts, Error, "0.1.0", "An example's request, response or event does not match the schema of its operation or topic.";
    UnknownMatcherPath = "MESH0123", "unknown-matcher-path", Contracts, Error, "0.1.0", "A response matcher points at a path the operation's response type does not have.";
    IncompatibleMatcher = "MESH0124", "incompatible-matcher", Contracts, Error, "0.1.0", "A response matcher cannot apply to the type at its path: a regex on a number, a range on a string, each-like on a non-list.";
    UnguaranteedRead = "MESH0125", "unguaranteed-read", Contracts, Warning, "0.1.0", "A consumer reads or matches a field its provider's schema marks optional or nullable: the provider may leave it out.";
    DuplicateAlert = "MESH0126", "duplicate-alert", Monitoring, Error, "0.1.0", "Two alerts at the same place with the same kind, severity and labels: Prometheus raises both as one alert series (duplicate samples), and nobody can tell which fired.";
    ExampleRequestMismatch = "MESH0127", "example-request-mismatch", Contracts, Error, "0.1.0", "An example's request is not one its REST operation takes: the path does not match the operation's template (or is missing where the template has parameters), or a path or query parameter is undeclared, of the wrong type or missing.";
    ComplianceViolation = "MESH0128", "compliance-violation", Compliance, Error, "0.1.0", "A subject (service, route, call, topic, consumer) fails a `compliance-rule`: reported at the rule's severity, with its message and control reference.";
    UnknownSubjectKind = "MESH0129", "unknown-subject-kind", Compliance, Error, "0.1.0", "A `compliance-rule`'s `applies-to` names no kind of subject: rules judge services, routes, calls, topics or consumers.";
    UnknownComplianceProperty = "MESH0130", "unknown-compliance-property", Compliance, Error, "0.1.0", "A rule's predicate tests a property its kind of subject does not have, or gives a property the wrong arguments.";
    UnknownDataClass = "MESH0131", "unknown-data-class", Compliance, Error, "0.1.0", "A `data-class` label or test names a class no top-level `data-class` declares.";
    UnknownComplianceRule = "MESH0132", "unknown-compliance-rule", Compliance, Error, "0.1.0", "A `suppress` names a rule no `compliance-rule` declares (in the workspace or the imported rule sets).";
    ExpiredSuppression = "MESH0133", "expired-suppression", Compliance, Error, "0.1.0", "A `suppress` past its `until` day: it no longer silences the rule, and the spec must be fixed or the suppression renewed.";
    UnusedSuppression = "MESH0134", "unused-suppression", Compliance, Warning, "0.1.0", "A `suppress` that silences nothing: its subject does not exist, is not judged by the rule, or passes it.";
    UnknownRuleSet = "MESH0135", "unknown-rule-set", Compliance, Error, "0.1.0", "`meshc check --rules SET` names neither a rule set of the standard library nor a file in the workspace.";
    FallbackForm = "MESH0136", "fallback-form", Traffic, Error, "0.1.0", "A `fallback` that names no form or several: it is a fallback service, a static response or a stale response, one of them.";
    FallbackLacksOperation = "MESH0137", "fallback-lacks-operation", Reference, Error, "0.1.0", "A fallback service does not implement the operation the call or route names: requests failed over to it would fail there.";
    FallbackBodyMismatch = "MESH0138", "fallback-body-mismatch", Contracts, Error, "0.1.0", "A static fallback's body does not match the response schema of the call's or route's operation: the caller would fail to read it.";
    FallbackSharesFailure = "MESH0139", "fallback-shares-failure", Traffic, Warning, "0.1.0", "A fallback service calls the service it stands in for, directly or through others: when that service fails, the fallback fails with it.";
    FallbackNeverEngaged = "MESH0140", "fallback-never-engaged", Traffic, Warning, "0.1.0", "A fallback service for a callee with neither a health check nor outlier detection: the proxy fails over when the callee's instances are unhealthy, and nothing ever marks them so.";
    UnknownServiceRole = "MESH0141", "unknown-service-role", Reference, Error, "0.1.0", "An authorization rule's `role=` names a service role that is not declared.";
    EmptyServiceRole = "MESH0142", "empty-service-role", Security, Warning, "0.1.0", "A `service-role` selector takes in no caller: an owner or labels no in-mesh service has, or an `external` member (which has no identity).";
    QuotaBelowLoad = "MESH0143", "quota-below-load", Security, Error, "0.1.0", "A caller's declared load, retries included, is above the callee's per-caller limit (`caller-limit`): part of its calls would be throttled with 429.";
}

impl Code {
    pub fn info(self) -> &'static CodeInfo {
        &CODES[self as usize]
    }

    pub fn id(self) -> &'static str {
        self.info().id
    }

    /// Looks a code up by id (`MESH0001`, case-insensitive) or kebab name.
    pub fn parse(text: &str) -> Option<Code> {
        CODES.iter().find(|c| c.id.eq_ignore_ascii_case(text) || c.name == text).map(|c| c.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids are contiguous from MESH0001 (work in parallel branches renumbers
    /// at merge) and `Code::info` indexes the table by variant.
    #[test]
    fn table_is_in_id_order_and_indexed_by_variant() {
        for (i, info) in CODES.iter().enumerate() {
            assert_eq!(info.code as usize, i, "{} is out of place", info.id);
            assert_eq!(info.id, format!("MESH{:04}", i + 1));
        }
    }

    #[test]
    fn parse_accepts_ids_and_names() {
        assert_eq!(Code::parse("mesh0010"), Some(Code::ImportCycle));
        assert_eq!(Code::parse("import-cycle"), Some(Code::ImportCycle));
        assert_eq!(Code::parse("MESH9999"), None);
    }
}
