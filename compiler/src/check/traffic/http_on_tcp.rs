//! What only HTTP and gRPC have, set where only plain TCP flows: gateway
//! routes to a service with no HTTP port (or no address at all), and on a
//! service whose every port is TCP, a required token, authorization rules
//! naming operations or headers, header-based version routing, mirroring,
//! hashing on a header and HTTP or gRPC health probes. (Calls are checked
//! where the spec is read: each knows its port.)

use crate::base::Span;
use crate::diag::{Code, Diagnostic, Sink};
use crate::model::traffic::{LoadBalancing, Probe};
use crate::model::{Model, Service};
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _: &SchemaIndex, sink: &mut Sink) {
    for gateway in &model.gateways {
        // Redirects send nothing on.
        for forward in gateway.routes.iter().filter_map(|r| r.forward()) {
            let target = model.service(forward.target.value);
            if target.address.is_none() {
                sink.push(
                    Diagnostic::new(
                        Code::TargetListensNowhere,
                        format!("service `{}` listens nowhere", target.name.value),
                    )
                    .at(forward.target.span, "the route sends requests to it")
                    .with_label(target.name.span, "declared without an address")
                    .help("give it an address, or route to another service"),
                );
            } else if target.request_port(None).is_none() {
                sink.push(
                    Diagnostic::new(
                        Code::HttpSettingOnTcp,
                        format!("service `{}` takes plain TCP only: a gateway route carries HTTP", target.name.value),
                    )
                    .at(forward.target.span, "the route sends HTTP requests to it")
                    .with_label(target.name.span, "no port of it serves an API")
                    .help("route to a service with an HTTP or gRPC API; the gateway does not proxy raw TCP"),
                );
            }
        }
    }
    for service in model.services.iter().filter(|s| tcp_only(s)) {
        if let Some((span, what)) = http_setting(service) {
            sink.push(
                Diagnostic::new(
                    Code::HttpSettingOnTcp,
                    format!("service `{}` takes plain TCP only: {what} needs HTTP", service.name.value),
                )
                .at(span, "HTTP and gRPC only")
                .with_label(service.name.span, "no port of it serves an API")
                .help("remove it: on TCP the proxies see connections, not requests; authorization rules may name callers only"),
            );
        }
    }
}

/// A service that listens, on TCP ports only.
fn tcp_only(service: &Service) -> bool {
    service.address.is_some() && service.ports().all(|(_, p)| !p.protocol.is_http())
}

/// The first setting of `service` that needs requests, with what it is.
fn http_setting(service: &Service) -> Option<(Span, &'static str)> {
    if let Some(token) = service.require_token() {
        return Some((token.span, "`require-token`"));
    }
    let rules = service.authorization().map_or(&[][..], |a| a.rules());
    if let Some(rule) = rules.iter().find(|r| !r.operations.is_empty() || !r.conditions.is_empty()) {
        let span = rule.operations.first().map_or(rule.span, |o| o.span);
        return Some((span, "an authorization rule on operations or headers"));
    }
    let traffic = &service.traffic;
    if let Some(route) = traffic.rules.header_routes.first() {
        return Some((route.span, "routing on a header"));
    }
    if let Some(mirror) = &traffic.rules.mirror {
        return Some((mirror.span, "mirroring requests"));
    }
    if let Some(lb) = traffic.load_balancing.as_ref().filter(|lb| matches!(lb.value, LoadBalancing::RingHash { .. })) {
        return Some((lb.span, "hashing on a request header"));
    }
    if let Some(check) = traffic.health_check.as_ref().filter(|h| h.value.probe != Probe::Tcp) {
        return Some((check.span, "an HTTP or gRPC health probe"));
    }
    None
}
