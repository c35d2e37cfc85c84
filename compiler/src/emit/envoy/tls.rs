//! Envoy config pieces for mutual TLS and service-to-service authorization,
//! shared by the sidecar and gateway backends. Not a backend itself.
//!
//! Certificates reach Envoy through file-based SDS: for each workload,
//! `meshc certs` writes `WORKLOAD-cert.yaml` (its certificate and key) and
//! `ca.yaml` (the trust bundle) into the cert dir (the mesh's `cert-dir`,
//! or the build's `--cert-dir`: [`crate::emit::Options::cert_dir`]), which Envoy
//! watches; replacing the files by a rename rotates them without a restart.

use serde_json::{json, Value};

use super::header_matcher;
use crate::model::identity::{Authorization, AuthorizationRule, Identity, Mtls, RuleAction};
use crate::model::values::Operation;
use crate::model::Model;

const DOWNSTREAM_TLS: &str = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext";
const UPSTREAM_TLS: &str = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";
const RBAC: &str = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC";
const NETWORK_RBAC: &str = "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC";
/// The name of the trust bundle's SDS secret and file (`ca.yaml`).
pub const CA_SECRET: &str = "ca";

/// The SDS file of a workload's certificate, relative to the cert dir.
pub fn certificate_file(workload: &str) -> String {
    format!("{workload}-cert.yaml")
}

fn sds(cert_dir: &str, secret: &str, file: &str) -> Value {
    json!({
        "name": secret,
        "sds_config": {
            "path_config_source": {
                "path": format!("{cert_dir}/{file}"),
                // A rename into the directory (how `meshc certs` replaces files) reloads the secret.
                "watched_directory": { "path": cert_dir }
            },
            "resource_api_version": "V3"
        }
    })
}

fn common_tls_context(cert_dir: &str, workload: &str, peer_san: Value) -> Value {
    json!({
        "tls_certificate_sds_secret_configs": [sds(cert_dir, workload, &certificate_file(workload))],
        "combined_validation_context": {
            "default_validation_context": { "match_typed_subject_alt_names": [{ "san_type": "URI", "matcher": peer_san }] },
            "validation_context_sds_secret_config": sds(cert_dir, CA_SECRET, &format!("{CA_SECRET}.yaml"))
        }
    })
}

/// The inbound side: this workload's certificate, and a client certificate
/// of the mesh's trust domain required from every caller. The files are in `cert_dir`.
pub fn downstream_tls(mtls: &Mtls, cert_dir: &str, workload: &str) -> Value {
    let trust_domain = json!({ "prefix": format!("spiffe://{}/", mtls.trust_domain) });
    json!({
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": DOWNSTREAM_TLS,
            "require_client_certificate": true,
            "common_tls_context": common_tls_context(cert_dir, workload, trust_domain)
        }
    })
}

/// The outbound side towards `peer`: this workload's certificate as the
/// client's, and the callee's SPIFFE ID required in its certificate. The
/// files are in `cert_dir`.
pub fn upstream_tls(mtls: &Mtls, cert_dir: &str, workload: &str, peer: &Identity, sni: &str) -> Value {
    let peer_id = json!({ "exact": peer.spiffe_id(&mtls.trust_domain) });
    json!({
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": UPSTREAM_TLS,
            "sni": sni,
            "common_tls_context": common_tls_context(cert_dir, workload, peer_id)
        }
    })
}

/// The inbound RBAC filters of a service's `authorization`: deny rules
/// first, then, when there are allow rules, only what they admit.
pub fn rbac_filters(model: &Model, mtls: Option<&Mtls>, authorization: &Authorization) -> Vec<Value> {
    let trust_domain = mtls.map_or(Mtls::DEFAULT_TRUST_DOMAIN, |m| m.trust_domain.as_str());
    [RuleAction::Deny, RuleAction::Allow]
        .into_iter()
        .filter_map(|action| {
            let rules: Vec<&AuthorizationRule> = authorization.rules().iter().filter(|r| r.action == action).collect();
            if rules.is_empty() {
                return None;
            }
            let policies: serde_json::Map<String, Value> = rules
                .iter()
                .enumerate()
                .map(|(i, rule)| (format!("{}-{i}", action.as_str()), policy(model, trust_domain, rule)))
                .collect();
            let envoy_action = match action {
                RuleAction::Allow => "ALLOW",
                RuleAction::Deny => "DENY",
            };
            Some(json!({
                "name": format!("envoy.filters.http.rbac.{}", action.as_str()),
                "typed_config": { "@type": RBAC, "rules": { "action": envoy_action, "policies": policies } }
            }))
        })
        .collect()
}

/// The RBAC network filters of a service's `authorization` for a TCP port:
/// only rules that name no operation and no header apply (the others are
/// about HTTP requests); allow rules that all name some admit nobody.
pub fn network_rbac_filters(
    model: &Model,
    mtls: Option<&Mtls>,
    authorization: &Authorization,
    stat_prefix: &str,
) -> Vec<Value> {
    let trust_domain = mtls.map_or(Mtls::DEFAULT_TRUST_DOMAIN, |m| m.trust_domain.as_str());
    [RuleAction::Deny, RuleAction::Allow]
        .into_iter()
        .filter(|action| authorization.rules().iter().any(|r| r.action == *action))
        .map(|action| {
            let policies: serde_json::Map<String, Value> = authorization
                .rules()
                .iter()
                .filter(|r| r.action == action)
                .enumerate()
                .filter(|(_, r)| r.operations.is_empty() && r.conditions.is_empty())
                .map(|(i, rule)| (format!("{}-{i}", action.as_str()), policy(model, trust_domain, rule)))
                .collect();
            let envoy_action = match action {
                RuleAction::Allow => "ALLOW",
                RuleAction::Deny => "DENY",
            };
            json!({
                "name": format!("envoy.filters.network.rbac.{}", action.as_str()),
                "typed_config": {
                    "@type": NETWORK_RBAC,
                    "stat_prefix": format!("{stat_prefix}_{}", action.as_str()),
                    "rules": { "action": envoy_action, "policies": policies }
                }
            })
        })
        .collect()
}

fn policy(model: &Model, trust_domain: &str, rule: &AuthorizationRule) -> Value {
    let principals: Vec<Value> = rule
        .principals
        .iter()
        .map(|p| model.principal_identity(&p.value))
        .map(|identity| json!({ "authenticated": { "principal_name": { "exact": identity.spiffe_id(trust_domain) } } }))
        .collect();
    let mut permissions: Vec<Value> = if rule.operations.is_empty() {
        vec![json!({ "any": true })]
    } else {
        rule.operations.iter().map(|op| permission(&op.value)).collect()
    };
    if !rule.conditions.is_empty() {
        // Each operation, and every header condition.
        let headers: Vec<Value> = rule.conditions.iter().map(|h| json!({ "header": header_matcher(h) })).collect();
        for permission in &mut permissions {
            let rules: Vec<Value> = std::iter::once(permission.take()).chain(headers.iter().cloned()).collect();
            *permission = json!({ "and_rules": { "rules": rules } });
        }
    }
    json!({ "permissions": permissions, "principals": principals })
}

fn permission(operation: &Operation) -> Value {
    match operation {
        Operation::Grpc { service, method } => {
            json!({ "url_path": { "path": { "exact": format!("/{service}/{method}") } } })
        }
        Operation::Rest { method, path } => json!({ "and_rules": { "rules": [
            { "header": { "name": ":method", "string_match": { "exact": method.as_str() } } },
            { "url_path": { "path": { "safe_regex": { "regex": crate::emit::path_template_regex(path) } } } }
        ]}}),
        // Ruled out when the spec is read: GraphQL operations share one path.
        Operation::Graphql { .. } => json!({ "any": true }),
    }
}
