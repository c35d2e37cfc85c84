//! A reader for plain KDL: the subset nearly every spec file is written in,
//! read in one pass over the bytes straight into the AST.
//!
//! Plain KDL is nodes named by a bare identifier or a quoted string;
//! arguments and properties whose values are quoted single-line strings
//! (with the simple escapes), identifiers, decimal numbers and `#true`,
//! `#false`, `#null`; `{ }` blocks; `;` and newlines; spaces, tabs and `//`
//! comments. A text that steps outside it anywhere (a slashdash, a type
//! annotation, a raw or multi-line string, a block comment, a line
//! continuation, a hexadecimal number, Unicode whitespace, and every syntax
//! error) gets `None`, and the general reader reads the whole file instead,
//! so what this reader accepts it reads exactly as the general one does:
//! the same nodes, values and spans (differential tests below and in
//! `tests/it/kdl_suite.rs`; the fuzzer's front-end target asserts it on every
//! input). It exists for speed: the general reader costs ~40 ns per byte,
//! this one a few.

use super::ast::{Entry, Node, Value};
use crate::base::{FileId, Span};

/// The nodes of `text`, or `None` when it is not plain KDL.
pub(super) fn read(file: FileId, text: &str) -> Option<Vec<Node>> {
    let mut reader = Reader { text, bytes: text.as_bytes(), at: 0, file };
    let mut open: Vec<Node> = Vec::new();
    let mut top = Vec::new();
    loop {
        reader.skip_lines()?;
        match reader.peek() {
            None if open.is_empty() => return Some(top),
            None => return None,
            Some(b'}') => {
                let mut node = open.pop()?;
                node.span = node.span.to(reader.span(reader.at..reader.at + 1));
                reader.at += 1;
                attach(&mut open, &mut top, node);
                // A block ends its node: only a terminator may follow.
                reader.skip_spaces();
                if reader.peek() == Some(b';') {
                    reader.at += 1;
                } else if !reader.at_node_end() {
                    return None;
                }
            }
            Some(_) => {
                if open.len() >= super::MAX_NESTING {
                    return None;
                }
                let (mut node, block) = reader.node()?;
                if block {
                    reader.at += 1;
                    node.children = Some(Vec::new());
                    open.push(node);
                } else {
                    attach(&mut open, &mut top, node);
                }
            }
        }
    }
}

/// Adds a finished node to its parent's block, or to the document.
fn attach(open: &mut [Node], top: &mut Vec<Node>, node: Node) {
    match open.last_mut() {
        Some(parent) => parent.children.get_or_insert_with(Vec::new).push(node),
        None => top.push(node),
    }
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    file: FileId,
}

/// What a token read: a string (quoted or bare) or another value.
enum Token {
    String(String),
    Other(Value),
}

impl Token {
    fn into_value(self) -> Value {
        match self {
            Token::String(text) => Value::String(text),
            Token::Other(value) => value,
        }
    }
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn span(&self, range: std::ops::Range<usize>) -> Span {
        Span::new(self.file, range)
    }

    fn skip_spaces(&mut self) -> bool {
        let start = self.at;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.at += 1;
        }
        self.at > start
    }

    fn at_line_comment(&self) -> bool {
        self.bytes[self.at..].starts_with(b"//")
    }

    /// Whether a node ends here without a `;`: at a newline, a comment, a
    /// `}` or the end of the text.
    fn at_node_end(&self) -> bool {
        match self.peek() {
            None | Some(b'}') => true,
            Some(byte) => is_newline(byte) || self.at_line_comment(),
        }
    }

    /// Spaces, newlines and `//` comments between nodes.
    fn skip_lines(&mut self) -> Option<()> {
        loop {
            match self.peek() {
                Some(byte) if matches!(byte, b' ' | b'\t') || is_newline(byte) => self.at += 1,
                _ if self.at_line_comment() => self.line_comment()?,
                _ => return Some(()),
            }
        }
    }

    /// A `//` comment through the newline that ends it.
    fn line_comment(&mut self) -> Option<()> {
        self.at += 2;
        while let Some(byte) = self.peek() {
            match byte {
                byte if is_newline(byte) => return Some(()),
                0x00..=0x08 | 0x0E..=0x1F | 0x7F => return None,
                0x80.. => self.at += plain_char(self.text, self.at)?,
                _ => self.at += 1,
            }
        }
        Some(())
    }

    /// A node's name and entries, up to its block's `{` (not consumed; then
    /// `true`), its terminator (`;`, consumed) or whatever else ends it (a
    /// newline, a comment, a `}`, the end of the text).
    fn node(&mut self) -> Option<(Node, bool)> {
        let start = self.at;
        let Token::String(name) = self.token()? else { return None };
        let name_span = self.span(start..self.at);
        let mut node =
            Node { name, name_span, type_annotation: None, entries: Vec::new(), children: None, span: name_span };
        loop {
            let spaced = self.skip_spaces();
            match self.peek() {
                Some(b'{') => return Some((node, true)),
                Some(b';') => {
                    self.at += 1;
                    return Some((node, false));
                }
                _ if self.at_node_end() => return Some((node, false)),
                _ if !spaced => return None,
                _ => {
                    let entry = self.entry()?;
                    node.span = node.span.to(entry.span);
                    node.entries.push(entry);
                }
            }
        }
    }

    /// An argument, or a property `key=value` (spaces allowed around `=`).
    fn entry(&mut self) -> Option<Entry> {
        let start = self.at;
        let first = self.token()?;
        let value_end = self.at;
        self.skip_spaces();
        let (name, value) = match (first, self.peek()) {
            (Token::String(key), Some(b'=')) => {
                self.at += 1;
                self.skip_spaces();
                (Some(key), self.token()?.into_value())
            }
            (_, Some(b'=')) => return None,
            (first, _) => {
                // The spaces after an argument belong to the next entry.
                self.at = value_end;
                (None, first.into_value())
            }
        };
        Some(Entry { name, type_annotation: None, value, span: self.span(start..self.at) })
    }

    /// One string, identifier, number or keyword, and a check that what
    /// follows it may follow a token.
    fn token(&mut self) -> Option<Token> {
        let token = match self.peek()? {
            b'"' => Token::String(self.quoted()?),
            b'#' => Token::Other(self.keyword()?),
            b'0'..=b'9' => Token::Other(self.number()?),
            b'+' | b'-' if self.bytes.get(self.at + 1).is_some_and(u8::is_ascii_digit) => Token::Other(self.number()?),
            b'A'..=b'Z' | b'a'..=b'z' | b'_' => Token::String(self.identifier()?),
            _ => return None,
        };
        match self.peek() {
            None => Some(token),
            Some(byte) if matches!(byte, b' ' | b'\t' | b';' | b'{' | b'}' | b'=') || is_newline(byte) => Some(token),
            // A number reads on through `/`: `1//c` is not a number and a comment.
            Some(b'/') if self.at_line_comment() && matches!(token, Token::String(_)) => Some(token),
            Some(_) => None,
        }
    }

    /// `"..."`, one line, with the escapes `\" \\ \b \f \n \r \t \s`.
    fn quoted(&mut self) -> Option<String> {
        if self.bytes.get(self.at..self.at + 3) == Some(b"\"\"\"") {
            return None;
        }
        self.at += 1;
        let start = self.at;
        let mut escaped: Option<String> = None;
        let mut run = start;
        loop {
            match self.peek()? {
                b'"' => {
                    let text = match escaped {
                        Some(mut text) => {
                            text.push_str(&self.text[run..self.at]);
                            text
                        }
                        None => self.text[start..self.at].to_string(),
                    };
                    self.at += 1;
                    return Some(text);
                }
                b'\\' => {
                    let unescaped = match self.bytes.get(self.at + 1)? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'b' => '\x08',
                        b'f' => '\x0C',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b's' => ' ',
                        _ => return None,
                    };
                    let text = escaped.get_or_insert_with(String::new);
                    text.push_str(&self.text[run..self.at]);
                    text.push(unescaped);
                    self.at += 2;
                    run = self.at;
                }
                0x00..=0x08 | 0x0A..=0x1F | 0x7F => return None,
                0x80.. => self.at += plain_char(self.text, self.at)?,
                _ => self.at += 1,
            }
        }
    }

    /// A bare identifier of ASCII characters, not a keyword's name.
    fn identifier(&mut self) -> Option<String> {
        let start = self.at;
        while let Some(byte) = self.peek() {
            if !byte.is_ascii_graphic() || b"/\\(){}[];\"#=".contains(&byte) {
                break;
            }
            self.at += 1;
        }
        let text = &self.text[start..self.at];
        if matches!(text, "true" | "false" | "null" | "inf" | "nan") {
            return None;
        }
        Some(text.to_string())
    }

    /// `#true`, `#false`, `#null`.
    fn keyword(&mut self) -> Option<Value> {
        let rest = &self.bytes[self.at..];
        let (value, len) = if rest.starts_with(b"#true") {
            (Value::Bool(true), 5)
        } else if rest.starts_with(b"#false") {
            (Value::Bool(false), 6)
        } else if rest.starts_with(b"#null") {
            (Value::Null, 5)
        } else {
            return None;
        };
        self.at += len;
        Some(value)
    }

    /// A decimal number: `[+-]digits(.digits)?([eE][+-]?digits)?`, no
    /// underscores, no leading zero before another digit. With a fraction or
    /// an exponent a float, else an integer; one past `i128` is left to the
    /// general reader.
    fn number(&mut self) -> Option<Value> {
        let start = self.at;
        if matches!(self.peek(), Some(b'+' | b'-')) {
            self.at += 1;
        }
        let integer = self.digits()?;
        if integer > 1 && self.bytes[self.at - integer] == b'0' {
            return None;
        }
        let mut float = false;
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.digits()?;
            float = true;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            self.digits()?;
            float = true;
        }
        // The general reader reads a number on through these: `8080ms` is not a number.
        if self.peek().is_some_and(|b| matches!(b, b'+'..=b'9' | b'A'..=b'Z' | b'_' | b'a'..=b'z')) {
            return None;
        }
        let text = &self.text[start..self.at];
        if float {
            text.parse().ok().map(Value::Float)
        } else {
            text.parse().ok().map(Value::Integer)
        }
    }

    /// One or more ASCII digits: how many.
    fn digits(&mut self) -> Option<usize> {
        let start = self.at;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
        (self.at > start).then_some(self.at - start)
    }
}

/// KDL's ASCII newlines (its others are not plain).
fn is_newline(byte: u8) -> bool {
    matches!(byte, b'\n' | b'\r' | 0x0B | 0x0C)
}

/// The length of the non-ASCII character at `at` when KDL reads it as a
/// plain character; `None` for its newlines, spaces and disallowed
/// characters (U+0085, U+00A0, U+1680, U+2000–U+200F, U+2028–U+202F,
/// U+205F, U+2066–U+2069, U+3000, U+FEFF), which only the general reader
/// handles.
fn plain_char(text: &str, at: usize) -> Option<usize> {
    let c = text.get(at..)?.chars().next()?;
    let special = matches!(
        c,
        '\u{85}'
            | '\u{A0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200F}'
            | '\u{2028}'..='\u{202F}'
            | '\u{205F}'
            | '\u{2066}'..='\u{2069}'
            | '\u{3000}'
            | '\u{FEFF}'
    );
    (!special).then(|| c.len_utf8())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both readers on `text`: the plain reader's nodes when it reads it (and
    /// then they must be the general reader's, with no diagnostic).
    fn both(text: &str) -> Option<Vec<Node>> {
        let plain = read(FileId(0), text);
        if let Some(nodes) = &plain {
            let (general, diagnostics) = super::super::parse_general(FileId(0), text);
            assert!(diagnostics.is_empty(), "the plain reader read {text:?}, which has errors: {diagnostics:?}");
            assert_eq!(nodes, &general.nodes, "the readers differ on {text:?}");
        }
        plain
    }

    #[test]
    fn plain_documents_read_as_the_general_reader_reads_them() {
        let texts = [
            "",
            "a",
            "a\n",
            "service \"orders\" {\n    owner \"team\"\n    address \"o.svc\" port=8080\n}\n",
            "a 1 -2 +3 1.5 -0.25 1e3 2.5E-2 #true #false #null\n",
            "a k=1 \"q k\"=\"v\" k = v bare-value x=#null\n",
            "a \"esc \\\" \\\\ \\n \\t \\s \\b \\f \\r\"\n",
            "a \"héllo → 世界\" // comment with ünïcode\n",
            "a{b{c}}\n",
            "a { b; c } ; d {}\n",
            "a {\n} // after\n\n// only a comment\n",
            "a; b; c\r\n\r\nd\n",
            "a {}\n",
            "a \"x\"{ }\n",
            "a 8080{ }\n",
            "a x// c\n",
            "\"quoted name\" 1\n",
            "a\t1\t\"two\"\n",
            "a.b:c-d_e+f 1\n",
            "a 0 -0 +0 0.0\n",
            "a 170141183460469231731687303715884105727 -170141183460469231731687303715884105728\n",
        ];
        for text in texts {
            assert!(both(text).is_some(), "the plain reader did not read {text:?}");
        }
        assert_eq!(both("a 1 2").unwrap()[0].entries.len(), 2);
    }

    #[test]
    fn what_is_not_plain_kdl_is_left_to_the_general_reader() {
        let texts = [
            "/-a\n",
            "a /-1\n",
            "(t)a\n",
            "a (t)1\n",
            "a #\"raw\"#\n",
            "a \"\"\"\n  multi\n  \"\"\"\n",
            "a /* block */ 1\n",
            "a \\\n  1\n",
            "a 0x10\n",
            "a 1_000\n",
            "a 007\n",
            "a 1.\n",
            "a .5\n",
            "a 170141183460469231731687303715884105728\n",
            "a;{ }\n",
            "a #inf\n",
            "a \"\\u{41}\"\n",
            "a\u{A0}1\n",
            "\u{FEFF}a\n",
            "a\u{2028}b\n",
            "a \"\u{200E}\"\n",
            "a true\n",
            "a 8080ms\n",
            "a 1//c\n",
            "a {\n",
            "}\n",
            "a {} b\n",
            "a\"b\"\n",
            "a 1=2\n",
            "a k=\n",
            "; a\n",
            "a \"unterminated\n",
            "a \"vertical\u{0B}tab\"\n",
            "a \"nul\u{0}\"\n",
            "a [1]\n",
            "-a 1\n",
        ];
        for text in texts {
            assert!(both(text).is_none(), "the plain reader read {text:?}");
        }
    }

    #[test]
    fn nesting_past_the_limit_is_left_to_the_general_reader() {
        let deep = |levels: usize| format!("{}{}", "a {".repeat(levels), "}".repeat(levels));
        assert!(both(&deep(super::super::MAX_NESTING)).is_some());
        assert!(both(&deep(super::super::MAX_NESTING + 1)).is_none());
    }

    /// Random documents: nodes with arguments, properties and blocks, some
    /// then changed at a random place by a piece of plain or other KDL (or
    /// of a syntax error). Whatever the plain reader reads, the general
    /// reader reads the same, and the plain reader reads most of them.
    #[test]
    fn generated_documents_read_alike() {
        const NAMES: &[&str] = &["a", "node-x", "k.b:c", "\"q n\"", "\"\"", "_", "Z9"];
        const VALUES: &[&str] = &[
            "1",
            "-2",
            "+3",
            "0",
            "1.5",
            "-0.25",
            "1e9",
            "2.5E-3",
            "#true",
            "#false",
            "#null",
            "\"s\"",
            "\"é → ✓\"",
            "\"e\\n\\\"\\s\"",
            "bare",
            "x-1.5",
        ];
        const GAPS: &[&str] = &[" ", "\t", "  "];
        const ENDS: &[&str] = &["\n", ";", "\r\n", " // note\n", "\n\n", "; "];
        const CHANGES: &[&str] = &[
            "/-",
            "(t)",
            "#\"r\"#",
            "/* b */",
            "\\\n",
            "0x1F",
            "1_0",
            "#inf",
            "true",
            "=",
            "{",
            "}",
            ";",
            "\n",
            " ",
            "\"",
            "\"\"\"\n  m\n  \"\"\"",
            "\u{A0}",
            "é",
            "//",
            "/",
            "8080ms",
            "007",
            ".5",
            "1.",
            "-",
            "[",
            "\\",
        ];
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % bound as u64) as usize
        };
        let mut read_plain = 0;
        for _ in 0..20_000 {
            let mut text = String::new();
            let mut depth = 0;
            for _ in 0..1 + next(12) {
                text.push_str(NAMES[next(NAMES.len())]);
                for _ in 0..next(4) {
                    text.push_str(GAPS[next(GAPS.len())]);
                    if next(3) == 0 {
                        text.push_str(NAMES[next(NAMES.len())]);
                        text.push_str(["=", " = "][next(2)]);
                    }
                    text.push_str(VALUES[next(VALUES.len())]);
                }
                match next(4) {
                    0 if depth < 3 => {
                        text.push_str(" {\n");
                        depth += 1;
                    }
                    1 if depth > 0 => {
                        text.push_str("\n}\n");
                        depth -= 1;
                    }
                    _ => text.push_str(ENDS[next(ENDS.len())]),
                }
            }
            text.push_str(&"}\n".repeat(depth));
            if next(2) == 0 {
                let at = (0..=next(text.len() + 1)).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
                let to = (at..=(at + next(3)).min(text.len())).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(at);
                text.replace_range(at..to, CHANGES[next(CHANGES.len())]);
            }
            read_plain += usize::from(both(&text).is_some());
        }
        assert!(read_plain > 10_000, "the plain reader read only {read_plain} of 20,000 documents");
    }
}
