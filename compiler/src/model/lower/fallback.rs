//! `fallback` on a call or a forwarding route: what the caller gets when
//! the callee is unavailable. One of three forms:
//!
//! - `fallback "SERVICE" port=PORT`: another service takes the requests;
//! - `fallback status=N { header NAME VALUE; body JSON }`: a static response;
//! - `fallback stale=DURATION`: a cached response at most that old.

use std::ops::Deref;

use super::read;
use super::{Decls, Lower};
use crate::base::Spanned;
use crate::diag::{Code, Diagnostic};
use crate::model::traffic::{Fallback, FallbackKind, StaticResponse};
use crate::model::values::Operation;
use crate::syntax::Node;

const EXAMPLE: &str =
    "fallback \"recommendations-static\", fallback status=200 { body #\"{\"items\": []}\"# }, or fallback stale=\"10m\"";

impl<D: Deref<Target = Decls>> Lower<'_, D> {
    /// The `fallback` child of a call or route `node`, if any: `Some(None)`
    /// without one, `None` when it does not lower (reported). `operation`
    /// is what the call or route names: it picks a fallback service's port.
    pub(super) fn fallback(&mut self, node: &Node, operation: Option<&Spanned<Operation>>) -> Option<Option<Fallback>> {
        // A second one is reported by the caller's `Once`.
        let Some(fallback) = node.children().iter().find(|c| c.name == "fallback") else { return Some(None) };
        read::check_entries(fallback, 1, &["port", "status", "stale"], self.sink);
        let service = fallback.arguments().next().is_some();
        let status = fallback.property("status").is_some();
        let stale = fallback.property("stale").is_some();
        let forms = [service, status, stale].into_iter().filter(|f| *f).count();
        if forms != 1 {
            let message = match forms {
                0 => "this `fallback` says neither a service, a status nor a staleness",
                _ => {
                    "this `fallback` mixes forms: a service, a static response and a stale response exclude each other"
                }
            };
            self.sink.push(
                Diagnostic::new(Code::FallbackForm, message)
                    .at(fallback.span, "one form per fallback")
                    .help(format!("write one of: {EXAMPLE}")),
            );
            return None;
        }
        let kind = if service {
            self.fallback_service(fallback, operation)?
        } else if status {
            self.static_response(fallback)?
        } else {
            self.stale(fallback)?
        };
        Some(Some(Fallback { kind, span: fallback.span }))
    }

    fn fallback_service(&mut self, node: &Node, operation: Option<&Spanned<Operation>>) -> Option<FallbackKind> {
        read::no_children(node, self.sink);
        let target = read::string_arg(node, 0, "a service", EXAMPLE, self.sink)?;
        let port = match read::string_prop(node, "port", None, self.sink) {
            Some(p) => Some(p),
            None if node.property("port").is_some() => return None,
            None => None,
        };
        let target = self.service_ref(&target)?;
        let port = self.call_port(node, target.value, port.as_ref(), operation)?;
        Some(FallbackKind::Service { target, port })
    }

    fn static_response(&mut self, node: &Node) -> Option<FallbackKind> {
        if let Some(port) = node.property("port") {
            self.sink.push(
                Diagnostic::new(Code::UnknownProperty, "`port` applies to a fallback service")
                    .at(port.span, "no service to reach")
                    .help("remove it: the proxy sends a static response itself"),
            );
            return None;
        }
        let status = read::int_prop(node, "status", Some("fallback status=200"), self.sink)?;
        let code = read::parse(&status, |n| read::bounded(*n, 200, 599, "an HTTP status").map(|n| n as u16), self.sink);
        let (headers, body, _) = self.message_parts(node, "fallback", &["header", "body"])?;
        Some(FallbackKind::Static(StaticResponse { status: Spanned::new(code?, status.span), headers, body }))
    }

    fn stale(&mut self, node: &Node) -> Option<FallbackKind> {
        read::no_children(node, self.sink);
        if let Some(port) = node.property("port") {
            self.sink.push(
                Diagnostic::new(Code::UnknownProperty, "`port` applies to a fallback service")
                    .at(port.span, "no service to reach")
                    .help("remove it: a stale response comes from the proxy's cache"),
            );
            return None;
        }
        let max_age = self.spanned_duration(node, "stale")??;
        Some(FallbackKind::Stale { max_age })
    }
}
