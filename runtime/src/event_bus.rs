//! The event bus: a service's publishers and subscribers on NATS JetStream,
//! RabbitMQ and Kafka, driven by the `event-bus.json` meshc compiles from the
//! spec's brokers, topics, `publishes` and `subscribes`.
//!
//! - [`EventBus::publish`] validates the event against the producer's schema
//!   version (an invalid event is refused with the schema's error and
//!   nothing is sent), sets the tracking headers and returns once the
//!   broker acknowledged it (JetStream PubAck, RabbitMQ publisher confirm,
//!   Kafka `acks=all`),
//!   retrying transient broker errors with backoff.
//! - [`EventBus::subscribe`] registers a handler for the service's consumer
//!   of a topic: events are filtered, read with the consumer's reader
//!   schema, handed to the handler; `Ok` acknowledges, `Err` (or running
//!   past the ack wait) redelivers after the consumer's backoff, and after
//!   the declared deliveries the event goes to the dead-letter topic (or is
//!   dropped).
//! - Events published through an [`Event`] being handled carry its
//!   correlation, causation and trace ([`Event::publish`]).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use meshc_runtime::event_bus::{EventBus, EventBusConfig};
//! let config = std::sync::Arc::new(EventBusConfig::from_json(&std::fs::read_to_string("out/runtime/event-bus.json")?)?);
//! let orders = EventBus::connect(&config, "orders").await?;
//! orders.publish("orders-placed", &serde_json::json!({"orderId": "o-1", "quantity": 2})).await?;
//!
//! let payments = EventBus::connect(&config, "payments").await?;
//! let subscription = payments
//!     .subscribe("orders-placed", |event| async move {
//!         let request = serde_json::json!({"orderId": event.payload["orderId"]});
//!         event.publish("payments-requested", &request).await.map_err(|e| e.to_string())?;
//!         Ok::<(), String>(())
//!     })
//!     .await?;
//! # drop(subscription); Ok(()) }
//! ```
//!
//! See `docs/runtime.md` ("Event bus") for the config, the wire format, the
//! headers and the delivery guarantees.

mod config;
mod consume;
mod kafka;
mod nats;
mod rabbitmq;
mod schema;
mod subject;
pub mod tracking;

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

pub use config::{BrokerKind, EventBusConfig};
pub use tracking::Headers;

use config::{ConsumerConfig, Delivery, TopicConfig};
use tracking::Tracking;

/// How long a publish keeps retrying transient broker errors.
const PUBLISH_DEADLINE: Duration = Duration::from_secs(30);
/// The first and the longest pause between publish attempts.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// An event's id: its `event-id` header, a UUID v4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EventId(pub uuid::Uuid);

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Why [`EventBus::connect`] failed.
#[derive(Debug)]
pub enum ConnectError {
    /// The service publishes and subscribes to nothing in the config.
    UnknownService(String),
    /// Credentials or the TLS CA could not be read (the message names the
    /// variable or file, never the secret).
    Credentials(String),
    /// No address of a broker accepted the connection, or the stream,
    /// exchange or queue could not be made.
    Broker(String),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::UnknownService(m) | ConnectError::Credentials(m) | ConnectError::Broker(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ConnectError {}

/// Why [`EventBus::publish`] did not publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishError {
    /// The service has no `publishes` for this topic.
    NotAProducer(String),
    /// A caller's header is malformed or one the runtime sets; nothing was sent.
    Header(String),
    /// The event does not match the producer's schema version; nothing was sent.
    Invalid { topic: String, version: u32, message: String },
    /// The broker did not acknowledge the event before the deadline (it may
    /// or may not have kept it: at-least-once means publishing again).
    Broker(String),
    /// The broker acknowledged the event but had nowhere to keep it (a
    /// RabbitMQ exchange with no queue bound for the subject).
    Unroutable(String),
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishError::NotAProducer(m)
            | PublishError::Header(m)
            | PublishError::Broker(m)
            | PublishError::Unroutable(m) => f.write_str(m),
            PublishError::Invalid { topic, version, message } => {
                write!(f, "the event does not match topic {topic:?}'s schema version {version}: {message}")
            }
        }
    }
}

impl std::error::Error for PublishError {}

/// Why [`EventBus::subscribe`] did not subscribe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscribeError {
    /// The service has no `subscribes` for this topic.
    NotAConsumer(String),
    /// The consumer or queue could not be made.
    Broker(String),
}

impl fmt::Display for SubscribeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubscribeError::NotAConsumer(m) | SubscribeError::Broker(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for SubscribeError {}

/// Reads a broker's credentials from their variable or file, at connect
/// time. Errors name the variable or file, never the content.
pub(crate) fn read_credentials(credentials: &config::Credentials, broker: &str) -> Result<String, ConnectError> {
    let secret = match credentials {
        config::Credentials::Env(var) => std::env::var(var).map_err(|_| {
            ConnectError::Credentials(format!(
                "broker {broker:?}: the credentials variable {var} is not set (or not UTF-8)"
            ))
        })?,
        config::Credentials::File(path) => std::fs::read_to_string(path).map_err(|e| {
            ConnectError::Credentials(format!(
                "broker {broker:?}: the credentials file {} cannot be read: {}",
                path.display(),
                e.kind()
            ))
        })?,
    };
    let secret = secret.trim_end_matches(['\n', '\r']).to_string();
    if secret.is_empty() {
        return Err(ConnectError::Credentials(format!("broker {broker:?}: the credentials are empty")));
    }
    Ok(secret)
}

/// Checks that a TLS CA file can be read, before a client library is given it.
pub(crate) fn check_readable(path: &std::path::Path, broker: &str) -> Result<String, ConnectError> {
    std::fs::read_to_string(path).map_err(|e| {
        ConnectError::Credentials(format!(
            "broker {broker:?}: the TLS CA file {} cannot be read: {}",
            path.display(),
            e.kind()
        ))
    })
}

/// A broker failure: transient ones are retried.
#[derive(Debug, Clone)]
pub(crate) struct BrokerError {
    pub message: String,
    pub transient: bool,
    pub unroutable: bool,
}

impl BrokerError {
    pub fn transient(message: impl Into<String>) -> BrokerError {
        BrokerError { message: message.into(), transient: true, unroutable: false }
    }

    pub fn permanent(message: impl Into<String>) -> BrokerError {
        BrokerError { message: message.into(), transient: false, unroutable: false }
    }
}

/// One connected broker.
pub(crate) enum Broker {
    Nats(nats::NatsBroker),
    Rabbitmq(rabbitmq::RabbitBroker),
    Kafka(kafka::KafkaBroker),
}

/// An event ready to be sent: its topic, subject, headers and JSON bytes.
pub(crate) struct Outgoing<'a> {
    pub topic: &'a TopicConfig,
    pub subject: &'a str,
    pub headers: &'a Headers,
    pub payload: &'a [u8],
}

impl Broker {
    async fn send_once(&self, event: &Outgoing<'_>) -> Result<(), BrokerError> {
        match self {
            Broker::Nats(b) => b.send_once(event).await,
            Broker::Rabbitmq(b) => b.send_once(event).await,
            Broker::Kafka(b) => b.send_once(event).await,
        }
    }
}

/// A service's connection to the event bus: cheap to clone, shared by its
/// publishers and subscriptions.
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub config: Arc<EventBusConfig>,
    pub service: String,
    /// By broker index; `None` for brokers the service does not use.
    pub brokers: Vec<Option<Arc<Broker>>>,
}

impl fmt::Debug for EventBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventBus").field("service", &self.inner.service).finish()
    }
}

impl EventBus {
    /// Connects `service` to the brokers its producers and consumers use,
    /// reading their credentials now, and makes sure each topic it uses has
    /// its stream (JetStream) or exchange (RabbitMQ): one that exists is
    /// used as it is, a missing one is created with the topic's subjects.
    pub async fn connect(config: &Arc<EventBusConfig>, service: &str) -> Result<EventBus, ConnectError> {
        let producers: Vec<_> = config.producers.iter().filter(|p| p.service == service).collect();
        let consumers: Vec<_> = config.consumers.iter().filter(|c| c.service == service).collect();
        if producers.is_empty() && consumers.is_empty() {
            let services: Vec<String> = config.services().into_iter().map(String::from).collect();
            return Err(ConnectError::UnknownService(format!(
                "service {service:?} publishes and subscribes to nothing in this config{}",
                config::did_you_mean(service, services.iter())
            )));
        }
        // The topics it touches: produced, consumed, dead-lettered to.
        let mut topics: Vec<usize> = producers.iter().map(|p| p.topic).collect();
        for consumer in &consumers {
            topics.push(consumer.topic);
            if let Delivery::AtLeastOnce(r) = &consumer.delivery {
                if let Some(config::DeadLetter::Topic { topic, .. }) = &r.dead_letter {
                    topics.push(*topic);
                }
            }
        }
        topics.sort_unstable();
        topics.dedup();
        Self::connect_topics(config, service, &topics).await
    }

    /// Connects without a service, to the brokers of `topics` (by name), for
    /// tools that read topics raw ([`EventBus::tail`]).
    pub async fn connect_for_topics(config: &Arc<EventBusConfig>, topics: &[&str]) -> Result<EventBus, ConnectError> {
        let mut indices = Vec::new();
        for name in topics {
            let index = config.topic_named(name).ok_or_else(|| {
                let known: Vec<String> = config.topics().map(String::from).collect();
                ConnectError::UnknownService(format!(
                    "no topic is named {name:?}{}",
                    config::did_you_mean(name, known.iter())
                ))
            })?;
            indices.push(index);
        }
        Self::connect_topics(config, "", &indices).await
    }

    async fn connect_topics(
        config: &Arc<EventBusConfig>,
        service: &str,
        topics: &[usize],
    ) -> Result<EventBus, ConnectError> {
        let mut brokers: Vec<Option<Arc<Broker>>> = (0..config.brokers.len()).map(|_| None).collect();
        for &topic in topics {
            let index = config.topics[topic].broker;
            if brokers[index].is_none() {
                let broker_config = &config.brokers[index];
                let broker = match broker_config.kind {
                    BrokerKind::Nats => Broker::Nats(nats::NatsBroker::connect(broker_config, service).await?),
                    BrokerKind::Rabbitmq => Broker::Rabbitmq(rabbitmq::RabbitBroker::connect(broker_config).await?),
                    BrokerKind::Kafka => Broker::Kafka(kafka::KafkaBroker::connect(broker_config).await?),
                };
                brokers[index] = Some(Arc::new(broker));
            }
            let broker = brokers[index].as_ref().expect("connected above");
            let topic = &config.topics[topic];
            match &**broker {
                Broker::Nats(b) => b.ensure_stream(topic).await,
                Broker::Rabbitmq(b) => b.ensure_exchange(topic).await,
                Broker::Kafka(b) => b.ensure_topic(topic).await.map(drop),
            }
            .map_err(|e| ConnectError::Broker(format!("topic {:?}: {}", topic.name, e.message)))?;
        }
        Ok(EventBus { inner: Arc::new(Inner { config: Arc::clone(config), service: service.to_string(), brokers }) })
    }

    /// The service this bus publishes and subscribes for.
    pub fn service(&self) -> &str {
        &self.inner.service
    }

    /// Publishes `event` to `topic` as this service's producer: validated
    /// against the producer's schema version (`Err(Invalid)`, nothing sent,
    /// when it does not match), sent to the producer's subject with new
    /// tracking headers, returned once the broker acknowledged it. Transient
    /// broker errors (a connection lost, a broker restarting) are retried
    /// with backoff for up to 30 s, with the same event id, which JetStream's
    /// duplicate window deduplicates.
    pub async fn publish(&self, topic: &str, event: &Value) -> Result<EventId, PublishError> {
        self.publish_tracked(topic, event, &Headers::new(), Tracking::root()).await
    }

    /// [`EventBus::publish`] with headers of the caller's beside the
    /// tracking headers (which they cannot replace): what consumers' header
    /// filters match. Names are lower-case letters, digits, `-`, `_` and `.`.
    pub async fn publish_with_headers(
        &self,
        topic: &str,
        event: &Value,
        headers: &Headers,
    ) -> Result<EventId, PublishError> {
        self.publish_tracked(topic, event, headers, Tracking::root()).await
    }

    pub(crate) async fn publish_tracked(
        &self,
        topic: &str,
        event: &Value,
        extra: &Headers,
        tracking: Tracking,
    ) -> Result<EventId, PublishError> {
        let config = &self.inner.config;
        let producer = config
            .producers
            .iter()
            .find(|p| p.service == self.inner.service && config.topics[p.topic].name == topic)
            .ok_or_else(|| {
                let published: Vec<String> = config
                    .producers
                    .iter()
                    .filter(|p| p.service == self.inner.service)
                    .map(|p| config.topics[p.topic].name.clone())
                    .collect();
                PublishError::NotAProducer(format!(
                    "service {:?} does not publish topic {topic:?}{}",
                    self.inner.service,
                    config::did_you_mean(topic, published.iter())
                ))
            })?;
        let topic_config = &config.topics[producer.topic];
        let schema = &topic_config.versions[&producer.version];
        schema.validate(event).map_err(|message| PublishError::Invalid {
            topic: topic.to_string(),
            version: producer.version,
            message,
        })?;
        let payload = serde_json::to_vec(event).expect("a serde_json::Value always serialises");
        let mut headers = tracking.headers(topic, producer.version);
        for (name, value) in extra {
            let valid_name = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.'));
            if !valid_name || value.chars().any(char::is_control) {
                return Err(PublishError::Header(format!(
                    "header {name:?}: names are lower-case letters, digits, `-`, `_` and `.`; values have no control characters"
                )));
            }
            if headers.contains_key(name) || name == "nats-msg-id" {
                return Err(PublishError::Header(format!("header {name:?} is set by the runtime")));
            }
            headers.insert(name.clone(), value.clone());
        }
        let outgoing =
            Outgoing { topic: topic_config, subject: &producer.subject, headers: &headers, payload: &payload };
        self.send(&outgoing, PUBLISH_DEADLINE).await?;
        Ok(EventId(tracking.event_id))
    }

    /// Sends with retries of transient errors until `deadline` has passed.
    pub(crate) async fn send(&self, event: &Outgoing<'_>, deadline: Duration) -> Result<(), PublishError> {
        let broker = self.inner.brokers[event.topic.broker].as_ref().ok_or_else(|| {
            PublishError::Broker(format!("topic {:?}: its broker is not connected", event.topic.name))
        })?;
        let start = tokio::time::Instant::now();
        let mut pause = RETRY_FIRST;
        loop {
            match broker.send_once(event).await {
                Ok(()) => return Ok(()),
                Err(e) if e.unroutable => {
                    return Err(PublishError::Unroutable(format!("topic {:?}: {}", event.topic.name, e.message)))
                }
                Err(e) if !e.transient || start.elapsed() + pause > deadline => {
                    return Err(PublishError::Broker(format!(
                        "topic {:?}: the broker did not acknowledge the event within {:?}: {}",
                        event.topic.name,
                        start.elapsed(),
                        e.message
                    )))
                }
                Err(_) => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(RETRY_MAX);
                }
            }
        }
    }

    /// Registers `handler` for this service's consumer of `topic` and starts
    /// consuming (on the current tokio runtime); dropping the returned
    /// [`Subscription`] stops it. The handler gets each event read with the
    /// consumer's reader schema; `Ok` acknowledges it, `Err` or not
    /// finishing within the ack wait redelivers it after the backoff, until
    /// the consumer's `max_deliveries`, after which it is dead-lettered.
    pub async fn subscribe<F, Fut, E>(&self, topic: &str, handler: F) -> Result<Subscription, SubscribeError>
    where
        F: Fn(Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display,
    {
        let config = &self.inner.config;
        let consumer = config
            .consumers
            .iter()
            .find(|c| c.service == self.inner.service && config.topics[c.topic].name == topic)
            .ok_or_else(|| {
                let consumed: Vec<String> = config
                    .consumers
                    .iter()
                    .filter(|c| c.service == self.inner.service)
                    .map(|c| config.topics[c.topic].name.clone())
                    .collect();
                SubscribeError::NotAConsumer(format!(
                    "service {:?} does not subscribe to topic {topic:?}{}",
                    self.inner.service,
                    config::did_you_mean(topic, consumed.iter())
                ))
            })?
            .clone();
        self.start(consumer, consume::Reading::Reader, wrap(handler)).await
    }

    /// Reads `topic` as an ephemeral at-most-once consumer that takes part
    /// in no group and validates nothing: each event as it was sent (the
    /// payload parsed as JSON, or a string when it is not JSON). From the
    /// stream's first event when `from_start` (JetStream, Kafka; RabbitMQ queues
    /// keep no history, so only new events), else from now.
    pub async fn tail<F, Fut>(&self, topic: &str, from_start: bool, handler: F) -> Result<Subscription, SubscribeError>
    where
        F: Fn(Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let config = &self.inner.config;
        let index = config
            .topic_named(topic)
            .ok_or_else(|| SubscribeError::NotAConsumer(format!("no topic is named {topic:?}")))?;
        let current = *config.topics[index].versions.keys().next_back().expect("a topic has a version");
        let consumer = ConsumerConfig {
            service: self.inner.service.clone(),
            topic: index,
            version: current,
            group: None,
            subject_filters: Vec::new(),
            header_filters: Vec::new(),
            delivery: Delivery::AtMostOnce,
            max_in_flight: 1,
            session_timeout: config::DEFAULT_SESSION_TIMEOUT,
        };
        let handler = Arc::new(move |event: Event| {
            let done = handler(event);
            Box::pin(async move {
                done.await;
                Ok(())
            }) as consume::HandlerFuture
        });
        self.start(consumer, consume::Reading::Raw { from_start }, handler).await
    }

    async fn start(
        &self,
        consumer: ConsumerConfig,
        reading: consume::Reading,
        handler: consume::Handler,
    ) -> Result<Subscription, SubscribeError> {
        let topic = &self.inner.config.topics[consumer.topic];
        let broker = self.inner.brokers[topic.broker]
            .as_ref()
            .ok_or_else(|| SubscribeError::Broker(format!("topic {:?}: its broker is not connected", topic.name)))?
            .clone();
        let stats = Arc::new(Stats::default());
        let pipeline = Arc::new(consume::Pipeline::new(self.clone(), consumer, reading, handler, Arc::clone(&stats)));
        let task = match &*broker {
            Broker::Nats(b) => b.consume(Arc::clone(&pipeline)).await?,
            Broker::Rabbitmq(b) => b.consume(Arc::clone(&pipeline)).await?,
            Broker::Kafka(b) => b.consume(Arc::clone(&pipeline)).await?,
        };
        Ok(Subscription { task, stats })
    }
}

fn wrap<F, Fut, E>(handler: F) -> consume::Handler
where
    F: Fn(Event) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: fmt::Display,
{
    Arc::new(move |event: Event| {
        let done = handler(event);
        Box::pin(async move { done.await.map_err(|e| e.to_string()) }) as consume::HandlerFuture
    })
}

/// An event handed to a handler.
#[derive(Clone, Debug)]
pub struct Event {
    /// Its `event-id` header.
    pub id: String,
    pub topic: String,
    /// The subject (NATS) or routing key (RabbitMQ) it was published to.
    pub subject: String,
    /// The reader schema's version it was read with (for [`EventBus::tail`]:
    /// the version it was written with, when its header says so).
    pub version: u32,
    /// Which delivery this is: 1 the first, 2 the first redelivery, ...
    pub attempt: u32,
    /// Every header as received (names in lower case).
    pub headers: Headers,
    /// The event, read with the reader schema.
    pub payload: Value,
    pub(crate) bus: EventBus,
}

impl Event {
    /// Publishes an event caused by this one: same `correlation-id` and
    /// trace, `causation-id` this event's id.
    pub async fn publish(&self, topic: &str, event: &Value) -> Result<EventId, PublishError> {
        self.bus.publish_tracked(topic, event, &Headers::new(), Tracking::caused_by(&self.headers)).await
    }
}

/// What a subscription has done so far; each count only grows.
#[derive(Debug, Default)]
pub struct Stats {
    pub(crate) delivered: AtomicU64,
    pub(crate) acknowledged: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) filtered: AtomicU64,
    pub(crate) reconnects: AtomicU64,
}

/// A snapshot of [`Stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Deliveries received (redeliveries included).
    pub delivered: u64,
    /// Events handled and acknowledged.
    pub acknowledged: u64,
    /// Handler errors and timeouts (each redelivered or dead-lettered).
    pub failed: u64,
    /// Events moved to the dead-letter topic.
    pub dead_lettered: u64,
    /// Events dropped after their last delivery (`dead_letter: drop`).
    pub dropped: u64,
    /// Deliveries a header or subject filter skipped (acknowledged unhandled).
    pub filtered: u64,
    /// Times the consumer had to be set up again after a broker error.
    pub reconnects: u64,
}

impl Stats {
    pub(crate) fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            delivered: get(&self.delivered),
            acknowledged: get(&self.acknowledged),
            failed: get(&self.failed),
            dead_lettered: get(&self.dead_lettered),
            dropped: get(&self.dropped),
            filtered: get(&self.filtered),
            reconnects: get(&self.reconnects),
        }
    }
}

/// A running subscription; dropping it stops consuming (handlers in flight
/// are cancelled, their events redelivered).
pub struct Subscription {
    task: tokio::task::JoinHandle<()>,
    stats: Arc<Stats>,
}

impl Subscription {
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription").field("stats", &self.stats()).finish()
    }
}
