//! End to end: a spec with a NATS broker (an own `nats-server -js`) and a
//! RabbitMQ broker (the shared one, unique names) is compiled, the runtime's
//! EventBus runs on the `runtime/event-bus.json` it emits, and events go
//! from the spec's producer to its consumer; a poison event ends in the
//! dead-letter topic the spec names after its `max-deliveries`; a Kafka
//! broker is not in the runtime's config.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use meshc_runtime::event_bus::{Event, EventBus, EventBusConfig};
use meshc_test_support::brokers::{rabbitmq_addr, unique_name, NatsProcess};
use serde_json::json;

use crate::support::fixture::check;

fn spec(nats: &str, rabbit: &str, topic: &str) -> String {
    let (nats_host, nats_port) = nats.rsplit_once(':').unwrap();
    let (rabbit_host, rabbit_port) = rabbit.rsplit_once(':').unwrap();
    format!(
        r#"
//- mesh.kdl
mesh "e2e"
broker "bus" kind="nats" {{
    address "{nats_host}" port={nats_port}
}}
broker "events" kind="rabbitmq" {{
    address "{rabbit_host}" port={rabbit_port}
}}
topic "{topic}" {{
    schema "placed.avsc"
    stream broker="bus" {{
        subjects "e2e.{topic}.>"
    }}
}}
topic "{topic}-dlq" {{
    schema "placed.avsc"
    stream broker="bus" {{
        subjects "e2e.{topic}-dead"
    }}
}}
topic "{topic}-mail" {{
    schema "mail.json" format="json-schema"
    stream broker="events" {{
        subjects "e2e.{topic}.mail"
    }}
}}
service "orders" {{
    owner "t"
    address "orders.svc" port=80
    publishes "{topic}" subject="e2e.{topic}.web"
}}
service "payments" {{
    owner "t"
    address "payments.svc" port=80
    subscribes "{topic}" group="payments" {{
        delivery "at-least-once" ack-wait="5s"
        retry max-deliveries=2 backoff="fixed" delay="100ms"
        dead-letter "{topic}-dlq"
    }}
    publishes "{topic}-mail"
}}
service "support" {{
    owner "t"
    address "support.svc" port=80
    subscribes "{topic}-dlq" group="support" {{
        retry max-deliveries=3 backoff="fixed" delay="1s"
        dead-letter drop=#true
    }}
    subscribes "{topic}-mail" group="support" {{
        retry max-deliveries=3 backoff="fixed" delay="1s"
        dead-letter drop=#true
    }}
}}
//- placed.avsc
{{"type": "record", "name": "Placed", "fields": [{{"name": "orderId", "type": "string"}}]}}
//- mail.json
{{"type": "object", "required": ["to"], "properties": {{"to": {{"type": "string"}}}}}}
"#
    )
}

async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn a_compiled_spec_runs_on_the_runtime_event_bus() {
    let nats = NatsProcess::start();
    let topic = unique_name("placed");
    let compilation = check(&spec(&nats.addr().to_string(), &rabbitmq_addr(), &topic));
    let built = compilation.build(&meshc::emit::Options::default()).unwrap();
    let artifact = built.artifacts.iter().find(|a| a.path == "runtime/event-bus.json").expect("runtime/event-bus.json");
    let config = Arc::new(EventBusConfig::from_json(&artifact.contents).unwrap());

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let result = runtime.block_on(async {
        let orders = EventBus::connect(&config, "orders").await.unwrap();
        let payments = EventBus::connect(&config, "payments").await.unwrap();
        let support = EventBus::connect(&config, "support").await.unwrap();
        let attempts: Arc<Mutex<Vec<(String, u32)>>> = Arc::default();
        let seen = Arc::clone(&attempts);
        let mail = format!("{topic}-mail");
        let _payments = payments
            .subscribe(&topic, move |event: Event| {
                let id = event.payload["orderId"].as_str().unwrap().to_string();
                seen.lock().unwrap().push((id.clone(), event.attempt));
                let mail = mail.clone();
                async move {
                    if id == "poison" {
                        return Err("refused".to_string());
                    }
                    event.publish(&mail, &json!({"to": id})).await.map_err(|e| e.to_string())?;
                    Ok(())
                }
            })
            .await
            .unwrap();
        let received: Arc<Mutex<Vec<Event>>> = Arc::default();
        let (dead, mails) = (Arc::clone(&received), Arc::clone(&received));
        let _dlq = support
            .subscribe(&format!("{topic}-dlq"), move |event: Event| {
                dead.lock().unwrap().push(event);
                async { Ok::<(), String>(()) }
            })
            .await
            .unwrap();
        let _mail = support
            .subscribe(&format!("{topic}-mail"), move |event: Event| {
                mails.lock().unwrap().push(event);
                async { Ok::<(), String>(()) }
            })
            .await
            .unwrap();
        let good = orders.publish(&topic, &json!({"orderId": "o-1"})).await.unwrap();
        let poison = orders.publish(&topic, &json!({"orderId": "poison"})).await.unwrap();
        let invalid = orders.publish(&topic, &json!({"order": "o-2"})).await.unwrap_err();
        wait_until("the mail and the dead letter", || received.lock().unwrap().len() == 2).await;
        let received = received.lock().unwrap().clone();
        let attempts = attempts.lock().unwrap().clone();
        (good, poison, invalid, received, attempts)
    });
    let (good, poison, invalid, received, attempts) = result;
    assert!(invalid.to_string().ends_with("at `/`: unknown field `order` (record Placed has orderId)"), "{invalid}");
    assert_eq!(attempts, [("o-1".to_string(), 1), ("poison".to_string(), 1), ("poison".to_string(), 2)]);
    let by_topic = |t: &str| received.iter().find(|e| e.topic == t).unwrap_or_else(|| panic!("nothing on {t}"));
    let dead = by_topic(&format!("{topic}-dlq"));
    assert_eq!((dead.id.as_str(), dead.headers["attempts"].as_str()), (poison.to_string().as_str(), "2"));
    let mail = by_topic(&format!("{topic}-mail"));
    assert_eq!(mail.payload, json!({"to": "o-1"}));
    assert_eq!(mail.headers["causation-id"], good.to_string());
    assert_eq!(mail.headers["correlation-id"], good.to_string());
    cleanup_rabbitmq(&runtime, &format!("{topic}-mail"));
}

/// Deletes the test's exchange and queue from the shared RabbitMQ.
fn cleanup_rabbitmq(runtime: &tokio::runtime::Runtime, exchange: &str) {
    runtime.block_on(async {
        let uri = format!("amqp://guest:guest@{}/%2f", rabbitmq_addr());
        let connection = lapin_connect(&uri).await;
        let channel = connection.create_channel().await.unwrap();
        let queue = format!("{exchange}.support");
        channel.queue_delete(queue.as_str().into(), Default::default()).await.unwrap();
        channel.exchange_delete(exchange.into(), Default::default()).await.unwrap();
    });
}

async fn lapin_connect(uri: &str) -> lapin::Connection {
    lapin::Connection::connect(uri, Default::default()).await.unwrap()
}

/// The runtime does not drive Kafka: its brokers and topics are the kafka
/// backend's alone, with no runtime config and no warning on every such spec.
#[test]
fn a_kafka_broker_is_not_in_the_runtime_config() {
    let compilation = check(
        r#"
//- mesh.kdl
mesh "k"
broker "log" kind="kafka" {
    address "kafka.svc" port=9092
}
topic "t" {
    schema "t.avsc"
    stream broker="log"
}
service "a" {
    owner "t"
    address "a.svc" port=80
    publishes "t"
}
service "b" {
    owner "t"
    address "b.svc" port=80
    subscribes "t" group="b" {
        retry max-deliveries=3 backoff="none"
        dead-letter drop=#true
    }
}
//- t.avsc
{"type": "record", "name": "T", "fields": [{"name": "id", "type": "string"}]}
"#,
    );
    let options = meshc::emit::Options::default().with_backends(["event-bus"]).unwrap();
    let built = compilation.build(&options).unwrap();
    assert!(built.artifacts.is_empty(), "{:?}", built.artifacts);
    assert!(built.warnings.is_empty(), "{:?}", built.warnings);
}
