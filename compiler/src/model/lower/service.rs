//! `service` nodes: owner, address, APIs, calls, and the topics it
//! publishes and subscribes to.

use std::ops::Deref;

use std::collections::HashMap;

use super::evolution::Owner;
use super::monitoring::Scope;
use super::read::{self, Once};
use super::{declare_once, Decls, Lower};
use crate::base::{Span, Spanned};
use crate::diag::suggestion;
use crate::diag::{Code, Diagnostic, Sink};
use crate::model::api_versions::Evolution;
use crate::model::identity::Identity;
use crate::model::values::{
    check_api_name, check_label, check_name, check_port_name, ApiKind, GraphqlRoot, Host, Operation, Port,
};
use crate::model::{
    Address, Api, Call, CallOrigin, MeshMember, Placement, PortId, PortProtocol, Resolver, Service, ServiceId,
    ServicePort, TokenPassing,
};
use crate::syntax::{Node, Value};

/// What a sidecar's audit record holds unless `fields` says otherwise.
const SIDECAR_AUDIT: &[&str] = &["time", "caller", "method", "path", "status", "verdict", "duration", "trace-id"];

const CHILDREN: &[&str] = &[
    "owner",
    "address",
    "port",
    "endpoints",
    "api",
    "calls",
    "call-defaults",
    "traffic",
    "sidecar",
    "versions",
    "identity",
    "mtls",
    "authorization",
    "require-token",
    "caller-limit",
    "audit",
    "external",
    "publishes",
    "subscribes",
    "tracing",
    "slo",
    "slo-exempt",
    "alert",
    "data-class",
    "labels",
];

/// Labels meshc sets on a service's Kubernetes objects itself.
const RESERVED_LABELS: &[&str] = &["app", "version"];

use super::tracing::Owner as TraceOwner;

impl<D: Deref<Target = Decls>> Lower<'_, D> {
    /// Every property of `node` as a label `key="value"` (a service's
    /// `labels`, a role's `label`), sorted by key; `None` when one is
    /// invalid or repeated (reported), or there is none.
    pub(super) fn labels(&mut self, node: &Node, example: &str) -> Option<Vec<(String, String)>> {
        let mut labels = Vec::new();
        let mut seen: HashMap<String, Span> = HashMap::new();
        let mut failed = false;
        for entry in &node.entries {
            let (Some(key), crate::syntax::Value::String(value)) = (entry.name.as_deref(), &entry.value) else {
                self.sink.push(
                    Diagnostic::new(
                        Code::InvalidValue,
                        format!("`{}` takes labels as key=\"value\" properties", node.name),
                    )
                    .at(entry.span, "not a key=\"value\" property")
                    .help(format!("write {example}")),
                );
                failed = true;
                continue;
            };
            if let Err(message) = check_label(key, value) {
                self.sink.push(
                    Diagnostic::new(Code::InvalidValue, message)
                        .at(entry.span, "not a Kubernetes label")
                        .help("keys and values are up to 63 letters, digits, `-`, `_` and `.`, alphanumeric at both ends (a key may have a DNS prefix: `example.com/tier`)"),
                );
                failed = true;
                continue;
            }
            if declare_once(&mut seen, key.to_string(), entry.span, ("label", key), self.sink) {
                labels.push((key.to_string(), value.clone()));
            } else {
                failed = true;
            }
        }
        if labels.is_empty() && !failed {
            self.sink.push(
                Diagnostic::new(Code::MissingRequired, format!("`{}` names no label", node.name))
                    .at(node.name_span, "empty")
                    .help(format!("write {example}")),
            );
            return None;
        }
        labels.sort();
        (!failed).then_some(labels)
    }

    /// `address HOST port=N protocol=P`: the host, and its one port when
    /// `port=` is given (else the service's `port` nodes list them);
    /// `None` when invalid.
    fn address(&mut self, node: &Node) -> Option<(Spanned<Host>, Option<ServicePort>)> {
        read::check_entries(node, 1, &["port", "protocol"], self.sink);
        read::no_children(node, self.sink);
        let host = read::string_arg(node, 0, "a hostname", "address \"orders.svc\" port=8080", self.sink);
        let host = host.and_then(|h| read::parse(&h, |t| Host::parse(t), self.sink).map(|v| Spanned::new(v, h.span)));
        let port = match read::int_prop(node, "port", None, self.sink) {
            Some(p) => Some(read::parse(&p, |p| Port::new(*p), self.sink)),
            None if node.property("port").is_some() => Some(None),
            None => None,
        };
        let protocol = self.tcp_protocol(node);
        if port.is_none() && node.property("protocol").is_some() {
            self.sink.push(
                Diagnostic::new(Code::UnknownProperty, "`protocol` names the protocol of the address's `port`")
                    .at(node.span, "no `port=` here")
                    .help("give it on the `port` node it describes: port \"cache\" 6379 protocol=\"redis\""),
            );
            return None;
        }
        let port = match port {
            Some(number) => Some(ServicePort { name: None, number: number?, protocol: protocol?, span: node.span }),
            None => None,
        };
        Some((host?, port))
    }

    /// `port NAME N protocol=P` in a service: one of several ports.
    fn named_port(&mut self, node: &Node) -> Option<ServicePort> {
        read::check_entries(node, 2, &["protocol"], self.sink);
        read::no_children(node, self.sink);
        let example = "port \"grpc\" 9000";
        let name = read::string_arg(node, 0, "a port name", example, self.sink)
            .filter(|n| read::parse(n, |t| check_port_name(t), self.sink).is_some());
        let number = read::int_arg(node, 1, "a port number", example, self.sink)
            .and_then(|p| read::parse(&p, |p| Port::new(*p), self.sink));
        let protocol = self.tcp_protocol(node);
        Some(ServicePort { name: Some(name?), number: number?, protocol: protocol?, span: node.span })
    }

    /// A port's protocol before its APIs are known: plain TCP under the
    /// name `protocol=` gives, else HTTP.
    fn tcp_protocol(&mut self, node: &Node) -> Option<PortProtocol> {
        match read::string_prop(node, "protocol", None, self.sink) {
            Some(p) => read::parse(&p, |t| check_port_name(t), self.sink).map(|()| PortProtocol::Tcp(p)),
            None if node.property("protocol").is_some() => None,
            None => Some(PortProtocol::Http),
        }
    }

    /// The address with its ports (`port=`, or the `port` nodes), each
    /// API on its port, and each port's protocol from the APIs on it.
    fn with_ports(
        &mut self,
        address: Option<(Spanned<Host>, Option<ServicePort>)>,
        named: Vec<ServicePort>,
        apis: &mut [Api],
        api_ports: &[Option<Spanned<String>>],
    ) -> Option<Spanned<Address>> {
        let (host, own) = address?;
        let ports = match (own, named.is_empty()) {
            (Some(port), true) => vec![port],
            (None, false) => named,
            (Some(port), false) => {
                self.sink.push(
                    Diagnostic::new(Code::InvalidValue, "the service gives its ports twice")
                        .at(port.span, "`port=` here")
                        .with_label(named[0].span, "and `port` nodes")
                        .help("remove `port=` from the address, or the `port` nodes"),
                );
                return None;
            }
            (None, true) => {
                self.sink.push(
                    Diagnostic::new(Code::MissingRequired, "the service's address has no port")
                        .at(host.span, "no port")
                        .help("add it: address \"orders.svc\" port=8080; or list named ports: port \"grpc\" 9000"),
                );
                return None;
            }
        };
        let mut failed = false;
        let mut kinds: Vec<Vec<ApiKind>> = vec![Vec::new(); ports.len()];
        for (api, port) in apis.iter_mut().zip(api_ports) {
            match self.api_port(api, port.as_ref(), &ports) {
                Some(id) => {
                    api.port = id;
                    kinds[id.index()].push(api.kind);
                }
                None => failed = true,
            }
        }
        let mut ports = ports;
        for (port, kinds) in ports.iter_mut().zip(kinds) {
            if kinds.is_empty() {
                continue;
            }
            if let PortProtocol::Tcp(protocol) = &port.protocol {
                self.sink.push(
                    Diagnostic::new(
                        Code::InvalidValue,
                        "`protocol` marks a plain-TCP port, but an API is served on it",
                    )
                    .at(protocol.span, "this port serves an API")
                    .help("remove `protocol`: the port carries its APIs' HTTP or gRPC"),
                );
                failed = true;
            }
            let grpc = kinds.contains(&ApiKind::Grpc);
            let http = kinds.iter().any(|k| *k != ApiKind::Grpc);
            port.protocol = match (grpc, http) {
                (true, true) => PortProtocol::Http2,
                (true, false) => PortProtocol::Grpc,
                _ => PortProtocol::Http,
            };
        }
        let span = host.span;
        (!failed).then(|| Spanned::new(Address { host: host.value, ports }, span))
    }

    /// The port an API is served on: its `port=`, else the only one.
    fn api_port(&mut self, api: &Api, wanted: Option<&Spanned<String>>, ports: &[ServicePort]) -> Option<PortId> {
        match wanted {
            Some(wanted) => port_ref(wanted, ports, self.sink),
            None if ports.len() == 1 => Some(PortId::new(0)),
            None => {
                self.sink.push(
                    Diagnostic::new(Code::MissingRequired, format!("API `{}` does not say its port", api.name.value))
                        .at(api.name.span, "the service listens on several ports")
                        .help(format!("add port=\"{}\"", ports[0].label())),
                );
                None
            }
        }
    }

    /// The `resolve` children of each GraphQL `api` of a service node, by API
    /// name; unresolved ones are left out.
    pub(super) fn resolvers(&mut self, node: &Node) -> Vec<(String, Vec<Resolver>)> {
        let graphql_apis = node.children().iter().filter(|c| {
            c.name == "api" && matches!(c.property("kind").map(|e| &e.value), Some(Value::String(k)) if k == "graphql")
        });
        let mut out = Vec::new();
        for api in graphql_apis {
            let Some(Value::String(api_name)) = api.arguments().next().map(|e| &e.value) else { continue };
            let mut fields: HashMap<String, Span> = HashMap::new();
            let mut resolvers = Vec::new();
            for child in api.children().iter().filter(|c| c.name == "resolve") {
                let Some(resolver) = self.resolver(child) else { continue };
                let key = resolver.field.value.to_string();
                if declare_once(&mut fields, key.clone(), resolver.field.span, ("resolver for", &key), self.sink) {
                    resolvers.push(resolver);
                }
            }
            out.push((api_name.clone(), resolvers));
        }
        out
    }

    fn resolver(&mut self, node: &Node) -> Option<Resolver> {
        read::check_entries(node, 1, &["service", "operation", "body", "timeout"], self.sink);
        read::no_children(node, self.sink);
        let example = "resolve \"Query.product\" service=\"catalog\" operation=\"GET /products/{id}\"";
        let field = read::string_arg(node, 0, "a GraphQL root field", example, self.sink);
        let field = field.and_then(|f| {
            let parsed = read::parse(
                &f,
                |text| match Operation::parse(text)? {
                    op @ Operation::Graphql { root: GraphqlRoot::Query | GraphqlRoot::Mutation, .. } => Ok(op),
                    Operation::Graphql { .. } => Err(format!(
                        "`{text}`: subscriptions cannot be resolved by a request/response operation; resolve Query and Mutation fields"
                    )),
                    other => Err(format!(
                        "`{text}` is a {} operation; `resolve` names a field of this GraphQL API, e.g. `Query.product`",
                        other.kind()
                    )),
                },
                self.sink,
            );
            parsed.map(|op| Spanned::new(op, f.span))
        });
        let target = read::string_prop(node, "service", Some(example), self.sink);
        let operation = read::string_prop(node, "operation", Some(example), self.sink).and_then(|text| {
            let parsed = read::parse(
                &text,
                |t| match Operation::parse(t)? {
                    Operation::Graphql { .. } => {
                        Err(format!("`{t}` is a GraphQL operation; a resolver fetches from a REST or gRPC operation"))
                    }
                    op => Ok(op),
                },
                self.sink,
            );
            parsed.map(|op| Spanned::new(op, text.span))
        });
        let body = read::string_prop(node, "body", None, self.sink);
        if let (Some(body), Some(op)) = (&body, &operation) {
            if op.value.kind() != ApiKind::Rest {
                self.sink.push(
                    Diagnostic::new(Code::InvalidValue, "`body` applies to REST operations")
                        .at(body.span, "not a REST operation")
                        .help("a gRPC operation takes all the field's arguments as its request message; remove `body`"),
                );
                return None;
            }
        }
        let timeout = self.duration_prop(node, "timeout");
        let target = self.service_ref(&target?)?;
        let operation = operation?;
        let port = self.call_port(node, target.value, None, Some(&operation))?;
        Some(Resolver { field: field?, target, operation, port, body, timeout: timeout?, span: node.span })
    }

    /// The `calls` children of a service node; unresolved ones are left out.
    pub(super) fn calls(&mut self, node: &Node) -> Vec<Call> {
        let caller = match node.arguments().next().map(|e| &e.value) {
            Some(Value::String(name)) => name.clone(),
            _ => String::new(),
        };
        node.children().iter().filter(|c| c.name == "calls").filter_map(|c| self.call(&caller, c)).collect()
    }

    fn call(&mut self, caller: &str, node: &Node) -> Option<Call> {
        read::check_entries(
            node,
            1,
            &[
                "operation",
                "port",
                "timeout",
                "idle-timeout",
                "local-port",
                "idempotent",
                "for",
                "forward-token",
                "exchange-token",
                "audience",
                "background",
                "api-version",
            ],
            self.sink,
        );
        let mut retries = Some(None);
        let mut load = Some(None);
        let mut once = Once::default();
        for child in node.children() {
            match child.name.as_str() {
                "retries" if once.first(child, self.sink) => retries = self.retries(child).map(Some),
                "load" if once.first(child, self.sink) => load = self.load(child).map(Some),
                "fallback" if once.first(child, self.sink) => {}
                "retries" | "load" | "fallback" => {}
                "alert" | "slo" | "slo-exempt" | "reads" | "example" => {}
                _ => read::unknown_child(
                    child,
                    "calls",
                    &["retries", "load", "alert", "reads", "example", "fallback"],
                    self.sink,
                ),
            }
        }
        let idempotent = read::bool_prop(node, "idempotent", self.sink);
        let forward_token = read::bool_prop(node, "forward-token", self.sink);
        let background = read::bool_prop(node, "background", self.sink);
        let exchange_token = self.call_exchange(node);
        let target = read::string_arg(
            node,
            0,
            "a target service",
            "calls \"payments\" operation=\"pay.v1.Payments/Charge\"",
            self.sink,
        )?;
        let operation = self.operation_prop(node);
        let serving = match read::string_prop(node, "for", None, self.sink) {
            None if node.property("for").is_some() => None,
            None => Some(None),
            Some(text) => {
                read::parse(&text, |t| Operation::parse(t), self.sink).map(|op| Some(Spanned::new(op, text.span)))
            }
        };
        let timeout = self.spanned_duration(node, "timeout");
        let idle_timeout = self.spanned_duration(node, "idle-timeout");
        let local_port = match read::int_prop(node, "local-port", None, self.sink) {
            Some(p) => read::parse(&p, |n| Port::new(*n), self.sink).map(|port| Some(Spanned::new(port, p.span))),
            None if node.property("local-port").is_some() => None,
            None => Some(None),
        };
        let port_name = match read::string_prop(node, "port", None, self.sink) {
            Some(p) => Some(Some(p)),
            None if node.property("port").is_some() => None,
            None => Some(None),
        };
        let target = self.service_ref(&target)?;
        let invalid = |key: &str, value: &Option<Spanned<bool>>| node.property(key).is_some() && value.is_none();
        if invalid("idempotent", &idempotent)
            || invalid("forward-token", &forward_token)
            || invalid("background", &background)
        {
            return None;
        }
        let operation = operation?;
        let api_version = self.call_api_version(caller, node, target.value, operation.as_ref().map(|o| &o.value))?;
        let port = self.call_port(node, target.value, port_name?.as_ref(), operation.as_ref())?;
        let callee = self.d.model.service(target.value);
        let tcp = !callee.port(port).protocol.is_http();
        if tcp {
            let http_only = [
                ("operation", operation.is_some()),
                ("timeout", node.property("timeout").is_some()),
                ("forward-token", forward_token.as_ref().is_some_and(|b| b.value)),
                ("exchange-token", node.property("exchange-token").is_some()),
            ];
            let found = http_only.iter().find(|(_, set)| *set).map(|(key, _)| node.property(key).map(|e| e.span));
            let retries_node =
                node.children().iter().find(|c| c.name == "retries" || c.name == "fallback").map(|c| c.span);
            if let Some(span) = found.flatten().or(retries_node) {
                let tcp_port = callee.port(port);
                let protocol_span = match &tcp_port.protocol {
                    PortProtocol::Tcp(protocol) => protocol.span,
                    _ => tcp_port.span,
                };
                self.sink.push(
                    Diagnostic::new(
                        Code::HttpSettingOnTcp,
                        format!(
                            "`{}` takes plain TCP on port `{}`: this setting is HTTP's",
                            callee.name.value,
                            tcp_port.label()
                        ),
                    )
                    .at(span, "HTTP and gRPC only")
                    .with_label(protocol_span, "a plain-TCP port")
                    .help("remove it: the sidecars proxy a TCP connection byte for byte; `idle-timeout` closes a silent one"),
                );
                return None;
            }
        } else if let Some(local) = local_port.as_ref().and_then(|p| p.as_ref()) {
            self.sink.push(
                Diagnostic::new(Code::UnknownProperty, "`local-port` applies to TCP calls")
                    .at(local.span, "this call is HTTP")
                    .help("remove it: the app sends HTTP and gRPC calls to the sidecar's outbound port with the callee's name as host"),
            );
            return None;
        }
        let alerts = self.objectives(node, Scope::Call)?.alerts;
        let contract = self.contract(node, operation.is_some())?;
        let fallback = self.fallback(node, operation.as_ref())?;
        Some(Call {
            target,
            port,
            tcp,
            operation,
            api_version,
            timeout: timeout?,
            idle_timeout: idle_timeout?,
            local_port: local_port?,
            retries: retries?,
            load: load?,
            serving: serving?,
            idempotent: idempotent.is_some_and(|b| b.value),
            token: match (exchange_token?, forward_token.is_some_and(|b| b.value)) {
                (Some(exchange), _) => TokenPassing::Exchange(exchange),
                (None, true) => TokenPassing::Forward,
                (None, false) => TokenPassing::None,
            },
            background: background.is_some_and(|b| b.value),
            origin: CallOrigin::Declared,
            alerts,
            contract,
            fallback,
            span: node.span,
        })
    }

    /// The target's port a call goes to: its `port=`, else its
    /// operation's API's, else the target's only one; the target must listen.
    pub(super) fn call_port(
        &mut self,
        node: &Node,
        target: ServiceId,
        wanted: Option<&Spanned<String>>,
        operation: Option<&Spanned<Operation>>,
    ) -> Option<PortId> {
        let callee = self.d.model.service(target);
        let Some(address) = &callee.address else {
            let name = callee.name.clone();
            self.sink.push(
                Diagnostic::new(Code::TargetListensNowhere, format!("service `{}` listens nowhere", name.value))
                    .at(node.span, "calls it")
                    .with_label(name.span, "declared without an address")
                    .help(format!(
                        "give it an address (address \"{}.NAMESPACE.svc.cluster.local\" port=PORT), or call another service",
                        name.value
                    )),
            );
            return None;
        };
        let ports = &address.value.ports;
        if let Some(wanted) = wanted {
            return port_ref(wanted, ports, self.sink);
        }
        let by_operation = operation.and_then(|op| callee.apis.iter().find(|a| a.serves(&op.value))).map(|a| a.port);
        match by_operation {
            Some(port) => Some(port),
            None if ports.len() == 1 => Some(PortId::new(0)),
            // An operation no API serves is reported by the checks; any port will do until then.
            None if operation.is_some() => callee.apis.first().map(|a| a.port).or(Some(PortId::new(0))),
            None => {
                let names: Vec<String> = ports.iter().map(|p| format!("`{}`", p.label())).collect();
                self.sink.push(
                    Diagnostic::new(
                        Code::MissingRequired,
                        format!("`{}` listens on several ports: which one does the call go to?", callee.name.value),
                    )
                    .at(node.span, "no port or operation")
                    .help(format!(
                        "add port=\"{}\" (its ports: {})",
                        ports[0].label(),
                        names.join(", ")
                    )),
                );
                None
            }
        }
    }
}

/// Resolves a port name among a service's ports.
fn port_ref(wanted: &Spanned<String>, ports: &[ServicePort], sink: &mut Sink) -> Option<PortId> {
    if let Some(i) = ports.iter().position(|p| p.name.as_ref().is_some_and(|n| n.value == wanted.value)) {
        return Some(PortId::new(i));
    }
    let names: Vec<String> = ports.iter().filter_map(|p| p.name.as_ref().map(|n| n.value.clone())).collect();
    let help = if names.is_empty() {
        Some("its only port is the address's `port=`; remove `port`, or name ports with `port` nodes".to_string())
    } else {
        suggestion(&wanted.value, names.iter().map(String::as_str))
    };
    sink.push(
        Diagnostic::new(Code::UnknownPort, format!("no port named `{}`", wanted.value))
            .at(wanted.span, "unknown port")
            .help_opt(help),
    );
    None
}

/// A fully qualified protobuf service name: `package.Service`.
fn check_grpc_service(text: &str) -> Result<(), String> {
    let ident = |s: &str| {
        !s.is_empty()
            && !s.starts_with(|c: char| c.is_ascii_digit())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if text.split('.').all(ident) {
        Ok(())
    } else {
        Err(format!(
            "`{text}` is not a protobuf service name; write it fully qualified, e.g. `shop.payments.v1.Payments`"
        ))
    }
}

/// What declares or records: needs the declarations mutably.
impl Lower<'_> {
    /// A service without its calls (those need every service's id; see `calls`).
    pub(super) fn service(&mut self, node: &Node, name: Spanned<String>) -> Option<Service> {
        read::check_entries(node, 1, &[], self.sink);
        let name_ok = read::parse(&name, |n| check_name(n), self.sink).is_some();
        let mut once = Once::default();
        let mut owner = None;
        let mut address = None;
        let mut ports: Vec<ServicePort> = Vec::new();
        let mut port_names: HashMap<String, Span> = HashMap::new();
        let mut apis = Vec::new();
        // Each API's `port=`, resolved once the address's ports are known.
        let mut api_ports = Vec::new();
        let mut api_names: HashMap<String, Span> = HashMap::new();
        // Each API version's `deployment=`, resolved once the service's versions are known.
        let mut api_deployments = Vec::new();
        let mut call_defaults = Some(Default::default());
        let mut traffic_node = None;
        let mut sidecar = Some(Default::default());
        let mut endpoints_node = None;
        let mut versions_node = None;
        let mut identity_node = None;
        let mut mtls = Some(None);
        let mut require_token = Some(None);
        let mut caller_limit = Some(None);
        let mut audit = Some(None);
        let mut external = None;
        let mut tracing_node = None;
        let mut labels = Some(Vec::new());
        for child in node.children() {
            match child.name.as_str() {
                "owner" if once.first(child, self.sink) => {
                    read::check_entries(child, 1, &[], self.sink);
                    read::no_children(child, self.sink);
                    owner = read::string_arg(child, 0, "a team name", "owner \"team-orders\"", self.sink);
                }
                // `Some(None)`: present but invalid (reported).
                "address" if once.first(child, self.sink) => address = Some(self.address(child)),
                "port" => {
                    if let Some(port) = self.named_port(child) {
                        let name = port.name.as_ref().expect("`port` nodes name their port");
                        let what = ("port", name.value.as_str());
                        if declare_once(&mut port_names, name.value.clone(), name.span, what, self.sink) {
                            ports.push(port);
                        }
                    }
                }
                "api" => match self.api(child) {
                    Some((api, port, deployments)) => {
                        let what = ("api", api.name.value.as_str());
                        if declare_once(&mut api_names, api.name.value.clone(), api.name.span, what, self.sink) {
                            apis.push(api);
                            api_ports.push(port);
                            api_deployments.push(deployments);
                        }
                    }
                    None => {
                        self.d.services_with_failed_apis.insert(name.value.clone());
                    }
                },
                "call-defaults" if once.first(child, self.sink) => call_defaults = self.call_defaults(child),
                "traffic" if once.first(child, self.sink) => traffic_node = Some(child),
                "versions" if once.first(child, self.sink) => versions_node = Some(child),
                "identity" if once.first(child, self.sink) => identity_node = Some(child),
                "mtls" if once.first(child, self.sink) => mtls = self.mode_node(child).map(Some),
                "require-token" if once.first(child, self.sink) => require_token = self.require_token(child).map(Some),
                "caller-limit" if once.first(child, self.sink) => caller_limit = self.caller_limit(child).map(Some),
                "labels" if once.first(child, self.sink) => {
                    read::no_children(child, self.sink);
                    labels = self.labels(child, "labels tier=\"backend\"");
                    if let Some(reserved) = labels.iter().flatten().find(|(k, _)| RESERVED_LABELS.contains(&k.as_str()))
                    {
                        let entry = child.entries.iter().find(|e| e.name.as_deref() == Some(reserved.0.as_str()));
                        self.sink.push(
                            Diagnostic::new(Code::InvalidValue, format!("meshc sets the label `{}` itself", reserved.0))
                                .at(entry.map_or(child.span, |e| e.span), "reserved")
                                .help("`app` is the service's name and `version` a version's (its Kubernetes Services select pods by them); choose another key"),
                        );
                        labels = None;
                    }
                }
                "audit" if once.first(child, self.sink) => {
                    audit = self.audit(child, SIDECAR_AUDIT).map(|a| Some(Box::new(a)))
                }
                "external" if once.first(child, self.sink) => {
                    read::check_entries(child, 0, &[], self.sink);
                    read::no_children(child, self.sink);
                    external = Some(child.span);
                }
                // Lowered with the calls: it names other services.
                "authorization" if once.first(child, self.sink) => {}
                "sidecar" if once.first(child, self.sink) => sidecar = self.sidecar(child),
                // Read once `external` is known: it decides what may be said.
                "tracing" if once.first(child, self.sink) => tracing_node = Some(child),
                "endpoints" if once.first(child, self.sink) => endpoints_node = Some(child),
                // Lowered once every service has its id (`event_links`).
                "publishes" | "subscribes" => {}
                // Lowered together below.
                "slo" | "slo-exempt" | "alert" => {}
                // Lowered with the compliance declarations: it names a data class.
                "data-class" => {}
                "calls" | "owner" | "address" | "call-defaults" | "traffic" | "sidecar" | "endpoints" | "versions"
                | "tracing" => {}
                _ => read::unknown_child(child, "service", CHILDREN, self.sink),
            }
        }
        let has_address = node.children().iter().any(|c| c.name == "address");
        if !has_address {
            // A workload that listens nowhere: only what concerns its own calls applies.
            let inbound = [
                "port",
                "api",
                "endpoints",
                "versions",
                "traffic",
                "authorization",
                "require-token",
                "caller-limit",
                "audit",
                "external",
            ];
            if let Some(child) = node.children().iter().find(|c| inbound.contains(&c.name.as_str())) {
                self.sink.push(
                    Diagnostic::new(Code::MissingRequired, format!("service `{}` has no `address`", name.value))
                        .at(name.span, "declared without an address")
                        .with_label(child.name_span, format!("`{}` needs it to listen somewhere", child.name))
                        .help("add where its instances listen: address \"orders.shop.svc.cluster.local\" port=8080; a workload that listens nowhere (a consumer, a job) declares none of these"),
                );
                return None;
            }
        }
        let address = match address {
            Some(address) => Some(self.with_ports(address, ports, &mut apis, &api_ports)?),
            None if has_address => return None,
            None => None,
        };
        let single_port = address.as_ref().filter(|a| a.value.ports.len() == 1).map(|a| a.value.ports[0].number);
        // Versions first: endpoints and traffic rules refer to them.
        let versions = match versions_node {
            Some(node) => self.versions(node, address.as_ref().map(|a| &a.value.host), endpoints_node.is_some()),
            None => Some(Vec::new()),
        };
        // Without them, rules naming a version would only repeat the error.
        let versions = versions?;
        if !self.resolve_deployments(&mut apis, api_deployments, &versions) {
            return None;
        }
        let endpoints = match endpoints_node {
            Some(node) => self.endpoints(node, single_port, &versions),
            None => Some(Vec::new()),
        };
        let traffic = match traffic_node {
            Some(node) => self.traffic(node, &versions),
            None => Some(Default::default()),
        };
        if let Some(external) = external {
            // Settings of our proxy make no sense where we run none.
            let proxied = ["sidecar", "identity", "mtls", "authorization", "require-token", "caller-limit", "audit"];
            if let Some(child) = node.children().iter().find(|c| proxied.contains(&c.name.as_str())) {
                self.sink.push(
                    Diagnostic::new(
                        Code::UnknownNode,
                        format!("`{}` configures the service's proxy, but an external service runs none", child.name),
                    )
                    .at(child.name_span, "no proxy to configure")
                    .with_label(external, "declared external here")
                    .help("remove it, or remove `external` if the service runs in the mesh"),
                );
                return None;
            }
        }
        let tracing = match tracing_node {
            Some(node) => {
                let owner = if external.is_some() { TraceOwner::External } else { TraceOwner::MeshService };
                self.own_tracing(node, owner)
            }
            None => Some(Default::default()),
        };
        let objectives = self.objectives(node, Scope::Service);
        let host = address.as_ref().map(|a: &Spanned<Address>| &a.value.host);
        let identity = self.identity(identity_node, Identity::default_for(&name.value, host));
        let (call_defaults, traffic, sidecar, endpoints, identity, mtls, require_token, caller_limit) =
            (call_defaults?, traffic?, sidecar?, endpoints?, identity?, mtls?, require_token?, caller_limit?);
        let audit = audit?;
        let labels = labels?;
        let tracing = tracing?;
        let objectives = objectives?;
        if let (Some(limit), Some(address)) = (&caller_limit, &address) {
            if !address.value.ports.iter().any(|p| p.protocol.is_http()) {
                self.sink.push(
                    Diagnostic::new(Code::InvalidValue, "`caller-limit` counts HTTP requests, and the service serves none")
                        .at(limit.span, "no HTTP port")
                        .with_label(address.span, "plain TCP only")
                        .help("remove it: a TCP proxy has no requests to count (limit connections with `traffic { circuit-breaker max-connections= }`)"),
                );
                return None;
            }
        }
        if let (Some(audit), Some(address)) = (&audit, &address) {
            if !address.value.ports.iter().any(|p| p.protocol.is_http()) {
                self.sink.push(
                    Diagnostic::new(Code::InvalidValue, "`audit` records HTTP requests, and the service serves none")
                        .at(audit.span, "no HTTP port")
                        .with_label(address.span, "plain TCP only")
                        .help("remove it: its proxy sees connections, not requests, on a TCP port"),
                );
                return None;
            }
        }
        let port_count = address.as_ref().map_or(0, |a| a.value.ports.len());
        if sidecar.inbound_ports(port_count).is_none() {
            self.sink.push(
                Diagnostic::new(Code::InvalidValue, "the sidecar's inbound ports run past 65535")
                    .at(name.span, format!("{port_count} ports from inbound port {}", sidecar.inbound))
                    .help("each port of the service takes the next inbound port: choose a lower inbound-port"),
            );
            return None;
        }
        name_ok.then_some(Service {
            name,
            owner,
            address,
            apis,
            calls: Vec::new(),
            call_defaults,
            traffic,
            endpoints,
            versions,
            placement: match external {
                Some(span) => Placement::External { span },
                // Authorization is lowered last, with the gateways its rules name.
                None => Placement::Mesh(MeshMember {
                    sidecar,
                    identity,
                    mtls,
                    authorization: None,
                    require_token,
                    caller_limit,
                    audit,
                }),
            },
            tracing,
            objectives,
            labels,
            span: node.span,
        })
    }

    /// An `api` node, its `port=` (resolved with the address) and its
    /// versions' `deployment=` (resolved with the service's versions).
    #[allow(clippy::type_complexity)]
    fn api(&mut self, node: &Node) -> Option<(Api, Option<Spanned<String>>, Vec<Option<Spanned<String>>>)> {
        read::check_entries(node, 1, &["kind", "schema", "grpc-service", "port"], self.sink);
        let example = "api \"orders-http\" kind=\"rest\" schema=\"apis/orders.yaml\"";
        let name = read::string_arg(node, 0, "a name", example, self.sink)
            .filter(|name| read::parse(name, |n| check_api_name(n), self.sink).is_some());
        let kind = read::string_prop(node, "kind", Some(example), self.sink);
        // A versioned API names a schema per version.
        let versioned = node.children().iter().any(|c| c.name == "version");
        let schema = match (versioned, node.property("schema")) {
            (false, _) => read::string_prop(node, "schema", Some(example), self.sink),
            (true, None) => None,
            (true, Some(entry)) => {
                self.sink.push(
                    Diagnostic::new(Code::UnknownProperty, "a versioned API names a schema per version")
                        .at(entry.span, "the API's own schema")
                        .help("move it to the version it describes: version \"v1\" schema=\"...\" path-prefix=\"/v1\""),
                );
                return None;
            }
        };
        let kind = kind.and_then(|k| read::parse(&k, |k| ApiKind::parse(k), self.sink));
        let grpc_service = match read::string_prop(node, "grpc-service", None, self.sink) {
            Some(s) => {
                let checked = read::parse(
                    &s,
                    |text| match kind {
                        Some(ApiKind::Grpc) | None => check_grpc_service(text),
                        Some(other) => {
                            Err(format!("`grpc-service` applies to kind=\"grpc\" APIs; this API is {other}"))
                        }
                    },
                    self.sink,
                );
                Some(checked.map(|()| s)?)
            }
            None if node.property("grpc-service").is_some() => return None,
            None => None,
        };
        match kind {
            // `resolve` children are lowered with the calls, once every service has its id.
            Some(ApiKind::Graphql) => {
                for child in node.children().iter().filter(|c| c.name != "resolve" && c.name != "evolution") {
                    read::unknown_child(child, "api", &["resolve", "evolution"], self.sink);
                }
            }
            Some(other) => {
                if let Some(first) = node.children().iter().find(|c| c.name != "version" && c.name != "evolution") {
                    self.sink.push(
                        Diagnostic::new(Code::UnknownNode, format!("a {other} API takes no child node `{}`", first.name))
                            .at(first.name_span, "unexpected child")
                            .help("a REST or gRPC API takes `version` children (its API versions) and an `evolution` block; `resolve` composes GraphQL APIs only (kind=\"graphql\"), see docs/language.md"),
                    );
                }
            }
            None => {}
        }
        let versioned = kind != Some(ApiKind::Graphql) && node.children().iter().any(|c| c.name == "version");
        let versions = match kind {
            Some(kind) if versioned => Some(self.api_versions(node, kind)),
            _ => None,
        };
        let port_name = match read::string_prop(node, "port", None, self.sink) {
            Some(p) => Some(p),
            None if node.property("port").is_some() => return None,
            None => None,
        };
        let mut once = Once::default();
        let mut evolution = Evolution::default();
        for child in node.children().iter().filter(|c| c.name == "evolution") {
            if let (true, Some(kind)) = (once.first(child, self.sink), kind) {
                evolution = self.evolution(child, Owner::Api(kind));
            }
        }
        let (name, kind) = (name?, kind?);
        let (schema, versions, deployments) = match versions {
            Some(pending) => {
                let pending = pending?;
                let (versions, deployments): (Vec<_>, Vec<_>) =
                    pending.into_iter().map(|p| (p.version, p.deployment)).unzip();
                let mut api = Api {
                    name: name.clone(),
                    kind,
                    schema: versions[0].schema,
                    versions,
                    port: PortId::new(0),
                    grpc_service: None,
                    resolvers: Vec::new(),
                    evolution: Evolution::default(),
                };
                let current = api.current_version().expect("a versioned API has versions");
                api.schema = api.version(current).schema;
                (api.schema, api.versions, deployments)
            }
            None => {
                let schema = self.schema_ref(&schema?, kind.schema_format());
                self.d.model.schemas[schema.index()].named_by_api = true;
                (schema, Vec::new(), Vec::new())
            }
        };
        // The port is set with the service's address (`with_ports`).
        let port = PortId::new(0);
        let api = Api { name, kind, schema, versions, port, grpc_service, resolvers: Vec::new(), evolution };
        Some((api, port_name, deployments))
    }
}
