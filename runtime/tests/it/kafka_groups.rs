//! Kafka consumer groups against Tansu: members of one group split a
//! topic's partitions (each key handled by one member, both working),
//! every event is handled once while membership is stable,
//! and when a member leaves or dies its partitions move to the others,
//! which resume from the committed offsets.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use meshc_runtime::event_bus::{Event, EventBus, EventBusConfig, Subscription};
use serde_json::{json, Value};

use crate::support::kafka::KafkaBroker;
use crate::support::unique_name;

const PARTITIONS: i32 = 4;
/// Short, so a dead member is replaced quickly.
const SESSION_MS: u64 = 3_000;

/// A topic of 4 partitions keyed by `key`; `producer` publishes, `workers`
/// (one group) consumes at least once.
struct Groups {
    topic: String,
    group: String,
    config: Arc<EventBusConfig>,
}

impl Groups {
    fn new(broker: &KafkaBroker) -> Groups {
        let topic = unique_name("jobs");
        let group = unique_name("workers");
        let config = json!({
            "brokers": [{"name": "bus", "kind": "kafka", "addresses": [broker.addr.to_string()]}],
            "topics": [{"name": topic, "broker": "bus", "subjects": [], "partition_key": "key",
                        "partitions": PARTITIONS,
                        "versions": [{"version": 1, "format": "json-schema", "schema": "{}"}]}],
            "producers": [{"service": "producer", "topic": topic, "version": 1, "subject": topic}],
            "consumers": [{"service": "workers", "topic": topic, "version": 1, "group": group,
                           "delivery": "at-least-once", "session_timeout_ms": SESSION_MS}]
        });
        let config = Arc::new(EventBusConfig::from_json(&config.to_string()).unwrap());
        Groups { topic, group, config }
    }

    /// A member: its handler records `(member, key, n)` for each event.
    async fn member(&self, name: &'static str, handled: &Handled) -> Subscription {
        let bus = EventBus::connect(&self.config, "workers").await.unwrap();
        let handled = handled.clone();
        bus.subscribe(&self.topic, move |event: Event| {
            handled.push(name, &event);
            async { Ok::<(), String>(()) }
        })
        .await
        .unwrap()
    }

    async fn publish(&self, range: std::ops::Range<u64>) {
        let producer = EventBus::connect(&self.config, "producer").await.unwrap();
        for n in range {
            producer.publish(&self.topic, &json!({"key": format!("k{}", n % 16), "n": n})).await.unwrap();
        }
    }

    /// Each member's partitions, as kafka-python's admin client reads the group.
    fn assignments(&self, broker: &KafkaBroker) -> BTreeMap<String, Vec<i32>> {
        let answer = broker.admin(json!({"op": "describe_group", "group": self.group})).unwrap();
        let members = answer["members"].as_object().unwrap_or_else(|| panic!("no members: {answer}"));
        members
            .iter()
            .map(|(id, partitions)| {
                let ids = partitions
                    .as_array()
                    .unwrap()
                    .iter()
                    .inspect(|tp| assert_eq!(tp[0], json!(self.topic), "{answer}"))
                    .map(|tp| tp[1].as_i64().unwrap() as i32)
                    .collect();
                (id.clone(), ids)
            })
            .collect()
    }
}

/// One handled event: the member that handled it, its key and its number.
type HandledEvent = (&'static str, String, u64);

/// Every handled event, in order.
#[derive(Clone, Default)]
struct Handled(Arc<Mutex<Vec<HandledEvent>>>);

impl Handled {
    fn push(&self, member: &'static str, event: &Event) {
        let key = event.payload["key"].as_str().unwrap_or_default().to_string();
        let n = event.payload["n"].as_u64().unwrap_or(u64::MAX);
        self.0.lock().unwrap().push((member, key, n));
    }

    fn all(&self) -> Vec<HandledEvent> {
        self.0.lock().unwrap().clone()
    }

    /// How often each n was handled.
    fn counts(&self) -> HashMap<u64, usize> {
        let mut counts = HashMap::new();
        for (_, _, n) in self.all() {
            *counts.entry(n).or_insert(0) += 1;
        }
        counts
    }

    fn distinct(&self) -> usize {
        self.counts().len()
    }
}

async fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls the group (kafka-python's DescribeGroups) until it has `members`
/// members. Tansu describes no assignments, so what each member reads is
/// asserted from the events it handles.
async fn wait_for_members(groups: &Groups, broker: &KafkaBroker, members: usize) -> BTreeSet<String> {
    let start = Instant::now();
    loop {
        let ids: BTreeSet<String> = groups.assignments(broker).into_keys().collect();
        if ids.len() == members {
            return ids;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "the group never had {members} members: {ids:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_group_members_split_the_partitions_and_handle_each_event_once() {
    let broker = KafkaBroker::start();
    let groups = Groups::new(&broker);
    let handled = Handled::default();
    let _a = groups.member("a", &handled).await;
    let _b = groups.member("b", &handled).await;
    let members = wait_for_members(&groups, &broker, 2).await;

    let events = 200;
    groups.publish(0..events).await;
    wait_until("every event", Duration::from_secs(30), || handled.distinct() == events as usize).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let twice: Vec<_> = handled.counts().into_iter().filter(|(_, c)| *c != 1).collect();
    assert!(twice.is_empty(), "handled more than once: {twice:?}");
    // A key's partition belongs to one member: the same member handles it.
    let mut by_key: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for (member, key, _) in handled.all() {
        by_key.entry(key).or_default().insert(member);
    }
    assert_eq!(by_key.len(), 16);
    assert!(by_key.values().all(|members| members.len() == 1), "keys handled by both: {by_key:?}");
    let working: BTreeSet<&str> = by_key.values().flatten().copied().collect();
    assert_eq!(working, BTreeSet::from(["a", "b"]), "both members work");
    let now: BTreeSet<String> = groups.assignments(&broker).into_keys().collect();
    assert_eq!(now, members, "membership stayed stable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_a_member_that_leaves_hands_its_partitions_over() {
    let broker = KafkaBroker::start();
    let groups = Groups::new(&broker);
    let handled = Handled::default();
    let _a = groups.member("a", &handled).await;
    let b = groups.member("b", &handled).await;
    wait_for_members(&groups, &broker, 2).await;
    groups.publish(0..100).await;
    wait_until("the first events", Duration::from_secs(30), || handled.distinct() == 100).await;
    let left = Instant::now();
    drop(b); // LeaveGroup: a takes every partition at once.
    groups.publish(100..200).await;
    wait_until("every event", Duration::from_secs(30), || handled.distinct() == 200).await;
    let after: Vec<_> = handled.all().into_iter().filter(|(_, _, n)| *n >= 100).collect();
    assert!(after.iter().all(|(member, _, _)| *member == "a"), "b handled after it left");
    wait_for_members(&groups, &broker, 1).await;
    // Well before b's session would have expired.
    assert!(left.elapsed() < Duration::from_millis(SESSION_MS) * 3, "took {:?}", left.elapsed());
    let duplicates: usize = handled.counts().values().map(|c| c - 1).sum();
    assert_eq!(duplicates, 0, "every event was committed before b left");
}

/// A member whose process dies (its runtime shut down: no LeaveGroup, no
/// more heartbeats) is dropped after its session timeout; the other member
/// then handles everything, from the committed offsets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_a_member_that_stops_heartbeating_is_replaced_after_the_session_timeout() {
    let broker = KafkaBroker::start();
    let groups = Arc::new(Groups::new(&broker));
    let handled = Handled::default();
    let _a = groups.member("a", &handled).await;
    // b in a runtime of its own, shut down below like a crashed process.
    let dying = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let b = {
        let (groups, handled) = (Arc::clone(&groups), handled.clone());
        dying.spawn(async move { groups.member("b", &handled).await }).await.unwrap()
    };
    wait_for_members(&groups, &broker, 2).await;
    groups.publish(0..100).await;
    wait_until("the first events", Duration::from_secs(30), || handled.distinct() == 100).await;
    let died = Instant::now();
    std::mem::forget(b); // its drop would leave the group
    dying.shutdown_background();
    groups.publish(100..200).await;
    wait_until("every event", Duration::from_secs(60), || handled.distinct() == 200).await;
    let took = died.elapsed();
    assert!(
        took >= Duration::from_millis(SESSION_MS) / 2,
        "b's partitions moved after {took:?}, before its session ended"
    );
    let after: Vec<_> = handled.all().into_iter().filter(|(_, _, n)| *n >= 100).collect();
    assert!(after.iter().all(|(member, _, _)| *member == "a"), "the dead member handled events");
    let duplicates: usize = handled.counts().values().map(|c| c - 1).sum();
    assert!(duplicates <= 1, "{duplicates} duplicates");
}

#[tokio::test]
async fn kafka_a_topic_is_created_with_its_declared_partitions() {
    let broker = KafkaBroker::start();
    let groups = Groups::new(&broker);
    EventBus::connect(&groups.config, "producer").await.unwrap();
    let answer = broker.admin(json!({"op": "describe_topics", "names": [groups.topic]})).unwrap();
    let topic: &Value = &answer["topics"][&groups.topic];
    assert_eq!(topic["num_partitions"], json!(PARTITIONS), "{answer}");
    assert_eq!(topic["replication_factor"], json!(1), "{answer}");
}
