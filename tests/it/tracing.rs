//! Distributed tracing: the language (`tracing` blocks and per-service
//! settings), the trace-propagation analysis (MESH0114), the OpenTelemetry
//! Collector config's structure, and, live, a request through the real
//! Envoy gateway and two sidecars built from a spec, whose spans reach an
//! OTLP/HTTP receiver this test runs as one trace with the right parents,
//! and whose access log lines carry that trace id.

use crate::support;
use crate::support::fixture::check;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use support::{envoy_validate, free_port, http_request, write_files, EnvoyProcess, Upstream};

// ------------------------------------------------------------- language ----

/// The gateway → web → pricing → stock chain, where `pricing` drops the
/// trace context; `label` ends the expected annotation.
fn chain_dropped_at_pricing(tracing: &str, label: &str) -> String {
    format!(
        r#"
        //- mesh.kdl
        {tracing}
        gateway "public" {{
            listener "http" port=8080
            route "shop" {{ match path-prefix="/"; to "web" }}
        }}
        service "web" {{ owner "t"; address "web.svc" port=80
            calls "pricing" timeout="1s"
            traffic {{ outlier-detection }}
        }}
        service "pricing" {{ owner "t"; address "pricing.svc" port=80
            tracing propagates=#false
        //          ^^^^^^^^^^^^^^^^^ MESH0114 warning{label}
            calls "stock" timeout="500ms"
            traffic {{ outlier-detection }}
        }}
        service "stock" {{ owner "t"; address "stock.svc" port=80
            traffic {{ outlier-detection }}
        }}
        "#
    )
}

#[test]
fn a_service_that_drops_the_trace_context_is_reported_with_the_whole_path() {
    let full = "tracing {\n            sampling \"0.5%\"\n            propagation \"tracecontext\"\n            collector \"otel.observability.svc\" port=4318 protocol=\"http\"\n        }";
    check(&chain_dropped_at_pricing(full, ": declared not to forward the trace context"));
    let c = check(&chain_dropped_at_pricing(r#"tracing { collector "otel.observability.svc" port=4317 }"#, ""));
    let messages: Vec<&str> = c.diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        ["traces break at `pricing`: route `shop` of gateway `public` → web → pricing (does not propagate) → stock"]
    );
}

#[test]
fn an_external_service_breaks_traces_unless_it_says_it_propagates_and_nothing_is_checked_without_tracing() {
    // External: assumed not to propagate; a path from a service nothing calls.
    let c = check(
        r#"
        //- mesh.kdl
        tracing { collector "otel.observability.svc" port=4317 }
        service "job" { owner "t"
            calls "partner" timeout="1s"
        }
        service "partner" { owner "t"; address "partner.example" port=443
            external
        //  ^^^^^^^^ MESH0114 warning: external: its code is not ours, assumed not to forward it
            calls "hooks" timeout="1s"
            traffic { outlier-detection }
        }
        service "hooks" { owner "t"; address "hooks.svc" port=80
            traffic { outlier-detection }
        }
        "#,
    );
    assert!(c.diagnostics[0].message.contains(": job → partner (does not propagate) → hooks"), "{:?}", c.diagnostics);
    // Declared to propagate: clean.
    check(
        r#"
        //- mesh.kdl
        tracing { collector "otel.observability.svc" port=4317 }
        service "job" { owner "t"
            calls "partner" timeout="1s"
        }
        service "partner" { owner "t"; address "partner.example" port=443
            external
            tracing propagates=#true
            calls "hooks" timeout="1s"
            traffic { outlier-detection }
        }
        service "hooks" { owner "t"; address "hooks.svc" port=80
            traffic { outlier-detection }
        }
        "#,
    );
    // No tracing block: no trace to break, and a name or rate set on its own is MESH0115.
    check(
        r#"
        //- mesh.kdl
        service "job" { owner "t"
            tracing service-name="batch-job"
        //  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0115 warning
            calls "partner" timeout="1s"
        }
        service "partner" { owner "t"; address "partner.example" port=443
            external
            calls "hooks" timeout="1s"
            traffic { outlier-detection }
        }
        service "hooks" { owner "t"; address "hooks.svc" port=80
            traffic { outlier-detection }
        }
        "#,
    );
}

#[test]
fn an_upstream_breaker_starts_the_path_and_long_paths_are_cut() {
    // a → b (breaks) → c → d (breaks) → e: d's path starts at b's new trace.
    let c = check(
        r#"
        //- mesh.kdl
        tracing { collector "otel.observability.svc" port=4317 }
        service "a" { owner "t"; calls "b" timeout="5s" }
        service "b" { owner "t"; address "b.svc" port=80; tracing propagates=#false
        //                                                        ^^^^^^^^^^^^^^^^^ MESH0114 warning
            calls "c" timeout="4s"
            traffic { outlier-detection }
        }
        service "c" { owner "t"; address "c.svc" port=80; calls "d" timeout="3s"; traffic { outlier-detection } }
        service "d" { owner "t"; address "d.svc" port=80; tracing propagates=#false
        //                                                        ^^^^^^^^^^^^^^^^^ MESH0114 warning
            calls "e" timeout="2s"
            traffic { outlier-detection }
        }
        service "e" { owner "t"; address "e.svc" port=80; traffic { outlier-detection } }
        "#,
    );
    let messages: BTreeSet<&str> = c.diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        BTreeSet::from([
            "traces break at `b`: a → b (does not propagate) → c",
            "traces break at `d`: b (starts a new trace) → c → d (does not propagate) → e",
        ])
    );
    // A chain of 30 services ending in one that breaks: the path shows 8 hops.
    let mut spec = String::from("tracing { collector \"otel.svc\" port=4317 }\n");
    for i in 0..30 {
        spec.push_str(&format!(
            "service \"s{i}\" {{ owner \"t\"; address \"s{i}.svc\" port=80; calls \"s{}\" timeout=\"1s\"; traffic {{ outlier-detection }} }}\n",
            i + 1
        ));
    }
    spec.push_str("service \"s30\" { owner \"t\"; address \"s30.svc\" port=80; tracing propagates=#false; calls \"s31\" timeout=\"1s\"; traffic { outlier-detection } }\n");
    spec.push_str("service \"s31\" { owner \"t\"; address \"s31.svc\" port=80; traffic { outlier-detection } }\n");
    let c = meshc::driver::compile_in(&memory_workspace(&spec), Path::new("/ws"));
    let broken: Vec<&str> = c
        .diagnostics
        .iter()
        .filter(|d| d.code == meshc::diag::Code::TracePropagationBroken)
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(
        broken,
        ["traces break at `s30`: … → s22 → s23 → s24 → s25 → s26 → s27 → s28 → s29 → s30 (does not propagate) → s31"]
    );
}

fn memory_workspace(spec: &str) -> meshc::base::fs::MemoryFs {
    let mut fs = meshc::base::fs::MemoryFs::new();
    fs.insert("/ws/mesh.kdl", spec);
    fs
}

#[test]
fn tracing_settings_are_read_strictly() {
    check(
        r#"
        //- mesh.kdl
        tracing {
            sampling "150%"
        //           ^^^^^^ MESH0004 error
            propagation "tracecontext" "jaeger"
        //                             ^^^^^^^^ MESH0004 error
            collector "otel.svc" port=4317 protocol="thrift"
        //                                 ^^^^^^^^^^^^^^^^^ MESH0004 error
            exporter "tempo" kind="otpl" endpoint="tempo:4317"
        //                   ^^^^^^^^^^^ MESH0004 error
            exporter "x" kind="otlp" endpoint="no-port"
        //                           ^^^^^^^^^^^^^^^^^^ MESH0004 error
        }
        service "bank" { owner "t"; address "bank.example" port=443
            external
            tracing sampling="5%"
        //          ^^^^^^^^^^^^^ MESH0003 error
        }
        "#,
    );
    check(
        r#"
        //- mesh.kdl
        tracing {
        ^^^^^^^ MESH0005 error: where do the spans go?
            sampling "10%"
        }
        "#,
    );
}

// ------------------------------------------- the collector's config ----

/// The collector's config as the collector reads it (core and contrib
/// v0.1xx): unknown keys are refused, as its `confmap` does.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CollectorConfig {
    exporters: BTreeMap<String, serde_yaml_ng::Value>,
    #[serde(default)]
    processors: BTreeMap<String, serde_yaml_ng::Value>,
    receivers: BTreeMap<String, serde_yaml_ng::Value>,
    service: CollectorService,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CollectorService {
    pipelines: BTreeMap<String, Pipeline>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pipeline {
    receivers: Vec<String>,
    #[serde(default)]
    processors: Vec<String>,
    exporters: Vec<String>,
}

/// `otlpreceiver.Config`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OtlpReceiverConfig {
    protocols: OtlpProtocols,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OtlpProtocols {
    grpc: Option<ServerEndpoint>,
    http: Option<ServerEndpoint>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerEndpoint {
    endpoint: String,
}

/// `batchprocessor.Config`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchProcessor {
    send_batch_size: Option<u32>,
    timeout: Option<String>,
}

/// `otlpexporter.Config` (the fields meshc writes; others exist).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OtlpExporter {
    endpoint: String,
    tls: Option<ClientTls>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientTls {
    insecure: bool,
}

/// `otlphttpexporter.Config`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OtlpHttpExporter {
    endpoint: String,
}

/// `debugexporter.Config`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DebugExporter {
    verbosity: String,
}

/// What the collector checks when it loads a config: each component's
/// settings for its type, ids `TYPE[/NAME]`, pipelines naming defined
/// components only, each with a receiver and an exporter, nothing unused.
fn check_collector_config(text: &str) -> Result<CollectorConfig, String> {
    let config: CollectorConfig = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
    let type_of = |id: &str| -> Result<String, String> {
        let (kind, name) = id.split_once('/').unwrap_or((id, ""));
        let valid = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid(kind) || (id.contains('/') && !valid(name)) {
            return Err(format!("`{id}` is not a component id TYPE[/NAME]"));
        }
        Ok(kind.to_string())
    };
    let settings = |what: &str, id: &str, e: serde_yaml_ng::Error| format!("{what} `{id}`: {e}");
    for (id, value) in &config.receivers {
        match type_of(id)?.as_str() {
            "otlp" => {
                let r: OtlpReceiverConfig =
                    serde_yaml_ng::from_value(value.clone()).map_err(|e| settings("receiver", id, e))?;
                let endpoints = [r.protocols.grpc, r.protocols.http];
                if endpoints.iter().all(Option::is_none) {
                    return Err(format!("receiver `{id}` enables no protocol"));
                }
                for endpoint in endpoints.iter().flatten() {
                    let (_, port) = endpoint.endpoint.rsplit_once(':').ok_or("an endpoint is HOST:PORT")?;
                    port.parse::<u16>().map_err(|e| format!("receiver `{id}` port: {e}"))?;
                }
            }
            other => return Err(format!("unknown receiver type `{other}`")),
        }
    }
    for (id, value) in &config.processors {
        match type_of(id)?.as_str() {
            "batch" => {
                let b: BatchProcessor =
                    serde_yaml_ng::from_value(value.clone()).map_err(|e| settings("processor", id, e))?;
                if b.send_batch_size == Some(0) {
                    return Err(format!("processor `{id}`: send_batch_size 0"));
                }
                // A Go duration: digits and a unit.
                if let Some(t) = b
                    .timeout
                    .filter(|t| !t.ends_with("ms") && !t.ends_with('s') || t.starts_with(|c: char| !c.is_ascii_digit()))
                {
                    return Err(format!("processor `{id}`: timeout `{t}` is not a duration"));
                }
            }
            other => return Err(format!("unknown processor type `{other}`")),
        }
    }
    for (id, value) in &config.exporters {
        match type_of(id)?.as_str() {
            "otlp" => {
                let e: OtlpExporter =
                    serde_yaml_ng::from_value(value.clone()).map_err(|e| settings("exporter", id, e))?;
                let (_, port) = e.endpoint.rsplit_once(':').ok_or(format!("exporter `{id}`: endpoint is HOST:PORT"))?;
                port.parse::<u16>().map_err(|e| format!("exporter `{id}` port: {e}"))?;
                if e.tls.is_some_and(|t| !t.insecure) {
                    return Err(format!("exporter `{id}`: `tls.insecure: false` is the default, written for nothing"));
                }
            }
            "otlphttp" => {
                let e: OtlpHttpExporter =
                    serde_yaml_ng::from_value(value.clone()).map_err(|e| settings("exporter", id, e))?;
                if !e.endpoint.starts_with("http://") && !e.endpoint.starts_with("https://") {
                    return Err(format!("exporter `{id}`: endpoint is a URL"));
                }
            }
            "debug" => {
                let e: DebugExporter =
                    serde_yaml_ng::from_value(value.clone()).map_err(|e| settings("exporter", id, e))?;
                if !["basic", "normal", "detailed"].contains(&e.verbosity.as_str()) {
                    return Err(format!("exporter `{id}`: verbosity `{}`", e.verbosity));
                }
            }
            other => return Err(format!("unknown exporter type `{other}`")),
        }
    }
    let mut used: BTreeSet<(&str, &str)> = BTreeSet::new();
    for (name, pipeline) in &config.service.pipelines {
        if !["traces", "metrics", "logs"].contains(&type_of(name)?.as_str()) {
            return Err(format!("pipeline `{name}` is of no signal"));
        }
        if pipeline.receivers.is_empty() || pipeline.exporters.is_empty() {
            return Err(format!("pipeline `{name}` needs a receiver and an exporter"));
        }
        let kinds = [
            ("receiver", &pipeline.receivers, &config.receivers),
            ("processor", &pipeline.processors, &config.processors),
            ("exporter", &pipeline.exporters, &config.exporters),
        ];
        for (kind, ids, defined) in kinds {
            for id in ids {
                if !defined.contains_key(id) {
                    return Err(format!("pipeline `{name}` names {kind} `{id}`, which is not configured"));
                }
                used.insert((kind, id));
            }
        }
    }
    let defined = config.receivers.keys().map(|id| ("receiver", id.as_str()));
    let defined = defined.chain(config.processors.keys().map(|id| ("processor", id.as_str())));
    let defined = defined.chain(config.exporters.keys().map(|id| ("exporter", id.as_str())));
    for component in defined.collect::<Vec<_>>() {
        if !used.contains(&component) {
            return Err(format!("{} `{}` is configured but no pipeline uses it", component.0, component.1));
        }
    }
    Ok(config)
}

fn collector_config(spec: &str) -> Option<String> {
    let compilation = meshc::driver::compile_in(&memory_workspace(spec), Path::new("/ws"));
    assert!(
        compilation.diagnostics.iter().all(|d| d.severity != meshc::diag::Severity::Error),
        "{:?}",
        compilation.diagnostics
    );
    let options = meshc::emit::Options::default().with_backends(["opentelemetry-collector"]).unwrap();
    let built = compilation.build(&options).unwrap();
    built.artifacts.into_iter().find(|a| a.path == "opentelemetry/collector.yaml").map(|a| a.contents)
}

#[test]
fn the_collector_config_has_the_collectors_structure() {
    let shop = meshc::driver::compile(&support::repo_root().join("examples/shop"));
    let options = meshc::emit::Options::default().with_backends(["opentelemetry-collector"]).unwrap();
    let shop = shop.build(&options).unwrap().artifacts.remove(0).contents;
    let config = check_collector_config(&shop).unwrap_or_else(|e| panic!("{e}\n{shop}"));
    assert_eq!(config.exporters.keys().collect::<Vec<_>>(), ["otlp/tempo"]);
    assert_eq!(config.service.pipelines["traces"].receivers, ["otlp"]);

    let http = collector_config(
        r#"
        tracing {
            collector "otel.svc" port=4318 protocol="http"
            exporter "vendor" kind="otlphttp" endpoint="https://otlp.vendor.example"
            exporter "log" kind="debug"
            exporter "tempo" kind="otlp" endpoint="tempo.svc:4317"
        }
        "#,
    )
    .unwrap();
    let config = check_collector_config(&http).unwrap_or_else(|e| panic!("{e}\n{http}"));
    assert_eq!(config.exporters.keys().collect::<Vec<_>>(), ["debug/log", "otlp/tempo", "otlphttp/vendor"]);
    let receiver: OtlpReceiverConfig = serde_yaml_ng::from_value(config.receivers["otlp"].clone()).unwrap();
    assert_eq!(receiver.protocols.http.unwrap().endpoint, "0.0.0.0:4318");
    assert!(receiver.protocols.grpc.is_none());
    // TLS stays on unless `insecure=#true`.
    assert!(!http.contains("insecure"), "{http}");

    // No exporter: the debug exporter keeps the pipeline valid.
    let bare = collector_config("tracing { collector \"otel.svc\" port=4317 }").unwrap();
    let config = check_collector_config(&bare).unwrap_or_else(|e| panic!("{e}\n{bare}"));
    assert_eq!(config.service.pipelines["traces"].exporters, ["debug"]);
    // No tracing, no collector.
    assert_eq!(collector_config("service \"a\" { owner \"t\"; address \"a.svc\" port=80 }"), None);

    // The checker itself refuses what the collector refuses.
    for (broken, why) in [
        (bare.replace("send_batch_size", "batch_size"), "unknown field"),
        (bare.replace("      - debug", "      - otlp/nowhere"), "not configured"),
        (bare.replace("receivers:\n      - otlp", "receivers: []"), "needs a receiver"),
    ] {
        let error = check_collector_config(&broken).expect_err(&broken);
        assert!(error.contains(why), "{error}");
    }
}

// ------------------------------------------------------------------ live ----

/// OTLP's trace messages (opentelemetry-proto `collector/trace/v1` and
/// `trace/v1`), the fields this test reads; prost skips the others.
mod otlp {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ExportTraceServiceRequest {
        #[prost(message, repeated, tag = "1")]
        pub resource_spans: Vec<ResourceSpans>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ResourceSpans {
        #[prost(message, optional, tag = "1")]
        pub resource: Option<Resource>,
        #[prost(message, repeated, tag = "2")]
        pub scope_spans: Vec<ScopeSpans>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Resource {
        #[prost(message, repeated, tag = "1")]
        pub attributes: Vec<KeyValue>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct KeyValue {
        #[prost(string, tag = "1")]
        pub key: String,
        #[prost(message, optional, tag = "2")]
        pub value: Option<AnyValue>,
    }

    /// `AnyValue`'s `oneof value`: its string case.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AnyValue {
        #[prost(string, optional, tag = "1")]
        pub string_value: Option<String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ScopeSpans {
        #[prost(message, repeated, tag = "2")]
        pub spans: Vec<Span>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Span {
        #[prost(bytes = "vec", tag = "1")]
        pub trace_id: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        pub span_id: Vec<u8>,
        #[prost(bytes = "vec", tag = "4")]
        pub parent_span_id: Vec<u8>,
        #[prost(string, tag = "5")]
        pub name: String,
        /// 2: server, 3: client.
        #[prost(int32, tag = "6")]
        pub kind: i32,
    }
}

/// A span as received, with the `service.name` of its resource; ids in hex.
#[derive(Clone, Debug)]
struct ReceivedSpan {
    service: String,
    trace_id: String,
    span_id: String,
    parent: String,
    kind: i32,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An OTLP receiver on a free port, over HTTP (`POST /v1/traces`, answered
/// 200) or gRPC (`TraceService/Export`); it keeps the spans of every
/// `ExportTraceServiceRequest` it decodes (protobuf, as Envoy sends them).
/// Its threads end with the test.
struct OtlpReceiver {
    port: u16,
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    errors: Arc<Mutex<Vec<String>>>,
}

impl OtlpReceiver {
    fn start(protocol: &str) -> OtlpReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let spans = Arc::new(Mutex::new(Vec::new()));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let (s, e) = (Arc::clone(&spans), Arc::clone(&errors));
        if protocol == "grpc" {
            std::thread::spawn(move || serve_grpc(listener, s, e));
            return OtlpReceiver { port, spans, errors };
        }
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (s, e) = (Arc::clone(&s), Arc::clone(&e));
                std::thread::spawn(move || {
                    if let Err(error) = serve(stream, &s) {
                        e.lock().unwrap().push(error);
                    }
                });
            }
        });
        OtlpReceiver { port, spans, errors }
    }

    fn spans(&self) -> Vec<ReceivedSpan> {
        let errors = self.errors.lock().unwrap();
        assert!(errors.is_empty(), "the OTLP receiver failed: {errors:?}");
        self.spans.lock().unwrap().clone()
    }
}

/// Serves HTTP/1.1 requests on one connection until it closes.
fn serve(stream: TcpStream, spans: &Mutex<Vec<ReceivedSpan>>) -> Result<(), String> {
    stream.set_read_timeout(Some(Duration::from_secs(60))).ok();
    let mut reader = BufReader::new(stream.try_clone().map_err(|e| e.to_string())?);
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).map_err(|e| e.to_string())? == 0 {
            return Ok(());
        }
        let mut headers = HashMap::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).map_err(|e| e.to_string())?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let body = match headers.get("content-length") {
            Some(length) => {
                let mut body = vec![0; length.parse().map_err(|e| format!("content-length: {e}"))?];
                reader.read_exact(&mut body).map_err(|e| e.to_string())?;
                body
            }
            None if headers.get("transfer-encoding").is_some_and(|t| t == "chunked") => read_chunked(&mut reader)?,
            None => return Err(format!("{} without a body length: {headers:?}", request_line.trim())),
        };
        if !request_line.starts_with("POST /v1/traces ") {
            return Err(format!("unexpected request: {}", request_line.trim()));
        }
        if headers.get("content-type").map(String::as_str) != Some("application/x-protobuf") {
            return Err(format!("unexpected content type: {:?}", headers.get("content-type")));
        }
        record(&body, spans)?;
        let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
        writer.write_all(answer.as_bytes()).map_err(|e| e.to_string())?;
    }
}

/// Decodes an `ExportTraceServiceRequest` and keeps its spans.
fn record(body: &[u8], spans: &Mutex<Vec<ReceivedSpan>>) -> Result<(), String> {
    use prost::Message;
    let request = otlp::ExportTraceServiceRequest::decode(body).map_err(|e| e.to_string())?;
    let mut received = Vec::new();
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|a| a.key == "service.name")
            .and_then(|a| a.value.as_ref()?.string_value.clone())
            .unwrap_or_default();
        for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
            received.push(ReceivedSpan {
                service: service.clone(),
                trace_id: hex(&span.trace_id),
                span_id: hex(&span.span_id),
                parent: hex(&span.parent_span_id),
                kind: span.kind,
            });
        }
    }
    spans.lock().unwrap().extend(received);
    Ok(())
}

/// OTLP over gRPC: `/opentelemetry.proto.collector.trace.v1.TraceService/Export`
/// on HTTP/2, each message a length-prefixed protobuf (uncompressed), the
/// answer an empty `ExportTraceServiceResponse` and `grpc-status: 0`.
fn serve_grpc(listener: TcpListener, spans: Arc<Mutex<Vec<ReceivedSpan>>>, errors: Arc<Mutex<Vec<String>>>) {
    listener.set_nonblocking(true).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        loop {
            let Ok((socket, _)) = listener.accept().await else { continue };
            let (spans, errors) = (Arc::clone(&spans), Arc::clone(&errors));
            tokio::spawn(async move {
                if let Err(e) = grpc_connection(socket, &spans).await {
                    errors.lock().unwrap().push(e);
                }
            });
        }
    });
}

async fn grpc_connection(socket: tokio::net::TcpStream, spans: &Mutex<Vec<ReceivedSpan>>) -> Result<(), String> {
    let mut connection = h2::server::handshake(socket).await.map_err(|e| e.to_string())?;
    while let Some(request) = connection.accept().await {
        let (request, mut respond) = request.map_err(|e| e.to_string())?;
        let path = request.uri().path().to_string();
        if path != "/opentelemetry.proto.collector.trace.v1.TraceService/Export" {
            return Err(format!("unexpected gRPC method {path}"));
        }
        let mut body = request.into_body();
        let mut message = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.map_err(|e| e.to_string())?;
            let _ = body.flow_control().release_capacity(chunk.len());
            message.extend_from_slice(&chunk);
        }
        // gRPC framing: a compressed flag (0) and a 4-byte big-endian length.
        let (prefix, payload) = message.split_at_checked(5).ok_or("a gRPC message without its prefix")?;
        let length = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
        if prefix[0] != 0 || payload.len() != length {
            return Err(format!("unexpected gRPC framing: {prefix:?}, {} bytes", payload.len()));
        }
        record(payload, spans)?;
        let response = http::Response::builder()
            .status(200)
            .header("content-type", "application/grpc")
            .body(())
            .map_err(|e| e.to_string())?;
        let mut stream = respond.send_response(response, false).map_err(|e| e.to_string())?;
        stream.send_data(bytes::Bytes::from_static(&[0, 0, 0, 0, 0]), false).map_err(|e| e.to_string())?;
        let mut trailers = http::HeaderMap::new();
        trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
        stream.send_trailers(trailers).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// A chunked body (RFC 9112, 7.1), without trailers.
fn read_chunked(reader: &mut impl BufRead) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size).map_err(|e| e.to_string())?;
        let size = size.trim_end().split(';').next().unwrap_or_default();
        let size = usize::from_str_radix(size, 16).map_err(|e| format!("chunk size `{size}`: {e}"))?;
        let mut chunk = vec![0; size + 2];
        if size == 0 {
            reader.read_exact(&mut chunk).map_err(|e| e.to_string())?;
            return Ok(body);
        }
        reader.read_exact(&mut chunk).map_err(|e| e.to_string())?;
        body.extend_from_slice(&chunk[..size]);
    }
}

/// The gateway routes to `front`, whose app calls `back` through its
/// sidecar, forwarding the `traceparent` it received; every proxy reports
/// to the receiver over OTLP/HTTP and samples every request.
fn live_spec(otlp: u16, protocol: &str, gateway: u16, front: (u16, u16, u16), back: (u16, u16)) -> String {
    format!(
        r#"
mesh "traced"
tracing {{
    sampling "100%"
    collector "127.0.0.1" port={otlp} protocol="{protocol}"
}}
gateway "edge" {{
    listener "http" port={gateway}
    tracing service-name="edge-gateway"
    route "front" {{ match path-prefix="/"; to "front"; timeout "5s" }}
}}
service "front" {{
    owner "t"
    address "front.internal" port={front_app}
    // Callers reach front's sidecar, which hands requests to the app.
    endpoints {{ endpoint "127.0.0.1" port={front_inbound} }}
    sidecar inbound-port={front_inbound} outbound-port={front_outbound}
    tracing service-name="front-api"
    calls "back" timeout="3s"
    traffic {{ outlier-detection consecutive-5xx=100 }}
}}
service "back" {{
    owner "t"
    address "back.internal" port={back_app}
    endpoints {{ endpoint "127.0.0.1" port={back_inbound} }}
    sidecar inbound-port={back_inbound} outbound-port={back_outbound}
    traffic {{ outlier-detection consecutive-5xx=100 }}
}}
"#,
        front_app = front.0,
        front_inbound = front.1,
        front_outbound = front.2,
        back_app = back.0,
        back_inbound = back.1,
        back_outbound = free_port(),
    )
}

fn meshc_build(ws: &Path, out: &Path) {
    let output = Command::new(env!("CARGO_BIN_EXE_meshc"))
        .args(["build", ws.to_str().unwrap(), "-o", out.to_str().unwrap()])
        .output()
        .expect("meshc runs");
    assert!(output.status.success(), "meshc build: {}", String::from_utf8_lossy(&output.stderr));
}

/// The JSON access log lines of an Envoy's stdout.
fn access_log_lines(envoy: &EnvoyProcess) -> Vec<serde_json::Value> {
    envoy.log().lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).collect()
}

#[test]
fn a_request_through_gateway_and_two_sidecars_is_one_trace() {
    one_trace_through_gateway_and_two_sidecars("http");
}

#[test]
fn a_request_through_gateway_and_two_sidecars_is_one_trace_over_otlp_grpc() {
    one_trace_through_gateway_and_two_sidecars("grpc");
}

/// The live test, with the proxies sending spans over OTLP `protocol`.
fn one_trace_through_gateway_and_two_sidecars(protocol: &str) {
    let receiver = OtlpReceiver::start(protocol);
    let front_outbound = free_port();
    let back_app = Upstream::start("back-app");
    // front's app: calls back through its sidecar, forwarding the trace
    // context of the request it serves (as an OpenTelemetry SDK does).
    let front_app = Upstream::start_responding("front-app", move |request| {
        let traceparent = request.header("traceparent").unwrap_or_default().to_string();
        let answer = http_request(front_outbound, "GET", "/stock", &[("host", "back"), ("traceparent", &traceparent)]);
        (answer.status, "text/plain", format!("back said {}", answer.status))
    });
    let (gateway_port, front_inbound, back_inbound) = (free_port(), free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    let spec = live_spec(
        receiver.port,
        protocol,
        gateway_port,
        (front_app.port(), front_inbound, front_outbound),
        (back_app.port(), back_inbound),
    );
    write_files(&dir.path().join("ws"), &[("mesh.kdl", &spec)]);
    let out = dir.path().join("out");
    meshc_build(&dir.path().join("ws"), &out);
    let start = |file: &str, port: u16| {
        let path = out.join("envoy").join(file);
        envoy_validate(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
        let envoy = EnvoyProcess::start(&path);
        envoy.wait_ready(port);
        envoy
    };
    let back = start("sidecar-back.yaml", back_inbound);
    let front = start("sidecar-front.yaml", front_inbound);
    let gateway = start("gateway-edge.yaml", gateway_port);
    front.wait_ready(front_outbound);

    let response = http_request(gateway_port, "GET", "/orders", &[]);
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.body, "back said 200");
    assert_eq!(back_app.hits(), 1);

    // Envoy exports spans in batches (every 5 s by default): wait for the four.
    let deadline = Instant::now() + Duration::from_secs(30);
    let spans = loop {
        let spans = receiver.spans();
        if spans.len() >= 4 || Instant::now() > deadline {
            break spans;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let by_service = |service: &str, kind: i32| -> ReceivedSpan {
        let found: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.service == service && s.kind == kind).collect();
        assert_eq!(found.len(), 1, "one {service} span of kind {kind} expected among {spans:#?}");
        found[0].clone()
    };
    const SERVER: i32 = 2;
    const CLIENT: i32 = 3;
    let edge = by_service("edge-gateway", SERVER);
    let front_in = by_service("front-api", SERVER);
    let front_out = by_service("front-api", CLIENT);
    let back_in = by_service("back", SERVER);
    assert_eq!(spans.len(), 4, "{spans:#?}");

    // One trace, started at the gateway.
    assert_eq!(edge.trace_id.len(), 32);
    assert_ne!(edge.trace_id, "0".repeat(32));
    let traces: BTreeSet<&str> = spans.iter().map(|s| s.trace_id.as_str()).collect();
    assert_eq!(traces, BTreeSet::from([edge.trace_id.as_str()]), "{spans:#?}");
    // Each span's parent is the one before it on the path.
    assert_eq!(edge.parent, "", "the gateway's span is the root");
    assert_eq!(front_in.parent, edge.span_id);
    assert_eq!(front_out.parent, front_in.span_id);
    assert_eq!(back_in.parent, front_out.span_id);
    let ids: BTreeSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    assert_eq!(ids.len(), 4, "span ids are distinct: {spans:#?}");

    // Every proxy's access log line for the request carries the trace id.
    for (name, envoy) in [("gateway", &gateway), ("front", &front), ("back", &back)] {
        let lines = access_log_lines(envoy);
        let traced: Vec<_> = lines.iter().filter(|l| l["trace_id"] == edge.trace_id.as_str()).collect();
        assert!(!traced.is_empty(), "{name}'s access log has no line with trace id {}: {lines:#?}", edge.trace_id);
    }
    let gateway_line = &access_log_lines(&gateway)[0];
    assert_eq!(gateway_line["path"], "/orders");
    assert_eq!(gateway_line["status"], 200);
}

// --------------------------------------------------------------- emitted ----

/// The mesh with `tracing` built by every backend, as (artifacts by path, warnings).
fn built(spec: &str) -> (BTreeMap<String, String>, Vec<meshc::diag::Diagnostic>) {
    let compilation = meshc::driver::compile_in(&memory_workspace(spec), Path::new("/ws"));
    assert!(
        compilation.diagnostics.iter().all(|d| d.severity != meshc::diag::Severity::Error),
        "{:?}",
        compilation.diagnostics
    );
    let built = compilation.build(&meshc::emit::Options::default()).unwrap();
    (built.artifacts.into_iter().map(|a| (a.path, a.contents)).collect(), built.warnings)
}

fn yaml(text: &str) -> serde_json::Value {
    serde_yaml_ng::from_str(text).unwrap()
}

/// The typed config of the first connection manager of `listener` in a bootstrap.
fn hcm<'a>(bootstrap: &'a serde_json::Value, listener: &str) -> &'a serde_json::Value {
    let listeners = bootstrap["static_resources"]["listeners"].as_array().unwrap();
    let listener = listeners.iter().find(|l| l["name"] == listener).unwrap_or_else(|| panic!("no listener {listener}"));
    &listener["filter_chains"][0]["filters"][0]["typed_config"]
}

const TRACED: &str = r#"
tracing {
    sampling "12.5%"
    propagation "tracecontext" "b3"
    collector "otel.observability.svc" port=4317
}
gateway "edge" {
    listener "http" port=8080
    tracing sampling="1%"
    route "web" { match path-prefix="/"; to "web" }
}
service "web" { owner "t"; address "web.svc" port=80
    tracing service-name="web-frontend"
    calls "api" timeout="1s"
    traffic { outlier-detection }
}
service "api" { owner "t"; address "api.svc" port=80
    tracing sampling="50%"
    traffic { outlier-detection }
}
"#;

#[test]
fn every_proxy_gets_the_tracer_at_its_rate_under_its_name_and_envoy_accepts_it() {
    let (artifacts, warnings) = built(TRACED);
    let dir = tempfile::tempdir().unwrap();
    let mut validated = 0;
    for (path, contents) in artifacts.iter().filter(|(p, _)| p.starts_with("envoy/")) {
        let file = dir.path().join(path.replace('/', "_"));
        std::fs::write(&file, contents).unwrap();
        envoy_validate(&file).unwrap_or_else(|e| panic!("{path} is rejected by Envoy:\n{e}"));
        validated += 1;
    }
    assert_eq!(validated, 3, "the gateway and two sidecars");

    let tracer = |path: &str, listener: &str| hcm(&yaml(&artifacts[path]), listener)["tracing"].clone();
    let expect = |path: &str, listener: &str, name: &str, percent: f64| {
        let t = tracer(path, listener);
        assert_eq!(t["provider"]["name"], "envoy.tracers.opentelemetry", "{path} {listener}: {t}");
        let config = &t["provider"]["typed_config"];
        assert_eq!(config["service_name"], name, "{path} {listener}");
        assert_eq!(config["grpc_service"]["envoy_grpc"]["cluster_name"], "opentelemetry_collector");
        assert_eq!(t["random_sampling"]["value"], percent, "{path} {listener}");
    };
    expect("envoy/gateway-edge.yaml", "http", "edge", 1.0);
    expect("envoy/sidecar-web.yaml", "inbound", "web-frontend", 12.5);
    expect("envoy/sidecar-web.yaml", "outbound", "web-frontend", 12.5);
    expect("envoy/sidecar-api.yaml", "inbound", "api", 50.0);
    // The collector's cluster speaks HTTP/2 (OTLP over gRPC).
    let web = yaml(&artifacts["envoy/sidecar-web.yaml"]);
    let clusters = web["static_resources"]["clusters"].as_array().unwrap();
    let collector = clusters.iter().find(|c| c["name"] == "opentelemetry_collector").unwrap();
    assert!(collector.to_string().contains("http2_protocol_options"), "{collector}");
    assert_eq!(
        hcm(&web, "inbound")["access_log"][0]["typed_config"]["log_format"]["json_format"]["trace_id"],
        "%TRACE_ID%"
    );

    // B3 is what Envoy and Istio cannot say; the Istio provider and names too.
    let unexpressed: BTreeSet<String> = warnings
        .iter()
        .filter(|d| d.code == meshc::diag::Code::BackendCannotExpress)
        .map(|d| d.message.clone())
        .collect();
    for expected in [
        "the envoy-gateway backend cannot express B3 propagation",
        "the envoy-sidecar backend cannot express B3 propagation",
        "the istio backend cannot express B3 propagation",
        "the istio backend cannot express the collector",
        "the istio backend cannot express this span service name",
        "the istio backend cannot express this gateway sampling rate",
    ] {
        assert!(unexpressed.contains(expected), "missing `{expected}` among {unexpressed:#?}");
    }

    // Istio: the mesh's rate, and api's own in a Telemetry of its own.
    let telemetry = support::istio_crds::yaml_documents(&artifacts["istio/mesh-tracing.yaml"]);
    for resource in &telemetry {
        support::istio_crds::validate(resource).unwrap_or_else(|e| panic!("{resource}: {e:?}"));
    }
    let rates: Vec<(String, f64)> = telemetry
        .iter()
        .map(|t| {
            (
                t["metadata"]["name"].as_str().unwrap().to_string(),
                t["spec"]["tracing"][0]["randomSamplingPercentage"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(rates, [("mesh-tracing".to_string(), 12.5), ("api-tracing".to_string(), 50.0)]);
    assert_eq!(telemetry[1]["spec"]["selector"]["matchLabels"]["app"], "api");
}

#[test]
fn without_tracing_no_proxy_traces_and_no_log_line_is_added() {
    let untraced = TRACED
        .replace("tracing sampling=\"1%\"\n", "")
        .replace("tracing service-name=\"web-frontend\"\n", "")
        .replace("tracing sampling=\"50%\"\n", "");
    let untraced = &untraced[untraced.find("gateway").unwrap()..];
    let (artifacts, warnings) = built(untraced);
    for (path, contents) in artifacts.iter().filter(|(p, _)| p.starts_with("envoy/")) {
        assert!(!contents.contains("tracing") && !contents.contains("TRACE_ID"), "{path}:\n{contents}");
        assert!(!contents.contains("opentelemetry") && !contents.contains("traffic_direction"), "{path}");
    }
    assert!(!artifacts.contains_key("opentelemetry/collector.yaml"));
    assert!(!artifacts.contains_key("istio/mesh-tracing.yaml"));
    assert!(warnings.iter().all(|d| !d.message.contains("B3")));
}
