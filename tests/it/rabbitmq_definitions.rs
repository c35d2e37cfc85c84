//! RabbitMQ: what the `rabbitmq` backend writes, `rabbitmqctl
//! import_definitions` imports, and the broker then holds what the spec
//! says. Each spec's broker has a vhost named for this run, imported into
//! the shared RabbitMQ and deleted with everything in it afterwards; the
//! queues (type, arguments, the policy RabbitMQ applies and its
//! definition), exchanges and bindings are read back and compared with the
//! spec, for a fixed spec and generated ones (`MESHC_GEN_BROKERS=N`).

use crate::support;

use std::collections::BTreeMap;

use serde_json::{json, Value};
use support::events::{build, generate, GenConsumer, GenOptions, GenSpec, GenStream, Kind, AVRO};
use support::rabbitmq::VhostState;
use support::{shared_rabbitmq, unique_name, Rabbit};

/// A NATS-style pattern as RabbitMQ's: a last `>` is `*.#`.
fn routing_pattern(subject: &str) -> String {
    match subject.strip_suffix('>') {
        Some(head) => format!("{head}*.#"),
        None => subject.to_string(),
    }
}

/// The policy definition the spec means for a consumer group's queue.
fn expected_policy(spec: &GenSpec, stream: &GenStream, consumer: &GenConsumer) -> BTreeMap<String, Value> {
    let mut d = BTreeMap::new();
    let queue_type = stream.queue_type.unwrap_or("quorum");
    if let Some(bytes) = stream.max_bytes {
        d.insert("max-length-bytes".into(), json!(bytes));
    }
    if queue_type == "stream" {
        if let Some(age) = stream.max_age {
            d.insert("max-age".into(), json!(format!("{age}s")));
        }
        return d;
    }
    if let Some(age) = stream.max_age {
        d.insert("message-ttl".into(), json!(age * 1000));
    }
    if let Some(n) = stream.max_messages {
        d.insert("max-length".into(), json!(n));
    }
    let drops_oldest = stream.discard != Some("new");
    if stream.max_bytes.is_some() || stream.max_messages.is_some() {
        d.insert("overflow".into(), json!(if drops_oldest { "drop-head" } else { "reject-publish" }));
    }
    let Some(deliveries) = consumer.max_deliveries else { return d };
    if queue_type == "quorum" {
        d.insert("delivery-limit".into(), json!(deliveries - 1));
    }
    if let Some(dead) = &consumer.dead_letter {
        let dead_stream = spec.stream(dead);
        d.insert("dead-letter-exchange".into(), json!(dead));
        d.insert("dead-letter-routing-key".into(), json!(dead_stream.subjects[0]));
        let limited = stream.max_bytes.is_some() || stream.max_messages.is_some();
        if queue_type == "quorum" && !(limited && drops_oldest) {
            d.insert("overflow".into(), json!("reject-publish"));
            d.insert("dead-letter-strategy".into(), json!("at-least-once"));
        }
    }
    d
}

/// The bindings (routing key, arguments) the spec means for a consumer group's queue.
fn expected_bindings(stream: &GenStream, consumer: &GenConsumer) -> Vec<(String, Value)> {
    match stream.exchange_type.unwrap_or("topic") {
        "fanout" => vec![(String::new(), json!({}))],
        "headers" => {
            let mut args = serde_json::Map::new();
            args.insert("x-match".into(), json!("all"));
            for (name, value) in &consumer.header_filters {
                args.insert(name.clone(), json!(value));
            }
            vec![(String::new(), Value::Object(args))]
        }
        _ => {
            let patterns =
                if consumer.subject_filters.is_empty() { &stream.subjects } else { &consumer.subject_filters };
            let mut keys: Vec<(String, Value)> = patterns.iter().map(|p| (routing_pattern(p), json!({}))).collect();
            keys.sort_by(|a, b| a.0.cmp(&b.0));
            keys.dedup();
            keys
        }
    }
}

/// Compares what the broker holds in the spec's vhost with the spec.
fn compare(spec: &GenSpec, state: &VhostState) {
    let text = spec.text();
    for stream in &spec.streams {
        let exchange = state.exchange(&stream.topic).unwrap_or_else(|| panic!("no exchange {}\n{text}", stream.topic));
        assert_eq!(exchange["type"], stream.exchange_type.unwrap_or("topic"), "exchange {}\n{text}", stream.topic);
        assert_eq!(exchange["durable"], true);
    }
    assert_eq!(state.exchanges.len(), spec.streams.len(), "{:#?}\n{text}", state.exchanges);
    let mut queues = Vec::new();
    for consumer in &spec.consumers {
        let Some(group) = &consumer.group else { continue };
        let name = format!("{}.{group}", consumer.topic);
        if queues.contains(&name) {
            continue;
        }
        queues.push(name.clone());
        let stream = spec.stream(&consumer.topic);
        let queue = state.queue(&name).unwrap_or_else(|| panic!("no queue {name}: {:#?}\n{text}", state.queues));
        let queue_type = stream.queue_type.unwrap_or("quorum");
        assert_eq!(queue["type"], queue_type, "queue {name}\n{text}");
        assert_eq!(queue["durable"], true, "queue {name}\n{text}");
        let mut arguments = json!({ "x-queue-type": queue_type });
        let replicas = stream.replicas.unwrap_or(1);
        match queue_type {
            "quorum" => arguments["x-quorum-initial-group-size"] = json!(replicas),
            "stream" => arguments["x-initial-cluster-size"] = json!(replicas),
            _ => {}
        }
        assert_eq!(queue["arguments"], arguments, "queue {name}: arguments\n{text}");
        let policy = expected_policy(spec, stream, consumer);
        if policy.is_empty() {
            assert!(queue["policy"] == "" || queue["policy"].is_null(), "queue {name}: {queue}\n{text}");
        } else {
            assert_eq!(queue["policy"], name.as_str(), "queue {name}: the policy applied\n{text}");
            assert_eq!(queue["effective_policy_definition"], json!(policy), "queue {name}: the policy\n{text}");
        }
        let mut bindings: Vec<(String, Value)> = state
            .bindings
            .iter()
            .filter(|b| b["destination"] == name.as_str())
            .map(|b| {
                assert_eq!(b["source"], consumer.topic.as_str(), "binding of {name}\n{text}");
                (b["routing_key"].as_str().unwrap().to_string(), b["arguments"].clone())
            })
            .collect();
        bindings.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(bindings, expected_bindings(stream, consumer), "queue {name}: bindings\n{text}");
    }
    assert_eq!(state.queues.len(), queues.len(), "{:#?}\n{text}", state.queues);
}

/// Imports the spec's definitions and compares; the vhost is deleted afterwards.
fn apply(rabbit: &Rabbit, spec: &GenSpec) {
    let built = build(&spec.files, &["rabbitmq"]);
    let definitions = built.artifact(&format!("rabbitmq/{}/definitions.json", spec.broker));
    let vhost = spec.vhost.as_deref().expect("a RabbitMQ spec names its vhost");
    let _guard = rabbit.adopt_vhost(vhost);
    rabbit
        .import_definitions_text(&definitions.contents)
        .unwrap_or_else(|e| panic!("RabbitMQ refused the definitions: {e}\n{}\n{}", definitions.contents, spec.text()));
    let groups: std::collections::BTreeSet<(String, String)> =
        spec.consumers.iter().filter_map(|c| c.group.clone().map(|g| (c.topic.clone(), g))).collect();
    let state = rabbit.read_vhost(vhost, groups.len()).unwrap();
    compare(spec, &state);
}

/// A fixed spec: each exchange type and queue type, limits, a dead letter.
#[test]
fn definitions_import_into_rabbitmq_as_the_spec_says() {
    let rabbit = shared_rabbitmq();
    let p = unique_name("rq");
    let vhost = format!("{p}-vh");
    let mesh = format!(
        r#"mesh "shop"

broker "rabbit" kind="rabbitmq" {{
    address "rabbit.infra.svc.cluster.local" port=5672
    vhost "{vhost}"
}}

topic "payments" {{
    schema "schemas/event.avsc"
    stream broker="rabbit" {{
        subjects "shop.payments.>"
        max-age "24h"
        max-messages 100000
        discard "new"
        replicas 3
    }}
}}

topic "payments-dlq" {{
    schema "schemas/event.avsc"
    stream broker="rabbit" {{
        subjects "shop.payments.dead"
        queue-type "classic"
    }}
}}

topic "clicks" {{
    schema "schemas/event.avsc"
    stream broker="rabbit" {{
        exchange-type "headers"
        queue-type "stream"
        max-age "168h"
        max-bytes "1GiB"
    }}
}}

service "web" {{
    owner "team-web"
    address "web.shop.svc.cluster.local" port=8080
    publishes "payments" subject="shop.payments.card"
    publishes "clicks"
}}

service "ledger" {{
    owner "team-ledger"
    subscribes "payments" group="ledger" {{
        filter subject="shop.payments.card"
        retry max-deliveries=5 backoff="fixed" delay="5s"
        dead-letter "payments-dlq"
    }}
    subscribes "clicks" group="analytics" {{
        filter header="x-region" equals="eu"
    }}
}}

service "support" {{
    owner "team-support"
    subscribes "payments-dlq" group="support" {{
        retry max-deliveries=3 backoff="none"
        dead-letter drop=#true
    }}
}}
"#
    );
    let files = vec![("mesh.kdl".to_string(), mesh.clone()), ("schemas/event.avsc".to_string(), AVRO.to_string())];
    let built = build(&files, &["rabbitmq"]);
    let _guard = rabbit.adopt_vhost(&vhost);
    rabbit.import_definitions_text(&built.artifact("rabbitmq/rabbit/definitions.json").contents).unwrap();
    let state = rabbit.read_vhost(&vhost, 3).unwrap();

    let ledger = state.queue("payments.ledger").expect("the ledger queue");
    assert_eq!(ledger["type"], "quorum");
    assert_eq!(ledger["arguments"], json!({ "x-queue-type": "quorum", "x-quorum-initial-group-size": 3 }));
    assert_eq!(ledger["policy"], "payments.ledger");
    assert_eq!(
        ledger["effective_policy_definition"],
        json!({
            "message-ttl": 86_400_000, "max-length": 100_000, "overflow": "reject-publish",
            "delivery-limit": 4, "dead-letter-exchange": "payments-dlq",
            "dead-letter-routing-key": "shop.payments.dead", "dead-letter-strategy": "at-least-once",
        })
    );
    let support = state.queue("payments-dlq.support").expect("the support queue");
    assert_eq!(support["type"], "classic");
    // Classic queues count no deliveries: the runtime bounds them.
    assert!(support["policy"] == "" || support["policy"].is_null(), "{support}");
    let analytics = state.queue("clicks.analytics").expect("the analytics queue");
    assert_eq!(analytics["type"], "stream");
    assert_eq!(analytics["effective_policy_definition"], json!({ "max-age": "604800s", "max-length-bytes": 1 << 30 }));

    assert_eq!(state.exchange("payments").unwrap()["type"], "topic");
    assert_eq!(state.exchange("clicks").unwrap()["type"], "headers");
    let key_of = |queue: &str| -> Vec<(Value, Value)> {
        state
            .bindings
            .iter()
            .filter(|b| b["destination"] == queue)
            .map(|b| (b["routing_key"].clone(), b["arguments"].clone()))
            .collect()
    };
    assert_eq!(key_of("payments.ledger"), [(json!("shop.payments.card"), json!({}))]);
    assert_eq!(key_of("payments-dlq.support"), [(json!("shop.payments.dead"), json!({}))]);
    assert_eq!(key_of("clicks.analytics"), [(json!(""), json!({ "x-match": "all", "x-region": "eu" }))]);
}

/// Generated specs (exchange and queue types, limits, discard, replicas,
/// delivery limits, dead letters, subject and header filters), each in a
/// vhost of its own.
#[test]
fn generated_specs_import_into_rabbitmq_as_they_say() {
    let rabbit = shared_rabbitmq();
    let run = unique_name("rg");
    let options = GenOptions { nats_replicas: 1, nats_filters: 1 };
    let count = std::env::var("MESHC_GEN_BROKERS").ok().and_then(|v| v.parse().ok()).unwrap_or(6u64);
    for seed in 0..count {
        let spec = generate(Kind::Rabbitmq, seed, &format!("{run}-{seed}"), options);
        apply(&rabbit, &spec);
    }
}

/// The shop's definitions (examples/shop), imported into a vhost of this
/// run (the file's `/shop` renamed): every queue, exchange, binding and
/// policy is there as written, and each policy applies to its queue.
#[test]
fn the_shops_definitions_import_as_written() {
    let rabbit = shared_rabbitmq();
    let compilation = meshc::driver::compile(&support::repo_root().join("examples/shop"));
    let options = meshc::emit::Options::default().with_backends(["rabbitmq"]).unwrap();
    let artifacts = compilation.build(&options).expect("the shop builds").artifacts;
    let [definitions] = artifacts.as_slice() else { panic!("one definitions file: {artifacts:?}") };
    let mut document: Value = serde_json::from_str(&definitions.contents).unwrap();
    let vhost = unique_name("shop");
    let _guard = rabbit.adopt_vhost(&vhost);
    for part in ["vhosts", "exchanges", "queues", "bindings", "policies"] {
        for item in document[part].as_array_mut().unwrap() {
            let key = if part == "vhosts" { "name" } else { "vhost" };
            assert_eq!(item[key], "/shop");
            item[key] = json!(vhost);
        }
    }
    rabbit.import_definitions_text(&document.to_string()).unwrap();
    let written = document["queues"].as_array().unwrap();
    let state = rabbit.read_vhost(&vhost, written.len()).unwrap();
    assert_eq!(state.queues.len(), written.len());
    for queue in written {
        let name = queue["name"].as_str().unwrap();
        let kept = state.queue(name).unwrap_or_else(|| panic!("no queue {name}"));
        assert_eq!(kept["arguments"], queue["arguments"], "{name}");
        let policy = document["policies"].as_array().unwrap().iter().find(|p| p["name"] == name);
        assert_eq!(
            kept["effective_policy_definition"],
            policy.map_or(Value::Null, |p| p["definition"].clone()),
            "{name}"
        );
    }
    assert_eq!(state.exchanges.len(), document["exchanges"].as_array().unwrap().len());
    assert_eq!(state.bindings.len(), document["bindings"].as_array().unwrap().len());
}
