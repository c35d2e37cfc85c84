//! Two consumers of a NATS work-queue stream whose filters overlap (or that
//! filter nothing): a work queue gives each event to one consumer, so
//! JetStream refuses a consumer whose subjects overlap another's
//! ("filtered consumer not unique on workqueue stream"). Instances sharing
//! a group are one consumer; each ephemeral consumer is its own.

use std::collections::HashSet;

use crate::base::Span;
use crate::diag::{Code, Diagnostic, Sink};
use crate::model::events::{BrokerKind, Filter, Retention, StreamSettings};
use crate::model::subject_trie::SubjectTrie;
use crate::model::Model;
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _: &SchemaIndex, sink: &mut Sink) {
    let events = &model.events;
    // Each topic's consumers, with their index, gathered once.
    let mut consumers_of = vec![Vec::new(); model.topics.len()];
    for (index, consumer) in events.consumers.iter().enumerate() {
        consumers_of[consumer.topic.value.index()].push((index, consumer));
    }
    for stream_id in events.stream_ids() {
        let stream = events.stream(stream_id);
        let StreamSettings::Nats { retention: Retention::WorkQueue, .. } = stream.settings else { continue };
        if events.broker(stream.broker).kind != BrokerKind::Nats {
            continue;
        }
        // (consumer index, who: service and group, pattern, span) of the earlier consumers.
        let mut earlier: SubjectTrie<(usize, String, String, Span)> = SubjectTrie::default();
        let mut groups_seen: HashSet<&str> = HashSet::new();
        for &(index, consumer) in &consumers_of[stream.topic.index()] {
            let service = &model.service(consumer.service).name.value;
            let who = match consumer.group() {
                Some(group) if !groups_seen.insert(group.value.as_str()) => continue,
                Some(group) => {
                    format!("group `{}` of `{service}`", group.value)
                }
                None => format!("`{service}`'s ephemeral consumer"),
            };
            let mut patterns: Vec<(&str, Span)> = consumer
                .filters
                .iter()
                .filter_map(|f| match f {
                    Filter::Subject(s) => Some((s.value.as_str(), s.span)),
                    Filter::Header { .. } => None,
                })
                .collect();
            if patterns.is_empty() {
                // No subject filter: all of the stream.
                patterns.push((">", consumer.topic.span));
            }
            let clash = patterns.iter().find_map(|&(pattern, span)| {
                earlier.overlapping(pattern, |(owner, ..)| *owner != index).map(|other| (pattern, span, other))
            });
            if let Some((pattern, span, (_, other_who, other_pattern, other_span))) = clash {
                let shown = |p: &str| if p == ">" { "all its events".to_string() } else { format!("`{p}`") };
                sink.push(
                    Diagnostic::new(
                        Code::WorkQueueConsumersOverlap,
                        format!(
                            "{who} and {other_who} both read {} of work-queue topic `{}`",
                            if pattern == ">" || other_pattern == ">" { "events".to_string() } else { format!("`{pattern}`") },
                            stream.name.value
                        ),
                    )
                    .at(span, format!("reads {}", shown(pattern)))
                    .with_label(*other_span, format!("reads {}", shown(other_pattern)))
                    .help("a work queue gives each event to one consumer, and JetStream refuses consumers whose filters overlap: filter them on disjoint subjects, share one group, or use retention \"limits\" or \"interest\""),
                );
            }
            for (pattern, span) in patterns {
                earlier.insert(pattern, (index, who.clone(), pattern.to_string(), span));
            }
        }
    }
}
