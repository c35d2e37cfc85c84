//! What the reference comparisons (`proto_breaking.rs` against buf,
//! `graphql_breaking.rs` against graphql-js) generate: named pairs of an
//! old and a new version.

/// One generated pair: `before`/`after` in the rule examples' format.
pub struct Case {
    pub name: String,
    pub before: String,
    pub after: String,
}

pub fn case(name: impl Into<String>, before: impl Into<String>, after: impl Into<String>) -> Case {
    Case { name: name.into(), before: before.into(), after: after.into() }
}
