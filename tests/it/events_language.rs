//! The event bus's language: brokers, streams, schema versions, producers
//! and consumers, as fixtures (tests/it/support/fixture.rs) with the
//! diagnostics each mistake must produce, and the model a clean spec lowers to.

use std::time::Duration;

use crate::support::fixture::check;
use meshc::model::events::{
    AckPolicy, Backoff, BrokerKind, Compatibility, Credentials, DeadLetter, Delivery, Durability, Filter,
    MaxDeliveries, QueueType, Retention, StreamSettings, SubjectNaming,
};

/// The one event schema of these fixtures, indented like them.
const AVRO: &str = r#"
        //- order.avsc
        {"type": "record", "name": "OrderPlaced", "namespace": "shop", "fields": [{"name": "id", "type": "string"}]}
"#;

fn with_schema(spec: &str) -> String {
    format!("{}{AVRO}", spec.trim_end())
}

#[test]
fn a_clean_event_bus_lowers_into_brokers_streams_producers_and_consumers() {
    let c = check(&with_schema(
        r#"
        //- mesh.kdl
        broker "bus" kind="nats" {
            address "nats-0.infra" port=4222
            address "nats-1.infra" port=4222
            credentials file="/run/secrets/nats.creds"
            tls ca="/etc/nats/ca.pem"
        }
        broker "events" kind="rabbitmq" {
            address "rabbit.infra" port=5672
            credentials env="AMQP_CREDENTIALS"
            vhost "/shop"
        }
        topic "placed" {
            schema "order.avsc" version=1
            schema "order.avsc" version=3
            compatibility "full-transitive"
            subject-naming "topic-record"
            stream broker="bus" {
                subjects "shop.placed.>" "shop.legacy"
                retention "interest"
                max-age "24h"
                max-bytes "1GiB"
                max-messages 5000
                replicas 3
                duplicate-window "2m"
            }
        }
        topic "placed-dlq" {
            schema "order.avsc"
            stream broker="bus" { subjects "shop.dead"; }
        }
        topic "rated" {
            schema "order.avsc"
            stream broker="events" { queue-type "classic"; }
        }
        service "orders" {
            owner "t"
            address "orders" port=80
            publishes "placed" subject="shop.placed.eu" version=1
            publishes "rated"
        }
        service "payments" {
            owner "t"
            subscribes "placed" version=1 group="payments" {
                filter subject="shop.placed.*"
                filter header="x-region" equals="eu"
                delivery "at-least-once" ack="all" ack-wait="45s" max-in-flight=20 processing-time="40s"
                retry max-deliveries=4 backoff="exponential" initial="1s" max="8s"
                dead-letter "placed-dlq"
            }
            subscribes "placed-dlq" group="support" {
                retry max-deliveries=2 backoff="fixed" delay="1m"
                dead-letter drop=#true
            }
            subscribes "rated" { delivery "at-most-once"; }
        }
        "#,
    ));
    let model = c.model.as_ref().unwrap();
    let events = &model.events;
    assert_eq!(events.brokers.len(), 2);
    let bus = &events.brokers[0];
    assert_eq!((bus.kind, bus.addresses.len(), bus.vhost()), (BrokerKind::Nats, 2, "/"));
    assert!(matches!(&bus.credentials, Some(Credentials::File(f)) if f.value.ends_with("nats.creds")));
    assert!(bus.tls.as_ref().unwrap().ca.is_some());
    assert_eq!(events.brokers[1].vhost(), "/shop");
    assert!(matches!(&events.brokers[1].credentials, Some(Credentials::Env(e)) if e.value == "AMQP_CREDENTIALS"));

    let placed = &model.topics[0];
    assert_eq!(placed.versions.iter().map(|v| v.number).collect::<Vec<_>>(), [1, 3]);
    assert_eq!(placed.current().number, 3);
    assert_eq!(placed.compatibility.value, Compatibility::FullTransitive);
    assert_eq!(placed.subject_naming, SubjectNaming::TopicRecord);
    let stream = events.stream(placed.stream.unwrap());
    let subjects: Vec<&str> = stream.subjects.iter().map(|s| s.value.as_str()).collect();
    assert_eq!(subjects, ["shop.placed.>", "shop.legacy"]);
    assert_eq!(stream.limits.max_age.map(|d| d.as_millis()), Some(86_400_000));
    assert_eq!(stream.limits.max_bytes.map(|b| b.bytes()), Some(1 << 30));
    assert_eq!(stream.limits.max_messages.map(|n| n.get()), Some(5000));
    assert_eq!(stream.replicas.get(), 3);
    let StreamSettings::Nats { retention, duplicate_window, .. } = &stream.settings else { panic!("a NATS stream") };
    assert_eq!((*retention, duplicate_window.map(|d| d.as_millis())), (Retention::Interest, Some(120_000)));
    let rated = events.stream(model.topics[2].stream.unwrap());
    assert_eq!(rated.subjects[0].value, "rated", "a stream without subjects keeps its topic's name");
    assert!(matches!(rated.settings, StreamSettings::Rabbitmq { queue_type: QueueType::Classic, .. }));

    let producers: Vec<(u32, Option<&str>)> =
        events.producers.iter().map(|p| (p.version, p.subject.as_ref().map(|s| s.value.as_str()))).collect();
    assert_eq!(producers, [(1, Some("shop.placed.eu")), (1, None)]);

    let payments = &events.consumers[0];
    assert_eq!(payments.version, 1);
    assert!(matches!(&payments.durability, Durability::Durable(g) if g.value == "payments"));
    assert!(matches!(&payments.filters[0], Filter::Subject(s) if s.value == "shop.placed.*"));
    assert!(matches!(&payments.filters[1], Filter::Header { equals, .. } if equals == "eu"));
    assert_eq!(payments.max_in_flight.map(|n| n.get()), Some(20));
    assert_eq!(payments.processing_time.as_ref().map(|d| d.value.as_millis()), Some(40_000));
    let Delivery::AtLeastOnce(redelivery) = &payments.delivery else { panic!("at least once") };
    assert_eq!((redelivery.ack, redelivery.ack_wait.as_millis()), (AckPolicy::All, 45_000));
    let Backoff::Exponential(backoff) = redelivery.backoff else { panic!("exponential") };
    assert_eq!(Duration::from_millis(backoff.delay(3).as_millis() as u64), Duration::from_secs(4));
    let MaxDeliveries::AtMost { deliveries, then: DeadLetter::Topic(dlq) } = &redelivery.attempts else {
        panic!("bounded, into a topic")
    };
    assert_eq!((deliveries.get(), model.topic(dlq.value).name.value.as_str()), (4, "placed-dlq"));

    let support = &events.consumers[1];
    assert_eq!(support.version, 1, "a topic's only version is 1");
    let Delivery::AtLeastOnce(r) = &support.delivery else { panic!() };
    assert!(matches!(r.attempts, MaxDeliveries::AtMost { then: DeadLetter::Drop { declared: Some(_) }, .. }));
    assert!(matches!(r.backoff, Backoff::Fixed(d) if d.as_millis() == 60_000));
    assert_eq!(events.consumers[2].delivery, Delivery::AtMostOnce);
    assert_eq!(events.consumers[2].durability, Durability::Ephemeral);
}

#[test]
fn broker_mistakes_are_reported_where_they_are_written() {
    check(&with_schema(
        r#"
        //- mesh.kdl
        broker "bus" kind="nast" {
        //           ^^^^^^^^^^^ MESH0004 error
            address "nats" port=4222
        }
        broker "empty" kind="nats"
        //     ^^^^^^^ MESH0005 error
        broker "both" kind="kafka" {
            address "kafka" port=9092
            credentials env="KAFKA" file="/run/kafka"
        //  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0004 error
        }
        broker "vhost" kind="nats" {
            address "nats" port=4222
            vhost "/shop"
        //        ^^^^^^^ MESH0075 error
        }
        broker "sasl" kind="kafka" {
            address "kafka" port=9092
            credentials env="KAFKA"
        //  ^^^^^^^^^^^ MESH0005 error
        }
        broker "mechanism" kind="rabbitmq" {
            address "rabbit" port=5672
            credentials env="AMQP" mechanism="plain"
        //                         ^^^^^^^^^^^^^^^^^ MESH0075 error
        }
        broker "gssapi" kind="kafka" {
            address "kafka" port=9092
            credentials env="KAFKA" mechanism="gssapi"
        //                          ^^^^^^^^^^^^^^^^^^ MESH0004 error
        }
        broker "env" kind="nats" {
            address "nats" port=4222
            credentials env="NOT A NAME"
        //              ^^^^^^^^^^^^^^^^ MESH0004 error
        }
        broker "env" kind="nats" { address "nats" port=4222; }
        //     ^^^^^ MESH0006 error
        "#,
    ));
}

#[test]
fn a_setting_of_another_kind_of_broker_is_refused() {
    check(&with_schema(
        r#"
        //- mesh.kdl
        broker "bus" kind="nats" { address "nats" port=4222; }
        broker "log" kind="kafka" { address "kafka" port=9092; }
        topic "placed" {
            schema "order.avsc"
            stream broker="bus" {
                partitions 12
        //      ^^^^^^^^^^ MESH0075 error
            }
        }
        topic "logged" {
            schema "order.avsc"
            stream broker="log" {
                subjects "a.b"
        //      ^^^^^^^^ MESH0075 error
            }
        }
        topic "other" {
            schema "order.avsc"
            stream broker="bsu" { }
        //         ^^^^^^^^^^^^ MESH0074 error
        }
        topic "logged-ok" {
        //    ^^^^^^^^^^^ MESH0037 warning
            schema "order.avsc"
            stream broker="log" { partitions 6; cleanup-policy "compact"; }
        }
        service "orders" {
            owner "t"
            address "orders" port=80
            publishes "logged-ok" subject="x"
        //                        ^^^^^^^^^^^ MESH0075 error
        }
        service "reader" {
            owner "t"
            subscribes "logged-ok" group="reader" {
                filter subject="x.*"
        //             ^^^^^^^^^^^^^ MESH0075 error
            }
        }
        "#,
    ));
}

#[test]
fn schema_versions_are_numbered_in_order_and_referenced_by_number() {
    check(&with_schema(
        r#"
        //- mesh.kdl
        topic "unnumbered" {
            schema "order.avsc"
        //  ^^^^^^^^^^^^^^^^^^^ MESH0005 error
            schema "order.avsc" version=2
        }
        topic "backwards" {
            schema "order.avsc" version=2
            schema "order.avsc" version=1
        //  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0004 error
        }
        topic "placed" {
            schema "order.avsc" version=1
            schema "order.avsc" version=2
            compatibility "backwards"
        //                ^^^^^^^^^^^ MESH0004 error
        }
        topic "good" {
        //    ^^^^^^ MESH0037 warning
            schema "order.avsc" version=1
            schema "order.avsc" version=2
        }
        service "orders" {
            owner "t"
            address "orders" port=80
            publishes "good" version=3
        //                   ^^^^^^^^^ MESH0076 error
        }
        service "reader" {
            owner "t"
            subscribes "good" version=1
        }
        "#,
    ));
}

#[test]
fn delivery_settings_that_cannot_work_together_are_refused() {
    check(&with_schema(
        r#"
        //- mesh.kdl
        topic "placed" { schema "order.avsc"; }
        //    ^^^^^^^^ MESH0037 warning: declared, never used
        topic "dlq" { schema "order.avsc"; }
        //    ^^^^^ MESH0037 warning: declared, never used
        service "orders" {
            owner "t"
            address "orders" port=80
            publishes "placed" subject="shop.*"
        //                     ^^^^^^^^^^^^^^^^ MESH0004 error
        }
        service "a" {
            owner "t"
            subscribes "placed" {
                delivery "at-most-once" ack-wait="5s"
        //                              ^^^^^^^^^^^^^ MESH0004 error
            }
        }
        service "b" {
            owner "t"
            subscribes "placed" {
                delivery "at-most-once"
                retry max-deliveries=3
        //      ^^^^^ MESH0004 error
            }
        }
        service "c" {
            owner "t"
            subscribes "placed" {
                dead-letter "dlq"
        //      ^^^^^^^^^^^^^^^^^ MESH0005 error
            }
        }
        service "d" {
            owner "t"
            subscribes "placed" {
                retry max-deliveries=3
                dead-letter "placed"
        //                  ^^^^^^^^ MESH0004 error
            }
        }
        service "e" {
            owner "t"
            subscribes "placed" {
                retry max-deliveries=3 backoff="fixed"
        //      ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0005 error
            }
        }
        service "f" {
            owner "t"
            subscribes "placed" {
                retry max-deliveries=3 backoff="exponential" initial="10s" max="1s"
        //                                                   ^^^^^^^^^^^^^ MESH0004 error
            }
        }
        service "g" {
            owner "t"
            subscribes "placed" {
                retry max-deliveries=3
                dead-letter "plaecd"
        //                  ^^^^^^^^ MESH0036 error
            }
        }
        service "h" {
            owner "t"
            subscribes "placed" {
                filter header="x-region"
        //      ^^^^^^^^^^^^^^^^^^^^^^^^ MESH0004 error
                delivery "exactly-once"
        //               ^^^^^^^^^^^^^^ MESH0004 error
            }
        }
        "#,
    ));
}

#[test]
fn subjects_filters_dead_letters_and_redelivery_are_checked_against_the_mesh() {
    check(&with_schema(
        r#"
        //- mesh.kdl
        broker "bus" kind="nats" { address "nats" port=4222; }
        broker "other" kind="nats" { address "nats2" port=4222; }
        topic "placed" {
            schema "order.avsc"
            stream broker="bus" { subjects "shop.placed.>"; }
        }
        topic "dlq-elsewhere" {
            schema "order.avsc"
            stream broker="other" { }
        }
        topic "dlq-unread" {
            schema "order.avsc"
            stream broker="bus" { subjects "shop.dead"; }
        }
        service "orders" {
            owner "t"
            address "orders" port=80
            publishes "placed" subject="shop.placed.eu"
        }
        service "stray" {
            owner "t"
            publishes "placed" subject="shop.paid.eu"
        //                     ^^^^^^^^^^^^^^^^^^^^^^ MESH0077 error
        }
        service "a" {
            owner "t"
            subscribes "placed" group="a" {
                filter subject="shop.placed.us"
        //             ^^^^^^^^^^^^^^^^^^^^^^^^ MESH0078 warning
                delivery "at-least-once" ack-wait="5s" processing-time="10s"
        //                                             ^^^^^^^^^^^^^^^^^^^^^ MESH0081 error
                retry max-deliveries=3
                dead-letter "dlq-elsewhere"
        //                  ^^^^^^^^^^^^^^^ MESH0079 error
            }
        }
        service "b" {
            owner "t"
            subscribes "placed" group="b"
        //             ^^^^^^^^ MESH0083 warning
        }
        service "c" {
            owner "t"
            subscribes "placed" group="c" {
        //             ^^^^^^^^ MESH0082 warning
                retry max-deliveries=3
            }
        }
        service "d" {
            owner "t"
            subscribes "placed" group="d" {
                retry max-deliveries=3
                dead-letter "dlq-unread"
        //                  ^^^^^^^^^^^^ MESH0080 warning
            }
        }
        service "reader" {
            owner "t"
            subscribes "dlq-elsewhere" group="r" { retry max-deliveries=1; dead-letter drop=#true; }
        }
        "#,
    ));
}
