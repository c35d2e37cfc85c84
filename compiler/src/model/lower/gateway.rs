//! `gateway` nodes: listeners, error formats, `host` blocks and routes.

use std::ops::Deref;

use std::collections::HashMap;
use std::net::IpAddr;

use super::read::{self, Once};
use super::{declare_once, Decls, Lower};
use crate::base::{Span, Spanned};
use crate::diag::{Code, Diagnostic};
use crate::model::identity::Identity;
use crate::model::security::{AuditSink, RateLimitService};
use crate::model::values::{check_name, Domain, ErrorBodyFormat, Host, Port};
use crate::model::{Endpoint, ErrorFormat, ErrorStatus, Gateway, Listener, Route, VirtualHost, VirtualHostId};
use crate::syntax::Node;

const CHILDREN: &[&str] = &[
    "listener",
    "error-format",
    "validator",
    "rate-limit-service",
    "audit-log",
    "route",
    "host",
    "identity",
    "tracing",
    "admin-port",
];

impl<D: Deref<Target = Decls>> Lower<'_, D> {
    pub(super) fn gateway(&mut self, node: &Node, name: Spanned<String>) -> Option<Gateway> {
        read::check_entries(node, 1, &[], self.sink);
        let name_ok = read::parse(&name, |n| check_name(n), self.sink).is_some();
        let mut once = Once::default();
        let mut listeners: Vec<Listener> = Vec::new();
        let mut listener_names: HashMap<String, Span> = HashMap::new();
        let mut routes: Vec<Route> = Vec::new();
        let mut route_names: HashMap<String, Span> = HashMap::new();
        let mut errors = ErrorFormat::default_json();
        let mut errors_declared = None;
        let mut validator = None;
        let mut identity_node = None;
        let mut rate_limit_service = None;
        let mut audit_log = AuditSink::Stdout;
        let mut tracing = Some(Default::default());
        let mut admin_port = None;
        // Gateway-wide settings first: routes inherit the gateway's body format.
        for child in node.children() {
            match child.name.as_str() {
                "listener" => {
                    if let Some(l) = self.listener(child) {
                        let what = ("listener", l.name.value.as_str());
                        if declare_once(&mut listener_names, l.name.value.clone(), l.name.span, what, self.sink) {
                            listeners.push(l);
                        }
                    }
                }
                "error-format" if once.first(child, self.sink) => {
                    if let Some(declared) = self.error_format(child, ErrorBodyFormat::Json) {
                        errors = merge(errors, declared);
                        errors_declared = Some(child.span);
                    }
                }
                "validator" if once.first(child, self.sink) => {
                    read::check_entries(child, 0, &["address", "port"], self.sink);
                    read::no_children(child, self.sink);
                    let example = "validator address=\"127.0.0.1\" port=9191";
                    let port = read::int_prop(child, "port", Some(example), self.sink)
                        .and_then(|p| read::parse(&p, |p| Port::new(*p), self.sink));
                    let host = match read::string_prop(child, "address", None, self.sink) {
                        Some(a) => read::parse(&a, |a| Host::parse(a), self.sink),
                        None if child.property("address").is_some() => None,
                        None => Host::parse("127.0.0.1").ok(),
                    };
                    if let (Some(host), Some(port)) = (host, port) {
                        validator = Some(Spanned::new(Endpoint { host, port }, child.span));
                    }
                }
                "identity" if once.first(child, self.sink) => identity_node = Some(child),
                "admin-port" if once.first(child, self.sink) => {
                    read::check_entries(child, 1, &[], self.sink);
                    read::no_children(child, self.sink);
                    admin_port = read::int_arg(child, 0, "a port", "admin-port 9901", self.sink).and_then(|p| {
                        read::parse(&p, |n| Port::new(*n), self.sink).map(|port| Spanned::new(port, p.span))
                    });
                }
                "rate-limit-service" if once.first(child, self.sink) => {
                    read::check_entries(child, 0, &["address", "port"], self.sink);
                    read::no_children(child, self.sink);
                    let example = "rate-limit-service address=\"ratelimit.infra.svc.cluster.local\" port=8081";
                    let port = read::int_prop(child, "port", Some(example), self.sink)
                        .and_then(|p| read::parse(&p, |p| Port::new(*p), self.sink));
                    let host = read::string_prop(child, "address", Some(example), self.sink)
                        .and_then(|a| read::parse(&a, |a| Host::parse(a), self.sink));
                    if let (Some(host), Some(port)) = (host, port) {
                        rate_limit_service = Some(RateLimitService { host, port, span: child.span });
                    }
                }
                "audit-log" if once.first(child, self.sink) => {
                    read::check_entries(child, 0, &["path"], self.sink);
                    read::no_children(child, self.sink);
                    if let Some(path) = read::string_prop(child, "path", None, self.sink) {
                        match path.value.starts_with('/') && !path.value.contains('%') {
                            true => audit_log = AuditSink::File(path.value),
                            false => self.sink.push(
                                Diagnostic::new(Code::InvalidValue, format!("`{}` is not an absolute file path", path.value))
                                    .at(path.span, "not an absolute path")
                                    .help("give the file the gateway appends audit records to, e.g. path=\"/var/log/meshc/audit.log\"; without `path` they go to stdout"),
                            ),
                        }
                    }
                }
                "tracing" if once.first(child, self.sink) => {
                    tracing = self.own_tracing(child, super::tracing::Owner::Gateway);
                }
                "route" | "host" | "error-format" | "validator" | "rate-limit-service" | "audit-log" | "identity"
                | "tracing" | "admin-port" => {}
                _ => read::unknown_child(child, "gateway", CHILDREN, self.sink),
            }
        }
        // Routes in spec order, those of `host` blocks where the block stands.
        let mut virtual_hosts = Vec::new();
        for child in node.children() {
            let (route_nodes, virtual_host) = match child.name.as_str() {
                "route" => (std::slice::from_ref(child), None),
                "host" => {
                    let id = VirtualHostId::new(virtual_hosts.len());
                    virtual_hosts.push(self.virtual_host(child));
                    (child.children(), Some(id))
                }
                _ => continue,
            };
            for route_node in route_nodes {
                if route_node.name != "route" {
                    read::unknown_child(route_node, "host", &["route"], self.sink);
                    continue;
                }
                let Some(r) = self.route(route_node, errors.format, virtual_host) else { continue };
                if declare_once(
                    &mut route_names,
                    r.name.value.clone(),
                    r.name.span,
                    ("route", &r.name.value),
                    self.sink,
                ) {
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
        // The statuses the gateway's own security answers get bodies too.
        let mut defaults = Vec::new();
        if routes.iter().any(|r| r.auth.is_some()) {
            defaults.push(ErrorStatus { status: 401, message: "a valid access token is required".into() });
            defaults.push(ErrorStatus { status: 403, message: "the access token does not allow this request".into() });
        }
        if routes.iter().any(|r| !r.rate_limits.is_empty()) {
            defaults.push(ErrorStatus { status: 429, message: "too many requests; slow down and retry later".into() });
        }
        let errors = merge(ErrorFormat { format: errors.format, statuses: defaults }, errors);
        let identity = self.identity(identity_node, Identity::ingress_gateway())?;
        name_ok.then_some(Gateway {
            name,
            listeners,
            routes,
            virtual_hosts,
            errors,
            errors_declared,
            validator,
            rate_limit_service,
            audit_log,
            identity,
            tracing: tracing?,
            admin_port,
            span: node.span,
        })
    }

    /// `host "api.example.com" "*.example.com" { route ... }`: the block's
    /// hosts (its routes are read by the caller). Invalid hosts are reported
    /// and left out.
    fn virtual_host(&mut self, node: &Node) -> VirtualHost {
        read::check_entries(node, usize::MAX, &[], self.sink);
        let mut domains = Vec::new();
        for (i, _) in node.arguments().enumerate() {
            let example = "host \"api.shop.example\" \"*.api.shop.example\" { route ... }";
            let Some(text) = read::string_arg(node, i, "a host", example, self.sink) else { continue };
            if let Some(domain) = read::parse(&text, |t| Domain::parse(t), self.sink) {
                domains.push(Spanned::new(domain, text.span));
            }
        }
        if node.arguments().next().is_none() {
            self.sink.push(
                Diagnostic::new(Code::MissingRequired, "`host` names no host")
                    .at(node.name_span, "no host")
                    .help("name the hosts its routes serve: host \"api.shop.example\" { route ... }; routes outside a `host` block serve every host"),
            );
        }
        VirtualHost { domains, span: node.span }
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
    pub(super) fn error_format(&mut self, node: &Node, default: ErrorBodyFormat) -> Option<ErrorFormat> {
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
            if !declare_once(&mut seen, status.value, status.span, ("status", &status.value.to_string()), self.sink) {
                continue;
            }
            statuses.push(ErrorStatus { status: status.value, message: message.value });
        }
        statuses.sort_by_key(|s| s.status);
        Some(ErrorFormat { format, statuses })
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
