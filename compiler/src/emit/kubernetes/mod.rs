//! Kubernetes `Service` (v1) per service whose address is a cluster DNS
//! name, `NAME.NAMESPACE.svc.cluster.local`: `kubernetes/SERVICE.yaml`.
//!
//! - `metadata.name` and `metadata.namespace` come from the address, so the
//!   name callers dial is the one Kubernetes serves.
//! - The pods are selected by `app: SERVICE` (the meshc service's name, the
//!   label the Istio backend's `sourceLabels` use too). The service's own
//!   `labels` are on the Service's metadata beside them, not in the selector.
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
//! Built from typed structs of the fields it sets (the Kubernetes API's
//! names, keys in sorted order), serialized straight to YAML; the tests
//! read the output back with a strict deserializer of their own
//! (`tests/support/kube.rs`).

use std::collections::BTreeMap;

use serde::Serialize;

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
    let artifact =
        |path: String, kube: KubeService, origin: Span| Artifact { path, contents: yaml(model, &kube), origin };
    let mut out = Vec::new();
    for service in model.services.iter().filter(|s| s.mesh().is_some()) {
        let app = BTreeMap::from([("app", service.name.value.as_str())]);
        // A workload that listens nowhere needs no Service.
        let Some(host) = service.host() else { continue };
        if let Some(kube) = kube_service(service, host, app.clone()) {
            out.push(artifact(format!("kubernetes/{}.yaml", service.name.value), kube, service.name.span));
        }
        // Each version's own Service, for proxies that reach a version by DNS.
        for version in &service.versions {
            let Some(host) = &version.host else { continue };
            let mut labels = app.clone();
            labels.insert(VERSION_LABEL, version.name.value.as_str());
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

/// A `v1` `Service`: the fields this backend sets, in key order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KubeService<'a> {
    api_version: &'static str,
    kind: &'static str,
    metadata: ObjectMeta<'a>,
    spec: ServiceSpec<'a>,
}

type Labels<'a> = BTreeMap<&'a str, &'a str>;

#[derive(Serialize)]
struct ObjectMeta<'a> {
    labels: Labels<'a>,
    name: &'a str,
    namespace: &'a str,
}

#[derive(Serialize)]
struct ServiceSpec<'a> {
    ports: Vec<ServicePort>,
    selector: Labels<'a>,
    #[serde(rename = "type")]
    type_: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServicePort {
    app_protocol: &'static str,
    name: String,
    port: u16,
    protocol: &'static str,
    /// The pod's container port, by name.
    target_port: String,
}

/// A Service named after `host`, selecting the pods with `labels`, on the
/// service's ports.
fn kube_service<'a>(service: &'a Service, host: &'a Host, labels: Labels<'a>) -> Option<KubeService<'a>> {
    let (name, namespace) = host.kubernetes_service()?;
    let ports = service
        .ports()
        .map(|(id, port)| ServicePort {
            app_protocol: app_protocol(&port.protocol),
            name: port.label(),
            port: port.number.get(),
            protocol: "TCP",
            target_port: inbound_port_name(id),
        })
        .collect();
    Some(KubeService {
        api_version: "v1",
        kind: "Service",
        metadata: ObjectMeta { labels: own_labels(service, &labels), name, namespace },
        spec: ServiceSpec { ports, selector: labels, type_: "ClusterIP" },
    })
}

/// The selector's labels and the service's own (which never use its keys: `app`, `version`).
fn own_labels<'a>(service: &'a Service, selector: &Labels<'a>) -> Labels<'a> {
    let mut labels = selector.clone();
    labels.extend(service.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    labels
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
