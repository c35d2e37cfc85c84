//! A route's latency objective at or under its retries' per-try timeout:
//! an attempt that hangs is cut and retried only once the request is
//! already slower than the objective, so the retry can rescue the answer
//! but never its latency.

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::monitoring::SloKind;
use crate::model::Model;
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _: &SchemaIndex, sink: &mut Sink) {
    for gateway in &model.gateways {
        for route in &gateway.routes {
            let Some(forward) = route.forward() else { continue };
            let Some(retries) = forward.retries.as_ref().filter(|r| r.retries_timed_out_attempts()) else { continue };
            let Some(per_try) = &retries.per_try_timeout else { continue };
            for slo in &forward.objectives.slos {
                let SloKind::Latency { under } = &slo.kind else { continue };
                if under.value > per_try.value {
                    continue;
                }
                sink.push(
                    Diagnostic::new(
                        Code::LatencyObjectiveWithinPerTryTimeout,
                        format!(
                            "the latency objective of route `{}` asks for answers under {}, but a hung attempt is retried only after its per-try timeout of {}",
                            route.name.value, under.value, per_try.value
                        ),
                    )
                    .at(under.span, format!("not above the {} per-try timeout", per_try.value))
                    .with_label(per_try.span, "a hung attempt is cut here")
                    .help("lower the per-try timeout below the objective, leaving the retry time to answer within it"),
                );
            }
        }
    }
}
