//! `runtime/event-bus.json`, the config of the runtime's EventBus
//! (`meshc-runtime`'s `event_bus` module, `docs/runtime.md` "Event bus"):
//! the NATS, RabbitMQ and Kafka brokers, every topic kept on one with the text of
//! each schema version, and every service's producers and consumers of
//! those topics. One file for the mesh; each service connects as itself.
//!
//! Kafka topics have no subjects: their producers and dead letters take the
//! topic's Kafka name as subject; the partition key field, the partitions
//! and the replication factor (`replicas`) go along.
//! Left out with a warning: a header partition key, consumers of RabbitMQ
//! stream queues, `ack="all"`, and whatever names what was left out.
//!
//! A version is its schema's text (Avro, JSON Schema), or for protobuf its
//! message's full name and the base64 `FileDescriptorSet` of its `.proto`
//! file with the file's imports, which the runtime decodes at load.
//! Topics without a stream are kept nowhere, so they have no entry.

use std::borrow::Cow;
use std::collections::BTreeSet;

use base64::Engine as _;
use serde::Serialize;

use crate::emit::{Artifact, Options, Unexpressed};
use crate::model::events::{
    AckPolicy, Backoff, Broker, BrokerKind, Consumer, Credentials, DeadLetter, Delivery, Filter, MaxDeliveries,
    PartitionKey, QueueType, StreamSettings,
};
use crate::model::values::SchemaFormat;
use crate::model::{Model, TopicId};
use crate::schema::SchemaIndex;

// The file, as `meshc-runtime` reads it (`EventBusConfig`); fields in byte
// order of their names.

#[derive(Serialize)]
struct EventBusFile<'a> {
    brokers: Vec<BrokerEntry<'a>>,
    consumers: Vec<ConsumerEntry<'a>>,
    producers: Vec<ProducerEntry<'a>>,
    topics: Vec<TopicEntry<'a>>,
}

#[derive(Serialize)]
struct BrokerEntry<'a> {
    addresses: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    credentials: Option<CredentialsEntry<'a>>,
    kind: &'static str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls: Option<TlsEntry<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vhost: Option<&'a str>,
}

#[derive(Serialize)]
struct CredentialsEntry<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    env: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<Cow<'a, str>>,
    /// Kafka: the SASL mechanism.
    #[serde(skip_serializing_if = "Option::is_none")]
    mechanism: Option<&'static str>,
}

#[derive(Serialize)]
struct TlsEntry<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    ca: Option<Cow<'a, str>>,
}

#[derive(Serialize)]
struct TopicEntry<'a> {
    broker: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    exchange_type: Option<&'static str>,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    partition_key: Option<&'a str>,
    /// Kafka: the partitions a topic the runtime creates gets.
    #[serde(skip_serializing_if = "Option::is_none")]
    partitions: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    queue_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    replicas: Option<u8>,
    stream: &'a str,
    subjects: Vec<&'a str>,
    versions: Vec<VersionEntry<'a>>,
}

#[derive(Serialize)]
struct VersionEntry<'a> {
    /// Protobuf: base64 of the message's file and its imports.
    #[serde(skip_serializing_if = "Option::is_none")]
    descriptor_set: Option<String>,
    format: &'static str,
    /// Protobuf: the message's full name.
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    /// Avro and JSON Schema: the schema's text.
    #[serde(skip_serializing_if = "Option::is_none")]
    schema: Option<&'a str>,
    version: u32,
}

#[derive(Serialize)]
struct ProducerEntry<'a> {
    service: &'a str,
    subject: &'a str,
    topic: &'a str,
    version: u32,
}

#[derive(Serialize)]
struct ConsumerEntry<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    ack_wait_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    backoff: Option<BackoffEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dead_letter: Option<DeadLetterEntry<'a>>,
    delivery: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    filters: Vec<FilterEntry<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_deliveries: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_in_flight: Option<u32>,
    service: &'a str,
    topic: &'a str,
    version: u32,
}

#[derive(Serialize)]
#[serde(untagged)]
enum BackoffEntry {
    Fixed { fixed_ms: u64 },
    Exponential { initial_ms: u64, max_ms: u64 },
}

#[derive(Serialize)]
#[serde(untagged)]
enum DeadLetterEntry<'a> {
    Drop { drop: bool },
    Topic { subject: &'a str, topic: &'a str },
}

#[derive(Serialize)]
#[serde(untagged)]
enum FilterEntry<'a> {
    Header { equals: &'a str, header: &'a str },
    Subject { subject: &'a str },
}

pub fn emit(model: &Model, schemas: &SchemaIndex, _: &Options, unexpressed: &mut Vec<Unexpressed>) -> Vec<Artifact> {
    let events = &model.events;
    let brokers = events.brokers.iter().map(broker_entry).collect();

    // The topics kept on a stream, every version readable.
    let mut topics = Vec::new();
    let mut kept: BTreeSet<TopicId> = BTreeSet::new();
    for topic_id in model.topic_ids() {
        let topic = model.topic(topic_id);
        let Some(stream_id) = topic.stream else { continue };
        let stream = events.stream(stream_id);
        let mut versions = Vec::new();
        for version in &topic.versions {
            let entry = match (model.schema(version.schema).format, &version.message) {
                (SchemaFormat::Proto, Some(message)) => VersionEntry {
                    descriptor_set: Some(
                        base64::engine::general_purpose::STANDARD.encode(schemas.descriptor_set(&[version.schema])),
                    ),
                    format: "protobuf",
                    message: Some(message.value.trim_start_matches('.')),
                    schema: None,
                    version: version.number,
                },
                (SchemaFormat::Avro | SchemaFormat::JsonSchema, _) => VersionEntry {
                    descriptor_set: None,
                    format: if model.schema(version.schema).format == SchemaFormat::Avro {
                        "avro"
                    } else {
                        "json-schema"
                    },
                    message: None,
                    // A schema that did not load has been reported; its text is then empty.
                    schema: Some(schemas.get(version.schema).and_then(|s| s.text()).unwrap_or("")),
                    version: version.number,
                },
                // Lowering reports a protobuf version without `message=` and
                // any other format as errors, so no build gets here; stay total.
                (format, _) => {
                    unexpressed.push(Unexpressed::new(
                        version.span,
                        format!("topic `{}`'s version {} ({})", topic.name.value, version.number, format.describe()),
                        "the topic is left out of runtime/event-bus.json, with its producers and consumers",
                        "the runtime's EventBus reads Avro, JSON Schema and protobuf messages (`message=`)",
                    ));
                    versions.clear();
                    break;
                }
            };
            versions.push(entry);
        }
        if versions.is_empty() {
            continue;
        }
        let (exchange_type, queue_type) = match &stream.settings {
            // Consumers of stream queues are left out below.
            StreamSettings::Rabbitmq { exchange_type, queue_type } => (
                Some(exchange_type.as_str()),
                Some(*queue_type).filter(|q| *q != QueueType::Stream).map(QueueType::as_str),
            ),
            _ => (None, None),
        };
        let partition_key = match &stream.settings {
            StreamSettings::Kafka { partition_key: PartitionKey::Field(field), .. } => Some(field.as_str()),
            StreamSettings::Kafka { partition_key: PartitionKey::Header(header), .. } => {
                unexpressed.push(Unexpressed::new(
                    stream.span,
                    format!("topic `{}`'s partition key header `{}`", topic.name.value, header.as_str()),
                    "its events are produced without a key",
                    "the runtime keys Kafka records by an event field: give `partition-key` a field",
                ));
                None
            }
            _ => None,
        };
        kept.insert(topic_id);
        topics.push(TopicEntry {
            broker: &events.broker(stream.broker).name.value,
            exchange_type,
            name: &topic.name.value,
            partition_key,
            queue_type,
            partitions: match &stream.settings {
                StreamSettings::Kafka { partitions, .. } => Some(partitions.get()),
                _ => None,
            },
            // RabbitMQ: the quorum group size; Kafka: the replication factor.
            replicas: match &stream.settings {
                StreamSettings::Rabbitmq { queue_type: QueueType::Quorum, .. } | StreamSettings::Kafka { .. } => {
                    Some(stream.replicas.get())
                }
                _ => None,
            },
            stream: &stream.name.value,
            subjects: stream.subjects.iter().map(|s| s.value.as_str()).collect(),
            versions,
        });
    }

    let mut producers = Vec::new();
    for producer in &events.producers {
        if !kept.contains(&producer.topic.value) {
            continue;
        }
        let topic = model.topic(producer.topic.value);
        let subject = match &producer.subject {
            Some(subject) => Some(subject.value.as_str()),
            None => first_literal_subject(model, producer.topic.value),
        };
        let Some(subject) = subject else {
            unexpressed.push(Unexpressed::new(
                producer.span,
                format!("`publishes \"{}\"` without a subject", topic.name.value),
                "left out of runtime/event-bus.json",
                "its stream has no subject without wildcards to default to; give `subject=`",
            ));
            continue;
        };
        producers.push(ProducerEntry {
            service: &model.service(producer.service).name.value,
            subject,
            topic: &topic.name.value,
            version: producer.version,
        });
    }

    let mut consumers = Vec::new();
    for consumer in &events.consumers {
        if kept.contains(&consumer.topic.value) {
            if let Some(entry) = consumer_entry(model, consumer, &kept, unexpressed) {
                consumers.push(entry);
            }
        }
    }

    let Some(first) = kept.first() else { return Vec::new() };
    let origin = model.topic(*first).name.span;
    let file = EventBusFile { brokers, consumers, producers, topics };
    vec![Artifact { path: "runtime/event-bus.json".into(), contents: crate::emit::pretty_json(&file), origin }]
}

fn broker_entry(broker: &Broker) -> BrokerEntry<'_> {
    let addresses = broker
        .addresses
        .iter()
        .map(|a| {
            let host = a.value.host.as_str();
            let port = a.value.port.get();
            if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            }
        })
        .collect();
    let mechanism = broker.sasl.as_ref().map(|m| m.value.as_str());
    let credentials = broker.credentials.as_ref().map(|c| match c {
        Credentials::Env(var) => CredentialsEntry { env: Some(&var.value), file: None, mechanism },
        Credentials::File(path) => CredentialsEntry { env: None, file: Some(path.value.to_string_lossy()), mechanism },
    });
    let tls = broker.tls.as_ref().map(|t| TlsEntry { ca: t.ca.as_ref().map(|ca| ca.value.to_string_lossy()) });
    BrokerEntry {
        addresses,
        credentials,
        kind: broker.kind.as_str(),
        name: &broker.name.value,
        tls,
        vhost: broker.vhost.as_ref().map(|v| v.value.as_str()),
    }
}

/// The first subject of the topic's stream without wildcards: where its
/// producers publish and its dead letters go unless they say otherwise.
fn first_literal_subject(model: &Model, topic: TopicId) -> Option<&str> {
    let stream = model.events.stream(model.topic(topic).stream?);
    if stream.subjects.is_empty() && model.events.broker(stream.broker).kind == BrokerKind::Kafka {
        return Some(&stream.name.value);
    }
    stream.subjects.iter().map(|s| s.value.as_str()).find(|s| !s.split('.').any(|t| matches!(t, "*" | ">" | "#")))
}

fn millis(duration: crate::model::values::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn consumer_entry<'a>(
    model: &'a Model,
    consumer: &'a Consumer,
    kept: &BTreeSet<TopicId>,
    unexpressed: &mut Vec<Unexpressed>,
) -> Option<ConsumerEntry<'a>> {
    let topic = model.topic(consumer.topic.value);
    let service = &model.service(consumer.service).name.value;
    let stream = model.events.stream(topic.stream?);
    let mut left_out = |setting: String, help: &str| {
        unexpressed.push(Unexpressed::new(consumer.span, setting, "left out of runtime/event-bus.json", help));
    };
    if let StreamSettings::Rabbitmq { queue_type: QueueType::Stream, .. } = stream.settings {
        left_out(
            format!("`subscribes \"{}\"` on a stream queue", topic.name.value),
            "the runtime's EventBus consumes classic and quorum queues",
        );
        return None;
    }
    let filters = consumer
        .filters
        .iter()
        .map(|f| match f {
            Filter::Subject(pattern) => FilterEntry::Subject { subject: &pattern.value },
            Filter::Header { name, equals, .. } => FilterEntry::Header { equals, header: name.as_str() },
        })
        .collect();
    let mut entry = ConsumerEntry {
        ack_wait_ms: None,
        backoff: None,
        dead_letter: None,
        delivery: "at-most-once",
        filters,
        group: consumer.group().map(|g| g.value.as_str()),
        max_deliveries: None,
        max_in_flight: consumer.max_in_flight.map(|n| n.get()),
        service,
        topic: &topic.name.value,
        version: consumer.version,
    };
    let Delivery::AtLeastOnce(redelivery) = &consumer.delivery else { return Some(entry) };
    if redelivery.ack == AckPolicy::All {
        left_out(
            format!("`ack=\"all\"` of `subscribes \"{}\"`", topic.name.value),
            "the runtime acknowledges each event on its own (ack=\"explicit\")",
        );
        return None;
    }
    entry.delivery = "at-least-once";
    entry.ack_wait_ms = Some(millis(redelivery.ack_wait));
    entry.backoff = match redelivery.backoff {
        Backoff::None => None,
        Backoff::Fixed(delay) => Some(BackoffEntry::Fixed { fixed_ms: millis(delay) }),
        Backoff::Exponential(e) => {
            Some(BackoffEntry::Exponential { initial_ms: millis(e.initial()), max_ms: millis(e.max()) })
        }
    };
    if let MaxDeliveries::AtMost { deliveries, then } = &redelivery.attempts {
        entry.max_deliveries = Some(deliveries.get());
        entry.dead_letter = Some(match then {
            DeadLetter::Drop { .. } => DeadLetterEntry::Drop { drop: true },
            DeadLetter::Topic(dlq) => {
                let subject = first_literal_subject(model, dlq.value);
                match (kept.contains(&dlq.value), subject) {
                    (true, Some(subject)) => {
                        DeadLetterEntry::Topic { subject, topic: &model.topic(dlq.value).name.value }
                    }
                    _ => {
                        left_out(
                            format!("the dead letter of `subscribes \"{}\"`", topic.name.value),
                            "its dead-letter topic is not in the runtime's config, or its stream has no subject without wildcards",
                        );
                        return None;
                    }
                }
            }
        });
    }
    Some(entry)
}
