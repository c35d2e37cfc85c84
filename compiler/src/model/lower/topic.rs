//! `topic` nodes: a named stream of events and the schema its events follow;
//! and the `publishes` / `subscribes` nodes of services that name topics.

use super::read::{self, Once};
use super::Lower;
use crate::base::Spanned;
use crate::diag::{Code, Diagnostic};
use crate::model::values::{check_name, SchemaFormat};
use crate::model::{SchemaId, Topic, TopicId};
use crate::syntax::Node;

const CHILDREN: &[&str] = &["schema"];

const SCHEMA_EXAMPLE: &str = "schema \"schemas/order-placed.avsc\"";

impl Lower<'_> {
    pub(super) fn topic(&mut self, node: &Node, name: Spanned<String>) -> Option<Topic> {
        read::check_entries(node, 1, &[], self.sink);
        let name_ok = read::parse(&name, |n| check_name(n), self.sink).is_some();
        let mut once = Once::default();
        let mut schema = None;
        for child in node.children() {
            match child.name.as_str() {
                "schema" if once.first(child, self.sink) => schema = self.event_schema(child),
                "schema" => {}
                _ => read::unknown_child(child, "topic", CHILDREN, self.sink),
            }
        }
        if !node.children().iter().any(|c| c.name == "schema") {
            self.sink.push(
                Diagnostic::new(Code::MissingRequired, format!("topic `{}` has no `schema`", name.value))
                    .at(name.span, "declared without a schema")
                    .help(format!("add the schema its events follow: {SCHEMA_EXAMPLE}")),
            );
        }
        let schema = schema?;
        name_ok.then_some(Topic { name, schema, span: node.span })
    }

    /// `schema PATH format=FORMAT`: the format defaults from the extension.
    fn event_schema(&mut self, node: &Node) -> Option<SchemaId> {
        read::check_entries(node, 1, &["format"], self.sink);
        read::no_children(node, self.sink);
        let path = read::string_arg(node, 0, "a schema file", SCHEMA_EXAMPLE, self.sink);
        let format = match read::string_prop(node, "format", None, self.sink) {
            Some(text) => Some(read::parse(&text, |t| SchemaFormat::parse_event(t), self.sink)?),
            None if node.property("format").is_some() => return None,
            None => None,
        };
        let path = path?;
        let Some(format) = format.or_else(|| SchemaFormat::of_event_file(&path.value)) else {
            self.sink.push(
                Diagnostic::new(
                    Code::MissingRequired,
                    format!("the format of `{}` is not known from its name", path.value),
                )
                .at(path.span, "not .avsc (Avro) or .json (JSON Schema)")
                .help(format!(
                    "name the format: schema \"{}\" format=\"avro\" (or format=\"json-schema\")",
                    path.value
                )),
            );
            return None;
        };
        Some(self.schema_ref(&path, format))
    }

    /// The topic a service's `publishes` or `subscribes` node names.
    pub(super) fn topic_link(&mut self, node: &Node) -> Option<Spanned<TopicId>> {
        read::check_entries(node, 1, &[], self.sink);
        read::no_children(node, self.sink);
        let example = format!("{} \"orders-placed\"", node.name);
        let name = read::string_arg(node, 0, "a topic name", &example, self.sink)?;
        self.topic_ref(&name)
    }

    /// Resolves a topic name, reporting unknown names with a suggestion.
    fn topic_ref(&mut self, name: &Spanned<String>) -> Option<Spanned<TopicId>> {
        let declare = format!("declare it with `topic \"{}\" {{ {SCHEMA_EXAMPLE} }}`", name.value);
        super::resolve(self.sink, &self.topics, name, Code::UnknownTopic, "topic", declare)
    }
}
