//! `tracing { ... }` at the top level, and `tracing ...` in a service or gateway.

use std::ops::Deref;

use std::collections::HashMap;

use super::read::{self, Once};
use super::{declare_once, Decls, Lower};
use crate::base::{Span, Spanned};
use crate::diag::{Code, Diagnostic};
use crate::model::tracing::{
    Collector, Exporter, ExporterKind, OtlpProtocol, OwnTracing, Propagation, Sampling, Tracing,
};
use crate::model::values::{Host, Port};
use crate::syntax::Node;

const CHILDREN: &[&str] = &["sampling", "propagation", "collector", "exporter"];

/// Who writes `tracing ...`: what it may say for itself.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Owner {
    /// A service in the mesh: its proxy's name and rate, its app's propagation.
    MeshService,
    /// An external service: no proxy of ours, only whether it propagates.
    External,
    /// A gateway: its proxy's name and rate (it always propagates).
    Gateway,
}

impl<D: Deref<Target = Decls>> Lower<'_, D> {
    /// The mesh's `tracing` block; `None` when invalid (reported).
    pub(super) fn tracing(&mut self, node: &Node) -> Option<Tracing> {
        read::check_entries(node, 0, &[], self.sink);
        let mut once = Once::default();
        let mut sampling = Some(Spanned::new(Sampling::ALL, node.name_span));
        let mut propagation = Some(Spanned::new(Propagation::default(), node.name_span));
        let mut collector = None;
        let mut exporters = Vec::new();
        let mut exporter_names: HashMap<String, Span> = HashMap::new();
        let mut failed = false;
        for child in node.children() {
            let name = child.name.as_str();
            if name != "exporter" && CHILDREN.contains(&name) && !once.first(child, self.sink) {
                continue;
            }
            match name {
                "sampling" => {
                    read::check_entries(child, 1, &[], self.sink);
                    read::no_children(child, self.sink);
                    sampling =
                        read::string_arg(child, 0, "a percentage", "sampling \"10%\"", self.sink).and_then(|t| {
                            read::parse(&t, |t| Sampling::parse(t), self.sink).map(|s| Spanned::new(s, t.span))
                        });
                }
                "propagation" => propagation = self.propagation(child),
                "collector" => collector = self.collector(child),
                "exporter" => match self.exporter(child) {
                    Some(exporter) => {
                        let what = ("exporter", exporter.name.value.as_str());
                        let key = exporter.name.value.clone();
                        if declare_once(&mut exporter_names, key, exporter.name.span, what, self.sink) {
                            exporters.push(exporter);
                        }
                    }
                    None => failed = true,
                },
                _ => read::unknown_child(child, "tracing", CHILDREN, self.sink),
            }
        }
        if collector.is_none() && !node.children().iter().any(|c| c.name == "collector") {
            self.sink.push(
                Diagnostic::new(Code::MissingRequired, "`tracing` names no collector")
                    .at(node.name_span, "where do the spans go?")
                    .help("add the OpenTelemetry collector the proxies send spans to: collector \"otel-collector.observability.svc.cluster.local\" port=4317 protocol=\"grpc\""),
            );
        }
        let (sampling, propagation, collector) = (sampling?, propagation?, collector?);
        (!failed).then_some(Tracing { sampling, propagation, collector, exporters, span: node.span })
    }

    /// `propagation "tracecontext" "b3"`: one or both formats.
    fn propagation(&mut self, node: &Node) -> Option<Spanned<Propagation>> {
        read::check_entries(node, 2, &[], self.sink);
        read::no_children(node, self.sink);
        let example = "propagation \"tracecontext\" \"b3\"";
        if node.arguments().next().is_none() {
            read::string_arg(node, 0, "a format", example, self.sink);
            return None;
        }
        let mut out = Propagation { tracecontext: false, b3: false };
        let mut ok = true;
        for i in 0..node.arguments().count().min(2) {
            let Some(text) = read::string_arg(node, i, "a format", example, self.sink) else {
                ok = false;
                continue;
            };
            let parsed = read::parse(
                &text,
                |t| {
                    match t.as_str() {
                    "tracecontext" => Ok(true),
                    "b3" => Ok(false),
                    other => Err(format!(
                        "`{other}` is not a propagation format; write \"tracecontext\" (W3C Trace Context) or \"b3\" (Zipkin B3)"
                    )),
                }
                },
                self.sink,
            );
            match parsed {
                Some(true) => out.tracecontext = true,
                Some(false) => out.b3 = true,
                None => ok = false,
            }
        }
        ok.then(|| Spanned::new(out, node.span))
    }

    /// `collector HOST port=N protocol="grpc"|"http"`.
    fn collector(&mut self, node: &Node) -> Option<Collector> {
        read::check_entries(node, 1, &["port", "protocol"], self.sink);
        read::no_children(node, self.sink);
        let example = "collector \"otel-collector.observability.svc.cluster.local\" port=4317 protocol=\"grpc\"";
        let host = read::string_arg(node, 0, "a host", example, self.sink)
            .and_then(|h| read::parse(&h, |t| Host::parse(t), self.sink));
        let port = read::int_prop(node, "port", Some(example), self.sink)
            .and_then(|p| read::parse(&p, |p| Port::new(*p), self.sink));
        let protocol = match read::string_prop(node, "protocol", None, self.sink) {
            Some(p) => read::parse(&p, |t| OtlpProtocol::parse(t), self.sink),
            None if node.property("protocol").is_some() => None,
            None => Some(OtlpProtocol::Grpc),
        };
        Some(Collector { host: host?, port: port?, protocol: protocol?, span: node.span })
    }

    /// `exporter NAME kind="otlp"|"otlphttp"|"debug" endpoint=... insecure=#true`.
    fn exporter(&mut self, node: &Node) -> Option<Exporter> {
        read::check_entries(node, 1, &["kind", "endpoint", "insecure"], self.sink);
        read::no_children(node, self.sink);
        let example = "exporter \"tempo\" kind=\"otlp\" endpoint=\"tempo.observability.svc.cluster.local:4317\"";
        let name = read::string_arg(node, 0, "a name", example, self.sink)
            .filter(|n| read::parse(n, |t| crate::model::values::check_name(t), self.sink).is_some());
        let kind = read::string_prop(node, "kind", Some(example), self.sink)?;
        let endpoint = read::string_prop(node, "endpoint", None, self.sink);
        let insecure = read::bool_prop(node, "insecure", self.sink);
        let needs_endpoint = |sink: &mut crate::diag::Sink| {
            sink.push(
                Diagnostic::new(Code::MissingRequired, format!("a `{}` exporter needs `endpoint`", kind.value))
                    .at(node.name_span, "endpoint missing")
                    .help(format!("for example: {example}")),
            );
        };
        let refuse = |sink: &mut crate::diag::Sink, what: &str, span: Span, why: &str| {
            sink.push(
                Diagnostic::new(Code::UnknownProperty, format!("a `{}` exporter takes no `{what}`", kind.value))
                    .at(span, why.to_string())
                    .help("remove it"),
            );
        };
        let kind = match kind.value.as_str() {
            "otlp" => {
                let Some(endpoint) = endpoint else {
                    needs_endpoint(self.sink);
                    return None;
                };
                let endpoint = read::parse(&endpoint, |e| check_grpc_endpoint(e), self.sink).map(|()| endpoint)?;
                ExporterKind::Otlp { endpoint, insecure: insecure.is_some_and(|b| b.value) }
            }
            "otlphttp" => {
                let Some(endpoint) = endpoint else {
                    needs_endpoint(self.sink);
                    return None;
                };
                if let Some(b) = insecure {
                    refuse(self.sink, "insecure", b.span, "the URL's scheme says it");
                    return None;
                }
                let endpoint = read::parse(&endpoint, |e| check_http_endpoint(e), self.sink).map(|()| endpoint)?;
                ExporterKind::OtlpHttp { endpoint }
            }
            "debug" => {
                if let Some(e) = endpoint {
                    refuse(self.sink, "endpoint", e.span, "it writes to the collector's log");
                    return None;
                }
                if let Some(b) = insecure {
                    refuse(self.sink, "insecure", b.span, "it writes to the collector's log");
                    return None;
                }
                ExporterKind::Debug
            }
            other => {
                self.sink.push(
                    Diagnostic::new(Code::InvalidValue, format!("`{other}` is not an exporter kind"))
                        .at(kind.span, "unknown kind")
                        .help_opt(
                            crate::diag::suggestion(other, ["otlp", "otlphttp", "debug"])
                                .or_else(|| Some("kinds: \"otlp\" (gRPC), \"otlphttp\", \"debug\"".to_string())),
                        ),
                );
                return None;
            }
        };
        Some(Exporter { name: name?, kind, span: node.span })
    }

    /// `tracing service-name=... sampling=... propagates=...` in a service or gateway.
    pub(super) fn own_tracing(&mut self, node: &Node, owner: Owner) -> Option<OwnTracing> {
        let props: &[&str] = match owner {
            Owner::MeshService => &["service-name", "sampling", "propagates"],
            Owner::External => &["propagates"],
            Owner::Gateway => &["service-name", "sampling"],
        };
        read::check_entries(node, 0, props, self.sink);
        read::no_children(node, self.sink);
        let service_name = match props.contains(&"service-name") {
            true => match read::string_prop(node, "service-name", None, self.sink) {
                Some(n) if n.value.is_empty() || n.value.len() > 255 || n.value.chars().any(char::is_control) => {
                    self.sink.push(
                        Diagnostic::new(Code::InvalidValue, "a service name is 1 to 255 printable characters")
                            .at(n.span, "invalid service name")
                            .help("for example: service-name=\"orders-api\""),
                    );
                    return None;
                }
                Some(n) => Some(n),
                None if node.property("service-name").is_some() => return None,
                None => None,
            },
            false => None,
        };
        let sampling = match props.contains(&"sampling") {
            true => match read::string_prop(node, "sampling", None, self.sink) {
                Some(t) => Some(read::parse(&t, |t| Sampling::parse(t), self.sink).map(|s| Spanned::new(s, t.span))?),
                None if node.property("sampling").is_some() => return None,
                None => None,
            },
            false => None,
        };
        let propagates = match props.contains(&"propagates") {
            true => match read::bool_prop(node, "propagates", self.sink) {
                None if node.property("propagates").is_some() => return None,
                p => p,
            },
            false => None,
        };
        Some(OwnTracing { service_name, sampling, propagates, span: Some(node.span) })
    }

    /// `MESH0115` for each service and gateway that sets its own tracing
    /// in a mesh without a `tracing` block.
    pub(super) fn tracing_without_mesh_tracing(&mut self) {
        if self.d.model.tracing.is_some() {
            return;
        }
        let services = self.d.model.services.iter().map(|s| ("service", &s.name.value, &s.tracing));
        let gateways = self.d.model.gateways.iter().map(|g| ("gateway", &g.name.value, &g.tracing));
        for (kind, name, own) in services.chain(gateways) {
            // Whether a service propagates matters only to traces, which there are none of: said all the same.
            let Some(span) = own.span.filter(|_| own.service_name.is_some() || own.sampling.is_some()) else {
                continue;
            };
            self.sink.push(
                Diagnostic::new(
                    Code::TracingWithoutMeshTracing,
                    format!("{kind} `{name}` sets its tracing, but the mesh traces nothing"),
                )
                .at(span, "no effect without a mesh `tracing` block")
                .help("declare where spans go at the top level: tracing { collector \"otel-collector.observability.svc.cluster.local\" port=4317 }; or remove this node"),
            );
        }
    }
}

/// `host:port`, as the collector's OTLP gRPC exporter takes it.
fn check_grpc_endpoint(text: &str) -> Result<(), String> {
    let bad = || {
        format!("`{text}` is not a gRPC endpoint; write HOST:PORT, like \"tempo.observability.svc.cluster.local:4317\"")
    };
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    let port: i128 = port.parse().map_err(|_| bad())?;
    Port::new(port).map_err(|_| bad())?;
    Host::parse(host.trim_start_matches('[').trim_end_matches(']')).map_err(|_| bad())?;
    Ok(())
}

/// An `http://` or `https://` URL.
fn check_http_endpoint(text: &str) -> Result<(), String> {
    let rest = text.strip_prefix("https://").or_else(|| text.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.chars().any(|c| c.is_whitespace() || c.is_control()) => Ok(()),
        _ => Err(format!("`{text}` is not an HTTP endpoint; write a URL, like \"https://otlp.example.com\"")),
    }
}
