//! A producer publishing under a subject its stream does not keep: JetStream
//! refuses the publish (no stream listens), RabbitMQ routes it to no queue.

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::events::Subject;
use crate::model::Model;
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _: &SchemaIndex, sink: &mut Sink) {
    for producer in &model.events.producers {
        let (Some(subject), Some(stream)) = (&producer.subject, model.topic(producer.topic.value).stream) else {
            continue;
        };
        let stream = model.events.stream(stream);
        if stream.subjects.iter().any(|pattern| Subject::matches(&pattern.value, &subject.value)) {
            continue;
        }
        let kept: Vec<&str> = stream.subjects.iter().map(|s| s.value.as_str()).collect();
        sink.push(
            Diagnostic::new(
                Code::SubjectOutsideStream,
                format!(
                    "service `{}` publishes `{}` under `{}`, which stream `{}` does not keep",
                    model.service(producer.service).name.value,
                    stream.name.value,
                    subject.value,
                    stream.name.value
                ),
            )
            .at(subject.span, "no stream subject matches")
            .with_label(stream.span, format!("keeps {}", kept.join(", ")))
            .help("publish under a subject the stream keeps, or add it to the stream's `subjects`"),
        );
    }
}
