//! The mesh's `mtls` block, and a service's or gateway's `identity`, `mtls`
//! and `authorization`.

use std::ops::Deref;

use std::collections::HashMap;

use super::read::{self, Once};
use super::{declare_once, duplicate, resolve, Decls, Lower};
use crate::base::{Span, Spanned};
use crate::diag::{Code, Diagnostic};
use crate::model::identity::{
    Authorization, AuthorizationRule, CallExchange, Identity, Mtls, MtlsMode, Principal, RoleSelector, RuleAction,
    ServiceRole, ServiceRoleId, TokenExchange, TokenExchangeId,
};
use crate::model::security::HttpUri;
use crate::model::security::IssuerId;
use crate::model::values::{check_name, Duration, Host, Operation, Port};
use crate::syntax::{Node, Value};

const MTLS_CHILDREN: &[&str] = &["mode", "trust-domain", "namespace", "certificates", "cert-dir"];
const ROLE_CHILDREN: &[&str] = &["member", "owner", "label", "namespace", "identity", "spiffe"];
const ROLE_EXAMPLE: &str =
    "service-role \"backends\" { member \"orders\" \"cart\"; owner \"team-x\"; namespace \"partners\" }";

impl<D: Deref<Target = Decls>> Lower<'_, D> {
    /// The top-level `mtls { mode; trust-domain; namespace NAME mode=; certificates lifetime= renew-before=; cert-dir }`.
    pub(super) fn mtls(&mut self, node: &Node) -> Option<Mtls> {
        read::check_entries(node, 0, &[], self.sink);
        let mut once = Once::default();
        let mut mode = None;
        let mut trust_domain = Mtls::DEFAULT_TRUST_DOMAIN.to_string();
        let mut namespaces: Vec<(String, Spanned<MtlsMode>)> = Vec::new();
        let mut lifetime = Duration::from_millis(24 * 3600 * 1000);
        let mut renew_before = Duration::from_millis(8 * 3600 * 1000);
        let mut certificates_span = None;
        let mut cert_dir = Mtls::DEFAULT_CERT_DIR.to_string();
        let mut failed = false;
        for child in node.children() {
            let name = child.name.as_str();
            if name != "namespace" && MTLS_CHILDREN.contains(&name) && !once.first(child, self.sink) {
                continue;
            }
            match name {
                "mode" => match self.mode_node(child) {
                    Some(m) => mode = Some(m),
                    None => failed = true,
                },
                "trust-domain" => {
                    read::check_entries(child, 1, &[], self.sink);
                    read::no_children(child, self.sink);
                    let text = read::string_arg(child, 0, "a trust domain", "trust-domain \"shop.example\"", self.sink);
                    // A trust domain is a DNS-like name (SPIFFE), lowercase.
                    match text.and_then(|t| read::parse(&t, |t| Host::parse(t), self.sink)) {
                        Some(host) => trust_domain = host.as_str().to_string(),
                        None => failed = true,
                    }
                }
                "namespace" => {
                    read::check_entries(child, 1, &["mode"], self.sink);
                    read::no_children(child, self.sink);
                    let example = "namespace \"legacy\" mode=\"permissive\"";
                    let ns = read::string_arg(child, 0, "a namespace", example, self.sink)
                        .filter(|ns| read::parse(ns, |n| check_name(n), self.sink).is_some());
                    let ns_mode = read::string_prop(child, "mode", Some(example), self.sink).and_then(|m| {
                        read::parse(&m, |t| MtlsMode::parse(t), self.sink).map(|v| Spanned::new(v, m.span))
                    });
                    let (Some(ns), Some(ns_mode)) = (ns, ns_mode) else {
                        failed = true;
                        continue;
                    };
                    if let Some((_, first)) = namespaces.iter().find(|(n, _)| *n == ns.value) {
                        duplicate(self.sink, "namespace", &ns.value, ns.span, first.span);
                        failed = true;
                        continue;
                    }
                    namespaces.push((ns.value, ns_mode));
                }
                "certificates" => {
                    read::check_entries(child, 0, &["lifetime", "renew-before"], self.sink);
                    read::no_children(child, self.sink);
                    let l = self.spanned_duration(child, "lifetime");
                    let r = self.spanned_duration(child, "renew-before");
                    let (Some(l), Some(r)) = (l, r) else {
                        failed = true;
                        continue;
                    };
                    lifetime = l.map_or(lifetime, |d| d.value);
                    renew_before = r.map_or(renew_before, |d| d.value);
                    certificates_span = Some(child.span);
                }
                "cert-dir" => {
                    read::check_entries(child, 1, &[], self.sink);
                    read::no_children(child, self.sink);
                    let dir = read::string_arg(child, 0, "a directory", "cert-dir \"/etc/meshc/certs\"", self.sink);
                    match dir {
                        Some(d) if d.value.starts_with('/') => cert_dir = d.value.trim_end_matches('/').to_string(),
                        Some(d) => {
                            self.sink.push(
                                Diagnostic::new(Code::InvalidValue, format!("`{}` is not an absolute path", d.value))
                                    .at(d.span, "relative path")
                                    .help("proxies read certificates where they run: give the absolute directory, e.g. cert-dir \"/etc/meshc/certs\""),
                            );
                            failed = true;
                        }
                        None => failed = true,
                    }
                }
                _ => read::unknown_child(child, "mtls", MTLS_CHILDREN, self.sink),
            }
        }
        if renew_before >= lifetime {
            self.sink.push(
                Diagnostic::new(
                    Code::InvalidValue,
                    format!("certificates are renewed {renew_before} before expiry, but live only {lifetime}"),
                )
                .at(certificates_span.unwrap_or(node.name_span), "renewal window not shorter than the lifetime")
                .help("renew well within the lifetime, e.g. certificates lifetime=\"24h\" renew-before=\"8h\""),
            );
            failed = true;
        }
        if failed {
            return None;
        }
        let mode = mode.unwrap_or(Spanned::new(MtlsMode::Strict, node.name_span));
        Some(Mtls {
            mode,
            trust_domain,
            namespaces,
            certificate_lifetime: lifetime,
            renew_before,
            cert_dir,
            span: node.span,
        })
    }

    /// `mode "strict"` (in `mtls`) or a service's `mtls "permissive"`.
    pub(super) fn mode_node(&mut self, node: &Node) -> Option<Spanned<MtlsMode>> {
        read::check_entries(node, 1, &[], self.sink);
        read::no_children(node, self.sink);
        let example = format!("{} \"strict\"", node.name);
        let text = read::string_arg(node, 0, "an mTLS mode", &example, self.sink)?;
        read::parse(&text, |t| MtlsMode::parse(t), self.sink).map(|m| Spanned::new(m, text.span))
    }

    /// `identity namespace="shop" service-account="orders"`; each defaults to
    /// `default` (the address's namespace, the workload's name).
    pub(super) fn identity(&mut self, node: Option<&Node>, default: Identity) -> Option<Identity> {
        let Some(node) = node else { return Some(default) };
        read::check_entries(node, 0, &["namespace", "service-account"], self.sink);
        read::no_children(node, self.sink);
        let mut field = |key: &str, fallback: String| match read::string_prop(node, key, None, self.sink) {
            Some(v) => read::parse(&v, |t| check_name(t), self.sink).map(|()| v.value),
            None if node.property(key).is_some() => None,
            None => Some(fallback),
        };
        let namespace = field("namespace", default.namespace);
        let service_account = field("service-account", default.service_account);
        Some(Identity { namespace: namespace?, service_account: service_account? })
    }

    /// A call's `exchange-token="STS" audience="AUD"`. `Some(None)` when absent, `None` when invalid.
    pub(super) fn call_exchange(&mut self, node: &Node) -> Option<Option<CallExchange>> {
        let exchange = read::string_prop(node, "exchange-token", None, self.sink);
        let audience = read::string_prop(node, "audience", None, self.sink);
        let (exchange, audience) = match (exchange, audience) {
            (None, None) if node.property("exchange-token").is_none() && node.property("audience").is_none() => {
                return Some(None)
            }
            (Some(e), Some(a)) => (e, a),
            (Some(e), None) => {
                self.sink.push(
                    Diagnostic::new(Code::MissingRequired, "`exchange-token` needs the audience to ask the STS for")
                        .at(e.span, "no audience")
                        .help("add it: exchange-token=\"corp-sts\" audience=\"payments\""),
                );
                return None;
            }
            (None, Some(a)) => {
                self.sink.push(
                    Diagnostic::new(Code::UnknownProperty, "`audience` applies to `exchange-token`")
                        .at(a.span, "nothing is exchanged")
                        .help("add exchange-token=\"NAME\", or remove `audience`"),
                );
                return None;
            }
            _ => return None,
        };
        if let Some(forward) = node.property("forward-token") {
            self.sink.push(
                Diagnostic::new(Code::InvalidValue, "a call either forwards the user's token or exchanges it")
                    .at(forward.span, "forwards")
                    .with_label(exchange.span, "exchanges")
                    .help("keep one: exchange-token sends a token scoped to the callee instead of the user's"),
            );
            return None;
        }
        let audience_ok = !audience.value.is_empty() && !audience.value.contains(['/', ' ', '?', '#', '%']);
        if !audience_ok {
            self.sink.push(
                Diagnostic::new(Code::InvalidValue, format!("`{}` is not an audience", audience.value))
                    .at(audience.span, "not an audience name")
                    .help("name the callee's API as the STS knows it, e.g. audience=\"payments\" (no `/`, spaces, `?`, `#` or `%`)"),
            );
            return None;
        }
        let declare =
            || "declare it with `token-exchange \"name\" { sts \"http://...\"; issues \"ISSUER\" }`".to_string();
        let id = resolve(
            self.sink,
            &self.d.token_exchanges,
            &exchange,
            Code::UnknownTokenExchange,
            "token-exchange",
            declare,
        )?;
        Some(Some(CallExchange { exchange: id.value, audience: audience.value, span: exchange.span }))
    }

    /// A service's `require-token "ISSUER"`.
    pub(super) fn require_token(&mut self, node: &Node) -> Option<Spanned<IssuerId>> {
        read::check_entries(node, 1, &[], self.sink);
        read::no_children(node, self.sink);
        let name = read::string_arg(node, 0, "a JWT issuer", "require-token \"shop-customers\"", self.sink)?;
        self.issuer_ref(&name)
    }

    /// A service's `authorization { allow "orders" gateway="public" { operation "..."; header "x" exact="v" }; deny ... }`.
    pub(super) fn authorization(&mut self, node: &Node) -> Option<Authorization> {
        read::check_entries(node, 0, &[], self.sink);
        let mut rules = Vec::new();
        let mut failed = false;
        for child in node.children() {
            let action = match child.name.as_str() {
                "allow" => RuleAction::Allow,
                "deny" => RuleAction::Deny,
                _ => {
                    read::unknown_child(child, "authorization", &["allow", "deny"], self.sink);
                    continue;
                }
            };
            match self.authorization_rule(child, action) {
                Some(rule) => rules.push(rule),
                None => failed = true,
            }
        }
        if rules.is_empty() && !failed {
            self.sink.push(
                Diagnostic::new(Code::MissingRequired, "`authorization` has no rule")
                    .at(node.name_span, "empty")
                    .help("say who may call: allow \"orders\" { operation \"GET /products\" }"),
            );
            return None;
        }
        (!failed).then(|| Authorization::new(rules, node.span))
    }

    fn authorization_rule(&mut self, node: &Node, action: RuleAction) -> Option<AuthorizationRule> {
        read::check_entries(node, usize::MAX, &["gateway", "role"], self.sink);
        let verb = action.as_str();
        let mut principals = Vec::new();
        let mut failed = false;
        for entry in node.arguments() {
            let Value::String(name) = &entry.value else {
                self.sink.push(
                    Diagnostic::new(Code::InvalidValue, format!("`{verb}` takes service names"))
                        .at(entry.span, "not a string")
                        .help(format!("write {verb} \"orders\"")),
                );
                failed = true;
                continue;
            };
            match self.service_ref(&Spanned::new(name.clone(), entry.span)) {
                Some(id) => principals.push(Spanned::new(Principal::Service(id.value), id.span)),
                None => failed = true,
            }
        }
        if let Some(name) = read::string_prop(node, "gateway", None, self.sink) {
            let declare = || "declare it with `gateway \"name\" { ... }`".to_string();
            match resolve(self.sink, &self.d.gateways, &name, Code::UnknownGateway, "gateway", declare) {
                Some(g) => principals.push(Spanned::new(Principal::Gateway(g.value), g.span)),
                None => failed = true,
            }
        }
        let mut roles = Vec::new();
        if let Some(name) = read::string_prop(node, "role", None, self.sink) {
            let declare = || format!("declare it with `{ROLE_EXAMPLE}`");
            match resolve(self.sink, &self.d.service_roles, &name, Code::UnknownServiceRole, "service-role", declare) {
                Some(r) => roles.push(r),
                None => failed = true,
            }
        }
        let mut role_members: Vec<(Principal, ServiceRoleId)> = Vec::new();
        for role in &roles {
            for (member, _) in &self.d.model.service_role(role.value).members {
                if !role_members.iter().any(|(p, _)| p == member) {
                    role_members.push((member.clone(), role.value));
                }
            }
        }
        let mut operations: Vec<Spanned<Operation>> = Vec::new();
        let mut conditions = Vec::new();
        for child in node.children() {
            if child.name == "header" {
                match self.header_match(child, &[]) {
                    Some(h) => conditions.push(h),
                    None => failed = true,
                }
                continue;
            }
            if child.name != "operation" {
                read::unknown_child(child, verb, &["operation", "header"], self.sink);
                continue;
            }
            read::check_entries(child, 1, &[], self.sink);
            read::no_children(child, self.sink);
            let text = read::string_arg(child, 0, "an operation", "operation \"GET /products/{id}\"", self.sink);
            match text.and_then(|t| read::parse(&t, proxy_operation, self.sink).map(|op| Spanned::new(op, t.span))) {
                Some(op) => operations.push(op),
                None => failed = true,
            }
        }
        if principals.is_empty() && roles.is_empty() && !failed {
            self.sink.push(
                Diagnostic::new(Code::MissingRequired, format!("`{verb}` names no caller"))
                    .at(node.name_span, "no caller")
                    .help(format!(
                        "name the calling services, a service role or a gateway: {verb} \"orders\" role=\"backends\" gateway=\"public\""
                    )),
            );
            return None;
        }
        let mut seen: HashMap<&Principal, Span> = HashMap::new();
        for p in &principals {
            if !declare_once(
                &mut seen,
                &p.value,
                p.span,
                ("caller", &principal_name(&self.d.model, &p.value)),
                self.sink,
            ) {
                failed = true;
            }
        }
        (!failed).then_some(AuthorizationRule {
            action,
            principals,
            roles,
            role_members,
            operations,
            conditions,
            span: node.span,
        })
    }
}

/// A SPIFFE ID as a certificate's URI SAN holds it: `spiffe://TRUST-DOMAIN/PATH`.
fn spiffe_id(text: &String) -> Result<String, String> {
    let bad = || {
        format!("`{text}` is not a SPIFFE ID: write spiffe://TRUST-DOMAIN/PATH, e.g. spiffe://partner.example/ns/billing/sa/api")
    };
    let rest = text.strip_prefix("spiffe://").ok_or_else(bad)?;
    let (domain, path) = rest.split_once('/').ok_or_else(bad)?;
    let domain_ok = Host::parse(domain).is_ok();
    let path_ok = !path.is_empty()
        && path
            .split('/')
            .all(|seg| !seg.is_empty() && seg.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)));
    if domain_ok && path_ok {
        Ok(text.clone())
    } else {
        Err(bad())
    }
}

/// An operation a proxy can tell apart: REST or gRPC. GraphQL operations
/// share one path, so a rule cannot name one.
fn proxy_operation(text: &String) -> Result<Operation, String> {
    match Operation::parse(text)? {
        Operation::Graphql { .. } => Err(format!(
            "`{text}` is a GraphQL field; the proxy cannot tell a GraphQL API's operations apart: name its REST or gRPC operations, or leave `operation` out"
        )),
        op => Ok(op),
    }
}

fn principal_name(model: &crate::model::Model, p: &Principal) -> String {
    match p {
        Principal::Service(id) => model.service(*id).name.value.clone(),
        Principal::Gateway(id) => format!("gateway {}", model.gateway(*id).name.value),
    }
}

/// What declares or records: needs the declarations mutably.
impl Lower<'_> {
    /// A top-level `token-exchange "NAME" { sts "http://..."; issues "ISSUER"; exchanger-port 9292 }`.
    pub(super) fn token_exchange(&mut self, node: &Node) {
        read::check_entries(node, 1, &[], self.sink);
        let example = "token-exchange \"corp-sts\" { sts \"http://sts.internal:8080/token\"; issues \"internal\" }";
        let Some(name) = read::string_arg(node, 0, "a name", example, self.sink) else { return };
        // Declared even when invalid, so calls naming it get no second error.
        let name_ok = read::parse(&name, |n| check_name(n), self.sink).is_some();
        let (entry, what) = ((None, name.span), ("token-exchange", name.value.as_str()));
        if !declare_once(&mut self.d.token_exchanges, name.value.clone(), entry, what, self.sink) {
            return;
        }
        let mut once = Once::default();
        let (mut sts, mut issues, mut port) = (None, None, Port::new(9292).ok());
        let mut failed = !name_ok;
        for child in node.children() {
            if !once.first(child, self.sink) {
                continue;
            }
            match child.name.as_str() {
                "sts" => {
                    read::check_entries(child, 1, &[], self.sink);
                    read::no_children(child, self.sink);
                    let text = read::string_arg(
                        child,
                        0,
                        "the STS token endpoint",
                        "sts \"http://sts.internal:8080/token\"",
                        self.sink,
                    );
                    let parsed = text.and_then(|t| {
                        read::parse(
                            &t,
                            |u| match HttpUri::parse(u)? {
                                uri if uri.tls => Err(format!("`{u}`: the exchanger (meshc-runtime) reaches the STS over plain HTTP only; use an http:// endpoint inside the cluster")),
                                uri => Ok(uri),
                            },
                            self.sink,
                        )
                    });
                    failed |= parsed.is_none();
                    sts = parsed;
                }
                "issues" => {
                    read::check_entries(child, 1, &[], self.sink);
                    read::no_children(child, self.sink);
                    let issuer = read::string_arg(child, 0, "a JWT issuer", "issues \"internal\"", self.sink)
                        .and_then(|n| self.issuer_ref(&n));
                    failed |= issuer.is_none();
                    issues = issuer;
                }
                "exchanger-port" => {
                    read::check_entries(child, 1, &[], self.sink);
                    read::no_children(child, self.sink);
                    let p = read::int_arg(child, 0, "a port", "exchanger-port 9292", self.sink)
                        .and_then(|p| read::parse(&p, |p| Port::new(*p), self.sink));
                    failed |= p.is_none();
                    if p.is_some() {
                        port = p;
                    }
                }
                _ => read::unknown_child(child, "token-exchange", &["sts", "issues", "exchanger-port"], self.sink),
            }
        }
        for (field, missing) in [("sts", sts.is_none()), ("issues", issues.is_none())] {
            if missing && !failed {
                self.sink.push(
                    Diagnostic::new(Code::MissingRequired, format!("token-exchange `{}` has no `{field}`", name.value))
                        .at(name.span, format!("`{field}` missing"))
                        .help(format!("add it: {example}")),
                );
                failed = true;
            }
        }
        let (Some(sts), Some(issues), Some(exchanger_port), false) = (sts, issues, port, failed) else { return };
        let id = TokenExchangeId::new(self.d.model.token_exchanges.len());
        self.d.token_exchanges.insert(name.value.clone(), (Some(id), name.span));
        self.d.model.token_exchanges.push(TokenExchange {
            name,
            sts,
            issues: issues.value,
            exchanger_port,
            span: node.span,
        });
    }

    /// A top-level `service-role "NAME" { member "a" "b"; owner "team"; namespace "ns";
    /// identity namespace= service-account=; spiffe "spiffe://..." }`, once
    /// services and gateways have ids: its members are resolved here.
    pub(super) fn service_role(&mut self, node: &Node, name: Spanned<String>) {
        read::check_entries(node, 1, &[], self.sink);
        let mut selectors: Vec<Spanned<RoleSelector>> = Vec::new();
        let mut failed = read::parse(&name, |n| check_name(n), self.sink).is_none();
        for child in node.children() {
            let kind = child.name.as_str();
            if kind == "identity" {
                read::check_entries(child, 0, &["namespace", "service-account"], self.sink);
                read::no_children(child, self.sink);
                let example = "identity namespace=\"partners\" service-account=\"billing\"";
                let mut field = |key: &str| {
                    read::string_prop(child, key, Some(example), self.sink)
                        .and_then(|v| read::parse(&v, |t| check_name(t), self.sink).map(|()| v.value))
                };
                match (field("namespace"), field("service-account")) {
                    (Some(namespace), Some(service_account)) => selectors.push(Spanned::new(
                        RoleSelector::Identity(Identity { namespace, service_account }),
                        child.span,
                    )),
                    _ => failed = true,
                }
                continue;
            }
            if kind == "label" {
                read::no_children(child, self.sink);
                match self.labels(child, "label tier=\"backend\"") {
                    Some(labels) => selectors.push(Spanned::new(RoleSelector::Labels(labels), child.span)),
                    None => failed = true,
                }
                continue;
            }
            if !ROLE_CHILDREN.contains(&kind) {
                read::unknown_child(child, "service-role", ROLE_CHILDREN, self.sink);
                continue;
            }
            read::check_entries(child, usize::MAX, &[], self.sink);
            read::no_children(child, self.sink);
            let example = format!(
                "{kind} \"{}\"",
                if kind == "spiffe" { "spiffe://partner.example/ns/billing/sa/api" } else { "orders" }
            );
            if child.arguments().next().is_none() {
                read::string_arg(child, 0, "a name", &example, self.sink);
                failed = true;
            }
            for i in 0..child.arguments().count() {
                let Some(text) = read::string_arg(child, i, "a name", &example, self.sink) else {
                    failed = true;
                    continue;
                };
                let selector = match kind {
                    "member" => self.service_ref(&text).map(|id| RoleSelector::Service(id.value)),
                    "owner" => Some(RoleSelector::Owner(text.value.clone())),
                    "namespace" => read::parse(&text, |t| check_name(t), self.sink)
                        .map(|()| RoleSelector::Namespace(text.value.clone())),
                    _ => read::parse(&text, spiffe_id, self.sink).map(RoleSelector::Spiffe),
                };
                match selector {
                    Some(selector) => selectors.push(Spanned::new(selector, text.span)),
                    None => failed = true,
                }
            }
        }
        if selectors.is_empty() && !failed {
            self.sink.push(
                Diagnostic::new(Code::MissingRequired, format!("service-role `{}` has no member", name.value))
                    .at(name.span, "empty")
                    .help(format!("say who belongs to it: {ROLE_EXAMPLE}")),
            );
            return;
        }
        if failed {
            return;
        }
        let trust_domain =
            self.d.model.mtls.as_ref().map_or(Mtls::DEFAULT_TRUST_DOMAIN.to_string(), |m| m.trust_domain.clone());
        let services = self.d.model.service_ids().zip(&self.d.model.services).filter_map(|(id, s)| {
            let member = s.mesh()?;
            Some((Principal::Service(id), Some((id, s)), &member.identity))
        });
        let gateways = self
            .d
            .model
            .gateway_ids()
            .zip(&self.d.model.gateways)
            .map(|(id, g)| (Principal::Gateway(id), None, &g.identity));
        let mut members = Vec::new();
        let mut used = vec![false; selectors.len()];
        for (principal, service, identity) in services.chain(gateways) {
            let first = selectors.iter().position(|s| ServiceRole::selects(&s.value, service, identity, &trust_domain));
            if let Some(i) = first {
                used[i] = true;
                members.push((principal, i));
            }
        }
        for (selector, _) in selectors.iter().zip(&used).filter(|(_, used)| !**used) {
            // Identities outside the spec are what namespaces, identities and SPIFFE IDs are for.
            let why = match &selector.value {
                RoleSelector::Service(id) => {
                    format!(
                        "`{}` is external: it has no proxy, hence no identity",
                        self.d.model.service(*id).name.value
                    )
                }
                RoleSelector::Owner(team) => format!("no service in the mesh has owner `{team}`"),
                RoleSelector::Labels(labels) => {
                    format!("no service in the mesh has label `{}`", crate::model::label_list(labels))
                }
                _ => continue,
            };
            self.sink.push(
                Diagnostic::new(
                    Code::EmptyServiceRole,
                    format!("this selector of service-role `{}` takes in no caller: {why}", name.value),
                )
                .at(selector.span, "selects nothing")
                .help("remove it, or name a service of the mesh (member), a team that owns one (owner) or labels one carries (label)"),
            );
        }
        let id = ServiceRoleId::new(self.d.model.service_roles.len());
        self.d.service_roles.insert(name.value.clone(), (Some(id), name.span));
        self.d.model.service_roles.push(ServiceRole { name, selectors, members, span: node.span });
    }
}
