//! The penetration-probe plan (`probes/plan.json`, format `meshc-probes/1`,
//! docs/testing.md): the attacks the spec implies, each naming the spec line
//! it tests. `meshc-runtime up OUT --probe` runs them through the mesh:
//!
//! - every route needing a token, without one, with an expired one, an
//!   unsigned one (`alg: none`), one of another issuer or audience, one
//!   signed under the issuer's `kid` by another key, and without each
//!   required claim or role: refused with 401 or 403 by the gateway;
//! - every service authorization with allow rules, from a workload no rule
//!   allows, without a certificate, in plaintext where mTLS is strict:
//!   refused at the handshake or with 403 (each beside a control request
//!   from an allowed workload, so a refusal means the rules, not a broken
//!   connection), each at the line of the allow rule it requests under; and
//!   from each workload a deny rule names, at the deny rule's line: 403;
//! - every route's local rate limit, exceeded: 429 after the declared count;
//! - every validated route, with bodies its OpenAPI operation rejects: 400;
//! - request smuggling and parsing attacks at each gateway listener:
//!   refused, or routed as normalised to a route that refuses them too;
//!   method-override headers on a route that takes one method: refused, or
//!   answered as the route's own method is (never as another method's route).
//!
//! A quota (`global=#true`) is counted by the rate limit service, which a
//! local run does not start: its probe is listed, and skipped by the runner.

use serde::Serialize;

use super::access::{self, Auth, GatewayEntry};
use super::plan::Header;
use crate::base::Span;
use crate::emit::{Artifact, Options, Unexpressed};
use crate::model::identity::{AuthorizationRule, MtlsMode, Principal, RuleAction};
use crate::model::security::{RateKey, RateLimit};
use crate::model::values::{HttpMethod, Operation};
use crate::model::{GatewayId, Model, PathMatch, PortProtocol, Route, Service};
use crate::schema::SchemaIndex;

/// The plan's format; bumped on any incompatible change.
const FORMAT: &str = "meshc-probes/1";

#[derive(Serialize)]
struct Plan<'a> {
    format: &'static str,
    mesh: &'a str,
    probes: Vec<Probe<'a>>,
}

#[derive(Serialize)]
struct Probe<'a> {
    /// What is tried: `no-token`, `expired-token`, `other-workload`, `exceed`, `cl-te`, ...
    attack: String,
    /// The token that passes the route's checks; the attack breaks one part of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    auth: Option<Auth<'a>>,
    /// Authorization: a workload the rules allow, whose request must not be
    /// refused (the probe's control).
    #[serde(skip_serializing_if = "Option::is_none")]
    control: Option<String>,
    /// The statuses that pass; empty: only a refused connection passes.
    expect: Vec<u16>,
    /// Authorization: the workload whose certificate is presented (`none`:
    /// no certificate, `plaintext`: no TLS).
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    /// The gateway a request enters at.
    #[serde(skip_serializing_if = "Option::is_none")]
    gateway: Option<GatewayEntry<'a>>,
    /// `SUBJECT ATTACK`, unique in the plan.
    id: String,
    /// `auth`, `authorization`, `rate-limit`, `validation` or `parsing`.
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<Limit>,
    /// A refused-connection outcome passes too (authorization).
    refused_passes: bool,
    request: Request<'a>,
    /// The service whose sidecar's inbound listener the request goes to.
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<ServiceTarget<'a>>,
    /// Why the runner cannot run it locally, if it cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    skip: Option<&'static str>,
    /// `file:line` of what it tests.
    source: String,
    /// `gateway:NAME/ROUTE`, `gateway:NAME` or `service:NAME`.
    subject: String,
    /// A missing claim or role: the claims the token leaves out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    without_claims: Vec<&'a str>,
}

#[derive(Clone, Serialize)]
pub(super) struct Request<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) body: Option<String>,
    pub(super) headers: Vec<Header<'a>>,
    pub(super) method: String,
    pub(super) path: String,
}

#[derive(Serialize)]
struct Limit {
    /// `route`, `client-ip`, `claim:NAME` or `header:NAME`.
    key: String,
    per_seconds: u64,
    requests: u32,
}

#[derive(Serialize)]
struct ServiceTarget<'a> {
    name: &'a str,
    /// The port's name, as `runtime/local-mesh.json` names it.
    port: String,
}

pub fn emit(model: &Model, _: &SchemaIndex, _: &Options, _: &mut Vec<Unexpressed>) -> Vec<Artifact> {
    let mut probes = Vec::new();
    for id in model.gateway_ids() {
        let gateway = model.gateway(id);
        for route in &gateway.routes {
            route_probes(model, id, route, &mut probes);
        }
        parsing_probes(model, id, &mut probes);
    }
    for service in &model.services {
        authorization_probes(model, service, &mut probes);
    }
    if probes.is_empty() {
        return Vec::new();
    }
    let origin = model.gateways.first().map_or_else(|| model.services[0].name.span, |g| g.name.span);
    let plan = Plan { format: FORMAT, mesh: &model.name, probes };
    let contents = crate::emit::pretty_json(&plan);
    vec![Artifact { path: "probes/plan.json".into(), contents, origin }]
}

pub(super) fn location(model: &Model, span: Span) -> String {
    let (file, line) = model.compliance.locate(span).unwrap_or(("", 0));
    format!("{file}:{line}")
}

/// A request the route takes: its method (GET if any), a path it matches
/// (a prefix's with `probe` appended) and the headers its match requires.
pub(super) fn route_request<'a>(route: &'a Route) -> Request<'a> {
    let path = match &route.matcher.path {
        PathMatch::Exact(path) => path.clone(),
        PathMatch::Prefix(prefix) if prefix.ends_with('/') => format!("{prefix}probe"),
        PathMatch::Prefix(prefix) => format!("{prefix}/probe"),
    };
    let method = route.matcher.method.as_ref().map_or_else(|| "GET".to_string(), ToString::to_string);
    Request { body: None, headers: access::matching(&route.matcher.headers), method, path }
}

struct Base<'a> {
    subject: String,
    gateway: GatewayEntry<'a>,
    request: Request<'a>,
    auth: Option<Auth<'a>>,
}

impl<'a> Base<'a> {
    fn probe(&self, kind: &'static str, attack: String, source: String, expect: Vec<u16>) -> Probe<'a> {
        Probe {
            id: format!("{} {attack}", self.subject),
            attack,
            auth: self.auth.clone(),
            control: None,
            expect,
            from: None,
            gateway: Some(self.gateway.clone()),
            kind,
            limit: None,
            refused_passes: false,
            request: self.request.clone(),
            service: None,
            skip: None,
            source,
            subject: self.subject.clone(),
            without_claims: Vec::new(),
        }
    }
}

fn route_probes<'a>(model: &'a Model, id: GatewayId, route: &'a Route, out: &mut Vec<Probe<'a>>) {
    let gateway = model.gateway(id);
    let base = Base {
        subject: format!("gateway:{}/{}", gateway.name.value, route.name.value),
        gateway: access::route_entry(model, id, route),
        request: route_request(route),
        auth: access::route_auth(model, route),
    };
    if let Some(auth) = &route.auth {
        let at = location(model, auth.span);
        let issuer = model.issuer(auth.issuer.value);
        let mut attacks = vec!["no-token", "expired-token", "alg-none", "forged-kid", "other-issuer"];
        if !issuer.audiences.is_empty() {
            attacks.push("other-audience");
        }
        for attack in attacks {
            out.push(base.probe("auth", attack.to_string(), at.clone(), vec![401]));
        }
        for claim in &auth.claims {
            let attack = format!("missing-claim:{}", claim.claim.value);
            let mut probe = base.probe("auth", attack, location(model, claim.span), vec![403]);
            probe.without_claims = vec![&claim.claim.value];
            out.push(probe);
        }
        for role in &auth.roles {
            let role_def = model.role(role.value);
            let attack = format!("missing-role:{}", role_def.name.value);
            let mut probe = base.probe("auth", attack, location(model, role.span), vec![403]);
            probe.without_claims = role_def.conditions.iter().map(|c| c.claim.value.as_str()).collect();
            out.push(probe);
        }
    }
    for limit in route.rate_limits.iter() {
        let global = route.rate_limits.global.as_ref().is_some_and(|g| std::ptr::eq(g, limit));
        let mut probe = base.probe("rate-limit", rate_attack(limit, global), location(model, limit.span), vec![429]);
        probe.limit = Some(Limit {
            key: limit.key.value.to_string(),
            per_seconds: limit.per.seconds(),
            requests: limit.requests,
        });
        if global {
            probe.skip = Some("a quota is counted by the rate limit service, which a local run does not start");
        }
        if matches!(limit.key.value, RateKey::Header(_)) {
            probe.skip = Some("the runner varies client addresses and claims, not headers");
        }
        out.push(probe);
    }
    if let Some(validate) = route.forward().and_then(|f| f.validate) {
        let at = location(model, validate);
        for (attack, body) in [("invalid-json", "{\"probe\": "), ("wrong-type", "[\"probe\"]")] {
            let mut probe = base.probe("validation", attack.to_string(), at.clone(), vec![400]);
            probe.request.body = Some(body.to_string());
            if !probe.request.headers.iter().any(|h| h.name.eq_ignore_ascii_case("content-type")) {
                probe.request.headers.push(Header { name: "content-type", value: "application/json" });
            }
            out.push(probe);
        }
    }
}

fn rate_attack(limit: &RateLimit, global: bool) -> String {
    let scope = if global { "quota" } else { "exceed" };
    format!("{scope}:{}/{}s", limit.requests, limit.per.seconds())
}

/// Smuggling and parsing attacks at a gateway, each sent raw: every one
/// must be refused by the gateway (never reach an upstream). Path tricks go
/// through a public prefix route towards an authenticated route's path.
fn parsing_probes<'a>(model: &'a Model, id: GatewayId, out: &mut Vec<Probe<'a>>) {
    let gateway = model.gateway(id);
    // Host blocks redirect or fence off their routes: probe the routes outside them.
    let open = gateway.routes.iter().find(|r| r.virtual_host.is_none() && r.forward().is_some());
    let Some(open) = open else { return };
    let base = Base {
        subject: format!("gateway:{}", gateway.name.value),
        gateway: access::route_entry(model, id, open),
        request: route_request(open),
        auth: None,
    };
    let at = location(model, gateway.name.span);
    for attack in ["cl-te", "te-te", "duplicate-host", "cr-in-header", "lf-in-header", "oversized-headers"] {
        out.push(base.probe("parsing", attack.to_string(), at.clone(), vec![400, 413, 431, 501]));
    }
    method_override_probes(model, id, out);
    if let Some(route) = gateway.routes.iter().find(|r| r.forward().and_then(|f| f.validate).is_some()) {
        let mut probe = base.probe("parsing", "oversized-body".into(), location(model, route.span), vec![413]);
        probe.request = route_request(route);
        probe.gateway = Some(access::route_entry(model, id, route));
        probe.auth = access::route_auth(model, route);
        out.push(probe);
    }
    let public_prefix = gateway.routes.iter().find(|r| {
        r.virtual_host.is_none()
            && r.auth.is_none()
            && r.forward().is_some()
            && matches!(&r.matcher.path, PathMatch::Prefix(p) if p.len() > 1)
    });
    let guarded = gateway.routes.iter().find(|r| r.virtual_host.is_none() && r.auth.is_some());
    if let (Some(public), Some(guarded)) = (public_prefix, guarded) {
        let PathMatch::Prefix(prefix) = &public.matcher.path else { return };
        let target = route_request(guarded).path;
        let depth = prefix.trim_matches('/').split('/').count();
        let up = "../".repeat(depth);
        let tricks = [
            ("path-traversal", format!("{}/{up}{}", prefix.trim_end_matches('/'), target.trim_start_matches('/'))),
            (
                "encoded-traversal",
                format!("{}/{}{}", prefix.trim_end_matches('/'), "..%2F".repeat(depth), target.trim_start_matches('/')),
            ),
            ("encoded-slash", format!("{}/x%2F..%2F..{target}", prefix.trim_end_matches('/'))),
        ];
        for (attack, path) in tricks {
            let mut probe = base.probe("parsing", attack.to_string(), location(model, public.matcher.span), Vec::new());
            probe.request = Request { path, ..route_request(public) };
            probe.gateway = Some(access::route_entry(model, id, public));
            // Refused, redirected, or routed to the guarded route, which demands a token.
            probe.expect = vec![301, 302, 307, 308, 400, 401, 403, 404];
            out.push(probe);
        }
    }
}

/// The headers some frameworks take as the request's method.
const METHOD_OVERRIDE_HEADERS: [&str; 3] = ["x-http-method-override", "x-http-method", "x-method-override"];

/// A route that takes one method, asked for another through each
/// method-override header: the method of another route matching the same
/// path (the one it must not reach), else one the route does not take.
fn method_override_probes<'a>(model: &'a Model, id: GatewayId, out: &mut Vec<Probe<'a>>) {
    let gateway = model.gateway(id);
    let candidates = || {
        gateway
            .routes
            .iter()
            .filter(|r| r.virtual_host.is_none() && r.forward().is_some() && r.matcher.method.is_some())
    };
    let other_method = |route: &Route| {
        let path = route_request(route).path;
        gateway.routes.iter().filter(|r| r.virtual_host.is_none()).find_map(|r| {
            let method = r.matcher.method.as_ref()?;
            (r.matcher.method != route.matcher.method && path_matches(&r.matcher.path, &path)).then_some(method)
        })
    };
    let pair = candidates().find_map(|r| Some((r, other_method(r)?.as_str())));
    let Some((route, method)) = pair.or_else(|| {
        let route = candidates().next()?;
        Some((route, if route.matcher.method == Some(HttpMethod::Delete) { "PUT" } else { "DELETE" }))
    }) else {
        return;
    };
    let base = Base {
        subject: format!("gateway:{}/{}", gateway.name.value, route.name.value),
        gateway: access::route_entry(model, id, route),
        request: route_request(route),
        auth: access::route_auth(model, route),
    };
    for header in METHOD_OVERRIDE_HEADERS {
        let attack = format!("method-override:{header}");
        let mut probe = base.probe("parsing", attack, location(model, route.matcher.span), vec![400, 405]);
        probe.request.headers.push(Header { name: header, value: method });
        out.push(probe);
    }
}

fn path_matches(matcher: &PathMatch, path: &str) -> bool {
    match matcher {
        PathMatch::Exact(exact) => exact == path,
        PathMatch::Prefix(prefix) => path.starts_with(prefix.as_str()),
    }
}

/// A service's authorization, tried from a workload no allow rule names,
/// without a certificate, and in plaintext where its mTLS is strict.
fn authorization_probes<'a>(model: &'a Model, service: &'a Service, out: &mut Vec<Probe<'a>>) {
    let Some(authorization) = service.authorization() else { return };
    if service.sidecar().is_none() || service.mesh().is_none() {
        return;
    }
    // The probes speak HTTP: a TCP port's authorization is not probed.
    let Some((_, port)) = service.ports().next().filter(|(_, p)| !matches!(p.protocol, PortProtocol::Tcp(_))) else {
        return;
    };
    let allows: Vec<_> = authorization.rules().iter().filter(|r| r.action == RuleAction::Allow).collect();
    // A control: an allowed caller (without header conditions) and an operation it may call.
    let Some((rule, control)) = allows.iter().filter(|r| r.conditions.is_empty()).find_map(|r| {
        let principal = r.principals.first()?;
        let name = match &principal.value {
            Principal::Service(id) => model.service(*id).name.value.clone(),
            Principal::Gateway(id) => format!("gateway-{}", model.gateway(*id).name.value),
        };
        Some((*r, name))
    }) else {
        return;
    };
    let named = |id| allows.iter().any(|r| r.principals.iter().any(|p| p.value == Principal::Service(id)));
    let other = model
        .service_ids()
        .map(|id| (id, model.service(id)))
        .find(|(id, s)| s.sidecar().is_some() && s.mesh().is_some() && !std::ptr::eq(*s, service) && !named(*id));
    let (method, path, headers) = match rule.operations.first().map(|o| &o.value) {
        Some(Operation::Rest { method, path }) => (method.to_string(), path.clone(), Vec::new()),
        Some(Operation::Grpc { service, method }) => (
            "POST".to_string(),
            format!("/{service}/{method}"),
            vec![Header { name: "content-type", value: "application/grpc" }],
        ),
        _ => ("GET".to_string(), "/".to_string(), Vec::new()),
    };
    let request = Request { body: None, headers, method, path };
    let subject = format!("service:{}", service.name.value);
    // The allow rule the request is for: what a finding weakened or should tighten.
    let at = location(model, rule.span);
    let mut froms = Vec::new();
    if let Some((_, other)) = other {
        let name = other.name.value.clone();
        froms.push((format!("other-workload:{name}"), name, vec![403], at.clone()));
    }
    froms.push(("no-certificate".to_string(), "none".to_string(), vec![403], at.clone()));
    if model.mtls_mode(service) == MtlsMode::Strict {
        froms.push(("plaintext".to_string(), "plaintext".to_string(), Vec::new(), at.clone()));
    }
    for (deny, name) in denied_workloads(model, authorization.rules(), rule, &control) {
        froms.push((format!("denied:{name}"), name, vec![403], location(model, deny.span)));
    }
    for (attack, from, expect, source) in froms {
        out.push(Probe {
            id: format!("{subject} {attack}"),
            attack,
            auth: None,
            control: Some(control.clone()),
            expect,
            from: Some(from),
            gateway: None,
            kind: "authorization",
            limit: None,
            refused_passes: true,
            request: request.clone(),
            service: Some(ServiceTarget { name: &service.name.value, port: port.label() }),
            skip: None,
            source,
            subject: subject.clone(),
            without_claims: Vec::new(),
        });
    }
}

/// Each workload of the mesh a deny rule (without header conditions) names,
/// where the rule covers the control's request (`allow`'s first operation)
/// and the control is not itself denied: tried from it, at the deny rule's line.
fn denied_workloads<'a>(
    model: &Model,
    rules: &'a [AuthorizationRule],
    allow: &AuthorizationRule,
    control: &str,
) -> Vec<(&'a AuthorizationRule, String)> {
    let operation = allow.operations.first().map(|o| &o.value);
    let covers = |deny: &AuthorizationRule| {
        deny.operations.is_empty() || operation.is_some_and(|op| deny.operations.iter().any(|o| o.value == *op))
    };
    let mut out = Vec::new();
    for deny in rules.iter().filter(|r| r.action == RuleAction::Deny && r.conditions.is_empty() && covers(r)) {
        let named = deny.principals.iter().map(|p| &p.value).chain(deny.role_members.iter().map(|(p, _)| p));
        for principal in named {
            let Principal::Service(id) = principal else { continue };
            let workload = model.service(*id);
            let name = &workload.name.value;
            let in_mesh = workload.sidecar().is_some() && workload.mesh().is_some();
            if in_mesh && name != control && !out.iter().any(|(_, n)| n == name) {
                out.push((deny, name.clone()));
            }
        }
    }
    out
}
