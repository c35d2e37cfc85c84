//! Where failed events go: a dead-letter topic must be kept on the broker of
//! the topic it catches for (the broker or the runtime moves events between
//! the two), and someone must read it, or failures pile up unseen.

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::Model;
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _: &SchemaIndex, sink: &mut Sink) {
    let mut read = vec![false; model.topics.len()];
    for consumer in &model.events.consumers {
        read[consumer.topic.value.index()] = true;
    }
    // Each dead-letter topic's unread report once, at its first consumer.
    let mut reported = vec![false; model.topics.len()];
    for consumer in &model.events.consumers {
        let Some(named) = consumer.delivery.dead_letter_topic() else { continue };
        let (dlq, span) = (named.value, named.span);
        let topic = model.topic(consumer.topic.value);
        let dead = model.topic(dlq);
        let broker_of = |t: &crate::model::Topic| t.stream.map(|s| model.events.stream(s).broker);
        if let Some(broker) = broker_of(topic) {
            if broker_of(dead) != Some(broker) {
                let broker = &model.events.broker(broker).name.value;
                sink.push(
                    Diagnostic::new(
                        Code::DeadLetterElsewhere,
                        format!("dead-letter topic `{}` is not kept on broker `{broker}`", dead.name.value),
                    )
                    .at(span, format!("reads `{}` on `{broker}`", topic.name.value))
                    .with_label(dead.name.span, "declared here")
                    .help(format!("give `{}` a stream on `{broker}`: stream broker=\"{broker}\"", dead.name.value)),
                );
            }
        }
        if !read[dlq.index()] && !reported[dlq.index()] {
            reported[dlq.index()] = true;
            sink.push(
                Diagnostic::new(
                    Code::DeadLetterUnread,
                    format!("no service consumes dead-letter topic `{}`", dead.name.value),
                )
                .at(span, format!("`{}` dead-letters here", model.service(consumer.service).name.value))
                .with_label(dead.name.span, "nobody reads it")
                .help(format!(
                    "subscribe the service that inspects and replays failures: subscribes \"{}\"",
                    dead.name.value
                )),
            );
        }
    }
}
