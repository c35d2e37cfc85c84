//! Kafka: per broker of kind `kafka`, the topics to create
//! (`kafka/<broker>/topics.json`: what the Admin API's `CreateTopics` takes
//! per topic, `kafka-topics --create` its flags) and the ACLs the services
//! need (`kafka/<broker>/acls.json`: `CreateAcls` bindings,
//! `kafka-acls --add` its flags).
//!
//! - A topic per stream, named after its topic: `num_partitions` the
//!   stream's partitions, `replication_factor` its replicas, `configs` (as
//!   strings, as Kafka takes them): `cleanup.policy`, `retention.ms` (`-1`,
//!   unlimited, without max-age: Kafka's own default is 7 days),
//!   `retention.bytes` (per partition: max-bytes divided by the
//!   partitions; `-1` unlimited) and `min.insync.replicas` when set.
//! - ACLs for principal `User:<service>`, host `*`, literal names:
//!   producers `WRITE` and `DESCRIBE` the topic; consumers `READ` and
//!   `DESCRIBE` it, `READ` their consumer group when they have one, and
//!   `WRITE` and `DESCRIBE` their dead-letter topic. The meshc runtime
//!   logs in as the user of the credentials its broker references, so each
//!   service's secret there names the service.
//!
//! Kafka keeps no message count and never refuses a write when full, so
//! max-messages and `discard "new"` are reported (MESH0073), as are
//! age and size limits on a compact-only topic. Redelivery, backoff, dead
//! letters and header filters happen in Kafka clients, not the broker: the
//! meshc runtime's Kafka adapter does them (runtime/event-bus.json).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::emit::{consumers_by_topic, producers_by_topic, Artifact, Options, Unexpressed};
use crate::model::events::{BrokerKind, CleanupPolicy, DeadLetter, Delivery, Discard, Stream, StreamSettings};
use crate::model::{Model, TopicId};
use crate::schema::SchemaIndex;

type Str<'a> = Cow<'a, str>;

/// A `CreateTopics` request's topics.
#[derive(Serialize)]
pub struct Topics<'a> {
    pub topics: Vec<NewTopic<'a>>,
}

/// One topic of a `CreateTopics` request (keys in byte order).
#[derive(Serialize)]
pub struct NewTopic<'a> {
    pub configs: BTreeMap<&'static str, String>,
    pub name: Str<'a>,
    pub num_partitions: u32,
    pub replication_factor: u8,
}

/// `CreateAcls` bindings.
#[derive(Serialize)]
pub struct Acls<'a> {
    pub acls: Vec<AclBinding<'a>>,
}

/// An ACL binding, as Kafka's `AclBinding` names its parts (keys in byte order).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct AclBinding<'a> {
    pub host: &'static str,
    pub operation: &'static str,
    pub pattern_type: &'static str,
    pub permission_type: &'static str,
    pub principal: String,
    pub resource_name: Str<'a>,
    pub resource_type: &'static str,
}

pub fn emit(model: &Model, _: &SchemaIndex, _: &Options, unexpressed: &mut Vec<Unexpressed>) -> Vec<Artifact> {
    let events = &model.events;
    let consumers_of = consumers_by_topic(model);
    let producers_of = producers_by_topic(model);
    let mut out = Vec::new();
    for (broker_id, broker) in events.brokers_of(BrokerKind::Kafka) {
        let mut topics = Vec::new();
        let mut acls = BTreeSet::new();
        let mut on_broker = Vec::new();
        for (_, stream) in events.streams_on(broker_id) {
            topics.push(new_topic(stream, unexpressed));
            on_broker.push(stream.topic);
        }
        let topic_name = |id: TopicId| Cow::Borrowed(model.topics[id.index()].name.value.as_str());
        let principal =
            |service: crate::model::ServiceId| format!("User:{}", model.services[service.index()].name.value);
        for producer in on_broker.iter().flat_map(|t| &producers_of[t.index()]) {
            for operation in ["WRITE", "DESCRIBE"] {
                acls.insert(acl(operation, principal(producer.service), "TOPIC", topic_name(producer.topic.value)));
            }
        }
        for &consumer in on_broker.iter().flat_map(|t| &consumers_of[t.index()]) {
            let who = principal(consumer.service);
            for operation in ["READ", "DESCRIBE"] {
                acls.insert(acl(operation, who.clone(), "TOPIC", topic_name(consumer.topic.value)));
            }
            if let Some(group) = consumer.group() {
                acls.insert(acl("READ", who.clone(), "GROUP", Cow::Borrowed(&group.value)));
            }
            if let Delivery::AtLeastOnce(redelivery) = &consumer.delivery {
                if let Some(DeadLetter::Topic(dead)) = redelivery.attempts.dead_letter() {
                    for operation in ["WRITE", "DESCRIBE"] {
                        acls.insert(acl(operation, who.clone(), "TOPIC", topic_name(dead.value)));
                    }
                }
            }
        }
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        let dir = format!("kafka/{}", broker.name.value);
        out.push(Artifact {
            path: format!("{dir}/topics.json"),
            contents: json(&Topics { topics }),
            origin: broker.name.span,
        });
        out.push(Artifact {
            path: format!("{dir}/acls.json"),
            contents: json(&Acls { acls: acls.into_iter().collect() }),
            origin: broker.name.span,
        });
    }
    out
}

fn json(document: &impl Serialize) -> String {
    crate::emit::pretty_json(document)
}

fn acl<'a>(operation: &'static str, principal: String, resource_type: &'static str, name: Str<'a>) -> AclBinding<'a> {
    AclBinding {
        host: "*",
        operation,
        pattern_type: "LITERAL",
        permission_type: "ALLOW",
        principal,
        resource_name: name,
        resource_type,
    }
}

fn new_topic<'a>(stream: &'a Stream, unexpressed: &mut Vec<Unexpressed>) -> NewTopic<'a> {
    let StreamSettings::Kafka { partitions, min_insync_replicas, cleanup, .. } = &stream.settings else {
        unreachable!("a stream on a Kafka broker has Kafka settings")
    };
    let span = stream.span;
    let limits = &stream.limits;
    let mut configs = BTreeMap::from([("cleanup.policy", cleanup.as_str().to_string())]);
    if *cleanup == CleanupPolicy::Compact {
        if limits.max_age.is_some() || limits.max_bytes.is_some() {
            unexpressed.push(Unexpressed::new(
                span,
                "this stream's max-age and max-bytes",
                "a compacted topic keeps each key's last event however old or large",
                "use cleanup-policy \"compact,delete\" to compact and expire",
            ));
        }
    } else {
        let ms = limits.max_age.map_or(-1, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        configs.insert("retention.ms", ms.to_string());
        // Kafka limits each partition's log.
        let bytes = limits
            .max_bytes
            .map_or(-1, |b| i64::try_from((b.bytes() / u64::from(partitions.get())).max(1)).unwrap_or(i64::MAX));
        configs.insert("retention.bytes", bytes.to_string());
    }
    if let Some(min) = min_insync_replicas {
        configs.insert("min.insync.replicas", min.get().to_string());
    }
    if limits.max_messages.is_some() {
        unexpressed.push(Unexpressed::new(
            span,
            "this stream's max-messages",
            "the Kafka topic is built without a message count limit",
            "Kafka limits a topic by age and size: use max-age or max-bytes",
        ));
    }
    if stream.discard == Discard::New {
        unexpressed.push(Unexpressed::new(
            span,
            "this stream's discard \"new\"",
            "the Kafka topic deletes its oldest segments when full",
            "Kafka never refuses writes for size; remove discard \"new\"",
        ));
    }
    NewTopic {
        configs,
        name: Cow::Borrowed(&stream.name.value),
        num_partitions: partitions.get(),
        replication_factor: stream.replicas.get(),
    }
}
