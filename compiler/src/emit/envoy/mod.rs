//! The Envoy engine: its backends (`gateway`, `sidecar`, `ratelimit`), the
//! pieces they share for mutual TLS and authorization (`tls`) and for end
//! users' tokens and rate limits (`security`), and, here, what both proxy
//! backends emit the same way: retry policies, a callee's traffic policy on
//! its cluster, and the route hash policy ring-hash balancing needs.

pub mod api;
pub mod gateway;
pub mod local_mesh;
pub mod ratelimit;
mod security;
pub mod sidecar;
mod stats;
pub mod tls;
mod tracing;
mod version_routes;
mod xds;

use std::collections::BTreeMap;

use api::{
    BackOff, CircuitBreakers, Cluster, ClusterWeight, Empty, FractionalPercent, GrpcHealthCheck, HashHeader,
    HashPolicy, HeaderMatcher, HealthCheck, HttpHealthCheck, Int64Range, LbEndpoint, Locality, LocalityLbEndpoints,
    MirrorPolicy, OutlierDetection, Percent, RetryBudget, RuntimeFraction, StringMatcher, Thresholds, WeightedClusters,
};

use crate::model::traffic::{
    HealthCheck as HealthPolicy, Instance, LoadBalancing, Probe, RetryPolicy, StaticResponse, TrafficPolicy, VersionId,
};
use crate::model::values::{Duration, Host};
use crate::model::{HeaderMatch, HeaderRule, PortId, Service};

pub const HCM: &str =
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
pub const ROUTER: &str = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";

/// A cluster named `name` reaching `service`'s instances (of one version,
/// or all): its declared `endpoints`, grouped by priority and zone (Envoy
/// fails over to the next priority when a lower one's hosts are unhealthy),
/// or its `address` (the version's) resolved by DNS. `STATIC` when every
/// host is an IP address. The callee's `traffic` policy applies to it.
pub fn upstream_cluster<'a>(name: &str, service: &'a Service, port: PortId, version: Option<VersionId>) -> Cluster<'a> {
    let port = service.port(port).number;
    let instances: Vec<&Instance> =
        service.endpoints.iter().filter(|i| version.is_none() || i.version == version).collect();
    let (endpoints, all_ips) = if instances.is_empty() {
        let host = match version.and_then(|v| service.version(v).host.as_ref()) {
            Some(host) => host,
            None => service.host().expect("a service with a port has an address"),
        };
        let ip = host.as_str().parse::<std::net::IpAddr>().is_ok();
        (vec![LocalityLbEndpoints::of(vec![LbEndpoint::at(host.as_str(), port.get())])], ip)
    } else {
        let mut groups: BTreeMap<(u32, Option<&str>), Vec<LbEndpoint>> = BTreeMap::new();
        for instance in &instances {
            let mut endpoint = LbEndpoint::at(instance.host.as_str(), instance.port.unwrap_or(port).get());
            endpoint.load_balancing_weight = instance.weight;
            groups.entry((instance.priority, instance.zone.as_deref())).or_default().push(endpoint);
        }
        let groups = groups
            .into_iter()
            .map(|((priority, zone), lb_endpoints)| LocalityLbEndpoints {
                lb_endpoints,
                locality: zone.map(|zone| Locality { zone: zone.into() }),
                priority: Some(priority),
            })
            .collect();
        let ips = instances.iter().all(|i| i.host.as_str().parse::<std::net::IpAddr>().is_ok());
        (groups, ips)
    };
    let mut cluster = Cluster::new(name.to_string().into(), if all_ips { "STATIC" } else { "STRICT_DNS" }, endpoints);
    cluster.lb_policy = Some("ROUND_ROBIN");
    apply_traffic(&mut cluster, &service.traffic, service.host());
    cluster
}

/// Caps a cluster's concurrent retries with the tightest of the retry
/// budgets its routes declare (Envoy keeps one per cluster and priority).
/// A budget overrides the circuit breaker's `max_retries`.
pub fn apply_retry_budget<'a>(cluster: &mut Cluster, budgets: impl IntoIterator<Item = &'a RetryPolicy>) {
    let Some(budget) = budgets.into_iter().filter_map(|p| p.budget).min_by_key(|b| (b.percent, b.min_concurrency))
    else {
        return;
    };
    let breakers = cluster.circuit_breakers.get_or_insert_with(|| CircuitBreakers { thresholds: Vec::new() });
    if breakers.thresholds.is_empty() {
        breakers.thresholds.push(Thresholds::default_priority());
    }
    breakers.thresholds[0].retry_budget = Some(RetryBudget {
        budget_percent: Percent { value: f64::from(budget.percent) },
        min_retry_concurrency: budget.min_concurrency,
    });
}

/// The clusters a caller needs to reach `callee` under its traffic rules,
/// as `(version, name)`: the whole service unless a split spreads all of
/// its requests over versions, and each version the rules send to.
/// A version's cluster is named `BASE|VERSION`.
pub fn callee_clusters(base: &str, callee: &Service) -> Vec<(Option<VersionId>, String)> {
    let rules = &callee.traffic.rules;
    let whole = rules.split.is_empty().then(|| (None, base.to_string()));
    whole.into_iter().chain(rules.versions().into_iter().map(|v| (Some(v), version_cluster(base, callee, v)))).collect()
}

pub fn version_cluster(base: &str, callee: &Service, version: VersionId) -> String {
    format!("{base}|{}", callee.version(version).name.value)
}

/// The routes that carry one route's requests to `callee`, whose action
/// names the whole service's cluster: first a copy per header rule, sending
/// the requests it matches to that version; then the route itself, its
/// requests split over versions and mirrored as the callee's rules say.
pub fn versioned_routes<'a>(mut route: api::Route<'a>, callee: &'a Service) -> Vec<api::Route<'a>> {
    let rules = &callee.traffic.rules;
    let Some(action) = route.route.as_mut().filter(|_| !rules.is_empty()) else {
        return vec![route];
    };
    let base = action.cluster.take().expect("the route's action names a cluster").into_owned();
    let mut out = Vec::with_capacity(rules.header_routes.len() + 1);
    for rule in &rules.header_routes {
        let mut variant = route.clone();
        variant.name = format!("{}|{}", route.name, callee.version(rule.to).name.value).into();
        variant.matcher.headers.push(header_matcher(&rule.header));
        if let Some(action) = variant.route.as_mut() {
            action.cluster = Some(version_cluster(&base, callee, rule.to).into());
        }
        out.push(variant);
    }
    let action = route.route.as_mut().expect("a route action");
    if rules.split.is_empty() {
        action.cluster = Some(base.clone().into());
    } else {
        action.weighted_clusters = Some(weighted_versions(&base, callee));
    }
    if let Some(mirror) = &rules.mirror {
        action.request_mirror_policies = vec![MirrorPolicy {
            cluster: version_cluster(&base, callee, mirror.to),
            runtime_fraction: RuntimeFraction {
                default_value: FractionalPercent { denominator: "HUNDRED", numerator: mirror.percent },
                runtime_key: None,
            },
        }];
    }
    out.push(route);
    out
}

/// The version clusters a split spreads `base`'s requests over, by weight.
pub fn weighted_versions(base: &str, callee: &Service) -> WeightedClusters {
    let clusters = callee
        .traffic
        .rules
        .split
        .iter()
        .map(|w| ClusterWeight { name: version_cluster(base, callee, w.version), weight: w.weight })
        .collect();
    WeightedClusters { clusters }
}

/// An Envoy route `HeaderMatcher`.
pub fn header_matcher(header: &HeaderMatch) -> HeaderMatcher<'_> {
    let name = header.name.as_str();
    match &header.rule {
        HeaderRule::Exact(v) => HeaderMatcher::string(name, StringMatcher::exact(v.as_str())),
        HeaderRule::Prefix(v) => HeaderMatcher::string(name, StringMatcher::prefix(v.as_str())),
        HeaderRule::Present => HeaderMatcher { name: name.into(), present_match: true, string_match: None },
    }
}

/// A route's `retry_policy`.
pub fn retry_policy(policy: &RetryPolicy) -> api::RetryPolicy {
    // The spec's condition names are Envoy's (`x-envoy-retry-on`, `x-envoy-retry-grpc-on`).
    let conditions: Vec<&str> = policy.conditions().iter().map(|c| c.as_str()).collect();
    api::RetryPolicy {
        num_retries: policy.retries,
        per_try_timeout: policy.per_try_timeout.as_ref().map(|t| t.value.to_proto_json()),
        retry_back_off: policy
            .backoff
            .map(|b| BackOff { base_interval: b.base.to_proto_json(), max_interval: b.max.to_proto_json() }),
        retry_on: conditions.join(","),
    }
}

/// Sets a cluster's load balancing, circuit breakers, outlier detection and
/// health checks from the callee's `traffic` block; HTTP health checks
/// name the callee's `host`, as its callers' requests do.
fn apply_traffic<'a>(cluster: &mut Cluster<'a>, traffic: &'a TrafficPolicy, host: Option<&'a Host>) {
    if let Some(lb) = &traffic.load_balancing {
        cluster.lb_policy = Some(match lb.value {
            LoadBalancing::RoundRobin => "ROUND_ROBIN",
            LoadBalancing::LeastRequest => "LEAST_REQUEST",
            LoadBalancing::Random => "RANDOM",
            LoadBalancing::RingHash { .. } => "RING_HASH",
        });
    }
    if let Some(cb) = &traffic.circuit_breaker {
        let thresholds = Thresholds {
            max_connections: cb.value.max_connections,
            max_pending_requests: cb.value.max_pending,
            max_requests: cb.value.max_requests,
            max_retries: cb.value.max_retries,
            ..Thresholds::default_priority()
        };
        cluster.circuit_breakers = Some(CircuitBreakers { thresholds: vec![thresholds] });
    }
    if let Some(od) = &traffic.outlier_detection {
        cluster.outlier_detection = Some(OutlierDetection {
            base_ejection_time: od.value.base_ejection.to_proto_json(),
            consecutive_5xx: od.value.consecutive_5xx,
            interval: od.value.interval.to_proto_json(),
            max_ejection_percent: od.value.max_ejection_percent,
        });
    }
    if let Some(hc) = &traffic.health_check {
        cluster.health_checks = vec![health_check(&hc.value, host)];
    }
}

fn health_check<'a>(hc: &'a HealthPolicy, host: Option<&'a Host>) -> HealthCheck<'a> {
    let mut out = HealthCheck {
        grpc_health_check: None,
        healthy_threshold: hc.healthy_threshold,
        http_health_check: None,
        interval: hc.interval.value.to_proto_json(),
        interval_jitter: hc.jitter.map(Duration::to_proto_json),
        // Probe at the same pace before the first request as after it (Envoy waits 60 s by default).
        no_traffic_interval: hc.interval.value.to_proto_json(),
        tcp_health_check: None,
        timeout: hc.timeout.value.to_proto_json(),
        unhealthy_threshold: hc.unhealthy_threshold,
    };
    match &hc.probe {
        Probe::Http { path, expect_status } => {
            out.http_health_check = Some(HttpHealthCheck {
                // Envoy's ranges end before `end`; its default is 200 alone, ours any 2xx.
                expected_statuses: vec![Int64Range {
                    end: i64::from(expect_status.last) + 1,
                    start: i64::from(expect_status.first),
                }],
                host: host.map(|h| h.as_str().into()),
                path: path.value.as_str().into(),
            })
        }
        Probe::Grpc { service } => {
            out.grpc_health_check =
                Some(GrpcHealthCheck { service_name: service.as_ref().map(|s| s.value.as_str().into()) })
        }
        Probe::Tcp => out.tcp_health_check = Some(Empty {}),
    }
    out
}

/// The route `hash_policy` a ring-hash callee needs, if it balances by ring hash.
pub fn hash_policy(traffic: &TrafficPolicy) -> Vec<HashPolicy<'_>> {
    match traffic.load_balancing.as_ref().map(|lb| &lb.value) {
        Some(LoadBalancing::RingHash { header }) => {
            vec![HashPolicy { header: HashHeader { header_name: header.as_str().into() } }]
        }
        _ => Vec::new(),
    }
}

/// The HTTP filter that answers for an unavailable callee with a static
/// fallback (off but on the routes that configure it).
pub const CUSTOM_RESPONSE: &str = "envoy.filters.http.custom_response";

/// The `custom_response` filter, for a connection manager whose routes have static fallbacks.
pub fn custom_response_filter<'a>() -> api::Filter<'a> {
    api::Filter::new(CUSTOM_RESPONSE, api::Any::CustomResponse(api::CustomResponse { custom_response_matcher: None }))
}

/// A route's static fallback: the proxy answers with `response` instead of
/// what it got when the callee was unavailable: a 5xx it produced itself
/// (circuit breaker open `UO`, no healthy instance `UH`, connection failure
/// `UF`, reset, timeout), or a 502, 503 or 504 from the callee (gateway
/// errors, after the retries).
pub fn static_fallback(response: &StaticResponse) -> api::Any<'_> {
    use api::{
        FieldMatcher, InlineString, LocalResponsePolicy, MatchAction, MatchInput, MatcherList, OnMatch, Predicate,
        PredicateList, SinglePredicate, TypedEmpty, ValueMatch, XdsMatcher,
    };
    let input = |name: &'static str, kind: &'static str, exact: &'static str| Predicate::Single {
        single_predicate: SinglePredicate {
            input: MatchInput { name, typed_config: TypedEmpty { kind } },
            value_match: ValueMatch { exact },
        },
    };
    const STATUS: &str = "type.googleapis.com/envoy.type.matcher.v3.HttpResponseStatusCodeMatchInput";
    let local_5xx = Predicate::And {
        and_matcher: PredicateList {
            predicate: vec![
                input(
                    "local-reply",
                    "type.googleapis.com/envoy.type.matcher.v3.HttpResponseLocalReplyMatchInput",
                    "true",
                ),
                input(
                    "status-class",
                    "type.googleapis.com/envoy.type.matcher.v3.HttpResponseStatusCodeClassMatchInput",
                    "5xx",
                ),
            ],
        },
    };
    let gateway_errors = ["502", "503", "504"].map(|code| input("status", STATUS, code));
    let predicate = Predicate::Or {
        or_matcher: PredicateList { predicate: [local_5xx].into_iter().chain(gateway_errors).collect() },
    };
    let policy = LocalResponsePolicy {
        kind: "type.googleapis.com/envoy.extensions.http.custom_response.local_response_policy.v3.LocalResponsePolicy",
        body: response.body.as_ref().map(|b| InlineString { inline_string: b.text.as_str().into() }),
        response_headers_to_add: (response.headers.iter())
            .map(|h| api::HeaderValueOption::set(h.name.value.as_str(), h.value.value.as_str()))
            .collect(),
        status_code: u32::from(response.status.value),
    };
    api::Any::CustomResponse(api::CustomResponse {
        custom_response_matcher: Some(XdsMatcher {
            matcher_list: MatcherList {
                matchers: vec![FieldMatcher {
                    on_match: OnMatch { action: MatchAction { name: "static-fallback", typed_config: policy } },
                    predicate,
                }],
            },
        }),
    })
}

/// The aggregate cluster failing `primary` over to `fallback`: `PRIMARY>FALLBACK`.
pub fn failover_cluster<'a>(primary: &str, fallback: &str) -> (String, Cluster<'a>) {
    let name = format!("{primary}>{fallback}");
    let cluster =
        Cluster::aggregate(name.clone().into(), vec![primary.to_string().into(), fallback.to_string().into()]);
    (name, cluster)
}

/// Points a route's clusters (its cluster, or each weighted one) at their
/// failover to `fallback`, adding the aggregate clusters to `clusters`.
pub fn fail_over<'a>(route: &mut api::Route<'a>, fallback: &str, clusters: &mut BTreeMap<String, Cluster<'a>>) {
    let Some(action) = route.route.as_mut() else { return };
    let mut swap = |name: &str| {
        let (aggregate, cluster) = failover_cluster(name, fallback);
        clusters.insert(aggregate.clone(), cluster);
        aggregate
    };
    if let Some(cluster) = action.cluster.take() {
        action.cluster = Some(swap(&cluster).into());
    }
    if let Some(weighted) = action.weighted_clusters.as_mut() {
        for w in &mut weighted.clusters {
            w.name = swap(&w.name);
        }
    }
}
