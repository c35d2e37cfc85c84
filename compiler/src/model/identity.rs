//! Service identities, mutual TLS and service-to-service authorization.
//!
//! Every service and gateway has a SPIFFE identity,
//! `spiffe://TRUST-DOMAIN/ns/NAMESPACE/sa/SERVICE-ACCOUNT`, proven by the
//! certificate its proxy presents. The mesh's `mtls` block sets whether
//! proxies require it (per mesh, namespace or service), and a service's
//! `authorization` block says which identities may call which of its
//! operations, as Istio's AuthorizationPolicy does.

use crate::base::{Span, Spanned};

use super::values::{Duration, Operation};
use super::ServiceId;

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
    /// A gateway, by name.
    Gateway(String),
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

/// `allow "orders" operations="..."` / `deny ...` in a service's `authorization`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizationRule {
    pub action: RuleAction,
    pub principals: Vec<Spanned<Principal>>,
    /// The operations it covers; empty: all of them.
    pub operations: Vec<Spanned<Operation>>,
    pub span: Span,
}

impl AuthorizationRule {
    /// Whether the rule covers a request from `from` for `operation` (`None`:
    /// a call that names no operation, which only an all-operations rule covers).
    pub fn covers(&self, from: &Principal, operation: Option<&Operation>) -> bool {
        self.principals.iter().any(|p| p.value == *from)
            && (self.operations.is_empty()
                || operation.is_some_and(|op| self.operations.iter().any(|o| o.value == *op)))
    }
}

/// A service's `authorization` block: deny rules first, then, when there
/// are allow rules, only what one of them allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorization {
    pub rules: Vec<AuthorizationRule>,
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
    /// What the service's proxy decides for a request from `from` (`None`:
    /// an unauthenticated, plaintext caller) for `operation`.
    pub fn decide(&self, from: Option<&Principal>, operation: Option<&Operation>) -> Verdict<'_> {
        let covering = |action: RuleAction| {
            self.rules.iter().filter(move |r| r.action == action).find(|r| from.is_some_and(|p| r.covers(p, operation)))
        };
        if let Some(rule) = covering(RuleAction::Deny) {
            return Verdict::DeniedBy(rule);
        }
        let has_allow = self.rules.iter().any(|r| r.action == RuleAction::Allow);
        if has_allow && covering(RuleAction::Allow).is_none() {
            return Verdict::NotAllowed;
        }
        Verdict::Allowed
    }
}
