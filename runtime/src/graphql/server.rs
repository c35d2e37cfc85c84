//! The gateway as an HTTP/1.1 service (hyper), in a background thread:
//! `POST`/`GET /graphql`, `GET /healthz`.

use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::sync::watch;

use super::request::{self, Answer, GraphqlRequest};
use super::upstream::{UpstreamCall, Upstreams};
use super::GraphqlGateway;

/// Request bodies above this get 413.
const MAX_BODY_BYTES: usize = 1 << 20;

/// One request to `/graphql`, as answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedRequest {
    /// The HTTP method: `GET` or `POST` (others get 405 and are recorded too).
    pub method: String,
    /// The HTTP status of the answer.
    pub status: u16,
    /// `query`, `mutation` or `subscription`, once the document named it.
    pub operation: Option<String>,
    pub operation_name: Option<String>,
    /// The root fields resolved (field names), in selection order.
    pub root_fields: Vec<String>,
    /// The upstream calls made, in the order they were started (a query's
    /// run concurrently).
    pub calls: Vec<UpstreamCall>,
    /// The messages of the answer's `errors`.
    pub errors: Vec<String>,
    pub duration: Duration,
}

/// A running gateway. Dropping it stops the server and closes its port.
pub struct GraphqlHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for GraphqlHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphqlHandle").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl GraphqlHandle {
    /// The address the gateway listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port the gateway listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every `/graphql` request answered so far (and not taken by
    /// [`GraphqlHandle::take_requests`]), in the order they were answered.
    /// A request is recorded before its answer is sent.
    pub fn requests(&self) -> Vec<ServedRequest> {
        self.shared.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Like [`GraphqlHandle::requests`], emptying the record.
    pub fn take_requests(&self) -> Vec<ServedRequest> {
        std::mem::take(&mut *self.shared.log.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Drop for GraphqlHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Shared {
    gateway: GraphqlGateway,
    log: Mutex<Vec<ServedRequest>>,
}

/// Serves `gateway` on `addr` (a loopback address; port 0 picks a free
/// port): HTTP/1.1, `POST`/`GET /graphql` and `GET /healthz`. Binds before
/// returning, then serves in a background thread with its own
/// current-thread tokio runtime until the handle is dropped.
pub fn serve_graphql(gateway: GraphqlGateway, addr: SocketAddr) -> io::Result<GraphqlHandle> {
    if !addr.ip().is_loopback() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the GraphQL gateway listens on loopback addresses only, not {addr}"),
        ));
    }
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let shared = Arc::new(Shared { gateway, log: Mutex::new(Vec::new()) });
    let (stop, stopped) = watch::channel(false);
    let serving = Arc::clone(&shared);
    let thread = std::thread::Builder::new()
        .name(format!("graphql-{}", addr.port()))
        .spawn(move || serve(runtime, listener, serving, stopped))?;
    Ok(GraphqlHandle { addr, shared, stop, thread: Some(thread) })
}

/// Accepts connections until `stopped` turns true, then drops the runtime,
/// which closes the listener and cancels open connections and calls.
///
/// Connections run as local tasks: apollo's execution futures are not
/// `Send`. Upstream calls still overlap (one thread, non-blocking I/O).
fn serve(
    runtime: tokio::runtime::Runtime,
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let addr = listener.local_addr().ok();
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(e) => return eprintln!("graphql gateway on {addr:?}: {e}"),
        };
        let upstreams = Rc::new(Upstreams::new());
        loop {
            tokio::select! {
                _ = stopped.wait_for(|stop| *stop) => break,
                accepted = listener.accept() => {
                    let stream = match accepted {
                        Ok((stream, _)) => stream,
                        Err(_) => {
                            // Out of file descriptors and the like: back off.
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let shared = Arc::clone(&shared);
                    let upstreams = Rc::clone(&upstreams);
                    tokio::task::spawn_local(async move {
                        let service = service_fn(move |request| {
                            answer(Arc::clone(&shared), Rc::clone(&upstreams), request)
                        });
                        let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                    });
                }
            }
        }
    });
    drop(local);
    drop(runtime);
}

async fn answer(
    shared: Arc<Shared>,
    upstreams: Rc<Upstreams>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let since = Instant::now();
    let (parts, body) = request.into_parts();
    match parts.uri.path() {
        "/graphql" => {}
        "/healthz" if matches!(parts.method, Method::GET | Method::HEAD) => {
            return Ok(text(StatusCode::OK, "ok\n"));
        }
        "/healthz" => return Ok(with_allow(text(StatusCode::METHOD_NOT_ALLOWED, "use GET\n"), "GET, HEAD")),
        _ => return Ok(text(StatusCode::NOT_FOUND, "not found: the GraphQL endpoint is /graphql\n")),
    }
    let method = parts.method.clone();
    let answer = match method {
        Method::POST => match post_request(&parts.headers, body).await {
            Ok(request) => request::answer(&shared.gateway.config, &upstreams, request, false, since).await,
            Err(answer) => answer,
        },
        Method::GET => match GraphqlRequest::from_query_string(parts.uri.query().unwrap_or("")) {
            Ok(request) => request::answer(&shared.gateway.config, &upstreams, request, true, since).await,
            Err(e) => Answer::message(400, e),
        },
        _ => Answer::message(405, format!("{method} is not served; use POST or GET")),
    };
    let errors = match answer.body.get("errors") {
        Some(Value::Array(errors)) => {
            errors.iter().map(|e| e.get("message").and_then(Value::as_str).unwrap_or("").to_string()).collect()
        }
        _ => Vec::new(),
    };
    shared.log.lock().unwrap_or_else(|e| e.into_inner()).push(ServedRequest {
        method: method.to_string(),
        status: answer.status,
        operation: answer.operation.map(str::to_string),
        operation_name: answer.operation_name.clone(),
        root_fields: answer.root_fields.clone(),
        calls: answer.calls.clone(),
        errors,
        duration: since.elapsed(),
    });
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = Response::new(Full::new(Bytes::from(answer.body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if status == StatusCode::METHOD_NOT_ALLOWED {
        let allow = if method == Method::GET { "POST" } else { "GET, POST" };
        response = with_allow(response, allow);
    }
    Ok(response)
}

/// A POST's GraphQL request, or the error answer (413, 415, 400).
async fn post_request(headers: &http::HeaderMap, body: Incoming) -> Result<GraphqlRequest, Answer> {
    if let Some(content_type) = headers.get(CONTENT_TYPE) {
        let essence = content_type.to_str().unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if essence != "application/json" {
            return Err(Answer::message(
                415,
                format!("content type `{essence}` is not served; send `application/json`"),
            ));
        }
    }
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(Answer::message(413, format!("the request body is over {MAX_BODY_BYTES} bytes")));
        }
        Err(e) => return Err(Answer::message(400, format!("reading the request body: {e}"))),
    };
    GraphqlRequest::from_json(&body).map_err(|e| Answer::message(400, e))
}

fn text(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

fn with_allow(mut response: Response<Full<Bytes>>, allow: &'static str) -> Response<Full<Bytes>> {
    response.headers_mut().insert(ALLOW, HeaderValue::from_static(allow));
    response
}
