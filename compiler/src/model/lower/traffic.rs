//! Traffic and resilience settings: `retries` (on calls, routes,
//! `call-defaults` and named `retry-policy` nodes), a service's
//! `call-defaults` and `traffic` blocks, and the mesh's `limits`.

use std::collections::HashMap;

use super::read::{self, Once};
use super::{duplicate, Lower};
use crate::base::{Span, Spanned};
use crate::diag::{suggestion, Code, Diagnostic};
use crate::model::traffic::{
    Backoff, CallDefaults, CircuitBreaker, HeaderRoute, HealthCheck, Instance, Limits, Load, LoadBalancing, Mirror,
    OutlierDetection, Probe, RetryBudget, RetryOn, RetryPolicy, SidecarPorts, TrafficPolicy, Version, VersionId,
    WeightedVersion,
};
use crate::model::values::{check_name, Duration, HeaderName, Host, Port};
use crate::syntax::Node;

const RETRY_PROPS: &[&str] =
    &["policy", "per-try-timeout", "on", "backoff", "max-backoff", "budget", "min-retry-concurrency"];
const TRAFFIC_CHILDREN: &[&str] =
    &["load-balancing", "circuit-breaker", "outlier-detection", "health-check", "match-header", "split", "mirror"];
/// Children that may appear once in a `traffic` block.
const TRAFFIC_ONCE: &[&str] =
    &["load-balancing", "circuit-breaker", "outlier-detection", "health-check", "split", "mirror"];
const RETRY_EXAMPLE: &str = "retries 2 per-try-timeout=\"300ms\" on=\"5xx reset\"";

impl Lower<'_> {
    /// A top-level `retry-policy NAME { retries ... }`, registered for `retries policy=NAME`.
    pub(super) fn retry_policy_decl(&mut self, node: &Node, seen: &mut HashMap<String, Span>) {
        read::check_entries(node, 1, &[], self.sink);
        let example = "retry-policy \"standard\" { retries 2 per-try-timeout=\"500ms\" }";
        let Some(name) = read::string_arg(node, 0, "a name", example, self.sink) else { return };
        if let Some(&first) = seen.get(&name.value) {
            duplicate(self.sink, "retry-policy", &name.value, name.span, first);
            return;
        }
        seen.insert(name.value.clone(), name.span);
        let mut policy = None;
        let mut once = Once::default();
        for child in node.children() {
            match child.name.as_str() {
                "retries" if once.first(child, self.sink) => {
                    if child.property("policy").is_some() {
                        self.sink.push(
                            Diagnostic::new(Code::UnknownProperty, "a named policy cannot refer to another")
                                .at(child.span, "refers to a policy")
                                .help(format!("write the retries out: {RETRY_EXAMPLE}")),
                        );
                        continue;
                    }
                    policy = self.retries(child);
                }
                "retries" => {}
                _ => read::unknown_child(child, "retry-policy", &["retries"], self.sink),
            }
        }
        match policy {
            Some(policy) => {
                self.retry_policies.insert(name.value, policy);
            }
            None if !node.children().iter().any(|c| c.name == "retries") => self.sink.push(
                Diagnostic::new(Code::MissingRequired, format!("retry-policy `{}` has no `retries`", name.value))
                    .at(name.span, "`retries` missing")
                    .help(format!("add it: {RETRY_EXAMPLE}")),
            ),
            None => {}
        }
    }

    /// `retries N per-try-timeout=D on="5xx reset" backoff=D max-backoff=D`,
    /// or `retries policy="NAME"`.
    pub(super) fn retries(&mut self, node: &Node) -> Option<RetryPolicy> {
        read::check_entries(node, 1, RETRY_PROPS, self.sink);
        read::no_children(node, self.sink);
        if let Some(name) = read::string_prop(node, "policy", None, self.sink) {
            if let Some(extra) = node.entries.iter().find(|e| e.name.as_deref().is_some_and(|n| n != "policy")) {
                self.sink.push(
                    Diagnostic::new(Code::UnknownProperty, "`retries policy=...` takes its settings from the policy")
                        .at(extra.span, "set by the policy")
                        .help("declare another retry-policy, or write the retries out"),
                );
                return None;
            }
            return match self.retry_policies.get(&name.value) {
                // Diagnostics about the retries point at the reference, in the user's spec.
                Some(policy) => Some(RetryPolicy { span: node.span, ..policy.clone() }),
                None => {
                    let mut known: Vec<&str> = self.retry_policies.keys().map(String::as_str).collect();
                    known.sort_unstable();
                    self.sink.push(
                        Diagnostic::new(Code::UnknownRetryPolicy, format!("no retry-policy named `{}`", name.value))
                            .at(name.span, "unknown retry policy")
                            .help_opt(suggestion(&name.value, known.iter().copied()).or(Some(
                                "declare it with retry-policy \"name\" { retries ... }, or `import \"std:resilience\"` for the standard ones".into(),
                            ))),
                    );
                    None
                }
            };
        }
        let count = read::int_arg(node, 0, "a retry count", RETRY_EXAMPLE, self.sink)
            .and_then(|n| read::parse(&n, |n| bounded(*n, 0, 10, "retries"), self.sink));
        let per_try_timeout = self.spanned_duration(node, "per-try-timeout");
        let retry_on = match read::string_prop(node, "on", None, self.sink) {
            Some(text) => {
                let parsed: Option<Vec<RetryOn>> = text
                    .value
                    .split([' ', ','])
                    .filter(|w| !w.is_empty())
                    .map(|w| read::parse(&Spanned::new(w.to_string(), text.span), |w| RetryOn::parse(w), self.sink))
                    .collect();
                Some(parsed?)
            }
            None if node.property("on").is_some() => return None,
            None => Some(Vec::new()),
        };
        let base = self.spanned_duration(node, "backoff");
        let max = self.spanned_duration(node, "max-backoff");
        let backoff = match (base?, max?) {
            (None, None) => None,
            (Some(base), None) => Some(Backoff { base: base.value, max: times_ten(base.value) }),
            (None, Some(max)) => Some(Backoff { base: Backoff::ENVOY_DEFAULT.base.min(max.value), max: max.value }),
            (Some(base), Some(max)) if max.value < base.value => {
                self.sink.push(
                    Diagnostic::new(
                        Code::InvalidValue,
                        format!("max-backoff {} is shorter than backoff {}", max.value, base.value),
                    )
                    .at(max.span, "shorter than the base")
                    .help("the cap must be at least the base interval"),
                );
                return None;
            }
            (Some(base), Some(max)) => Some(Backoff { base: base.value, max: max.value }),
        };
        let budget = self.retry_budget(node)?;
        Some(RetryPolicy {
            retries: count?,
            per_try_timeout: per_try_timeout?,
            retry_on: retry_on?,
            backoff,
            budget,
            span: node.span,
        })
    }

    /// `budget="20%" min-retry-concurrency=N` of a `retries` node.
    /// `Some(None)` when absent, `None` when invalid.
    fn retry_budget(&mut self, node: &Node) -> Option<Option<RetryBudget>> {
        let min = self.count_prop(node, "min-retry-concurrency", 0, 1_000_000)?;
        let Some(text) = read::string_prop(node, "budget", None, self.sink) else {
            if node.property("budget").is_some() {
                return None;
            }
            if let Some(entry) = node.property("min-retry-concurrency") {
                self.sink.push(
                    Diagnostic::new(Code::MissingRequired, "`min-retry-concurrency` qualifies a retry budget")
                        .at(entry.span, "no budget")
                        .help("add the budget: retries 2 budget=\"20%\" min-retry-concurrency=3"),
                );
                return None;
            }
            return Some(None);
        };
        let percent = read::parse(&text, |t| parse_percent(t), self.sink)?;
        // Envoy's default floor: three retries may always run.
        Some(Some(RetryBudget { percent, min_concurrency: min.unwrap_or(3) }))
    }

    /// A service's `call-defaults { timeout "1s"; retries ... }`.
    pub(super) fn call_defaults(&mut self, node: &Node) -> Option<CallDefaults> {
        read::check_entries(node, 0, &[], self.sink);
        let mut once = Once::default();
        let mut defaults = CallDefaults::default();
        let mut failed = false;
        for child in node.children() {
            if !once.first(child, self.sink) {
                continue;
            }
            match child.name.as_str() {
                "timeout" => {
                    read::check_entries(child, 1, &[], self.sink);
                    read::no_children(child, self.sink);
                    let text = read::string_arg(child, 0, "a duration", "timeout \"1s\"", self.sink);
                    match text.and_then(|t| {
                        read::parse(&t, |t| Duration::parse(t), self.sink).map(|d| Spanned::new(d, t.span))
                    }) {
                        Some(t) => defaults.timeout = Some(t),
                        None => failed = true,
                    }
                }
                "retries" => match self.retries(child) {
                    Some(r) => defaults.retries = Some(r),
                    None => failed = true,
                },
                _ => read::unknown_child(child, "call-defaults", &["timeout", "retries"], self.sink),
            }
        }
        (!failed).then_some(defaults)
    }

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
    fn header_route(&mut self, node: &Node, versions: &[Version]) -> Option<HeaderRoute> {
        let header = self.header_match(node, &["to"]);
        let example = "match-header \"x-canary\" exact=\"true\" to=\"v2\"";
        let to = read::string_prop(node, "to", Some(example), self.sink);
        let to = self.version_ref(&to?, versions);
        Some(HeaderRoute { header: header?, to: to?, span: node.span })
    }

    /// `split { to "v1" weight=90; to "v2" weight=10 }`: the weights total 100.
    fn split(&mut self, node: &Node, versions: &[Version]) -> Option<Vec<WeightedVersion>> {
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
                        format!("the split names version `{}` twice", versions[version.0 as usize].name.value),
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
    fn mirror(&mut self, node: &Node, versions: &[Version]) -> Option<Mirror> {
        read::check_entries(node, 1, &["percent"], self.sink);
        read::no_children(node, self.sink);
        let name = read::string_arg(node, 0, "a version", "mirror \"v2\" percent=10", self.sink);
        let percent = self.count_prop(node, "percent", 1, 100)?;
        let to = self.version_ref(&name?, versions)?;
        Some(Mirror { to, percent: percent.unwrap_or(100), span: node.span })
    }

    /// A version of the service by name, with did-you-mean when there is none.
    fn version_ref(&mut self, name: &Spanned<String>, versions: &[Version]) -> Option<VersionId> {
        if let Some(i) = versions.iter().position(|v| v.name.value == name.value) {
            return Some(VersionId(i as u32));
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

    /// A service's `versions { version "v1"; version "v2" address="..." }`.
    /// Without `endpoints`, each version is reached by DNS: its `address=`,
    /// else the cluster DNS name of its own Kubernetes Service.
    pub(super) fn versions(
        &mut self,
        node: &Node,
        address: Option<&Host>,
        has_endpoints: bool,
    ) -> Option<Vec<Version>> {
        read::check_entries(node, 0, &[], self.sink);
        let mut out: Vec<Version> = Vec::new();
        let mut failed = false;
        for child in node.children() {
            if child.name != "version" {
                read::unknown_child(child, "versions", &["version"], self.sink);
                continue;
            }
            read::check_entries(child, 1, &["address"], self.sink);
            read::no_children(child, self.sink);
            let Some(name) = read::string_arg(child, 0, "a version name", "version \"v2\"", self.sink) else {
                failed = true;
                continue;
            };
            if read::parse(&name, |n| check_name(n), self.sink).is_none() {
                failed = true;
                continue;
            }
            if let Some(first) = out.iter().find(|v| v.name.value == name.value) {
                duplicate(self.sink, "version", &name.value, name.span, first.name.span);
                failed = true;
                continue;
            }
            let explicit = read::string_prop(child, "address", None, self.sink);
            let host = match (explicit, has_endpoints) {
                (Some(text), false) => read::parse(&text, |h| Host::parse(h), self.sink),
                (Some(text), true) => {
                    self.sink.push(
                        Diagnostic::new(Code::UnknownProperty, "a version's instances are the endpoints that name it")
                            .at(text.span, "the service lists endpoints")
                            .help(format!(
                                "remove `address` and mark its endpoints: endpoint \"10.0.0.7\" version=\"{}\"",
                                name.value
                            )),
                    );
                    None
                }
                (None, true) => None,
                (None, false) if child.property("address").is_some() => None,
                (None, false) => match address.and_then(|a| a.kubernetes_version(&name.value)) {
                    Some(host) => Some(host),
                    None => {
                        self.sink.push(
                            Diagnostic::new(Code::MissingRequired, format!("version `{}` cannot be reached", name.value))
                                .at(name.span, "no address")
                                .help(format!("give it a DNS name (version \"{}\" address=\"...\"), or list the service's endpoints with version=\"{}\"", name.value, name.value)),
                        );
                        None
                    }
                },
            };
            if host.is_none() && !has_endpoints {
                failed = true;
                continue;
            }
            out.push(Version { name, host, span: child.span });
        }
        if out.is_empty() && !failed {
            self.sink.push(
                Diagnostic::new(Code::MissingRequired, "`versions` lists no version")
                    .at(node.name_span, "empty")
                    .help("list them: versions { version \"v1\"; version \"v2\" }; or remove the block"),
            );
            return None;
        }
        (!failed).then_some(out)
    }

    fn load_balancing(&mut self, node: &Node) -> Option<Spanned<LoadBalancing>> {
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

    fn circuit_breaker(&mut self, node: &Node) -> Option<Spanned<CircuitBreaker>> {
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

    fn outlier_detection(&mut self, node: &Node) -> Option<Spanned<OutlierDetection>> {
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

    fn health_check(&mut self, node: &Node) -> Option<Spanned<HealthCheck>> {
        read::check_entries(
            node,
            1,
            &["path", "grpc-service", "interval", "timeout", "healthy", "unhealthy"],
            self.sink,
        );
        read::no_children(node, self.sink);
        let example = "health-check \"http\" path=\"/healthz\" interval=\"5s\"";
        let kind = read::string_arg(node, 0, "a probe kind", example, self.sink)?;
        let path = read::string_prop(node, "path", None, self.sink);
        let grpc_service = read::string_prop(node, "grpc-service", None, self.sink);
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
                let path = path.map_or("/healthz".to_string(), |p| p.value);
                if !path.starts_with('/') {
                    self.sink.push(
                        Diagnostic::new(Code::InvalidValue, format!("`{path}` is not a request path"))
                            .at(node.span, "path must start with `/`")
                            .help("e.g. path=\"/healthz\""),
                    );
                    return None;
                }
                Probe::Http { path }
            }
            "grpc" | "tcp" => {
                if let Some(p) = &path {
                    self.sink.push(misplaced("path", "http").at(p.span, "not an HTTP probe"));
                    return None;
                }
                if kind.value == "grpc" {
                    Probe::Grpc { service: grpc_service.map(|s| s.value) }
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
        let healthy = self.count_prop(node, "healthy", 1, 100)?;
        let unhealthy = self.count_prop(node, "unhealthy", 1, 100)?;
        Some(Spanned::new(
            HealthCheck {
                probe,
                interval: interval.map_or(Duration::from_millis(5_000), |d| d.value),
                timeout: timeout.map_or(Duration::from_millis(1_000), |d| d.value),
                healthy_threshold: healthy.unwrap_or(2),
                unhealthy_threshold: unhealthy.unwrap_or(3),
            },
            node.span,
        ))
    }

    /// A service's `endpoints { endpoint HOST port=P zone=Z priority=N weight=W }`.
    /// Endpoints without `port=` listen on the service's ports; `port=`
    /// is for services with one (`single_port`).
    pub(super) fn endpoints(
        &mut self,
        node: &Node,
        single_port: Option<Port>,
        versions: &[Version],
    ) -> Option<Vec<Instance>> {
        read::check_entries(node, 0, &[], self.sink);
        let mut out = Vec::new();
        let mut failed = false;
        for child in node.children() {
            if child.name != "endpoint" {
                read::unknown_child(child, "endpoints", &["endpoint"], self.sink);
                continue;
            }
            match self.endpoint(child, single_port, versions) {
                Some(instance) => out.push(instance),
                None => failed = true,
            }
        }
        if out.is_empty() && !failed {
            self.sink.push(
                Diagnostic::new(Code::MissingRequired, "`endpoints` lists no endpoint")
                    .at(node.name_span, "empty")
                    .help("list the instances: endpoint \"10.0.0.1\" port=8080 zone=\"eu-west1-a\"; or remove the block to resolve `address` by DNS"),
            );
            return None;
        }
        if failed {
            return None;
        }
        // Every version needs instances, or the rules sending to it fail every request.
        for (i, version) in versions.iter().enumerate() {
            if !out.iter().any(|e| e.version == Some(VersionId(i as u32))) {
                self.sink.push(
                    Diagnostic::new(
                        Code::MissingRequired,
                        format!("no endpoint runs version `{}`", version.name.value),
                    )
                    .at(version.name.span, "no instances")
                    .with_label(node.name_span, "the service's endpoints")
                    .help(format!("mark its endpoints: endpoint \"10.0.0.7\" version=\"{}\"", version.name.value)),
                );
                failed = true;
            }
        }
        (!failed).then_some(out)
    }

    fn endpoint(&mut self, node: &Node, single_port: Option<Port>, versions: &[Version]) -> Option<Instance> {
        read::check_entries(node, 1, &["port", "zone", "priority", "weight", "version"], self.sink);
        read::no_children(node, self.sink);
        let host = read::string_arg(node, 0, "a host", "endpoint \"10.0.0.1\" port=8080", self.sink)
            .and_then(|h| read::parse(&h, |h| Host::parse(h), self.sink));
        let port = match read::int_prop(node, "port", None, self.sink) {
            Some(p) if single_port.is_none() => {
                self.sink.push(
                    Diagnostic::new(
                        Code::UnknownProperty,
                        "an endpoint of a service with several ports listens on all of them",
                    )
                    .at(p.span, "which port?")
                    .help("remove `port`: each instance serves the service's ports"),
                );
                None
            }
            Some(p) => read::parse(&p, |p| Port::new(*p), self.sink).map(Some),
            None if node.property("port").is_some() => None,
            None => Some(None),
        };
        let zone = read::string_prop(node, "zone", None, self.sink);
        let priority = self.count_prop(node, "priority", 0, 10)?;
        let weight = self.count_prop(node, "weight", 1, 128)?;
        let version = match read::string_prop(node, "version", None, self.sink) {
            Some(name) => Some(self.version_ref(&name, versions)?),
            None if node.property("version").is_some() => return None,
            None => None,
        };
        Some(Instance {
            host: host?,
            port: port?,
            zone: zone.map(|z| z.value),
            priority: priority.unwrap_or(0),
            weight,
            version,
            span: node.span,
        })
    }

    /// A call's `load rps=N latency=D`.
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

    /// A service's `sidecar inbound-port=P outbound-port=P`.
    pub(super) fn sidecar(&mut self, node: &Node) -> Option<SidecarPorts> {
        read::check_entries(node, 0, &["inbound-port", "outbound-port"], self.sink);
        read::no_children(node, self.sink);
        let defaults = SidecarPorts::default();
        let mut port = |key: &str, default: Port| match read::int_prop(node, key, None, self.sink) {
            None if node.property(key).is_some() => None,
            None => Some(default),
            Some(p) => read::parse(&p, |p| Port::new(*p), self.sink),
        };
        let inbound = port("inbound-port", defaults.inbound);
        let outbound = port("outbound-port", defaults.outbound);
        let ports = SidecarPorts { inbound: inbound?, outbound: outbound? };
        if ports.inbound == ports.outbound {
            self.sink.push(
                Diagnostic::new(Code::InvalidValue, "the sidecar's inbound and outbound ports are the same")
                    .at(node.span, format!("both {}", ports.inbound))
                    .help("give them different ports, e.g. inbound-port=15006 outbound-port=15001"),
            );
            return None;
        }
        Some(ports)
    }

    /// The root's `limits { max-retry-amplification N }`.
    pub(super) fn limits(&mut self, node: &Node) -> Limits {
        read::check_entries(node, 0, &[], self.sink);
        let mut limits = Limits { span: Some(node.span), ..Limits::default() };
        let mut once = Once::default();
        for child in node.children() {
            match child.name.as_str() {
                "max-retry-amplification" if once.first(child, self.sink) => {
                    read::check_entries(child, 1, &[], self.sink);
                    read::no_children(child, self.sink);
                    let example = "max-retry-amplification 10";
                    if let Some(n) = read::int_arg(child, 0, "a factor", example, self.sink).and_then(|n| {
                        read::parse(&n, |n| bounded(*n, 1, 1_000_000, "the amplification limit"), self.sink)
                    }) {
                        limits.max_retry_amplification = u64::from(n);
                    }
                }
                "max-retry-amplification" => {}
                _ => read::unknown_child(child, "limits", &["max-retry-amplification"], self.sink),
            }
        }
        limits
    }

    /// An optional duration property with its span. `Some(None)` when absent, `None` when invalid.
    pub(super) fn spanned_duration(&mut self, node: &Node, key: &str) -> Option<Option<Spanned<Duration>>> {
        match read::string_prop(node, key, None, self.sink) {
            None if node.property(key).is_some() => None,
            None => Some(None),
            Some(text) => {
                read::parse(&text, |t| Duration::parse(t), self.sink).map(|d| Some(Spanned::new(d, text.span)))
            }
        }
    }

    /// An optional integer property in `min..=max`. `Some(None)` when absent, `None` when invalid.
    fn count_prop(&mut self, node: &Node, key: &str, min: u32, max: u32) -> Option<Option<u32>> {
        match read::int_prop(node, key, None, self.sink) {
            None if node.property(key).is_some() => None,
            None => Some(None),
            Some(n) => read::parse(&n, |n| bounded(*n, min, max, key), self.sink).map(Some),
        }
    }
}

fn bounded(n: i128, min: u32, max: u32, what: &str) -> Result<u32, String> {
    if (i128::from(min)..=i128::from(max)).contains(&n) {
        Ok(n as u32)
    } else {
        Err(format!("{what} must be between {min} and {max}, found {n}"))
    }
}

/// `"20%"`: a whole percentage from 0 to 100.
fn parse_percent(text: &str) -> Result<u32, String> {
    let digits =
        text.strip_suffix('%').ok_or_else(|| format!("`{text}` is not a percentage; write it like \"20%\""))?;
    match digits.parse::<u32>() {
        Ok(n) if n <= 100 => Ok(n),
        _ => Err(format!("`{text}` is not a percentage from 0% to 100%")),
    }
}

fn times_ten(base: Duration) -> Duration {
    Duration::from_millis((base.as_millis() * 10).min(u128::from(u64::MAX)) as u64)
}
