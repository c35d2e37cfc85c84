//! The plan of `meshc-runtime up` (`runtime/local-mesh.json`): what the
//! Envoy configs of a build are made of, named as the configs name it, so
//! that the runtime can run them all on one machine without reading the
//! spec. The format (`version` 1) is documented in
//! docs/runtime.md#the-mesh-on-one-machine.
//!
//! - Per proxy: its config, and by name the listeners others reach (each
//!   service port's inbound listener, the outbound listener its app calls
//!   through) and the clusters that point at something on the proxy's own
//!   host (the app behind a sidecar, per port; the admin endpoint; a
//!   helper). Every other listener only needs a free port of its own.
//! - Per service: its identity and ports, each with every `host:port` the
//!   configs use to reach it (the address, each version's host, each
//!   endpoint), so that a cluster towards any of them is pointed at that
//!   port's inbound listener. An address no service has (a remote JWKS,
//!   an STS, a collector, a rate limit service) is left as it is.
//! - The helpers the configs call: request validators, token exchangers,
//!   and GraphQL gateways (which are the app of the service serving them).
//!
//! It lives with the Envoy backends because the names are theirs.

use std::collections::BTreeSet;

use serde::Serialize;

use super::gateway::{validating, VALIDATOR_CLUSTER};
use super::security::token_exchange_cluster_name;
use super::sidecar::per_port;
use super::stats::ADMIN_CLUSTER;
use crate::emit::{Artifact, Options, Unexpressed};
use crate::model::identity::TokenExchange;
use crate::model::values::Host;
use crate::model::{Model, PortId, PortProtocol, Service};
use crate::schema::SchemaIndex;

/// Bumped when a reader of version 1 would misread the file.
const FORMAT_VERSION: u32 = 1;

#[derive(Serialize)]
struct Plan<'a> {
    /// Where the configs read certificates; `None`: the mesh is plaintext.
    #[serde(skip_serializing_if = "Option::is_none")]
    cert_dir: Option<&'a str>,
    helpers: Vec<Helper>,
    /// The JWT issuers whose tokens proxies check, by `iss`: a local run
    /// signs its own tokens for them and gives the proxies its keys.
    issuers: Vec<IssuerEntry<'a>>,
    mesh: &'a str,
    proxies: Vec<Proxy<'a>>,
    services: Vec<ServiceEntry<'a>>,
    version: u32,
}

#[derive(Serialize)]
struct Proxy<'a> {
    /// Clusters towards the proxy's own host, by name.
    clusters: Vec<LocalCluster>,
    /// The bootstrap, relative to the output.
    config: String,
    /// The SPIFFE id its certificate carries (meshes with mTLS).
    #[serde(skip_serializing_if = "Option::is_none")]
    identity: Option<String>,
    /// `gateway` or `sidecar`.
    kind: &'static str,
    listeners: Vec<NamedListener>,
    /// `gateway-NAME` or `sidecar-NAME`, the config's node id.
    name: String,
    /// The service of a sidecar.
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<&'a str>,
}

/// A listener others reach: `{"name", "role": "inbound", "port"}` (a
/// service port's callers) or `{"name", "role": "outbound"}` (the app's
/// calls).
#[derive(Serialize)]
struct NamedListener {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<String>,
    role: &'static str,
}

/// `{"name", "target": "app", "port"}`, `{"name", "target": "admin"}` or
/// `{"name", "target": "helper", "helper"}`.
#[derive(Serialize)]
struct LocalCluster {
    #[serde(skip_serializing_if = "Option::is_none")]
    helper: Option<String>,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<String>,
    target: &'static str,
}

#[derive(Serialize)]
struct ServiceEntry<'a> {
    identity: String,
    name: &'a str,
    ports: Vec<PortEntry>,
}

#[derive(Serialize)]
struct PortEntry {
    /// Every `host:port` the configs use for this port.
    addresses: Vec<String>,
    name: String,
    number: u16,
    /// `http`, `grpc`, `http2` or the TCP protocol's name.
    protocol: String,
}

#[derive(Serialize)]
struct IssuerEntry<'a> {
    /// The tokens' `iss`, as the proxies' JWT providers name it.
    issuer: &'a str,
    name: &'a str,
}

/// `{"config", "kind", "name"}`; a token exchanger also names the issuer
/// its STS issues for (`issues`, an `iss`); a GraphQL gateway also names the
/// service and port it serves as the app of.
#[derive(Serialize)]
struct Helper {
    config: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    issues: Option<String>,
    /// `validator`, `token-exchange` or `graphql`.
    kind: &'static str,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<String>,
}

pub fn emit(model: &Model, _: &SchemaIndex, options: &Options, _: &mut Vec<Unexpressed>) -> Vec<Artifact> {
    let mut proxies: Vec<Proxy> = model.gateways.iter().map(|g| gateway_proxy(model, g)).collect();
    proxies.extend(model.services.iter().filter(|s| s.mesh().is_some() && proxied(s)).map(|s| sidecar_proxy(model, s)));
    let Some(origin) = model.gateways.first().map(|g| g.name.span).or(model.services.first().map(|s| s.name.span))
    else {
        return Vec::new();
    };
    let services = model.services.iter().filter(|s| s.mesh().is_some()).map(|s| service_entry(model, s)).collect();
    let plan = Plan {
        cert_dir: model.mtls.as_ref().map(|m| options.cert_dir(m)),
        helpers: helpers(model),
        issuers: model.issuers.iter().map(|i| IssuerEntry { issuer: &i.issuer.value, name: &i.name.value }).collect(),
        mesh: &model.name,
        proxies,
        services,
        version: FORMAT_VERSION,
    };
    vec![Artifact { path: "runtime/local-mesh.json".into(), contents: crate::emit::pretty_json(&plan), origin }]
}

/// Whether the sidecar backend writes a config for it: it listens or calls.
fn proxied(service: &Service) -> bool {
    service.ports().next().is_some() || !service.calls.is_empty()
}

fn gateway_proxy<'a>(model: &Model, gateway: &'a crate::model::Gateway) -> Proxy<'a> {
    let mut clusters = vec![admin_cluster()];
    if validating(gateway) {
        clusters.push(LocalCluster {
            helper: Some(format!("validator-{}", gateway.name.value)),
            name: VALIDATOR_CLUSTER.into(),
            port: None,
            target: "helper",
        });
    }
    Proxy {
        clusters,
        config: format!("envoy/gateway-{}.yaml", gateway.name.value),
        identity: model.mtls.as_ref().map(|m| gateway.identity.spiffe_id(&m.trust_domain)),
        kind: "gateway",
        listeners: Vec::new(),
        name: format!("gateway-{}", gateway.name.value),
        service: None,
    }
}

fn sidecar_proxy<'a>(model: &'a Model, service: &'a Service) -> Proxy<'a> {
    let name = &service.name.value;
    let mut listeners: Vec<NamedListener> = service
        .ports()
        .map(|(id, _)| NamedListener {
            name: per_port("inbound", service, id),
            port: Some(service.port(id).label()),
            role: "inbound",
        })
        .collect();
    // Written only when the service makes HTTP or gRPC calls; the runtime
    // moves it when the config has it.
    listeners.push(NamedListener { name: "outbound".into(), port: None, role: "outbound" });
    let mut clusters: Vec<LocalCluster> = service
        .ports()
        .map(|(id, _)| LocalCluster {
            helper: None,
            name: per_port(&format!("inbound.{name}"), service, id),
            port: Some(service.port(id).label()),
            target: "app",
        })
        .collect();
    clusters.push(admin_cluster());
    clusters.extend(exchanges(model, service).map(|exchange| LocalCluster {
        helper: Some(token_exchanger_name(service, exchange)),
        name: token_exchange_cluster_name(exchange),
        port: None,
        target: "helper",
    }));
    clusters.sort_by(|a, b| a.name.cmp(&b.name));
    Proxy {
        clusters,
        config: format!("envoy/sidecar-{name}.yaml"),
        identity: model.mtls.as_ref().map(|m| service.identity().spiffe_id(&m.trust_domain)),
        kind: "sidecar",
        listeners,
        name: format!("sidecar-{name}"),
        service: Some(name),
    }
}

/// The token exchanges of a service's calls, each once.
fn exchanges<'a>(model: &'a Model, service: &Service) -> impl Iterator<Item = &'a TokenExchange> {
    let ids: BTreeSet<_> = service.calls.iter().filter_map(|c| c.token.exchange()).map(|e| e.exchange).collect();
    ids.into_iter().map(|id| model.token_exchange(id))
}

/// Named after its config, `token-exchange/SERVICE-EXCHANGE.json`.
fn token_exchanger_name(service: &Service, exchange: &TokenExchange) -> String {
    format!("token-exchange-{}-{}", service.name.value, exchange.name.value)
}

fn admin_cluster() -> LocalCluster {
    LocalCluster { helper: None, name: ADMIN_CLUSTER.into(), port: None, target: "admin" }
}

fn service_entry<'a>(model: &Model, service: &'a Service) -> ServiceEntry<'a> {
    let trust_domain = model.mtls.as_ref().map_or("cluster.local", |m| m.trust_domain.as_str());
    let ports = service
        .ports()
        .map(|(id, port)| PortEntry {
            addresses: addresses(service, id),
            name: port.label(),
            number: port.number.get(),
            protocol: protocol_name(&port.protocol),
        })
        .collect();
    ServiceEntry { identity: service.identity().spiffe_id(trust_domain), name: &service.name.value, ports }
}

/// Every `host:port` a proxy may use for port `id`: the address, each
/// version's host, each endpoint (on its own port, else this one).
fn addresses(service: &Service, id: PortId) -> Vec<String> {
    let number = service.port(id).number.get();
    let mut out = BTreeSet::new();
    out.extend(service.host().map(|h| address(h, number)));
    out.extend(service.versions.iter().filter_map(|v| v.host.as_ref()).map(|h| address(h, number)));
    out.extend(service.endpoints.iter().map(|e| address(&e.host, e.port.map_or(number, |p| p.get()))));
    out.into_iter().collect()
}

fn protocol_name(protocol: &PortProtocol) -> String {
    match protocol {
        PortProtocol::Http => "http".into(),
        PortProtocol::Grpc => "grpc".into(),
        PortProtocol::Http2 => "http2".into(),
        PortProtocol::Tcp(name) => name.value.clone(),
    }
}

fn address(host: &Host, port: u16) -> String {
    match host.as_str().contains(':') {
        true => format!("[{host}]:{port}"),
        false => format!("{host}:{port}"),
    }
}

/// Validators per validating gateway, token exchangers per service and
/// exchange, GraphQL gateways per API with resolvers; named as the
/// proxies' `helper` entries name them.
fn helpers(model: &Model) -> Vec<Helper> {
    let mut out = Vec::new();
    let standalone = |kind, name, config| Helper { config, issues: None, kind, name, port: None, service: None };
    for gateway in model.gateways.iter().filter(|g| validating(g)) {
        let name = &gateway.name.value;
        out.push(standalone("validator", format!("validator-{name}"), format!("validation/gateway-{name}.json")));
    }
    for service in &model.services {
        let name = &service.name.value;
        for exchange in exchanges(model, service) {
            let config = format!("token-exchange/{name}-{}.json", exchange.name.value);
            let issues = Some(model.issuer(exchange.issues).issuer.value.clone());
            out.push(Helper {
                issues,
                ..standalone("token-exchange", token_exchanger_name(service, exchange), config)
            });
        }
        for api in service.apis.iter().filter(|a| !a.resolvers.is_empty()) {
            let api_name = &api.name.value;
            out.push(Helper {
                config: format!("graphql/{name}-{api_name}.json"),
                issues: None,
                kind: "graphql",
                name: format!("graphql-{name}-{api_name}"),
                port: Some(service.port(api.port).label()),
                service: Some(name.clone()),
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}
