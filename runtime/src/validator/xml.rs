//! XML bodies: well-formedness (quick-xml) and the required properties of
//! the schema as children of the root element.

use std::collections::HashSet;

use quick_xml::events::Event;
use serde_json::Value;

use super::load::resolve;

/// What an XML body's root element must contain: one entry per required
/// property of the schema, each with the names that satisfy it.
#[derive(Debug, Default, Clone)]
pub(crate) struct XmlShape {
    pub required: Vec<Required>,
}

#[derive(Debug, Clone)]
pub(crate) struct Required {
    /// The property, for messages.
    pub property: String,
    /// Element (or attribute) local names that satisfy it.
    pub names: Vec<String>,
    /// OpenAPI `xml.attribute: true`: an attribute of the root, not a child.
    pub attribute: bool,
}

impl XmlShape {
    /// The shape of `schema` (after following a top-level `$ref`): its
    /// `required` properties, named by OpenAPI's `xml.name` when given.
    /// Schemas that are not objects with `required` give an empty shape.
    pub fn of(schema: &Value, components: &Value) -> XmlShape {
        let Some(schema) = resolve(schema, components) else { return XmlShape::default() };
        let Some(required) = schema.get("required").and_then(Value::as_array) else { return XmlShape::default() };
        let properties = schema.get("properties");
        let required = required
            .iter()
            .filter_map(Value::as_str)
            .map(|property| {
                let own = properties.and_then(|p| p.get(property));
                let target = own.and_then(|p| resolve(p, components));
                let mut names = vec![property.to_string()];
                let mut attribute = false;
                for schema in [own, target].into_iter().flatten() {
                    if let Some(xml) = schema.get("xml") {
                        if let Some(name) = xml.get("name").and_then(Value::as_str) {
                            names.push(name.to_string());
                        }
                        attribute |= xml.get("attribute").and_then(Value::as_bool).unwrap_or(false);
                    }
                    // An unwrapped array repeats its items' element name.
                    if let Some(items) = schema.get("items").and_then(|i| resolve(i, components)) {
                        if let Some(name) = items.get("xml").and_then(|x| x.get("name")).and_then(Value::as_str) {
                            names.push(name.to_string());
                        }
                    }
                }
                names.dedup();
                Required { property: property.to_string(), names, attribute }
            })
            .collect();
        XmlShape { required }
    }
}

/// The root element of a well-formed document: its name and the local
/// names of its attributes and child elements.
struct Root {
    name: String,
    attributes: HashSet<String>,
    children: HashSet<String>,
}

/// Checks that `body` is well-formed XML with the children `shape` asks for.
/// `Err` is the detail for the reject message.
pub(crate) fn check(body: &[u8], shape: &XmlShape) -> Result<(), String> {
    let root = parse(body).map_err(|e| format!("request body is not well-formed XML: {e}"))?;
    for required in &shape.required {
        let found = if required.attribute { &root.attributes } else { &root.children };
        if !required.names.iter().any(|name| found.contains(name)) {
            let what = if required.attribute { "attribute" } else { "element" };
            let name = required.names.last().unwrap_or(&required.property);
            return Err(format!(
                "request body: XML {what} `{name}` (property `{}`) is required in <{}>",
                required.property, root.name
            ));
        }
    }
    Ok(())
}

fn local(name: &[u8]) -> String {
    let local = name.rsplit(|b| *b == b':').next().unwrap_or(name);
    String::from_utf8_lossy(local).into_owned()
}

fn parse(body: &[u8]) -> Result<Root, String> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let mut reader = quick_xml::Reader::from_reader(body);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.check_comments = true;
    config.allow_unmatched_ends = false;
    config.allow_dangling_amp = false;

    let mut root: Option<Root> = None;
    let mut open: Vec<String> = Vec::new();
    let mut doctype = false;
    let mut first = true;
    loop {
        let position = reader.buffer_position();
        let event = reader.read_event().map_err(|e| format!("{e} (at byte {})", reader.error_position()))?;
        let at_start = std::mem::replace(&mut first, false);
        match event {
            Event::Start(ref element) | Event::Empty(ref element) => {
                let mut attributes = HashSet::new();
                for attribute in element.attributes().with_checks(true) {
                    let attribute = attribute.map_err(|e| format!("{e} (at byte {position})"))?;
                    attributes.insert(local(attribute.key.as_ref()));
                }
                let name = String::from_utf8_lossy(element.name().as_ref()).into_owned();
                match (open.len(), &mut root) {
                    (0, Some(root)) => {
                        return Err(format!(
                            "a second root element <{name}> after </{}> (at byte {position})",
                            root.name
                        ))
                    }
                    (0, None) => {
                        root = Some(Root { name: name.clone(), attributes, children: HashSet::new() });
                    }
                    (1, Some(root)) => {
                        root.children.insert(local(element.name().as_ref()));
                    }
                    _ => {}
                }
                if matches!(event, Event::Start(_)) {
                    open.push(name);
                }
            }
            Event::End(_) => {
                open.pop();
            }
            Event::Text(text) => {
                if open.is_empty() && !text.iter().all(u8::is_ascii_whitespace) {
                    return Err(format!("text outside the root element (at byte {position})"));
                }
            }
            Event::CData(_) => {
                if open.is_empty() {
                    return Err(format!("CDATA outside the root element (at byte {position})"));
                }
            }
            Event::GeneralRef(reference) => {
                if open.is_empty() {
                    return Err(format!("a reference outside the root element (at byte {position})"));
                }
                if reference.is_char_ref() {
                    match reference.resolve_char_ref() {
                        Ok(Some(_)) => {}
                        _ => {
                            return Err(format!(
                                "bad character reference `&{};` (at byte {position})",
                                String::from_utf8_lossy(&reference)
                            ))
                        }
                    }
                } else if !doctype && !matches!(&*reference, b"lt" | b"gt" | b"amp" | b"apos" | b"quot") {
                    return Err(format!(
                        "undeclared entity `&{};` (at byte {position})",
                        String::from_utf8_lossy(&reference)
                    ));
                }
            }
            Event::Decl(_) => {
                if !at_start {
                    return Err(format!("an XML declaration that does not open the document (at byte {position})"));
                }
            }
            Event::DocType(_) => {
                if root.is_some() {
                    return Err(format!("a DOCTYPE after the root element (at byte {position})"));
                }
                doctype = true;
            }
            Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(name) = open.last() {
        return Err(format!("<{name}> is not closed at the end of the body"));
    }
    root.ok_or_else(|| "no root element".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_documents_pass() {
        let shape = XmlShape::default();
        for doc in [
            "<a/>",
            "<?xml version=\"1.0\"?>\n<a x='1'><b>t &amp; &#65;</b><![CDATA[<x>]]><!-- c --></a>\n",
            "\u{feff}<p:a xmlns:p=\"urn:x\"><p:b/></p:a>",
        ] {
            check(doc.as_bytes(), &shape).unwrap_or_else(|e| panic!("{doc}: {e}"));
        }
    }

    #[test]
    fn malformed_documents_fail() {
        let shape = XmlShape::default();
        for doc in [
            "",
            "   ",
            "<a>",
            "<a></b>",
            "<a/><b/>",
            "text<a/>",
            "<a x='1' x='2'/>",
            "<a>&nbsp;</a>",
            "<a>&</a>",
            "</a>",
            "<a><!-- a -- b --></a>",
            "<a x=1/>",
        ] {
            assert!(check(doc.as_bytes(), &shape).is_err(), "{doc:?} passed");
        }
    }
}
