//! A service that requires the end user's token (`require-token`) gets one
//! only if every path to it carries it: a gateway route must verify a token
//! of that issuer and forward it (`auth "ISSUER" forward=#true`), and a
//! calling service must itself require the token (so it has one) and pass it
//! on (`forward-token=#true`), or exchange the token it holds at a token
//! exchange that issues the callee's (`exchange-token=`). A caller that drops the token makes every
//! request of the call fail with 401 at the callee's proxy.

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::{CallOrigin, Model, TokenPassing};
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _schemas: &SchemaIndex, sink: &mut Sink) {
    for gateway in &model.gateways {
        for route in &gateway.routes {
            let Some(forward) = route.forward() else { continue };
            let callee = model.service(forward.target.value);
            let Some(required) = callee.require_token() else { continue };
            let issuer = &model.issuer(required.value).name.value;
            let (problem, help) = match &route.auth {
                None => {
                    ("verifies no token".to_string(), format!("verify and forward it: auth \"{issuer}\" forward=#true"))
                }
                Some(auth) if auth.issuer.value != required.value => (
                    format!("verifies a `{}` token instead", model.issuer(auth.issuer.value).name.value),
                    format!("verify and forward a `{issuer}` token: auth \"{issuer}\" forward=#true"),
                ),
                Some(auth) if !auth.forward => (
                    "verifies the token but does not forward it".to_string(),
                    "add forward=#true to its `auth`".to_string(),
                ),
                Some(_) => continue,
            };
            sink.push(
                Diagnostic::new(
                    Code::TokenNotPropagated,
                    format!(
                        "route `{}` of gateway `{}` sends requests to `{}`, which requires a `{issuer}` token, but {problem}",
                        route.name.value, gateway.name.value, callee.name.value
                    ),
                )
                .at(route.span, "the token does not reach the service")
                .with_label(required.span, "required here")
                .help(help),
            );
        }
    }
    for caller in &model.services {
        // A TCP call carries no token; its port is not covered by `require-token`.
        for call in caller.calls.iter().filter(|c| !c.tcp) {
            let callee = model.service(call.target.value);
            let Some(required) = callee.require_token() else { continue };
            let issuer = &model.issuer(required.value).name.value;
            let holds = caller.require_token().is_some_and(|t| t.value == required.value);
            let (problem, help) = if let Some(exchange) = call.token.exchange() {
                let sts = model.token_exchange(exchange.exchange);
                if caller.require_token().is_none() {
                    (
                        format!("`{}` receives no token to exchange", caller.name.value),
                        format!("require the user's token at `{}` (require-token \"ISSUER\")", caller.name.value),
                    )
                } else if sts.issues != required.value {
                    (
                        format!("`{}` hands out `{}` tokens", sts.name.value, model.issuer(sts.issues).name.value),
                        format!(
                            "exchange at a token exchange that issues `{issuer}` tokens, or require those at `{}`",
                            callee.name.value
                        ),
                    )
                } else {
                    continue;
                }
            } else if call.origin == CallOrigin::Resolver {
                (
                    "a GraphQL resolver sends no end-user token".to_string(),
                    format!("resolve the field through a service that requires and forwards the `{issuer}` token"),
                )
            } else if !holds {
                (
                    format!("`{}` receives no such token to pass on", caller.name.value),
                    format!(
                        "require it at `{}` too (require-token \"{issuer}\"), so that its own callers must send it",
                        caller.name.value
                    ),
                )
            } else if call.token != TokenPassing::Forward {
                (
                    "the call does not pass it on".to_string(),
                    "forward it: forward-token=#true (the app copies the `authorization` header it received)"
                        .to_string(),
                )
            } else {
                continue;
            };
            sink.push(
                Diagnostic::new(
                    Code::TokenNotPropagated,
                    format!(
                        "`{}` calls `{}`, which requires a `{issuer}` token, but {problem}",
                        caller.name.value, callee.name.value
                    ),
                )
                .at(call.span, "the token does not reach the service")
                .with_label(required.span, "required here")
                .help(help),
            );
        }
    }
}
