//! `up --load`: the load-test plan (`load/plan.json`) run against the
//! running mesh: routes at each gateway's listener, calls at the caller's
//! sidecar outbound listener, with tokens the run signs (a fresh `sub` per
//! client) and every proxy's admin counters read around each phase.

use std::path::Path;

use super::identity::Forgery;
use super::LocalMesh;
use crate::load::plan::LoadPlan;
use crate::load::{self, Endpoints, Options, TargetReport};

/// Reads the plan at `path` (a build's `load/plan.json`, maybe of another build than the mesh's).
pub fn read(path: &Path) -> Result<LoadPlan, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: {e}; `meshc build` writes it (backend contracts-load)", path.display()))?;
    LoadPlan::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Where `mesh` takes the plan's requests and counts them.
pub fn endpoints(mesh: &LocalMesh, plan: &LoadPlan) -> Endpoints {
    let gateways = plan
        .targets
        .iter()
        .filter_map(|t| t.gateway.as_ref())
        .filter_map(|g| Some((g.name.clone(), mesh.gateway_listener(&g.name)?)))
        .collect();
    Endpoints {
        gateways,
        outbounds: mesh.sidecars.clone(),
        admins: mesh.admins().clone(),
        sidecars: mesh.sidecar_proxies().clone(),
    }
}

/// Runs `plan` against `mesh`.
pub fn run_through(mesh: &LocalMesh, plan: &LoadPlan, options: &Options) -> Vec<TargetReport> {
    let issuers = mesh.tokens();
    let tokens = |auth: &_, sub: &str| issuers.forged(auth, sub, &Forgery::Valid);
    load::run(plan, &endpoints(mesh, plan), &tokens, options)
}
