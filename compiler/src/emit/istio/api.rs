//! The Istio resources meshc writes, as typed structs serialised straight
//! to YAML (building `serde_json::Value` trees was most of this backend's
//! cost). Fields are declared in byte order of their names, as the
//! artifacts list keys sorted; unset ones are left out.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;

/// Labels or a selector's `matchLabels`: a few fixed keys.
pub type Labels<'a> = BTreeMap<&'a str, &'a str>;

/// One resource of a multi-document file.
#[derive(Serialize)]
pub struct Resource<'a> {
    #[serde(rename = "apiVersion")]
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: Metadata<'a>,
    pub spec: Spec<'a>,
}

#[derive(Serialize)]
pub struct Metadata<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<Cow<'a, str>>,
}

impl<'a> Metadata<'a> {
    pub fn named(name: impl Into<String>, namespace: Option<&'a str>) -> Self {
        Metadata { annotations: None, name: name.into(), namespace: namespace.map(Cow::Borrowed) }
    }
}

#[derive(Serialize)]
pub struct Annotations {
    /// What of the spec the resources cannot carry.
    #[serde(rename = "meshc/not-in-istio")]
    pub not_in_istio: String,
}

/// The resources' specs (untagged: each is its resource's `spec`).
#[derive(Serialize)]
#[serde(untagged)]
pub enum Spec<'a> {
    ServiceEntry(ServiceEntry<'a>),
    DestinationRule(DestinationRule<'a>),
    VirtualService(VirtualService<'a>),
    Gateway(Gateway<'a>),
    PeerAuthentication(PeerAuthentication<'a>),
    RequestAuthentication(RequestAuthentication<'a>),
    AuthorizationPolicy(AuthorizationPolicy<'a>),
    Telemetry(Telemetry<'a>),
}

#[derive(Serialize)]
pub struct Selector<'a> {
    #[serde(rename = "matchLabels")]
    pub match_labels: Labels<'a>,
}

impl<'a> Selector<'a> {
    pub fn one(key: &'a str, value: &'a str) -> Self {
        Selector { match_labels: BTreeMap::from([(key, value)]) }
    }
}

// networking.istio.io

#[derive(Serialize)]
pub struct ServiceEntry<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addresses: Option<Vec<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Vec<WorkloadEntry<'a>>>,
    pub hosts: Vec<&'a str>,
    pub location: &'static str,
    pub ports: Vec<Port<'a>>,
    pub resolution: &'static str,
}

#[derive(Serialize)]
pub struct WorkloadEntry<'a> {
    pub address: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locality: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ports: Option<BTreeMap<String, u16>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
}

/// A `ServiceEntry`'s or a `Gateway` server's port.
#[derive(Serialize)]
pub struct Port<'a> {
    pub name: Cow<'a, str>,
    pub number: u16,
    pub protocol: &'static str,
}

#[derive(Serialize)]
pub struct DestinationRule<'a> {
    pub host: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subsets: Vec<Subset<'a>>,
    #[serde(rename = "trafficPolicy", skip_serializing_if = "Option::is_none")]
    pub traffic_policy: Option<TrafficPolicy<'a>>,
}

#[derive(Serialize)]
pub struct Subset<'a> {
    pub labels: Labels<'a>,
    pub name: &'a str,
}

#[derive(Serialize, Default)]
pub struct TrafficPolicy<'a> {
    #[serde(rename = "connectionPool", skip_serializing_if = "Option::is_none")]
    pub connection_pool: Option<ConnectionPool>,
    #[serde(rename = "loadBalancer", skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancer<'a>>,
    #[serde(rename = "outlierDetection", skip_serializing_if = "Option::is_none")]
    pub outlier_detection: Option<OutlierDetection>,
}

impl TrafficPolicy<'_> {
    pub fn is_empty(&self) -> bool {
        self.connection_pool.is_none() && self.load_balancer.is_none() && self.outlier_detection.is_none()
    }
}

#[derive(Serialize)]
#[serde(untagged)]
pub enum LoadBalancer<'a> {
    Simple {
        simple: &'static str,
    },
    ConsistentHash {
        #[serde(rename = "consistentHash")]
        consistent_hash: ConsistentHash<'a>,
    },
}

#[derive(Serialize)]
pub struct ConsistentHash<'a> {
    #[serde(rename = "httpHeaderName")]
    pub http_header_name: &'a str,
}

#[derive(Serialize)]
pub struct ConnectionPool {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpPool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpPool>,
}

#[derive(Serialize)]
pub struct HttpPool {
    #[serde(rename = "http1MaxPendingRequests", skip_serializing_if = "Option::is_none")]
    pub http1_max_pending_requests: Option<u32>,
    #[serde(rename = "http2MaxRequests", skip_serializing_if = "Option::is_none")]
    pub http2_max_requests: Option<u32>,
    #[serde(rename = "maxRetries", skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
}

#[derive(Serialize)]
pub struct TcpPool {
    #[serde(rename = "maxConnections")]
    pub max_connections: u32,
}

#[derive(Serialize)]
pub struct OutlierDetection {
    #[serde(rename = "baseEjectionTime")]
    pub base_ejection_time: String,
    #[serde(rename = "consecutive5xxErrors")]
    pub consecutive_5xx_errors: u32,
    pub interval: String,
    #[serde(rename = "maxEjectionPercent")]
    pub max_ejection_percent: u8,
}

#[derive(Serialize)]
pub struct VirtualService<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateways: Option<Vec<&'a str>>,
    pub hosts: Vec<String>,
    pub http: Vec<HttpRoute<'a>>,
}

/// Istio's `HTTPRoute`.
#[derive(Serialize, Clone, Default)]
pub struct HttpRoute<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<Headers>,
    #[serde(rename = "match", skip_serializing_if = "Option::is_none")]
    pub matches: Option<Vec<HttpMatch<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror: Option<Destination<'a>>,
    #[serde(rename = "mirrorPercentage", skip_serializing_if = "Option::is_none")]
    pub mirror_percentage: Option<Percent>,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect: Option<Redirect<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<Retry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewrite: Option<Rewrite<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<Vec<RouteDestination<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// Istio's `HTTPMatchRequest`.
#[derive(Serialize, Clone, Default)]
pub struct HttpMatch<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, StringMatch>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<StringMatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(rename = "sourceLabels", skip_serializing_if = "Option::is_none")]
    pub source_labels: Option<Labels<'a>>,
    #[serde(rename = "sourceNamespace", skip_serializing_if = "Option::is_none")]
    pub source_namespace: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<StringMatch>,
}

/// Istio's `StringMatch`; `Present` (an empty match) checks that a header is there.
#[derive(Serialize, Clone)]
#[serde(untagged)]
pub enum StringMatch {
    Exact { exact: String },
    Prefix { prefix: String },
    Regex { regex: String },
    Present {},
}

#[derive(Serialize, Clone)]
pub struct Percent {
    pub value: f64,
}

#[derive(Serialize, Clone, Default)]
pub struct Headers {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<HeaderOperations>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<HeaderOperations>,
}

#[derive(Serialize, Clone, Default)]
pub struct HeaderOperations {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub add: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remove: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set: Option<BTreeMap<String, String>>,
}

#[derive(Serialize, Clone)]
pub struct RouteDestination<'a> {
    pub destination: Destination<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<Headers>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
}

#[derive(Serialize, Clone)]
pub struct Destination<'a> {
    pub host: &'a str,
    pub port: PortSelector,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subset: Option<&'a str>,
}

#[derive(Serialize, Clone)]
pub struct PortSelector {
    pub number: u16,
}

/// Istio's `HTTPRetry`.
#[derive(Serialize, Clone)]
pub struct Retry {
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoff: Option<String>,
    #[serde(rename = "perTryTimeout", skip_serializing_if = "Option::is_none")]
    pub per_try_timeout: Option<String>,
    #[serde(rename = "retryOn", skip_serializing_if = "Option::is_none")]
    pub retry_on: Option<String>,
}

/// Istio's `HTTPRewrite`.
#[derive(Serialize, Clone, Default)]
pub struct Rewrite<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authority: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(rename = "uriRegexRewrite", skip_serializing_if = "Option::is_none")]
    pub uri_regex_rewrite: Option<RegexRewrite<'a>>,
}

#[derive(Serialize, Clone)]
pub struct RegexRewrite<'a> {
    #[serde(rename = "match")]
    pub matches: &'a str,
    pub rewrite: &'a str,
}

/// Istio's `HTTPRedirect`.
#[derive(Serialize, Clone)]
pub struct Redirect<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authority: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(rename = "prefixRewrite", skip_serializing_if = "Option::is_none")]
    pub prefix_rewrite: Option<&'a str>,
    #[serde(rename = "redirectCode")]
    pub redirect_code: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<&'a str>,
}

#[derive(Serialize)]
pub struct Gateway<'a> {
    pub selector: Labels<'a>,
    pub servers: Vec<Server<'a>>,
}

#[derive(Serialize)]
pub struct Server<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    pub hosts: Vec<&'a str>,
    pub port: Port<'a>,
}

// security.istio.io

#[derive(Serialize)]
pub struct PeerAuthentication<'a> {
    pub mtls: MtlsSetting,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<Selector<'a>>,
}

#[derive(Serialize)]
pub struct MtlsSetting {
    pub mode: &'static str,
}

#[derive(Serialize)]
pub struct RequestAuthentication<'a> {
    #[serde(rename = "jwtRules")]
    pub jwt_rules: Vec<JwtRule<'a>>,
    pub selector: Selector<'a>,
}

#[derive(Serialize)]
pub struct JwtRule<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audiences: Option<&'a [String]>,
    #[serde(rename = "forwardOriginalToken", skip_serializing_if = "Option::is_none")]
    pub forward_original_token: Option<bool>,
    pub issuer: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<String>,
    #[serde(rename = "jwksUri", skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<&'a str>,
    #[serde(rename = "outputClaimToHeaders", skip_serializing_if = "Option::is_none")]
    pub output_claim_to_headers: Option<Vec<ClaimToHeader<'a>>>,
    #[serde(rename = "spaceDelimitedClaims", skip_serializing_if = "Option::is_none")]
    pub space_delimited_claims: Option<Vec<&'a str>>,
}

#[derive(Serialize, PartialEq)]
pub struct ClaimToHeader<'a> {
    pub claim: &'a str,
    pub header: &'a str,
}

#[derive(Serialize)]
pub struct AuthorizationPolicy<'a> {
    pub action: &'static str,
    pub rules: Vec<Rule>,
    pub selector: Selector<'a>,
}

#[derive(Serialize, Default)]
pub struct Rule {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Vec<From>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<To>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<Vec<Condition>>,
}

#[derive(Serialize)]
pub struct From {
    pub source: Source,
}

#[derive(Serialize, Default)]
pub struct Source {
    #[serde(rename = "notRequestPrincipals", skip_serializing_if = "Option::is_none")]
    pub not_request_principals: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principals: Option<Vec<String>>,
}

#[derive(Serialize, Clone)]
pub struct To {
    pub operation: Operation,
}

#[derive(Serialize, Clone, Default)]
pub struct Operation {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hosts: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paths: Option<Vec<String>>,
}

#[derive(Serialize, Clone)]
pub struct Condition {
    pub key: String,
    #[serde(rename = "notValues", skip_serializing_if = "Option::is_none")]
    pub not_values: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
}

// telemetry.istio.io

#[derive(Serialize)]
pub struct Telemetry<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<Selector<'a>>,
    pub tracing: Vec<Tracing>,
}

#[derive(Serialize)]
pub struct Tracing {
    pub providers: Vec<Provider>,
    #[serde(rename = "randomSamplingPercentage")]
    pub random_sampling_percentage: f64,
}

#[derive(Serialize)]
pub struct Provider {
    pub name: &'static str,
}
