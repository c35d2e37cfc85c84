//! Schema compatibility: can a consumer holding one version of an event
//! schema (the reader) read every event a producer writes with another (the
//! writer)? One module per format, each a pure function over the parsed
//! forms the loaders keep (each file parsed once):
//!
//! - [`avro`]: Avro's schema-resolution rules as Apache Avro's own checkers
//!   (Java `SchemaCompatibility`, Python `avro.compatibility`) apply them;
//! - [`json_schema`]: the reader must accept every instance the writer
//!   allows (closed and open content models, required properties, types,
//!   enums, bounds);
//! - [`protobuf`]: the binary wire format and the JSON mapping, each
//!   judged and reported on its own.
//!
//! [`check_mode`] applies a compatibility mode (`backward`, `forward`,
//! `full`, their transitive forms, `none`) across a topic's declared
//! version history. The rules and what is approximated are in
//! `docs/events.md`, "Compatibility rules".

pub mod avro;
pub mod json_schema;
pub mod protobuf;

use crate::base::Span;
use crate::model::events::Compatibility;

/// One reason a reader cannot read what a writer writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Break {
    /// Where in the event: record fields and properties joined by `.`,
    /// `[]` for an array's items, `{}` for a map's values
    /// (`items[].quantity`); empty for the event itself.
    pub path: String,
    /// Why, in a sentence naming both sides.
    pub reason: String,
    /// Where the writer's schema defines what breaks, when known.
    pub writer: Option<Span>,
    /// Where the reader's schema does, when known.
    pub reader: Option<Span>,
}

impl Break {
    /// Where, for messages: "at `items[].quantity`", or "at the top level".
    pub fn location(&self) -> String {
        if self.path.is_empty() {
            "at the top level".to_string()
        } else {
            format!("at `{}`", self.path)
        }
    }
}

/// Breaks reported for one pair of schemas at most; the verdict is exact
/// beyond it, the list is cut.
pub const MAX_BREAKS: usize = 16;

/// `prefix` followed by the relative path `rest` (`a` + `b` → `a.b`,
/// `a` + `[]` → `a[]`).
pub(crate) fn join_path(prefix: &str, rest: &str) -> String {
    if prefix.is_empty() {
        rest.to_string()
    } else if rest.is_empty() {
        prefix.to_string()
    } else if rest.starts_with('[') || rest.starts_with('{') {
        format!("{prefix}{rest}")
    } else {
        format!("{prefix}.{rest}")
    }
}

/// An event schema as compatibility sees it: the parsed form of one format.
#[derive(Clone, Debug)]
pub enum EventType<'s> {
    Avro(&'s avro::AvroType),
    JsonSchema(&'s json_schema::JsonSchemaType),
    Protobuf(protobuf::ProtoMessage<'s>),
}

impl EventType<'_> {
    /// The format's name, for messages.
    pub fn format(&self) -> &'static str {
        match self {
            EventType::Avro(_) => "Avro",
            EventType::JsonSchema(_) => "JSON Schema",
            EventType::Protobuf(_) => "Protobuf",
        }
    }
}

/// Whether a consumer reading with `reader` can read every event written
/// with `writer`: the reasons it cannot, in schema order (empty when it
/// can). Schemas of two formats never read each other.
pub fn reader_can_read(writer: &EventType, reader: &EventType) -> Vec<Break> {
    match (writer, reader) {
        (EventType::Avro(w), EventType::Avro(r)) => avro::reader_can_read(w, r),
        (EventType::JsonSchema(w), EventType::JsonSchema(r)) => json_schema::reader_can_read(w, r),
        (EventType::Protobuf(w), EventType::Protobuf(r)) => protobuf::reader_can_read(w, r),
        _ => vec![Break {
            path: String::new(),
            reason: format!(
                "the writer's schema is {}, the reader's {}: a schema of one format does not read another's",
                writer.format(),
                reader.format()
            ),
            writer: None,
            reader: None,
        }],
    }
}

/// A break between two versions of a history, by their positions in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionBreak {
    /// The version whose events cannot be read.
    pub writer: usize,
    /// The version that cannot read them.
    pub reader: usize,
    pub why: Break,
}

/// The breaks a compatibility mode finds in a version history (oldest
/// first), as a registry would have found them registering the versions in
/// turn: each version against the one before it (transitive modes: all
/// before it); `BACKWARD` makes the new version the reader of the old one's
/// events, `FORWARD` the writer of events the old one reads, `FULL` both.
/// Ordered by the newer version, then the older, backward before forward.
pub fn check_mode<T>(mode: Compatibility, history: &[T], can_read: impl Fn(&T, &T) -> Vec<Break>) -> Vec<VersionBreak> {
    let mut out = Vec::new();
    for new in 1..history.len() {
        let earlier = if mode.transitive() { 0..new } else { new - 1..new };
        for old in earlier.rev() {
            if mode.backward() {
                let breaks = can_read(&history[old], &history[new]);
                out.extend(breaks.into_iter().map(|why| VersionBreak { writer: old, reader: new, why }));
            }
            if mode.forward() {
                let breaks = can_read(&history[new], &history[old]);
                out.extend(breaks.into_iter().map(|why| VersionBreak { writer: new, reader: old, why }));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Versions as sets of fields: a reader reads a writer when it needs no
    /// field the writer lacks (a toy stand-in for the real formats, whose
    /// own tests are in their modules).
    fn needs(writer: &&[char], reader: &&[char]) -> Vec<Break> {
        reader
            .iter()
            .filter(|f| !writer.contains(f))
            .map(|f| Break { path: f.to_string(), reason: "missing".into(), writer: None, reader: None })
            .collect()
    }

    fn pairs(mode: Compatibility, history: &[&[char]]) -> Vec<(usize, usize, String)> {
        check_mode(mode, history, needs).into_iter().map(|b| (b.writer, b.reader, b.why.path)).collect()
    }

    #[test]
    fn modes_pick_the_pairs_a_registry_checks() {
        // v0 {a}; v1 {a, b} needs b, which v0's events lack; v2 {b} drops a.
        let history: &[&[char]] = &[&['a'], &['a', 'b'], &['b']];
        assert_eq!(pairs(Compatibility::None, history), []);
        assert_eq!(pairs(Compatibility::Backward, history), [(0, 1, "b".to_string())]);
        // Transitive: v2 also reads v0's events, which lack b.
        assert_eq!(pairs(Compatibility::BackwardTransitive, history), [(0, 1, "b".into()), (0, 2, "b".into())]);
        assert_eq!(pairs(Compatibility::Forward, history), [(2, 1, "a".to_string())]);
        assert_eq!(pairs(Compatibility::ForwardTransitive, history), [(2, 1, "a".into()), (2, 0, "a".into())]);
        assert_eq!(pairs(Compatibility::Full, history), [(0, 1, "b".into()), (2, 1, "a".into())]);
        assert_eq!(
            pairs(Compatibility::FullTransitive, history),
            [(0, 1, "b".into()), (2, 1, "a".into()), (0, 2, "b".into()), (2, 0, "a".into())]
        );
        assert_eq!(pairs(Compatibility::FullTransitive, &history[..1]), []);
    }

    #[test]
    fn paths_join_fields_items_and_values() {
        assert_eq!(join_path("", "a"), "a");
        assert_eq!(join_path("a", "b"), "a.b");
        assert_eq!(join_path("items", "[]"), "items[]");
        assert_eq!(join_path("items[]", "quantity"), "items[].quantity");
        assert_eq!(join_path("m", "{}"), "m{}");
        assert_eq!(join_path("m", ""), "m");
    }
}
