//! RabbitMQ: per broker of kind `rabbitmq`, one definitions file
//! (`rabbitmq/<broker>/definitions.json`) that `rabbitmqctl
//! import_definitions` (or the management API's `POST /api/definitions`)
//! imports: the broker's vhost, an exchange per stream, a queue per durable
//! consumer group with its bindings, and a policy per queue.
//!
//! - **Exchanges** are named after their topic, of the stream's
//!   `exchange-type`, durable. Producers publish to them with their subject
//!   as the routing key.
//! - **Queues** are `<topic>.<group>`, durable, of the stream's
//!   `queue-type`; ephemeral consumers' queues are the runtime's (exclusive,
//!   made when it subscribes). The only queue arguments are the ones
//!   RabbitMQ fixes at declaration: `x-queue-type` and the replica count
//!   (`x-quorum-initial-group-size`, `x-initial-cluster-size`), so a client
//!   that declares the queue again needs just those.
//! - **Policies** carry what may change later (a queue's arguments cannot):
//!   one per queue, named and matching it exactly, with the stream's limits
//!   (`message-ttl` or a stream's `max-age`, `max-length`,
//!   `max-length-bytes`, `overflow`) and the consumer's dead letter
//!   (`dead-letter-exchange`: the dead-letter topic's exchange, with its
//!   first subject without wildcards as `dead-letter-routing-key`) and
//!   bound (`delivery-limit`: deliveries less one, quorum queues).
//! - **Bindings** take each queue's events from its exchange: by the
//!   consumer's subject filters, else the stream's subjects (topic and
//!   direct exchanges; NATS-style `>` is written `*.#`), by its header
//!   filters (headers exchanges, `x-match: all`), or all of them (fanout).
//!
//! What a queue type or exchange type cannot do is reported (MESH0073):
//! a message count or `discard "new"` on a stream queue, replicas of a
//! classic queue, subject filters on fanout and headers exchanges,
//! wildcards on a direct exchange. Redelivery delays, ack waits, header
//! filters on other exchanges and in-flight limits are the runtime's
//! (docs/backends/rabbitmq.md).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::emit::{consumers_by_topic, Artifact, Options, Unexpressed};
use crate::model::events::{
    Broker, BrokerId, BrokerKind, Consumer, DeadLetter, Delivery, Discard, ExchangeType, Filter, MaxDeliveries,
    QueueType, Stream, StreamSettings, Subject,
};
use crate::model::Model;
use crate::schema::SchemaIndex;

type Str<'a> = Cow<'a, str>;

/// A definitions document, the parts meshc writes (keys in byte order).
#[derive(Serialize)]
pub struct Definitions<'a> {
    pub bindings: Vec<Binding<'a>>,
    pub exchanges: Vec<Exchange<'a>>,
    pub policies: Vec<Policy<'a>>,
    pub queues: Vec<Queue<'a>>,
    pub vhosts: Vec<Vhost<'a>>,
}

#[derive(Serialize)]
pub struct Vhost<'a> {
    pub name: Str<'a>,
}

#[derive(Serialize)]
pub struct Exchange<'a> {
    pub arguments: BTreeMap<&'static str, Arg<'a>>,
    pub auto_delete: bool,
    pub durable: bool,
    pub internal: bool,
    pub name: Str<'a>,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub vhost: Str<'a>,
}

#[derive(Serialize)]
pub struct Queue<'a> {
    pub arguments: BTreeMap<&'static str, Arg<'a>>,
    pub auto_delete: bool,
    pub durable: bool,
    pub name: String,
    pub vhost: Str<'a>,
}

#[derive(Serialize)]
pub struct Binding<'a> {
    pub arguments: BTreeMap<Str<'a>, Arg<'a>>,
    pub destination: String,
    pub destination_type: &'static str,
    pub routing_key: String,
    pub source: Str<'a>,
    pub vhost: Str<'a>,
}

#[derive(Serialize)]
pub struct Policy<'a> {
    #[serde(rename = "apply-to")]
    pub apply_to: &'static str,
    pub definition: BTreeMap<&'static str, Arg<'a>>,
    pub name: String,
    pub pattern: String,
    pub priority: u32,
    pub vhost: Str<'a>,
}

/// An argument's or policy key's value: an AMQP long string or a number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Arg<'a> {
    Str(Str<'a>),
    Int(i64),
}

pub fn emit(model: &Model, _: &SchemaIndex, _: &Options, unexpressed: &mut Vec<Unexpressed>) -> Vec<Artifact> {
    let events = &model.events;
    let consumers_of = consumers_by_topic(model);
    let mut out = Vec::new();
    for (broker_id, broker) in events.brokers_of(BrokerKind::Rabbitmq) {
        let definitions = definitions(model, &consumers_of, broker_id, broker, unexpressed);
        out.push(Artifact {
            path: format!("rabbitmq/{}/definitions.json", broker.name.value),
            contents: crate::emit::pretty_json(&definitions),
            origin: broker.name.span,
        });
    }
    out
}

fn definitions<'a>(
    model: &'a Model,
    consumers_of: &[Vec<&'a Consumer>],
    broker_id: BrokerId,
    broker: &'a Broker,
    unexpressed: &mut Vec<Unexpressed>,
) -> Definitions<'a> {
    let vhost = || Cow::Borrowed(broker.vhost());
    let events = &model.events;
    let mut document = Definitions {
        bindings: Vec::new(),
        exchanges: Vec::new(),
        policies: Vec::new(),
        queues: Vec::new(),
        vhosts: vec![Vhost { name: vhost() }],
    };
    for (_, stream) in events.streams_on(broker_id) {
        let StreamSettings::Rabbitmq { exchange_type, queue_type } = stream.settings else {
            unreachable!("a stream on a RabbitMQ broker has RabbitMQ settings")
        };
        document.exchanges.push(Exchange {
            arguments: BTreeMap::new(),
            auto_delete: false,
            durable: true,
            internal: false,
            name: Cow::Borrowed(&stream.name.value),
            kind: exchange_type.as_str(),
            vhost: vhost(),
        });
        check_stream(stream, queue_type, unexpressed);
        let mut queues = BTreeSet::new();
        for &consumer in &consumers_of[stream.topic.index()] {
            let Some(group) = consumer.group() else { continue };
            let queue = stream.queue(&group.value);
            if !queues.insert(queue.clone()) {
                unexpressed.push(Unexpressed::new(
                    consumer.span,
                    "this consumer's filters and redelivery",
                    format!("queue `{queue}` is built from the group's first consumer"),
                    "one queue serves a group: give the other service a group of its own, or the same settings",
                ));
                continue;
            }
            let mut arguments = BTreeMap::from([("x-queue-type", Arg::Str(Cow::Borrowed(queue_type.as_str())))]);
            let replicas = i64::from(stream.replicas.get());
            match queue_type {
                QueueType::Quorum => {
                    arguments.insert("x-quorum-initial-group-size", Arg::Int(replicas));
                }
                QueueType::Stream => {
                    arguments.insert("x-initial-cluster-size", Arg::Int(replicas));
                }
                QueueType::Classic => {}
            }
            let definition = policy(model, stream, queue_type, consumer, unexpressed);
            if !definition.is_empty() {
                document.policies.push(Policy {
                    apply_to: "queues",
                    definition,
                    name: queue.clone(),
                    pattern: format!("^{}$", regex_escape(&queue)),
                    priority: 0,
                    vhost: vhost(),
                });
            }
            for (routing_key, arguments) in bindings(stream, exchange_type, consumer, unexpressed) {
                document.bindings.push(Binding {
                    arguments,
                    destination: queue.clone(),
                    destination_type: "queue",
                    routing_key,
                    source: Cow::Borrowed(&stream.name.value),
                    vhost: vhost(),
                });
            }
            document.queues.push(Queue { arguments, auto_delete: false, durable: true, name: queue, vhost: vhost() });
        }
    }
    // Sorted, so the document does not depend on declaration order.
    document.exchanges.sort_by(|a, b| a.name.cmp(&b.name));
    document.queues.sort_by(|a, b| a.name.cmp(&b.name));
    document.policies.sort_by(|a, b| a.name.cmp(&b.name));
    document
        .bindings
        .sort_by(|a, b| (&a.source, &a.destination, &a.routing_key).cmp(&(&b.source, &b.destination, &b.routing_key)));
    document.bindings.dedup_by(|a, b| {
        a.source == b.source
            && a.destination == b.destination
            && a.routing_key == b.routing_key
            && a.arguments == b.arguments
    });
    document
}

/// What a stream's queue type cannot keep to.
fn check_stream(stream: &Stream, queue_type: QueueType, unexpressed: &mut Vec<Unexpressed>) {
    let span = stream.span;
    match queue_type {
        QueueType::Stream => {
            if stream.limits.max_messages.is_some() {
                unexpressed.push(Unexpressed::new(
                    span,
                    "this stream's max-messages",
                    "the stream queues are built without a message count limit",
                    "RabbitMQ stream queues are limited by age and size only: use max-age or max-bytes, or queue-type \"quorum\"",
                ));
            }
            if stream.discard == Discard::New {
                unexpressed.push(Unexpressed::new(
                    span,
                    "this stream's discard \"new\"",
                    "the stream queues drop their oldest segments when full",
                    "RabbitMQ stream queues always discard old events; use queue-type \"quorum\" to refuse new ones",
                ));
            }
        }
        QueueType::Classic if stream.replicas.get() > 1 => unexpressed.push(Unexpressed::new(
            span,
            "this stream's replicas",
            "the classic queues are built with one copy",
            "classic queues are not replicated (mirroring is deprecated): use queue-type \"quorum\" or \"stream\"",
        )),
        _ => {}
    }
}

/// A consumer's queue policy: the stream's limits, the consumer's bound and dead letter.
fn policy<'a>(
    model: &'a Model,
    stream: &'a Stream,
    queue_type: QueueType,
    consumer: &'a Consumer,
    unexpressed: &mut Vec<Unexpressed>,
) -> BTreeMap<&'static str, Arg<'a>> {
    let mut definition = BTreeMap::new();
    let limits = &stream.limits;
    let int = |n: u64| Arg::Int(i64::try_from(n).unwrap_or(i64::MAX));
    if let Some(bytes) = limits.max_bytes {
        definition.insert("max-length-bytes", int(bytes.bytes()));
    }
    if queue_type == QueueType::Stream {
        if let Some(age) = limits.max_age {
            // Stream queues take an age with a unit; whole seconds, rounded up.
            let seconds = age.as_millis().div_ceil(1000);
            definition.insert("max-age", Arg::Str(Cow::Owned(format!("{seconds}s"))));
        }
        // Stream queues neither redeliver nor dead-letter: consumers keep
        // their offsets, and the runtime moves failed events.
        return definition;
    }
    if let Some(age) = limits.max_age {
        definition.insert("message-ttl", int(u64::try_from(age.as_millis()).unwrap_or(u64::MAX)));
    }
    if let Some(count) = limits.max_messages {
        definition.insert("max-length", int(count.get()));
    }
    let bounded = limits.max_bytes.is_some() || limits.max_messages.is_some();
    if bounded {
        let overflow = match stream.discard {
            Discard::Old => "drop-head",
            Discard::New => "reject-publish",
        };
        definition.insert("overflow", Arg::Str(Cow::Borrowed(overflow)));
    }
    let Delivery::AtLeastOnce(redelivery) = &consumer.delivery else { return definition };
    let MaxDeliveries::AtMost { deliveries, then } = &redelivery.attempts else { return definition };
    match queue_type {
        // A quorum queue counts deliveries and dead-letters (or drops) an
        // event redelivered more than `delivery-limit` times.
        QueueType::Quorum => {
            definition.insert("delivery-limit", Arg::Int(i64::from(deliveries.get()) - 1));
        }
        // A classic queue does not count; the runtime does (x-death, its
        // own delivery header) and rejects the event into the dead letter.
        QueueType::Classic | QueueType::Stream => {}
    }
    if let DeadLetter::Topic(topic) = then {
        let dead = model.topic(topic.value);
        let Some(dead_stream) = dead.stream.map(|id| model.events.stream(id)) else { return definition };
        definition.insert("dead-letter-exchange", Arg::Str(Cow::Borrowed(&dead_stream.name.value)));
        match dead_stream.subjects.iter().find(|s| Subject::literal(&s.value).is_ok()) {
            Some(subject) => {
                definition.insert("dead-letter-routing-key", Arg::Str(Cow::Borrowed(&subject.value)));
            }
            None if needs_routing_key(dead_stream) => unexpressed.push(Unexpressed::new(
                consumer.span,
                "this consumer's dead-letter routing",
                format!(
                    "its dead events keep their routing keys, which `{}`'s bindings may not match",
                    dead.name.value
                ),
                format!("give topic `{}`'s stream a subject without wildcards", dead.name.value),
            )),
            None => {}
        }
        // A quorum queue can hold an event until the dead-letter queue has
        // it (at-least-once dead-lettering), unless it drops its oldest
        // events when full: that needs `overflow` `reject-publish`, which
        // changes nothing while no limit is set.
        if queue_type == QueueType::Quorum {
            let drops_oldest = definition.get("overflow") == Some(&Arg::Str(Cow::Borrowed("drop-head")));
            if !drops_oldest {
                definition.insert("overflow", Arg::Str(Cow::Borrowed("reject-publish")));
                definition.insert("dead-letter-strategy", Arg::Str(Cow::Borrowed("at-least-once")));
            }
        }
    }
    definition
}

/// Whether the exchange a dead letter goes to routes by routing key.
fn needs_routing_key(stream: &Stream) -> bool {
    matches!(
        stream.settings,
        StreamSettings::Rabbitmq { exchange_type: ExchangeType::Topic | ExchangeType::Direct, .. }
    )
}

/// A consumer queue's bindings: `(routing key, arguments)`.
fn bindings<'a>(
    stream: &'a Stream,
    exchange_type: ExchangeType,
    consumer: &'a Consumer,
    unexpressed: &mut Vec<Unexpressed>,
) -> Vec<(String, BTreeMap<Str<'a>, Arg<'a>>)> {
    let subject_filters: Vec<&'a str> = consumer.subject_filters().map(|s| s.value.as_str()).collect();
    let subject_filter_span = consumer.subject_filters().next().map(|s| s.span);
    match exchange_type {
        ExchangeType::Topic | ExchangeType::Direct => {
            let patterns: Vec<&str> = if subject_filters.is_empty() {
                stream.subjects.iter().map(|s| s.value.as_str()).collect()
            } else {
                subject_filters
            };
            let mut keys = Vec::new();
            for pattern in patterns {
                if exchange_type == ExchangeType::Direct && Subject::literal(pattern).is_err() {
                    unexpressed.push(Unexpressed::new(
                        subject_filter_span.unwrap_or(stream.span),
                        format!("the subject pattern `{pattern}`"),
                        "the queue is not bound by it: a direct exchange matches routing keys exactly",
                        "use exchange-type \"topic\" for patterns, or name the subjects",
                    ));
                    continue;
                }
                keys.push((routing_pattern(pattern), BTreeMap::new()));
            }
            keys
        }
        ExchangeType::Fanout | ExchangeType::Headers => {
            if let Some(span) = subject_filter_span {
                unexpressed.push(Unexpressed::new(
                    span,
                    "this subject filter",
                    format!("a {exchange_type} exchange ignores routing keys; the runtime filters instead"),
                    "use exchange-type \"topic\" to route by subject on the broker",
                ));
            }
            let mut arguments = BTreeMap::new();
            if exchange_type == ExchangeType::Headers {
                for filter in &consumer.filters {
                    if let Filter::Header { name, equals, .. } = filter {
                        arguments
                            .insert(Cow::Owned(name.as_str().to_string()), Arg::Str(Cow::Borrowed(equals.as_str())));
                    }
                }
                arguments.insert(Cow::Borrowed("x-match"), Arg::Str(Cow::Borrowed("all")));
            }
            vec![(String::new(), arguments)]
        }
    }
}

/// A NATS-style subject pattern as a RabbitMQ topic pattern: a last `>`
/// (one or more tokens) is `*.#` (one, then any).
pub(crate) fn routing_pattern(pattern: &str) -> String {
    match pattern.strip_suffix('>') {
        Some(head) if head.is_empty() || head.ends_with('.') => format!("{head}*.#"),
        _ => pattern.to_string(),
    }
}

/// `text` as a regular expression matching only itself.
fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
