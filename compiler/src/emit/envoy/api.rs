//! The Envoy v3 messages meshc writes, as typed structs that serialize
//! straight into the artifact (no `serde_json::Value` tree in between):
//! a document is built once, borrowing the model's strings where it can
//! ([`Str`]), and written by serde in one pass.
//!
//! **Field order is the key order.** serde writes a struct's fields in
//! declaration order, and the artifacts list keys sorted (as the
//! `serde_json::Value` maps they were first built from did, and the golden
//! snapshots pin), so every struct declares its fields in byte order of
//! their names (`@type` first). Optional fields are left out when unset
//! (`skip_serializing_if`), as Envoy's JSON mapping does.
//!
//! A typed extension config (`typed_config`, a `google.protobuf.Any`) is
//! [`Any`]: one variant per message, tagged with its `@type` URL. A message
//! not typed here yet (the gateway's end-user security) is carried as
//! [`Any::Json`], a `serde_json::Value` written as it is.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;

/// A string of the document: borrowed from the model, or built for it.
pub type Str<'a> = Cow<'a, str>;

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_empty(s: &Str) -> bool {
    s.is_empty()
}

/// An empty message (`{}`): a flag that a protocol or check is on.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Empty {}

/// `envoy.config.bootstrap.v3.Bootstrap`: static listeners and clusters
/// (a listener is `L`: typed, or a JSON value where it is not typed yet).
/// `envoy/xds.rs` writes it as is, or splits it into a bootstrap reading
/// them from watched files.
#[derive(Serialize)]
pub struct Bootstrap<'a, L = Listener<'a>> {
    /// The admin endpoint (`monitoring`), on 127.0.0.1 only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin: Option<Admin<'a>>,
    pub node: Node<'a>,
    pub static_resources: StaticResources<'a, L>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats_config: Option<StatsConfig<'a>>,
}

/// `envoy.config.bootstrap.v3.Admin`.
#[derive(Clone, Serialize)]
pub struct Admin<'a> {
    pub address: Address<'a>,
}

/// `envoy.config.metrics.v3.StatsConfig`: the request-time histograms'
/// buckets (Envoy's defaults and the spec's latency thresholds, so each
/// threshold is a bucket bound Prometheus can select with `le`), and the
/// tags of the gRPC status counters (Envoy's default tags stay on).
#[derive(Clone, Serialize)]
pub struct StatsConfig<'a> {
    pub histogram_bucket_settings: Vec<HistogramBucketSettings<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stats_tags: Vec<TagSpecifier>,
}

/// `envoy.config.metrics.v3.TagSpecifier`: the regex's first group is cut
/// from the stat's name, its second is the tag's value.
#[derive(Clone, Serialize)]
pub struct TagSpecifier {
    pub regex: String,
    pub tag_name: &'static str,
}

/// `envoy.extensions.filters.http.grpc_stats.v3.FilterConfig`: gRPC
/// responses counted by status per allowlisted method (others together).
#[derive(Clone, Serialize)]
pub struct GrpcStats<'a> {
    pub individual_method_stats_allowlist: GrpcMethodList<'a>,
}

/// `envoy.config.core.v3.GrpcMethodList`.
#[derive(Clone, Serialize)]
pub struct GrpcMethodList<'a> {
    pub services: Vec<GrpcMethods<'a>>,
}

#[derive(Clone, Serialize)]
pub struct GrpcMethods<'a> {
    pub method_names: Vec<Str<'a>>,
    pub name: Str<'a>,
}

#[derive(Clone, Serialize)]
pub struct HistogramBucketSettings<'a> {
    pub buckets: Vec<f64>,
    #[serde(rename = "match")]
    pub matcher: StringMatcher<'a>,
}

#[derive(Serialize)]
pub struct Node<'a> {
    pub cluster: Str<'a>,
    pub id: String,
}

#[derive(Serialize)]
pub struct StaticResources<'a, L = Listener<'a>> {
    pub clusters: Vec<Cluster<'a>>,
    pub listeners: Vec<L>,
}

// ------------------------------------------------------------ listeners ----

#[derive(Clone, Serialize)]
pub struct Listener<'a> {
    pub address: Address<'a>,
    pub filter_chains: Vec<FilterChain<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub listener_filters: Vec<Filter<'a>>,
    pub name: Str<'a>,
    /// `INBOUND` or `OUTBOUND`: set on traced sidecars, where it makes the
    /// connection manager's spans server or client spans.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic_direction: Option<&'static str>,
}

#[derive(Clone, Serialize)]
pub struct Address<'a> {
    pub socket_address: SocketAddress<'a>,
}

#[derive(Clone, Serialize)]
pub struct SocketAddress<'a> {
    pub address: Str<'a>,
    pub port_value: u16,
}

impl<'a> Address<'a> {
    pub fn socket(address: impl Into<Str<'a>>, port: u16) -> Self {
        Address { socket_address: SocketAddress { address: address.into(), port_value: port } }
    }
}

#[derive(Clone, Serialize)]
pub struct FilterChain<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_chain_match: Option<FilterChainMatch>,
    pub filters: Vec<Filter<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport_socket: Option<TransportSocket<'a>>,
}

#[derive(Clone, Serialize)]
pub struct FilterChainMatch {
    pub transport_protocol: &'static str,
}

/// A listener, network or HTTP filter: its name and config.
#[derive(Clone, Serialize)]
pub struct Filter<'a> {
    #[serde(skip_serializing_if = "is_false")]
    pub disabled: bool,
    pub name: Str<'a>,
    pub typed_config: Any<'a>,
}

impl<'a> Filter<'a> {
    pub fn new(name: impl Into<Str<'a>>, typed_config: Any<'a>) -> Self {
        Filter { disabled: false, name: name.into(), typed_config }
    }
}

#[derive(Clone, Serialize)]
pub struct TransportSocket<'a> {
    pub name: &'static str,
    pub typed_config: Any<'a>,
}

/// A `google.protobuf.Any` extension config, tagged with its type URL.
#[derive(Clone, Serialize)]
#[serde(tag = "@type")]
pub enum Any<'a> {
    #[serde(
        rename = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
    )]
    HttpConnectionManager(Box<HttpConnectionManager<'a>>),
    #[serde(rename = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router")]
    Router(Empty),
    #[serde(rename = "type.googleapis.com/envoy.extensions.filters.http.grpc_stats.v3.FilterConfig")]
    GrpcStats(GrpcStats<'a>),
    #[serde(rename = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy")]
    TcpProxy(TcpProxy<'a>),
    #[serde(rename = "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector")]
    TlsInspector(Empty),
    #[serde(rename = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC")]
    HttpRbac(Rbac<'a>),
    #[serde(rename = "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC")]
    NetworkRbac(NetworkRbac<'a>),
    #[serde(rename = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext")]
    DownstreamTlsContext(DownstreamTlsContext<'a>),
    #[serde(rename = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext")]
    UpstreamTlsContext(UpstreamTlsContext<'a>),
    #[serde(rename = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions")]
    HttpProtocolOptions(HttpProtocolOptions<'a>),
    #[serde(rename = "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig")]
    OpenTelemetryConfig(OpenTelemetryConfig<'a>),
    #[serde(rename = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog")]
    StdoutAccessLog(StdoutAccessLog),
    #[serde(rename = "type.googleapis.com/envoy.extensions.filters.http.custom_response.v3.CustomResponse")]
    CustomResponse(CustomResponse<'a>),
    #[serde(rename = "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation")]
    HeaderMutation(HeaderMutation<'a>),
    #[serde(rename = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit")]
    LocalRateLimit(Box<LocalRateLimit<'a>>),
    /// A message not typed here yet, with its `@type`.
    #[serde(untagged)]
    Json(serde_json::Value),
}

// ------------------------------------------------- per-caller limits ----

/// `envoy.filters.http.header_mutation`: request headers set (with
/// command operators such as `%DOWNSTREAM_PEER_URI_SAN%`) before later filters run.
#[derive(Clone, Serialize)]
pub struct HeaderMutation<'a> {
    pub mutations: HeaderMutations<'a>,
}

#[derive(Clone, Serialize)]
pub struct HeaderMutations<'a> {
    pub request_mutations: Vec<RequestMutation<'a>>,
}

/// One mutation: `oneof { remove; append }`, here always `append`.
#[derive(Clone, Serialize)]
pub struct RequestMutation<'a> {
    pub append: HeaderValueOption<'a>,
}

/// `envoy.filters.http.local_ratelimit`: token buckets counted by this
/// proxy, one per distinct descriptor value (`value: ""`) up to
/// `max_dynamic_descriptors`, the default bucket for requests without one.
#[derive(Clone, Serialize)]
pub struct LocalRateLimit<'a> {
    pub always_consume_default_token_bucket: bool,
    pub descriptors: Vec<LocalRateLimitDescriptor<'a>>,
    pub enable_x_ratelimit_headers: &'static str,
    pub filter_enabled: RuntimeFraction,
    pub filter_enforced: RuntimeFraction,
    pub max_dynamic_descriptors: u32,
    pub rate_limits: Vec<RateLimitActions<'a>>,
    /// Added to the 429 the filter answers.
    pub response_headers_to_add: Vec<HeaderValueOption<'a>>,
    pub stat_prefix: String,
    pub token_bucket: TokenBucket,
}

#[derive(Clone, Serialize)]
pub struct TokenBucket {
    pub fill_interval: String,
    pub max_tokens: u32,
    pub tokens_per_fill: u32,
}

#[derive(Clone, Serialize)]
pub struct LocalRateLimitDescriptor<'a> {
    pub entries: Vec<DescriptorEntry<'a>>,
    pub token_bucket: TokenBucket,
}

#[derive(Clone, Serialize)]
pub struct DescriptorEntry<'a> {
    pub key: Str<'a>,
    pub value: Str<'a>,
}

#[derive(Clone, Serialize)]
pub struct RateLimitActions<'a> {
    pub actions: Vec<RateLimitAction<'a>>,
}

/// An action making a descriptor entry from a request header.
#[derive(Clone, Serialize)]
pub struct RateLimitAction<'a> {
    pub request_headers: RequestHeadersAction<'a>,
}

#[derive(Clone, Serialize)]
pub struct RequestHeadersAction<'a> {
    pub descriptor_key: Str<'a>,
    pub header_name: Str<'a>,
}

// -------------------------------------------- tracing and access logs ----

/// The connection manager's `tracing`: a span per request, sampled at
/// `random_sampling` percent when the request carries no decision yet.
#[derive(Clone, Serialize)]
pub struct Tracing<'a> {
    pub provider: TracingProvider<'a>,
    pub random_sampling: Percent,
}

#[derive(Clone, Serialize)]
pub struct TracingProvider<'a> {
    /// `envoy.tracers.opentelemetry`.
    pub name: &'static str,
    pub typed_config: Any<'a>,
}

/// `envoy.config.trace.v3.OpenTelemetryConfig`: OTLP to a collector over
/// gRPC or HTTP (one of the two), spans named after `service_name`.
/// Envoy 1.40 reads and writes W3C `traceparent`/`tracestate` only.
#[derive(Clone, Serialize)]
pub struct OpenTelemetryConfig<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc_service: Option<GrpcService<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_service: Option<HttpService<'a>>,
    pub service_name: Str<'a>,
}

#[derive(Clone, Serialize)]
pub struct GrpcService<'a> {
    pub envoy_grpc: EnvoyGrpc<'a>,
    pub timeout: &'static str,
}

#[derive(Clone, Serialize)]
pub struct EnvoyGrpc<'a> {
    pub cluster_name: Str<'a>,
}

#[derive(Clone, Serialize)]
pub struct HttpService<'a> {
    pub http_uri: TracingHttpUri<'a>,
}

/// `envoy.config.core.v3.HttpUri` of the OTLP/HTTP exporter.
#[derive(Clone, Serialize)]
pub struct TracingHttpUri<'a> {
    pub cluster: Str<'a>,
    pub timeout: &'static str,
    pub uri: String,
}

/// An access log of the connection manager.
#[derive(Clone, Serialize)]
pub struct AccessLog<'a> {
    pub name: &'static str,
    pub typed_config: Any<'a>,
}

/// `envoy.extensions.access_loggers.stream.v3.StdoutAccessLog`.
#[derive(Clone, Serialize)]
pub struct StdoutAccessLog {
    pub log_format: JsonLogFormat,
}

/// One JSON object per request, keys sorted: field name → command operator.
#[derive(Clone, Serialize)]
pub struct JsonLogFormat {
    pub json_format: BTreeMap<String, String>,
}

// ------------------------------------------------------- HTTP and TCP ----

#[derive(Clone, Serialize)]
pub struct HttpConnectionManager<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub access_log: Vec<AccessLog<'a>>,
    pub codec_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forward_client_cert_details: Option<&'static str>,
    pub http_filters: Vec<Filter<'a>>,
    pub route_config: RouteConfiguration<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_current_client_cert_details: Option<ClientCertDetails>,
    pub stat_prefix: Str<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracing: Option<Tracing<'a>>,
}

#[derive(Clone, Serialize)]
pub struct ClientCertDetails {
    pub uri: bool,
}

#[derive(Clone, Serialize)]
pub struct TcpProxy<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<String>,
    pub stat_prefix: Str<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weighted_clusters: Option<WeightedClusters>,
}

#[derive(Clone, Serialize)]
pub struct RouteConfiguration<'a> {
    #[serde(skip_serializing_if = "is_false")]
    pub ignore_port_in_host_matching: bool,
    pub name: Str<'a>,
    pub virtual_hosts: Vec<VirtualHost<'a>>,
}

#[derive(Clone, Serialize)]
pub struct VirtualHost<'a> {
    pub domains: Vec<Str<'a>>,
    pub name: Str<'a>,
    pub routes: Vec<Route<'a>>,
}

#[derive(Clone, Serialize)]
pub struct Route<'a> {
    #[serde(rename = "match")]
    pub matcher: RouteMatch<'a>,
    /// Empty: unnamed.
    #[serde(skip_serializing_if = "is_empty")]
    pub name: Str<'a>,
    /// The gateway's redirects (not typed here yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect: Option<serde_json::Value>,
    /// The gateway's route header (not typed here yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_headers_to_add: Option<serde_json::Value>,
    /// A deprecated API version's `Deprecation`, `Sunset` and `Link` headers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub response_headers_to_add: Vec<HeaderValueOption<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<RouteAction<'a>>,
    /// The route's own statistics (`vhost.VHOST.route.PREFIX.*`, the
    /// `envoy_route` label in Prometheus): a gateway route's name, a call's
    /// stat name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stat_prefix: Option<Str<'a>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub typed_per_filter_config: BTreeMap<Str<'a>, Any<'a>>,
}

impl<'a> Route<'a> {
    /// A route named `name` matching `matcher`, without an action yet.
    pub fn new(name: impl Into<Str<'a>>, matcher: RouteMatch<'a>) -> Self {
        Route {
            matcher,
            name: name.into(),
            redirect: None,
            request_headers_to_add: None,
            response_headers_to_add: Vec::new(),
            route: None,
            stat_prefix: None,
            typed_per_filter_config: BTreeMap::new(),
        }
    }
}

#[derive(Clone, Default, Serialize)]
pub struct RouteMatch<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<HeaderMatcher<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<Str<'a>>,
    /// The route takes this share of the requests it matches (the same
    /// random value is compared with every route's share, so shares of
    /// consecutive routes are cumulative).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_fraction: Option<RuntimeFraction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub safe_regex: Option<Regex>,
}

/// A header and what to do when the message already has it.
#[derive(Clone, Serialize)]
pub struct HeaderValueOption<'a> {
    pub append_action: &'static str,
    pub header: HeaderValue<'a>,
}

#[derive(Clone, Serialize)]
pub struct HeaderValue<'a> {
    pub key: Str<'a>,
    pub value: Str<'a>,
}

impl<'a> HeaderValueOption<'a> {
    /// Sets the header, replacing any value.
    pub fn set(key: impl Into<Str<'a>>, value: impl Into<Str<'a>>) -> Self {
        HeaderValueOption {
            append_action: "OVERWRITE_IF_EXISTS_OR_ADD",
            header: HeaderValue { key: key.into(), value: value.into() },
        }
    }

    /// Adds one more value of the header.
    pub fn append(key: impl Into<Str<'a>>, value: impl Into<Str<'a>>) -> Self {
        HeaderValueOption {
            append_action: "APPEND_IF_EXISTS_OR_ADD",
            header: HeaderValue { key: key.into(), value: value.into() },
        }
    }
}

impl<'a> RouteMatch<'a> {
    pub fn prefix(prefix: impl Into<Str<'a>>) -> Self {
        RouteMatch { prefix: Some(prefix.into()), ..RouteMatch::default() }
    }

    pub fn path(path: impl Into<Str<'a>>) -> Self {
        RouteMatch { path: Some(path.into()), ..RouteMatch::default() }
    }
}

#[derive(Clone, Serialize)]
pub struct HeaderMatcher<'a> {
    pub name: Str<'a>,
    #[serde(skip_serializing_if = "is_false")]
    pub present_match: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub string_match: Option<StringMatcher<'a>>,
}

impl<'a> HeaderMatcher<'a> {
    pub fn string(name: impl Into<Str<'a>>, matcher: StringMatcher<'a>) -> Self {
        HeaderMatcher { name: name.into(), present_match: false, string_match: Some(matcher) }
    }
}

#[derive(Clone, Default, Serialize)]
pub struct StringMatcher<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contains: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub safe_regex: Option<Regex>,
}

impl<'a> StringMatcher<'a> {
    pub fn exact(text: impl Into<Str<'a>>) -> Self {
        StringMatcher { exact: Some(text.into()), ..StringMatcher::default() }
    }

    pub fn prefix(text: impl Into<Str<'a>>) -> Self {
        StringMatcher { prefix: Some(text.into()), ..StringMatcher::default() }
    }

    pub fn contains(text: impl Into<Str<'a>>) -> Self {
        StringMatcher { contains: Some(text.into()), ..StringMatcher::default() }
    }

    pub fn regex(regex: String) -> Self {
        StringMatcher { safe_regex: Some(Regex { regex }), ..StringMatcher::default() }
    }
}

#[derive(Clone, Serialize)]
pub struct Regex {
    pub regex: String,
}

#[derive(Clone, Default, Serialize)]
pub struct RouteAction<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hash_policy: Vec<HashPolicy<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_rewrite_literal: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix_rewrite: Option<Str<'a>>,
    /// The gateway's global rate limit descriptors (not typed here yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limits: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regex_rewrite: Option<RegexRewrite<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub request_mirror_policies: Vec<MirrorPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub upgrade_configs: Vec<UpgradeConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weighted_clusters: Option<WeightedClusters>,
}

#[derive(Clone, Serialize)]
pub struct HashPolicy<'a> {
    pub header: HashHeader<'a>,
}

#[derive(Clone, Serialize)]
pub struct HashHeader<'a> {
    pub header_name: Str<'a>,
}

#[derive(Clone, Serialize)]
pub struct RegexRewrite<'a> {
    pub pattern: Regex,
    pub substitution: Str<'a>,
}

#[derive(Clone, Serialize)]
pub struct UpgradeConfig {
    pub upgrade_type: &'static str,
}

#[derive(Clone, Serialize)]
pub struct WeightedClusters {
    pub clusters: Vec<ClusterWeight>,
}

#[derive(Clone, Serialize)]
pub struct ClusterWeight {
    pub name: String,
    pub weight: u32,
}

#[derive(Clone, Serialize)]
pub struct MirrorPolicy {
    pub cluster: String,
    pub runtime_fraction: RuntimeFraction,
}

#[derive(Clone, Serialize)]
pub struct RuntimeFraction {
    pub default_value: FractionalPercent,
    /// Lets an operator move the share at run time; `None`: fixed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_key: Option<String>,
}

#[derive(Clone, Serialize)]
pub struct FractionalPercent {
    pub denominator: &'static str,
    pub numerator: u32,
}

#[derive(Clone, Serialize)]
pub struct RetryPolicy {
    pub num_retries: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_try_timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_back_off: Option<BackOff>,
    pub retry_on: String,
}

#[derive(Clone, Serialize)]
pub struct BackOff {
    pub base_interval: String,
    pub max_interval: String,
}

// ------------------------------------------------------------- clusters ----

#[derive(Clone, Serialize)]
pub struct Cluster<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub circuit_breakers: Option<CircuitBreakers>,
    /// A cluster of other clusters (aggregate) instead of endpoints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_type: Option<ClusterType<'a>>,
    pub connect_timeout: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub health_checks: Vec<HealthCheck<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lb_policy: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_assignment: Option<LoadAssignment<'a>>,
    pub name: Str<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outlier_detection: Option<OutlierDetection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport_socket: Option<TransportSocket<'a>>,
    #[serde(rename = "type", skip_serializing_if = "str::is_empty")]
    pub discovery: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub typed_extension_protocol_options: Option<ProtocolOptions<'a>>,
}

impl<'a> Cluster<'a> {
    /// A cluster of one host (`STATIC` for an IP address, else
    /// `STRICT_DNS`), connecting within a second.
    pub fn single_host(name: impl Into<Str<'a>>, host: impl Into<Str<'a>>, port: u16) -> Self {
        let host = host.into();
        let discovery = if host.parse::<std::net::IpAddr>().is_ok() { "STATIC" } else { "STRICT_DNS" };
        Cluster::new(name.into(), discovery, vec![LocalityLbEndpoints::of(vec![LbEndpoint::at(host, port)])])
    }

    /// A cluster of `endpoints`, connecting within a second.
    pub fn new(name: Str<'a>, discovery: &'static str, endpoints: Vec<LocalityLbEndpoints<'a>>) -> Self {
        Cluster {
            circuit_breakers: None,
            cluster_type: None,
            connect_timeout: "1s",
            health_checks: Vec::new(),
            lb_policy: None,
            load_assignment: Some(LoadAssignment { cluster_name: name.clone(), endpoints }),
            name,
            outlier_detection: None,
            transport_socket: None,
            discovery,
            typed_extension_protocol_options: None,
        }
    }

    /// An aggregate cluster: `clusters` in order of preference, the next
    /// taking the requests when the ones before have no healthy host.
    pub fn aggregate(name: Str<'a>, clusters: Vec<Str<'a>>) -> Self {
        Cluster {
            circuit_breakers: None,
            cluster_type: Some(ClusterType {
                name: "envoy.clusters.aggregate",
                typed_config: AggregateClusterConfig { kind: AGGREGATE_CLUSTER, clusters },
            }),
            connect_timeout: "1s",
            health_checks: Vec::new(),
            lb_policy: Some("CLUSTER_PROVIDED"),
            load_assignment: None,
            name,
            outlier_detection: None,
            transport_socket: None,
            discovery: "",
            typed_extension_protocol_options: None,
        }
    }
}

const AGGREGATE_CLUSTER: &str = "type.googleapis.com/envoy.extensions.clusters.aggregate.v3.ClusterConfig";

/// A cluster's custom `cluster_type` (the aggregate cluster).
#[derive(Clone, Serialize)]
pub struct ClusterType<'a> {
    pub name: &'static str,
    pub typed_config: AggregateClusterConfig<'a>,
}

/// `envoy.extensions.clusters.aggregate.v3.ClusterConfig`.
#[derive(Clone, Serialize)]
pub struct AggregateClusterConfig<'a> {
    #[serde(rename = "@type")]
    pub kind: &'static str,
    pub clusters: Vec<Str<'a>>,
}

// ------------------------------------------------------ custom responses ----

/// `envoy.extensions.filters.http.custom_response.v3.CustomResponse`: on a
/// route, which responses are replaced, and by what.
#[derive(Clone, Serialize)]
pub struct CustomResponse<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_response_matcher: Option<XdsMatcher<'a>>,
}

/// `xds.type.matcher.v3.Matcher` with a list of field matchers.
#[derive(Clone, Serialize)]
pub struct XdsMatcher<'a> {
    pub matcher_list: MatcherList<'a>,
}

#[derive(Clone, Serialize)]
pub struct MatcherList<'a> {
    pub matchers: Vec<FieldMatcher<'a>>,
}

#[derive(Clone, Serialize)]
pub struct FieldMatcher<'a> {
    pub on_match: OnMatch<'a>,
    pub predicate: Predicate,
}

#[derive(Clone, Serialize)]
pub struct OnMatch<'a> {
    pub action: MatchAction<'a>,
}

#[derive(Clone, Serialize)]
pub struct MatchAction<'a> {
    pub name: &'static str,
    pub typed_config: LocalResponsePolicy<'a>,
}

/// A matcher predicate: one input compared with a value, or a list of them.
#[derive(Clone, Serialize)]
#[serde(untagged)]
pub enum Predicate {
    Single { single_predicate: SinglePredicate },
    And { and_matcher: PredicateList },
    Or { or_matcher: PredicateList },
}

#[derive(Clone, Serialize)]
pub struct PredicateList {
    pub predicate: Vec<Predicate>,
}

#[derive(Clone, Serialize)]
pub struct SinglePredicate {
    pub input: MatchInput,
    pub value_match: ValueMatch,
}

/// A response input: `@type` one of Envoy's `HttpResponse*MatchInput`s.
#[derive(Clone, Serialize)]
pub struct MatchInput {
    pub name: &'static str,
    pub typed_config: TypedEmpty,
}

/// A message with no fields but its `@type`.
#[derive(Clone, Serialize)]
pub struct TypedEmpty {
    #[serde(rename = "@type")]
    pub kind: &'static str,
}

/// `xds.type.matcher.v3.StringMatcher`: exact here.
#[derive(Clone, Serialize)]
pub struct ValueMatch {
    pub exact: &'static str,
}

/// `envoy.extensions.http.custom_response.local_response_policy.v3.LocalResponsePolicy`.
#[derive(Clone, Serialize)]
pub struct LocalResponsePolicy<'a> {
    #[serde(rename = "@type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<InlineString<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub response_headers_to_add: Vec<HeaderValueOption<'a>>,
    pub status_code: u32,
}

/// A `DataSource` given inline.
#[derive(Clone, Serialize)]
pub struct InlineString<'a> {
    pub inline_string: Str<'a>,
}

#[derive(Clone, Serialize)]
pub struct LoadAssignment<'a> {
    pub cluster_name: Str<'a>,
    pub endpoints: Vec<LocalityLbEndpoints<'a>>,
}

#[derive(Clone, Serialize)]
pub struct LocalityLbEndpoints<'a> {
    pub lb_endpoints: Vec<LbEndpoint<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locality: Option<Locality<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
}

impl<'a> LocalityLbEndpoints<'a> {
    pub fn of(lb_endpoints: Vec<LbEndpoint<'a>>) -> Self {
        LocalityLbEndpoints { lb_endpoints, locality: None, priority: None }
    }
}

#[derive(Clone, Serialize)]
pub struct Locality<'a> {
    pub zone: Str<'a>,
}

#[derive(Clone, Serialize)]
pub struct LbEndpoint<'a> {
    pub endpoint: Endpoint<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_balancing_weight: Option<u32>,
}

impl<'a> LbEndpoint<'a> {
    pub fn at(host: impl Into<Str<'a>>, port: u16) -> Self {
        LbEndpoint { endpoint: Endpoint { address: Address::socket(host, port) }, load_balancing_weight: None }
    }
}

#[derive(Clone, Serialize)]
pub struct Endpoint<'a> {
    pub address: Address<'a>,
}

#[derive(Clone, Serialize)]
pub struct CircuitBreakers {
    pub thresholds: Vec<Thresholds>,
}

#[derive(Clone, Serialize)]
pub struct Thresholds {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_pending_requests: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_requests: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    pub priority: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_budget: Option<RetryBudget>,
}

impl Thresholds {
    /// The thresholds of the default priority, none set yet.
    pub fn default_priority() -> Self {
        Thresholds {
            max_connections: None,
            max_pending_requests: None,
            max_requests: None,
            max_retries: None,
            priority: "DEFAULT",
            retry_budget: None,
        }
    }
}

#[derive(Clone, Serialize)]
pub struct RetryBudget {
    pub budget_percent: Percent,
    pub min_retry_concurrency: u32,
}

#[derive(Clone, Serialize)]
pub struct Percent {
    pub value: f64,
}

#[derive(Clone, Serialize)]
pub struct OutlierDetection {
    pub base_ejection_time: String,
    pub consecutive_5xx: u32,
    pub interval: String,
    pub max_ejection_percent: u8,
}

#[derive(Clone, Serialize)]
pub struct HealthCheck<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc_health_check: Option<GrpcHealthCheck<'a>>,
    pub healthy_threshold: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_health_check: Option<HttpHealthCheck<'a>>,
    pub interval: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval_jitter: Option<String>,
    pub no_traffic_interval: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_health_check: Option<Empty>,
    pub timeout: String,
    pub unhealthy_threshold: u32,
}

#[derive(Clone, Serialize)]
pub struct GrpcHealthCheck<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_name: Option<Str<'a>>,
}

#[derive(Clone, Serialize)]
pub struct HttpHealthCheck<'a> {
    /// Statuses counted healthy, `[start, end)` each.
    pub expected_statuses: Vec<Int64Range>,
    /// The `host` header; Envoy's default is the cluster's name, which a
    /// versioned cluster's `|` makes an invalid authority (400 at the callee's sidecar).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<Str<'a>>,
    pub path: Str<'a>,
}

/// `envoy.type.v3.Int64Range`: `start` included, `end` excluded.
#[derive(Clone, Copy, Serialize)]
pub struct Int64Range {
    pub end: i64,
    pub start: i64,
}

/// A cluster's `typed_extension_protocol_options`: its HTTP options.
#[derive(Clone, Serialize)]
pub struct ProtocolOptions<'a> {
    #[serde(rename = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions")]
    pub http: Any<'a>,
}

impl<'a> ProtocolOptions<'a> {
    /// HTTP/2 towards the upstream (gRPC needs it).
    pub fn http2() -> Self {
        ProtocolOptions::http(HttpProtocolOptions {
            explicit_http_config: Some(ExplicitHttpConfig::http2()),
            http_filters: Vec::new(),
        })
    }

    pub fn http(options: HttpProtocolOptions<'a>) -> Self {
        ProtocolOptions { http: Any::HttpProtocolOptions(options) }
    }
}

#[derive(Clone, Serialize)]
pub struct HttpProtocolOptions<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explicit_http_config: Option<ExplicitHttpConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub http_filters: Vec<Filter<'a>>,
}

#[derive(Clone, Default, Serialize)]
pub struct ExplicitHttpConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http2_protocol_options: Option<Empty>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_protocol_options: Option<Empty>,
}

impl ExplicitHttpConfig {
    pub fn http2() -> Self {
        ExplicitHttpConfig { http2_protocol_options: Some(Empty {}), http_protocol_options: None }
    }

    pub fn http1() -> Self {
        ExplicitHttpConfig { http2_protocol_options: None, http_protocol_options: Some(Empty {}) }
    }
}

// ------------------------------------------------------------------ TLS ----

#[derive(Clone, Serialize)]
pub struct DownstreamTlsContext<'a> {
    pub common_tls_context: CommonTlsContext<'a>,
    pub require_client_certificate: bool,
}

#[derive(Clone, Serialize)]
pub struct UpstreamTlsContext<'a> {
    pub common_tls_context: CommonTlsContext<'a>,
    pub sni: Str<'a>,
}

#[derive(Clone, Default, Serialize)]
pub struct CommonTlsContext<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub combined_validation_context: Option<CombinedValidationContext<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tls_certificate_sds_secret_configs: Vec<SdsSecretConfig<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_context: Option<ValidationContext<'a>>,
}

#[derive(Clone, Serialize)]
pub struct CombinedValidationContext<'a> {
    pub default_validation_context: ValidationContext<'a>,
    pub validation_context_sds_secret_config: SdsSecretConfig<'a>,
}

#[derive(Clone, Serialize)]
pub struct ValidationContext<'a> {
    pub match_typed_subject_alt_names: Vec<SanMatcher<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trusted_ca: Option<DataSource>,
}

#[derive(Clone, Serialize)]
pub struct SanMatcher<'a> {
    pub matcher: StringMatcher<'a>,
    pub san_type: &'static str,
}

#[derive(Clone, Serialize)]
pub struct DataSource {
    pub filename: &'static str,
}

#[derive(Clone, Serialize)]
pub struct SdsSecretConfig<'a> {
    pub name: Str<'a>,
    pub sds_config: ConfigSource<'a>,
}

/// `envoy.config.core.v3.ConfigSource`: a file Envoy reads, and reads
/// again when a file is moved into the watched directory.
#[derive(Clone, Serialize)]
pub struct ConfigSource<'a> {
    pub path_config_source: PathConfigSource<'a>,
    pub resource_api_version: &'static str,
}

#[derive(Clone, Serialize)]
pub struct PathConfigSource<'a> {
    pub path: String,
    pub watched_directory: WatchedDirectory<'a>,
}

#[derive(Clone, Serialize)]
pub struct WatchedDirectory<'a> {
    pub path: Str<'a>,
}

// ----------------------------------------------------------------- RBAC ----

#[derive(Clone, Serialize)]
pub struct Rbac<'a> {
    pub rules: RbacRules<'a>,
}

#[derive(Clone, Serialize)]
pub struct NetworkRbac<'a> {
    pub rules: RbacRules<'a>,
    pub stat_prefix: String,
}

#[derive(Clone, Serialize)]
pub struct RbacRules<'a> {
    pub action: &'static str,
    pub policies: BTreeMap<String, Policy<'a>>,
}

#[derive(Clone, Serialize)]
pub struct Policy<'a> {
    pub permissions: Vec<Permission<'a>>,
    pub principals: Vec<Principal<'a>>,
}

/// One of a permission's rules (each a single key).
#[derive(Clone, Serialize)]
#[serde(untagged)]
pub enum Permission<'a> {
    AndRules { and_rules: PermissionRules<'a> },
    Any { any: bool },
    Header { header: HeaderMatcher<'a> },
    UrlPath { url_path: PathMatcher<'a> },
}

#[derive(Clone, Serialize)]
pub struct PermissionRules<'a> {
    pub rules: Vec<Permission<'a>>,
}

#[derive(Clone, Serialize)]
pub struct PathMatcher<'a> {
    pub path: StringMatcher<'a>,
}

#[derive(Clone, Serialize)]
pub struct Principal<'a> {
    pub authenticated: Authenticated<'a>,
}

#[derive(Clone, Serialize)]
pub struct Authenticated<'a> {
    pub principal_name: StringMatcher<'a>,
}
