//! A gateway's end-user security as Istio security resources
//! (`security.istio.io/v1`) for the ingress gateway workload, used by the
//! `istio` backend; not a backend itself.
//!
//! - `RequestAuthentication` `gateway-NAME`: a `jwtRules` entry per issuer
//!   the routes name (issuer, audiences, `jwksUri` or the inlined `jwks`,
//!   forwarding, claim-to-header outputs, space-delimited claims). It
//!   rejects invalid tokens (401) but lets requests without one through.
//! - `AuthorizationPolicy` `gateway-NAME-jwt`, action `DENY`, per
//!   authenticated route (its path, method and header matches as the
//!   operation and `when` conditions): a rule denying requests without a
//!   token of the route's issuer (`notRequestPrincipals: ["ISS/*"]`), and
//!   rules denying tokens that fail a required claim or hold none of the
//!   required roles (`notValues` on `request.auth.claims[...]`). DENY
//!   rather than ALLOW keeps every other route of the gateway open, as the
//!   spec has it.
//!
//! Istio applies the jwtRules to every request of the workload, so
//! per-route forwarding and claim headers become per-issuer (noted when
//! routes of one issuer differ). A request without a token is refused with
//! 403 by the policy, where the Envoy gateway answers 401.

use super::api::{self, Condition, JwtRule, Metadata, Resource, Selector, Spec};

use crate::model::security::{ClaimCondition, ClaimTest, ClaimType, IssuerId, Jwks, JwtIssuer, RoleId, RouteAuth};
use crate::model::values::Domain;
use crate::model::{Gateway, HeaderMatch, HeaderRule, Model, PathMatch, Route};
use crate::schema::SchemaIndex;

const API_VERSION: &str = "security.istio.io/v1";
/// More DENY rules than this for one route's roles is not worth emitting.
const MAX_ROLE_RULES: usize = 64;

/// Why Istio cannot serve a route as the spec says, if it cannot.
pub fn left_out(model: &Model, route: &Route) -> Option<&'static str> {
    let auth = route.auth.as_ref()?;
    (role_rules(model, auth.roles.iter().map(|r| r.value)).len() > MAX_ROLE_RULES)
        .then_some("too many role combinations for DENY rules")
}

/// What of a served route Istio's resources drop: rate limits (Istio has
/// no rate limit resource; an `EnvoyFilter` or a mesh-wide rate limit
/// service carries them) and audit records (Istio's access logs are per
/// workload, set by a `Telemetry` resource).
pub fn dropped(route: &Route) -> Vec<&'static str> {
    let mut out = Vec::new();
    if !route.rate_limits.is_empty() {
        out.push("rate-limit");
    }
    if route.audit.is_some() {
        out.push("audit");
    }
    out
}

/// The gateway's RequestAuthentication and AuthorizationPolicy, for the
/// routes Istio serves (named in `served`).
pub fn resources<'a>(
    model: &'a Model,
    schemas: &SchemaIndex,
    gateway: &'a Gateway,
    served: &[&str],
    notes: &mut Vec<String>,
) -> Vec<Resource<'a>> {
    let routes: Vec<&Route> =
        gateway.routes.iter().filter(|r| r.auth.is_some() && served.contains(&r.name.value.as_str())).collect();
    if routes.is_empty() {
        return Vec::new();
    }
    let name = &gateway.name.value;
    let selector = || Selector::one("istio", "ingressgateway");
    let mut issuers: Vec<IssuerId> = routes.iter().filter_map(|r| r.auth.as_ref()).map(|a| a.issuer.value).collect();
    issuers.sort();
    issuers.dedup();
    let jwt_rules = issuers.iter().map(|&id| jwt_rule(model, schemas, &routes, id, notes)).collect();
    let mut deny = Vec::new();
    for route in &routes {
        let Some(auth) = &route.auth else { continue };
        let issuer = model.issuer(auth.issuer.value);
        let (operation, headers) = operation(gateway, route);
        let to = vec![api::To { operation }];
        let source =
            api::Source { not_request_principals: Some(vec![format!("{}/*", issuer.issuer.value)]), principals: None };
        deny.push(api::Rule {
            from: Some(vec![api::From { source }]),
            to: Some(to.clone()),
            when: (!headers.is_empty()).then(|| headers.clone()),
        });
        let claims = auth.claims.iter().map(|c| vec![c]);
        let roles = role_rules(model, auth.roles.iter().map(|r| r.value));
        for failing in claims.chain(roles) {
            let mut when = headers.clone();
            when.extend(failing.iter().map(|c| not_holding(c)));
            deny.push(api::Rule { from: None, to: Some(to.clone()), when: Some(when) });
        }
    }
    let resource =
        |kind, name, spec| Resource { api_version: API_VERSION, kind, metadata: Metadata::named(name, None), spec };
    vec![
        resource(
            "RequestAuthentication",
            format!("gateway-{name}"),
            Spec::RequestAuthentication(api::RequestAuthentication { jwt_rules, selector: selector() }),
        ),
        resource(
            "AuthorizationPolicy",
            format!("gateway-{name}-jwt"),
            Spec::AuthorizationPolicy(api::AuthorizationPolicy { action: "DENY", rules: deny, selector: selector() }),
        ),
    ]
}

fn jwt_rule<'a>(
    model: &'a Model,
    schemas: &SchemaIndex,
    routes: &[&'a Route],
    id: IssuerId,
    notes: &mut Vec<String>,
) -> JwtRule<'a> {
    let issuer = model.issuer(id);
    let auths: Vec<(&str, &RouteAuth)> = routes
        .iter()
        .filter_map(|r| r.auth.as_ref().map(|a| (r.name.value.as_str(), a)))
        .filter(|(_, a)| a.issuer.value == id)
        .collect();
    let mut rule = issuer_rule(schemas, issuer);
    let forward = auths.iter().any(|(_, a)| a.forward);
    if forward {
        rule.forward_original_token = Some(true);
        for (route, _) in auths.iter().filter(|(_, a)| !a.forward) {
            notes.push(format!("{route}: the token is forwarded (Istio forwards per issuer)"));
        }
    }
    let mut outputs: Vec<api::ClaimToHeader> = Vec::new();
    for (_, auth) in &auths {
        for h in &auth.claim_headers {
            let pair = api::ClaimToHeader { claim: h.claim.value.as_str(), header: h.header.as_str() };
            if !outputs.contains(&pair) {
                outputs.push(pair);
            }
        }
    }
    for (route, auth) in &auths {
        if auth.claim_headers.len() != outputs.len() {
            notes.push(format!("{route}: receives the claim headers of every route of issuer {}", issuer.name.value));
        }
    }
    rule.output_claim_to_headers = (!outputs.is_empty()).then_some(outputs);
    rule
}

/// A `jwtRules` entry for an issuer: its `iss`, audiences, keys and space-delimited claims.
pub fn issuer_rule<'a>(schemas: &SchemaIndex, issuer: &'a JwtIssuer) -> JwtRule<'a> {
    let (jwks, jwks_uri) = match &issuer.jwks {
        Jwks::Remote { uri, .. } => (None, Some(uri.value.text.as_str())),
        Jwks::File(schema) => (Some(schemas.get(*schema).and_then(|s| s.jwks()).unwrap_or_default().to_string()), None),
    };
    let spaced: Vec<&str> =
        issuer.claims.iter().filter(|c| c.ty == ClaimType::SpaceDelimited).map(|c| c.name.value.as_str()).collect();
    JwtRule {
        audiences: (!issuer.audiences.is_empty()).then_some(&issuer.audiences[..]),
        forward_original_token: None,
        issuer: issuer.issuer.value.as_str(),
        jwks,
        jwks_uri,
        output_claim_to_headers: None,
        space_delimited_claims: (!spaced.is_empty()).then_some(spaced),
    }
}

/// The route's match as an Istio operation, and its header matches as `when` conditions.
/// A route of a `host` block of exact names matches only them (with any
/// port); with a wildcard the rule applies on every host, failing closed,
/// since Istio's host patterns take one `*` and clients may add a port.
fn operation(gateway: &Gateway, route: &Route) -> (api::Operation, Vec<Condition>) {
    let path = match &route.matcher.path {
        PathMatch::Exact(p) => p.clone(),
        PathMatch::Prefix(p) => format!("{p}*"),
    };
    let domains = route.virtual_host.map(|id| &gateway.virtual_host(id).domains[..]).unwrap_or_default();
    let exact: Option<Vec<String>> = domains
        .iter()
        .map(|d| match &d.value {
            Domain::Exact(host) => Some([host.to_string(), format!("{host}:*")]),
            Domain::Wildcard(_) => None,
        })
        .collect::<Option<Vec<_>>>()
        .map(|pairs| pairs.concat());
    let operation = api::Operation {
        hosts: exact.filter(|h| !h.is_empty()),
        methods: route.matcher.method.map(|method| vec![method.as_str()]),
        paths: Some(vec![path]),
    };
    let headers = route.matcher.headers.iter().map(header_condition).collect();
    (operation, headers)
}

/// A `when` condition requiring a request header to match.
pub fn header_condition(header: &HeaderMatch) -> Condition {
    let value = match &header.rule {
        HeaderRule::Exact(v) => v.clone(),
        HeaderRule::Prefix(v) => format!("{v}*"),
        HeaderRule::Present => "*".into(),
    };
    Condition { key: format!("request.headers[{}]", header.name.as_str()), not_values: None, values: Some(vec![value]) }
}

/// A `when` condition that holds when the token fails `condition`.
fn not_holding(condition: &ClaimCondition) -> Condition {
    let value = match &condition.test {
        ClaimTest::Equals(v) | ClaimTest::Contains(v) => v.clone(),
        ClaimTest::Present => "*".into(),
    };
    Condition {
        key: format!("request.auth.claims[{}]", condition.claim.value),
        not_values: Some(vec![value]),
        values: None,
    }
}

/// The DENY rules for "holds none of the roles": a token lacks every role
/// when, for each role, one of its conditions fails; one rule per choice of
/// failing condition. No roles: no rules.
fn role_rules(model: &Model, roles: impl Iterator<Item = RoleId>) -> Vec<Vec<&ClaimCondition>> {
    let mut combinations: Vec<Vec<&ClaimCondition>> = Vec::new();
    for (i, role) in roles.enumerate() {
        let conditions = &model.role(role).conditions;
        if i == 0 {
            combinations = conditions.iter().map(|c| vec![c]).collect();
            continue;
        }
        let mut next = Vec::new();
        for combination in &combinations {
            for c in conditions {
                let mut extended = combination.clone();
                extended.push(c);
                next.push(extended);
            }
            if next.len() > MAX_ROLE_RULES {
                return next;
            }
        }
        combinations = next;
    }
    combinations
}
