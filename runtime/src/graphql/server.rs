//! The gateway as an HTTP/1.1 service (hyper), in a background thread:
//! `POST`/`GET /graphql`, `GET /healthz`.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::Value;

use super::request::{self, Answer, GraphqlRequest};
use super::upstream::{UpstreamCall, Upstreams};
use super::GraphqlGateway;
use crate::http_server::{self, plain_text, HttpService, Versions};

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
    service: HttpService<ServedRequest>,
}

impl fmt::Debug for GraphqlHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphqlHandle").field("addr", &self.addr()).finish_non_exhaustive()
    }
}

impl GraphqlHandle {
    /// The address the gateway listens on.
    pub fn addr(&self) -> SocketAddr {
        self.service.addr()
    }

    /// The port the gateway listens on.
    pub fn port(&self) -> u16 {
        self.addr().port()
    }

    /// Every `/graphql` request answered so far (and not taken by
    /// [`GraphqlHandle::take_requests`]), in the order they were answered.
    /// A request is recorded before its answer is sent.
    pub fn requests(&self) -> Vec<ServedRequest> {
        self.service.requests()
    }

    /// Like [`GraphqlHandle::requests`], emptying the record.
    pub fn take_requests(&self) -> Vec<ServedRequest> {
        self.service.take_requests()
    }
}

/// Serves `gateway` on `addr` (a loopback address; port 0 picks a free
/// port): HTTP/1.1, `POST`/`GET /graphql` and `GET /healthz`. Binds before
/// returning, then serves in a background thread with its own
/// current-thread tokio runtime until the handle is dropped, which closes
/// the port and cancels open connections and calls.
///
/// Connections run as local tasks: apollo's execution futures are not
/// `Send`. Upstream calls still overlap (one thread, non-blocking I/O).
pub fn serve_graphql(gateway: GraphqlGateway, addr: SocketAddr) -> io::Result<GraphqlHandle> {
    let service = http_server::serve_http("the GraphQL gateway", "graphql", addr, Versions::Http1, move || {
        let upstreams = Rc::new(Upstreams::new(gateway.proxy));
        let gateway = Rc::new(gateway);
        move |request| answer(Rc::clone(&gateway), Rc::clone(&upstreams), request)
    })?;
    Ok(GraphqlHandle { service })
}

/// Answers one request; `/graphql` requests are recorded.
async fn answer(
    gateway: Rc<GraphqlGateway>,
    upstreams: Rc<Upstreams>,
    request: Request<Incoming>,
) -> (Response<Full<Bytes>>, Option<ServedRequest>) {
    let since = Instant::now();
    let (parts, body) = request.into_parts();
    match parts.uri.path() {
        "/graphql" => {}
        "/healthz" if matches!(parts.method, Method::GET | Method::HEAD) => {
            return (plain_text(StatusCode::OK, "ok\n"), None);
        }
        "/healthz" => {
            return (with_allow(plain_text(StatusCode::METHOD_NOT_ALLOWED, "use GET\n"), "GET, HEAD"), None);
        }
        _ => return (plain_text(StatusCode::NOT_FOUND, "not found: the GraphQL endpoint is /graphql\n"), None),
    }
    let method = parts.method.clone();
    let answer = match method {
        Method::POST => match post_request(&parts.headers, body).await {
            Ok(request) => request::answer(&gateway.config, &upstreams, request, false, since).await,
            Err(answer) => answer,
        },
        Method::GET => match GraphqlRequest::from_query_string(parts.uri.query().unwrap_or("")) {
            Ok(request) => request::answer(&gateway.config, &upstreams, request, true, since).await,
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
    let served = ServedRequest {
        method: method.to_string(),
        status: answer.status,
        operation: answer.operation.map(str::to_string),
        operation_name: answer.operation_name.clone(),
        root_fields: answer.root_fields.clone(),
        calls: answer.calls.clone(),
        errors,
        duration: since.elapsed(),
    };
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = Response::new(Full::new(Bytes::from(answer.body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if status == StatusCode::METHOD_NOT_ALLOWED {
        let allow = if method == Method::GET { "POST" } else { "GET, POST" };
        response = with_allow(response, allow);
    }
    (response, Some(served))
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
    let body = match http_server::read_body(body, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err((StatusCode::PAYLOAD_TOO_LARGE, _)) => {
            return Err(Answer::message(413, format!("the request body is over {MAX_BODY_BYTES} bytes")));
        }
        Err((_, e)) => return Err(Answer::message(400, format!("reading the request body: {e}"))),
    };
    GraphqlRequest::from_json(&body).map_err(|e| Answer::message(400, e))
}

fn with_allow(mut response: Response<Full<Bytes>>, allow: &'static str) -> Response<Full<Bytes>> {
    response.headers_mut().insert(ALLOW, HeaderValue::from_static(allow));
    response
}
