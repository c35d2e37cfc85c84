//! A service's `authorization` rules against the call graph: every declared
//! call and gateway route must get through (a refused one is an error naming
//! the rule, or the missing allow), and every allow rule should be needed
//! (a caller allowed but never calling, or allowed every operation while it
//! calls only some, is a warning: the rule opens a path nobody declared).
//!
//! A rule naming a `service-role` stands for each of its members: the
//! messages name the role and the member (and the selector that makes it one).
//!
//! A request carries its caller's identity only over mutual TLS; a
//! plaintext caller is anonymous, so allow rules never admit it and deny
//! rules never refuse it (a warning: the rule does not do what it says).

use std::collections::HashMap;

use crate::base::Span;
use crate::diag::{Code, Diagnostic, Sink};
use crate::model::identity::{AuthorizationRule, Naming, Principal, RuleAction, Verdict};
use crate::model::values::Operation;
use crate::model::{Gateway, Model, Route, Service};
use crate::schema::SchemaIndex;

/// A request a callee receives: who sends it, what it asks for, where it is declared.
struct Incoming<'a> {
    from: Principal,
    /// Whether it arrives over mutual TLS, so that the identity is known.
    authenticated: bool,
    operation: Option<&'a Operation>,
    span: Span,
    declared_by: Declaration<'a>,
}

enum Declaration<'a> {
    Call { caller: &'a Service },
    Route { gateway: &'a Gateway, route: &'a Route },
}

impl Declaration<'_> {
    /// "call from `orders`" / "route `x` of gateway `public`".
    fn describe(&self) -> String {
        match self {
            Declaration::Call { caller } => format!("call from `{}`", caller.name.value),
            Declaration::Route { gateway, route } => {
                format!("route `{}` of gateway `{}`", route.name.value, gateway.name.value)
            }
        }
    }
}

pub fn run(model: &Model, _schemas: &SchemaIndex, sink: &mut Sink) {
    // Each callee's requests, by service id.
    let mut incoming: Vec<Vec<Incoming>> = model.services.iter().map(|_| Vec::new()).collect();
    for (id, caller) in model.service_ids().zip(&model.services) {
        for call in &caller.calls {
            let callee = model.service(call.target.value);
            if callee.authorization().is_none() {
                continue;
            }
            incoming[call.target.value.index()].push(Incoming {
                from: Principal::Service(id),
                authenticated: model.mtls_between(Some(caller), callee),
                operation: call.operation.as_ref().map(|o| &o.value),
                span: call.span,
                declared_by: Declaration::Call { caller },
            });
        }
    }
    for (id, gateway) in model.gateway_ids().zip(&model.gateways) {
        for route in &gateway.routes {
            let Some(forward) = route.forward() else { continue };
            let callee = model.service(forward.target.value);
            if callee.authorization().is_none() {
                continue;
            }
            incoming[forward.target.value.index()].push(Incoming {
                from: Principal::Gateway(id),
                authenticated: model.mtls_between(None, callee),
                operation: forward.operation.as_ref().map(|o| &o.value),
                span: route.span,
                declared_by: Declaration::Route { gateway, route },
            });
        }
    }
    for (callee, requests) in model.services.iter().zip(&incoming) {
        refused(model, callee, requests, sink);
        unneeded(model, callee, requests, sink);
    }
}

fn refused(model: &Model, callee: &Service, requests: &[Incoming], sink: &mut Sink) {
    let Some(authorization) = callee.authorization() else { return };
    for request in requests {
        let from = request.authenticated.then_some(&request.from);
        // Formatted only for a refused request: most get through.
        let message = || {
            let op = request.operation.map_or(String::new(), |o| format!(" `{o}`"));
            format!("the {}{op} is refused by `{}`'s authorization", request.declared_by.describe(), callee.name.value)
        };
        let diagnostic = match authorization.decide(from, request.operation) {
            Verdict::Allowed if !request.authenticated => {
                match authorization.decide(Some(&request.from), request.operation) {
                    Verdict::DeniedBy(rule) => ineffective_deny(model, callee, request, rule.span),
                    _ => continue,
                }
            }
            Verdict::Allowed => continue,
            Verdict::DeniedBy(rule) => match rule.names(&request.from) {
                Some(Naming::Role(role)) => {
                    let role = model.service_role(role);
                    let selector = role.admits(&request.from).map_or(String::new(), |s| s.value.describe(model));
                    Diagnostic::new(Code::CallDeniedByPolicy, message())
                        .at(request.span, "refused")
                        .with_label(
                            rule.span,
                            format!(
                                "denied by this rule: {} is a member of service-role `{}`",
                                principal_name(model, &request.from),
                                role.name.value
                            ),
                        )
                        .with_label(
                            role.admits(&request.from).map_or(role.name.span, |s| s.span),
                            format!("a member through {selector}"),
                        )
                        .help(format!(
                            "take {} out of service-role `{}`, deny the role only the operations it must not call, or remove the call",
                            principal_name(model, &request.from),
                            role.name.value
                        ))
                }
                _ => Diagnostic::new(Code::CallDeniedByPolicy, message())
                    .at(request.span, "refused")
                    .with_label(rule.span, "denied by this rule")
                    .help("remove the caller from the deny rule, or remove the call if it must not happen"),
            },
            Verdict::NotAllowed if !request.authenticated => Diagnostic::new(Code::CallDeniedByPolicy, message())
                .at(request.span, "sent in plaintext: the caller has no identity")
                .with_label(authorization.span, "admits only identified callers")
                .help(format!(
                    "allow rules match mTLS identities: enable mutual TLS between them (`mtls` is {} for `{}`)",
                    model.mtls_mode(callee).as_str(),
                    callee.name.value
                )),
            Verdict::NotAllowed => Diagnostic::new(Code::CallDeniedByPolicy, message())
                .at(request.span, "refused")
                .with_label(authorization.span, "no allow rule admits it")
                .help(format!(
                    "allow it: allow {}{}",
                    principal_syntax(model, &request.from),
                    request.operation.map_or(String::new(), |o| format!(" {{ operation \"{o}\" }}"))
                )),
        };
        sink.push(diagnostic);
    }
}

/// A deny rule that would refuse the request over mTLS, but the request
/// comes in plaintext: the proxy matches no identity, so it goes through.
fn ineffective_deny(model: &Model, callee: &Service, request: &Incoming, rule: Span) -> Diagnostic {
    Diagnostic::new(
        Code::IneffectiveDenyRule,
        format!(
            "the {} gets through `{}`'s deny rule: it is sent in plaintext, without the identity the rule matches",
            request.declared_by.describe(),
            callee.name.value
        ),
    )
    .at(rule, "never applies to this caller")
    .with_label(request.span, "sent in plaintext")
    .help(format!(
        "deny rules match mTLS identities: enable mutual TLS between them (`mtls` is {} for `{}`), or remove the call",
        model.mtls_mode(callee).as_str(),
        callee.name.value
    ))
}

fn unneeded(model: &Model, callee: &Service, requests: &[Incoming], sink: &mut Sink) {
    let Some(authorization) = callee.authorization() else { return };
    // Indexed by caller, so each rule looks at its own callers' requests only.
    let mut by_caller: HashMap<&Principal, Vec<&Incoming>> = HashMap::new();
    for request in requests {
        by_caller.entry(&request.from).or_default().push(request);
    }
    for rule in authorization.rules().iter().filter(|r| r.action == RuleAction::Allow) {
        unneeded_roles(model, callee, rule, &by_caller, sink);
        for principal in &rule.principals {
            let from: &[&Incoming] = by_caller.get(&principal.value).map_or(&[], Vec::as_slice);
            if !from.iter().any(|r| rule.covers(&r.from, r.operation)) {
                let name = principal_name(model, &principal.value);
                let declares =
                    if from.is_empty() { "declares no call to it" } else { "makes no call this rule admits" };
                sink.push(
                    Diagnostic::new(
                        Code::UnusedAllowRule,
                        format!("{name} may call `{}`, but {declares}", callee.name.value),
                    )
                    .at(principal.span, "allowed without a declared call")
                    .help("remove it from the rule, or declare the call it is meant for"),
                );
                continue;
            }
            if rule.operations.is_empty() && from.iter().all(|r| r.operation.is_some()) {
                let name = principal_name(model, &principal.value);
                let (called, operations) = called_operations(from);
                sink.push(
                    Diagnostic::new(
                        Code::OverBroadAllowRule,
                        format!(
                            "{name} may call every operation of `{}`, but calls only {}",
                            callee.name.value,
                            called.len()
                        ),
                    )
                    .at(principal.span, "allowed every operation")
                    .with_label(rule.span, "no `operation` in this rule")
                    .help(format!("allow only what it calls: {{ {} }}", operations.join("; "))),
                );
            }
        }
    }
}

/// A role in an allow rule is needed when one of its members (not named
/// by the rule directly) makes a call the rule admits; it is over-broad when
/// the rule admits every operation and its members call only some.
fn unneeded_roles(
    model: &Model,
    callee: &Service,
    rule: &AuthorizationRule,
    by_caller: &HashMap<&Principal, Vec<&Incoming>>,
    sink: &mut Sink,
) {
    for role_id in &rule.roles {
        let role = model.service_role(role_id.value);
        let members: Vec<&Principal> = rule
            .role_members
            .iter()
            .filter(|(p, r)| *r == role_id.value && !rule.principals.iter().any(|d| d.value == *p))
            .map(|(p, _)| p)
            .collect();
        if members.is_empty() {
            // Only identities outside the spec (namespaces, SPIFFE IDs): nothing to judge them by.
            continue;
        }
        let requests: Vec<&Incoming> =
            members.iter().flat_map(|m| by_caller.get(m).map_or(&[][..], Vec::as_slice)).copied().collect();
        let names: Vec<String> = members.iter().map(|m| principal_name(model, m)).collect();
        if !requests.iter().any(|r| rule.covers(&r.from, r.operation)) {
            let declares = if requests.is_empty() {
                "none of them declares a call to it"
            } else {
                "none makes a call this rule admits"
            };
            sink.push(
                Diagnostic::new(
                    Code::UnusedAllowRule,
                    format!(
                        "service-role `{}` may call `{}`, but {declares} (members: {})",
                        role.name.value,
                        callee.name.value,
                        names.join(", ")
                    ),
                )
                .at(role_id.span, "allowed without a declared call")
                .with_label(role.name.span, "the role")
                .help("remove the role from the rule, or declare the calls it is meant for"),
            );
            continue;
        }
        if rule.operations.is_empty() && requests.iter().all(|r| r.operation.is_some()) {
            let (called, operations) = called_operations(&requests);
            sink.push(
                Diagnostic::new(
                    Code::OverBroadAllowRule,
                    format!(
                        "service-role `{}` may call every operation of `{}`, but its members ({}) call only {}",
                        role.name.value,
                        callee.name.value,
                        names.join(", "),
                        called.len()
                    ),
                )
                .at(role_id.span, "allowed every operation")
                .with_label(rule.span, "no `operation` in this rule")
                .help(format!("allow only what they call: {{ {} }}", operations.join("; "))),
            );
        }
    }
}

/// The distinct operations the requests ask for, in order, and each as an
/// `operation "..."` line for the help.
fn called_operations(requests: &[&Incoming]) -> (Vec<String>, Vec<String>) {
    let mut called: Vec<String> = Vec::new();
    for op in requests.iter().filter_map(|r| r.operation) {
        let op = op.to_string();
        if !called.contains(&op) {
            called.push(op);
        }
    }
    let operations = called.iter().map(|o| format!("operation \"{o}\"")).collect();
    (called, operations)
}

fn principal_name(model: &Model, principal: &Principal) -> String {
    match principal {
        Principal::Service(id) => format!("`{}`", model.service(*id).name.value),
        Principal::Gateway(id) => format!("gateway `{}`", model.gateway(*id).name.value),
    }
}

fn principal_syntax(model: &Model, principal: &Principal) -> String {
    match principal {
        Principal::Service(id) => format!("\"{}\"", model.service(*id).name.value),
        Principal::Gateway(id) => format!("gateway=\"{}\"", model.gateway(*id).name.value),
    }
}
