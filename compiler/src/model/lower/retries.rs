//! Retries and the limits on them: `retries` (on calls, routes,
//! `call-defaults` and named `retry-policy` nodes), a service's
//! `call-defaults`, and the mesh's `limits`.

use std::ops::Deref;

use std::collections::HashMap;

use super::read::{self, bounded, parse_percent, Once};
use super::{declare_once, Decls, Lower};
use crate::base::{Span, Spanned};
use crate::diag::{suggestion, Code, Diagnostic};
use crate::model::traffic::{Backoff, CallDefaults, Limits, RetryBudget, RetryOn, RetryPolicy};
use crate::model::values::Duration;
use crate::syntax::Node;

const RETRY_PROPS: &[&str] =
    &["policy", "per-try-timeout", "on", "backoff", "max-backoff", "budget", "min-retry-concurrency"];
const RETRY_EXAMPLE: &str = "retries 2 per-try-timeout=\"300ms\" on=\"5xx reset\"";

impl<D: Deref<Target = Decls>> Lower<'_, D> {
    /// `retries N per-try-timeout=D on="5xx reset" backoff=D max-backoff=D`,
    /// or `retries policy="NAME"`.
    pub(super) fn retries(&mut self, node: &Node) -> Option<RetryPolicy> {
        read::check_entries(node, 1, RETRY_PROPS, self.sink);
        read::no_children(node, self.sink);
        if let Some(name) = read::string_prop(node, "policy", None, self.sink) {
            if let Some(extra) = node.entries.iter().find(|e| e.name.as_deref().is_some_and(|n| n != "policy")) {
                self.sink.push(
                    Diagnostic::new(Code::UnknownProperty, "`retries policy=...` takes its settings from the policy")
                        .at(extra.span, "set by the policy")
                        .help("declare another retry-policy, or write the retries out"),
                );
                return None;
            }
            return match self.d.retry_policies.get(&name.value) {
                // Diagnostics about the retries point at the reference, in the user's spec.
                Some(policy) => Some(RetryPolicy { span: node.span, ..policy.clone() }),
                None => {
                    let mut known: Vec<&str> = self.d.retry_policies.keys().map(String::as_str).collect();
                    known.sort_unstable();
                    self.sink.push(
                        Diagnostic::new(Code::UnknownRetryPolicy, format!("no retry-policy named `{}`", name.value))
                            .at(name.span, "unknown retry policy")
                            .help_opt(suggestion(&name.value, known.iter().copied()).or(Some(
                                "declare it with retry-policy \"name\" { retries ... }, or `import \"std:resilience\"` for the standard ones".into(),
                            ))),
                    );
                    None
                }
            };
        }
        let count = read::int_arg(node, 0, "a retry count", RETRY_EXAMPLE, self.sink)
            .and_then(|n| read::parse(&n, |n| bounded(*n, 0, 10, "retries"), self.sink));
        let per_try_timeout = self.spanned_duration(node, "per-try-timeout");
        let retry_on = match read::string_prop(node, "on", None, self.sink) {
            Some(text) => {
                let parsed: Option<Vec<RetryOn>> = text
                    .value
                    .split([' ', ','])
                    .filter(|w| !w.is_empty())
                    .map(|w| read::parse(&Spanned::new(w.to_string(), text.span), |w| RetryOn::parse(w), self.sink))
                    .collect();
                Some(parsed?)
            }
            None if node.property("on").is_some() => return None,
            None => Some(Vec::new()),
        };
        let base = self.spanned_duration(node, "backoff");
        let max = self.spanned_duration(node, "max-backoff");
        let backoff = match (base?, max?) {
            (None, None) => None,
            (Some(base), None) => Some(Backoff { base: base.value, max: times_ten(base.value) }),
            (None, Some(max)) => Some(Backoff { base: Backoff::ENVOY_DEFAULT.base.min(max.value), max: max.value }),
            (Some(base), Some(max)) if max.value < base.value => {
                self.sink.push(
                    Diagnostic::new(
                        Code::InvalidValue,
                        format!("max-backoff {} is shorter than backoff {}", max.value, base.value),
                    )
                    .at(max.span, "shorter than the base")
                    .help("the cap must be at least the base interval"),
                );
                return None;
            }
            (Some(base), Some(max)) => Some(Backoff { base: base.value, max: max.value }),
        };
        let budget = self.retry_budget(node)?;
        Some(RetryPolicy {
            retries: count?,
            per_try_timeout: per_try_timeout?,
            retry_on: retry_on?,
            backoff,
            budget,
            span: node.span,
        })
    }

    /// `budget="20%" min-retry-concurrency=N` of a `retries` node.
    /// `Some(None)` when absent, `None` when invalid.
    pub(super) fn retry_budget(&mut self, node: &Node) -> Option<Option<RetryBudget>> {
        let min = self.count_prop(node, "min-retry-concurrency", 0, 1_000_000)?;
        let Some(text) = read::string_prop(node, "budget", None, self.sink) else {
            if node.property("budget").is_some() {
                return None;
            }
            if let Some(entry) = node.property("min-retry-concurrency") {
                self.sink.push(
                    Diagnostic::new(Code::MissingRequired, "`min-retry-concurrency` qualifies a retry budget")
                        .at(entry.span, "no budget")
                        .help("add the budget: retries 2 budget=\"20%\" min-retry-concurrency=3"),
                );
                return None;
            }
            return Some(None);
        };
        let percent = read::parse(&text, |t| parse_percent(t), self.sink)?;
        // Envoy's default floor: three retries may always run.
        Some(Some(RetryBudget { percent, min_concurrency: min.unwrap_or(3) }))
    }

    /// A service's `call-defaults { timeout "1s"; retries ... }`.
    pub(super) fn call_defaults(&mut self, node: &Node) -> Option<CallDefaults> {
        read::check_entries(node, 0, &[], self.sink);
        let mut once = Once::default();
        let mut defaults = CallDefaults::default();
        let mut failed = false;
        for child in node.children() {
            if !once.first(child, self.sink) {
                continue;
            }
            match child.name.as_str() {
                "timeout" => {
                    read::check_entries(child, 1, &[], self.sink);
                    read::no_children(child, self.sink);
                    let text = read::string_arg(child, 0, "a duration", "timeout \"1s\"", self.sink);
                    match text.and_then(|t| {
                        read::parse(&t, |t| Duration::parse(t), self.sink).map(|d| Spanned::new(d, t.span))
                    }) {
                        Some(t) => defaults.timeout = Some(t),
                        None => failed = true,
                    }
                }
                "retries" => match self.retries(child) {
                    Some(r) => defaults.retries = Some(r),
                    None => failed = true,
                },
                _ => read::unknown_child(child, "call-defaults", &["timeout", "retries"], self.sink),
            }
        }
        (!failed).then_some(defaults)
    }

    /// The root's `limits { max-retry-amplification N }`.
    pub(super) fn limits(&mut self, node: &Node) -> Limits {
        read::check_entries(node, 0, &[], self.sink);
        let mut limits = Limits { span: Some(node.span), ..Limits::default() };
        let mut once = Once::default();
        for child in node.children() {
            match child.name.as_str() {
                "max-retry-amplification" if once.first(child, self.sink) => {
                    read::check_entries(child, 1, &[], self.sink);
                    read::no_children(child, self.sink);
                    let example = "max-retry-amplification 10";
                    if let Some(n) = read::int_arg(child, 0, "a factor", example, self.sink).and_then(|n| {
                        read::parse(&n, |n| bounded(*n, 1, 1_000_000, "the amplification limit"), self.sink)
                    }) {
                        limits.max_retry_amplification = u64::from(n);
                    }
                }
                "max-retry-amplification" => {}
                _ => read::unknown_child(child, "limits", &["max-retry-amplification"], self.sink),
            }
        }
        limits
    }
}

fn times_ten(base: Duration) -> Duration {
    Duration::from_millis((base.as_millis() * 10).min(u128::from(u64::MAX)) as u64)
}

/// What declares or records: needs the declarations mutably.
impl Lower<'_> {
    /// A top-level `retry-policy NAME { retries ... }`, registered for `retries policy=NAME`.
    pub(super) fn retry_policy_decl(&mut self, node: &Node, seen: &mut HashMap<String, Span>) {
        read::check_entries(node, 1, &[], self.sink);
        let example = "retry-policy \"standard\" { retries 2 per-try-timeout=\"500ms\" }";
        let Some(name) = read::string_arg(node, 0, "a name", example, self.sink) else { return };
        if !declare_once(seen, name.value.clone(), name.span, ("retry-policy", &name.value), self.sink) {
            return;
        }
        let mut policy = None;
        let mut once = Once::default();
        for child in node.children() {
            match child.name.as_str() {
                "retries" if once.first(child, self.sink) => {
                    if child.property("policy").is_some() {
                        self.sink.push(
                            Diagnostic::new(Code::UnknownProperty, "a named policy cannot refer to another")
                                .at(child.span, "refers to a policy")
                                .help(format!("write the retries out: {RETRY_EXAMPLE}")),
                        );
                        continue;
                    }
                    policy = self.retries(child);
                }
                "retries" => {}
                _ => read::unknown_child(child, "retry-policy", &["retries"], self.sink),
            }
        }
        match policy {
            Some(policy) => {
                self.d.retry_policies.insert(name.value, policy);
            }
            None if !node.children().iter().any(|c| c.name == "retries") => self.sink.push(
                Diagnostic::new(Code::MissingRequired, format!("retry-policy `{}` has no `retries`", name.value))
                    .at(name.span, "`retries` missing")
                    .help(format!("add it: {RETRY_EXAMPLE}")),
            ),
            None => {}
        }
    }
}
