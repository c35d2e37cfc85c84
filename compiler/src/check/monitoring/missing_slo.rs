//! In a monitored mesh, a service behind a gateway route with no SLO (its
//! own or a route's) and no `slo-exempt`: nobody said how reliable it
//! must be for the users it answers.

use crate::base::Span;
use crate::diag::{Code, Diagnostic, Sink};
use crate::model::Model;
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _: &SchemaIndex, sink: &mut Sink) {
    if model.monitoring.is_none() {
        return;
    }
    // Per service: the first route to it, and whether some route to it has an SLO.
    let mut routes: Vec<Option<(Span, bool)>> = vec![None; model.services.len()];
    for route in model.gateways.iter().flat_map(|g| &g.routes) {
        let Some(forward) = route.forward() else { continue };
        let entry = routes[forward.target.value.index()].get_or_insert((route.name.span, false));
        entry.1 |= !forward.objectives.slos.is_empty();
    }
    for (service, route) in model.services.iter().zip(routes) {
        let Some((route, covered)) = route else { continue };
        if covered || !service.objectives.slos.is_empty() || service.objectives.exempt.is_some() {
            continue;
        }
        sink.push(
            Diagnostic::new(
                Code::MissingSlo,
                format!("service `{}` answers a gateway route but has no SLO", service.name.value),
            )
            .at(service.name.span, "no `slo` and no `slo-exempt`")
            .with_label(route, "routed here")
            .help("add one, e.g. slo \"availability\" objective=\"99.9%\" window=\"30d\" (or `slo policy=\"std-availability-99.9\"` with import \"std:slo\"), or declare slo-exempt reason=\"...\""),
        );
    }
}
