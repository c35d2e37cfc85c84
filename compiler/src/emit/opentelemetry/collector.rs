//! `opentelemetry/collector.yaml`: the OpenTelemetry Collector the proxies
//! send their spans to (the mesh's `tracing` block). An OTLP receiver on
//! the protocol and port the spec gives the proxies (gRPC or HTTP, on all
//! interfaces), a `batch` processor, and an exporter per `exporter` of the
//! spec (`otlp`, `otlphttp`, `debug`; named `KIND/NAME`), in one `traces`
//! pipeline. A spec that names no exporter gets the `debug` exporter (the
//! collector's own log), so the pipeline is valid and spans are visible.
//!
//! The config's shape follows the collector's (core and contrib,
//! v0.1xx): `receivers`, `processors`, `exporters` by component id, and
//! `service.pipelines`. Without a collector binary on this machine it is
//! checked against that structure by `tests/it/tracing.rs`, not run
//! (docs/backends/opentelemetry.md).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;

use crate::emit::{yaml, Artifact, Options, Unexpressed};
use crate::model::tracing::{ExporterKind, OtlpProtocol};
use crate::model::Model;
use crate::schema::SchemaIndex;

type Str<'a> = Cow<'a, str>;

#[derive(Serialize)]
struct Config<'a> {
    exporters: BTreeMap<String, Exporter<'a>>,
    processors: BTreeMap<&'static str, Batch>,
    receivers: BTreeMap<&'static str, OtlpReceiver>,
    service: Service,
}

/// An exporter's settings; which one its id's type says.
#[derive(Serialize)]
#[serde(untagged)]
enum Exporter<'a> {
    Otlp(OtlpExporter<'a>),
    OtlpHttp(OtlpHttpExporter<'a>),
    Debug(DebugExporter),
}

#[derive(Serialize)]
struct OtlpExporter<'a> {
    endpoint: Str<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls: Option<Tls>,
}

#[derive(Serialize)]
struct Tls {
    insecure: bool,
}

#[derive(Serialize)]
struct OtlpHttpExporter<'a> {
    endpoint: Str<'a>,
}

#[derive(Serialize)]
struct DebugExporter {
    verbosity: &'static str,
}

/// The `batch` processor with the collector's defaults written out.
#[derive(Serialize)]
struct Batch {
    send_batch_size: u32,
    timeout: &'static str,
}

#[derive(Serialize)]
struct OtlpReceiver {
    protocols: Protocols,
}

#[derive(Serialize)]
struct Protocols {
    #[serde(skip_serializing_if = "Option::is_none")]
    grpc: Option<Endpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    http: Option<Endpoint>,
}

#[derive(Serialize)]
struct Endpoint {
    endpoint: String,
}

#[derive(Serialize)]
struct Service {
    pipelines: BTreeMap<&'static str, Pipeline>,
}

#[derive(Serialize)]
struct Pipeline {
    exporters: Vec<String>,
    processors: Vec<&'static str>,
    receivers: Vec<&'static str>,
}

pub fn emit(model: &Model, _: &SchemaIndex, _: &Options, _: &mut Vec<Unexpressed>) -> Vec<Artifact> {
    let Some(tracing) = &model.tracing else { return Vec::new() };
    let mut exporters = BTreeMap::new();
    for exporter in &tracing.exporters {
        let config = match &exporter.kind {
            ExporterKind::Otlp { endpoint, insecure } => Exporter::Otlp(OtlpExporter {
                endpoint: endpoint.value.as_str().into(),
                tls: insecure.then_some(Tls { insecure: true }),
            }),
            ExporterKind::OtlpHttp { endpoint } => {
                Exporter::OtlpHttp(OtlpHttpExporter { endpoint: endpoint.value.as_str().into() })
            }
            ExporterKind::Debug => Exporter::Debug(DebugExporter { verbosity: "basic" }),
        };
        exporters.insert(format!("{}/{}", exporter.kind.as_str(), exporter.name.value), config);
    }
    if exporters.is_empty() {
        exporters.insert("debug".to_string(), Exporter::Debug(DebugExporter { verbosity: "basic" }));
    }
    let listen = Endpoint { endpoint: format!("0.0.0.0:{}", tracing.collector.port) };
    let protocols = match tracing.collector.protocol {
        OtlpProtocol::Grpc => Protocols { grpc: Some(listen), http: None },
        OtlpProtocol::Http => Protocols { grpc: None, http: Some(listen) },
    };
    let pipeline =
        Pipeline { exporters: exporters.keys().cloned().collect(), processors: vec!["batch"], receivers: vec!["otlp"] };
    let config = Config {
        exporters,
        processors: BTreeMap::from([("batch", Batch { send_batch_size: 8192, timeout: "200ms" })]),
        receivers: BTreeMap::from([("otlp", OtlpReceiver { protocols })]),
        service: Service { pipelines: BTreeMap::from([("traces", pipeline)]) },
    };
    vec![Artifact { path: "opentelemetry/collector.yaml".into(), contents: yaml(model, &config), origin: tracing.span }]
}
