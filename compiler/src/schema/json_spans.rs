//! Byte positions in JSON schema files (Avro, JSON Schema), which
//! `serde_json::Value` does not keep: where a syntax error is, and where the
//! value a JSON Pointer names is written.

use std::borrow::Cow;
use std::cmp::Ordering;
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

/// A value of the document, by its place in document order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct NodeId(u32);

struct Entry {
    node: JsonNode,
    /// One past the last value inside this one (document order is pre-order).
    end: u32,
    parent: u32,
    /// An object's members sorted by key (equal keys in document order), or
    /// an array's elements in order: a range of `JsonSpans::members`.
    members: Range<u32>,
    /// An object member whose key has an escape: it is compared decoded.
    escaped_key: bool,
}

/// Every value of a JSON document as a tree, in document order, found by
/// JSON Pointer (RFC 6901) or member by member. Built for texts serde_json
/// accepts; a member repeated in one object is found at its last value, as
/// serde_json keeps the last. Every schema file of a load builds one of
/// these: no pointer is built unless asked for.
pub(super) struct JsonSpans<'t> {
    text: &'t str,
    entries: Vec<Entry>,
    members: Vec<u32>,
}

impl<'t> JsonSpans<'t> {
    /// `None` if `text` is not one well-formed JSON value (or nests deeper
    /// than serde_json allows).
    pub fn new(text: &'t str) -> Option<JsonSpans<'t>> {
        u32::try_from(text.len()).ok()?; // node and member indices are u32
        let mut walker = Walker {
            spans: JsonSpans { text, entries: Vec::new(), members: Vec::new() },
            bytes: text.as_bytes(),
            at: 0,
            open: Vec::new(),
        };
        walker.value(0, None, 0)?;
        walker.space();
        (walker.at == text.len()).then_some(walker.spans)
    }

    pub fn root(&self) -> NodeId {
        NodeId(0)
    }

    pub fn node(&self, id: NodeId) -> &JsonNode {
        &self.entries[id.0 as usize].node
    }

    pub fn parent(&self, id: NodeId) -> Option<NodeId> {
        (id.0 != 0).then(|| NodeId(self.entries[id.0 as usize].parent))
    }

    /// Every value, in document order.
    pub fn ids(&self) -> impl Iterator<Item = NodeId> {
        (0..self.entries.len() as u32).map(NodeId)
    }

    /// An object's members or an array's elements, in document order.
    pub fn children(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        let end = self.entries[id.0 as usize].end;
        let mut next = id.0 + 1;
        std::iter::from_fn(move || {
            let child = (next < end).then_some(NodeId(next))?;
            next = self.entries[next as usize].end;
            Some(child)
        })
    }

    /// An object member's key, decoded.
    pub fn key(&self, id: NodeId) -> Option<Cow<'t, str>> {
        let entry = &self.entries[id.0 as usize];
        let raw = &self.text[entry.node.key.clone()?];
        Some(match entry.escaped_key {
            true => Cow::Owned(decode(raw)),
            false => Cow::Borrowed(&raw[1..raw.len() - 1]),
        })
    }

    /// Orders a member by its key against `key`, decoding only a key with an
    /// escape (members are found and sorted by key on every schema file).
    fn compare_key(&self, member: u32, key: &str) -> Ordering {
        let entry = &self.entries[member as usize];
        let Some(raw) = &entry.node.key else { return "".cmp(key) };
        match entry.escaped_key {
            true => decode(&self.text[raw.clone()]).as_str().cmp(key),
            // Bytes, not `str`s: no character boundaries to check, and UTF-8 sorts as its code points.
            false => self.text.as_bytes()[raw.start + 1..raw.end - 1].cmp(key.as_bytes()),
        }
    }

    fn is_object(&self, id: NodeId) -> bool {
        self.opens_with(id, b'{')
    }

    fn is_array(&self, id: NodeId) -> bool {
        self.opens_with(id, b'[')
    }

    fn opens_with(&self, id: NodeId, bracket: u8) -> bool {
        self.text.as_bytes().get(self.node(id).value.start) == Some(&bracket)
    }

    fn members_of(&self, id: NodeId) -> &[u32] {
        let range = &self.entries[id.0 as usize].members;
        &self.members[range.start as usize..range.end as usize]
    }

    /// The member `key` of an object (its last value if repeated).
    pub fn member(&self, id: NodeId, key: &str) -> Option<NodeId> {
        if !self.is_object(id) {
            return None;
        }
        let members = self.members_of(id);
        let end = members.partition_point(|&m| self.compare_key(m, key) != Ordering::Greater);
        let found = *members.get(end.checked_sub(1)?)?;
        (self.compare_key(found, key) == Ordering::Equal).then_some(NodeId(found))
    }

    /// Element `index` of an array.
    pub fn element(&self, id: NodeId, index: usize) -> Option<NodeId> {
        if !self.is_array(id) {
            return None;
        }
        self.members_of(id).get(index).map(|&m| NodeId(m))
    }

    /// The value a JSON Pointer names.
    pub fn find(&self, pointer: &str) -> Option<NodeId> {
        let mut at = self.root();
        if pointer.is_empty() {
            return Some(at);
        }
        for segment in pointer.strip_prefix('/')?.split('/') {
            let segment = unescape(segment);
            at = match self.is_array(at) {
                true => self.element(at, index(&segment)?)?,
                false => self.member(at, &segment)?,
            };
        }
        Some(at)
    }

    pub fn get(&self, pointer: &str) -> Option<&JsonNode> {
        self.find(pointer).map(|id| self.node(id))
    }

    /// The range to show for the value at `pointer`: a scalar itself; for an
    /// object or array its member key, or else its opening bracket, so a
    /// label never covers a whole block.
    pub fn locate(&self, pointer: &str) -> Option<Range<usize>> {
        self.find(pointer).map(|id| self.locate_node(id))
    }

    /// [`JsonSpans::locate`] for a value found otherwise.
    pub fn locate_node(&self, id: NodeId) -> Range<usize> {
        let node = self.node(id);
        let scalar = !self.is_object(id) && !self.is_array(id);
        match &node.key {
            _ if scalar => node.value.clone(),
            Some(key) => key.clone(),
            None => node.value.start..node.value.start + 1,
        }
    }

    /// Every value with its pointer, in document order. Builds every
    /// pointer: for reporting, not for loading.
    pub fn nodes(&self) -> impl Iterator<Item = (String, &JsonNode)> + '_ {
        let mut pointers = vec![String::new(); self.entries.len()];
        // A parent comes before its members, so its pointer is ready.
        for id in self.ids() {
            if self.is_array(id) {
                for (i, &m) in self.members_of(id).iter().enumerate() {
                    pointers[m as usize] = join_index(&pointers[id.0 as usize], i);
                }
            } else if self.is_object(id) {
                for &m in self.members_of(id) {
                    pointers[m as usize] = join(&pointers[id.0 as usize], &self.key(NodeId(m)).unwrap_or_default());
                }
            }
        }
        pointers.into_iter().zip(self.entries.iter().map(|e| &e.node))
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
    pub fn strings(&self) -> impl Iterator<Item = (String, &JsonNode, String)> + '_ {
        self.nodes().filter_map(|(pointer, node)| Some((pointer, node, self.string_of(node)?)))
    }
}

/// A JSON Pointer segment, unescaped (`~1` is `/`, `~0` is `~`).
fn unescape(segment: &str) -> Cow<'_, str> {
    match segment.contains('~') {
        true => Cow::Owned(segment.replace("~1", "/").replace("~0", "~")),
        false => Cow::Borrowed(segment),
    }
}

/// An array index as a JSON Pointer writes it: decimal, no leading zero.
fn index(segment: &str) -> Option<usize> {
    let digits = !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit());
    (digits && (segment == "0" || !segment.starts_with('0'))).then(|| segment.parse().ok()).flatten()
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
    Some((parent, unescape(last).into_owned()))
}

/// serde_json's default nesting limit; deeper texts never get here.
const MAX_DEPTH: usize = 128;

struct Walker<'t> {
    spans: JsonSpans<'t>,
    /// The text's bytes.
    bytes: &'t [u8],
    at: usize,
    /// The members of the containers being read, innermost last.
    open: Vec<u32>,
}

impl Walker<'_> {
    fn space(&mut self) {
        while self.bytes.get(self.at).is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        self.space();
        let found = self.bytes.get(self.at) == Some(&byte);
        self.at += usize::from(found);
        found
    }

    /// The value at the cursor; `key` is a member's key and whether it has an escape.
    fn value(&mut self, parent: u32, key: Option<(Range<usize>, bool)>, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.space();
        let start = self.at;
        let slot = self.spans.entries.len();
        let id = u32::try_from(slot).ok()?;
        let (key, escaped_key) = match key {
            Some((range, escaped)) => (Some(range), escaped),
            None => (None, false),
        };
        let node = JsonNode { key, value: start..start };
        self.spans.entries.push(Entry { node, end: 0, parent, members: 0..0, escaped_key });
        let first = self.open.len();
        match *self.bytes.get(start)? {
            b'{' => {
                self.at += 1;
                if !self.eat(b'}') {
                    loop {
                        self.space();
                        let key = self.string()?;
                        if !self.eat(b':') {
                            return None;
                        }
                        self.open.push(self.spans.entries.len() as u32);
                        self.value(id, Some(key), depth + 1)?;
                        if self.eat(b'}') {
                            break;
                        }
                        if !self.eat(b',') {
                            return None;
                        }
                    }
                }
                let spans = &self.spans;
                // Stable: of equal keys the last written stays last.
                self.open[first..].sort_by(|&a, &b| spans.compare_key(a, &spans.key(NodeId(b)).unwrap_or_default()));
            }
            b'[' => {
                self.at += 1;
                if !self.eat(b']') {
                    loop {
                        self.open.push(self.spans.entries.len() as u32);
                        self.value(id, None, depth + 1)?;
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
                let len = self.bytes[start..]
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.'))
                    .count();
                if len == 0 {
                    return None;
                }
                self.at += len;
            }
        }
        let members = self.spans.members.len() as u32;
        self.spans.members.extend(self.open.drain(first..));
        let (end, members_end) = (self.spans.entries.len() as u32, self.spans.members.len() as u32);
        let entry = &mut self.spans.entries[slot];
        entry.node.value = start..self.at;
        entry.end = end;
        entry.members = members..members_end;
        Some(())
    }

    /// A string literal at the cursor: its range, quotes included, and
    /// whether it has an escape.
    fn string(&mut self) -> Option<(Range<usize>, bool)> {
        let start = self.at;
        if self.bytes.get(start) != Some(&b'"') {
            return None;
        }
        let (mut i, mut escaped) = (start + 1, false);
        loop {
            match *self.bytes.get(i)? {
                b'"' => break,
                b'\\' => (i, escaped) = (i + 2, true),
                _ => i += 1,
            }
        }
        self.at = i + 1;
        Some((start..self.at, escaped))
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
        assert_eq!(spans.nodes().filter(|(p, _)| p == "/a").count(), 2, "every written value stays in document order");
        assert!(spans.get("/a/").is_none() && spans.get("/0").is_none());
        let b = spans.member(spans.root(), "b").unwrap();
        let members: Vec<String> = spans.children(spans.root()).map(|m| spans.key(m).unwrap().into_owned()).collect();
        assert_eq!(members, ["a", "b", "a", "a/"], "members in document order");
        assert_eq!(spans.parent(spans.member(b, "a").unwrap()), Some(b));
        assert_eq!(spans.parent(spans.root()), None);
    }

    #[test]
    fn arrays_are_indexed_by_canonical_decimals_and_scalars_have_no_members() {
        let text = r#"{"list": [10, 11, 12], "0": "zero", "n": 5}"#;
        let spans = JsonSpans::new(text).unwrap();
        assert_eq!(spans.text_of(spans.get("/list/2").unwrap()), "12");
        assert_eq!(spans.text_of(spans.get("/0").unwrap()), "\"zero\"", "an object's member named 0");
        for missing in ["/list/3", "/list/01", "/list/+1", "/list/", "/list/-", "/n/0", "/n/x", "list", "/list/0/x"] {
            assert!(spans.get(missing).is_none(), "{missing}");
        }
        let list = spans.find("/list").unwrap();
        assert_eq!(spans.element(list, 1), spans.find("/list/1"));
        assert_eq!(spans.member(list, "0"), None, "an array has elements, not members");
        assert_eq!(spans.children(list).count(), 3);
    }

    #[test]
    fn every_pointer_written_finds_its_own_value() {
        let text = r#"{"a": {"z": [1, {"y~/": null}], "b": 2}, "": {"": []}, "e\u0073c": [[], {}], "a": {"c": 3}}"#;
        let spans = JsonSpans::new(text).unwrap();
        let nodes: Vec<(String, Range<usize>)> = spans.nodes().map(|(p, n)| (p, n.value.clone())).collect();
        assert_eq!(nodes.len(), spans.ids().count());
        let pointers: Vec<&str> = nodes.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "",
                "/a",
                "/a/z",
                "/a/z/0",
                "/a/z/1",
                "/a/z/1/y~0~1",
                "/a/b",
                "/",
                "//",
                "/esc",
                "/esc/0",
                "/esc/1",
                "/a",
                "/a/c"
            ]
        );
        // The first `/a` and its members are shadowed by the second `/a`.
        for (pointer, value) in nodes.iter().filter(|(p, _)| !p.starts_with("/a")).chain(&nodes[12..]) {
            assert_eq!(&spans.get(pointer).unwrap().value, value, "{pointer}");
        }
        assert_eq!(spans.text_of(spans.get("/a").unwrap()), r#"{"c": 3}"#);
        assert!(spans.get("/a/b").is_none(), "serde_json keeps the last `a`");
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
        let strings: Vec<(String, String)> = spans.strings().map(|(p, _, s)| (p, s)).collect();
        assert_eq!(strings, [("/name".into(), "Order".into()), ("/escaped".into(), "v\"w".into())]);
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
