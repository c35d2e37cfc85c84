//! `cache` on a route whose requests are never cached: Envoy's HTTP cache
//! stores responses to GET requests only, so a route matching another
//! method only would pay for the filter and cache nothing.

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::values::HttpMethod;
use crate::model::Model;
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _: &SchemaIndex, sink: &mut Sink) {
    for gateway in &model.gateways {
        for route in &gateway.routes {
            let Some(forward) = route.forward() else { continue };
            let (Some(ttl), Some(method)) = (&forward.cache, route.matcher.method) else { continue };
            if method == HttpMethod::Get {
                continue;
            }
            sink.push(
                Diagnostic::new(
                    Code::IneffectiveCache,
                    format!(
                        "route `{}` caches, but only matches {method} requests, which are never cached",
                        route.name.value
                    ),
                )
                .at(ttl.span, "no response of this route is ever cached")
                .with_label(route.matcher.span, format!("matches {method} only"))
                .help("remove `cache`, or cache a GET route that serves the same resource"),
            );
        }
    }
}
