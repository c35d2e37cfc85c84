//! `up --contracts`: every consumer's contract plan, run through the
//! running mesh. A service's requests leave from its sidecar (its outbound
//! listener, naming the provider's declared address as `host`), a
//! gateway's enter at its listener as its routes take them, so they cross
//! the gateway or both sidecars, mTLS, JWT checks and the provider's
//! authorization before a mock answers. Requests that need an end user's
//! token carry one the run signed (`identity`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::LocalMesh;
use crate::contracts::{ContractTestRunner, Plan, PlanResult, RunnerOptions};

/// A consumer plan that is not run, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotRun {
    pub plan: String,
    pub reason: String,
}

/// Runs `OUT/contracts/consumers/*.json` (by file name) through `mesh`.
pub fn run_through(mesh: &LocalMesh, out: &Path, timeout: Duration) -> Result<(Vec<PlanResult>, Vec<NotRun>), String> {
    let folder = out.join("contracts/consumers");
    let mut paths: Vec<_> = match std::fs::read_dir(&folder) {
        Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => {
            return Err(format!("{}: {e}; `meshc build` writes the plans (backend contracts-plan)", folder.display()))
        }
    };
    paths.retain(|p| p.extension().is_some_and(|x| x == "json"));
    paths.sort();
    let (mut results, mut not_run) = (Vec::new(), Vec::new());
    for path in paths {
        let plan = Plan::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let tokens: Arc<dyn crate::contracts::TokenSource> = mesh.tokens();
        let mut options =
            RunnerOptions { timeout, through_proxy: true, tokens: Some(tokens), ..RunnerOptions::default() };
        if let Some(gateway) = plan.subject.strip_prefix("gateway:") {
            let Some(listener) = mesh.gateway_listener(gateway) else {
                let reason = format!("gateway `{gateway}` has no listener in this mesh");
                not_run.push(NotRun { plan: plan.subject.clone(), reason });
                continue;
            };
            options.gateways = BTreeMap::from([(gateway.to_string(), listener.to_string())]);
        } else if !plan.interactions.is_empty() {
            let Some(outbound) = mesh.outbound(&plan.subject) else {
                let reason = "the consumer has no sidecar with an outbound listener in this mesh".to_string();
                not_run.push(NotRun { plan: plan.subject.clone(), reason });
                continue;
            };
            for interaction in &plan.interactions {
                options.addresses.insert(interaction.provider.clone(), outbound.to_string());
            }
        }
        results.push(ContractTestRunner::new(options).run(&plan));
    }
    Ok((results, not_run))
}
