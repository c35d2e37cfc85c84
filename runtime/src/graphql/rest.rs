//! REST resolvers: a field's arguments as an HTTP/1.1 request, the JSON
//! answer as its value.

use std::net::SocketAddr;
use std::time::Duration;

use apollo_compiler::response::{JsonMap, JsonValue};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::config::{Piece, Rest};
use crate::http_client::{error_chain, HttpClient};

/// Upstream response bodies above this are a field error.
const MAX_RESPONSE_BYTES: usize = 16 << 20;
/// Longest part of an upstream's error body quoted in a field error.
const MAX_EXCERPT_CHARS: usize = 200;

/// RFC 3986 `segment`: everything but `pchar` (unreserved, sub-delims, `:`
/// and `@`) is percent-encoded, `/` included.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=')
    .remove(b':')
    .remove(b'@');

/// A query string key or value: everything but unreserved characters.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// What one REST call did.
pub(crate) struct Outcome {
    /// The request target sent (or that would have been sent).
    pub path_and_query: String,
    /// The HTTP status, when an answer arrived.
    pub status: Option<u16>,
    pub result: Result<JsonValue, String>,
}

/// Calls `rest` with a field's coerced `arguments`; a 2xx answer's JSON
/// body (null when empty) is the value, anything else an error message
/// naming the upstream, method, path and status.
pub(crate) async fn call(
    client: &HttpClient,
    proxy: Option<SocketAddr>,
    rest: &Rest,
    arguments: &JsonMap,
    timeout: Duration,
) -> Outcome {
    let path_and_query = match target(rest, arguments) {
        Ok(target) => target,
        Err(e) => {
            let message = format!("{} {} {}: {e}", rest.upstream, rest.method, rest.path);
            return Outcome { path_and_query: rest.path.clone(), status: None, result: Err(message) };
        }
    };
    let fail = |e: String| format!("{} {} {path_and_query}: {e}", rest.upstream, rest.method);
    let request = match request(rest, proxy, &path_and_query, arguments) {
        Ok(request) => request,
        Err(e) => return Outcome { status: None, result: Err(fail(e)), path_and_query },
    };
    let exchange = async {
        let response = client.request(request).await.map_err(|e| (None, error_chain(&e)))?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| (Some(status), format!("HTTP {status}, reading the body: {e}")))?
            .to_bytes();
        Ok::<_, (Option<http::StatusCode>, String)>((status, body))
    };
    let (status, body) = match tokio::time::timeout(timeout, exchange).await {
        Err(_) => {
            let message = fail(format!("no answer within {} ms", timeout.as_millis()));
            return Outcome { status: None, result: Err(message), path_and_query };
        }
        Ok(Err((status, e))) => {
            let message = fail(e);
            return Outcome { status: status.map(|s| s.as_u16()), result: Err(message), path_and_query };
        }
        Ok(Ok(answer)) => answer,
    };
    let result = if !status.is_success() {
        Err(fail(format!("HTTP {status}: {}", excerpt(&body))))
    } else if body.iter().all(u8::is_ascii_whitespace) {
        Ok(JsonValue::Null)
    } else {
        serde_json::from_slice::<JsonValue>(&body)
            .map_err(|e| fail(format!("HTTP {status}: the body is not JSON ({e}): {}", excerpt(&body))))
    };
    Outcome { path_and_query, status: Some(status.as_u16()), result }
}

/// The path with its captures filled, then the query string.
fn target(rest: &Rest, arguments: &JsonMap) -> Result<String, String> {
    let mut target = String::new();
    for piece in &rest.pieces {
        match piece {
            Piece::Literal(text) => target.push_str(text),
            Piece::Param(name) => match arguments.get(name.as_str()) {
                None | Some(JsonValue::Null) => return Err(format!("path parameter `{name}` is null")),
                Some(value) => target.extend(utf8_percent_encode(&text(value), SEGMENT)),
            },
        }
    }
    let mut pairs = Vec::new();
    for name in &rest.query_params {
        for value in values(arguments, name) {
            pairs.push(format!(
                "{}={}",
                utf8_percent_encode(name, COMPONENT),
                utf8_percent_encode(&text(value), COMPONENT)
            ));
        }
    }
    if !pairs.is_empty() {
        target.push(if target.contains('?') { '&' } else { '?' });
        target.push_str(&pairs.join("&"));
    }
    Ok(target)
}

fn request(
    rest: &Rest,
    proxy: Option<SocketAddr>,
    path_and_query: &str,
    arguments: &JsonMap,
) -> Result<http::Request<Full<Bytes>>, String> {
    let connect = proxy.map_or_else(|| rest.upstream.clone(), |p| p.to_string());
    let uri: http::Uri =
        format!("http://{connect}{path_and_query}").parse().map_err(|e| format!("not a valid URL: {e}"))?;
    let mut builder =
        http::Request::builder().method(rest.method.clone()).uri(uri).header(http::header::ACCEPT, "application/json");
    if proxy.is_some() {
        builder = builder.header(http::header::HOST, rest.upstream.as_str());
    }
    for name in &rest.header_params {
        for value in values(arguments, name) {
            let value = http::HeaderValue::from_str(&text(value))
                .map_err(|_| format!("header parameter `{name}`: {} is not a valid header value", text(value)))?;
            builder = builder.header(name.as_str(), value);
        }
    }
    let body = match rest.body.as_deref().and_then(|name| arguments.get(name)) {
        None | Some(JsonValue::Null) => Bytes::new(),
        Some(value) => {
            builder = builder.header(http::header::CONTENT_TYPE, "application/json");
            Bytes::from(serde_json::to_vec(value).map_err(|e| format!("the body as JSON: {e}"))?)
        }
    };
    builder.body(Full::new(body)).map_err(|e| format!("building the request: {e}"))
}

/// A present, non-null argument's values: a list's non-null items, or the
/// value itself.
fn values<'a>(arguments: &'a JsonMap, name: &str) -> Vec<&'a JsonValue> {
    match arguments.get(name) {
        None | Some(JsonValue::Null) => Vec::new(),
        Some(JsonValue::Array(items)) => items.iter().filter(|item| !item.is_null()).collect(),
        Some(value) => vec![value],
    }
}

/// A value as request text: strings as they are, anything else as JSON.
fn text(value: &JsonValue) -> String {
    match value {
        JsonValue::String(text) => text.as_str().to_string(),
        other => other.to_string(),
    }
}

/// The start of a body, on one line.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return "(empty body)".to_string();
    }
    match text.char_indices().nth(MAX_EXCERPT_CHARS) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rest(path: &str, query: &[&str]) -> Rest {
        Rest {
            upstream: "127.0.0.1:1".into(),
            method: http::Method::GET,
            path: path.into(),
            pieces: super::super::config::pieces(path).unwrap(),
            query_params: query.iter().map(|q| q.to_string()).collect(),
            header_params: vec![],
            body: None,
        }
    }

    fn args(value: serde_json::Value) -> JsonMap {
        match JsonValue::from(value) {
            JsonValue::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn targets_encode_path_segments_and_query_values() {
        let r = rest("/products/{id}/x", &["tag", "limit", "q", "gone"]);
        let a = args(json!({ "id": "a b/c?d#é", "tag": ["x", null, "y&z"], "limit": 5, "q": "1+1=2", "gone": null }));
        assert_eq!(target(&r, &a).unwrap(), "/products/a%20b%2Fc%3Fd%23%C3%A9/x?tag=x&tag=y%26z&limit=5&q=1%2B1%3D2");
        let a = args(json!({ "id": 7 }));
        assert_eq!(target(&r, &a).unwrap(), "/products/7/x");
        assert!(target(&r, &args(json!({}))).unwrap_err().contains("path parameter `id` is null"));
        // Sub-delimiters, `:` and `@` are valid in a segment.
        let a = args(json!({ "id": "a:b@c,d;e=f" }));
        assert_eq!(target(&r, &a).unwrap(), "/products/a:b@c,d;e=f/x");
    }

    #[test]
    fn through_a_proxy_the_request_connects_there_and_names_the_upstream_in_host() {
        let r = rest("/products", &[]);
        let direct = request(&r, None, "/products", &args(json!({}))).unwrap();
        assert_eq!(direct.uri().to_string(), "http://127.0.0.1:1/products");
        assert!(direct.headers().get(http::header::HOST).is_none());
        let proxy: SocketAddr = "127.0.0.1:15001".parse().unwrap();
        let proxied = request(&r, Some(proxy), "/products", &args(json!({}))).unwrap();
        assert_eq!(proxied.uri().to_string(), "http://127.0.0.1:15001/products");
        assert_eq!(proxied.headers()[http::header::HOST], "127.0.0.1:1");
    }

    #[test]
    fn excerpts_are_short_and_on_one_line() {
        assert_eq!(excerpt(b"{\n  \"error\": \"boom\"\n}"), "{ \"error\": \"boom\" }");
        assert_eq!(excerpt(b""), "(empty body)");
        assert_eq!(excerpt("x".repeat(500).as_bytes()).len(), MAX_EXCERPT_CHARS + 3);
    }
}
