//! A service's page: its APIs with their operations and types (from the
//! schema index), calls out and in, events, who may call it, objectives,
//! alerts and API versions.

use askama::Template;

use super::pages::{group_name, path_text, ApiVersions, Head, Link};
use super::Index;
use crate::model::identity::{Naming, Principal, Verdict};
use crate::model::{Model, ServiceId, TokenPassing};

#[derive(Template)]
#[template(path = "site/service.html")]
pub struct ServicePage {
    head: Head,
    name: String,
    owner: String,
    /// `tier=backend, zone=eu`, empty without labels.
    labels: String,
    placement: &'static str,
    address: String,
    apis: Vec<ApiSection>,
    calls_out: Vec<CallRow>,
    calls_in: Vec<CallInRow>,
    produces: Vec<(Link, u32, String)>,
    consumes: Vec<(Link, u32, String)>,
    access: AccessSection,
    slos: Vec<String>,
    alerts: Vec<Link>,
    versions: Vec<ApiVersions>,
    amplification: String,
}

struct ApiSection {
    anchor: String,
    name: String,
    kind: String,
    port: String,
    schema: String,
    /// The schema's summary (an OpenAPI description, a proto file's comment).
    summary: String,
    /// The schema's own page, with its operations and types: rendered once
    /// however many APIs share the file.
    reference: Option<Link>,
}

struct CallRow {
    target: Link,
    operation: String,
    timeout: String,
    retries: String,
    amplification: String,
    policy: String,
}

struct CallInRow {
    from: String,
    link: Option<Link>,
    operation: String,
    timeout: String,
    retries: String,
}

/// Who may call a service: its authorization rules, and what its proxy
/// decides for each declared caller (the analysis the checks run).
pub struct AccessSection {
    pub service: Link,
    /// `None`: no `authorization` block, anyone reaching it may call.
    pub rules: Option<Vec<String>>,
    pub callers: Vec<CallerRow>,
}

pub struct CallerRow {
    pub from: String,
    pub operation: String,
    pub verdict: String,
    pub allowed: bool,
}

fn principal(model: &Model, p: &Principal) -> String {
    match p {
        Principal::Service(id) => model.service(*id).name.value.clone(),
        Principal::Gateway(id) => format!("gateway {}", model.gateway(*id).name.value),
    }
}

/// The callers a rule names: services and gateways, then roles with their members.
fn rule_callers(model: &Model, rule: &crate::model::identity::AuthorizationRule) -> Vec<String> {
    let direct = rule.principals.iter().map(|p| principal(model, &p.value));
    let roles = rule.roles.iter().map(|r| {
        let role = model.service_role(r.value);
        let members: Vec<String> = role.members.iter().map(|(m, _)| principal(model, m)).collect();
        let external = role.selectors.iter().filter(|s| !s.value.resolved_in_spec());
        let mut parts = members;
        parts.extend(external.map(|s| s.value.describe(model).replace('`', "")));
        format!("role {} ({})", role.name.value, parts.join(", "))
    });
    direct.chain(roles).collect()
}

/// The rules of `service` and the verdict for each declared call and
/// route to it; `root` locates the site from the page.
pub fn access(model: &Model, id: ServiceId, root: &str, index: &Index) -> AccessSection {
    let service = model.service(id);
    let authorization = service.authorization();
    let rules = authorization.map(|a| {
        a.rules()
            .iter()
            .map(|r| {
                let who = rule_callers(model, r);
                let ops = if r.operations.is_empty() {
                    "every operation".to_string()
                } else {
                    r.operations.iter().map(|o| o.value.to_string()).collect::<Vec<_>>().join(", ")
                };
                let conditions = if r.conditions.is_empty() { "" } else { " (when its header conditions hold)" };
                format!("{} {}: {ops}{conditions}", r.action.as_str(), who.join(", "))
            })
            .collect()
    });
    let mut callers = Vec::new();
    let mut judge = |from: Principal, authenticated: bool, operation: Option<&crate::model::values::Operation>| {
        let (verdict, allowed) = match authorization {
            None => ("allowed: no authorization rules".to_string(), true),
            Some(a) => match a.decide(authenticated.then_some(&from), operation) {
                Verdict::Allowed => ("allowed".to_string(), true),
                Verdict::DeniedBy(rule) => {
                    let who = rule_callers(model, rule);
                    let via = match rule.names(&from) {
                        Some(Naming::Role(role)) => {
                            format!(" (a member of service-role {})", model.service_role(role).name.value)
                        }
                        _ => String::new(),
                    };
                    (format!("denied by the rule `deny {}`{via}", who.join(", ")), false)
                }
                Verdict::NotAllowed if !authenticated => ("refused: plaintext, no identity".to_string(), false),
                Verdict::NotAllowed => ("refused: no allow rule admits it".to_string(), false),
            },
        };
        callers.push(CallerRow {
            from: principal(model, &from),
            operation: operation.map_or_else(|| "any".to_string(), ToString::to_string),
            verdict,
            allowed,
        });
    };
    for &(caller_id, call) in &index.calls_in[id.index()] {
        let caller = model.service(caller_id);
        let call = &caller.calls[call];
        judge(
            Principal::Service(caller_id),
            model.mtls_between(Some(caller), service),
            call.operation.as_ref().map(|o| &o.value),
        );
    }
    for &(gateway, route) in &index.routes_in[id.index()] {
        let forward = model.gateway(gateway).routes[route].forward().expect("indexed routes forward");
        judge(
            Principal::Gateway(gateway),
            model.mtls_between(None, service),
            forward.operation.as_ref().map(|o| &o.value),
        );
    }
    AccessSection { service: Link::service(root, service), rules, callers }
}

fn retries_text(policy: Option<&crate::model::traffic::RetryPolicy>) -> String {
    let Some(p) = policy else { return "none".to_string() };
    if p.retries == 0 {
        return "none".to_string();
    }
    let mut text =
        format!("{} (on {})", p.retries, p.conditions().iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", "));
    if let Some(per_try) = &p.per_try_timeout {
        text.push_str(&format!(", {} per try", per_try.value));
    }
    if p.budget.is_some() {
        text.push_str(", with a retry budget");
    }
    text
}

/// `summaries`: each schema file's summary, by schema, for the files that have a page.
pub fn page(
    model: &Model,
    id: ServiceId,
    index: &Index,
    versions: Vec<ApiVersions>,
    summaries: &std::collections::HashMap<crate::model::SchemaId, &str>,
) -> ServicePage {
    let root = "../";
    let service = model.service(id);
    let amplification = &index.amplification;
    let apis = service
        .apis
        .iter()
        .map(|api| ApiSection {
            anchor: format!("api-{}", super::slug(&api.name.value)),
            name: api.name.value.clone(),
            kind: api.kind.to_string(),
            port: service.address.as_ref().map_or(String::new(), |_| service.port(api.port).number.to_string()),
            schema: model.schema(api.schema).display.clone(),
            summary: summaries.get(&api.schema).map_or(String::new(), |s| s.to_string()),
            reference: summaries.contains_key(&api.schema).then(|| Link {
                text: model.schema(api.schema).display.clone(),
                href: format!("{root}{}", super::schema_path(&model.schema(api.schema).display)),
            }),
        })
        .collect();
    let at_caller = amplification[id.index()].map_or(1, |a| a.amplification);
    let calls_out = service
        .calls
        .iter()
        .map(|call| {
            let retries = service.call_retries(call);
            let attempts = retries.map_or(1, |p| p.attempts());
            let mut policy = Vec::new();
            match &call.token {
                TokenPassing::None => {}
                TokenPassing::Forward => policy.push("forwards the user's token".to_string()),
                TokenPassing::Exchange(_) => policy.push("exchanges the user's token".to_string()),
            }
            if call.background {
                policy.push("background".to_string());
            }
            if call.idempotent {
                policy.push("idempotent".to_string());
            }
            if let Some(v) = &call.api_version {
                let target = model.service(call.target.value);
                if let Some(api) = target.apis.get(v.api.index()) {
                    policy.push(format!("API version {}", api.version(v.version).name.value));
                }
            }
            CallRow {
                target: Link::service(root, model.service(call.target.value)),
                operation: call
                    .operation
                    .as_ref()
                    .map_or_else(|| if call.tcp { "TCP".into() } else { "any".into() }, |o| o.value.to_string()),
                timeout: service.call_timeout(call).map_or_else(|| "none".to_string(), |t| t.value.to_string()),
                retries: retries_text(retries),
                amplification: if call.background {
                    "—".into()
                } else {
                    format!("×{}", at_caller.saturating_mul(attempts))
                },
                policy: policy.join(", "),
            }
        })
        .collect();
    let mut calls_in = Vec::new();
    for &(caller, call) in &index.calls_in[id.index()] {
        let caller = model.service(caller);
        let call = &caller.calls[call];
        calls_in.push(CallInRow {
            from: caller.name.value.clone(),
            link: Some(Link::service(root, caller)),
            operation: call.operation.as_ref().map_or_else(|| "any".to_string(), |o| o.value.to_string()),
            timeout: caller.call_timeout(call).map_or_else(|| "none".to_string(), |t| t.value.to_string()),
            retries: retries_text(caller.call_retries(call)),
        });
    }
    for &(gateway, route) in &index.routes_in[id.index()] {
        let gateway = model.gateway(gateway);
        let route = &gateway.routes[route];
        let forward = route.forward().expect("indexed routes forward");
        calls_in.push(CallInRow {
            from: format!("gateway {} route {} ({})", gateway.name.value, route.name.value, path_text(route)),
            link: None,
            operation: forward.operation.as_ref().map_or_else(|| "any".to_string(), |o| o.value.to_string()),
            timeout: forward.timeout.map_or_else(
                || "15s (Envoy's default)".to_string(),
                |t| t.duration().map_or("none".into(), |d| d.to_string()),
            ),
            retries: retries_text(forward.retries.as_ref()),
        });
    }
    let topic_link = |t: crate::model::TopicId| {
        let name = &model.topic(t).name.value;
        Link { text: name.clone(), href: format!("{root}versions.html#topic-{}", super::slug(name)) }
    };
    let produces = index.produced_by[id.index()]
        .iter()
        .map(|p| (topic_link(p.topic.value), p.version, p.subject.as_ref().map_or(String::new(), |s| s.value.clone())))
        .collect();
    let consumes =
        index.consumed_by[id.index()].iter().map(|c| (topic_link(c.topic.value), c.version, group_name(c))).collect();
    let slos = service
        .objectives
        .slos
        .iter()
        .map(|slo| match &slo.kind {
            crate::model::monitoring::SloKind::Availability => {
                format!("availability {} over {}", slo.objective.value, slo.window)
            }
            crate::model::monitoring::SloKind::Latency { under } => {
                format!("{} of requests under {} over {}", slo.objective.value, under.value, slo.window)
            }
        })
        .collect();
    let alerts = index.runbooks_of[id.index()]
        .iter()
        .map(|&i| &index.runbooks[i])
        .map(|r| Link {
            text: format!("{} ({}, {})", r.alert, r.subject.replace('`', ""), r.severity),
            href: format!("{root}runbooks/{}.html", r.id),
        })
        .collect();
    let amplification = match amplification[id.index()] {
        Some(a) => format!("up to ×{} requests per gateway request", a.amplification),
        None => "no gateway route reaches it".to_string(),
    };
    ServicePage {
        head: Head::new(model, root, service.name.value.clone()),
        name: service.name.value.clone(),
        owner: service.owner.as_ref().map_or(String::new(), |o| o.value.clone()),
        labels: crate::model::label_list(&service.labels),
        placement: if service.external().is_some() {
            "external (outside the mesh)"
        } else {
            "in the mesh, beside its sidecar"
        },
        address: service.address.as_ref().map_or_else(
            || "listens nowhere".to_string(),
            |a| {
                let ports: Vec<String> =
                    a.value.ports.iter().map(|p| format!("{} ({})", p.number, p.label())).collect();
                format!("{} ports {}", a.value.host, ports.join(", "))
            },
        ),
        apis,
        calls_out,
        calls_in,
        produces,
        consumes,
        access: access(model, id, root, index),
        slos,
        alerts,
        versions,
        amplification,
    }
}
