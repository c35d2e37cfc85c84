//! The pooled HTTP/1.1 client the runtime's servers call upstreams with:
//! the GraphQL gateway's REST resolvers and the token exchanger's STS.

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Keep-alive per upstream; host names resolved per connection.
pub(crate) type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A new client; call it inside the tokio runtime that makes the calls.
pub(crate) fn pooled() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new()).build(connector)
}

/// An error with its causes, one after another (hyper's top-level messages
/// are terse): "client error (Connect): tcp connect error: Connection refused".
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
