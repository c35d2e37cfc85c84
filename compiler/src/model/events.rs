//! The events model the event-bus issue (14) lowers into: brokers, the
//! streams they keep and the consumers that read them, in terms every
//! broker shares (NATS JetStream, RabbitMQ, Kafka). No language, lowering
//! or backend uses it yet; what it fixes now is the shape: settings that
//! exclude each other are enum variants, values with a range have
//! validated constructors, so the backends written later cannot meet a
//! stream with two retentions or a dead letter on unbounded redelivery.

use std::fmt;
use std::num::{NonZeroU32, NonZeroU64};

use super::values::{keyword_enum, Duration, HeaderName};
use super::{Endpoint, ServiceId, TopicId};
use crate::base::{Span, Spanned};

model_id!(
    /// A broker's index in [`Events::brokers`].
    BrokerId
);
model_id!(
    /// A stream's index in [`Events::streams`].
    StreamId
);

/// Every broker, stream and consumer of the mesh; empty until the language
/// declares them.
#[derive(Debug, Default)]
pub struct Events {
    pub brokers: Vec<Broker>,
    pub streams: Vec<Stream>,
    pub consumers: Vec<Consumer>,
}

impl Events {
    pub fn broker(&self, id: BrokerId) -> &Broker {
        &self.brokers[id.index()]
    }

    pub fn stream(&self, id: StreamId) -> &Stream {
        &self.streams[id.index()]
    }

    pub fn broker_ids(&self) -> impl Iterator<Item = BrokerId> {
        (0..self.brokers.len()).map(BrokerId::new)
    }

    pub fn stream_ids(&self) -> impl Iterator<Item = StreamId> {
        (0..self.streams.len()).map(StreamId::new)
    }

    /// The streams kept on `broker`, in declaration order.
    pub fn streams_on(&self, broker: BrokerId) -> impl Iterator<Item = (StreamId, &Stream)> {
        self.stream_ids().map(|id| (id, self.stream(id))).filter(move |(_, s)| s.broker == broker)
    }
}

keyword_enum!(
    /// Which broker software runs a broker, deciding its backend.
    BrokerKind { Nats = "nats", Rabbitmq = "rabbitmq", Kafka = "kafka" }
);

/// A message broker the mesh's services publish to and consume from.
#[derive(Debug)]
pub struct Broker {
    pub name: Spanned<String>,
    pub kind: BrokerKind,
    /// Its seed addresses, at least one.
    pub addresses: Vec<Spanned<Endpoint>>,
    pub span: Span,
}

/// Where a topic's events are kept on a broker: a JetStream stream, a
/// RabbitMQ queue, a Kafka topic.
#[derive(Debug)]
pub struct Stream {
    pub name: Spanned<String>,
    pub broker: BrokerId,
    /// The topic (and so the event schema) whose events it keeps.
    pub topic: TopicId,
    pub retention: Retention,
    pub limits: StreamLimits,
    /// What happens to a publish once a limit is reached.
    pub discard: Discard,
    pub storage: Storage,
    pub replicas: Replicas,
    pub partitions: Partitions,
    /// Which events go to the same partition (kept in order).
    pub partition_key: PartitionKey,
    /// Publishes with an event id seen within this window are dropped as
    /// duplicates; `None`: no deduplication.
    pub duplicate_window: Option<Duration>,
    pub span: Span,
}

/// When a stream lets an event go: one rule per stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retention {
    /// Kept until a [`StreamLimits`] limit removes it, however often read.
    Limits,
    /// Kept while some consumer has yet to acknowledge it.
    Interest,
    /// Removed once one consumer acknowledged it: a work queue, whose
    /// events each go to one consumer.
    WorkQueue,
}

/// How much a stream keeps; `None` on each: unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamLimits {
    pub max_age: Option<Duration>,
    pub max_bytes: Option<ByteSize>,
    pub max_messages: Option<NonZeroU64>,
}

impl StreamLimits {
    /// Whether no limit is set: with [`Retention::Limits`], the stream grows without bound.
    pub fn is_unlimited(&self) -> bool {
        self.max_age.is_none() && self.max_bytes.is_none() && self.max_messages.is_none()
    }
}

/// A full stream's choice: drop its oldest events or refuse new ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Discard {
    Old,
    New,
}

/// Where a broker keeps a stream's events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    File,
    Memory,
}

/// How many brokers of a cluster hold a copy of a stream: 1 to
/// [`Replicas::MAX`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Replicas(u8);

impl Replicas {
    /// JetStream's limit, the lowest of the brokers'.
    pub const MAX: u8 = 5;
    pub const ONE: Replicas = Replicas(1);

    pub fn new(count: i128) -> Result<Replicas, String> {
        match u8::try_from(count) {
            Ok(n @ 1..=Replicas::MAX) => Ok(Replicas(n)),
            _ => Err(format!("{count} replicas: give 1 to {}", Replicas::MAX)),
        }
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

/// How many partitions a stream is split into (Kafka's; one elsewhere): 1
/// to [`Partitions::MAX`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Partitions(NonZeroU32);

impl Partitions {
    /// Far beyond what one topic needs; a typo guard more than a broker limit.
    pub const MAX: u32 = 10_000;
    pub const ONE: Partitions = Partitions(NonZeroU32::MIN);

    pub fn new(count: i128) -> Result<Partitions, String> {
        u32::try_from(count)
            .ok()
            .filter(|n| *n <= Partitions::MAX)
            .and_then(NonZeroU32::new)
            .map(Partitions)
            .ok_or_else(|| format!("{count} partitions: give 1 to {}", Partitions::MAX))
    }

    pub fn get(self) -> u32 {
        self.0.get()
    }
}

/// What decides an event's partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PartitionKey {
    /// Spread evenly; no order across events.
    None,
    /// A field of the event (a dotted path into its schema).
    Field(String),
    /// A header the producer sets.
    Header(HeaderName),
}

/// A size in bytes, non-zero: `512MiB`, `10GB`, `4096`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(NonZeroU64);

impl ByteSize {
    /// Parses a number with an optional unit: `B`, decimal `KB` `MB` `GB`
    /// `TB`, binary `KiB` `MiB` `GiB` `TiB`.
    pub fn parse(text: &str) -> Result<ByteSize, String> {
        let text = text.trim();
        let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let number: u64 = number.parse().map_err(|_| format!("`{text}` is not a size; write e.g. 512MiB"))?;
        let factor: u64 = match unit.trim() {
            "" | "B" => 1,
            "KB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            "TB" => 1_000_000_000_000,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            "TiB" => 1 << 40,
            other => {
                return Err(format!(
                    "`{other}` is not a size unit; the units are B, KB, MB, GB, TB, KiB, MiB, GiB and TiB"
                ))
            }
        };
        let bytes = number.checked_mul(factor).ok_or_else(|| format!("`{text}` is too large"))?;
        NonZeroU64::new(bytes).map(ByteSize).ok_or_else(|| format!("`{text}` is zero; a size must be positive"))
    }

    pub fn bytes(self) -> u64 {
        self.0.get()
    }
}

/// A service reading a stream.
#[derive(Debug)]
pub struct Consumer {
    pub service: Spanned<ServiceId>,
    pub stream: StreamId,
    pub durability: Durability,
    pub delivery: Delivery,
    /// Only events whose subject or routing key matches (`None`: all).
    pub filter: Option<Spanned<String>>,
    pub span: Span,
}

/// Whether the broker remembers a consumer's position while it is away.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Named: its position survives restarts, and the instances sharing
    /// the name share the work (a consumer group, a durable consumer).
    Durable(Spanned<String>),
    /// Gone with its connection; it reads from where it joins.
    Ephemeral,
}

/// How often an event may reach a consumer. Acknowledgements, redelivery
/// and dead letters exist only for at-least-once delivery, so they are
/// fields of that variant alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Sent once, never acknowledged: lost if the consumer fails.
    AtMostOnce,
    /// Redelivered until acknowledged, within its limits.
    AtLeastOnce(Redelivery),
}

/// The broad guarantee of a [`Delivery`], for checks and docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryGuarantee {
    AtMostOnce,
    AtLeastOnce,
}

impl Delivery {
    pub fn guarantee(&self) -> DeliveryGuarantee {
        match self {
            Delivery::AtMostOnce => DeliveryGuarantee::AtMostOnce,
            Delivery::AtLeastOnce(_) => DeliveryGuarantee::AtLeastOnce,
        }
    }
}

/// How an at-least-once consumer acknowledges, and what happens to an
/// event it does not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redelivery {
    pub ack: AckPolicy,
    /// How long the broker waits for an acknowledgement before it redelivers.
    pub ack_wait: Duration,
    pub attempts: MaxDeliveries,
    pub backoff: Backoff,
}

/// What one acknowledgement covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckPolicy {
    /// Each event on its own.
    Explicit,
    /// It and every earlier event (a Kafka offset commit).
    All,
}

/// How many times an event is delivered before the consumer gives up on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MaxDeliveries {
    /// Until acknowledged: a poison event is redelivered for ever.
    Unbounded,
    /// At most this many deliveries, then the event goes to its dead
    /// letter: only a bounded consumer has one.
    AtMost { deliveries: NonZeroU32, then: DeadLetter },
}

impl MaxDeliveries {
    /// `deliveries` counts the first one: 1 means no redelivery.
    pub fn at_most(deliveries: i128, then: DeadLetter) -> Result<MaxDeliveries, String> {
        let deliveries = u32::try_from(deliveries)
            .ok()
            .and_then(NonZeroU32::new)
            .ok_or_else(|| format!("{deliveries} deliveries: give at least 1"))?;
        Ok(MaxDeliveries::AtMost { deliveries, then })
    }

    /// Where events go once delivered too often; `None` when redelivery is unbounded.
    pub fn dead_letter(&self) -> Option<&DeadLetter> {
        match self {
            MaxDeliveries::Unbounded => None,
            MaxDeliveries::AtMost { then, .. } => Some(then),
        }
    }
}

/// Where an event goes that was delivered the most times allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeadLetter {
    /// Kept on another stream, for inspection and replay.
    Stream(StreamId),
    /// Dropped (and counted).
    Drop,
}

/// How long to wait before redelivering.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backoff {
    /// The broker's ack wait alone.
    None,
    Fixed(Duration),
    Exponential(ExponentialBackoff),
}

/// Doubling delays from `initial`, capped at `max` (`initial <= max`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExponentialBackoff {
    initial: Duration,
    max: Duration,
}

impl ExponentialBackoff {
    pub fn new(initial: Duration, max: Duration) -> Result<ExponentialBackoff, String> {
        if initial > max {
            return Err("the initial delay is longer than the maximum; swap them".into());
        }
        Ok(ExponentialBackoff { initial, max })
    }

    pub fn initial(self) -> Duration {
        self.initial
    }

    pub fn max(self) -> Duration {
        self.max
    }

    /// The delay before delivery `n` (the first redelivery is 1).
    pub fn delay(self, n: u32) -> Duration {
        let factor = 1u64.checked_shl(n.saturating_sub(1)).unwrap_or(u64::MAX);
        let millis = u64::try_from(self.initial.as_millis()).unwrap_or(u64::MAX).saturating_mul(factor);
        Duration::from_millis(millis).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn replicas_and_partitions_have_ranges() {
        assert_eq!(Replicas::new(3).unwrap().get(), 3);
        assert!(Replicas::new(0).is_err());
        assert!(Replicas::new(6).is_err());
        assert!(Replicas::new(-1).is_err());
        assert_eq!(Partitions::new(12).unwrap().get(), 12);
        assert!(Partitions::new(0).is_err());
        assert!(Partitions::new(i128::from(Partitions::MAX) + 1).is_err());
        assert_eq!(Partitions::ONE.get(), 1);
    }

    #[test]
    fn byte_sizes_parse_with_decimal_and_binary_units() {
        assert_eq!(ByteSize::parse("4096").unwrap().bytes(), 4096);
        assert_eq!(ByteSize::parse("512MiB").unwrap().bytes(), 512 << 20);
        assert_eq!(ByteSize::parse("10GB").unwrap().bytes(), 10_000_000_000);
        assert!(ByteSize::parse("0MB").unwrap_err().contains("zero"));
        assert!(ByteSize::parse("5 parsecs").unwrap_err().contains("not a size unit"));
        assert!(ByteSize::parse("99999999999TiB").unwrap_err().contains("too large"));
        assert!(ByteSize::parse("MiB").is_err());
    }

    #[test]
    fn only_bounded_redelivery_has_a_dead_letter() {
        assert_eq!(MaxDeliveries::Unbounded.dead_letter(), None);
        let bounded = MaxDeliveries::at_most(5, DeadLetter::Drop).unwrap();
        assert_eq!(bounded.dead_letter(), Some(&DeadLetter::Drop));
        assert!(MaxDeliveries::at_most(0, DeadLetter::Drop).is_err());
    }

    #[test]
    fn at_most_once_delivery_has_no_acknowledgements() {
        assert_eq!(Delivery::AtMostOnce.guarantee(), DeliveryGuarantee::AtMostOnce);
        let redelivery = Redelivery {
            ack: AckPolicy::Explicit,
            ack_wait: ms(30_000),
            attempts: MaxDeliveries::Unbounded,
            backoff: Backoff::None,
        };
        assert_eq!(Delivery::AtLeastOnce(redelivery).guarantee(), DeliveryGuarantee::AtLeastOnce);
    }

    #[test]
    fn exponential_backoff_doubles_up_to_its_cap() {
        assert!(ExponentialBackoff::new(ms(2000), ms(1000)).is_err());
        let backoff = ExponentialBackoff::new(ms(100), ms(1000)).unwrap();
        let delays: Vec<u128> = (1..=6).map(|n| backoff.delay(n).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(backoff.delay(200).as_millis(), 1000);
    }

    #[test]
    fn an_empty_events_model_has_no_streams_on_any_broker() {
        let events = Events::default();
        assert_eq!(events.broker_ids().count(), 0);
        assert!(StreamLimits::default().is_unlimited());
    }
}
