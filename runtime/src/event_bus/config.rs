//! `event-bus.json`: the file types (`#[serde(deny_unknown_fields)]`, read
//! through `crate::config::from_json`) and the checked config the bus runs
//! on. See `docs/runtime.md` ("Event bus") for the format.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::schema::EventSchema;
use super::subject;

/// The most partitions a Kafka topic may declare (the compiler's limit).
pub(crate) const MAX_PARTITIONS: u32 = 10_000;
/// The longest `ack_wait_ms`, backoff delay or similar accepted: one day.
const MAX_DELAY_MS: u64 = 86_400_000;
/// `ack_wait_ms` when a consumer names none (the language's default).
const DEFAULT_ACK_WAIT_MS: u64 = 30_000;
/// `max_in_flight` when a consumer names none.
const DEFAULT_MAX_IN_FLIGHT: u32 = 100;
/// The largest `max_in_flight` accepted.
const MAX_IN_FLIGHT: u32 = 10_000;
/// Kafka: a group member's session timeout when a consumer names none.
pub(crate) const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(10);
/// Kafka: the session timeouts accepted (brokers have their own bounds,
/// by default 6 s to 30 min).
const SESSION_TIMEOUT_MS: std::ops::RangeInclusive<u64> = 1_000..=1_800_000;

// ---------------------------------------------------------------------------
// The file as written.

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object with `brokers`, `topics`, `producers` and `consumers`")]
struct ConfigFile {
    brokers: Vec<BrokerFile>,
    topics: Vec<TopicFile>,
    #[serde(default)]
    producers: Vec<ProducerFile>,
    #[serde(default)]
    consumers: Vec<ConsumerFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BrokerFile {
    name: String,
    kind: String,
    addresses: Vec<String>,
    credentials: Option<CredentialsFile>,
    tls: Option<TlsFile>,
    vhost: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object with `env` or `file` (and for Kafka `mechanism`)")]
struct CredentialsFile {
    env: Option<String>,
    file: Option<PathBuf>,
    /// Kafka: the SASL mechanism.
    mechanism: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object with `ca`")]
struct TlsFile {
    ca: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicFile {
    name: String,
    broker: String,
    /// The JetStream stream or RabbitMQ exchange; default: the topic's name.
    stream: Option<String>,
    subjects: Vec<String>,
    exchange_type: Option<String>,
    queue_type: Option<String>,
    /// RabbitMQ quorum queues' initial group size; Kafka: the replication factor.
    replicas: Option<u8>,
    /// Kafka: the event field whose value is the record key.
    partition_key: Option<String>,
    /// Kafka: the partitions of a topic the runtime creates.
    partitions: Option<u32>,
    versions: Vec<VersionFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VersionFile {
    version: u32,
    format: String,
    /// The Avro or JSON Schema text.
    schema: Option<String>,
    /// Protobuf: the message's full name.
    message: Option<String>,
    /// Protobuf: a base64 `FileDescriptorSet` holding the message's file and its imports.
    descriptor_set: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProducerFile {
    service: String,
    topic: String,
    version: u32,
    subject: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsumerFile {
    service: String,
    topic: String,
    version: u32,
    group: Option<String>,
    #[serde(default)]
    filters: Vec<FilterFile>,
    delivery: String,
    ack_wait_ms: Option<u64>,
    max_deliveries: Option<u32>,
    backoff: Option<BackoffFile>,
    dead_letter: Option<DeadLetterFile>,
    max_in_flight: Option<u32>,
    /// Kafka groups: how long the coordinator waits for a member's heartbeat.
    session_timeout_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object with `subject`, or `header` and `equals`")]
struct FilterFile {
    subject: Option<String>,
    header: Option<String>,
    equals: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object with `fixed_ms`, or `initial_ms` and `max_ms`")]
struct BackoffFile {
    fixed_ms: Option<u64>,
    initial_ms: Option<u64>,
    max_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object with `topic` and `subject`, or `drop: true`")]
struct DeadLetterFile {
    topic: Option<String>,
    subject: Option<String>,
    drop: Option<bool>,
}

// ---------------------------------------------------------------------------
// The checked config.

/// A checked `event-bus.json`: every broker, topic (with its compiled event
/// schemas), producer and consumer, cross-references resolved. Built by
/// [`EventBusConfig::from_json`]; [`super::EventBus::connect`] runs it.
pub struct EventBusConfig {
    pub(crate) brokers: Vec<BrokerConfig>,
    pub(crate) topics: Vec<TopicConfig>,
    pub(crate) producers: Vec<ProducerConfig>,
    pub(crate) consumers: Vec<ConsumerConfig>,
}

impl std::fmt::Debug for EventBusConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBusConfig")
            .field("brokers", &self.brokers.iter().map(|b| b.name.as_str()).collect::<Vec<_>>())
            .field("topics", &self.topics.iter().map(|t| t.name.as_str()).collect::<Vec<_>>())
            .field("producers", &self.producers.len())
            .field("consumers", &self.consumers.len())
            .finish()
    }
}

/// Which broker software a broker runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BrokerKind {
    Nats,
    Rabbitmq,
    Kafka,
}

#[derive(Clone, Debug)]
pub(crate) struct BrokerConfig {
    pub name: String,
    pub kind: BrokerKind,
    /// `host:port`, at least one.
    pub addresses: Vec<String>,
    pub credentials: Option<Credentials>,
    /// Kafka: how the credentials authenticate (always set with them).
    pub sasl: Option<SaslMechanism>,
    /// TLS to the broker; `None`: plain TCP.
    pub tls: Option<Tls>,
    /// RabbitMQ's virtual host (`/` unless named).
    pub vhost: String,
}

/// TLS to a broker: the CA that signed its certificate, or the system's roots.
#[derive(Clone, Debug)]
pub(crate) struct Tls {
    pub ca: Option<PathBuf>,
}

/// Where a broker's credentials are read at connect time: never in the
/// config itself, never logged.
#[derive(Clone, Debug)]
pub(crate) enum Credentials {
    Env(String),
    File(PathBuf),
}

impl Credentials {
    /// Where they are (`credentials file /run/x`), for error messages.
    pub fn source(&self) -> String {
        match self {
            Credentials::Env(var) => format!("credentials variable {var}"),
            Credentials::File(path) => format!("credentials file {}", path.display()),
        }
    }
}

/// The SASL mechanism a Kafka broker's `user:password` credentials use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SaslMechanism {
    Plain,
    ScramSha256,
    ScramSha512,
}

impl SaslMechanism {
    /// `plain`, `scram-sha-256` or `scram-sha-512`, as the spec writes it.
    fn parse(text: &str) -> Option<SaslMechanism> {
        match text {
            "plain" => Some(SaslMechanism::Plain),
            "scram-sha-256" => Some(SaslMechanism::ScramSha256),
            "scram-sha-512" => Some(SaslMechanism::ScramSha512),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ExchangeType {
    Topic,
    Direct,
    Fanout,
    Headers,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum QueueType {
    Classic,
    Quorum,
}

pub(crate) struct TopicConfig {
    pub name: String,
    pub broker: usize,
    /// The JetStream stream's, RabbitMQ exchange's or Kafka topic's name.
    pub stream: String,
    /// Subject patterns (NATS syntax; for RabbitMQ `>` is read as `#`);
    /// empty only for a Kafka topic: then any subject is its.
    pub subjects: Vec<String>,
    pub exchange_type: ExchangeType,
    pub queue_type: QueueType,
    /// The quorum group size of the queues the runtime declares (RabbitMQ)
    /// or the replication factor of the topic it creates (Kafka); `None`:
    /// the broker's default (RabbitMQ), 1 (Kafka).
    pub replicas: Option<u8>,
    /// Kafka: the event field whose value is the record key.
    pub partition_key: Option<String>,
    /// Kafka: the partitions of the topic the runtime creates (1 to [`MAX_PARTITIONS`]); 1 elsewhere.
    pub partitions: u32,
    /// Schema versions by number, ascending.
    pub versions: BTreeMap<u32, EventSchema>,
}

pub(crate) struct ProducerConfig {
    pub service: String,
    pub topic: usize,
    pub version: u32,
    pub subject: String,
}

#[derive(Clone, Debug)]
pub(crate) struct ConsumerConfig {
    pub service: String,
    pub topic: usize,
    /// The reader schema's version.
    pub version: u32,
    /// Durable name / queue group; `None`: ephemeral.
    pub group: Option<String>,
    pub subject_filters: Vec<String>,
    pub header_filters: Vec<(String, String)>,
    pub delivery: Delivery,
    pub max_in_flight: u32,
    /// Kafka groups: the member's session timeout (heartbeats every third of it).
    pub session_timeout: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Delivery {
    AtMostOnce,
    AtLeastOnce(Redelivery),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Redelivery {
    pub ack_wait: Duration,
    /// `None`: unbounded.
    pub max_deliveries: Option<u32>,
    pub backoff: Backoff,
    /// Where an event goes after `max_deliveries`; `None` only when unbounded.
    pub dead_letter: Option<DeadLetter>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backoff {
    /// Redeliver at once.
    None,
    Fixed(Duration),
    /// Doubling from `initial`, capped at `max`.
    Exponential {
        initial: Duration,
        max: Duration,
    },
}

impl Backoff {
    /// The delay before redelivering an event whose delivery number
    /// `attempt` (1 = the first) failed.
    pub fn delay(self, attempt: u32) -> Duration {
        match self {
            Backoff::None => Duration::ZERO,
            Backoff::Fixed(delay) => delay,
            Backoff::Exponential { initial, max } => {
                let factor = 1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX);
                initial.checked_mul(factor).unwrap_or(max).min(max)
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DeadLetter {
    Topic { topic: usize, subject: String },
    Drop,
}

impl EventBusConfig {
    /// Reads an `event-bus.json`. `Err` names what is wrong and where:
    /// unknown, missing or mistyped keys (with the path), a broker kind the
    /// runtime cannot drive, a reference to an unknown broker or topic, a
    /// schema that does not compile, a wildcard in a producer's subject,
    /// settings of at-least-once delivery on an at-most-once consumer.
    pub fn from_json(text: &str) -> Result<EventBusConfig, String> {
        let file: ConfigFile = crate::config::from_json(text)?;
        let mut brokers = Vec::with_capacity(file.brokers.len());
        let mut broker_index = HashMap::new();
        for (i, broker) in file.brokers.into_iter().enumerate() {
            let at = || format!("`brokers[{i}]` ({:?})", broker.name);
            let checked = check_broker(&broker).map_err(|e| format!("{}: {e}", at()))?;
            if broker_index.insert(broker.name.clone(), i).is_some() {
                return Err(format!("{}: a broker of this name is listed twice", at()));
            }
            brokers.push(checked);
        }
        let mut topics = Vec::with_capacity(file.topics.len());
        let mut topic_index = HashMap::new();
        for (i, topic) in file.topics.into_iter().enumerate() {
            let at = format!("`topics[{i}]` ({:?})", topic.name);
            let checked = check_topic(topic, &broker_index, &brokers).map_err(|e| format!("{at}: {e}"))?;
            if topic_index.insert(checked.name.clone(), i).is_some() {
                return Err(format!("{at}: a topic of this name is listed twice"));
            }
            topics.push(checked);
        }
        let mut producers = Vec::with_capacity(file.producers.len());
        let mut seen = HashSet::new();
        for (i, producer) in file.producers.into_iter().enumerate() {
            let at = format!("`producers[{i}]` ({} → {})", producer.service, producer.topic);
            let checked = check_producer(producer, &topic_index, &topics).map_err(|e| format!("{at}: {e}"))?;
            if !seen.insert((checked.service.clone(), checked.topic)) {
                return Err(format!("{at}: this service already publishes this topic"));
            }
            producers.push(checked);
        }
        let mut consumers = Vec::with_capacity(file.consumers.len());
        let mut seen = HashSet::new();
        for (i, consumer) in file.consumers.into_iter().enumerate() {
            let at = format!("`consumers[{i}]` ({} ← {})", consumer.service, consumer.topic);
            let checked =
                check_consumer(consumer, &topic_index, &topics, &brokers).map_err(|e| format!("{at}: {e}"))?;
            if !seen.insert((checked.service.clone(), checked.topic)) {
                return Err(format!("{at}: this service already subscribes to this topic"));
            }
            consumers.push(checked);
        }
        Ok(EventBusConfig { brokers, topics, producers, consumers })
    }

    /// The services named by a producer or consumer, sorted.
    pub fn services(&self) -> Vec<&str> {
        let mut services: Vec<&str> = self
            .producers
            .iter()
            .map(|p| p.service.as_str())
            .chain(self.consumers.iter().map(|c| c.service.as_str()))
            .collect();
        services.sort_unstable();
        services.dedup();
        services
    }

    /// The topics' names, in config order.
    pub fn topics(&self) -> impl Iterator<Item = &str> {
        self.topics.iter().map(|t| t.name.as_str())
    }

    pub(crate) fn topic_named(&self, name: &str) -> Option<usize> {
        self.topics.iter().position(|t| t.name == name)
    }
}

fn check_broker(broker: &BrokerFile) -> Result<BrokerConfig, String> {
    check_name(&broker.name)?;
    let kind = match broker.kind.as_str() {
        "nats" => BrokerKind::Nats,
        "rabbitmq" => BrokerKind::Rabbitmq,
        "kafka" => BrokerKind::Kafka,
        other => return Err(format!("`kind`: {other:?} is not a broker kind (nats, rabbitmq, kafka)")),
    };
    if broker.addresses.is_empty() {
        return Err("`addresses` is empty: give at least one `host:port`".into());
    }
    for (i, address) in broker.addresses.iter().enumerate() {
        check_address(address).map_err(|e| format!("`addresses[{i}]` ({address:?}): {e}"))?;
    }
    let credentials = match &broker.credentials {
        None => None,
        Some(CredentialsFile { env: Some(var), file: None, .. }) if !var.is_empty() => {
            Some(Credentials::Env(var.clone()))
        }
        Some(CredentialsFile { env: None, file: Some(path), .. }) if !path.as_os_str().is_empty() => {
            Some(Credentials::File(path.clone()))
        }
        Some(_) => return Err("`credentials`: give exactly one of `env` (a variable name) and `file` (a path)".into()),
    };
    let mechanism = broker.credentials.as_ref().and_then(|c| c.mechanism.as_deref());
    let sasl = match (mechanism, kind) {
        (None, BrokerKind::Kafka) if credentials.is_some() => {
            return Err("`credentials.mechanism`: Kafka credentials name their SASL mechanism (plain, scram-sha-256 or scram-sha-512)".into())
        }
        (None, _) => None,
        (Some(text), BrokerKind::Kafka) => Some(SaslMechanism::parse(text).ok_or_else(|| {
            format!("`credentials.mechanism`: {text:?} is not plain, scram-sha-256 or scram-sha-512")
        })?),
        (Some(_), _) => {
            return Err("`credentials.mechanism` is a Kafka setting; only a kafka broker has one".into())
        }
    };
    let tls = match &broker.tls {
        None => None,
        Some(TlsFile { ca: Some(path) }) if path.as_os_str().is_empty() => return Err("`tls.ca` is empty".into()),
        Some(TlsFile { ca }) => Some(Tls { ca: ca.clone() }),
    };
    let vhost = match (&broker.vhost, kind) {
        (None, _) => "/".to_string(),
        (Some(vhost), BrokerKind::Rabbitmq) if !vhost.is_empty() => vhost.clone(),
        (Some(_), BrokerKind::Rabbitmq) => return Err("`vhost` is empty".into()),
        (Some(_), _) => return Err("`vhost` is a RabbitMQ setting; only a rabbitmq broker has one".into()),
    };
    Ok(BrokerConfig {
        name: broker.name.clone(),
        kind,
        addresses: broker.addresses.clone(),
        credentials,
        sasl,
        tls,
        vhost,
    })
}

/// `host:port` with a port from 1 to 65535 and a host without spaces.
fn check_address(address: &str) -> Result<(), String> {
    let (host, port) = address.rsplit_once(':').ok_or("expected `host:port`")?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || matches!(c, '/' | '@' | '?' | '#')) {
        return Err("the host is empty or not a host name or IP address".into());
    }
    match port.parse::<u16>() {
        Ok(1..) => Ok(()),
        _ => Err(format!("{port:?} is not a port (1 to 65535)")),
    }
}

/// Names become stream, exchange, queue and durable consumer names: no
/// dots, wildcards, whitespace or path separators, at most 200 bytes.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 200 {
        return Err("a name must have 1 to 200 characters".into());
    }
    match name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))) {
        None => Ok(()),
        Some(c) => Err(format!("{c:?} is not allowed in a name (letters, digits, `-` and `_`)")),
    }
}

fn check_topic(
    topic: TopicFile,
    broker_index: &HashMap<String, usize>,
    brokers: &[BrokerConfig],
) -> Result<TopicConfig, String> {
    check_name(&topic.name)?;
    let broker = *broker_index.get(&topic.broker).ok_or_else(|| {
        format!("`broker`: no broker is named {:?}{}", topic.broker, did_you_mean(&topic.broker, broker_index.keys()))
    })?;
    let kind = brokers[broker].kind;
    let stream = topic.stream.unwrap_or_else(|| topic.name.clone());
    check_name(&stream).map_err(|e| format!("`stream`: {e}"))?;
    if topic.subjects.is_empty() && kind != BrokerKind::Kafka {
        return Err("`subjects` is empty: give at least one subject pattern".into());
    }
    for (i, pattern) in topic.subjects.iter().enumerate() {
        subject::check_pattern(pattern).map_err(|e| format!("`subjects[{i}]` ({pattern:?}): {e}"))?;
    }
    let rabbit_only = |key: &str| format!("`{key}` is a RabbitMQ setting; only a rabbitmq topic has one");
    let exchange_type = match (topic.exchange_type.as_deref(), kind) {
        (None, _) | (Some("topic"), BrokerKind::Rabbitmq) => ExchangeType::Topic,
        (Some(_), BrokerKind::Nats | BrokerKind::Kafka) => return Err(rabbit_only("exchange_type")),
        (Some("direct"), _) => ExchangeType::Direct,
        (Some("fanout"), _) => ExchangeType::Fanout,
        (Some("headers"), _) => ExchangeType::Headers,
        (Some(other), _) => {
            return Err(format!("`exchange_type`: {other:?} is not one of topic, direct, fanout, headers"))
        }
    };
    let queue_type = match (topic.queue_type.as_deref(), kind) {
        (None, _) | (Some("quorum"), BrokerKind::Rabbitmq) => QueueType::Quorum,
        (Some(_), BrokerKind::Nats | BrokerKind::Kafka) => return Err(rabbit_only("queue_type")),
        (Some("classic"), _) => QueueType::Classic,
        (Some("stream"), _) => {
            return Err("`queue_type`: stream queues are not consumed by the runtime (use quorum or classic)".into())
        }
        (Some(other), _) => return Err(format!("`queue_type`: {other:?} is not one of classic, quorum, stream")),
    };
    let replicas = match (topic.replicas, kind) {
        (None, _) => None,
        (Some(_), BrokerKind::Nats) => {
            return Err("`replicas` is a RabbitMQ or Kafka setting; a nats topic has none".into())
        }
        (Some(n @ 1..=5), _) => Some(n),
        (Some(n), _) => return Err(format!("`replicas`: expected 1 to 5, not {n}")),
    };
    let partitions = match (topic.partitions, kind) {
        (None, _) => 1,
        (Some(n @ 1..=MAX_PARTITIONS), BrokerKind::Kafka) => n,
        (Some(n), BrokerKind::Kafka) => return Err(format!("`partitions`: expected 1 to {MAX_PARTITIONS}, not {n}")),
        (Some(_), _) => return Err("`partitions` is a Kafka setting; only a kafka topic has one".into()),
    };
    let partition_key = match (topic.partition_key, kind) {
        (None, _) => None,
        (Some(key), BrokerKind::Kafka) if !key.is_empty() => Some(key),
        (Some(_), BrokerKind::Kafka) => return Err("`partition_key` is empty".into()),
        (Some(_), _) => return Err("`partition_key` is a Kafka setting; only a kafka topic has one".into()),
    };
    if topic.versions.is_empty() {
        return Err("`versions` is empty: give at least one schema version".into());
    }
    let mut versions = BTreeMap::new();
    for (i, version) in topic.versions.into_iter().enumerate() {
        let at = format!("`versions[{i}]` (version {})", version.version);
        if version.version == 0 {
            return Err(format!("{at}: versions start at 1"));
        }
        let schema = compile_version(&version).map_err(|e| format!("{at}: {e}"))?;
        if versions.insert(version.version, schema).is_some() {
            return Err(format!("{at}: this version is listed twice"));
        }
    }
    Ok(TopicConfig {
        name: topic.name,
        broker,
        stream,
        subjects: topic.subjects,
        exchange_type,
        queue_type,
        replicas,
        partition_key,
        partitions,
        versions,
    })
}

fn resolve_topic(name: &str, topic_index: &HashMap<String, usize>) -> Result<usize, String> {
    topic_index
        .get(name)
        .copied()
        .ok_or_else(|| format!("`topic`: no topic is named {name:?}{}", did_you_mean(name, topic_index.keys())))
}

fn check_version(version: u32, topic: &TopicConfig) -> Result<(), String> {
    if topic.versions.contains_key(&version) {
        return Ok(());
    }
    let known: Vec<String> = topic.versions.keys().map(u32::to_string).collect();
    Err(format!("`version`: topic {:?} has no version {version} (it has {})", topic.name, known.join(", ")))
}

fn check_producer(
    producer: ProducerFile,
    topic_index: &HashMap<String, usize>,
    topics: &[TopicConfig],
) -> Result<ProducerConfig, String> {
    if producer.service.is_empty() {
        return Err("`service` is empty".into());
    }
    let topic = resolve_topic(&producer.topic, topic_index)?;
    check_version(producer.version, &topics[topic])?;
    subject::check_subject(&producer.subject).map_err(|e| format!("`subject` ({:?}): {e}", producer.subject))?;
    let subjects = &topics[topic].subjects;
    if !subjects.is_empty() && !subjects.iter().any(|p| subject::matches(p, &producer.subject)) {
        return Err(format!(
            "`subject`: {:?} matches none of topic {:?}'s subjects ({})",
            producer.subject,
            topics[topic].name,
            topics[topic].subjects.join(", ")
        ));
    }
    Ok(ProducerConfig { service: producer.service, topic, version: producer.version, subject: producer.subject })
}

fn check_consumer(
    consumer: ConsumerFile,
    topic_index: &HashMap<String, usize>,
    topics: &[TopicConfig],
    brokers: &[BrokerConfig],
) -> Result<ConsumerConfig, String> {
    if consumer.service.is_empty() {
        return Err("`service` is empty".into());
    }
    let topic = resolve_topic(&consumer.topic, topic_index)?;
    check_version(consumer.version, &topics[topic])?;
    if let Some(group) = &consumer.group {
        check_name(group).map_err(|e| format!("`group`: {e}"))?;
    }
    let mut subject_filters = Vec::new();
    let mut header_filters = Vec::new();
    for (i, filter) in consumer.filters.iter().enumerate() {
        let at = format!("`filters[{i}]`");
        match filter {
            FilterFile { subject: Some(pattern), header: None, equals: None } => {
                subject::check_pattern(pattern).map_err(|e| format!("{at} ({pattern:?}): {e}"))?;
                subject_filters.push(pattern.clone());
            }
            FilterFile { subject: None, header: Some(name), equals: Some(value) } => {
                if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
                    return Err(format!("{at}: {name:?} is not a header name"));
                }
                header_filters.push((name.to_ascii_lowercase(), value.clone()));
            }
            _ => return Err(format!("{at}: give `subject`, or `header` and `equals`")),
        }
    }
    let max_in_flight = match consumer.max_in_flight {
        None => DEFAULT_MAX_IN_FLIGHT,
        Some(n @ 1..=MAX_IN_FLIGHT) => n,
        Some(n) => return Err(format!("`max_in_flight`: expected 1 to {MAX_IN_FLIGHT}, not {n}")),
    };
    let session_timeout = match consumer.session_timeout_ms {
        None => DEFAULT_SESSION_TIMEOUT,
        Some(_) if brokers[topics[topic].broker].kind != BrokerKind::Kafka || consumer.group.is_none() => {
            return Err(
                "`session_timeout_ms` is a Kafka consumer group setting; only a kafka consumer with a `group` has one"
                    .into(),
            )
        }
        Some(ms) if SESSION_TIMEOUT_MS.contains(&ms) => Duration::from_millis(ms),
        Some(ms) => {
            return Err(format!(
                "`session_timeout_ms`: expected {} to {} ms, not {ms}",
                SESSION_TIMEOUT_MS.start(),
                SESSION_TIMEOUT_MS.end()
            ))
        }
    };
    let delivery = match consumer.delivery.as_str() {
        "at-most-once" => {
            let set: Vec<&str> = [
                ("ack_wait_ms", consumer.ack_wait_ms.is_some()),
                ("max_deliveries", consumer.max_deliveries.is_some()),
                ("backoff", consumer.backoff.is_some()),
                ("dead_letter", consumer.dead_letter.is_some()),
            ]
            .into_iter()
            .filter_map(|(key, set)| set.then_some(key))
            .collect();
            if !set.is_empty() {
                return Err(format!(
                    "an at-most-once consumer acknowledges nothing and redelivers nothing; remove {}",
                    set.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                ));
            }
            Delivery::AtMostOnce
        }
        "at-least-once" => Delivery::AtLeastOnce(check_redelivery(&consumer, topic_index, topics)?),
        other => return Err(format!("`delivery`: {other:?} is not at-least-once or at-most-once")),
    };
    Ok(ConsumerConfig {
        service: consumer.service,
        topic,
        version: consumer.version,
        group: consumer.group,
        subject_filters,
        header_filters,
        delivery,
        max_in_flight,
        session_timeout,
    })
}

fn millis(key: &str, ms: u64) -> Result<Duration, String> {
    match ms {
        1..=MAX_DELAY_MS => Ok(Duration::from_millis(ms)),
        _ => Err(format!("`{key}`: expected 1 to {MAX_DELAY_MS} ms, not {ms}")),
    }
}

fn check_redelivery(
    consumer: &ConsumerFile,
    topic_index: &HashMap<String, usize>,
    topics: &[TopicConfig],
) -> Result<Redelivery, String> {
    let ack_wait = millis("ack_wait_ms", consumer.ack_wait_ms.unwrap_or(DEFAULT_ACK_WAIT_MS))?;
    let backoff = match &consumer.backoff {
        None => Backoff::None,
        Some(BackoffFile { fixed_ms: Some(ms), initial_ms: None, max_ms: None }) => {
            Backoff::Fixed(millis("backoff.fixed_ms", *ms)?)
        }
        Some(BackoffFile { fixed_ms: None, initial_ms: Some(initial), max_ms: Some(max) }) => {
            let initial = millis("backoff.initial_ms", *initial)?;
            let max = millis("backoff.max_ms", *max)?;
            if initial > max {
                return Err("`backoff`: `initial_ms` is longer than `max_ms`".into());
            }
            Backoff::Exponential { initial, max }
        }
        Some(_) => return Err("`backoff`: give `fixed_ms`, or `initial_ms` and `max_ms`".into()),
    };
    let max_deliveries = match consumer.max_deliveries {
        Some(0) => return Err("`max_deliveries`: give at least 1 (it counts the first delivery)".into()),
        other => other,
    };
    let dead_letter = match (&consumer.dead_letter, max_deliveries) {
        (None, None) => None,
        (Some(_), None) => {
            return Err(
                "`dead_letter` needs `max_deliveries`: without it an event is redelivered until acknowledged".into()
            )
        }
        (None, Some(_)) => {
            return Err("`max_deliveries` needs `dead_letter` (a topic, or `drop: true`)".into());
        }
        (Some(DeadLetterFile { topic: None, subject: None, drop: Some(true) }), Some(_)) => Some(DeadLetter::Drop),
        (Some(DeadLetterFile { topic: Some(name), subject: Some(subject), drop: None | Some(false) }), Some(_)) => {
            let topic = resolve_topic(name, topic_index).map_err(|e| format!("`dead_letter.{}", &e[1..]))?;
            let own = resolve_topic(&consumer.topic, topic_index)?;
            if topic == own {
                return Err(
                    "`dead_letter.topic` is the consumed topic itself; dead letters would be consumed again".into()
                );
            }
            if topics[topic].broker != topics[own].broker {
                return Err(format!(
                    "`dead_letter.topic`: {name:?} is on another broker; a dead-letter topic must be on the consumed topic's broker"
                ));
            }
            subject::check_subject(subject).map_err(|e| format!("`dead_letter.subject` ({subject:?}): {e}"))?;
            let subjects = &topics[topic].subjects;
            if !subjects.is_empty() && !subjects.iter().any(|p| subject::matches(p, subject)) {
                return Err(format!("`dead_letter.subject`: {subject:?} matches none of topic {name:?}'s subjects"));
            }
            Some(DeadLetter::Topic { topic, subject: subject.clone() })
        }
        (Some(_), Some(_)) => return Err("`dead_letter`: give `topic` and `subject`, or `drop: true`".into()),
    };
    Ok(Redelivery { ack_wait, max_deliveries, backoff, dead_letter })
}

/// `` (did you mean `x`?)`` for the closest of `known` to `name`, if close.
pub(crate) fn did_you_mean<'a>(name: &str, known: impl Iterator<Item = &'a String>) -> String {
    let best = known.map(|k| (edit_distance(name, k), k)).filter(|(d, k)| *d <= (k.len().max(3) / 3)).min();
    match best {
        Some((_, k)) => format!(" (did you mean {k:?}?)"),
        None => String::new(),
    }
}

/// Levenshtein distance over chars, O(len(a) × len(b)) on names of at most
/// 200 characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

/// A version's schema: a text (Avro, JSON Schema) or a protobuf message
/// in its descriptor set, decoded here, once.
fn compile_version(version: &VersionFile) -> Result<EventSchema, String> {
    match (version.format.as_str(), &version.schema, &version.message, &version.descriptor_set) {
        ("protobuf", None, Some(message), Some(set)) => EventSchema::protobuf(set, message),
        ("protobuf", Some(_), _, _) => Err("`schema`: a protobuf version has `message` and `descriptor_set`".into()),
        ("protobuf", None, None, _) => Err("`message`: a protobuf version names its message".into()),
        ("protobuf", None, Some(_), None) => {
            Err("`descriptor_set`: a protobuf version needs its descriptor set".into())
        }
        (_, _, Some(_), _) => Err("`message` is a protobuf setting".into()),
        (_, _, _, Some(_)) => Err("`descriptor_set` is a protobuf setting".into()),
        (format, Some(text), None, None) => EventSchema::compile(format, text),
        (format, None, None, None) => Err(format!("`schema`: a {format} version needs its schema's text")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const AVRO: &str = r#"{"type": "record", "name": "Placed", "fields": [{"name": "id", "type": "string"}]}"#;

    fn config() -> Value {
        json!({
            "brokers": [{"name": "bus", "kind": "nats", "addresses": ["127.0.0.1:4222"], "credentials": {"env": "NATS_CREDS"}}],
            "topics": [
                {"name": "orders-placed", "broker": "bus", "subjects": ["shop.orders.placed.>"],
                 "versions": [{"version": 1, "format": "avro", "schema": AVRO}]},
                {"name": "orders-dlq", "broker": "bus", "subjects": ["shop.orders.dlq"],
                 "versions": [{"version": 1, "format": "json-schema", "schema": "{}"}]}
            ],
            "producers": [{"service": "orders", "topic": "orders-placed", "version": 1, "subject": "shop.orders.placed.eu"}],
            "consumers": [{"service": "payments", "topic": "orders-placed", "version": 1, "group": "payments",
                           "delivery": "at-least-once", "max_deliveries": 3, "backoff": {"initial_ms": 100, "max_ms": 1000},
                           "dead_letter": {"topic": "orders-dlq", "subject": "shop.orders.dlq"}}]
        })
    }

    fn load(value: Value) -> Result<EventBusConfig, String> {
        EventBusConfig::from_json(&value.to_string())
    }

    /// The config with the value at `path` replaced (or added).
    fn with(path: &str, value: Value) -> Value {
        let mut config = config();
        let (parent, key) = path.rsplit_once('/').unwrap();
        match config.pointer_mut(parent).unwrap() {
            Value::Object(map) => {
                map.insert(key.to_string(), value);
            }
            Value::Array(items) => items[key.parse::<usize>().unwrap()] = value,
            _ => panic!("{parent} is not a container"),
        }
        config
    }

    #[test]
    fn a_complete_config_loads() {
        let config = load(config()).unwrap();
        assert_eq!(config.services(), ["orders", "payments"]);
        let consumer = &config.consumers[0];
        let Delivery::AtLeastOnce(redelivery) = &consumer.delivery else { panic!() };
        assert_eq!(redelivery.max_deliveries, Some(3));
        assert_eq!(redelivery.dead_letter, Some(DeadLetter::Topic { topic: 1, subject: "shop.orders.dlq".into() }));
        assert_eq!(redelivery.ack_wait, Duration::from_secs(30));
        assert_eq!(consumer.max_in_flight, 100);
        assert_eq!(config.topics[0].stream, "orders-placed");
    }

    /// The config on a Kafka broker (no credentials: the adapter has none yet).
    fn kafka_config() -> Value {
        let mut config = config();
        config["brokers"][0] = json!({"name": "bus", "kind": "kafka", "addresses": ["127.0.0.1:9092"]});
        config
    }

    #[test]
    fn a_kafka_topic_declares_its_partitions_and_replication_factor() {
        let mut value = kafka_config();
        value["topics"][0]["partitions"] = json!(12);
        value["topics"][0]["replicas"] = json!(3);
        let config = load(value).unwrap();
        assert_eq!((config.topics[0].partitions, config.topics[0].replicas), (12, Some(3)));
        // Undeclared: one partition, the adapter's replication factor.
        assert_eq!((config.topics[1].partitions, config.topics[1].replicas), (1, None));

        let cases = [
            ("partitions", json!(0), "`partitions`: expected 1 to 10000, not 0"),
            ("partitions", json!(10_001), "`partitions`: expected 1 to 10000, not 10001"),
            ("partitions", json!(-1), "invalid value: integer `-1`"),
            ("partitions", json!("4"), "invalid type: string \"4\""),
            ("replicas", json!(0), "`replicas`: expected 1 to 5, not 0"),
            ("replicas", json!(6), "`replicas`: expected 1 to 5, not 6"),
        ];
        for (key, bad, expected) in cases {
            let mut value = kafka_config();
            value["topics"][0][key] = bad.clone();
            let error = load(value).err().unwrap_or_else(|| panic!("{key}: {bad} loaded"));
            assert!(error.contains(expected), "{key}: {bad}: {error}");
        }
        let mut value = kafka_config();
        value["consumers"][0]["session_timeout_ms"] = json!(6000);
        assert_eq!(load(value).unwrap().consumers[0].session_timeout, Duration::from_secs(6));
        assert_eq!(load(kafka_config()).unwrap().consumers[0].session_timeout, DEFAULT_SESSION_TIMEOUT);
        for (bad, expected) in [
            (json!(999), "`session_timeout_ms`: expected 1000 to 1800000 ms, not 999"),
            (json!(1_800_001), "not 1800001"),
        ] {
            let mut value = kafka_config();
            value["consumers"][0]["session_timeout_ms"] = bad;
            let error = load(value).err().unwrap_or_else(|| panic!("a bad session timeout"));
            assert!(error.contains(expected), "{error}");
        }
        let error = load(with("/consumers/0/session_timeout_ms", json!(6000)))
            .err()
            .unwrap_or_else(|| panic!("on a nats consumer"));
        assert!(error.contains("`session_timeout_ms` is a Kafka consumer group setting"), "{error}");
        let error =
            load(with("/topics/0/partitions", json!(4))).err().unwrap_or_else(|| panic!("partitions on a nats topic"));
        assert!(error.contains("`partitions` is a Kafka setting"), "{error}");
        let error =
            load(with("/topics/0/replicas", json!(3))).err().unwrap_or_else(|| panic!("replicas on a nats topic"));
        assert!(error.contains("`replicas` is a RabbitMQ or Kafka setting"), "{error}");
    }

    #[test]
    fn errors_name_the_entry_and_the_key() {
        let cases = [
            (with("/brokers/0/kind", json!("kafka")), "`credentials.mechanism`: Kafka credentials name their SASL mechanism"),
            (
                with("/brokers/0/credentials", json!({"env": "A", "mechanism": "plain"})),
                "`credentials.mechanism` is a Kafka setting; only a kafka broker has one",
            ),
            (with("/topics/0/partition_key", json!("id")), "`partition_key` is a Kafka setting"),
            (with("/brokers/0/addresses/0", json!("nats:0")), "`addresses[0]` (\"nats:0\"): \"0\" is not a port"),
            (with("/brokers/0/credentials", json!({"env": "A", "file": "/b"})), "give exactly one of `env`"),
            (with("/brokers/0/vhost", json!("/")), "`vhost` is a RabbitMQ setting"),
            (with("/topics/0/broker", json!("buss")), "no broker is named \"buss\" (did you mean \"bus\"?)"),
            (with("/topics/0/name", json!("orders.placed")), "'.' is not allowed in a name"),
            (
                with("/topics/0/versions/0/format", json!("protobuf")),
                "`versions[0]` (version 1): `schema`: a protobuf version has `message` and `descriptor_set`",
            ),
            (
                with("/topics/0/versions/0/format", json!("xml")),
                "`versions[0]` (version 1): `format`: \"xml\": the runtime reads avro, json-schema and protobuf",
            ),
            (
                with("/topics/0/versions/0/schema", json!("{\"type\": \"recrd\"}")),
                "`versions[0]` (version 1): the Avro schema does not parse",
            ),
            (
                with("/producers/0/subject", json!("shop.orders.placed.*")),
                "`subject` (\"shop.orders.placed.*\"): a subject to publish to has no wildcards",
            ),
            (
                with("/producers/0/subject", json!("shop.orders.paid")),
                "matches none of topic \"orders-placed\"'s subjects",
            ),
            (with("/producers/0/version", json!(2)), "topic \"orders-placed\" has no version 2 (it has 1)"),
            (with("/producers/0/topic", json!("orders-placd")), "(did you mean \"orders-placed\"?)"),
            (with("/consumers/0/delivery", json!("at-most-once")), "remove `max_deliveries`, `backoff`, `dead_letter`"),
            (with("/consumers/0/max_deliveries", json!(0)), "give at least 1"),
            (
                with("/consumers/0/dead_letter", json!({"drop": true, "topic": "orders-dlq"})),
                "give `topic` and `subject`, or `drop: true`",
            ),
            (with("/consumers/0/dead_letter/topic", json!("orders-placed")), "the consumed topic itself"),
            (
                with("/consumers/0/backoff", json!({"initial_ms": 2000, "max_ms": 1000})),
                "`initial_ms` is longer than `max_ms`",
            ),
            (with("/consumers/0/backoff/max_ms", json!(0)), "`backoff.max_ms`: expected 1 to"),
            (with("/consumers/0/group", json!("a b")), "`group`: ' ' is not allowed"),
            (with("/consumers/0/max_in_flight", json!(0)), "`max_in_flight`: expected 1 to 10000, not 0"),
            (
                with("/consumers/0/filters", json!([{"subject": "a.>.b"}])),
                "`filters[0]` (\"a.>.b\"): `>` must be the last token",
            ),
            (with("/consumers/0/retries", json!(3)), "unknown field `retries`"),
            (with("/topics/0/versions/0/message", json!("shop.Placed")), "`versions[0]` (version 1): `message` is a protobuf"),
            (
                with("/topics/0/versions/0", json!({"version": 1, "format": "protobuf", "message": "shop.Placed"})),
                "`topics[0]` (\"orders-placed\"): `versions[0]` (version 1): `descriptor_set`: a protobuf version needs",
            ),
            (
                with(
                    "/topics/0/versions/0",
                    json!({"version": 1, "format": "protobuf", "message": "shop.Placed", "descriptor_set": "@@"}),
                ),
                "`topics[0]` (\"orders-placed\"): `versions[0]` (version 1): `descriptor_set` is not base64",
            ),
            (
                // An empty FileDescriptorSet decodes, and has no such message.
                with(
                    "/topics/0/versions/0",
                    json!({"version": 1, "format": "protobuf", "message": "shop.Placed", "descriptor_set": ""}),
                ),
                "`topics[0]` (\"orders-placed\"): `versions[0]` (version 1): `message`: no message \"shop.Placed\"",
            ),
        ];
        for (config, expected) in cases {
            let error = load(config).unwrap_err();
            assert!(error.contains(expected), "{error:?} should contain {expected:?}");
        }
    }

    #[test]
    fn a_kafka_broker_takes_sasl_credentials_and_tls() {
        let broker = json!({"name": "bus", "kind": "kafka", "addresses": ["127.0.0.1:9092"],
                            "credentials": {"file": "/run/kafka", "mechanism": "scram-sha-512"}, "tls": {"ca": "/ca.pem"}});
        let config = load(with("/brokers/0", broker.clone())).unwrap();
        let loaded = &config.brokers[0];
        assert_eq!(loaded.sasl, Some(SaslMechanism::ScramSha512));
        assert!(matches!(&loaded.credentials, Some(Credentials::File(path)) if path.as_os_str() == "/run/kafka"));
        assert_eq!(loaded.tls.as_ref().and_then(|t| t.ca.as_deref()), Some(std::path::Path::new("/ca.pem")));
        for (text, mechanism) in [("plain", SaslMechanism::Plain), ("scram-sha-256", SaslMechanism::ScramSha256)] {
            let mut broker = broker.clone();
            broker["credentials"]["mechanism"] = json!(text);
            assert_eq!(load(with("/brokers/0", broker)).unwrap().brokers[0].sasl, Some(mechanism));
        }
        let mut broker = broker.clone();
        broker["credentials"]["mechanism"] = json!("gssapi");
        let error = load(with("/brokers/0", broker)).unwrap_err();
        assert!(error.contains("\"gssapi\" is not plain, scram-sha-256 or scram-sha-512"), "{error}");
    }

    #[test]
    fn unbounded_redelivery_has_no_dead_letter() {
        let mut config = config();
        let consumer = config.pointer_mut("/consumers/0").unwrap().as_object_mut().unwrap();
        consumer.remove("max_deliveries");
        let error = load(config.clone()).unwrap_err();
        assert!(error.contains("`dead_letter` needs `max_deliveries`"), "{error}");
        config.pointer_mut("/consumers/0").unwrap().as_object_mut().unwrap().remove("dead_letter");
        let loaded = load(config).unwrap();
        let Delivery::AtLeastOnce(redelivery) = &loaded.consumers[0].delivery else { panic!() };
        assert_eq!((redelivery.max_deliveries, &redelivery.dead_letter), (None, &None));
    }

    #[test]
    fn exponential_backoff_doubles_up_to_its_cap() {
        let backoff = Backoff::Exponential { initial: Duration::from_millis(100), max: Duration::from_millis(1000) };
        let delays: Vec<u128> = (1..=6).map(|n| backoff.delay(n).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(backoff.delay(u32::MAX), Duration::from_millis(1000));
        assert_eq!(Backoff::Fixed(Duration::from_secs(5)).delay(9), Duration::from_secs(5));
        assert_eq!(Backoff::None.delay(1), Duration::ZERO);
    }
}
