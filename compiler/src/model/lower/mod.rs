//! Lowering: ASTs → the typed model. Declarations are collected first so
//! references resolve regardless of file order; values are parsed into their
//! typed forms here and nowhere else.

mod gateway;
mod identity;
mod instances;
mod read;
mod retries;
mod route;
mod secrets;
mod security;
mod service;
mod topic;
mod traffic;

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use super::values::SchemaFormat;
use super::{GatewayId, Model, Placement, Resolver, SchemaId, SchemaRef, ServiceId, TopicId};
use crate::base::{Sources, Span, Spanned};
use crate::diag::{suggestion, Code, Diagnostic, Sink};
use crate::load::Workspace;
use crate::syntax::Node;

/// Top-level nodes of a spec file.
const TOP_LEVEL: &[&str] = &[
    "mesh",
    "import",
    "proto-include",
    "schema-root",
    "service",
    "gateway",
    "topic",
    "limits",
    "retry-policy",
    "jwt-issuer",
    "role",
    "security",
    "mtls",
    "token-exchange",
];

/// Builds the model from every loaded document.
pub fn lower(workspace: &Workspace, sources: &Sources, sink: &mut Sink) -> Model {
    let mut cx = Lower {
        sources,
        sink,
        services: HashMap::new(),
        topics: HashMap::new(),
        schemas: HashMap::new(),
        retry_policies: HashMap::new(),
        gateways: HashMap::new(),
        issuers: HashMap::new(),
        token_exchanges: HashMap::new(),
        roles: HashMap::new(),
        model: Model::default(),
    };
    cx.model.name =
        workspace.root_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "mesh".into());

    cx.refuse_literal_secrets(workspace);

    // Pass 1: declarations, so that references can point forward and across files.
    let mut service_nodes = Vec::new();
    let mut gateway_nodes = Vec::new();
    let mut topic_nodes = Vec::new();
    let mut exchange_nodes = Vec::new();
    let mut gateway_names: HashMap<String, Span> = HashMap::new();
    let mut mesh_seen: Option<Span> = None;
    let mut limits_seen: Option<Span> = None;
    let mut mtls_seen: Option<Span> = None;
    let mut security_seen: Option<Span> = None;
    let mut retry_policy_names: HashMap<String, Span> = HashMap::new();
    for doc in &workspace.documents {
        for node in &doc.nodes {
            match node.name.as_str() {
                "import" => {} // resolved by the loader
                "mesh" => {
                    if doc.file != workspace.root_file {
                        cx.sink.push(
                            Diagnostic::new(Code::UnknownNode, "`mesh` may only appear in the root file")
                                .at(node.name_span, "not the root file")
                                .help("move this node into the workspace's mesh.kdl"),
                        );
                    } else if let Some(first) = mesh_seen {
                        duplicate(cx.sink, "mesh", "mesh", node.name_span, first);
                    } else {
                        mesh_seen = Some(node.name_span);
                        cx.mesh(node);
                    }
                }
                "service" => {
                    if let Some(name) = read::string_arg(node, 0, "a name", "service \"orders\" { ... }", cx.sink) {
                        match cx.services.get(&name.value) {
                            Some(&(_, first)) => duplicate(cx.sink, "service", &name.value, name.span, first),
                            None => {
                                cx.services.insert(name.value.clone(), (None, name.span));
                                service_nodes.push((node, name));
                            }
                        }
                    }
                }
                // The stdlib's limits apply unless the workspace sets its own.
                "limits" if crate::load::stdlib::contains(&cx.sources.get(doc.file).path) => {
                    if limits_seen.is_none() {
                        cx.model.limits = cx.limits(node);
                    }
                }
                "limits" => match limits_seen {
                    Some(first) => duplicate(cx.sink, "limits", "limits", node.name_span, first),
                    None => {
                        limits_seen = Some(node.name_span);
                        cx.model.limits = cx.limits(node);
                    }
                },
                "mtls" => match mtls_seen {
                    Some(first) => duplicate(cx.sink, "mtls", "mtls", node.name_span, first),
                    None => {
                        mtls_seen = Some(node.name_span);
                        cx.model.mtls = cx.mtls(node);
                    }
                },
                // The stdlib's security baseline applies unless the workspace sets its own.
                "security" if crate::load::stdlib::contains(&cx.sources.get(doc.file).path) => {
                    if security_seen.is_none() {
                        cx.model.security = cx.security(node);
                    }
                }
                "security" => match security_seen {
                    Some(first) => duplicate(cx.sink, "security", "security", node.name_span, first),
                    None => {
                        security_seen = Some(node.name_span);
                        cx.model.security = cx.security(node);
                    }
                },
                // Issuers and roles hold no references: lowered here, before the routes that use them.
                "jwt-issuer" => cx.jwt_issuer(node),
                // Lowered once every issuer is known: they name one.
                "token-exchange" => exchange_nodes.push(node),
                "role" => cx.role(node),
                // Named policies hold no references: lowered here, before the services that use them.
                "retry-policy" => cx.retry_policy_decl(node, &mut retry_policy_names),
                "proto-include" => {
                    if let Some(dir) = cx.directory(node, "proto-include \"protos\"") {
                        cx.model.proto_includes.push(dir);
                    }
                }
                "schema-root" => {
                    if let Some(dir) = cx.directory(node, "schema-root \"../shared\"") {
                        cx.model.schema_roots.push(dir);
                    }
                }
                "gateway" => {
                    if let Some(name) = read::string_arg(node, 0, "a name", "gateway \"public\" { ... }", cx.sink) {
                        match gateway_names.get(&name.value) {
                            Some(&first) => duplicate(cx.sink, "gateway", &name.value, name.span, first),
                            None => {
                                gateway_names.insert(name.value.clone(), name.span);
                                cx.gateways.insert(name.value.clone(), (None, name.span));
                                gateway_nodes.push((node, name));
                            }
                        }
                    }
                }
                "topic" => {
                    let example = "topic \"orders-placed\" { schema \"schemas/order-placed.avsc\" }";
                    if let Some(name) = read::string_arg(node, 0, "a name", example, cx.sink) {
                        match cx.topics.get(&name.value) {
                            Some(&(_, first)) => duplicate(cx.sink, "topic", &name.value, name.span, first),
                            None => {
                                cx.topics.insert(name.value.clone(), (None, name.span));
                                topic_nodes.push((node, name));
                            }
                        }
                    }
                }
                other => cx.sink.push(
                    Diagnostic::new(Code::UnknownNode, format!("unknown top-level node `{other}`"))
                        .at(node.name_span, "unknown node")
                        .help_opt(suggestion(other, TOP_LEVEL.iter().copied())),
                ),
            }
        }
    }

    for node in exchange_nodes {
        cx.token_exchange(node);
    }

    // Pass 2: bodies. Topics and services get ids once their own settings
    // are valid; a reference to one that failed is dropped quietly (its error
    // is reported). Topics first: services name them.
    for (node, name) in topic_nodes {
        let key = name.value.clone();
        if let Some(topic) = cx.topic(node, name) {
            let id = TopicId::new(cx.model.topics.len());
            cx.model.topics.push(topic);
            cx.topics.insert(key, (Some(id), node.name_span));
        }
    }
    let mut lowered = Vec::new();
    for (node, name) in service_nodes {
        let key = name.value.clone();
        let id = cx.service(node, name).map(|service| {
            let id = ServiceId::new(cx.model.services.len());
            cx.model.services.push(service);
            cx.services.insert(key, (Some(id), node.name_span));
            id
        });
        lowered.push((node, id));
    }
    // Calls and resolvers of a service that failed are still lowered, for their diagnostics.
    for &(node, id) in &lowered {
        let calls = cx.calls(node);
        let resolvers = cx.resolvers(node);
        if let Some(id) = id {
            let service = &mut cx.model.services[id.index()];
            service.calls = calls;
            for (api_name, resolvers) in resolvers {
                if let Some(api) = service.apis.iter_mut().find(|a| a.name.value == api_name) {
                    // Each resolver is a call the composed API makes: the analyses see it.
                    service.calls.extend(resolvers.iter().map(Resolver::as_call));
                    api.resolvers = resolvers;
                }
            }
        }
    }
    for (node, name) in gateway_nodes {
        let key = name.value.clone();
        if let Some(gateway) = cx.gateway(node, name) {
            let id = GatewayId::new(cx.model.gateways.len());
            cx.model.gateways.push(gateway);
            cx.gateways.insert(key, (Some(id), node.name_span));
        }
    }
    // Authorization last: its rules name gateways as well as services.
    for (node, id) in lowered {
        let authorization = node.children().iter().find(|c| c.name == "authorization").map(|c| cx.authorization(c));
        if let Some(id) = id {
            if let Placement::Mesh(member) = &mut cx.model.services[id.index()].placement {
                member.authorization = authorization.flatten();
            }
        }
    }
    cx.model
}

struct Lower<'a> {
    sources: &'a Sources,
    sink: &'a mut Sink,
    /// Declared service names; the id is set once the service lowered cleanly.
    services: HashMap<String, (Option<ServiceId>, Span)>,
    /// Declared topic names, likewise.
    topics: HashMap<String, (Option<TopicId>, Span)>,
    schemas: HashMap<(PathBuf, SchemaFormat), SchemaId>,
    retry_policies: HashMap<String, super::traffic::RetryPolicy>,
    /// Declared gateway names (principals of authorization rules); the id is
    /// set once the gateway lowered cleanly.
    gateways: HashMap<String, (Option<GatewayId>, Span)>,
    /// Declared issuer and role names; the id is set once one lowered cleanly.
    issuers: HashMap<String, (Option<super::security::IssuerId>, Span)>,
    token_exchanges: HashMap<String, (Option<super::identity::TokenExchangeId>, Span)>,
    roles: HashMap<String, (Option<super::security::RoleId>, Span)>,
    model: Model,
}

impl Lower<'_> {
    fn mesh(&mut self, node: &Node) {
        read::check_entries(node, 1, &[], self.sink);
        read::no_children(node, self.sink);
        if let Some(name) = read::string_arg(node, 0, "a name", "mesh \"shop\"", self.sink) {
            self.model.name = name.value;
        }
    }

    /// Resolves a service name, reporting unknown names with a suggestion.
    fn service_ref(&mut self, name: &Spanned<String>) -> Option<Spanned<ServiceId>> {
        let declare = "declare it with `service \"name\" { ... }`".to_string();
        resolve(self.sink, &self.services, name, Code::UnknownService, "service", declare)
    }

    /// The span of bytes `at` of a string value, when the source writes the
    /// value verbatim after the entry's first quote (no escapes); else `None`.
    fn span_within(&self, value: &Spanned<String>, at: std::ops::Range<usize>) -> Option<Span> {
        let entry = self.sources.get(value.span.file).text.get(value.span.range())?;
        let start = entry.find('"')? + 1;
        let written = entry.get(start..start + value.value.len())?;
        let verbatim = written == value.value && entry[start + written.len()..].starts_with('"');
        let base = value.span.start as usize + start;
        (verbatim && at.end <= written.len()).then(|| Span::new(value.span.file, base + at.start..base + at.end))
    }

    /// A path written in a spec file, resolved against that file's directory.
    fn relative_to_file(&self, path: &Spanned<String>) -> PathBuf {
        let dir = self.sources.get(path.span.file).path.parent().unwrap_or(Path::new(""));
        normalize(&dir.join(&path.value))
    }

    /// A top-level node naming one directory (`proto-include`, `schema-root`),
    /// resolved against the file that names it.
    fn directory(&mut self, node: &Node, example: &str) -> Option<Spanned<PathBuf>> {
        read::check_entries(node, 1, &[], self.sink);
        read::no_children(node, self.sink);
        let dir = read::string_arg(node, 0, "a directory", example, self.sink)?;
        Some(Spanned::new(self.relative_to_file(&dir), dir.span))
    }

    /// Registers a schema file referenced from the file `span` lies in.
    fn schema_ref(&mut self, path: &Spanned<String>, format: SchemaFormat) -> SchemaId {
        let resolved = self.relative_to_file(path);
        let next = SchemaId::new(self.model.schemas.len());
        let id = *self.schemas.entry((resolved.clone(), format)).or_insert(next);
        if id == next {
            self.model.schemas.push(SchemaRef { path: resolved, format, span: path.span });
        }
        id
    }
}

/// Looks a name up among the declared ones of a kind: its id, or `None`
/// when it is unknown (reported with a did-you-mean, else `declare` as help)
/// or declared but failed to lower (already reported).
fn resolve<Id: Copy>(
    sink: &mut Sink,
    declared: &HashMap<String, (Option<Id>, Span)>,
    name: &Spanned<String>,
    code: Code,
    what: &str,
    declare: String,
) -> Option<Spanned<Id>> {
    if let Some(&(id, _)) = declared.get(&name.value) {
        return id.map(|id| Spanned::new(id, name.span));
    }
    let mut known: Vec<&str> = declared.keys().map(String::as_str).collect();
    known.sort_unstable();
    sink.push(
        Diagnostic::new(code, format!("no {what} named `{}`", name.value))
            .at(name.span, format!("unknown {what}"))
            .help_opt(suggestion(&name.value, known.iter().copied()).or(Some(declare))),
    );
    None
}

fn duplicate(sink: &mut Sink, what: &str, name: &str, span: Span, first: Span) {
    sink.push(
        Diagnostic::new(Code::DuplicateName, format!("{what} `{name}` is declared twice"))
            .at(span, "declared again here")
            .with_label(first, "first declared here")
            .help(format!("rename one of them; {what} names are unique in a mesh")),
    );
}

/// Removes `.` and `..` components without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
