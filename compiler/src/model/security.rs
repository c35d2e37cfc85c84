//! End-user security at the gateway: JWT issuers and their claims, roles
//! granted by claims, and what a route requires (authentication, roles,
//! claims), limits (rate limits and quotas) and records (audit).
//!
//! Claim names stay strings here: the `jwt-consistency` pass checks each
//! against the issuer's declared claims, with a did-you-mean.

use std::fmt;

use super::values::{Duration, HeaderName, Host, Port};
use super::SchemaId;
use crate::base::{Span, Spanned};

model_id!(
    /// A JWT issuer's index in [`super::Model::issuers`].
    IssuerId
);
model_id!(
    /// An end-user role's index in [`super::Model::roles`].
    RoleId
);

/// A `jwt-issuer`: who signs the tokens the gateway accepts.
#[derive(Debug)]
pub struct JwtIssuer {
    pub name: Spanned<String>,
    /// The `iss` value tokens must carry.
    pub issuer: Spanned<String>,
    /// Tokens must name one of these in `aud`; empty accepts any audience.
    pub audiences: Vec<String>,
    pub jwks: Jwks,
    pub claims: Vec<ClaimDecl>,
    pub span: Span,
}

impl JwtIssuer {
    pub fn claim(&self, name: &str) -> Option<&ClaimDecl> {
        self.claims.iter().find(|c| c.name.value == name)
    }
}

/// Where the issuer's public keys come from.
#[derive(Debug)]
pub enum Jwks {
    /// Fetched by the gateway (and cached).
    Remote { uri: Spanned<HttpUri>, cache: Duration },
    /// A JWKS file read at build time and inlined.
    File(SchemaId),
}

/// An `http://` or `https://` URI, split for the cluster that fetches it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpUri {
    pub text: String,
    pub tls: bool,
    pub host: Host,
    pub port: Port,
}

impl HttpUri {
    pub fn parse(text: &str) -> Result<HttpUri, String> {
        let (tls, rest) = if let Some(rest) = text.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = text.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(format!("`{text}` is not an http:// or https:// URI"));
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            // Not echoed: the user information may hold a password.
            return Err("the URI has user information (`user@` or `user:password@`); the gateway's config would carry it, so give the host only".into());
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => {
                let port = port.parse::<i128>().map_err(|_| format!("`{port}` in `{text}` is not a port"))?;
                (host, Port::new(port)?)
            }
            _ => (authority, Port::new(if tls { 443 } else { 80 })?),
        };
        let host = Host::parse(host.trim_start_matches('[').trim_end_matches(']'))
            .map_err(|e| format!("the host of `{text}`: {e}"))?;
        Ok(HttpUri { text: text.to_string(), tls, host, port })
    }
}

/// A claim the issuer's tokens carry, with its JSON type.
#[derive(Debug)]
pub struct ClaimDecl {
    pub name: Spanned<String>,
    pub ty: ClaimType,
}

crate::model::values::keyword_enum!(
    /// A claim's type: lists can be tested with `contains`, scalars with `equals`.
    ClaimType {
        String = "string",
        StringList = "string-list",
        SpaceDelimited = "space-delimited",
        Number = "number",
        Boolean = "boolean",
    }
);

impl ClaimType {
    pub fn is_list(self) -> bool {
        matches!(self, ClaimType::StringList | ClaimType::SpaceDelimited)
    }
}

/// Claims every JWT may carry (RFC 7519 §4.1), declared or not.
pub const REGISTERED_CLAIMS: &[(&str, ClaimType)] = &[
    ("iss", ClaimType::String),
    ("sub", ClaimType::String),
    ("jti", ClaimType::String),
    ("exp", ClaimType::Number),
    ("nbf", ClaimType::Number),
    ("iat", ClaimType::Number),
];

/// A test on one claim of the token: `require-claim "scope" contains="orders:write"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimCondition {
    pub claim: Spanned<String>,
    pub test: ClaimTest,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimTest {
    /// A string claim equals the value.
    Equals(String),
    /// A list claim holds the value.
    Contains(String),
    /// The claim is present.
    Present,
}

/// A `role`: granted to a token that meets all its conditions.
#[derive(Debug)]
pub struct Role {
    pub name: Spanned<String>,
    pub conditions: Vec<ClaimCondition>,
    pub span: Span,
}

/// A route's `auth` block.
#[derive(Debug)]
pub struct RouteAuth {
    pub issuer: Spanned<IssuerId>,
    /// Keep the `Authorization` header for the upstream.
    pub forward: bool,
    /// All must hold.
    pub claims: Vec<ClaimCondition>,
    /// Any one of them must be held (`require-role "a" "b"`); empty: none needed.
    pub roles: Vec<Spanned<RoleId>>,
    /// Claims copied into request headers for the upstream.
    pub claim_headers: Vec<ClaimHeader>,
    pub span: Span,
}

#[derive(Debug)]
pub struct ClaimHeader {
    pub claim: Spanned<String>,
    pub header: HeaderName,
}

crate::model::values::keyword_enum!(
    /// The window of a rate limit or quota.
    Period { Second = "second", Minute = "minute", Hour = "hour", Day = "day" }
);

impl Period {
    pub fn seconds(self) -> u64 {
        match self {
            Period::Second => 1,
            Period::Minute => 60,
            Period::Hour => 3600,
            Period::Day => 86_400,
        }
    }
}

/// A route's rate limits: a slot per scope, so a route has at most one of
/// each by construction (lowering reports a second one, `MESH0006`).
#[derive(Debug, Default)]
pub struct RouteRateLimits {
    /// Counted by each gateway replica on its own (Envoy's local rate limit).
    pub local: Option<RateLimit>,
    /// Counted by the shared rate limit service: a quota across replicas
    /// (`global=#true`).
    pub global: Option<RateLimit>,
}

impl RouteRateLimits {
    pub fn is_empty(&self) -> bool {
        self.local.is_none() && self.global.is_none()
    }

    /// The limits the route has, local first.
    pub fn iter(&self) -> impl Iterator<Item = &RateLimit> {
        self.local.iter().chain(&self.global)
    }

    /// The slot of a scope.
    pub fn slot_mut(&mut self, scope: RateScope) -> &mut Option<RateLimit> {
        match scope {
            RateScope::Local => &mut self.local,
            RateScope::Global => &mut self.global,
        }
    }
}

/// Who counts a rate limit's requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateScope {
    /// Each gateway replica, on its own.
    Local,
    /// The shared rate limit service (`global=#true`).
    Global,
}

impl RateScope {
    pub fn as_str(self) -> &'static str {
        match self {
            RateScope::Local => "local",
            RateScope::Global => "global",
        }
    }
}

/// A route's `rate-limit` (its scope is the [`RouteRateLimits`] slot it is in).
#[derive(Debug)]
pub struct RateLimit {
    pub requests: u32,
    pub per: Period,
    pub key: Spanned<RateKey>,
    pub span: Span,
}

/// A service's `caller-limit N per=PERIOD`: each calling identity gets its
/// own bucket of `requests` per period at each of the service's proxies
/// (a quota when the period is an hour or a day); past it the proxy answers
/// 429 with `retry-after`. Callers without an identity share one bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallerLimit {
    pub requests: u32,
    pub per: Period,
    pub span: Span,
}

impl CallerLimit {
    /// Requests per second it lets one caller make, on average.
    pub fn per_second(&self) -> f64 {
        f64::from(self.requests) / self.per.seconds() as f64
    }
}

/// Whose requests share one bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RateKey {
    /// Every request of the route.
    Route,
    ClientIp,
    Claim(String),
    Header(HeaderName),
}

impl RateKey {
    pub fn parse(text: &str) -> Result<RateKey, String> {
        match text {
            "route" => Ok(RateKey::Route),
            "client-ip" => Ok(RateKey::ClientIp),
            _ => {
                if let Some(claim) = text.strip_prefix("claim:").filter(|c| !c.is_empty()) {
                    Ok(RateKey::Claim(claim.to_string()))
                } else if let Some(header) = text.strip_prefix("header:") {
                    Ok(RateKey::Header(HeaderName::parse(header)?))
                } else {
                    Err(format!(
                        "`{text}` is not a rate limit key; write `route`, `client-ip`, `claim:NAME` or `header:NAME`"
                    ))
                }
            }
        }
    }
}

impl fmt::Display for RateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RateKey::Route => f.write_str("route"),
            RateKey::ClientIp => f.write_str("client-ip"),
            RateKey::Claim(c) => write!(f, "claim:{c}"),
            RateKey::Header(h) => write!(f, "header:{}", h.as_str()),
        }
    }
}

/// One field of an audit record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditField {
    Time,
    Method,
    Path,
    Status,
    Duration,
    Route,
    ClientIp,
    RequestId,
    UserAgent,
    /// Why the gateway answered itself (Envoy's response flags).
    Flags,
    /// The token's `sub`.
    Principal,
    Claim(String),
    Header(HeaderName),
    /// The calling workload's identity: the SPIFFE ID of its certificate.
    Caller,
    /// What the proxy decided: passed on (`via_upstream`), refused by an
    /// authorization rule (`rbac_access_denied_matched_policy[deny-N]`, or
    /// `[none]` when no allow rule matched), throttled (`local_rate_limited`), ...
    Verdict,
    /// The request's trace id (empty when it is not traced).
    TraceId,
}

impl AuditField {
    pub const NAMES: &'static [&'static str] = &[
        "time",
        "method",
        "path",
        "status",
        "duration",
        "route",
        "client-ip",
        "request-id",
        "user-agent",
        "flags",
        "principal",
        "caller",
        "verdict",
        "trace-id",
        "claim:NAME",
        "header:NAME",
    ];

    pub fn parse(text: &str) -> Result<AuditField, String> {
        Ok(match text {
            "time" => AuditField::Time,
            "method" => AuditField::Method,
            "path" => AuditField::Path,
            "status" => AuditField::Status,
            "duration" => AuditField::Duration,
            "route" => AuditField::Route,
            "client-ip" => AuditField::ClientIp,
            "request-id" => AuditField::RequestId,
            "user-agent" => AuditField::UserAgent,
            "flags" => AuditField::Flags,
            "principal" => AuditField::Principal,
            "caller" => AuditField::Caller,
            "verdict" => AuditField::Verdict,
            "trace-id" => AuditField::TraceId,
            _ => {
                if let Some(claim) = text.strip_prefix("claim:").filter(|c| !c.is_empty()) {
                    // Envoy's access log names metadata as NAMESPACE:KEY:KEY.
                    if claim.contains([':', '(', ')', '%']) {
                        return Err(format!("claim `{claim}` cannot be audited: its name holds `:`, `(`, `)` or `%`"));
                    }
                    AuditField::Claim(claim.to_string())
                } else if let Some(header) = text.strip_prefix("header:") {
                    AuditField::Header(HeaderName::parse(header)?)
                } else {
                    let known = AuditField::NAMES.iter().copied();
                    return Err(match crate::diag::did_you_mean(text, known) {
                        Some(best) => format!("`{text}` is not an audit field; did you mean `{best}`?"),
                        None => format!("`{text}` is not an audit field; fields are {}", AuditField::NAMES.join(", ")),
                    });
                }
            }
        })
    }

    /// The record's JSON key: the field as the spec writes it.
    pub fn key(&self) -> String {
        match self {
            AuditField::Claim(c) => format!("claim:{c}"),
            AuditField::Header(h) => format!("header:{}", h.as_str()),
            AuditField::Time => "time".into(),
            AuditField::Method => "method".into(),
            AuditField::Path => "path".into(),
            AuditField::Status => "status".into(),
            AuditField::Duration => "duration".into(),
            AuditField::Route => "route".into(),
            AuditField::ClientIp => "client-ip".into(),
            AuditField::RequestId => "request-id".into(),
            AuditField::UserAgent => "user-agent".into(),
            AuditField::Flags => "flags".into(),
            AuditField::Principal => "principal".into(),
            AuditField::Caller => "caller".into(),
            AuditField::Verdict => "verdict".into(),
            AuditField::TraceId => "trace-id".into(),
        }
    }
}

/// A route's `audit`: its requests, allowed or refused, are recorded.
#[derive(Debug)]
pub struct Audit {
    pub fields: Vec<Spanned<AuditField>>,
    pub span: Span,
}

/// A gateway's `audit-log`: where audit records go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditSink {
    Stdout,
    File(String),
}

/// A route declared public on purpose: `public reason="..."`.
#[derive(Debug)]
pub struct Public {
    pub reason: String,
    pub span: Span,
}

crate::model::values::keyword_enum!(
    /// What the public-exposure analysis demands of gateway routes.
    PublicRoutes { Allow = "allow", RequireRateLimit = "require-rate-limit", RequireAuth = "require-auth" }
);

/// The top-level `security` block.
#[derive(Debug)]
pub struct SecurityPolicy {
    pub public_routes: PublicRoutes,
    /// The `public-routes` node, when set.
    pub span: Option<Span>,
}

impl Default for SecurityPolicy {
    fn default() -> Self {
        SecurityPolicy { public_routes: PublicRoutes::Allow, span: None }
    }
}

/// Where a gateway's global rate limit service listens.
#[derive(Debug)]
pub struct RateLimitService {
    pub host: Host,
    pub port: Port,
    pub span: Span,
}
