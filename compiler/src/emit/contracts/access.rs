//! How a use's requests get into the mesh, beside what they are: the end
//! user's token the mesh checks on them (`auth`) and, for a gateway's
//! route, the request as the gateway takes it (`gateway`). A runner going
//! through the mesh (`meshc-runtime up --contracts`) needs both; one
//! testing a provider directly needs neither.

use serde::Serialize;

use super::plan::Header;
use crate::model::contracts::{Consumer, ContractUse, UseOrigin};
use crate::model::identity::{Principal, RuleAction};
use crate::model::security::{ClaimCondition, ClaimTest, IssuerId};
use crate::model::values::Domain;
use crate::model::{
    Call, GatewayId, HeaderMatch, HeaderRule, Model, PathMatch, PathRewrite, Route, ServiceId, TokenPassing,
};

/// The end user's token a request must carry.
#[derive(Clone, Serialize)]
pub(super) struct Auth<'a> {
    /// The token's `aud` must name one of them (empty: any).
    audiences: &'a [String],
    /// Conditions on its claims (a route's required claims and roles').
    claims: Vec<Claim<'a>>,
    /// The `iss` of the tokens the checking proxy accepts.
    issuer: &'a str,
}

#[derive(Clone, Serialize)]
struct Claim<'a> {
    claim: &'a str,
    /// `equals`, `contains` or `present`.
    test: &'static str,
    /// The claim's type as its issuer declares it (`string`,
    /// `string-list`, `space-delimited`, `number`, `boolean`), so that a
    /// token can be made to hold it; absent for an undeclared claim.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    ty: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'a str>,
}

/// A route's request as the gateway takes it.
#[derive(Clone, Serialize)]
pub(super) struct GatewayEntry<'a> {
    /// Headers the route's match requires, with a value that matches.
    headers: Vec<Header<'a>>,
    /// The `Host` of the route's `host` block (a wildcard's with `contract`
    /// as its first label); absent: any host no block names.
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<String>,
    /// The gateway's name.
    name: &'a str,
    /// Undoes a prefix rewrite: a request path under `to` (the rewritten
    /// prefix) is sent under `from` (the prefix the route matches).
    #[serde(skip_serializing_if = "Option::is_none")]
    path_prefix: Option<PrefixMap<'a>>,
}

#[derive(Clone, Serialize)]
struct PrefixMap<'a> {
    from: &'a str,
    to: &'a str,
}

/// The token a use's requests need: a route's `auth`; for a call, the
/// token the caller passes on (`forward-token`: the one its callee
/// requires) or has exchanged (`exchange-token`: the one the caller itself
/// requires, which the exchanger trades).
pub(super) fn auth<'a>(model: &'a Model, used: &ContractUse<'a>) -> Option<Auth<'a>> {
    match used.origin {
        UseOrigin::Route(route) => route_auth(model, route),
        UseOrigin::Call(call) => {
            let Consumer::Service(caller) = used.consumer else { return None };
            call_auth(model, caller, call)
        }
    }
}

/// The token a call's requests carry (see [`auth`]).
pub(super) fn call_auth<'a>(model: &'a Model, caller: ServiceId, call: &Call) -> Option<Auth<'a>> {
    let passed = match call.token {
        TokenPassing::None => return None,
        TokenPassing::Forward => model.service(call.target.value).require_token()?,
        TokenPassing::Exchange(_) => model.service(caller).require_token()?,
    };
    Some(issuer_auth(model, passed.value, &[]))
}

/// The token a route's requests need: its issuer's, holding the required
/// claims and the conditions of each required role.
pub(super) fn route_auth<'a>(model: &'a Model, route: &'a Route) -> Option<Auth<'a>> {
    let auth = route.auth.as_ref()?;
    let roles = auth.roles.iter().flat_map(|r| &model.role(r.value).conditions);
    let conditions: Vec<&ClaimCondition> = auth.claims.iter().chain(roles).collect();
    Some(issuer_auth(model, auth.issuer.value, &conditions))
}

fn issuer_auth<'a>(model: &'a Model, id: IssuerId, conditions: &[&'a ClaimCondition]) -> Auth<'a> {
    let issuer = model.issuer(id);
    let claims = conditions
        .iter()
        .map(|c| {
            let (test, value) = match &c.test {
                ClaimTest::Equals(v) => ("equals", Some(v.as_str())),
                ClaimTest::Contains(v) => ("contains", Some(v.as_str())),
                ClaimTest::Present => ("present", None),
            };
            let ty = issuer.claim(&c.claim.value).map(|d| d.ty.as_str());
            Claim { claim: &c.claim.value, test, ty, value }
        })
        .collect();
    Auth { audiences: &issuer.audiences, claims, issuer: &issuer.issuer.value }
}

/// A route's request as its gateway takes it; `None` for a call, and for a
/// route whose path rewrite is a regex (which cannot be undone) or which
/// transcodes REST to the gRPC operation (the gateway takes another request).
pub(super) fn gateway<'a>(model: &'a Model, used: &ContractUse<'a>) -> Option<GatewayEntry<'a>> {
    let route = used.route()?;
    let Consumer::Gateway(id) = used.consumer else { return None };
    let forward = route.forward()?;
    if forward.transcode.is_some() {
        return None;
    }
    let path_prefix = match (forward.rewrite.path.as_ref().map(|p| &p.value), &route.matcher.path) {
        (None, _) => None,
        (Some(PathRewrite::Prefix(to)), PathMatch::Prefix(from)) => Some(PrefixMap { from, to }),
        (Some(_), _) => return None,
    };
    Some(GatewayEntry { path_prefix, ..route_entry(model, id, route) })
}

/// A route's request as its gateway takes it, at the path the route matches.
pub(super) fn route_entry<'a>(model: &'a Model, id: GatewayId, route: &'a Route) -> GatewayEntry<'a> {
    let gateway = model.gateway(id);
    let host =
        route.virtual_host.and_then(|vh| gateway.virtual_hosts[vh.index()].domains.first()).map(|d| match &d.value {
            Domain::Exact(host) => host.to_string(),
            Domain::Wildcard(suffix) => format!("contract.{suffix}"),
        });
    let headers = matching(&route.matcher.headers);
    GatewayEntry { headers, host, name: &gateway.name.value, path_prefix: None }
}

/// The headers the provider's authorization requires of the consumer for
/// the operation: the conditions of the first allow rule covering them,
/// unless a rule without conditions covers them too.
pub(super) fn authorized_headers<'a>(model: &'a Model, used: &ContractUse<'a>) -> Vec<Header<'a>> {
    let Some(authorization) = model.service(used.provider).authorization() else { return Vec::new() };
    let from = match used.consumer {
        Consumer::Service(id) => Principal::Service(id),
        Consumer::Gateway(id) => Principal::Gateway(id),
    };
    let mut allowing = authorization
        .rules()
        .iter()
        .filter(|r| r.action == RuleAction::Allow && r.covers(&from, Some(&used.operation.value)));
    match allowing.clone().find(|r| r.conditions.is_empty()) {
        Some(_) => Vec::new(),
        None => allowing.next().map_or_else(Vec::new, |rule| matching(&rule.conditions)),
    }
}

/// A header with a value each match accepts (a present-only one: `contract`).
pub(super) fn matching(matches: &[HeaderMatch]) -> Vec<Header<'_>> {
    matches
        .iter()
        .map(|h| {
            let value = match &h.rule {
                HeaderRule::Exact(v) | HeaderRule::Prefix(v) => v.as_str(),
                HeaderRule::Present => "contract",
            };
            Header { name: h.name.as_str(), value }
        })
        .collect()
}
