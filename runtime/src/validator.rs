//! The request validator: an HTTP service that Envoy's `ext_authz` filter
//! (HTTP service mode) asks before a request reaches the upstream. It
//! checks the request against the OpenAPI operation of its route and
//! answers 200 (allow, empty body) or 400 with the gateway's error body,
//! which Envoy passes to the client as it is.
//!
//! The routes, operations and error format come from the rules file meshc
//! writes for a gateway (`validation/gateway-NAME.json`); see
//! `docs/runtime.md` ("Request validator") for the format.
//!
//! ```no_run
//! use meshc_runtime::{serve_validator, Validator, Verdict};
//! let rules = std::fs::read_to_string("out/validation/gateway-public.json").unwrap();
//! let validator = Validator::from_json(&rules).unwrap();
//! let verdict = validator.check("GET", "/orders?limit=0", &[], b"");
//! assert!(matches!(verdict, Verdict::Reject { status: 400, .. }));
//! let handle = serve_validator(validator, "127.0.0.1:0".parse().unwrap()).unwrap();
//! println!("ext_authz HTTP service on 127.0.0.1:{}", handle.port());
//! ```

mod load;
mod server;
mod xml;

use std::collections::HashMap;

use serde_json::Value;

use load::{essence, is_json, is_xml, ErrorFormat, HeaderTest, In, Param, ParamValue, PathMatch, Piece, Route, Shape};

pub use server::{serve_validator, CheckedRequest, ValidatorHandle};

// The contract mock compiles OpenAPI response schemas the same way.
pub(crate) use load::normalize;

/// Longest detail text put in a reject body (schema errors quote the value).
const MAX_DETAIL_CHARS: usize = 1000;

/// A gateway's request rules, every schema compiled. Built once from the
/// rules JSON; [`Validator::check`] compiles nothing.
pub struct Validator {
    rules: load::Rules,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field("gateway", &self.rules.gateway)
            .field("routes", &self.rules.routes.iter().map(|r| r.name.as_str()).collect::<Vec<_>>())
            .finish()
    }
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Let it through: HTTP 200 with an empty body.
    Allow,
    /// Refuse it with this response (status 400, the gateway's error body).
    Reject { status: u16, content_type: String, body: String },
}

impl Verdict {
    pub fn is_allow(&self) -> bool {
        matches!(self, Verdict::Allow)
    }
}

/// A [`Verdict`] with what led to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The first route whose match admits the request; `None` when none does
    /// (the request is then allowed).
    pub route: Option<String>,
    /// What is wrong with the request, for rejects.
    pub detail: Option<String>,
    pub verdict: Verdict,
}

impl Validator {
    /// Reads a rules file's JSON and compiles every schema in it. `Err`
    /// names the route and parameter or body entry that is wrong.
    pub fn from_json(text: &str) -> Result<Validator, String> {
        Ok(Validator { rules: load::parse(text)? })
    }

    /// The gateway the rules are for.
    pub fn gateway(&self) -> &str {
        &self.rules.gateway
    }

    /// The names of the routes, in match order.
    pub fn routes(&self) -> impl Iterator<Item = &str> {
        self.rules.routes.iter().map(|r| r.name.as_str())
    }

    /// Checks a request: `method`, the path with its query string, the
    /// headers (any case), and the body. See [`Validator::decide`].
    pub fn check(&self, method: &str, path_and_query: &str, headers: &[(String, String)], body: &[u8]) -> Verdict {
        self.decide(method, path_and_query, headers, body).verdict
    }

    /// Like [`Validator::check`], also telling which route matched and why
    /// a request is rejected. The first route whose path, method and header
    /// rules admit the request decides; a request no route admits is
    /// allowed.
    pub fn decide(&self, method: &str, path_and_query: &str, headers: &[(String, String)], body: &[u8]) -> Decision {
        let request = Request::new(method, path_and_query, headers, body);
        let Some(route) = self.rules.routes.iter().find(|route| request.admitted_by(route)) else {
            return Decision { route: None, detail: None, verdict: Verdict::Allow };
        };
        match request.validate(route) {
            Ok(()) => Decision { route: Some(route.name.clone()), detail: None, verdict: Verdict::Allow },
            Err(detail) => {
                let detail = load::abbreviate(&detail, MAX_DETAIL_CHARS);
                let verdict = self.reject(route, &detail);
                Decision { route: Some(route.name.clone()), detail: Some(detail), verdict }
            }
        }
    }

    fn reject(&self, route: &Route, detail: &str) -> Verdict {
        let rules = &self.rules;
        let (format, message) = route.error.as_ref().map_or((rules.format, &rules.message), |(f, m)| (*f, m));
        let (content_type, body) = match format {
            ErrorFormat::Json => {
                let s = |text: &str| Value::String(text.to_string()).to_string();
                let body = format!(
                    "{{\"status\":400,\"error\":{},\"detail\":{},\"gateway\":{},\"route\":{}}}",
                    s(message),
                    s(detail),
                    s(&rules.gateway),
                    s(&route.name)
                );
                ("application/json", body)
            }
            ErrorFormat::Text => ("text/plain; charset=utf-8", format!("400 {message}: {detail}\n")),
        };
        Verdict::Reject { status: 400, content_type: content_type.to_string(), body }
    }
}

/// One request as the checks see it.
struct Request<'a> {
    method: &'a str,
    path_and_query: &'a str,
    /// Without the query string.
    path: &'a str,
    query: &'a str,
    /// Lower-case names; a repeated header's values joined with `,` (as
    /// Envoy joins them for matching and for ext_authz).
    headers: HashMap<String, String>,
    body: &'a [u8],
}

impl<'a> Request<'a> {
    fn new(method: &'a str, path_and_query: &'a str, headers: &[(String, String)], body: &'a [u8]) -> Self {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        let path = path.split_once('#').map_or(path, |(p, _)| p);
        let mut joined: HashMap<String, String> = HashMap::new();
        for (name, value) in headers {
            joined
                .entry(name.to_ascii_lowercase())
                .and_modify(|v| {
                    v.push(',');
                    v.push_str(value);
                })
                .or_insert_with(|| value.clone());
        }
        Request { method, path_and_query, path, query, headers: joined, body }
    }

    fn header(&self, name: &str) -> Option<&str> {
        match name {
            ":method" => Some(self.method),
            ":path" => Some(self.path_and_query),
            ":authority" => self.headers.get("host").map(String::as_str),
            _ => self.headers.get(name).map(String::as_str),
        }
    }

    fn admitted_by(&self, route: &Route) -> bool {
        let path_ok = match &route.path {
            PathMatch::Exact(path) => self.path == path,
            PathMatch::Prefix(prefix) => self.path.starts_with(prefix.as_str()),
        };
        path_ok
            && route.method.as_deref().is_none_or(|m| m == self.method)
            && route.headers.iter().all(|rule| match (&rule.test, self.header(&rule.name)) {
                (HeaderTest::Present(present), value) => value.is_some() == *present,
                (HeaderTest::Exact(exact), Some(value)) => value == exact,
                (HeaderTest::Prefix(prefix), Some(value)) => value.starts_with(prefix.as_str()),
                (_, None) => false,
            })
    }

    /// `Err` is the detail of the reject.
    fn validate(&self, route: &Route) -> Result<(), String> {
        let bound = bind_path(&route.template, self.path);
        let query = if route.params.iter().any(|p| p.location == In::Query) { parse_query(self.query) } else { vec![] };
        let cookies = if route.params.iter().any(|p| p.location == In::Cookie) {
            self.header("cookie").map(parse_cookies).unwrap_or_default()
        } else {
            vec![]
        };
        for param in &route.params {
            let raw: Vec<&str> = match param.location {
                In::Path => {
                    bound.get(param.name.as_str()).filter(|v| !v.is_empty()).map(String::as_str).into_iter().collect()
                }
                In::Query => query.iter().filter(|(k, _)| *k == param.name).map(|(_, v)| v.as_str()).collect(),
                In::Header => self.header(&param.name).into_iter().collect(),
                In::Cookie => cookies.iter().filter(|(k, _)| *k == param.name).map(|(_, v)| *v).collect(),
            };
            if raw.is_empty() {
                if param.required {
                    return Err(format!("{} `{}` is required", param.location.label(), param.name));
                }
                continue;
            }
            check_param(param, &raw)?;
        }
        if let Some(body) = &route.body {
            self.check_body(body)?;
        }
        Ok(())
    }

    fn check_body(&self, body: &load::Body) -> Result<(), String> {
        if self.body.is_empty() {
            return if body.required { Err("request body is required".into()) } else { Ok(()) };
        }
        if body.content.is_empty() {
            return Ok(());
        }
        let accepted = || match body.content.as_slice() {
            [one] => format!("expected `{}`", one.media),
            many => format!(
                "expected one of {}",
                many.iter().map(|c| format!("`{}`", c.media)).collect::<Vec<_>>().join(", ")
            ),
        };
        let Some(content_type) = self.header("content-type") else {
            return Err(format!("the request body has no content type; {}", accepted()));
        };
        let media = essence(content_type);
        let range = media.split_once('/').map(|(kind, _)| format!("{kind}/*"));
        let content = body
            .content
            .iter()
            .find(|c| c.media == media)
            .or_else(|| body.content.iter().find(|c| Some(&c.media) == range.as_ref()))
            .or_else(|| body.content.iter().find(|c| c.media == "*/*"));
        let Some(content) = content else {
            return Err(format!("content type `{media}` is not accepted; {}", accepted()));
        };
        if is_json(&media) {
            let value: Value =
                serde_json::from_slice(self.body).map_err(|e| format!("request body is not valid JSON: {e}"))?;
            if let Some(schema) = &content.schema {
                if let Err(error) = schema.validate(&value) {
                    let at = error.instance_path().as_str();
                    return Err(if at.is_empty() {
                        format!("request body: {error}")
                    } else {
                        format!("request body at `{at}`: {error}")
                    });
                }
            }
        } else if is_xml(&media) {
            xml::check(self.body, &content.xml)?;
        }
        Ok(())
    }
}

fn check_param(param: &Param, raw: &[&str]) -> Result<(), String> {
    let label = param.location.label();
    let name = &param.name;
    let (value, schema) = match &param.value {
        ParamValue::Unchecked => return Ok(()),
        ParamValue::Schema { shape, schema } => {
            let value = match shape {
                Shape::Object => return Ok(()),
                Shape::Array(item) if **item == Shape::Object => return Ok(()),
                Shape::Array(item) => {
                    let items: Vec<&str> = if param.location == In::Query && param.explode {
                        raw.to_vec()
                    } else {
                        raw.iter()
                            .flat_map(|v| v.split(','))
                            .map(|v| if param.location == In::Header { v.trim() } else { v })
                            .collect()
                    };
                    Value::Array(items.into_iter().map(|v| coerce(v, item)).collect())
                }
                shape => coerce(raw[0], shape),
            };
            (value, Some(schema))
        }
        ParamValue::Json { schema } => {
            let value = serde_json::from_str(raw[0]).map_err(|e| format!("{label} `{name}` is not valid JSON: {e}"))?;
            (value, schema.as_ref())
        }
    };
    match schema.map(|s| s.validate(&value)) {
        Some(Err(error)) => Err(format!("{label} `{name}`: {error}")),
        _ => Ok(()),
    }
}

/// A parameter's text as the JSON value its schema type asks for; text
/// that does not parse stays a string, so the schema reports the mismatch.
fn coerce(text: &str, shape: &Shape) -> Value {
    match shape {
        Shape::Integer | Shape::Number => {
            if let Ok(i) = text.parse::<i64>() {
                return Value::from(i);
            }
            if let Ok(u) = text.parse::<u64>() {
                return Value::from(u);
            }
            match text.parse::<f64>() {
                Ok(f) if f.is_finite() && !text.trim().is_empty() && text.trim() == text => {
                    if f.fract() == 0.0 && f.abs() < 9.0e15 {
                        Value::from(f as i64)
                    } else {
                        Value::from(f)
                    }
                }
                _ => Value::String(text.to_string()),
            }
        }
        Shape::Boolean => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(text.to_string()),
        },
        _ => Value::String(text.to_string()),
    }
}

/// Binds the `{name}` captures of `template` to the (percent-decoded)
/// segments of `path` at the same positions.
fn bind_path<'t>(template: &'t [Vec<Piece>], path: &str) -> HashMap<&'t str, String> {
    let mut bound = HashMap::new();
    for (pieces, segment) in template.iter().zip(path.split('/')) {
        let mut rest = segment;
        for (i, piece) in pieces.iter().enumerate() {
            match piece {
                Piece::Literal(text) => match rest.strip_prefix(text.as_str()) {
                    Some(after) => rest = after,
                    None => break,
                },
                Piece::Param(name) => {
                    let end = match pieces.get(i + 1) {
                        Some(Piece::Literal(next)) => match rest.find(next.as_str()) {
                            Some(end) => end,
                            None => break,
                        },
                        _ => rest.len(),
                    };
                    bound.insert(name.as_str(), percent_decode(&rest[..end], false));
                    rest = &rest[end..];
                }
            }
        }
    }
    bound
}

/// `a=1&b=x%20y&a=2` → `[(a, 1), (b, x y), (a, 2)]`, `+` as a space.
pub(crate) fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key, true), percent_decode(value, true))
        })
        .collect()
}

fn parse_cookies(header: &str) -> Vec<(&str, &str)> {
    header
        .split(';')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim().trim_matches('"')))
        .collect()
}

fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b+c", true), "a b c");
        assert_eq!(percent_decode("a%20b+c", false), "a b+c");
        assert_eq!(percent_decode("100%", true), "100%");
        assert_eq!(percent_decode("%zz%4", true), "%zz%4");
        assert_eq!(percent_decode("%C3%A9", true), "é");
    }

    #[test]
    fn query_strings() {
        assert_eq!(
            parse_query("a=1&&b=x%20y&a=2&flag"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y".into()),
                ("a".into(), "2".into()),
                ("flag".into(), "".into())
            ]
        );
    }

    #[test]
    fn coercion() {
        assert_eq!(coerce("12", &Shape::Integer), Value::from(12));
        assert_eq!(coerce("1.5", &Shape::Integer), Value::from(1.5));
        assert_eq!(coerce("1e3", &Shape::Number), Value::from(1000));
        assert_eq!(coerce("abc", &Shape::Integer), Value::from("abc"));
        assert_eq!(coerce(" 1", &Shape::Number), Value::from(" 1"));
        assert_eq!(coerce("true", &Shape::Boolean), Value::from(true));
        assert_eq!(coerce("yes", &Shape::Boolean), Value::from("yes"));
        assert_eq!(coerce("12", &Shape::String), Value::from("12"));
    }
}
