//! Breaking changes between two Avro schemas: Avro's schema resolution in
//! each direction, by the same checks the event bus's compatibility modes
//! use (`schema::compat::avro`), so `meshc diff` and a topic's `compatibility`
//! never disagree. Which direction is an error is the compatibility mode's
//! choice (`--compatibility`, default `backward`).

use super::{direction_changes, Change, Direction, Format, Judged, Rule};
use crate::schema::compat::avro::{reader_can_read, AvroType};

/// The two Avro rules: backward, then forward.
pub static RULES: &[Rule; 2] = &[
    Rule {
        id: "AVRO_BACKWARD",
        format: Format::Avro,
        judged: Judged::Direction(Direction::Backward),
        purpose: "Checks that the new version reads events written with the old one (Avro schema resolution: new fields have defaults, types promote, enum symbols and union branches resolve).",
        before: "{\"type\": \"record\", \"name\": \"Order\", \"fields\": [\n  {\"name\": \"id\", \"type\": \"string\"}\n]}\n",
        after: "{\"type\": \"record\", \"name\": \"Order\", \"fields\": [\n  {\"name\": \"id\", \"type\": \"string\"},\n  {\"name\": \"total\", \"type\": \"long\"}\n]}\n",
    },
    Rule {
        id: "AVRO_FORWARD",
        format: Format::Avro,
        judged: Judged::Direction(Direction::Forward),
        purpose: "Checks that the old version reads events written with the new one (consumers not yet upgraded keep reading).",
        before: "{\"type\": \"record\", \"name\": \"Order\", \"fields\": [\n  {\"name\": \"id\", \"type\": \"string\"},\n  {\"name\": \"total\", \"type\": \"long\"}\n]}\n",
        after: "{\"type\": \"record\", \"name\": \"Order\", \"fields\": [\n  {\"name\": \"id\", \"type\": \"string\"}\n]}\n",
    },
];

/// Every break between `old` and `new`, in both directions; the policy's
/// compatibility mode decides which are errors.
pub fn compare(old: &AvroType, new: &AvroType) -> Vec<Change> {
    direction_changes(RULES, reader_can_read(old, new), reader_can_read(new, old))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::values::SchemaFormat;
    use crate::schema::fuzzing::load_text;
    use std::collections::BTreeSet;

    fn ids(before: &str, after: &str) -> BTreeSet<&'static str> {
        let load = |text: &str| load_text(SchemaFormat::Avro, std::path::Path::new("/e.avsc"), text).1.unwrap();
        let (old, new) = (load(before), load(after));
        compare(old.avro_type().unwrap(), new.avro_type().unwrap()).into_iter().map(|c| c.rule.id).collect()
    }

    #[test]
    fn every_rule_reports_its_own_example_and_nothing_else() {
        for rule in RULES {
            assert_eq!(ids(rule.before, rule.after), BTreeSet::from([rule.id]), "{}", rule.id);
            assert!(ids(rule.before, rule.before).is_empty(), "{}", rule.id);
        }
    }

    #[test]
    fn a_field_with_a_default_is_compatible_both_ways() {
        let before = RULES[0].before;
        let after = before.replace(
            "\"string\"}\n",
            "\"string\"},\n  {\"name\": \"note\", \"type\": \"string\", \"default\": \"\"}\n",
        );
        assert!(ids(before, &after).is_empty());
        assert!(ids(&after, before).is_empty());
    }
}
