//! A consumer's subject filter that no producer's subject matches: it
//! waits for events that are never published.

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::events::{Filter, Subject};
use crate::model::{Model, TopicId};
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _: &SchemaIndex, sink: &mut Sink) {
    // What each topic's producers publish under; `None` in a list: a
    // producer whose subject is its stream's first one.
    let mut published: Vec<Vec<String>> = vec![Vec::new(); model.topics.len()];
    for producer in &model.events.producers {
        if let Some(subject) =
            published_subject(model, producer.topic.value, producer.subject.as_ref().map(|s| &s.value))
        {
            published[producer.topic.value.index()].push(subject);
        }
    }
    for consumer in &model.events.consumers {
        let subjects = &published[consumer.topic.value.index()];
        // A topic nobody publishes is MESH0037's.
        if subjects.is_empty() {
            continue;
        }
        for filter in &consumer.filters {
            let Filter::Subject(pattern) = filter else { continue };
            if subjects.iter().any(|s| Subject::matches(&pattern.value, s)) {
                continue;
            }
            let topic = &model.topic(consumer.topic.value).name.value;
            let mut list: Vec<&str> = subjects.iter().map(String::as_str).collect();
            list.sort_unstable();
            list.dedup();
            sink.push(
                Diagnostic::new(
                    Code::FilterNeverMatches,
                    format!(
                        "service `{}` filters `{topic}` by `{}`, which matches nothing its producers publish",
                        model.service(consumer.service).name.value,
                        pattern.value
                    ),
                )
                .at(pattern.span, "matches no published subject")
                .help(format!("its producers publish under {}; filter on one of them", list.join(", "))),
            );
        }
    }
}

/// The subject a producer publishes under: its own, else its stream's first
/// (the default); `None` without a stream or on a pattern (nothing to compare).
fn published_subject(model: &Model, topic: TopicId, own: Option<&String>) -> Option<String> {
    if let Some(own) = own {
        return Some(own.clone());
    }
    let stream = model.events.stream(model.topic(topic).stream?);
    let first = &stream.subjects.first()?.value;
    Subject::literal(first).ok().map(str::to_string)
}
