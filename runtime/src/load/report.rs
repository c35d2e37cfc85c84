//! A load run's reports: the summary table people read, and the JSON
//! report (`meshc-load-report/1`, docs/testing.md#load-tests) CI keeps.

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::{Phase, TargetReport};

/// The JSON report's format; bumped on any incompatible change.
pub const FORMAT: &str = "meshc-load-report/1";

/// The percentiles every report lists.
pub const PERCENTILES: [(&str, f64); 4] = [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9)];

fn ms(micros: u64) -> f64 {
    (micros as f64 / 10.0).round() / 100.0
}

/// One line per phase (load, throughput, percentiles, errors), then one
/// per verdict, then the totals.
pub fn summary(reports: &[TargetReport]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<40} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>6} {:>6}",
        "target", "load", "rps", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "shed", "errors"
    );
    for report in reports {
        if let Some(error) = &report.error {
            let _ = writeln!(out, "{:<40} ERROR {error}", report.id);
            continue;
        }
        for phase in &report.phases {
            let t = &phase.tally;
            let p = |q: f64| ms(t.latency.percentile(q));
            let _ = writeln!(
                out,
                "{:<40} {:>5}x {:>9.1} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>6} {:>6}",
                report.id,
                phase.multiple,
                achieved(phase),
                p(50.0),
                p(90.0),
                p(99.0),
                p(99.9),
                ms(t.latency.max()),
                t.shed,
                t.errors
            );
        }
        for verdict in &report.verdicts {
            let mark = match verdict.passed {
                Some(true) => "pass",
                Some(false) => "FAIL",
                None => "skip",
            };
            let _ = writeln!(out, "  {mark} {} ({}): {}", verdict.claim, verdict.source, verdict.detail);
        }
    }
    let (passed, failed, skipped) = counts(reports);
    let _ = writeln!(out, "{passed} claims held, {failed} failed, {skipped} not judged");
    out
}

/// Claims held, failed (a target that could not run counts as one), not judged.
pub fn counts(reports: &[TargetReport]) -> (usize, usize, usize) {
    let all = reports.iter().flat_map(|r| &r.verdicts);
    let passed = all.clone().filter(|v| v.passed == Some(true)).count();
    let failed = all.clone().filter(|v| v.passed == Some(false)).count();
    let skipped = all.filter(|v| v.passed.is_none()).count();
    (passed, failed + reports.iter().filter(|r| r.error.is_some()).count(), skipped)
}

/// Answers per second over the phase.
fn achieved(phase: &Phase) -> f64 {
    phase.tally.answered() as f64 / phase.tally.elapsed.as_secs_f64().max(1e-9)
}

/// The JSON report of a run of `mesh`'s plan.
pub fn json_report(mesh: &str, reports: &[TargetReport]) -> Value {
    let targets: Vec<Value> = reports
        .iter()
        .map(|r| {
            let phases: Vec<Value> = r.phases.iter().map(phase_json).collect();
            let verdicts: Vec<Value> = r
                .verdicts
                .iter()
                .map(|v| json!({ "claim": v.claim, "source": v.source, "passed": v.passed, "detail": v.detail }))
                .collect();
            json!({
                "id": r.id,
                "subject": r.subject,
                "source": r.source,
                "rps": r.rps,
                "latency_ms": r.latency_ms,
                "error": r.error,
                "phases": phases,
                "verdicts": verdicts,
            })
        })
        .collect();
    let (passed, failed, skipped) = counts(reports);
    json!({
        "format": FORMAT,
        "mesh": mesh,
        "targets": targets,
        "totals": { "passed": passed, "failed": failed, "not_judged": skipped },
    })
}

fn phase_json(phase: &Phase) -> Value {
    let t = &phase.tally;
    let mut latency = serde_json::Map::new();
    for (name, q) in PERCENTILES {
        latency.insert(name.into(), json!(ms(t.latency.percentile(q))));
    }
    latency.insert("min".into(), json!(ms(t.latency.min())));
    latency.insert("max".into(), json!(ms(t.latency.max())));
    let statuses: serde_json::Map<String, Value> = t.statuses.iter().map(|(s, n)| (s.to_string(), json!(n))).collect();
    json!({
        "multiple": phase.multiple,
        "offered_rps": phase.offered_rps,
        "achieved_rps": (achieved(phase) * 10.0).round() / 10.0,
        "sent": phase.sent,
        "clients": phase.clients,
        "seconds": (t.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        "latency_ms": latency,
        "statuses": statuses,
        "shed": t.shed,
        "errors": t.errors,
        "generator_lag_ms": ms(t.worst_send_lag),
        "counters": phase.counters,
        "upstream_requests": phase.upstream_requests,
    })
}
