//! Service identities, mutual TLS and service-to-service authorization.
//!
//! Every service and gateway has a SPIFFE identity,
//! `spiffe://TRUST-DOMAIN/ns/NAMESPACE/sa/SERVICE-ACCOUNT`, proven by the
//! certificate its proxy presents. The mesh's `mtls` block sets whether
//! proxies require it (per mesh, namespace or service), and a service's
//! `authorization` block says which identities may call which of its
//! operations, as Istio's AuthorizationPolicy does.

use std::collections::HashMap;

use crate::base::{Span, Spanned};

use super::values::{Duration, Operation};
use super::{GatewayId, HeaderMatch, Model, ServiceId};

/// Whether a workload's proxy speaks mutual TLS to its callers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MtlsMode {
    /// Only mutual TLS: plaintext callers are refused.
    Strict,
    /// Both: callers with a certificate are identified, plaintext ones are not.
    Permissive,
    /// Plaintext only; the proxy neither presents nor asks for certificates.
    Disabled,
}

impl MtlsMode {
    pub fn parse(text: &str) -> Result<MtlsMode, String> {
        match text {
            "strict" => Ok(MtlsMode::Strict),
            "permissive" => Ok(MtlsMode::Permissive),
            "disabled" => Ok(MtlsMode::Disabled),
            other => Err(format!("`{other}` is not an mTLS mode: use \"strict\", \"permissive\" or \"disabled\"")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MtlsMode::Strict => "strict",
            MtlsMode::Permissive => "permissive",
            MtlsMode::Disabled => "disabled",
        }
    }

    /// Whether the proxy accepts mutual TLS from its callers.
    pub fn accepts_tls(self) -> bool {
        self != MtlsMode::Disabled
    }
}

/// The mesh's `mtls` block. Without one, the mesh is plaintext.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mtls {
    /// The mode of workloads nothing more specific sets.
    pub mode: Spanned<MtlsMode>,
    /// The SPIFFE trust domain (Istio's default: `cluster.local`).
    pub trust_domain: String,
    /// Namespace-wide modes, by namespace name.
    pub namespaces: Vec<(String, Spanned<MtlsMode>)>,
    /// How long a workload certificate is valid.
    pub certificate_lifetime: Duration,
    /// How long before expiry a certificate is replaced.
    pub renew_before: Duration,
    /// Where proxies read their certificates and keys at run time.
    pub cert_dir: String,
    pub span: Span,
}

impl Mtls {
    pub const DEFAULT_TRUST_DOMAIN: &str = "cluster.local";
    pub const DEFAULT_CERT_DIR: &str = "/etc/meshc/certs";
}

/// Who a workload is: its namespace and service account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub namespace: String,
    pub service_account: String,
}

impl Identity {
    /// A gateway's identity unless it declares one: Istio's ingress gateway's.
    pub fn ingress_gateway() -> Identity {
        Identity { namespace: "istio-system".into(), service_account: "istio-ingressgateway-service-account".into() }
    }

    /// A service's identity unless it declares one: the namespace of its
    /// cluster DNS address (else `default`), its name as the account.
    pub fn default_for(service: &str, host: Option<&super::values::Host>) -> Identity {
        let namespace = host.and_then(|h| h.kubernetes_service()).map_or("default", |(_, ns)| ns);
        Identity { namespace: namespace.to_string(), service_account: service.to_string() }
    }

    /// The SPIFFE ID in its certificate's URI SAN.
    pub fn spiffe_id(&self, trust_domain: &str) -> String {
        format!("spiffe://{trust_domain}/{}", self.principal_path())
    }

    /// Istio's principal form: the SPIFFE ID without `spiffe://`.
    pub fn istio_principal(&self, trust_domain: &str) -> String {
        format!("{trust_domain}/{}", self.principal_path())
    }

    fn principal_path(&self) -> String {
        format!("ns/{}/sa/{}", self.namespace, self.service_account)
    }
}

/// A caller an authorization rule names.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Principal {
    Service(ServiceId),
    Gateway(GatewayId),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleAction {
    Allow,
    Deny,
}

impl RuleAction {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleAction::Allow => "allow",
            RuleAction::Deny => "deny",
        }
    }
}

model_id!(
    /// A service role's index in [`super::Model::service_roles`].
    ServiceRoleId
);

/// How a `service-role` picks its members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoleSelector {
    /// `member "orders" "cart"`: services by name.
    Service(ServiceId),
    /// `owner "team-x"`: every service the team owns.
    Owner(String),
    /// `label tier="backend"`: every service carrying all these labels (sorted by key).
    Labels(Vec<(String, String)>),
    /// `namespace "shop"`: every identity of the namespace, declared in the spec or not.
    Namespace(String),
    /// `identity namespace="partners" service-account="billing"`: one identity.
    Identity(Identity),
    /// `spiffe "spiffe://partner.example/ns/x/sa/y"`: one SPIFFE ID, of any trust domain.
    Spiffe(String),
}

/// An identity pattern a proxy matches a caller's certificate against.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum IdentityPattern {
    /// This SPIFFE ID.
    Exact(String),
    /// Every SPIFFE ID starting so (a namespace's: `spiffe://TD/ns/NS/sa/`).
    Prefix(String),
}

/// A top-level `service-role`: a named group of callers that authorization
/// rules admit or refuse at once (`allow role="storefront-backends"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceRole {
    pub name: Spanned<String>,
    pub selectors: Vec<Spanned<RoleSelector>>,
    /// The spec's services and gateways it takes in, in id order, each with
    /// the index of the first selector that takes it (resolved when lowered).
    pub members: Vec<(Principal, usize)>,
    pub span: Span,
}

impl ServiceRole {
    /// The selector that makes `caller` a member, if it is one.
    pub fn admits(&self, caller: &Principal) -> Option<&Spanned<RoleSelector>> {
        self.members.iter().find(|(p, _)| p == caller).map(|&(_, i)| &self.selectors[i])
    }

    /// Whether `selector` takes in `caller` of identity `identity` (a service: `service`).
    pub fn selects(
        selector: &RoleSelector,
        service: Option<(ServiceId, &super::Service)>,
        identity: &Identity,
        trust_domain: &str,
    ) -> bool {
        match selector {
            RoleSelector::Service(id) => service.is_some_and(|(s, _)| s == *id),
            RoleSelector::Owner(team) => {
                service.is_some_and(|(_, s)| s.owner.as_ref().is_some_and(|o| o.value == *team))
            }
            RoleSelector::Labels(wanted) => service.is_some_and(|(_, s)| s.has_labels(wanted)),
            RoleSelector::Namespace(ns) => identity.namespace == *ns,
            RoleSelector::Identity(id) => id == identity,
            RoleSelector::Spiffe(spiffe) => *spiffe == identity.spiffe_id(trust_domain),
        }
    }

    /// The identities a proxy admits for it, sorted and without repeats:
    /// the SPIFFE IDs of its members chosen by name or owner, and its
    /// namespaces, identities and SPIFFE IDs as written.
    pub fn patterns(&self, model: &Model, trust_domain: &str) -> Vec<IdentityPattern> {
        let mut out: Vec<IdentityPattern> = Vec::new();
        for selector in &self.selectors {
            match &selector.value {
                RoleSelector::Service(_) | RoleSelector::Owner(_) | RoleSelector::Labels(_) => {}
                RoleSelector::Namespace(ns) => {
                    out.push(IdentityPattern::Prefix(format!("spiffe://{trust_domain}/ns/{ns}/sa/")));
                }
                RoleSelector::Identity(id) => out.push(IdentityPattern::Exact(id.spiffe_id(trust_domain))),
                RoleSelector::Spiffe(id) => out.push(IdentityPattern::Exact(id.clone())),
            }
        }
        for (member, selector) in &self.members {
            if self.selectors[*selector].value.resolved_in_spec() {
                out.push(IdentityPattern::Exact(model.principal_identity(member).spiffe_id(trust_domain)));
            }
        }
        out.sort();
        out.dedup();
        // A namespace's prefix already admits its exact IDs.
        let prefixes: Vec<String> = out
            .iter()
            .filter_map(|p| match p {
                IdentityPattern::Prefix(p) => Some(p.clone()),
                IdentityPattern::Exact(_) => None,
            })
            .collect();
        out.retain(|p| match p {
            IdentityPattern::Exact(id) => !prefixes.iter().any(|prefix| id.starts_with(prefix.as_str())),
            IdentityPattern::Prefix(_) => true,
        });
        out
    }
}

impl RoleSelector {
    /// Whether it takes in the spec's services only (by name, owner or
    /// labels), so proxies match its members' SPIFFE IDs; the others map
    /// identities as written.
    pub fn resolved_in_spec(&self) -> bool {
        matches!(self, RoleSelector::Service(_) | RoleSelector::Owner(_) | RoleSelector::Labels(_))
    }

    /// How the spec writes it, for messages: "member `orders`", "owner `team-x`".
    pub fn describe(&self, model: &Model) -> String {
        match self {
            RoleSelector::Service(id) => format!("member `{}`", model.service(*id).name.value),
            RoleSelector::Owner(team) => format!("owner `{team}`"),
            RoleSelector::Labels(labels) => format!("label `{}`", super::label_list(labels)),
            RoleSelector::Namespace(ns) => format!("namespace `{ns}`"),
            RoleSelector::Identity(id) => {
                format!("identity namespace=`{}` service-account=`{}`", id.namespace, id.service_account)
            }
            RoleSelector::Spiffe(id) => format!("spiffe `{id}`"),
        }
    }
}

/// `allow "orders" role="backends" gateway="public" { operation "..." }` / `deny ...` in a service's `authorization`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizationRule {
    pub action: RuleAction,
    /// The callers it names one by one.
    pub principals: Vec<Spanned<Principal>>,
    /// The service roles it names (`role="..."`).
    pub roles: Vec<Spanned<ServiceRoleId>>,
    /// The spec's callers its roles take in, each with the first role
    /// naming it (resolved when the rule is lowered).
    pub role_members: Vec<(Principal, ServiceRoleId)>,
    /// The operations it covers; empty: all of them.
    pub operations: Vec<Spanned<Operation>>,
    /// Request headers that must match too (all of them): conditions the
    /// proxy checks per request, which the spec's calls do not describe.
    pub conditions: Vec<HeaderMatch>,
    pub span: Span,
}

impl AuthorizationRule {
    /// Whether the rule covers a request from `from` for `operation` (`None`:
    /// a call that names no operation, which only an all-operations rule covers).
    pub fn covers(&self, from: &Principal, operation: Option<&Operation>) -> bool {
        self.names(from).is_some()
            && (self.operations.is_empty()
                || operation.is_some_and(|op| self.operations.iter().any(|o| o.value == *op)))
    }
}

/// How a rule names a caller: directly, or as a member of a service role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Naming {
    /// By name, at this span.
    Direct(Span),
    Role(ServiceRoleId),
}

impl AuthorizationRule {
    /// Whether and how the rule names `from`: by name first, else through a role.
    pub fn names(&self, from: &Principal) -> Option<Naming> {
        if let Some(p) = self.principals.iter().find(|p| p.value == *from) {
            return Some(Naming::Direct(p.span));
        }
        self.role_members.iter().find(|(p, _)| p == from).map(|&(_, role)| Naming::Role(role))
    }
}

/// A service's `authorization` block: deny rules first, then, when there
/// are allow rules, only what one of them allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorization {
    rules: Vec<AuthorizationRule>,
    /// The rules naming each caller, in order: a decision looks at those only.
    by_principal: HashMap<Principal, Vec<usize>>,
    has_allow: bool,
    pub span: Span,
}

/// Why a request is refused, for the diagnostics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict<'a> {
    Allowed,
    DeniedBy(&'a AuthorizationRule),
    /// Allow rules exist and none covers the request.
    NotAllowed,
}

impl Authorization {
    pub fn new(rules: Vec<AuthorizationRule>, span: Span) -> Authorization {
        let mut by_principal: HashMap<Principal, Vec<usize>> = HashMap::new();
        for (i, rule) in rules.iter().enumerate() {
            let named = rule.principals.iter().map(|p| &p.value).chain(rule.role_members.iter().map(|(p, _)| p));
            for p in named {
                let ids = by_principal.entry(p.clone()).or_default();
                if ids.last() != Some(&i) {
                    ids.push(i);
                }
            }
        }
        let has_allow = rules.iter().any(|r| r.action == RuleAction::Allow);
        Authorization { rules, by_principal, has_allow, span }
    }

    pub fn rules(&self) -> &[AuthorizationRule] {
        &self.rules
    }

    /// What the service's proxy decides for a request from `from` (`None`:
    /// an unauthenticated, plaintext caller) for `operation`. Looks only at
    /// the rules naming the caller. A rule with header conditions may or may
    /// not apply to a given request: it is taken to admit (an allow rule)
    /// and not taken to refuse (a deny rule), so only certain refusals count.
    pub fn decide(&self, from: Option<&Principal>, operation: Option<&Operation>) -> Verdict<'_> {
        let ids: &[usize] = from.and_then(|p| self.by_principal.get(p)).map_or(&[], Vec::as_slice);
        let naming = || ids.iter().map(|&i| &self.rules[i]);
        let covers = |r: &AuthorizationRule| from.is_some_and(|p| r.covers(p, operation));
        let certain_deny = naming().find(|r| r.action == RuleAction::Deny && r.conditions.is_empty() && covers(r));
        if let Some(rule) = certain_deny {
            return Verdict::DeniedBy(rule);
        }
        if self.has_allow && !naming().any(|r| r.action == RuleAction::Allow && covers(r)) {
            return Verdict::NotAllowed;
        }
        Verdict::Allowed
    }
}

/// A token exchange service (OAuth 2.0 Token Exchange, RFC 8693): callers
/// trade the end user's token for one the callee accepts, scoped to it
/// (`token-exchange`; `calls ... exchange-token= audience=`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenExchange {
    pub name: Spanned<String>,
    /// The STS's token endpoint (plain HTTP: `meshc-runtime token-exchange` speaks no TLS).
    pub sts: super::security::HttpUri,
    /// The issuer of the tokens the STS hands out, which callees require.
    pub issues: super::security::IssuerId,
    /// Where `meshc-runtime token-exchange` listens beside each caller's sidecar (127.0.0.1).
    pub exchanger_port: super::values::Port,
    pub span: Span,
}

model_id!(
    /// A token exchange service's index in [`super::Model::token_exchanges`].
    TokenExchangeId
);

/// A call's `exchange-token="STS" audience="AUD"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallExchange {
    pub exchange: TokenExchangeId,
    pub audience: String,
    pub span: Span,
}

/// The certificate file name a gateway's proxy uses.
pub fn gateway_workload(gateway: &str) -> String {
    format!("gateway-{gateway}")
}

/// A proxy of the mesh that needs a certificate: a service's sidecar or a gateway.
pub struct Workload<'a> {
    /// Its certificate's file name (a service's name, `gateway-NAME`).
    pub name: String,
    /// The service's or gateway's name where it is declared.
    pub span: Span,
    pub identity: &'a Identity,
    /// The DNS name callers dial, for the certificate's DNS SAN (none for
    /// gateways and IP addresses).
    pub dns_name: Option<&'a str>,
}

impl Model {
    /// Every workload that gets a certificate: services other than `external`
    /// ones, then gateways.
    pub fn workloads(&self) -> impl Iterator<Item = Workload<'_>> {
        let services = self.services.iter().filter_map(|s| Some((s, s.mesh()?))).map(|(s, member)| {
            let host = s.host().map(|h| h.as_str());
            Workload {
                name: s.name.value.clone(),
                span: s.name.span,
                identity: &member.identity,
                dns_name: host.filter(|h| h.parse::<std::net::IpAddr>().is_err()),
            }
        });
        let gateways = self.gateways.iter().map(|g| Workload {
            name: gateway_workload(&g.name.value),
            span: g.name.span,
            identity: &g.identity,
            dns_name: None,
        });
        services.chain(gateways)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::FileId;

    fn span() -> Span {
        Span { file: FileId(0), start: 0, end: 0 }
    }

    fn rule(action: RuleAction, from: &[usize], operations: &[&str]) -> AuthorizationRule {
        AuthorizationRule {
            action,
            principals: from.iter().map(|&i| Spanned::new(Principal::Service(ServiceId::new(i)), span())).collect(),
            roles: Vec::new(),
            role_members: Vec::new(),
            operations: operations.iter().map(|o| Spanned::new(Operation::parse(o).unwrap(), span())).collect(),
            conditions: Vec::new(),
            span: span(),
        }
    }

    #[test]
    fn deny_rules_win_and_allow_rules_admit_only_what_they_cover() {
        let charge = Operation::parse("p.v1.P/Charge").unwrap();
        let refund = Operation::parse("p.v1.P/Refund").unwrap();
        let (a, b, c) = (
            Principal::Service(ServiceId::new(1)),
            Principal::Service(ServiceId::new(2)),
            Principal::Service(ServiceId::new(3)),
        );
        let authz = Authorization::new(
            vec![rule(RuleAction::Allow, &[1, 2], &["p.v1.P/Charge"]), rule(RuleAction::Deny, &[2], &[])],
            span(),
        );
        assert_eq!(authz.decide(Some(&a), Some(&charge)), Verdict::Allowed);
        assert_eq!(authz.decide(Some(&a), Some(&refund)), Verdict::NotAllowed);
        // An operation-less call is covered only by an all-operations rule.
        assert_eq!(authz.decide(Some(&a), None), Verdict::NotAllowed);
        assert_eq!(authz.decide(Some(&b), Some(&charge)), Verdict::DeniedBy(&authz.rules()[1]));
        assert_eq!(authz.decide(Some(&c), Some(&charge)), Verdict::NotAllowed);
        // A plaintext caller has no identity: no allow rule admits it.
        assert_eq!(authz.decide(None, Some(&charge)), Verdict::NotAllowed);
        // Deny rules alone let everyone else through.
        let only_deny = Authorization::new(vec![rule(RuleAction::Deny, &[2], &[])], span());
        assert_eq!(only_deny.decide(Some(&a), None), Verdict::Allowed);
        assert_eq!(only_deny.decide(None, None), Verdict::Allowed);
    }

    #[test]
    fn a_rule_naming_a_role_covers_its_members_and_says_so() {
        let (a, b, c) = (
            Principal::Service(ServiceId::new(1)),
            Principal::Service(ServiceId::new(2)),
            Principal::Service(ServiceId::new(3)),
        );
        let role = ServiceRoleId::new(0);
        let mut allow = rule(RuleAction::Allow, &[1], &[]);
        allow.roles.push(Spanned::new(role, span()));
        allow.role_members = vec![(a.clone(), role), (b.clone(), role)];
        let authz = Authorization::new(vec![allow], span());
        // Named directly and through the role: the direct naming wins.
        assert_eq!(authz.rules()[0].names(&a), Some(Naming::Direct(span())));
        assert_eq!(authz.rules()[0].names(&b), Some(Naming::Role(role)));
        assert_eq!(authz.decide(Some(&b), None), Verdict::Allowed);
        assert_eq!(authz.decide(Some(&c), None), Verdict::NotAllowed);
        let mut deny = rule(RuleAction::Deny, &[], &[]);
        deny.roles.push(Spanned::new(role, span()));
        deny.role_members = vec![(b.clone(), role)];
        let authz = Authorization::new(vec![deny], span());
        assert_eq!(authz.decide(Some(&b), None), Verdict::DeniedBy(&authz.rules()[0]));
        assert_eq!(authz.decide(Some(&a), None), Verdict::Allowed);
    }

    #[test]
    fn rules_with_header_conditions_admit_but_never_certainly_refuse() {
        let a = Principal::Service(ServiceId::new(1));
        let condition = HeaderMatch {
            name: crate::model::values::HeaderName::parse("x-tenant").unwrap(),
            rule: crate::model::HeaderRule::Exact("acme".into()),
        };
        let mut deny = rule(RuleAction::Deny, &[1], &[]);
        deny.conditions.push(condition.clone());
        let mut allow = rule(RuleAction::Allow, &[1], &[]);
        allow.conditions.push(condition);
        let authz = Authorization::new(vec![deny, allow], span());
        // The deny may not apply to a given request; the allow may: the call can succeed.
        assert_eq!(authz.decide(Some(&a), None), Verdict::Allowed);
    }

    #[test]
    fn identities_are_spiffe_ids_and_istio_principals() {
        let id = Identity { namespace: "shop".into(), service_account: "orders".into() };
        assert_eq!(id.spiffe_id("shop.example"), "spiffe://shop.example/ns/shop/sa/orders");
        assert_eq!(id.istio_principal("cluster.local"), "cluster.local/ns/shop/sa/orders");
        assert_eq!(MtlsMode::parse("strict"), Ok(MtlsMode::Strict));
        assert!(MtlsMode::parse("STRICT").is_err());
    }
}
