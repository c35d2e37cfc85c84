//! Public exposure: gateway routes anyone can call. What is demanded of them
//! is the spec's compliance level (`security { public-routes ... }`):
//!
//! - `require-auth`: every route verifies a token (`auth`) unless it is
//!   declared `public reason="..."` (MESH0051); a public route without a
//!   rate limit is a warning (MESH0052);
//! - `require-rate-limit`: every route without `auth` has a rate limit
//!   (MESH0052, an error; a warning for routes declared public);
//! - `allow` (the default): nothing.

use crate::diag::{Code, Diagnostic, Severity, Sink};
use crate::model::security::PublicRoutes;
use crate::model::{Gateway, Model, Route};
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _: &SchemaIndex, sink: &mut Sink) {
    let level = model.security.public_routes;
    if level == PublicRoutes::Allow {
        return;
    }
    let issuers: Vec<&str> = model.issuers.iter().map(|i| i.name.value.as_str()).collect();
    for gateway in &model.gateways {
        for route in gateway.routes.iter().filter(|r| r.auth.is_none()) {
            let limited = !route.rate_limits.is_empty();
            let unauthenticated = level == PublicRoutes::RequireAuth && route.public.is_none();
            if unauthenticated {
                let auth = match issuers.first() {
                    Some(issuer) => format!("auth \"{issuer}\""),
                    None => "a jwt-issuer and `auth \"ISSUER\"`".to_string(),
                };
                let d = Diagnostic::new(
                    Code::UnauthenticatedRoute,
                    format!(
                        "route `{}` of gateway `{}` is reachable without a token",
                        route.name.value, gateway.name.value
                    ),
                )
                .at(route.name.span, "no `auth`")
                .help(format!("add {auth} to the route, or mark it `public reason=\"...\"` if anyone may call it"));
                sink.push(required_by(model, d));
            } else if !limited {
                sink.push(unlimited(model, gateway, route, level));
            }
        }
    }
}

fn unlimited(model: &Model, gateway: &Gateway, route: &Route, level: PublicRoutes) -> Diagnostic {
    let mut d = Diagnostic::new(
        Code::UnlimitedPublicRoute,
        format!(
            "route `{}` of gateway `{}` is reachable without a token and has no rate limit",
            route.name.value, gateway.name.value
        ),
    )
    .at(route.name.span, "no `rate-limit`")
    .help("add a limit per client: rate-limit 100 per=\"minute\" key=\"client-ip\"");
    if let Some(public) = &route.public {
        d = d.with_label(public.span, "declared public");
    }
    // Under require-rate-limit only routes declared public get away with a warning.
    if level == PublicRoutes::RequireRateLimit && route.public.is_none() {
        d.severity = Severity::Error;
        d = required_by(model, d);
    }
    d
}

fn required_by(model: &Model, d: Diagnostic) -> Diagnostic {
    match model.security.span {
        Some(span) => d.with_label(span, "required here"),
        None => d,
    }
}
