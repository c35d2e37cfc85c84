//! A topic no service publishes: its events come from nowhere, and any
//! subscriber waits for events that never arrive. A consumer's dead-letter
//! topic counts as published: failed events arrive there.

use crate::base::Span;
use crate::diag::{Code, Diagnostic, Sink};
use crate::model::Model;
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _: &SchemaIndex, sink: &mut Sink) {
    let mut published = vec![false; model.topics.len()];
    // Per topic: (subscribing service, the `subscribes` argument).
    let mut subscribers: Vec<Vec<(&str, Span)>> = vec![Vec::new(); model.topics.len()];
    for producer in &model.events.producers {
        published[producer.topic.value.index()] = true;
    }
    // A dead-letter topic is published by the dead-lettering of its consumers.
    for consumer in &model.events.consumers {
        if let Some(dead) = consumer.delivery.dead_letter_topic() {
            published[dead.value.index()] = true;
        }
    }
    for consumer in &model.events.consumers {
        subscribers[consumer.topic.value.index()]
            .push((&model.service(consumer.service).name.value, consumer.topic.span));
    }
    for ((topic, published), subscribers) in model.topics.iter().zip(published).zip(subscribers) {
        if published {
            continue;
        }
        let name = &topic.name.value;
        let (message, label) = match subscribers.as_slice() {
            [] => (format!("no service publishes or subscribes to topic `{name}`"), "declared, never used"),
            [(one, _)] => {
                (format!("service `{one}` subscribes to topic `{name}`, which no service publishes"), "no producer")
            }
            many => (
                format!("{} services subscribe to topic `{name}`, which no service publishes", many.len()),
                "no producer",
            ),
        };
        let mut d = Diagnostic::new(Code::TopicWithoutProducer, message)
            .at(topic.name.span, label)
            .help(format!("add `publishes \"{name}\"` to the service that produces these events, or remove the topic"));
        for (service, span) in subscribers {
            d = d.with_label(span, format!("`{service}` subscribes here"));
        }
        sink.push(d);
    }
}
