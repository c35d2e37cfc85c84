//! One upstream call for one root field, REST or gRPC, timed and recorded.

use std::time::{Duration, Instant};

use apollo_compiler::response::{JsonMap, JsonValue};

use super::config::{Resolver, Target};
use super::{grpc, rest};
use crate::http_client::{self, HttpClient};

/// One call the gateway made to an upstream for a root field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamCall {
    /// The resolver: `Query.product`.
    pub field: String,
    /// `host:port`.
    pub upstream: String,
    /// The HTTP method (`GET`), or `POST` for gRPC.
    pub method: String,
    /// The request target: path and query string, or `/pkg.Service/Method`.
    pub path: String,
    /// The HTTP status (`"200"`) or gRPC status name (`"OK"`,
    /// `"NOT_FOUND"`); `None` when no answer arrived (connection failure,
    /// timeout, arguments that make no request).
    pub status: Option<String>,
    /// The field error it became, if any.
    pub error: Option<String>,
    /// When it started, from the start of the GraphQL request.
    pub started: Duration,
    pub duration: Duration,
}

/// The clients every resolver shares: pooled HTTP/1.1 connections for
/// REST, one HTTP/2 connection per gRPC upstream.
pub(crate) struct Upstreams {
    http: HttpClient,
    grpc: grpc::Channels,
    /// Where calls connect instead of their upstream ([`crate::GraphqlGateway::through_proxy`]).
    proxy: Option<std::net::SocketAddr>,
}

impl Upstreams {
    /// Must be called inside the tokio runtime that makes the calls.
    pub fn new(proxy: Option<std::net::SocketAddr>) -> Self {
        Upstreams { http: http_client::pooled(), grpc: grpc::Channels::new(), proxy }
    }

    /// Resolves a root field with its coerced `arguments`; `since` is the
    /// start of the GraphQL request.
    pub async fn call(
        &self,
        resolver: &Resolver,
        arguments: &JsonMap,
        since: Instant,
    ) -> (Result<JsonValue, String>, UpstreamCall) {
        let start = Instant::now();
        let (method, path, status, result) = match &resolver.target {
            Target::Rest(target) => {
                let outcome = rest::call(&self.http, self.proxy, target, arguments, resolver.timeout).await;
                let status = outcome.status.map(|s| s.to_string());
                (target.method.to_string(), outcome.path_and_query, status, outcome.result)
            }
            Target::Grpc(target) => {
                let outcome = grpc::call(&self.grpc, self.proxy, target, arguments, resolver.timeout).await;
                ("POST".to_string(), target.path.clone(), outcome.status, outcome.result)
            }
        };
        let call = UpstreamCall {
            field: resolver.key.clone(),
            upstream: resolver.upstream().to_string(),
            method,
            path,
            status,
            error: result.as_ref().err().cloned(),
            started: start.saturating_duration_since(since),
            duration: start.elapsed(),
        };
        (result, call)
    }
}
