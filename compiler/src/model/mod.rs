//! The typed, name-resolved model: the hub every check and backend reads.
//!
//! **Invariant:** nothing in here refers to KDL. References are ids
//! ([`ServiceId`], [`SchemaId`], [`TopicId`]) that always point at an existing entry: a
//! declaration that failed to resolve is reported and left out, so
//! downstream code never meets a dangling name. Model types are not
//! `Serialize`; backends define their own output shapes.

/// Declares an index type into one of the model's lists. Its field is
/// private and its constructor visible only inside `model`, so an id can
/// only come from lowering (or the model's own iterators): code outside
/// the model cannot make up an id that points nowhere.
///
/// ```compile_fail
/// let _ = meshc::model::ServiceId(0);
/// ```
///
/// ```compile_fail
/// let _ = meshc::model::ServiceId::new(0);
/// ```
macro_rules! model_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(u32);

        impl $name {
            /// The id of the entry at `index` of its list; lowering and the
            /// model's iterators make ids, nothing else.
            pub(in crate::model) fn new(index: usize) -> $name {
                $name(u32::try_from(index).unwrap_or(u32::MAX))
            }

            /// Its position in its list.
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }
    };
}

pub mod api_versions;
pub mod compliance;
pub mod contracts;
pub mod events;
pub mod identity;
mod lower;
pub mod monitoring;
pub mod security;
pub mod subject_trie;
pub mod tracing;
pub mod traffic;
pub mod values;

use std::net::IpAddr;
use std::path::PathBuf;

use crate::base::{Span, Spanned};
pub use lower::lower;
use values::{ApiKind, Duration, ErrorBodyFormat, HeaderName, Host, HttpMethod, Operation, Port, SchemaFormat};

model_id!(
    /// A service's index in [`Model::services`].
    ServiceId
);
model_id!(
    /// A schema file's index in [`Model::schemas`].
    SchemaId
);
model_id!(
    /// A topic's index in [`Model::topics`].
    TopicId
);
model_id!(
    /// A gateway's index in [`Model::gateways`].
    GatewayId
);

#[derive(Debug, Default)]
pub struct Model {
    /// From the root file's `mesh` node; defaults to the root directory's name.
    pub name: String,
    pub services: Vec<Service>,
    pub gateways: Vec<Gateway>,
    pub topics: Vec<Topic>,
    /// Every schema file referenced, once per (path, format).
    pub schemas: Vec<SchemaRef>,
    /// Directories `.proto` imports resolve against, after each file's own.
    pub proto_includes: Vec<Spanned<PathBuf>>,
    /// Directories outside the workspace root that schema files may come
    /// from (`schema-root`); proto includes count too.
    pub schema_roots: Vec<Spanned<PathBuf>>,
    /// Where the spec writes secrets literally (reported): masked in the
    /// sources before any diagnostic quotes them.
    pub secret_spans: Vec<Span>,
    pub limits: traffic::Limits,
    /// The `mtls` block; `None`: the mesh is plaintext.
    pub mtls: Option<identity::Mtls>,
    /// Token exchange services, by [`identity::TokenExchangeId`].
    pub token_exchanges: Vec<identity::TokenExchange>,
    /// JWT issuers, by [`security::IssuerId`].
    pub issuers: Vec<security::JwtIssuer>,
    /// End-user roles, by [`security::RoleId`].
    pub roles: Vec<security::Role>,
    /// Groups of calling services and identities, by [`identity::ServiceRoleId`].
    pub service_roles: Vec<identity::ServiceRole>,
    pub security: security::SecurityPolicy,
    /// Brokers, streams and consumers; empty until the event-bus language lowers into it.
    pub events: events::Events,
    /// The `tracing` block; `None`: the proxies trace nothing.
    pub tracing: Option<tracing::Tracing>,
    /// The day API version lifecycles are judged on (deprecated, past its
    /// sunset): set by the driver (`--today`, `SOURCE_DATE_EPOCH`, else the
    /// clock). It changes diagnostics only, never an artifact.
    pub today: Option<api_versions::Date>,
    /// The `monitoring` block: proxies' admin and metrics endpoints, where
    /// alerts go. `None`: nothing is scraped and no rules are emitted.
    pub monitoring: Option<monitoring::Monitoring>,
    /// Data classes and their labels, compliance rules and suppressions.
    pub compliance: compliance::Compliance,
}

impl Model {
    pub fn service(&self, id: ServiceId) -> &Service {
        &self.services[id.index()]
    }

    pub fn schema(&self, id: SchemaId) -> &SchemaRef {
        &self.schemas[id.index()]
    }

    pub fn gateway(&self, id: GatewayId) -> &Gateway {
        &self.gateways[id.index()]
    }

    pub fn gateway_ids(&self) -> impl Iterator<Item = GatewayId> {
        (0..self.gateways.len()).map(GatewayId::new)
    }

    pub fn schema_ids(&self) -> impl Iterator<Item = SchemaId> {
        (0..self.schemas.len()).map(SchemaId::new)
    }

    pub fn topic(&self, id: TopicId) -> &Topic {
        &self.topics[id.index()]
    }

    pub fn topic_ids(&self) -> impl Iterator<Item = TopicId> {
        (0..self.topics.len()).map(TopicId::new)
    }

    /// Whether `service`'s proxy requires, accepts or refuses mutual TLS:
    /// its own `mtls`, else its namespace's, else the mesh's.
    pub fn mtls_mode(&self, service: &Service) -> identity::MtlsMode {
        let (Some(mtls), Some(member)) = (&self.mtls, service.mesh()) else {
            return identity::MtlsMode::Disabled;
        };
        if let Some(own) = &member.mtls {
            return own.value;
        }
        let namespace = mtls.namespaces.iter().find(|(ns, _)| *ns == member.identity.namespace);
        namespace.map_or(mtls.mode.value, |(_, mode)| mode.value)
    }

    /// Whether requests from `caller` (`None`: a gateway) to `callee` travel
    /// over mutual TLS: the mesh has mTLS, the caller's proxy originates it
    /// (gateways always do), and the callee's accepts it.
    pub fn mtls_between(&self, caller: Option<&Service>, callee: &Service) -> bool {
        self.mtls.is_some()
            && caller.is_none_or(|c| self.mtls_mode(c) != identity::MtlsMode::Disabled)
            && self.mtls_mode(callee).accepts_tls()
    }

    /// The identity an authorization rule's caller stands for.
    pub fn principal_identity(&self, principal: &identity::Principal) -> std::borrow::Cow<'_, identity::Identity> {
        match principal {
            identity::Principal::Service(id) => self.service(*id).identity(),
            identity::Principal::Gateway(id) => std::borrow::Cow::Borrowed(&self.gateway(*id).identity),
        }
    }

    pub fn token_exchange(&self, id: identity::TokenExchangeId) -> &identity::TokenExchange {
        &self.token_exchanges[id.index()]
    }

    pub fn issuer(&self, id: security::IssuerId) -> &security::JwtIssuer {
        &self.issuers[id.index()]
    }

    pub fn service_role(&self, id: identity::ServiceRoleId) -> &identity::ServiceRole {
        &self.service_roles[id.index()]
    }

    pub fn role(&self, id: security::RoleId) -> &security::Role {
        &self.roles[id.index()]
    }

    pub fn service_ids(&self) -> impl Iterator<Item = ServiceId> {
        (0..self.services.len()).map(ServiceId::new)
    }

    /// The synchronous call graph's strongly connected components (calls on
    /// a request path only, see [`Call::on_request_path`]), callers
    /// before callees (a topological order of the condensation). A
    /// component of several services, or of one that calls itself, is a
    /// call cycle. Linear in services and calls (Tarjan).
    pub fn call_graph_components(&self) -> Vec<Vec<ServiceId>> {
        let mut graph = petgraph::graph::DiGraph::<ServiceId, ()>::with_capacity(self.services.len(), 0);
        let nodes: Vec<_> = self.service_ids().map(|id| graph.add_node(id)).collect();
        for (from, service) in self.services.iter().enumerate() {
            // A fallback service takes the call's requests when the callee fails.
            for target in service.calls.iter().filter(|c| c.on_request_path()).flat_map(Call::reached) {
                graph.add_edge(nodes[from], nodes[target.index()], ());
            }
        }
        // Tarjan yields components in reverse topological order.
        let mut components: Vec<Vec<ServiceId>> = petgraph::algo::tarjan_scc(&graph)
            .into_iter()
            .map(|c| {
                let mut ids: Vec<ServiceId> = c.into_iter().map(|n| graph[n]).collect();
                ids.sort();
                ids
            })
            .collect();
        components.reverse();
        components
    }

    /// Retry amplification: for every service (by [`ServiceId`] index), the
    /// most requests one gateway request can cause to it (the product of
    /// attempts along the worst path from a route, background calls left
    /// out) and the last step of that path; `None`: no route reaches it.
    /// One pass over routes and calls in topological order, no path
    /// enumeration; inside a call cycle one pass is enough (the cycle is
    /// reported on its own). The retry-amplification check and the docs
    /// site read it.
    pub fn retry_amplification(&self) -> Vec<Option<Amplified>> {
        let mut worst: Vec<Option<Amplified>> = vec![None; self.services.len()];
        let raise = |worst: &mut Vec<Option<Amplified>>, target: ServiceId, amplification: u64, via: AmplifiedVia| {
            let slot = &mut worst[target.index()];
            if slot.is_none_or(|a| amplification > a.amplification) {
                *slot = Some(Amplified { amplification, via });
            }
        };
        for (g, gateway) in self.gateway_ids().zip(&self.gateways) {
            for (route, r) in gateway.routes.iter().zip(0..) {
                let Some(forward) = route.forward() else { continue };
                let attempts = forward.retries.as_ref().map_or(1, |p| p.attempts());
                // Each attempt goes to the service or, when it fails, to the fallback service.
                let fallback = forward.fallback.as_ref().and_then(|f| f.service());
                for target in std::iter::once(forward.target.value).chain(fallback) {
                    raise(&mut worst, target, attempts, AmplifiedVia::Route { gateway: g, route: r });
                }
            }
        }
        for component in self.call_graph_components() {
            for caller in component {
                let Some(at_caller) = worst[caller.index()] else { continue };
                let service = self.service(caller);
                for (call, c) in service.calls.iter().zip(0..).filter(|(c, _)| c.on_request_path()) {
                    let attempts = service.call_retries(call).map_or(1, |p| p.attempts());
                    let amplification = at_caller.amplification.saturating_mul(attempts);
                    for target in call.reached() {
                        raise(&mut worst, target, amplification, AmplifiedVia::Call { caller, call: c });
                    }
                }
            }
        }
        worst
    }
}

/// A service's worst retry amplification ([`Model::retry_amplification`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Amplified {
    /// Requests to the service per gateway request, at worst.
    pub amplification: u64,
    /// The last step of the worst path.
    pub via: AmplifiedVia,
}

/// How a service's worst amplification is reached: from a gateway route, or
/// through a call (its index in the caller's `calls`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AmplifiedVia {
    Route { gateway: GatewayId, route: usize },
    Call { caller: ServiceId, call: usize },
}

/// A protocol schema file as the spec refers to it; the schema layer loads it.
#[derive(Debug)]
pub struct SchemaRef {
    pub path: PathBuf,
    /// `path` relative to the workspace root (`/`-separated), as artifacts
    /// and diagnostics show it: the same on every machine.
    pub display: String,
    /// Decides the loader: an API's kind, or a topic's event schema format.
    pub format: SchemaFormat,
    /// The first `schema` entry naming it.
    pub span: Span,
    /// Whether some API names it (not only topics or issuers).
    pub named_by_api: bool,
}

#[derive(Debug)]
pub struct Service {
    pub name: Spanned<String>,
    pub owner: Option<Spanned<String>>,
    /// Where its instances listen; `None`: a workload that listens nowhere
    /// (a queue consumer, a batch job, a load generator), which may call,
    /// publish and subscribe but which nothing calls.
    pub address: Option<Spanned<Address>>,
    pub apis: Vec<Api>,
    pub calls: Vec<Call>,
    /// Timeouts and retries of this service's calls that set none.
    pub call_defaults: traffic::CallDefaults,
    /// How callers reach this service's instances.
    pub traffic: traffic::TrafficPolicy,
    /// Its instances, when declared (`endpoints`); else callers resolve `address` by DNS.
    pub endpoints: Vec<traffic::Instance>,
    /// Versions running side by side, for `traffic` rules to route between.
    pub versions: Vec<traffic::Version>,
    /// In the mesh beside a proxy of ours, or outside it (`external`).
    pub placement: Placement,
    /// Its own tracing settings (`tracing service-name=... propagates=...`).
    pub tracing: tracing::OwnTracing,
    /// Its objectives and alerts, measured at its sidecar's inbound side.
    pub objectives: monitoring::Objectives,
    /// `labels tier="backend" ...`: sorted by key, each key once.
    pub labels: Vec<(String, String)>,
    pub span: Span,
}

/// `tier=backend, zone=eu`: labels as messages and pages show them.
pub fn label_list(labels: &[(String, String)]) -> String {
    labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
}

/// Where a service runs. Only a service in the mesh has a proxy of ours,
/// so only it has the proxy's settings: an external one cannot carry a
/// sidecar, identity, mTLS mode, authorization or required token.
#[derive(Debug)]
pub enum Placement {
    /// Runs outside the mesh (a partner's API, a managed database); the
    /// span of its `external` node.
    External {
        span: Span,
    },
    Mesh(MeshMember),
}

/// The settings of an in-mesh service's proxy.
#[derive(Debug)]
pub struct MeshMember {
    pub sidecar: traffic::SidecarPorts,
    /// Who its proxy is (the certificate it presents).
    pub identity: identity::Identity,
    /// Its own `mtls` mode, over its namespace's and the mesh's.
    pub mtls: Option<Spanned<identity::MtlsMode>>,
    /// Who may call which operations; `None`: anyone.
    pub authorization: Option<identity::Authorization>,
    /// Requests must carry a valid end-user token of this issuer, which
    /// its proxy verifies (`require-token`).
    pub require_token: Option<Spanned<security::IssuerId>>,
    /// Each caller's own rate limit or quota at its proxy (`caller-limit`).
    pub caller_limit: Option<security::CallerLimit>,
    /// What its proxy records of each incoming request (`audit`).
    pub audit: Option<Box<security::Audit>>,
}

/// A named stream of events, which services publish to and subscribe to:
/// the versions of the schema its events follow, how those versions may
/// evolve, and where a broker keeps them.
#[derive(Debug)]
pub struct Topic {
    pub name: Spanned<String>,
    /// Ascending by number, at least one; the last is the current version.
    pub versions: Vec<SchemaVersion>,
    /// What a new version must stay compatible with; the span of its
    /// `compatibility` node, or of the topic's name when it sets none.
    pub compatibility: Spanned<events::Compatibility>,
    pub subject_naming: events::SubjectNaming,
    /// Where a broker keeps its events; `None`: no broker is described.
    pub stream: Option<events::StreamId>,
    /// Schema versions allowed to break the compatibility mode, for a while.
    pub evolution: api_versions::Evolution,
    /// Example events: message contracts between its publishers and subscribers.
    pub examples: Vec<contracts::EventExample>,
    pub span: Span,
}

impl Topic {
    /// The newest version: what producers write unless they name one.
    pub fn current(&self) -> &SchemaVersion {
        self.versions.last().expect("a topic has at least one version")
    }

    pub fn version(&self, number: u32) -> Option<&SchemaVersion> {
        self.versions.iter().find(|v| v.number == number)
    }
}

/// One version of a topic's event schema.
#[derive(Debug)]
pub struct SchemaVersion {
    pub number: u32,
    /// An Avro, JSON Schema or `.proto` file (`SchemaRef::format` tells which).
    pub schema: SchemaId,
    /// Protobuf only: the message the events are (`shop.orders.v1.OrderPlaced`).
    pub message: Option<Spanned<String>>,
    /// Its `schema` node.
    pub span: Span,
}

impl Service {
    /// Whether it carries every one of `wanted` (`key`, `value`).
    pub fn has_labels(&self, wanted: &[(String, String)]) -> bool {
        wanted.iter().all(|w| self.labels.contains(w))
    }

    /// Whether its application copies the trace context of a request it
    /// serves onto the calls it makes for it: as declared, else yes for a
    /// service in the mesh (instrumented like the rest) and no for an
    /// external one (whose code is not ours).
    pub fn propagates_traces(&self) -> bool {
        match &self.tracing.propagates {
            Some(p) => p.value,
            None => self.mesh().is_some(),
        }
    }

    /// The `service.name` its proxy's spans carry.
    pub fn trace_name(&self) -> &str {
        self.tracing.service_name.as_ref().map_or(self.name.value.as_str(), |n| n.value.as_str())
    }

    /// Its proxy's sampling rate for the traces it starts; `None` without a mesh `tracing` block.
    pub fn trace_sampling(&self, model: &Model) -> Option<tracing::Sampling> {
        let mesh = model.tracing.as_ref()?;
        Some(self.tracing.sampling.as_ref().map_or(mesh.sampling.value, |s| s.value))
    }

    /// Its proxy's settings; `None` for an external service.
    pub fn mesh(&self) -> Option<&MeshMember> {
        match &self.placement {
            Placement::Mesh(member) => Some(member),
            Placement::External { .. } => None,
        }
    }

    /// The span of its `external` node; `None` for a service in the mesh.
    pub fn external(&self) -> Option<Span> {
        match &self.placement {
            Placement::External { span } => Some(*span),
            Placement::Mesh(_) => None,
        }
    }

    /// Its sidecar's ports; `None` for an external service.
    pub fn sidecar(&self) -> Option<&traffic::SidecarPorts> {
        self.mesh().map(|m| &m.sidecar)
    }

    /// Its own `mtls` mode; `None` when it sets none or runs outside the mesh.
    pub fn own_mtls(&self) -> Option<&Spanned<identity::MtlsMode>> {
        self.mesh().and_then(|m| m.mtls.as_ref())
    }

    /// Who may call which operations; `None`: anyone (always for an external service).
    pub fn authorization(&self) -> Option<&identity::Authorization> {
        self.mesh().and_then(|m| m.authorization.as_ref())
    }

    /// The issuer whose end-user token its proxy requires.
    pub fn require_token(&self) -> Option<&Spanned<security::IssuerId>> {
        self.mesh().and_then(|m| m.require_token.as_ref())
    }

    /// Each caller's rate limit or quota at its proxy (`caller-limit`).
    pub fn caller_limit(&self) -> Option<&security::CallerLimit> {
        self.mesh().and_then(|m| m.caller_limit.as_ref())
    }

    /// The audit record its proxy writes per incoming request, if any.
    pub fn audit(&self) -> Option<&security::Audit> {
        self.mesh().and_then(|m| m.audit.as_deref())
    }

    /// Who it is: its proxy's identity; for an external service, which
    /// presents no certificate, the default identity a service of its name
    /// and address would have in the mesh (what a rule naming it matches).
    pub fn identity(&self) -> std::borrow::Cow<'_, identity::Identity> {
        match &self.placement {
            Placement::Mesh(member) => std::borrow::Cow::Borrowed(&member.identity),
            Placement::External { .. } => {
                std::borrow::Cow::Owned(identity::Identity::default_for(&self.name.value, self.host()))
            }
        }
    }

    /// Its host; `None` for a workload that listens nowhere.
    pub fn host(&self) -> Option<&Host> {
        self.address.as_ref().map(|a| &a.value.host)
    }

    /// The port `id` of its address (ids come from its own APIs and calls to it).
    pub fn port(&self, id: PortId) -> &ServicePort {
        let address = self.address.as_ref().expect("only a service with an address has ports");
        &address.value.ports[id.index()]
    }

    /// The address's first port (its `port=`, else its first `port` node).
    pub fn first_port(&self) -> &ServicePort {
        self.port(PortId(0))
    }

    /// The port a gateway route's request for `operation` goes to: the
    /// [`Service::request_port`], else the first (the checks refuse routes
    /// to a service that serves no HTTP).
    pub fn route_port(&self, operation: Option<&Operation>) -> PortId {
        self.request_port(operation).unwrap_or(PortId(0))
    }

    /// Its ports with their ids; none for a workload that listens nowhere.
    pub fn ports(&self) -> impl Iterator<Item = (PortId, &ServicePort)> {
        self.address.iter().flat_map(|a| a.value.ports.iter().enumerate().map(|(i, p)| (PortId::new(i), p)))
    }

    /// The port a request for `operation` goes to: its API's, else the
    /// first port serving HTTP or gRPC; `None` when it serves neither.
    pub fn request_port(&self, operation: Option<&Operation>) -> Option<PortId> {
        let by_api = operation.and_then(|op| self.apis.iter().find(|a| a.serves(op))).map(|a| a.port);
        by_api.or_else(|| self.ports().find(|(_, p)| p.protocol.is_http()).map(|(id, _)| id))
    }

    /// Its APIs served on port `id`.
    pub fn apis_on(&self, id: PortId) -> impl Iterator<Item = &Api> {
        self.apis.iter().filter(move |a| a.port == id)
    }

    /// A call's timeout: its own, else the service's default; none for a
    /// TCP call (a connection has no request to time out).
    pub fn call_timeout<'a>(&'a self, call: &'a Call) -> Option<&'a Spanned<Duration>> {
        call.timeout.as_ref().or(self.call_defaults.timeout.as_ref()).filter(|_| !call.tcp)
    }

    pub fn version(&self, id: traffic::VersionId) -> &traffic::Version {
        &self.versions[id.index()]
    }

    /// Its calls that declare a `load`, by callee (in callee order): what the
    /// load analyses hold against each callee's limits.
    pub fn loaded_calls_by_callee(&self) -> std::collections::BTreeMap<ServiceId, Vec<&Call>> {
        let mut by_callee: std::collections::BTreeMap<ServiceId, Vec<&Call>> = std::collections::BTreeMap::new();
        for call in self.calls.iter().filter(|c| c.load.is_some()) {
            by_callee.entry(call.target.value).or_default().push(call);
        }
        by_callee
    }

    /// A call's retries: its own, else the service's default; none for a TCP call.
    pub fn call_retries<'a>(&'a self, call: &'a Call) -> Option<&'a traffic::RetryPolicy> {
        call.retries.as_ref().or(self.call_defaults.retries.as_ref()).filter(|_| !call.tcp)
    }
}

/// A host and port (a gateway's validator, a rate limit service).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub host: Host,
    pub port: Port,
}

/// Where a service's instances listen: a host and at least one port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    pub host: Host,
    pub ports: Vec<ServicePort>,
}

model_id!(
    /// A port's index in its service's address.
    PortId
);

/// A port a service listens on: the address's `port=`, or a `port` node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePort {
    /// `port "NAME" N`; `None` for the address's own `port=`.
    pub name: Option<Spanned<String>>,
    pub number: Port,
    /// What travels on it, from the APIs served on it.
    pub protocol: PortProtocol,
    pub span: Span,
}

impl ServicePort {
    /// Its name for configs (Envoy clusters and listeners, Kubernetes and
    /// Istio ports): its own, else after its protocol as Istio names ports
    /// (`http`, `grpc`, `http2`, `tcp`, `tcp-redis`).
    pub fn label(&self) -> String {
        match (&self.name, &self.protocol) {
            (Some(name), _) => name.value.clone(),
            (None, PortProtocol::Http) => "http".to_string(),
            (None, PortProtocol::Grpc) => "grpc".to_string(),
            (None, PortProtocol::Http2) => "http2".to_string(),
            (None, PortProtocol::Tcp(p)) if p.value == "tcp" => "tcp".to_string(),
            (None, PortProtocol::Tcp(p)) => format!("tcp-{}", p.value),
        }
    }
}

/// What travels on a port: HTTP (its REST and GraphQL APIs, or HTTP the
/// spec does not type), gRPC, both (HTTP/2), or plain TCP under the
/// protocol name the spec gives (`tcp`, `redis`, `postgres`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortProtocol {
    Http,
    Grpc,
    /// gRPC and HTTP/1.1 APIs on one port: the server speaks HTTP/2 (h2c).
    Http2,
    Tcp(Spanned<String>),
}

impl PortProtocol {
    /// Requests, routes and their settings exist on it (HTTP, gRPC).
    pub fn is_http(&self) -> bool {
        !matches!(self, PortProtocol::Tcp(_))
    }
}

#[derive(Debug)]
pub struct Api {
    pub name: Spanned<String>,
    pub kind: ApiKind,
    /// Its schema; for a versioned API, its current version's
    /// ([`Api::current_version`]), what a use naming no version resolves against.
    pub schema: SchemaId,
    /// Its versions served side by side, in spec order; empty: unversioned.
    pub versions: Vec<api_versions::ApiVersion>,
    /// The port it is served on.
    pub port: PortId,
    /// For gRPC APIs: the one `.proto` service (fully qualified) this API
    /// serves, when the file defines several. `None` serves all of them.
    pub grpc_service: Option<Spanned<String>>,
    /// For GraphQL APIs the mesh composes (`meshc-runtime graphql` serves
    /// them): how each root field is fetched. Empty for APIs the service
    /// implements itself.
    pub resolvers: Vec<Resolver>,
    /// How its schemas may change (`meshc diff`).
    pub evolution: api_versions::Evolution,
}

impl Api {
    /// Whether an operation of the API's kind belongs to this API.
    pub fn serves(&self, operation: &values::Operation) -> bool {
        match (&self.grpc_service, operation) {
            (Some(only), values::Operation::Grpc { service, .. }) => *service == only.value,
            _ => operation.kind() == self.kind,
        }
    }
}

/// A GraphQL root field answered by one operation of another service.
#[derive(Debug)]
pub struct Resolver {
    /// The field (`Query.product`); always a Query or Mutation field.
    pub field: Spanned<Operation>,
    pub target: Spanned<ServiceId>,
    /// A REST or gRPC operation of the target.
    pub operation: Spanned<Operation>,
    /// The target's port serving the operation.
    pub port: PortId,
    /// REST only: the argument sent as the JSON request body.
    pub body: Option<Spanned<String>>,
    pub timeout: Option<Duration>,
    pub span: Span,
}

impl Resolver {
    /// How long `meshc-runtime graphql` waits for a resolver that sets no timeout.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(10_000);

    pub fn effective_timeout(&self) -> Duration {
        self.timeout.unwrap_or(Resolver::DEFAULT_TIMEOUT)
    }

    /// The call the composed API makes for this field: its timeout, no
    /// retries (the runtime makes one attempt), made for the field.
    pub fn as_call(&self) -> Call {
        Call {
            target: self.target.clone(),
            port: self.port,
            tcp: false,
            operation: Some(self.operation.clone()),
            api_version: None,
            timeout: Some(Spanned::new(self.effective_timeout(), self.span)),
            idle_timeout: None,
            local_port: None,
            retries: Some(traffic::RetryPolicy {
                retries: 0,
                per_try_timeout: None,
                retry_on: Vec::new(),
                backoff: None,
                budget: None,
                span: self.span,
            }),
            load: None,
            serving: Some(self.field.clone()),
            idempotent: false,
            // meshc-runtime sends no end-user token upstream.
            token: TokenPassing::None,
            background: false,
            origin: CallOrigin::Resolver,
            alerts: Vec::new(),
            contract: None,
            fallback: None,
            span: self.span,
        }
    }
}

/// A synchronous call one service makes to another (including those a
/// composed GraphQL API makes for its resolvers).
#[derive(Debug)]
pub struct Call {
    pub target: Spanned<ServiceId>,
    /// The target's port the call goes to (`port=`, else its operation's
    /// API's, else the target's only port).
    pub port: PortId,
    /// That port carries plain TCP: the call has no operation, timeout,
    /// retries or token, and the caller's `call-defaults` do not apply.
    pub tcp: bool,
    pub operation: Option<Spanned<Operation>>,
    /// The version of a versioned API the call uses (`api-version=`);
    /// `None`: it names none (the API's current version), or the API is unversioned.
    pub api_version: Option<api_versions::ApiVersionRef>,
    pub timeout: Option<Spanned<Duration>>,
    /// How long the connection or stream may stay silent before the
    /// caller's proxy closes it (`idle-timeout=`): TCP calls and streams.
    pub idle_timeout: Option<Spanned<Duration>>,
    /// TCP calls: the port on 127.0.0.1 where the caller's sidecar takes
    /// the connection (`local-port=`); `None`: the target's port number.
    pub local_port: Option<Spanned<Port>>,
    pub retries: Option<traffic::RetryPolicy>,
    /// The traffic expected on the call (`load rps=N latency=D`).
    pub load: Option<Spanned<traffic::Load>>,
    /// The caller's own operation this call is made for (`for="POST /orders"`);
    /// `None`: any of them may make it.
    pub serving: Option<Spanned<Operation>>,
    /// The caller declares the operation safe to repeat (`idempotent=#true`),
    /// e.g. because it sends an idempotency key.
    pub idempotent: bool,
    /// What becomes of the end user's token the caller received.
    pub token: TokenPassing,
    /// Made on the caller's own schedule (a scrape, a cache warm-up, a
    /// telemetry export), not while it serves a request
    /// (`background=#true`): still proxied and authorized, but on no
    /// request path, so the cycle, amplification and timeout-budget
    /// analyses leave it out.
    pub background: bool,
    pub origin: CallOrigin,
    /// Alerts on the call, measured at the caller's sidecar.
    pub alerts: Vec<monitoring::Alert>,
    /// What the caller reads from the responses and its example
    /// interactions; `None`: a call without an operation, or a resolver's.
    pub contract: Option<contracts::Contract>,
    /// What the caller gets when the callee is unavailable (`fallback`).
    pub fallback: Option<traffic::Fallback>,
    pub span: Span,
}

impl Call {
    /// Whether a request the caller serves can wait on this call.
    pub fn on_request_path(&self) -> bool {
        !self.background
    }

    /// The services a request of this call can reach: the callee, and its
    /// fallback service when it has one.
    pub fn reached(&self) -> impl Iterator<Item = ServiceId> + '_ {
        std::iter::once(self.target.value).chain(self.fallback.as_ref().and_then(|f| f.service()))
    }
}

/// How a call passes on the end user's token: one way at most.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenPassing {
    /// The call carries no token of the user's.
    None,
    /// The caller's app passes on the token it received (`forward-token=#true`).
    Forward,
    /// The caller's sidecar trades it for one scoped to the callee
    /// (`exchange-token=STS audience=AUD`).
    Exchange(identity::CallExchange),
}

impl TokenPassing {
    /// The exchange, when the token is exchanged.
    pub fn exchange(&self) -> Option<&identity::CallExchange> {
        match self {
            TokenPassing::Exchange(exchange) => Some(exchange),
            _ => None,
        }
    }
}

/// Where a call comes from; the call-graph analyses treat both alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallOrigin {
    /// A `calls` node.
    Declared,
    /// A GraphQL `resolve` (checked by the graphql-resolvers pass).
    Resolver,
}

#[derive(Debug)]
pub struct Gateway {
    pub name: Spanned<String>,
    pub listeners: Vec<Listener>,
    /// Every route in spec order, those of `host` blocks included.
    pub routes: Vec<Route>,
    /// The `host` blocks, by [`VirtualHostId`].
    pub virtual_hosts: Vec<VirtualHost>,
    /// Bodies for responses the gateway itself produces (no route, upstream down).
    pub errors: ErrorFormat,
    /// The gateway's `error-format` node, when it declares one.
    pub errors_declared: Option<Span>,
    /// Where the request validator (`meshc-runtime validator`) listens.
    pub validator: Option<Spanned<Endpoint>>,
    /// Who the gateway's proxy is towards the services (Istio's ingress gateway by default).
    pub identity: identity::Identity,
    /// Where the global rate limit service listens.
    pub rate_limit_service: Option<security::RateLimitService>,
    /// Where audit records go (stdout unless set).
    pub audit_log: security::AuditSink,
    /// Its own tracing settings (`tracing service-name=... sampling=...`).
    pub tracing: tracing::OwnTracing,
    /// Its admin endpoint's port on 127.0.0.1 (`admin-port`), over the
    /// `monitoring` block's.
    pub admin_port: Option<Spanned<Port>>,
    pub span: Span,
}

#[derive(Debug)]
pub struct Listener {
    pub name: Spanned<String>,
    pub address: IpAddr,
    pub port: Port,
    pub span: Span,
}

#[derive(Debug)]
pub struct Route {
    pub name: Spanned<String>,
    pub matcher: RouteMatch,
    /// The `host` block the route is declared in; `None`: it serves the
    /// hosts no block names.
    pub virtual_host: Option<VirtualHostId>,
    /// Forward to a service, or answer with a redirect.
    pub action: RouteAction,
    /// Overrides the gateway's error bodies for requests this route took.
    pub errors: Option<ErrorFormat>,
    /// Changes to the response's headers, applied in order.
    pub response: Vec<HeaderTransform>,
    /// Requests need a token of an issuer (and maybe roles and claims).
    pub auth: Option<security::RouteAuth>,
    pub rate_limits: security::RouteRateLimits,
    pub audit: Option<security::Audit>,
    /// Declared public on purpose (the public-exposure analysis accepts it).
    pub public: Option<security::Public>,
    pub span: Span,
}

impl Route {
    /// The route's forwarding settings; `None` for a redirect.
    pub fn forward(&self) -> Option<&Forward> {
        match &self.action {
            RouteAction::Forward(forward) => Some(forward),
            RouteAction::Redirect(_) => None,
        }
    }
}

/// What a route does with the requests it takes. A redirect has no
/// upstream, so the settings of a forwarded request (timeouts, retries,
/// caching, transcoding, validation, rewrites) exist only on [`Forward`].
#[derive(Debug)]
pub enum RouteAction {
    /// Boxed: a redirect is a fraction of its size.
    Forward(Box<Forward>),
    Redirect(Redirect),
}

/// A route that proxies requests to a service (`to`).
#[derive(Debug)]
pub struct Forward {
    pub target: Spanned<ServiceId>,
    pub operation: Option<Spanned<Operation>>,
    /// The versions of the target's versioned API the route sends to;
    /// `None`: the API it reaches is unversioned.
    pub api_versions: Option<api_versions::RouteVersions>,
    /// `None`: Envoy's default (15 s).
    pub timeout: Option<RouteTimeout>,
    /// The stream is reset after this long without bytes either way.
    pub idle_timeout: Option<Spanned<Duration>>,
    pub retries: Option<traffic::RetryPolicy>,
    /// Responses are cached at the gateway for this long.
    pub cache: Option<Spanned<Duration>>,
    /// REST requests are transcoded to the gRPC operation.
    pub transcode: Option<Transcode>,
    /// Requests are validated against the route's OpenAPI operation before
    /// they reach the service; the span of the `validate` node.
    pub validate: Option<Span>,
    /// How the request's path and host are changed before it is sent on.
    pub rewrite: Rewrite,
    /// WebSocket upgrades pass through (the span of the `websocket` node).
    pub websocket: Option<Span>,
    /// Its objectives and alerts, measured at the gateway per route.
    pub objectives: monitoring::Objectives,
    /// Its example interactions; `None`: the route names no operation.
    pub contract: Option<contracts::Contract>,
    /// What the gateway answers when the service is unavailable (`fallback`).
    pub fallback: Option<traffic::Fallback>,
    /// The traffic expected on the route (`load rps=N latency=D`), as a
    /// call's: what load tests send (backend `contracts-load`).
    pub load: Option<Spanned<traffic::Load>>,
}

/// A route's `timeout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteTimeout {
    After(Duration),
    /// `timeout "none"`: streams and long polls run as long as they last.
    Never,
}

impl RouteTimeout {
    /// The deadline, if there is one.
    pub fn duration(self) -> Option<Duration> {
        match self {
            RouteTimeout::After(d) => Some(d),
            RouteTimeout::Never => None,
        }
    }
}

/// A forwarded request's rewrites (`rewrite`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rewrite {
    pub path: Option<Spanned<PathRewrite>>,
    /// The `Host`/`:authority` the service sees.
    pub host: Option<Spanned<Host>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathRewrite {
    /// Replaces the matched prefix (prefix matches only).
    Prefix(String),
    /// Replaces what an RE2 pattern matches with a substitution (`\1` for groups).
    Regex(values::RegexRewrite),
}

/// A route that answers with a redirect instead of forwarding (`redirect`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redirect {
    pub path: Option<Spanned<RedirectPath>>,
    pub host: Option<Host>,
    pub scheme: Option<values::Scheme>,
    pub port: Option<Port>,
    pub code: RedirectCode,
    /// The query string is dropped from the new location.
    pub strip_query: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedirectPath {
    /// The whole path is replaced.
    Exact(String),
    /// The matched prefix is replaced (prefix matches only).
    Prefix(String),
}

/// The status of a redirect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedirectCode {
    MovedPermanently = 301,
    Found = 302,
    SeeOther = 303,
    TemporaryRedirect = 307,
    PermanentRedirect = 308,
}

impl RedirectCode {
    pub fn parse(code: i128) -> Result<RedirectCode, String> {
        Ok(match code {
            301 => RedirectCode::MovedPermanently,
            302 => RedirectCode::Found,
            303 => RedirectCode::SeeOther,
            307 => RedirectCode::TemporaryRedirect,
            308 => RedirectCode::PermanentRedirect,
            _ => return Err(format!("{code} is not a redirect status; use 301, 302, 303, 307 or 308")),
        })
    }

    pub fn status(self) -> u16 {
        self as u16
    }
}

/// A `host` block of a gateway: the `Host`/`:authority` values its routes serve.
#[derive(Debug)]
pub struct VirtualHost {
    /// Lower case, in spec order; unique across a gateway's blocks (checked).
    pub domains: Vec<Spanned<values::Domain>>,
    pub span: Span,
}

model_id!(
    /// A `host` block's index in [`Gateway::virtual_hosts`].
    VirtualHostId
);

/// A route's `transcode`: by the method's own `google.api.http` bindings,
/// or by a binding the spec declares for a `.proto` without them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transcode {
    pub rule: Option<Spanned<values::HttpRule>>,
    /// The `transcode` node.
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderTransform {
    /// Sets the header, replacing any value the upstream sent.
    Set {
        name: HeaderName,
        value: String,
    },
    Remove {
        name: HeaderName,
    },
    /// Moves the upstream's value to a new name.
    Rename {
        from: HeaderName,
        to: HeaderName,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteMatch {
    pub path: PathMatch,
    pub method: Option<HttpMethod>,
    pub headers: Vec<HeaderMatch>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathMatch {
    Exact(String),
    Prefix(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderMatch {
    pub name: HeaderName,
    pub rule: HeaderRule,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderRule {
    Exact(String),
    Prefix(String),
    Present,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorFormat {
    pub format: ErrorBodyFormat,
    /// Status codes with their messages, sorted by status.
    pub statuses: Vec<ErrorStatus>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorStatus {
    pub status: u16,
    pub message: String,
}

impl Gateway {
    /// The `service.name` its proxy's spans carry.
    pub fn trace_name(&self) -> &str {
        self.tracing.service_name.as_ref().map_or(self.name.value.as_str(), |n| n.value.as_str())
    }

    /// Its sampling rate for the traces it starts; `None` without a mesh `tracing` block.
    pub fn trace_sampling(&self, model: &Model) -> Option<tracing::Sampling> {
        let mesh = model.tracing.as_ref()?;
        Some(self.tracing.sampling.as_ref().map_or(mesh.sampling.value, |s| s.value))
    }

    pub fn virtual_host(&self, id: VirtualHostId) -> &VirtualHost {
        &self.virtual_hosts[id.index()]
    }

    /// Its `host` blocks with their ids, in spec order.
    pub fn virtual_hosts_with_ids(&self) -> impl Iterator<Item = (VirtualHostId, &VirtualHost)> {
        self.virtual_hosts.iter().enumerate().map(|(i, v)| (VirtualHostId::new(i), v))
    }
}

impl ErrorFormat {
    /// Used when a gateway declares no `error-format`.
    pub fn default_json() -> ErrorFormat {
        ErrorFormat {
            format: ErrorBodyFormat::Json,
            statuses: vec![
                ErrorStatus { status: 404, message: "no route matches this request".into() },
                ErrorStatus { status: 503, message: "the upstream service is unavailable".into() },
            ],
        }
    }
}
