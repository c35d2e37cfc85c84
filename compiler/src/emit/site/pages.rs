//! The site's top-level pages: the catalog, the topology, the security
//! posture, versions, and the search index.

use std::collections::BTreeMap;

use askama::Template;
use serde::Serialize;

use super::diagram::{self, Edge, Graph, Node};
use super::service;
use super::{group, service_path, slug, Index};
use crate::model::api_versions::{Lifecycle, VersionUser};
use crate::model::compliance::Verdict;
use crate::model::events::Consumer;
use crate::model::{Amplified, Gateway, Model, PathMatch, Route, Service, ServiceId};
use crate::schema::reference::TypeDoc;
use crate::schema::SchemaIndex;

/// What the page layout shows on every page.
pub struct Head {
    /// The site's root relative to the page: `` or `../`.
    pub root: &'static str,
    pub title: String,
    pub mesh: String,
}

impl Head {
    pub fn new(model: &Model, root: &'static str, title: impl Into<String>) -> Head {
        Head { root, title: title.into(), mesh: model.name.clone() }
    }
}

pub struct Link {
    pub text: String,
    /// Relative to the page.
    pub href: String,
}

impl Link {
    /// A service's page, from a page at `root`.
    pub fn service(root: &str, service: &Service) -> Link {
        Link { text: service.name.value.clone(), href: format!("{root}{}", service_path(service)) }
    }
}

/// An external page's URL, when it is one a browser may follow (`http`,
/// `https`): no `javascript:` or `data:` from a spec.
pub fn external_url(url: &str) -> Option<String> {
    let lower = url.to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://")).then(|| url.to_string())
}

// ---- the catalog -----------------------------------------------------------

#[derive(Template)]
#[template(path = "site/index.html")]
pub struct IndexPage {
    head: Head,
    counts: Vec<(&'static str, usize)>,
    call_graph: String,
    clustered: bool,
    services: Vec<ServiceRow>,
    owners: Vec<OwnerRow>,
    topics: Vec<Link>,
    gateways: Vec<GatewayRow>,
}

struct ServiceRow {
    link: Link,
    owner: String,
    apis: String,
    calls_out: usize,
    calls_in: usize,
    external: bool,
}

struct OwnerRow {
    anchor: String,
    name: String,
    services: Vec<Link>,
}

struct GatewayRow {
    anchor: String,
    name: String,
    routes: usize,
    listeners: String,
}

pub fn index(model: &Model, index: &Index) -> IndexPage {
    let services = model
        .services
        .iter()
        .zip(index.calls_in.iter().zip(&index.routes_in))
        .map(|(s, (calls, routes))| ServiceRow {
            link: Link::service("", s),
            owner: s.owner.as_ref().map_or(String::new(), |o| o.value.clone()),
            apis: s.apis.iter().map(|a| format!("{} ({})", a.name.value, a.kind)).collect::<Vec<_>>().join(", "),
            calls_out: s.calls.len(),
            calls_in: calls.len() + routes.len(),
            external: s.external().is_some(),
        })
        .collect();
    let mut by_owner: BTreeMap<String, Vec<Link>> = BTreeMap::new();
    for service in &model.services {
        by_owner.entry(group(service)).or_default().push(Link::service("", service));
    }
    let owners: Vec<OwnerRow> = by_owner
        .into_iter()
        .map(|(name, services)| OwnerRow { anchor: format!("owner-{}", slug(&name)), name, services })
        .collect();
    let topics = model
        .topics
        .iter()
        .map(|t| Link { text: t.name.value.clone(), href: format!("versions.html#topic-{}", slug(&t.name.value)) })
        .collect();
    let gateways = model
        .gateways
        .iter()
        .map(|g| GatewayRow {
            anchor: format!("gateway-{}", slug(&g.name.value)),
            name: g.name.value.clone(),
            routes: g.routes.len(),
            listeners: g.listeners.iter().map(|l| format!("{}:{}", l.address, l.port)).collect::<Vec<_>>().join(", "),
        })
        .collect();
    let alerts = index.runbooks.len();
    let counts = vec![
        ("services", model.services.len()),
        ("gateways", model.gateways.len()),
        ("routes", model.gateways.iter().map(|g| g.routes.len()).sum()),
        ("APIs", model.services.iter().map(|s| s.apis.len()).sum()),
        ("calls", model.services.iter().map(|s| s.calls.len()).sum()),
        ("topics", model.topics.len()),
        ("owners", owners.len()),
        ("alerts", alerts),
    ];
    let calls = call_graph(model, index);
    IndexPage {
        head: Head::new(model, "", "Catalog"),
        counts,
        call_graph: calls.svg,
        clustered: calls.clustered,
        services,
        owners,
        topics,
        gateways,
    }
}

// ---- search ------------------------------------------------------------------

#[derive(Serialize)]
struct SearchEntry {
    kind: &'static str,
    name: String,
    detail: String,
    /// Relative to the site's root.
    href: String,
}

/// `search-index.js`: every service, operation (of the APIs' schemas),
/// topic and owner, for `search.js`; `<` is escaped so the data can never
/// close a script element.
/// The search index: services, each schema file's operations (to its
/// page: once, however many APIs share the file), topics and owners.
pub fn search_index(model: &Model, schema_pages: &[SchemaPage]) -> String {
    let mut entries = Vec::new();
    let mut owners: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for service in &model.services {
        let owner = service.owner.as_ref().map_or("", |o| o.value.as_str());
        entries.push(SearchEntry {
            kind: "service",
            name: service.name.value.clone(),
            detail: owner.to_string(),
            href: service_path(service),
        });
        owners.entry(group(service)).or_default().push(&service.name.value);
    }
    for schema in schema_pages {
        for operation in &schema.reference.operations {
            entries.push(SearchEntry {
                kind: "operation",
                name: operation.name.clone(),
                detail: schema.display.clone(),
                href: super::schema_path(&schema.display),
            });
        }
    }
    for topic in &model.topics {
        entries.push(SearchEntry {
            kind: "topic",
            name: topic.name.value.clone(),
            detail: format!("v{}", topic.current().number),
            href: format!("versions.html#topic-{}", slug(&topic.name.value)),
        });
    }
    for (owner, services) in owners {
        entries.push(SearchEntry {
            kind: "owner",
            detail: services.join(", "),
            href: format!("index.html#owner-{}", slug(&owner)),
            name: owner,
        });
    }
    let json = serde_json::to_string(&entries).expect("the search index serializes");
    format!("window.MESHC_INDEX = {};\n", json.replace('<', "\\u003c"))
}

// ---- diagrams ---------------------------------------------------------------

fn service_node(service: &Service, root: &str) -> Node {
    Node {
        label: service.name.value.clone(),
        detail: service.owner.as_ref().map_or_else(|| "no owner".to_string(), |o| o.value.clone()),
        href: Some(format!("{root}{}", service_path(service))),
        class: if service.external().is_some() { "external" } else { "service" },
        group: group(service),
    }
}

fn owner_href(root: &str) -> impl Fn(&str) -> Option<String> + '_ {
    move |group: &str| Some(format!("{root}index.html#owner-{}", slug(group)))
}

/// The call graph: gateways and services, an edge per caller and callee
/// (calls of one pair merged), labelled with the attempts per call and the
/// retry amplification the callee can see.
fn call_graph(model: &Model, index: &Index) -> diagram::Diagram {
    let root = "";
    let amplification = &index.amplification;
    let limit = model.limits.max_retry_amplification;
    let mut graph = Graph::default();
    for service in &model.services {
        graph.add(service_node(service, root));
    }
    let mut pairs: BTreeMap<(usize, usize), (u64, u64, bool)> = BTreeMap::new();
    for gateway in &model.gateways {
        let node = graph.add(Node {
            label: gateway.name.value.clone(),
            detail: "gateway".into(),
            href: Some(format!("{root}topology.html#gateway-{}", slug(&gateway.name.value))),
            class: "gateway",
            group: "gateways".into(),
        });
        for forward in gateway.routes.iter().filter_map(Route::forward) {
            let attempts = forward.retries.as_ref().map_or(1, |p| p.attempts());
            let entry = pairs.entry((node, forward.target.value.index())).or_insert((1, 1, false));
            entry.0 = entry.0.max(attempts);
            entry.1 = entry.1.max(attempts);
        }
    }
    for (caller, service) in model.services.iter().enumerate() {
        let at_caller = amplification[caller].map_or(1, |a: Amplified| a.amplification);
        for call in &service.calls {
            let attempts = service.call_retries(call).map_or(1, |p| p.attempts());
            let entry = pairs.entry((caller, call.target.value.index())).or_insert((1, 1, call.background));
            entry.0 = entry.0.max(attempts);
            entry.1 = entry.1.max(at_caller.saturating_mul(attempts));
            entry.2 &= call.background;
        }
    }
    for ((from, to), (attempts, amplified, background)) in pairs {
        let (label, class) = if background {
            ("background".to_string(), "background")
        } else if amplified > limit {
            (format!("×{attempts} · up to ×{amplified} (limit {limit})"), "amplified")
        } else if amplified > 1 {
            (format!("×{attempts} · up to ×{amplified}"), "retried")
        } else {
            (String::new(), "call")
        };
        graph.edges.push(Edge { from, to, label, class });
    }
    diagram::draw(&graph, "call-graph", "Call graph", &owner_href(root))
}

/// Producers → topics → consumers.
fn event_flow(model: &Model, index: &Index) -> diagram::Diagram {
    let mut graph = Graph::default();
    let mut nodes: Vec<Option<usize>> = vec![None; model.services.len()];
    let mut service = |graph: &mut Graph, id: ServiceId| -> usize {
        *nodes[id.index()].get_or_insert_with(|| graph.add(service_node(model.service(id), "")))
    };
    let (producers, consumers) = (&index.producers, &index.consumers);
    for (t, topic) in model.topics.iter().enumerate() {
        let first_owner =
            producers[t].first().map_or_else(|| "topics".to_string(), |p| group(model.service(p.service)));
        let node = graph.add(Node {
            label: topic.name.value.clone(),
            detail: format!("topic · v{}", topic.current().number),
            href: Some(format!("versions.html#topic-{}", slug(&topic.name.value))),
            class: "topic",
            group: format!("{first_owner} topics"),
        });
        for producer in &producers[t] {
            let from = service(&mut graph, producer.service);
            graph.edges.push(Edge { from, to: node, label: format!("writes v{}", producer.version), class: "publish" });
        }
        for consumer in &consumers[t] {
            let to = service(&mut graph, consumer.service);
            graph.edges.push(Edge {
                from: node,
                to,
                label: format!("reads v{}", consumer.version),
                class: "subscribe",
            });
        }
    }
    diagram::draw(&graph, "event-flow", "Event flow", &owner_href(""))
}

/// A gateway's routes and the services they reach.
fn route_map(model: &Model, gateway: &Gateway, id: &str) -> diagram::Diagram {
    let mut graph = Graph::default();
    let root = graph.add(Node {
        label: gateway.name.value.clone(),
        detail: "gateway".into(),
        href: None,
        class: "gateway",
        group: "gateway".into(),
    });
    let mut nodes: Vec<Option<usize>> = vec![None; model.services.len()];
    for route in &gateway.routes {
        let (detail, target) = match route.forward() {
            Some(forward) => (path_text(route), Some(forward.target.value)),
            None => (format!("{} (redirect)", path_text(route)), None),
        };
        let group =
            target.map_or_else(|| "redirects".to_string(), |t| format!("routes to {}", model.service(t).name.value));
        let node = graph.add(Node { label: route.name.value.clone(), detail, href: None, class: "route", group });
        graph.edges.push(Edge { from: root, to: node, label: String::new(), class: "route" });
        if let Some(target) = target {
            let to = *nodes[target.index()].get_or_insert_with(|| graph.add(service_node(model.service(target), "")));
            let retries = route.forward().and_then(|f| f.retries.as_ref()).map(|p| p.attempts()).filter(|a| *a > 1);
            let label = retries.map_or(String::new(), |a| format!("×{a}"));
            graph.edges.push(Edge { from: node, to, label, class: "call" });
        }
    }
    diagram::draw(&graph, id, &format!("Routes of gateway {}", gateway.name.value), &owner_href(""))
}

/// `GET /orders/*`, `/exact`.
pub fn path_text(route: &Route) -> String {
    let path = match &route.matcher.path {
        PathMatch::Exact(p) => p.clone(),
        PathMatch::Prefix(p) => format!("{p}*"),
    };
    match route.matcher.method {
        Some(method) => format!("{method} {path}"),
        None => path,
    }
}

#[derive(Template)]
#[template(path = "site/topology.html")]
pub struct TopologyPage {
    head: Head,
    call_graph: String,
    clustered: bool,
    event_flow: Option<String>,
    gateways: Vec<(String, String, String)>,
}

pub fn topology(model: &Model, index: &Index) -> TopologyPage {
    let calls = call_graph(model, index);
    let events = (!model.topics.is_empty()).then(|| event_flow(model, index).svg);
    let gateways = model
        .gateways
        .iter()
        .map(|g| {
            let anchor = format!("gateway-{}", slug(&g.name.value));
            let svg = route_map(model, g, &format!("routes-{}", slug(&g.name.value))).svg;
            (anchor, g.name.value.clone(), svg)
        })
        .collect();
    TopologyPage {
        head: Head::new(model, "", "Topology"),
        call_graph: calls.svg,
        clustered: calls.clustered,
        event_flow: events,
        gateways,
    }
}

// ---- security ----------------------------------------------------------------

#[derive(Template)]
#[template(path = "site/security.html")]
pub struct SecurityPage {
    head: Head,
    mtls: String,
    identities: Vec<IdentityRow>,
    strict: usize,
    in_mesh: usize,
    routes: Vec<RouteRow>,
    authenticated_routes: usize,
    sections: Vec<service::AccessSection>,
    /// `None`: the spec has no compliance rules.
    compliance: Option<Vec<ComplianceRow>>,
}

/// A compliance rule's verdicts, as `compliance/report.json` gives them.
pub struct ComplianceRow {
    rule: String,
    reference: String,
    severity: &'static str,
    applies_to: &'static str,
    message: String,
    passed: usize,
    /// Failing subjects.
    failed: Vec<String>,
    /// Suppressed subjects with the reason and expiry.
    suppressed: Vec<String>,
}

pub struct IdentityRow {
    link: Link,
    identity: String,
    mtls: &'static str,
    token: String,
}

pub struct RouteRow {
    gateway: String,
    route: String,
    matcher: String,
    target: Option<Link>,
    auth: String,
    rate_limit: String,
    public: String,
    /// No token needed.
    open: bool,
}

pub fn security(model: &Model, schemas: &SchemaIndex, index: &Index) -> SecurityPage {
    let trust_domain = model.mtls.as_ref().map(|m| m.trust_domain.clone());
    let mtls = match &model.mtls {
        Some(m) => format!("mutual TLS, `{}` by default, trust domain {}", m.mode.value.as_str(), m.trust_domain),
        None => "no mutual TLS: the mesh is plaintext".to_string(),
    };
    let mut identities = Vec::new();
    let (mut strict, mut in_mesh) = (0, 0);
    for service in &model.services {
        let Some(member) = service.mesh() else { continue };
        in_mesh += 1;
        let mode = model.mtls_mode(service);
        if mode == crate::model::identity::MtlsMode::Strict {
            strict += 1;
        }
        identities.push(IdentityRow {
            link: Link::service("", service),
            identity: trust_domain.as_deref().map_or_else(
                || format!("ns/{}/sa/{}", member.identity.namespace, member.identity.service_account),
                |td| member.identity.spiffe_id(td),
            ),
            mtls: mode.as_str(),
            token: member.require_token.as_ref().map_or(String::new(), |i| model.issuer(i.value).name.value.clone()),
        });
    }
    let mut routes = Vec::new();
    for gateway in &model.gateways {
        for route in &gateway.routes {
            routes.push(route_row(model, gateway, route));
        }
    }
    let authenticated_routes = routes.iter().filter(|r| !r.open).count();
    let sections = model.service_ids().map(|id| service::access(model, id, "", index)).collect();
    SecurityPage {
        compliance: compliance_rows(model, schemas),
        head: Head::new(model, "", "Security posture"),
        mtls,
        identities,
        strict,
        in_mesh,
        routes,
        authenticated_routes,
        sections,
    }
}

/// Every compliance rule's verdicts, from the evaluation the check pass
/// and the report share.
fn compliance_rows(model: &Model, schemas: &SchemaIndex) -> Option<Vec<ComplianceRow>> {
    let compliance = &model.compliance;
    if compliance.rules.is_empty() {
        return None;
    }
    let idempotent = |call: &crate::model::Call| schemas.call_idempotent(model, call);
    let evaluation = crate::model::compliance::evaluate(model, &idempotent);
    let rows = evaluation
        .results
        .iter()
        .map(|result| {
            let rule = compliance.rule(result.rule);
            let mut row = ComplianceRow {
                rule: rule.name.value.clone(),
                reference: rule.reference.clone().unwrap_or_default(),
                severity: rule.severity.as_str(),
                applies_to: rule.applies_to.as_str(),
                message: rule.message.clone(),
                passed: 0,
                failed: Vec::new(),
                suppressed: Vec::new(),
            };
            for outcome in &result.outcomes {
                match outcome.verdict {
                    Verdict::Passed => row.passed += 1,
                    Verdict::Failed => row.failed.push(outcome.subject.clone()),
                    Verdict::Suppressed(i) => {
                        let s = &compliance.suppressions[i];
                        row.suppressed
                            .push(format!("{} (until {}: {})", outcome.subject, s.until.value, s.reason.value));
                    }
                }
            }
            row
        })
        .collect();
    Some(rows)
}

fn route_row(model: &Model, gateway: &Gateway, route: &Route) -> RouteRow {
    let auth = route.auth.as_ref().map_or(String::new(), |auth| {
        let mut text = format!("JWT of {}", model.issuer(auth.issuer.value).name.value);
        if !auth.roles.is_empty() {
            let roles: Vec<&str> = auth.roles.iter().map(|r| model.role(r.value).name.value.as_str()).collect();
            text.push_str(&format!(", role {}", roles.join(" or ")));
        }
        text
    });
    let rate_limit = route
        .rate_limits
        .iter()
        .map(|l| format!("{} per {} by {}", l.requests, l.per.as_str(), l.key.value))
        .collect::<Vec<_>>()
        .join("; ");
    RouteRow {
        gateway: gateway.name.value.clone(),
        route: route.name.value.clone(),
        matcher: path_text(route),
        target: route.forward().map(|f| Link::service("", model.service(f.target.value))),
        open: route.auth.is_none(),
        auth,
        rate_limit,
        public: route.public.as_ref().map_or(String::new(), |p| p.reason.clone()),
    }
}

// ---- versions ----------------------------------------------------------------

#[derive(Template)]
#[template(path = "site/versions.html")]
pub struct VersionsPage {
    head: Head,
    apis: Vec<ApiVersions>,
    topics: Vec<TopicVersions>,
}

pub struct ApiVersions {
    pub service: Link,
    pub api: String,
    pub strategy: &'static str,
    pub versions: Vec<VersionRow>,
}

pub struct VersionRow {
    pub name: String,
    pub selector: String,
    pub schema: String,
    pub deprecated: bool,
    pub since: String,
    pub sunset: String,
    pub replaced_by: String,
    pub link: Option<String>,
    pub used_by: Vec<String>,
}

pub struct TopicVersion {
    number: u32,
    schema: String,
    message: String,
    /// The event's type with its fields (a protobuf topic's message only).
    types: Vec<TypeDoc>,
}

pub struct TopicVersions {
    anchor: String,
    name: String,
    compatibility: String,
    versions: Vec<TopicVersion>,
    producers: Vec<(Link, u32)>,
    consumers: Vec<(Link, u32, String)>,
}

/// Every versioned API's versions with their lifecycle and users, grouped
/// by service and API, with the service's id; from a page at `root`.
pub fn api_versions(model: &Model, root: &str) -> Vec<(ServiceId, ApiVersions)> {
    let uses = model.api_version_uses();
    let mut out: Vec<(ServiceId, ApiVersions)> = Vec::new();
    let mut last = None;
    for (key, service, api, version) in model.api_versions() {
        if last != Some((key.0, key.1)) {
            last = Some((key.0, key.1));
            out.push((
                key.0,
                ApiVersions {
                    service: Link::service(root, service),
                    api: api.name.value.clone(),
                    strategy: version.selector.value.strategy(),
                    versions: Vec::new(),
                },
            ));
        }
        let deprecation = match &version.lifecycle {
            Lifecycle::Deprecated(d) => Some(d),
            Lifecycle::Current => None,
        };
        let used_by = uses
            .get(&key)
            .into_iter()
            .flatten()
            .map(|u| match u.user {
                VersionUser::Call { caller, .. } => format!("calls from {}", model.service(caller).name.value),
                VersionUser::Route { gateway, route } => {
                    let g = model.gateway(gateway);
                    format!("route {} of gateway {}", g.routes[route].name.value, g.name.value)
                }
            })
            .collect();
        out.last_mut().expect("pushed above").1.versions.push(VersionRow {
            name: version.name.value.clone(),
            selector: version.selector.value.to_string(),
            schema: model.schema(version.schema).display.clone(),
            deprecated: deprecation.is_some(),
            since: deprecation.map_or(String::new(), |d| d.since.value.to_string()),
            sunset: deprecation.and_then(|d| d.sunset.as_ref()).map_or(String::new(), |s| s.value.to_string()),
            replaced_by: deprecation
                .and_then(|d| d.replaced_by.as_ref())
                .map_or(String::new(), |r| api.version(r.value).name.value.clone()),
            link: deprecation.and_then(|d| d.link.as_ref()).and_then(|l| external_url(&l.value)),
            used_by,
        });
    }
    out
}

pub fn versions(model: &Model, schemas: &SchemaIndex, index: &Index) -> VersionsPage {
    let (producers, consumers) = (&index.producers, &index.consumers);
    let topics = model
        .topics
        .iter()
        .enumerate()
        .map(|(t, topic)| TopicVersions {
            anchor: format!("topic-{}", slug(&topic.name.value)),
            name: topic.name.value.clone(),
            compatibility: topic.compatibility.value.to_string(),
            versions: topic
                .versions
                .iter()
                .map(|v| {
                    let message = v.message.as_ref().map_or(String::new(), |m| m.value.clone());
                    let mut types =
                        schemas.get(v.schema).and_then(|s| s.reference()).map_or_else(Vec::new, |r| r.types);
                    if !message.is_empty() {
                        types.retain(|t| t.name == message);
                    }
                    TopicVersion { number: v.number, schema: model.schema(v.schema).display.clone(), message, types }
                })
                .collect(),
            producers: producers[t].iter().map(|p| (Link::service("", model.service(p.service)), p.version)).collect(),
            consumers: consumers[t]
                .iter()
                .map(|c| (Link::service("", model.service(c.service)), c.version, group_name(c)))
                .collect(),
        })
        .collect();
    let apis = api_versions(model, "").into_iter().map(|(_, api)| api).collect();
    VersionsPage { head: Head::new(model, "", "Versions and compatibility"), apis, topics }
}

/// A consumer's group, or `ephemeral`.
pub fn group_name(consumer: &Consumer) -> String {
    consumer.group().map_or_else(|| "ephemeral".to_string(), |g| g.value.clone())
}

// ---- schemas ----------------------------------------------------------------

#[derive(Template)]
#[template(path = "site/schema.html")]
pub struct SchemaPage {
    pub id: crate::model::SchemaId,
    head: Head,
    pub display: String,
    kind: String,
    /// The APIs using it: `SERVICE · API`, to the service's page.
    used_by: Vec<Link>,
    reference: crate::schema::reference::ApiReference,
}

impl SchemaPage {
    pub fn summary(&self) -> &str {
        &self.reference.summary
    }
}

/// A page per schema file some API uses, in path order: each file's
/// reference once, so the site grows with the schemas, not with how many
/// services share them.
pub fn schemas(model: &Model, schemas: &SchemaIndex) -> Vec<SchemaPage> {
    let mut by_file: BTreeMap<&str, (crate::model::SchemaId, String, Vec<Link>)> = BTreeMap::new();
    for service in &model.services {
        for api in &service.apis {
            let display = model.schema(api.schema).display.as_str();
            let entry = by_file.entry(display).or_insert_with(|| (api.schema, api.kind.to_string(), Vec::new()));
            let link = Link::service("../", service);
            entry.2.push(Link { text: format!("{} · {}", link.text, api.name.value), href: link.href });
        }
    }
    by_file
        .into_iter()
        .filter_map(|(display, (id, kind, used_by))| {
            let reference = schemas.get(id)?.reference()?;
            Some(SchemaPage {
                id,
                head: Head::new(model, "../", display.to_string()),
                display: display.to_string(),
                kind,
                used_by,
                reference,
            })
        })
        .collect()
}
