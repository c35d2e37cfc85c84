//! A consumer whose reader schema cannot read what a producer of its topic
//! writes: every producer's writer version against every consumer's reader
//! version of the same topic, by the schema format's compatibility rules
//! (`schema::compat`). Each (topic, writer version, reader version) is
//! compared once, in parallel; diagnostics come out in model order.

use std::collections::BTreeMap;

use rayon::prelude::*;

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::events::Producer;
use crate::model::{Model, SchemaVersion};
use crate::schema::compat::{self, Break};
use crate::schema::SchemaIndex;

/// Breaks listed as notes beside the one the message names.
const MORE: usize = 3;

pub fn run(model: &Model, schemas: &SchemaIndex, sink: &mut Sink) {
    let mut producers: Vec<Vec<&Producer>> = (0..model.topics.len()).map(|_| Vec::new()).collect();
    for producer in &model.events.producers {
        producers[producer.topic.value.index()].push(producer);
    }
    // (topic, writer version, reader version) → breaks.
    let mut pairs: BTreeMap<(usize, u32, u32), Vec<Break>> = BTreeMap::new();
    for consumer in &model.events.consumers {
        for producer in &producers[consumer.topic.value.index()] {
            if producer.version != consumer.version {
                pairs.insert((consumer.topic.value.index(), producer.version, consumer.version), Vec::new());
            }
        }
    }
    let keys: Vec<(usize, u32, u32)> = pairs.keys().copied().collect();
    let found: Vec<Vec<Break>> = keys
        .par_iter()
        .map(|&(topic, writer, reader)| {
            let topic = &model.topics[topic];
            match (topic.version(writer), topic.version(reader)) {
                (Some(w), Some(r)) => breaks(schemas, w, r),
                _ => Vec::new(),
            }
        })
        .collect();
    for (key, breaks) in keys.into_iter().zip(found) {
        pairs.insert(key, breaks);
    }
    for consumer in &model.events.consumers {
        let topic_index = consumer.topic.value.index();
        let topic = &model.topics[topic_index];
        let reader_name = &model.service(consumer.service).name.value;
        for producer in &producers[topic_index] {
            let Some(breaks) = pairs.get(&(topic_index, producer.version, consumer.version)) else { continue };
            let Some(first) = breaks.first() else { continue };
            let writer_name = &model.service(producer.service).name.value;
            let (wv, rv, name) = (producer.version, consumer.version, &topic.name.value);
            let mut d = Diagnostic::new(
                Code::ConsumerIncompatibleSchema,
                format!(
                    "`{reader_name}` reads topic `{name}` with version {rv}, which cannot read the version {wv} events `{writer_name}` publishes: {}, {}",
                    first.location(),
                    first.reason
                ),
            )
            .at(consumer.topic.span, format!("`{reader_name}` reads with version {rv}"))
            .with_label(producer.topic.span, format!("`{writer_name}` publishes version {wv}"));
            if let Some(span) = first.writer {
                d = d.with_label(span, format!("version {wv}, which `{writer_name}` writes"));
            }
            if let Some(span) = first.reader {
                d = d.with_label(span, format!("version {rv}, which `{reader_name}` reads with"));
            }
            for more in breaks.iter().skip(1).take(MORE) {
                d = d.note(format!("also {}: {}", more.location(), more.reason));
            }
            if breaks.len() > MORE + 1 {
                d = d.note(format!("and {} more", breaks.len() - MORE - 1));
            }
            sink.push(d.help(format!(
                "move `{reader_name}` to a version that reads version {wv} (`subscribes \"{name}\" version={wv}`), have `{writer_name}` publish version {rv}, or change version {wv} so version {rv} reads it"
            )));
        }
    }
}

/// Whether version `reader` of a topic reads the events of version `writer`.
fn breaks(schemas: &SchemaIndex, writer: &SchemaVersion, reader: &SchemaVersion) -> Vec<Break> {
    let event = |v: &SchemaVersion| schemas.get(v.schema)?.event_type(v.message.as_ref().map(|m| m.value.as_str()));
    match (event(writer), event(reader)) {
        (Some(w), Some(r)) => compat::reader_can_read(&w, &r),
        // A schema that did not load, or names no message, is reported elsewhere.
        _ => Vec::new(),
    }
}
