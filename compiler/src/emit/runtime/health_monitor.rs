//! The config of `meshc-runtime health`, the HealthMonitor that probes each
//! service's instances as its `health-check` says and exports the results
//! as Prometheus metrics: `runtime/health.json`, one entry per service with
//! a health check, listing the instances to probe. The format (`version`
//! 1) is documented in docs/runtime.md#health-monitor.
//!
//! Instances are what the model knows: the `endpoints` (with their
//! versions), else one per version with its own host, else the service's
//! address. Each is probed on one port: HTTP probes on the port serving
//! HTTP (`Service::request_port`), gRPC probes on the first gRPC port,
//! TCP probes on the first port; an endpoint's own `port=` wins.

use serde::Serialize;

use crate::emit::{Artifact, Options, Unexpressed};
use crate::model::traffic::VersionId;
use crate::model::traffic::{HealthCheck, Probe};
use crate::model::values::{Duration, Host};
use crate::model::{Model, PortId, PortProtocol, Service};
use crate::schema::SchemaIndex;

/// Bumped when a reader of version 1 would misread the file.
const FORMAT_VERSION: u32 = 1;

#[derive(Serialize)]
struct HealthFile<'a> {
    checks: Vec<CheckEntry<'a>>,
    version: u32,
}

#[derive(Serialize)]
struct CheckEntry<'a> {
    healthy_threshold: u32,
    instances: Vec<InstanceEntry<'a>>,
    interval_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    jitter_ms: Option<u64>,
    probe: ProbeEntry<'a>,
    service: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_period_ms: Option<u64>,
    timeout_ms: u64,
    unhealthy_threshold: u32,
}

#[derive(Serialize)]
struct InstanceEntry<'a> {
    /// `host:port` (`[v6]:port`).
    address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    zone: Option<&'a str>,
}

/// `{"kind": "http", "expect_status", "path"}`, `{"kind": "grpc", "service"}`
/// or `{"kind": "tcp"}`: a struct rather than a tagged enum, so that the
/// keys come out sorted as in every artifact.
#[derive(Serialize)]
struct ProbeEntry<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    expect_status: Option<[u16; 2]>,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<&'a str>,
}

pub fn emit(model: &Model, _: &SchemaIndex, _: &Options, _: &mut Vec<Unexpressed>) -> Vec<Artifact> {
    let checks: Vec<CheckEntry> = model
        .services
        .iter()
        .filter_map(|service| {
            let check = service.traffic.health_check.as_ref()?;
            Some(check_entry(service, &check.value)).filter(|c| !c.instances.is_empty())
        })
        .collect();
    let Some(first) = checks.first().and_then(|c| model.services.iter().find(|s| s.name.value == c.service)) else {
        return Vec::new();
    };
    let file = HealthFile { checks, version: FORMAT_VERSION };
    vec![Artifact {
        path: "runtime/health.json".into(),
        contents: crate::emit::pretty_json(&file),
        origin: first.name.span,
    }]
}

fn check_entry<'a>(service: &'a Service, check: &'a HealthCheck) -> CheckEntry<'a> {
    let none = ProbeEntry { expect_status: None, kind: "tcp", path: None, service: None };
    let probe = match &check.probe {
        Probe::Http { path, expect_status } => ProbeEntry {
            expect_status: Some([expect_status.first, expect_status.last]),
            kind: "http",
            path: Some(&path.value),
            ..none
        },
        // The empty name asks about the server as a whole (grpc.health.v1).
        Probe::Grpc { service } => {
            ProbeEntry { kind: "grpc", service: Some(service.as_ref().map_or("", |s| s.value.as_str())), ..none }
        }
        Probe::Tcp => none,
    };
    CheckEntry {
        healthy_threshold: check.healthy_threshold,
        instances: instances(service, probe_port(service, &check.probe)),
        interval_ms: millis(check.interval.value),
        jitter_ms: check.jitter.map(millis),
        probe,
        service: &service.name.value,
        start_period_ms: check.start_period.map(millis),
        timeout_ms: millis(check.timeout.value),
        unhealthy_threshold: check.unhealthy_threshold,
    }
}

/// The port a probe goes to; `None` for a service that listens nowhere.
fn probe_port(service: &Service, probe: &Probe) -> Option<PortId> {
    let first = service.ports().next().map(|(id, _)| id);
    match probe {
        Probe::Http { .. } => service.request_port(None).or(first),
        Probe::Grpc { .. } => service
            .ports()
            .find(|(_, p)| matches!(p.protocol, PortProtocol::Grpc | PortProtocol::Http2))
            .map(|(id, _)| id)
            .or(first),
        Probe::Tcp => first,
    }
}

fn instances(service: &Service, port: Option<PortId>) -> Vec<InstanceEntry<'_>> {
    let Some(port) = port.map(|id| service.port(id).number) else { return Vec::new() };
    let version_name = |id: VersionId| service.versions[id.index()].name.value.as_str();
    if !service.endpoints.is_empty() {
        return service
            .endpoints
            .iter()
            .map(|e| InstanceEntry {
                address: address(&e.host, e.port.unwrap_or(port).get()),
                version: e.version.map(version_name),
                zone: e.zone.as_deref(),
            })
            .collect();
    }
    let by_version: Vec<InstanceEntry> = service
        .versions
        .iter()
        .filter_map(|v| {
            let host = v.host.as_ref()?;
            Some(InstanceEntry { address: address(host, port.get()), version: Some(&v.name.value), zone: None })
        })
        .collect();
    if !by_version.is_empty() {
        return by_version;
    }
    service
        .host()
        .map(|h| InstanceEntry { address: address(h, port.get()), version: None, zone: None })
        .into_iter()
        .collect()
}

fn address(host: &Host, port: u16) -> String {
    if host.as_str().contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
