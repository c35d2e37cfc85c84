//! `load/plan.json`, the load-test plan meshc writes (backend
//! `contracts-load`, format `meshc-load/1`, docs/testing.md#load-tests).

use serde::Deserialize;

use crate::contracts::plan::{Auth, GatewayEntry, Pair};

/// The only format this reader understands.
pub const FORMAT: &str = "meshc-load/1";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadPlan {
    pub format: String,
    pub mesh: String,
    pub targets: Vec<Target>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub amplification: Amplification,
    #[serde(default)]
    pub auth: Option<Auth>,
    #[serde(default)]
    pub breaker: Option<Breaker>,
    #[serde(default)]
    pub call: Option<CallEntry>,
    #[serde(default)]
    pub gateway: Option<GatewayEntry>,
    pub id: String,
    pub latency_ms: u64,
    pub limits: Vec<Limit>,
    pub objectives: Vec<Objective>,
    pub protocol: Protocol,
    pub request: Request,
    #[serde(default)]
    pub retries: Option<Retries>,
    pub rps: u32,
    pub service: String,
    pub source: String,
    pub subject: String,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Http,
    Grpc,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Amplification {
    pub per_request: u64,
    #[serde(default)]
    pub service_worst: Option<u64>,
    pub source: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Breaker {
    pub concurrency: f64,
    #[serde(default)]
    pub max_connections: Option<u32>,
    #[serde(default)]
    pub max_pending: Option<u32>,
    #[serde(default)]
    pub max_requests: Option<u32>,
    #[serde(default)]
    pub max_retries: Option<u32>,
    pub source: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallEntry {
    pub authority: String,
    pub caller: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    pub global: bool,
    pub key: String,
    pub per_seconds: u64,
    pub requests: u32,
    pub source: String,
}

impl Limit {
    /// Requests one key may make per second, on average.
    pub fn per_second(&self) -> f64 {
        f64::from(self.requests) / self.per_seconds.max(1) as f64
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ObjectiveKind {
    LatencySlo,
    AvailabilitySlo,
    LatencyAlert,
    ErrorRateAlert,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Objective {
    #[serde(default)]
    pub above_percent: Option<f64>,
    pub kind: ObjectiveKind,
    #[serde(default)]
    pub percentile: Option<f64>,
    pub source: String,
    #[serde(default)]
    pub target_percent: Option<f64>,
    #[serde(default)]
    pub under_ms: Option<u64>,
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retries {
    pub on: Vec<String>,
    #[serde(default)]
    pub per_try_timeout_ms: Option<u64>,
    pub retries: u32,
    pub source: String,
}

impl LoadPlan {
    /// Reads a plan and checks its format, and that each target says where it enters.
    pub fn from_json(text: &str) -> Result<LoadPlan, String> {
        let plan: LoadPlan = crate::config::from_json(text)?;
        crate::config::expect_format(&plan.format, FORMAT)?;
        for (i, target) in plan.targets.iter().enumerate() {
            let at = format!("`targets[{i}]` ({})", target.id);
            if target.gateway.is_some() == target.call.is_some() {
                return Err(format!("{at}: a target has either `gateway` or `call`"));
            }
            if target.rps == 0 {
                return Err(format!("{at}: `rps` must be at least 1"));
            }
            let line_ok = |text: &str| !text.contains(['\r', '\n']);
            if !line_ok(&target.request.method)
                || !line_ok(&target.request.path)
                || !target.request.path.starts_with('/')
            {
                return Err(format!("{at}: `request`: the method and path must be one line, the path absolute"));
            }
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::LoadPlan;

    #[test]
    fn a_plan_of_another_format_is_refused() {
        let text = r#"{"format": "meshc-load/0", "mesh": "m", "targets": []}"#;
        assert!(LoadPlan::from_json(text).unwrap_err().contains("meshc-load/1"));
    }

    #[test]
    fn a_target_needs_one_entry() {
        let text = r#"{"format": "meshc-load/1", "mesh": "m", "targets": [{
            "amplification": {"per_request": 1, "source": "a:1"}, "id": "x", "latency_ms": 5,
            "limits": [], "objectives": [], "protocol": "http",
            "request": {"headers": [], "method": "GET", "path": "/"},
            "rps": 10, "service": "s", "source": "a:1", "subject": "x"}]}"#;
        assert!(LoadPlan::from_json(text).unwrap_err().contains("either `gateway` or `call`"));
    }
}
