//! A host named twice among a gateway's `host` blocks: each block is one
//! Envoy virtual host, and Envoy refuses a route configuration whose
//! virtual hosts share a domain (or repeat one).

use std::collections::HashMap;

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::Model;
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _: &SchemaIndex, sink: &mut Sink) {
    for gateway in &model.gateways {
        let mut first = HashMap::new();
        for domain in gateway.virtual_hosts.iter().flat_map(|v| &v.domains) {
            let Some(&earlier) = first.get(&domain.value) else {
                first.insert(&domain.value, domain.span);
                continue;
            };
            sink.push(
                Diagnostic::new(
                    Code::DuplicateRouteHost,
                    format!("host `{}` is named twice in gateway `{}`", domain.value, gateway.name.value),
                )
                .at(domain.span, "named again here")
                .with_label(earlier, "first named here")
                .help("a host belongs to one `host` block: merge the blocks, or remove it from one"),
            );
        }
    }
}
