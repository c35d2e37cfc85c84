//! The Confluent schema registry: per subject, its compatibility level and
//! schema versions (`schema-registry/subjects/<subject>.json`), what the
//! registry's REST API takes: `PUT /config/<subject>` with
//! `{"compatibility"}`, then `POST /subjects/<subject>/versions` with each
//! of `versions` in order (`{"schemaType", "schema"}`).
//!
//! - Subjects follow the topic's `subject-naming` (Confluent's subject name
//!   strategies): `topic` → `<topic>-value`; `record` → the record's full
//!   name (Avro: the top-level type's, JSON Schema: its `title`, Protobuf:
//!   the topic's `message=`); `topic-record` → `<topic>-<record>`. Versions
//!   naming different records go to different subjects, oldest first.
//! - The schema is the file's text; `schemaType` is `AVRO`, `JSON` or
//!   `PROTOBUF`. The registry numbers versions 1, 2, ... in the order they
//!   are registered, which is the spec's order.
//! - A file name is the subject with every byte outside `A-Za-z0-9._-`
//!   percent-encoded (the subject itself is in the document).
//!
//! A record-named subject whose schema names no record (a JSON Schema
//! without `title`), and a `.proto` that imports other files (the registry
//! needs them registered as references), are reported (MESH0073).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;

use crate::base::Span;
use crate::emit::{Artifact, Options, Unexpressed};
use crate::model::events::SubjectNaming;
use crate::model::values::SchemaFormat;
use crate::model::{Model, SchemaVersion, Topic};
use crate::schema::SchemaIndex;

type Str<'a> = Cow<'a, str>;

/// A subject's document (keys in byte order).
#[derive(Serialize)]
pub struct Subject<'a> {
    pub compatibility: &'static str,
    pub subject: String,
    pub versions: Vec<Version<'a>>,
}

/// A `POST /subjects/<subject>/versions` body.
#[derive(Serialize)]
pub struct Version<'a> {
    pub schema: Str<'a>,
    #[serde(rename = "schemaType")]
    pub schema_type: &'static str,
}

pub fn emit(model: &Model, schemas: &SchemaIndex, _: &Options, unexpressed: &mut Vec<Unexpressed>) -> Vec<Artifact> {
    let mut subjects: BTreeMap<String, (Subject, Span)> = BTreeMap::new();
    for topic in &model.topics {
        for version in &topic.versions {
            let Some(schema) = schemas.get(version.schema) else { continue };
            let Some(text) = schema.text() else { continue };
            let format = model.schema(version.schema).format;
            let schema_type = match format {
                SchemaFormat::Avro => "AVRO",
                SchemaFormat::JsonSchema => "JSON",
                SchemaFormat::Proto => "PROTOBUF",
                _ => continue,
            };
            if format == SchemaFormat::Proto {
                let imports = schema.proto_imports();
                if !imports.is_empty() {
                    unexpressed.push(Unexpressed::new(
                        version.span,
                        format!("this schema's imports ({})", imports.join(", ")),
                        "the registry gets the file without references to them",
                        "register the imported files as subjects and add them as references, or keep the event's messages in one file",
                    ));
                }
            }
            let record = record_name(topic, version, schema, format);
            let subject = match (topic.subject_naming, record) {
                (SubjectNaming::Topic, _) => format!("{}-value", topic.name.value),
                (SubjectNaming::Record, Some(record)) => record,
                (SubjectNaming::TopicRecord, Some(record)) => format!("{}-{record}", topic.name.value),
                (SubjectNaming::Record | SubjectNaming::TopicRecord, None) => {
                    unexpressed.push(Unexpressed::new(
                        version.span,
                        "this schema's record name",
                        format!("its version is registered under the topic's subject `{}-value`", topic.name.value),
                        "give the JSON Schema a top-level `title`, which record naming uses, or use subject-naming \"topic\"",
                    ));
                    format!("{}-value", topic.name.value)
                }
            };
            let entry = subjects.entry(subject.clone()).or_insert_with(|| {
                let document =
                    Subject { compatibility: topic.compatibility.value.registry_name(), subject, versions: Vec::new() };
                (document, topic.name.span)
            });
            entry.0.versions.push(Version { schema: Cow::Borrowed(text), schema_type });
        }
    }
    subjects
        .into_values()
        .map(|(document, origin)| Artifact {
            path: format!("schema-registry/subjects/{}.json", file_name(&document.subject)),
            contents: crate::emit::pretty_json(&document),
            origin,
        })
        .collect()
}

/// The record a version's events are, by the registry's record naming.
fn record_name(
    topic: &Topic,
    version: &SchemaVersion,
    schema: &crate::schema::Schema,
    format: SchemaFormat,
) -> Option<String> {
    let _ = topic;
    match format {
        SchemaFormat::Proto => version.message.as_ref().map(|m| m.value.clone()),
        _ => schema.event_shape().and_then(|shape| shape.name.clone()),
    }
}

/// A subject as a file name: bytes outside `A-Za-z0-9._-` percent-encoded,
/// and a leading `.` too (no hidden files, no `..`).
fn file_name(subject: &str) -> String {
    let mut out = String::with_capacity(subject.len());
    for (i, byte) in subject.bytes().enumerate() {
        let plain = byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-' || (byte == b'.' && i > 0);
        if plain {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
