//! JWT consistency: every claim a route uses (its `require-claim`s, the
//! conditions of the roles it requires, `claim-to-header`, a rate limit's
//! `claim:` key, an audit's `claim:` field) must be declared by the route's
//! issuer (or be a registered claim such as `sub`), with a type that fits
//! the use. A route that uses claims without verifying a token never has
//! them.

use std::collections::BTreeSet;

use crate::base::Span;
use crate::diag::{suggestion, Code, Diagnostic, Sink};
use crate::model::security::{AuditField, ClaimTest, ClaimType, JwtIssuer, RateKey, REGISTERED_CLAIMS};
use crate::model::{Model, Route};
use crate::schema::SchemaIndex;

/// How a claim is used, which decides the types it may have.
#[derive(Clone, Copy)]
enum Use<'a> {
    Test(&'a ClaimTest),
    /// Copied into a request header: Envoy copies strings, numbers and booleans.
    Header,
    /// A rate limit key: Envoy reads string values only.
    RateKey,
    /// Recorded: any type.
    Audit,
}

pub fn run(model: &Model, _: &SchemaIndex, sink: &mut Sink) {
    // A role's conditions are checked once per issuer of the routes requiring it.
    let mut role_checked = BTreeSet::new();
    for gateway in &model.gateways {
        for route in &gateway.routes {
            let Some(auth) = &route.auth else {
                without_token(route, sink);
                continue;
            };
            let issuer = model.issuer(auth.issuer.value);
            let check = |claim: &str, span: Span, usage: Use, sink: &mut Sink| {
                check_claim(issuer, claim, span, usage, sink);
            };
            for c in &auth.claims {
                check(&c.claim.value, c.claim.span, Use::Test(&c.test), sink);
            }
            for h in &auth.claim_headers {
                check(&h.claim.value, h.claim.span, Use::Header, sink);
            }
            for role in &auth.roles {
                if role_checked.insert((role.value, auth.issuer.value)) {
                    for c in &model.role(role.value).conditions {
                        check(&c.claim.value, c.claim.span, Use::Test(&c.test), sink);
                    }
                }
            }
            for limit in route.rate_limits.iter() {
                if let RateKey::Claim(claim) = &limit.key.value {
                    check(claim, limit.key.span, Use::RateKey, sink);
                }
            }
            for field in route.audit.iter().flat_map(|a| &a.fields) {
                if let AuditField::Claim(claim) = &field.value {
                    check(claim, field.span, Use::Audit, sink);
                }
            }
        }
    }
}

fn check_claim(issuer: &JwtIssuer, claim: &str, span: Span, usage: Use, sink: &mut Sink) {
    let declared = issuer.claim(claim).map(|c| c.ty);
    let registered = REGISTERED_CLAIMS.iter().find(|(n, _)| *n == claim).map(|(_, t)| *t);
    let Some(ty) = declared.or(registered) else {
        let known: Vec<&str> = issuer
            .claims
            .iter()
            .map(|c| c.name.value.as_str())
            .chain(REGISTERED_CLAIMS.iter().map(|(n, _)| *n))
            .collect();
        let help =
            suggestion(claim, known.iter().copied()).filter(|h| h.starts_with("did you mean")).unwrap_or_else(|| {
                format!("declare it in jwt-issuer `{}`: claim \"{claim}\" type=\"string\"", issuer.name.value)
            });
        sink.push(
            Diagnostic::new(
                Code::UndeclaredClaim,
                format!("claim `{claim}` is not declared by jwt-issuer `{}`", issuer.name.value),
            )
            .at(span, "undeclared claim")
            .with_label(issuer.name.span, "the route's issuer")
            .help(help),
        );
        return;
    };
    let fits = match usage {
        Use::Test(ClaimTest::Contains(_)) => ty.is_list(),
        Use::Test(ClaimTest::Equals(_)) => ty == ClaimType::String,
        Use::Test(ClaimTest::Present) | Use::Audit => true,
        Use::Header => !ty.is_list() || ty == ClaimType::SpaceDelimited,
        Use::RateKey => ty == ClaimType::String,
    };
    if fits {
        return;
    }
    let (what, help) = match usage {
        Use::Test(ClaimTest::Contains(_)) => (
            "`contains` tests a list claim",
            "use equals=\"...\" for a string claim, or declare the claim type=\"string-list\" / \"space-delimited\"",
        ),
        Use::Test(_) => ("`equals` compares a string claim", "use contains=\"...\" for a list claim, or present=#true"),
        Use::Header => {
            ("a header carries a single value", "copy a string, number or boolean claim (`sub`, `email`, ...)")
        }
        _ => ("a rate limit key must be a string claim", "key the limit by a string claim such as `sub`"),
    };
    sink.push(
        Diagnostic::new(Code::ClaimTypeMismatch, format!("claim `{claim}` is a {ty} claim; {what}"))
            .at(
                span,
                format!(
                    "used as {}",
                    if matches!(usage, Use::Test(ClaimTest::Contains(_))) { "a list" } else { "a single value" }
                ),
            )
            .with_label(issuer.claim(claim).map_or(issuer.name.span, |c| c.name.span), format!("declared {ty}"))
            .help(help),
    );
}

/// Claims used on a route that verifies no token.
fn without_token(route: &Route, sink: &mut Sink) {
    let keys = route.rate_limits.iter().filter_map(|l| match &l.key.value {
        RateKey::Claim(c) => Some((c.as_str(), l.key.span)),
        _ => None,
    });
    let fields = route.audit.iter().flat_map(|a| &a.fields).filter_map(|f| match &f.value {
        AuditField::Claim(c) => Some((c.as_str(), f.span)),
        _ => None,
    });
    for (claim, span) in keys.chain(fields) {
        sink.push(
            Diagnostic::new(
                Code::UndeclaredClaim,
                format!("route `{}` uses claim `{claim}` but verifies no token", route.name.value),
            )
            .at(span, "never set")
            .with_label(route.name.span, "no `auth`")
            .help("add `auth \"ISSUER\"` to the route, or key the limit by `client-ip`"),
        );
    }
}
