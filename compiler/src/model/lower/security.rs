//! End-user security: top-level `jwt-issuer`, `role` and `security`
//! nodes, and a route's `auth`, `rate-limit`, `audit` and `public`.

use std::ops::Deref;

use std::collections::HashMap;

use super::read::{self, Once};
use super::{declare_once, resolve, Decls, Lower};
use crate::base::{Span, Spanned};
use crate::diag::{Code, Diagnostic};
use crate::model::security::{
    Audit, AuditField, CallerLimit, ClaimCondition, ClaimDecl, ClaimHeader, ClaimTest, ClaimType, HttpUri, IssuerId,
    Jwks, JwtIssuer, Period, Public, PublicRoutes, RateKey, RateLimit, RateScope, Role, RoleId, RouteAuth,
    SecurityPolicy,
};
use crate::model::values::{check_name, Duration, HeaderName, SchemaFormat};
use crate::syntax::Node;

const ISSUER_CHILDREN: &[&str] = &["issuer", "audiences", "jwks-uri", "jwks", "claim"];
const AUTH_CHILDREN: &[&str] = &["require-claim", "require-role", "claim-to-header"];
const ISSUER_EXAMPLE: &str = "jwt-issuer \"shop-users\" { issuer \"https://auth.shop.example\"; jwks-uri \"https://auth.shop.example/jwks.json\" }";
/// Envoy's default JWKS cache duration.
const JWKS_CACHE: Duration = Duration::from_millis(300_000);

impl<D: Deref<Target = Decls>> Lower<'_, D> {
    /// The top-level `security { public-routes "require-auth" }`.
    pub(super) fn security(&mut self, node: &Node) -> SecurityPolicy {
        read::check_entries(node, 0, &[], self.sink);
        let mut policy = SecurityPolicy::default();
        let mut once = Once::default();
        for child in node.children() {
            match child.name.as_str() {
                "public-routes" if once.first(child, self.sink) => {
                    read::check_entries(child, 1, &[], self.sink);
                    read::no_children(child, self.sink);
                    let level = read::string_arg(child, 0, "a level", "public-routes \"require-auth\"", self.sink)
                        .and_then(|l| read::parse(&l, |l| PublicRoutes::parse(l), self.sink));
                    if let Some(level) = level {
                        policy = SecurityPolicy { public_routes: level, span: Some(child.span) };
                    }
                }
                "public-routes" => {}
                _ => read::unknown_child(child, "security", &["public-routes"], self.sink),
            }
        }
        policy
    }

    /// `require-claim "scope" contains="orders:write" | equals="x" | present=#true`.
    fn claim_condition(&mut self, node: &Node) -> Option<ClaimCondition> {
        read::check_entries(node, 1, &["equals", "contains", "present"], self.sink);
        read::no_children(node, self.sink);
        let example = "require-claim \"scope\" contains=\"orders:write\"";
        let claim = read::string_arg(node, 0, "a claim name", example, self.sink)?;
        let equals = read::string_prop(node, "equals", None, self.sink);
        let contains = read::string_prop(node, "contains", None, self.sink);
        let present = read::bool_prop(node, "present", self.sink);
        let test = match (equals, contains, present) {
            (Some(e), None, None) => ClaimTest::Equals(e.value),
            (None, Some(c), None) => ClaimTest::Contains(c.value),
            (None, None, Some(p)) if p.value => ClaimTest::Present,
            (None, None, None) if ["equals", "contains", "present"].iter().all(|k| node.property(k).is_none()) => {
                self.sink.push(
                    Diagnostic::new(
                        Code::MissingRequired,
                        format!("`require-claim \"{}\"` tests nothing", claim.value),
                    )
                    .at(node.name_span, "no test")
                    .help("add equals=\"...\", contains=\"...\" or present=#true"),
                );
                return None;
            }
            (None, None, None) => return None,
            _ => {
                self.sink.push(
                    Diagnostic::new(
                        Code::InvalidValue,
                        format!("`require-claim \"{}\"` needs exactly one test", claim.value),
                    )
                    .at(node.span, "conflicting tests")
                    .help("use one of equals=\"...\", contains=\"...\" or present=#true"),
                );
                return None;
            }
        };
        Some(ClaimCondition { claim, test, span: node.span })
    }

    /// A declared JWT issuer by name, with did-you-mean when there is none.
    pub(super) fn issuer_ref(&mut self, name: &Spanned<String>) -> Option<Spanned<IssuerId>> {
        let declare = || "declare it with `jwt-issuer \"name\" { issuer \"...\"; jwks-uri \"...\" }`".to_string();
        resolve(self.sink, &self.d.issuers, name, Code::UnknownIssuer, "jwt-issuer", declare)
    }

    /// A route's `auth "ISSUER" forward=#true { require-claim; require-role; claim-to-header }`.
    pub(super) fn route_auth(&mut self, node: &Node) -> Option<RouteAuth> {
        read::check_entries(node, 1, &["forward"], self.sink);
        let example = "auth \"shop-users\" { require-role \"customer\" }";
        let name = read::string_arg(node, 0, "an issuer", example, self.sink)?;
        let issuer = self.issuer_ref(&name);
        let forward = read::bool_prop(node, "forward", self.sink);
        let mut failed = issuer.is_none() || (node.property("forward").is_some() && forward.is_none());
        let mut claims = Vec::new();
        let mut roles: Vec<Spanned<RoleId>> = Vec::new();
        let mut claim_headers: Vec<ClaimHeader> = Vec::new();
        let mut headers: HashMap<String, Span> = HashMap::new();
        for child in node.children() {
            match child.name.as_str() {
                "require-claim" => match self.claim_condition(child) {
                    Some(c) => claims.push(c),
                    None => failed = true,
                },
                "require-role" => {
                    read::check_entries(child, usize::MAX, &[], self.sink);
                    read::no_children(child, self.sink);
                    let count = child.arguments().count().max(1);
                    for i in 0..count {
                        let Some(role) = read::string_arg(child, i, "a role", "require-role \"admin\"", self.sink)
                        else {
                            failed = true;
                            continue;
                        };
                        let declare = || "declare it with `role \"name\" { require-claim ... }`".to_string();
                        match resolve(self.sink, &self.d.roles, &role, Code::UnknownRole, "role", declare) {
                            Some(id) => roles.push(id),
                            None => failed = true,
                        }
                    }
                }
                "claim-to-header" => {
                    read::check_entries(child, 2, &[], self.sink);
                    read::no_children(child, self.sink);
                    let example = "claim-to-header \"sub\" \"x-user-id\"";
                    let claim = read::string_arg(child, 0, "a claim name", example, self.sink);
                    let header = read::string_arg(child, 1, "a header name", example, self.sink).and_then(|h| {
                        read::parse(&h, |h| HeaderName::parse(h), self.sink).map(|v| Spanned::new(v, h.span))
                    });
                    let (Some(claim), Some(header)) = (claim, header) else {
                        failed = true;
                        continue;
                    };
                    let what = ("claim-to-header header", header.value.as_str());
                    if !declare_once(&mut headers, header.value.as_str().to_string(), header.span, what, self.sink) {
                        failed = true;
                        continue;
                    }
                    claim_headers.push(ClaimHeader { claim, header: header.value });
                }
                _ => read::unknown_child(child, "auth", AUTH_CHILDREN, self.sink),
            }
        }
        if failed {
            return None;
        }
        Some(RouteAuth {
            issuer: issuer?,
            forward: forward.is_some_and(|f| f.value),
            claims,
            roles,
            claim_headers,
            span: node.span,
        })
    }

    /// `rate-limit 100 per="minute" key="claim:sub" global=#true`.
    pub(super) fn rate_limit(&mut self, node: &Node) -> Option<(RateScope, RateLimit)> {
        read::check_entries(node, 1, &["per", "key", "global"], self.sink);
        read::no_children(node, self.sink);
        let example = "rate-limit 100 per=\"minute\" key=\"claim:sub\"";
        let (requests, per) = self.requests_per(node, example);
        let key = match read::string_prop(node, "key", None, self.sink) {
            Some(k) => read::parse(&k, |k| RateKey::parse(k), self.sink).map(|v| Spanned::new(v, k.span)),
            None if node.property("key").is_some() => None,
            None => Some(Spanned::new(RateKey::Route, node.name_span)),
        };
        let scope = match read::bool_prop(node, "global", self.sink) {
            Some(g) if g.value => Some(RateScope::Global),
            Some(_) => Some(RateScope::Local),
            None if node.property("global").is_some() => None,
            None => Some(RateScope::Local),
        };
        Some((scope?, RateLimit { requests: requests?, per: per?, key: key?, span: node.span }))
    }

    /// A service's `caller-limit 100 per="second"`.
    pub(super) fn caller_limit(&mut self, node: &Node) -> Option<CallerLimit> {
        read::check_entries(node, 1, &["per"], self.sink);
        read::no_children(node, self.sink);
        let (requests, per) = self.requests_per(node, "caller-limit 100 per=\"second\"");
        Some(CallerLimit { requests: requests?, per: per?, span: node.span })
    }

    /// A limit's `N per=PERIOD`: the number of requests (1 and up) and the period.
    fn requests_per(&mut self, node: &Node, example: &str) -> (Option<u32>, Option<Period>) {
        let requests = read::int_arg(node, 0, "a number of requests", example, self.sink).and_then(|n| {
            read::parse(
                &n,
                |n| match u32::try_from(*n) {
                    Ok(n) if n > 0 => Ok(n),
                    _ => Err(format!("{n} requests is not a limit; give 1 to {}", u32::MAX)),
                },
                self.sink,
            )
        });
        let per = read::string_prop(node, "per", Some(example), self.sink)
            .and_then(|p| read::parse(&p, |p| Period::parse(p), self.sink));
        (requests, per)
    }

    /// `audit fields="method path status principal claim:sub"`; without
    /// `fields`, the `defaults`.
    pub(super) fn audit(&mut self, node: &Node, defaults: &[&str]) -> Option<Audit> {
        read::check_entries(node, 0, &["fields"], self.sink);
        read::no_children(node, self.sink);
        let fields = match read::string_prop(node, "fields", None, self.sink) {
            Some(text) => {
                let parsed: Option<Vec<Spanned<AuditField>>> = text
                    .value
                    .split([' ', ','])
                    .filter(|w| !w.is_empty())
                    .map(|w| {
                        read::parse(&Spanned::new(w.to_string(), text.span), |w| AuditField::parse(w), self.sink)
                            .map(|f| Spanned::new(f, text.span))
                    })
                    .collect();
                parsed?
            }
            None if node.property("fields").is_some() => return None,
            None => defaults
                .iter()
                .filter_map(|f| AuditField::parse(f).ok())
                .map(|f| Spanned::new(f, node.name_span))
                .collect(),
        };
        Some(Audit { fields, span: node.span })
    }

    /// `public reason="health probes and the product catalogue are open to all"`.
    pub(super) fn public(&mut self, node: &Node) -> Option<Public> {
        read::check_entries(node, 0, &["reason"], self.sink);
        read::no_children(node, self.sink);
        let reason =
            read::string_prop(node, "reason", Some("public reason=\"the catalogue is open to all\""), self.sink)?;
        if reason.value.trim().is_empty() {
            self.sink.push(
                Diagnostic::new(Code::InvalidValue, "a public route needs a reason")
                    .at(reason.span, "empty reason")
                    .help("say why anyone may call it, for the reviewers of the exposure report"),
            );
            return None;
        }
        Some(Public { reason: reason.value, span: node.span })
    }
}

/// What declares or records: needs the declarations mutably.
impl Lower<'_> {
    /// A top-level `jwt-issuer NAME { ... }`; registered once it lowers cleanly.
    pub(super) fn jwt_issuer(&mut self, node: &Node) {
        read::check_entries(node, 1, &[], self.sink);
        let Some(name) = read::string_arg(node, 0, "a name", ISSUER_EXAMPLE, self.sink) else { return };
        let entry = (None, name.span);
        if !declare_once(&mut self.d.issuers, name.value.clone(), entry, ("jwt-issuer", &name.value), self.sink) {
            return;
        }
        let name_ok = read::parse(&name, |n| check_name(n), self.sink).is_some();
        let mut once = Once::default();
        let mut issuer = None;
        let mut audiences = Vec::new();
        let mut jwks: Option<Jwks> = None;
        let mut jwks_node: Option<Span> = None;
        let mut claims: Vec<ClaimDecl> = Vec::new();
        let mut claim_names: HashMap<String, Span> = HashMap::new();
        let mut failed = !name_ok;
        for child in node.children() {
            let name = child.name.as_str();
            if name != "claim" && ISSUER_CHILDREN.contains(&name) && !once.first(child, self.sink) {
                continue;
            }
            match name {
                "issuer" => {
                    read::check_entries(child, 1, &[], self.sink);
                    read::no_children(child, self.sink);
                    issuer = read::string_arg(
                        child,
                        0,
                        "the `iss` value",
                        "issuer \"https://auth.shop.example\"",
                        self.sink,
                    );
                    failed |= issuer.is_none();
                }
                "audiences" => {
                    read::check_entries(child, usize::MAX, &[], self.sink);
                    read::no_children(child, self.sink);
                    for i in 0..child.arguments().count() {
                        match read::string_arg(child, i, "an audience", "audiences \"shop-api\"", self.sink) {
                            Some(a) => audiences.push(a.value),
                            None => failed = true,
                        }
                    }
                    if audiences.is_empty() {
                        read::string_arg(child, 0, "an audience", "audiences \"shop-api\"", self.sink);
                        failed = true;
                    }
                }
                "jwks-uri" | "jwks" => {
                    if let Some(first) = jwks_node {
                        self.sink.push(
                            Diagnostic::new(Code::InvalidValue, "an issuer takes `jwks-uri` or `jwks`, not both")
                                .at(child.name_span, "second key source")
                                .with_label(first, "first key source")
                                .help("keep one: the URI the gateway fetches keys from, or a JWKS file inlined at build time"),
                        );
                        failed = true;
                        continue;
                    }
                    jwks_node = Some(child.name_span);
                    read::no_children(child, self.sink);
                    if name == "jwks" {
                        read::check_entries(child, 1, &[], self.sink);
                        match read::string_arg(child, 0, "a JWKS file", "jwks \"keys/users.jwks.json\"", self.sink) {
                            Some(path) => jwks = Some(Jwks::File(self.schema_ref(&path, SchemaFormat::Jwks))),
                            None => failed = true,
                        }
                    } else {
                        read::check_entries(child, 1, &["cache"], self.sink);
                        let example = "jwks-uri \"https://auth.shop.example/.well-known/jwks.json\"";
                        let uri = read::string_arg(child, 0, "a URI", example, self.sink).and_then(|u| {
                            read::parse(&u, |u| HttpUri::parse(u), self.sink).map(|v| Spanned::new(v, u.span))
                        });
                        let cache = match read::string_prop(child, "cache", None, self.sink) {
                            Some(c) => read::parse(&c, |c| Duration::parse(c), self.sink),
                            None if child.property("cache").is_some() => None,
                            None => Some(JWKS_CACHE),
                        };
                        match (uri, cache) {
                            (Some(uri), Some(cache)) => jwks = Some(Jwks::Remote { uri, cache }),
                            _ => failed = true,
                        }
                    }
                }
                "claim" => {
                    read::check_entries(child, 1, &["type"], self.sink);
                    read::no_children(child, self.sink);
                    let example = "claim \"roles\" type=\"string-list\"";
                    let claim = read::string_arg(child, 0, "a claim name", example, self.sink);
                    let ty = read::string_prop(child, "type", Some(example), self.sink)
                        .and_then(|t| read::parse(&t, |t| ClaimType::parse(t), self.sink));
                    let (Some(claim), Some(ty)) = (claim, ty) else {
                        failed = true;
                        continue;
                    };
                    if !declare_once(
                        &mut claim_names,
                        claim.value.clone(),
                        claim.span,
                        ("claim", &claim.value),
                        self.sink,
                    ) {
                        continue;
                    }
                    claims.push(ClaimDecl { name: claim, ty });
                }
                _ => read::unknown_child(child, "jwt-issuer", ISSUER_CHILDREN, self.sink),
            }
        }
        for (required, present) in [("issuer", issuer.is_some()), ("jwks-uri", jwks_node.is_some())] {
            if !present && !node.children().iter().any(|c| c.name == required) {
                let help = if required == "issuer" {
                    "add the `iss` value its tokens carry: issuer \"https://auth.shop.example\"".to_string()
                } else {
                    "add where its signing keys are: jwks-uri \"https://.../jwks.json\", or jwks \"FILE\"".to_string()
                };
                self.sink.push(
                    Diagnostic::new(Code::MissingRequired, format!("jwt-issuer `{}` has no `{required}`", name.value))
                        .at(name.span, format!("`{required}` missing"))
                        .help(help),
                );
                failed = true;
            }
        }
        let (Some(issuer), Some(jwks), false) = (issuer, jwks, failed) else { return };
        let id = IssuerId::new(self.d.model.issuers.len());
        self.d.issuers.insert(name.value.clone(), (Some(id), name.span));
        self.d.model.issuers.push(JwtIssuer { name, issuer, audiences, jwks, claims, span: node.span });
    }

    /// A top-level `role NAME { require-claim ... }`.
    pub(super) fn role(&mut self, node: &Node) {
        read::check_entries(node, 1, &[], self.sink);
        let example = "role \"admin\" { require-claim \"roles\" contains=\"admin\" }";
        let Some(name) = read::string_arg(node, 0, "a name", example, self.sink) else { return };
        if !declare_once(&mut self.d.roles, name.value.clone(), (None, name.span), ("role", &name.value), self.sink) {
            return;
        }
        let mut conditions = Vec::new();
        let mut failed = read::parse(&name, |n| check_name(n), self.sink).is_none();
        for child in node.children() {
            if child.name != "require-claim" {
                read::unknown_child(child, "role", &["require-claim"], self.sink);
                continue;
            }
            match self.claim_condition(child) {
                Some(c) => conditions.push(c),
                None => failed = true,
            }
        }
        if conditions.is_empty() && !failed {
            self.sink.push(
                Diagnostic::new(Code::MissingRequired, format!("role `{}` grants nothing to check", name.value))
                    .at(name.span, "no `require-claim`")
                    .help(format!("say which tokens hold it: {example}")),
            );
            failed = true;
        }
        if failed {
            return;
        }
        let id = RoleId::new(self.d.model.roles.len());
        self.d.roles.insert(name.value.clone(), (Some(id), name.span));
        self.d.model.roles.push(Role { name, conditions, span: node.span });
    }
}
