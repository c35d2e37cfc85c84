//! What both brokers do with a delivery: filter it, read it with the reader
//! schema, run the handler, and decide between acknowledging, redelivering
//! after the backoff and dead-lettering. The adapters only receive and
//! carry out the [`Verdict`].

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::config::{ConsumerConfig, DeadLetter, Delivery, TopicConfig};
use super::tracking::{self, Headers};
use super::{subject, Event, EventBus, Outgoing, Stats};

pub(crate) type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
pub(crate) type Handler = Arc<dyn Fn(Event) -> HandlerFuture + Send + Sync>;

/// How long a dead-letter publish may retry before the event is redelivered
/// (and dead-lettered again) instead.
const DEAD_LETTER_DEADLINE: Duration = Duration::from_secs(5);
/// The pause before redelivering an event whose dead-lettering failed.
pub(crate) const DEAD_LETTER_RETRY: Duration = Duration::from_secs(1);

/// How events are handed over.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Reading {
    /// Read with the consumer's reader schema.
    Reader,
    /// As sent, unvalidated (`tail`); `from_start` where the broker keeps history.
    Raw { from_start: bool },
}

/// One delivery as a broker adapter received it.
pub(crate) struct Received {
    pub subject: String,
    pub headers: Headers,
    pub payload: Vec<u8>,
    /// 1 for the first delivery.
    pub attempt: u32,
}

/// What to do with a delivery once handled.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Acknowledge it: handled, filtered out, dropped or dead-lettered.
    Ack,
    /// Redeliver it after this delay.
    Retry(Duration),
}

pub(crate) struct Pipeline {
    pub bus: EventBus,
    pub consumer: ConsumerConfig,
    pub reading: Reading,
    handler: Handler,
    pub stats: Arc<Stats>,
    /// Deliveries per event id, for queues that do not count them (RabbitMQ
    /// classic queues); entries go when the event is acknowledged.
    counts: Mutex<HashMap<String, u32>>,
}

impl Pipeline {
    pub fn new(
        bus: EventBus,
        consumer: ConsumerConfig,
        reading: Reading,
        handler: Handler,
        stats: Arc<Stats>,
    ) -> Pipeline {
        Pipeline { bus, consumer, reading, handler, stats, counts: Mutex::new(HashMap::new()) }
    }

    pub fn topic(&self) -> &TopicConfig {
        &self.bus.inner.config.topics[self.consumer.topic]
    }

    pub fn at_most_once(&self) -> bool {
        matches!(self.consumer.delivery, Delivery::AtMostOnce)
    }

    /// The durable name / group, or `None` for an ephemeral consumer.
    pub fn group(&self) -> Option<&str> {
        self.consumer.group.as_deref()
    }

    /// The consumer's subject patterns: its filters, else the topic's subjects.
    pub fn patterns(&self) -> &[String] {
        if self.consumer.subject_filters.is_empty() {
            &self.topic().subjects
        } else {
            &self.consumer.subject_filters
        }
    }

    /// The delivery number of an event on a queue that does not count them:
    /// one more than the deliveries seen in this process.
    pub fn count_delivery(&self, headers: &Headers) -> u32 {
        let Some(id) = headers.get(tracking::EVENT_ID) else { return 1 };
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(id.clone()).or_insert(0);
        *count = count.saturating_add(1);
        *count
    }

    fn forget(&self, headers: &Headers) {
        if let Some(id) = headers.get(tracking::EVENT_ID) {
            self.counts.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
        }
    }

    /// Handles one delivery: the verdict to carry out. Never panics on what
    /// a delivery holds.
    pub async fn process(&self, received: Received) -> Verdict {
        Stats::add(&self.stats.delivered);
        let verdict = self.decide(received.subject.clone(), &received).await;
        if verdict == Verdict::Ack {
            self.forget(&received.headers);
        }
        verdict
    }

    async fn decide(&self, subject_name: String, received: &Received) -> Verdict {
        let patterns = self.patterns();
        let filtered_out = (!patterns.is_empty() && !patterns.iter().any(|p| subject::matches(p, &subject_name)))
            || self.consumer.header_filters.iter().any(|(name, value)| received.headers.get(name) != Some(value));
        if filtered_out {
            Stats::add(&self.stats.filtered);
            return Verdict::Ack;
        }
        let redelivery = match &self.consumer.delivery {
            Delivery::AtLeastOnce(r) => Some(r),
            Delivery::AtMostOnce => None,
        };
        let max = redelivery.and_then(|r| r.max_deliveries);
        if let Some(max) = max {
            if received.attempt > max {
                // Delivered again without an answer (a handler that hung
                // past the ack wait, a connection lost): give up now.
                let reason = format!("delivered {} times without being acknowledged", received.attempt - 1);
                return self.give_up(received, &reason, received.attempt - 1).await;
            }
        }
        let event = match self.read(subject_name, received) {
            Ok(event) => event,
            Err(reason) => {
                Stats::add(&self.stats.failed);
                // Not readable now, not readable on any redelivery.
                return match redelivery {
                    Some(_) => self.give_up(received, &reason, received.attempt).await,
                    None => Verdict::Ack,
                };
            }
        };
        let outcome = match redelivery {
            Some(r) => match tokio::time::timeout(r.ack_wait, (self.handler)(event)).await {
                Ok(result) => result,
                Err(_) => Err(format!("the handler did not finish within the ack wait ({:?})", r.ack_wait)),
            },
            None => (self.handler)(event).await,
        };
        match (outcome, redelivery) {
            (Ok(()), _) => {
                Stats::add(&self.stats.acknowledged);
                Verdict::Ack
            }
            (Err(_), None) => {
                Stats::add(&self.stats.failed);
                Verdict::Ack
            }
            (Err(error), Some(r)) => {
                Stats::add(&self.stats.failed);
                match max {
                    Some(max) if received.attempt >= max => {
                        let reason = format!("the handler failed on delivery {} of {max}: {error}", received.attempt);
                        self.give_up(received, &reason, received.attempt).await
                    }
                    _ => Verdict::Retry(r.backoff.delay(received.attempt)),
                }
            }
        }
    }

    fn read(&self, subject_name: String, received: &Received) -> Result<Event, String> {
        let topic = self.topic();
        let written: Option<u32> = received.headers.get(tracking::SCHEMA_VERSION).and_then(|v| v.parse().ok());
        let (payload, version) = match self.reading {
            Reading::Raw { .. } => {
                let payload = serde_json::from_slice(&received.payload)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&received.payload).into_owned()));
                (payload, written.unwrap_or(self.consumer.version))
            }
            Reading::Reader => {
                let payload: Value =
                    serde_json::from_slice(&received.payload).map_err(|e| format!("the event is not JSON: {e}"))?;
                let reader = &topic.versions[&self.consumer.version];
                let payload = reader.read(payload).map_err(|e| {
                    format!("the event cannot be read with schema version {}: {e}", self.consumer.version)
                })?;
                (payload, self.consumer.version)
            }
        };
        Ok(Event {
            id: received.headers.get(tracking::EVENT_ID).cloned().unwrap_or_default(),
            topic: topic.name.clone(),
            subject: subject_name,
            version,
            attempt: received.attempt,
            headers: received.headers.clone(),
            payload,
            bus: self.bus.clone(),
        })
    }

    /// The event's last delivery failed: dead-letter it (then acknowledge),
    /// or drop it. If the dead-letter topic does not take it, redeliver and
    /// try again.
    async fn give_up(&self, received: &Received, reason: &str, attempts: u32) -> Verdict {
        let dead_letter = match &self.consumer.delivery {
            Delivery::AtLeastOnce(r) => r.dead_letter.as_ref(),
            Delivery::AtMostOnce => None,
        };
        let Some(DeadLetter::Topic { topic, subject }) = dead_letter else {
            Stats::add(&self.stats.dropped);
            return Verdict::Ack;
        };
        let config = &self.bus.inner.config;
        let mut headers = received.headers.clone();
        headers.insert(tracking::DEAD_LETTER_REASON.into(), reason.chars().take(1000).collect());
        headers.insert(tracking::ATTEMPTS.into(), attempts.to_string());
        headers.insert(tracking::DEAD_LETTER_TOPIC.into(), self.topic().name.clone());
        headers.insert(tracking::DEAD_LETTER_GROUP.into(), self.group().unwrap_or("ephemeral").to_string());
        let outgoing =
            Outgoing { topic: &config.topics[*topic], subject, headers: &headers, payload: &received.payload };
        match self.bus.send(&outgoing, DEAD_LETTER_DEADLINE).await {
            Ok(()) => {
                Stats::add(&self.stats.dead_lettered);
                Verdict::Ack
            }
            Err(_) => Verdict::Retry(DEAD_LETTER_RETRY),
        }
    }
}
