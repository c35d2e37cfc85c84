//! `evolution` blocks of APIs and topics: the category an API's protobuf
//! changes are judged by, and `allow` exceptions, each with a reason and
//! the last day it applies.

use std::ops::Deref;

use super::read;
use super::{Decls, Lower};
use crate::base::Spanned;
use crate::diag::{Code, Diagnostic};
use crate::model::api_versions::{Allowed, Category, Date, Evolution, Exception};
use crate::model::values::ApiKind;
use crate::syntax::Node;

const API_EXAMPLE: &str = "allow \"FIELD_NO_DELETE\" reason=\"field 9 was never written\" until=\"2027-03-01\"";
const TOPIC_EXAMPLE: &str = "allow version=3 reason=\"no consumer reads the dropped field\" until=\"2027-03-01\"";

/// Where an `evolution` block is.
#[derive(Clone, Copy)]
pub(super) enum Owner {
    Api(ApiKind),
    Topic,
}

impl<D: Deref<Target = Decls>> Lower<'_, D> {
    /// An `evolution` node. Invalid parts are reported and left out: the
    /// API or topic it belongs to still lowers, so its other uses are checked.
    pub(super) fn evolution(&mut self, node: &Node, owner: Owner) -> Evolution {
        let props: &[&str] = match owner {
            Owner::Api(_) => &["category"],
            Owner::Topic => &[],
        };
        read::check_entries(node, 0, props, self.sink);
        let category = read::string_prop(node, "category", None, self.sink).and_then(|text| {
            let category = read::parse(&text, |t| Category::parse(t), self.sink)?;
            if !matches!(owner, Owner::Api(ApiKind::Grpc)) {
                self.sink.push(
                    Diagnostic::new(
                        Code::InvalidValue,
                        "`category` judges protobuf changes: it applies to kind=\"grpc\" APIs",
                    )
                    .at(text.span, "not a gRPC API")
                    .help("remove it: OpenAPI and GraphQL changes are judged by their level (breaking or dangerous)"),
                );
                return None;
            }
            Some(Spanned::new(category, text.span))
        });
        let mut exceptions = Vec::new();
        for child in node.children() {
            if child.name != "allow" {
                read::unknown_child(child, "evolution", &["allow"], self.sink);
                continue;
            }
            exceptions.extend(self.exception(child, owner));
        }
        Evolution { category, exceptions }
    }

    /// `allow RULE version=V reason=R until=DATE` (an API's), or
    /// `allow version=N reason=R until=DATE` (a topic's).
    fn exception(&mut self, node: &Node, owner: Owner) -> Option<Exception> {
        read::no_children(node, self.sink);
        let (allows, example) = match owner {
            Owner::Api(_) => {
                read::check_entries(node, 1, &["version", "reason", "until"], self.sink);
                let id = read::string_arg(node, 0, "a rule id", API_EXAMPLE, self.sink);
                let checked = id.as_ref().and_then(|id| read::parse(id, |t| check_rule_id(t), self.sink));
                let version = read::string_prop(node, "version", None, self.sink);
                let bad_version = version.is_none() && node.property("version").is_some();
                let rule = match (checked, id) {
                    (Some(checked), Some(id)) if !bad_version => {
                        Some(Spanned::new(Allowed::Rule { id: checked, version }, id.span))
                    }
                    _ => None,
                };
                (rule, API_EXAMPLE)
            }
            Owner::Topic => {
                read::check_entries(node, 0, &["version", "reason", "until"], self.sink);
                let number = read::int_prop(node, "version", Some(TOPIC_EXAMPLE), self.sink);
                let version = number.as_ref().and_then(|number| {
                    read::parse(number, |n| read::bounded(*n, 1, 1_000_000, "a schema version"), self.sink)
                });
                let allowed = version.zip(number).map(|(v, n)| Spanned::new(Allowed::TopicVersion(v), n.span));
                (allowed, TOPIC_EXAMPLE)
            }
        };
        let reason = read::string_prop(node, "reason", Some(example), self.sink).filter(|reason| {
            let empty = reason.value.trim().is_empty();
            if empty {
                self.sink.push(
                    Diagnostic::new(Code::InvalidValue, "an exception's reason is empty")
                        .at(reason.span, "say why the change is allowed")
                        .help(format!("e.g. {example}")),
                );
            }
            !empty
        });
        let until = read::string_prop(node, "until", Some(example), self.sink)
            .and_then(|until| Some(Spanned::new(read::parse(&until, |t| Date::parse(t), self.sink)?, until.span)));
        Some(Exception { allows: allows?, reason: reason?, until: until?, span: node.span })
    }
}

/// A rule id as `meshc diff` names them (`FIELD_NO_DELETE`): which rules
/// exist is checked against the API's format later (`MESH0106`).
fn check_rule_id(text: &str) -> Result<String, String> {
    let valid = !text.is_empty()
        && text.len() <= 64
        && text.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if valid {
        Ok(text.to_string())
    } else {
        Err(format!(
            "`{}` is not a rule id: rule ids are upper case with underscores, as `meshc diff --list-rules` lists them (FIELD_NO_DELETE)",
            text.escape_debug()
        ))
    }
}
