//! Kafka: what the `kafka` backend writes, a real Kafka client
//! (kafka-python's admin client) creates on a Kafka-protocol broker of the
//! test's own (Tansu, in memory, on a free port), and reads back as the
//! spec says: partitions, replication factor and every config. Tansu checks
//! none of the values it keeps, so each config is also held against
//! Kafka's own definition of it here, and the ACL bindings go through
//! kafka-python's ACL types (Tansu answers `CreateAcls` with nothing).

use crate::support;

use serde_json::{json, Value};
use support::events::{build, generate, GenOptions, GenSpec, Kind, AVRO};
use support::{kafka_admin, KafkaBroker};

/// The topic configs meshc may write, with what Kafka accepts for each.
fn check_config(name: &str, value: &str, replication_factor: u64) -> Result<(), String> {
    let long = || value.parse::<i64>().map_err(|_| format!("{name}={value} is not a long"));
    match name {
        "cleanup.policy" => match value {
            "delete" | "compact" | "compact,delete" | "delete,compact" => Ok(()),
            _ => Err(format!("cleanup.policy={value}: Kafka takes delete, compact or both")),
        },
        "retention.ms" | "retention.bytes" => match long()? {
            n if n >= -1 => Ok(()),
            _ => Err(format!("{name}={value}: Kafka takes -1 or more")),
        },
        "min.insync.replicas" => match long()? {
            n if n >= 1 && n as u64 <= replication_factor => Ok(()),
            _ => Err(format!("min.insync.replicas={value} with {replication_factor} replicas")),
        },
        _ => Err(format!("{name} is not a topic config meshc writes")),
    }
}

/// The configs the spec means for a stream.
fn expected_configs(spec: &GenSpec, topic: &str) -> Value {
    let stream = spec.stream(topic);
    let cleanup = stream.cleanup.unwrap_or("delete");
    let mut configs = json!({ "cleanup.policy": cleanup });
    if cleanup != "compact" {
        configs["retention.ms"] = json!(stream.max_age.map_or("-1".to_string(), |s| (s * 1000).to_string()));
        let partitions = u64::from(stream.partitions.unwrap_or(1));
        configs["retention.bytes"] =
            json!(stream.max_bytes.map_or("-1".to_string(), |b| (b / partitions).max(1).to_string()));
    }
    if let Some(min) = stream.min_insync {
        configs["min.insync.replicas"] = json!(min.to_string());
    }
    configs
}

/// Creates every topic of the spec, reads them back and compares.
fn apply(broker: &KafkaBroker, spec: &GenSpec) {
    let built = build(&spec.files, &["kafka"]);
    let text = spec.text();
    let topics = built.json(&format!("kafka/{}/topics.json", spec.broker));
    let topics = topics["topics"].as_array().expect("a list of topics").clone();
    assert_eq!(topics.len(), spec.streams.len(), "{text}");
    for topic in &topics {
        let rf = topic["replication_factor"].as_u64().unwrap();
        for (name, value) in topic["configs"].as_object().unwrap() {
            check_config(name, value.as_str().expect("configs are strings"), rf)
                .unwrap_or_else(|e| panic!("{e}\n{text}"));
        }
    }
    broker
        .admin(json!({ "op": "create_topics", "topics": topics }))
        .unwrap_or_else(|e| panic!("kafka-python's create_topics failed: {e}\n{}", broker.log()));
    let names: Vec<&str> = spec.streams.iter().map(|s| s.topic.as_str()).collect();
    let described = broker.admin(json!({ "op": "describe_topics", "names": names })).unwrap();
    for stream in &spec.streams {
        let kept = &described["topics"][&stream.topic];
        assert_eq!(kept["error_code"], 0, "topic {}: {kept}\n{text}", stream.topic);
        assert_eq!(kept["num_partitions"], stream.partitions.unwrap_or(1), "topic {}\n{text}", stream.topic);
        assert_eq!(kept["replication_factor"], stream.replicas.unwrap_or(1), "topic {}\n{text}", stream.topic);
        assert_eq!(kept["configs"], expected_configs(spec, &stream.topic), "topic {}\n{text}", stream.topic);
    }
    let acls = built.json(&format!("kafka/{}/acls.json", spec.broker));
    let checked = kafka_admin(&json!({ "op": "acls", "acls": acls["acls"] })).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(checked["acls"].as_array().unwrap().len(), acls["acls"].as_array().unwrap().len());
}

/// A fixed spec: each setting, and the ACLs of producers, consumers and dead letters.
#[test]
fn topics_are_what_a_kafka_client_creates_and_reads_back() {
    let broker = KafkaBroker::start();
    let mesh = r#"mesh "shop"

broker "events" kind="kafka" {
    address "kafka.infra.svc.cluster.local" port=9092
}

topic "clicks" {
    schema "schemas/event.avsc"
    stream broker="events" {
        partitions 12
        replicas 3
        min-insync-replicas 2
        max-age "168h"
        max-bytes "12GiB"
        cleanup-policy "compact,delete"
    }
}

topic "profiles" {
    schema "schemas/event.avsc"
    stream broker="events" {
        cleanup-policy "compact"
    }
}

topic "clicks-dlq" {
    schema "schemas/event.avsc"
    stream broker="events"
}

service "web" {
    owner "team-web"
    address "web.shop.svc.cluster.local" port=8080
    publishes "clicks"
    publishes "profiles"
}

service "analytics" {
    owner "team-analytics"
    subscribes "clicks" group="analytics" {
        delivery "at-least-once" ack="all"
    }
    subscribes "profiles"
}

service "support" {
    owner "team-support"
    subscribes "clicks-dlq" group="support"
}
"#;
    let files = vec![("mesh.kdl".to_string(), mesh.to_string()), ("schemas/event.avsc".to_string(), AVRO.to_string())];
    let built = build(&files, &["kafka"]);
    let topics = built.json("kafka/events/topics.json");
    broker.admin(json!({ "op": "create_topics", "topics": topics["topics"] })).unwrap();
    let described =
        broker.admin(json!({ "op": "describe_topics", "names": ["clicks", "profiles", "clicks-dlq"] })).unwrap();
    let clicks = &described["topics"]["clicks"];
    assert_eq!((&clicks["num_partitions"], &clicks["replication_factor"]), (&json!(12), &json!(3)));
    assert_eq!(
        clicks["configs"],
        json!({ "cleanup.policy": "compact,delete", "retention.ms": "604800000",
                "retention.bytes": "1073741824", "min.insync.replicas": "2" })
    );
    assert_eq!(described["topics"]["profiles"]["configs"], json!({ "cleanup.policy": "compact" }));
    assert_eq!(
        described["topics"]["clicks-dlq"]["configs"],
        json!({ "cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1" })
    );
    let acls = built.json("kafka/events/acls.json");
    let has = |principal: &str, operation: &str, kind: &str, name: &str| {
        acls["acls"].as_array().unwrap().iter().any(|a| {
            a["principal"] == principal
                && a["operation"] == operation
                && a["resource_type"] == kind
                && a["resource_name"] == name
        })
    };
    assert!(has("User:web", "WRITE", "TOPIC", "clicks") && has("User:web", "DESCRIBE", "TOPIC", "profiles"));
    assert!(has("User:analytics", "READ", "TOPIC", "clicks") && has("User:analytics", "READ", "GROUP", "analytics"));
    assert!(has("User:analytics", "READ", "TOPIC", "profiles") && has("User:support", "READ", "GROUP", "support"));
    assert!(!has("User:web", "READ", "TOPIC", "clicks"), "producers only write");
    assert_eq!(acls["acls"].as_array().unwrap().len(), 12, "{acls:#}");
    kafka_admin(&json!({ "op": "acls", "acls": acls["acls"] })).unwrap();
}

/// Generated specs (partitions, replicas, min in-sync replicas, cleanup
/// policies, age and size limits) through the broker.
#[test]
fn generated_topics_are_what_a_kafka_client_reads_back() {
    let broker = KafkaBroker::start();
    let options = GenOptions { nats_replicas: 1, nats_filters: 1 };
    let count = std::env::var("MESHC_GEN_BROKERS").ok().and_then(|v| v.parse().ok()).unwrap_or(12u64);
    for seed in 0..count {
        let spec = generate(Kind::Kafka, seed, &format!("k{seed}"), options);
        apply(&broker, &spec);
    }
}

/// The shop's Kafka topics (examples/shop) through the broker: created as
/// written, read back the same.
#[test]
fn the_shops_topics_are_what_a_kafka_client_reads_back() {
    let broker = KafkaBroker::start();
    let compilation = meshc::driver::compile(&support::repo_root().join("examples/shop"));
    let options = meshc::emit::Options::default().with_backends(["kafka"]).unwrap();
    let built = compilation.build(&options).expect("the shop builds");
    let file = built.artifacts.iter().find(|a| a.path.ends_with("/topics.json")).expect("topics.json");
    let topics: Value = serde_json::from_str(&file.contents).unwrap();
    broker.admin(json!({ "op": "create_topics", "topics": topics["topics"] })).unwrap();
    for topic in topics["topics"].as_array().unwrap() {
        let name = topic["name"].as_str().unwrap();
        let described = broker.admin(json!({ "op": "describe_topics", "names": [name] })).unwrap();
        let kept = &described["topics"][name];
        assert_eq!(kept["num_partitions"], topic["num_partitions"], "{name}");
        assert_eq!(kept["replication_factor"], topic["replication_factor"], "{name}");
        assert_eq!(kept["configs"], topic["configs"], "{name}");
    }
    let acls = built.artifacts.iter().find(|a| a.path.ends_with("/acls.json")).expect("acls.json");
    let acls: Value = serde_json::from_str(&acls.contents).unwrap();
    kafka_admin(&json!({ "op": "acls", "acls": acls["acls"] })).unwrap();
}
