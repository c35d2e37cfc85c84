//! `route` nodes of a gateway: match, target, timeout, error bodies,
//! response header transforms and caching.

use super::read::{self, Once};
use super::Lower;
use crate::base::Spanned;
use crate::diag::{Code, Diagnostic};
use crate::model::values::{check_header_value, Duration, ErrorBodyFormat, HeaderName, HttpMethod, HttpRule};
use crate::model::{HeaderMatch, HeaderRule, HeaderTransform, PathMatch, Route, RouteMatch, Transcode};
use crate::syntax::Node;

const ROUTE_CHILDREN: &[&str] = &[
    "match",
    "to",
    "timeout",
    "retries",
    "error-format",
    "response",
    "cache",
    "transcode",
    "validate",
    "auth",
    "rate-limit",
    "audit",
    "public",
];
const RESPONSE_CHILDREN: &[&str] = &["set-header", "remove-header", "rename-header"];

impl Lower<'_> {
    pub(super) fn route(&mut self, node: &Node, gateway_format: ErrorBodyFormat) -> Option<Route> {
        read::check_entries(node, 1, &[], self.sink);
        let name = read::string_arg(node, 0, "a name", "route \"orders\" { ... }", self.sink)?;
        let mut once = Once::default();
        let mut matcher = None;
        let mut target = None;
        let mut operation = None;
        let mut timeout = None;
        let mut retries = None;
        let mut errors = None;
        let mut response = Vec::new();
        let mut cache = None;
        let mut transcode = None;
        let mut validate = None;
        let mut auth = None;
        let mut rate_limits: Vec<crate::model::security::RateLimit> = Vec::new();
        let mut audit = None;
        let mut public = None;
        let mut failed = false;
        for child in node.children() {
            // A route may have one local and one global rate limit.
            let repeatable = child.name == "rate-limit";
            if ROUTE_CHILDREN.contains(&child.name.as_str()) && !repeatable && !once.first(child, self.sink) {
                continue;
            }
            match child.name.as_str() {
                "match" => matcher = self.route_match(child),
                "to" => {
                    read::check_entries(child, 1, &["operation"], self.sink);
                    read::no_children(child, self.sink);
                    let service =
                        read::string_arg(child, 0, "a service", "to \"orders\" operation=\"GET /orders\"", self.sink);
                    target = service.and_then(|s| self.service_ref(&s));
                    match self.operation_prop(child) {
                        Some(op) => operation = op,
                        None => failed = true,
                    }
                }
                "timeout" => {
                    read::check_entries(child, 1, &[], self.sink);
                    read::no_children(child, self.sink);
                    let text = read::string_arg(child, 0, "a duration", "timeout \"2s\"", self.sink);
                    match text.and_then(|t| read::parse(&t, |t| Duration::parse(t), self.sink)) {
                        Some(t) => timeout = Some(t),
                        None => failed = true,
                    }
                }
                "retries" => match self.retries(child) {
                    Some(r) => retries = Some(r),
                    None => failed = true,
                },
                "error-format" => match self.error_format(child, gateway_format) {
                    Some(e) => errors = Some(e),
                    None => failed = true,
                },
                "transcode" => match transcode_node(child, self.sink) {
                    Some(t) => transcode = Some(t),
                    None => failed = true,
                },
                "validate" => validate = Some(flag(child, self.sink)),
                "auth" => match self.route_auth(child) {
                    Some(a) => auth = Some(a),
                    None => failed = true,
                },
                "rate-limit" => match self.rate_limit(child) {
                    Some(limit) => {
                        if let Some(first) = rate_limits.iter().find(|l| l.global == limit.global) {
                            let scope = if limit.global { "global" } else { "local" };
                            self.sink.push(
                                Diagnostic::new(Code::DuplicateName, format!("route `{}` has two {scope} rate limits", name.value))
                                    .at(limit.span, "second limit")
                                    .with_label(first.span, "first limit")
                                    .help("a route takes one local limit and one global limit (`global=#true`); keep the stricter"),
                            );
                            failed = true;
                        } else {
                            rate_limits.push(limit);
                        }
                    }
                    None => failed = true,
                },
                "audit" => match self.audit(child) {
                    Some(a) => audit = Some(a),
                    None => failed = true,
                },
                "public" => match self.public(child) {
                    Some(p) => public = Some(p),
                    None => failed = true,
                },
                "response" => match self.response(child) {
                    Some(r) => response = r,
                    None => failed = true,
                },
                "cache" => {
                    read::check_entries(child, 0, &["ttl"], self.sink);
                    read::no_children(child, self.sink);
                    let ttl = read::string_prop(child, "ttl", Some("cache ttl=\"30s\""), self.sink);
                    match ttl.and_then(|t| {
                        read::parse(&t, |t| Duration::parse(t), self.sink).map(|d| Spanned::new(d, t.span))
                    }) {
                        Some(ttl) => cache = Some(ttl),
                        None => failed = true,
                    }
                }
                _ => read::unknown_child(child, "route", ROUTE_CHILDREN, self.sink),
            }
        }
        for required in ["match", "to"] {
            if !node.children().iter().any(|c| c.name == required) {
                let example = if required == "match" { "match path-prefix=\"/orders\"" } else { "to \"orders\"" };
                self.sink.push(
                    Diagnostic::new(Code::MissingRequired, format!("route `{}` has no `{required}`", name.value))
                        .at(name.span, format!("`{required}` missing"))
                        .help(format!("add it: {example}")),
                );
            }
        }
        if let (Some(auth), Some(public)) = (&auth, &public) {
            self.sink.push(
                Diagnostic::new(
                    Code::InvalidValue,
                    format!("route `{}` is declared public but requires a token", name.value),
                )
                .at(public.span, "declared public")
                .with_label(auth.span, "requires a token")
                .help("remove `public` (the route is authenticated) or `auth` (anyone may call it)"),
            );
            failed = true;
        }
        if failed {
            return None;
        }
        Some(Route {
            name,
            matcher: matcher?,
            target: target?,
            operation,
            timeout,
            retries,
            errors,
            response,
            cache,
            transcode,
            validate,
            auth,
            rate_limits,
            audit,
            public,
            span: node.span,
        })
    }

    fn route_match(&mut self, node: &Node) -> Option<RouteMatch> {
        read::check_entries(node, 0, &["path", "path-prefix", "method"], self.sink);
        let path = read::string_prop(node, "path", None, self.sink);
        let prefix = read::string_prop(node, "path-prefix", None, self.sink);
        let path = match (path, prefix) {
            (Some(p), None) => read::parse(&p, |p| check_path(p).map(|_| PathMatch::Exact(p.clone())), self.sink),
            (None, Some(p)) => read::parse(&p, |p| check_path(p).map(|_| PathMatch::Prefix(p.clone())), self.sink),
            (Some(_), Some(p)) => {
                self.sink.push(
                    Diagnostic::new(Code::InvalidValue, "`match` takes either `path` or `path-prefix`, not both")
                        .at(p.span, "second path matcher")
                        .help("use `path` for an exact path, `path-prefix` for a subtree"),
                );
                None
            }
            (None, None) => {
                if node.property("path").is_none() && node.property("path-prefix").is_none() {
                    self.sink.push(
                        Diagnostic::new(Code::MissingRequired, "`match` needs `path` or `path-prefix`")
                            .at(node.name_span, "no path matcher")
                            .help("for example: match path-prefix=\"/orders\""),
                    );
                }
                None
            }
        };
        let method = match read::string_prop(node, "method", None, self.sink) {
            Some(m) => Some(read::parse(&m, |m| HttpMethod::parse(m), self.sink)?),
            None => None,
        };
        let mut headers = Vec::new();
        for child in node.children() {
            if child.name != "header" {
                read::unknown_child(child, "match", &["header"], self.sink);
                continue;
            }
            if let Some(h) = self.header_match(child, &[]) {
                headers.push(h);
            }
        }
        Some(RouteMatch { path: path?, method, headers, span: node.span })
    }

    /// `NAME exact="v" | prefix="v" | present=#true`, with the node's `extra` properties read elsewhere.
    pub(super) fn header_match(&mut self, node: &Node, extra: &[&str]) -> Option<HeaderMatch> {
        let keys: Vec<&str> = ["exact", "prefix", "present"].iter().chain(extra).copied().collect();
        read::check_entries(node, 1, &keys, self.sink);
        read::no_children(node, self.sink);
        let name = read::string_arg(node, 0, "a header name", "header \"x-api-version\" exact=\"2\"", self.sink)?;
        let name_value = read::parse(&name, |n| HeaderName::parse(n), self.sink)?;
        let exact = read::string_prop(node, "exact", None, self.sink);
        let prefix = read::string_prop(node, "prefix", None, self.sink);
        let valid = |cx: &mut Self, value: &Option<Spanned<String>>, prefix: bool| {
            value.as_ref().is_none_or(|v| read::parse(v, |t| check_header_value(t, prefix), cx.sink).is_some())
        };
        if !(valid(self, &exact, false) & valid(self, &prefix, true)) {
            return None;
        }
        let present = read::bool_prop(node, "present", self.sink);
        let rule = match (exact, prefix, present) {
            (Some(e), None, None) => HeaderRule::Exact(e.value),
            (None, Some(p), None) => HeaderRule::Prefix(p.value),
            (None, None, Some(p)) if p.value => HeaderRule::Present,
            (None, None, None) => {
                self.sink.push(
                    Diagnostic::new(
                        Code::MissingRequired,
                        format!("header match `{}` says nothing to match", name.value),
                    )
                    .at(node.name_span, "no rule")
                    .help("add exact=\"...\", prefix=\"...\" or present=#true"),
                );
                return None;
            }
            _ => {
                self.sink.push(
                    Diagnostic::new(
                        Code::InvalidValue,
                        format!("header match `{}` needs exactly one rule", name.value),
                    )
                    .at(node.span, "conflicting rules")
                    .help("use one of exact=\"...\", prefix=\"...\" or present=#true"),
                );
                return None;
            }
        };
        Some(HeaderMatch { name: name_value, rule })
    }

    /// `response { set-header "x" "v"; remove-header "server"; rename-header "a" to="b" }`.
    fn response(&mut self, node: &Node) -> Option<Vec<HeaderTransform>> {
        read::check_entries(node, 0, &[], self.sink);
        let mut transforms = Vec::new();
        let mut ok = true;
        for child in node.children() {
            let header = |cx: &mut Self, index: usize, what: &str, example: &str| {
                let text = read::string_arg(child, index, what, example, cx.sink)?;
                read::parse(&text, |t| HeaderName::parse(t), cx.sink)
            };
            let transform = match child.name.as_str() {
                "set-header" => {
                    read::check_entries(child, 2, &[], self.sink);
                    let example = "set-header \"cache-status\" \"gateway\"";
                    let name = header(self, 0, "a header name", example);
                    let value = read::string_arg(child, 1, "a value", example, self.sink)
                        .filter(|v| read::parse(v, |t| check_header_value(t, false), self.sink).is_some());
                    match (name, value) {
                        (Some(name), Some(value)) => Some(HeaderTransform::Set { name, value: value.value }),
                        _ => None,
                    }
                }
                "remove-header" => {
                    read::check_entries(child, 1, &[], self.sink);
                    header(self, 0, "a header name", "remove-header \"server\"")
                        .map(|name| HeaderTransform::Remove { name })
                }
                "rename-header" => {
                    read::check_entries(child, 1, &["to"], self.sink);
                    let example = "rename-header \"x-internal-id\" to=\"x-request-ref\"";
                    let from = header(self, 0, "a header name", example);
                    let to = read::string_prop(child, "to", Some(example), self.sink)
                        .and_then(|t| read::parse(&t, |t| HeaderName::parse(t), self.sink));
                    match (from, to) {
                        (Some(from), Some(to)) => Some(HeaderTransform::Rename { from, to }),
                        _ => None,
                    }
                }
                _ => {
                    read::unknown_child(child, "response", RESPONSE_CHILDREN, self.sink);
                    continue;
                }
            };
            read::no_children(child, self.sink);
            match transform {
                Some(t) => transforms.push(t),
                None => ok = false,
            }
        }
        ok.then_some(transforms)
    }
}

fn check_path(path: &str) -> Result<(), String> {
    if path.starts_with('/') && !path.contains(|c: char| c.is_whitespace() || c == '?' || c == '#') {
        Ok(())
    } else {
        Err(format!("`{path}` is not a request path: it must start with `/` and hold no spaces, `?` or `#`"))
    }
}

/// `transcode`, or `transcode "POST /v1/x/{id}" body="*"` declaring the binding.
fn transcode_node(node: &Node, sink: &mut crate::diag::Sink) -> Option<Transcode> {
    read::check_entries(node, 1, &["body"], sink);
    read::no_children(node, sink);
    let body = read::string_prop(node, "body", None, sink);
    if node.property("body").is_some() && body.is_none() {
        return None;
    }
    let rule = match node.arguments().next() {
        None => {
            if let Some(body) = &body {
                sink.push(
                    Diagnostic::new(Code::UnknownProperty, "`body` belongs to a declared binding")
                        .at(body.span, "no binding declared")
                        .help("declare the binding too: transcode \"POST /v1/charges\" body=\"*\""),
                );
                return None;
            }
            None
        }
        Some(_) => {
            let text = read::string_arg(node, 0, "an HTTP binding", "transcode \"POST /v1/charges\" body=\"*\"", sink)?;
            let rule = read::parse(&text, |t| HttpRule::parse(t, body.as_ref().map(|b| b.value.as_str())), sink)?;
            Some(Spanned::new(rule, node.span))
        }
    };
    Some(Transcode { rule, span: node.span })
}

/// A node that is only present or absent (`validate`): its span.
fn flag(node: &Node, sink: &mut crate::diag::Sink) -> crate::base::Span {
    read::check_entries(node, 0, &[], sink);
    read::no_children(node, sink);
    node.span
}
