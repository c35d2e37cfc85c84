//! Which RPCs a protobuf change affects, for consumer awareness: a
//! breaking change matters to a caller when it touches an RPC the caller
//! uses. A change is placed at the innermost element around it (message,
//! enum, service, RPC; the file itself when none is, like a file option);
//! an RPC is affected when the change is on the RPC itself or its service,
//! or on a message or enum its request or response reaches through fields,
//! transitively (in the old or the new version), or on a file defining one
//! of those.

use std::collections::{HashMap, HashSet};

use prost_reflect::{Kind, MessageDescriptor};

use super::Change;
use crate::base::{FileId, Span};
use crate::schema::proto_module::ProtoModule;

/// An element a change can be on, by full name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Element {
    /// A message or enum.
    Type(String),
    Service(String),
    Method(String, String),
    /// A pool file, by name.
    File(String),
}

/// Where a module's elements are.
struct Places {
    by_file: HashMap<FileId, Vec<(Span, Element)>>,
    file_names: HashMap<FileId, String>,
}

impl Places {
    fn new(module: &ProtoModule) -> Places {
        let mut places = Places { by_file: HashMap::new(), file_names: HashMap::new() };
        for file in &module.files {
            places.file_names.insert(file.file, file.name.clone());
            let Some(descriptor) = module.descriptor(file) else { continue };
            let mut spans = Vec::new();
            let mut messages: Vec<MessageDescriptor> = descriptor.messages().collect();
            spans.extend(
                descriptor.enums().filter_map(|e| Some((file.span(e.path())?, Element::Type(e.full_name().into())))),
            );
            while let Some(message) = messages.pop() {
                messages.extend(message.child_messages());
                spans.extend(
                    message
                        .child_enums()
                        .filter_map(|e| Some((file.span(e.path())?, Element::Type(e.full_name().into())))),
                );
                if let Some(span) = file.span(message.path()) {
                    spans.push((span, Element::Type(message.full_name().into())));
                }
            }
            for service in descriptor.services() {
                if let Some(span) = file.span(service.path()) {
                    spans.push((span, Element::Service(service.full_name().into())));
                }
                for method in service.methods() {
                    if let Some(span) = file.span(method.path()) {
                        let element = Element::Method(service.full_name().into(), method.name().into());
                        spans.push((span, element));
                    }
                }
            }
            places.by_file.insert(file.file, spans);
        }
        places
    }

    /// The innermost element whose declaration holds `span`, else its file.
    fn element_at(&self, span: Span) -> Option<Element> {
        let inside = |outer: &Span| outer.start <= span.start && span.end <= outer.end;
        let innermost = self.by_file.get(&span.file).and_then(|spans| {
            spans.iter().filter(|(s, _)| inside(s)).min_by_key(|(s, _)| s.end - s.start).map(|(_, e)| e.clone())
        });
        innermost.or_else(|| self.file_names.get(&span.file).map(|name| Element::File(name.clone())))
    }
}

/// The RPCs of two versions of a module and what each reaches.
pub struct Impact {
    old: Places,
    new: Places,
    /// Per RPC asked about: every element it depends on, in either version.
    reach: Vec<HashSet<Element>>,
}

impl Impact {
    /// `rpcs`: (full service name, method name) of the RPCs to judge.
    pub fn new(old: &ProtoModule, new: &ProtoModule, rpcs: &[(String, String)]) -> Impact {
        let reach = rpcs
            .iter()
            .map(|(service, method)| {
                let mut set = HashSet::from([
                    Element::Service(service.clone()),
                    Element::Method(service.clone(), method.clone()),
                ]);
                for module in [old, new] {
                    reach_rpc(module, service, method, &mut set);
                }
                set
            })
            .collect();
        Impact { old: Places::new(old), new: Places::new(new), reach }
    }

    /// The indices (into the `rpcs` given to [`Impact::new`]) of the RPCs
    /// `change` affects. A change placed nowhere (no span) affects all.
    pub fn affected(&self, change: &Change) -> Vec<usize> {
        let elements: Vec<Element> =
            [change.new.and_then(|s| self.new.element_at(s)), change.old.and_then(|s| self.old.element_at(s))]
                .into_iter()
                .flatten()
                .collect();
        (0..self.reach.len())
            .filter(|&i| elements.is_empty() || elements.iter().any(|e| self.reach[i].contains(e)))
            .collect()
    }
}

/// Adds to `set` what the RPC reaches in `module`: its service's file, its
/// request and response types and every message and enum their fields
/// reach, with their files.
fn reach_rpc(module: &ProtoModule, service: &str, method: &str, set: &mut HashSet<Element>) {
    let Some(service) = module.pool.get_service_by_name(service) else { return };
    set.insert(Element::File(service.parent_file().name().to_string()));
    let Some(method) = service.methods().find(|m| m.name() == method) else { return };
    let mut pending = vec![method.input(), method.output()];
    let mut seen = HashSet::new();
    while let Some(message) = pending.pop() {
        if !seen.insert(message.full_name().to_string()) {
            continue;
        }
        set.insert(Element::Type(message.full_name().to_string()));
        set.insert(Element::File(message.parent_file().name().to_string()));
        for field in message.fields() {
            match field.kind() {
                Kind::Message(m) => pending.push(m),
                Kind::Enum(e) => {
                    set.insert(Element::Type(e.full_name().to_string()));
                    set.insert(Element::File(e.parent_file().name().to_string()));
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::fs::MemoryFs;
    use crate::base::Sources;
    use crate::schema::proto_module::load_module;
    use std::path::Path;

    const BEFORE: &str = "syntax = \"proto3\";\npackage shop.v1;\n\
        message Money { int64 cents = 1; }\nmessage Order { string id = 1; Money total = 2; }\n\
        message Ping { string note = 1; }\n\
        service Orders {\n  rpc Get(Order) returns (Order);\n  rpc Health(Ping) returns (Ping);\n}\n";

    fn judge(after: &str) -> (Vec<Change>, Impact) {
        let mut fs = MemoryFs::new();
        fs.insert("/old/orders.proto", BEFORE);
        fs.insert("/new/orders.proto", after);
        let mut sources = Sources::new(Path::new("/"));
        let old = load_module(&fs, Path::new("/old"), &mut sources).unwrap_or_else(|d| panic!("{}", d.message));
        let new = load_module(&fs, Path::new("/new"), &mut sources).unwrap_or_else(|d| panic!("{}", d.message));
        let rpcs =
            [("shop.v1.Orders".to_string(), "Get".to_string()), ("shop.v1.Orders".to_string(), "Health".to_string())];
        (super::super::protobuf::compare(&old, &new), Impact::new(&old, &new, &rpcs))
    }

    #[test]
    fn a_change_to_a_message_an_rpc_reaches_through_fields_affects_only_that_rpc() {
        let (changes, impact) = judge(&BEFORE.replace("int64 cents = 1;", "int32 cents = 1;"));
        assert!(!changes.is_empty());
        for change in &changes {
            assert_eq!(impact.affected(change), [0], "{}", change.reason);
        }
    }

    #[test]
    fn a_changed_rpc_affects_itself_and_a_file_option_affects_both() {
        let (changes, impact) =
            judge(&BEFORE.replace("rpc Health(Ping) returns (Ping);", "rpc Health(Ping) returns (Order);"));
        let response = changes.iter().find(|c| c.rule.id == "RPC_SAME_RESPONSE_TYPE").expect("the change");
        assert_eq!(impact.affected(response), [1]);
        let (changes, impact) =
            judge(&BEFORE.replace("package shop.v1;", "package shop.v1;\noption go_package = \"x/y\";"));
        let option = changes.iter().find(|c| c.rule.id == "FILE_SAME_GO_PACKAGE").expect("the change");
        assert_eq!(impact.affected(option), [0, 1]);
    }
}
