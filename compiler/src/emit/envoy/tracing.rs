//! What the gateway and the sidecars emit for the mesh's `tracing` block:
//! the OpenTelemetry tracer on each HTTP connection manager (its spans sent
//! over OTLP to the collector, a cluster of the bootstrap), and an access
//! log line per request carrying the trace id, so a log line leads to its
//! trace and back.

use std::collections::BTreeMap;

use super::api::{
    AccessLog, Any, Cluster, EnvoyGrpc, GrpcService, HttpService, JsonLogFormat, OpenTelemetryConfig, Percent,
    ProtocolOptions, StdoutAccessLog, Tracing, TracingHttpUri, TracingProvider,
};
use crate::emit::Unexpressed;
use crate::model::tracing::{OtlpProtocol, Sampling};
use crate::model::Model;

/// The cluster every traced bootstrap sends its spans to.
pub const COLLECTOR_CLUSTER: &str = "opentelemetry_collector";

/// The connection manager's tracer for a proxy whose spans carry
/// `service_name`, starting traces at `sampling`; `None` without a mesh
/// `tracing` block.
pub fn tracer<'a>(model: &'a Model, service_name: &'a str, sampling: Sampling) -> Option<Tracing<'a>> {
    let collector = &model.tracing.as_ref()?.collector;
    let (grpc_service, http_service) = match collector.protocol {
        OtlpProtocol::Grpc => (
            Some(GrpcService { envoy_grpc: EnvoyGrpc { cluster_name: COLLECTOR_CLUSTER.into() }, timeout: "1s" }),
            None,
        ),
        OtlpProtocol::Http => {
            let uri = format!("http://{}:{}/v1/traces", collector.host, collector.port);
            (
                None,
                Some(HttpService {
                    http_uri: TracingHttpUri { cluster: COLLECTOR_CLUSTER.into(), timeout: "1s", uri },
                }),
            )
        }
    };
    let config = OpenTelemetryConfig { grpc_service, http_service, service_name: service_name.into() };
    Some(Tracing {
        provider: TracingProvider {
            name: "envoy.tracers.opentelemetry",
            typed_config: Any::OpenTelemetryConfig(config),
        },
        random_sampling: Percent { value: sampling.percent() },
    })
}

/// The collector's cluster (HTTP/2 for OTLP over gRPC); `None` without tracing.
pub fn collector_cluster(model: &Model) -> Option<(String, Cluster<'_>)> {
    let collector = &model.tracing.as_ref()?.collector;
    let mut cluster = Cluster::single_host(COLLECTOR_CLUSTER, collector.host.as_str(), collector.port.get());
    if collector.protocol == OtlpProtocol::Grpc {
        cluster.typed_extension_protocol_options = Some(ProtocolOptions::http2());
    }
    Some((COLLECTOR_CLUSTER.to_string(), cluster))
}

/// One JSON line per request on stdout with its trace id (`%TRACE_ID%`,
/// empty when the request is not traced) beside what an operator looks a
/// request up by. Empty without tracing.
pub fn access_logs(model: &Model) -> Vec<AccessLog<'static>> {
    if model.tracing.is_none() {
        return Vec::new();
    }
    let json_format: BTreeMap<String, String> = [
        ("authority", "%REQ(:AUTHORITY)%"),
        ("duration_ms", "%DURATION%"),
        ("method", "%REQ(:METHOD)%"),
        ("path", "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%"),
        ("request_id", "%REQ(X-REQUEST-ID)%"),
        ("response_flags", "%RESPONSE_FLAGS%"),
        ("start_time", "%START_TIME%"),
        ("status", "%RESPONSE_CODE%"),
        ("trace_id", "%TRACE_ID%"),
        ("upstream_cluster", "%UPSTREAM_CLUSTER%"),
    ]
    .into_iter()
    .map(|(key, operator)| (key.to_string(), operator.to_string()))
    .collect();
    vec![AccessLog {
        name: "envoy.access_loggers.stdout",
        typed_config: Any::StdoutAccessLog(StdoutAccessLog { log_format: JsonLogFormat { json_format } }),
    }]
}

/// B3 propagation, which Envoy's OpenTelemetry tracer cannot speak, as a
/// MESH0073 warning for `artifacts`.
pub fn unexpressed(model: &Model, artifacts: &str, unexpressed: &mut Vec<Unexpressed>) {
    let Some(tracing) = &model.tracing else { return };
    if tracing.propagation.value.b3 {
        unexpressed.push(Unexpressed::new(
            tracing.propagation.span,
            "B3 propagation",
            format!("{artifacts} read and write W3C `traceparent` only"),
            "Envoy 1.40's OpenTelemetry tracer has no B3 propagator: a caller that sends only `b3` headers starts a new trace at the proxy. Have callers send W3C Trace Context (OpenTelemetry SDKs can send both: OTEL_PROPAGATORS=tracecontext,b3)",
        ));
    }
}
