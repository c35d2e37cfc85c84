//! `probes/plan.json`, the penetration-probe plan meshc writes (backend
//! `contracts-probes`, format `meshc-probes/1`, docs/testing.md).

use serde::Deserialize;

use crate::contracts::plan::{Auth, GatewayEntry, Pair};

/// The only format this reader understands.
pub const FORMAT: &str = "meshc-probes/1";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbePlan {
    pub format: String,
    pub mesh: String,
    pub probes: Vec<Probe>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Auth,
    Authorization,
    RateLimit,
    Validation,
    Parsing,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Auth => "auth",
            Kind::Authorization => "authorization",
            Kind::RateLimit => "rate-limit",
            Kind::Validation => "validation",
            Kind::Parsing => "parsing",
        }
    }

    /// What a finding of the kind means, for SARIF's rule descriptions.
    pub fn description(self) -> &'static str {
        match self {
            Kind::Auth => "A route that requires a token let a request without a valid one through.",
            Kind::Authorization => "A service's sidecar let a caller its authorization does not allow through.",
            Kind::RateLimit => "A route's rate limit did not answer 429 at the declared count.",
            Kind::Validation => "A validated route let a request its OpenAPI operation rejects through.",
            Kind::Parsing => "The gateway let a malformed or ambiguous request through.",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    pub attack: String,
    #[serde(default)]
    pub auth: Option<Auth>,
    #[serde(default)]
    pub control: Option<String>,
    pub expect: Vec<u16>,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub gateway: Option<GatewayEntry>,
    pub id: String,
    pub kind: Kind,
    #[serde(default)]
    pub limit: Option<Limit>,
    pub refused_passes: bool,
    pub request: Request,
    #[serde(default)]
    pub service: Option<ServiceTarget>,
    #[serde(default)]
    pub skip: Option<String>,
    pub source: String,
    pub subject: String,
    #[serde(default)]
    pub without_claims: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    #[serde(default)]
    pub body: Option<String>,
    pub headers: Vec<Pair>,
    pub method: String,
    pub path: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    pub key: String,
    pub per_seconds: u64,
    pub requests: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceTarget {
    pub name: String,
    pub port: String,
}

impl ProbePlan {
    /// Reads a plan and checks its format, and that each probe has what its kind needs.
    pub fn from_json(text: &str) -> Result<ProbePlan, String> {
        let plan: ProbePlan = crate::config::from_json(text)?;
        crate::config::expect_format(&plan.format, FORMAT)?;
        for (i, probe) in plan.probes.iter().enumerate() {
            let at = format!("`probes[{i}]` ({})", probe.id);
            let needs = |what: &str, ok: bool| {
                if ok {
                    Ok(())
                } else {
                    Err(format!("{at}: a {} probe needs `{what}`", probe.kind.as_str()))
                }
            };
            match probe.kind {
                Kind::Authorization => {
                    needs("service", probe.service.is_some())?;
                    needs("from", probe.from.is_some())?;
                }
                Kind::RateLimit => {
                    needs("gateway", probe.gateway.is_some())?;
                    needs("limit", probe.limit.is_some())?;
                }
                Kind::Auth => {
                    needs("gateway", probe.gateway.is_some())?;
                    needs("auth", probe.auth.is_some())?;
                }
                Kind::Validation | Kind::Parsing => needs("gateway", probe.gateway.is_some())?,
            }
            let line_ok = |text: &str| !text.contains(['\r', '\n']);
            if !line_ok(&probe.request.method) || !line_ok(&probe.request.path) || !probe.request.path.starts_with('/')
            {
                return Err(format!("{at}: `request`: the method and path must be one line, the path absolute"));
            }
        }
        Ok(plan)
    }
}
