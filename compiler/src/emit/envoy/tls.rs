//! Envoy config pieces for mutual TLS and service-to-service authorization,
//! shared by the sidecar and gateway backends. Not a backend itself.
//!
//! Certificates reach Envoy through file-based SDS: for each workload,
//! `meshc certs` writes `WORKLOAD-cert.yaml` (its certificate and key) and
//! `ca.yaml` (the trust bundle) into the cert dir (the mesh's `cert-dir`,
//! or the build's `--cert-dir`: [`crate::emit::Options::cert_dir`]), which Envoy
//! watches; replacing the files by a rename rotates them without a restart.

use std::collections::BTreeMap;

use super::api::{
    Any, Authenticated, CombinedValidationContext, CommonTlsContext, ConfigSource, DescriptorEntry,
    DownstreamTlsContext, Filter, FractionalPercent, HeaderMutation, HeaderMutations, HeaderValueOption,
    LocalRateLimit, LocalRateLimitDescriptor, NetworkRbac, PathConfigSource, PathMatcher, Permission, PermissionRules,
    Policy, Principal, RateLimitAction, RateLimitActions, Rbac, RbacRules, RequestHeadersAction, RequestMutation,
    RuntimeFraction, SanMatcher, SdsSecretConfig, Str, StringMatcher, TokenBucket, TransportSocket, UpstreamTlsContext,
    ValidationContext, WatchedDirectory,
};
use super::header_matcher;
use crate::model::identity::{Authorization, AuthorizationRule, Identity, IdentityPattern, Mtls, RuleAction};
use crate::model::security::CallerLimit;
use crate::model::values::Operation;
use crate::model::Model;

/// The name of the trust bundle's SDS secret and file (`ca.yaml`).
pub const CA_SECRET: &str = "ca";

/// The SDS file of a workload's certificate, relative to the cert dir.
pub fn certificate_file(workload: &str) -> String {
    format!("{workload}-cert.yaml")
}

fn sds<'a>(cert_dir: &'a str, secret: Str<'a>, file: &str) -> SdsSecretConfig<'a> {
    SdsSecretConfig {
        name: secret,
        sds_config: ConfigSource {
            path_config_source: PathConfigSource {
                path: format!("{cert_dir}/{file}"),
                // A rename into the directory (how `meshc certs` replaces files) reloads the secret.
                watched_directory: WatchedDirectory { path: cert_dir.into() },
            },
            resource_api_version: "V3",
        },
    }
}

fn common_tls_context<'a>(cert_dir: &'a str, workload: Str<'a>, peer_san: StringMatcher<'a>) -> CommonTlsContext<'a> {
    let file = certificate_file(&workload);
    CommonTlsContext {
        tls_certificate_sds_secret_configs: vec![sds(cert_dir, workload, &file)],
        combined_validation_context: Some(CombinedValidationContext {
            default_validation_context: ValidationContext {
                match_typed_subject_alt_names: vec![SanMatcher { matcher: peer_san, san_type: "URI" }],
                trusted_ca: None,
            },
            validation_context_sds_secret_config: sds(cert_dir, CA_SECRET.into(), &format!("{CA_SECRET}.yaml")),
        }),
        validation_context: None,
    }
}

/// The inbound side: this workload's certificate, and a client certificate
/// of the mesh's trust domain required from every caller. The files are in `cert_dir`.
pub fn downstream_tls<'a>(mtls: &Mtls, cert_dir: &'a str, workload: &'a str) -> TransportSocket<'a> {
    let trust_domain = StringMatcher::prefix(format!("spiffe://{}/", mtls.trust_domain));
    TransportSocket {
        name: "envoy.transport_sockets.tls",
        typed_config: Any::DownstreamTlsContext(DownstreamTlsContext {
            common_tls_context: common_tls_context(cert_dir, workload.into(), trust_domain),
            require_client_certificate: true,
        }),
    }
}

/// The outbound side towards `peer`: this workload's certificate as the
/// client's, and the callee's SPIFFE ID required in its certificate. The
/// files are in `cert_dir`.
pub fn upstream_tls<'a>(
    mtls: &Mtls,
    cert_dir: &'a str,
    workload: impl Into<Str<'a>>,
    peer: &Identity,
    sni: &'a str,
) -> TransportSocket<'a> {
    let peer_id = StringMatcher::exact(peer.spiffe_id(&mtls.trust_domain));
    TransportSocket {
        name: "envoy.transport_sockets.tls",
        typed_config: Any::UpstreamTlsContext(UpstreamTlsContext {
            common_tls_context: common_tls_context(cert_dir, workload.into(), peer_id),
            sni: sni.into(),
        }),
    }
}

/// The inbound RBAC filters of a service's `authorization`: deny rules
/// first, then, when there are allow rules, only what they admit.
pub fn rbac_filters<'a>(model: &Model, mtls: Option<&Mtls>, authorization: &'a Authorization) -> Vec<Filter<'a>> {
    let trust_domain = mtls.map_or(Mtls::DEFAULT_TRUST_DOMAIN, |m| m.trust_domain.as_str());
    [RuleAction::Deny, RuleAction::Allow]
        .into_iter()
        .filter_map(|action| {
            let rules: Vec<&AuthorizationRule> = authorization.rules().iter().filter(|r| r.action == action).collect();
            if rules.is_empty() {
                return None;
            }
            let policies = rules
                .iter()
                .enumerate()
                .map(|(i, rule)| (format!("{}-{i}", action.as_str()), policy(model, trust_domain, rule)))
                .collect();
            let rules = RbacRules { action: envoy_action(action), policies };
            Some(Filter::new(format!("envoy.filters.http.rbac.{}", action.as_str()), Any::HttpRbac(Rbac { rules })))
        })
        .collect()
}

/// The RBAC network filters of a service's `authorization` for a TCP port:
/// only rules that name no operation and no header apply (the others are
/// about HTTP requests); allow rules that all name some admit nobody.
pub fn network_rbac_filters<'a>(
    model: &Model,
    mtls: Option<&Mtls>,
    authorization: &'a Authorization,
    stat_prefix: &str,
) -> Vec<Filter<'a>> {
    let trust_domain = mtls.map_or(Mtls::DEFAULT_TRUST_DOMAIN, |m| m.trust_domain.as_str());
    [RuleAction::Deny, RuleAction::Allow]
        .into_iter()
        .filter(|action| authorization.rules().iter().any(|r| r.action == *action))
        .map(|action| {
            let policies: BTreeMap<String, Policy> = authorization
                .rules()
                .iter()
                .filter(|r| r.action == action)
                .enumerate()
                .filter(|(_, r)| r.operations.is_empty() && r.conditions.is_empty())
                .map(|(i, rule)| (format!("{}-{i}", action.as_str()), policy(model, trust_domain, rule)))
                .collect();
            let config = NetworkRbac {
                rules: RbacRules { action: envoy_action(action), policies },
                stat_prefix: format!("{stat_prefix}_{}", action.as_str()),
            };
            Filter::new(format!("envoy.filters.network.rbac.{}", action.as_str()), Any::NetworkRbac(config))
        })
        .collect()
}

fn envoy_action(action: RuleAction) -> &'static str {
    match action {
        RuleAction::Allow => "ALLOW",
        RuleAction::Deny => "DENY",
    }
}

fn policy<'a>(model: &Model, trust_domain: &str, rule: &'a AuthorizationRule) -> Policy<'a> {
    let named = rule
        .principals
        .iter()
        .map(|p| IdentityPattern::Exact(model.principal_identity(&p.value).spiffe_id(trust_domain)));
    // A service role stands for its members' identities and the namespaces and IDs it names.
    let roles = rule.roles.iter().flat_map(|r| model.service_role(r.value).patterns(model, trust_domain));
    let mut patterns: Vec<IdentityPattern> = Vec::new();
    for pattern in named.chain(roles) {
        if !patterns.contains(&pattern) {
            patterns.push(pattern);
        }
    }
    let principals = patterns
        .into_iter()
        .map(|pattern| Principal {
            authenticated: Authenticated {
                principal_name: match pattern {
                    IdentityPattern::Exact(id) => StringMatcher::exact(id),
                    IdentityPattern::Prefix(prefix) => StringMatcher::prefix(prefix),
                },
            },
        })
        .collect();
    let mut permissions: Vec<Permission> = if rule.operations.is_empty() {
        vec![Permission::Any { any: true }]
    } else {
        rule.operations.iter().map(|op| permission(&op.value)).collect()
    };
    if !rule.conditions.is_empty() {
        // Each operation, and every header condition.
        let headers = rule.conditions.iter().map(|h| Permission::Header { header: header_matcher(h) });
        let headers: Vec<Permission> = headers.collect();
        permissions = permissions
            .into_iter()
            .map(|permission| {
                let rules = std::iter::once(permission).chain(headers.iter().cloned()).collect();
                Permission::AndRules { and_rules: PermissionRules { rules } }
            })
            .collect();
    }
    Policy { permissions, principals }
}

fn permission(operation: &Operation) -> Permission<'_> {
    match operation {
        Operation::Grpc { service, method } => {
            Permission::UrlPath { url_path: PathMatcher { path: StringMatcher::exact(format!("/{service}/{method}")) } }
        }
        Operation::Rest { method, path } => Permission::AndRules {
            and_rules: PermissionRules {
                rules: vec![
                    Permission::Header {
                        header: super::api::HeaderMatcher::string(":method", StringMatcher::exact(method.as_str())),
                    },
                    Permission::UrlPath {
                        url_path: PathMatcher { path: StringMatcher::regex(crate::emit::path_template_regex(path)) },
                    },
                ],
            },
        },
        // Ruled out when the spec is read: GraphQL operations share one path.
        Operation::Graphql { .. } => Permission::Any { any: true },
    }
}

/// The header the inbound side writes the caller's SPIFFE ID into, for the
/// per-caller limit to key on; whatever a client sends in it is overwritten.
pub const CALLER_HEADER: &str = "x-meshc-caller";

/// A service's `caller-limit` on its inbound HTTP side, after the RBAC
/// filters (a refused request spends no quota): the caller's SPIFFE ID from
/// its client certificate (`%DOWNSTREAM_PEER_URI_SAN%`) copied into
/// [`CALLER_HEADER`], then a local rate limit with one bucket per value;
/// past it, 429 with `retry-after` (the period in seconds).
pub fn caller_limit_filters<'a>(limit: &CallerLimit, stat_prefix: &str) -> Vec<Filter<'a>> {
    let bucket = TokenBucket {
        fill_interval: format!("{}s", limit.per.seconds()),
        max_tokens: limit.requests,
        tokens_per_fill: limit.requests,
    };
    let all = || RuntimeFraction {
        default_value: FractionalPercent { denominator: "HUNDRED", numerator: 100 },
        runtime_key: None,
    };
    let identify = HeaderMutation {
        mutations: HeaderMutations {
            request_mutations: vec![RequestMutation {
                append: HeaderValueOption::set(CALLER_HEADER, "%DOWNSTREAM_PEER_URI_SAN%"),
            }],
        },
    };
    let limit = LocalRateLimit {
        // Callers without a certificate share the default bucket; identified ones only their own.
        always_consume_default_token_bucket: false,
        descriptors: vec![LocalRateLimitDescriptor {
            entries: vec![DescriptorEntry { key: "caller".into(), value: "".into() }],
            token_bucket: bucket.clone(),
        }],
        enable_x_ratelimit_headers: "DRAFT_VERSION_03",
        filter_enabled: all(),
        filter_enforced: all(),
        max_dynamic_descriptors: MAX_CALLERS,
        rate_limits: vec![RateLimitActions {
            actions: vec![RateLimitAction {
                request_headers: RequestHeadersAction {
                    descriptor_key: "caller".into(),
                    header_name: CALLER_HEADER.into(),
                },
            }],
        }],
        response_headers_to_add: vec![HeaderValueOption::set("retry-after", limit.per.seconds().to_string())],
        stat_prefix: format!("{stat_prefix}_caller_limit"),
        token_bucket: bucket,
    };
    vec![
        Filter::new("envoy.filters.http.header_mutation.caller", Any::HeaderMutation(identify)),
        Filter::new("envoy.filters.http.local_ratelimit.caller", Any::LocalRateLimit(Box::new(limit))),
    ]
}

/// Distinct callers a per-caller limit tracks at once (least recently used beyond).
const MAX_CALLERS: u32 = 10_000;
