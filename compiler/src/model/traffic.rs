//! Traffic and resilience: how callers time out and retry, and how they
//! treat a service's instances (load balancing, circuit breaking, outlier
//! detection, health checks). Callers own retries and timeouts (per call,
//! with per-service defaults); the callee's `traffic` block owns the rest,
//! as Istio's DestinationRule does.

use crate::base::{Span, Spanned};

pub use super::values::RetryOn;
use super::values::{Duration, HeaderName, Host, Port};
use super::{HeaderMatch, PortId, ServiceId};

/// Retries of a call or route, with the attempts' limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts after the first; `0` disables retries.
    pub retries: u32,
    /// Deadline of each attempt; the call's timeout bounds them all.
    pub per_try_timeout: Option<Spanned<Duration>>,
    /// Conditions that trigger a retry; empty means the engine's default
    /// (`5xx`, `reset`, `connect-failure`, `refused-stream` for meshc).
    pub retry_on: Vec<RetryOn>,
    /// Exponential back-off between attempts.
    pub backoff: Option<Backoff>,
    /// A cap on the retries in flight towards the callee, as a share of its
    /// active requests: under load, retries stop before they pile up.
    pub budget: Option<RetryBudget>,
    /// Where the policy is written (the `retries` node, or the named policy).
    pub span: Span,
}

impl RetryPolicy {
    /// Whether a retry may repeat a request that reached the service:
    /// it retries on some condition other than `connect-failure` and
    /// `refused-stream` (which fire only when the request never left).
    pub fn repeats_delivered_requests(&self) -> bool {
        self.retries > 0
            && self.conditions().iter().any(|c| !matches!(c, RetryOn::ConnectFailure | RetryOn::RefusedStream))
    }

    /// Requests one logical call can make: the first attempt and its retries.
    pub fn attempts(&self) -> u64 {
        1 + u64::from(self.retries)
    }

    /// The retry conditions in force: the declared ones or meshc's default.
    pub fn conditions(&self) -> &[RetryOn] {
        if self.retry_on.is_empty() {
            RetryOn::DEFAULT
        } else {
            &self.retry_on
        }
    }

    /// The longest total pause between attempts: each retry waits at most
    /// `min(base × 2^k, max)` (Envoy's fully jittered exponential back-off).
    pub fn worst_backoff_ms(&self) -> u128 {
        let backoff = self.backoff.unwrap_or(Backoff::ENVOY_DEFAULT);
        (0..self.retries).map(|k| (backoff.base.as_millis() << k.min(32)).min(backoff.max.as_millis())).sum()
    }

    /// Whether an attempt cut at its per-try timeout is retried: Envoy
    /// retries it on `5xx`, `gateway-error` and `reset`.
    pub fn retries_timed_out_attempts(&self) -> bool {
        self.retries > 0
            && self
                .conditions()
                .iter()
                .any(|c| matches!(c, RetryOn::ServerError | RetryOn::GatewayError | RetryOn::Reset))
    }

    /// The longest a request can take under this policy alone: every
    /// attempt cut at the per-try timeout, with the longest back-offs
    /// between them; `None` without a per-try timeout.
    pub fn longest_ms(&self) -> Option<u128> {
        let per_try = self.per_try_timeout.as_ref()?.value.as_millis();
        Some(per_try * u128::from(self.attempts()) + self.worst_backoff_ms())
    }
}

/// Envoy's retry budget: at most `percent` of the active requests to a
/// callee may be retries, but never fewer than `min_concurrency` retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryBudget {
    pub percent: u32,
    pub min_concurrency: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    /// Envoy's default: 25 ms base, ten times that as the cap.
    pub const ENVOY_DEFAULT: Backoff = Backoff { base: Duration::from_millis(25), max: Duration::from_millis(250) };
}

/// Where a service's sidecar proxy listens: callers' traffic arrives on the
/// inbound port and goes to the app on its own port on 127.0.0.1; the app
/// sends its calls to the outbound port on 127.0.0.1, naming the callee in
/// the `host` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SidecarPorts {
    pub inbound: Port,
    pub outbound: Port,
    /// Its admin endpoint's port on 127.0.0.1 (`admin-port=`), over the
    /// `monitoring` block's.
    pub admin: Option<Port>,
}

impl SidecarPorts {
    /// The inbound port of each of a service's `count` ports, in order:
    /// `inbound`, then the next ones; `None` when they run past 65535.
    pub fn inbound_ports(&self, count: usize) -> Option<Vec<Port>> {
        (0..count).map(|i| Port::new(i128::from(self.inbound.get()) + i as i128).ok()).collect()
    }
}

impl Default for SidecarPorts {
    /// Istio's inbound and outbound capture ports.
    fn default() -> SidecarPorts {
        SidecarPorts {
            inbound: Port::new(15006).expect("a port"),
            outbound: Port::new(15001).expect("a port"),
            admin: None,
        }
    }
}

/// The traffic expected on a call (from its caller) or on a gateway's route
/// (from its clients) in normal operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Load {
    /// Requests per second, from all of the caller's instances together.
    pub rps: u32,
    /// The callee's usual response time.
    pub latency: Duration,
}

impl Load {
    /// Requests in flight at once (Little's law: arrival rate × time in system).
    pub fn concurrency(&self) -> f64 {
        f64::from(self.rps) * self.latency.as_millis() as f64 / 1000.0
    }
}

/// One instance of a service, declared with `endpoints` (static discovery).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    pub host: Host,
    /// Its own port (`port=`, services with one port only); `None`: the service's ports.
    pub port: Option<Port>,
    /// The locality (zone) it runs in; proxies prefer their own.
    pub zone: Option<String>,
    /// 0 is used first; higher priorities take traffic when lower ones are unhealthy.
    pub priority: u32,
    pub weight: Option<u32>,
    /// The version it runs (`version=`), one of its service's `versions`.
    pub version: Option<VersionId>,
    pub span: Span,
}

model_id!(
    /// A version's index in its service's `versions`.
    VersionId
);

/// A version of a service running beside the others (a canary, one half of
/// a blue/green pair): a subset of its instances that traffic rules send
/// requests to by name. Its pods carry the label `version: NAME`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    pub name: Spanned<String>,
    /// The DNS name proxies resolve to reach only this version; `None` when
    /// the service lists `endpoints` (those with `version=NAME` are its instances).
    pub host: Option<Host>,
    pub span: Span,
}

/// How a callee's requests are spread over its versions; empty: over all of
/// its instances alike.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrafficRules {
    /// Requests with a matching header go to a version, first match wins.
    pub header_routes: Vec<HeaderRoute>,
    /// The rest, split by weight (the weights total 100); empty: every instance.
    pub split: Vec<WeightedVersion>,
    /// A copy of some requests goes to a version too; its responses are dropped.
    pub mirror: Option<Mirror>,
}

impl TrafficRules {
    pub fn is_empty(&self) -> bool {
        self.header_routes.is_empty() && self.split.is_empty() && self.mirror.is_none()
    }

    /// The versions the rules send requests to, each once, in id order.
    pub fn versions(&self) -> Vec<VersionId> {
        let mut ids: Vec<VersionId> = (self.header_routes.iter().map(|r| r.to))
            .chain(self.split.iter().map(|w| w.version))
            .chain(self.mirror.iter().map(|m| m.to))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderRoute {
    pub header: HeaderMatch,
    pub to: VersionId,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeightedVersion {
    pub version: VersionId,
    /// Percent of the requests no header route took.
    pub weight: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mirror {
    pub to: VersionId,
    /// Percent of the split's requests copied, 1 to 100.
    pub percent: u32,
    pub span: Span,
}

/// A callee's `traffic` block: how callers reach its instances.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrafficPolicy {
    pub load_balancing: Option<Spanned<LoadBalancing>>,
    pub circuit_breaker: Option<Spanned<CircuitBreaker>>,
    pub outlier_detection: Option<Spanned<OutlierDetection>>,
    pub health_check: Option<Spanned<HealthCheck>>,
    pub rules: TrafficRules,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadBalancing {
    RoundRobin,
    LeastRequest,
    Random,
    /// Consistent hashing on a request header: requests with the same value
    /// go to the same instance while it is healthy.
    RingHash {
        header: HeaderName,
    },
}

/// Limits on what one caller's proxy sends to the service at once; beyond
/// them requests fail fast (`503`, Envoy flag `UO`) instead of queueing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CircuitBreaker {
    pub max_connections: Option<u32>,
    pub max_pending: Option<u32>,
    pub max_requests: Option<u32>,
    pub max_retries: Option<u32>,
}

/// Passive health: instances that keep failing are ejected for a while.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutlierDetection {
    pub consecutive_5xx: u32,
    pub interval: Duration,
    pub base_ejection: Duration,
    pub max_ejection_percent: u8,
}

/// Active health: the proxy (and `meshc-runtime health`) probes each instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheck {
    pub probe: Probe,
    /// Time between probes of one instance (Envoy: from one's end to the next's
    /// start; `meshc-runtime health`: start to start); spanned at its property, else the node.
    pub interval: Spanned<Duration>,
    /// How long a probe may take before it counts as failed; spanned like `interval`.
    pub timeout: Spanned<Duration>,
    /// A random extra wait of up to this before each probe, so that many
    /// prober instances do not probe in step.
    pub jitter: Option<Duration>,
    /// A grace period after the prober first sees an instance: failed
    /// probes during it do not count, so a slow start is not an outage.
    pub start_period: Option<Duration>,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// A `GET` of `path`; healthy when the status is in `expect_status`.
    Http {
        path: Spanned<String>,
        expect_status: StatusRange,
    },
    /// The gRPC health protocol (`grpc.health.v1.Health/Check`) asking about
    /// `service`; `None` asks about the server as a whole (the empty name).
    Grpc {
        service: Option<Spanned<String>>,
    },
    Tcp,
}

/// HTTP statuses a probe accepts, `first..=last` (100 to 599).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusRange {
    pub first: u16,
    pub last: u16,
}

impl StatusRange {
    /// Any 2xx: the default.
    pub const SUCCESS: StatusRange = StatusRange { first: 200, last: 299 };

    /// `200` or `200-399`.
    pub fn parse(text: &str) -> Result<StatusRange, String> {
        let status = |t: &str| match t.trim().parse::<u16>() {
            Ok(n) if (100..=599).contains(&n) => Ok(n),
            _ => Err(format!("`{t}` is not an HTTP status (100 to 599); write `200` or `200-399`")),
        };
        let (first, last) = match text.split_once('-') {
            Some((a, b)) => (status(a)?, status(b)?),
            None => (status(text)?, status(text)?),
        };
        if first > last {
            return Err(format!("`{text}` is an empty range; write the lower status first"));
        }
        Ok(StatusRange { first, last })
    }

    pub fn contains(self, status: u16) -> bool {
        (self.first..=self.last).contains(&status)
    }
}

/// Mesh-wide limits the analyses enforce (`limits` in the spec; the
/// defaults equal those `std:resilience` declares).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most requests one gateway request may cause at any service.
    pub max_retry_amplification: u64,
    /// Where the spec sets the limits, if it does.
    pub span: Option<Span>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_retry_amplification: 10, span: None }
    }
}

/// What a call or route answers when its callee is unavailable (its
/// circuit breaker refuses the request, no instance is healthy, every
/// attempt failed): `fallback` in the spec.
#[derive(Debug)]
pub struct Fallback {
    pub kind: FallbackKind,
    /// The `fallback` node.
    pub span: Span,
}

#[derive(Debug)]
pub enum FallbackKind {
    /// Another service takes the requests: a degraded implementation of
    /// the same operation (`fallback "SERVICE"`), reached on `port`.
    Service { target: Spanned<ServiceId>, port: PortId },
    /// The proxy answers itself (`fallback status=N { header ...; body ... }`).
    Static(StaticResponse),
    /// A cached response no older than this is served (`fallback stale=DURATION`).
    Stale { max_age: Spanned<Duration> },
}

impl Fallback {
    /// The fallback service, for a service fallback.
    pub fn service(&self) -> Option<ServiceId> {
        match &self.kind {
            FallbackKind::Service { target, .. } => Some(target.value),
            _ => None,
        }
    }
}

/// A call's or route's fallback, with what it stands in for.
#[derive(Clone, Copy, Debug)]
pub struct FallbackUse<'m> {
    /// Who makes the requests: a service's call or a gateway's route.
    pub consumer: super::contracts::Consumer,
    /// The callee the fallback stands in for.
    pub primary: ServiceId,
    /// The operation the call or route names, if any.
    pub operation: Option<&'m Spanned<super::values::Operation>>,
    /// The API version of the primary the call or route uses.
    pub api_version: Option<super::api_versions::ApiVersionRef>,
    pub fallback: &'m Fallback,
    /// The call or route.
    pub origin: super::contracts::UseOrigin<'m>,
}

impl super::Model {
    /// Every call's and route's fallback: services' calls first (in spec
    /// order), then gateways' routes.
    pub fn fallback_uses(&self) -> Vec<FallbackUse<'_>> {
        use super::contracts::{Consumer, UseOrigin};
        let calls = self.service_ids().flat_map(|id| {
            self.service(id).calls.iter().filter_map(move |call| {
                Some(FallbackUse {
                    consumer: Consumer::Service(id),
                    primary: call.target.value,
                    operation: call.operation.as_ref(),
                    api_version: call.api_version,
                    fallback: call.fallback.as_ref()?,
                    origin: UseOrigin::Call(call),
                })
            })
        });
        let routes = self.gateway_ids().flat_map(|id| {
            self.gateway(id).routes.iter().filter_map(move |route| {
                let forward = route.forward()?;
                Some(FallbackUse {
                    consumer: Consumer::Gateway(id),
                    primary: forward.target.value,
                    operation: forward.operation.as_ref(),
                    api_version: forward.api_versions.as_ref().and_then(|v| v.one()),
                    fallback: forward.fallback.as_ref()?,
                    origin: UseOrigin::Route(route),
                })
            })
        });
        calls.chain(routes).collect()
    }
}

/// A response the proxy sends on its own.
#[derive(Debug)]
pub struct StaticResponse {
    /// An HTTP status, 200 to 599.
    pub status: Spanned<u16>,
    pub headers: Vec<super::contracts::Pair>,
    /// A JSON body, checked against the operation's response schema.
    pub body: Option<super::contracts::JsonText>,
}

/// A service's `call-defaults`: what its calls use unless they say otherwise.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallDefaults {
    pub timeout: Option<Spanned<Duration>>,
    pub retries: Option<RetryPolicy>,
}

#[cfg(test)]
mod tests {
    use super::{Port, SidecarPorts, StatusRange};

    #[test]
    fn expected_statuses_are_one_status_or_an_inclusive_range() {
        assert_eq!(StatusRange::parse("204"), Ok(StatusRange { first: 204, last: 204 }));
        assert_eq!(StatusRange::parse("200-399"), Ok(StatusRange { first: 200, last: 399 }));
        assert!(StatusRange::parse("399-200").is_err());
        assert!(StatusRange::parse("600").is_err());
        assert!(StatusRange::parse("2xx").is_err());
        assert!(StatusRange::SUCCESS.contains(299) && !StatusRange::SUCCESS.contains(300));
    }

    #[test]
    fn each_service_port_takes_the_next_inbound_port_up_to_65535() {
        let ports = |inbound: i128, count: usize| {
            let sidecar = SidecarPorts { inbound: Port::new(inbound).unwrap(), ..SidecarPorts::default() };
            sidecar.inbound_ports(count).map(|p| p.iter().map(|p| p.get()).collect::<Vec<_>>())
        };
        assert_eq!(ports(15006, 3), Some(vec![15006, 15007, 15008]));
        assert_eq!(ports(65534, 2), Some(vec![65534, 65535]));
        assert_eq!(ports(65535, 2), None);
        assert_eq!(ports(15006, 0), Some(vec![]));
    }
}
