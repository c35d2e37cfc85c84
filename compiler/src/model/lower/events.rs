//! The event bus: `broker` nodes, a topic's `stream`, and the `publishes`
//! and `subscribes` nodes of services (lowered once every service and
//! topic has its id).

use std::ops::Deref;

use std::collections::HashMap;
use std::path::PathBuf;

use super::read::{self, Once};
use super::{declare_once, Decls, Lower};
use crate::base::{Span, Spanned};
use crate::diag::{Code, Diagnostic};
use crate::model::events::{
    AckPolicy, Backoff, Broker, BrokerId, BrokerKind, BrokerTls, ByteSize, CleanupPolicy, Consumer, Credentials,
    DeadLetter, Delivery, Discard, Durability, ExchangeType, ExponentialBackoff, Filter, MaxDeliveries, PartitionKey,
    Partitions, Producer, QueueType, Redelivery, Replicas, Retention, SaslMechanism, Storage, Stream, StreamLimits,
    StreamSettings, Subject,
};
use crate::model::values::{check_name, Duration, HeaderName, Host, Port};
use crate::model::{Endpoint, ServiceId, Topic, TopicId};
use crate::syntax::Node;

const BROKER_CHILDREN: &[&str] = &["address", "credentials", "tls", "vhost", "metrics"];

/// A stream's settings, each with the broker kinds that have it (`None`: all).
const STREAM_SETTINGS: &[(&str, Option<BrokerKind>)] = &[
    ("subjects", None),
    ("max-age", None),
    ("max-bytes", None),
    ("max-messages", None),
    ("discard", None),
    ("replicas", None),
    ("retention", Some(BrokerKind::Nats)),
    ("storage", Some(BrokerKind::Nats)),
    ("duplicate-window", Some(BrokerKind::Nats)),
    ("exchange-type", Some(BrokerKind::Rabbitmq)),
    ("queue-type", Some(BrokerKind::Rabbitmq)),
    ("partitions", Some(BrokerKind::Kafka)),
    ("partition-key", Some(BrokerKind::Kafka)),
    ("min-insync-replicas", Some(BrokerKind::Kafka)),
    ("cleanup-policy", Some(BrokerKind::Kafka)),
];

const SUBSCRIBE_CHILDREN: &[&str] = &["filter", "delivery", "retry", "dead-letter", "alert"];

/// How long a broker waits for an acknowledgement when the spec says nothing.
pub const DEFAULT_ACK_WAIT_MS: u64 = 30_000;

impl<D: Deref<Target = Decls>> Lower<'_, D> {
    /// `address HOST port=N` of a broker: one of its seed addresses.
    fn broker_address(&mut self, node: &Node) -> Option<Spanned<Endpoint>> {
        let example = "address \"nats.infra.svc.cluster.local\" port=4222";
        read::check_entries(node, 1, &["port"], self.sink);
        read::no_children(node, self.sink);
        let host = read::string_arg(node, 0, "a hostname", example, self.sink)
            .and_then(|h| read::parse(&h, |t| Host::parse(t), self.sink));
        let port = read::int_prop(node, "port", Some(example), self.sink)
            .and_then(|p| read::parse(&p, |p| Port::new(*p), self.sink));
        Some(Spanned::new(Endpoint { host: host?, port: port? }, node.span))
    }

    /// `metrics HOST [port=N]` of a broker: where Prometheus scrapes its
    /// exporter (the port defaults to the exporter's, see [`BrokerKind::exporter`]).
    /// `None` when it is invalid (reported) or the broker's kind is (reported too).
    fn metrics_endpoint(&mut self, node: &Node, kind: Option<BrokerKind>) -> Option<Spanned<Endpoint>> {
        let example = "metrics \"rabbitmq.infra.svc.cluster.local\" port=15692";
        read::check_entries(node, 1, &["port"], self.sink);
        read::no_children(node, self.sink);
        let host = read::string_arg(node, 0, "a hostname", example, self.sink)
            .and_then(|h| read::parse(&h, |t| Host::parse(t), self.sink));
        let port = match read::int_prop(node, "port", None, self.sink) {
            Some(p) => read::parse(&p, |p| Port::new(*p), self.sink).map(Some),
            None if node.property("port").is_some() => None,
            None => Some(None),
        };
        let port = port?.or(kind.map(|k| k.exporter().default_port))?;
        Some(Spanned::new(Endpoint { host: host?, port }, node.span))
    }

    /// `mechanism=` of a broker's `credentials`: required on Kafka (its
    /// SASL mechanism) once the credentials read, a setting of no other
    /// kind (`MESH0075`).
    fn sasl_mechanism(
        &mut self,
        node: &Node,
        kind: Option<BrokerKind>,
        credentials_read: bool,
    ) -> Result<Option<Spanned<SaslMechanism>>, ()> {
        let example = "credentials file=\"/run/secrets/kafka\" mechanism=\"scram-sha-512\"";
        let Some(text) = read::string_prop(node, "mechanism", None, self.sink) else {
            if node.property("mechanism").is_some() {
                return Err(());
            }
            if kind == Some(BrokerKind::Kafka) && credentials_read {
                self.sink.push(
                    Diagnostic::new(Code::MissingRequired, "Kafka `credentials` name no SASL `mechanism`")
                        .at(node.name_span, "which SASL mechanism?")
                        .help(format!("add mechanism=\"plain\", \"scram-sha-256\" or \"scram-sha-512\": {example}")),
                );
                return Err(());
            }
            return Ok(None);
        };
        let mechanism = read::parse(&text, |t| SaslMechanism::parse(t), self.sink).ok_or(())?;
        match kind {
            Some(BrokerKind::Kafka) | None => Ok(Some(Spanned::new(mechanism, text.span))),
            Some(kind) => {
                self.sink.push(wrong_kind("mechanism", text.span, kind, &[BrokerKind::Kafka]));
                Err(())
            }
        }
    }

    /// `credentials env=NAME` or `credentials file=PATH`: where the secret is, never the secret.
    fn credentials(&mut self, node: &Node) -> Option<Credentials> {
        read::check_entries(node, 0, &["env", "file", "mechanism"], self.sink);
        read::no_children(node, self.sink);
        let env = read::string_prop(node, "env", None, self.sink);
        let file = read::string_prop(node, "file", None, self.sink);
        match (env, file) {
            (Some(env), None) => read::parse(&env, |e| check_env_name(e), self.sink).map(|()| Credentials::Env(env)),
            (None, Some(file)) => Some(Credentials::File(Spanned::new(PathBuf::from(&file.value), file.span))),
            (Some(_), Some(_)) => {
                self.sink.push(
                    Diagnostic::new(Code::InvalidValue, "`credentials` names both an environment variable and a file")
                        .at(node.span, "two sources")
                        .help(
                            "keep one: credentials env=\"NATS_CREDS\" or credentials file=\"/run/secrets/nats.creds\"",
                        ),
                );
                None
            }
            (None, None) => {
                if node.property("env").is_none() && node.property("file").is_none() {
                    self.sink.push(
                        Diagnostic::new(Code::MissingRequired, "`credentials` names no environment variable or file")
                            .at(node.name_span, "no source")
                            .help("credentials are referenced, never written in the spec: credentials env=\"NATS_CREDS\" or file=\"/run/secrets/nats.creds\""),
                    );
                }
                None
            }
        }
    }

    /// `stream broker=NAME { ... }` of the topic `topic` (the id it gets once
    /// it lowers): where a broker keeps its events. `None` when invalid.
    pub(super) fn stream(&mut self, node: &Node, topic: TopicId, topic_name: &Spanned<String>) -> Option<Stream> {
        read::check_entries(node, 0, &["broker"], self.sink);
        let example = "stream broker=\"bus\" { max-age \"168h\" }";
        let broker_name = read::string_prop(node, "broker", Some(example), self.sink)?;
        let broker = self.broker_ref(&broker_name)?;
        let kind = self.d.model.events.broker(broker.value).kind;
        let mut once = Once::default();
        let mut failed = false;
        let mut settings: HashMap<&str, &Node> = HashMap::new();
        for child in node.children() {
            let Some(&(key, only)) = STREAM_SETTINGS.iter().find(|(k, _)| *k == child.name) else {
                let known: Vec<&str> = STREAM_SETTINGS.iter().map(|(k, _)| *k).collect();
                read::unknown_child(child, "stream", &known, self.sink);
                failed = true;
                continue;
            };
            if !once.first(child, self.sink) {
                failed = true;
                continue;
            }
            if let Some(only) = only.filter(|only| *only != kind) {
                self.sink.push(wrong_kind(key, child.name_span, kind, &[only]));
                failed = true;
                continue;
            }
            settings.insert(key, child);
        }
        let subjects = match settings.get("subjects") {
            Some(node) if kind == BrokerKind::Kafka => {
                self.sink.push(wrong_kind("subjects", node.name_span, kind, &[BrokerKind::Nats, BrokerKind::Rabbitmq]));
                None
            }
            Some(node) => self.subjects(node),
            None if kind == BrokerKind::Kafka => Some(Vec::new()),
            // Names are valid subject tokens: a stream without `subjects` has its topic's name.
            None => Some(vec![topic_name.clone()]),
        };
        let limits = StreamLimits {
            max_age: self.setting(&settings, "max-age", |t| Duration::parse(t))?,
            max_bytes: self.setting(&settings, "max-bytes", |t| ByteSize::parse(t))?,
            max_messages: match settings.get("max-messages") {
                Some(node) => Some(self.count_arg(node, 1, i64::MAX as u64)?.try_into().ok()?),
                None => None,
            },
        };
        let discard = self.setting(&settings, "discard", |t| Discard::parse(t))?.unwrap_or(Discard::Old);
        let replicas = match settings.get("replicas") {
            Some(node) => self.ranged_arg(node, Replicas::new)?,
            None => Replicas::ONE,
        };
        let settings = match kind {
            BrokerKind::Nats => StreamSettings::Nats {
                retention: self.setting(&settings, "retention", |t| Retention::parse(t))?.unwrap_or(Retention::Limits),
                storage: self.setting(&settings, "storage", |t| Storage::parse(t))?.unwrap_or(Storage::File),
                duplicate_window: self.setting(&settings, "duplicate-window", |t| Duration::parse(t))?,
            },
            BrokerKind::Rabbitmq => StreamSettings::Rabbitmq {
                exchange_type: self
                    .setting(&settings, "exchange-type", |t| ExchangeType::parse(t))?
                    .unwrap_or(ExchangeType::Topic),
                queue_type: self
                    .setting(&settings, "queue-type", |t| QueueType::parse(t))?
                    .unwrap_or(QueueType::Quorum),
            },
            BrokerKind::Kafka => StreamSettings::Kafka {
                partitions: match settings.get("partitions") {
                    Some(node) => self.ranged_arg(node, Partitions::new)?,
                    None => Partitions::ONE,
                },
                partition_key: match settings.get("partition-key") {
                    Some(node) => self.partition_key(node)?,
                    None => PartitionKey::None,
                },
                min_insync_replicas: match settings.get("min-insync-replicas") {
                    Some(node) => Some(self.ranged_arg(node, Replicas::new)?),
                    None => None,
                },
                cleanup: self
                    .setting(&settings, "cleanup-policy", |t| CleanupPolicy::parse(t))?
                    .unwrap_or(CleanupPolicy::Delete),
            },
        };
        if failed {
            return None;
        }
        Some(Stream {
            name: topic_name.clone(),
            broker: broker.value,
            topic,
            subjects: subjects?,
            limits,
            discard,
            replicas,
            settings,
            span: node.span,
        })
    }

    /// `subjects "a.b" "a.c.>"`: the subjects (patterns) a stream keeps.
    fn subjects(&mut self, node: &Node) -> Option<Vec<Spanned<String>>> {
        read::no_children(node, self.sink);
        let mut out = Vec::new();
        for (i, _) in node.arguments().enumerate() {
            let subject = read::string_arg(node, i, "a subject", "subjects \"shop.orders.>\"", self.sink)?;
            read::parse(&subject, |s| Subject::parse_pattern(s).map(drop), self.sink)?;
            out.push(subject);
        }
        if out.is_empty() {
            read::string_arg(node, 0, "a subject", "subjects \"shop.orders.>\"", self.sink);
            return None;
        }
        Some(out)
    }

    /// `partition-key field=PATH` or `partition-key header=NAME`.
    fn partition_key(&mut self, node: &Node) -> Option<PartitionKey> {
        read::check_entries(node, 0, &["field", "header"], self.sink);
        read::no_children(node, self.sink);
        match (read::string_prop(node, "field", None, self.sink), read::string_prop(node, "header", None, self.sink)) {
            (Some(field), None) => Some(PartitionKey::Field(field.value)),
            (None, Some(header)) => read::parse(&header, |h| HeaderName::parse(h), self.sink).map(PartitionKey::Header),
            _ => {
                self.sink.push(
                    Diagnostic::new(Code::InvalidValue, "`partition-key` takes one of `field` and `header`")
                        .at(node.span, "give one")
                        .help("partition-key field=\"orderId\" (a field of the event) or header=\"x-tenant\""),
                );
                None
            }
        }
    }

    /// A one-argument string setting parsed by `parse`: `Some(None)` when
    /// absent, `None` when invalid (reported).
    fn setting<T>(
        &mut self,
        settings: &HashMap<&str, &Node>,
        key: &str,
        parse: impl FnOnce(&String) -> Result<T, String>,
    ) -> Option<Option<T>> {
        let Some(node) = settings.get(key) else { return Some(None) };
        read::check_entries(node, 1, &[], self.sink);
        read::no_children(node, self.sink);
        let text = read::string_arg(node, 0, "a value", &format!("{key} \"...\""), self.sink)?;
        read::parse(&text, parse, self.sink).map(Some)
    }

    /// A one-integer-argument setting in `min..=max`.
    fn count_arg(&mut self, node: &Node, min: u64, max: u64) -> Option<u64> {
        read::check_entries(node, 1, &[], self.sink);
        read::no_children(node, self.sink);
        let n = read::int_arg(node, 0, "a number", &format!("{} 1000", node.name), self.sink)?;
        read::parse(
            &n,
            |n| {
                u64::try_from(*n)
                    .ok()
                    .filter(|v| (min..=max).contains(v))
                    .ok_or_else(|| format!("{} must be between {min} and {max}, found {n}", node.name))
            },
            self.sink,
        )
    }

    /// A one-integer-argument setting through a validated constructor.
    fn ranged_arg<T>(&mut self, node: &Node, new: impl FnOnce(i128) -> Result<T, String>) -> Option<T> {
        read::check_entries(node, 1, &[], self.sink);
        read::no_children(node, self.sink);
        let n = read::int_arg(node, 0, "a number", &format!("{} 3", node.name), self.sink)?;
        read::parse(&n, |n| new(*n), self.sink)
    }

    /// Resolves a broker name, reporting unknown names with a suggestion.
    fn broker_ref(&mut self, name: &Spanned<String>) -> Option<Spanned<BrokerId>> {
        let declare = || format!("declare it with `broker \"{}\" kind=\"nats\" {{ address ... }}`", name.value);
        super::resolve(self.sink, &self.d.brokers, name, Code::UnknownBroker, "broker", declare)
    }

    /// `publishes TOPIC version=N subject=S`.
    fn producer(&mut self, node: &Node, topic: Spanned<TopicId>) -> Option<impl FnOnce(ServiceId) -> Producer> {
        read::check_entries(node, 1, &["version", "subject"], self.sink);
        read::no_children(node, self.sink);
        let version = self.version_prop(node, topic.value)?;
        let subject = match read::string_prop(node, "subject", None, self.sink) {
            Some(s) => {
                read::parse(&s, |t| Subject::parse_pattern(t).and_then(Subject::literal).map(drop), self.sink)?;
                if self.topic_kind(topic.value) == Some(BrokerKind::Kafka) {
                    self.sink.push(wrong_kind(
                        "subject",
                        s.span,
                        BrokerKind::Kafka,
                        &[BrokerKind::Nats, BrokerKind::Rabbitmq],
                    ));
                    return None;
                }
                Some(s)
            }
            None if node.property("subject").is_some() => return None,
            None => None,
        };
        let span = node.span;
        Some(move |service| Producer { service, topic, version, subject, span })
    }

    /// `subscribes TOPIC version=N group=G { filter ...; delivery ...; retry ...; dead-letter ...; alert ... }`.
    fn consumer(&mut self, node: &Node, topic: Spanned<TopicId>) -> Option<impl FnOnce(ServiceId) -> Consumer> {
        read::check_entries(node, 1, &["version", "group"], self.sink);
        let version = self.version_prop(node, topic.value);
        let durability = match read::string_prop(node, "group", None, self.sink) {
            Some(group) => read::parse(&group, |g| check_name(g), self.sink).map(|()| Durability::Durable(group)),
            None if node.property("group").is_some() => None,
            None => Some(Durability::Ephemeral),
        };
        let mut once = Once::default();
        let mut failed = false;
        let mut filters = Vec::new();
        let (mut delivery_node, mut retry_node, mut dead_letter_node) = (None, None, None);
        for child in node.children() {
            match child.name.as_str() {
                "filter" => match self.filter(child, topic.value) {
                    Some(filter) => filters.push(filter),
                    None => failed = true,
                },
                "delivery" if once.first(child, self.sink) => delivery_node = Some(child),
                "retry" if once.first(child, self.sink) => retry_node = Some(child),
                "dead-letter" if once.first(child, self.sink) => dead_letter_node = Some(child),
                "delivery" | "retry" | "dead-letter" => failed = true,
                // Read by `consumer_alerts`.
                "alert" => {}
                _ => read::unknown_child(child, "subscribes", SUBSCRIBE_CHILDREN, self.sink),
            }
        }
        let alerts = self.consumer_alerts(node);
        let (delivery, max_in_flight, processing_time) =
            self.delivery(delivery_node, retry_node, dead_letter_node, topic.value)?;
        let (version, durability, alerts) = (version?, durability?, alerts?);
        if failed {
            return None;
        }
        let span = node.span;
        Some(move |service| Consumer {
            service,
            topic,
            version,
            durability,
            delivery,
            filters,
            max_in_flight,
            processing_time,
            alerts,
            span,
        })
    }

    /// `filter subject=PATTERN` or `filter header=NAME equals=VALUE`.
    fn filter(&mut self, node: &Node, topic: TopicId) -> Option<Filter> {
        read::check_entries(node, 0, &["subject", "header", "equals"], self.sink);
        read::no_children(node, self.sink);
        let subject = read::string_prop(node, "subject", None, self.sink);
        let header = read::string_prop(node, "header", None, self.sink);
        let equals = read::string_prop(node, "equals", None, self.sink);
        match (subject, header, equals) {
            (Some(subject), None, None) => {
                read::parse(&subject, |s| Subject::parse_pattern(s).map(drop), self.sink)?;
                if self.topic_kind(topic) == Some(BrokerKind::Kafka) {
                    self.sink.push(wrong_kind(
                        "filter subject",
                        subject.span,
                        BrokerKind::Kafka,
                        &[BrokerKind::Nats, BrokerKind::Rabbitmq],
                    ));
                    return None;
                }
                Some(Filter::Subject(subject))
            }
            (None, Some(header), Some(equals)) => {
                let name = read::parse(&header, |h| HeaderName::parse(h), self.sink)?;
                Some(Filter::Header { name, equals: equals.value, span: node.span })
            }
            _ => {
                self.sink.push(
                    Diagnostic::new(Code::InvalidValue, "a `filter` matches a subject or a header's value")
                        .at(node.span, "neither one nor the other")
                        .help("filter subject=\"shop.orders.eu.*\", or filter header=\"x-region\" equals=\"eu\""),
                );
                None
            }
        }
    }

    /// The consumer's delivery from its `delivery`, `retry` and `dead-letter`
    /// nodes, with `max-in-flight` and `processing-time`.
    #[allow(clippy::type_complexity)]
    fn delivery(
        &mut self,
        delivery: Option<&Node>,
        retry: Option<&Node>,
        dead_letter: Option<&Node>,
        topic: TopicId,
    ) -> Option<(Delivery, Option<std::num::NonZeroU32>, Option<Spanned<Duration>>)> {
        let mut at_most_once = false;
        let (mut ack, mut ack_wait, mut max_in_flight, mut processing_time) =
            (AckPolicy::Explicit, Duration::from_millis(DEFAULT_ACK_WAIT_MS), None, None);
        if let Some(node) = delivery {
            read::check_entries(node, 1, &["ack", "ack-wait", "max-in-flight", "processing-time"], self.sink);
            read::no_children(node, self.sink);
            let example = "delivery \"at-least-once\" ack-wait=\"30s\"";
            let guarantee = read::string_arg(node, 0, "a guarantee", example, self.sink)?;
            at_most_once = read::parse(&guarantee, |g| parse_guarantee(g), self.sink)?;
            if at_most_once {
                if let Some(entry) = node.entries.iter().find(|e| e.name.is_some()) {
                    self.sink.push(at_most_once_has_no(entry.name.as_deref().unwrap_or_default(), entry.span));
                    return None;
                }
            }
            if let Some(text) = read::string_prop(node, "ack", None, self.sink) {
                ack = read::parse(&text, |t| parse_ack(t), self.sink)?;
            } else if node.property("ack").is_some() {
                return None;
            }
            ack_wait = self.duration_prop(node, "ack-wait")?.unwrap_or(ack_wait);
            max_in_flight = self.count_prop(node, "max-in-flight", 1, 1_000_000)?.and_then(std::num::NonZeroU32::new);
            processing_time = self.spanned_duration(node, "processing-time")?;
        }
        if at_most_once {
            if let Some(node) = retry.or(dead_letter) {
                self.sink.push(at_most_once_has_no(&node.name, node.name_span));
                return None;
            }
            return Some((Delivery::AtMostOnce, max_in_flight, processing_time));
        }
        let (max_deliveries, backoff) = match retry {
            Some(node) => self.retry(node)?,
            None => (None, Backoff::None),
        };
        let attempts = match (max_deliveries, dead_letter) {
            (Some(n), node) => {
                let then = match node {
                    Some(node) => self.dead_letter(node, topic)?,
                    None => DeadLetter::Drop { declared: None },
                };
                // `count_prop` bounded it to 1 or more.
                MaxDeliveries::at_most(n.into(), then).ok()?
            }
            (None, Some(node)) => {
                self.sink.push(
                    Diagnostic::new(Code::MissingRequired, "a dead letter needs a bounded number of deliveries")
                        .at(node.span, "events would be redelivered for ever and never reach it")
                        .help("bound the deliveries: retry max-deliveries=5"),
                );
                return None;
            }
            (None, None) => MaxDeliveries::Unbounded,
        };
        Some((Delivery::AtLeastOnce(Redelivery { ack, ack_wait, attempts, backoff }), max_in_flight, processing_time))
    }

    /// `retry max-deliveries=N backoff="none|fixed|exponential" delay= initial= max=`.
    fn retry(&mut self, node: &Node) -> Option<(Option<u32>, Backoff)> {
        read::check_entries(node, 0, &["max-deliveries", "backoff", "delay", "initial", "max"], self.sink);
        read::no_children(node, self.sink);
        let max_deliveries = self.count_prop(node, "max-deliveries", 1, 1_000)?;
        let kind = match read::string_prop(node, "backoff", None, self.sink) {
            Some(kind) => Some(kind),
            None if node.property("backoff").is_some() => return None,
            None => None,
        };
        let delay = self.duration_prop(node, "delay")?;
        let initial = self.duration_prop(node, "initial")?;
        let max = self.duration_prop(node, "max")?;
        let misplaced = |key: &str| node.property(key).map(|e| (key.to_string(), e.span));
        let backoff = match kind.as_ref().map(|k| k.value.as_str()) {
            None | Some("none") => {
                if let Some((key, span)) = misplaced("delay").or(misplaced("initial")).or(misplaced("max")) {
                    self.sink.push(backoff_property(&key, span, "none"));
                    return None;
                }
                Backoff::None
            }
            Some("fixed") => {
                if let Some((key, span)) = misplaced("initial").or(misplaced("max")) {
                    self.sink.push(backoff_property(&key, span, "fixed"));
                    return None;
                }
                let Some(delay) = delay else {
                    self.sink.push(
                        Diagnostic::new(Code::MissingRequired, "a fixed backoff needs its `delay`")
                            .at(node.span, "no delay")
                            .help("retry max-deliveries=5 backoff=\"fixed\" delay=\"5s\""),
                    );
                    return None;
                };
                Backoff::Fixed(delay)
            }
            Some("exponential") => {
                if let Some((key, span)) = misplaced("delay") {
                    self.sink.push(backoff_property(&key, span, "exponential"));
                    return None;
                }
                let (Some(initial), Some(max)) = (initial, max) else {
                    self.sink.push(
                        Diagnostic::new(Code::MissingRequired, "an exponential backoff needs `initial` and `max`")
                            .at(node.span, "incomplete backoff")
                            .help("retry max-deliveries=5 backoff=\"exponential\" initial=\"1s\" max=\"30s\""),
                    );
                    return None;
                };
                let backoff = ExponentialBackoff::new(initial, max);
                let span = node.property("initial").map_or(node.span, |e| e.span);
                Backoff::Exponential(read::parse(&Spanned::new((), span), |()| backoff, self.sink)?)
            }
            Some(_) => {
                let kind = kind.expect("matched Some");
                read::parse(&kind, |k| Err::<(), _>(not_a_backoff(k)), self.sink);
                return None;
            }
        };
        Some((max_deliveries, backoff))
    }

    /// `dead-letter TOPIC` or `dead-letter drop=#true`.
    fn dead_letter(&mut self, node: &Node, topic: TopicId) -> Option<DeadLetter> {
        read::check_entries(node, 1, &["drop"], self.sink);
        read::no_children(node, self.sink);
        let drop = read::bool_prop(node, "drop", self.sink);
        match (node.arguments().next(), drop) {
            (None, Some(d)) if d.value => Some(DeadLetter::Drop { declared: Some(node.span) }),
            (Some(_), None) => {
                let name = read::string_arg(node, 0, "a topic", "dead-letter \"orders-placed-dlq\"", self.sink)?;
                let dlq = self.topic_ref(&name)?;
                if dlq.value == topic {
                    self.sink.push(
                        Diagnostic::new(Code::InvalidValue, "a topic is its own dead letter")
                            .at(name.span, "the topic the consumer reads")
                            .help("dead-letter into a topic of its own, e.g. `orders-placed-dlq`"),
                    );
                    return None;
                }
                Some(DeadLetter::Topic(dlq))
            }
            _ => {
                self.sink.push(
                    Diagnostic::new(Code::InvalidValue, "`dead-letter` names a topic, or drops with drop=#true")
                        .at(node.span, "give one")
                        .help("dead-letter \"orders-placed-dlq\", or dead-letter drop=#true"),
                );
                None
            }
        }
    }

    /// `version=N` of a `publishes` or `subscribes`: a declared version of
    /// the topic; its current one when absent.
    fn version_prop(&mut self, node: &Node, topic: TopicId) -> Option<u32> {
        let topic = &self.d.model.topics[topic.index()];
        let Some(given) = read::int_prop(node, "version", None, self.sink) else {
            return (node.property("version").is_none()).then(|| topic.current().number);
        };
        if let Some(v) = u32::try_from(given.value).ok().and_then(|n| topic.version(n)) {
            return Some(v.number);
        }
        let known: Vec<String> = topic.versions.iter().map(|v| v.number.to_string()).collect();
        self.sink.push(
            Diagnostic::new(
                Code::UnknownSchemaVersion,
                format!("topic `{}` has no schema version {}", topic.name.value, given.value),
            )
            .at(given.span, "unknown version")
            .with_label(topic.name.span, format!("declares version {}", known.join(", ")))
            .help(format!(
                "name a declared version, or declare it: schema \"schemas/{}.v{}.avsc\" version={}",
                topic.name.value, given.value, given.value
            )),
        );
        None
    }

    /// The kind of the broker keeping `topic`, when it has a stream.
    fn topic_kind(&self, topic: TopicId) -> Option<BrokerKind> {
        let topic: &Topic = &self.d.model.topics[topic.index()];
        let stream = self.d.model.events.stream(topic.stream?);
        Some(self.d.model.events.broker(stream.broker).kind)
    }
}

/// A setting written for a kind of broker the stream is not on.
fn wrong_kind(setting: &str, span: Span, kind: BrokerKind, only: &[BrokerKind]) -> Diagnostic {
    let only: Vec<&str> = only.iter().map(|k| k.as_str()).collect();
    Diagnostic::new(
        Code::BrokerSettingMismatch,
        format!("`{setting}` is a setting of {} brokers, not {kind}", only.join(" and ")),
    )
    .at(span, format!("not on a {kind} broker"))
    .help("remove it, or keep the topic on a broker of that kind; docs/events.md lists each kind's settings")
}

fn at_most_once_has_no(what: &str, span: Span) -> Diagnostic {
    Diagnostic::new(Code::InvalidValue, format!("an at-most-once consumer has no `{what}`"))
        .at(span, "nothing is acknowledged or redelivered")
        .help("remove it, or deliver at least once: delivery \"at-least-once\"")
}

fn backoff_property(key: &str, span: Span, kind: &str) -> Diagnostic {
    Diagnostic::new(Code::UnknownProperty, format!("a `{kind}` backoff has no `{key}`"))
        .at(span, "not for this backoff")
        .help("backoff=\"fixed\" takes delay=; backoff=\"exponential\" takes initial= and max=")
}

/// `at-most-once` → true, `at-least-once` → false.
fn parse_guarantee(text: &str) -> Result<bool, String> {
    match text {
        "at-most-once" => Ok(true),
        "at-least-once" => Ok(false),
        _ => Err(format!("`{text}` is not a delivery guarantee; write `at-least-once` or `at-most-once`")),
    }
}

fn not_a_backoff(text: &str) -> String {
    match crate::diag::did_you_mean(text, ["none", "fixed", "exponential"]) {
        Some(best) => format!("`{text}` is not a backoff (none, fixed, exponential); did you mean `{best}`?"),
        None => format!("`{text}` is not a backoff; write `none`, `fixed` or `exponential`"),
    }
}

fn parse_ack(text: &str) -> Result<AckPolicy, String> {
    match text {
        "explicit" => Ok(AckPolicy::Explicit),
        "all" => Ok(AckPolicy::All),
        _ => Err(format!("`{text}` is not an ack policy; write `explicit` (each event) or `all` (it and all before)")),
    }
}

/// An environment variable's name: `[A-Za-z_][A-Za-z0-9_]*`.
fn check_env_name(name: &str) -> Result<(), String> {
    let ok = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!("`{}` is not an environment variable name (letters, digits and `_`)", name.escape_debug()))
    }
}

/// What declares or records: needs the declarations mutably.
impl Lower<'_> {
    /// `broker NAME kind=KIND { address ...; credentials ...; tls ...; vhost ... }`.
    pub(super) fn broker(&mut self, node: &Node) {
        let example = "broker \"bus\" kind=\"nats\" { address \"nats.svc\" port=4222 }";
        read::check_entries(node, 1, &["kind"], self.sink);
        let Some(name) = read::string_arg(node, 0, "a name", example, self.sink) else { return };
        if !declare_once(&mut self.d.brokers, name.value.clone(), (None, name.span), ("broker", &name.value), self.sink)
        {
            return;
        }
        let name_ok = read::parse(&name, |n| check_name(n), self.sink).is_some();
        let kind = read::string_prop(node, "kind", Some(example), self.sink)
            .and_then(|k| read::parse(&k, |t| BrokerKind::parse(t), self.sink));
        let mut once = Once::default();
        let (mut addresses, mut credentials, mut sasl, mut tls, mut vhost) = (Vec::new(), None, None, None, None);
        let mut metrics = None;
        let mut failed = false;
        for child in node.children() {
            match child.name.as_str() {
                "address" => match self.broker_address(child) {
                    Some(address) => addresses.push(address),
                    None => failed = true,
                },
                "credentials" if once.first(child, self.sink) => {
                    credentials = self.credentials(child);
                    failed |= credentials.is_none();
                    match self.sasl_mechanism(child, kind, credentials.is_some()) {
                        Ok(mechanism) => sasl = mechanism,
                        Err(()) => failed = true,
                    }
                }
                "tls" if once.first(child, self.sink) => {
                    read::check_entries(child, 0, &["ca"], self.sink);
                    read::no_children(child, self.sink);
                    let ca = read::string_prop(child, "ca", None, self.sink)
                        .map(|ca| Spanned::new(PathBuf::from(&ca.value), ca.span));
                    failed |= ca.is_none() && child.property("ca").is_some();
                    tls = Some(BrokerTls { ca, span: child.span });
                }
                "vhost" if once.first(child, self.sink) => {
                    read::check_entries(child, 1, &[], self.sink);
                    read::no_children(child, self.sink);
                    vhost = read::string_arg(child, 0, "a virtual host", "vhost \"/shop\"", self.sink);
                    failed |= vhost.is_none();
                    if let (Some(v), Some(kind)) = (&vhost, kind) {
                        if kind != BrokerKind::Rabbitmq {
                            self.sink.push(wrong_kind("vhost", v.span, kind, &[BrokerKind::Rabbitmq]));
                            failed = true;
                        }
                    }
                }
                "metrics" if once.first(child, self.sink) => {
                    metrics = self.metrics_endpoint(child, kind);
                    failed |= metrics.is_none();
                }
                "credentials" | "tls" | "vhost" | "metrics" => failed = true,
                _ => read::unknown_child(child, "broker", BROKER_CHILDREN, self.sink),
            }
        }
        if addresses.is_empty() && !failed {
            self.sink.push(
                Diagnostic::new(Code::MissingRequired, format!("broker `{}` has no `address`", name.value))
                    .at(name.span, "declared without an address")
                    .help("add where clients reach it: address \"nats.infra.svc.cluster.local\" port=4222"),
            );
            failed = true;
        }
        let (Some(kind), true, false) = (kind, name_ok, failed) else { return };
        let id = BrokerId::new(self.d.model.events.brokers.len());
        self.d.brokers.insert(name.value.clone(), (Some(id), name.span));
        let broker = Broker { name, kind, addresses, credentials, sasl, tls, vhost, metrics, span: node.span };
        self.d.model.events.brokers.push(broker);
    }

    /// The `publishes` and `subscribes` nodes of the service `service`
    /// (`None`: it failed to lower; its links are still checked).
    pub(super) fn event_links(&mut self, node: &Node, service: Option<ServiceId>) {
        let mut seen: HashMap<(&str, TopicId), Span> = HashMap::new();
        for child in node.children() {
            let verb = child.name.as_str();
            if verb != "publishes" && verb != "subscribes" {
                continue;
            }
            let Some(topic) = self.topic_link(child) else { continue };
            if let Some(&first) = seen.get(&(verb, topic.value)) {
                let service_name = match node.arguments().next().map(|e| &e.value) {
                    Some(crate::syntax::Value::String(name)) => name.as_str(),
                    _ => "",
                };
                self.sink.push(
                    Diagnostic::new(
                        Code::DuplicateName,
                        format!(
                            "service `{service_name}` {verb} `{}` twice",
                            self.d.model.topic(topic.value).name.value
                        ),
                    )
                    .at(topic.span, "repeated here")
                    .with_label(first, "first given here")
                    .help("remove one of them"),
                );
                continue;
            }
            seen.insert((verb, topic.value), topic.span);
            if verb == "publishes" {
                let producer = self.producer(child, topic);
                if let (Some(service), Some(producer)) = (service, producer) {
                    self.d.model.events.producers.push(producer(service));
                }
            } else {
                let consumer = self.consumer(child, topic);
                if let (Some(service), Some(consumer)) = (service, consumer) {
                    self.d.model.events.consumers.push(consumer(service));
                }
            }
        }
    }
}
