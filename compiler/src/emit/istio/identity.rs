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

use serde_json::{json, Value};

use super::security::{header_condition, issuer_rule};
use crate::model::identity::{AuthorizationRule, IdentityPattern, Mtls, MtlsMode, RuleAction};
use crate::model::values::Operation;
use crate::model::{Model, Service};
use crate::schema::SchemaIndex;

const API_VERSION: &str = "security.istio.io/v1";
/// Istio's root namespace, where a mesh-wide policy lives.
const ROOT_NAMESPACE: &str = "istio-system";

fn mode(mode: MtlsMode) -> &'static str {
    match mode {
        MtlsMode::Strict => "STRICT",
        MtlsMode::Permissive => "PERMISSIVE",
        MtlsMode::Disabled => "DISABLE",
    }
}

fn resource(kind: &str, name: &str, namespace: &str, spec: Value) -> Value {
    json!({ "apiVersion": API_VERSION, "kind": kind, "metadata": { "name": name, "namespace": namespace }, "spec": spec })
}

/// The mesh-wide and namespace-wide `PeerAuthentication`s (`istio/mesh-mtls.yaml`).
pub fn mesh_peer_authentications(mtls: &Mtls) -> Vec<Value> {
    let mesh =
        resource("PeerAuthentication", "default", ROOT_NAMESPACE, json!({ "mtls": { "mode": mode(mtls.mode.value) } }));
    let namespaces = mtls
        .namespaces
        .iter()
        .map(|(ns, m)| resource("PeerAuthentication", "default", ns, json!({ "mtls": { "mode": mode(m.value) } })));
    std::iter::once(mesh).chain(namespaces).collect()
}

/// A service's own resources: its `PeerAuthentication` when it sets its own
/// mode, its `AuthorizationPolicy`s, and for `require-token` a
/// `RequestAuthentication` with a `DENY` policy for requests without a token.
pub fn service_resources(model: &Model, schemas: &SchemaIndex, service: &Service) -> Vec<Value> {
    let name = &service.name.value;
    let namespace = &service.identity().namespace;
    let selector = json!({ "matchLabels": { "app": name } });
    let mut out = Vec::new();
    if let (Some(own), true) = (service.own_mtls(), model.mtls.is_some()) {
        out.push(resource(
            "PeerAuthentication",
            name,
            namespace,
            json!({ "selector": selector, "mtls": { "mode": mode(own.value) } }),
        ));
    }
    if let Some(required) = service.require_token() {
        let mut rule = issuer_rule(schemas, model.issuer(required.value));
        // The app passes the token on to the services it calls.
        rule["forwardOriginalToken"] = json!(true);
        out.push(resource(
            "RequestAuthentication",
            name,
            namespace,
            json!({ "selector": selector, "jwtRules": [rule] }),
        ));
        // A RequestAuthentication alone lets requests without a token through.
        out.push(resource(
            "AuthorizationPolicy",
            &format!("{name}-require-token"),
            namespace,
            json!({ "selector": selector, "action": "DENY", "rules": [{ "from": [{ "source": { "notRequestPrincipals": ["*"] } }] }] }),
        ));
    }
    let Some(authorization) = service.authorization() else { return out };
    let trust_domain = model.mtls.as_ref().map_or(Mtls::DEFAULT_TRUST_DOMAIN, |m| m.trust_domain.as_str());
    for action in [RuleAction::Deny, RuleAction::Allow] {
        let rules: Vec<Value> =
            authorization.rules().iter().filter(|r| r.action == action).map(|r| rule(model, trust_domain, r)).collect();
        if rules.is_empty() {
            continue;
        }
        let (suffix, istio_action) = match action {
            RuleAction::Deny => ("deny", "DENY"),
            RuleAction::Allow => ("allow", "ALLOW"),
        };
        out.push(resource(
            "AuthorizationPolicy",
            &format!("{name}-{suffix}"),
            namespace,
            json!({ "selector": selector, "action": istio_action, "rules": rules }),
        ));
    }
    out
}

fn rule(model: &Model, trust_domain: &str, rule: &AuthorizationRule) -> Value {
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
    let mut out = json!({ "from": [{ "source": { "principals": principals } }] });
    if !rule.operations.is_empty() {
        let to: Vec<Value> = rule.operations.iter().map(|op| json!({ "operation": operation(&op.value) })).collect();
        out["to"] = json!(to);
    }
    if !rule.conditions.is_empty() {
        out["when"] = rule.conditions.iter().map(header_condition).collect();
    }
    out
}

fn operation(op: &Operation) -> Value {
    match op {
        Operation::Grpc { service, method } => json!({ "paths": [format!("/{service}/{method}")] }),
        Operation::Rest { method, path } => json!({ "methods": [method.as_str()], "paths": [uri_template(path)] }),
        // Ruled out when the spec is read: GraphQL operations share one path.
        Operation::Graphql { .. } => json!({}),
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
