//! `up --probe`: the penetration-probe plan (`probes/plan.json`) run
//! against the running mesh: at each gateway's listener, each sidecar's
//! inbound listener, with tokens the run signs and the workloads'
//! certificates of the build.

use std::path::Path;

use super::LocalMesh;
use crate::probe::plan::ProbePlan;
use crate::probe::{self, ProbeResult, Target};

/// Reads the plan at `path` (a build's `probes/plan.json`, maybe of another build than the mesh's).
pub fn load(path: &Path) -> Result<ProbePlan, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: {e}; `meshc build` writes it (backend contracts-probes)", path.display()))?;
    ProbePlan::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Runs `plan` against `mesh`.
pub fn run_through(mesh: &LocalMesh, plan: &ProbePlan) -> Vec<ProbeResult> {
    let gateways = plan
        .probes
        .iter()
        .filter_map(|p| p.gateway.as_ref())
        .filter_map(|g| Some((g.name.clone(), mesh.gateway_listener(&g.name)?)))
        .collect();
    let issuers = mesh.tokens();
    let target = Target {
        gateways,
        inbounds: mesh.inbounds.clone(),
        cert_dir: mesh.cert_dir().map(Path::to_path_buf),
        tokens: issuers.as_ref(),
        skip_unaddressed: false,
    };
    probe::run(plan, &target)
}
