//! The gateway's end-user security in Envoy, used by the `envoy-gateway`
//! backend; not a backend itself.
//!
//! - `jwt_authn`: one provider per issuer (per issuer, forwarding and
//!   claim-to-header set, as those are provider settings), the payload put
//!   in dynamic metadata under the issuer's name; one requirement per
//!   authenticated route, selected per route; other routes switch it off.
//! - `rbac`: per route, an ALLOW policy whose principal tests the payload
//!   in dynamic metadata (required claims, and any of the required roles);
//!   routes without one fall back to the filter's empty config, which
//!   enforces nothing.
//! - `local_ratelimit`: per route, a token bucket of N per period; keyed
//!   limits add a descriptor with an empty value, so each distinct key
//!   (a claim, a header, the client address) gets its own bucket.
//! - `ratelimit`: global limits as descriptors (`route`, then the key) the
//!   rate limit service counts (its config is the `envoy-ratelimit` backend).
//! - audit: one JSON access log per distinct record shape, restricted to
//!   its routes by a CEL filter on the route name, so refused requests
//!   (401, 403, 429) of audited routes are recorded too.

use serde_json::{json, Map, Value};

use super::api::{
    Any, Cluster, CommonTlsContext, DataSource, Filter, ProtocolOptions, RouteAction, SanMatcher, StringMatcher,
    TransportSocket, UpstreamTlsContext, ValidationContext,
};
use crate::model::identity::TokenExchange;
use crate::model::security::{
    AuditField, AuditSink, ClaimCondition, ClaimHeader, ClaimTest, ClaimType, IssuerId, Jwks, JwtIssuer, RateKey,
    RateLimit, RouteAuth,
};
use crate::model::{Gateway, Model, Route};
use crate::schema::SchemaIndex;

pub const JWT_FILTER: &str = "envoy.filters.http.jwt_authn";
const JWT_AUTHN: &str = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication";
const JWT_PER_ROUTE: &str = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig";
const RBAC_FILTER: &str = "envoy.filters.http.rbac";
const RBAC: &str = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC";
const RBAC_PER_ROUTE: &str = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute";
const LOCAL_RL_FILTER: &str = "envoy.filters.http.local_ratelimit";
const LOCAL_RL: &str = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit";
const RL_FILTER: &str = "envoy.filters.http.ratelimit";
const RL: &str = "type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit";
const RL_PER_ROUTE: &str = "type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimitPerRoute";
const FILE_LOG: &str = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog";
const STDOUT_LOG: &str = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog";
const CEL_FILTER: &str = "type.googleapis.com/envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter";
/// The global rate limit service's cluster; service names hold no dots.
pub const RATELIMIT_CLUSTER: &str = "meshc.ratelimit";
/// The system's CA bundle on Debian, Ubuntu (Envoy's images) and Alpine.
const SYSTEM_CAS: &str = "/etc/ssl/certs/ca-certificates.crt";
/// Distinct keys a keyed local limit tracks at once (least recently used beyond).
const MAX_KEYS: u32 = 10_000;

/// Whether the gateway verifies tokens on some route.
fn authenticating(gateway: &Gateway) -> bool {
    gateway.routes.iter().any(|r| r.auth.is_some())
}

fn jwks_cluster(issuer: &str) -> String {
    format!("meshc.jwks.{issuer}")
}

/// A jwt_authn provider: an issuer with one forwarding and claim-header setting.
struct Provider<'a> {
    name: String,
    auth: &'a RouteAuth,
}

fn same_provider(a: &RouteAuth, b: &RouteAuth) -> bool {
    a.issuer.value == b.issuer.value
        && a.forward == b.forward
        && a.claim_headers.len() == b.claim_headers.len()
        && a.claim_headers
            .iter()
            .zip(&b.claim_headers)
            .all(|(x, y)| x.claim.value == y.claim.value && x.header == y.header)
}

/// Providers in route order, and each authenticated route's provider name.
fn providers<'a>(model: &Model, gateway: &'a Gateway) -> (Vec<Provider<'a>>, Vec<(&'a Route, String)>) {
    let mut providers: Vec<Provider> = Vec::new();
    let mut routes = Vec::new();
    for route in &gateway.routes {
        let Some(auth) = &route.auth else { continue };
        let name = match providers.iter().find(|p| same_provider(p.auth, auth)) {
            Some(p) => p.name.clone(),
            None => {
                let issuer = &model.issuer(auth.issuer.value).name.value;
                // The plain setting is named after the issuer; others after their first route.
                let name = if !auth.forward && auth.claim_headers.is_empty() {
                    issuer.clone()
                } else {
                    format!("{issuer}.{}", route.name.value)
                };
                providers.push(Provider { name: name.clone(), auth });
                name
            }
        };
        routes.push((route, name));
    }
    (providers, routes)
}

/// The security filters, in chain order: authentication, authorization,
/// local then global rate limits. Listed only when some route uses them.
pub fn http_filters(model: &Model, schemas: &SchemaIndex, gateway: &Gateway) -> Vec<Value> {
    let mut filters = Vec::new();
    if authenticating(gateway) {
        filters.push(jwt_authn(model, schemas, gateway));
        filters.push(json!({ "name": RBAC_FILTER, "typed_config": { "@type": RBAC } }));
    }
    if limits(gateway, false) {
        filters.push(json!({ "name": LOCAL_RL_FILTER, "typed_config": {
            "@type": LOCAL_RL,
            "stat_prefix": "local_rate_limit"
        }}));
    }
    if limits(gateway, true) {
        filters.push(json!({ "name": RL_FILTER, "typed_config": {
            "@type": RL,
            "domain": domain(gateway),
            "failure_mode_deny": false,
            "enable_x_ratelimit_headers": "DRAFT_VERSION_03",
            "rate_limit_service": {
                "grpc_service": { "envoy_grpc": { "cluster_name": RATELIMIT_CLUSTER }, "timeout": "1s" },
                "transport_api_version": "V3"
            }
        }}));
    }
    filters
}

/// A local-reply filter matching every token jwt_authn refused, if the gateway verifies tokens.
pub fn rejected_token_filter(gateway: &Gateway) -> Option<Value> {
    authenticating(gateway).then(|| {
        json!({ "extension_filter": {
            "name": "envoy.access_loggers.extension_filters.cel",
            "typed_config": { "@type": CEL_FILTER, "expression": "response.code_details.startsWith('jwt_authn_access_denied')" }
        }})
    })
}

/// The rate limit service's domain for a gateway's descriptors.
pub fn domain(gateway: &Gateway) -> String {
    format!("gateway-{}", gateway.name.value)
}

fn limits(gateway: &Gateway, global: bool) -> bool {
    gateway.routes.iter().any(|r| if global { r.rate_limits.global.is_some() } else { r.rate_limits.local.is_some() })
}

fn jwt_authn(model: &Model, schemas: &SchemaIndex, gateway: &Gateway) -> Value {
    let (providers, routes) = providers(model, gateway);
    let mut configs = Map::new();
    for p in &providers {
        let issuer = model.issuer(p.auth.issuer.value);
        configs.insert(p.name.clone(), provider(schemas, issuer, p.auth.forward, &p.auth.claim_headers));
    }
    let requirements: Map<String, Value> = routes
        .into_iter()
        .map(|(route, provider)| (route.name.value.clone(), json!({ "provider_name": provider })))
        .collect();
    json!({ "name": JWT_FILTER, "typed_config": {
        "@type": JWT_AUTHN,
        "providers": configs,
        "requirement_map": requirements
    }})
}

/// An issuer's jwt_authn provider: verified tokens' payload in dynamic
/// metadata under the issuer's name, `forward` keeping the token on the request.
fn provider(schemas: &SchemaIndex, issuer: &JwtIssuer, forward: bool, claim_headers: &[ClaimHeader]) -> Value {
    let mut config = json!({
        "issuer": issuer.issuer.value,
        "forward": forward,
        "payload_in_metadata": issuer.name.value,
    });
    if !issuer.audiences.is_empty() {
        config["audiences"] = json!(issuer.audiences);
    }
    match &issuer.jwks {
        Jwks::Remote { uri, cache } => {
            config["remote_jwks"] = json!({
                "http_uri": { "uri": uri.value.text, "cluster": jwks_cluster(&issuer.name.value), "timeout": "5s" },
                "cache_duration": cache.to_proto_json(),
                // Fetched at startup, so the first request does not wait for the keys.
                "async_fetch": {}
            });
        }
        Jwks::File(schema) => {
            let keys = schemas.get(*schema).and_then(|s| s.jwks()).unwrap_or("{\"keys\":[]}");
            config["local_jwks"] = json!({ "inline_string": keys });
        }
    }
    if !claim_headers.is_empty() {
        config["claim_to_headers"] = claim_headers
            .iter()
            .map(|h| json!({ "header_name": h.header.as_str(), "claim_name": h.claim.value }))
            .collect();
    }
    let spaced: Vec<&str> =
        issuer.claims.iter().filter(|c| c.ty == ClaimType::SpaceDelimited).map(|c| c.name.value.as_str()).collect();
    if !spaced.is_empty() {
        // Space-delimited claims (OAuth `scope`) become lists, so RBAC can test membership.
        config["normalize_payload_in_metadata"] = json!({ "space_delimited_claims": spaced });
    }
    config
}

/// The inbound jwt_authn filter of a service that requires a token: every
/// request needs a valid token of the issuer, which stays on the request so
/// that the app can pass it on.
pub fn service_token_filter<'a>(model: &Model, schemas: &SchemaIndex, id: IssuerId) -> Filter<'a> {
    let issuer = model.issuer(id);
    let name = &issuer.name.value;
    let config = json!({
        "@type": JWT_AUTHN,
        "providers": { name.clone(): provider(schemas, issuer, true, &[]) },
        "rules": [{ "match": { "prefix": "/" }, "requires": { "provider_name": name } }]
    });
    Filter::new(JWT_FILTER, Any::Json(config))
}

/// A route's per-filter configs for the security filters, and the route
/// action's `rate_limits` for global limits.
/// A redirect has no `RouteAction` (`action` is `None`): its global limits
/// go in the rate limit filter's per-route config instead.
pub fn route(
    model: &Model,
    gateway: &Gateway,
    route: &Route,
    action: Option<&mut RouteAction>,
    per_filter: &mut Map<String, Value>,
) {
    if authenticating(gateway) {
        let config = match &route.auth {
            Some(_) => json!({ "@type": JWT_PER_ROUTE, "requirement_name": route.name.value }),
            None => json!({ "@type": JWT_PER_ROUTE, "disabled": true }),
        };
        per_filter.insert(JWT_FILTER.into(), config);
        if let Some(policy) = route.auth.as_ref().and_then(|a| rbac_policy(model, a)) {
            per_filter.insert(
                RBAC_FILTER.into(),
                json!({ "@type": RBAC_PER_ROUTE, "rbac": { "rules": {
                    "action": "ALLOW",
                    "policies": { route.name.value.clone(): { "permissions": [{ "any": true }], "principals": [policy] } }
                }}}),
            );
        }
    }
    let issuer = route.auth.as_ref().map(|a| model.issuer(a.issuer.value).name.value.as_str());
    if let Some(limit) = &route.rate_limits.local {
        per_filter.insert(LOCAL_RL_FILTER.into(), local_limit(route, limit, issuer));
    }
    if let Some(limit) = &route.rate_limits.global {
        let mut actions =
            vec![json!({ "generic_key": { "descriptor_key": "route", "descriptor_value": route.name.value } })];
        actions.extend(key_action(&limit.key.value, issuer));
        match action {
            Some(action) => action.rate_limits = Some(json!([{ "actions": actions }])),
            None => {
                per_filter.insert(
                    RL_FILTER.into(),
                    json!({ "@type": RL_PER_ROUTE, "rate_limits": [{ "actions": actions }] }),
                );
            }
        }
    }
}

/// The principal a route's token must be: all its claims, and one of its roles.
fn rbac_policy(model: &Model, auth: &RouteAuth) -> Option<Value> {
    let issuer = &model.issuer(auth.issuer.value).name.value;
    let mut ids: Vec<Value> = auth.claims.iter().map(|c| claim_principal(issuer, c)).collect();
    if !auth.roles.is_empty() {
        let roles: Vec<Value> = auth
            .roles
            .iter()
            .map(|r| {
                let conditions = model.role(r.value).conditions.iter().map(|c| claim_principal(issuer, c)).collect();
                all(conditions)
            })
            .collect();
        ids.push(if roles.len() == 1 { roles.into_iter().next()? } else { json!({ "or_ids": { "ids": roles } }) });
    }
    (!ids.is_empty()).then(|| all(ids))
}

fn all(mut ids: Vec<Value>) -> Value {
    if ids.len() == 1 {
        ids.pop().unwrap_or_default()
    } else {
        json!({ "and_ids": { "ids": ids } })
    }
}

/// A test on the verified payload jwt_authn put in dynamic metadata.
fn claim_principal(issuer: &str, condition: &ClaimCondition) -> Value {
    let value = match &condition.test {
        ClaimTest::Equals(v) => json!({ "string_match": { "exact": v } }),
        ClaimTest::Contains(v) => json!({ "list_match": { "one_of": { "string_match": { "exact": v } } } }),
        ClaimTest::Present => json!({ "present_match": true }),
    };
    json!({ "sourced_metadata": { "metadata_matcher": {
        "filter": JWT_FILTER,
        "path": [{ "key": issuer }, { "key": condition.claim.value }],
        "value": value
    }}})
}

/// The descriptor entry that keys a limit, after the route's.
fn key_action(key: &RateKey, issuer: Option<&str>) -> Option<Value> {
    match key {
        RateKey::Route => None,
        RateKey::ClientIp => Some(json!({ "remote_address": {} })),
        RateKey::Header(h) => {
            Some(json!({ "request_headers": { "header_name": h.as_str(), "descriptor_key": descriptor_key(key) } }))
        }
        RateKey::Claim(c) => Some(json!({ "metadata": {
            "descriptor_key": descriptor_key(key),
            "metadata_key": { "key": JWT_FILTER, "path": [{ "key": issuer.unwrap_or_default() }, { "key": c }] },
            "source": "DYNAMIC"
        }})),
    }
}

/// The descriptor key of a limit's key, as the rate limit service's config names it.
pub fn descriptor_key(key: &RateKey) -> String {
    match key {
        RateKey::ClientIp => "remote_address".into(),
        other => other.to_string(),
    }
}

fn local_limit(route: &Route, limit: &RateLimit, issuer: Option<&str>) -> Value {
    let bucket = json!({
        "max_tokens": limit.requests,
        "tokens_per_fill": limit.requests,
        "fill_interval": format!("{}s", limit.per.seconds())
    });
    let all = json!({ "default_value": { "numerator": 100, "denominator": "HUNDRED" } });
    let mut config = json!({
        "@type": LOCAL_RL,
        "stat_prefix": format!("route_{}", route.name.value),
        "token_bucket": bucket,
        "filter_enabled": all,
        "filter_enforced": all,
        "enable_x_ratelimit_headers": "DRAFT_VERSION_03"
    });
    if let Some(action) = key_action(&limit.key.value, issuer) {
        // An empty value: one bucket per distinct key. Requests without the key share the route's bucket.
        config["descriptors"] =
            json!([{ "entries": [{ "key": descriptor_key(&limit.key.value), "value": "" }], "token_bucket": bucket }]);
        config["rate_limits"] = json!([{ "actions": [action] }]);
        config["always_consume_default_token_bucket"] = json!(false);
        config["max_dynamic_descriptors"] = json!(MAX_KEYS);
    }
    config
}

/// Whether the gateway must take the client's address from the connection
/// (not from `x-forwarded-for`, which a client can forge): some limit is
/// keyed by it.
pub fn keys_by_client_address(gateway: &Gateway) -> bool {
    gateway.routes.iter().flat_map(|r| r.rate_limits.iter()).any(|l| l.key.value == RateKey::ClientIp)
}

/// Clusters the security filters call: each remote JWKS host, the rate limit service.
pub fn clusters<'a>(model: &'a Model, gateway: &'a Gateway) -> Vec<(String, Cluster<'a>)> {
    let mut out = Vec::new();
    let mut issuers: Vec<_> = gateway.routes.iter().filter_map(|r| r.auth.as_ref()).map(|a| a.issuer.value).collect();
    issuers.sort();
    issuers.dedup();
    out.extend(issuers.into_iter().filter_map(|id| jwks_cluster_of(model.issuer(id))));
    if let (Some(service), true) = (&gateway.rate_limit_service, limits(gateway, true)) {
        let mut cluster = Cluster::single_host(RATELIMIT_CLUSTER, service.host.as_str(), service.port.get());
        cluster.typed_extension_protocol_options = Some(ProtocolOptions::http2());
        out.push((RATELIMIT_CLUSTER.to_string(), cluster));
    }
    out
}

/// The cluster an issuer's remote JWKS is fetched through, if it has one.
pub fn jwks_cluster_of(issuer: &JwtIssuer) -> Option<(String, Cluster<'_>)> {
    let Jwks::Remote { uri, .. } = &issuer.jwks else { return None };
    let name = jwks_cluster(&issuer.name.value);
    let host = uri.value.host.as_str();
    let mut cluster = Cluster::single_host(name.clone(), host, uri.value.port.get());
    if uri.value.tls {
        // Keys fetched over TLS must come from the issuer: verify its certificate and name.
        let validation_context = ValidationContext {
            match_typed_subject_alt_names: vec![SanMatcher { matcher: StringMatcher::exact(host), san_type: "DNS" }],
            trusted_ca: Some(DataSource { filename: SYSTEM_CAS }),
        };
        let context = UpstreamTlsContext {
            common_tls_context: CommonTlsContext { validation_context: Some(validation_context), ..Default::default() },
            sni: host.into(),
        };
        cluster.transport_socket = Some(TransportSocket {
            name: "envoy.transport_sockets.tls",
            typed_config: Any::UpstreamTlsContext(context),
        });
    }
    Some((name, cluster))
}

/// The audit access logs: one per distinct record shape, each restricted
/// to the routes that write it.
pub fn access_logs(model: &Model, gateway: &Gateway) -> Vec<Value> {
    let mut groups: Vec<(Value, Vec<&str>)> = Vec::new();
    for route in &gateway.routes {
        let Some(audit) = &route.audit else { continue };
        let issuer = route.auth.as_ref().map(|a| model.issuer(a.issuer.value).name.value.as_str());
        let record = json!(record(&audit.fields, issuer));
        match groups.iter_mut().find(|(r, _)| *r == record) {
            Some((_, routes)) => routes.push(&route.name.value),
            None => groups.push((record, vec![&route.name.value])),
        }
    }
    groups
        .into_iter()
        .map(|(record, routes)| {
            let names: Vec<String> = routes.iter().map(|r| format!("'{}'", cel_escape(r))).collect();
            let log_format = json!({ "json_format": record });
            let (name, config) = match &gateway.audit_log {
                AuditSink::Stdout => ("envoy.access_loggers.stdout", json!({ "@type": STDOUT_LOG, "log_format": log_format })),
                AuditSink::File(path) => {
                    ("envoy.access_loggers.file", json!({ "@type": FILE_LOG, "path": path, "log_format": log_format }))
                }
            };
            json!({
                "name": name,
                "filter": { "extension_filter": {
                    "name": "envoy.access_loggers.extension_filters.cel",
                    "typed_config": { "@type": CEL_FILTER, "expression": format!("xds.route_name in [{}]", names.join(", ")) }
                }},
                "typed_config": config
            })
        })
        .collect()
}

/// One audit record, gateway's or sidecar's: each field under the spec's
/// name, with the command operator that fills it in. Claims need the
/// token's `issuer` (without one they are left out).
pub(super) fn record(
    fields: &[crate::base::Spanned<AuditField>],
    issuer: Option<&str>,
) -> std::collections::BTreeMap<String, String> {
    let claim = |name: &str| issuer.map(|i| format!("%DYNAMIC_METADATA({JWT_FILTER}:{i}:{name})%"));
    let mut out = std::collections::BTreeMap::new();
    for field in fields {
        let value = match &field.value {
            AuditField::Time => Some("%START_TIME%".to_string()),
            AuditField::Method => Some("%REQ(:METHOD)%".into()),
            AuditField::Path => Some("%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%".into()),
            AuditField::Status => Some("%RESPONSE_CODE%".into()),
            AuditField::Duration => Some("%DURATION%".into()),
            AuditField::Route => Some("%ROUTE_NAME%".into()),
            AuditField::ClientIp => Some("%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%".into()),
            AuditField::RequestId => Some("%REQ(X-REQUEST-ID)%".into()),
            AuditField::UserAgent => Some("%REQ(USER-AGENT)%".into()),
            AuditField::Flags => Some("%RESPONSE_FLAGS%".into()),
            // Without a token there is no principal: the field is left out.
            AuditField::Principal => claim("sub"),
            AuditField::Claim(c) => claim(c),
            AuditField::Header(h) => Some(format!("%REQ({})%", h.as_str())),
            AuditField::Caller => Some("%DOWNSTREAM_PEER_URI_SAN%".into()),
            AuditField::Verdict => Some("%RESPONSE_CODE_DETAILS%".into()),
            AuditField::TraceId => Some("%TRACE_ID%".into()),
        };
        if let Some(value) = value {
            out.insert(field.value.key(), value);
        }
    }
    out
}

/// A CEL single-quoted string's contents.
fn cel_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\'', "\\'")
}

const EXT_AUTHZ: &str = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz";
const EXT_AUTHZ_PER_ROUTE: &str = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute";

/// The outbound filter that trades the user's token for one scoped to
/// `audience`: ext_authz to `meshc-runtime token-exchange` beside the
/// sidecar, which answers with the new `authorization` header. Off unless a
/// route turns it on ([`token_exchange_route`]).
pub fn token_exchange_filter<'a>(exchange: &TokenExchange, audience: &str) -> Filter<'a> {
    let config = json!({
            "@type": EXT_AUTHZ,
            "transport_api_version": "V3",
            // No exchanged token, no call: the callee would refuse the user's anyway.
            "failure_mode_allow": false,
            "http_service": {
                "server_uri": {
                    "uri": format!("http://127.0.0.1:{}", exchange.exchanger_port),
                    "cluster": token_exchange_cluster_name(exchange),
                    "timeout": "3s"
                },
                "path_prefix": format!("/exchange/{audience}"),
                "authorization_response": { "allowed_upstream_headers": { "patterns": [{ "exact": "authorization" }] } }
            },
            "allowed_headers": { "patterns": [{ "exact": "authorization" }] }
    });
    Filter { disabled: true, ..Filter::new(token_exchange_filter_name(exchange, audience), Any::Json(config)) }
}

/// A route's per-filter config turning its call's exchange filter on.
pub fn token_exchange_route<'a>(exchange: &TokenExchange, audience: &str) -> (String, Any<'a>) {
    let config = json!({ "@type": EXT_AUTHZ_PER_ROUTE, "check_settings": {} });
    (token_exchange_filter_name(exchange, audience), Any::Json(config))
}

/// The cluster of the exchanger (`meshc-runtime token-exchange`) on 127.0.0.1.
pub fn token_exchange_cluster<'a>(exchange: &TokenExchange) -> (String, Cluster<'a>) {
    let name = token_exchange_cluster_name(exchange);
    let cluster = Cluster::single_host(name.clone(), "127.0.0.1", exchange.exchanger_port.get());
    (name, cluster)
}

fn token_exchange_filter_name(exchange: &TokenExchange, audience: &str) -> String {
    format!("envoy.filters.http.ext_authz.token_exchange.{}.{audience}", exchange.name.value)
}

pub(super) fn token_exchange_cluster_name(exchange: &TokenExchange) -> String {
    format!("meshc.token-exchange.{}", exchange.name.value)
}
