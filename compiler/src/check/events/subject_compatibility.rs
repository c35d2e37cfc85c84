//! A topic's schema version that breaks the topic's compatibility mode:
//! its declared versions, oldest first, checked as a schema registry checks
//! each new version of a subject against the ones before it (`backward`:
//! the new version reads the old one's events; `forward`: the old one reads
//! the new one's; `full`: both; `-transitive`: against every earlier
//! version, not only the last). Topics are checked in parallel.

use rayon::prelude::*;

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::api_versions::{Allowed, Date, Exception};
use crate::model::{Model, SchemaVersion, Topic};
use crate::schema::compat::{self, VersionBreak};
use crate::schema::SchemaIndex;

/// Breaks listed as notes beside the one the message names.
const MORE: usize = 3;

pub fn run(model: &Model, schemas: &SchemaIndex, sink: &mut Sink) {
    let found: Vec<Vec<Diagnostic>> = model.topics.par_iter().map(|topic| check(topic, schemas, model.today)).collect();
    sink.extend(found.into_iter().flatten());
}

fn check(topic: &Topic, schemas: &SchemaIndex, today: Option<Date>) -> Vec<Diagnostic> {
    let mode = topic.compatibility.value;
    let events: Vec<_> = topic
        .versions
        .iter()
        .map(|v| schemas.get(v.schema).and_then(|s| s.event_type(v.message.as_ref().map(|m| m.value.as_str()))))
        .collect();
    let breaks = compat::check_mode(mode, &events, |w, r| match (w, r) {
        (Some(w), Some(r)) => compat::reader_can_read(w, r),
        // A schema that did not load is reported elsewhere.
        _ => Vec::new(),
    });
    // One diagnostic per pair of versions, in the order check_mode found
    // them, unless an exception allows the newer version to break.
    let newer = |b: &VersionBreak| topic.versions[b.writer.max(b.reader)].number;
    let mut out = Vec::new();
    let mut rest = breaks.as_slice();
    while let Some(first) = rest.first() {
        let same = rest.iter().take_while(|b| (b.writer, b.reader) == (first.writer, first.reader)).count();
        if !allowed(topic, newer(first), today) {
            out.push(diagnostic(topic, &rest[..same]));
        }
        rest = &rest[same..];
    }
    for exception in &topic.evolution.exceptions {
        let Allowed::TopicVersion(number) = exception.allows.value else { continue };
        // An unknown version is MESH0106's, an expired exception MESH0105's.
        let declared = topic.version(number).is_some();
        if declared && exception.applies_on(today) && !breaks.iter().any(|b| newer(b) == number) {
            out.push(unused(topic, exception, number));
        }
    }
    out
}

/// Whether an exception allows version `number` to break the mode on `today`.
fn allowed(topic: &Topic, number: u32, today: Option<Date>) -> bool {
    topic.evolution.exceptions.iter().any(|e| e.allows.value == Allowed::TopicVersion(number) && e.applies_on(today))
}

fn unused(topic: &Topic, exception: &Exception, number: u32) -> Diagnostic {
    Diagnostic::new(
        Code::UnusedEvolutionException,
        format!(
            "version {number} of topic `{}` keeps its `{}` compatibility: the exception allowing it to break is unused",
            topic.name.value,
            topic.compatibility.value.as_str()
        ),
    )
    .at(exception.span, "allows nothing")
    .help("remove it: an unused exception would hide a break added to that version later")
}

fn diagnostic(topic: &Topic, pair: &[VersionBreak]) -> Diagnostic {
    let first = &pair[0];
    let (writer, reader) = (&topic.versions[first.writer], &topic.versions[first.reader]);
    let (new, old): (&SchemaVersion, &SchemaVersion) =
        if first.reader > first.writer { (reader, writer) } else { (writer, reader) };
    let mode = topic.compatibility.value;
    let direction = if std::ptr::eq(new, reader) {
        format!("it cannot read the events of version {}", old.number)
    } else {
        format!("version {} cannot read its events", old.number)
    };
    let mut d = Diagnostic::new(
        Code::IncompatibleSchemaVersion,
        format!(
            "version {} of topic `{}` breaks its `{}` compatibility: {direction}: {}, {}",
            new.number,
            topic.name.value,
            mode.as_str(),
            first.why.location(),
            first.why.reason
        ),
    )
    .at(new.span, format!("version {}", new.number))
    .with_label(old.span, format!("version {}", old.number));
    if let Some(span) = first.why.writer {
        d = d.with_label(span, format!("version {}, the writer", writer.number));
    }
    if let Some(span) = first.why.reader {
        d = d.with_label(span, format!("version {}, the reader", reader.number));
    }
    for more in pair.iter().skip(1).take(MORE) {
        d = d.note(format!("also {}: {}", more.why.location(), more.why.reason));
    }
    if pair.len() > MORE + 1 {
        d = d.note(format!("and {} more", pair.len() - MORE - 1));
    }
    d.help(format!(
        "change version {} so it keeps `{}` compatibility (a new field needs a default, a removed one must have had one), or add it as a new topic; `compatibility \"none\"` turns the check off",
        new.number,
        mode.as_str()
    ))
}
