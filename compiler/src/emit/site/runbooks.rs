//! Runbooks: a page per alert the monitoring backends emit (threshold
//! alerts of routes, services and calls, SLO burn-rate alerts, consumer
//! lag): what it means, its dashboard, the likely causes the call graph
//! shows (the upstreams the service waits on, who retries into it, the
//! producers a consumer lags behind), and the steps to take.

use std::collections::HashMap;

use askama::Template;

use super::pages::{Head, Link};
use super::slug;
use crate::emit::monitoring::{alert_name, lags, subjects, Scope, CONSUMER_LAG_ALERT, FAST_BURN, SLOW_BURN};
use crate::model::monitoring::{AlertKind, Slo, SloKind};
use crate::model::{Model, ServiceId};

/// One alert as its runbook describes it.
pub struct Runbook {
    /// Its file name under `runbooks/`, without `.html`: the alert, its
    /// subject's label values, the SLO, the severity.
    pub id: String,
    /// The Prometheus alert name.
    pub alert: String,
    pub severity: &'static str,
    /// "service `orders`".
    pub subject: String,
    pub meaning: String,
    /// Under `grafana/dashboards/`; `None` without a `monitoring` block.
    pub dashboard: Option<String>,
    /// The service whose health the alert is about, then the others involved.
    pub services: Vec<ServiceId>,
    pub kind: Kind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Errors,
    Latency,
    Saturation,
    Certificate,
    Lag,
}

/// Every alert's runbook, in the order the rules are emitted; ids unique.
pub fn runbooks(model: &Model) -> Vec<Runbook> {
    let by_name: HashMap<&str, ServiceId> =
        model.service_ids().map(|id| (model.service(id).name.value.as_str(), id)).collect();
    let route_target: HashMap<(&str, &str), ServiceId> = model
        .gateways
        .iter()
        .flat_map(|g| {
            g.routes
                .iter()
                .filter_map(move |r| Some(((g.name.value.as_str(), r.name.value.as_str()), r.forward()?.target.value)))
        })
        .collect();
    let dashboards = model.monitoring.is_some();
    let mut out = Vec::new();
    for subject in subjects(model, false) {
        let key: Vec<String> = subject.labels.iter().map(|(_, v)| slug(v)).collect();
        let key = key.join("-");
        let label = |key: &str| subject.labels.iter().find(|(k, _)| *k == key).map_or("", |(_, v)| v.as_str());
        let (services, dashboard) = match subject.scope {
            Scope::Route => {
                let target = route_target.get(&(label("gateway"), label("route"))).copied();
                (target.into_iter().collect::<Vec<_>>(), format!("gateway-{}.json", label("gateway")))
            }
            Scope::Service => (
                by_name.get(label("service")).copied().into_iter().collect(),
                format!("service-{}.json", label("service")),
            ),
            Scope::Call => {
                let ids = [label("callee"), label("caller")].iter().filter_map(|n| by_name.get(n).copied()).collect();
                (ids, format!("service-{}.json", label("caller")))
            }
        };
        let dashboard = dashboards.then_some(dashboard);
        for alert in subject.alerts {
            let (kind, meaning) = match &alert.kind {
                AlertKind::ErrorRate { above } => (Kind::Errors, format!("More than {} of the responses of {} are server errors (5xx, or a gRPC server-error status).", above.value, subject.description)),
                AlertKind::Latency { percentile, above } => (Kind::Latency, format!("The {} percentile of the response times of {} is above {}.", percentile, subject.description, above.value)),
                AlertKind::Saturation { above } => (Kind::Saturation, format!("The requests in flight to {} are above {} of its circuit breaker's limit ({} requests): callers are about to be refused.", subject.description, above.value, subject.max_requests)),
                AlertKind::CertExpiry { below } => (Kind::Certificate, format!("The certificate of the proxy measuring {} expires in less than {}.", subject.description, below.value)),
                AlertKind::ConsumerLag { .. } => continue,
            };
            let hold = alert.hold.map_or(String::new(), |h| format!(" It fires once this holds for {h}."));
            out.push(Runbook {
                id: key.clone(),
                alert: alert_name(subject.scope, &alert.kind),
                severity: alert.severity.value.as_str(),
                subject: subject.description.clone(),
                meaning: meaning + &hold,
                dashboard: dashboard.clone(),
                services: services.clone(),
                kind,
            });
        }
        for slo in subject.slos {
            let key = format!("{key}-{}", slo.kind.name());
            out.push(burn(&key, &subject.description, slo, true, &dashboard, &services));
            if slo.ticket.is_some() {
                out.push(burn(&key, &subject.description, slo, false, &dashboard, &services));
            }
        }
    }
    for lag in lags(model, false) {
        let service =
            lag.labels.iter().find(|(k, _)| *k == "service").and_then(|(_, v)| by_name.get(v.as_str()).copied());
        let key: Vec<String> = lag.labels.iter().map(|(_, v)| slug(v)).collect();
        for alert in lag.alerts {
            let AlertKind::ConsumerLag { above } = &alert.kind else { continue };
            out.push(Runbook {
                id: key.join("-"),
                alert: CONSUMER_LAG_ALERT.to_string(),
                severity: alert.severity.value.as_str(),
                subject: lag.description.clone(),
                meaning: format!("More than {} events wait for the {} at its broker (not yet delivered, or delivered and not acknowledged).", above.value, lag.description),
                dashboard: dashboards.then(|| "overview.json".to_string()),
                services: service.into_iter().collect(),
                kind: Kind::Lag,
            });
        }
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for runbook in &mut out {
        let base = bounded(format!("{}-{}-{}", runbook.alert, runbook.id, runbook.severity));
        let n = seen.entry(base.clone()).or_default();
        *n += 1;
        runbook.id = if *n == 1 { base } else { format!("{base}-{n}") };
    }
    out
}

/// The longest runbook id kept whole: call labels carry operation paths of
/// any length, and a file name has at most 255 bytes.
const MAX_ID: usize = 100;

/// `id` (ASCII, a [`slug`]), cut to its first 80 bytes and a hash of the whole
/// when longer than [`MAX_ID`] (FNV-1a: deterministic on every machine).
fn bounded(id: String) -> String {
    if id.len() <= MAX_ID {
        return id;
    }
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("{}-{hash:016x}", &id[..80])
}

fn burn(
    key: &str,
    subject: &str,
    slo: &Slo,
    fast: bool,
    dashboard: &Option<String>,
    services: &[ServiceId],
) -> Runbook {
    let objective = match &slo.kind {
        SloKind::Availability => format!("availability objective of {} over {}", slo.objective.value, slo.window),
        SloKind::Latency { under } => {
            format!("objective of {} of requests under {} over {}", slo.objective.value, under.value, slo.window)
        }
    };
    let speed = if fast {
        "fast: at this rate it is gone in hours"
    } else {
        "steadily: at this rate it is gone before the window ends"
    };
    Runbook {
        id: key.to_string(),
        alert: (if fast { FAST_BURN } else { SLOW_BURN }).to_string(),
        severity: if fast { slo.page.as_str() } else { slo.ticket.unwrap_or(slo.page).as_str() },
        subject: subject.to_string(),
        meaning: format!("The error budget of the {objective} of {subject} is burning {speed}."),
        dashboard: dashboard.clone(),
        services: services.to_vec(),
        kind: if matches!(slo.kind, SloKind::Latency { .. }) { Kind::Latency } else { Kind::Errors },
    }
}

#[derive(Template)]
#[template(path = "site/runbooks.html")]
pub struct RunbooksIndex {
    head: Head,
    rows: Vec<(Link, String, &'static str)>,
}

pub fn index(model: &Model, runbooks: &[Runbook]) -> RunbooksIndex {
    let rows = runbooks
        .iter()
        .map(|r| {
            (Link { text: r.alert.clone(), href: format!("{}.html", r.id) }, r.subject.replace('`', ""), r.severity)
        })
        .collect();
    RunbooksIndex { head: Head::new(model, "../", "Runbooks"), rows }
}

#[derive(Template)]
#[template(path = "site/runbook.html")]
pub struct RunbookPage {
    head: Head,
    alert: String,
    severity: &'static str,
    subject: String,
    meaning: String,
    dashboard: Option<Link>,
    upstreams: Vec<(Link, String)>,
    callers: Vec<(Link, String)>,
    producers: Vec<(Link, String)>,
    steps: Vec<String>,
}

pub fn page(model: &Model, runbook: &Runbook, index: &super::Index) -> RunbookPage {
    let root = "../";
    let mut upstreams = Vec::new();
    let mut callers = Vec::new();
    let mut producers = Vec::new();
    if let Some(&id) = runbook.services.first() {
        let service = model.service(id);
        for call in service.calls.iter().filter(|c| c.on_request_path()) {
            let retries = service.call_retries(call).map_or(1, |p| p.attempts());
            let timeout =
                service.call_timeout(call).map_or_else(|| "no timeout".to_string(), |t| format!("timeout {}", t.value));
            let operation = call.operation.as_ref().map_or_else(String::new, |o| format!("{} · ", o.value));
            upstreams.push((
                Link::service(root, model.service(call.target.value)),
                format!("{operation}{timeout}, {retries} attempts"),
            ));
        }
        for &(caller, call) in &index.calls_in[id.index()] {
            let caller = model.service(caller);
            let call = &caller.calls[call];
            let attempts = caller.call_retries(call).map_or(1, |p| p.attempts());
            if attempts > 1 {
                callers.push((Link::service(root, caller), format!("retries: {attempts} attempts per request")));
            }
        }
        if runbook.kind == Kind::Lag {
            for topic in index.consumed_by[id.index()].iter().map(|c| c.topic.value) {
                for producer in &index.producers[topic.index()] {
                    let topic = &model.topic(topic).name.value;
                    producers
                        .push((Link::service(root, model.service(producer.service)), format!("publishes to {topic}")));
                }
            }
        }
    }
    let name = runbook.services.first().map_or_else(String::new, |id| model.service(*id).name.value.clone());
    let mut steps = vec!["Open the dashboard and find when the signal changed; correlate with deploys of this service and of its upstreams.".to_string()];
    match runbook.kind {
        Kind::Errors => {
            steps.push(format!("Check the upstreams of {name} below: a failing upstream surfaces here as errors (their own alerts and dashboards first)."));
            steps.push("If an upstream is down, retries multiply the load on it: consider lowering retries or shedding load at the gateway until it recovers.".to_string());
            steps.push(format!(
                "If no upstream fails, look at {name}'s own logs and recent deploys; roll back a bad deploy."
            ));
        }
        Kind::Latency => {
            steps.push(format!(
                "Check the upstreams of {name}: a slow upstream with a long timeout makes every request wait for it."
            ));
            steps
                .push("Look for retries: each retry after a per-try timeout adds its time to the request.".to_string());
            steps.push(format!(
                "Check {name}'s saturation (requests in flight) and scale it out if it is at its limit."
            ));
        }
        Kind::Saturation => {
            steps.push(
                "Check the callers below for retry storms: retries under failure multiply the requests in flight."
                    .to_string(),
            );
            steps.push(format!(
                "Scale {name} out, or raise its circuit breaker's max-requests if the instances have headroom."
            ));
        }
        Kind::Certificate => {
            steps.push(
                "Check that certificates are rotated: `meshc certs` (or cert-manager) renews them before expiry."
                    .to_string(),
            );
            steps.push("Once renewed files are in place, the proxies pick them up without a restart.".to_string());
        }
        Kind::Lag => {
            steps.push(format!(
                "Check that {name}'s consumers run and acknowledge events (errors, redeliveries, dead letters)."
            ));
            steps.push("Compare the producers' rate (below) with the consumers': scale the consumers out if producers outpace them.".to_string());
        }
    }
    RunbookPage {
        head: Head::new(model, root, format!("Runbook: {}", runbook.alert)),
        alert: runbook.alert.clone(),
        severity: runbook.severity,
        subject: runbook.subject.replace('`', ""),
        meaning: runbook.meaning.replace('`', ""),
        dashboard: runbook
            .dashboard
            .as_ref()
            .map(|d| Link { text: format!("grafana/dashboards/{d}"), href: format!("../../grafana/dashboards/{d}") }),
        upstreams,
        callers,
        producers,
        steps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_ids_are_cut_with_a_hash_of_the_whole() {
        assert_eq!(bounded("ServiceErrorRateHigh-orders-critical".into()), "ServiceErrorRateHigh-orders-critical");
        let long = bounded(format!("CallLatencyHigh-{}-a", "x".repeat(300)));
        let other = bounded(format!("CallLatencyHigh-{}-b", "x".repeat(300)));
        assert_eq!(long.len(), 80 + 1 + 16);
        assert_ne!(long, other);
    }
}
