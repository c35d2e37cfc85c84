//! The validator as an HTTP/1.1 service (hyper), in a background thread.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::{Validator, Verdict};
use crate::http_server::{self, HttpService, Versions};

/// Bodies above this are refused with 413 without being checked. Envoy
/// buffers at most `with_request_body.max_request_bytes` (meshc: 1 MiB).
const MAX_BODY_BYTES: usize = 16 << 20;

/// One request the service checked, as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedRequest {
    pub method: String,
    /// The request target: path and query string.
    pub path_and_query: String,
    /// In arrival order, names lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The route that matched, if any.
    pub route: Option<String>,
    /// Why it was rejected, for rejects.
    pub detail: Option<String>,
    pub verdict: Verdict,
}

/// A running validator service. Dropping it stops the server and closes
/// its port.
pub struct ValidatorHandle {
    service: HttpService<CheckedRequest>,
}

impl fmt::Debug for ValidatorHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidatorHandle").field("addr", &self.addr()).finish_non_exhaustive()
    }
}

impl ValidatorHandle {
    /// The address the service listens on.
    pub fn addr(&self) -> SocketAddr {
        self.service.addr()
    }

    /// The port the service listens on.
    pub fn port(&self) -> u16 {
        self.addr().port()
    }

    /// Every request checked so far (and not taken by
    /// [`ValidatorHandle::take_requests`]), in arrival order. A request is
    /// recorded before its answer is sent.
    pub fn requests(&self) -> Vec<CheckedRequest> {
        self.service.requests()
    }

    /// Like [`ValidatorHandle::requests`], emptying the record.
    pub fn take_requests(&self) -> Vec<CheckedRequest> {
        self.service.take_requests()
    }
}

/// Serves `validator` as an ext_authz HTTP service on `addr` (a loopback
/// address; port 0 picks a free port): HTTP/1.1, every method and path.
/// Binds before returning, then serves in a background thread with its own
/// current-thread tokio runtime until the handle is dropped.
pub fn serve_validator(validator: Validator, addr: SocketAddr) -> io::Result<ValidatorHandle> {
    let service = http_server::serve_http("the validator", "validator", addr, Versions::Http1, move || {
        let validator = Rc::new(validator);
        move |request| answer(Rc::clone(&validator), request)
    })?;
    Ok(ValidatorHandle { service })
}

/// Checks one request; the answer and what to record (bodies that cannot be
/// read are refused unrecorded).
async fn answer(
    validator: Rc<Validator>,
    request: Request<Incoming>,
) -> (Response<Full<Bytes>>, Option<CheckedRequest>) {
    let (parts, body) = request.into_parts();
    let body = match http_server::read_body(body, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err((status, e)) => {
            return (http_server::plain_text(status, format!("validator: reading the request body: {e}\n")), None);
        }
    };
    let method = parts.method.as_str().to_string();
    let path_and_query = parts.uri.path_and_query().map_or_else(|| parts.uri.to_string(), |p| p.as_str().to_string());
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(name, value)| (name.as_str().to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    let decision = validator.decide(&method, &path_and_query, &headers, &body);
    let response = match &decision.verdict {
        Verdict::Allow => Response::new(Full::new(Bytes::new())),
        Verdict::Reject { status, content_type, body } => {
            let mut response = Response::new(Full::new(Bytes::from(body.clone())));
            *response.status_mut() = StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST);
            if let Ok(value) = content_type.parse() {
                response.headers_mut().insert(hyper::header::CONTENT_TYPE, value);
            }
            // Which answers are the validator's, not the service's (the penetration probes tell them apart).
            response.headers_mut().insert("x-meshc-validator", hyper::header::HeaderValue::from_static("rejected"));
            response
        }
    };
    let checked = CheckedRequest {
        method,
        path_and_query,
        headers,
        body: body.to_vec(),
        route: decision.route,
        detail: decision.detail,
        verdict: decision.verdict,
    };
    (response, Some(checked))
}
