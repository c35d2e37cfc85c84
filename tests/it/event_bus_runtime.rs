//! End to end: a spec with a NATS broker (an own `nats-server -js`) and a
//! RabbitMQ broker (the shared one, unique names) is compiled, the runtime's
//! EventBus runs on the `runtime/event-bus.json` it emits, and events go
//! from the spec's producer to its consumer; a poison event ends in the
//! dead-letter topic the spec names after its `max-deliveries`; a Kafka
//! broker is not in the runtime's config.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use meshc_runtime::event_bus::{Event, EventBus, EventBusConfig};
use meshc_test_support::brokers::rabbitmq_addr;
use meshc_test_support::kafka::KafkaBroker;
use meshc_test_support::nats::NatsServer;
use meshc_test_support::unique_name;
use meshc_test_support::{shared_rabbitmq, JetStream};
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
    let nats = NatsServer::start();
    let topic = unique_name("placed");
    let compilation = check(&spec(&nats.addr.to_string(), &rabbitmq_addr(), &topic));
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

/// The deployment the docs describe: the broker artifacts applied first
/// (the nats backend's stream and consumer files through the JetStream API,
/// the rabbitmq backend's definitions imported into a vhost of the test's
/// own), then the services on the runtime, which use what exists. A poison
/// event is dead-lettered after exactly `max-deliveries` on both brokers,
/// once: by the runtime, not also by RabbitMQ's delivery limit.
#[test]
fn the_runtime_runs_on_the_broker_artifacts_applied_first() {
    let nats = NatsServer::start();
    let rabbit = shared_rabbitmq();
    let vhost = unique_name("eventbus");
    let topic = unique_name("paid");
    let (nats_host, nats_port) = (nats.addr.ip().to_string(), nats.addr.port());
    let rabbit_addr = rabbitmq_addr();
    let (rabbit_host, rabbit_port) = rabbit_addr.rsplit_once(':').unwrap();
    let mut fixture = String::from("//- mesh.kdl\nmesh \"deployed\"\n");
    fixture.push_str(&format!(
        "broker \"bus\" kind=\"nats\" {{\n    address \"{nats_host}\" port={nats_port}\n}}\n\
         broker \"events\" kind=\"rabbitmq\" {{\n    address \"{rabbit_host}\" port={rabbit_port}\n    vhost \"{vhost}\"\n}}\n"
    ));
    for (broker, root) in [("bus", "n"), ("events", "r")] {
        for suffix in ["", "-dlq"] {
            let dot = if suffix.is_empty() { "" } else { ".dead" };
            fixture.push_str(&format!(
                "topic \"{root}-{topic}{suffix}\" {{\n    schema \"t.avsc\"\n    stream broker=\"{broker}\" {{\n        subjects \"{root}.{topic}{dot}\"\n    }}\n}}\n"
            ));
        }
    }
    fixture.push_str("service \"shop\" {\n    owner \"t\"\n    address \"shop.svc\" port=80\n");
    for root in ["n", "r"] {
        fixture.push_str(&format!("    publishes \"{root}-{topic}\"\n"));
    }
    fixture.push_str("}\nservice \"billing\" {\n    owner \"t\"\n    address \"billing.svc\" port=80\n");
    for root in ["n", "r"] {
        fixture.push_str(&format!(
            "    subscribes \"{root}-{topic}\" group=\"billing\" {{\n        delivery \"at-least-once\" ack-wait=\"5s\"\n        \
             retry max-deliveries=3 backoff=\"fixed\" delay=\"100ms\"\n        dead-letter \"{root}-{topic}-dlq\"\n    }}\n\
             subscribes \"{root}-{topic}-dlq\" group=\"audit\" {{\n        retry max-deliveries=3 backoff=\"fixed\" delay=\"1s\"\n        \
             dead-letter drop=#true\n    }}\n"
        ));
    }
    fixture.push_str("}\n//- t.avsc\n{\"type\": \"record\", \"name\": \"T\", \"fields\": [{\"name\": \"id\", \"type\": \"string\"}]}\n");
    let built = check(&fixture).build(&meshc::emit::Options::default()).unwrap();
    let artifact = |path: &str| built.artifacts.iter().find(|a| a.path == path).unwrap_or_else(|| panic!("no {path}"));

    // The broker artifacts, applied first.
    let mut jetstream = JetStream::connect(nats.addr).unwrap();
    for a in built.artifacts.iter().filter(|a| a.path.starts_with("nats/bus/streams/")) {
        jetstream.stream_create(&serde_json::from_str(&a.contents).unwrap()).unwrap();
    }
    for a in built.artifacts.iter().filter(|a| a.path.starts_with("nats/bus/consumers/")) {
        let stream = a.path.split('/').nth(3).unwrap();
        jetstream.consumer_create(stream, &serde_json::from_str(&a.contents).unwrap()).unwrap();
    }
    let _vhost = rabbit.adopt_vhost(&vhost);
    rabbit.import_definitions_text(&artifact("rabbitmq/events/definitions.json").contents).unwrap();
    rabbit.run(&["set_permissions", "-p", &vhost, "guest", ".*", ".*", ".*"]).unwrap();

    let config = Arc::new(EventBusConfig::from_json(&artifact("runtime/event-bus.json").contents).unwrap());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let shop = EventBus::connect(&config, "shop").await.unwrap();
        let billing = EventBus::connect(&config, "billing").await.unwrap();
        let calls: Arc<Mutex<Vec<(String, String, u32)>>> = Arc::default();
        let letters: Arc<Mutex<Vec<Event>>> = Arc::default();
        let mut subscriptions = Vec::new();
        for root in ["n", "r"] {
            let seen = Arc::clone(&calls);
            subscriptions.push(
                billing
                    .subscribe(&format!("{root}-{topic}"), move |event: Event| {
                        let id = event.payload["id"].as_str().unwrap().to_string();
                        seen.lock().unwrap().push((event.topic.clone(), id.clone(), event.attempt));
                        async move {
                            if id == "poison" {
                                Err("refused")
                            } else {
                                Ok(())
                            }
                        }
                    })
                    .await
                    .unwrap(),
            );
            let dead = Arc::clone(&letters);
            subscriptions.push(
                billing
                    .subscribe(&format!("{root}-{topic}-dlq"), move |event: Event| {
                        dead.lock().unwrap().push(event);
                        async { Ok::<(), String>(()) }
                    })
                    .await
                    .unwrap(),
            );
            shop.publish(&format!("{root}-{topic}"), &json!({"id": "good"})).await.unwrap();
            shop.publish(&format!("{root}-{topic}"), &json!({"id": "poison"})).await.unwrap();
        }
        wait_until("two dead letters", || letters.lock().unwrap().len() == 2).await;
        // Time for a fourth delivery or a second dead letter, were there one.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        for root in ["n", "r"] {
            let name = format!("{root}-{topic}");
            let mut poison: Vec<u32> =
                calls.lock().unwrap().iter().filter(|(t, id, _)| *t == name && id == "poison").map(|c| c.2).collect();
            poison.sort_unstable();
            assert_eq!(poison, [1, 2, 3], "{name}: the poison event's deliveries");
            let good = calls.lock().unwrap().iter().filter(|(t, id, _)| *t == name && id == "good").count();
            assert_eq!(good, 1, "{name}");
            let dead: Vec<Event> =
                letters.lock().unwrap().iter().filter(|e| e.topic == format!("{name}-dlq")).cloned().collect();
            assert_eq!(dead.len(), 1, "{name}: dead letters");
            assert_eq!(dead[0].headers["attempts"], "3");
            assert_eq!(dead[0].headers["dead-letter-topic"], name);
        }
    });
}

/// A compiled Kafka spec runs on the runtime against Tansu: the producer's
/// subject is the topic's name, the partition key goes along, a poison
/// event is dead-lettered after exactly `max-deliveries` handler calls,
/// with no MESH0073 warning. A Kafka broker with SASL credentials and TLS
/// is in the runtime config too, its mechanism beside the reference.
#[test]
fn a_kafka_spec_runs_on_the_runtime_event_bus() {
    let kafka = KafkaBroker::start();
    let topic = unique_name("k");
    let (host, port) = (kafka.addr.ip().to_string(), kafka.addr.port());
    let compilation = check(&format!(
        r#"
//- mesh.kdl
mesh "k"
broker "log" kind="kafka" {{
    address "{host}" port={port}
}}
broker "secured" kind="kafka" {{
    address "kafka.svc" port=9093
    credentials env="KAFKA_CREDS" mechanism="scram-sha-256"
    tls
}}
topic "{topic}" {{
    schema "t.avsc"
    stream broker="log" {{
        partition-key field="id"
    }}
}}
topic "{topic}-dlq" {{
    schema "t.avsc"
    stream broker="log"
}}
topic "other" {{
    schema "t.avsc"
    stream broker="secured"
}}
service "a" {{
    owner "t"
    address "a.svc" port=80
    publishes "{topic}"
}}
service "c" {{
    owner "t"
    address "c.svc" port=80
    publishes "other"
}}
service "b" {{
    owner "t"
    address "b.svc" port=80
    subscribes "{topic}" group="b" {{
        retry max-deliveries=3 backoff="fixed" delay="100ms"
        dead-letter "{topic}-dlq"
    }}
    subscribes "{topic}-dlq" group="b-dlq" {{
        retry max-deliveries=3 backoff="none"
        dead-letter drop=#true
    }}
}}
//- t.avsc
{{"type": "record", "name": "T", "fields": [{{"name": "id", "type": "string"}}]}}
"#
    ));
    let options = meshc::emit::Options::default().with_backends(["event-bus", "kafka"]).unwrap();
    let built = compilation.build(&options).unwrap();
    let warnings: Vec<String> = built.warnings.iter().map(|w| w.message.clone()).collect();
    assert_eq!(warnings, Vec::<String>::new());
    let artifact = built.artifacts.iter().find(|a| a.path == "runtime/event-bus.json").expect("the runtime config");
    let file: serde_json::Value = serde_json::from_str(&artifact.contents).unwrap();
    assert_eq!(file["brokers"].as_array().unwrap().len(), 2, "{file:#}");
    let secured = &file["brokers"][1];
    assert_eq!(secured["credentials"], serde_json::json!({"env": "KAFKA_CREDS", "mechanism": "scram-sha-256"}));
    assert_eq!(secured["tls"], serde_json::json!({}));
    assert_eq!(file["topics"][0]["partition_key"], "id");
    assert_eq!(file["producers"][0]["subject"], topic.as_str());
    let config = Arc::new(EventBusConfig::from_json(&artifact.contents).unwrap());

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let a = EventBus::connect(&config, "a").await.unwrap();
        let b = EventBus::connect(&config, "b").await.unwrap();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let letters = Arc::new(Mutex::new(Vec::<Event>::new()));
        let seen = Arc::clone(&calls);
        let _b = b
            .subscribe(&topic, move |event: Event| {
                seen.lock().unwrap().push((event.payload["id"].clone(), event.attempt));
                let poison = event.payload["id"] == "poison";
                async move {
                    if poison {
                        Err("poison")
                    } else {
                        Ok(())
                    }
                }
            })
            .await
            .unwrap();
        let dead = Arc::clone(&letters);
        let _dlq = b
            .subscribe(&format!("{topic}-dlq"), move |event: Event| {
                dead.lock().unwrap().push(event);
                async { Ok::<(), String>(()) }
            })
            .await
            .unwrap();
        a.publish(&topic, &json!({"id": "good"})).await.unwrap();
        let poison = a.publish(&topic, &json!({"id": "poison"})).await.unwrap();
        wait_until("the dead letter", || letters.lock().unwrap().len() == 1).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let calls = calls.lock().unwrap().clone();
        assert_eq!(calls, [(json!("good"), 1), (json!("poison"), 1), (json!("poison"), 2), (json!("poison"), 3)]);
        let letter = letters.lock().unwrap()[0].clone();
        assert_eq!((letter.id, letter.headers["attempts"].as_str()), (poison.to_string(), "3"));
        assert_eq!(letter.subject, format!("{topic}-dlq"));
    });
}

/// A protobuf topic on NATS: the compiled config carries each version's
/// message and descriptor set; the runtime refuses an event its producer's
/// message does not accept (nothing reaches the stream) and hands a
/// consumer of the older version the event as its message reads it.
#[test]
fn protobuf_events_are_validated_and_read_with_the_readers_message() {
    let nats = NatsServer::start();
    let topic = unique_name("proto");
    let (host, port) = (nats.addr.ip().to_string(), nats.addr.port());
    let fixture = format!(
        r#"
//- mesh.kdl
mesh "p"
broker "bus" kind="nats" {{
    address "{host}" port={port}
}}
topic "{topic}" {{
    schema "placed.v1.proto" message="e2e.Placed" version=1
    schema "placed.proto" message="e2e.Placed" version=2
    stream broker="bus" {{
        subjects "e2e.{topic}"
    }}
}}
service "orders" {{
    owner "t"
    address "orders.svc" port=80
    publishes "{topic}"
}}
service "billing" {{
    owner "t"
    address "billing.svc" port=80
    subscribes "{topic}" version=1 group="billing" {{
        retry max-deliveries=3 backoff="none"
        dead-letter drop=#true
    }}
}}
//- placed.v1.proto
syntax = "proto3";
package e2e;
// Version 2's fields reserved, as JSON readers must be told to skip them (MESH0086).
message Placed {{ string order_id = 1; reserved 2, 3; reserved "quantity", "placed_at"; }}
//- placed.proto
syntax = "proto3";
package e2e;
import "google/protobuf/timestamp.proto";
message Placed {{ string order_id = 1; int32 quantity = 2; google.protobuf.Timestamp placed_at = 3; }}
"#
    );
    let options = meshc::emit::Options::default().with_backends(["event-bus"]).unwrap();
    let built = check(&fixture).build(&options).unwrap();
    assert!(built.warnings.is_empty(), "{:?}", built.warnings);
    let artifact = built.artifacts.iter().find(|a| a.path == "runtime/event-bus.json").expect("runtime/event-bus.json");
    let file: serde_json::Value = serde_json::from_str(&artifact.contents).unwrap();
    let versions = &file["topics"][0]["versions"];
    assert_eq!((&versions[0]["format"], &versions[1]["message"]), (&json!("protobuf"), &json!("e2e.Placed")));
    assert!(versions[1]["schema"].is_null() && versions[1]["descriptor_set"].is_string(), "{versions}");
    let config = Arc::new(EventBusConfig::from_json(&artifact.contents).unwrap());

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (refused, received) = runtime.block_on(async {
        let orders = EventBus::connect(&config, "orders").await.unwrap();
        let billing = EventBus::connect(&config, "billing").await.unwrap();
        let received: Arc<Mutex<Vec<Event>>> = Arc::default();
        let seen = Arc::clone(&received);
        let _billing = billing
            .subscribe(&topic, move |event: Event| {
                seen.lock().unwrap().push(event);
                async { Ok::<(), String>(()) }
            })
            .await
            .unwrap();
        let mut refused = Vec::new();
        for bad in [
            json!({"orderId": "o-0", "quantity": "two"}),
            json!({"orderId": "o-0", "colour": "red"}),
            json!({"orderId": "o-0", "placedAt": "yesterday"}),
        ] {
            refused.push(orders.publish(&topic, &bad).await.unwrap_err().to_string());
        }
        orders
            .publish(&topic, &json!({"orderId": "o-1", "quantity": 2, "placedAt": "2026-12-04T18:00:00Z"}))
            .await
            .unwrap();
        wait_until("the event", || !received.lock().unwrap().is_empty()).await;
        // Time for a refused event to arrive, were one sent.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let received = received.lock().unwrap().clone();
        (refused, received)
    });
    assert!(refused[0].contains("at `/quantity`: "), "{}", refused[0]);
    assert!(refused[1].contains("at `/`: unrecognized field name 'colour' (message e2e.Placed)"), "{}", refused[1]);
    assert!(refused[2].contains("at `/placedAt`: "), "{}", refused[2]);
    assert_eq!(received.len(), 1, "{received:?}");
    // Version 1's message reads the version 2 event: the fields it lacks are dropped.
    assert_eq!(received[0].payload, json!({"orderId": "o-1"}));
    assert_eq!((received[0].version, received[0].headers["schema-version"].as_str()), (1, "2"));
    let info = JetStream::connect(nats.addr).unwrap().stream_info(&topic).unwrap();
    assert_eq!(info["state"]["messages"], 1, "only the valid event reaches the stream: {info}");
}
