//! An idle timeout that can never fire: the route's request timeout (its
//! own, else Envoy's 15 s default) is not longer, so it cuts the request
//! first. WebSocket routes are exempt: once upgraded, a connection is
//! bounded by its idle timeout alone.

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::values::Duration;
use crate::model::{Model, RouteTimeout};
use crate::schema::SchemaIndex;

/// Envoy's route timeout when a route sets none.
const DEFAULT_TIMEOUT: Duration = Duration::from_millis(15_000);

pub fn run(model: &Model, _: &SchemaIndex, sink: &mut Sink) {
    for route in model.gateways.iter().flat_map(|g| &g.routes) {
        let Some(forward) = route.forward() else { continue };
        let Some(idle) = &forward.idle_timeout else { continue };
        let timeout = match forward.timeout {
            Some(RouteTimeout::Never) => continue,
            Some(RouteTimeout::After(t)) => t,
            None => DEFAULT_TIMEOUT,
        };
        if forward.websocket.is_some() || idle.value < timeout {
            continue;
        }
        let whose = if forward.timeout.is_some() { "its timeout" } else { "Envoy's default timeout" };
        sink.push(
            Diagnostic::new(
                Code::IneffectiveIdleTimeout,
                format!(
                    "route `{}`: idle timeout {} is not shorter than {whose} {timeout}, so it never fires",
                    route.name.value, idle.value
                ),
            )
            .at(idle.span, "never reached")
            .help("for streams and long polls, set `timeout \"none\"` and keep the idle timeout; otherwise remove it"),
        );
    }
}
