//! A route that an earlier route of the same gateway always wins over:
//! Envoy takes the first match, so the later route never receives traffic.

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::{HeaderMatch, Model, PathMatch, Route};
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _: &SchemaIndex, sink: &mut Sink) {
    for gateway in &model.gateways {
        // Linear in routes per prefix bucket: only routes whose path starts
        // with an earlier prefix are compared, found by walking the path's prefixes.
        let mut earlier: std::collections::HashMap<&str, Vec<&Route>> = std::collections::HashMap::new();
        for route in &gateway.routes {
            let path = match &route.matcher.path {
                PathMatch::Exact(p) | PathMatch::Prefix(p) => p.as_str(),
            };
            let winner = prefixes(path).filter_map(|p| earlier.get(p)).flatten().find(|e| covers(e, route));
            if let Some(winner) = winner {
                sink.push(
                    Diagnostic::new(
                        Code::ShadowedRoute,
                        format!("route `{}` of gateway `{}` can never match", route.name.value, gateway.name.value),
                    )
                    .at(route.matcher.span, "every request this matches…")
                    .with_label(winner.matcher.span, format!("…is taken by route `{}` first", winner.name.value))
                    .help(format!(
                        "move route `{}` above route `{}`, or narrow the earlier match",
                        route.name.value, winner.name.value
                    )),
                );
            }
            earlier.entry(path).or_default().push(route);
        }
    }
}

/// Every prefix of `path` by bytes at char boundaries, shortest first, including itself.
fn prefixes(path: &str) -> impl Iterator<Item = &str> {
    (1..=path.len()).filter(move |&i| path.is_char_boundary(i)).map(move |i| &path[..i])
}

/// Whether `a` matches every request `b` matches (routes of different
/// `host` blocks, or of a block and none, never see the same request).
fn covers(a: &Route, b: &Route) -> bool {
    let host = a.virtual_host == b.virtual_host;
    let path = match (&a.matcher.path, &b.matcher.path) {
        (PathMatch::Prefix(pa), PathMatch::Prefix(pb) | PathMatch::Exact(pb)) => pb.starts_with(pa.as_str()),
        (PathMatch::Exact(pa), PathMatch::Exact(pb)) => pa == pb,
        (PathMatch::Exact(_), PathMatch::Prefix(_)) => false,
    };
    let method = a.matcher.method.is_none() || a.matcher.method == b.matcher.method;
    let headers = a.matcher.headers.iter().all(|h: &HeaderMatch| b.matcher.headers.contains(h));
    host && path && method && headers
}
