//! A service's `traffic` block: load balancing, circuit breaker, outlier
//! detection, health check and the rules routing between its versions; and
//! a call's expected `load`.

use std::ops::Deref;

use std::collections::HashMap;

use super::read::{self, bounded, Once};
use super::{Decls, Lower};
use crate::base::{Span, Spanned};
use crate::diag::{suggestion, Code, Diagnostic};
use crate::model::traffic::{
    CircuitBreaker, HeaderRoute, HealthCheck, Load, LoadBalancing, Mirror, OutlierDetection, Probe, StatusRange,
    TrafficPolicy, Version, VersionId, WeightedVersion,
};
use crate::model::values::{Duration, HeaderName};
use crate::syntax::Node;

const TRAFFIC_CHILDREN: &[&str] =
    &["load-balancing", "circuit-breaker", "outlier-detection", "health-check", "match-header", "split", "mirror"];
/// Children that may appear once in a `traffic` block.
const TRAFFIC_ONCE: &[&str] =
    &["load-balancing", "circuit-breaker", "outlier-detection", "health-check", "split", "mirror"];

impl<D: Deref<Target = Decls>> Lower<'_, D> {
    /// A service's `traffic { ... }` block; its rules name `versions`.
    pub(super) fn traffic(&mut self, node: &Node, versions: &[Version]) -> Option<TrafficPolicy> {
        read::check_entries(node, 0, &[], self.sink);
        let mut once = Once::default();
        let mut policy = TrafficPolicy::default();
        let mut failed = false;
        for child in node.children() {
            if TRAFFIC_ONCE.contains(&child.name.as_str()) && !once.first(child, self.sink) {
                continue;
            }
            let ok = match child.name.as_str() {
                "load-balancing" => self.load_balancing(child).map(|lb| policy.load_balancing = Some(lb)),
                "circuit-breaker" => self.circuit_breaker(child).map(|cb| policy.circuit_breaker = Some(cb)),
                "outlier-detection" => self.outlier_detection(child).map(|o| policy.outlier_detection = Some(o)),
                "health-check" => self.health_check(child).map(|h| policy.health_check = Some(h)),
                "match-header" => self.header_route(child, versions).map(|r| policy.rules.header_routes.push(r)),
                "split" => self.split(child, versions).map(|s| policy.rules.split = s),
                "mirror" => self.mirror(child, versions).map(|m| policy.rules.mirror = Some(m)),
                _ => {
                    read::unknown_child(child, "traffic", TRAFFIC_CHILDREN, self.sink);
                    Some(())
                }
            };
            failed |= ok.is_none();
        }
        (!failed).then_some(policy)
    }

    /// `match-header "x-canary" exact="true" to="v2"`.
    pub(super) fn header_route(&mut self, node: &Node, versions: &[Version]) -> Option<HeaderRoute> {
        let header = self.header_match(node, &["to"]);
        let example = "match-header \"x-canary\" exact=\"true\" to=\"v2\"";
        let to = read::string_prop(node, "to", Some(example), self.sink);
        let to = self.version_ref(&to?, versions);
        Some(HeaderRoute { header: header?, to: to?, span: node.span })
    }

    /// `split { to "v1" weight=90; to "v2" weight=10 }`: the weights total 100.
    pub(super) fn split(&mut self, node: &Node, versions: &[Version]) -> Option<Vec<WeightedVersion>> {
        read::check_entries(node, 0, &[], self.sink);
        let example = "to \"v2\" weight=10";
        let mut split = Vec::new();
        let mut seen: HashMap<VersionId, Span> = HashMap::new();
        let mut failed = false;
        for child in node.children() {
            if child.name != "to" {
                read::unknown_child(child, "split", &["to"], self.sink);
                continue;
            }
            read::check_entries(child, 1, &["weight"], self.sink);
            read::no_children(child, self.sink);
            let name = read::string_arg(child, 0, "a version", example, self.sink);
            let weight = read::int_prop(child, "weight", Some(example), self.sink)
                .and_then(|w| read::parse(&w, |w| bounded(*w, 0, 100, "a weight"), self.sink));
            let version = name.and_then(|n| self.version_ref(&n, versions).map(|v| (v, n.span)));
            let (Some((version, span)), Some(weight)) = (version, weight) else {
                failed = true;
                continue;
            };
            if let Some(&first) = seen.get(&version) {
                self.sink.push(
                    Diagnostic::new(
                        Code::InvalidSplit,
                        format!("the split names version `{}` twice", versions[version.index()].name.value),
                    )
                    .at(span, "named again")
                    .with_label(first, "first named here")
                    .help("give each version one `to` with its whole weight"),
                );
                failed = true;
                continue;
            }
            seen.insert(version, span);
            split.push(WeightedVersion { version, weight });
        }
        if failed {
            return None;
        }
        let total: u32 = split.iter().map(|w| w.weight).sum();
        if total != 100 {
            let parts: Vec<String> = split.iter().map(|w| w.weight.to_string()).collect();
            let shown =
                if parts.is_empty() { "nothing".to_string() } else { format!("{} = {total}", parts.join(" + ")) };
            self.sink.push(
                Diagnostic::new(Code::InvalidSplit, format!("the split's weights total {total}%, not 100%"))
                    .at(node.span, shown)
                    .help("weights are percentages of the requests: make them add up to 100 (Istio requires it)"),
            );
            return None;
        }
        Some(split)
    }

    /// `mirror "v2" percent=10`.
    pub(super) fn mirror(&mut self, node: &Node, versions: &[Version]) -> Option<Mirror> {
        read::check_entries(node, 1, &["percent"], self.sink);
        read::no_children(node, self.sink);
        let name = read::string_arg(node, 0, "a version", "mirror \"v2\" percent=10", self.sink);
        let percent = self.count_prop(node, "percent", 1, 100)?;
        let to = self.version_ref(&name?, versions)?;
        Some(Mirror { to, percent: percent.unwrap_or(100), span: node.span })
    }

    /// A version of the service by name, with did-you-mean when there is none.
    pub(super) fn version_ref(&mut self, name: &Spanned<String>, versions: &[Version]) -> Option<VersionId> {
        if let Some(i) = versions.iter().position(|v| v.name.value == name.value) {
            return Some(VersionId::new(i));
        }
        let help = if versions.is_empty() {
            Some(format!("declare the service's versions first: versions {{ version \"{}\" }}", name.value))
        } else {
            suggestion(&name.value, versions.iter().map(|v| v.name.value.as_str()))
        };
        self.sink.push(
            Diagnostic::new(Code::UnknownVersion, format!("the service has no version `{}`", name.value))
                .at(name.span, "unknown version")
                .help_opt(help),
        );
        None
    }

    pub(super) fn load_balancing(&mut self, node: &Node) -> Option<Spanned<LoadBalancing>> {
        read::check_entries(node, 1, &["hash-header"], self.sink);
        read::no_children(node, self.sink);
        let example = "load-balancing \"least-request\"";
        let kind = read::string_arg(node, 0, "a policy", example, self.sink)?;
        let header = read::string_prop(node, "hash-header", None, self.sink);
        let lb = match kind.value.as_str() {
            "round-robin" => LoadBalancing::RoundRobin,
            "least-request" => LoadBalancing::LeastRequest,
            "random" => LoadBalancing::Random,
            "ring-hash" => match &header {
                Some(h) => LoadBalancing::RingHash { header: read::parse(h, |h| HeaderName::parse(h), self.sink)? },
                None => {
                    self.sink.push(
                        Diagnostic::new(Code::MissingRequired, "`ring-hash` needs the header to hash on")
                            .at(kind.span, "no hash key")
                            .help("add it: load-balancing \"ring-hash\" hash-header=\"x-user-id\""),
                    );
                    return None;
                }
            },
            other => {
                let kinds = ["round-robin", "least-request", "random", "ring-hash"];
                self.sink.push(
                    Diagnostic::new(Code::InvalidValue, format!("`{other}` is not a load-balancing policy"))
                        .at(kind.span, "unknown policy")
                        .help_opt(suggestion(other, kinds.iter().copied())),
                );
                return None;
            }
        };
        if let (Some(h), false) = (&header, matches!(lb, LoadBalancing::RingHash { .. })) {
            self.sink.push(
                Diagnostic::new(Code::UnknownProperty, "`hash-header` applies to `ring-hash`")
                    .at(h.span, "not hashing")
                    .help("remove it, or use load-balancing \"ring-hash\""),
            );
            return None;
        }
        Some(Spanned::new(lb, node.span))
    }

    pub(super) fn circuit_breaker(&mut self, node: &Node) -> Option<Spanned<CircuitBreaker>> {
        let keys = ["max-connections", "max-pending", "max-requests", "max-retries"];
        read::check_entries(node, 0, &keys, self.sink);
        read::no_children(node, self.sink);
        let mut values = [None; 4];
        for (slot, key) in values.iter_mut().zip(keys) {
            *slot = self.count_prop(node, key, 1, 1_000_000_000)?;
        }
        if values.iter().all(Option::is_none) {
            self.sink.push(
                Diagnostic::new(Code::MissingRequired, "`circuit-breaker` sets no limit")
                    .at(node.name_span, "no limits")
                    .help("set at least one: circuit-breaker max-requests=1000 max-pending=100"),
            );
            return None;
        }
        let [max_connections, max_pending, max_requests, max_retries] = values;
        Some(Spanned::new(CircuitBreaker { max_connections, max_pending, max_requests, max_retries }, node.span))
    }

    pub(super) fn outlier_detection(&mut self, node: &Node) -> Option<Spanned<OutlierDetection>> {
        read::check_entries(
            node,
            0,
            &["consecutive-5xx", "interval", "base-ejection", "max-ejection-percent"],
            self.sink,
        );
        read::no_children(node, self.sink);
        let consecutive = self.count_prop(node, "consecutive-5xx", 1, 1000)?;
        let interval = self.spanned_duration(node, "interval")?;
        let ejection = self.spanned_duration(node, "base-ejection")?;
        let percent = self.count_prop(node, "max-ejection-percent", 1, 100)?;
        Some(Spanned::new(
            OutlierDetection {
                consecutive_5xx: consecutive.unwrap_or(5),
                interval: interval.map_or(Duration::from_millis(10_000), |d| d.value),
                base_ejection: ejection.map_or(Duration::from_millis(30_000), |d| d.value),
                max_ejection_percent: percent.map_or(10, |p| p as u8),
            },
            node.span,
        ))
    }

    pub(super) fn health_check(&mut self, node: &Node) -> Option<Spanned<HealthCheck>> {
        read::check_entries(
            node,
            1,
            &[
                "path",
                "expect-status",
                "grpc-service",
                "interval",
                "timeout",
                "jitter",
                "start-period",
                "healthy",
                "unhealthy",
            ],
            self.sink,
        );
        read::no_children(node, self.sink);
        let example = "health-check \"http\" path=\"/healthz\" interval=\"5s\"";
        let kind = read::string_arg(node, 0, "a probe kind", example, self.sink)?;
        let path = read::string_prop(node, "path", None, self.sink);
        let grpc_service = read::string_prop(node, "grpc-service", None, self.sink);
        let expect_status = read::string_prop(node, "expect-status", None, self.sink);
        let misplaced = |key: &str, probe: &str| {
            Diagnostic::new(Code::UnknownProperty, format!("`{key}` applies to {probe} probes"))
                .help(format!("remove it, or use health-check \"{probe}\""))
        };
        let probe = match kind.value.as_str() {
            "http" => {
                if let Some(g) = &grpc_service {
                    self.sink.push(misplaced("grpc-service", "grpc").at(g.span, "not a gRPC probe"));
                    return None;
                }
                let path = path.unwrap_or_else(|| Spanned::new("/healthz".to_string(), node.span));
                if !path.value.starts_with('/') {
                    self.sink.push(
                        Diagnostic::new(Code::InvalidValue, format!("`{}` is not a request path", path.value))
                            .at(path.span, "path must start with `/`")
                            .help("e.g. path=\"/healthz\""),
                    );
                    return None;
                }
                let expect_status = match expect_status {
                    Some(text) => read::parse(&text, |t| StatusRange::parse(t), self.sink)?,
                    None => StatusRange::SUCCESS,
                };
                Probe::Http { path, expect_status }
            }
            "grpc" | "tcp" => {
                let http_only = path.as_ref().map(|p| ("path", p.span));
                if let Some((key, span)) = http_only.or(expect_status.as_ref().map(|e| ("expect-status", e.span))) {
                    self.sink.push(misplaced(key, "http").at(span, "not an HTTP probe"));
                    return None;
                }
                if kind.value == "grpc" {
                    Probe::Grpc { service: grpc_service }
                } else if let Some(g) = &grpc_service {
                    self.sink.push(misplaced("grpc-service", "grpc").at(g.span, "not a gRPC probe"));
                    return None;
                } else {
                    Probe::Tcp
                }
            }
            other => {
                self.sink.push(
                    Diagnostic::new(Code::InvalidValue, format!("`{other}` is not a probe kind"))
                        .at(kind.span, "unknown probe")
                        .help_opt(suggestion(other, ["http", "grpc", "tcp"].iter().copied())),
                );
                return None;
            }
        };
        let interval = self.spanned_duration(node, "interval")?;
        let timeout = self.spanned_duration(node, "timeout")?;
        let jitter = self.spanned_duration(node, "jitter")?;
        let start_period = self.spanned_duration(node, "start-period")?;
        let healthy = self.count_prop(node, "healthy", 1, 100)?;
        let unhealthy = self.count_prop(node, "unhealthy", 1, 100)?;
        let or_default =
            |d: Option<Spanned<Duration>>, ms| d.unwrap_or(Spanned::new(Duration::from_millis(ms), node.span));
        Some(Spanned::new(
            HealthCheck {
                probe,
                interval: or_default(interval, 5_000),
                timeout: or_default(timeout, 1_000),
                jitter: jitter.map(|d| d.value),
                start_period: start_period.map(|d| d.value),
                healthy_threshold: healthy.unwrap_or(2),
                unhealthy_threshold: unhealthy.unwrap_or(3),
            },
            node.span,
        ))
    }

    /// A call's or route's `load rps=N latency=D`.
    pub(super) fn load(&mut self, node: &Node) -> Option<Spanned<Load>> {
        read::check_entries(node, 0, &["rps", "latency"], self.sink);
        read::no_children(node, self.sink);
        let example = "load rps=200 latency=\"50ms\"";
        let rps = read::int_prop(node, "rps", Some(example), self.sink)
            .and_then(|n| read::parse(&n, |n| bounded(*n, 1, 10_000_000, "rps"), self.sink));
        let latency = read::string_prop(node, "latency", Some(example), self.sink)
            .and_then(|t| read::parse(&t, |t| Duration::parse(t), self.sink));
        Some(Spanned::new(Load { rps: rps?, latency: latency? }, node.span))
    }
}
