//! `gateway` nodes: listeners, error formats and routes.

use std::collections::HashMap;
use std::net::IpAddr;

use super::read::{self, Once};
use super::{duplicate, Lower};
use crate::base::{Span, Spanned};
use crate::diag::{Code, Diagnostic};
use crate::model::values::{check_name, ErrorBodyFormat, HttpMethod, Port};
use crate::model::{
    ErrorFormat, ErrorStatus, Gateway, HeaderMatch, HeaderRule, Listener, PathMatch, Route, RouteMatch,
};
use crate::syntax::Node;

const CHILDREN: &[&str] = &["listener", "error-format", "route"];
const ROUTE_CHILDREN: &[&str] = &["match", "to", "timeout", "error-format"];

impl Lower<'_> {
    pub(super) fn gateway(&mut self, node: &Node, name: Spanned<String>) -> Option<Gateway> {
        read::check_entries(node, 1, &[], self.sink);
        let name_ok = read::parse(&name, |n| check_name(n), self.sink).is_some();
        let mut once = Once::default();
        let mut listeners: Vec<Listener> = Vec::new();
        let mut listener_names: HashMap<String, Span> = HashMap::new();
        let mut routes: Vec<Route> = Vec::new();
        let mut route_names: HashMap<String, Span> = HashMap::new();
        let mut errors = ErrorFormat::default_json();
        // Gateway-wide settings first: routes inherit the gateway's body format.
        for child in node.children() {
            match child.name.as_str() {
                "listener" => {
                    if let Some(l) = self.listener(child) {
                        if let Some(&first) = listener_names.get(&l.name.value) {
                            duplicate(self.sink, "listener", &l.name.value, l.name.span, first);
                        } else {
                            listener_names.insert(l.name.value.clone(), l.name.span);
                            listeners.push(l);
                        }
                    }
                }
                "error-format" if once.first(child, self.sink) => {
                    if let Some(declared) = self.error_format(child, ErrorBodyFormat::Json) {
                        errors = merge(errors, declared);
                    }
                }
                "route" | "error-format" => {}
                _ => read::unknown_child(child, "gateway", CHILDREN, self.sink),
            }
        }
        for child in node.children().iter().filter(|c| c.name == "route") {
            if let Some(r) = self.route(child, errors.format) {
                if let Some(&first) = route_names.get(&r.name.value) {
                    duplicate(self.sink, "route", &r.name.value, r.name.span, first);
                } else {
                    route_names.insert(r.name.value.clone(), r.name.span);
                    routes.push(r);
                }
            }
        }
        if !node.children().iter().any(|c| c.name == "listener") {
            self.sink.push(
                Diagnostic::new(Code::MissingRequired, format!("gateway `{}` has no listener", name.value))
                    .at(name.span, "nothing to accept traffic on")
                    .help("add one: listener \"http\" port=8080"),
            );
        }
        name_ok.then_some(Gateway { name, listeners, routes, errors, span: node.span })
    }

    fn listener(&mut self, node: &Node) -> Option<Listener> {
        read::check_entries(node, 1, &["port", "address"], self.sink);
        read::no_children(node, self.sink);
        let example = "listener \"http\" port=8080";
        let name = read::string_arg(node, 0, "a name", example, self.sink);
        let port = read::int_prop(node, "port", Some(example), self.sink)
            .and_then(|p| read::parse(&p, |p| Port::new(*p), self.sink));
        let address = match read::string_prop(node, "address", None, self.sink) {
            Some(a) => read::parse(
                &a,
                |a| {
                    a.parse::<IpAddr>().map_err(|_| {
                        format!("`{a}` is not an IP address; listeners bind an address such as 0.0.0.0 or 127.0.0.1")
                    })
                },
                self.sink,
            ),
            None if node.property("address").is_some() => None,
            None => Some(IpAddr::from([0, 0, 0, 0])),
        };
        Some(Listener { name: name?, address: address?, port: port?, span: node.span })
    }

    /// `error-format "json" { status 404 message="..." }`.
    fn error_format(&mut self, node: &Node, default: ErrorBodyFormat) -> Option<ErrorFormat> {
        read::check_entries(node, 1, &[], self.sink);
        let format = match node.arguments().next() {
            Some(_) => {
                let f = read::string_arg(node, 0, "a format", "error-format \"json\"", self.sink)?;
                read::parse(&f, |f| ErrorBodyFormat::parse(f), self.sink)?
            }
            None => default,
        };
        let mut statuses: Vec<ErrorStatus> = Vec::new();
        let mut seen: HashMap<u16, Span> = HashMap::new();
        for child in node.children() {
            if child.name != "status" {
                read::unknown_child(child, "error-format", &["status"], self.sink);
                continue;
            }
            read::check_entries(child, 1, &["message"], self.sink);
            read::no_children(child, self.sink);
            let example = "status 503 message=\"orders are unavailable\"";
            let status = read::int_arg(child, 0, "an HTTP status", example, self.sink).and_then(|s| {
                read::parse(
                    &s,
                    |s| match u16::try_from(*s) {
                        Ok(s) if (400..=599).contains(&s) => Ok(s),
                        _ => Err(format!("status {s} is not an error status; use 400 to 599")),
                    },
                    self.sink,
                )
                .map(|v| Spanned::new(v, s.span))
            });
            let message = read::string_prop(child, "message", Some(example), self.sink);
            let (Some(status), Some(message)) = (status, message) else {
                continue;
            };
            if let Some(&first) = seen.get(&status.value) {
                duplicate(self.sink, "status", &status.value.to_string(), status.span, first);
                continue;
            }
            seen.insert(status.value, status.span);
            statuses.push(ErrorStatus { status: status.value, message: message.value });
        }
        statuses.sort_by_key(|s| s.status);
        Some(ErrorFormat { format, statuses })
    }

    fn route(&mut self, node: &Node, gateway_format: ErrorBodyFormat) -> Option<Route> {
        read::check_entries(node, 1, &[], self.sink);
        let name = read::string_arg(node, 0, "a name", "route \"orders\" { ... }", self.sink)?;
        let mut once = Once::default();
        let mut matcher = None;
        let mut target = None;
        let mut operation = None;
        let mut timeout = None;
        let mut errors = None;
        let mut failed = false;
        for child in node.children() {
            if ROUTE_CHILDREN.contains(&child.name.as_str()) && !once.first(child, self.sink) {
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
                    match text.and_then(|t| read::parse(&t, |t| crate::model::values::Duration::parse(t), self.sink)) {
                        Some(t) => timeout = Some(t),
                        None => failed = true,
                    }
                }
                "error-format" => match self.error_format(child, gateway_format) {
                    Some(e) => errors = Some(e),
                    None => failed = true,
                },
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
        if failed {
            return None;
        }
        Some(Route { name, matcher: matcher?, target: target?, operation, timeout, errors, span: node.span })
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
            if let Some(h) = self.header_match(child) {
                headers.push(h);
            }
        }
        Some(RouteMatch { path: path?, method, headers, span: node.span })
    }

    fn header_match(&mut self, node: &Node) -> Option<HeaderMatch> {
        read::check_entries(node, 1, &["exact", "prefix", "present"], self.sink);
        read::no_children(node, self.sink);
        let name = read::string_arg(node, 0, "a header name", "header \"x-api-version\" exact=\"2\"", self.sink)?;
        let name_value = read::parse(
            &name,
            |n| {
                if !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_!#$%&'*+.^`|~".contains(&b)) {
                    Ok(n.to_ascii_lowercase())
                } else {
                    Err(format!("`{n}` is not a valid HTTP header name"))
                }
            },
            self.sink,
        )?;
        let exact = read::string_prop(node, "exact", None, self.sink);
        let prefix = read::string_prop(node, "prefix", None, self.sink);
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
}

/// Declared statuses replace the defaults with the same status.
fn merge(defaults: ErrorFormat, declared: ErrorFormat) -> ErrorFormat {
    let mut statuses = declared.statuses;
    for d in defaults.statuses {
        if !statuses.iter().any(|s| s.status == d.status) {
            statuses.push(d);
        }
    }
    statuses.sort_by_key(|s| s.status);
    ErrorFormat { format: declared.format, statuses }
}

fn check_path(path: &str) -> Result<(), String> {
    if path.starts_with('/') && !path.contains(|c: char| c.is_whitespace() || c == '?' || c == '#') {
        Ok(())
    } else {
        Err(format!("`{path}` is not a request path: it must start with `/` and hold no spaces, `?` or `#`"))
    }
}
