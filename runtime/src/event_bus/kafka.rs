//! The Kafka adapter (rskafka, pure Rust): a topic is a Kafka topic (its
//! `stream` name), created with one partition when missing. Publishes are
//! produced with `acks=all`; the record key is the event's partition-key
//! field when the topic names one and the event has it (the partition is a
//! stable hash of the key, else partition 0); the subject and the tracking
//! headers travel as record headers.
//!
//! A consumer reads every partition of the topic, each in order, one event
//! at a time. A group's position is its committed offset, stored in Kafka
//! (`OffsetCommit`/`OffsetFetch`, spoken by [`Offsets`]: rskafka has no
//! consumer groups); a new group starts at the end of the topic, an
//! ephemeral subscriber too, without committing. Kafka does not count
//! deliveries, so redelivery is in-process: the pipeline's `Retry` holds
//! the partition for the backoff and runs the handler again. At least once
//! commits after the event is handled or dead-lettered, at most once before
//! the handler runs. There is no group membership: every instance of a
//! group reads every partition (run one consumer instance per group).

mod group;
mod transport;
mod wire;

use std::collections::BTreeMap;
use std::hash::Hasher;
use std::sync::Arc;
use std::time::Duration;

use rskafka::client::error::{Error as KafkaError, ProtocolError};
use rskafka::client::partition::{Compression, OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::client::Client;
use rskafka::record::Record;
use tokio::sync::Mutex;
use tokio::task::{JoinHandle, JoinSet};

use group::Offsets;
use transport::Connector;

use super::config::{BrokerConfig, TopicConfig};
use super::consume::{Pipeline, Received, Verdict};
use super::tracking::Headers;
use super::{BrokerError, ConnectError, Outgoing, Stats, SubscribeError};

/// The record header that carries the event's subject (Kafka has none).
pub const SUBJECT_HEADER: &str = "event-subject";
/// How long one fetch waits for records.
const FETCH_WAIT_MS: i32 = 500;
/// The most bytes one fetch returns.
const FETCH_MAX_BYTES: i32 = 1_048_576;
/// The pause before a partition reader tries again after an error.
const RESUME_FIRST: Duration = Duration::from_millis(100);
const RESUME_MAX: Duration = Duration::from_secs(2);
/// How long one request may take (connect, answer).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// rskafka's own retries of one call stop after this.
const CLIENT_DEADLINE: Duration = Duration::from_secs(10);
/// The client id the broker sees.
const CLIENT_ID: &str = "meshc-runtime";

pub(crate) struct KafkaBroker {
    name: String,
    connector: Arc<Connector>,
    client: Client,
    /// Partition clients by (topic, partition).
    partitions: Mutex<BTreeMap<(String, i32), Arc<PartitionClient>>>,
}

impl KafkaBroker {
    pub async fn connect(config: &BrokerConfig) -> Result<KafkaBroker, ConnectError> {
        let connector = Arc::new(Connector::new(config)?);
        let client = connector
            .client()
            .await
            .map_err(|e| ConnectError::Broker(format!("broker {:?}: cannot connect: {e}", config.name)))?;
        Ok(KafkaBroker { name: config.name.clone(), connector, client, partitions: Mutex::new(BTreeMap::new()) })
    }

    fn error(&self, what: &str, error: &KafkaError) -> BrokerError {
        BrokerError::transient(format!("broker {:?}: {what}: {error}", self.name))
    }

    /// The topic's partitions, creating the topic (one partition) when missing.
    pub async fn ensure_topic(&self, topic: &TopicConfig) -> Result<Vec<i32>, BrokerError> {
        for round in 0..2 {
            let topics = self.client.list_topics().await.map_err(|e| self.error("cannot list topics", &e))?;
            if let Some(found) = topics.into_iter().find(|t| t.name == topic.stream) {
                if !found.partitions.is_empty() {
                    return Ok(found.partitions.into_iter().collect());
                }
            }
            if round == 0 {
                let controller = self.client.controller_client().map_err(|e| self.error("no controller", &e))?;
                match controller.create_topic(topic.stream.as_str(), 1, 1, 5_000).await {
                    Ok(()) => {}
                    Err(KafkaError::ServerError { protocol_error: ProtocolError::TopicAlreadyExists, .. }) => {}
                    Err(e) => {
                        return Err(BrokerError::permanent(format!(
                            "broker {:?}: cannot create topic {:?}: {e}",
                            self.name, topic.stream
                        )))
                    }
                }
            }
        }
        Err(BrokerError::permanent(format!("broker {:?}: topic {:?} has no partitions", self.name, topic.stream)))
    }

    async fn partition(&self, topic: &str, partition: i32) -> Result<Arc<PartitionClient>, BrokerError> {
        let key = (topic.to_string(), partition);
        if let Some(client) = self.partitions.lock().await.get(&key) {
            return Ok(Arc::clone(client));
        }
        let client = self
            .client
            .partition_client(topic, partition, UnknownTopicHandling::Retry)
            .await
            .map_err(|e| self.error(&format!("topic {topic:?} partition {partition}"), &e))?;
        let client = Arc::new(client);
        self.partitions.lock().await.insert(key, Arc::clone(&client));
        Ok(client)
    }

    pub async fn send_once(&self, event: &Outgoing<'_>) -> Result<(), BrokerError> {
        let topic = event.topic;
        let key = topic.partition_key.as_deref().and_then(|field| key_of(event.payload, field));
        let partitions = self.ensure_topic(topic).await?;
        let partition = match &key {
            Some(key) => partitions[(stable_hash(key) % partitions.len() as u64) as usize],
            None => partitions[0],
        };
        let mut headers: BTreeMap<String, Vec<u8>> =
            event.headers.iter().map(|(name, value)| (name.clone(), value.clone().into_bytes())).collect();
        headers.insert(SUBJECT_HEADER.into(), event.subject.as_bytes().to_vec());
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let record = Record {
            key,
            value: Some(event.payload.to_vec()),
            headers,
            timestamp: chrono::DateTime::from_timestamp_millis(millis).unwrap_or_default(),
        };
        let client = self.partition(&topic.stream, partition).await?;
        let produced = tokio::time::timeout(REQUEST_TIMEOUT, client.produce(vec![record], Compression::NoCompression))
            .await
            .map_err(|_| BrokerError::transient(format!("broker {:?}: no produce answer", self.name)))?;
        match produced {
            Ok(_) => Ok(()),
            Err(e @ KafkaError::ServerError { protocol_error: ProtocolError::MessageTooLarge, .. }) => {
                Err(BrokerError::permanent(format!("broker {:?}: {e}", self.name)))
            }
            Err(e) => Err(self.error("produce failed", &e)),
        }
    }

    /// Starts consuming for `pipeline`: every partition's start offset is
    /// fixed before this returns, so events published afterwards reach it.
    pub async fn consume(&self, pipeline: Arc<Pipeline>) -> Result<JoinHandle<()>, SubscribeError> {
        let topic = pipeline.topic().stream.clone();
        let partitions = self.ensure_topic(pipeline.topic()).await.map_err(|e| SubscribeError::Broker(e.message))?;
        let offsets =
            pipeline.group().map(|group| Arc::new(Offsets::new(Arc::clone(&self.connector), group.to_string())));
        let from_start = matches!(pipeline.reading, super::consume::Reading::Raw { from_start: true });
        let mut readers = Vec::new();
        for partition in partitions {
            let client = self.partition(&topic, partition).await.map_err(|e| SubscribeError::Broker(e.message))?;
            let committed = match &offsets {
                Some(offsets) => offsets
                    .fetch(&topic, partition)
                    .await
                    .map_err(|e| SubscribeError::Broker(format!("broker {:?}: group offsets: {e}", self.name)))?,
                None => None,
            };
            let start = match committed {
                Some(offset) => offset,
                None => {
                    let at = if from_start { OffsetAt::Earliest } else { OffsetAt::Latest };
                    let offset = client
                        .get_offset(at)
                        .await
                        .map_err(|e| SubscribeError::Broker(self.error("cannot read an offset", &e).message))?;
                    if let Some(offsets) = &offsets {
                        offsets.commit(&topic, partition, offset).await.map_err(|e| {
                            SubscribeError::Broker(format!("broker {:?}: group offsets: {e}", self.name))
                        })?;
                    }
                    offset
                }
            };
            readers.push(Reader { client, partition, offset: start, offsets: offsets.clone(), topic: topic.clone() });
        }
        Ok(tokio::spawn(async move {
            let mut tasks = JoinSet::new();
            for reader in readers {
                tasks.spawn(reader.run(Arc::clone(&pipeline)));
            }
            while tasks.join_next().await.is_some() {}
        }))
    }
}

/// One partition's reader.
struct Reader {
    client: Arc<PartitionClient>,
    topic: String,
    partition: i32,
    /// The next offset to read.
    offset: i64,
    offsets: Option<Arc<Offsets>>,
}

impl Reader {
    async fn run(mut self, pipeline: Arc<Pipeline>) {
        let mut pause = RESUME_FIRST;
        loop {
            let fetched = self.client.fetch_records(self.offset, 1..FETCH_MAX_BYTES, FETCH_WAIT_MS).await;
            let records = match fetched {
                Ok((records, _high_watermark)) => records,
                Err(KafkaError::ServerError { protocol_error: ProtocolError::OffsetOutOfRange, .. }) => {
                    // Retention removed what the group had not read: go on
                    // from the oldest record kept.
                    if let Ok(earliest) = self.client.get_offset(OffsetAt::Earliest).await {
                        self.offset = earliest;
                    }
                    continue;
                }
                Err(_) => {
                    Stats::add(&pipeline.stats.reconnects);
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(RESUME_MAX);
                    continue;
                }
            };
            pause = RESUME_FIRST;
            for record in records {
                // A fetch returns whole batches: skip what was read already.
                if record.offset < self.offset {
                    continue;
                }
                let next = record.offset.saturating_add(1);
                if pipeline.at_most_once() {
                    self.commit(next).await;
                }
                let mut headers = Headers::new();
                let mut subject = String::new();
                for (name, value) in record.record.headers {
                    let value = String::from_utf8_lossy(&value).into_owned();
                    let name = name.to_ascii_lowercase();
                    if name == SUBJECT_HEADER {
                        subject = value;
                    } else {
                        headers.insert(name, value);
                    }
                }
                let payload = record.record.value.unwrap_or_default();
                let mut attempt = 1u32;
                loop {
                    let received = Received {
                        subject: subject.clone(),
                        headers: headers.clone(),
                        payload: payload.clone(),
                        attempt,
                    };
                    match pipeline.process(received).await {
                        Verdict::Ack => break,
                        Verdict::Retry(_) if pipeline.at_most_once() => break,
                        Verdict::Retry(delay) => {
                            tokio::time::sleep(delay).await;
                            attempt = attempt.saturating_add(1);
                        }
                    }
                }
                self.offset = next;
                if !pipeline.at_most_once() {
                    self.commit(next).await;
                }
            }
        }
    }

    /// Commits `offset` for the group (ephemeral readers keep none). A
    /// commit that fails is retried with the next one; until then a restart
    /// redelivers: at least once.
    async fn commit(&self, offset: i64) {
        if let Some(offsets) = &self.offsets {
            let _ = offsets.commit(&self.topic, self.partition, offset).await;
        }
    }
}

/// The event's `field` (a dotted path of JSON members) as key bytes: a
/// string as it is, any other value as its JSON text; `None` when absent
/// or null.
fn key_of(payload: &[u8], field: &str) -> Option<Vec<u8>> {
    let value: serde_json::Value = serde_json::from_slice(payload).ok()?;
    let found = field.split('.').try_fold(&value, |value, member| value.get(member))?;
    match found {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone().into_bytes()),
        other => Some(other.to_string().into_bytes()),
    }
}

/// FNV-1a: the same key always reaches the same partition (for a given
/// partition count), across processes and versions.
fn stable_hash(key: &[u8]) -> u64 {
    struct Fnv(u64);
    impl Hasher for Fnv {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for &b in bytes {
                self.0 ^= u64::from(b);
                self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
            }
        }
    }
    let mut hasher = Fnv(0xcbf2_9ce4_8422_2325);
    hasher.write(key);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partition_key_is_the_field_as_text() {
        assert_eq!(key_of(br#"{"id":"a-1","n":2}"#, "id"), Some(b"a-1".to_vec()));
        assert_eq!(key_of(br#"{"id":"a-1","n":2}"#, "n"), Some(b"2".to_vec()));
        assert_eq!(key_of(br#"{"id":null}"#, "id"), None);
        assert_eq!(key_of(br#"{"a":{"b":"x"}}"#, "a.b"), Some(b"x".to_vec()));
        assert_eq!(key_of(br#"{"id":1}"#, "other"), None);
        assert_eq!(key_of(b"not json", "id"), None);
    }

    #[test]
    fn the_hash_is_fnv1a() {
        // Known FNV-1a 64 values: a changed hash would move keys between partitions.
        assert_eq!(stable_hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
