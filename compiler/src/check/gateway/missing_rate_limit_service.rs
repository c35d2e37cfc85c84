//! Global rate limits (`rate-limit ... global=#true`) are counted by a rate
//! limit service the gateway asks; without one declared there is nothing
//! to ask, and Envoy would reject the config.

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::Model;
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _: &SchemaIndex, sink: &mut Sink) {
    for gateway in model.gateways.iter().filter(|g| g.rate_limit_service.is_none()) {
        let global = gateway.routes.iter().find_map(|r| r.rate_limits.global.as_ref());
        if let Some(limit) = global {
            sink.push(
                Diagnostic::new(
                    Code::MissingRateLimitService,
                    format!("gateway `{}` has global rate limits but no `rate-limit-service`", gateway.name.value),
                )
                .at(limit.span, "counted by a rate limit service")
                .with_label(gateway.name.span, "declares none")
                .help("run envoyproxy/ratelimit with out/ratelimit/gateway-NAME.yaml and declare it: rate-limit-service address=\"ratelimit\" port=8081"),
            );
        }
    }
}
