//! Breaking changes between two JSON Schemas of events: whether one
//! version accepts every instance the other allows, in each direction, by
//! the same checks the event bus's compatibility modes use
//! (`schema::compat::json_schema`). Which direction is an error is the
//! compatibility mode's choice (`--compatibility`, default `backward`).

use super::{direction_changes, Change, Direction, Format, Judged, Rule};
use crate::schema::compat::json_schema::{reader_can_read, JsonSchemaType};

/// The two JSON Schema rules: backward, then forward.
pub static RULES: &[Rule; 2] = &[
    Rule {
        id: "JSON_SCHEMA_BACKWARD",
        format: Format::JsonSchema,
        judged: Judged::Direction(Direction::Backward),
        purpose: "Checks that the new version accepts every event the old one allows (no new required property, narrowed type, enum or bound, closed content model).",
        before: "{\"type\": \"object\", \"properties\": {\n  \"id\": {\"type\": \"string\"}\n}}\n",
        after: "{\"type\": \"object\", \"required\": [\"id\"], \"properties\": {\n  \"id\": {\"type\": \"string\"}\n}}\n",
    },
    Rule {
        id: "JSON_SCHEMA_FORWARD",
        format: Format::JsonSchema,
        judged: Judged::Direction(Direction::Forward),
        purpose: "Checks that the old version accepts every event the new one allows (consumers not yet upgraded keep validating).",
        before: "{\"type\": \"object\", \"required\": [\"id\"], \"properties\": {\n  \"id\": {\"type\": \"string\"}\n}}\n",
        after: "{\"type\": \"object\", \"properties\": {\n  \"id\": {\"type\": \"string\"}\n}}\n",
    },
];

/// Every break between `old` and `new`, in both directions; the policy's
/// compatibility mode decides which are errors.
pub fn compare(old: &JsonSchemaType, new: &JsonSchemaType) -> Vec<Change> {
    direction_changes(RULES, reader_can_read(old, new), reader_can_read(new, old))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::values::SchemaFormat;
    use crate::schema::fuzzing::load_text;
    use std::collections::BTreeSet;

    fn ids(before: &str, after: &str) -> BTreeSet<&'static str> {
        let load = |text: &str| load_text(SchemaFormat::JsonSchema, std::path::Path::new("/e.json"), text).1.unwrap();
        let (old, new) = (load(before), load(after));
        compare(old.json_schema_type().unwrap(), new.json_schema_type().unwrap())
            .into_iter()
            .map(|c| c.rule.id)
            .collect()
    }

    #[test]
    fn every_rule_reports_its_own_example_and_nothing_else() {
        for rule in RULES {
            assert_eq!(ids(rule.before, rule.after), BTreeSet::from([rule.id]), "{}", rule.id);
            assert!(ids(rule.before, rule.before).is_empty(), "{}", rule.id);
        }
    }
}
