//! Contract plans (`contracts/providers/NAME.json`,
//! `contracts/consumers/NAME.json`, format `meshc-contracts/2`,
//! docs/contracts.md) and mock-provider configs (`contracts/mocks/NAME.json`):
//! every declared call and route with an operation is an interaction (its
//! implicit contract: the consumer's reads, typed), each `example` another
//! one, and each topic `example` a message interaction between the topic's
//! publishers and subscribers. Everything a runner needs is in the plan:
//! addresses, requests, expected responses with matchers, the types of
//! the fields each consumer reads; it reads no spec or schema.

use std::collections::{BTreeMap, HashMap, HashSet};

use rayon::prelude::*;
use serde::Serialize;

use crate::base::Spanned;
use crate::emit::{consumers_by_topic, producers_by_topic, Artifact, Options, Parts, Unexpressed};
use crate::model::api_versions::{ApiVersion, VersionSelector};
use crate::model::contracts::{Consumer, ContractUse, EventExample, Example, JsonText, MatchRule, Pair};
use crate::model::traffic::Probe;
use crate::model::values::{ApiKind, Operation};
use crate::model::{Model, SchemaId, Service, ServiceId, TopicId};
use crate::schema::shape::{self, Scalar, Shape};
use crate::schema::SchemaIndex;

/// The plans' format; bumped on any incompatible change.
const FORMAT: &str = "meshc-contracts/2";

#[derive(Serialize)]
struct Plan<'a> {
    /// The gRPC providers' proto files, dependencies first, when some
    /// interaction is gRPC: what a runner builds dynamic messages from.
    /// Each is `../descriptors/HASH.b64` (relative to the plan), the base64
    /// of one serialized `FileDescriptorProto`, written once per build.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    descriptors: Vec<String>,
    format: &'static str,
    interactions: Vec<&'a Interaction<'a>>,
    mesh: &'a str,
    messages: Vec<&'a Message<'a>>,
    /// `provider` or `consumer`.
    role: &'static str,
    /// A service's name, or `gateway:NAME`.
    subject: String,
}

#[derive(Serialize)]
struct Interaction<'a> {
    /// The provider API's version the requests go to (its selector is
    /// applied to `request`), for a versioned API.
    #[serde(skip_serializing_if = "Option::is_none")]
    api_version: Option<&'a str>,
    /// The end user's token the mesh checks on the requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    auth: Option<super::access::Auth<'a>>,
    consumer: String,
    /// A gateway route's: the request as the gateway takes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    gateway: Option<super::access::GatewayEntry<'a>>,
    /// Provider states, in order.
    given: Vec<&'a str>,
    /// `consumer->provider OPERATION`, then ` #EXAMPLE` for an example.
    id: String,
    operation: String,
    /// `http`, `grpc` or `graphql`.
    protocol: &'static str,
    provider: &'a str,
    /// Where the provider listens, as the spec declares it.
    provider_address: Address<'a>,
    /// The response fields the consumer reads, with the JSON types the
    /// provider's schema gives them.
    reads: Vec<Read>,
    request: Request<'a>,
    /// `None`: an implicit contract; the runner checks the reads of any
    /// success response.
    #[serde(skip_serializing_if = "Option::is_none")]
    response: Option<Response<'a>>,
    /// `file:line` of the call, route or example.
    source: String,
    /// The implicit interaction's only: the examples the provider's OpenAPI
    /// document gives for the operation's success response, answers for its mock.
    #[serde(skip)]
    schema_answers: Vec<Answer<'a>>,
    /// The implicit interaction's only, REST: the operation's success
    /// response, for its mock to generate answers from.
    #[serde(skip)]
    success: Option<Success>,
}

/// A REST operation's success response as its OpenAPI document declares it.
#[derive(Clone)]
struct Success {
    /// Self-contained JSON Schema of the body (`$ref`s into its `definitions`).
    schema: Option<serde_json::Value>,
    status: u16,
}

#[derive(Clone, Serialize)]
struct Address<'a> {
    host: &'a str,
    port: u16,
    /// The provider's sidecar's inbound port for that port, in the mesh.
    #[serde(skip_serializing_if = "Option::is_none")]
    sidecar_inbound_port: Option<u16>,
}

#[derive(Clone, Serialize)]
struct Read {
    /// Present in every success response (neither optional nor nullable).
    guaranteed: bool,
    path: String,
    /// `string`, `integer`, `number`, `boolean`, `object`, `array` or `any`.
    #[serde(rename = "type")]
    ty: &'static str,
}

#[derive(Clone, Serialize)]
struct Request<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<serde_json::Value>,
    headers: Vec<Header<'a>>,
    /// HTTP method; gRPC: `POST`.
    method: String,
    /// The concrete path; gRPC: `/package.Service/Method`; an implicit
    /// contract's is the operation's template (`/products/{productId}`).
    path: String,
    query: Vec<Header<'a>>,
}

#[derive(Clone, Serialize)]
pub(super) struct Header<'a> {
    pub(super) name: &'a str,
    pub(super) value: &'a str,
}

#[derive(Clone, Serialize)]
struct Response<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<serde_json::Value>,
    headers: Vec<Header<'a>>,
    /// Loosen the comparison with `body` at a path; elsewhere it is exact.
    matchers: Vec<MatcherEntry<'a>>,
    /// HTTP status; gRPC: the status code (0: OK).
    status: u16,
}

#[derive(Clone, Serialize)]
struct MatcherEntry<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min: Option<f64>,
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    regex: Option<&'a str>,
    /// `exact`, `type`, `regex`, `each-like` or `range`.
    rule: &'static str,
}

#[derive(Serialize)]
struct Message<'a> {
    broker: Option<BrokerEntry<'a>>,
    given: Vec<&'a str>,
    id: String,
    message: serde_json::Value,
    /// Protobuf events: the message type.
    #[serde(skip_serializing_if = "Option::is_none")]
    message_type: Option<&'a str>,
    publishers: Vec<Publisher<'a>>,
    /// Workspace-relative path of the schema version's file.
    schema: &'a str,
    schema_version: u32,
    source: String,
    subscribers: Vec<&'a str>,
    topic: &'a str,
}

#[derive(Serialize)]
struct BrokerEntry<'a> {
    addresses: Vec<String>,
    kind: &'static str,
    name: &'a str,
}

#[derive(Serialize)]
struct Publisher<'a> {
    service: &'a str,
    /// The NATS subject or RabbitMQ routing key it publishes under.
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a str>,
}

#[derive(Serialize)]
struct Mock<'a> {
    /// As [`Plan::descriptors`], for a provider with gRPC operations.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    descriptors: Vec<String>,
    format: &'static str,
    /// The service's HTTP health check, which the mock passes so that a
    /// mesh run on mocks (`meshc-runtime up`) is healthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    health: Option<MockHealth<'a>>,
    listen: Address<'a>,
    mesh: &'a str,
    operations: Vec<MockOperation<'a>>,
    service: &'a str,
}

#[derive(Serialize)]
struct MockHealth<'a> {
    path: &'a str,
    /// A status the check expects: 200 when it takes it, else its first.
    status: u16,
}

/// What a mock answers the service's HTTP health check with, if it has one.
fn mock_health(service: &Service) -> Option<MockHealth<'_>> {
    let check = service.traffic.health_check.as_ref()?;
    match &check.value.probe {
        Probe::Http { path, expect_status } => {
            let status = if expect_status.contains(200) { 200 } else { expect_status.first };
            Some(MockHealth { path: &path.value, status })
        }
        _ => None,
    }
}

#[derive(Serialize)]
struct MockOperation<'a> {
    /// Canned answers: the examples' responses, chosen by their requests.
    answers: Vec<Answer<'a>>,
    method: String,
    operation: String,
    /// The operation's path template (gRPC: `/package.Service/Method`).
    path: String,
    protocol: &'static str,
    /// What its consumers read: a generated answer must hold these fields.
    reads: Vec<Read>,
    /// REST: the JSON Schema of the success response's body (OpenAPI's
    /// Schema Object, every component it references in its `definitions`),
    /// which a generated answer validates against.
    #[serde(skip_serializing_if = "Option::is_none")]
    response_schema: Option<serde_json::Value>,
    /// REST: the success response's status, a generated answer's.
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
}

#[derive(Clone, Serialize)]
struct Answer<'a> {
    given: Vec<&'a str>,
    interaction: String,
    request: Request<'a>,
    response: Response<'a>,
}

pub fn emit(model: &Model, schemas: &SchemaIndex, _: &Options, _: &mut Vec<Unexpressed>, parts: Parts<'_>) {
    let uses = model.contract_uses();
    let interactions: Vec<(ContractUse, Interaction)> =
        uses.par_iter().flat_map_iter(|used| use_interactions(model, schemas, used)).collect();
    let messages: Vec<(TopicId, Message)> =
        model.event_examples().map(|(topic, example)| (topic, message(model, topic, example))).collect();
    // Providers and consumers by name: BTreeMap for a stable order.
    let mut providers: BTreeMap<&str, (ServiceId, Vec<&Interaction>, Vec<&Message>)> = BTreeMap::new();
    let mut consumers: BTreeMap<String, (Consumer, Vec<&Interaction>, Vec<&Message>)> = BTreeMap::new();
    // The gRPC providers each consumer's interactions go to.
    let mut grpc_providers: BTreeMap<String, Vec<ServiceId>> = BTreeMap::new();
    for (used, interaction) in interactions.iter() {
        let provider = model.service(used.provider);
        providers.entry(&provider.name.value).or_insert((used.provider, Vec::new(), Vec::new())).1.push(interaction);
        consumers
            .entry(interaction.consumer.clone())
            .or_insert((used.consumer, Vec::new(), Vec::new()))
            .1
            .push(interaction);
        if interaction.protocol == "grpc" {
            let ids = grpc_providers.entry(interaction.consumer.clone()).or_default();
            if !ids.contains(&used.provider) {
                ids.push(used.provider);
            }
        }
    }
    let (producers_of, consumers_of) = (producers_by_topic(model), consumers_by_topic(model));
    for (topic, message) in &messages {
        for producer in &producers_of[topic.index()] {
            let service = model.service(producer.service);
            providers.entry(&service.name.value).or_insert((producer.service, Vec::new(), Vec::new())).2.push(message);
        }
        for consumer in &consumers_of[topic.index()] {
            let name = model.service(consumer.service).name.value.clone();
            let entry = consumers.entry(name).or_insert((Consumer::Service(consumer.service), Vec::new(), Vec::new()));
            if !entry.2.iter().any(|m| std::ptr::eq(*m, message)) {
                entry.2.push(message);
            }
        }
    }
    // The plans in a fixed order, each with its descriptors (gathered once per schema, in that order).
    let mut descriptors = Descriptors::new(schemas);
    let mut plans: Vec<(String, Plan, crate::base::Span, Option<ServiceId>)> = Vec::new();
    for (name, (id, interactions, messages)) in providers {
        let grpc = interactions.iter().any(|i| i.protocol == "grpc");
        let plan = Plan {
            descriptors: if grpc { descriptors.of(model, &[id]) } else { Vec::new() },
            format: FORMAT,
            interactions,
            mesh: &model.name,
            messages,
            role: "provider",
            subject: name.to_string(),
        };
        plans.push((format!("contracts/providers/{name}.json"), plan, model.service(id).name.span, Some(id)));
    }
    for (name, (consumer, interactions, messages)) in consumers {
        let origin = match consumer {
            Consumer::Service(id) => model.service(id).name.span,
            Consumer::Gateway(id) => model.gateway(id).name.span,
        };
        let path = format!("contracts/consumers/{}.json", name.replace(':', "-"));
        let plan = Plan {
            descriptors: grpc_providers.get(&name).map(|ids| descriptors.of(model, ids)).unwrap_or_default(),
            format: FORMAT,
            interactions,
            mesh: &model.name,
            messages,
            role: "consumer",
            subject: name,
        };
        plans.push((path, plan, origin, None));
    }
    // A part per plan (a provider's with its mock), serialized in parallel,
    // each written while others are made; the descriptors last.
    plans.par_iter().enumerate().for_each(|(part, (path, plan, origin, provider))| {
        let mut files = vec![json(path.clone(), plan, *origin)];
        if let Some(mock) = provider.and_then(|id| mock(model, id, &plan.interactions, plan.descriptors.clone())) {
            files.push(json(format!("contracts/mocks/{}.json", plan.subject), &mock, *origin));
        }
        parts(part, files);
    });
    parts(plans.len(), descriptors.into_artifacts().collect());
}

/// Each proto file's descriptor as an artifact of its own, which plans and
/// mocks name instead of carrying the files: a mesh's consumers share their
/// providers' proto files, so repeating them made the plans grow with
/// consumers × files. Named by the SHA-256 of its bytes, since two schemas
/// may hold different files of one name.
struct Descriptors<'s> {
    schemas: &'s SchemaIndex,
    /// Per schema: the names and plan-relative paths of its files, in dependency order.
    by_schema: HashMap<SchemaId, Vec<(String, String)>>,
    /// Artifact path → (base64 contents, the schema reference that first needed it).
    files: BTreeMap<String, (String, crate::base::Span)>,
}

impl<'s> Descriptors<'s> {
    fn new(schemas: &'s SchemaIndex) -> Self {
        Descriptors { schemas, by_schema: HashMap::new(), files: BTreeMap::new() }
    }

    /// The descriptors of every gRPC API (all versions) of the providers,
    /// dependencies first, each file name once.
    fn of(&mut self, model: &Model, providers: &[ServiceId]) -> Vec<String> {
        let mut seen = HashSet::new();
        let mut paths = Vec::new();
        let ids = providers
            .iter()
            .flat_map(|id| &model.service(*id).apis)
            .filter(|api| api.kind == ApiKind::Grpc)
            .flat_map(|api| std::iter::once(api.schema).chain(api.versions.iter().map(|v| v.schema)));
        for id in ids {
            for (name, path) in self.of_schema(model, id) {
                if seen.insert(name.clone()) {
                    paths.push(path.clone());
                }
            }
        }
        paths
    }

    fn of_schema(&mut self, model: &Model, id: SchemaId) -> &[(String, String)] {
        use base64::Engine as _;
        let Descriptors { schemas, by_schema, files } = self;
        by_schema.entry(id).or_insert_with(|| {
            let origin = model.schema(id).span;
            schemas
                .descriptor_files(&[id])
                .into_iter()
                .map(|(name, bytes)| {
                    let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
                    let hash = crate::base::lowercase_hex(&digest.as_ref()[..16]);
                    files
                        .entry(format!("contracts/descriptors/{hash}.b64"))
                        .or_insert_with(|| (base64::engine::general_purpose::STANDARD.encode(&bytes) + "\n", origin));
                    (name, format!("../descriptors/{hash}.b64"))
                })
                .collect()
        })
    }

    fn into_artifacts(self) -> impl Iterator<Item = Artifact> {
        self.files.into_iter().map(|(path, (contents, origin))| Artifact { path, contents, origin })
    }
}

fn json(path: String, document: &impl Serialize, origin: crate::base::Span) -> Artifact {
    Artifact { path, contents: crate::emit::pretty_json(document), origin }
}

/// The implicit interaction of a use, then one per example.
fn use_interactions<'a>(
    model: &'a Model,
    schemas: &'a SchemaIndex,
    used: &ContractUse<'a>,
) -> Vec<(ContractUse<'a>, Interaction<'a>)> {
    let provider = model.service(used.provider);
    let consumer = model.consumer_name(used.consumer);
    let operation = &used.operation.value;
    let caller = match used.route() {
        Some(route) => format!("{consumer}/{}", route.name.value),
        None => consumer.clone(),
    };
    let auth = super::access::auth(model, used);
    let gateway = super::access::gateway(model, used);
    let base_id = format!("{caller}->{} {operation}", provider.name.value);
    let response = schemas.bodies_of(model, used).and_then(|b| b.response);
    let reads: Vec<Read> = used
        .contract
        .reads
        .iter()
        .map(|r| {
            let resolved = response.as_ref().and_then(|slot| shape::lookup(slot, &r.value).ok());
            Read {
                guaranteed: resolved.as_ref().is_some_and(|r| r.optional_at.is_none()),
                path: r.value.to_string(),
                ty: resolved.map_or("any", |r| json_type(&r.slot.shape)),
            }
        })
        .collect();
    let address = address(model, used);
    let (protocol, method, template) = request_line(operation);
    let version = api_version(model, used);
    let selected = |mut request: Request<'a>| {
        if let Some(version) = version {
            select(&mut request, &version.selector.value);
        }
        request
    };
    let defining = schemas.defining_in(model, used.provider, operation, used.api_version);
    // A GraphQL implicit contract's query selects what the consumer reads.
    let graphql_body = defining.and_then(|schema| {
        let reads: Vec<_> = used.contract.reads.iter().map(|r| &r.value).collect();
        super::graphql_query::implicit_query(schema, operation, &reads).map(|q| serde_json::json!({ "query": q }))
    });
    let implicit_request = selected(Request {
        body: graphql_body,
        headers: super::access::authorized_headers(model, used),
        method: method.clone(),
        path: template.clone(),
        query: Vec::new(),
    });
    let detail = defining.and_then(|schema| schema.rest_detail(operation));
    let documented = detail.map_or(&[][..], |detail| &detail.response_examples);
    let success = detail.and_then(|detail| {
        let components = defining.and_then(|schema| schema.openapi_components());
        Some(Success {
            schema: detail.response.as_ref().map(|s| crate::schema::self_contained_schema(s, components)),
            status: detail.response_status?,
        })
    });
    let schema_answers = documented
        .iter()
        .map(|example| Answer {
            given: Vec::new(),
            interaction: format!("{} {operation} #openapi:{}", provider.name.value, example.name),
            request: implicit_request.clone(),
            response: Response {
                body: Some(example.value.clone()),
                headers: Vec::new(),
                matchers: Vec::new(),
                status: example.status,
            },
        })
        .collect();
    let implicit = Interaction {
        api_version: version.map(|v| v.name.value.as_str()),
        auth: auth.clone(),
        consumer: consumer.clone(),
        gateway: gateway.clone(),
        given: Vec::new(),
        id: base_id.clone(),
        operation: operation.to_string(),
        protocol,
        provider: &provider.name.value,
        provider_address: address.clone(),
        reads: reads.clone(),
        request: implicit_request,
        response: None,
        source: used.contract.location.to_string(),
        schema_answers,
        success,
    };
    let mut out = vec![(*used, implicit)];
    for example in &used.contract.examples {
        out.push((
            *used,
            Interaction {
                api_version: version.map(|v| v.name.value.as_str()),
                auth: auth.clone(),
                consumer: consumer.clone(),
                gateway: gateway.clone(),
                given: given(&example.given),
                id: format!("{base_id} #{}", example.name.value),
                operation: operation.to_string(),
                protocol,
                provider: &provider.name.value,
                provider_address: address.clone(),
                reads: reads.clone(),
                request: selected(request(example, &method, &template)),
                response: Some(response_of(example)),
                source: example.location.to_string(),
                schema_answers: Vec::new(),
                success: None,
            },
        ));
    }
    out
}

/// The version of a versioned API a use's requests go to: the one it
/// names, else the API's current one (where the gateway sends requests
/// naming none).
fn api_version<'a>(model: &'a Model, used: &ContractUse<'_>) -> Option<&'a ApiVersion> {
    let provider = model.service(used.provider);
    let (api, version) = match used.api_version {
        Some(v) => (&provider.apis[v.api.index()], v.version),
        None => {
            let api = provider.apis.iter().find(|api| api.is_versioned() && api.serves(&used.operation.value))?;
            (api, api.current_version()?)
        }
    };
    Some(api.version(version))
}

/// Makes a request name its API version as the selector says, unless it
/// does already: under its path prefix, with its header, or accepting its
/// media type (a gRPC method's path names its package).
fn select<'a>(request: &mut Request<'a>, selector: &'a VersionSelector) {
    let has = |request: &Request, name: &str| request.headers.iter().any(|h| h.name.eq_ignore_ascii_case(name));
    match selector {
        VersionSelector::PathPrefix(prefix) => {
            let prefix = prefix.trim_end_matches('/');
            let under = request.path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
            if !under {
                request.path = format!("{prefix}{}", request.path);
            }
        }
        VersionSelector::Header { name, value } if !has(request, name.as_str()) => {
            request.headers.push(Header { name: name.as_str(), value });
        }
        VersionSelector::MediaType(media) if !has(request, "accept") => {
            request.headers.push(Header { name: "accept", value: media });
        }
        VersionSelector::Header { .. } | VersionSelector::MediaType(_) | VersionSelector::GrpcPackage(_) => {}
    }
}

/// The protocol, method and path of an operation's requests.
fn request_line(operation: &Operation) -> (&'static str, String, String) {
    match operation {
        Operation::Grpc { service, method } => ("grpc", "POST".to_string(), format!("/{service}/{method}")),
        Operation::Rest { method, path } => ("http", method.to_string(), path.clone()),
        // GraphQL: a POST of a query selecting the field; the spec names no
        // endpoint path, and the provider's proxy routes every path to it.
        Operation::Graphql { .. } => ("graphql", "POST".to_string(), "/".to_string()),
    }
}

fn address<'a>(model: &'a Model, used: &ContractUse<'_>) -> Address<'a> {
    let provider = model.service(used.provider);
    let inbound = provider
        .sidecar()
        .and_then(|s| s.inbound_ports(provider.ports().count()))
        .and_then(|ports| ports.get(used.port.index()).copied());
    Address {
        host: provider.host().map_or("", |h| h.as_str()),
        port: provider.port(used.port).number.get(),
        sidecar_inbound_port: inbound.map(|p| p.get()),
    }
}

fn given(states: &[Spanned<String>]) -> Vec<&str> {
    states.iter().map(|s| s.value.as_str()).collect()
}

fn pairs(pairs: &[Pair]) -> Vec<Header<'_>> {
    pairs.iter().map(|p| Header { name: &p.name.value, value: &p.value.value }).collect()
}

/// The JSON of a body or message (the invalid-example-json pass reports
/// any that is not, and nothing is emitted then).
fn json_value(json: &JsonText) -> serde_json::Value {
    serde_json::from_str(&json.text).unwrap_or_default()
}

fn body(json: &Option<JsonText>) -> Option<serde_json::Value> {
    json.as_ref().map(json_value)
}

fn request<'a>(example: &'a Example, method: &str, template: &str) -> Request<'a> {
    Request {
        body: body(&example.request.body),
        headers: pairs(&example.request.headers),
        method: method.to_string(),
        path: example.request.path.as_ref().map_or_else(|| template.to_string(), |p| p.value.clone()),
        query: pairs(&example.request.query),
    }
}

fn response_of(example: &Example) -> Response<'_> {
    let response = &example.response;
    let matchers = response
        .matchers
        .iter()
        .map(|m| {
            let (min, max, regex) = match &m.rule.value {
                MatchRule::Regex(pattern) => (None, None, Some(pattern.as_str())),
                MatchRule::EachLike { min } => (Some(f64::from(*min)), None, None),
                MatchRule::Range { min, max } => (*min, *max, None),
                MatchRule::Exact | MatchRule::Type => (None, None, None),
            };
            MatcherEntry { max, min, path: m.path.value.to_string(), regex, rule: m.rule.value.name() }
        })
        .collect();
    Response { body: body(&response.body), headers: pairs(&response.headers), matchers, status: response.status.value }
}

/// A JSON type name for a shape.
fn json_type(shape: &Shape) -> &'static str {
    match shape {
        Shape::Scalar(Scalar::String | Scalar::Bytes | Scalar::Int64) | Shape::Enum { .. } => "string",
        Shape::Scalar(Scalar::Int32 | Scalar::UInt32 | Scalar::Integer) => "integer",
        Shape::Scalar(Scalar::Float) => "number",
        Shape::Scalar(Scalar::Bool) => "boolean",
        Shape::Object(_) => "object",
        Shape::List(_) => "array",
        Shape::Any => "any",
    }
}

fn message<'a>(model: &'a Model, id: TopicId, example: &'a EventExample) -> Message<'a> {
    let topic = model.topic(id);
    let version = example.version.as_ref().and_then(|v| topic.version(v.value)).unwrap_or_else(|| topic.current());
    let broker = topic.stream.map(|s| model.events.broker(model.events.stream(s).broker)).map(|b| BrokerEntry {
        addresses: b.addresses.iter().map(|a| format!("{}:{}", a.value.host.as_str(), a.value.port)).collect(),
        kind: b.kind.as_str(),
        name: &b.name.value,
    });
    let publishers = model
        .events
        .producers
        .iter()
        .filter(|p| p.topic.value == id)
        .map(|p| Publisher {
            service: &model.service(p.service).name.value,
            subject: p.subject.as_ref().map(|s| s.value.as_str()).or_else(|| {
                topic.stream.and_then(|s| model.events.stream(s).subjects.first()).map(|s| s.value.as_str())
            }),
        })
        .collect();
    let subscribers = model
        .events
        .consumers
        .iter()
        .filter(|c| c.topic.value == id)
        .map(|c| model.service(c.service).name.value.as_str())
        .collect();
    Message {
        broker,
        given: given(&example.given),
        id: format!("{} #{}", topic.name.value, example.name.value),
        message: json_value(&example.message),
        message_type: version.message.as_ref().map(|m| m.value.as_str()),
        publishers,
        schema: &model.schema(version.schema).display,
        schema_version: version.number,
        source: example.location.to_string(),
        subscribers,
        topic: &topic.name.value,
    }
}

/// A provider's mock: its operations its consumers use, with canned answers.
fn mock<'a>(
    model: &'a Model,
    id: ServiceId,
    interactions: &[&Interaction<'a>],
    descriptors: Vec<String>,
) -> Option<Mock<'a>> {
    let service = model.service(id);
    let mut operations: Vec<MockOperation> = Vec::new();
    // The OpenAPI document's examples, answered after the spec's own.
    let mut documented: Vec<(usize, &Answer)> = Vec::new();
    let mut listen = None;
    for interaction in interactions {
        listen.get_or_insert_with(|| interaction.provider_address.clone());
        let at = match operations.iter().position(|o| o.operation == interaction.operation) {
            Some(at) => at,
            // A use's implicit interaction comes first: its path is the operation's template.
            None => {
                operations.push(MockOperation {
                    answers: Vec::new(),
                    method: interaction.request.method.clone(),
                    operation: interaction.operation.clone(),
                    path: interaction.request.path.clone(),
                    protocol: interaction.protocol,
                    reads: Vec::new(),
                    response_schema: None,
                    status: None,
                });
                operations.len() - 1
            }
        };
        let operation = &mut operations[at];
        if let Some(success) = interaction.success.as_ref().filter(|_| operation.status.is_none()) {
            operation.response_schema = success.schema.clone();
            operation.status = Some(success.status);
        }
        for read in &interaction.reads {
            if !operation.reads.iter().any(|r| r.path == read.path) {
                operation.reads.push(read.clone());
            }
        }
        documented.extend(interaction.schema_answers.iter().map(|answer| (at, answer)));
        if let Some(response) = &interaction.response {
            operation.answers.push(Answer {
                given: interaction.given.clone(),
                interaction: interaction.id.clone(),
                request: interaction.request.clone(),
                response: response.clone(),
            });
        }
    }
    for (at, answer) in documented {
        let answers = &mut operations[at].answers;
        if !answers.iter().any(|a| a.interaction == answer.interaction) {
            answers.push(answer.clone());
        }
    }
    operations.sort_by(|a, b| a.operation.cmp(&b.operation));
    for operation in &mut operations {
        operation.reads.sort_by(|a, b| a.path.cmp(&b.path));
    }
    Some(Mock {
        descriptors,
        format: FORMAT,
        health: mock_health(service),
        listen: listen?,
        mesh: &model.name,
        operations,
        service: &service.name.value,
    })
}
