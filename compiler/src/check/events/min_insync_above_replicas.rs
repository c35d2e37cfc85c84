//! A Kafka stream that needs more in-sync replicas than it has replicas:
//! Kafka creates the topic, but every write that waits for all in-sync
//! replicas (`acks=all`, what producers that must not lose events use)
//! fails with `NOT_ENOUGH_REPLICAS`.

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::events::StreamSettings;
use crate::model::Model;
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _: &SchemaIndex, sink: &mut Sink) {
    for stream in &model.events.streams {
        let StreamSettings::Kafka { min_insync_replicas: Some(min), .. } = &stream.settings else { continue };
        if *min <= stream.replicas {
            continue;
        }
        sink.push(
            Diagnostic::new(
                Code::MinInsyncAboveReplicas,
                format!(
                    "the stream of topic `{}` needs {} in-sync replicas but has {} replica{}",
                    stream.name.value,
                    min.get(),
                    stream.replicas.get(),
                    if stream.replicas.get() == 1 { "" } else { "s" }
                ),
            )
            .at(stream.span, "more in-sync replicas than replicas")
            .help(format!(
                "Kafka refuses every acks=all write to it (NOT_ENOUGH_REPLICAS): set min-insync-replicas to at most {} or raise replicas",
                stream.replicas.get()
            )),
        );
    }
}
