//! What of the `monitoring` block Istio's proxies cannot carry, reported
//! as [`Unexpressed`]: Istio's sidecars and gateways keep their admin
//! endpoint on 15000 and their Prometheus stats on 15090 whatever the spec
//! says, and they name their stats Istio's way (`istio_requests_total`),
//! not per route and call as meshc's Envoy configs do, so the Prometheus
//! rules and dashboards meshc emits find no series under Istio.

use crate::emit::Unexpressed;
use crate::model::Model;

/// Istio's fixed ports: the proxy's admin endpoint and its stats.
const ISTIO_ADMIN_PORT: u16 = 15000;
const ISTIO_METRICS_PORT: u16 = 15090;

pub fn unexpressed(model: &Model, unexpressed: &mut Vec<Unexpressed>) {
    let Some(monitoring) = &model.monitoring else { return };
    unexpressed.push(Unexpressed::new(
        monitoring.span,
        "the monitoring rules",
        "Istio's proxies export `istio_requests_total` and `istio_request_duration_milliseconds`, not the per-route and per-call stats `prometheus/rules/` and `grafana/` read",
        "deploy the `envoy` backend's proxy configs where the objectives must be measured, or write the rules over Istio's standard metrics",
    ));
    let fixed = |port: u16, istio: u16, setting: &str, unexpressed: &mut Vec<Unexpressed>| {
        if port != istio {
            unexpressed.push(Unexpressed::new(
                monitoring.span,
                format!("this {setting} ({port})"),
                format!("Istio's proxies keep it on {istio}"),
                format!("use {istio} under Istio, or leave it out"),
            ));
        }
    };
    fixed(monitoring.admin_port.get(), ISTIO_ADMIN_PORT, "admin-port", unexpressed);
    fixed(monitoring.metrics_port.get(), ISTIO_METRICS_PORT, "metrics-port", unexpressed);
    for gateway in &model.gateways {
        if let Some(port) = gateway.admin_port.as_ref().filter(|p| p.value.get() != ISTIO_ADMIN_PORT) {
            unexpressed.push(Unexpressed::new(
                port.span,
                format!("this admin-port ({})", port.value),
                format!("Istio's ingress gateway keeps its admin endpoint on {ISTIO_ADMIN_PORT}"),
                "leave it out under Istio",
            ));
        }
    }
    for service in &model.services {
        let Some(admin) = service.sidecar().and_then(|s| s.admin).filter(|p| p.get() != ISTIO_ADMIN_PORT) else {
            continue;
        };
        unexpressed.push(Unexpressed::new(
            service.name.span,
            format!("the sidecar admin-port of `{}` ({admin})", service.name.value),
            format!("Istio's sidecars keep their admin endpoint on {ISTIO_ADMIN_PORT}"),
            "leave it out under Istio",
        ));
    }
}
