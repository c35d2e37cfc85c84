//! `service` nodes: owner, address, APIs, calls, and the topics it
//! publishes and subscribes to.

use std::collections::HashMap;

use super::read::{self, Once};
use super::{duplicate, Lower};
use crate::base::{Span, Spanned};
use crate::diag::{Code, Diagnostic};
use crate::model::identity::Identity;
use crate::model::values::{check_api_name, check_name, ApiKind, Duration, GraphqlRoot, Host, Operation, Port};
use crate::model::{Api, Call, CallOrigin, Endpoint, Resolver, Service, TopicId};
use crate::syntax::{Node, Value};

const CHILDREN: &[&str] = &[
    "owner",
    "address",
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
    "external",
    "publishes",
    "subscribes",
];

impl Lower<'_> {
    /// A service without its calls (those need every service's id; see `calls`).
    pub(super) fn service(&mut self, node: &Node, name: Spanned<String>) -> Option<Service> {
        read::check_entries(node, 1, &[], self.sink);
        let name_ok = read::parse(&name, |n| check_name(n), self.sink).is_some();
        let mut once = Once::default();
        let mut owner = None;
        let mut address = None;
        let mut apis = Vec::new();
        let mut api_names: HashMap<String, Span> = HashMap::new();
        let mut call_defaults = Some(Default::default());
        let mut traffic_node = None;
        let mut sidecar = Some(Default::default());
        let mut endpoints_node = None;
        let mut versions_node = None;
        let mut identity_node = None;
        let mut mtls = Some(None);
        let mut require_token = Some(None);
        let mut external = None;
        let (mut publishes, mut subscribes) = (Vec::new(), Vec::new());
        let mut topic_links: HashMap<(&str, TopicId), Span> = HashMap::new();
        for child in node.children() {
            match child.name.as_str() {
                "owner" if once.first(child, self.sink) => {
                    read::check_entries(child, 1, &[], self.sink);
                    read::no_children(child, self.sink);
                    owner = read::string_arg(child, 0, "a team name", "owner \"team-orders\"", self.sink);
                }
                "address" if once.first(child, self.sink) => {
                    address = self.address(child);
                }
                "api" => {
                    if let Some(api) = self.api(child) {
                        if let Some(&first) = api_names.get(&api.name.value) {
                            duplicate(self.sink, "api", &api.name.value, api.name.span, first);
                        } else {
                            api_names.insert(api.name.value.clone(), api.name.span);
                            apis.push(api);
                        }
                    }
                }
                "call-defaults" if once.first(child, self.sink) => call_defaults = self.call_defaults(child),
                "traffic" if once.first(child, self.sink) => traffic_node = Some(child),
                "versions" if once.first(child, self.sink) => versions_node = Some(child),
                "identity" if once.first(child, self.sink) => identity_node = Some(child),
                "mtls" if once.first(child, self.sink) => mtls = self.mode_node(child).map(Some),
                "require-token" if once.first(child, self.sink) => require_token = self.require_token(child).map(Some),
                "external" if once.first(child, self.sink) => {
                    read::check_entries(child, 0, &[], self.sink);
                    read::no_children(child, self.sink);
                    external = Some(child.span);
                }
                // Lowered with the calls: it names other services.
                "authorization" if once.first(child, self.sink) => {}
                "sidecar" if once.first(child, self.sink) => sidecar = self.sidecar(child),
                "endpoints" if once.first(child, self.sink) => endpoints_node = Some(child),
                "publishes" | "subscribes" => {
                    let Some(topic) = self.topic_link(child) else { continue };
                    let verb = child.name.as_str();
                    if let Some(&first) = topic_links.get(&(verb, topic.value)) {
                        self.sink.push(
                            Diagnostic::new(
                                Code::DuplicateName,
                                format!(
                                    "service `{}` {verb} `{}` twice",
                                    name.value,
                                    self.model.topic(topic.value).name.value
                                ),
                            )
                            .at(topic.span, "repeated here")
                            .with_label(first, "first given here")
                            .help("remove one of them"),
                        );
                        continue;
                    }
                    topic_links.insert((verb, topic.value), topic.span);
                    if verb == "publishes" {
                        publishes.push(topic)
                    } else {
                        subscribes.push(topic)
                    }
                }
                "calls" | "owner" | "address" | "call-defaults" | "traffic" | "sidecar" | "endpoints" | "versions" => {}
                _ => read::unknown_child(child, "service", CHILDREN, self.sink),
            }
        }
        if !node.children().iter().any(|c| c.name == "address") {
            self.sink.push(
                Diagnostic::new(Code::MissingRequired, format!("service `{}` has no `address`", name.value))
                    .at(name.span, "declared without an address")
                    .help("add where its instances listen: address \"orders.shop.svc.cluster.local\" port=8080"),
            );
        }
        // Versions first: endpoints and traffic rules refer to them.
        let versions = match versions_node {
            Some(node) => self.versions(node, address.as_ref().map(|a| &a.value.host), endpoints_node.is_some()),
            None => Some(Vec::new()),
        };
        // Without them, rules naming a version would only repeat the error.
        let versions = versions?;
        let endpoints = match endpoints_node {
            Some(node) => self.endpoints(node, address.as_ref().map(|a| a.value.port), &versions),
            None => Some(Vec::new()),
        };
        let traffic = match traffic_node {
            Some(node) => self.traffic(node, &versions),
            None => Some(Default::default()),
        };
        if let Some(external) = external {
            // Settings of our proxy make no sense where we run none.
            let proxied = ["sidecar", "identity", "mtls", "authorization", "require-token"];
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
        // The namespace of a cluster DNS address, the service's name as its account.
        let namespace = address.as_ref().and_then(|a| a.value.host.kubernetes_service()).map(|(_, ns)| ns);
        let default_identity =
            Identity { namespace: namespace.unwrap_or("default").to_string(), service_account: name.value.clone() };
        let identity = self.identity(identity_node, default_identity);
        let (address, call_defaults, traffic, sidecar, endpoints, identity, mtls, require_token) =
            (address?, call_defaults?, traffic?, sidecar?, endpoints?, identity?, mtls?, require_token?);
        name_ok.then_some(Service {
            name,
            owner,
            address,
            apis,
            calls: Vec::new(),
            call_defaults,
            traffic,
            sidecar,
            endpoints,
            versions,
            identity,
            mtls,
            authorization: None,
            require_token,
            external,
            publishes,
            subscribes,
            span: node.span,
        })
    }

    fn address(&mut self, node: &Node) -> Option<Spanned<Endpoint>> {
        read::check_entries(node, 1, &["port"], self.sink);
        read::no_children(node, self.sink);
        let host = read::string_arg(node, 0, "a hostname", "address \"orders.svc\" port=8080", self.sink);
        let port = read::int_prop(node, "port", Some("address \"orders.svc\" port=8080"), self.sink);
        let host = host.and_then(|h| read::parse(&h, |h| Host::parse(h), self.sink));
        let port = port.and_then(|p| read::parse(&p, |p| Port::new(*p), self.sink));
        Some(Spanned::new(Endpoint { host: host?, port: port? }, node.span))
    }

    fn api(&mut self, node: &Node) -> Option<Api> {
        read::check_entries(node, 1, &["kind", "schema", "grpc-service"], self.sink);
        let example = "api \"orders-http\" kind=\"rest\" schema=\"apis/orders.yaml\"";
        let name = read::string_arg(node, 0, "a name", example, self.sink)
            .filter(|name| read::parse(name, |n| check_api_name(n), self.sink).is_some());
        let kind = read::string_prop(node, "kind", Some(example), self.sink);
        let schema = read::string_prop(node, "schema", Some(example), self.sink);
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
                for child in node.children().iter().filter(|c| c.name != "resolve") {
                    read::unknown_child(child, "api", &["resolve"], self.sink);
                }
            }
            Some(other) => {
                if let Some(first) = node.children().first() {
                    self.sink.push(
                        Diagnostic::new(Code::UnknownNode, format!("a {other} API takes no child nodes"))
                            .at(first.name_span, "unexpected child")
                            .help("`resolve` composes GraphQL APIs only (kind=\"graphql\"), see docs/language.md"),
                    );
                }
            }
            None => {}
        }
        let (name, kind, schema) = (name?, kind?, schema?);
        let schema = self.schema_ref(&schema, kind.schema_format());
        Some(Api { name, kind, schema, grpc_service, resolvers: Vec::new() })
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
                if let Some(&first) = fields.get(&key) {
                    duplicate(self.sink, "resolver for", &key, resolver.field.span, first);
                } else {
                    fields.insert(key, resolver.field.span);
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
        Some(Resolver { field: field?, target, operation: operation?, body, timeout: timeout?, span: node.span })
    }

    /// The `calls` children of a service node; unresolved ones are left out.
    pub(super) fn calls(&mut self, node: &Node) -> Vec<Call> {
        node.children().iter().filter(|c| c.name == "calls").filter_map(|c| self.call(c)).collect()
    }

    fn call(&mut self, node: &Node) -> Option<Call> {
        read::check_entries(
            node,
            1,
            &["operation", "timeout", "idempotent", "for", "forward-token", "exchange-token", "audience", "background"],
            self.sink,
        );
        let mut retries = Some(None);
        let mut load = Some(None);
        let mut once = Once::default();
        for child in node.children() {
            match child.name.as_str() {
                "retries" if once.first(child, self.sink) => retries = self.retries(child).map(Some),
                "load" if once.first(child, self.sink) => load = self.load(child).map(Some),
                "retries" | "load" => {}
                _ => read::unknown_child(child, "calls", &["retries", "load"], self.sink),
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
        let target = self.service_ref(&target)?;
        let invalid = |key: &str, value: &Option<Spanned<bool>>| node.property(key).is_some() && value.is_none();
        if invalid("idempotent", &idempotent)
            || invalid("forward-token", &forward_token)
            || invalid("background", &background)
        {
            return None;
        }
        Some(Call {
            target,
            operation: operation?,
            timeout: timeout?,
            retries: retries?,
            load: load?,
            serving: serving?,
            idempotent: idempotent.is_some_and(|b| b.value),
            forward_token: forward_token.is_some_and(|b| b.value),
            exchange_token: exchange_token?,
            background: background.is_some_and(|b| b.value),
            origin: CallOrigin::Declared,
            span: node.span,
        })
    }

    /// An optional `operation=` property. `Some(None)` when absent, `None` when invalid.
    pub(super) fn operation_prop(&mut self, node: &Node) -> Option<Option<Spanned<Operation>>> {
        match read::string_prop(node, "operation", None, self.sink) {
            None if node.property("operation").is_some() => None,
            None => Some(None),
            Some(text) => {
                read::parse(&text, |t| Operation::parse(t), self.sink).map(|op| Some(Spanned::new(op, text.span)))
            }
        }
    }

    /// An optional duration property. `Some(None)` when absent, `None` when invalid.
    pub(super) fn duration_prop(&mut self, node: &Node, key: &str) -> Option<Option<Duration>> {
        match read::string_prop(node, key, None, self.sink) {
            None if node.property(key).is_some() => None,
            None => Some(None),
            Some(text) => read::parse(&text, |t| Duration::parse(t), self.sink).map(Some),
        }
    }
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
