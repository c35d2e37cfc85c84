//! A provider's mock from its mock config (`contracts/mocks/NAME.json`):
//! serves the operations its consumers use, REST and GraphQL over HTTP/1.1
//! and gRPC over HTTP/2 with prior knowledge, on one port. A request gets
//! the first canned answer (in the config's order) whose request it
//! matches, else an answer generated from the operation's schema that holds
//! every field the consumers read; every request is recorded with the
//! operation and answer it got (docs/runtime.md, "Contract mocks").
//!
//! ```no_run
//! use meshc_runtime::contracts::{ContractMock, MockPlan};
//! let text = std::fs::read_to_string("out/contracts/mocks/catalog.json").unwrap();
//! let mock = ContractMock::new(MockPlan::from_json(&text).unwrap()).unwrap();
//! let handle = mock.spawn("127.0.0.1:0".parse().unwrap()).unwrap();
//! println!("catalog's mock on {}", handle.addr());
//! // ... run the consumer against it, then look at handle.requests().
//! ```

mod generate;

use std::cell::RefCell;
use std::fmt;
use std::future::{ready, Ready};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{HeaderMap, Request, Response, StatusCode};
use prost_reflect::{DeserializeOptions, DynamicMessage, MethodDescriptor};
use serde_json::Value;
use tonic::body::Body;
use tonic::server::{Grpc, UnaryService};
use tonic::{Code, Status};

use super::plan::{self, MockPlan, Pair, PlanError, Protocol};
use crate::codec::DynamicCodec;
use crate::http_server::{self, HttpService, Versions};

/// The request header naming a provider state (one per header; repeat it
/// for several): only canned answers whose `given` states are all named
/// are then eligible. Without it, every answer is.
pub const GIVEN_HEADER: &str = "x-meshc-given";

/// Largest request body read; a larger one is refused with 413.
const MAX_BODY: usize = 4 << 20;

/// A provider's mock, every answer prepared: built once from its config,
/// then [`ContractMock::spawn`]ed.
pub struct ContractMock {
    service: String,
    operations: Vec<Operation>,
    /// The service's HTTP health check: `GET path` is answered with the
    /// status, unrecorded (probes are not the consumers' calls).
    health: Option<(String, StatusCode)>,
}

impl fmt::Debug for ContractMock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContractMock")
            .field("service", &self.service)
            .field("operations", &self.operations.iter().map(|o| &o.name).collect::<Vec<_>>())
            .finish()
    }
}

struct Operation {
    /// As the spec writes it.
    name: String,
    protocol: Protocol,
    method: String,
    /// The path template (gRPC: `/package.Service/Method`).
    path: String,
    answers: Vec<Canned>,
    /// The answer when no canned one matches.
    generated: Generated,
    /// gRPC: the method.
    grpc: Option<MethodDescriptor>,
}

struct Canned {
    interaction: String,
    given: Vec<String>,
    request: plan::Request,
    response: plan::Response,
    /// gRPC: the request body as the mock records requests (protobuf JSON,
    /// defaults left out), so `"3"` and `3` for an int64 compare equal.
    grpc_request: Option<Value>,
    /// gRPC, status 0: the reply.
    grpc_reply: Option<DynamicMessage>,
}

enum Generated {
    /// `body`: `None` for an operation declaring no JSON body and no reads.
    Http {
        status: StatusCode,
        body: Option<Value>,
    },
    Grpc(DynamicMessage),
    /// The schema allowed no answer made up here (e.g. a `pattern`): answered 500 with why.
    Impossible(String),
}

/// Which answer a request got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerUsed {
    /// A canned answer: its interaction's id.
    Canned(String),
    /// Generated from the operation's schema.
    Generated,
    /// None: an unknown operation, or a request the mock refused (unreadable body).
    Refused,
}

/// One request the mock received, in arrival order.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// `http` for every request not over gRPC that no GraphQL operation took.
    pub protocol: Protocol,
    pub method: String,
    pub path: String,
    /// Percent-decoded, in order.
    pub query: Vec<(String, String)>,
    /// Lower-case names, in order (gRPC: the metadata).
    pub headers: Vec<(String, String)>,
    /// JSON bodies as JSON, others as a string; gRPC: the message in the
    /// protobuf JSON mapping (defaults left out). `None` when empty.
    pub body: Option<Value>,
    /// The operation (as the spec writes it) the request was taken for.
    pub operation: Option<String>,
    pub answer: AnswerUsed,
    /// The HTTP status answered; gRPC: the status code (0: OK).
    pub status: u16,
}

impl ContractMock {
    /// Prepares every answer of `plan`: canned gRPC bodies are checked
    /// against their message types, generated answers made and (REST)
    /// validated against the response schema. `Err` names the operation
    /// and answer that is wrong.
    pub fn new(plan: MockPlan) -> Result<ContractMock, PlanError> {
        let pool = plan.descriptor_pool()?;
        let operations = plan
            .operations
            .into_iter()
            .enumerate()
            .map(|(i, op)| Operation::new(op, pool.as_ref()).map_err(|e| PlanError(format!("`operations[{i}]`: {e}"))))
            .collect::<Result<_, _>>()?;
        let health = match plan.health {
            Some(h) => Some((
                h.path,
                StatusCode::from_u16(h.status)
                    .map_err(|_| PlanError(format!("`health`: status {} is not an HTTP status", h.status)))?,
            )),
            None => None,
        };
        Ok(ContractMock { service: plan.service, operations, health })
    }

    /// [`MockPlan::from_json`], then [`ContractMock::new`]: for a mock
    /// without gRPC operations (their descriptors are files beside the config).
    pub fn from_json(text: &str) -> Result<ContractMock, PlanError> {
        ContractMock::new(MockPlan::from_json(text)?.with_descriptors(|_| Err(std::io::ErrorKind::NotFound.into()))?)
    }

    /// [`MockPlan::read`], then [`ContractMock::new`].
    pub fn read(path: &std::path::Path) -> Result<ContractMock, PlanError> {
        ContractMock::new(MockPlan::read(path)?)
    }

    /// The provider it mocks.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Serves on `addr` (a loopback address; port 0 picks a free port) in a
    /// background thread until the handle is dropped. The port is bound
    /// before this returns.
    pub fn spawn(self, addr: SocketAddr) -> io::Result<ContractMockHandle> {
        let service = http_server::serve_http("the contract mock", "contract-mock", addr, Versions::Http1AndHttp2, {
            move || {
                let mock = Rc::new(self);
                move |request| answer(Rc::clone(&mock), request)
            }
        })?;
        Ok(ContractMockHandle { service })
    }

    /// The health check's status, for a `GET` of its path.
    fn health_status(&self, method: &hyper::Method, path: &str) -> Option<StatusCode> {
        let (health_path, status) = self.health.as_ref()?;
        (method == hyper::Method::GET && path == health_path).then_some(*status)
    }

    /// `METHOD PATH` of every operation, for the 404's body.
    fn served(&self, protocol: impl Fn(Protocol) -> bool) -> String {
        let served: Vec<String> = self
            .operations
            .iter()
            .filter(|o| protocol(o.protocol))
            .map(|o| if o.protocol == Protocol::Grpc { o.path.clone() } else { format!("{} {}", o.method, o.path) })
            .collect();
        if served.is_empty() {
            "nothing".to_string()
        } else {
            served.join(", ")
        }
    }
}

/// A running [`ContractMock`]. Dropping it stops the server and closes its port.
pub struct ContractMockHandle {
    service: HttpService<Received>,
}

impl fmt::Debug for ContractMockHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContractMockHandle").field("addr", &self.addr()).finish_non_exhaustive()
    }
}

impl ContractMockHandle {
    pub fn addr(&self) -> SocketAddr {
        self.service.addr()
    }

    pub fn port(&self) -> u16 {
        self.addr().port()
    }

    /// Every request so far (and not taken), in the order they were answered.
    pub fn requests(&self) -> Vec<Received> {
        self.service.requests()
    }

    /// Like [`ContractMockHandle::requests`], emptying the record.
    pub fn take_requests(&self) -> Vec<Received> {
        self.service.take_requests()
    }
}

impl Operation {
    fn new(mut op: plan::MockOperation, pool: Option<&prost_reflect::DescriptorPool>) -> Result<Operation, String> {
        let grpc = match (op.protocol, pool) {
            (Protocol::Grpc, Some(pool)) => Some(find_method(pool, &op.path)?),
            (Protocol::Grpc, None) => return Err("gRPC without a descriptor set".into()),
            _ => None,
        };
        let answers = std::mem::take(&mut op.answers)
            .into_iter()
            .enumerate()
            .map(|(j, answer)| Canned::new(answer, grpc.as_ref()).map_err(|e| format!("`answers[{j}]`: {e}")))
            .collect::<Result<_, _>>()?;
        let generated = match &grpc {
            Some(method) => {
                let reply = generate::message(&method.output());
                // Consumers read replies in the JSON mapping too: it must map.
                match serde_json::to_value(&reply) {
                    Ok(_) => Generated::Grpc(reply),
                    Err(e) => Generated::Impossible(format!(
                        "the generated {} has no JSON mapping: {e}",
                        method.output().full_name()
                    )),
                }
            }
            None => generated_http(&op),
        };
        Ok(Operation {
            name: op.operation,
            protocol: op.protocol,
            method: op.method,
            path: op.path,
            answers,
            generated,
            grpc,
        })
    }

    /// Whether a request for `method` `path` is one of this operation's
    /// (HTTP and GraphQL; GraphQL: any path, the query selecting its field).
    fn takes(&self, method: &str, path: &str, body: Option<&Value>) -> bool {
        match self.protocol {
            Protocol::Grpc => false,
            Protocol::Http => self.method.eq_ignore_ascii_case(method) && template_matches(&self.path, path),
            Protocol::Graphql => {
                let query = body.and_then(|b| b.get("query")).and_then(Value::as_str).unwrap_or("");
                method == "POST" && selects(query, graphql_field(&self.name))
            }
        }
    }
}

/// The answer made when no canned one matches, REST and GraphQL.
fn generated_http(op: &plan::MockOperation) -> Generated {
    if op.protocol == Protocol::Graphql {
        let mut data = Value::Object(Default::default());
        generate::hold_reads(&mut data, &op.reads);
        let body = serde_json::json!({ "data": { graphql_field(&op.operation): data } });
        return Generated::Http { status: StatusCode::OK, body: Some(body) };
    }
    let status = op.status.and_then(|s| StatusCode::from_u16(s).ok()).unwrap_or(StatusCode::OK);
    let Some(schema) = &op.response_schema else {
        // No JSON body declared (a 204, say): the reads only, if any.
        if op.reads.is_empty() {
            return Generated::Http { status, body: None };
        }
        let mut body = Value::Object(Default::default());
        generate::hold_reads(&mut body, &op.reads);
        return Generated::Http { status, body: Some(body) };
    };
    let mut schema = schema.clone();
    crate::validator::normalize(&mut schema);
    let validator = match jsonschema::draft4::options().build(&schema) {
        Ok(validator) => validator,
        Err(e) => return Generated::Impossible(format!("`response_schema` does not compile: {e}")),
    };
    let mut body = generate::from_schema(&schema);
    generate::hold_reads(&mut body, &op.reads);
    match validator.validate(&body) {
        Ok(()) => Generated::Http { status, body: Some(body) },
        Err(e) => Generated::Impossible(format!(
            "the answer generated from `response_schema`, {body}, does not validate against it ({e} at `{}`)",
            e.instance_path()
        )),
    }
}

impl Canned {
    fn new(answer: plan::Answer, grpc: Option<&MethodDescriptor>) -> Result<Canned, String> {
        let (mut grpc_request, mut grpc_reply) = (None, None);
        if let Some(method) = grpc {
            if let Some(body) = &answer.request.body {
                let message = to_message(&method.input(), body).map_err(|e| format!("`request.body`: {e}"))?;
                grpc_request = Some(serde_json::to_value(&message).map_err(|e| format!("`request.body`: {e}"))?);
            }
            if answer.response.status == 0 {
                let body = answer.response.body.clone().unwrap_or_else(|| Value::Object(Default::default()));
                grpc_reply = Some(to_message(&method.output(), &body).map_err(|e| format!("`response.body`: {e}"))?);
            } else if answer.response.status > 16 {
                return Err(format!("`response.status`: {} is not a gRPC status code", answer.response.status));
            }
        } else if StatusCode::from_u16(answer.response.status).is_err() {
            return Err(format!("`response.status`: {} is not an HTTP status", answer.response.status));
        }
        Ok(Canned {
            interaction: answer.interaction,
            given: answer.given,
            request: answer.request,
            response: answer.response,
            grpc_request,
            grpc_reply,
        })
    }

    /// Whether `request` is the one this answer is for: method, path (a
    /// template's `{param}` takes one segment), every query pair and header
    /// it names (header names ignoring case), the body when it gives one,
    /// and its provider states when the request names any. GraphQL answers
    /// take any path (`any_path`), as their operations do.
    fn matches(&self, request: &Seen, any_path: bool) -> bool {
        let states: Vec<&str> =
            request.headers.iter().filter(|(n, _)| n == GIVEN_HEADER).map(|(_, v)| v.as_str()).collect();
        let given = states.is_empty() || self.given.iter().all(|g| states.contains(&g.as_str()));
        let body = match (&self.request.body, &self.grpc_request) {
            (None, _) => true,
            (Some(_), Some(normalized)) => request.body.as_ref() == Some(normalized),
            (Some(expected), None) => request.body.as_ref() == Some(expected),
        };
        given
            && self.request.method.eq_ignore_ascii_case(&request.method)
            && (any_path || template_matches(&self.request.path, &request.path))
            && self.request.query.iter().all(|p| request.query.iter().any(|(n, v)| *n == p.name && *v == p.value))
            && self.request.headers.iter().all(|p| has_header(&request.headers, p))
            && body
    }
}

fn has_header(headers: &[(String, String)], pair: &Pair) -> bool {
    headers.iter().any(|(n, v)| n.eq_ignore_ascii_case(&pair.name) && *v == pair.value)
}

/// A request as far as matching needs it (the recorded part of [`Received`]).
#[derive(Clone)]
struct Seen {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Option<Value>,
}

impl Seen {
    fn received(self, protocol: Protocol, operation: Option<&str>, answer: AnswerUsed, status: u16) -> Received {
        Received {
            protocol,
            method: self.method,
            path: self.path,
            query: self.query,
            headers: self.headers,
            body: self.body,
            operation: operation.map(str::to_string),
            answer,
            status,
        }
    }
}

fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| (name.as_str().to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect()
}

/// `/a/{x}/b` against `/a/1/b`: literal segments equal, a segment with
/// `{...}` takes any non-empty segment with its literal prefix and suffix.
fn template_matches(template: &str, path: &str) -> bool {
    let (template, path) = (template.split('/'), path.split('/'));
    template.clone().count() == path.clone().count()
        && template.zip(path).all(|(t, p)| match (t.find('{'), t.rfind('}')) {
            (Some(open), Some(close)) if open < close => {
                let (prefix, suffix) = (&t[..open], &t[close + 1..]);
                p.len() > prefix.len() + suffix.len() && p.starts_with(prefix) && p.ends_with(suffix)
            }
            _ => t == p,
        })
}

/// `Query.productReviews` → `productReviews`.
fn graphql_field(operation: &str) -> &str {
    operation.rsplit('.').next().unwrap_or(operation)
}

/// Whether a GraphQL query's text names `field` as a word.
fn selects(query: &str, field: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    query.match_indices(field).any(|(at, _)| {
        let before = query[..at].chars().next_back();
        let after = query[at + field.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

fn find_method(pool: &prost_reflect::DescriptorPool, path: &str) -> Result<MethodDescriptor, String> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    trimmed
        .rsplit_once('/')
        .and_then(|(service, method)| pool.get_service_by_name(service)?.methods().find(|m| m.name() == method))
        .ok_or_else(|| format!("`path`: no gRPC method {path} in the descriptor set"))
}

fn to_message(descriptor: &prost_reflect::MessageDescriptor, json: &Value) -> Result<DynamicMessage, String> {
    DynamicMessage::deserialize_with_options(descriptor.clone(), json.clone(), &DeserializeOptions::new())
        .map_err(|e| format!("not a valid {} in the protobuf JSON mapping: {e}", descriptor.full_name()))
}

/// Answers one request and says what to record.
async fn answer(mock: Rc<ContractMock>, request: Request<Incoming>) -> (Response<Body>, Option<Received>) {
    let grpc = request.headers().get(CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    if grpc {
        answer_grpc(&mock, request).await
    } else {
        answer_http(&mock, request).await
    }
}

async fn answer_grpc(mock: &ContractMock, request: Request<Incoming>) -> (Response<Body>, Option<Received>) {
    let seen = Seen {
        method: request.method().to_string(),
        path: request.uri().path().to_string(),
        query: Vec::new(),
        headers: header_pairs(request.headers()),
        body: None,
    };
    let Some(op) = mock.operations.iter().find(|o| o.protocol == Protocol::Grpc && o.path == seen.path) else {
        let status = Status::unimplemented(format!(
            "contract mock of {}: no gRPC method {}; it serves {}",
            mock.service,
            seen.path,
            mock.served(|p| p == Protocol::Grpc)
        ));
        let received = seen.received(Protocol::Grpc, None, AnswerUsed::Refused, Code::Unimplemented as u16);
        return (status.into_http(), Some(received));
    };
    let Some(method) = &op.grpc else {
        return (Status::internal("contract mock: a gRPC operation without its method").into_http(), None);
    };
    let outcome = Rc::new(RefCell::new(None));
    let unary = Unary { op, seen: RefCell::new(Some(seen.clone())), outcome: Rc::clone(&outcome) };
    let response = Grpc::new(DynamicCodec::new(method.input())).unary(unary, request.map(Body::new)).await;
    let received = outcome.borrow_mut().take().unwrap_or_else(|| {
        // Not decoded (not a valid input message): recorded with the status
        // tonic answered in the headers (a trailers-only response).
        let status = response.headers().get("grpc-status").and_then(|v| v.to_str().ok()?.parse().ok());
        seen.received(Protocol::Grpc, Some(&op.name), AnswerUsed::Refused, status.unwrap_or(Code::Internal as u16))
    });
    (response, Some(received))
}

/// A gRPC request of a known method, decoded.
struct Unary<'m> {
    op: &'m Operation,
    seen: RefCell<Option<Seen>>,
    outcome: Rc<RefCell<Option<Received>>>,
}

impl UnaryService<DynamicMessage> for Unary<'_> {
    type Response = DynamicMessage;
    type Future = Ready<Result<tonic::Response<DynamicMessage>, Status>>;

    fn call(&mut self, request: tonic::Request<DynamicMessage>) -> Self::Future {
        let Some(mut seen) = self.seen.borrow_mut().take() else {
            return ready(Err(Status::internal("contract mock: one request per call")));
        };
        seen.body = serde_json::to_value(request.get_ref()).ok();
        let canned = self.op.answers.iter().find(|a| a.matches(&seen, false));
        let (reply, used) = match canned {
            Some(a) => {
                let reply = match &a.grpc_reply {
                    Some(message) => Ok(message.clone()),
                    None => Err(Status::new(
                        Code::from_i32(i32::from(a.response.status)),
                        format!("contract mock: {}", a.interaction),
                    )),
                };
                (reply, AnswerUsed::Canned(a.interaction.clone()))
            }
            None => match &self.op.generated {
                Generated::Grpc(message) => (Ok(message.clone()), AnswerUsed::Generated),
                Generated::Impossible(why) => {
                    (Err(Status::internal(format!("contract mock: {why}"))), AnswerUsed::Refused)
                }
                Generated::Http { .. } => {
                    (Err(Status::internal("contract mock: not a gRPC operation")), AnswerUsed::Refused)
                }
            },
        };
        let status = reply.as_ref().map_or_else(|s| s.code() as u16, |_| 0);
        *self.outcome.borrow_mut() = Some(seen.received(Protocol::Grpc, Some(&self.op.name), used, status));
        ready(reply.map(tonic::Response::new))
    }
}

async fn answer_http(mock: &ContractMock, request: Request<Incoming>) -> (Response<Body>, Option<Received>) {
    if let Some(status) = mock.health_status(request.method(), request.uri().path()) {
        return (with_headers(Response::new(Body::empty()), status, &[]), None);
    }
    let (head, body) = request.into_parts();
    let mut seen = Seen {
        method: head.method.to_string(),
        path: head.uri.path().to_string(),
        query: head.uri.query().map(crate::validator::parse_query).unwrap_or_default(),
        headers: header_pairs(&head.headers),
        body: None,
    };
    let bytes = match http_server::read_body(body, MAX_BODY).await {
        Ok(bytes) => bytes,
        Err((status, why)) => {
            let received = seen.received(Protocol::Http, None, AnswerUsed::Refused, status.as_u16());
            return (plain(status, format!("contract mock of {}: {why}", mock.service)), Some(received));
        }
    };
    if !bytes.is_empty() {
        seen.body = Some(
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())),
        );
    }
    let Some(op) = mock.operations.iter().find(|o| o.takes(&seen.method, &seen.path, seen.body.as_ref())) else {
        let text = format!(
            "contract mock of {}: no operation for {} {}; it serves {}",
            mock.service,
            seen.method,
            seen.path,
            mock.served(|p| p != Protocol::Grpc)
        );
        let received = seen.received(Protocol::Http, None, AnswerUsed::Refused, 404);
        return (plain(StatusCode::NOT_FOUND, text), Some(received));
    };
    let any_path = op.protocol == Protocol::Graphql;
    let (response, used) = match op.answers.iter().find(|a| a.matches(&seen, any_path)) {
        Some(canned) => (canned_response(&canned.response), AnswerUsed::Canned(canned.interaction.clone())),
        None => match &op.generated {
            Generated::Http { status, body } => {
                let response = match body {
                    Some(body) => json_response(*status, body, &[]),
                    None => with_headers(Response::new(Body::empty()), *status, &[]),
                };
                (response, AnswerUsed::Generated)
            }
            Generated::Impossible(why) => {
                let text = format!("contract mock of {}: {}: {why}", mock.service, op.name);
                (plain(StatusCode::INTERNAL_SERVER_ERROR, text), AnswerUsed::Refused)
            }
            Generated::Grpc(_) => {
                (plain(StatusCode::INTERNAL_SERVER_ERROR, "gRPC answer over HTTP".into()), AnswerUsed::Refused)
            }
        },
    };
    let status = response.status().as_u16();
    (response, Some(seen.received(op.protocol, Some(&op.name), used, status)))
}

fn canned_response(response: &plan::Response) -> Response<Body> {
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::OK);
    match &response.body {
        Some(body) => json_response(status, body, &response.headers),
        None => with_headers(Response::new(Body::empty()), status, &response.headers),
    }
}

fn json_response(status: StatusCode, body: &Value, headers: &[Pair]) -> Response<Body> {
    let mut response = Response::new(Body::new(Full::new(Bytes::from(body.to_string()))));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    with_headers(response, status, headers)
}

/// Sets the status and the answer's headers (replacing one of the same name).
fn with_headers(mut response: Response<Body>, status: StatusCode, headers: &[Pair]) -> Response<Body> {
    *response.status_mut() = status;
    for pair in headers {
        let name = hyper::header::HeaderName::from_bytes(pair.name.as_bytes());
        let value = HeaderValue::from_str(&pair.value);
        if let (Ok(name), Ok(value)) = (name, value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

fn plain(status: StatusCode, text: String) -> Response<Body> {
    http_server::plain_text(status, text).map(Body::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_take_one_segment_per_parameter() {
        assert!(template_matches("/products/{productId}", "/products/42"));
        assert!(template_matches("/products/42", "/products/42"));
        assert!(template_matches("/files/{name}.json", "/files/a.json"));
        assert!(!template_matches("/products/{productId}", "/products/42/reviews"));
        assert!(!template_matches("/products/{productId}", "/products/"));
        assert!(!template_matches("/files/{name}.json", "/files/a.xml"));
    }

    #[test]
    fn a_graphql_query_selects_a_field_by_its_whole_name() {
        assert!(selects("{ productReviews(id: 1) { stars } }", "productReviews"));
        assert!(!selects("{ productReviewsCount }", "productReviews"));
    }
}
