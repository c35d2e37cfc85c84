//! Where a service's instances are: its `versions`, its `endpoints`, and
//! the ports of its sidecar.

use std::ops::Deref;

use super::read;
use super::{duplicate, Decls, Lower};
use crate::diag::{Code, Diagnostic};
use crate::model::traffic::{Instance, SidecarPorts, Version, VersionId};
use crate::model::values::{check_name, Host, Port};
use crate::syntax::Node;

impl<D: Deref<Target = Decls>> Lower<'_, D> {
    /// A service's `versions { version "v1"; version "v2" address="..." }`.
    /// Without `endpoints`, each version is reached by DNS: its `address=`,
    /// else the cluster DNS name of its own Kubernetes Service.
    pub(super) fn versions(
        &mut self,
        node: &Node,
        address: Option<&Host>,
        has_endpoints: bool,
    ) -> Option<Vec<Version>> {
        read::check_entries(node, 0, &[], self.sink);
        let mut out: Vec<Version> = Vec::new();
        let mut failed = false;
        for child in node.children() {
            if child.name != "version" {
                read::unknown_child(child, "versions", &["version"], self.sink);
                continue;
            }
            read::check_entries(child, 1, &["address"], self.sink);
            read::no_children(child, self.sink);
            let Some(name) = read::string_arg(child, 0, "a version name", "version \"v2\"", self.sink) else {
                failed = true;
                continue;
            };
            if read::parse(&name, |n| check_name(n), self.sink).is_none() {
                failed = true;
                continue;
            }
            if let Some(first) = out.iter().find(|v| v.name.value == name.value) {
                duplicate(self.sink, "version", &name.value, name.span, first.name.span);
                failed = true;
                continue;
            }
            let explicit = read::string_prop(child, "address", None, self.sink);
            let host = match (explicit, has_endpoints) {
                (Some(text), false) => read::parse(&text, |h| Host::parse(h), self.sink),
                (Some(text), true) => {
                    self.sink.push(
                        Diagnostic::new(Code::UnknownProperty, "a version's instances are the endpoints that name it")
                            .at(text.span, "the service lists endpoints")
                            .help(format!(
                                "remove `address` and mark its endpoints: endpoint \"10.0.0.7\" version=\"{}\"",
                                name.value
                            )),
                    );
                    None
                }
                (None, true) => None,
                (None, false) if child.property("address").is_some() => None,
                (None, false) => match address.and_then(|a| a.kubernetes_version(&name.value)) {
                    Some(host) => Some(host),
                    None => {
                        self.sink.push(
                            Diagnostic::new(Code::MissingRequired, format!("version `{}` cannot be reached", name.value))
                                .at(name.span, "no address")
                                .help(format!("give it a DNS name (version \"{}\" address=\"...\"), or list the service's endpoints with version=\"{}\"", name.value, name.value)),
                        );
                        None
                    }
                },
            };
            if host.is_none() && !has_endpoints {
                failed = true;
                continue;
            }
            out.push(Version { name, host, span: child.span });
        }
        if out.is_empty() && !failed {
            self.sink.push(
                Diagnostic::new(Code::MissingRequired, "`versions` lists no version")
                    .at(node.name_span, "empty")
                    .help("list them: versions { version \"v1\"; version \"v2\" }; or remove the block"),
            );
            return None;
        }
        (!failed).then_some(out)
    }

    /// A service's `endpoints { endpoint HOST port=P zone=Z priority=N weight=W }`.
    /// Endpoints without `port=` listen on the service's ports; `port=`
    /// is for services with one (`single_port`).
    pub(super) fn endpoints(
        &mut self,
        node: &Node,
        single_port: Option<Port>,
        versions: &[Version],
    ) -> Option<Vec<Instance>> {
        read::check_entries(node, 0, &[], self.sink);
        let mut out = Vec::new();
        let mut failed = false;
        for child in node.children() {
            if child.name != "endpoint" {
                read::unknown_child(child, "endpoints", &["endpoint"], self.sink);
                continue;
            }
            match self.endpoint(child, single_port, versions) {
                Some(instance) => out.push(instance),
                None => failed = true,
            }
        }
        if out.is_empty() && !failed {
            self.sink.push(
                Diagnostic::new(Code::MissingRequired, "`endpoints` lists no endpoint")
                    .at(node.name_span, "empty")
                    .help("list the instances: endpoint \"10.0.0.1\" port=8080 zone=\"eu-west1-a\"; or remove the block to resolve `address` by DNS"),
            );
            return None;
        }
        if failed {
            return None;
        }
        // Every version needs instances, or the rules sending to it fail every request.
        for (i, version) in versions.iter().enumerate() {
            if !out.iter().any(|e| e.version == Some(VersionId::new(i))) {
                self.sink.push(
                    Diagnostic::new(
                        Code::MissingRequired,
                        format!("no endpoint runs version `{}`", version.name.value),
                    )
                    .at(version.name.span, "no instances")
                    .with_label(node.name_span, "the service's endpoints")
                    .help(format!("mark its endpoints: endpoint \"10.0.0.7\" version=\"{}\"", version.name.value)),
                );
                failed = true;
            }
        }
        (!failed).then_some(out)
    }

    pub(super) fn endpoint(
        &mut self,
        node: &Node,
        single_port: Option<Port>,
        versions: &[Version],
    ) -> Option<Instance> {
        read::check_entries(node, 1, &["port", "zone", "priority", "weight", "version"], self.sink);
        read::no_children(node, self.sink);
        let host = read::string_arg(node, 0, "a host", "endpoint \"10.0.0.1\" port=8080", self.sink)
            .and_then(|h| read::parse(&h, |h| Host::parse(h), self.sink));
        let port = match read::int_prop(node, "port", None, self.sink) {
            Some(p) if single_port.is_none() => {
                self.sink.push(
                    Diagnostic::new(
                        Code::UnknownProperty,
                        "an endpoint of a service with several ports listens on all of them",
                    )
                    .at(p.span, "which port?")
                    .help("remove `port`: each instance serves the service's ports"),
                );
                None
            }
            Some(p) => read::parse(&p, |p| Port::new(*p), self.sink).map(Some),
            None if node.property("port").is_some() => None,
            None => Some(None),
        };
        let zone = read::string_prop(node, "zone", None, self.sink);
        let priority = self.count_prop(node, "priority", 0, 10)?;
        let weight = self.count_prop(node, "weight", 1, 128)?;
        let version = match read::string_prop(node, "version", None, self.sink) {
            Some(name) => Some(self.version_ref(&name, versions)?),
            None if node.property("version").is_some() => return None,
            None => None,
        };
        Some(Instance {
            host: host?,
            port: port?,
            zone: zone.map(|z| z.value),
            priority: priority.unwrap_or(0),
            weight,
            version,
            span: node.span,
        })
    }

    /// A service's `sidecar inbound-port=P outbound-port=P`.
    pub(super) fn sidecar(&mut self, node: &Node) -> Option<SidecarPorts> {
        read::check_entries(node, 0, &["inbound-port", "outbound-port", "admin-port"], self.sink);
        read::no_children(node, self.sink);
        let defaults = SidecarPorts::default();
        let mut port = |key: &str, default: Port| match read::int_prop(node, key, None, self.sink) {
            None if node.property(key).is_some() => None,
            None => Some(default),
            Some(p) => read::parse(&p, |p| Port::new(*p), self.sink),
        };
        let inbound = port("inbound-port", defaults.inbound);
        let outbound = port("outbound-port", defaults.outbound);
        let admin = match read::int_prop(node, "admin-port", None, self.sink) {
            None if node.property("admin-port").is_some() => None,
            None => Some(None),
            Some(p) => read::parse(&p, |p| Port::new(*p), self.sink).map(Some),
        };
        let ports = SidecarPorts { inbound: inbound?, outbound: outbound?, admin: admin? };
        if ports.admin.is_some_and(|a| a == ports.inbound || a == ports.outbound) {
            self.sink.push(
                Diagnostic::new(Code::InvalidValue, "the sidecar's admin port is one of its traffic ports")
                    .at(node.span, format!("admin on {}", ports.admin.map_or(0, |p| p.get())))
                    .help("give the admin endpoint a port of its own, e.g. admin-port=15000"),
            );
            return None;
        }
        if ports.inbound == ports.outbound {
            self.sink.push(
                Diagnostic::new(Code::InvalidValue, "the sidecar's inbound and outbound ports are the same")
                    .at(node.span, format!("both {}", ports.inbound))
                    .help("give them different ports, e.g. inbound-port=15006 outbound-port=15001"),
            );
            return None;
        }
        Some(ports)
    }
}
