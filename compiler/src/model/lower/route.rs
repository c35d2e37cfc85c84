//! `route` nodes of a gateway: match, target or redirect, timeouts,
//! rewrites, error bodies, response header transforms and caching.

use std::ops::Deref;

use super::monitoring::Scope;
use super::read::{self, Once};
use super::{Decls, Lower};
use crate::base::Spanned;
use crate::diag::{Code, Diagnostic};
use crate::model::values::{
    check_header_value, Duration, ErrorBodyFormat, HeaderName, Host, HttpMethod, HttpRule, Port, RegexRewrite, Scheme,
};
use crate::model::{
    Forward, HeaderMatch, HeaderRule, HeaderTransform, PathMatch, PathRewrite, Redirect, RedirectCode, RedirectPath,
    Rewrite, Route, RouteAction, RouteMatch, RouteTimeout, Transcode, VirtualHostId,
};
use crate::syntax::Node;

const ROUTE_CHILDREN: &[&str] = &[
    "match",
    "to",
    "redirect",
    "timeout",
    "idle-timeout",
    "retries",
    "rewrite",
    "websocket",
    "error-format",
    "response",
    "cache",
    "transcode",
    "validate",
    "auth",
    "rate-limit",
    "audit",
    "public",
    "slo",
    "slo-exempt",
    "alert",
    "reads",
    "example",
    "fallback",
    "load",
];
/// What only a forwarded request has: a redirect route may not say them.
const FORWARD_ONLY: &[&str] = &[
    "to",
    "timeout",
    "idle-timeout",
    "retries",
    "rewrite",
    "websocket",
    "cache",
    "transcode",
    "validate",
    "slo",
    "slo-exempt",
    "alert",
    "fallback",
    "load",
];
const RESPONSE_CHILDREN: &[&str] = &["set-header", "remove-header", "rename-header"];

impl<D: Deref<Target = Decls>> Lower<'_, D> {
    pub(super) fn route(
        &mut self,
        node: &Node,
        gateway_format: ErrorBodyFormat,
        virtual_host: Option<VirtualHostId>,
    ) -> Option<Route> {
        read::check_entries(node, 1, &[], self.sink);
        let name = read::string_arg(node, 0, "a name", "route \"orders\" { ... }", self.sink)?;
        let mut once = Once::default();
        let mut matcher = None;
        let mut target = None;
        let mut operation = None;
        let mut api_versions = None;
        let mut redirect = None;
        let mut timeout = None;
        let mut idle_timeout = None;
        let mut retries = None;
        let mut rewrite = Rewrite::default();
        let mut websocket = None;
        let mut errors = None;
        let mut response = Vec::new();
        let mut cache = None;
        let mut transcode = None;
        let mut validate = None;
        let mut auth = None;
        let mut rate_limits = crate::model::security::RouteRateLimits::default();
        let mut audit = None;
        let mut public = None;
        let mut load = None;
        let mut failed = false;
        for child in node.children() {
            // A route may have one local and one global rate limit.
            let repeatable =
                matches!(child.name.as_str(), "rate-limit" | "slo" | "alert" | "slo-exempt" | "reads" | "example");
            if ROUTE_CHILDREN.contains(&child.name.as_str()) && !repeatable && !once.first(child, self.sink) {
                continue;
            }
            match child.name.as_str() {
                "match" => matcher = self.route_match(child),
                // Lowered together below.
                "slo" | "slo-exempt" | "alert" | "reads" | "example" | "fallback" => {}
                "to" => {
                    read::check_entries(child, 1, &["operation", "api-version"], self.sink);
                    let service =
                        read::string_arg(child, 0, "a service", "to \"orders\" operation=\"GET /orders\"", self.sink);
                    target = service.and_then(|s| self.service_ref(&s));
                    match self.operation_prop(child) {
                        Some(op) => operation = op,
                        None => failed = true,
                    }
                    if let Some(target) = &target {
                        let op = operation.as_ref().map(|o| &o.value);
                        match self.route_versions(&name.value, child, target.value, op) {
                            Some(versions) => api_versions = versions,
                            None => failed = true,
                        }
                    }
                }
                "redirect" => match redirect_node(child, self.sink) {
                    Some(r) => redirect = Some(r),
                    None => failed = true,
                },
                "timeout" => match timeout_node(child, self.sink) {
                    Some(t) => timeout = Some(t),
                    None => failed = true,
                },
                "idle-timeout" => {
                    read::check_entries(child, 1, &[], self.sink);
                    read::no_children(child, self.sink);
                    let text = read::string_arg(child, 0, "a duration", "idle-timeout \"5m\"", self.sink);
                    match text.and_then(|t| {
                        read::parse(&t, |d| Duration::parse(d), self.sink).map(|d| Spanned::new(d, t.span))
                    }) {
                        Some(t) => idle_timeout = Some(t),
                        None => failed = true,
                    }
                }
                "load" => match self.load(child) {
                    Some(l) => load = Some(l),
                    None => failed = true,
                },
                "retries" => match self.retries(child) {
                    Some(r) => retries = Some(r),
                    None => failed = true,
                },
                "rewrite" => match self.rewrite(child) {
                    Some(r) => rewrite = r,
                    None => failed = true,
                },
                "websocket" => websocket = Some(flag(child, self.sink)),
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
                    Some((scope, limit)) => match rate_limits.slot_mut(scope) {
                        Some(first) => {
                            self.sink.push(
                                Diagnostic::new(
                                    Code::DuplicateName,
                                    format!("route `{}` has two {} rate limits", name.value, scope.as_str()),
                                )
                                .at(limit.span, "second limit")
                                .with_label(first.span, "first limit")
                                .help("a route takes one local limit and one global limit (`global=#true`); keep the stricter"),
                            );
                            failed = true;
                        }
                        slot => *slot = Some(limit),
                    },
                    None => failed = true,
                },
                "audit" => {
                    match self.audit(child, &["time", "method", "path", "status", "duration", "route", "principal"]) {
                        Some(a) => audit = Some(a),
                        None => failed = true,
                    }
                }
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
        let redirecting = node.children().iter().find(|c| c.name == "redirect");
        if let Some(redirect_node) = redirecting {
            // Each forwarding setting once, at its first node (repeats are reported already).
            let mut seen = Vec::new();
            for child in node.children().iter().filter(|c| FORWARD_ONLY.contains(&c.name.as_str())) {
                if seen.contains(&child.name.as_str()) {
                    continue;
                }
                seen.push(child.name.as_str());
                self.sink.push(
                    Diagnostic::new(
                        Code::RedirectWithForwarding,
                        format!("route `{}` redirects, so `{}` has nothing to apply to", name.value, child.name),
                    )
                    .at(child.name_span, "only forwarded requests have this")
                    .with_label(redirect_node.name_span, "the route answers with a redirect")
                    .help(format!(
                        "a route either forwards (`to` ...) or redirects; remove `{}`, or remove `redirect` to forward",
                        child.name
                    )),
                );
                failed = true;
            }
        }
        let has = |n: &str| node.children().iter().any(|c| c.name == n);
        if !has("match") {
            self.missing_route_child(&name, "match", "match path-prefix=\"/orders\"");
        }
        if !has("to") && redirecting.is_none() {
            self.missing_route_child(&name, "to", "to \"orders\", or redirect path=\"/new\" to answer with a redirect");
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
        let objectives =
            if redirecting.is_some() { Some(Default::default()) } else { self.objectives(node, Scope::Route) };
        let matcher = matcher?;
        // Replacing the matched prefix needs a matched prefix.
        let prefix_replaced = match (&rewrite.path, &redirect) {
            (Some(Spanned { value: PathRewrite::Prefix(_), span }), _) => Some(("rewrite", *span)),
            (_, Some(Redirect { path: Some(Spanned { value: RedirectPath::Prefix(_), span }), .. })) => {
                Some(("redirect", *span))
            }
            _ => None,
        };
        if let (Some((node_name, span)), PathMatch::Exact(path)) = (prefix_replaced, &matcher.path) {
            let fix = match node_name {
                "rewrite" => "`rewrite regex=` to write the new path out",
                _ => "`redirect path=` to send the new path in full",
            };
            self.sink.push(
                Diagnostic::new(
                    Code::PrefixRewriteWithoutPrefixMatch,
                    format!("route `{}` replaces a matched prefix, but matches the exact path `{path}`", name.value),
                )
                .at(span, "replaces the matched prefix")
                .with_label(matcher.span, "an exact match: there is no prefix to replace")
                .help(format!("match `path-prefix=\"{path}\"`, or use {fix}")),
            );
            failed = true;
        }
        if failed {
            return None;
        }
        let objectives = objectives?;
        let contract = self.contract(node, operation.is_some())?;
        let fallback = if redirecting.is_some() { None } else { self.fallback(node, operation.as_ref())? };
        let action = match redirect {
            Some(redirect) => RouteAction::Redirect(redirect),
            None => RouteAction::Forward(Box::new(Forward {
                target: target?,
                operation,
                api_versions,
                timeout,
                idle_timeout,
                retries,
                cache,
                transcode,
                validate,
                rewrite,
                websocket,
                objectives,
                contract,
                fallback,
                load,
            })),
        };
        Some(Route {
            name,
            matcher,
            virtual_host,
            action,
            errors,
            response,
            auth,
            rate_limits,
            audit,
            public,
            span: node.span,
        })
    }

    fn missing_route_child(&mut self, name: &Spanned<String>, child: &str, example: &str) {
        self.sink.push(
            Diagnostic::new(Code::MissingRequired, format!("route `{}` has no `{child}`", name.value))
                .at(name.span, format!("`{child}` missing"))
                .help(format!("add it: {example}")),
        );
    }

    /// `rewrite prefix="/v2/" host="h"` or `rewrite regex="^/a/(.*)$" with="/\1"`.
    fn rewrite(&mut self, node: &Node) -> Option<Rewrite> {
        const PROPS: [&str; 4] = ["prefix", "regex", "with", "host"];
        read::check_entries(node, 0, &PROPS, self.sink);
        read::no_children(node, self.sink);
        let [prefix, regex, with, host] = PROPS.map(|key| read::string_prop(node, key, None, self.sink));
        // A property of the wrong type is reported already.
        let mut ok =
            [&prefix, &regex, &with, &host].iter().zip(PROPS).all(|(v, k)| v.is_some() || node.property(k).is_none());
        let path = match (prefix, regex, with) {
            (Some(p), None, None) => {
                let rewrite = read::parse(&p, |t| check_path(t), self.sink)
                    .map(|()| Spanned::new(PathRewrite::Prefix(p.value.clone()), p.span));
                ok &= rewrite.is_some();
                rewrite
            }
            (None, Some(r), Some(w)) => {
                let rewrite = self.rewrite_regex(&r, &w).map(|re| Spanned::new(PathRewrite::Regex(re), r.span));
                ok &= rewrite.is_some();
                rewrite
            }
            (None, None, None) => None,
            (Some(_), Some(r), _) => {
                self.sink.push(
                    Diagnostic::new(Code::InvalidValue, "`rewrite` takes either `prefix` or `regex`, not both")
                        .at(r.span, "second path rewrite")
                        .help(
                            "`prefix` replaces the matched prefix; `regex` with `with` rewrites any part of the path",
                        ),
                );
                ok = false;
                None
            }
            (None, Some(r), None) => {
                self.sink.push(
                    Diagnostic::new(Code::MissingRequired, "`rewrite regex=` needs `with`, the substitution")
                        .at(r.span, "no substitution")
                        .help(r#"for example: rewrite regex="^/shop/(.*)$" with="/\1""#),
                );
                ok = false;
                None
            }
            (_, None, Some(w)) => {
                self.sink.push(
                    Diagnostic::new(Code::UnknownProperty, "`with` is the substitution of a `regex` rewrite")
                        .at(w.span, "no `regex` to substitute")
                        .help(r#"rewrite with a pattern: rewrite regex="^/shop/(.*)$" with="/\1""#),
                );
                ok = false;
                None
            }
        };
        let host = host.and_then(|h| {
            let parsed = read::parse(&h, |t| Host::parse(t), self.sink).map(|v| Spanned::new(v, h.span));
            ok &= parsed.is_some();
            parsed
        });
        if !ok {
            return None;
        }
        if path.is_none() && host.is_none() {
            self.sink.push(
                Diagnostic::new(Code::MissingRequired, "`rewrite` says nothing to rewrite")
                    .at(node.name_span, "no rewrite")
                    .help(r#"add prefix="/new/", regex="..." with="...", or host="name""#),
            );
            return None;
        }
        Some(Rewrite { path, host })
    }

    /// An RE2 pattern and its substitution; errors point into the string when they can.
    fn rewrite_regex(&mut self, pattern: &Spanned<String>, with: &Spanned<String>) -> Option<RegexRewrite> {
        match RegexRewrite::parse(&pattern.value, &with.value) {
            Ok(rewrite) => Some(rewrite),
            Err((in_pattern, error)) => {
                let (value, what) = if in_pattern { (pattern, "pattern") } else { (with, "substitution") };
                let span = error.at.and_then(|at| self.span_within(value, at)).unwrap_or(value.span);
                self.sink.push(
                    Diagnostic::new(Code::InvalidRewriteRegex, format!("invalid rewrite {what}: {}", error.message))
                        .at(span, "here")
                        .help(if in_pattern {
                            "rewrite patterns are RE2 (https://github.com/google/re2/wiki/Syntax): no look-around or backreferences"
                        } else {
                            r"a substitution names groups as \1 to \9 (\0 the whole match) and writes a backslash as \\"
                        }),
                );
                None
            }
        }
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

/// `timeout "2s"`, or `timeout "none"` for requests that may take as long as they last.
fn timeout_node(node: &Node, sink: &mut crate::diag::Sink) -> Option<RouteTimeout> {
    read::check_entries(node, 1, &[], sink);
    read::no_children(node, sink);
    let text = read::string_arg(node, 0, "a duration or \"none\"", "timeout \"2s\"", sink)?;
    if text.value == "none" {
        return Some(RouteTimeout::Never);
    }
    read::parse(
        &text,
        |t| Duration::parse(t).map_err(|e| format!("{e}; or `none` for no timeout (streams, long polls)")),
        sink,
    )
    .map(RouteTimeout::After)
}

/// `redirect path=|prefix= host= scheme= port= code= strip-query=`.
fn redirect_node(node: &Node, sink: &mut crate::diag::Sink) -> Option<Redirect> {
    read::check_entries(node, 0, &["path", "prefix", "host", "scheme", "port", "code", "strip-query"], sink);
    read::no_children(node, sink);
    // Each property is absent, valid, or reported (then `ok` turns false).
    let mut ok = true;
    fn checked<T>(ok: &mut bool, node: &Node, key: &str, value: Option<T>) -> Option<T> {
        *ok &= value.is_some() || node.property(key).is_none();
        value
    }
    let path = checked(&mut ok, node, "path", read::string_prop(node, "path", None, sink));
    let prefix = checked(&mut ok, node, "prefix", read::string_prop(node, "prefix", None, sink));
    let new_path = |p: Spanned<String>, exact: bool, sink: &mut crate::diag::Sink| {
        let value = if exact { RedirectPath::Exact(p.value.clone()) } else { RedirectPath::Prefix(p.value.clone()) };
        read::parse(&p, |t| check_path(t), sink).map(|()| Spanned::new(value, p.span))
    };
    let path = match (path, prefix) {
        (Some(p), None) => checked(&mut ok, node, "path", new_path(p, true, sink)),
        (None, Some(p)) => checked(&mut ok, node, "prefix", new_path(p, false, sink)),
        (Some(_), Some(p)) => {
            sink.push(
                Diagnostic::new(Code::InvalidValue, "`redirect` takes either `path` or `prefix`, not both")
                    .at(p.span, "second new path")
                    .help("`path` replaces the whole path, `prefix` only the matched prefix"),
            );
            checked(&mut ok, node, "prefix", None)
        }
        (None, None) => None,
    };
    let host = read::string_prop(node, "host", None, sink).and_then(|h| read::parse(&h, |t| Host::parse(t), sink));
    let host = checked(&mut ok, node, "host", host);
    let scheme =
        read::string_prop(node, "scheme", None, sink).and_then(|s| read::parse(&s, |t| Scheme::parse(t), sink));
    let scheme = checked(&mut ok, node, "scheme", scheme);
    let port = read::int_prop(node, "port", None, sink).and_then(|p| read::parse(&p, |p| Port::new(*p), sink));
    let port = checked(&mut ok, node, "port", port);
    let code =
        read::int_prop(node, "code", None, sink).and_then(|c| read::parse(&c, |c| RedirectCode::parse(*c), sink));
    let code = checked(&mut ok, node, "code", code).unwrap_or(RedirectCode::MovedPermanently);
    let strip_query =
        checked(&mut ok, node, "strip-query", read::bool_prop(node, "strip-query", sink)).is_some_and(|s| s.value);
    if !ok {
        return None;
    }
    if path.is_none() && host.is_none() && scheme.is_none() && port.is_none() {
        sink.push(
            Diagnostic::new(Code::MissingRequired, "`redirect` would send the client to the URL it asked for")
                .at(node.name_span, "nothing changes")
                .help("say what changes: path=, prefix=, host=, scheme= or port="),
        );
        return None;
    }
    Some(Redirect { path, host, scheme, port, code, strip_query })
}
