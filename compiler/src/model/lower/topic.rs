//! `topic` nodes: a named stream of events and the schema its events follow;
//! and the `publishes` / `subscribes` nodes of services that name topics.

use std::ops::Deref;

use super::evolution::Owner;
use super::read::{self, Once};
use super::{Decls, Lower};
use crate::base::Spanned;
use crate::diag::{Code, Diagnostic};
use crate::model::api_versions::Evolution;
use crate::model::events::{Compatibility, Stream, SubjectNaming};
use crate::model::values::{check_name, SchemaFormat};
use crate::model::{SchemaVersion, Topic, TopicId};
use crate::syntax::Node;

const CHILDREN: &[&str] =
    &["schema", "compatibility", "subject-naming", "stream", "evolution", "example", "data-class"];

const SCHEMA_EXAMPLE: &str = "schema \"schemas/order-placed.avsc\"";

impl<D: Deref<Target = Decls>> Lower<'_, D> {
    /// Versions are numbered when there are several, ascending, each once.
    fn versions_in_order(&mut self, versions: &[SchemaVersion], unnumbered: Option<crate::base::Span>) -> bool {
        if let (Some(span), true) = (unnumbered, versions.len() > 1) {
            self.sink.push(
                Diagnostic::new(Code::MissingRequired, "a topic with several schema versions numbers each one")
                    .at(span, "no `version=`")
                    .help("number them, oldest first: schema \"order-placed.v1.avsc\" version=1"),
            );
            return false;
        }
        for pair in versions.windows(2) {
            if pair[1].number <= pair[0].number {
                self.sink.push(
                    Diagnostic::new(
                        Code::InvalidValue,
                        format!("schema version {} follows version {}", pair[1].number, pair[0].number),
                    )
                    .at(pair[1].span, "out of order")
                    .with_label(pair[0].span, "declared before it")
                    .help("list a topic's schema versions oldest first, each number once"),
                );
                return false;
            }
        }
        true
    }

    /// A node with one keyword argument, parsed by `parse`.
    fn keyword<T>(
        &mut self,
        node: &Node,
        example: &str,
        parse: impl FnOnce(&String) -> Result<T, String>,
    ) -> Option<Spanned<T>> {
        read::check_entries(node, 1, &[], self.sink);
        read::no_children(node, self.sink);
        let text = read::string_arg(node, 0, "a value", example, self.sink)?;
        read::parse(&text, parse, self.sink).map(|v| Spanned::new(v, node.span))
    }

    /// The topic a service's `publishes` or `subscribes` node names (its
    /// properties and block are the producer's or consumer's).
    pub(super) fn topic_link(&mut self, node: &Node) -> Option<Spanned<TopicId>> {
        let example = format!("{} \"orders-placed\"", node.name);
        let name = read::string_arg(node, 0, "a topic name", &example, self.sink)?;
        self.topic_ref(&name)
    }

    /// Resolves a topic name, reporting unknown names with a suggestion.
    pub(super) fn topic_ref(&mut self, name: &Spanned<String>) -> Option<Spanned<TopicId>> {
        let declare = || format!("declare it with `topic \"{}\" {{ {SCHEMA_EXAMPLE} }}`", name.value);
        super::resolve(self.sink, &self.d.topics, name, Code::UnknownTopic, "topic", declare)
    }
}

/// What declares or records: needs the declarations mutably.
impl Lower<'_> {
    /// `schema PATH format=FORMAT version=N message=M`: one version of the
    /// topic's schema (1 when unnumbered, and whether it was numbered). The
    /// format defaults from the extension.
    fn event_schema(&mut self, node: &Node) -> Option<(SchemaVersion, bool)> {
        read::check_entries(node, 1, &["format", "version", "message"], self.sink);
        read::no_children(node, self.sink);
        let path = read::string_arg(node, 0, "a schema file", SCHEMA_EXAMPLE, self.sink);
        let format = match read::string_prop(node, "format", None, self.sink) {
            Some(text) => Some(read::parse(&text, |t| SchemaFormat::parse_event(t), self.sink)?),
            None if node.property("format").is_some() => return None,
            None => None,
        };
        let number = match read::int_prop(node, "version", None, self.sink) {
            Some(n) => Some(read::parse(&n, |n| read::bounded(*n, 1, 1_000_000, "a schema version"), self.sink)?),
            None if node.property("version").is_some() => return None,
            None => None,
        };
        let message = read::string_prop(node, "message", None, self.sink);
        if message.is_none() && node.property("message").is_some() {
            return None;
        }
        let path = path?;
        let Some(format) = format.or_else(|| SchemaFormat::of_event_file(&path.value)) else {
            self.sink.push(
                Diagnostic::new(
                    Code::MissingRequired,
                    format!("the format of `{}` is not known from its name", path.value),
                )
                .at(path.span, "not .avsc (Avro), .json (JSON Schema) or .proto (protobuf)")
                .help(format!(
                    "name the format: schema \"{}\" format=\"avro\" (or format=\"json-schema\")",
                    path.value
                )),
            );
            return None;
        };
        match (format, &message) {
            (SchemaFormat::Proto, None) => {
                self.sink.push(
                    Diagnostic::new(Code::MissingRequired, "a protobuf event schema names its message")
                        .at(path.span, "which message of the file?")
                        .help(format!("schema \"{}\" message=\"shop.orders.v1.OrderPlaced\"", path.value)),
                );
                return None;
            }
            (SchemaFormat::Avro | SchemaFormat::JsonSchema, Some(m)) => {
                self.sink.push(
                    Diagnostic::new(Code::UnknownProperty, "`message` names a message of a protobuf schema")
                        .at(m.span, format!("not for a {}", format.describe()))
                        .help("remove it: the file's top-level type is the event"),
                );
                return None;
            }
            _ => {}
        }
        let schema = self.schema_ref(&path, format);
        Some((SchemaVersion { number: number.unwrap_or(1), schema, message, span: node.span }, number.is_some()))
    }

    /// A topic, with the stream its broker keeps it in; `id` is the id it
    /// gets if it lowers.
    pub(super) fn topic(&mut self, node: &Node, name: Spanned<String>, id: TopicId) -> Option<(Topic, Option<Stream>)> {
        read::check_entries(node, 1, &[], self.sink);
        let name_ok = read::parse(&name, |n| check_name(n), self.sink).is_some();
        let mut once = Once::default();
        let mut failed = false;
        let mut versions: Vec<SchemaVersion> = Vec::new();
        let mut unnumbered = None;
        let mut compatibility = Some(Spanned::new(Compatibility::Backward, name.span));
        let mut subject_naming = Some(SubjectNaming::Topic);
        let mut stream_node = None;
        let mut evolution = Evolution::default();
        let mut examples = Vec::new();
        for child in node.children() {
            match child.name.as_str() {
                "schema" => match self.event_schema(child) {
                    Some((version, numbered)) => {
                        unnumbered = unnumbered.or((!numbered).then_some(child.span));
                        versions.push(version);
                    }
                    None => failed = true,
                },
                "compatibility" if once.first(child, self.sink) => {
                    compatibility = self.keyword(child, "compatibility \"backward\"", |t| Compatibility::parse(t));
                }
                "subject-naming" if once.first(child, self.sink) => {
                    subject_naming =
                        self.keyword(child, "subject-naming \"topic\"", |t| SubjectNaming::parse(t)).map(|s| s.value);
                }
                "stream" if once.first(child, self.sink) => stream_node = Some(child),
                "evolution" if once.first(child, self.sink) => evolution = self.evolution(child, Owner::Topic),
                "example" => match self.event_example(child) {
                    Some(example) => examples.push(example),
                    None => failed = true,
                },
                "compatibility" | "subject-naming" | "stream" => failed = true,
                // Given twice: reported, the first one kept.
                "evolution" => {}
                // Lowered with the compliance declarations: it names a data class.
                "data-class" => {}
                _ => read::unknown_child(child, "topic", CHILDREN, self.sink),
            }
        }
        if !node.children().iter().any(|c| c.name == "schema") {
            self.sink.push(
                Diagnostic::new(Code::MissingRequired, format!("topic `{}` has no `schema`", name.value))
                    .at(name.span, "declared without a schema")
                    .help(format!("add the schema its events follow: {SCHEMA_EXAMPLE}")),
            );
            return None;
        }
        if failed || !self.versions_in_order(&versions, unnumbered) {
            return None;
        }
        let stream = match stream_node {
            Some(child) => Some(self.stream(child, id, &name)?),
            None => None,
        };
        let topic = Topic {
            name,
            versions,
            compatibility: compatibility?,
            subject_naming: subject_naming?,
            stream: None,
            evolution,
            examples,
            span: node.span,
        };
        name_ok.then_some((topic, stream))
    }
}
