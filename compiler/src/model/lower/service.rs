//! `service` nodes: owner, address, APIs, calls, and the topics it
//! publishes and subscribes to.

use std::collections::HashMap;

use super::read::{self, Once};
use super::{duplicate, Lower};
use crate::base::{Span, Spanned};
use crate::diag::{Code, Diagnostic};
use crate::model::values::{check_name, ApiKind, Duration, Host, Operation, Port};
use crate::model::{Api, Call, Endpoint, Service, TopicId};
use crate::syntax::Node;

const CHILDREN: &[&str] = &["owner", "address", "api", "calls", "publishes", "subscribes"];

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
                "calls" | "owner" | "address" => {}
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
        let address = address?;
        name_ok.then_some(Service {
            name,
            owner,
            address,
            apis,
            calls: Vec::new(),
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
        read::no_children(node, self.sink);
        let example = "api \"orders-http\" kind=\"rest\" schema=\"apis/orders.yaml\"";
        let name = read::string_arg(node, 0, "a name", example, self.sink);
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
        let (name, kind, schema) = (name?, kind?, schema?);
        let schema = self.schema_ref(&schema, kind.schema_format());
        Some(Api { name, kind, schema, grpc_service })
    }

    /// The `calls` children of a service node; unresolved ones are left out.
    pub(super) fn calls(&mut self, node: &Node) -> Vec<Call> {
        node.children().iter().filter(|c| c.name == "calls").filter_map(|c| self.call(c)).collect()
    }

    fn call(&mut self, node: &Node) -> Option<Call> {
        read::check_entries(node, 1, &["operation", "timeout"], self.sink);
        read::no_children(node, self.sink);
        let target = read::string_arg(
            node,
            0,
            "a target service",
            "calls \"payments\" operation=\"pay.v1.Payments/Charge\"",
            self.sink,
        )?;
        let operation = self.operation_prop(node);
        let timeout = self.duration_prop(node, "timeout");
        let target = self.service_ref(&target)?;
        Some(Call { target, operation: operation?, timeout: timeout?, span: node.span })
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
