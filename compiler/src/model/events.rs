//! The events model: brokers, the streams they keep, and the services that
//! produce and consume a topic's events, in terms every broker shares (NATS
//! JetStream, RabbitMQ, Kafka). Settings that exclude each other are enum
//! variants and a broker's own settings live in its variant of
//! [`StreamSettings`], so a backend cannot meet a stream with two
//! retentions, a Kafka partition count on a NATS stream, or a dead letter
//! on unbounded redelivery. Values with a range have validated constructors.

use std::fmt;
use std::num::{NonZeroU32, NonZeroU64};
use std::path::PathBuf;

use super::monitoring::Alert;
use super::values::{keyword_enum, Duration, HeaderName, Port};
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

/// Every broker, stream, producer and consumer of the mesh.
#[derive(Debug, Default)]
pub struct Events {
    pub brokers: Vec<Broker>,
    pub streams: Vec<Stream>,
    /// In the order of their services, then of their `publishes` nodes.
    pub producers: Vec<Producer>,
    /// In the order of their services, then of their `subscribes` nodes.
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

    /// The brokers of one kind (a backend's), in declaration order.
    pub fn brokers_of(&self, kind: BrokerKind) -> impl Iterator<Item = (BrokerId, &Broker)> {
        self.broker_ids().map(|id| (id, self.broker(id))).filter(move |(_, b)| b.kind == kind)
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

keyword_enum!(
    /// How a Kafka broker's `user:password` credentials authenticate (SASL).
    SaslMechanism { Plain = "plain", ScramSha256 = "scram-sha-256", ScramSha512 = "scram-sha-512" }
);

/// A message broker the mesh's services publish to and consume from.
#[derive(Debug)]
pub struct Broker {
    pub name: Spanned<String>,
    pub kind: BrokerKind,
    /// Its seed addresses, at least one.
    pub addresses: Vec<Spanned<Endpoint>>,
    /// Where clients find their credentials; never the secret itself.
    pub credentials: Option<Credentials>,
    /// Kafka: the SASL mechanism of its credentials (lowering requires it
    /// with Kafka credentials and refuses it on other kinds).
    pub sasl: Option<Spanned<SaslMechanism>>,
    /// TLS to the broker; `None`: plaintext.
    pub tls: Option<BrokerTls>,
    /// RabbitMQ's virtual host (lowering refuses it on other kinds); `/` when unset.
    pub vhost: Option<Spanned<String>>,
    /// Where Prometheus scrapes its metrics (`metrics HOST port=N`); `None`:
    /// [`Broker::metrics_endpoint`]'s default.
    pub metrics: Option<Spanned<Endpoint>>,
    pub span: Span,
}

impl Broker {
    /// The RabbitMQ virtual host its exchanges and queues live in.
    pub fn vhost(&self) -> &str {
        self.vhost.as_ref().map_or("/", |v| v.value.as_str())
    }

    /// Where its metrics are scraped: the `metrics` node, else its first
    /// address's host at the exporter's default port (`None` without an
    /// address, which lowering refuses).
    pub fn metrics_endpoint(&self) -> Option<Endpoint> {
        match &self.metrics {
            Some(metrics) => Some(metrics.value.clone()),
            None => self
                .addresses
                .first()
                .map(|a| Endpoint { host: a.value.host.clone(), port: self.kind.exporter().default_port }),
        }
    }
}

/// What serves a broker kind's metrics to Prometheus, and the series that
/// count a consumer's lag there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exporter {
    /// For messages and docs: `the rabbitmq_prometheus plugin`.
    pub name: &'static str,
    pub default_port: Port,
    /// The gauges whose sum is a consumer's lag, in the exporter's names.
    pub lag_metrics: &'static [&'static str],
}

impl BrokerKind {
    /// RabbitMQ's built-in `rabbitmq_prometheus` plugin (its detailed
    /// endpoint, per queue: ready + unacknowledged); NATS' separate
    /// prometheus-nats-exporter run with `-jsz=consumers` (per JetStream
    /// consumer: not yet delivered + unacknowledged); Kafka's separate
    /// kafka_exporter (per consumer group, topic and partition).
    pub fn exporter(self) -> Exporter {
        // Constants: the ports are checked when meshc is compiled.
        const RABBITMQ: Exporter = Exporter {
            name: "the rabbitmq_prometheus plugin",
            default_port: Port::from_const(15692),
            lag_metrics: &["rabbitmq_detailed_queue_messages_ready", "rabbitmq_detailed_queue_messages_unacked"],
        };
        const NATS: Exporter = Exporter {
            name: "prometheus-nats-exporter -jsz=consumers",
            default_port: Port::from_const(7777),
            lag_metrics: &["jetstream_consumer_num_pending", "jetstream_consumer_num_ack_pending"],
        };
        const KAFKA: Exporter = Exporter {
            name: "kafka_exporter",
            default_port: Port::from_const(9308),
            lag_metrics: &["kafka_consumergroup_lag"],
        };
        match self {
            BrokerKind::Rabbitmq => RABBITMQ,
            BrokerKind::Nats => NATS,
            BrokerKind::Kafka => KAFKA,
        }
    }
}

/// A reference to a secret clients read at connect time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credentials {
    /// An environment variable's name.
    Env(Spanned<String>),
    /// A file's path (a NATS `.creds` file, a `user:password` file, a token).
    File(Spanned<PathBuf>),
}

/// TLS towards a broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerTls {
    /// The CA bundle that verifies the broker; `None`: the system's roots.
    pub ca: Option<Spanned<PathBuf>>,
    pub span: Span,
}

/// Where a topic's events are kept on a broker: a JetStream stream, a
/// RabbitMQ exchange with a queue per consumer group, a Kafka topic.
#[derive(Debug)]
pub struct Stream {
    /// The topic's name: streams, exchanges and Kafka topics are named after it.
    pub name: Spanned<String>,
    pub broker: BrokerId,
    /// The topic (and so the event schema) whose events it keeps.
    pub topic: TopicId,
    /// NATS subjects or RabbitMQ routing keys its events are published
    /// under (wildcards allowed); never empty for NATS and RabbitMQ, empty
    /// for Kafka.
    pub subjects: Vec<Spanned<String>>,
    pub limits: StreamLimits,
    /// What happens to a publish once a limit is reached.
    pub discard: Discard,
    pub replicas: Replicas,
    /// What only its broker's kind has.
    pub settings: StreamSettings,
    pub span: Span,
}

impl Stream {
    /// The RabbitMQ queue a consumer group reads this stream's events from.
    pub fn queue(&self, group: &str) -> String {
        format!("{}.{group}", self.name.value)
    }
}

/// The settings of one broker kind; the variant always matches the broker's kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamSettings {
    Nats {
        retention: Retention,
        storage: Storage,
        /// Publishes with an event id seen within this window are dropped as
        /// duplicates; `None`: the server's default (2 minutes).
        duplicate_window: Option<Duration>,
    },
    Rabbitmq {
        exchange_type: ExchangeType,
        queue_type: QueueType,
    },
    Kafka {
        partitions: Partitions,
        /// Which events go to the same partition (kept in order).
        partition_key: PartitionKey,
        /// Writes need this many in-sync replicas; `None`: the broker's default.
        min_insync_replicas: Option<Replicas>,
        cleanup: CleanupPolicy,
    },
}

keyword_enum!(
    /// Which earlier versions of a topic's schema a new version must stay
    /// compatible with, as schema registries name the levels. `backward`:
    /// the new version reads events written with the previous one;
    /// `forward`: the previous version reads the new version's events;
    /// `full`: both; `-transitive`: against every earlier version, not just
    /// the previous one; `none`: no rule.
    Compatibility {
        None = "none", Backward = "backward", BackwardTransitive = "backward-transitive", Forward = "forward",
        ForwardTransitive = "forward-transitive", Full = "full", FullTransitive = "full-transitive",
    }
);

impl Compatibility {
    /// The level as the Confluent schema registry's REST API spells it.
    pub fn registry_name(self) -> &'static str {
        match self {
            Compatibility::None => "NONE",
            Compatibility::Backward => "BACKWARD",
            Compatibility::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Compatibility::Forward => "FORWARD",
            Compatibility::ForwardTransitive => "FORWARD_TRANSITIVE",
            Compatibility::Full => "FULL",
            Compatibility::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    /// Whether a new version must read what earlier versions wrote.
    pub fn backward(self) -> bool {
        matches!(self, Self::Backward | Self::BackwardTransitive | Self::Full | Self::FullTransitive)
    }

    /// Whether earlier versions must read what a new version writes.
    pub fn forward(self) -> bool {
        matches!(self, Self::Forward | Self::ForwardTransitive | Self::Full | Self::FullTransitive)
    }

    /// Whether the rule holds against every earlier version, not just the previous one.
    pub fn transitive(self) -> bool {
        matches!(self, Self::BackwardTransitive | Self::ForwardTransitive | Self::FullTransitive)
    }
}

keyword_enum!(
    /// How a topic's schema-registry subject is named (Confluent's subject
    /// name strategies): `topic`: `<topic>-value`; `record`: the record's
    /// full name; `topic-record`: `<topic>-<record full name>`.
    SubjectNaming { Topic = "topic", Record = "record", TopicRecord = "topic-record" }
);

keyword_enum!(
    /// How a RabbitMQ exchange routes: by routing-key pattern, exact key, to all, or by headers.
    ExchangeType { Topic = "topic", Direct = "direct", Fanout = "fanout", Headers = "headers" }
);

keyword_enum!(
    /// The kind of the RabbitMQ queues consumer groups read from.
    QueueType { Classic = "classic", Quorum = "quorum", Stream = "stream" }
);

keyword_enum!(
    /// What Kafka does with old records: delete them, keep the last per key, or both.
    CleanupPolicy { Delete = "delete", Compact = "compact", CompactDelete = "compact,delete" }
);

keyword_enum!(
    /// When a stream lets an event go: one rule per stream. `limits`: kept
    /// until a [`StreamLimits`] limit removes it, however often read;
    /// `interest`: kept while some consumer has yet to acknowledge it;
    /// `work-queue`: removed once one consumer acknowledged it.
    Retention { Limits = "limits", Interest = "interest", WorkQueue = "work-queue" }
);

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

keyword_enum!(
    /// A full stream's choice: drop its oldest events or refuse new ones.
    Discard { Old = "old", New = "new" }
);

keyword_enum!(
    /// Where a broker keeps a stream's events.
    Storage { File = "file", Memory = "memory" }
);

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

/// A service publishing a topic's events.
#[derive(Debug)]
pub struct Producer {
    pub service: ServiceId,
    /// The `publishes` node's argument.
    pub topic: Spanned<TopicId>,
    /// The schema version it writes (a [`super::SchemaVersion::number`] of the topic).
    pub version: u32,
    /// The NATS subject or RabbitMQ routing key it publishes under; `None`:
    /// the stream's first subject (or no stream).
    pub subject: Option<Spanned<String>>,
    pub span: Span,
}

/// A service reading a topic's events.
#[derive(Debug)]
pub struct Consumer {
    pub service: ServiceId,
    /// The `subscribes` node's argument.
    pub topic: Spanned<TopicId>,
    /// The schema version it reads with (its reader schema).
    pub version: u32,
    pub durability: Durability,
    pub delivery: Delivery,
    /// It receives only the events that match every filter (none: all).
    pub filters: Vec<Filter>,
    /// How many unacknowledged events it holds at once; `None`: the broker's default.
    pub max_in_flight: Option<NonZeroU32>,
    /// How long handling one event may take, as the service declares it.
    pub processing_time: Option<Spanned<Duration>>,
    /// Its `consumer-lag` alerts.
    pub alerts: Vec<Alert>,
    pub span: Span,
}

impl Consumer {
    /// Its subject filters (patterns), in declaration order.
    pub fn subject_filters(&self) -> impl Iterator<Item = &Spanned<String>> {
        self.filters.iter().filter_map(|f| match f {
            Filter::Subject(s) => Some(s),
            Filter::Header { .. } => None,
        })
    }

    /// Its consumer group's name, when durable.
    pub fn group(&self) -> Option<&Spanned<String>> {
        match &self.durability {
            Durability::Durable(name) => Some(name),
            Durability::Ephemeral => None,
        }
    }
}

/// What a consumer's events must match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filter {
    /// A NATS subject or RabbitMQ routing-key pattern (`*` one token; `>`
    /// in NATS, `#` in RabbitMQ: the rest).
    Subject(Spanned<String>),
    /// A header with exactly this value.
    Header { name: HeaderName, equals: String, span: Span },
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
    /// The topic failed events go to (with where the consumer names it), when there is one.
    pub fn dead_letter_topic(&self) -> Option<&Spanned<TopicId>> {
        match self {
            Delivery::AtLeastOnce(Redelivery {
                attempts: MaxDeliveries::AtMost { then: DeadLetter::Topic(topic), .. },
                ..
            }) => Some(topic),
            _ => None,
        }
    }

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
    /// Published to another topic, for inspection and replay; the span of
    /// the `dead-letter` argument naming it.
    Topic(Spanned<TopicId>),
    /// Dropped (and counted); the span of the `dead-letter drop=#true`
    /// that says so, `None` when the spec bounds deliveries and names no
    /// dead letter.
    Drop { declared: Option<Span> },
}

/// Subjects and their patterns, one syntax for NATS subjects and RabbitMQ
/// routing keys: tokens separated by `.`; in a pattern `*` stands for one
/// token and a last `>` for one or more (RabbitMQ's backend writes `*.#`).
pub struct Subject;

impl Subject {
    /// Longest subject: RabbitMQ's routing-key limit.
    pub const MAX_LEN: usize = 255;

    /// Checks a subject pattern (wildcards allowed).
    pub fn parse_pattern(text: &str) -> Result<&str, String> {
        if text.is_empty() || text.len() > Subject::MAX_LEN {
            return Err(format!("a subject has 1 to {} characters", Subject::MAX_LEN));
        }
        let tokens: Vec<&str> = text.split('.').collect();
        for (i, token) in tokens.iter().enumerate() {
            let bad = |c: char| c.is_ascii_whitespace() || c.is_ascii_control() || !c.is_ascii() || "*>#".contains(c);
            match *token {
                "" => {
                    return Err(format!(
                        "`{}` has an empty token: tokens are separated by single dots",
                        text.escape_debug()
                    ))
                }
                "*" => {}
                ">" if i + 1 == tokens.len() => {}
                ">" => return Err(format!("`{text}`: `>` (the rest) may only be the last token")),
                t if t.contains(bad) => {
                    return Err(format!(
                        "`{}` is not a subject: tokens are printable ASCII without spaces, and `*`, `>` stand alone",
                        text.escape_debug()
                    ))
                }
                _ => {}
            }
        }
        Ok(text)
    }

    /// Refuses a pattern: what a producer publishes under is one subject.
    pub fn literal(text: &str) -> Result<&str, String> {
        if text.split('.').any(|t| t == "*" || t == ">") {
            return Err(format!("`{text}` has a wildcard; a producer publishes under one subject"));
        }
        Ok(text)
    }

    /// Whether the subject `subject` matches `pattern`.
    pub fn matches(pattern: &str, subject: &str) -> bool {
        Subject::overlap(pattern, subject)
    }

    /// Whether some subject matches both patterns.
    pub fn overlap(a: &str, b: &str) -> bool {
        let (mut a, mut b) = (a.split('.'), b.split('.'));
        loop {
            match (a.next(), b.next()) {
                (None, None) => return true,
                // `>` takes one or more tokens: the other needs one here.
                (Some(">"), Some(_)) | (Some(_), Some(">")) => return true,
                (Some(x), Some(y)) if x == y || x == "*" || y == "*" => {}
                _ => return false,
            }
        }
    }
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
        let drop = DeadLetter::Drop { declared: None };
        let bounded = MaxDeliveries::at_most(5, drop.clone()).unwrap();
        assert_eq!(bounded.dead_letter(), Some(&drop));
        assert!(MaxDeliveries::at_most(0, drop).is_err());
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
    fn subjects_are_tokens_with_whole_token_wildcards() {
        for ok in ["orders", "shop.orders.placed", "shop.*.placed", "shop.>", "a_b-c.D1"] {
            assert_eq!(Subject::parse_pattern(ok), Ok(ok));
        }
        for bad in ["", "shop..orders", ".shop", "shop.", "shop.>.x", "sh op", "shop.or*", "a.#", "é"] {
            assert!(Subject::parse_pattern(bad).is_err(), "{bad}");
        }
        assert!(Subject::literal("shop.*").is_err());
        assert!(Subject::literal("shop.eu").is_ok());
    }

    #[test]
    fn patterns_overlap_when_some_subject_matches_both() {
        let cases = [
            ("shop.orders", "shop.orders", true),
            ("shop.*", "shop.orders", true),
            ("shop.>", "shop.orders.eu", true),
            ("shop.>", "shop", false),
            ("shop.*", "shop.orders.eu", false),
            ("shop.*.eu", "shop.orders.*", true),
            ("shop.*.eu", "shop.orders.us", false),
            ("*.>", "a.b.c", true),
            (">", "a", true),
            ("a.b", "a.b.c", false),
        ];
        for (a, b, expected) in cases {
            assert_eq!(Subject::overlap(a, b), expected, "{a} vs {b}");
            assert_eq!(Subject::overlap(b, a), expected, "{b} vs {a}");
        }
        assert!(Subject::matches("shop.orders.>", "shop.orders.eu.de"));
    }

    #[test]
    fn compatibility_levels_say_which_directions_and_how_far() {
        assert!(Compatibility::FullTransitive.backward() && Compatibility::FullTransitive.forward());
        assert!(Compatibility::Backward.backward() && !Compatibility::Backward.forward());
        assert!(!Compatibility::Forward.transitive() && Compatibility::ForwardTransitive.transitive());
        assert!(!Compatibility::None.backward() && !Compatibility::None.forward());
        assert_eq!(Compatibility::parse("backward-transitive").unwrap().registry_name(), "BACKWARD_TRANSITIVE");
    }

    #[test]
    fn an_empty_events_model_has_no_streams_on_any_broker() {
        let events = Events::default();
        assert_eq!(events.broker_ids().count(), 0);
        assert!(StreamLimits::default().is_unlimited());
    }
}
