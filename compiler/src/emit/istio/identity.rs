//! Istio's side of service identities (`security.istio.io/v1`), used by the
//! `istio` backend; not a backend itself.
//!
//! - `PeerAuthentication`: the mesh's mode in the root namespace
//!   (`istio-system`, named `default`), each namespace override as that
//!   namespace's `default`, and a service's own mode with a selector.
//! - `AuthorizationPolicy`: a service's deny rules (action `DENY`) and allow
//!   rules (action `ALLOW`), each rule's callers as `source.principals`
//!   (SPIFFE IDs without `spiffe://`; a service role's namespace as the
//!   prefix `TD/ns/NS/sa/*`) and its operations as `to.operation`
//!   (REST: method and the path template with `{*}` per parameter, which
//!   Istio matches as an Envoy URI template; gRPC: the method's path).
//! - `require-token`: a `RequestAuthentication` for the issuer and a `DENY`
//!   policy for requests without a valid token (`notRequestPrincipals: *`).

use std::borrow::Cow;

use super::api::{self, Metadata, Resource, Selector, Spec};
use super::security::{header_condition, issuer_rule};
use crate::model::identity::{AuthorizationRule, IdentityPattern, Mtls, MtlsMode, RuleAction};
use crate::model::values::Operation;
use crate::model::{Model, Service};
use crate::schema::SchemaIndex;

const API_VERSION: &str = "security.istio.io/v1";
/// Istio's root namespace, where a mesh-wide policy lives.
const ROOT_NAMESPACE: &str = "istio-system";

fn mode(mode: MtlsMode) -> api::MtlsSetting {
    let mode = match mode {
        MtlsMode::Strict => "STRICT",
        MtlsMode::Permissive => "PERMISSIVE",
        MtlsMode::Disabled => "DISABLE",
    };
    api::MtlsSetting { mode }
}

fn resource<'a>(
    kind: &'static str,
    name: impl Into<String>,
    namespace: impl Into<Cow<'a, str>>,
    spec: Spec<'a>,
) -> Resource<'a> {
    let metadata = Metadata { annotations: None, name: name.into(), namespace: Some(namespace.into()) };
    Resource { api_version: API_VERSION, kind, metadata, spec }
}

fn peer_authentication<'a>(
    name: &str,
    namespace: impl Into<Cow<'a, str>>,
    selector: Option<Selector<'a>>,
    m: MtlsMode,
) -> Resource<'a> {
    let spec = Spec::PeerAuthentication(api::PeerAuthentication { mtls: mode(m), selector });
    resource("PeerAuthentication", name, namespace, spec)
}

/// The mesh-wide and namespace-wide `PeerAuthentication`s (`istio/mesh-mtls.yaml`).
pub fn mesh_peer_authentications(mtls: &Mtls) -> Vec<Resource<'_>> {
    let mesh = peer_authentication("default", ROOT_NAMESPACE, None, mtls.mode.value);
    let namespaces = mtls.namespaces.iter().map(|(ns, m)| peer_authentication("default", ns.as_str(), None, m.value));
    std::iter::once(mesh).chain(namespaces).collect()
}

/// A service's own resources: its `PeerAuthentication` when it sets its own
/// mode, its `AuthorizationPolicy`s, and for `require-token` a
/// `RequestAuthentication` with a `DENY` policy for requests without a token.
pub fn service_resources<'a>(model: &'a Model, schemas: &SchemaIndex, service: &'a Service) -> Vec<Resource<'a>> {
    let name = service.name.value.as_str();
    let namespace = service_namespace(service);
    let selector = || Selector::one("app", name);
    let mut out = Vec::new();
    if let (Some(own), true) = (service.own_mtls(), model.mtls.is_some()) {
        out.push(peer_authentication(name, namespace.clone(), Some(selector()), own.value));
    }
    if let Some(required) = service.require_token() {
        let mut rule = issuer_rule(schemas, model.issuer(required.value));
        // The app passes the token on to the services it calls.
        rule.forward_original_token = Some(true);
        let spec = api::RequestAuthentication { jwt_rules: vec![rule], selector: selector() };
        out.push(resource("RequestAuthentication", name, namespace.clone(), Spec::RequestAuthentication(spec)));
        // A RequestAuthentication alone lets requests without a token through.
        let source = api::Source { not_request_principals: Some(vec!["*".to_string()]), principals: None };
        let rule = api::Rule { from: Some(vec![api::From { source }]), ..Default::default() };
        let spec = api::AuthorizationPolicy { action: "DENY", rules: vec![rule], selector: selector() };
        let policy = format!("{name}-require-token");
        out.push(resource("AuthorizationPolicy", policy, namespace.clone(), Spec::AuthorizationPolicy(spec)));
    }
    let Some(authorization) = service.authorization() else { return out };
    let trust_domain = model.mtls.as_ref().map_or(Mtls::DEFAULT_TRUST_DOMAIN, |m| m.trust_domain.as_str());
    for action in [RuleAction::Deny, RuleAction::Allow] {
        let rules: Vec<api::Rule> =
            authorization.rules().iter().filter(|r| r.action == action).map(|r| rule(model, trust_domain, r)).collect();
        if rules.is_empty() {
            continue;
        }
        let (suffix, action) = match action {
            RuleAction::Deny => ("deny", "DENY"),
            RuleAction::Allow => ("allow", "ALLOW"),
        };
        let spec = api::AuthorizationPolicy { action, rules, selector: selector() };
        let policy = format!("{name}-{suffix}");
        out.push(resource("AuthorizationPolicy", policy, namespace.clone(), Spec::AuthorizationPolicy(spec)));
    }
    out
}

/// The namespace of a service's identity.
fn service_namespace(service: &Service) -> Cow<'_, str> {
    match service.identity() {
        Cow::Borrowed(identity) => Cow::Borrowed(identity.namespace.as_str()),
        Cow::Owned(identity) => Cow::Owned(identity.namespace),
    }
}

fn rule(model: &Model, trust_domain: &str, rule: &AuthorizationRule) -> api::Rule {
    let mut principals: Vec<String> = rule
        .principals
        .iter()
        .map(|p| model.principal_identity(&p.value))
        .map(|i| i.istio_principal(trust_domain))
        .collect();
    for role in &rule.roles {
        for pattern in model.service_role(role.value).patterns(model, trust_domain) {
            // Istio's principals are SPIFFE IDs without the scheme; a trailing `*` matches a prefix.
            let principal = match pattern {
                IdentityPattern::Exact(id) => id.trim_start_matches("spiffe://").to_string(),
                IdentityPattern::Prefix(prefix) => format!("{}*", prefix.trim_start_matches("spiffe://")),
            };
            if !principals.contains(&principal) {
                principals.push(principal);
            }
        }
    }
    let source = api::Source { not_request_principals: None, principals: Some(principals) };
    api::Rule {
        from: Some(vec![api::From { source }]),
        to: (!rule.operations.is_empty())
            .then(|| rule.operations.iter().map(|op| api::To { operation: operation(&op.value) }).collect()),
        when: (!rule.conditions.is_empty()).then(|| rule.conditions.iter().map(header_condition).collect()),
    }
}

fn operation(op: &Operation) -> api::Operation {
    match op {
        Operation::Grpc { service, method } => {
            api::Operation { paths: Some(vec![format!("/{service}/{method}")]), ..Default::default() }
        }
        Operation::Rest { method, path } => api::Operation {
            methods: Some(vec![method.as_str()]),
            paths: Some(vec![uri_template(path)]),
            ..Default::default()
        },
        // Ruled out when the spec is read: GraphQL operations share one path.
        Operation::Graphql { .. } => api::Operation::default(),
    }
}

/// `/orders/{orderId}` → `/orders/{*}`: each parameter matches one segment.
fn uri_template(path: &str) -> String {
    path.split('/')
        .map(|segment| if segment.starts_with('{') && segment.ends_with('}') { "{*}" } else { segment })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::uri_template;

    #[test]
    fn path_parameters_become_one_segment_wildcards() {
        assert_eq!(uri_template("/orders/{orderId}"), "/orders/{*}");
        assert_eq!(uri_template("/a/{x}/b/{y}"), "/a/{*}/b/{*}");
        assert_eq!(uri_template("/products"), "/products");
    }
}
