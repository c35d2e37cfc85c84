//! A consumer of a NATS work-queue stream that acknowledges cumulatively
//! (`ack="all"`): a work queue removes each event once it is acknowledged,
//! one by one, and JetStream refuses such a consumer ("workqueue stream
//! requires explicit ack").

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::events::{AckPolicy, Delivery, Retention, StreamSettings};
use crate::model::Model;
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _: &SchemaIndex, sink: &mut Sink) {
    for consumer in &model.events.consumers {
        let Delivery::AtLeastOnce(redelivery) = &consumer.delivery else { continue };
        if redelivery.ack != AckPolicy::All {
            continue;
        }
        let topic = model.topic(consumer.topic.value);
        let Some(stream) = topic.stream.map(|id| model.events.stream(id)) else { continue };
        let StreamSettings::Nats { retention: Retention::WorkQueue, .. } = stream.settings else { continue };
        sink.push(
            Diagnostic::new(
                Code::WorkQueueAckAll,
                format!(
                    "service `{}` acknowledges work-queue topic `{}` cumulatively (ack=\"all\")",
                    model.service(consumer.service).name.value,
                    topic.name.value
                ),
            )
            .at(consumer.span, "ack=\"all\" on a work queue")
            .help("JetStream removes a work queue's events one acknowledgement at a time and refuses ack \"all\" there: use ack=\"explicit\""),
        );
    }
}
