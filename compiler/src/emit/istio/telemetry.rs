//! `istio/mesh-tracing.yaml`: the mesh's `tracing` block as Istio
//! `Telemetry` resources (`telemetry.istio.io/v1`): one in the root
//! namespace (`istio-system`, mesh-wide) sending spans to the provider
//! `meshc-opentelemetry` at the mesh's sampling rate, and one per service
//! with its own `sampling=`, selecting its pods by `app: NAME` in its
//! address's namespace.
//!
//! What a Telemetry resource cannot say goes to [`Unexpressed`]: the
//! collector itself (Istio reads tracing providers from MeshConfig
//! `extensionProviders`, not from a resource), B3 (Istio's OpenTelemetry
//! provider speaks W3C Trace Context), the names spans carry (Istio takes
//! them from the workload's `service.istio.io/canonical-name` or `app`
//! label) and a gateway's own sampling rate.

use super::api::{self, Metadata, Resource, Selector, Spec};
use crate::emit::Unexpressed;
use crate::model::tracing::OtlpProtocol;
use crate::model::Model;

/// The name the MeshConfig provider must have.
const PROVIDER: &str = "meshc-opentelemetry";

pub fn resources<'a>(model: &'a Model, unexpressed: &mut Vec<Unexpressed>) -> Vec<Resource<'a>> {
    let Some(tracing) = &model.tracing else { return Vec::new() };
    let collector = &tracing.collector;
    let http = match collector.protocol {
        OtlpProtocol::Grpc => String::new(),
        OtlpProtocol::Http => ", http: {path: /v1/traces}".to_string(),
    };
    unexpressed.push(Unexpressed::new(
        collector.span,
        "the collector",
        "`istio/mesh-tracing.yaml` names the provider `meshc-opentelemetry`, which Istio's MeshConfig must define",
        format!(
            "add to the mesh config (istioctl install --set, or the `istio` ConfigMap): extensionProviders: [{{name: {PROVIDER}, opentelemetry: {{service: {}, port: {}{http}}}}}]",
            collector.host, collector.port
        ),
    ));
    if tracing.propagation.value.b3 {
        unexpressed.push(Unexpressed::new(
            tracing.propagation.span,
            "B3 propagation",
            "Istio's OpenTelemetry provider reads and writes W3C `traceparent` only",
            "have callers send W3C Trace Context (OpenTelemetry SDKs can send both: OTEL_PROPAGATORS=tracecontext,b3)",
        ));
    }
    let named = model.services.iter().filter_map(|s| s.tracing.service_name.as_ref());
    let gateway_named = model.gateways.iter().filter_map(|g| g.tracing.service_name.as_ref());
    for name in named.chain(gateway_named) {
        unexpressed.push(Unexpressed::new(
            name.span,
            "this span service name",
            "Istio's spans carry the workload's canonical service name",
            format!("label the workload's pods service.istio.io/canonical-name: {}", name.value),
        ));
    }
    for sampling in model.gateways.iter().filter_map(|g| g.tracing.sampling.as_ref()) {
        unexpressed.push(Unexpressed::new(
            sampling.span,
            "this gateway sampling rate",
            "`istio/mesh-tracing.yaml` samples the ingress gateway at the mesh's rate",
            "set it on the ingress gateway's namespace with a Telemetry resource of its own, or drop it",
        ));
    }
    let telemetry = |metadata, selector, percent| {
        let tracing =
            api::Tracing { providers: vec![api::Provider { name: PROVIDER }], random_sampling_percentage: percent };
        let spec = Spec::Telemetry(api::Telemetry { selector, tracing: vec![tracing] });
        Resource { api_version: "telemetry.istio.io/v1", kind: "Telemetry", metadata, spec }
    };
    let mut out =
        vec![telemetry(Metadata::named("mesh-tracing", Some("istio-system")), None, tracing.sampling.value.percent())];
    for service in model.services.iter().filter(|s| s.mesh().is_some()) {
        let Some(sampling) = &service.tracing.sampling else { continue };
        let namespace = service.host().and_then(|h| h.kubernetes_service()).map(|(_, namespace)| namespace);
        let metadata = Metadata::named(format!("{}-tracing", service.name.value), namespace);
        let selector = Selector::one("app", service.name.value.as_str());
        out.push(telemetry(metadata, Some(selector), sampling.value.percent()));
    }
    out
}
