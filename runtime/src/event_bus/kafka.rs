//! The Kafka adapter (rskafka, pure Rust): a topic is a Kafka topic (its
//! `stream` name), created with its declared partitions and replication
//! factor when missing. Publishes are produced with `acks=all`; the record
//! key is the event's partition-key field when the topic names one and the
//! event has it (the partition is Kafka's default partitioner's, murmur2,
//! else partition 0); the subject and the tracking headers travel as record
//! headers.
//!
//! A group subscriber is a member of its Kafka consumer group
//! ([`member`]): it reads only the partitions the group assigns it, each
//! in order, one event at a time, from the group's committed offset
//! (`OffsetCommit`/`OffsetFetch`, spoken by [`Group`]: rskafka has no
//! consumer groups); a new group starts at the end of the topic. An
//! ephemeral subscriber reads every partition from the end, without
//! membership or commits. Kafka does not count deliveries, so redelivery
//! is in-process: the pipeline's `Retry` holds the partition for the
//! backoff and runs the handler again. At least once commits after the
//! event is handled or dead-lettered, at most once before the handler runs.

mod group;
mod member;
mod transport;
mod wire;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rskafka::client::error::{Error as KafkaError, ProtocolError};
use rskafka::client::partition::{Compression, OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::client::Client;
use rskafka::record::Record;
use tokio::sync::{watch, Mutex};
use tokio::task::{JoinHandle, JoinSet};

use group::{Generation, Group, GroupError};
use transport::Connector;

use super::config::{BrokerConfig, TopicConfig};
use super::consume::{Pipeline, Reading, Received, Verdict};
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
/// How long a publisher trusts the partitions it read for a topic.
const METADATA_MAX_AGE: Duration = Duration::from_secs(300);

pub(crate) struct KafkaBroker {
    cluster: Arc<Cluster>,
}

/// A broker's clients, shared with the tasks that consume from it.
pub(crate) struct Cluster {
    name: String,
    connector: Arc<Connector>,
    client: Client,
    /// Partition clients by (topic, partition).
    partitions: Mutex<BTreeMap<(String, i32), Arc<PartitionClient>>>,
    /// Each published topic's partitions and when they were read, so a
    /// publish does not ask for the cluster's metadata every time.
    published: Mutex<BTreeMap<String, (Instant, Vec<i32>)>>,
}

impl KafkaBroker {
    pub async fn connect(config: &BrokerConfig) -> Result<KafkaBroker, ConnectError> {
        let connector = Arc::new(Connector::new(config)?);
        let client = connector
            .client()
            .await
            .map_err(|e| ConnectError::Broker(format!("broker {:?}: cannot connect: {e}", config.name)))?;
        let cluster = Cluster {
            name: config.name.clone(),
            connector,
            client,
            partitions: Mutex::new(BTreeMap::new()),
            published: Mutex::new(BTreeMap::new()),
        };
        Ok(KafkaBroker { cluster: Arc::new(cluster) })
    }

    /// The topic's partitions, creating the topic with its declared
    /// partitions and replication factor when missing.
    pub async fn ensure_topic(&self, topic: &TopicConfig) -> Result<Vec<i32>, BrokerError> {
        self.cluster.ensure_topic(topic).await
    }

    pub async fn send_once(&self, event: &Outgoing<'_>) -> Result<(), BrokerError> {
        self.cluster.send_once(event).await
    }

    /// Starts consuming for `pipeline`: the partitions it reads (all of
    /// them, or for a group those assigned to this member) and their start
    /// offsets are fixed before this returns, so events published
    /// afterwards reach it.
    pub async fn consume(&self, pipeline: Arc<Pipeline>) -> Result<JoinHandle<()>, SubscribeError> {
        if let Some(group) = pipeline.group() {
            let group = Group::new(Arc::clone(&self.cluster.connector), group.to_string());
            return member::start(Arc::clone(&self.cluster), pipeline, group).await;
        }
        let cluster = &self.cluster;
        let topic = pipeline.topic().stream.clone();
        let partitions = cluster.ensure_topic(pipeline.topic()).await.map_err(|e| SubscribeError::Broker(e.message))?;
        let mut readers = Vec::new();
        for partition in partitions {
            readers
                .push(cluster.reader(&pipeline, &topic, partition, None, None).await.map_err(SubscribeError::Broker)?);
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

impl Cluster {
    fn error(&self, what: &str, error: &KafkaError) -> BrokerError {
        BrokerError::transient(format!("broker {:?}: {what}: {error}", self.name))
    }

    async fn ensure_topic(&self, topic: &TopicConfig) -> Result<Vec<i32>, BrokerError> {
        for round in 0..2 {
            let topics = self.client.list_topics().await.map_err(|e| self.error("cannot list topics", &e))?;
            if let Some(found) = topics.into_iter().find(|t| t.name == topic.stream) {
                if !found.partitions.is_empty() {
                    return Ok(found.partitions.into_iter().collect());
                }
            }
            if round == 0 {
                let controller = self.client.controller_client().map_err(|e| self.error("no controller", &e))?;
                // Both fit: at most 10 000 partitions and 5 replicas (config.rs).
                let partitions = i32::try_from(topic.partitions).unwrap_or(i32::MAX);
                let replication = i16::from(topic.replicas.unwrap_or(1));
                match controller.create_topic(topic.stream.as_str(), partitions, replication, 5_000).await {
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

    /// The partitions a publish to `topic` picks from: read again once
    /// [`METADATA_MAX_AGE`] old (as Kafka clients' `metadata.max.age.ms`),
    /// so partitions added to the topic are used.
    async fn publish_partitions(&self, topic: &TopicConfig) -> Result<Vec<i32>, BrokerError> {
        if let Some((read, partitions)) = self.published.lock().await.get(&topic.stream) {
            if read.elapsed() < METADATA_MAX_AGE {
                return Ok(partitions.clone());
            }
        }
        let partitions = self.ensure_topic(topic).await?;
        self.published.lock().await.insert(topic.stream.clone(), (Instant::now(), partitions.clone()));
        Ok(partitions)
    }

    /// Every topic's partition ids (for a group leader's assignment).
    async fn topic_partitions(&self) -> Result<BTreeMap<String, Vec<i32>>, String> {
        let topics = self.client.list_topics().await.map_err(|e| self.error("cannot list topics", &e).message)?;
        Ok(topics.into_iter().map(|t| (t.name, t.partitions.into_iter().collect())).collect())
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

    async fn send_once(&self, event: &Outgoing<'_>) -> Result<(), BrokerError> {
        let topic = event.topic;
        let key = topic.partition_key.as_deref().and_then(|field| key_of(event.payload, field));
        let partitions = self.publish_partitions(topic).await?;
        let partition = match &key {
            Some(key) => partitions[partition_of(key, partitions.len())],
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
            Err(e) => {
                // The topic may be gone or changed: the next try reads it again.
                self.published.lock().await.remove(&topic.stream);
                Err(self.error("produce failed", &e))
            }
        }
    }

    /// A reader of `topic`'s `partition` for `pipeline`, starting at the
    /// group's committed offset; without one (a new group, an ephemeral
    /// reader) at the end of the partition (its start for `tail` from the
    /// start), which a group commits at once so a restart resumes there.
    async fn reader(
        &self,
        pipeline: &Pipeline,
        topic: &str,
        partition: i32,
        commits: Option<(Arc<Group>, Generation)>,
        stop: Option<watch::Receiver<bool>>,
    ) -> Result<Reader, String> {
        let client = self.partition(topic, partition).await.map_err(|e| e.message)?;
        let group_error = |e: GroupError| format!("broker {:?}: group offsets: {e}", self.name);
        let committed = match &commits {
            Some((group, _)) => group.fetch(topic, partition).await.map_err(group_error)?,
            None => None,
        };
        let offset = match committed {
            Some(offset) => offset,
            None => {
                let from_start = matches!(pipeline.reading, Reading::Raw { from_start: true });
                let at = if from_start { OffsetAt::Earliest } else { OffsetAt::Latest };
                let offset =
                    client.get_offset(at).await.map_err(|e| self.error("cannot read an offset", &e).message)?;
                if let Some((group, generation)) = &commits {
                    group.commit(topic, partition, offset, generation).await.map_err(group_error)?;
                }
                offset
            }
        };
        Ok(Reader { client, topic: topic.to_string(), partition, offset, commits, stop })
    }
}

/// One partition's reader.
struct Reader {
    client: Arc<PartitionClient>,
    topic: String,
    partition: i32,
    /// The next offset to read.
    offset: i64,
    /// Where handled offsets are committed, as which member; `None` for
    /// ephemeral readers.
    commits: Option<(Arc<Group>, Generation)>,
    /// Turns true when the reader is to stop (a group rebalances) after
    /// the event in hand; `None`: it reads until dropped.
    stop: Option<watch::Receiver<bool>>,
}

impl Reader {
    async fn run(mut self, pipeline: Arc<Pipeline>) {
        let mut pause = RESUME_FIRST;
        loop {
            let fetch = self.client.fetch_records(self.offset, 1..FETCH_MAX_BYTES, FETCH_WAIT_MS);
            let fetched = tokio::select! {
                fetched = fetch => fetched,
                () = stop_requested(&mut self.stop) => return,
            };
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
                if self.stopping() {
                    return;
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
                            // Stopping: the event stays uncommitted, and
                            // the partition's next reader handles it.
                            tokio::select! {
                                () = tokio::time::sleep(delay) => {}
                                () = stop_requested(&mut self.stop) => return,
                            }
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

    fn stopping(&self) -> bool {
        self.stop.as_ref().is_some_and(|stop| *stop.borrow())
    }

    /// Commits `offset` for the group (ephemeral readers keep none). A
    /// commit that fails is retried with the next one; until then a restart
    /// or the partition's next owner redelivers: at least once.
    async fn commit(&self, offset: i64) {
        if let Some((group, generation)) = &self.commits {
            let _ = group.commit(&self.topic, self.partition, offset, generation).await;
        }
    }
}

/// Resolves once `stop` turns true or its sender is gone; never without one.
async fn stop_requested(stop: &mut Option<watch::Receiver<bool>>) {
    match stop {
        Some(stop) => {
            let _ = stop.wait_for(|stop| *stop).await;
        }
        None => std::future::pending().await,
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

/// The partition of a keyed record, as Kafka's Java client's default
/// partitioner picks it (`toPositive(murmur2(key)) % partitions`), so a key
/// lands on the same partition whichever client produced it.
fn partition_of(key: &[u8], partitions: usize) -> usize {
    let positive = murmur2(key) & 0x7fff_ffff;
    positive as usize % partitions.max(1)
}

/// MurmurHash2 (32 bit, seed `0x9747b28c`) as `org.apache.kafka.common.utils.Utils.murmur2`.
fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    const SEED: u32 = 0x9747_b28c;
    let mut h = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u32::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^ (h >> 15)
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
    fn murmur2_matches_the_java_clients() {
        // Kafka's UtilsTest vectors (signed, as Java prints them), checked
        // against kafka-python's `kafka.partitioner.default.murmur2`.
        let vectors: [(&[u8], i32); 5] = [
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        ];
        for (key, java) in vectors {
            assert_eq!(murmur2(key) as i32, java, "murmur2({:?})", String::from_utf8_lossy(key));
        }
        // Tail lengths 0 to 3, from kafka-python.
        assert_eq!(murmur2(b""), 275646681);
        assert_eq!(murmur2(b"abc"), 479470107);
    }

    #[test]
    fn a_key_goes_where_the_java_partitioner_puts_it() {
        // toPositive(-973932308) = 1173551340; 1173551340 % 4 = 0, % 7 = 5.
        assert_eq!(partition_of(b"21", 4), 0);
        assert_eq!(partition_of(b"21", 7), 1173551340 % 7);
        assert_eq!(partition_of(b"foobar", 1), 0);
        assert_eq!(partition_of(b"foobar", 12), 1357151166 % 12);
    }
}
