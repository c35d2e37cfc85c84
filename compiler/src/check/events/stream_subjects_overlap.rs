//! Two streams on one NATS broker whose subjects overlap: JetStream keeps
//! each subject in one stream only and refuses to create the second
//! ("subjects overlap with an existing stream"), so one topic's stream
//! cannot be made at all. RabbitMQ and Kafka streams are their own
//! exchanges and topics, so their subjects may overlap.

use crate::base::Span;
use crate::diag::{Code, Diagnostic, Sink};
use crate::model::events::BrokerKind;
use crate::model::subject_trie::SubjectTrie;
use crate::model::Model;
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _: &SchemaIndex, sink: &mut Sink) {
    let events = &model.events;
    for broker_id in events.broker_ids() {
        let broker = events.broker(broker_id);
        if broker.kind != BrokerKind::Nats {
            continue;
        }
        // (stream, topic name, subject, its span) of the earlier streams.
        let mut earlier: SubjectTrie<(usize, &str, &str, Span)> = SubjectTrie::default();
        for (index, (_, stream)) in events.streams_on(broker_id).enumerate() {
            // One report per stream: the first subject that overlaps.
            let clash = stream.subjects.iter().find_map(|subject| {
                earlier.overlapping(&subject.value, |(owner, ..)| *owner != index).map(|other| (subject, other))
            });
            if let Some((subject, &(_, other_topic, other_subject, other_span))) = clash {
                sink.push(
                    Diagnostic::new(
                        Code::StreamSubjectsOverlap,
                        format!(
                            "the streams of topics `{other_topic}` and `{}` on NATS broker `{}` overlap: `{}` and `{other_subject}` share subjects",
                            stream.name.value, broker.name.value, subject.value
                        ),
                    )
                    .at(subject.span, "overlaps another stream's subjects")
                    .with_label(other_span, format!("topic `{other_topic}`'s stream has these"))
                    .help("JetStream keeps each subject in one stream and refuses to create a second: give each topic subjects of its own, e.g. under a prefix per topic"),
                );
            }
            for subject in &stream.subjects {
                earlier
                    .insert(&subject.value, (index, stream.name.value.as_str(), subject.value.as_str(), subject.span));
            }
        }
    }
}
