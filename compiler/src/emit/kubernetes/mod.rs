//! Kubernetes `Service` (v1) per service whose address is a cluster DNS
//! name, `NAME.NAMESPACE.svc.cluster.local`: `kubernetes/SERVICE.yaml`.
//!
//! - `metadata.name` and `metadata.namespace` come from the address, so the
//!   name callers dial is the one Kubernetes serves.
//! - The pods are selected by `app: SERVICE` (the meshc service's name, the
//!   label the Istio backend's `sourceLabels` use too).
//! - Each of the service's `versions` reached by a cluster DNS name gets its
//!   own Service too, `kubernetes/SERVICE-VERSION.yaml`, selecting
//!   `app: SERVICE, version: VERSION`: the sidecars' version clusters
//!   resolve it (Istio selects the same pods by the DestinationRule's subsets).
//! - A port per service port: named after it (the address's single port
//!   after its protocol: `grpc`, `http`, `http2` for both on one port, the
//!   TCP protocol's name or `tcp`), `appProtocol` its protocol (`tcp` for
//!   every TCP port), targeting the pod's container port named
//!   `mesh-inbound` (the first) or `mesh-inbound-N`: with meshc's Envoy
//!   sidecar that is the sidecar's inbound port for it (callers' traffic
//!   enters the pod through it), under Istio the app's own port (Istio's
//!   sidecar captures traffic and refuses its own inbound port). The pods
//!   say which, so one Service serves both data planes. Workloads that
//!   listen nowhere get no Service.
//!
//! Built from the typed structs of the `k8s-openapi` crate, so every field
//! name and type is the Kubernetes API's own.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service as KubeService, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

pub mod cert_manager;

use crate::base::Span;
use crate::emit::{yaml, Artifact, Options, Unexpressed, VERSION_LABEL};
use crate::model::values::Host;
use crate::model::{Model, PortId, PortProtocol, Service};
use crate::schema::SchemaIndex;

/// The container port a Service targets: the pod names the port that takes
/// callers' traffic (an IANA service name: at most 15 characters).
pub const INBOUND_PORT_NAME: &str = "mesh-inbound";

pub fn emit(model: &Model, _schemas: &SchemaIndex, _: &Options, _: &mut Vec<Unexpressed>) -> Vec<Artifact> {
    let artifact = |path: String, kube: KubeService, origin: Span| {
        let value = serde_json::to_value(&kube).expect("k8s-openapi types serialize to JSON");
        Artifact { path, contents: yaml(model, &value), origin }
    };
    let mut out = Vec::new();
    for service in model.services.iter().filter(|s| s.mesh().is_some()) {
        let app = BTreeMap::from([("app".to_string(), service.name.value.clone())]);
        // A workload that listens nowhere needs no Service.
        let Some(host) = service.host() else { continue };
        if let Some(kube) = kube_service(service, host, app.clone()) {
            out.push(artifact(format!("kubernetes/{}.yaml", service.name.value), kube, service.name.span));
        }
        // Each version's own Service, for proxies that reach a version by DNS.
        for version in &service.versions {
            let Some(host) = &version.host else { continue };
            let mut labels = app.clone();
            labels.insert(VERSION_LABEL.to_string(), version.name.value.clone());
            if let Some(kube) = kube_service(service, host, labels) {
                let path = format!("kubernetes/{}-{}.yaml", service.name.value, version.name.value);
                out.push(artifact(path, kube, version.name.span));
            }
        }
    }
    out
}

/// The container port a Service port targets: [`INBOUND_PORT_NAME`] for
/// the first, `mesh-inbound-N` for the others (at most 15 characters).
pub fn inbound_port_name(port: PortId) -> String {
    match port.index() {
        0 => INBOUND_PORT_NAME.to_string(),
        n => format!("{INBOUND_PORT_NAME}-{n}"),
    }
}

/// Kubernetes' `appProtocol` of a port, which Istio reads first.
fn app_protocol(protocol: &PortProtocol) -> &'static str {
    match protocol {
        PortProtocol::Http => "http",
        PortProtocol::Grpc => "grpc",
        PortProtocol::Http2 => "http2",
        // Istio proxies named protocols (redis, mysql, ...) as TCP unless told otherwise.
        PortProtocol::Tcp(_) => "tcp",
    }
}

/// A Service named after `host`, selecting the pods with `labels`, on the
/// service's ports.
fn kube_service(service: &Service, host: &Host, labels: BTreeMap<String, String>) -> Option<KubeService> {
    let (name, namespace) = host.kubernetes_service()?;
    let ports = service
        .ports()
        .map(|(id, port)| ServicePort {
            name: Some(port.label()),
            app_protocol: Some(app_protocol(&port.protocol).to_string()),
            protocol: Some("TCP".to_string()),
            port: i32::from(port.number.get()),
            target_port: Some(IntOrString::String(inbound_port_name(id))),
            ..ServicePort::default()
        })
        .collect();
    Some(KubeService {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            labels: Some(labels.clone()),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_string()),
            selector: Some(labels),
            ports: Some(ports),
            ..ServiceSpec::default()
        }),
        status: None,
    })
}

#[cfg(test)]
mod tests {
    use super::Host;

    fn service_of(host: &str) -> Option<(String, String)> {
        let host = Host::parse(host).expect("a host");
        host.kubernetes_service().map(|(n, ns)| (n.to_string(), ns.to_string()))
    }

    #[test]
    fn only_cluster_dns_names_name_a_kubernetes_service() {
        assert_eq!(service_of("orders.shop.svc.cluster.local"), Some(("orders".into(), "shop".into())));
        assert_eq!(service_of("orders.svc.cluster.local"), None);
        assert_eq!(service_of("a.b.c.svc.cluster.local"), None);
        assert_eq!(service_of("orders"), None);
        assert_eq!(service_of("1orders.shop.svc.cluster.local"), None);
        assert_eq!(service_of("api.example.com"), None);
        assert_eq!(service_of("10.0.0.1"), None);
    }

    #[test]
    fn a_version_has_its_own_service_beside_the_services() {
        let host = Host::parse("reviews.shop.svc.cluster.local").expect("a host");
        assert_eq!(
            host.kubernetes_version("v2").expect("a version host").as_str(),
            "reviews-v2.shop.svc.cluster.local"
        );
        assert!(Host::parse("reviews.example.com").expect("a host").kubernetes_version("v2").is_none());
    }
}
