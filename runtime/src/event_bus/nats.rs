//! The NATS JetStream adapter (async-nats): a topic is a stream, a consumer
//! group a durable pull consumer, an ephemeral subscriber an ephemeral pull
//! consumer. Publishes wait for the stream's PubAck and carry the event id
//! as `Nats-Msg-Id`, so a retried publish inside the stream's duplicate
//! window is stored once. Redelivery counts come from the message metadata
//! (`delivered`); backoff is a NAK with a delay.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream, AckKind};
use futures::StreamExt;
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};

use super::config::{BrokerConfig, Delivery, TopicConfig};
use super::consume::{Pipeline, Reading, Received, Verdict};
use super::tracking::{self, Headers};
use super::{BrokerError, ConnectError, Outgoing, Stats, SubscribeError};

/// How long one pull request waits for events.
const PULL_EXPIRES: Duration = Duration::from_secs(1);
/// A pull request unanswered this long after its expiry is given up (the
/// server went away mid-request).
const PULL_GRACE: Duration = Duration::from_secs(2);
/// The pause before setting a consumer up again after a broker error.
const RESUME_PAUSE: Duration = Duration::from_millis(200);
/// How long an ephemeral consumer outlives its last pull.
const EPHEMERAL_INACTIVE: Duration = Duration::from_secs(30);
/// The duplicate window of a stream the runtime creates (JetStream's default).
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

pub(crate) struct NatsBroker {
    name: String,
    jetstream: jetstream::Context,
}

impl NatsBroker {
    pub async fn connect(config: &BrokerConfig, service: &str) -> Result<NatsBroker, ConnectError> {
        let mut options = async_nats::ConnectOptions::new()
            .name(if service.is_empty() { "meshc-runtime".to_string() } else { format!("meshc-runtime {service}") })
            .max_reconnects(None)
            .connection_timeout(Duration::from_secs(5))
            .reconnect_delay_callback(|attempts| Duration::from_millis(100 * attempts.min(10) as u64));
        if let Some(credentials) = &config.credentials {
            let secret = super::read_credentials(credentials, &config.name)?;
            options = match secret.split_once(':') {
                Some((user, password)) if !secret.contains('\n') => {
                    options.user_and_password(user.to_string(), password.to_string())
                }
                // A `.creds` file: the user JWT and the seed that signs the
                // server's nonce. async-nats wants each block's closing line
                // ended, which reading trimmed. The parse error is not
                // quoted: it could hold part of the seed.
                _ if secret.contains("BEGIN NATS USER JWT") => {
                    options.credentials(&format!("{secret}\n")).map_err(|_| {
                        ConnectError::Credentials(format!(
                            "broker {:?}: the {} is not a NATS .creds file (a user JWT and a user nkey seed)",
                            config.name,
                            credentials.source()
                        ))
                    })?
                }
                _ => options.token(secret.trim().to_string()),
            };
        }
        if let Some(tls) = &config.tls {
            options = options.require_tls(true);
            if let Some(ca) = &tls.ca {
                super::check_readable(ca, &config.name)?;
                options = options.add_root_certificates(ca.clone());
            }
        }
        let addresses: Vec<String> = config.addresses.iter().map(|a| format!("nats://{a}")).collect();
        let servers: Vec<async_nats::ServerAddr> = addresses
            .iter()
            .map(|a| a.parse())
            .collect::<Result<_, _>>()
            .map_err(|e| ConnectError::Broker(format!("broker {:?}: {e}", config.name)))?;
        let client = options.connect(servers).await.map_err(|e| {
            ConnectError::Broker(format!(
                "broker {:?} ({}): cannot connect: {e}",
                config.name,
                config.addresses.join(", ")
            ))
        })?;
        Ok(NatsBroker { name: config.name.clone(), jetstream: jetstream::new(client) })
    }

    /// Uses the topic's stream, or creates it with the topic's subjects
    /// (file storage, limits retention, the default duplicate window).
    pub async fn ensure_stream(&self, topic: &TopicConfig) -> Result<(), BrokerError> {
        match self.jetstream.get_stream(&topic.stream).await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e.to_string()) => {
                let config = stream::Config {
                    name: topic.stream.clone(),
                    subjects: topic.subjects.clone(),
                    storage: stream::StorageType::File,
                    duplicate_window: DUPLICATE_WINDOW,
                    ..Default::default()
                };
                self.jetstream.get_or_create_stream(config).await.map(drop).map_err(|e| {
                    BrokerError::permanent(format!(
                        "broker {:?}: cannot create stream {:?}: {e}",
                        self.name, topic.stream
                    ))
                })
            }
            Err(e) => Err(BrokerError::permanent(format!(
                "broker {:?}: cannot look up stream {:?}: {e}",
                self.name, topic.stream
            ))),
        }
    }

    pub async fn send_once(&self, event: &Outgoing<'_>) -> Result<(), BrokerError> {
        let mut headers = async_nats::HeaderMap::new();
        for (name, value) in event.headers {
            headers.insert(name.as_str(), value.as_str());
        }
        let mut publish =
            jetstream::message::PublishMessage::build().payload(event.payload.to_vec().into()).headers(headers);
        if let Some(id) = event.headers.get(tracking::EVENT_ID) {
            publish = publish.message_id(id);
        }
        let ack = self
            .jetstream
            .send_publish(event.subject.to_string(), publish)
            .await
            .map_err(|e| publish_error(&e.kind(), e.to_string()))?;
        let ack = ack.await.map_err(|e| publish_error(&e.kind(), e.to_string()))?;
        if ack.stream != event.topic.stream {
            return Err(BrokerError::permanent(format!(
                "subject {:?} is kept by stream {:?}, not the topic's stream {:?}",
                event.subject, ack.stream, event.topic.stream
            )));
        }
        Ok(())
    }

    /// Starts consuming for `pipeline`: the consumer is made (or found)
    /// before this returns, so events published afterwards reach it.
    pub async fn consume(&self, pipeline: Arc<Pipeline>) -> Result<JoinHandle<()>, SubscribeError> {
        let consumer = self.consumer(&pipeline).await.map_err(|e| SubscribeError::Broker(e.message))?;
        let jetstream = self.jetstream.clone();
        let name = self.name.clone();
        Ok(tokio::spawn(async move {
            let broker = NatsBroker { name, jetstream };
            broker.run(pipeline, consumer).await;
        }))
    }

    async fn consumer(&self, pipeline: &Pipeline) -> Result<consumer::PullConsumer, BrokerError> {
        let topic = pipeline.topic();
        let stream =
            self.jetstream.get_stream(&topic.stream).await.map_err(|e| {
                BrokerError::transient(format!("broker {:?}: stream {:?}: {e}", self.name, topic.stream))
            })?;
        // One subject filter is the server's; several are applied here.
        let filter_subject = match &pipeline.consumer.subject_filters[..] {
            [one] => one.clone(),
            _ => String::new(),
        };
        let max_in_flight = i64::from(pipeline.consumer.max_in_flight);
        let mut config =
            consumer::pull::Config { filter_subject, max_ack_pending: max_in_flight, ..Default::default() };
        match &pipeline.consumer.delivery {
            // JetStream refuses durable pull consumers that acknowledge
            // nothing (the nats backend writes the same): each event is
            // delivered once and acknowledged on receipt.
            Delivery::AtMostOnce => {
                config.ack_policy = consumer::AckPolicy::Explicit;
                config.max_deliver = 1;
            }
            Delivery::AtLeastOnce(redelivery) => {
                config.ack_policy = consumer::AckPolicy::Explicit;
                // The runtime counts deliveries and dead-letters; the server
                // redelivers until told otherwise.
                config.ack_wait = redelivery.ack_wait;
                config.max_deliver = -1;
            }
        }
        let result = match pipeline.group() {
            Some(group) => {
                config.durable_name = Some(group.to_string());
                config.deliver_policy = consumer::DeliverPolicy::All;
                stream.get_or_create_consumer(group, config).await
            }
            None => {
                config.inactive_threshold = EPHEMERAL_INACTIVE;
                config.deliver_policy = match pipeline.reading {
                    Reading::Raw { from_start: true } => consumer::DeliverPolicy::All,
                    _ => consumer::DeliverPolicy::New,
                };
                stream.create_consumer(config).await
            }
        };
        result.map_err(|e| {
            BrokerError::transient(format!("broker {:?}: cannot make a consumer on {:?}: {e}", self.name, topic.stream))
        })
    }

    async fn run(&self, pipeline: Arc<Pipeline>, mut consumer: consumer::PullConsumer) {
        let permits = Arc::new(Semaphore::new(pipeline.consumer.max_in_flight as usize));
        let mut handlers = JoinSet::new();
        loop {
            while handlers.try_join_next().is_some() {}
            // Ask for as many events as there is room for.
            let room = match Arc::clone(&permits).acquire_owned().await {
                Ok(permit) => {
                    drop(permit);
                    permits.available_permits()
                }
                Err(_) => return,
            };
            let pulled = consumer.batch().max_messages(room).expires(PULL_EXPIRES).messages().await;
            let mut batch = match pulled {
                Ok(batch) => batch,
                Err(_) => {
                    consumer = self.resume(&pipeline, consumer).await;
                    continue;
                }
            };
            let mut failed = false;
            loop {
                match tokio::time::timeout(PULL_EXPIRES + PULL_GRACE, batch.next()).await {
                    Ok(Some(Ok(message))) => {
                        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else { return };
                        let pipeline = Arc::clone(&pipeline);
                        handlers.spawn(async move {
                            handle(&pipeline, message).await;
                            drop(permit);
                        });
                    }
                    Ok(None) => break,
                    Ok(Some(Err(_))) | Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
            if failed {
                consumer = self.resume(&pipeline, consumer).await;
            }
        }
    }

    /// After a failed pull: wait, then look the consumer up again (it may
    /// be gone, an ephemeral one with a restarted server); keep the old one
    /// when the broker is still away.
    async fn resume(&self, pipeline: &Pipeline, consumer: consumer::PullConsumer) -> consumer::PullConsumer {
        Stats::add(&pipeline.stats.reconnects);
        tokio::time::sleep(RESUME_PAUSE).await;
        match self.consumer(pipeline).await {
            Ok(fresh) => fresh,
            Err(_) => consumer,
        }
    }
}

async fn handle(pipeline: &Pipeline, message: jetstream::Message) {
    let attempt = message.info().map(|info| info.delivered).unwrap_or(1);
    let mut headers = Headers::new();
    if let Some(map) = &message.headers {
        for (name, values) in map.iter() {
            if let Some(value) = values.first() {
                headers.insert(name.to_string().to_ascii_lowercase(), value.to_string());
            }
        }
    }
    let received = Received {
        subject: message.subject.to_string(),
        headers,
        payload: message.payload.to_vec(),
        attempt: u32::try_from(attempt.max(1)).unwrap_or(u32::MAX),
    };
    if pipeline.at_most_once() {
        let _ = message.ack().await;
        pipeline.process(received).await;
        return;
    }
    let verdict = pipeline.process(received).await;
    // A lost acknowledgement means a redelivery: at least once.
    let _ = match verdict {
        Verdict::Ack => message.double_ack().await,
        Verdict::Retry(delay) => message.ack_with(AckKind::Nak(Some(delay).filter(|d| !d.is_zero()))).await,
    };
}

fn is_not_found(message: &str) -> bool {
    message.contains("not found") || message.contains("10059")
}

fn publish_error(kind: &jetstream::context::PublishErrorKind, message: String) -> BrokerError {
    use jetstream::context::PublishErrorKind as Kind;
    match kind {
        Kind::MaxPayloadExceeded | Kind::WrongLastMessageId | Kind::WrongLastSequence => {
            BrokerError::permanent(message)
        }
        // No responders (the stream is away, a server restarting), time
        // outs, a broken connection: try again.
        _ => BrokerError::transient(message),
    }
}
