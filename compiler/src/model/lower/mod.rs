//! Lowering: ASTs → the typed model. Declarations are collected first so
//! references resolve regardless of file order; values are parsed into their
//! typed forms here and nowhere else.

mod api_versions;
mod compliance;
mod contracts;
mod events;
mod evolution;
mod fallback;
mod gateway;
mod identity;
mod instances;
mod monitoring;
mod read;
mod retries;
mod route;
mod secrets;
mod security;
mod service;
mod topic;
mod tracing;
mod traffic;

use std::collections::HashMap;
use std::ops::Deref;
use std::path::{Component, Path, PathBuf};

use rayon::prelude::*;

use super::events::StreamId;
use super::values::SchemaFormat;
use super::{GatewayId, Model, Placement, Resolver, SchemaId, SchemaRef, ServiceId, TopicId};
use crate::base::{FileId, Sources, Span, Spanned};
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
    "broker",
    "limits",
    "retry-policy",
    "jwt-issuer",
    "role",
    "service-role",
    "security",
    "mtls",
    "token-exchange",
    "tracing",
    "monitoring",
    "slo-policy",
    "alert-policy",
    "data-class",
    "compliance-rule",
    "suppress",
];

/// Builds the model from every loaded document.
pub fn lower(workspace: &Workspace, sources: &Sources, sink: &mut Sink) -> Model {
    let mut decls = Decls::default();
    let mut cx = Lower { sources, sink, d: &mut decls };
    cx.d.model.name =
        workspace.root_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "mesh".into());

    cx.refuse_literal_secrets(workspace);

    // Pass 1: declarations, so that references can point forward and across files.
    let mut service_nodes = Vec::new();
    let mut gateway_nodes = Vec::new();
    let mut topic_nodes = Vec::new();
    let mut exchange_nodes = Vec::new();
    let mut class_nodes = Vec::new();
    let mut rule_nodes = Vec::new();
    let mut suppress_nodes = Vec::new();
    let mut service_role_nodes = Vec::new();
    // `mesh`, `limits`, `mtls`, `security`: one each.
    let mut singletons: HashMap<&str, Span> = HashMap::new();
    let mut retry_policy_names: HashMap<String, Span> = HashMap::new();
    let mut monitoring_policy_names: HashMap<String, Span> = HashMap::new();
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
                    } else if declare_once(&mut singletons, "mesh", node.name_span, ("mesh", "mesh"), cx.sink) {
                        cx.mesh(node);
                    }
                }
                "service" => {
                    if let Some(name) = read::string_arg(node, 0, "a name", "service \"orders\" { ... }", cx.sink) {
                        let entry = (None, name.span);
                        if declare_once(
                            &mut cx.d.services,
                            name.value.clone(),
                            entry,
                            ("service", &name.value),
                            cx.sink,
                        ) {
                            service_nodes.push((node, name));
                        }
                    }
                }
                // The stdlib's limits apply unless the workspace sets its own.
                "limits" if crate::load::stdlib::contains(&cx.sources.get(doc.file).path) => {
                    if !singletons.contains_key("limits") {
                        cx.d.model.limits = cx.limits(node);
                    }
                }
                "limits" => {
                    if declare_once(&mut singletons, "limits", node.name_span, ("limits", "limits"), cx.sink) {
                        cx.d.model.limits = cx.limits(node);
                    }
                }
                "mtls" => {
                    if declare_once(&mut singletons, "mtls", node.name_span, ("mtls", "mtls"), cx.sink) {
                        cx.d.model.mtls = cx.mtls(node);
                    }
                }
                "tracing" => {
                    if declare_once(&mut singletons, "tracing", node.name_span, ("tracing", "tracing"), cx.sink) {
                        cx.d.model.tracing = cx.tracing(node);
                    }
                }
                // The stdlib's security baseline applies unless the workspace sets its own.
                "security" if crate::load::stdlib::contains(&cx.sources.get(doc.file).path) => {
                    if !singletons.contains_key("security") {
                        cx.d.model.security = cx.security(node);
                    }
                }
                "security" => {
                    if declare_once(&mut singletons, "security", node.name_span, ("security", "security"), cx.sink) {
                        cx.d.model.security = cx.security(node);
                    }
                }
                // Issuers and roles hold no references: lowered here, before the routes that use them.
                "jwt-issuer" => cx.jwt_issuer(node),
                // Lowered once every issuer is known: they name one.
                "token-exchange" => exchange_nodes.push(node),
                "role" => cx.role(node),
                // Brokers hold no references: lowered here, before the topics kept on them.
                "broker" => cx.broker(node),
                // Named policies hold no references: lowered here, before the services that use them.
                "retry-policy" => cx.retry_policy_decl(node, &mut retry_policy_names),
                "slo-policy" | "alert-policy" => cx.monitoring_policy_decl(node, &mut monitoring_policy_names),
                "monitoring" => {
                    let what = ("monitoring", "monitoring");
                    if declare_once(&mut singletons, "monitoring", node.name_span, what, cx.sink) {
                        cx.d.model.monitoring = cx.monitoring(node);
                    }
                }
                // Lowered once services have ids: they name them (and rules name classes).
                "data-class" => class_nodes.push(node),
                "compliance-rule" => rule_nodes.push(node),
                "suppress" => suppress_nodes.push(node),
                "proto-include" => {
                    if let Some(dir) = cx.directory(node, "proto-include \"protos\"") {
                        cx.d.model.proto_includes.push(dir);
                    }
                }
                "schema-root" => {
                    if let Some(dir) = cx.directory(node, "schema-root \"../shared\"") {
                        cx.d.model.schema_roots.push(dir);
                    }
                }
                "gateway" => {
                    if let Some(name) = read::string_arg(node, 0, "a name", "gateway \"public\" { ... }", cx.sink) {
                        let entry = (None, name.span);
                        if declare_once(
                            &mut cx.d.gateways,
                            name.value.clone(),
                            entry,
                            ("gateway", &name.value),
                            cx.sink,
                        ) {
                            gateway_nodes.push((node, name));
                        }
                    }
                }
                "service-role" => {
                    let example = "service-role \"backends\" { member \"orders\" }";
                    if let Some(name) = read::string_arg(node, 0, "a name", example, cx.sink) {
                        let entry = (None, name.span);
                        let what = ("service-role", name.value.as_str());
                        if declare_once(&mut cx.d.service_roles, name.value.clone(), entry, what, cx.sink) {
                            service_role_nodes.push((node, name));
                        }
                    }
                }
                "topic" => {
                    let example = "topic \"orders-placed\" { schema \"schemas/order-placed.avsc\" }";
                    if let Some(name) = read::string_arg(node, 0, "a name", example, cx.sink) {
                        let entry = (None, name.span);
                        if declare_once(&mut cx.d.topics, name.value.clone(), entry, ("topic", &name.value), cx.sink) {
                            topic_nodes.push((node, name));
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
    let mut lowered_topics = Vec::new();
    for (node, name) in topic_nodes {
        let key = name.value.clone();
        let id = TopicId::new(cx.d.model.topics.len());
        let lowered = cx.topic(node, name, id);
        lowered_topics.push((node, lowered.as_ref().map(|_| id)));
        if let Some((mut topic, stream)) = lowered {
            if let Some(stream) = stream {
                topic.stream = Some(StreamId::new(cx.d.model.events.streams.len()));
                cx.d.model.events.streams.push(stream);
            }
            cx.d.model.topics.push(topic);
            cx.d.topics.insert(key, (Some(id), node.name_span));
        }
    }
    let mut lowered = Vec::new();
    for (node, name) in service_nodes {
        let key = name.value.clone();
        let id = cx.service(node, name).map(|service| {
            let id = ServiceId::new(cx.d.model.services.len());
            cx.d.model.services.push(service);
            cx.d.services.insert(key, (Some(id), node.name_span));
            id
        });
        lowered.push((node, id));
    }
    // Calls, resolvers and event links of a service that failed are still lowered, for their diagnostics.
    for &(node, id) in &lowered {
        cx.event_links(node, id);
    }
    let references = cx.per_service(&lowered, |cx, node| (cx.calls(node), cx.resolvers(node)));
    for (&(_, id), (calls, resolvers)) in lowered.iter().zip(references) {
        if let Some(id) = id {
            let service = &mut cx.d.model.services[id.index()];
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
            let id = GatewayId::new(cx.d.model.gateways.len());
            cx.d.model.gateways.push(gateway);
            cx.d.gateways.insert(key, (Some(id), node.name_span));
        }
    }
    cx.tracing_without_mesh_tracing();
    cx.compliance(&class_nodes, &lowered, &lowered_topics, &rule_nodes, &suppress_nodes);
    // Service roles once services and gateways have ids: they take them in.
    for (node, name) in service_role_nodes {
        cx.service_role(node, name);
    }
    // Authorization last: its rules name gateways, services and service roles.
    let authorizations = cx.per_service(&lowered, |cx, node| {
        node.children().iter().find(|c| c.name == "authorization").and_then(|c| cx.authorization(c))
    });
    for ((_, id), authorization) in lowered.into_iter().zip(authorizations) {
        if let Some(id) = id {
            if let Placement::Mesh(member) = &mut cx.d.model.services[id.index()].placement {
                member.authorization = authorization;
            }
        }
    }
    decls.model
}

/// Lowering's state: what it reads (the sources) and writes (diagnostics),
/// and the declarations and model it has built so far, held as `D`: `&mut
/// Decls` while it declares and lowers, `&Decls` where references are
/// resolved in parallel (a method that declares does not compile there).
struct Lower<'a, D = &'a mut Decls> {
    sources: &'a Sources,
    sink: &'a mut Sink,
    d: D,
}

/// The names declared so far and the model built.
#[derive(Default)]
struct Decls {
    /// Declared service names; the id is set once the service lowered cleanly.
    services: HashMap<String, (Option<ServiceId>, Span)>,
    /// Declared topic names, likewise.
    topics: HashMap<String, (Option<TopicId>, Span)>,
    /// Declared broker names, likewise.
    brokers: HashMap<String, (Option<super::events::BrokerId>, Span)>,
    schemas: HashMap<(PathBuf, SchemaFormat), SchemaId>,
    /// Each schema path as a spec file spells it: most are named by many
    /// nodes of one file (every service's API), resolved once per file.
    schema_spellings: HashMap<(FileId, SchemaFormat), HashMap<String, SchemaId>>,
    retry_policies: HashMap<String, super::traffic::RetryPolicy>,
    /// `slo-policy` and `alert-policy` templates by name.
    slo_policies: HashMap<String, super::monitoring::Slo>,
    alert_policies: HashMap<String, super::monitoring::Alert>,
    /// Declared gateway names (principals of authorization rules); the id is
    /// set once the gateway lowered cleanly.
    gateways: HashMap<String, (Option<GatewayId>, Span)>,
    /// Declared issuer and role names; the id is set once one lowered cleanly.
    issuers: HashMap<String, (Option<super::security::IssuerId>, Span)>,
    token_exchanges: HashMap<String, (Option<super::identity::TokenExchangeId>, Span)>,
    roles: HashMap<String, (Option<super::security::RoleId>, Span)>,
    /// Declared service role names, likewise.
    service_roles: HashMap<String, (Option<super::identity::ServiceRoleId>, Span)>,
    /// Services with an `api` that failed to lower (reported): a use naming
    /// a version of it is dropped quietly rather than reported unknown.
    services_with_failed_apis: std::collections::HashSet<String>,
    model: Model,
}

impl<D: Deref<Target = Decls>> Lower<'_, D> {
    /// Resolves a service name, reporting unknown names with a suggestion.
    fn service_ref(&mut self, name: &Spanned<String>) -> Option<Spanned<ServiceId>> {
        let declare = || "declare it with `service \"name\" { ... }`".to_string();
        resolve(self.sink, &self.d.services, name, Code::UnknownService, "service", declare)
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
}

/// Looks a name up among the declared ones of a kind: its id, or `None`
/// when it is unknown (reported with a did-you-mean, else `declare()` as help)
/// or declared but failed to lower (already reported).
fn resolve<Id: Copy>(
    sink: &mut Sink,
    declared: &HashMap<String, (Option<Id>, Span)>,
    name: &Spanned<String>,
    code: Code,
    what: &str,
    declare: impl FnOnce() -> String,
) -> Option<Spanned<Id>> {
    if let Some(&(id, _)) = declared.get(&name.value) {
        return id.map(|id| Spanned::new(id, name.span));
    }
    let mut known: Vec<&str> = declared.keys().map(String::as_str).collect();
    known.sort_unstable();
    sink.push(
        Diagnostic::new(code, format!("no {what} named `{}`", name.value))
            .at(name.span, format!("unknown {what}"))
            .help_opt(suggestion(&name.value, known.iter().copied()).or_else(|| Some(declare()))),
    );
    None
}

/// What a scope's map keeps of a declaration: at least where it is.
trait Declaration {
    fn span(&self) -> Span;
}

impl Declaration for Span {
    fn span(&self) -> Span {
        *self
    }
}

/// A declaration registered before it is lowered: its id once it lowers.
impl<T> Declaration for (Option<T>, Span) {
    fn span(&self) -> Span {
        self.1
    }
}

/// Declares `key` in `scope` (a mesh's services, a gateway's routes, an
/// issuer's claims, the top-level singletons, ...): true the first time,
/// when `entry` is kept; a repeat is reported at `entry`'s span as
/// "WHAT `NAME` is declared twice" (`MESH0006`) against the first
/// declaration, and the scope keeps the first. The one place that rule is.
fn declare_once<K: Eq + std::hash::Hash, V: Declaration>(
    scope: &mut HashMap<K, V>,
    key: K,
    entry: V,
    (what, name): (&str, &str),
    sink: &mut Sink,
) -> bool {
    match scope.get(&key) {
        Some(first) => {
            duplicate(sink, what, name, entry.span(), first.span());
            false
        }
        None => {
            scope.insert(key, entry);
            true
        }
    }
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

/// What declares or records: needs the declarations mutably.
impl Lower<'_> {
    /// `lower` applied to each service's node on the thread pool, with the
    /// declarations read-only and a sink of its own per service; the
    /// diagnostics are appended in service order, so the output is the same
    /// for any number of threads.
    fn per_service<T: Send>(
        &mut self,
        services: &[(&Node, Option<ServiceId>)],
        lower: impl Fn(&mut Lower<'_, &Decls>, &Node) -> T + Sync,
    ) -> Vec<T> {
        let (sources, decls) = (self.sources, &*self.d);
        let lowered: Vec<(T, Sink)> = services
            .par_iter()
            .map(|&(node, _)| {
                let mut sink = Sink::new();
                let value = lower(&mut Lower { sources, sink: &mut sink, d: decls }, node);
                (value, sink)
            })
            .collect();
        lowered
            .into_iter()
            .map(|(value, sink)| {
                self.sink.append(sink);
                value
            })
            .collect()
    }

    fn mesh(&mut self, node: &Node) {
        read::check_entries(node, 1, &[], self.sink);
        read::no_children(node, self.sink);
        if let Some(name) = read::string_arg(node, 0, "a name", "mesh \"shop\"", self.sink) {
            self.d.model.name = name.value;
        }
    }

    /// Registers a schema file referenced from the file `span` lies in.
    fn schema_ref(&mut self, path: &Spanned<String>, format: SchemaFormat) -> SchemaId {
        let spelled_in = (path.span.file, format);
        if let Some(&id) = self.d.schema_spellings.get(&spelled_in).and_then(|s| s.get(&path.value)) {
            return id;
        }
        let resolved = self.relative_to_file(path);
        let next = SchemaId::new(self.d.model.schemas.len());
        let id = *self.d.schemas.entry((resolved.clone(), format)).or_insert(next);
        if id == next {
            let display = crate::base::display_path(self.sources.root(), &resolved);
            self.d.model.schemas.push(SchemaRef {
                path: resolved,
                display,
                format,
                span: path.span,
                named_by_api: false,
            });
        }
        self.d.schema_spellings.entry(spelled_in).or_default().insert(path.value.clone(), id);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A schema path is resolved against the file that spells it: the same
    /// spelling in two directories is two schemas, two spellings of one
    /// file (and a spelling repeated in one file) are one.
    #[test]
    fn schema_paths_are_resolved_per_file_that_spells_them() {
        let root = std::path::Path::new("/workspace");
        let mut fs = crate::base::fs::MemoryFs::new();
        fs.insert(
            root.join("mesh.kdl"),
            "import \"a/topics.kdl\"\nimport \"b/topics.kdl\"\ntopic \"t1\" { schema \"a/e.json\"; }\n",
        );
        fs.insert(
            root.join("a/topics.kdl"),
            "topic \"t2\" { schema \"e.json\"; }\ntopic \"t3\" { schema \"./e.json\"; }\ntopic \"t4\" { schema \"e.json\"; }\n",
        );
        fs.insert(root.join("b/topics.kdl"), "topic \"t5\" { schema \"e.json\"; }\n");
        fs.insert(root.join("a/e.json"), "{}");
        fs.insert(root.join("b/e.json"), "{}");
        let mut sources = Sources::new(root);
        let mut sink = Sink::new();
        let workspace = crate::load::load(&fs, &root.join("mesh.kdl"), &mut sources, &mut sink).unwrap();
        let model = lower(&workspace, &sources, &mut sink);
        let paths: Vec<&str> = model.schemas.iter().map(|s| s.display.as_str()).collect();
        assert_eq!(paths, ["a/e.json", "b/e.json"]);
        let schema_of =
            |name: &str| model.topics.iter().find(|t| t.name.value == name).map(|t| t.current().schema.index());
        let schemas: Vec<Option<usize>> = ["t1", "t2", "t3", "t4", "t5"].into_iter().map(schema_of).collect();
        assert_eq!(schemas, [Some(0), Some(0), Some(0), Some(0), Some(1)]);
    }

    /// Every "declared twice" goes through `declare_once`: the same text,
    /// the repeat's span, the first declaration's span.
    #[test]
    fn a_name_declared_twice_is_reported_at_the_repeat_against_the_first() {
        let spec = r#"
            limits { max-retry-amplification 8; }
            limits { max-retry-amplification 9; }
            mtls { mode "strict"; }
            mtls { mode "permissive"; }
            retry-policy "standard" { retries 2; }
            retry-policy "standard" { retries 3; }
            topic "placed" { schema "placed.json"; }
            topic "placed" { schema "placed.json"; }
            service "orders" {
                owner "t"
                address "orders"
                port "http" 8080
                port "admin" 9000
                port "admin" 9001
            }
            service "orders" { owner "t"; address "orders2" port=8080; }
            gateway "public" {
                listener "http" port=8080
                route "r" { match path-prefix="/a/"; to "orders"; }
                route "r" { match path-prefix="/b/"; to "orders"; }
            }
            gateway "public" { listener "http" port=9090; }
            gateway "edge" {
                listener "http" port=8081
                listener "http" port=8082
            }
        "#;
        let root = std::path::Path::new("/workspace");
        let mut fs = crate::base::fs::MemoryFs::new();
        fs.insert(root.join("mesh.kdl"), spec);
        fs.insert(root.join("placed.json"), "{}");
        let mut sources = Sources::new(root);
        let mut sink = Sink::new();
        let workspace = crate::load::load(&fs, &root.join("mesh.kdl"), &mut sources, &mut sink).unwrap();
        lower(&workspace, &sources, &mut sink);
        let text = |span: Span| sources.get(span.file).text[span.start as usize..span.end as usize].to_string();
        let repeats: Vec<(String, String, String)> = sink
            .into_sorted()
            .into_iter()
            .filter(|d| d.code == Code::DuplicateName)
            .map(|d| {
                assert_eq!(d.primary.as_ref().unwrap().message, "declared again here");
                assert_eq!(d.secondary[0].message, "first declared here");
                (d.message, text(d.primary.unwrap().span), text(d.secondary[0].span))
            })
            .collect();
        let expected = [
            ("limits `limits` is declared twice", "limits", "limits"),
            ("mtls `mtls` is declared twice", "mtls", "mtls"),
            ("retry-policy `standard` is declared twice", "\"standard\"", "\"standard\""),
            ("topic `placed` is declared twice", "\"placed\"", "\"placed\""),
            ("port `admin` is declared twice", "\"admin\"", "\"admin\""),
            ("service `orders` is declared twice", "\"orders\"", "\"orders\""),
            ("route `r` is declared twice", "\"r\"", "\"r\""),
            ("gateway `public` is declared twice", "\"public\"", "\"public\""),
            ("listener `http` is declared twice", "\"http\"", "\"http\""),
        ];
        let expected: Vec<(String, String, String)> =
            expected.iter().map(|(m, a, b)| (m.to_string(), a.to_string(), b.to_string())).collect();
        assert_eq!(repeats, expected);
    }
}
