//! Kubernetes `Service` (v1) per service whose address is a cluster DNS
//! name, `NAME.NAMESPACE.svc.cluster.local`: `kubernetes/SERVICE.yaml`.
//!
//! - `metadata.name` and `metadata.namespace` come from the address, so the
//!   name callers dial is the one Kubernetes serves.
//! - The pods are selected by `app: SERVICE` (the meshc service's name, the
//!   label the Istio backend's `sourceLabels` use too).
//! - One port: the address's port, named and typed by the service's API
//!   kinds (`grpc`, `http`, `http2` for both on one port, `tcp` for none),
//!   targeting the service's sidecar inbound port: callers' traffic enters
//!   the pod through meshc's Envoy sidecar, which hands it to the app.
//!
//! Built from the typed structs of the `k8s-openapi` crate, so every field
//! name and type is the Kubernetes API's own.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service as KubeService, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{yaml, Artifact};
use crate::model::values::ApiKind;
use crate::model::{Model, Service};
use crate::schema::SchemaIndex;

pub fn emit(model: &Model, _schemas: &SchemaIndex) -> Vec<Artifact> {
    model
        .services
        .iter()
        .filter_map(|service| {
            let kube = kube_service(service)?;
            let value = serde_json::to_value(&kube).expect("k8s-openapi types serialize to JSON");
            Some(Artifact { path: format!("kubernetes/{}.yaml", service.name.value), contents: yaml(model, &value) })
        })
        .collect()
}

/// `(name, namespace)` of a cluster DNS name `NAME.NAMESPACE.svc.cluster.local`.
pub(super) fn cluster_service(host: &str) -> Option<(&str, &str)> {
    let rest = host.strip_suffix(".svc.cluster.local")?;
    let (name, namespace) = rest.split_once('.')?;
    // A Service's name is a DNS-1035 label: it starts with a letter.
    let named = name.starts_with(|c: char| c.is_ascii_lowercase());
    (named && !namespace.is_empty() && !namespace.contains('.')).then_some((name, namespace))
}

/// The protocol of the one port a service listens on, from its APIs' kinds:
/// `(port name, appProtocol)`. Istio reads both to pick the protocol.
pub(super) fn port_protocol(service: &Service) -> (&'static str, &'static str) {
    let grpc = service.apis.iter().any(|a| a.kind == ApiKind::Grpc);
    let http = service.apis.iter().any(|a| a.kind != ApiKind::Grpc);
    match (grpc, http) {
        (true, false) => ("grpc", "grpc"),
        (false, true) => ("http", "http"),
        // gRPC and HTTP/1.1 APIs on one port: the server speaks HTTP/2 (h2c).
        (true, true) => ("http2", "http2"),
        // No API meshc knows (a datastore): plain TCP.
        (false, false) => ("tcp", "tcp"),
    }
}

fn kube_service(service: &Service) -> Option<KubeService> {
    let address = &service.address.value;
    let (name, namespace) = cluster_service(address.host.as_str())?;
    let labels = BTreeMap::from([("app".to_string(), service.name.value.clone())]);
    let (port_name, app_protocol) = port_protocol(service);
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
            ports: Some(vec![ServicePort {
                name: Some(port_name.to_string()),
                app_protocol: Some(app_protocol.to_string()),
                protocol: Some("TCP".to_string()),
                port: i32::from(address.port.get()),
                target_port: Some(IntOrString::Int(i32::from(service.sidecar.inbound.get()))),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        status: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_cluster_dns_names_name_a_kubernetes_service() {
        assert_eq!(cluster_service("orders.shop.svc.cluster.local"), Some(("orders", "shop")));
        assert_eq!(cluster_service("orders.svc.cluster.local"), None);
        assert_eq!(cluster_service("a.b.c.svc.cluster.local"), None);
        assert_eq!(cluster_service("orders"), None);
        assert_eq!(cluster_service("1orders.shop.svc.cluster.local"), None);
        assert_eq!(cluster_service("api.example.com"), None);
        assert_eq!(cluster_service("10.0.0.1"), None);
    }
}
