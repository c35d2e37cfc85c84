//! Load tests derived from the spec: every route and call with a declared
//! load (`load/plan.json`, [`plan`]) is driven through the running mesh at
//! that load and at a multiple of it by an open-loop generator
//! ([`generator`]), its latencies kept in an HDR histogram ([`histogram`])
//! and each proxy's admin counters read before and after ([`stats`]). The
//! spec's claims become verdicts, each naming its spec line: the latency
//! objectives hold at the declared load, the rate limits and breakers shed
//! the excess at the multiple instead of letting latency grow, and the
//! upstream sees no more requests than the retry amplification allows.
//! Reports: a summary table, JSON and an SVG per target ([`report`],
//! [`svg`]). See docs/testing.md#load-tests.

pub mod generator;
pub mod histogram;
pub mod plan;
pub mod report;
pub mod stats;
pub mod svg;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use self::generator::{LoadClient, Schedule, Tally, Template};
use self::plan::{LoadPlan, ObjectiveKind, Target};
use crate::contracts::plan::Auth;

/// Where the requests go and whose counters are read.
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    /// Each gateway's listener, by gateway name.
    pub gateways: BTreeMap<String, SocketAddr>,
    /// Each service's sidecar outbound listener (where its calls leave), by service.
    pub outbounds: BTreeMap<String, SocketAddr>,
    /// Each proxy's admin endpoint, by proxy name.
    pub admins: BTreeMap<String, SocketAddr>,
    /// The proxy in front of each service (its sidecar), by service.
    pub sidecars: BTreeMap<String, String>,
}

/// How hard and how long.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The second phase's load, as a multiple of the declared one (1 or less: no second phase).
    pub multiple: f64,
    /// Each phase's length.
    pub duration: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options { multiple: 2.0, duration: Duration::from_secs(10) }
    }
}

/// A token for `auth` whose `sub` is the given one (a client of the run).
pub type Tokens<'a> = dyn Fn(&Auth, &str) -> Result<String, String> + 'a;

/// One phase of a target's run: the load at a multiple.
#[derive(Debug, Clone)]
pub struct Phase {
    pub multiple: f64,
    /// Requests per second scheduled.
    pub offered_rps: f64,
    pub sent: u64,
    pub clients: usize,
    pub tally: Tally,
    /// What each proxy counted meanwhile, by proxy.
    pub counters: BTreeMap<String, BTreeMap<&'static str, u64>>,
    /// Requests that reached the upstream (its sidecar's inbound listeners); `None`: not counted.
    pub upstream_requests: Option<u64>,
}

/// A claim of the spec, judged.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// What the spec claims, for people.
    pub claim: String,
    /// `file:line` of the claim.
    pub source: String,
    /// `None`: could not be judged (the reason is in `detail`).
    pub passed: Option<bool>,
    /// What was measured.
    pub detail: String,
}

#[derive(Debug, Clone)]
pub struct TargetReport {
    pub id: String,
    pub subject: String,
    pub source: String,
    pub rps: u32,
    pub latency_ms: u64,
    pub phases: Vec<Phase>,
    pub verdicts: Vec<Verdict>,
    /// Why it was not run, if it was not.
    pub error: Option<String>,
}

impl TargetReport {
    pub fn failed(&self) -> bool {
        self.error.is_some() || self.verdicts.iter().any(|v| v.passed != Some(true))
    }
}

/// Runs every target of `plan`, one after another: each at its declared
/// load, then at `options.multiple` times it.
pub fn run(plan: &LoadPlan, endpoints: &Endpoints, tokens: &Tokens, options: &Options) -> Vec<TargetReport> {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            let error = format!("starting the async runtime: {e}");
            return plan.targets.iter().map(|t| not_run(t, error.clone())).collect();
        }
    };
    plan.targets
        .iter()
        .map(|target| {
            let mut multiples = vec![1.0];
            if options.multiple > 1.0 {
                multiples.push(options.multiple);
            }
            let mut phases = Vec::new();
            for multiple in multiples {
                match runtime.block_on(run_phase(target, endpoints, tokens, multiple, options.duration)) {
                    Ok(phase) => phases.push(phase),
                    Err(error) => return not_run(target, error),
                }
            }
            let verdicts = judge(target, &phases);
            report(target, phases, verdicts, None)
        })
        .collect()
}

fn not_run(target: &Target, error: String) -> TargetReport {
    report(target, Vec::new(), Vec::new(), Some(error))
}

/// `target`'s report: what it names, with what the run found.
fn report(target: &Target, phases: Vec<Phase>, verdicts: Vec<Verdict>, error: Option<String>) -> TargetReport {
    TargetReport {
        id: target.id.clone(),
        subject: target.subject.clone(),
        source: target.source.clone(),
        rps: target.rps,
        latency_ms: target.latency_ms,
        phases,
        verdicts,
        error,
    }
}

/// The per-client rate limits the run must spread its load over: those
/// keyed by client address or by a claim (counted per key at the proxy).
fn keyed_limits(target: &Target) -> impl Iterator<Item = &plan::Limit> {
    target.limits.iter().filter(|l| !l.global && (l.key == "client-ip" || l.key.starts_with("claim:")))
}

/// Clients the declared load is spread over: enough that each one's share
/// stays within every per-client limit's rate (one when none applies).
pub fn clients(target: &Target) -> usize {
    let needed = keyed_limits(target).map(|l| (f64::from(target.rps) / l.per_second()).ceil() as usize).max();
    needed.unwrap_or(1).clamp(1, 1000)
}

/// A fresh client address on 127.0.0.0/8 per client and phase, so
/// address-keyed buckets start full.
fn client_address() -> IpAddr {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed) % (250 * 250);
    IpAddr::V4(Ipv4Addr::new(127, 1 + (n / 250) as u8, (n % 250) as u8, 3))
}

/// A fresh `sub` per client and phase, so claim-keyed buckets start full.
fn client_subject() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("meshc-load-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Where the target's requests enter and the request they repeat.
fn template(target: &Target, endpoints: &Endpoints) -> Result<(SocketAddr, Template), String> {
    let (addr, authority, mut headers) = match (&target.gateway, &target.call) {
        (Some(entry), _) => {
            let addr = endpoints.gateways.get(&entry.name).copied();
            let addr = addr.ok_or_else(|| format!("gateway `{}` has no listener here", entry.name))?;
            let host = entry.host.clone().unwrap_or_else(|| "localhost".into());
            let headers: Vec<_> = entry.headers.iter().map(|p| (p.name.clone(), p.value.clone())).collect();
            (addr, host, headers)
        }
        (None, Some(call)) => {
            let addr = endpoints.outbounds.get(&call.caller).copied();
            let addr = addr.ok_or_else(|| format!("`{}` has no sidecar outbound listener here", call.caller))?;
            (addr, call.authority.clone(), Vec::new())
        }
        (None, None) => return Err("the target names neither a gateway nor a call".into()),
    };
    for pair in &target.request.headers {
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(&pair.name)) {
            headers.push((pair.name.clone(), pair.value.clone()));
        }
    }
    // Unanswered past the proxy's own deadline (and then some): a request
    // the proxy lets hang counts against the run, not forever.
    let timeout = Duration::from_millis(target.timeout_ms.unwrap_or(15_000).saturating_mul(2).max(1_000));
    let template = Template {
        method: target.request.method.clone(),
        path: target.request.path.clone(),
        authority,
        headers,
        body: target.request.body.clone().map(bytes::Bytes::from),
        grpc: target.protocol == plan::Protocol::Grpc,
        timeout,
    };
    Ok((addr, template))
}

async fn run_phase(
    target: &Target,
    endpoints: &Endpoints,
    tokens: &Tokens<'_>,
    multiple: f64,
    duration: Duration,
) -> Result<Phase, String> {
    let (addr, base) = template(target, endpoints)?;
    let count = clients(target);
    let by_address = keyed_limits(target).any(|l| l.key == "client-ip");
    let mut clients = Vec::with_capacity(count);
    for _ in 0..count {
        let mut template = base.clone();
        if let Some(auth) = &target.auth {
            let token = tokens(auth, &client_subject())?;
            template.headers.push(("authorization".into(), format!("Bearer {token}")));
        }
        let source = by_address.then(client_address);
        clients.push(LoadClient::new(addr, source, &template)?);
    }
    let before = read_counters(endpoints);
    let offered_rps = f64::from(target.rps) * multiple;
    let sent = (offered_rps * duration.as_secs_f64()).round().max(1.0) as u64;
    let schedule = Schedule { start: Instant::now(), rate: offered_rps, count: sent };
    let tally = generator::open_loop(schedule, |i| clients[(i % count as u64) as usize].send()).await;
    // Let the proxies' counters settle (Envoy flushes stats to the admin endpoint at once, but
    // a retry still in flight at the last answer is not).
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after = read_counters(endpoints);
    let mut counters = BTreeMap::new();
    for (proxy, now) in &after {
        let Some(then) = before.get(proxy) else { continue };
        let changed = stats::delta(then, now);
        if !changed.is_empty() {
            counters.insert(proxy.clone(), changed);
        }
    }
    let upstream_requests = endpoints
        .sidecars
        .get(&target.service)
        .filter(|p| after.contains_key(*p))
        .map(|proxy| counters.get(proxy).and_then(|c| c.get(stats::INBOUND)).copied().unwrap_or(0));
    Ok(Phase { multiple, offered_rps, sent, clients: count, tally, counters, upstream_requests })
}

fn read_counters(endpoints: &Endpoints) -> BTreeMap<String, BTreeMap<String, u64>> {
    endpoints.admins.iter().filter_map(|(proxy, admin)| Some((proxy.clone(), stats::read(*admin).ok()?))).collect()
}

/// The spec's claims about the target, judged against its phases.
pub fn judge(target: &Target, phases: &[Phase]) -> Vec<Verdict> {
    let mut verdicts = Vec::new();
    if let Some(declared) = phases.iter().find(|p| p.multiple <= 1.0) {
        verdicts.extend(target.objectives.iter().map(|o| objective(o, declared)));
    }
    for phase in phases {
        for limit in target.limits.iter() {
            verdicts.push(rate_limit(limit, phase));
        }
        if let Some(verdict) = amplification(target, phase) {
            verdicts.push(verdict);
        }
    }
    for phase in phases.iter().filter(|p| p.multiple > 1.0) {
        verdicts.push(shedding(target, phase));
    }
    verdicts
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

fn objective(objective: &plan::Objective, phase: &Phase) -> Verdict {
    let tally = &phase.tally;
    let sent = tally.latency.count().max(1) as f64;
    let errors = tally.count(|s| s == 0 || s >= 500) as f64;
    let (claim, passed, detail) = match objective.kind {
        ObjectiveKind::LatencySlo | ObjectiveKind::LatencyAlert => {
            let p = objective.percentile.unwrap_or(99.0);
            let under = objective.under_ms.unwrap_or(0);
            let measured = ms(tally.latency.percentile(p));
            let what = if objective.kind == ObjectiveKind::LatencySlo { "latency objective" } else { "latency alert" };
            (
                format!("{what}: p{p} under {under} ms at the declared load"),
                measured <= under as f64,
                format!("p{p} {measured:.1} ms"),
            )
        }
        ObjectiveKind::AvailabilitySlo => {
            let target = objective.target_percent.unwrap_or(100.0);
            let good = 100.0 * (sent - errors) / sent;
            (
                format!("availability objective: {target}% good at the declared load"),
                good >= target,
                format!("{good:.3}% good ({errors} of {sent} failed or 5xx)"),
            )
        }
        ObjectiveKind::ErrorRateAlert => {
            let above = objective.above_percent.unwrap_or(0.0);
            let rate = 100.0 * errors / sent;
            (
                format!("error-rate alert: 5xx at most {above}% at the declared load"),
                rate <= above,
                format!("{rate:.3}% 5xx or unanswered"),
            )
        }
    };
    Verdict { claim, source: objective.source.clone(), passed: Some(passed), detail }
}

/// What one key's bucket admits over `seconds`: it starts with at most
/// `requests` tokens and is filled to `requests` every `per_seconds`
/// (Envoy's token bucket); at least the fills that surely happen.
fn bucket_range(limit: &plan::Limit, seconds: f64) -> (f64, f64) {
    let per = limit.per_seconds.max(1) as f64;
    let requests = f64::from(limit.requests);
    (requests * (seconds / per).floor(), requests * (1.0 + (seconds / per).ceil()))
}

/// A local limit admits about what its buckets hold and answers the rest 429.
fn rate_limit(limit: &plan::Limit, phase: &Phase) -> Verdict {
    let claim = format!(
        "rate limit {}/{}s per {} admits its bucket and sheds the rest with 429 (at {}x)",
        limit.requests, limit.per_seconds, limit.key, phase.multiple
    );
    let source = limit.source.clone();
    if limit.global {
        let detail = "a quota is counted by the rate limit service, which a local run does not start".to_string();
        return Verdict { claim, source, passed: None, detail };
    }
    let keys = if limit.key == "route" || limit.key.starts_with("header:") { 1 } else { phase.clients };
    let per_key = phase.sent as f64 / keys as f64;
    let seconds = phase.tally.elapsed.as_secs_f64();
    let (low, high) = bucket_range(limit, seconds);
    let (low, high) = (per_key.min(low) * keys as f64, per_key.min(high) * keys as f64);
    let refused = phase.tally.count(|s| s == 429) as f64;
    let admitted = phase.tally.answered() as f64 - refused;
    // Envoy's fill timer does not start with the run: a fill may land just inside either end.
    let passed = admitted >= low * 0.9 - 2.0 && admitted <= high * 1.1 + 2.0;
    let detail = format!("{admitted} admitted, {refused} refused with 429, its buckets hold {low:.0} to {high:.0}");
    Verdict { claim, source, passed: Some(passed), detail }
}

/// The upstream sees at most `per_request` requests per request sent.
fn amplification(target: &Target, phase: &Phase) -> Option<Verdict> {
    let reached = phase.upstream_requests?;
    // Active health checks reach the upstream's sidecar too; the proxies count the ones they sent.
    let checks: u64 = phase.counters.values().filter_map(|c| c.get("health_checks")).sum();
    let allowed = phase.sent.saturating_mul(target.amplification.per_request) + checks;
    let retries: u64 = phase.counters.values().filter_map(|c| c.get("retries")).sum();
    let claim = format!(
        "`{}` sees at most {}x the requests sent (retry amplification, at {}x)",
        target.service, target.amplification.per_request, phase.multiple
    );
    let worst = target.amplification.service_worst.map_or(String::new(), |w| format!("; worst over every path {w}x"));
    Some(Verdict {
        claim,
        source: target.amplification.source.clone(),
        passed: Some(reached <= allowed),
        detail: format!(
            "{reached} reached it for {} sent ({retries} retries, {checks} health checks at the proxies){worst}",
            phase.sent
        ),
    })
}

/// Over the declared load, the proxies shed instead of queueing: latency
/// stays within the bound the spec sets (its latency objectives, else the
/// route's timeout, else ten times the declared latency).
fn shedding(target: &Target, phase: &Phase) -> Verdict {
    let thresholds = target.objectives.iter().filter_map(|o| o.under_ms).max();
    let bound = thresholds.or(target.timeout_ms).unwrap_or(target.latency_ms.saturating_mul(10));
    let p99 = ms(phase.tally.latency.percentile(99.0));
    let overflows: u64 = phase
        .counters
        .values()
        .flat_map(|c| {
            ["pending_overflow", "connection_overflow", "rate_limited"].map(|k| c.get(k).copied().unwrap_or(0))
        })
        .sum();
    let source = target
        .breaker
        .as_ref()
        .map(|b| b.source.clone())
        .or_else(|| target.limits.first().map(|l| l.source.clone()))
        .unwrap_or_else(|| target.source.clone());
    Verdict {
        claim: format!("at {}x the load, p99 stays within {bound} ms: the proxies shed instead of queueing", phase.multiple),
        source,
        passed: Some(p99 <= bound as f64),
        detail: format!(
            "p99 {p99:.1} ms; {} shed (429/503 from the proxies), {overflows} breaker overflows and rate-limited at the proxies",
            phase.tally.shed
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::plan::Limit;
    use super::{bucket_range, rate_limit, Phase};
    use crate::load::generator::Tally;
    use std::time::Duration;

    fn limit(requests: u32, per_seconds: u64, key: &str) -> Limit {
        Limit { global: false, key: key.into(), per_seconds, requests, source: "gateway.kdl:9".into() }
    }

    #[test]
    fn a_bucket_admits_its_fills() {
        assert_eq!(bucket_range(&limit(20, 1, "route"), 2.0), (40.0, 60.0));
        assert_eq!(bucket_range(&limit(600, 60, "client-ip"), 5.0), (0.0, 1200.0));
    }

    fn phase(sent: u64, ok: u64, refused: u64) -> Phase {
        let mut tally = Tally { elapsed: Duration::from_secs(2), ..Tally::default() };
        for _ in 0..ok {
            tally.latency.record(1000);
        }
        for _ in 0..refused {
            tally.latency.record(100);
        }
        tally.statuses.insert(200, ok);
        tally.statuses.insert(429, refused);
        Phase {
            multiple: 2.0,
            offered_rps: 40.0,
            sent,
            clients: 1,
            tally,
            counters: Default::default(),
            upstream_requests: None,
        }
    }

    #[test]
    fn a_limit_that_sheds_at_its_rate_passes_and_one_that_does_not_fails() {
        let l = limit(20, 1, "route");
        assert_eq!(rate_limit(&l, &phase(80, 50, 30)).passed, Some(true));
        assert_eq!(rate_limit(&l, &phase(80, 80, 0)).passed, Some(false));
        assert_eq!(rate_limit(&l, &phase(80, 10, 70)).passed, Some(false));
    }
}
