//! The RabbitMQ adapter (lapin): a topic is an exchange (its `stream`
//! name, of the topic's exchange type), a consumer group a durable queue
//! `<topic>.<group>` (quorum unless the topic says classic) bound to it, an
//! ephemeral subscriber an exclusive, auto-deleted queue. Publishes are
//! mandatory and wait for the publisher confirm. Redeliveries are counted
//! by quorum queues (`x-delivery-count`), by the runtime on classic ones;
//! backoff is holding the delivery for the delay, then requeueing it.
//!
//! The connection is re-made (each address in turn) whenever it is found
//! broken: by a publish, or by a consumer whose deliveries stopped.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::{Mutex, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

use super::config::{BrokerConfig, ExchangeType, QueueType, TopicConfig};
use super::consume::{Pipeline, Received, Verdict};
use super::tracking::{self, Headers};
use super::{Broker, BrokerError, ConnectError, Outgoing, Stats, SubscribeError};

/// The pause before a consumer sets itself up again, doubling up to the max.
const RESUME_FIRST: Duration = Duration::from_millis(100);
const RESUME_MAX: Duration = Duration::from_secs(2);
/// The AMQP heartbeat, so a silently dead connection is noticed.
const HEARTBEAT_SECS: u16 = 10;

pub(crate) struct RabbitBroker {
    name: String,
    /// One AMQP URI per address, credentials included: never logged.
    uris: Vec<String>,
    /// The CA's PEM when the broker's TLS names one.
    ca: Option<String>,
    /// The password (as it is and percent-encoded), cut from error texts.
    secrets: Vec<String>,
    connection: Mutex<Option<Arc<Connection>>>,
    publisher: Mutex<Option<Channel>>,
}

impl RabbitBroker {
    pub async fn connect(config: &BrokerConfig) -> Result<RabbitBroker, ConnectError> {
        let mut secrets = Vec::new();
        let userinfo = match &config.credentials {
            None => String::new(),
            Some(credentials) => {
                let secret = super::read_credentials(credentials, &config.name)?;
                let (user, password) = secret.split_once(':').ok_or_else(|| {
                    ConnectError::Credentials(format!(
                        "broker {:?}: RabbitMQ credentials are `user:password`",
                        config.name
                    ))
                })?;
                if !password.is_empty() {
                    secrets.push(password.to_string());
                    secrets.push(encode(password));
                }
                format!("{}:{}@", encode(user), encode(password))
            }
        };
        let ca = match &config.tls {
            Some(tls) => match &tls.ca {
                Some(path) => Some(super::check_readable(path, &config.name)?),
                None => None,
            },
            None => None,
        };
        let scheme = if config.tls.is_some() { "amqps" } else { "amqp" };
        let uris = config
            .addresses
            .iter()
            .map(|address| {
                format!(
                    "{scheme}://{userinfo}{address}/{}?heartbeat={HEARTBEAT_SECS}&connection_timeout=5000",
                    encode(&config.vhost)
                )
            })
            .collect();
        let broker = RabbitBroker {
            name: config.name.clone(),
            uris,
            ca,
            secrets,
            connection: Mutex::new(None),
            publisher: Mutex::new(None),
        };
        broker.connection().await.map_err(|e| ConnectError::Broker(e.message))?;
        Ok(broker)
    }

    /// The open connection, or a new one (each address in turn).
    async fn connection(&self) -> Result<Arc<Connection>, BrokerError> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = &*slot {
            if connection.status().connected() {
                return Ok(Arc::clone(connection));
            }
        }
        let mut last = String::new();
        for uri in &self.uris {
            let tls = lapin::tcp::OwnedTLSConfig { identity: None, cert_chain: self.ca.clone() };
            let runtime = async_rs::Runtime::tokio_current();
            match Connection::connect_with_config(uri, ConnectionProperties::default(), tls, runtime).await {
                Ok(connection) => {
                    let connection = Arc::new(connection);
                    *slot = Some(Arc::clone(&connection));
                    return Ok(connection);
                }
                Err(e) => last = self.redact(e.to_string()),
            }
        }
        Err(BrokerError::transient(format!("broker {:?}: cannot connect: {last}", self.name)))
    }

    async fn channel(&self) -> Result<Channel, BrokerError> {
        let connection = self.connection().await?;
        connection.create_channel().await.map_err(|e| self.error("cannot open a channel", &e))
    }

    fn error(&self, what: &str, error: &lapin::Error) -> BrokerError {
        BrokerError::transient(self.redact(format!("broker {:?}: {what}: {error}", self.name)))
    }

    /// `text` with the password cut out, should a client error quote the URI.
    fn redact(&self, mut text: String) -> String {
        for secret in &self.secrets {
            text = text.replace(secret.as_str(), "***");
        }
        text
    }

    /// Declares the topic's exchange (durable): a no-op when it exists alike.
    pub async fn ensure_exchange(&self, topic: &TopicConfig) -> Result<(), BrokerError> {
        let channel = self.channel().await?;
        let kind = match topic.exchange_type {
            ExchangeType::Topic => ExchangeKind::Topic,
            ExchangeType::Direct => ExchangeKind::Direct,
            ExchangeType::Fanout => ExchangeKind::Fanout,
            ExchangeType::Headers => ExchangeKind::Headers,
        };
        let options = ExchangeDeclareOptions { durable: true, ..Default::default() };
        let declared =
            channel.exchange_declare(topic.stream.as_str().into(), kind, options, FieldTable::default()).await;
        let _ = channel.close(200, "done".into()).await;
        declared.map_err(|e| {
            BrokerError::permanent(self.redact(format!("broker {:?}: exchange {:?}: {e}", self.name, topic.stream)))
        })
    }

    async fn publisher(&self) -> Result<Channel, BrokerError> {
        let mut slot = self.publisher.lock().await;
        if let Some(channel) = &*slot {
            if channel.status().connected() {
                return Ok(channel.clone());
            }
        }
        let channel = self.channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| self.error("cannot enable publisher confirms", &e))?;
        *slot = Some(channel.clone());
        Ok(channel)
    }

    pub async fn send_once(&self, event: &Outgoing<'_>) -> Result<(), BrokerError> {
        let channel = self.publisher().await?;
        let mut headers = FieldTable::default();
        for (name, value) in event.headers {
            headers.insert(name.as_str().into(), AMQPValue::LongString(value.as_str().into()));
        }
        let mut properties = BasicProperties::default()
            .with_headers(headers)
            .with_content_type(tracking::JSON.into())
            .with_delivery_mode(2);
        if let Some(id) = event.headers.get(tracking::EVENT_ID) {
            properties = properties.with_message_id(id.as_str().into());
        }
        let options = BasicPublishOptions { mandatory: true, ..Default::default() };
        let confirm = channel
            .basic_publish(event.topic.stream.as_str().into(), event.subject.into(), options, event.payload, properties)
            .await
            .map_err(|e| self.error("publish failed", &e))?
            .await
            .map_err(|e| self.error("no publisher confirm", &e))?;
        match confirm {
            Confirmation::Ack(None) | Confirmation::NotRequested => Ok(()),
            Confirmation::Ack(Some(_)) => Err(BrokerError {
                message: format!(
                    "exchange {:?} has no queue bound for routing key {:?}: the event was not kept",
                    event.topic.stream, event.subject
                ),
                transient: false,
                unroutable: true,
            }),
            Confirmation::Nack(_) => {
                Err(BrokerError::transient(format!("broker {:?}: the broker refused the event (nack)", self.name)))
            }
        }
    }

    /// Starts consuming for `pipeline`: the queue is declared and bound
    /// before this returns, so events published afterwards reach it.
    pub async fn consume(&self, pipeline: Arc<Pipeline>) -> Result<JoinHandle<()>, SubscribeError> {
        let setup = self.setup(&pipeline).await.map_err(|e| SubscribeError::Broker(e.message))?;
        let broker = Arc::clone(
            pipeline.bus.inner.brokers[pipeline.topic().broker].as_ref().expect("the pipeline's broker is connected"),
        );
        Ok(tokio::spawn(async move {
            let Broker::Rabbitmq(rabbit) = &*broker else { return };
            rabbit.run(pipeline, setup).await;
        }))
    }

    /// A channel consuming the pipeline's queue, declared and bound.
    async fn setup(&self, pipeline: &Pipeline) -> Result<lapin::Consumer, BrokerError> {
        let channel = self.channel().await?;
        let topic = pipeline.topic();
        let prefetch = u16::try_from(pipeline.consumer.max_in_flight).unwrap_or(u16::MAX);
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await
            .map_err(|e| self.error("cannot set the prefetch", &e))?;
        let queue = match pipeline.group() {
            Some(group) => {
                let name = format!("{}.{group}", topic.name);
                self.ensure_queue(&channel, &name, topic).await?
            }
            None => {
                let options = QueueDeclareOptions { exclusive: true, auto_delete: true, ..Default::default() };
                let queue = channel
                    .queue_declare("".into(), options, FieldTable::default())
                    .await
                    .map_err(|e| self.error("cannot declare a queue", &e))?;
                queue.name().to_string()
            }
        };
        // Several consumers may share a queue; reconnects re-bind it: a
        // binding made twice is one binding.
        // The bindings the rabbitmq backend's definitions give the queue.
        let keys: Vec<String> = match topic.exchange_type {
            ExchangeType::Fanout | ExchangeType::Headers => vec![String::new()],
            ExchangeType::Topic => pipeline.patterns().iter().map(|p| super::subject::amqp_binding(p)).collect(),
            ExchangeType::Direct => pipeline.patterns().to_vec(),
        };
        let mut arguments = FieldTable::default();
        if topic.exchange_type == ExchangeType::Headers {
            for (name, value) in &pipeline.consumer.header_filters {
                arguments.insert(name.as_str().into(), AMQPValue::LongString(value.as_str().into()));
            }
            arguments.insert("x-match".into(), AMQPValue::LongString("all".into()));
        }
        for key in keys {
            channel
                .queue_bind(
                    queue.as_str().into(),
                    topic.stream.as_str().into(),
                    key.as_str().into(),
                    QueueBindOptions::default(),
                    arguments.clone(),
                )
                .await
                .map_err(|e| self.error("cannot bind the queue", &e))?;
        }
        let options = BasicConsumeOptions { no_ack: pipeline.at_most_once(), ..Default::default() };
        channel
            .basic_consume(queue.as_str().into(), "".into(), options, FieldTable::default())
            .await
            .map_err(|e| self.error("cannot consume", &e))
    }

    /// Uses a durable queue as it is (declared by the broker's definitions,
    /// whatever their arguments), or declares it when missing.
    async fn ensure_queue(&self, channel: &Channel, name: &str, topic: &TopicConfig) -> Result<String, BrokerError> {
        // A passive declare of a missing queue closes its channel: use a spare one.
        let probe = self.channel().await?;
        let passive = QueueDeclareOptions { passive: true, ..Default::default() };
        let exists = probe.queue_declare(name.into(), passive, FieldTable::default()).await.is_ok();
        let _ = probe.close(200, "done".into()).await;
        if !exists {
            // The arguments the rabbitmq backend's definitions give it.
            let mut arguments = FieldTable::default();
            let kind = match topic.queue_type {
                QueueType::Quorum => "quorum",
                QueueType::Classic => "classic",
            };
            arguments.insert("x-queue-type".into(), AMQPValue::LongString(kind.into()));
            if let (QueueType::Quorum, Some(replicas)) = (topic.queue_type, topic.replicas) {
                arguments.insert("x-quorum-initial-group-size".into(), AMQPValue::LongLongInt(replicas.into()));
            }
            channel
                .queue_declare(name.into(), QueueDeclareOptions { durable: true, ..Default::default() }, arguments)
                .await
                .map_err(|e| self.error(&format!("cannot declare queue {name:?}"), &e))?;
        }
        Ok(name.to_string())
    }

    async fn run(&self, pipeline: Arc<Pipeline>, mut consumer: lapin::Consumer) {
        let permits = Arc::new(Semaphore::new(pipeline.consumer.max_in_flight as usize));
        let mut handlers = JoinSet::new();
        let mut pause = RESUME_FIRST;
        loop {
            while let Some(delivery) = consumer.next().await {
                let Ok(delivery) = delivery else { break };
                pause = RESUME_FIRST;
                while handlers.try_join_next().is_some() {}
                let Ok(permit) = Arc::clone(&permits).acquire_owned().await else { return };
                let pipeline = Arc::clone(&pipeline);
                handlers.spawn(async move {
                    handle(&pipeline, delivery).await;
                    drop(permit);
                });
            }
            // The channel or connection is gone: its unacknowledged
            // deliveries go back to the queue; set up again.
            Stats::add(&pipeline.stats.reconnects);
            loop {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(RESUME_MAX);
                if let Ok(fresh) = self.setup(&pipeline).await {
                    consumer = fresh;
                    break;
                }
            }
        }
    }
}

async fn handle(pipeline: &Pipeline, delivery: lapin::message::Delivery) {
    let mut headers = Headers::new();
    let mut counted = None;
    if let Some(table) = delivery.properties.headers() {
        for (name, value) in table.inner() {
            let name = name.as_str().to_ascii_lowercase();
            if name == "x-delivery-count" {
                counted = number(value);
            } else if let Some(text) = text(value) {
                headers.insert(name, text);
            }
        }
    }
    let quorum = pipeline.group().is_some() && pipeline.topic().queue_type == QueueType::Quorum;
    let attempt = match (quorum, counted) {
        // A quorum queue counts the deliveries before this one.
        (true, Some(n)) => u32::try_from(n.saturating_add(1)).unwrap_or(u32::MAX),
        (true, None) => 1,
        (false, _) => pipeline.count_delivery(&headers),
    };
    let received = Received {
        subject: delivery.routing_key.to_string(),
        headers,
        payload: delivery.data.clone(),
        attempt: attempt.max(1),
    };
    let verdict = pipeline.process(received).await;
    if pipeline.at_most_once() {
        return;
    }
    // A lost acknowledgement means a redelivery: at least once.
    let _ = match verdict {
        Verdict::Ack => delivery.ack(BasicAckOptions::default()).await,
        Verdict::Retry(delay) => {
            tokio::time::sleep(delay).await;
            delivery.nack(BasicNackOptions { requeue: true, ..Default::default() }).await
        }
    };
}

fn text(value: &AMQPValue) -> Option<String> {
    match value {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
        other => number(other).map(|n| n.to_string()),
    }
}

fn number(value: &AMQPValue) -> Option<i64> {
    match *value {
        AMQPValue::ShortShortInt(n) => Some(n.into()),
        AMQPValue::ShortShortUInt(n) => Some(n.into()),
        AMQPValue::ShortInt(n) => Some(n.into()),
        AMQPValue::ShortUInt(n) => Some(n.into()),
        AMQPValue::LongInt(n) => Some(n.into()),
        AMQPValue::LongUInt(n) => Some(n.into()),
        AMQPValue::LongLongInt(n) => Some(n),
        _ => None,
    }
}

/// Percent-encodes a URI component (userinfo, vhost).
fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}
