//! How an at-least-once consumer's failures end: the broker must not
//! redeliver an event still being handled (ack wait below the processing
//! time), a failing event must not loop for ever, and one dropped after its
//! last delivery should leave a trace (a dead letter).

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::events::{DeadLetter, Delivery, MaxDeliveries};
use crate::model::Model;
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _: &SchemaIndex, sink: &mut Sink) {
    for consumer in &model.events.consumers {
        let Delivery::AtLeastOnce(redelivery) = &consumer.delivery else { continue };
        let service = &model.service(consumer.service).name.value;
        let topic = model.topic(consumer.topic.value);
        if let Some(processing) = &consumer.processing_time {
            if redelivery.ack_wait < processing.value {
                sink.push(
                    Diagnostic::new(
                        Code::AckWaitBelowProcessingTime,
                        format!(
                            "service `{service}` may take {} per `{}` event, but the broker redelivers after {}",
                            processing.value, topic.name.value, redelivery.ack_wait
                        ),
                    )
                    .at(processing.span, "processing time")
                    .with_label(consumer.span, format!("ack wait {}", redelivery.ack_wait))
                    .help(format!("raise ack-wait above the processing time: ack-wait=\"{}\"", processing.value)),
                );
            }
        }
        match &redelivery.attempts {
            // Only a stream redelivers; a topic without one has no broker yet.
            MaxDeliveries::Unbounded if topic.stream.is_some() => sink.push(
                Diagnostic::new(
                    Code::UnboundedRedelivery,
                    format!("service `{service}` redelivers a failing `{}` event for ever", topic.name.value),
                )
                .at(consumer.topic.span, "no bound on deliveries")
                .help("bound them and keep what fails: retry max-deliveries=5 and dead-letter \"TOPIC-dlq\""),
            ),
            MaxDeliveries::AtMost { deliveries, then: DeadLetter::Drop { declared: None } } => sink.push(
                Diagnostic::new(
                    Code::RetriesWithoutDeadLetter,
                    format!(
                        "service `{service}` drops a `{}` event after {deliveries} failed deliveries without a trace",
                        topic.name.value
                    ),
                )
                .at(consumer.topic.span, "no dead letter")
                .help("name where failed events go: dead-letter \"TOPIC-dlq\" (or dead-letter drop=#true to drop them knowingly)"),
            ),
            _ => {}
        }
    }
}
