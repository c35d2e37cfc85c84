//! NATS JetStream: what the `nats` backend writes is what JetStream keeps.
//! Specs are compiled, every stream and consumer config is created on a
//! real server (the shared one for a fixed spec, named uniquely per run and
//! deleted afterwards; a `nats-server -js` of the test's own for generated
//! specs), and what the server then reports (`STREAM.INFO`,
//! `CONSUMER.INFO`) is compared field by field with the spec, and key by
//! key with the file.
//!
//! `MESHC_GEN_BROKERS=N` runs N generated specs instead of the default.

use crate::support;

use serde_json::Value;
use support::events::{build, generate, GenBackoff, GenConsumer, GenOptions, GenSpec, GenStream, Kind, AVRO};
use support::{shared_nats, unique_name, JetStream, JsError, NatsCluster, NatsServer, StreamsGuard};

const SECOND: i64 = 1_000_000_000;

/// Every key `file` sets has the same value in what the server keeps.
fn assert_kept(file: &Value, kept: &Value, what: &str, spec: &str) {
    for (key, value) in file.as_object().expect("a config is an object") {
        assert_eq!(&kept[key], value, "{what}: `{key}` was written {value} but the server keeps {}\n{spec}", kept[key]);
    }
}

/// The stream as the spec says it, against what JetStream keeps.
fn compare_stream(stream: &GenStream, kept: &Value, spec: &str) {
    let secs = |s: u64| s as i64 * SECOND;
    let expected = [
        ("name", Value::from(stream.topic.clone())),
        ("subjects", Value::from(stream.subjects.clone())),
        (
            "retention",
            Value::from(match stream.retention.unwrap_or("limits") {
                "work-queue" => "workqueue",
                other => other,
            }),
        ),
        ("max_age", Value::from(stream.max_age.map_or(0, secs))),
        ("max_bytes", Value::from(stream.max_bytes.map_or(-1, |b| b as i64))),
        ("max_msgs", Value::from(stream.max_messages.map_or(-1, |n| n as i64))),
        ("discard", Value::from(stream.discard.unwrap_or("old"))),
        ("storage", Value::from(stream.storage.unwrap_or("file"))),
        ("num_replicas", Value::from(stream.replicas.unwrap_or(1))),
        (
            "duplicate_window",
            // JetStream's default: two minutes, or the max-age when shorter.
            Value::from(match (stream.duplicate_window, stream.max_age) {
                (Some(window), _) => secs(window),
                (None, Some(age)) => secs(age.min(120)),
                (None, None) => secs(120),
            }),
        ),
    ];
    for (key, value) in expected {
        assert_eq!(kept[key], value, "stream {}: `{key}`\n{spec}", stream.topic);
    }
}

/// The JetStream backoff list the spec's redelivery means: the ack wait
/// plus each delay, up to the first at the cap, fewer than the deliveries.
fn expected_backoff(consumer: &GenConsumer) -> Vec<i64> {
    let wait = consumer.ack_wait.unwrap_or(30) as i64 * SECOND;
    let room = consumer.max_deliveries.map_or(64, |d| d.saturating_sub(1).min(64));
    match consumer.backoff {
        GenBackoff::None => Vec::new(),
        GenBackoff::Fixed(_) if room == 0 => Vec::new(),
        GenBackoff::Fixed(delay) => vec![wait + delay as i64 * SECOND],
        GenBackoff::Exponential(initial, max) => {
            let mut out = Vec::new();
            for n in 1..=room {
                let delay = (initial << (n - 1).min(40)).min(max);
                out.push(wait + delay as i64 * SECOND);
                if delay >= max {
                    break;
                }
            }
            out
        }
    }
}

/// The consumer as the spec says it, against what JetStream keeps.
fn compare_consumer(consumer: &GenConsumer, kept: &Value, spec: &str) {
    let what = format!("consumer {} of {}", consumer.group.as_deref().unwrap_or("-"), consumer.topic);
    assert_eq!(kept["durable_name"], consumer.group.as_deref().unwrap(), "{what}\n{spec}");
    assert_eq!(kept["deliver_policy"], "all", "{what}\n{spec}");
    match consumer.subject_filters.as_slice() {
        [] => assert!(kept.get("filter_subject").is_none_or(|f| f == "") && kept.get("filter_subjects").is_none()),
        [one] => assert_eq!(kept["filter_subject"], one.as_str(), "{what}\n{spec}"),
        many => assert_eq!(kept["filter_subjects"], Value::from(many.to_vec()), "{what}\n{spec}"),
    }
    if consumer.at_most_once {
        assert_eq!(kept["ack_policy"], "explicit", "{what}\n{spec}");
        assert_eq!(kept["max_deliver"], 1, "{what}: at most once is one delivery\n{spec}");
        return;
    }
    assert_eq!(kept["ack_policy"], consumer.ack, "{what}\n{spec}");
    // One more than the spec's: the runtime dead-letters an event whose handler hung on its last delivery.
    let max_deliver = consumer.max_deliveries.map_or(-1, |d| i64::from(d) + 1);
    assert_eq!(kept["max_deliver"], max_deliver, "{what}\n{spec}");
    let backoff = expected_backoff(consumer);
    let wait = backoff.first().copied().unwrap_or(consumer.ack_wait.unwrap_or(30) as i64 * SECOND);
    assert_eq!(kept["ack_wait"], wait, "{what}: ack_wait\n{spec}");
    let kept_backoff = kept.get("backoff").cloned().unwrap_or(Value::Array(Vec::new()));
    assert_eq!(kept_backoff, Value::from(backoff), "{what}: backoff\n{spec}");
    if let Some(n) = consumer.max_in_flight {
        assert_eq!(kept["max_ack_pending"], n, "{what}\n{spec}");
    }
}

/// The answer of a lookup right after a create: a JetStream cluster may
/// answer from a server that has not yet applied it ("not found"), so a
/// 404 is asked again for up to 10 s; any other error fails at once.
fn settled(mut lookup: impl FnMut() -> Result<Value, JsError>) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match lookup() {
            Ok(info) => return info,
            Err(JsError::Api { code: 404, .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50))
            }
            Err(e) => panic!("JetStream lookup failed: {e}"),
        }
    }
}

/// Creates every stream and consumer of `spec` through `js` and compares
/// what the server keeps; `guard` deletes the streams afterwards.
fn apply(js: &mut JetStream, spec: &GenSpec, guard: Option<&StreamsGuard>) {
    let built = build(&spec.files, &["nats"]);
    let text = spec.text();
    for stream in &spec.streams {
        let path = format!("nats/{}/streams/{}.json", spec.broker, stream.topic);
        let config = built.json(&path);
        if let Some(guard) = guard {
            guard.track(&stream.topic);
        }
        let info =
            js.stream_create(&config).unwrap_or_else(|e| panic!("JetStream refused {path}: {e}\n{config:#}\n{text}"));
        assert_kept(&config, &info["config"], &path, &text);
        let info = settled(|| js.stream_info(&stream.topic));
        compare_stream(stream, &info["config"], &text);
    }
    let mut groups = Vec::new();
    for consumer in &spec.consumers {
        let Some(group) = &consumer.group else { continue };
        if groups.contains(&(consumer.topic.as_str(), group.as_str())) {
            continue;
        }
        groups.push((consumer.topic.as_str(), group.as_str()));
        let path = format!("nats/{}/consumers/{}/{group}.json", spec.broker, consumer.topic);
        let config = built.json(&path);
        js.consumer_create(&consumer.topic, &config)
            .unwrap_or_else(|e| panic!("JetStream refused {path}: {e}\n{config:#}\n{text}"));
        let info = settled(|| js.consumer_info(&consumer.topic, group));
        assert_kept(&config, &info["config"], &path, &text);
        compare_consumer(consumer, &info["config"], &text);
    }
    // Nothing else: no file for an ephemeral consumer.
    assert_eq!(built.under("nats/").len(), spec.streams.len() + groups.len(), "{text}");
}

/// A fixed spec with every stream and consumer setting, on the shared
/// server: each topic named for this run, deleted afterwards.
#[test]
fn streams_and_consumers_are_what_the_shared_jetstream_keeps() {
    let addr = shared_nats();
    let mut js = JetStream::connect(addr).unwrap();
    let p = unique_name("nt");
    let mesh = format!(
        r#"mesh "shop"

broker "bus" kind="nats" {{
    address "nats.infra.svc.cluster.local" port=4222
}}

topic "{p}-orders" {{
    schema "schemas/event.avsc"
    stream broker="bus" {{
        subjects "{p}.orders.>" "{p}.legacy.orders"
        retention "interest"
        max-age "168h"
        max-bytes "1GiB"
        max-messages 1000000
        discard "new"
        storage "memory"
        duplicate-window "2m"
    }}
}}

topic "{p}-dlq" {{
    schema "schemas/event.avsc"
    stream broker="bus" {{
        subjects "{p}.dead"
        max-age "720h"
    }}
}}

service "orders" {{
    owner "team-orders"
    address "orders.shop.svc.cluster.local" port=8080
    publishes "{p}-orders" subject="{p}.orders.eu"
}}

service "payments" {{
    owner "team-payments"
    subscribes "{p}-orders" group="payments" {{
        filter subject="{p}.orders.eu"
        delivery "at-least-once" ack="explicit" ack-wait="30s" max-in-flight=100
        retry max-deliveries=5 backoff="exponential" initial="1s" max="4s"
        dead-letter "{p}-dlq"
    }}
}}

service "audit" {{
    owner "team-audit"
    subscribes "{p}-orders" group="audit" {{
        delivery "at-most-once"
    }}
}}

service "support" {{
    owner "team-support"
    subscribes "{p}-dlq" group="support" {{
        delivery "at-least-once" ack="all" ack-wait="1m"
        retry max-deliveries=3 backoff="fixed" delay="10s"
        dead-letter drop=#true
    }}
}}
"#
    );
    let files = vec![("mesh.kdl".to_string(), mesh.clone()), ("schemas/event.avsc".to_string(), AVRO.to_string())];
    let built = build(&files, &["nats"]);
    let guard = StreamsGuard::new(addr);
    let orders = built.json(&format!("nats/bus/streams/{p}-orders.json"));
    guard.track(&format!("{p}-orders"));
    guard.track(&format!("{p}-dlq"));
    let info = js.stream_create(&orders).unwrap_or_else(|e| panic!("{e}\n{orders:#}"));
    assert_kept(&orders, &info["config"], "orders stream", &mesh);
    let kept = &js.stream_info(&format!("{p}-orders")).unwrap()["config"];
    assert_eq!(kept["subjects"], serde_json::json!([format!("{p}.orders.>"), format!("{p}.legacy.orders")]));
    assert_eq!(kept["retention"], "interest");
    assert_eq!(kept["max_age"], 168 * 3600 * SECOND);
    assert_eq!(kept["max_bytes"], 1 << 30);
    assert_eq!(kept["max_msgs"], 1_000_000);
    assert_eq!(kept["discard"], "new");
    assert_eq!(kept["storage"], "memory");
    assert_eq!(kept["duplicate_window"], 120 * SECOND);
    assert_eq!(kept["num_replicas"], 1);
    js.stream_create(&built.json(&format!("nats/bus/streams/{p}-dlq.json"))).unwrap();

    let payments = built.json(&format!("nats/bus/consumers/{p}-orders/payments.json"));
    js.consumer_create(&format!("{p}-orders"), &payments).unwrap_or_else(|e| panic!("{e}\n{payments:#}"));
    let kept = &js.consumer_info(&format!("{p}-orders"), "payments").unwrap()["config"];
    assert_kept(&payments, kept, "payments consumer", &mesh);
    assert_eq!(kept["ack_policy"], "explicit");
    assert_eq!(kept["filter_subject"], format!("{p}.orders.eu"));
    assert_eq!(kept["max_deliver"], 6);
    assert_eq!(kept["max_ack_pending"], 100);
    // 30 s to acknowledge, then 1 s, 2 s, 4 s (the cap) before redelivering.
    assert_eq!(kept["backoff"], serde_json::json!([31 * SECOND, 32 * SECOND, 34 * SECOND]));
    assert_eq!(kept["ack_wait"], 31 * SECOND);

    let audit = built.json(&format!("nats/bus/consumers/{p}-orders/audit.json"));
    js.consumer_create(&format!("{p}-orders"), &audit).unwrap_or_else(|e| panic!("{e}\n{audit:#}"));
    let kept = &js.consumer_info(&format!("{p}-orders"), "audit").unwrap()["config"];
    assert_eq!((&kept["ack_policy"], &kept["max_deliver"]), (&Value::from("explicit"), &Value::from(1)));

    let support = built.json(&format!("nats/bus/consumers/{p}-dlq/support.json"));
    js.consumer_create(&format!("{p}-dlq"), &support).unwrap_or_else(|e| panic!("{e}\n{support:#}"));
    let kept = &js.consumer_info(&format!("{p}-dlq"), "support").unwrap()["config"];
    assert_eq!(kept["ack_policy"], "all");
    assert_eq!(kept["backoff"], serde_json::json!([70 * SECOND]));
    assert_eq!(kept["max_deliver"], 4);
}

/// How many generated specs to run (`MESHC_GEN_BROKERS`, default 12).
pub fn generated_count() -> u64 {
    std::env::var("MESHC_GEN_BROKERS").ok().and_then(|v| v.parse().ok()).unwrap_or(12)
}

/// Generated specs (names, subjects, limits, retention, storage, discard,
/// replicas, duplicate windows; consumers with every delivery, ack,
/// backoff, bound, dead letter and filter) through a JetStream cluster of
/// three servers of the test's own.
#[test]
fn generated_specs_are_what_jetstream_keeps() {
    let cluster = NatsCluster::start(3);
    let mut js = cluster.connect();
    // NATS before 2.10 ignores `filter_subjects`: one filter at most there.
    let version: Vec<u32> = js.server_version().split('.').filter_map(|p| p.parse().ok()).collect();
    let filters = if version.as_slice() >= [2, 10].as_slice() { 3 } else { 1 };
    let options = GenOptions { nats_replicas: 3, nats_filters: filters };
    for seed in 0..generated_count() {
        let spec = generate(Kind::Nats, seed, &format!("n{seed}"), options);
        apply(&mut js, &spec, None);
    }
}

/// What the event checks (MESH0088-MESH0091) keep out of specs is what
/// JetStream refuses: shown here on the server itself.
#[test]
fn jetstream_refuses_what_the_event_checks_report() {
    let server = NatsServer::start();
    let mut js = server.connect();
    let refused = |result: Result<Value, JsError>| match result {
        Err(JsError::Api { description, .. }) => description,
        other => panic!("JetStream accepted it: {other:?}"),
    };
    js.stream_create(&serde_json::json!({ "name": "a", "subjects": ["shop.orders.>"] })).unwrap();
    // MESH0088
    let text = refused(js.stream_create(&serde_json::json!({ "name": "b", "subjects": ["shop.*.eu"] })));
    assert!(text.contains("overlap"), "{text}");
    // MESH0089
    let text = refused(js.stream_create(
        &serde_json::json!({ "name": "c", "subjects": ["c"], "max_age": 60 * SECOND, "duplicate_window": 120 * SECOND }),
    ));
    assert!(text.contains("duplicates window"), "{text}");
    let text =
        refused(js.stream_create(&serde_json::json!({ "name": "d", "subjects": ["d"], "max_age": SECOND / 20 })));
    assert!(text.contains("100ms"), "{text}");
    let text = refused(
        js.stream_create(&serde_json::json!({ "name": "e", "subjects": ["e"], "duplicate_window": SECOND / 20 })),
    );
    assert!(text.contains("100ms"), "{text}");
    js.stream_create(&serde_json::json!({ "name": "w", "subjects": ["w.>"], "retention": "workqueue" })).unwrap();
    // MESH0091
    let text = refused(js.consumer_create("w", &serde_json::json!({ "durable_name": "all", "ack_policy": "all" })));
    assert!(text.contains("explicit ack"), "{text}");
    // MESH0090
    js.consumer_create(
        "w",
        &serde_json::json!({ "durable_name": "x", "ack_policy": "explicit", "filter_subject": "w.*" }),
    )
    .unwrap();
    let text = refused(js.consumer_create(
        "w",
        &serde_json::json!({ "durable_name": "y", "ack_policy": "explicit", "filter_subject": "w.eu" }),
    ));
    assert!(text.contains("not unique"), "{text}");
}

/// The shop's streams and consumers (examples/shop), created on a server
/// of the test's own: JetStream takes every file and keeps what it says.
#[test]
fn the_shops_streams_and_consumers_are_what_jetstream_keeps() {
    let server = NatsServer::start();
    let mut js = server.connect();
    let compilation = meshc::driver::compile(&support::repo_root().join("examples/shop"));
    let options = meshc::emit::Options::default().with_backends(["nats"]).unwrap();
    let artifacts = compilation.build(&options).expect("the shop builds").artifacts;
    let (streams, consumers): (Vec<_>, Vec<_>) = artifacts.iter().partition(|a| a.path.contains("/streams/"));
    assert!(!streams.is_empty() && !consumers.is_empty());
    for artifact in streams {
        let config: Value = serde_json::from_str(&artifact.contents).unwrap();
        let info = js.stream_create(&config).unwrap_or_else(|e| panic!("{}: {e}", artifact.path));
        assert_kept(&config, &info["config"], &artifact.path, "examples/shop");
    }
    for artifact in consumers {
        // nats/BROKER/consumers/TOPIC/GROUP.json
        let stream = artifact.path.split('/').nth(3).unwrap();
        let config: Value = serde_json::from_str(&artifact.contents).unwrap();
        let info = js.consumer_create(stream, &config).unwrap_or_else(|e| panic!("{}: {e}", artifact.path));
        assert_kept(&config, &info["config"], &artifact.path, "examples/shop");
    }
}
