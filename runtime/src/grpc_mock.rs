//! The dynamic gRPC mock server.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::fmt;
use std::future::{ready, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use prost_reflect::{DescriptorPool, DeserializeOptions, DynamicMessage, MethodDescriptor, SerializeOptions};
use serde_json::Value;
use tokio::sync::watch;
use tonic::body::Body;
use tonic::server::{Grpc, UnaryService};
use tonic::transport::server::TcpIncoming;
use tonic::Status;

use crate::codec::DynamicCodec;
use crate::http_server::{self, Background};
use crate::template::{self, Request};

/// How long a dropped mock waits for open requests before it cuts them off.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// A gRPC server for every service of a descriptor pool, answering unary
/// calls from JSON templates (see [`GrpcMock::respond`]).
///
/// Build it with [`GrpcMock::new`] and [`GrpcMock::respond`], then
/// [`GrpcMock::spawn`] it. Requests to a method that is not in the pool, or
/// that has no template, are answered with `UNIMPLEMENTED`.
pub struct GrpcMock {
    pool: DescriptorPool,
    /// `/pkg.Service/Method` → template.
    templates: BTreeMap<String, Value>,
    /// How long every answer waits after the request is recorded.
    delay: Duration,
}

impl fmt::Debug for GrpcMock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcMock").field("methods", &self.templates.keys().collect::<Vec<_>>()).finish()
    }
}

/// A template or descriptor set the mock cannot use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockError(String);

impl fmt::Display for MockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MockError {}

impl GrpcMock {
    /// A mock serving every service of `pool`, with no templates yet.
    pub fn new(pool: DescriptorPool) -> Self {
        GrpcMock { pool, templates: BTreeMap::new(), delay: Duration::ZERO }
    }

    /// A mock for a serialized `google.protobuf.FileDescriptorSet` (for
    /// example `protoc --include_imports --descriptor_set_out`).
    pub fn from_descriptor_set(bytes: &[u8]) -> Result<Self, MockError> {
        DescriptorPool::decode(bytes)
            .map(GrpcMock::new)
            .map_err(|e| MockError(format!("not a usable FileDescriptorSet: {e}")))
    }

    /// The descriptor pool the mock serves.
    pub fn pool(&self) -> &DescriptorPool {
        &self.pool
    }

    /// Answers `full_method` (`/pkg.Service/Method`; the leading `/` is
    /// optional) with `json_template` for every request.
    ///
    /// The template is the response in the protobuf JSON mapping. Inside its
    /// string values, `{{field}}` is replaced by the value of a top-level
    /// request field (protobuf JSON name, or proto name); a string that is
    /// exactly one placeholder takes the value in the type the response field
    /// expects, so `"units": "{{count}}"`, `"ok": "{{flag}}"` and
    /// `"amount": "{{from}}"` (a whole message) work. A later template for the
    /// same method replaces the earlier one.
    ///
    /// # Panics
    /// When [`GrpcMock::try_respond`] would return an error: a method not in
    /// the pool, a streaming method, a placeholder naming no request field, or
    /// a template without placeholders that is not a valid response.
    #[track_caller]
    pub fn respond(self, full_method: &str, json_template: Value) -> Self {
        self.try_respond(full_method, json_template).unwrap_or_else(|e| panic!("GrpcMock::respond: {e}"))
    }

    /// [`GrpcMock::respond`], returning what is wrong with the method or the
    /// template instead of panicking.
    pub fn try_respond(mut self, full_method: &str, json_template: Value) -> Result<Self, MockError> {
        let (path, method) = find_method(&self.pool, full_method)?;
        if method.is_client_streaming() || method.is_server_streaming() {
            return Err(MockError(format!("{path} is a streaming method; the mock answers unary methods only")));
        }
        let input = method.input();
        let mut names = Vec::new();
        template::placeholder_names(&json_template, &mut names);
        for name in &names {
            if template::request_field(&input, name).is_none() {
                let fields: Vec<_> = input.fields().map(|f| f.json_name().to_string()).collect();
                return Err(MockError(format!(
                    "template for {path}: placeholder {{{{{name}}}}} names no field of {} (fields: {})",
                    input.full_name(),
                    if fields.is_empty() { "none".to_string() } else { fields.join(", ") }
                )));
            }
        }
        if names.is_empty() {
            to_message(&method, json_template.clone()).map_err(|e| MockError(format!("template for {path}: {e}")))?;
        }
        self.templates.insert(path, json_template);
        Ok(self)
    }

    /// Answers every request `delay` after it arrived (it is recorded at
    /// once), like a slow upstream; for timeouts and concurrency tests.
    /// Requests are still served concurrently.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Starts serving on `addr` (a loopback address; port 0 picks a free
    /// port) in a background thread with its own tokio runtime. Plain-text
    /// HTTP/2 with prior knowledge, as Envoy speaks to gRPC upstreams.
    ///
    /// The socket is bound before this returns, so the handle's port accepts
    /// connections at once. Dropping the handle stops the server.
    pub fn spawn(self, addr: SocketAddr) -> io::Result<MockHandle> {
        let shared = Arc::new(Shared::new(self));
        let router = Router { shared: Arc::clone(&shared) };
        let server = http_server::spawn("the gRPC mock", "grpc-mock", addr, move |listener, stopped| {
            serve(listener, router, stopped)
        })?;
        Ok(MockHandle { server, shared })
    }
}

/// `/pkg.Service/Method` (or without the leading `/`) → its normalized path
/// and descriptor.
fn find_method(pool: &DescriptorPool, full_method: &str) -> Result<(String, MethodDescriptor), MockError> {
    let trimmed = full_method.strip_prefix('/').unwrap_or(full_method);
    let Some((service_name, method_name)) = trimmed.rsplit_once('/') else {
        return Err(MockError(format!("`{full_method}` is not a gRPC method path like /pkg.Service/Method")));
    };
    let Some(service) = pool.get_service_by_name(service_name) else {
        let services: Vec<_> = pool.services().map(|s| s.full_name().to_string()).collect();
        return Err(MockError(format!(
            "`{full_method}`: no service `{service_name}` in the descriptor set (services: {})",
            if services.is_empty() { "none".to_string() } else { services.join(", ") }
        )));
    };
    let Some(method) = service.methods().find(|m| m.name() == method_name) else {
        let methods: Vec<_> = service.methods().map(|m| m.name().to_string()).collect();
        return Err(MockError(format!(
            "`{full_method}`: service {service_name} has no method `{method_name}` (methods: {})",
            methods.join(", ")
        )));
    };
    Ok((format!("/{service_name}/{method_name}"), method))
}

fn to_message(method: &MethodDescriptor, json: Value) -> Result<DynamicMessage, String> {
    DynamicMessage::deserialize_with_options(method.output(), json, &DeserializeOptions::new())
        .map_err(|e| format!("not a valid {} in the protobuf JSON mapping: {e}", method.output().full_name()))
}

/// A running [`GrpcMock`]. Dropping it stops the server and closes its port.
pub struct MockHandle {
    server: Background,
    shared: Arc<Shared>,
}

impl fmt::Debug for MockHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockHandle").field("addr", &self.addr()).finish_non_exhaustive()
    }
}

impl MockHandle {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.addr().port()
    }

    /// Every request to a method of the pool so far, in arrival order, as
    /// (`/pkg.Service/Method`, request in the protobuf JSON mapping with
    /// default values omitted). Requests to methods without a template are
    /// recorded too; requests to methods not in the pool are not. A request
    /// is recorded before its response is sent.
    pub fn calls(&self) -> Vec<(String, Value)> {
        self.shared.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Runs the server until `stopped` turns true: then it stops accepting,
/// closes the listening socket, and gives open requests [`SHUTDOWN_GRACE`].
/// Connection tasks still open after that are cancelled when the serving
/// thread drops its runtime.
async fn serve(listener: tokio::net::TcpListener, router: Router, stopped: watch::Receiver<bool>) {
    let addr = listener.local_addr().ok();
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let mut graceful_signal = stopped.clone();
    let graceful = async move {
        let _ = graceful_signal.wait_for(|stop| *stop).await;
    };
    let mut forced_signal = stopped;
    let forced = async move {
        let _ = forced_signal.wait_for(|stop| *stop).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    let server = tonic::transport::Server::builder().serve_with_incoming_shutdown(router, incoming, graceful);
    tokio::select! {
        result = server => if let Err(e) = result { eprintln!("grpc-mock on {addr:?}: {e}") },
        () = forced => {}
    }
}

/// What the server threads share with the handle.
struct Shared {
    /// Every method of the pool by path.
    routes: HashMap<String, Route>,
    calls: Mutex<Vec<(String, Value)>>,
    delay: Duration,
}

struct Route {
    method: MethodDescriptor,
    template: Option<Value>,
}

impl Shared {
    fn new(mock: GrpcMock) -> Self {
        let mut templates = mock.templates;
        let routes = mock
            .pool
            .services()
            .flat_map(|service| service.methods().collect::<Vec<_>>())
            .map(|method| {
                let path = format!("/{}/{}", method.parent_service().full_name(), method.name());
                let template = templates.remove(&path);
                (path, Route { method, template })
            })
            .collect();
        Shared { routes, calls: Mutex::new(Vec::new()), delay: mock.delay }
    }

    /// Records `request` and answers it from the method's template.
    fn answer(&self, path: &str, request: DynamicMessage) -> Result<DynamicMessage, Status> {
        let route = &self.routes[path];
        let recorded = serde_json::to_value(&request)
            .map_err(|e| Status::internal(format!("grpc-mock: request to {path} as JSON: {e}")))?;
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).push((path.to_string(), recorded));
        let Some(template) = &route.template else {
            return Err(Status::unimplemented(format!("grpc-mock: no response configured for {path}")));
        };
        let with_defaults = request
            .serialize_with_options(serde_json::value::Serializer, &SerializeOptions::new().skip_default_fields(false))
            .map_err(|e| Status::internal(format!("grpc-mock: request to {path} as JSON: {e}")))?;
        let empty = serde_json::Map::new();
        let json = with_defaults.as_object().unwrap_or(&empty);
        let input = route.method.input();
        let response = template::render(template, &route.method.output(), &Request { json, input: &input });
        to_message(&route.method, response)
            .map_err(|e| Status::internal(format!("grpc-mock: filled template for {path} is {e}")))
    }
}

/// Routes every request by its path (`/pkg.Service/Method`).
#[derive(Clone)]
struct Router {
    shared: Arc<Shared>,
}

impl tower_service::Service<http::Request<Body>> for Router {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            let path = request.uri().path().to_string();
            let Some(route) = shared.routes.get(&path) else {
                return Ok(Status::unimplemented(format!("grpc-mock: unknown method {path}")).into_http());
            };
            if route.method.is_client_streaming() || route.method.is_server_streaming() {
                return Ok(Status::unimplemented(format!(
                    "grpc-mock: {path} is a streaming method; the mock answers unary methods only"
                ))
                .into_http());
            }
            let mut grpc = Grpc::new(DynamicCodec::new(route.method.input()));
            let unary = Unary { shared: Arc::clone(&shared), path };
            Ok(grpc.unary(unary, request).await)
        })
    }
}

struct Unary {
    shared: Arc<Shared>,
    path: String,
}

impl UnaryService<DynamicMessage> for Unary {
    type Response = DynamicMessage;
    type Future = Pin<Box<dyn Future<Output = Result<tonic::Response<DynamicMessage>, Status>> + Send>>;

    fn call(&mut self, request: tonic::Request<DynamicMessage>) -> Self::Future {
        let answer = self.shared.answer(&self.path, request.into_inner()).map(tonic::Response::new);
        let delay = self.shared.delay;
        if delay.is_zero() {
            return Box::pin(ready(answer));
        }
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            answer
        })
    }
}
