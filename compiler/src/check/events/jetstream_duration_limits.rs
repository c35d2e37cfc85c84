//! A NATS stream's max-age or duplicate window that JetStream refuses: it
//! keeps events and remembers their ids for at least 100 ms ("max age needs
//! to be >= 100ms", "duplicates window needs to be >= 100ms"), and never
//! remembers an id longer than it keeps the event ("duplicates window can
//! not be larger then max age").

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::events::StreamSettings;
use crate::model::Model;
use crate::schema::SchemaIndex;

/// JetStream's shortest max-age and duplicate window.
const MIN_MILLIS: u128 = 100;

pub fn run(model: &Model, _: &SchemaIndex, sink: &mut Sink) {
    for stream in &model.events.streams {
        let StreamSettings::Nats { duplicate_window, .. } = &stream.settings else { continue };
        let max_age = stream.limits.max_age.map(|d| d.as_millis());
        let window = duplicate_window.map(|d| d.as_millis());
        let topic = &stream.name.value;
        let report = |message: String, label: &str, help: &str| {
            Diagnostic::new(Code::JetstreamDurationLimits, message)
                .at(stream.span, label.to_string())
                .help(help.to_string())
        };
        if let Some(age) = max_age.filter(|a| *a < MIN_MILLIS) {
            sink.push(report(
                format!("the stream of topic `{topic}` keeps events {age}ms, less than JetStream's 100ms"),
                "max-age under 100ms",
                "JetStream refuses a max-age under 100ms: keep events at least that long",
            ));
        }
        if let Some(w) = window.filter(|w| *w < MIN_MILLIS) {
            sink.push(report(
                format!("the stream of topic `{topic}` deduplicates over {w}ms, less than JetStream's 100ms"),
                "duplicate window under 100ms",
                "JetStream refuses a duplicate window under 100ms: give at least 100ms",
            ));
        }
        if let (Some(w), Some(age)) = (window, max_age) {
            if w > age && age >= MIN_MILLIS {
                sink.push(report(
                    format!("the stream of topic `{topic}` keeps events {age}ms but deduplicates over {w}ms"),
                    "duplicate window longer than max-age",
                    "JetStream refuses a duplicate window longer than the stream's max-age: shorten duplicate-window to at most max-age, or keep events longer",
                ));
            }
        }
    }
}
