//! Byte positions in JSON schema files (Avro, JSON Schema), which
//! `serde_json::Value` does not keep: where a syntax error is, and where the
//! value a JSON Pointer names is written.

use std::ops::Range;

use super::LineIndex;

/// A JSON syntax error: serde_json's message without its position, and the
/// byte range of the character it stopped at.
pub(super) fn syntax_error(text: &str, error: &serde_json::Error) -> (String, Option<Range<usize>>) {
    let message = error.to_string();
    let message = match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message,
    };
    // serde_json counts lines from 1 and columns from 1, in bytes.
    let line = error.line().saturating_sub(1);
    let column = error.column().saturating_sub(1);
    let offset = LineIndex::new(text).offset(clamp(line), clamp(column));
    (format!("JSON syntax error: {message}"), Some(char_at(text, offset)))
}

fn clamp(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// The character starting at or after `offset` (empty at the end of the text).
pub(super) fn char_at(text: &str, offset: usize) -> Range<usize> {
    let mut start = offset.min(text.len());
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let end = text[start..].chars().next().map_or(start, |c| start + c.len_utf8());
    start..end
}

/// One value of a JSON document.
#[derive(Debug)]
pub(super) struct JsonNode {
    /// For an object member, the range of its key, quotes included.
    pub key: Option<Range<usize>>,
    /// The value, quotes or brackets included.
    pub value: Range<usize>,
}

/// Every value of a JSON document by its JSON Pointer (RFC 6901), in
/// document order. Built for texts serde_json accepts; a member repeated in
/// one object maps to its last value, as serde_json keeps the last.
pub(super) struct JsonSpans<'t> {
    text: &'t str,
    nodes: Vec<(String, JsonNode)>,
    /// Indices into `nodes` sorted by pointer, equal pointers in document
    /// order: a lookup is a binary search, and no pointer is stored twice
    /// (every schema file of a load builds one of these).
    by_pointer: Vec<usize>,
}

impl<'t> JsonSpans<'t> {
    /// `None` if `text` is not one well-formed JSON value (or nests deeper
    /// than serde_json allows).
    pub fn new(text: &'t str) -> Option<JsonSpans<'t>> {
        let mut walker = Walker { source: text, text: text.as_bytes(), at: 0, nodes: Vec::new() };
        walker.value(String::new(), None, 0)?;
        walker.space();
        if walker.at != text.len() {
            return None;
        }
        let nodes = walker.nodes;
        let mut by_pointer: Vec<usize> = (0..nodes.len()).collect();
        by_pointer.sort_by(|&a, &b| nodes[a].0.cmp(&nodes[b].0)); // stable
        Some(JsonSpans { text, nodes, by_pointer })
    }

    pub fn get(&self, pointer: &str) -> Option<&JsonNode> {
        // Past the last node whose pointer is not greater: the last written of equals.
        let end = self.by_pointer.partition_point(|&i| self.nodes[i].0.as_str() <= pointer);
        let (found, node) = &self.nodes[*self.by_pointer.get(end.checked_sub(1)?)?];
        (found == pointer).then_some(node)
    }

    /// The range to show for the value at `pointer`: a scalar itself; for an
    /// object or array its member key, or else its opening bracket, so a
    /// label never covers a whole block.
    pub fn locate(&self, pointer: &str) -> Option<Range<usize>> {
        let node = self.get(pointer)?;
        let scalar = !matches!(self.text.as_bytes().get(node.value.start), Some(b'{' | b'['));
        Some(match &node.key {
            _ if scalar => node.value.clone(),
            Some(key) => key.clone(),
            None => node.value.start..node.value.start + 1,
        })
    }

    /// Every value with its pointer, in document order.
    pub fn nodes(&self) -> impl Iterator<Item = (&str, &JsonNode)> + '_ {
        self.nodes.iter().map(|(pointer, node)| (pointer.as_str(), node))
    }

    /// A value's text as written.
    pub fn text_of(&self, node: &JsonNode) -> &'t str {
        &self.text[node.value.clone()]
    }

    /// A string value, decoded; `None` if it is not a string.
    pub fn string_of(&self, node: &JsonNode) -> Option<String> {
        let raw = self.text_of(node);
        raw.starts_with('"').then(|| decode(raw))
    }

    /// The string value at `pointer`, decoded; `None` if it is not a string.
    pub fn string_at(&self, pointer: &str) -> Option<String> {
        self.string_of(self.get(pointer)?)
    }

    /// Every string value with its pointer, decoded, in document order.
    pub fn strings(&self) -> impl Iterator<Item = (&str, &JsonNode, String)> + '_ {
        self.nodes.iter().filter_map(|(pointer, node)| Some((pointer.as_str(), node, self.string_of(node)?)))
    }
}

/// The text of a JSON string literal (quotes included).
fn decode(raw: &str) -> String {
    if raw.contains('\\') {
        serde_json::from_str(raw).unwrap_or_default()
    } else {
        raw.get(1..raw.len().saturating_sub(1)).unwrap_or_default().to_string()
    }
}

/// Appends a member name or index to a JSON Pointer.
pub(in crate::schema) fn join(pointer: &str, segment: &str) -> String {
    let mut joined = String::with_capacity(pointer.len() + 1 + segment.len());
    joined.push_str(pointer);
    joined.push('/');
    if segment.bytes().any(|b| b == b'~' || b == b'/') {
        for c in segment.chars() {
            match c {
                '~' => joined.push_str("~0"),
                '/' => joined.push_str("~1"),
                c => joined.push(c),
            }
        }
    } else {
        joined.push_str(segment);
    }
    joined
}

/// Appends an array index to a JSON Pointer.
pub(in crate::schema) fn join_index(pointer: &str, index: usize) -> String {
    // One per array element of every JSON schema file: itoa, not `write!`'s formatting machinery.
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(index);
    let mut joined = String::with_capacity(pointer.len() + 1 + digits.len());
    joined.push_str(pointer);
    joined.push('/');
    joined.push_str(digits);
    joined
}

/// The last segment of a JSON Pointer, unescaped, and its parent.
pub(super) fn split_last(pointer: &str) -> Option<(&str, String)> {
    let (parent, last) = pointer.rsplit_once('/')?;
    let last = if last.contains('~') { last.replace("~1", "/").replace("~0", "~") } else { last.to_string() };
    Some((parent, last))
}

/// serde_json's default nesting limit; deeper texts never get here.
const MAX_DEPTH: usize = 128;

struct Walker<'t> {
    source: &'t str,
    /// `source`'s bytes.
    text: &'t [u8],
    at: usize,
    nodes: Vec<(String, JsonNode)>,
}

impl Walker<'_> {
    fn space(&mut self) {
        while self.text.get(self.at).is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        self.space();
        let found = self.text.get(self.at) == Some(&byte);
        self.at += usize::from(found);
        found
    }

    fn value(&mut self, pointer: String, key: Option<Range<usize>>, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.space();
        let start = self.at;
        let slot = self.nodes.len();
        self.nodes.push((pointer, JsonNode { key, value: start..start }));
        match *self.text.get(start)? {
            b'{' => {
                self.at += 1;
                if !self.eat(b'}') {
                    loop {
                        self.space();
                        let key = self.string()?;
                        let raw = self.source.get(key.clone())?;
                        let child = match raw.contains('\\') {
                            true => join(&self.nodes[slot].0, &decode(raw)),
                            false => join(&self.nodes[slot].0, &raw[1..raw.len() - 1]),
                        };
                        if !self.eat(b':') {
                            return None;
                        }
                        self.value(child, Some(key), depth + 1)?;
                        if self.eat(b'}') {
                            break;
                        }
                        if !self.eat(b',') {
                            return None;
                        }
                    }
                }
            }
            b'[' => {
                self.at += 1;
                if !self.eat(b']') {
                    for index in 0.. {
                        let child = join_index(&self.nodes[slot].0, index);
                        self.value(child, None, depth + 1)?;
                        if self.eat(b']') {
                            break;
                        }
                        if !self.eat(b',') {
                            return None;
                        }
                    }
                }
            }
            b'"' => {
                self.string()?;
            }
            _ => {
                // Numbers and literals: serde_json has checked them.
                let len = self.text[start..]
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.'))
                    .count();
                if len == 0 {
                    return None;
                }
                self.at += len;
            }
        }
        self.nodes[slot].1.value = start..self.at;
        Some(())
    }

    /// A string literal at the cursor; its range, quotes included.
    fn string(&mut self) -> Option<Range<usize>> {
        let start = self.at;
        if self.text.get(start) != Some(&b'"') {
            return None;
        }
        let mut i = start + 1;
        loop {
            match *self.text.get(i)? {
                b'"' => break,
                b'\\' => i += 2,
                _ => i += 1,
            }
        }
        self.at = i + 1;
        Some(start..self.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str =
        "{\n  \"name\": \"Order\",\n  \"a/b~\": [1, {\"x\": true}],\n  \"esc\\u0061ped\": \"v\\\"w\"\n}\n";

    #[test]
    fn pointers_find_keys_and_values() {
        let spans = JsonSpans::new(TEXT).unwrap();
        let node = spans.get("/name").unwrap();
        assert_eq!(&TEXT[node.key.clone().unwrap()], "\"name\"");
        assert_eq!(&TEXT[node.value.clone()], "\"Order\"");
        assert_eq!(&TEXT[spans.get("/a~1b~0/1/x").unwrap().value.clone()], "true");
        assert_eq!(&TEXT[spans.get("/a~1b~0/0").unwrap().value.clone()], "1");
        assert_eq!(&TEXT[spans.get("/escaped").unwrap().value.clone()], "\"v\\\"w\"");
        assert_eq!(spans.get("").unwrap().value, 0..TEXT.len() - 1);
        assert!(spans.get("/nope").is_none());
    }

    #[test]
    fn a_repeated_member_is_found_at_its_last_value() {
        let text = r#"{"a": 1, "b": {"a": 2}, "a": 3, "a/": 4}"#;
        let spans = JsonSpans::new(text).unwrap();
        assert_eq!(spans.text_of(spans.get("/a").unwrap()), "3");
        assert_eq!(spans.text_of(spans.get("/b/a").unwrap()), "2");
        assert_eq!(spans.text_of(spans.get("/a~1").unwrap()), "4");
        assert_eq!(spans.nodes().filter(|(p, _)| *p == "/a").count(), 2, "every written value stays in document order");
        assert!(spans.get("/a/").is_none() && spans.get("/0").is_none());
    }

    #[test]
    fn locate_shows_scalars_whole_and_containers_by_key_or_bracket() {
        let spans = JsonSpans::new(TEXT).unwrap();
        assert_eq!(&TEXT[spans.locate("/name").unwrap()], "\"Order\"");
        assert_eq!(&TEXT[spans.locate("/a~1b~0").unwrap()], "\"a/b~\"");
        assert_eq!(&TEXT[spans.locate("/a~1b~0/1").unwrap()], "{");
        assert_eq!(spans.locate("").unwrap(), 0..1);
    }

    #[test]
    fn strings_are_decoded() {
        let spans = JsonSpans::new(TEXT).unwrap();
        let strings: Vec<(&str, String)> = spans.strings().map(|(p, _, s)| (p, s)).collect();
        assert_eq!(strings, [("/name", "Order".to_string()), ("/escaped", "v\"w".to_string())]);
    }

    #[test]
    fn malformed_or_too_deep_text_is_refused() {
        assert!(JsonSpans::new("{\"a\": }").is_none());
        assert!(JsonSpans::new("[1] 2").is_none());
        assert!(JsonSpans::new("").is_none());
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(JsonSpans::new(&deep).is_none());
    }

    #[test]
    fn syntax_errors_point_at_the_character() {
        let text = "{\n  \"a\": 1,\n  \"b\" 2\n}\n";
        let error = serde_json::from_str::<serde_json::Value>(text).unwrap_err();
        let (message, range) = syntax_error(text, &error);
        assert_eq!(message, "JSON syntax error: expected `:`");
        assert_eq!(&text[range.unwrap()], "2");
        let text = "{\"é\": tru";
        let error = serde_json::from_str::<serde_json::Value>(text).unwrap_err();
        let range = syntax_error(text, &error).1.unwrap();
        assert!(text.is_char_boundary(range.start) && range.end <= text.len(), "{range:?}");
    }

    #[test]
    fn pointer_segments_round_trip() {
        let pointer = join(&join("", "a/b"), "~c");
        assert_eq!(pointer, "/a~1b/~0c");
        assert_eq!(split_last(&pointer), Some(("/a~1b", "~c".to_string())));
        assert_eq!(split_last(""), None);
    }
}
