//! The event bus against real brokers: an own `nats-server -js` per test
//! (restartable, same store) and the shared RabbitMQ (unique names, deleted
//! afterwards; its connections cut by an in-test TCP relay).
//!
//! What is asserted: a poison event ends in the dead-letter topic after
//! exactly the declared deliveries, with the declared backoff between them;
//! thousands of events published across a broker restart or a connection
//! cut are all consumed at least once, with duplicates counted and bounded;
//! an event the producer's schema rejects never reaches the broker; the
//! tracking headers are set and propagated; filters and reader versions
//! apply.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use meshc_runtime::event_bus::{tracking, Event, EventBus, EventBusConfig, PublishError};
use nkeys::KeyPair;
use serde_json::{json, Value};

use crate::support::brokers::{rabbitmq_addr, Relay};
use crate::support::kafka::{write_unrelated_ca, KafkaBroker, SecuredKafka};
use crate::support::nats::NatsServer;
use crate::support::unique_name;

const ORDER_V1: &str = r#"{"type": "record", "name": "OrderPlaced", "fields": [
    {"name": "orderId", "type": "string"},
    {"name": "seq", "type": "long"},
    {"name": "quantity", "type": "int"},
    {"name": "region", "type": ["null", "string"], "default": null}]}"#;

/// Version 2 adds a field with a default; a v1 reader drops it.
const ORDER_V2: &str = r#"{"type": "record", "name": "OrderPlaced", "fields": [
    {"name": "orderId", "type": "string"},
    {"name": "seq", "type": "long"},
    {"name": "quantity", "type": "int"},
    {"name": "region", "type": ["null", "string"], "default": null},
    {"name": "currency", "type": "string", "default": "EUR"}]}"#;

/// A bus of one topic (with a dead-letter topic and a follow-up topic) on
/// one broker, named uniquely: `orders` publishes, `payments` consumes (max
/// deliveries, fixed backoff, dead letters), `auditor` reads the dead letters
/// and the follow-ups.
struct Bus {
    topic: String,
    dlq: String,
    follow_up: String,
    config: Value,
}

impl Bus {
    fn new(kind: &str, address: &str) -> Bus {
        let topic = unique_name("orders");
        let dlq = format!("{topic}-dlq");
        let follow_up = format!("{topic}-paid");
        // Three subject roots, so no topic's subjects overlap another's.
        let root = topic.replace('-', ".");
        let subject = |name: &str| match name.strip_prefix(topic.as_str()) {
            Some("-dlq") => format!("dlq.{root}"),
            Some("-paid") => format!("paid.{root}"),
            _ => root.clone(),
        };
        let config = json!({
            "brokers": [{"name": "bus", "kind": kind, "addresses": [address]}],
            "topics": [
                {"name": topic, "broker": "bus", "subjects": [format!("{}.>", subject(&topic))],
                 "versions": [{"version": 1, "format": "avro", "schema": ORDER_V1},
                              {"version": 2, "format": "avro", "schema": ORDER_V2}]},
                {"name": dlq, "broker": "bus", "subjects": [subject(&dlq)],
                 "versions": [{"version": 1, "format": "json-schema", "schema": "{}"}]},
                {"name": follow_up, "broker": "bus", "subjects": [subject(&follow_up)],
                 "versions": [{"version": 1, "format": "json-schema",
                               "schema": r#"{"type": "object", "required": ["orderId"]}"#}]}
            ],
            "producers": [
                {"service": "orders", "topic": topic, "version": 2, "subject": format!("{}.eu", subject(&topic))},
                {"service": "payments", "topic": follow_up, "version": 1, "subject": subject(&follow_up)}
            ],
            "consumers": [
                {"service": "payments", "topic": topic, "version": 1, "group": "payments",
                 "delivery": "at-least-once", "ack_wait_ms": 5000, "max_deliveries": 3,
                 "backoff": {"fixed_ms": 150}, "max_in_flight": 64,
                 "dead_letter": {"topic": dlq, "subject": subject(&dlq)}},
                {"service": "auditor", "topic": dlq, "version": 1, "group": "auditor", "delivery": "at-least-once"},
                {"service": "auditor", "topic": follow_up, "version": 1, "group": "auditor", "delivery": "at-least-once"}
            ]
        });
        Bus { topic, dlq, follow_up, config }
    }

    fn load(&self) -> Arc<EventBusConfig> {
        Arc::new(EventBusConfig::from_json(&self.config.to_string()).unwrap())
    }

    fn topics(&self) -> [&str; 3] {
        [&self.topic, &self.dlq, &self.follow_up]
    }
}

fn order(id: &str, seq: u64) -> Value {
    json!({"orderId": id, "seq": seq, "quantity": 1, "currency": "USD"})
}

/// Polls `done` every 20 ms until it holds; panics with `what` after `timeout`.
async fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Everything a handler saw: the events, with the instant each arrived.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(Instant, Event)>>>);

impl Seen {
    fn push(&self, event: Event) {
        self.0.lock().unwrap().push((Instant::now(), event));
    }

    fn events(&self) -> Vec<(Instant, Event)> {
        self.0.lock().unwrap().clone()
    }

    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

// ---------------------------------------------------------------------------
// Poison events.

/// Publishes a poison event between good ones; `payments` fails on it every
/// time. Asserts exactly 3 handler calls (deliveries 1, 2, 3) at least the
/// backoff apart, then one dead letter with the original id and payload and
/// the reason, attempts and origin headers; the good events handled once.
async fn poison_is_dead_lettered_after_exactly_the_declared_attempts(bus: &Bus, config: &Arc<EventBusConfig>) {
    let payments = EventBus::connect(config, "payments").await.unwrap();
    let auditor = EventBus::connect(config, "auditor").await.unwrap();
    let orders = EventBus::connect(config, "orders").await.unwrap();
    let handled = Seen::default();
    let dead = Seen::default();
    let seen = handled.clone();
    let _payments = payments
        .subscribe(&bus.topic, move |event: Event| {
            let poison = event.payload["orderId"] == "poison";
            seen.push(event);
            async move {
                if poison {
                    Err("cannot charge a poison order")
                } else {
                    Ok(())
                }
            }
        })
        .await
        .unwrap();
    let seen = dead.clone();
    let _auditor = auditor
        .subscribe(&bus.dlq, move |event: Event| {
            seen.push(event);
            async { Ok::<(), String>(()) }
        })
        .await
        .unwrap();
    orders.publish(&bus.topic, &order("good-1", 1)).await.unwrap();
    let poison_id = orders.publish(&bus.topic, &order("poison", 2)).await.unwrap();
    orders.publish(&bus.topic, &order("good-2", 3)).await.unwrap();

    wait_until("the dead letter", Duration::from_secs(20), || dead.len() == 1).await;
    // Long enough for a fourth delivery, if there were one (backoff 150 ms).
    tokio::time::sleep(Duration::from_millis(800)).await;

    let poison: Vec<(Instant, Event)> =
        handled.events().into_iter().filter(|(_, e)| e.payload["orderId"] == "poison").collect();
    let attempts: Vec<u32> = poison.iter().map(|(_, e)| e.attempt).collect();
    assert_eq!(attempts, [1, 2, 3], "the poison event's deliveries");
    for pair in poison.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(gap >= Duration::from_millis(140), "redelivered after {gap:?}, before the 150 ms backoff");
    }
    for good in ["good-1", "good-2"] {
        let count = handled.events().iter().filter(|(_, e)| e.payload["orderId"] == good).count();
        assert_eq!(count, 1, "{good} handled {count} times");
    }
    // Read with reader version 1: v2's `currency` is not there.
    assert_eq!(poison[0].1.payload, json!({"orderId": "poison", "seq": 2, "quantity": 1, "region": null}));
    assert_eq!(poison[0].1.version, 1);

    let (_, letter) = &dead.events()[0];
    assert_eq!(letter.id, poison_id.to_string());
    assert_eq!(letter.payload, order("poison", 2), "the dead letter is the event as published");
    assert_eq!(letter.headers[tracking::ATTEMPTS], "3");
    assert_eq!(letter.headers[tracking::DEAD_LETTER_TOPIC], bus.topic);
    assert_eq!(letter.headers[tracking::DEAD_LETTER_GROUP], "payments");
    assert_eq!(
        letter.headers[tracking::DEAD_LETTER_REASON],
        "the handler failed on delivery 3 of 3: cannot charge a poison order"
    );
    assert_eq!(letter.headers[tracking::SCHEMA_VERSION], "2");
    assert_eq!(letter.headers[tracking::EVENT_TYPE], bus.topic);
    assert_eq!(letter.headers[tracking::CORRELATION_ID], poison_id.to_string());
    let stats = _payments.stats();
    assert_eq!((stats.dead_lettered, stats.acknowledged, stats.failed), (1, 2, 3), "{stats:?}");
}

#[tokio::test]
async fn nats_poison_event_is_dead_lettered_after_exactly_the_declared_attempts() {
    let server = NatsServer::start();
    let bus = Bus::new("nats", &server.addr.to_string());
    poison_is_dead_lettered_after_exactly_the_declared_attempts(&bus, &bus.load()).await;
}

#[tokio::test]
async fn kafka_poison_event_is_dead_lettered_after_exactly_the_declared_attempts() {
    let broker = KafkaBroker::start();
    let bus = Bus::new("kafka", &broker.addr.to_string());
    poison_is_dead_lettered_after_exactly_the_declared_attempts(&bus, &bus.load()).await;
}

/// Kafka: an event published is consumed with its subject, payload and
/// every tracking header (record headers); a group that subscribes again
/// starts from its committed offset (nothing handled twice, nothing lost).
#[tokio::test]
async fn kafka_round_trip_carries_the_headers_and_commits_the_groups_offset() {
    let broker = KafkaBroker::start();
    kafka_round_trip(Bus::new("kafka", &broker.addr.to_string())).await;
}

/// The round trip above on `bus`: a publish, a group's consume and commit
/// (the adapter's own `OffsetCommit`/`OffsetFetch` connections), a resume.
async fn kafka_round_trip(mut bus: Bus) {
    bus.config["topics"][0]["partition_key"] = json!("orderId");
    let config = bus.load();
    let orders = EventBus::connect(&config, "orders").await.unwrap();
    let payments = EventBus::connect(&config, "payments").await.unwrap();
    let seen = Seen::default();
    let handler = |seen: Seen| {
        move |event: Event| {
            seen.push(event);
            async { Ok::<(), String>(()) }
        }
    };
    let subscription = payments.subscribe(&bus.topic, handler(seen.clone())).await.unwrap();
    let id = orders.publish(&bus.topic, &order("o-1", 1)).await.unwrap();
    wait_until("the event", Duration::from_secs(20), || seen.len() == 1).await;
    let (_, event) = &seen.events()[0];
    assert_eq!(event.id, id.to_string());
    assert_eq!(event.subject, format!("{}.eu", bus.topic.replace('-', ".")));
    assert_eq!(event.attempt, 1);
    assert_eq!(event.payload, json!({"orderId": "o-1", "seq": 1, "quantity": 1, "region": null}));
    assert_eq!(event.headers[tracking::EVENT_ID], id.to_string());
    assert_eq!(event.headers[tracking::CORRELATION_ID], id.to_string());
    assert_eq!(event.headers[tracking::EVENT_TYPE], bus.topic);
    assert_eq!(event.headers[tracking::SCHEMA_VERSION], "2");
    assert_eq!(event.headers[tracking::CONTENT_TYPE], tracking::JSON);
    assert!(event.headers[tracking::TRACEPARENT].starts_with("00-"), "{:?}", event.headers);
    assert!(!event.headers.contains_key("event-subject"), "the subject header is the subject, not a header");

    // The group's offset is committed: a new subscription of the same group
    // gets only what was published after the first one was dropped.
    drop(subscription);
    orders.publish(&bus.topic, &order("o-2", 2)).await.unwrap();
    let again = Seen::default();
    let _subscription = payments.subscribe(&bus.topic, handler(again.clone())).await.unwrap();
    wait_until("the second event", Duration::from_secs(20), || again.len() == 1).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let ids: Vec<Value> = again.events().iter().map(|(_, e)| e.payload["orderId"].clone()).collect();
    assert_eq!(ids, [json!("o-2")], "the resumed group's events");
}

#[tokio::test]
async fn kafka_an_invalid_event_never_reaches_the_topic() {
    let broker = KafkaBroker::start();
    let bus = Bus::new("kafka", &broker.addr.to_string());
    let config = bus.load();
    let orders = EventBus::connect(&config, "orders").await.unwrap();
    let error = orders.publish(&bus.topic, &json!({"orderId": "o-1", "seq": 1, "quantity": "two"})).await.unwrap_err();
    assert_invalid(&error, &bus.topic);
    orders.publish(&bus.topic, &order("o-1", 1)).await.unwrap();
    // Everything the topic holds, from its first record.
    let seen = Seen::default();
    let probe = seen.clone();
    let _tail = orders
        .tail(&bus.topic, true, move |event: Event| {
            probe.push(event);
            async {}
        })
        .await
        .unwrap();
    wait_until("the valid event", Duration::from_secs(20), || seen.len() == 1).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let ids: Vec<Value> = seen.events().iter().map(|(_, e)| e.payload["orderId"].clone()).collect();
    assert_eq!(ids, [json!("o-1")], "the topic holds only the valid event");
}

#[tokio::test]
async fn rabbitmq_poison_event_is_dead_lettered_after_exactly_the_declared_attempts() {
    let bus = Bus::new("rabbitmq", &rabbitmq_addr());
    let _cleanup = RabbitCleanup::new(&bus);
    poison_is_dead_lettered_after_exactly_the_declared_attempts(&bus, &bus.load()).await;
}

// ---------------------------------------------------------------------------
// A broker restart or a cut connection in the middle of a run.

/// How many events the runs publish, how many at a time.
const RUN_EVENTS: u64 = 3000;
const RUN_PUBLISHERS: u64 = 16;

/// What a run counted.
#[derive(Debug)]
struct RunReport {
    acknowledged: usize,
    publish_errors: usize,
    handled: usize,
    distinct: usize,
    duplicates: usize,
    /// Handler calls before the disruption.
    handled_before: usize,
}

/// Publishes [`RUN_EVENTS`] events from [`RUN_PUBLISHERS`] concurrent
/// publishers while `payments` consumes them, calls `disrupt` once a third
/// are acknowledged, and waits until every acknowledged event was handled.
async fn run_across_a_disruption(
    bus: &Bus,
    config: &Arc<EventBusConfig>,
    disrupt: impl FnOnce() + Send + 'static,
) -> RunReport {
    let payments = EventBus::connect(config, "payments").await.unwrap();
    let orders = EventBus::connect(config, "orders").await.unwrap();
    let handled: Arc<Mutex<HashMap<u64, usize>>> = Arc::default();
    let counts = Arc::clone(&handled);
    let subscription = payments
        .subscribe(&bus.topic, move |event: Event| {
            let seq = event.payload["seq"].as_u64().unwrap();
            *counts.lock().unwrap().entry(seq).or_insert(0) += 1;
            async { Ok::<(), String>(()) }
        })
        .await
        .unwrap();

    let acknowledged: Arc<Mutex<HashSet<u64>>> = Arc::default();
    let errors: Arc<Mutex<Vec<PublishError>>> = Arc::default();
    let mut publishers = tokio::task::JoinSet::new();
    for publisher in 0..RUN_PUBLISHERS {
        let (orders, acknowledged, errors, topic) =
            (orders.clone(), Arc::clone(&acknowledged), Arc::clone(&errors), bus.topic.clone());
        publishers.spawn(async move {
            for seq in (publisher..RUN_EVENTS).step_by(RUN_PUBLISHERS as usize) {
                match orders.publish(&topic, &order(&format!("o-{seq}"), seq)).await {
                    Ok(_) => {
                        acknowledged.lock().unwrap().insert(seq);
                    }
                    Err(e) => errors.lock().unwrap().push(e),
                }
            }
        });
    }
    let third = RUN_EVENTS as usize / 3;
    wait_until("a third of the events acknowledged", Duration::from_secs(60), || {
        acknowledged.lock().unwrap().len() >= third
    })
    .await;
    let handled_before: usize = handled.lock().unwrap().values().sum();
    tokio::task::spawn_blocking(disrupt).await.unwrap();
    while publishers.join_next().await.is_some() {}

    let expected: HashSet<u64> = acknowledged.lock().unwrap().clone();
    wait_until("every acknowledged event handled", Duration::from_secs(90), || {
        let handled = handled.lock().unwrap();
        expected.iter().all(|seq| handled.contains_key(seq))
    })
    .await;
    // Late redeliveries (ack wait 5 s) count as duplicates too.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let handled = handled.lock().unwrap();
    let total: usize = handled.values().sum();
    let report = RunReport {
        acknowledged: expected.len(),
        publish_errors: errors.lock().unwrap().len(),
        handled: total,
        distinct: handled.len(),
        duplicates: total - handled.len(),
        handled_before,
    };
    eprintln!("{report:?}, subscription {:?}", subscription.stats());
    assert_eq!(report.publish_errors, 0, "publishes failed: {:?}", errors.lock().unwrap());
    assert_eq!(report.handled, report.distinct + report.duplicates);
    assert_eq!(report.acknowledged as u64, RUN_EVENTS);
    // The consumer met the disruption: a pull failed, or the broker
    // redelivered what it had delivered before (a pull may also just expire
    // across a short outage, so neither alone is certain).
    let noticed = subscription.stats().reconnects >= 1 || report.duplicates > 0;
    assert!(noticed, "the consumer never noticed the disruption: {report:?}");
    report
}

#[tokio::test]
async fn nats_restart_mid_run_loses_no_acknowledged_event() {
    let server = Arc::new(Mutex::new(NatsServer::start()));
    let bus = Bus::new("nats", &server.lock().unwrap().addr.to_string());
    let config = bus.load();
    let restarting = Arc::clone(&server);
    let report = run_across_a_disruption(&bus, &config, move || {
        restarting.lock().unwrap().restart(Duration::from_millis(500));
    })
    .await;
    // Every event handled was published (no strays), and duplicates stay
    // within what was in flight at the restart: retried publishes (the
    // stream's duplicate window drops most) and unacknowledged deliveries.
    assert_eq!(report.distinct as u64, RUN_EVENTS);
    assert!(report.duplicates <= (RUN_PUBLISHERS + 64) as usize, "{report:?}");
}

#[tokio::test]
async fn nats_crash_mid_run_loses_no_acknowledged_event() {
    let server = Arc::new(Mutex::new(NatsServer::start()));
    let bus = Bus::new("nats", &server.lock().unwrap().addr.to_string());
    let config = bus.load();
    let crashing = Arc::clone(&server);
    let report = run_across_a_disruption(&bus, &config, move || {
        crashing.lock().unwrap().crash_and_restart(Duration::from_millis(500));
    })
    .await;
    assert_eq!(report.distinct as u64, RUN_EVENTS);
    // JetStream writes a consumer's acknowledgements to its store in the
    // background: a killed server forgets the ones since the last write (at
    // worst all before the crash), and those events come again, beside the
    // ones in flight.
    let bound = report.handled_before + (RUN_PUBLISHERS + 64) as usize;
    assert!(report.duplicates <= bound, "{report:?}");
}

#[tokio::test]
async fn rabbitmq_connection_cut_mid_run_loses_no_acknowledged_event() {
    let relay = Relay::start(rabbitmq_addr().parse().unwrap());
    let bus = Bus::new("rabbitmq", &relay.addr().to_string());
    let _cleanup = RabbitCleanup::new(&bus);
    let config = bus.load();
    let relay = Arc::new(relay);
    let cutting = Arc::clone(&relay);
    let report = run_across_a_disruption(&bus, &config, move || {
        let cut = cutting.cut(Duration::from_millis(500));
        assert!(cut >= 2, "only {cut} connections were relayed");
    })
    .await;
    // RabbitMQ has no duplicate window: a publish whose confirm was lost is
    // sent again, and unacknowledged deliveries are requeued.
    assert_eq!(report.distinct as u64, RUN_EVENTS);
    assert!(report.duplicates <= (RUN_PUBLISHERS + 64) as usize, "{report:?}");
}

// ---------------------------------------------------------------------------
// Invalid events.

#[tokio::test]
async fn nats_an_invalid_event_never_reaches_the_broker() {
    let server = NatsServer::start();
    let bus = Bus::new("nats", &server.addr.to_string());
    let orders = EventBus::connect(&bus.load(), "orders").await.unwrap();
    let client = async_nats::connect(server.addr.to_string()).await.unwrap();
    let jetstream = async_nats::jetstream::new(client);
    let mut stream = jetstream.get_stream(&bus.topic).await.unwrap();
    let count = |info: &async_nats::jetstream::stream::Info| info.state.messages;

    let error = orders.publish(&bus.topic, &json!({"orderId": "o-1", "seq": 1, "quantity": "two"})).await.unwrap_err();
    assert_invalid(&error, &bus.topic);
    assert_eq!(count(stream.info().await.unwrap()), 0, "the invalid event reached the stream");
    // The count is live: a valid event shows up in it.
    orders.publish(&bus.topic, &order("o-1", 1)).await.unwrap();
    assert_eq!(count(stream.info().await.unwrap()), 1);
}

/// A protobuf topic: version 2's message validates the producer's events
/// strictly (a wrong type or an unknown field never reaches the stream);
/// a consumer of version 1 reads the valid event with its older message,
/// the fields it lacks ignored, as the reader's canonical JSON.
#[tokio::test]
async fn nats_protobuf_events_are_validated_and_read_with_the_readers_message() {
    use base64::Engine as _;
    let set = |source: &str| {
        let set = crate::support::compile_proto("placed.proto", source).encode_file_descriptor_set();
        base64::engine::general_purpose::STANDARD.encode(set)
    };
    let v1 = set("syntax = \"proto3\"; package shop; message Placed { string order_id = 1; }");
    let v2 = set("syntax = \"proto3\"; package shop; import \"google/protobuf/timestamp.proto\";
        message Placed { string order_id = 1; int64 total_cents = 2; google.protobuf.Timestamp at = 3; }");
    let server = NatsServer::start();
    let topic = unique_name("proto");
    let subject = topic.replace('-', ".");
    let config = json!({
        "brokers": [{"name": "bus", "kind": "nats", "addresses": [server.addr.to_string()]}],
        "topics": [{"name": topic, "broker": "bus", "subjects": [subject],
                    "versions": [{"version": 1, "format": "protobuf", "message": "shop.Placed", "descriptor_set": v1},
                                 {"version": 2, "format": "protobuf", "message": "shop.Placed", "descriptor_set": v2}]}],
        "producers": [{"service": "orders", "topic": topic, "version": 2, "subject": subject}],
        "consumers": [{"service": "billing", "topic": topic, "version": 1, "group": "billing",
                       "delivery": "at-most-once"}]
    });
    let config = Arc::new(EventBusConfig::from_json(&config.to_string()).unwrap());
    let orders = EventBus::connect(&config, "orders").await.unwrap();
    let billing = EventBus::connect(&config, "billing").await.unwrap();
    let client = async_nats::connect(server.addr.to_string()).await.unwrap();
    let mut stream = async_nats::jetstream::new(client).get_stream(&topic).await.unwrap();
    let seen = Seen::default();
    let handler_seen = seen.clone();
    let _billing = billing
        .subscribe(&topic, move |event: Event| {
            handler_seen.push(event);
            async { Ok::<(), String>(()) }
        })
        .await
        .unwrap();

    for (bad, expected) in [
        (json!({"orderId": "o-1", "totalCents": true}), "at `/totalCents`: "),
        (json!({"orderId": "o-1", "colour": "red"}), "at `/`: unrecognized field name 'colour' (message shop.Placed)"),
        (json!({"orderId": "o-1", "at": "noon"}), "at `/at`: "),
    ] {
        let error = orders.publish(&topic, &bad).await.unwrap_err();
        let PublishError::Invalid { version: 2, message, .. } = &error else { panic!("not Invalid: {error:?}") };
        assert!(message.starts_with(expected), "{message:?} should start with {expected:?}");
    }
    assert_eq!(stream.info().await.unwrap().state.messages, 0, "an invalid event reached the stream");

    orders.publish(&topic, &json!({"orderId": "o-1", "totalCents": 1250, "at": "2026-12-04T18:00:00Z"})).await.unwrap();
    wait_until("the event", Duration::from_secs(10), || seen.len() == 1).await;
    let (_, event) = &seen.events()[0];
    assert_eq!((event.version, event.headers["schema-version"].as_str()), (1, "2"));
    assert_eq!(event.payload, json!({"orderId": "o-1"}));
    assert_eq!(stream.info().await.unwrap().state.messages, 1);
}

#[tokio::test]
async fn rabbitmq_an_invalid_event_never_reaches_the_broker() {
    let bus = Bus::new("rabbitmq", &rabbitmq_addr());
    let cleanup = RabbitCleanup::new(&bus);
    let orders = EventBus::connect(&bus.load(), "orders").await.unwrap();
    // A queue of the test's own, bound to everything the exchange gets.
    let queue = format!("{}.probe", bus.topic);
    let (_connection, channel) = cleanup.channel().await;
    channel
        .queue_declare(queue.as_str().into(), lapin::options::QueueDeclareOptions::default(), Default::default())
        .await
        .unwrap();
    channel
        .queue_bind(
            queue.as_str().into(),
            bus.topic.as_str().into(),
            "#".into(),
            Default::default(),
            Default::default(),
        )
        .await
        .unwrap();
    let count = || async {
        let passive = lapin::options::QueueDeclareOptions { passive: true, ..Default::default() };
        channel.queue_declare(queue.as_str().into(), passive, Default::default()).await.unwrap().message_count()
    };

    let error = orders.publish(&bus.topic, &json!({"orderId": "o-1", "seq": 1, "quantity": "two"})).await.unwrap_err();
    assert_invalid(&error, &bus.topic);
    assert_eq!(count().await, 0, "the invalid event reached the queue");
    orders.publish(&bus.topic, &order("o-1", 1)).await.unwrap();
    wait_for_count(&count, 1).await;
}

async fn wait_for_count<F, Fut>(count: &F, expected: u32)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = u32>,
{
    let start = Instant::now();
    while count().await != expected {
        assert!(start.elapsed() < Duration::from_secs(5), "the queue never held {expected} events");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn assert_invalid(error: &PublishError, topic: &str) {
    let PublishError::Invalid { topic: t, version, message } = error else { panic!("not Invalid: {error:?}") };
    assert_eq!((t.as_str(), *version), (topic, 2));
    assert_eq!(message, "at `/quantity`: expected int, found \"two\"");
    assert_eq!(
        error.to_string(),
        format!(
            "the event does not match topic {topic:?}'s schema version 2: at `/quantity`: expected int, found \"two\""
        )
    );
}

// ---------------------------------------------------------------------------
// At-most-once delivery.

/// A group consuming at most once: a failing handler's event is not
/// redelivered, and later events keep coming.
async fn at_most_once_delivers_each_event_once(mut bus: Bus) {
    bus.config["consumers"][0] = json!({"service": "payments", "topic": bus.topic, "version": 2,
                                        "group": "payments", "delivery": "at-most-once"});
    let config = bus.load();
    let payments = EventBus::connect(&config, "payments").await.unwrap();
    let orders = EventBus::connect(&config, "orders").await.unwrap();
    let handled = Seen::default();
    let seen = handled.clone();
    let subscription = payments
        .subscribe(&bus.topic, move |event: Event| {
            seen.push(event);
            async { Err::<(), _>("fails every time") }
        })
        .await
        .unwrap();
    for seq in 0..3 {
        orders.publish(&bus.topic, &order("o", seq)).await.unwrap();
    }
    wait_until("three events", Duration::from_secs(10), || handled.len() == 3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(handled.len(), 3, "an at-most-once event was redelivered");
    let stats = subscription.stats();
    assert_eq!((stats.delivered, stats.failed, stats.acknowledged), (3, 3, 0), "{stats:?}");
}

#[tokio::test]
async fn nats_at_most_once_delivers_each_event_once() {
    let server = NatsServer::start();
    at_most_once_delivers_each_event_once(Bus::new("nats", &server.addr.to_string())).await;
}

#[tokio::test]
async fn rabbitmq_at_most_once_delivers_each_event_once() {
    let bus = Bus::new("rabbitmq", &rabbitmq_addr());
    let _cleanup = RabbitCleanup::new(&bus);
    at_most_once_delivers_each_event_once(bus).await;
}

// ---------------------------------------------------------------------------
// Tracking headers, filters, errors.

#[tokio::test]
async fn tracking_headers_are_set_and_propagated_to_events_published_while_handling() {
    let server = NatsServer::start();
    let bus = Bus::new("nats", &server.addr.to_string());
    let config = bus.load();
    let payments = EventBus::connect(&config, "payments").await.unwrap();
    let auditor = EventBus::connect(&config, "auditor").await.unwrap();
    let orders = EventBus::connect(&config, "orders").await.unwrap();
    let consumed = Seen::default();
    let seen = consumed.clone();
    let follow_up = bus.follow_up.clone();
    let _payments = payments
        .subscribe(&bus.topic, move |event: Event| {
            seen.push(event.clone());
            let follow_up = follow_up.clone();
            async move {
                event.publish(&follow_up, &json!({"orderId": event.payload["orderId"]})).await?;
                Ok::<(), PublishError>(())
            }
        })
        .await
        .unwrap();
    let paid = Seen::default();
    let seen = paid.clone();
    let _auditor = auditor
        .subscribe(&bus.follow_up, move |event: Event| {
            seen.push(event);
            async { Ok::<(), String>(()) }
        })
        .await
        .unwrap();
    let id = orders.publish(&bus.topic, &order("o-7", 7)).await.unwrap();
    wait_until("the follow-up event", Duration::from_secs(10), || paid.len() == 1).await;

    let (_, first) = &consumed.events()[0];
    let (_, second) = &paid.events()[0];
    let h1: &BTreeMap<String, String> = &first.headers;
    let h2 = &second.headers;
    assert_eq!(h1[tracking::EVENT_ID], id.to_string());
    assert_eq!(uuid::Uuid::parse_str(&h1[tracking::EVENT_ID]).unwrap().get_version_num(), 4);
    assert_eq!(h1[tracking::CORRELATION_ID], id.to_string());
    assert!(!h1.contains_key(tracking::CAUSATION_ID));
    assert_eq!(h1["nats-msg-id"], id.to_string(), "the JetStream dedup id is the event id");
    assert_eq!((h1[tracking::EVENT_TYPE].as_str(), h1[tracking::SCHEMA_VERSION].as_str()), (bus.topic.as_str(), "2"));
    assert_eq!(h1[tracking::CONTENT_TYPE], "application/json");

    assert_ne!(h2[tracking::EVENT_ID], id.to_string());
    assert_eq!(h2[tracking::CAUSATION_ID], id.to_string());
    assert_eq!(h2[tracking::CORRELATION_ID], id.to_string());
    assert_eq!(
        (h2[tracking::EVENT_TYPE].as_str(), h2[tracking::SCHEMA_VERSION].as_str()),
        (bus.follow_up.as_str(), "1")
    );
    let trace = |h: &BTreeMap<String, String>| h[tracking::TRACEPARENT].split('-').nth(1).unwrap().to_string();
    let span = |h: &BTreeMap<String, String>| h[tracking::TRACEPARENT].split('-').nth(2).unwrap().to_string();
    assert_eq!(trace(h2), trace(h1), "the follow-up is in the same trace");
    assert_ne!(span(h2), span(h1), "with a span of its own");
    assert_eq!(second.payload, json!({"orderId": "o-7"}));
}

#[tokio::test]
async fn header_and_subject_filters_skip_events_unhandled() {
    let server = NatsServer::start();
    let mut bus = Bus::new("nats", &server.addr.to_string());
    let subject = format!("{}.eu", bus.topic.replace('-', "."));
    bus.config["consumers"][0]["filters"] = json!([{"subject": subject}, {"header": "x-region", "equals": "eu"}]);
    let config = bus.load();
    let payments = EventBus::connect(&config, "payments").await.unwrap();
    let orders = EventBus::connect(&config, "orders").await.unwrap();
    let handled = Seen::default();
    let seen = handled.clone();
    let subscription = payments
        .subscribe(&bus.topic, move |event: Event| {
            seen.push(event);
            async { Ok::<(), String>(()) }
        })
        .await
        .unwrap();
    let eu: tracking::Headers = [("x-region".to_string(), "eu".to_string())].into();
    let us: tracking::Headers = [("x-region".to_string(), "us".to_string())].into();
    orders.publish(&bus.topic, &order("o-us", 1)).await.unwrap();
    orders.publish_with_headers(&bus.topic, &order("o-us", 2), &us).await.unwrap();
    orders.publish_with_headers(&bus.topic, &order("o-eu", 3), &eu).await.unwrap();
    wait_until("three events", Duration::from_secs(10), || subscription.stats().delivered == 3).await;
    let handled: Vec<Value> = handled.events().into_iter().map(|(_, e)| e.payload["seq"].clone()).collect();
    assert_eq!(handled, [json!(3)]);
    assert_eq!((subscription.stats().filtered, subscription.stats().acknowledged), (2, 1));
    // The runtime's own headers are not the caller's to set.
    let forged: tracking::Headers = [("event-id".to_string(), "x".to_string())].into();
    let error = orders.publish_with_headers(&bus.topic, &order("o", 4), &forged).await.unwrap_err();
    assert_eq!(error.to_string(), "header \"event-id\" is set by the runtime");
}

#[tokio::test]
async fn unknown_services_and_topics_get_a_did_you_mean() {
    let server = NatsServer::start();
    let bus = Bus::new("nats", &server.addr.to_string());
    let config = bus.load();
    let error = EventBus::connect(&config, "order").await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "service \"order\" publishes and subscribes to nothing in this config (did you mean \"orders\"?)"
    );
    let orders = EventBus::connect(&config, "orders").await.unwrap();
    let misspelt = format!("{}x", bus.topic);
    let error = orders.publish(&misspelt, &order("o", 1)).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("service \"orders\" does not publish topic {misspelt:?} (did you mean {:?}?)", bus.topic)
    );
    let error = orders.subscribe(&bus.topic, |_| async { Ok::<(), String>(()) }).await.unwrap_err();
    assert!(error.to_string().starts_with("service \"orders\" does not subscribe to topic"), "{error}");
}

#[tokio::test]
async fn credentials_are_read_at_connect_time_and_never_shown() {
    let server = NatsServer::start();
    let mut bus = Bus::new("nats", &server.addr.to_string());
    let var = unique_name("MESHC_TEST_CREDS").replace('-', "_").to_uppercase();
    bus.config["brokers"][0]["credentials"] = json!({"env": var});
    let config = bus.load();
    let error = EventBus::connect(&config, "orders").await.unwrap_err();
    assert_eq!(error.to_string(), format!("broker \"bus\": the credentials variable {var} is not set (or not UTF-8)"));
    bus.config["brokers"][0]["credentials"] = json!({"file": "/nonexistent/creds"});
    let error = EventBus::connect(&bus.load(), "orders").await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "broker \"bus\": the credentials file /nonexistent/creds cannot be read: entity not found"
    );
}

#[tokio::test]
async fn rabbitmq_credentials_from_a_file_connect_and_a_wrong_password_is_not_shown() {
    let mut bus = Bus::new("rabbitmq", &rabbitmq_addr());
    let _cleanup = RabbitCleanup::new(&bus);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("amqp");
    std::fs::write(&file, "guest:guest\n").unwrap();
    bus.config["brokers"][0]["credentials"] = json!({"file": file});
    EventBus::connect(&bus.load(), "orders").await.unwrap();
    let password = "s3cret-!@#-password";
    std::fs::write(&file, format!("guest:{password}")).unwrap();
    let error = EventBus::connect(&bus.load(), "orders").await.unwrap_err().to_string();
    assert!(error.starts_with("broker \"bus\": cannot connect: "), "{error}");
    assert!(!error.contains(password) && !error.contains("s3cret"), "{error}");
}

/// A Kafka bus on `broker` whose credentials file holds `login`
/// (`mechanism`, `user:password`), with `tls` as given; the file's
/// directory comes back too.
fn kafka_bus_with(broker: &SecuredKafka, login: Option<(&str, &str)>, tls: Value) -> (Bus, tempfile::TempDir) {
    let mut bus = Bus::new("kafka", &broker.addr.to_string());
    let dir = tempfile::tempdir().unwrap();
    if let Some((mechanism, secret)) = login {
        let file = dir.path().join("kafka-credentials");
        std::fs::write(&file, format!("{secret}\n")).unwrap();
        bus.config["brokers"][0]["credentials"] = json!({"file": file, "mechanism": mechanism});
    }
    if !tls.is_null() {
        bus.config["brokers"][0]["tls"] = tls;
    }
    (bus, dir)
}

#[tokio::test]
async fn kafka_tls_round_trip() {
    let broker = SecuredKafka::start(false, true);
    let (bus, _dir) = kafka_bus_with(&broker, None, json!({"ca": broker.ca}));
    kafka_round_trip(bus).await;
}

/// SCRAM-SHA-512 and -256 logins, over plain TCP and inside TLS, reach
/// Tansu's SCRAM server, which refuses them (its storage keeps no users:
/// see `SecuredKafka`); PLAIN it does not offer. Each failure is a connect
/// error naming the broker, the mechanism, the user and the credentials
/// file, never the password.
#[tokio::test]
async fn kafka_refused_logins_name_the_broker_and_the_file_never_the_password() {
    for tls in [false, true] {
        let broker = SecuredKafka::start(true, tls);
        let tls_config = if tls { json!({"ca": broker.ca}) } else { Value::Null };
        for (mechanism, shown, refusal) in [
            ("scram-sha-512", "SASL SCRAM-SHA-512 as \"orders\"", "unknown user"),
            ("scram-sha-256", "SASL SCRAM-SHA-256 as \"orders\"", "unknown user"),
            // Tansu drops the connection (NoSharedMechanism).
            ("plain", "SASL PLAIN as \"orders\"", "early eof"),
        ] {
            let login = Some((mechanism, "orders:p4ss-!@#-w0rd"));
            let (bus, dir) = kafka_bus_with(&broker, login, tls_config.clone());
            let error = EventBus::connect(&bus.load(), "orders").await.unwrap_err().to_string();
            let file = dir.path().join("kafka-credentials");
            let at = format!("{mechanism}, tls {tls}");
            assert!(error.starts_with("broker \"bus\": cannot connect: "), "{at}: {error}");
            assert!(error.contains(refusal), "{at}: {error}");
            assert!(error.contains(&format!("{shown}, credentials file {}", file.display())), "{at}: {error}");
            assert!(!error.contains("p4ss") && !error.contains("w0rd"), "{at}: {error}");
        }
    }
}

// ---------------------------------------------------------------------------
// NATS JWT credentials (.creds), against a nats-server in operator mode.

/// A NATS JWT: base64url(header).base64url(claims).base64url(the
/// issuer's ed25519 signature of the two), issued by `issuer` about
/// `subject`, `revoked_after` none.
fn nats_jwt(issuer: &KeyPair, subject: &str, nats: Value) -> String {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let header = b64(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let claims = json!({"jti": unique_name("jti"), "iat": now, "iss": issuer.public_key(), "name": subject,
                        "sub": subject, "nats": nats});
    let signed = format!("{header}.{}", b64(claims.to_string().as_bytes()));
    let signature = issuer.sign(signed.as_bytes()).unwrap();
    format!("{signed}.{}", b64(&signature))
}

/// An account's claims: everything unlimited, JetStream too when
/// `jetstream` (the system account may not have it), `revoked` users' JWTs
/// issued up to a minute from now refused.
fn account_claims(jetstream: bool, revoked: &[&KeyPair]) -> Value {
    let until = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 60;
    let revocations: serde_json::Map<String, Value> = revoked.iter().map(|u| (u.public_key(), json!(until))).collect();
    let storage = if jetstream { -1 } else { 0 };
    json!({"type": "account", "version": 2, "revocations": revocations,
           "limits": {"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1, "wildcards": true,
                      "conn": -1, "leaf": -1, "mem_storage": storage, "disk_storage": storage,
                      "streams": storage, "consumer": storage}})
}

/// A `.creds` file's text: the user's JWT and the seed that signs nonces.
fn creds_file(jwt: &str, seed: &str) -> String {
    format!(
        "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
    )
}

/// A nats-server in operator mode (memory resolver) with accounts `SYS`
/// and `shop` (JetStream on), and users of `shop`: `good`, `revoked` (on
/// the account's revocation list) and `stranger` of an account the server
/// does not know.
struct OperatorMode {
    server: NatsServer,
    good: (String, KeyPair),
    revoked: (String, KeyPair),
    stranger: (String, KeyPair),
}

impl OperatorMode {
    fn start() -> OperatorMode {
        let operator = KeyPair::new_operator();
        let (system, shop, unknown) = (KeyPair::new_account(), KeyPair::new_account(), KeyPair::new_account());
        let user = |account: &KeyPair| {
            let user = KeyPair::new_user();
            let claims =
                json!({"type": "user", "version": 2, "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1});
            (nats_jwt(account, &user.public_key(), claims), user)
        };
        let (good, revoked, stranger) = (user(&shop), user(&shop), user(&unknown));
        let operator_jwt = nats_jwt(
            &operator,
            &operator.public_key(),
            json!({"type": "operator", "version": 2, "system_account": system.public_key()}),
        );
        let config = format!(
            "operator: {operator_jwt}\nsystem_account: {sys}\nresolver: MEMORY\n\
             resolver_preload: {{\n  {sys}: {sys_jwt}\n  {shop}: {shop_jwt}\n}}\n",
            sys = system.public_key(),
            sys_jwt = nats_jwt(&operator, &system.public_key(), account_claims(false, &[])),
            shop = shop.public_key(),
            shop_jwt = nats_jwt(&operator, &shop.public_key(), account_claims(true, &[&revoked.1])),
        );
        OperatorMode { server: NatsServer::start_configured(&config), good, revoked, stranger }
    }

    /// The bus of the tests, its credentials the file `creds` in `dir`.
    fn bus(&self, dir: &std::path::Path, creds: &str) -> Bus {
        let file = dir.join("user.creds");
        std::fs::write(&file, creds).unwrap();
        let mut bus = Bus::new("nats", &self.server.addr.to_string());
        bus.config["brokers"][0]["credentials"] = json!({"file": file});
        bus
    }
}

/// A user's `.creds` file connects to an operator-mode server; JetStream
/// streams are made in its account; an event published is consumed by a group.
#[tokio::test]
async fn nats_jwt_creds_publish_and_consume() {
    let nats = OperatorMode::start();
    let dir = tempfile::tempdir().unwrap();
    let (jwt, user) = &nats.good;
    let bus = nats.bus(dir.path(), &creds_file(jwt, &user.seed().unwrap()));
    let config = bus.load();
    let orders = EventBus::connect(&config, "orders").await.unwrap();
    let payments = EventBus::connect(&config, "payments").await.unwrap();
    let seen = Seen::default();
    let probe = seen.clone();
    let _subscription = payments
        .subscribe(&bus.topic, move |event: Event| {
            probe.push(event);
            async { Ok::<(), String>(()) }
        })
        .await
        .unwrap();
    let id = orders.publish(&bus.topic, &order("o-1", 1)).await.unwrap();
    wait_until("the event", Duration::from_secs(20), || seen.len() == 1).await;
    assert_eq!(seen.events()[0].1.id, id.to_string());
}

/// A user of an account the server does not know, a revoked user, a JWT
/// with another user's seed and a `.creds` without its seed are refused;
/// no error shows the seed.
#[tokio::test]
async fn nats_refused_creds_never_show_the_seed() {
    let nats = OperatorMode::start();
    let dir = tempfile::tempdir().unwrap();
    let seed = |user: &KeyPair| user.seed().unwrap();
    let cases = [
        ("another account", creds_file(&nats.stranger.0, &seed(&nats.stranger.1)), seed(&nats.stranger.1)),
        ("revoked", creds_file(&nats.revoked.0, &seed(&nats.revoked.1)), seed(&nats.revoked.1)),
        ("wrong seed", creds_file(&nats.good.0, &seed(&nats.revoked.1)), seed(&nats.revoked.1)),
        ("no seed", creds_file(&nats.good.0, "").replace("USER NKEY SEED", "NOTHING"), seed(&nats.good.1)),
    ];
    for (case, creds, secret) in cases {
        let bus = nats.bus(dir.path(), &creds);
        let error = EventBus::connect(&bus.load(), "orders").await.unwrap_err().to_string();
        assert!(error.starts_with("broker \"bus\""), "{case}: {error}");
        // Neither the seed nor any 8 characters of its key part.
        for chunk in secret.as_bytes()[2..].chunks(8) {
            assert!(!error.contains(std::str::from_utf8(chunk).unwrap()), "{case}: {error}");
        }
        if case == "no seed" {
            let file = dir.path().join("user.creds");
            let expected = format!(
                "broker \"bus\": the credentials file {} is not a NATS .creds file (a user JWT and a user nkey seed)",
                file.display()
            );
            assert_eq!(error, expected);
        } else {
            assert!(error.contains("cannot connect") && error.to_lowercase().contains("authoriz"), "{case}: {error}");
        }
    }
}

/// TLS to a broker whose certificate the system's roots, or another CA,
/// did not sign: a TLS error, no connection.
#[tokio::test]
async fn kafka_tls_without_the_brokers_ca_is_refused() {
    let broker = SecuredKafka::start(false, true);
    let other = tempfile::tempdir().unwrap();
    let wrong_ca = other.path().join("other-ca.pem");
    write_unrelated_ca(&wrong_ca);
    for tls in [json!({}), json!({"ca": wrong_ca})] {
        let (bus, _dir) = kafka_bus_with(&broker, None, tls.clone());
        let error = EventBus::connect(&bus.load(), "orders").await.unwrap_err().to_string();
        assert!(error.starts_with("broker \"bus\": cannot connect: "), "{tls}: {error}");
        assert!(error.contains("certificate") || error.contains("UnknownIssuer"), "{tls}: {error}");
    }
}

// ---------------------------------------------------------------------------
// The command.

/// `events publish` publishes (validated) and prints the id; `events tail
/// --from-start --count N` prints the topic's events as JSON lines.
#[test]
fn the_events_command_publishes_and_tails() {
    let server = NatsServer::start();
    let bus = Bus::new("nats", &server.addr.to_string());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("event-bus.json");
    std::fs::write(&config, bus.config.to_string()).unwrap();
    let publish = |event: &Value, header: &str| {
        crate::support::meshc_runtime()
            .args(["events", "publish", "--config"])
            .arg(&config)
            .args(["--service", "orders", "--topic", &bus.topic, "--json", &event.to_string(), "--header", header])
            .output()
            .unwrap()
    };
    let published = publish(&order("o-1", 1), "x-region=eu");
    assert!(published.status.success(), "{}", String::from_utf8_lossy(&published.stderr));
    let printed: Value = serde_json::from_slice(&published.stdout).unwrap();
    let id = printed["event_id"].as_str().unwrap().to_string();

    let refused = publish(&json!({"orderId": 1}), "x-region=eu");
    assert!(!refused.status.success());
    assert_eq!(
        String::from_utf8_lossy(&refused.stderr).trim_end(),
        format!(
            "meshc-runtime: the event does not match topic {:?}'s schema version 2: at `/orderId`: expected string, found 1",
            bus.topic
        )
    );

    let tailed = crate::support::meshc_runtime()
        .args(["events", "tail", "--config"])
        .arg(&config)
        .args(["--topic", &bus.topic, "--from-start", "--count", "1"])
        .output()
        .unwrap();
    assert!(tailed.status.success(), "{}", String::from_utf8_lossy(&tailed.stderr));
    let line: Value = serde_json::from_slice(&tailed.stdout).unwrap();
    assert_eq!(line["payload"], order("o-1", 1));
    assert_eq!(line["headers"]["event-id"], id);
    assert_eq!(line["headers"]["x-region"], "eu");
    assert_eq!(line["topic"], bus.topic);
}

// ---------------------------------------------------------------------------
// RabbitMQ clean-up.

/// Deletes a test's exchanges and queues from the shared RabbitMQ when dropped.
struct RabbitCleanup {
    exchanges: Vec<String>,
    queues: Vec<String>,
}

impl RabbitCleanup {
    fn new(bus: &Bus) -> RabbitCleanup {
        let exchanges: Vec<String> = bus.topics().iter().map(|t| t.to_string()).collect();
        let queues = vec![
            format!("{}.payments", bus.topic),
            format!("{}.auditor", bus.dlq),
            format!("{}.auditor", bus.follow_up),
            format!("{}.probe", bus.topic),
        ];
        RabbitCleanup { exchanges, queues }
    }

    /// A connection of the test's own to the shared RabbitMQ, and a channel on it.
    async fn channel(&self) -> (lapin::Connection, lapin::Channel) {
        let uri = format!("amqp://guest:guest@{}/%2f", rabbitmq_addr());
        let connection = lapin::Connection::connect(&uri, Default::default()).await.unwrap();
        let channel = connection.create_channel().await.unwrap();
        (connection, channel)
    }
}

impl Drop for RabbitCleanup {
    fn drop(&mut self) {
        let (exchanges, queues) = (self.exchanges.clone(), self.queues.clone());
        // Its own thread and runtime: this may run while a test's runtime unwinds.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let uri = format!("amqp://guest:guest@{}/%2f", rabbitmq_addr());
                let Ok(connection) = lapin::Connection::connect(&uri, Default::default()).await else { return };
                for queue in queues {
                    if let Ok(channel) = connection.create_channel().await {
                        let _ = channel.queue_delete(queue.as_str().into(), Default::default()).await;
                    }
                }
                for exchange in exchanges {
                    if let Ok(channel) = connection.create_channel().await {
                        let _ = channel.exchange_delete(exchange.as_str().into(), Default::default()).await;
                    }
                }
                let _ = connection.close(200, "done".into()).await;
            });
        })
        .join();
    }
}
