//! The typed, name-resolved model: the hub every check and backend reads.
//!
//! **Invariant:** nothing in here refers to KDL. References are ids
//! ([`ServiceId`], [`SchemaId`], [`TopicId`]) that always point at an existing entry: a
//! declaration that failed to resolve is reported and left out, so
//! downstream code never meets a dangling name. Model types are not
//! `Serialize`; backends define their own output shapes.

mod lower;
pub mod values;

use std::net::IpAddr;
use std::path::PathBuf;

use crate::base::{Span, Spanned};
pub use lower::lower;
use values::{ApiKind, Duration, ErrorBodyFormat, HeaderName, Host, HttpMethod, Operation, Port, SchemaFormat};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceId(pub u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SchemaId(pub u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicId(pub u32);

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
}

impl Model {
    pub fn service(&self, id: ServiceId) -> &Service {
        &self.services[id.0 as usize]
    }

    pub fn schema(&self, id: SchemaId) -> &SchemaRef {
        &self.schemas[id.0 as usize]
    }

    pub fn topic(&self, id: TopicId) -> &Topic {
        &self.topics[id.0 as usize]
    }
}

/// A protocol schema file as the spec refers to it; the schema layer loads it.
#[derive(Debug)]
pub struct SchemaRef {
    pub path: PathBuf,
    /// Decides the loader: an API's kind, or a topic's event schema format.
    pub format: SchemaFormat,
    /// The first `schema` entry naming it.
    pub span: Span,
}

#[derive(Debug)]
pub struct Service {
    pub name: Spanned<String>,
    pub owner: Option<Spanned<String>>,
    pub address: Spanned<Endpoint>,
    pub apis: Vec<Api>,
    pub calls: Vec<Call>,
    /// Topics the service publishes events to, each with its `publishes` node's argument.
    pub publishes: Vec<Spanned<TopicId>>,
    /// Topics the service consumes events from.
    pub subscribes: Vec<Spanned<TopicId>>,
    pub span: Span,
}

/// A named stream of events of one schema, which services publish to and
/// subscribe to. Brokers and delivery settings come later; a topic is its
/// name and the schema its events follow.
#[derive(Debug)]
pub struct Topic {
    pub name: Spanned<String>,
    /// An Avro or JSON Schema file (`SchemaRef::format` tells which).
    pub schema: SchemaId,
    pub span: Span,
}

/// Where a service's instances listen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub host: Host,
    pub port: Port,
}

#[derive(Debug)]
pub struct Api {
    pub name: Spanned<String>,
    pub kind: ApiKind,
    pub schema: SchemaId,
    /// For gRPC APIs: the one `.proto` service (fully qualified) this API
    /// serves, when the file defines several. `None` serves all of them.
    pub grpc_service: Option<Spanned<String>>,
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

/// A synchronous call one service makes to another.
#[derive(Debug)]
pub struct Call {
    pub target: Spanned<ServiceId>,
    pub operation: Option<Spanned<Operation>>,
    pub timeout: Option<Duration>,
    pub span: Span,
}

#[derive(Debug)]
pub struct Gateway {
    pub name: Spanned<String>,
    pub listeners: Vec<Listener>,
    pub routes: Vec<Route>,
    /// Bodies for responses the gateway itself produces (no route, upstream down).
    pub errors: ErrorFormat,
    /// Where the request validator (`meshc-runtime validator`) listens.
    pub validator: Option<Spanned<Endpoint>>,
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
    pub target: Spanned<ServiceId>,
    pub operation: Option<Spanned<Operation>>,
    pub timeout: Option<Duration>,
    /// Overrides the gateway's error bodies for requests this route took.
    pub errors: Option<ErrorFormat>,
    /// Changes to the response's headers, applied in order.
    pub response: Vec<HeaderTransform>,
    /// Responses are cached at the gateway for this long.
    pub cache: Option<Spanned<Duration>>,
    /// REST requests are transcoded to the gRPC operation by its
    /// `google.api.http` bindings; the span of the `transcode` node.
    pub transcode: Option<Span>,
    /// Requests are validated against the route's OpenAPI operation before
    /// they reach the service; the span of the `validate` node.
    pub validate: Option<Span>,
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
