//! Two listeners of one gateway that bind the same port on overlapping
//! addresses: Envoy would fail to start (address already in use).

use std::collections::HashMap;

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::Model;
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _: &SchemaIndex, sink: &mut Sink) {
    for gateway in &model.gateways {
        // Group by port first so the overlap test stays within a group.
        let mut by_port: HashMap<u16, Vec<usize>> = HashMap::new();
        for (i, l) in gateway.listeners.iter().enumerate() {
            by_port.entry(l.port.get()).or_default().push(i);
        }
        let mut groups: Vec<_> = by_port.into_iter().filter(|(_, v)| v.len() > 1).collect();
        groups.sort();
        for (port, members) in groups {
            for (n, &i) in members.iter().enumerate().skip(1) {
                let listener = &gateway.listeners[i];
                let Some(&j) = members[..n].iter().find(|&&j| overlaps(gateway.listeners[j].address, listener.address))
                else {
                    continue;
                };
                let first = &gateway.listeners[j];
                sink.push(
                    Diagnostic::new(
                        Code::ListenerPortConflict,
                        format!(
                            "listeners `{}` and `{}` of gateway `{}` both bind port {port}",
                            first.name.value, listener.name.value, gateway.name.value
                        ),
                    )
                    .at(listener.span, format!("binds {}:{port}", listener.address))
                    .with_label(first.span, format!("already bound here ({}:{port})", first.address))
                    .help("give one of the listeners another port"),
                );
            }
        }
    }
}

/// Same address, or either is the wildcard of the same family.
fn overlaps(a: std::net::IpAddr, b: std::net::IpAddr) -> bool {
    a == b || (a.is_ipv4() == b.is_ipv4() && (a.is_unspecified() || b.is_unspecified()))
}
