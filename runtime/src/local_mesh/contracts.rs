//! `up --contracts`: every service consumer's contract plan, run through
//! the running mesh. Each plan's requests leave from its consumer's sidecar
//! (its outbound listener, naming the provider's declared address as
//! `host`), so they cross both sidecars, mTLS and the provider's
//! authorization before a mock answers.

use std::path::Path;
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
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let plan = Plan::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let Some(outbound) = mesh.outbound(&plan.subject) else {
            let reason = if plan.subject.starts_with("gateway:") {
                "a gateway's routes: run its plan against the gateway's listener with the tokens its routes require"
            } else {
                "the consumer has no sidecar with an outbound listener in this mesh"
            };
            not_run.push(NotRun { plan: plan.subject.clone(), reason: reason.to_string() });
            continue;
        };
        let mut options = RunnerOptions { timeout, through_proxy: true, ..RunnerOptions::default() };
        for interaction in &plan.interactions {
            options.addresses.insert(interaction.provider.clone(), outbound.to_string());
        }
        results.push(ContractTestRunner::new(options).run(&plan));
    }
    Ok((results, not_run))
}
