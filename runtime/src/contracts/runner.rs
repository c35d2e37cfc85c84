//! The `ContractTestRunner`: runs a contract plan's interactions against a
//! live provider (HTTP/JSON, gRPC with dynamic messages, GraphQL) and
//! judges each answer under the example's matchers and the consumer's
//! reads ([`super::matcher`]). docs/runtime.md, "Contract test runner".

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use prost_reflect::{DescriptorPool, SerializeOptions};
use serde_json::{json, Value};

use super::matcher::{check_reads, compare_body, describe, Mismatch};
use super::plan::{Interaction, MatchRule, Matcher, Message, Pair, Plan, Protocol, Request, Response, Role};
use super::TokenSource;
use crate::event_bus::{EventBus, EventBusConfig};
use crate::http_client::{error_chain, pooled, HttpClient};

/// Where and how the runner reaches providers.
#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// `HOST:PORT` of every provider not in `addresses` (the provider's
    /// own pipeline: the one provider under test).
    pub provider: Option<String>,
    /// `HOST:PORT` per provider name (a mock each, or the mesh's sidecars).
    pub addresses: BTreeMap<String, String>,
    /// Provider states: `http://HOST:PORT/PATH` the runner POSTs
    /// `{"consumer", "state"}` to before each interaction, per state.
    pub states: Option<String>,
    /// The event bus (`runtime/event-bus.json`, with brokers the runner
    /// reaches) message contracts run on; without it they are skipped.
    pub event_bus: Option<Arc<EventBusConfig>>,
    /// The most one exchange (state set-up, request) may take, and how
    /// long a provider has to publish a message contract's event.
    pub timeout: Duration,
    /// The addresses are proxies (a consumer's sidecar outbound listener):
    /// requests name the provider's declared address (`provider_address`)
    /// as their `host` / `:authority`, which the proxy routes by.
    pub through_proxy: bool,
    /// `HOST:PORT` per gateway name: a route's interactions (those with a
    /// `gateway` entry) go through its gateway, as the gateway takes them.
    pub gateways: BTreeMap<String, String>,
    /// The end user's tokens interactions with `auth` carry when they go
    /// through the mesh (through a proxy or a gateway).
    pub tokens: Option<Arc<dyn TokenSource>>,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        RunnerOptions {
            provider: None,
            addresses: BTreeMap::new(),
            states: None,
            event_bus: None,
            timeout: Duration::from_secs(10),
            through_proxy: false,
            gateways: BTreeMap::new(),
            tokens: None,
        }
    }
}

/// Runs plans; see [`ContractTestRunner::run`].
#[derive(Debug, Clone)]
pub struct ContractTestRunner {
    options: RunnerOptions,
}

/// What one plan's run found.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanResult {
    pub mesh: String,
    pub role: Role,
    pub subject: String,
    /// One per interaction, then one per message contract, in plan order.
    pub cases: Vec<CaseResult>,
}

/// One interaction's or message contract's result.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseResult {
    /// The interaction's or message contract's `id`.
    pub id: String,
    pub kind: CaseKind,
    /// Interactions: the consumer; messages: the topic's subscribers.
    pub consumer: String,
    /// Interactions: the provider; messages: the topic's publishers.
    pub provider: String,
    /// `file:line` in the spec.
    pub source: String,
    pub outcome: Outcome,
    pub duration: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseKind {
    Interaction,
    Message,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Passed,
    /// What differed; never empty.
    Failed(Vec<Mismatch>),
    /// Why it could not run.
    Skipped(String),
}

impl PlanResult {
    /// How many cases passed, failed and were skipped.
    pub fn counts(&self) -> (usize, usize, usize) {
        let count = |f: fn(&Outcome) -> bool| self.cases.iter().filter(|c| f(&c.outcome)).count();
        (
            count(|o| matches!(o, Outcome::Passed)),
            count(|o| matches!(o, Outcome::Failed(_))),
            count(|o| matches!(o, Outcome::Skipped(_))),
        )
    }
}

/// A provider's answer, whatever the protocol.
#[derive(Debug)]
struct Actual {
    /// HTTP status, or the gRPC status code.
    status: u16,
    /// gRPC: the status message; else empty.
    status_detail: String,
    /// Lowercased names.
    headers: Vec<(String, String)>,
    body: Body,
}

#[derive(Debug)]
enum Body {
    Json(Value),
    /// Not JSON (or empty), as text.
    Text(String),
}

impl ContractTestRunner {
    pub fn new(options: RunnerOptions) -> Self {
        ContractTestRunner { options }
    }

    /// Runs every interaction of `plan`, then every message contract, one
    /// after another. A plan whose descriptor set does not decode fails
    /// every gRPC interaction with that error.
    pub fn run(&self, plan: &Plan) -> PlanResult {
        let pool = plan.descriptor_pool();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
        let mut cases = Vec::new();
        match &runtime {
            Ok(runtime) => runtime.block_on(async {
                let client = pooled();
                for interaction in &plan.interactions {
                    let started = Instant::now();
                    let outcome = self.interaction(plan, interaction, &pool, &client).await;
                    cases.push(interaction_case(interaction, outcome, started.elapsed()));
                }
                for message in &plan.messages {
                    let started = Instant::now();
                    let outcome = self.message(plan.role, message, &client).await;
                    cases.push(message_case(message, outcome, started.elapsed()));
                }
            }),
            Err(e) => {
                let reason = format!("no tokio runtime: {e}");
                for interaction in &plan.interactions {
                    cases.push(interaction_case(interaction, Outcome::Skipped(reason.clone()), Duration::ZERO));
                }
                for message in &plan.messages {
                    cases.push(message_case(message, Outcome::Skipped(reason.clone()), Duration::ZERO));
                }
            }
        }
        PlanResult { mesh: plan.mesh.clone(), role: plan.role, subject: plan.subject.clone(), cases }
    }

    async fn interaction(
        &self,
        plan: &Plan,
        interaction: &Interaction,
        pool: &Result<Option<DescriptorPool>, super::PlanError>,
        client: &HttpClient,
    ) -> Outcome {
        let (request, given) = match runnable_request(plan, interaction) {
            Ok(found) => found,
            Err(reason) => return Outcome::Skipped(reason),
        };
        let route = self.route_of(interaction);
        let (target, authority, mut request) = match route {
            Some(RouteTarget::Gateway(entry, gateway)) => {
                let mut sent = request.clone();
                sent.path = entry.external_path(&request.path);
                sent.headers.extend(entry.headers.iter().cloned());
                (gateway, entry.host.clone(), sent)
            }
            Some(RouteTarget::Unmappable(gateway)) => {
                return Outcome::Skipped(format!(
                    "not runnable through gateway `{gateway}`: the route rewrites the path by a regex or transcodes \
                     it, which the plan cannot undo; run it against the provider"
                ))
            }
            None => {
                let Some(target) = self.address_of(&interaction.provider) else {
                    return Outcome::Skipped(format!(
                        "no address for provider `{}`: give --provider HOST:PORT or --address {}=HOST:PORT",
                        interaction.provider, interaction.provider
                    ));
                };
                let declared = &interaction.provider_address;
                let authority = self.options.through_proxy.then(|| format!("{}:{}", declared.host, declared.port));
                (target, authority, request.clone())
            }
        };
        // Only the mesh checks tokens: a provider under test alone gets none.
        if let Some(auth) = interaction.auth.as_ref().filter(|_| route.is_some() || self.options.through_proxy) {
            let token = match &self.options.tokens {
                Some(tokens) => tokens.token(auth),
                None => {
                    Err(format!("the request needs a token of issuer `{}` and the runner was given none", auth.issuer))
                }
            };
            match token {
                Ok(token) if !has_header(&request, "authorization") => {
                    request.headers.push(Pair { name: "authorization".into(), value: format!("Bearer {token}") })
                }
                Ok(_) => {}
                Err(reason) => return Outcome::Skipped(format!("not runnable: {reason}")),
            }
        }
        for state in given {
            if let Err(problem) = self.set_up_state(client, &interaction.consumer, state).await {
                return state_failure(state, problem);
            }
        }
        let actual = match interaction.protocol {
            Protocol::Http | Protocol::Graphql => self.send_http(client, target, authority.as_deref(), &request).await,
            Protocol::Grpc => match pool {
                Ok(Some(pool)) => send_grpc(pool, target, authority.as_deref(), &request, self.options.timeout),
                Ok(None) => Err("the plan has no `descriptors`".to_string()),
                Err(e) => Err(e.to_string()),
            },
        };
        let actual = match actual {
            Ok(actual) => actual,
            Err(problem) => {
                return Outcome::Failed(vec![Mismatch::new("response", "an answer", Some(problem), "transport")])
            }
        };
        let mismatches = judge(interaction, &actual);
        if mismatches.is_empty() {
            Outcome::Passed
        } else {
            Outcome::Failed(mismatches)
        }
    }

    /// A message contract. Provider side (the plan's subject publishes):
    /// the runner tails the topic, sets up the states, and waits for an
    /// event like the example (by type) from the provider. Consumer side:
    /// the runner publishes the example as the topic's first publisher,
    /// which validates it against the publisher's schema version and waits
    /// for the broker's acknowledgement.
    async fn message(&self, role: Role, message: &Message, client: &HttpClient) -> Outcome {
        let Some(config) = &self.options.event_bus else {
            return Outcome::Skipped("not runnable: message contracts need --event-bus FILE".to_string());
        };
        if message.broker.is_none() {
            return Outcome::Skipped(format!("not runnable: topic `{}` has no stream", message.topic));
        }
        let broker_failure = |problem: String| {
            Outcome::Failed(vec![Mismatch::new(
                "broker",
                format!("topic `{}` reachable", message.topic),
                Some(problem),
                "event bus",
            )])
        };
        match role {
            Role::Provider => {
                let bus = match EventBus::connect_for_topics(config, &[message.topic.as_str()]).await {
                    Ok(bus) => bus,
                    Err(e) => return broker_failure(e.to_string()),
                };
                let (sender, mut events) = tokio::sync::mpsc::unbounded_channel();
                let tail = bus.tail(&message.topic, false, move |event| {
                    let _ = sender.send(event);
                    async {}
                });
                let _subscription = match tail.await {
                    Ok(subscription) => subscription,
                    Err(e) => return broker_failure(e.to_string()),
                };
                let consumer = message.subscribers.first().map_or("", String::as_str);
                for state in &message.given {
                    if let Err(problem) = self.set_up_state(client, consumer, state).await {
                        return state_failure(state, problem);
                    }
                }
                self.await_event(message, &mut events).await
            }
            Role::Consumer => {
                let Some(publisher) = message.publishers.first() else {
                    return Outcome::Skipped(format!("not runnable: topic `{}` has no publisher", message.topic));
                };
                let bus = match EventBus::connect(config, &publisher.service).await {
                    Ok(bus) => bus,
                    Err(e) => return broker_failure(e.to_string()),
                };
                match bus.publish(&message.topic, &message.message).await {
                    Ok(_) => Outcome::Passed,
                    Err(e) => Outcome::Failed(vec![Mismatch::new(
                        "$",
                        format!("an event {} may publish", publisher.service),
                        Some(e.to_string()),
                        "example",
                    )]),
                }
            }
        }
    }

    /// Waits up to the timeout for an event like the example; the last
    /// unlike one's differences are the failure.
    async fn await_event(
        &self,
        message: &Message,
        events: &mut tokio::sync::mpsc::UnboundedReceiver<crate::event_bus::Event>,
    ) -> Outcome {
        let like = [Matcher { path: "$".to_string(), rule: MatchRule::Type }];
        let deadline = tokio::time::Instant::now() + self.options.timeout;
        let mut closest = None;
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.recv()).await {
            let mismatches = compare_body(&message.message, &event.payload, &like);
            if mismatches.is_empty() {
                return Outcome::Passed;
            }
            closest = Some(mismatches);
        }
        Outcome::Failed(closest.unwrap_or_else(|| {
            let publishers: Vec<&str> = message.publishers.iter().map(|p| p.service.as_str()).collect();
            vec![Mismatch::new(
                "event",
                format!("an event on topic `{}` like the example", message.topic),
                Some(format!("none in {:?}", self.options.timeout)),
                &format!("published by {}", publishers.join(", ")),
            )]
        }))
    }

    /// Where a gateway's interaction goes when the runner was given its
    /// gateway; `None`: to the provider.
    fn route_of<'a>(&'a self, interaction: &'a Interaction) -> Option<RouteTarget<'a>> {
        let gateway = interaction.consumer.strip_prefix("gateway:")?;
        let address = self.options.gateways.get(gateway)?;
        Some(match &interaction.gateway {
            Some(entry) => RouteTarget::Gateway(entry, address),
            None => RouteTarget::Unmappable(gateway),
        })
    }

    fn address_of(&self, provider: &str) -> Option<&str> {
        self.options.addresses.get(provider).or(self.options.provider.as_ref()).map(String::as_str)
    }

    /// POSTs `{"consumer", "state"}` to the states endpoint; a 2xx answer
    /// means the state holds. Without an endpoint the provider is taken to
    /// hold its states already (its fixtures).
    async fn set_up_state(&self, client: &HttpClient, consumer: &str, state: &str) -> Result<(), String> {
        let Some(url) = &self.options.states else { return Ok(()) };
        let body = json!({ "consumer": consumer, "state": state }).to_string();
        let request = http::Request::post(url.as_str())
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("states endpoint {url}: {e}"))?;
        let (status, _, text) = exchange(client, request, self.options.timeout).await?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(format!("the states endpoint {url} answered {status}: {}", shorten(&text)))
        }
    }

    async fn send_http(
        &self,
        client: &HttpClient,
        target: &str,
        authority: Option<&str>,
        request: &Request,
    ) -> Result<Actual, String> {
        let mut uri = format!("http://{target}{}", request.path);
        if !request.query.is_empty() {
            let pairs: Vec<String> =
                request.query.iter().map(|q| format!("{}={}", encode(&q.name), encode(&q.value))).collect();
            uri.push(if uri.contains('?') { '&' } else { '?' });
            uri.push_str(&pairs.join("&"));
        }
        let mut builder = http::Request::builder().method(request.method.as_str()).uri(&uri);
        if let Some(authority) = authority.filter(|_| !has_header(request, "host")) {
            builder = builder.header("host", authority);
        }
        for header in &request.headers {
            builder = builder.header(header.name.as_str(), header.value.as_str());
        }
        let body = match &request.body {
            Some(body) => {
                if !has_header(request, "content-type") {
                    builder = builder.header("content-type", "application/json");
                }
                Bytes::from(body.to_string())
            }
            None => Bytes::new(),
        };
        let http_request = builder.body(Full::new(body)).map_err(|e| format!("{} {uri}: {e}", request.method))?;
        let (status, headers, text) = exchange(client, http_request, self.options.timeout).await?;
        let body = match serde_json::from_str(&text) {
            Ok(value) => Body::Json(value),
            Err(_) => Body::Text(text),
        };
        Ok(Actual { status, status_detail: String::new(), headers, body })
    }
}

enum RouteTarget<'a> {
    /// The route's entry and its gateway's `HOST:PORT`.
    Gateway(&'a super::plan::GatewayEntry, &'a str),
    /// A gateway's route the plan cannot map back (by gateway name).
    Unmappable(&'a str),
}

fn has_header(request: &Request, name: &str) -> bool {
    request.headers.iter().any(|h| h.name.eq_ignore_ascii_case(name))
}

/// One HTTP exchange: status, lowercased headers and the body as text.
async fn exchange(
    client: &HttpClient,
    request: http::Request<Full<Bytes>>,
    timeout: Duration,
) -> Result<(u16, Vec<(String, String)>, String), String> {
    let target = format!("{} {}", request.method(), request.uri());
    let call = async {
        let response = client.request(request).await.map_err(|e| format!("{target}: {}", error_chain(&e)))?;
        let (head, body) = response.into_parts();
        let bytes = body.collect().await.map_err(|e| format!("{target}: reading the body: {e}"))?.to_bytes();
        let headers = head
            .headers
            .iter()
            .map(|(name, value)| (name.as_str().to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
            .collect();
        Ok((head.status.as_u16(), headers, String::from_utf8_lossy(&bytes).into_owned()))
    };
    tokio::time::timeout(timeout, call).await.unwrap_or_else(|_| Err(format!("{target}: no answer in {timeout:?}")))
}

/// A unary gRPC call; the response in protobuf's JSON mapping with default
/// values kept, so a read of a field holding its default is present.
fn send_grpc(
    pool: &DescriptorPool,
    target: &str,
    authority: Option<&str>,
    request: &Request,
    timeout: Duration,
) -> Result<Actual, String> {
    let addr = resolve(target)?;
    let metadata: Vec<(&str, &str)> = request.headers.iter().map(|h| (h.name.as_str(), h.value.as_str())).collect();
    let empty = json!({});
    let body = request.body.as_ref().unwrap_or(&empty);
    match crate::client::call_unary_message(pool, addr, authority, &request.path, body, &metadata, timeout) {
        Ok(message) => {
            let options = SerializeOptions::new().skip_default_fields(false);
            let value = message
                .serialize_with_options(serde_json::value::Serializer, &options)
                .map_err(|e| format!("the response as JSON: {e}"))?;
            Ok(Actual { status: 0, status_detail: String::new(), headers: Vec::new(), body: Body::Json(value) })
        }
        Err(status) => Ok(Actual {
            status: status.code() as u16,
            status_detail: format!("{:?}: {}", status.code(), status.message()),
            headers: Vec::new(),
            body: Body::Text(String::new()),
        }),
    }
}

fn resolve(target: &str) -> Result<SocketAddr, String> {
    target
        .to_socket_addrs()
        .map_err(|e| format!("address `{target}`: {e}"))?
        .next()
        .ok_or_else(|| format!("address `{target}` resolves to nothing"))
}

fn encode(text: &str) -> String {
    utf8_percent_encode(text, NON_ALPHANUMERIC).to_string()
}

/// The request to send and the states it needs. An example sends its own.
/// An implicit contract (no `response`) sends its own request when it is
/// concrete, else the request of the first example of the same provider
/// and operation in the plan that expects a success (with that example's
/// states); when there is none it cannot run, and the reason says why.
fn runnable_request<'a>(plan: &'a Plan, interaction: &'a Interaction) -> Result<(&'a Request, &'a [String]), String> {
    if interaction.response.is_some() {
        return Ok((&interaction.request, &interaction.given));
    }
    let borrowed = plan.interactions.iter().find(|other| {
        other.provider == interaction.provider
            && other.operation == interaction.operation
            && other.response.as_ref().is_some_and(|r| is_success(other.protocol, r.status))
    });
    if let Some(example) = borrowed {
        return Ok((&example.request, &example.given));
    }
    let request = &interaction.request;
    let lacks = if request.path.contains('{') {
        Some(format!("values for the path template `{}`", request.path))
    } else if interaction.protocol == Protocol::Graphql && request.body.is_none() {
        Some("a GraphQL query (the plan gives none)".to_string())
    } else if matches!(request.method.as_str(), "POST" | "PUT" | "PATCH")
        && interaction.protocol == Protocol::Http
        && request.body.is_none()
    {
        Some(format!("a request body for {}", request.method))
    } else {
        None
    };
    match lacks {
        Some(what) => Err(format!(
            "not runnable: the implicit contract needs {what} and no example of `{}` gives one",
            interaction.operation
        )),
        None => Ok((request, &interaction.given)),
    }
}

fn is_success(protocol: Protocol, status: u16) -> bool {
    match protocol {
        Protocol::Grpc => status == 0,
        Protocol::Http | Protocol::Graphql => (200..300).contains(&status),
    }
}

/// Everything in `actual` that breaks the interaction's contract.
fn judge(interaction: &Interaction, actual: &Actual) -> Vec<Mismatch> {
    let mut mismatches = Vec::new();
    let success = is_success(interaction.protocol, actual.status);
    match &interaction.response {
        Some(expected) => {
            if actual.status != expected.status {
                mismatches.push(status_mismatch(interaction.protocol, &expected.status.to_string(), actual, "example"));
                return mismatches;
            }
            mismatches.extend(header_mismatches(expected, actual));
        }
        None if !success => {
            let wanted = match interaction.protocol {
                Protocol::Grpc => "0 (OK)",
                Protocol::Http | Protocol::Graphql => "a success (2xx)",
            };
            mismatches.push(status_mismatch(interaction.protocol, wanted, actual, "implicit contract"));
            return mismatches;
        }
        None => {}
    }
    let body = match response_body(interaction, actual) {
        Ok(body) => body,
        Err(mismatch) => {
            mismatches.push(mismatch);
            return mismatches;
        }
    };
    if let Some((expected_body, matchers)) =
        interaction.response.as_ref().and_then(|r| Some((r.body.as_ref()?, &r.matchers)))
    {
        match body {
            Some(body) => mismatches.extend(compare_body(expected_body, body, matchers)),
            None => mismatches.push(Mismatch::new("$", describe(expected_body), Some(not_json(actual)), "example")),
        }
    }
    if success && !interaction.reads.is_empty() {
        match body {
            Some(body) => mismatches.extend(check_reads(body, &interaction.reads, &interaction.consumer)),
            None => mismatches.push(Mismatch::new(
                "$",
                "a JSON body",
                Some(not_json(actual)),
                &format!("read by {}", interaction.consumer),
            )),
        }
    }
    mismatches
}

fn state_failure(state: &str, problem: String) -> Outcome {
    Outcome::Failed(vec![Mismatch::new(
        "given",
        format!("provider state `{state}` set up"),
        Some(problem),
        "provider state",
    )])
}

fn status_mismatch(protocol: Protocol, wanted: &str, actual: &Actual, why: &str) -> Mismatch {
    let got = match protocol {
        Protocol::Grpc if actual.status == 0 => "0 (OK)".to_string(),
        Protocol::Grpc => format!("{} ({})", actual.status, actual.status_detail),
        Protocol::Http | Protocol::Graphql => match &actual.body {
            Body::Json(value) => format!("{} with {}", actual.status, describe(value)),
            Body::Text(text) if text.is_empty() => actual.status.to_string(),
            Body::Text(text) => format!("{} with {:?}", actual.status, shorten(text)),
        },
    };
    Mismatch::new("status", wanted, Some(got), why)
}

/// Each header the example requires, by name (any case) and value; a
/// `content-type` may carry parameters the example leaves out.
fn header_mismatches(expected: &Response, actual: &Actual) -> Vec<Mismatch> {
    let mut mismatches = Vec::new();
    for header in &expected.headers {
        let name = header.name.to_ascii_lowercase();
        let values: Vec<&str> = actual.headers.iter().filter(|(n, _)| *n == name).map(|(_, v)| v.as_str()).collect();
        let agrees = |value: &&str| {
            let value = value.trim();
            value == header.value
                || (name == "content-type"
                    && value.split(';').next().is_some_and(|media| media.trim().eq_ignore_ascii_case(&header.value)))
        };
        if !values.iter().any(agrees) {
            let got = if values.is_empty() { None } else { Some(format!("{:?}", values.join(", "))) };
            mismatches.push(Mismatch::new(format!("header {name}"), format!("{:?}", header.value), got, "example"));
        }
    }
    mismatches
}

/// The JSON the matchers and reads look at: the body, or for GraphQL the
/// operation's field under `data` (a response with `errors` fails). `None`
/// when the body is not JSON.
fn response_body<'a>(interaction: &Interaction, actual: &'a Actual) -> Result<Option<&'a Value>, Mismatch> {
    let Body::Json(body) = &actual.body else { return Ok(None) };
    if interaction.protocol != Protocol::Graphql {
        return Ok(Some(body));
    }
    if let Some(errors) = body.get("errors").filter(|e| e.as_array().is_some_and(|e| !e.is_empty())) {
        return Err(Mismatch::new("$.errors", "no GraphQL errors", Some(describe(errors)), "GraphQL response"));
    }
    let field = graphql_field(&interaction.operation);
    match body.get("data").and_then(|data| data.get(field)) {
        Some(value) => Ok(Some(value)),
        None => Err(Mismatch::new(format!("$.data.{field}"), "the operation's field", None, "GraphQL response")),
    }
}

/// `Query.productReviews` → `productReviews`.
fn graphql_field(operation: &str) -> &str {
    operation.rsplit('.').next().unwrap_or(operation)
}

fn not_json(actual: &Actual) -> String {
    match &actual.body {
        Body::Text(text) if text.is_empty() => "an empty body".to_string(),
        Body::Text(text) => format!("text {:?}", shorten(text)),
        Body::Json(value) => describe(value),
    }
}

fn shorten(text: &str) -> String {
    const LONGEST: usize = 120;
    if text.chars().count() > LONGEST {
        text.chars().take(LONGEST).collect::<String>() + "…"
    } else {
        text.to_string()
    }
}

fn interaction_case(interaction: &Interaction, outcome: Outcome, duration: Duration) -> CaseResult {
    CaseResult {
        id: interaction.id.clone(),
        kind: CaseKind::Interaction,
        consumer: interaction.consumer.clone(),
        provider: interaction.provider.clone(),
        source: interaction.source.clone(),
        outcome,
        duration,
    }
}

fn message_case(message: &Message, outcome: Outcome, duration: Duration) -> CaseResult {
    CaseResult {
        id: message.id.clone(),
        kind: CaseKind::Message,
        consumer: message.subscribers.join(","),
        provider: message.publishers.iter().map(|p| p.service.as_str()).collect::<Vec<_>>().join(","),
        source: message.source.clone(),
        outcome,
        duration,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(interactions: Value) -> Plan {
        let text = json!({
            "format": "meshc-contracts/2", "mesh": "shop", "role": "provider", "subject": "catalog",
            "messages": [], "interactions": interactions,
        });
        Plan::from_json(&text.to_string()).unwrap()
    }

    fn interaction(id: &str, method: &str, path: &str, response: Option<Value>) -> Value {
        let mut value = json!({
            "consumer": "orders", "given": [], "id": id, "operation": format!("{method} /products/{{productId}}"),
            "protocol": "http", "provider": "catalog",
            "provider_address": { "host": "catalog", "port": 8080 },
            "reads": [{ "guaranteed": true, "path": "id", "type": "string" }],
            "request": { "headers": [], "method": method, "path": path, "query": [] },
            "source": "services/orders.kdl:26",
        });
        if let Some(response) = response {
            value["response"] = response;
            value["given"] = json!(["product 42 exists"]);
        }
        value
    }

    #[test]
    fn an_implicit_template_borrows_the_first_successful_example() {
        let plan = plan(json!([
            interaction("implicit", "GET", "/products/{productId}", None),
            interaction("missing", "GET", "/products/0", Some(json!({"headers": [], "matchers": [], "status": 404}))),
            interaction("found", "GET", "/products/42", Some(json!({"headers": [], "matchers": [], "status": 200}))),
        ]));
        let (request, given) = runnable_request(&plan, &plan.interactions[0]).unwrap();
        assert_eq!(request.path, "/products/42");
        assert_eq!(given, ["product 42 exists"]);
    }

    #[test]
    fn an_implicit_template_without_an_example_is_not_runnable() {
        let plan = plan(json!([interaction("implicit", "GET", "/products/{productId}", None)]));
        let reason = runnable_request(&plan, &plan.interactions[0]).unwrap_err();
        assert_eq!(
            reason,
            "not runnable: the implicit contract needs values for the path template `/products/{productId}` \
             and no example of `GET /products/{productId}` gives one"
        );
    }

    #[test]
    fn an_implicit_post_without_a_body_is_not_runnable() {
        let plan = plan(json!([interaction("implicit", "POST", "/products", None)]));
        let reason = runnable_request(&plan, &plan.interactions[0]).unwrap_err();
        assert!(reason.contains("needs a request body for POST"), "{reason}");
    }

    #[test]
    fn a_concrete_implicit_request_runs_as_it_is() {
        let plan = plan(json!([interaction("implicit", "GET", "/products", None)]));
        let (request, given) = runnable_request(&plan, &plan.interactions[0]).unwrap();
        assert_eq!((request.path.as_str(), given.len()), ("/products", 0));
    }

    fn actual(status: u16, body: Value) -> Actual {
        Actual { status, status_detail: String::new(), headers: vec![], body: Body::Json(body) }
    }

    #[test]
    fn an_implicit_contract_wants_a_success_holding_the_reads() {
        let plan = plan(json!([interaction("implicit", "GET", "/products", None)]));
        let implicit = &plan.interactions[0];
        assert_eq!(judge(implicit, &actual(200, json!({"id": "1"}))), []);
        let failed: Vec<String> =
            judge(implicit, &actual(404, json!({"error": "no"}))).iter().map(ToString::to_string).collect();
        assert_eq!(
            failed,
            [r#"status: expected a success (2xx), got 404 with object {"error":"no"} (implicit contract)"#]
        );
        let failed: Vec<String> = judge(implicit, &actual(200, json!({}))).iter().map(ToString::to_string).collect();
        assert_eq!(failed, ["$.id: missing, expected string (read by orders)"]);
    }

    #[test]
    fn required_headers_compare_by_name_and_value() {
        let response: Response = serde_json::from_value(json!({
            "headers": [{"name": "Content-Type", "value": "application/json"}, {"name": "x-v", "value": "2"}],
            "matchers": [], "status": 200
        }))
        .unwrap();
        let mut answer = actual(200, json!({}));
        answer.headers =
            vec![("content-type".into(), "application/json; charset=utf-8".into()), ("x-v".into(), "1".into())];
        let found: Vec<String> = header_mismatches(&response, &answer).iter().map(ToString::to_string).collect();
        assert_eq!(found, [r#"header x-v: expected "2", got "1" (example)"#]);
    }

    #[test]
    fn a_graphql_body_is_the_operations_field() {
        let mut value = interaction("q", "POST", "/", None);
        value["protocol"] = json!("graphql");
        value["operation"] = json!("Query.product");
        let plan = plan(json!([value]));
        let graphql = &plan.interactions[0];
        assert_eq!(judge(graphql, &actual(200, json!({"data": {"product": {"id": "1"}}}))), []);
        let failed: Vec<String> = judge(graphql, &actual(200, json!({"errors": [{"message": "boom"}]})))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            failed,
            [r#"$.errors: expected no GraphQL errors, got array [{"message":"boom"}] (GraphQL response)"#]
        );
    }
}
