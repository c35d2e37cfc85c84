//! Compliance: data classes and where they are labelled, rules over the
//! model (`compliance-rule`), and suppressions with a reason and an expiry
//! day. [`evaluate`] judges every rule against every subject of its kind,
//! from what the model already holds (mTLS modes, route auth, retries,
//! idempotency, dead letters, SLOs); the `compliance` check pass reports
//! what fails and the `compliance-report` backend writes all of it.

use std::collections::BTreeSet;

use super::api_versions::Date;
use super::identity::MtlsMode;
use super::values::Operation;
use super::{Call, Model, ServiceId, TopicId};
use crate::base::{Span, Spanned};
use crate::diag::Severity;

model_id!(
    /// A data class's index in [`Compliance::classes`].
    DataClassId
);

/// Everything compliance: empty when the spec declares none of it.
#[derive(Debug, Default)]
pub struct Compliance {
    pub classes: Vec<DataClass>,
    /// `data-class` labels on services and their operations.
    pub service_labels: Vec<ServiceLabel>,
    /// `data-class` labels on topics.
    pub topic_labels: Vec<(TopicId, Spanned<DataClassId>)>,
    pub rules: Vec<Rule>,
    pub suppressions: Vec<Suppression>,
    /// The spec files by [`crate::base::FileId`]: where a judged
    /// declaration is, for the report, and what a probe tests, for the probe plan.
    pub files: Vec<SpecFile>,
}

/// A spec file as the compliance report points into it.
#[derive(Debug)]
pub struct SpecFile {
    /// Relative to the workspace root (`<std>/...` for the standard library).
    pub display: String,
    /// Byte offset of each line's start.
    pub line_starts: Vec<u32>,
}

impl Compliance {
    pub fn class(&self, id: DataClassId) -> &DataClass {
        &self.classes[id.index()]
    }

    /// The file and 1-based line of a span's start, when it is in a spec file.
    pub fn locate(&self, span: Span) -> Option<(&str, usize)> {
        let file = self.files.get(span.file.0 as usize)?;
        let line = file.line_starts.partition_point(|&start| start <= span.start);
        Some((file.display.as_str(), line.max(1)))
    }
}

/// A kind of data that rules follow through calls and events (`data-class "pii"`).
#[derive(Debug)]
pub struct DataClass {
    pub name: Spanned<String>,
    pub description: Option<String>,
    /// The services allowed to hold it; `None`: any service.
    pub holders: Option<Vec<ServiceId>>,
    pub span: Span,
}

impl DataClass {
    pub fn may_hold(&self, service: ServiceId) -> bool {
        self.holders.as_ref().is_none_or(|h| h.contains(&service))
    }
}

/// A service's `data-class "pii"`: everything it serves, or one operation.
#[derive(Debug)]
pub struct ServiceLabel {
    pub service: ServiceId,
    pub class: Spanned<DataClassId>,
    /// Only this operation carries the class; `None`: all of them, and the service holds it.
    pub operation: Option<Spanned<Operation>>,
}

/// What a rule judges, one by one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SubjectKind {
    Service,
    Route,
    Call,
    Topic,
    Consumer,
}

impl SubjectKind {
    pub const ALL: [SubjectKind; 5] =
        [SubjectKind::Service, SubjectKind::Route, SubjectKind::Call, SubjectKind::Topic, SubjectKind::Consumer];

    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::Service => "service",
            SubjectKind::Route => "route",
            SubjectKind::Call => "call",
            SubjectKind::Topic => "topic",
            SubjectKind::Consumer => "consumer",
        }
    }

    pub fn parse(text: &str) -> Option<SubjectKind> {
        SubjectKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// How a subject of this kind is named (suppressions, the report).
    pub fn naming(self) -> &'static str {
        match self {
            SubjectKind::Service => "SERVICE",
            SubjectKind::Route => "GATEWAY/ROUTE",
            SubjectKind::Call => "CALLER->CALLEE",
            SubjectKind::Topic => "TOPIC",
            SubjectKind::Consumer => "SERVICE<-TOPIC",
        }
    }
}

/// A yes/no fact about a subject. Which kinds have which is [`PROPERTIES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flag {
    /// service: `owner` is set.
    Owner,
    /// service: an active `health-check` in its `traffic` block.
    HealthCheck,
    /// service, route: an SLO of its own.
    Slo,
    /// service: `slo-exempt` with a reason.
    SloExempt,
    /// service: an `authorization` block.
    Authorization,
    /// service: runs outside the mesh.
    External,
    /// route: declared `public`.
    Public,
    /// route: verifies a token (`auth`).
    Auth,
    /// route: a local or global rate limit.
    RateLimit,
    /// route, call: a timeout of its own (calls: or from `call-defaults`).
    Timeout,
    /// route, call: retries (at least one retry).
    Retries,
    /// call: a retry may repeat a request that reached the service (it
    /// retries on more than `connect-failure` and `refused-stream`).
    RetriesDelivered,
    /// call: to a TCP port (no requests: no timeout, retries or operation).
    Tcp,
    /// route: answers with a redirect.
    Redirect,
    /// route, call: the request travels over mutual TLS.
    Mtls,
    /// call: safe to repeat (its operation is, or the call declares `idempotent=#true`).
    Idempotent,
    /// call: made off any request path (`background=#true`).
    Background,
    /// topic, consumer: every consumer (the consumer) bounds deliveries and dead-letters to a topic.
    DeadLetter,
    /// topic: some consumer dead-letters into it.
    IsDeadLetter,
    /// topic, consumer: the broker keeping the topic is reached over TLS.
    Tls,
    /// consumer: at-least-once delivery.
    AtLeastOnce,
    /// service, route, call, topic, consumer: carries some data class.
    Classified,
    /// service, call, consumer: allowed to hold every class it handles
    /// (a call's caller and a consumer's service, for what they receive).
    AllowedHolder,
}

/// The type of a property, which decides the arguments a test takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PropertyType {
    /// No arguments: the fact holds.
    Flag(Flag),
    /// `mtls "strict" "permissive"`: one of these modes.
    MtlsMode,
    /// `data-class "pii"`: carries this class.
    DataClass,
}

/// Every property a rule may test: (kind, name, type, what it means).
pub const PROPERTIES: &[(SubjectKind, &str, PropertyType, &str)] = {
    use Flag as F;
    use PropertyType::{DataClass as D, Flag as P, MtlsMode as M};
    use SubjectKind::{Call as C, Consumer as N, Route as R, Service as S, Topic as T};
    &[
        (S, "owner", P(F::Owner), "an owning team is set (`owner`)"),
        (S, "health-check", P(F::HealthCheck), "its `traffic` block has an active `health-check`"),
        (S, "slo", P(F::Slo), "it has an `slo` of its own"),
        (S, "slo-exempt", P(F::SloExempt), "it is declared `slo-exempt` with a reason"),
        (S, "authorization", P(F::Authorization), "it has an `authorization` block"),
        (S, "external", P(F::External), "it runs outside the mesh (`external`)"),
        (S, "mtls", M, "its proxy's mTLS mode (its own, else its namespace's, else the mesh's) is one of these"),
        (S, "classified", P(F::Classified), "it handles some data class (labels, calls, events)"),
        (S, "data-class", D, "it handles this data class"),
        (S, "allowed-holder", P(F::AllowedHolder), "every class it handles lists it as a holder"),
        (R, "public", P(F::Public), "declared `public reason=...`"),
        (R, "auth", P(F::Auth), "it verifies an end-user token (`auth`)"),
        (R, "rate-limit", P(F::RateLimit), "it has a local or global `rate-limit`"),
        (R, "timeout", P(F::Timeout), "it sets a `timeout`"),
        (R, "retries", P(F::Retries), "it retries (at least one retry)"),
        (R, "redirect", P(F::Redirect), "it answers with a redirect"),
        (R, "slo", P(F::Slo), "it has an `slo`"),
        (R, "mtls", P(F::Mtls), "the gateway reaches its service over mutual TLS"),
        (R, "classified", P(F::Classified), "its operation or service carries some data class"),
        (R, "data-class", D, "its operation or service carries this data class"),
        (C, "timeout", P(F::Timeout), "it has a timeout (its own or from `call-defaults`)"),
        (C, "retries", P(F::Retries), "it retries (its own policy or `call-defaults`), at least once"),
        (C, "retries-delivered", P(F::RetriesDelivered), "a retry may repeat a request that reached the service (it retries on more than connect-failure and refused-stream)"),
        (C, "tcp", P(F::Tcp), "it goes to a TCP port (no requests: no timeout, retries or operation)"),
        (C, "idempotent", P(F::Idempotent), "its operation is safe to repeat, or the call declares `idempotent=#true`"),
        (C, "background", P(F::Background), "it is made off any request path (`background=#true`)"),
        (C, "mtls", P(F::Mtls), "it travels over mutual TLS (the caller originates it, the callee accepts it)"),
        (C, "classified", P(F::Classified), "the callee's operation or service carries some data class"),
        (C, "data-class", D, "the callee's operation or service carries this data class"),
        (C, "allowed-holder", P(F::AllowedHolder), "the caller may hold every class the call carries"),
        (T, "dead-letter", P(F::DeadLetter), "every consumer bounds deliveries and dead-letters to a topic"),
        (T, "is-dead-letter", P(F::IsDeadLetter), "some consumer dead-letters into it"),
        (T, "tls", P(F::Tls), "the broker keeping it is reached over TLS"),
        (T, "classified", P(F::Classified), "it carries some data class"),
        (T, "data-class", D, "it carries this data class"),
        (N, "dead-letter", P(F::DeadLetter), "it bounds deliveries and dead-letters to a topic"),
        (N, "at-least-once", P(F::AtLeastOnce), "its delivery is at least once"),
        (N, "tls", P(F::Tls), "the broker keeping its topic is reached over TLS"),
        (N, "classified", P(F::Classified), "its topic carries some data class"),
        (N, "data-class", D, "its topic carries this data class"),
        (N, "allowed-holder", P(F::AllowedHolder), "its service may hold every class its topic carries"),
    ]
};

/// The properties of one kind, by name.
pub fn properties(kind: SubjectKind) -> impl Iterator<Item = (&'static str, PropertyType)> + Clone {
    PROPERTIES.iter().filter(move |p| p.0 == kind).map(|p| (p.1, p.2))
}

/// A typed predicate over one subject. Nesting is bounded by the syntax's.
#[derive(Debug)]
pub enum Predicate {
    All(Vec<Predicate>),
    Any(Vec<Predicate>),
    Not(Box<Predicate>),
    Test(Spanned<Test>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Test {
    Flag(Flag),
    MtlsIn(Vec<MtlsMode>),
    Carries(DataClassId),
}

/// A `compliance-rule`.
#[derive(Debug)]
pub struct Rule {
    pub name: Spanned<String>,
    pub applies_to: SubjectKind,
    /// Which subjects the rule judges; `None`: all of its kind.
    pub when: Option<Predicate>,
    pub require: Predicate,
    pub severity: Severity,
    pub message: String,
    /// The control it implements (`SOC 2 CC6.1`).
    pub reference: Option<String>,
    pub span: Span,
}

/// `suppress "RULE" subject="..." reason="..." until="YYYY-MM-DD"`.
#[derive(Debug)]
pub struct Suppression {
    /// The rule it silences (resolved: suppressions of unknown rules are reported when lowered).
    pub rule: Spanned<RuleId>,
    pub subject: Spanned<String>,
    pub reason: Spanned<String>,
    /// The last day it applies.
    pub until: Spanned<Date>,
    pub span: Span,
}

model_id!(
    /// A rule's index in [`Compliance::rules`].
    RuleId
);

impl Compliance {
    pub fn rule(&self, id: RuleId) -> &Rule {
        &self.rules[id.index()]
    }

    pub fn rule_ids(&self) -> impl Iterator<Item = RuleId> {
        (0..self.rules.len()).map(RuleId::new)
    }

    pub(in crate::model) fn next_rule_id(&self) -> RuleId {
        RuleId::new(self.rules.len())
    }

    pub(in crate::model) fn next_class_id(&self) -> DataClassId {
        DataClassId::new(self.classes.len())
    }
}

/// One subject a rule judged.
#[derive(Debug)]
pub struct Outcome {
    /// As suppressions name it ([`SubjectKind::naming`]).
    pub subject: String,
    /// The offending (or passing) declaration.
    pub span: Span,
    pub verdict: Verdict,
}

/// How a subject fares under a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    Failed,
    /// Failed, silenced by this suppression (index into `suppressions`).
    Suppressed(usize),
}

impl Verdict {
    /// As the compliance report writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
            Verdict::Suppressed(_) => "suppressed",
        }
    }
}

/// A rule's verdicts, subjects in model order.
#[derive(Debug)]
pub struct RuleResult {
    pub rule: RuleId,
    /// Only the subjects its `when` selects.
    pub outcomes: Vec<Outcome>,
}

/// Every rule judged, and each suppression's state.
#[derive(Debug)]
pub struct Evaluation {
    pub results: Vec<RuleResult>,
    /// Per suppression: whether it silenced some failure.
    pub used: Vec<bool>,
    /// Per suppression: past its `until` on the compilation's day (it then silences nothing).
    pub expired: Vec<bool>,
}

/// Whether a call's operation is safe to repeat (the schemas decide for
/// gRPC, which the model does not read); given by the caller.
pub type Idempotent<'a> = &'a dyn Fn(&Call) -> bool;

/// Judges every rule against every subject of its kind; suppressions
/// silence failures of their rule and subject until their day has passed.
/// Linear in rules × subjects (plus one pass for the data-class flows).
pub fn evaluate(model: &Model, idempotent: Idempotent) -> Evaluation {
    let compliance = &model.compliance;
    let facts = Facts::new(model, idempotent);
    let expired: Vec<bool> =
        compliance.suppressions.iter().map(|s| model.today.is_some_and(|today| today > s.until.value)).collect();
    let mut used = vec![false; compliance.suppressions.len()];
    let mut by_subject: std::collections::HashMap<(RuleId, &str), usize> = std::collections::HashMap::new();
    for (i, s) in compliance.suppressions.iter().enumerate().filter(|(i, _)| !expired[*i]) {
        by_subject.entry((s.rule.value, s.subject.value.as_str())).or_insert(i);
    }
    let mut results = Vec::with_capacity(compliance.rules.len());
    for id in compliance.rule_ids() {
        let rule = compliance.rule(id);
        let mut outcomes = Vec::new();
        facts.each(rule.applies_to, &mut |subject| {
            if rule.when.as_ref().is_some_and(|w| !facts.holds(w, &subject)) {
                return;
            }
            let name = facts.name(&subject);
            let verdict = if facts.holds(&rule.require, &subject) {
                Verdict::Passed
            } else {
                match by_subject.get(&(id, name.as_str())) {
                    Some(&i) => {
                        used[i] = true;
                        Verdict::Suppressed(i)
                    }
                    None => Verdict::Failed,
                }
            };
            outcomes.push(Outcome { subject: name, span: facts.span(&subject), verdict });
        });
        results.push(RuleResult { rule: id, outcomes });
    }
    Evaluation { results, used, expired }
}

/// One subject being judged.
enum Subject<'m> {
    Service(ServiceId),
    Route(&'m super::Gateway, &'m super::Route),
    Call(ServiceId, &'m Call),
    Topic(TopicId),
    Consumer(&'m super::events::Consumer),
}

/// What the rules read, computed once per evaluation.
struct Facts<'m> {
    model: &'m Model,
    idempotent: Idempotent<'m>,
    /// Per service: its labels (class, and the one operation it is limited to).
    labels: Vec<Vec<(DataClassId, Option<&'m Operation>)>>,
    /// Per service: the classes it handles (labels, calls made and served, events).
    handled: Vec<BTreeSet<DataClassId>>,
    /// Per topic: its classes.
    topic_classes: Vec<BTreeSet<DataClassId>>,
    /// Per topic: whether some consumer dead-letters into it.
    dead_letter_targets: Vec<bool>,
    /// Per topic: whether every consumer of it dead-letters to a topic.
    dead_lettered: Vec<bool>,
}

impl<'m> Facts<'m> {
    fn new(model: &'m Model, idempotent: Idempotent<'m>) -> Facts<'m> {
        let compliance = &model.compliance;
        let mut topic_classes = vec![BTreeSet::new(); model.topics.len()];
        for (topic, class) in &compliance.topic_labels {
            topic_classes[topic.index()].insert(class.value);
        }
        let mut labels = vec![Vec::new(); model.services.len()];
        for label in &compliance.service_labels {
            labels[label.service.index()].push((label.class.value, label.operation.as_ref().map(|o| &o.value)));
        }
        let mut facts = Facts {
            model,
            idempotent,
            labels,
            handled: vec![BTreeSet::new(); model.services.len()],
            topic_classes,
            dead_letter_targets: vec![false; model.topics.len()],
            dead_lettered: vec![true; model.topics.len()],
        };
        let mut handled = vec![BTreeSet::new(); model.services.len()];
        for (service, labels) in facts.labels.iter().enumerate() {
            handled[service].extend(labels.iter().filter(|(_, op)| op.is_none()).map(|(c, _)| *c));
        }
        for (caller, service) in model.services.iter().enumerate() {
            for call in &service.calls {
                let carried = facts.carried(call.target.value, call.operation.as_ref().map(|o| &o.value));
                handled[caller].extend(carried.iter().copied());
                handled[call.target.value.index()].extend(carried);
            }
        }
        for producer in &model.events.producers {
            handled[producer.service.index()].extend(facts.topic_classes[producer.topic.value.index()].iter().copied());
        }
        for consumer in &model.events.consumers {
            let topic = consumer.topic.value.index();
            handled[consumer.service.index()].extend(facts.topic_classes[topic].iter().copied());
            match consumer.delivery.dead_letter_topic() {
                Some(dlq) => facts.dead_letter_targets[dlq.value.index()] = true,
                None => facts.dead_lettered[topic] = false,
            }
        }
        facts.handled = handled;
        facts
    }

    /// The classes a request to `target`'s `operation` carries: the
    /// service's own, and the operation's.
    fn carried(&self, target: ServiceId, operation: Option<&Operation>) -> BTreeSet<DataClassId> {
        let labels = self.labels[target.index()].iter();
        labels.filter(|(_, op)| op.is_none_or(|op| Some(op) == operation)).map(|(c, _)| *c).collect()
    }

    fn each(&self, kind: SubjectKind, f: &mut dyn FnMut(Subject<'m>)) {
        let model = self.model;
        match kind {
            SubjectKind::Service => model.service_ids().for_each(|id| f(Subject::Service(id))),
            SubjectKind::Route => {
                for gateway in &model.gateways {
                    gateway.routes.iter().for_each(|route| f(Subject::Route(gateway, route)));
                }
            }
            SubjectKind::Call => {
                for id in model.service_ids() {
                    let declared = model.service(id).calls.iter().filter(|c| c.origin == super::CallOrigin::Declared);
                    declared.for_each(|call| f(Subject::Call(id, call)));
                }
            }
            SubjectKind::Topic => model.topic_ids().for_each(|id| f(Subject::Topic(id))),
            SubjectKind::Consumer => model.events.consumers.iter().for_each(|c| f(Subject::Consumer(c))),
        }
    }

    fn name(&self, subject: &Subject) -> String {
        let model = self.model;
        match subject {
            Subject::Service(id) => model.service(*id).name.value.clone(),
            Subject::Route(gateway, route) => format!("{}/{}", gateway.name.value, route.name.value),
            Subject::Call(caller, call) => {
                format!("{}->{}", model.service(*caller).name.value, model.service(call.target.value).name.value)
            }
            Subject::Topic(id) => model.topic(*id).name.value.clone(),
            Subject::Consumer(c) => {
                format!("{}<-{}", model.service(c.service).name.value, model.topic(c.topic.value).name.value)
            }
        }
    }

    fn span(&self, subject: &Subject) -> Span {
        match subject {
            Subject::Service(id) => self.model.service(*id).name.span,
            Subject::Route(_, route) => route.name.span,
            Subject::Call(_, call) => call.span,
            Subject::Topic(id) => self.model.topic(*id).name.span,
            Subject::Consumer(c) => c.span,
        }
    }

    fn holds(&self, predicate: &Predicate, subject: &Subject) -> bool {
        match predicate {
            Predicate::All(all) => all.iter().all(|p| self.holds(p, subject)),
            Predicate::Any(any) => any.iter().any(|p| self.holds(p, subject)),
            Predicate::Not(p) => !self.holds(p, subject),
            Predicate::Test(test) => self.test(&test.value, subject),
        }
    }

    /// The classes a subject carries.
    fn classes(&self, subject: &Subject) -> BTreeSet<DataClassId> {
        match subject {
            Subject::Service(id) => self.handled[id.index()].clone(),
            Subject::Route(_, route) => match route.forward() {
                Some(f) => self.carried(f.target.value, f.operation.as_ref().map(|o| &o.value)),
                None => BTreeSet::new(),
            },
            Subject::Call(_, call) => self.carried(call.target.value, call.operation.as_ref().map(|o| &o.value)),
            Subject::Topic(id) => self.topic_classes[id.index()].clone(),
            Subject::Consumer(c) => self.topic_classes[c.topic.value.index()].clone(),
        }
    }

    fn test(&self, test: &Test, subject: &Subject) -> bool {
        match test {
            Test::Flag(flag) => self.flag(*flag, subject),
            Test::MtlsIn(modes) => match subject {
                Subject::Service(id) => modes.contains(&self.model.mtls_mode(self.model.service(*id))),
                _ => false,
            },
            Test::Carries(class) => self.classes(subject).contains(class),
        }
    }

    fn flag(&self, flag: Flag, subject: &Subject) -> bool {
        let model = self.model;
        let classes = &model.compliance;
        let tls_of = |topic: TopicId| {
            model.topic(topic).stream.is_some_and(|s| model.events.broker(model.events.stream(s).broker).tls.is_some())
        };
        match (flag, subject) {
            (Flag::Classified, s) => !self.classes(s).is_empty(),
            (Flag::Owner, Subject::Service(id)) => model.service(*id).owner.is_some(),
            (Flag::HealthCheck, Subject::Service(id)) => model.service(*id).traffic.health_check.is_some(),
            (Flag::Slo, Subject::Service(id)) => !model.service(*id).objectives.slos.is_empty(),
            (Flag::SloExempt, Subject::Service(id)) => model.service(*id).objectives.exempt.is_some(),
            (Flag::Authorization, Subject::Service(id)) => model.service(*id).authorization().is_some(),
            (Flag::External, Subject::Service(id)) => model.service(*id).external().is_some(),
            (Flag::AllowedHolder, Subject::Service(id)) => {
                self.handled[id.index()].iter().all(|c| classes.class(*c).may_hold(*id))
            }
            (Flag::Public, Subject::Route(_, r)) => r.public.is_some(),
            (Flag::Auth, Subject::Route(_, r)) => r.auth.is_some(),
            (Flag::RateLimit, Subject::Route(_, r)) => r.rate_limits.local.is_some() || r.rate_limits.global.is_some(),
            (Flag::Timeout, Subject::Route(_, r)) => r.forward().is_some_and(|f| f.timeout.is_some()),
            (Flag::Retries, Subject::Route(_, r)) => {
                r.forward().and_then(|f| f.retries.as_ref()).is_some_and(|p| p.retries > 0)
            }
            (Flag::Redirect, Subject::Route(_, r)) => r.forward().is_none(),
            (Flag::Slo, Subject::Route(_, r)) => r.forward().is_some_and(|f| !f.objectives.slos.is_empty()),
            (Flag::Mtls, Subject::Route(_, r)) => {
                r.forward().is_some_and(|f| model.mtls_between(None, model.service(f.target.value)))
            }
            (Flag::Timeout, Subject::Call(caller, call)) => model.service(*caller).call_timeout(call).is_some(),
            (Flag::Retries, Subject::Call(caller, call)) => {
                model.service(*caller).call_retries(call).is_some_and(|p| p.retries > 0)
            }
            (Flag::RetriesDelivered, Subject::Call(caller, call)) => {
                model.service(*caller).call_retries(call).is_some_and(|p| p.repeats_delivered_requests())
            }
            (Flag::Tcp, Subject::Call(_, call)) => call.tcp,
            (Flag::Idempotent, Subject::Call(_, call)) => call.idempotent || (self.idempotent)(call),
            (Flag::Background, Subject::Call(_, call)) => call.background,
            (Flag::Mtls, Subject::Call(caller, call)) => {
                model.mtls_between(Some(model.service(*caller)), model.service(call.target.value))
            }
            (Flag::AllowedHolder, Subject::Call(caller, call)) => {
                let carried = self.carried(call.target.value, call.operation.as_ref().map(|o| &o.value));
                carried.iter().all(|c| classes.class(*c).may_hold(*caller))
            }
            (Flag::DeadLetter, Subject::Topic(id)) => self.dead_lettered[id.index()],
            (Flag::IsDeadLetter, Subject::Topic(id)) => self.dead_letter_targets[id.index()],
            (Flag::Tls, Subject::Topic(id)) => tls_of(*id),
            (Flag::DeadLetter, Subject::Consumer(c)) => c.delivery.dead_letter_topic().is_some(),
            (Flag::AtLeastOnce, Subject::Consumer(c)) => {
                c.delivery.guarantee() == super::events::DeliveryGuarantee::AtLeastOnce
            }
            (Flag::Tls, Subject::Consumer(c)) => tls_of(c.topic.value),
            (Flag::AllowedHolder, Subject::Consumer(c)) => {
                self.topic_classes[c.topic.value.index()].iter().all(|k| classes.class(*k).may_hold(c.service))
            }
            // Lowering only accepts the properties of the rule's kind (`PROPERTIES`).
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::FileId;

    fn spec_file(display: &str, text: &str) -> SpecFile {
        SpecFile { display: display.into(), line_starts: crate::base::line_starts(text) }
    }

    #[test]
    fn a_span_is_located_by_file_and_one_based_line() {
        let compliance = Compliance {
            files: vec![spec_file("mesh.kdl", "a\nbb\n\nc"), spec_file("b.kdl", "")],
            ..Compliance::default()
        };
        let at = |file, offset: usize| compliance.locate(Span::new(FileId(file), offset..offset + 1));
        assert_eq!(at(0, 0), Some(("mesh.kdl", 1)));
        assert_eq!(at(0, 2), Some(("mesh.kdl", 2)));
        assert_eq!(at(0, 6), Some(("mesh.kdl", 4)));
        assert_eq!(at(1, 0), Some(("b.kdl", 1)));
        // A schema file (loaded after the spec) is no spec file.
        assert_eq!(at(2, 0), None);
    }

    #[test]
    fn every_kind_has_properties_and_names_are_unique_per_kind() {
        for kind in SubjectKind::ALL {
            let names: Vec<&str> = properties(kind).map(|(n, _)| n).collect();
            assert!(names.contains(&"classified"), "{kind:?}");
            let mut unique = names.clone();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(unique.len(), names.len(), "{kind:?} names a property twice");
            assert_eq!(SubjectKind::parse(kind.as_str()), Some(kind));
        }
    }
}
