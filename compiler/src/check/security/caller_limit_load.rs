//! A callee's `caller-limit` must admit the load each caller declares.
//! The limit is one bucket per calling identity at each of the callee's
//! proxies: a caller expecting `rps` requests per second, each retried up to
//! `attempts` times, sends up to `rps × attempts` into it (retries spend
//! the quota too, and a throttled try is retried when 429 is retriable).
//! Spread over the callee's declared instances, that must stay within
//! `requests / period` per proxy, or part of the caller's calls get 429 on
//! a normal day. The expected load of a caller's calls to one callee adds up.

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::{Call, Model};
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _schemas: &SchemaIndex, sink: &mut Sink) {
    for service in &model.services {
        for (target, calls) in service.loaded_calls_by_callee() {
            let callee = model.service(target);
            let Some(limit) = callee.caller_limit() else { continue };
            let attempts = |call: &Call| service.call_retries(call).map_or(1, |p| p.attempts());
            let rps = |call: &Call| call.load.as_ref().map_or(0, |l| l.value.rps);
            let expected: f64 = calls.iter().map(|c| f64::from(rps(c)) * attempts(c) as f64).sum();
            // Each instance's proxy counts the caller's share of the load on its own.
            let proxies = callee.endpoints.len().max(1);
            let admitted = limit.per_second() * proxies as f64;
            if expected <= admitted {
                continue;
            }
            let terms: Vec<String> = calls
                .iter()
                .map(|c| match attempts(c) {
                    1 => format!("{} rps", rps(c)),
                    n => format!("{} rps × {n} attempts", rps(c)),
                })
                .collect();
            let instances = if proxies == 1 { String::new() } else { format!(" at each of its {proxies} instances") };
            let first = calls[0].load.as_ref().expect("filtered on load");
            let mut d = Diagnostic::new(
                Code::QuotaBelowLoad,
                format!(
                    "`{}` expects to send `{}` {expected:.1} requests per second ({}), above its caller-limit of {} per {}{instances}",
                    service.name.value,
                    callee.name.value,
                    terms.join(" + "),
                    limit.requests,
                    limit.per.as_str(),
                ),
            )
            .at(first.span, "expected load, retries included")
            .with_label(limit.span, format!("`{}`'s limit per caller", callee.name.value))
            .help(format!(
                "raise the limit to at least {} per {} per instance, lower `{}`'s expected load or its retries, or declare more instances of `{}`",
                (expected / proxies as f64 * limit.per.seconds() as f64).ceil() as u64,
                limit.per.as_str(),
                service.name.value,
                callee.name.value
            ));
            for call in &calls[1..] {
                if let Some(load) = &call.load {
                    d = d.with_label(load.span, "adds to it");
                }
            }
            sink.push(d);
        }
    }
}
