//! Distributed tracing: the mesh's `tracing` block (how many requests are
//! sampled, which headers carry the trace context, where the proxies send
//! their spans, and where the collector sends them on), and what a service
//! or gateway says for itself (the name its spans carry, its own sampling
//! rate, whether its application forwards the trace context).

use crate::base::{Span, Spanned};
use crate::model::values::{Host, Port};

/// The mesh's `tracing` block.
#[derive(Debug)]
pub struct Tracing {
    /// The share of requests a proxy that starts a trace samples (the
    /// gateway, or a service called from outside any trace).
    pub sampling: Spanned<Sampling>,
    /// The headers the proxies read and write.
    pub propagation: Spanned<Propagation>,
    /// Where every proxy sends its spans (OTLP).
    pub collector: Collector,
    /// Where the collector sends them on, in the spec's order (names unique).
    pub exporters: Vec<Exporter>,
    pub span: Span,
}

/// A sampling rate: a percentage with up to three decimals, kept in
/// thousandths of a percent (`"0.5%"` is 500) so the model holds no float.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Sampling(u32);

impl Sampling {
    pub const ALL: Sampling = Sampling(100_000);

    /// `"10%"`, `"0.5%"`, `"100%"`: from 0 % to 100 %, at most three decimals.
    pub fn parse(text: &str) -> Result<Sampling, String> {
        let bad = || {
            format!(
                "`{text}` is not a sampling rate; write a percentage from \"0%\" to \"100%\", like \"10%\" or \"0.5%\""
            )
        };
        let digits = text.strip_suffix('%').ok_or_else(bad)?;
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let valid = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || whole.len() > 3 || !valid(whole) || !valid(fraction) || fraction.len() > 3 {
            return Err(bad());
        }
        if digits.ends_with('.') {
            return Err(bad());
        }
        let whole: u32 = whole.parse().map_err(|_| bad())?;
        let mut thousandths = 0;
        for (i, b) in fraction.bytes().enumerate() {
            thousandths += u32::from(b - b'0') * [100, 10, 1][i];
        }
        let value = whole * 1000 + thousandths;
        if value > Sampling::ALL.0 {
            return Err(bad());
        }
        Ok(Sampling(value))
    }

    /// The percentage (`10.0` for 10 %), as Envoy and Istio take it.
    pub fn percent(self) -> f64 {
        f64::from(self.0) / 1000.0
    }

    pub fn thousandths(self) -> u32 {
        self.0
    }
}

impl std::fmt::Display for Sampling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (whole, fraction) = (self.0 / 1000, self.0 % 1000);
        if fraction == 0 {
            write!(f, "{whole}%")
        } else {
            let digits = format!("{fraction:03}");
            write!(f, "{whole}.{}%", digits.trim_end_matches('0'))
        }
    }
}

/// The trace context formats the proxies read and write: at least one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Propagation {
    /// W3C Trace Context: `traceparent` and `tracestate`.
    pub tracecontext: bool,
    /// Zipkin's B3 (`b3`, `x-b3-traceid`, ...).
    pub b3: bool,
}

impl Default for Propagation {
    fn default() -> Self {
        Propagation { tracecontext: true, b3: false }
    }
}

/// Where the proxies send their spans: an OpenTelemetry collector (OTLP).
#[derive(Debug)]
pub struct Collector {
    pub host: Host,
    pub port: Port,
    pub protocol: OtlpProtocol,
    /// The `collector` node.
    pub span: Span,
}

/// How OTLP travels: gRPC (`4317` by convention) or HTTP with protobuf
/// bodies (`4318`, path `/v1/traces`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtlpProtocol {
    Grpc,
    Http,
}

impl OtlpProtocol {
    pub fn parse(text: &str) -> Result<OtlpProtocol, String> {
        match text {
            "grpc" => Ok(OtlpProtocol::Grpc),
            "http" => Ok(OtlpProtocol::Http),
            _ => Err(format!("`{text}` is not an OTLP protocol; write \"grpc\" or \"http\"")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OtlpProtocol::Grpc => "grpc",
            OtlpProtocol::Http => "http",
        }
    }
}

/// Where the collector sends spans on.
#[derive(Debug)]
pub struct Exporter {
    pub name: Spanned<String>,
    pub kind: ExporterKind,
    pub span: Span,
}

#[derive(Debug)]
pub enum ExporterKind {
    /// OTLP over gRPC to `endpoint` (`host:port`), TLS unless `insecure`.
    Otlp { endpoint: Spanned<String>, insecure: bool },
    /// OTLP over HTTP to `endpoint` (a URL; `/v1/traces` is appended).
    OtlpHttp { endpoint: Spanned<String> },
    /// The collector's own log (for trying a mesh out).
    Debug,
}

impl ExporterKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            ExporterKind::Otlp { .. } => "otlp",
            ExporterKind::OtlpHttp { .. } => "otlphttp",
            ExporterKind::Debug => "debug",
        }
    }
}

/// What a service or gateway says about its own tracing (`tracing ...`).
#[derive(Debug, Default)]
pub struct OwnTracing {
    /// The `service.name` its proxy's spans carry; else its own name.
    pub service_name: Option<Spanned<String>>,
    /// Its own sampling rate for the traces its proxy starts.
    pub sampling: Option<Spanned<Sampling>>,
    /// Whether its application copies the trace context of a request it
    /// serves onto the calls it makes for it; `None`: said nowhere.
    pub propagates: Option<Spanned<bool>>,
    /// The `tracing` node.
    pub span: Option<Span>,
}
