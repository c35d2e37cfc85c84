//! Small readers over AST nodes that report shape errors as they go: unknown
//! properties and children, missing or mistyped values. Lowering code calls
//! these instead of matching on entries itself.

use std::collections::HashMap;

use crate::base::{Span, Spanned};
use crate::diag::{suggestion, Code, Diagnostic, Sink};
use crate::model::values::{Duration, Operation};
use crate::syntax::{Entry, Node, Value};

/// Reports positional arguments past `max_args` and properties not in `props`.
pub fn check_entries(node: &Node, max_args: usize, props: &[&str], sink: &mut Sink) {
    for extra in node.arguments().skip(max_args) {
        let takes = match max_args {
            0 => "no arguments".to_string(),
            1 => "one argument".to_string(),
            n => format!("{n} arguments"),
        };
        sink.push(
            Diagnostic::new(Code::UnknownProperty, format!("`{}` takes {takes}", node.name))
                .at(extra.span, "unexpected argument")
                .help_opt(if props.is_empty() {
                    None
                } else {
                    Some(format!("properties of `{}`: {}", node.name, props.join(", ")))
                }),
        );
    }
    for entry in node.entries.iter().filter(|e| e.name.is_some()) {
        let key = entry.name.as_deref().unwrap_or_default();
        if !props.contains(&key) {
            sink.push(
                Diagnostic::new(Code::UnknownProperty, format!("`{}` has no property `{key}`", node.name))
                    .at(entry.span, "unknown property")
                    .help_opt(
                        suggestion(key, props.iter().copied())
                            .or_else(|| Some(format!("`{}` takes no properties", node.name))),
                    ),
            );
        }
    }
}

/// Reports a `{ }` block on a node that takes no children.
pub fn no_children(node: &Node, sink: &mut Sink) {
    if let Some(first) = node.children().first() {
        sink.push(
            Diagnostic::new(Code::UnknownNode, format!("`{}` takes no child nodes", node.name))
                .at(first.name_span, "unexpected child")
                .help(format!("write the settings as properties of `{}`, see docs/language.md", node.name)),
        );
    }
}

/// Reports a child node that `parent` does not define, with the closest
/// valid one, else every valid one (however many: that list is the answer).
pub fn unknown_child(child: &Node, parent: &str, known: &[&str], sink: &mut Sink) {
    let help = match crate::diag::did_you_mean(&child.name, known.iter().copied()) {
        Some(best) => format!("did you mean `{best}`?"),
        None => {
            let mut valid = known.to_vec();
            valid.sort_unstable();
            format!("`{parent}` takes: {}", valid.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "))
        }
    };
    sink.push(
        Diagnostic::new(Code::UnknownNode, format!("`{parent}` has no child node `{}`", child.name))
            .at(child.name_span, "unknown node")
            .help(help),
    );
}

/// Tracks nodes that may appear once in a block and reports repeats.
/// Most blocks have a handful of children: the first names are kept in a
/// list searched in order (no hashing, no table to allocate), the rest in
/// a map, so a block of many distinct (unknown) names stays linear.
#[derive(Default)]
pub struct Once<'a> {
    few: Vec<(&'a str, Span)>,
    more: HashMap<&'a str, Span>,
}

impl<'a> Once<'a> {
    const FEW: usize = 16;

    /// True the first time `node`'s name is seen; reports later repeats.
    pub fn first(&mut self, node: &'a Node, sink: &mut Sink) -> bool {
        let seen = self.few.iter().find(|(name, _)| *name == node.name).map(|&(_, span)| span);
        match seen.or_else(|| self.more.get(node.name.as_str()).copied()) {
            Some(first) => {
                sink.push(
                    Diagnostic::new(Code::DuplicateName, format!("`{}` is given more than once", node.name))
                        .at(node.name_span, "repeated here")
                        .with_label(first, "first given here")
                        .help("remove one of them"),
                );
                false
            }
            None => {
                if self.few.len() < Self::FEW {
                    self.few.push((&node.name, node.name_span));
                } else {
                    self.more.insert(&node.name, node.name_span);
                }
                true
            }
        }
    }
}

fn type_error(entry: &Entry, what: &str, expected: &str, example: &str) -> Diagnostic {
    Diagnostic::new(Code::InvalidValue, format!("{what} must be {expected}, found {}", entry.value.type_name()))
        .at(entry.span, format!("expected {expected}"))
        .help(format!("for example: {example}"))
}

fn missing(node: &Node, what: &str, example: &str) -> Diagnostic {
    Diagnostic::new(Code::MissingRequired, format!("`{}` needs {what}", node.name))
        .at(node.name_span, format!("{what} missing"))
        .help(format!("for example: {example}"))
}

/// The `index`-th argument as a string; reports absence and wrong types.
pub fn string_arg(node: &Node, index: usize, what: &str, example: &str, sink: &mut Sink) -> Option<Spanned<String>> {
    let entry = argument(node, index, what, example, sink)?;
    typed(entry, string, "a string", || (what.to_string(), example.to_string()), sink)
}

/// A string property; `example` is given when the property is required.
pub fn string_prop(node: &Node, key: &str, required: Option<&str>, sink: &mut Sink) -> Option<Spanned<String>> {
    let entry = property(node, key, required, sink)?;
    typed(entry, string, "a string", || (format!("property `{key}`"), format!("{key}=\"...\"")), sink)
}

/// An integer property; `example` is given when the property is required.
pub fn int_prop(node: &Node, key: &str, required: Option<&str>, sink: &mut Sink) -> Option<Spanned<i128>> {
    let entry = property(node, key, required, sink)?;
    typed(entry, integer, "an integer", || (format!("property `{key}`"), format!("{key}=8080")), sink)
}

/// The `index`-th argument as an integer.
pub fn int_arg(node: &Node, index: usize, what: &str, example: &str, sink: &mut Sink) -> Option<Spanned<i128>> {
    let entry = argument(node, index, what, example, sink)?;
    typed(entry, integer, "an integer", || (what.to_string(), example.to_string()), sink)
}

/// A boolean property.
pub fn bool_prop(node: &Node, key: &str, sink: &mut Sink) -> Option<Spanned<bool>> {
    let entry = property(node, key, None, sink)?;
    typed(entry, boolean, "#true or #false", || (format!("property `{key}`"), format!("{key}=#true")), sink)
}

/// The `index`-th argument, reported missing when absent.
fn argument<'n>(node: &'n Node, index: usize, what: &str, example: &str, sink: &mut Sink) -> Option<&'n Entry> {
    let entry = node.arguments().nth(index);
    if entry.is_none() {
        sink.push(missing(node, what, example));
    }
    entry
}

/// The property `key`, reported missing when `required` gives an example.
fn property<'n>(node: &'n Node, key: &str, required: Option<&str>, sink: &mut Sink) -> Option<&'n Entry> {
    let entry = node.property(key);
    if let (None, Some(example)) = (entry, required) {
        sink.push(missing(node, &format!("property `{key}`"), example));
    }
    entry
}

/// `entry`'s value as `read` takes it, else reported as not `expected`.
/// Lowering reads every property a node may have, nearly all absent or
/// well-typed, so `described` (what the entry is, and an example of it)
/// is only called for the message.
fn typed<T>(
    entry: &Entry,
    read: fn(&Value) -> Option<T>,
    expected: &str,
    described: impl FnOnce() -> (String, String),
    sink: &mut Sink,
) -> Option<Spanned<T>> {
    let value = read(&entry.value);
    if value.is_none() {
        let (what, example) = described();
        sink.push(type_error(entry, &what, expected, &example));
    }
    value.map(|value| Spanned::new(value, entry.span))
}

fn string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn integer(value: &Value) -> Option<i128> {
    match value {
        Value::Integer(i) => Some(*i),
        _ => None,
    }
}

fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        _ => None,
    }
}

/// Parses a spanned value into a typed one, reporting the parser's message.
pub fn parse<T, V>(value: &Spanned<V>, parse: impl FnOnce(&V) -> Result<T, String>, sink: &mut Sink) -> Option<T> {
    match parse(&value.value) {
        Ok(t) => Some(t),
        Err(message) => {
            sink.push(
                Diagnostic::new(Code::InvalidValue, message)
                    .at(value.span, "invalid value")
                    .help("see docs/language.md for the accepted forms"),
            );
            None
        }
    }
}

pub(super) fn bounded(n: i128, min: u32, max: u32, what: &str) -> Result<u32, String> {
    if (i128::from(min)..=i128::from(max)).contains(&n) {
        Ok(n as u32)
    } else {
        Err(format!("{what} must be between {min} and {max}, found {n}"))
    }
}

/// `"20%"`: a whole percentage from 0 to 100.
pub(super) fn parse_percent(text: &str) -> Result<u32, String> {
    let digits =
        text.strip_suffix('%').ok_or_else(|| format!("`{text}` is not a percentage; write it like \"20%\""))?;
    match digits.parse::<u32>() {
        Ok(n) if n <= 100 => Ok(n),
        _ => Err(format!("`{text}` is not a percentage from 0% to 100%")),
    }
}

impl<D: std::ops::Deref<Target = super::Decls>> super::Lower<'_, D> {
    /// An optional duration property with its span. `Some(None)` when absent, `None` when invalid.
    pub(super) fn spanned_duration(&mut self, node: &Node, key: &str) -> Option<Option<Spanned<Duration>>> {
        match string_prop(node, key, None, self.sink) {
            None if node.property(key).is_some() => None,
            None => Some(None),
            Some(text) => parse(&text, |t| Duration::parse(t), self.sink).map(|d| Some(Spanned::new(d, text.span))),
        }
    }

    /// An optional integer property in `min..=max`. `Some(None)` when absent, `None` when invalid.
    pub(super) fn count_prop(&mut self, node: &Node, key: &str, min: u32, max: u32) -> Option<Option<u32>> {
        match int_prop(node, key, None, self.sink) {
            None if node.property(key).is_some() => None,
            None => Some(None),
            Some(n) => parse(&n, |n| bounded(*n, min, max, key), self.sink).map(Some),
        }
    }

    /// An optional `operation=` property. `Some(None)` when absent, `None` when invalid.
    pub(super) fn operation_prop(&mut self, node: &Node) -> Option<Option<Spanned<Operation>>> {
        match string_prop(node, "operation", None, self.sink) {
            None if node.property("operation").is_some() => None,
            None => Some(None),
            Some(text) => parse(&text, |t| Operation::parse(t), self.sink).map(|op| Some(Spanned::new(op, text.span))),
        }
    }

    /// An optional duration property. `Some(None)` when absent, `None` when invalid.
    pub(super) fn duration_prop(&mut self, node: &Node, key: &str) -> Option<Option<Duration>> {
        match string_prop(node, key, None, self.sink) {
            None if node.property(key).is_some() => None,
            None => Some(None),
            Some(text) => parse(&text, |t| Duration::parse(t), self.sink).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::FileId;

    /// Repeats are reported against the first node of the name, whether
    /// the name is among the first few kept in the list or in the map.
    #[test]
    fn a_repeat_is_reported_against_the_first_of_its_name_among_many() {
        let names: Vec<String> = (0..Once::FEW + 8).map(|i| format!("n{i}")).collect();
        let text = format!("{} n1 n{}", names.join(" "), Once::FEW + 3).replace(' ', "\n");
        let (document, errors) = crate::syntax::parse(FileId(0), &text);
        assert!(errors.is_empty(), "{errors:?}");
        let (mut once, mut sink) = (Once::default(), Sink::new());
        let firsts: Vec<bool> = document.nodes.iter().map(|node| once.first(node, &mut sink)).collect();
        assert_eq!(firsts.iter().filter(|&&first| !first).count(), 2);
        assert!(!firsts[names.len()] && !firsts[names.len() + 1]);
        let reported = sink.into_sorted();
        let first_of = |name: &str| document.nodes.iter().find(|n| n.name == name).unwrap().name_span;
        let repeat_of = |i: usize| document.nodes[names.len() + i].name_span;
        for (i, name) in ["n1".to_string(), format!("n{}", Once::FEW + 3)].iter().enumerate() {
            let d = reported.iter().find(|d| d.primary.as_ref().is_some_and(|p| p.span == repeat_of(i))).unwrap();
            assert_eq!(d.message, format!("`{name}` is given more than once"));
            assert_eq!(d.secondary[0].span, first_of(name));
        }
    }
}
