//! NATS JetStream: per broker of kind `nats`, a `StreamConfig` per stream
//! (`nats/<broker>/streams/<topic>.json`) and a `ConsumerConfig` per durable
//! consumer group (`nats/<broker>/consumers/<topic>/<group>.json`), the JSON
//! the JetStream API takes (`$JS.API.STREAM.CREATE.<stream>`, and
//! `$JS.API.CONSUMER.DURABLE.CREATE.<stream>.<group>` inside
//! `{"stream_name", "config"}`) and `nats stream add --config` /
//! `nats consumer add --config` read. Ephemeral consumers get no file: the
//! runtime makes them when it subscribes.
//!
//! Durations are nanoseconds, unset limits are JetStream's "unlimited"
//! (`-1`, `max_age` `0`), so a config says everything the server keeps and
//! reads back the same (`tests/it/nats_streams.rs` holds every key against
//! the server's answer).
//!
//! - A consumer's redelivery backoff becomes JetStream's `backoff` list: the
//!   wait before redelivery `n` is the ack wait plus the spec's delay `n`
//!   (JetStream waits `backoff[n-1]` after delivery `n`, and takes
//!   `backoff[0]` as the ack wait), up to the first delay at the cap, which
//!   JetStream repeats. A list is never longer than the deliveries allowed
//!   less one (JetStream refuses that), so it is at most 64 entries.
//! - Bounded deliveries are `max_deliver` one above the spec's: the extra
//!   delivery reaches the runtime only for an event whose handler hung on
//!   its last one, which it dead-letters without handling.
//! - At-most-once delivery is `max_deliver: 1` with explicit
//!   acknowledgements, which the runtime sends on receipt: JetStream refuses
//!   durable pull consumers that acknowledge nothing.
//! - Dead letters and header filters are the runtime's: JetStream has
//!   neither, so the runtime moves an event that failed its last delivery
//!   to the dead-letter topic and drops events whose headers do not match
//!   (docs/backends/nats.md). Several subject filters need JetStream 2.10
//!   (`filter_subjects`); one is written as `filter_subject`.

use std::borrow::Cow;
use std::collections::HashSet;

use serde::Serialize;

use crate::base::Span;
use crate::emit::{consumers_by_topic, Artifact, Options, Unexpressed};
use crate::model::events::{
    AckPolicy, Backoff, BrokerKind, Consumer, Delivery, Discard, MaxDeliveries, Retention, Storage, Stream,
    StreamSettings,
};
use crate::model::Model;
use crate::schema::SchemaIndex;

type Str<'a> = Cow<'a, str>;

/// `StreamConfig`, the fields meshc sets (keys in byte order).
#[derive(Serialize)]
pub struct StreamConfig<'a> {
    pub discard: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_window: Option<i64>,
    /// Nanoseconds; `0`: unlimited.
    pub max_age: i64,
    /// `-1`: unlimited.
    pub max_bytes: i64,
    /// `-1`: unlimited.
    pub max_msgs: i64,
    pub name: Str<'a>,
    pub num_replicas: u8,
    pub retention: &'static str,
    pub storage: &'static str,
    pub subjects: Vec<Str<'a>>,
}

/// `ConsumerConfig` of a durable pull consumer (keys in byte order).
#[derive(Serialize)]
pub struct ConsumerConfig<'a> {
    pub ack_policy: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ack_wait: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub backoff: Vec<i64>,
    pub deliver_policy: &'static str,
    pub durable_name: Str<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_subject: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub filter_subjects: Vec<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_ack_pending: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_deliver: Option<i64>,
}

pub fn emit(model: &Model, _: &SchemaIndex, _: &Options, unexpressed: &mut Vec<Unexpressed>) -> Vec<Artifact> {
    let events = &model.events;
    let consumers_of = consumers_by_topic(model);
    let mut out = Vec::new();
    for (broker_id, broker) in events.brokers_of(BrokerKind::Nats) {
        let dir = format!("nats/{}", broker.name.value);
        for (_, stream) in events.streams_on(broker_id) {
            let config = stream_config(stream, unexpressed);
            out.push(Artifact {
                path: format!("{dir}/streams/{}.json", stream.name.value),
                contents: json(&config),
                origin: stream.span,
            });
            let topic = &model.topics[stream.topic.index()];
            let mut groups = HashSet::new();
            for consumer in &consumers_of[stream.topic.index()] {
                let Some(group) = consumer.group() else { continue };
                if !groups.insert(group.value.as_str()) {
                    unexpressed.push(Unexpressed::new(
                        consumer.span,
                        "this consumer's filters and redelivery",
                        format!("consumer `{}` of stream `{}` is built from the group's first consumer", group.value, topic.name.value),
                        "one durable consumer serves a group: give the other service a group of its own, or the same settings",
                    ));
                    continue;
                }
                let config = consumer_config(consumer, &group.value, unexpressed);
                out.push(Artifact {
                    path: format!("{dir}/consumers/{}/{}.json", topic.name.value, group.value),
                    contents: json(&config),
                    origin: group.span,
                });
            }
        }
    }
    out
}

fn json(document: &impl Serialize) -> String {
    crate::emit::pretty_json(document)
}

fn stream_config<'a>(stream: &'a Stream, unexpressed: &mut Vec<Unexpressed>) -> StreamConfig<'a> {
    let StreamSettings::Nats { retention, storage, duplicate_window } = &stream.settings else {
        unreachable!("a stream on a NATS broker has NATS settings")
    };
    let limits = &stream.limits;
    let mut too_long = false;
    let config = StreamConfig {
        discard: match stream.discard {
            Discard::Old => "old",
            Discard::New => "new",
        },
        duplicate_window: duplicate_window.map(|d| nanos(d.as_millis(), &mut too_long)),
        max_age: limits.max_age.map_or(0, |d| nanos(d.as_millis(), &mut too_long)),
        max_bytes: limits.max_bytes.map_or(-1, |b| i64::try_from(b.bytes()).unwrap_or(i64::MAX)),
        max_msgs: limits.max_messages.map_or(-1, |n| i64::try_from(n.get()).unwrap_or(i64::MAX)),
        name: Cow::Borrowed(&stream.name.value),
        num_replicas: stream.replicas.get(),
        retention: match retention {
            Retention::Limits => "limits",
            Retention::Interest => "interest",
            Retention::WorkQueue => "workqueue",
        },
        storage: match storage {
            Storage::File => "file",
            Storage::Memory => "memory",
        },
        subjects: stream.subjects.iter().map(|s| Cow::Borrowed(s.value.as_str())).collect(),
    };
    if too_long {
        unexpressed.push(too_long_for_jetstream(stream.span, "this max-age or duplicate window"));
    }
    config
}

fn consumer_config<'a>(
    consumer: &'a Consumer,
    group: &'a str,
    unexpressed: &mut Vec<Unexpressed>,
) -> ConsumerConfig<'a> {
    let subjects: Vec<&'a str> = consumer.subject_filters().map(|s| s.value.as_str()).collect();
    let (filter_subject, filter_subjects) = match subjects.as_slice() {
        [] => (None, Vec::new()),
        [one] => (Some(Cow::Borrowed(*one)), Vec::new()),
        many => (None, many.iter().map(|s| Cow::Borrowed(*s)).collect()),
    };
    let max_in_flight = consumer.max_in_flight.map(|n| i64::from(n.get()));
    let mut config = ConsumerConfig {
        ack_policy: "explicit",
        ack_wait: None,
        backoff: Vec::new(),
        deliver_policy: "all",
        durable_name: Cow::Borrowed(group),
        filter_subject,
        filter_subjects,
        max_ack_pending: max_in_flight,
        max_deliver: None,
    };
    let Delivery::AtLeastOnce(redelivery) = &consumer.delivery else {
        // At most once: delivered once, never again. JetStream refuses a
        // durable pull consumer without acknowledgements, so the runtime
        // acknowledges each event as it receives it.
        config.max_deliver = Some(1);
        return config;
    };
    config.ack_policy = match redelivery.ack {
        AckPolicy::Explicit => "explicit",
        AckPolicy::All => "all",
    };
    let deliveries = match &redelivery.attempts {
        MaxDeliveries::Unbounded => None,
        MaxDeliveries::AtMost { deliveries, .. } => Some(deliveries.get()),
    };
    // One delivery more than the spec allows: an event whose handler hung
    // on its last delivery comes back once more, and the runtime then
    // dead-letters it unhandled (JetStream alone would stop delivering it).
    config.max_deliver = Some(deliveries.map_or(-1, |d| i64::from(d) + 1));
    // JetStream refuses as many backoff entries as deliveries, or more.
    let room = deliveries.map_or(MAX_BACKOFF_STEPS, |d| d.saturating_sub(1).min(MAX_BACKOFF_STEPS));
    let ack_wait = redelivery.ack_wait.as_millis();
    let waits: Vec<u128> = match &redelivery.backoff {
        Backoff::None => Vec::new(),
        Backoff::Fixed(delay) if room > 0 => vec![ack_wait + delay.as_millis()],
        Backoff::Fixed(_) => Vec::new(),
        Backoff::Exponential(exponential) => {
            let mut waits = Vec::new();
            for n in 1..=room {
                let delay = exponential.delay(n);
                waits.push(ack_wait + delay.as_millis());
                if delay >= exponential.max() {
                    break;
                }
            }
            waits
        }
    };
    let mut too_long = false;
    config.backoff = waits.iter().map(|ms| nanos(*ms, &mut too_long)).collect();
    // JetStream takes the first backoff as the ack wait; say so.
    config.ack_wait = Some(config.backoff.first().copied().unwrap_or_else(|| nanos(ack_wait, &mut too_long)));
    if too_long {
        unexpressed.push(too_long_for_jetstream(consumer.span, "this ack wait and backoff"));
    }
    config
}

/// Doubling from 1 ms reaches the longest duration in under 64 steps.
const MAX_BACKOFF_STEPS: u32 = 64;

/// Milliseconds as JetStream's nanoseconds; beyond its limit (an `i64`
/// of nanoseconds, about 292 years) the limit, noting that it was cut.
fn nanos(millis: u128, cut: &mut bool) -> i64 {
    i64::try_from(millis.saturating_mul(1_000_000)).unwrap_or_else(|_| {
        *cut = true;
        i64::MAX
    })
}

fn too_long_for_jetstream(span: Span, what: &str) -> Unexpressed {
    Unexpressed::new(
        span,
        what,
        "written as JetStream's longest duration, about 292 years",
        "JetStream durations are 64-bit nanoseconds: give at most 2562047h",
    )
}
