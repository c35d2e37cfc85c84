//! The exchanger as an HTTP/1.1 service (hyper), in a background thread.

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use serde_json::json;

use super::cache::{self, Cache};
use super::sts::{Answer, StsClient};
use super::TokenExchange;
use crate::http_server::{self, HttpService, Versions};

/// The path prefix Envoy's filter is configured with, before the audience.
const PREFIX: &str = "/exchange/";

/// What became of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 200: the STS issued a token.
    Exchanged,
    /// 200: a cached token, no STS call.
    Cached,
    /// 401: no `authorization: Bearer` token.
    NoToken,
    /// 403: not `/exchange/AUDIENCE/...` with a configured audience.
    UnknownAudience,
    /// 403: the STS refused (4xx).
    Refused,
    /// 503: the STS failed (5xx), took too long, could not be reached, or
    /// answered without a usable token.
    Unavailable,
}

impl Outcome {
    /// `exchanged`, `cached`, `no_token`, `unknown_audience`, `refused`,
    /// `unavailable`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Exchanged => "exchanged",
            Outcome::Cached => "cached",
            Outcome::NoToken => "no_token",
            Outcome::UnknownAudience => "unknown_audience",
            Outcome::Refused => "refused",
            Outcome::Unavailable => "unavailable",
        }
    }
}

/// One decision, without tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The request path, without its query string.
    pub path: String,
    /// The audience the path names (configured or not), if it names one.
    pub audience: Option<String>,
    pub outcome: Outcome,
    /// The status answered to Envoy.
    pub status: u16,
    /// The STS's HTTP status, when it was called and answered.
    pub sts_status: Option<u16>,
    /// Why, for everything but 200: the STS's `error` and description, or
    /// what failed.
    pub detail: Option<String>,
    pub duration: Duration,
}

/// A running exchanger. Dropping it stops the server and closes its port.
pub struct TokenExchangeHandle {
    service: HttpService<Exchange>,
}

impl fmt::Debug for TokenExchangeHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenExchangeHandle").field("addr", &self.addr()).finish_non_exhaustive()
    }
}

impl TokenExchangeHandle {
    /// The address the service listens on.
    pub fn addr(&self) -> SocketAddr {
        self.service.addr()
    }

    /// The port the service listens on.
    pub fn port(&self) -> u16 {
        self.addr().port()
    }

    /// Every decision so far (and not taken), in the order answered; each
    /// is recorded before its answer is sent.
    pub fn requests(&self) -> Vec<Exchange> {
        self.service.requests()
    }

    /// Like [`TokenExchangeHandle::requests`], emptying the record.
    pub fn take_requests(&self) -> Vec<Exchange> {
        self.service.take_requests()
    }
}

struct State {
    config: TokenExchange,
    sts: StsClient,
    cache: RefCell<Cache>,
}

/// Serves `exchanger` as an ext_authz HTTP service on `addr` (a loopback
/// address; port 0 picks a free port; the config's `listen` is for the
/// command): HTTP/1.1, any method. Binds before returning, then serves in a
/// background thread with its own current-thread tokio runtime until the
/// handle is dropped.
pub fn serve_token_exchange(exchanger: TokenExchange, addr: SocketAddr) -> io::Result<TokenExchangeHandle> {
    let service = http_server::serve_http("the token exchanger", "token-exchange", addr, Versions::Http1, move || {
        let state = Rc::new(State {
            config: exchanger,
            sts: StsClient::new(),
            cache: RefCell::new(Cache::new(cache::CAPACITY)),
        });
        move |request| answer(Rc::clone(&state), request)
    })?;
    Ok(TokenExchangeHandle { service })
}

/// Decides one request. The body (if Envoy sends one) is not read.
async fn answer(state: Rc<State>, request: Request<Incoming>) -> (Response<Full<Bytes>>, Option<Exchange>) {
    let start = Instant::now();
    let path = request.uri().path().to_string();
    let audience = path.strip_prefix(PREFIX).map(|rest| rest.split('/').next().unwrap_or_default().to_string());
    let record = |outcome: Outcome, status: StatusCode, sts_status: Option<u16>, detail: Option<String>| Exchange {
        path: path.clone(),
        audience: audience.clone().filter(|a| !a.is_empty()),
        outcome,
        status: status.as_u16(),
        sts_status,
        detail,
        duration: start.elapsed(),
    };
    let deny = |outcome: Outcome, status: StatusCode, sts_status: Option<u16>, body: serde_json::Value| {
        let detail = body["error"].as_str().map(|error| match body["error_description"].as_str() {
            Some(description) => format!("{error}: {description}"),
            None => error.to_string(),
        });
        (json_response(status, &body), Some(record(outcome, status, sts_status, detail)))
    };

    let audience = match audience.as_deref() {
        Some(audience) if state.config.audiences.iter().any(|a| a == audience) => audience.to_string(),
        Some("") | None => {
            let error = format!("expected a path {PREFIX}AUDIENCE/..., not {path}");
            return deny(Outcome::UnknownAudience, StatusCode::FORBIDDEN, None, json!({ "error": error }));
        }
        Some(audience) => {
            let error = format!("audience {audience:?} is not one this exchanger serves");
            return deny(Outcome::UnknownAudience, StatusCode::FORBIDDEN, None, json!({ "error": error }));
        }
    };
    let Some(subject) = bearer(request.headers()) else {
        let body = json!({ "error": "expected an authorization: Bearer token" });
        let (mut response, entry) = deny(Outcome::NoToken, StatusCode::UNAUTHORIZED, None, body);
        response.headers_mut().insert("www-authenticate", HeaderValue::from_static("Bearer"));
        return (response, entry);
    };

    let cached = state.cache.borrow_mut().get(&subject, &audience, Instant::now());
    if let Some(token) = cached {
        return (allow(&token), Some(record(Outcome::Cached, StatusCode::OK, None, None)));
    }
    let called = Instant::now();
    match state.sts.exchange(&state.config.sts, &subject, &audience, state.config.timeout).await {
        Answer::Token { access_token, expires_in } => {
            let ttl = cache::ttl(expires_in);
            state.cache.borrow_mut().insert(&subject, &audience, access_token.clone(), ttl, called);
            (allow(&access_token), Some(record(Outcome::Exchanged, StatusCode::OK, Some(200), None)))
        }
        Answer::Refused { status, error, description } => {
            let mut body = json!({
                "error": error.unwrap_or_else(|| format!("the STS refused the exchange (HTTP {status})")),
            });
            if let Some(description) = description {
                body["error_description"] = description.into();
            }
            deny(Outcome::Refused, StatusCode::FORBIDDEN, Some(status), body)
        }
        Answer::Unavailable { status, detail } => {
            deny(Outcome::Unavailable, StatusCode::SERVICE_UNAVAILABLE, status, json!({ "error": detail }))
        }
    }
}

/// The token of the first `authorization: Bearer TOKEN` header (scheme in
/// any case).
fn bearer(headers: &hyper::HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_string())
}

/// 200 with `authorization: Bearer TOKEN` and an empty body.
fn allow(token: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    // Checked when the STS answered: the token makes a valid header value.
    if let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}")) {
        response.headers_mut().insert(AUTHORIZATION, value);
    }
    response
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
