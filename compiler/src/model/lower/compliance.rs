//! Compliance declarations: `data-class` (top level, and labels on
//! services and topics), `compliance-rule` with its typed predicates, and
//! `suppress`. Lowered after services and topics, whose ids they name.

use std::ops::Deref;

use std::collections::HashMap;

use super::read::{self, Once};
use super::{declare_once, resolve, Decls, Lower};
use crate::base::{Span, Spanned};
use crate::diag::{suggestion, Code, Diagnostic, Severity};
use crate::model::api_versions::Date;
use crate::model::compliance::{
    properties, DataClass, DataClassId, Predicate, PropertyType, Rule, RuleId, ServiceLabel, SpecFile, SubjectKind,
    Suppression, Test,
};
use crate::model::identity::MtlsMode;
use crate::model::values::check_name;
use crate::model::{ServiceId, TopicId};
use crate::syntax::Node;

const RULE_CHILDREN: &[&str] = &["applies-to", "when", "require", "severity", "message", "reference"];
const RULE_EXAMPLE: &str =
    "compliance-rule \"routes-authenticated\" { applies-to \"route\"; require { auth }; message \"...\" }";
const SUPPRESS_EXAMPLE: &str =
    "suppress \"routes-rate-limited\" subject=\"public/health\" reason=\"probed by the load balancer only\" until=\"2027-06-30\"";
const CONNECTIVES: &[&str] = &["all", "any", "not"];

/// Declared names of the compliance scope.
#[derive(Default)]
pub(super) struct Names {
    classes: HashMap<String, (Option<DataClassId>, Span)>,
    rules: HashMap<String, (Option<RuleId>, Span)>,
}

impl<D: Deref<Target = Decls>> Lower<'_, D> {
    /// A label: `data-class "pii"` (on a service, optionally `operation=`; on a topic).
    #[allow(clippy::type_complexity)]
    fn label(
        &mut self,
        node: &Node,
        names: &Names,
        on_service: bool,
    ) -> Option<(Spanned<DataClassId>, Option<Spanned<crate::model::values::Operation>>)> {
        read::check_entries(node, 1, if on_service { &["operation"] } else { &[] }, self.sink);
        read::no_children(node, self.sink);
        let name = read::string_arg(node, 0, "a data class", "data-class \"pii\"", self.sink)?;
        let operation = if on_service { self.operation_prop(node)? } else { None };
        let class = self.class_ref(&name, names)?;
        Some((class, operation))
    }

    fn class_ref(&mut self, name: &Spanned<String>, names: &Names) -> Option<Spanned<DataClassId>> {
        let declare = || format!("declare it at the top level: data-class \"{}\" {{ holders \"...\" }}", name.value);
        resolve(self.sink, &names.classes, name, Code::UnknownDataClass, "data class", declare)
    }

    /// One string argument, no properties, no children.
    fn text_child(&mut self, node: &Node, example: &str) -> Option<Spanned<String>> {
        read::check_entries(node, 1, &[], self.sink);
        read::no_children(node, self.sink);
        let text = read::string_arg(node, 0, "a value", example, self.sink)?;
        if text.value.trim().is_empty() {
            self.sink.push(
                Diagnostic::new(Code::InvalidValue, format!("`{}` is empty", node.name))
                    .at(text.span, "empty")
                    .help(format!("for example: {example}")),
            );
            return None;
        }
        Some(text)
    }

    /// A block's children, all of which must hold; `None` when one is invalid (reported).
    fn conjunction(
        &mut self,
        node: &Node,
        kind: SubjectKind,
        classes: &HashMap<String, (Option<DataClassId>, Span)>,
    ) -> Option<Predicate> {
        read::check_entries(node, 0, &[], self.sink);
        if node.children().is_empty() {
            self.sink.push(
                Diagnostic::new(Code::MissingRequired, format!("`{}` holds no test", node.name))
                    .at(node.name_span, "empty")
                    .help(format!("test a property of the {}: e.g. {} {{ owner }}", kind.as_str(), node.name)),
            );
            return None;
        }
        let mut all = Vec::new();
        let mut ok = true;
        for child in node.children() {
            match self.predicate(child, kind, classes) {
                Some(p) => all.push(p),
                None => ok = false,
            }
        }
        ok.then(|| if all.len() == 1 { all.pop().expect("one") } else { Predicate::All(all) })
    }

    fn predicate(
        &mut self,
        node: &Node,
        kind: SubjectKind,
        classes: &HashMap<String, (Option<DataClassId>, Span)>,
    ) -> Option<Predicate> {
        match node.name.as_str() {
            "all" => self.conjunction(node, kind, classes),
            "any" => {
                read::check_entries(node, 0, &[], self.sink);
                let mut any = Vec::new();
                let mut ok = !node.children().is_empty();
                if !ok {
                    self.sink.push(
                        Diagnostic::new(Code::MissingRequired, "`any` holds no test")
                            .at(node.name_span, "empty")
                            .help("give it the tests one of which must hold: any { auth; rate-limit }"),
                    );
                }
                for child in node.children() {
                    match self.predicate(child, kind, classes) {
                        Some(p) => any.push(p),
                        None => ok = false,
                    }
                }
                ok.then_some(Predicate::Any(any))
            }
            "not" => self.conjunction(node, kind, classes).map(|p| Predicate::Not(Box::new(p))),
            name => {
                let Some((_, ty)) = properties(kind).find(|(n, _)| *n == name) else {
                    let known: Vec<&str> =
                        properties(kind).map(|(n, _)| n).chain(CONNECTIVES.iter().copied()).collect();
                    let elsewhere: Vec<&str> = SubjectKind::ALL
                        .into_iter()
                        .filter(|k| *k != kind && properties(*k).any(|(n, _)| n == name))
                        .map(SubjectKind::as_str)
                        .collect();
                    let help = match suggestion(name, known.iter().copied()) {
                        Some(s) => s,
                        None if !elsewhere.is_empty() => {
                            format!(
                                "`{name}` is a property of a {}, not of a {}",
                                elsewhere.join(" or "),
                                kind.as_str()
                            )
                        }
                        None => format!("properties of a {}: {}", kind.as_str(), known.join(", ")),
                    };
                    self.sink.push(
                        Diagnostic::new(
                            Code::UnknownComplianceProperty,
                            format!("a {} has no property `{name}`", kind.as_str()),
                        )
                        .at(node.name_span, "unknown property")
                        .help(help),
                    );
                    return None;
                };
                read::no_children(node, self.sink);
                read::check_entries(node, usize::MAX, &[], self.sink);
                let args: Vec<_> = node.arguments().collect();
                let wrong = |sink: &mut crate::diag::Sink, takes: &str| {
                    sink.push(
                        Diagnostic::new(
                            Code::UnknownComplianceProperty,
                            format!("property `{name}` of a {} takes {takes}", kind.as_str()),
                        )
                        .at(node.span, "wrong arguments")
                        .help(match ty {
                            PropertyType::Flag(_) => format!("write it alone: {name}"),
                            PropertyType::MtlsMode => {
                                format!("{name} \"strict\" (or several: \"strict\" \"permissive\")")
                            }
                            PropertyType::DataClass => format!("{name} \"pii\""),
                        }),
                    );
                };
                let test = match ty {
                    PropertyType::Flag(flag) => {
                        if !args.is_empty() {
                            wrong(self.sink, "no arguments");
                            return None;
                        }
                        Test::Flag(flag)
                    }
                    PropertyType::MtlsMode => {
                        if args.is_empty() {
                            wrong(self.sink, "one or more modes");
                            return None;
                        }
                        let mut modes = Vec::new();
                        for i in 0..args.len() {
                            let text = read::string_arg(node, i, "a mode", "mtls \"strict\"", self.sink)?;
                            modes.push(read::parse(&text, |t| MtlsMode::parse(t), self.sink)?);
                        }
                        Test::MtlsIn(modes)
                    }
                    PropertyType::DataClass => {
                        if args.len() != 1 {
                            wrong(self.sink, "one data class");
                            return None;
                        }
                        let class = read::string_arg(node, 0, "a data class", "data-class \"pii\"", self.sink)?;
                        let declare = || {
                            format!("declare it at the top level: data-class \"{}\" {{ holders \"...\" }}", class.value)
                        };
                        let id = resolve(self.sink, classes, &class, Code::UnknownDataClass, "data class", declare)?;
                        Test::Carries(id.value)
                    }
                };
                Some(Predicate::Test(Spanned::new(test, node.span)))
            }
        }
    }

    fn suppression(&mut self, node: &Node, names: &Names) -> Option<Suppression> {
        read::check_entries(node, 1, &["subject", "reason", "until"], self.sink);
        read::no_children(node, self.sink);
        let rule = read::string_arg(node, 0, "a rule", SUPPRESS_EXAMPLE, self.sink);
        let subject = read::string_prop(node, "subject", Some(SUPPRESS_EXAMPLE), self.sink);
        let reason = read::string_prop(node, "reason", Some(SUPPRESS_EXAMPLE), self.sink).filter(|reason| {
            let empty = reason.value.trim().is_empty();
            if empty {
                self.sink.push(
                    Diagnostic::new(Code::InvalidValue, "a suppression's reason is empty")
                        .at(reason.span, "say why the rule does not apply here")
                        .help(format!("e.g. {SUPPRESS_EXAMPLE}")),
                );
            }
            !empty
        });
        let until = read::string_prop(node, "until", Some(SUPPRESS_EXAMPLE), self.sink)
            .and_then(|until| Some(Spanned::new(read::parse(&until, |t| Date::parse(t), self.sink)?, until.span)));
        let rule = rule.and_then(|rule| {
            let declare = || "declare it with `compliance-rule`, or import the rule set that has it (import \"std:compliance/baseline\")".to_string();
            resolve(self.sink, &names.rules, &rule, Code::UnknownComplianceRule, "compliance rule", declare)
        });
        Some(Suppression { rule: rule?, subject: subject?, reason: reason?, until: until?, span: node.span })
    }
}

/// `Option<Option<T>>` as "absent, or valid": `None` inside means invalid.
trait TransposeOk<T> {
    fn transpose_ok(self) -> Option<Option<T>>;
}

impl<T> TransposeOk<T> for Option<Option<T>> {
    fn transpose_ok(self) -> Option<Option<T>> {
        match self {
            None => Some(None),
            Some(Some(t)) => Some(Some(t)),
            Some(None) => None,
        }
    }
}

/// What declares or records: needs the declarations mutably.
impl Lower<'_> {
    /// Every compliance declaration, once services and topics have their ids.
    pub(super) fn compliance(
        &mut self,
        classes: &[&Node],
        labelled_services: &[(&Node, Option<ServiceId>)],
        labelled_topics: &[(&Node, Option<TopicId>)],
        rules: &[&Node],
        suppressions: &[&Node],
    ) {
        let mut names = Names::default();
        for node in classes {
            self.data_class(node, &mut names);
        }
        for (node, id) in labelled_services {
            for child in node.children().iter().filter(|c| c.name == "data-class") {
                let label = self.label(child, &names, true);
                if let (Some((class, operation)), Some(service)) = (label, id) {
                    self.d.model.compliance.service_labels.push(ServiceLabel { service: *service, class, operation });
                }
            }
        }
        for (node, id) in labelled_topics {
            for child in node.children().iter().filter(|c| c.name == "data-class") {
                if let (Some((class, _)), Some(topic)) = (self.label(child, &names, false), id) {
                    self.d.model.compliance.topic_labels.push((*topic, class));
                }
            }
        }
        for node in rules {
            self.rule(node, &mut names);
        }
        for node in suppressions {
            if let Some(suppression) = self.suppression(node, &names) {
                self.d.model.compliance.suppressions.push(suppression);
            }
        }
        // Only spec files are loaded while lowering (schemas come later).
        // The compliance report and the probe plan point into them.
        // The line starts are the sources' own, found once per file.
        let files = self
            .sources
            .iter()
            .map(|(_, f)| SpecFile { display: f.display.clone(), line_starts: f.line_starts().to_vec() });
        self.d.model.compliance.files = files.collect();
    }

    /// `data-class "pii" { description "..."; holders "accounts" "orders" }`.
    fn data_class(&mut self, node: &Node, names: &mut Names) {
        read::check_entries(node, 1, &[], self.sink);
        let example = "data-class \"pii\" { holders \"accounts\" \"orders\" }";
        let Some(name) = read::string_arg(node, 0, "a name", example, self.sink) else { return };
        let entry = (None, name.span);
        if !declare_once(&mut names.classes, name.value.clone(), entry, ("data class", &name.value), self.sink) {
            return;
        }
        let mut ok = read::parse(&name, |n| check_name(n), self.sink).is_some();
        let mut once = Once::default();
        let mut description = None;
        let mut holders = None;
        for child in node.children() {
            match child.name.as_str() {
                "description" if once.first(child, self.sink) => {
                    read::check_entries(child, 1, &[], self.sink);
                    read::no_children(child, self.sink);
                    description =
                        read::string_arg(child, 0, "a text", "description \"...\"", self.sink).map(|d| d.value);
                }
                "holders" if once.first(child, self.sink) => {
                    read::no_children(child, self.sink);
                    read::check_entries(child, usize::MAX, &[], self.sink);
                    let mut ids = Vec::new();
                    for (i, _) in child.arguments().enumerate() {
                        let Some(service) = read::string_arg(child, i, "a service", "holders \"accounts\"", self.sink)
                        else {
                            ok = false;
                            continue;
                        };
                        match self.service_ref(&service) {
                            Some(id) => ids.push(id.value),
                            None => ok = false,
                        }
                    }
                    if ids.is_empty() && ok {
                        self.sink.push(
                            Diagnostic::new(Code::MissingRequired, "`holders` needs at least one service")
                                .at(child.name_span, "no service")
                                .help("name the services allowed to hold the class, or remove `holders` (any service may)"),
                        );
                        ok = false;
                    }
                    holders = Some(ids);
                }
                "description" | "holders" => ok = false,
                _ => read::unknown_child(child, "data-class", &["description", "holders"], self.sink),
            }
        }
        if ok {
            let id = self.d.model.compliance.next_class_id();
            self.d.model.compliance.classes.push(DataClass {
                name: name.clone(),
                description,
                holders,
                span: node.span,
            });
            names.classes.insert(name.value, (Some(id), name.span));
        }
    }

    fn rule(&mut self, node: &Node, names: &mut Names) {
        read::check_entries(node, 1, &[], self.sink);
        let Some(name) = read::string_arg(node, 0, "a name", RULE_EXAMPLE, self.sink) else { return };
        let entry = (None, name.span);
        if !declare_once(&mut names.rules, name.value.clone(), entry, ("compliance rule", &name.value), self.sink) {
            return;
        }
        let mut ok = read::parse(&name, |n| check_name(n), self.sink).is_some();
        let mut once = Once::default();
        let (mut kind, mut severity, mut message, mut reference) = (None, Severity::Error, None, None);
        let mut when_node = None;
        let mut require_node = None;
        for child in node.children() {
            match child.name.as_str() {
                "applies-to" if once.first(child, self.sink) => {
                    let Some(text) = self.text_child(child, "applies-to \"route\"") else {
                        ok = false;
                        continue;
                    };
                    kind = SubjectKind::parse(&text.value);
                    if kind.is_none() {
                        let kinds = SubjectKind::ALL.map(SubjectKind::as_str);
                        self.sink.push(
                            Diagnostic::new(
                                Code::UnknownSubjectKind,
                                format!("rules apply to no subject of kind `{}`", text.value),
                            )
                            .at(text.span, "unknown kind")
                            .help_opt(
                                suggestion(&text.value, kinds.iter().copied())
                                    .or_else(|| Some(format!("rules apply to: {}", kinds.join(", ")))),
                            ),
                        );
                        ok = false;
                    }
                }
                "when" if once.first(child, self.sink) => when_node = Some(child),
                "require" if once.first(child, self.sink) => require_node = Some(child),
                "severity" if once.first(child, self.sink) => {
                    let Some(text) = self.text_child(child, "severity \"warning\"") else {
                        ok = false;
                        continue;
                    };
                    match text.value.as_str() {
                        "error" => severity = Severity::Error,
                        "warning" => severity = Severity::Warning,
                        other => {
                            self.sink.push(
                                Diagnostic::new(Code::InvalidValue, format!("`{other}` is not a severity"))
                                    .at(text.span, "expected \"error\" or \"warning\"")
                                    .help("severity \"error\" fails `meshc check`; \"warning\" reports only"),
                            );
                            ok = false;
                        }
                    }
                }
                "message" if once.first(child, self.sink) => message = self.text_child(child, "message \"...\""),
                "reference" if once.first(child, self.sink) => {
                    reference = self.text_child(child, "reference \"SOC 2 CC6.1\"");
                }
                "applies-to" | "when" | "require" | "severity" | "message" | "reference" => ok = false,
                _ => read::unknown_child(child, "compliance-rule", RULE_CHILDREN, self.sink),
            }
        }
        let missing = |what: &str, example: &str| {
            Diagnostic::new(Code::MissingRequired, format!("compliance rule `{}` has no `{what}`", name.value))
                .at(name.span, format!("`{what}` missing"))
                .help(format!("add it: {example}"))
        };
        let Some(kind) = kind else {
            if !node.children().iter().any(|c| c.name == "applies-to") {
                self.sink.push(missing("applies-to", "applies-to \"route\""));
            }
            return;
        };
        let when = when_node.map(|n| self.conjunction(n, kind, &names.classes));
        let require = match require_node {
            Some(n) => self.conjunction(n, kind, &names.classes),
            None => {
                self.sink.push(missing("require", "require { auth }"));
                return;
            }
        };
        if message.is_none() && !node.children().iter().any(|c| c.name == "message") {
            self.sink.push(missing("message", "message \"every public route verifies a token\""));
            return;
        }
        let (Some(when), Some(require), Some(message), true) = (when.transpose_ok(), require, message, ok) else {
            return;
        };
        let id = self.d.model.compliance.next_rule_id();
        self.d.model.compliance.rules.push(Rule {
            name: name.clone(),
            applies_to: kind,
            when,
            require,
            severity,
            message: message.value,
            reference: reference.map(|r| r.value),
            span: node.span,
        });
        names.rules.insert(name.value, (Some(id), name.span));
    }
}
