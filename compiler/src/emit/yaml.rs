//! A YAML writer for artifacts: serde values straight to block-style YAML
//! bytes, the same bytes `serde_yaml_ng` writes (its libyaml emitter, with
//! unlimited width and Unicode on), without the event machinery in between.
//! Serialising the Envoy, Istio and Kubernetes documents through libyaml was
//! most of what emitting them cost.
//!
//! It writes what artifacts hold: mappings, sequences, numbers, booleans
//! and strings that are plain or single-quoted. Anything else (a string
//! that libyaml would double-quote or write as a literal block, a key over
//! 128 bytes, enum variants that become YAML tags) makes it give up with
//! [`Unsupported`], and [`to_string`] writes that document with
//! `serde_yaml_ng` instead: the bytes never differ, only the speed.

use std::fmt::{self, Display};

use serde::ser::{self, Serialize};

/// A document the fast path does not write.
#[derive(Debug)]
pub(crate) struct Unsupported;

impl Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not written by the fast YAML path")
    }
}

impl std::error::Error for Unsupported {}

impl ser::Error for Unsupported {
    fn custom<T: Display>(_: T) -> Self {
        Unsupported
    }
}

/// Appends `document` to `out` as YAML, exactly as `serde_yaml_ng::to_writer` would.
pub(crate) fn write(out: &mut Vec<u8>, document: &impl Serialize) {
    let start = out.len();
    let mut writer = Writer { out, frames: Vec::new(), at: At::Top };
    if document.serialize(&mut writer).is_err() {
        out.truncate(start);
        serde_yaml_ng::to_writer(out, document).expect("documents serialize to YAML");
    }
}

/// [`write`] into a new string.
pub(crate) fn to_string(document: &impl Serialize) -> String {
    let mut out = Vec::with_capacity(1024);
    write(&mut out, document);
    String::from_utf8(out).expect("YAML is UTF-8")
}

/// Where the next value goes.
#[derive(Clone, Copy)]
enum At {
    /// The document's root: nothing written yet.
    Top,
    /// After `key:` of a mapping entry at this indent.
    Key(usize),
    /// After `- ` of a sequence item at this indent.
    Dash(usize),
}

/// A mapping or sequence being written.
struct Frame {
    /// Where it started, which decides how its first entry and its emptiness are written.
    at: At,
    /// The indent of its entries (keys, or dashes).
    indent: usize,
    entries: usize,
}

struct Writer<'o> {
    out: &'o mut Vec<u8>,
    frames: Vec<Frame>,
    at: At,
}

type Result<T = ()> = std::result::Result<T, Unsupported>;

impl Writer<'_> {
    fn scalar(&mut self, text: &str) {
        if let At::Key(_) = self.at {
            self.out.push(b' ');
        }
        self.out.extend_from_slice(text.as_bytes());
        self.out.push(b'\n');
    }

    fn string(&mut self, value: &str) -> Result {
        match style(value)? {
            Style::Plain => self.scalar(value),
            Style::SingleQuoted => {
                if let At::Key(_) = self.at {
                    self.out.push(b' ');
                }
                single_quoted(self.out, value);
                self.out.push(b'\n');
            }
        }
        Ok(())
    }

    fn open(&mut self, sequence: bool) {
        let indent = match self.at {
            At::Top => 0,
            // Sequences in mappings are indentless, as libyaml writes them.
            At::Key(indent) if sequence => indent,
            At::Key(indent) | At::Dash(indent) => indent + 2,
        };
        self.frames.push(Frame { at: self.at, indent, entries: 0 });
    }

    /// Starts the next entry of the innermost container: its line break
    /// and indentation, unless it continues the line its container began on.
    fn entry(&mut self) {
        let frame = self.frames.last_mut().expect("an open container");
        let inline = frame.entries == 0 && !matches!(frame.at, At::Key(_));
        if frame.entries == 0 {
            if let At::Key(_) = frame.at {
                self.out.push(b'\n');
            }
        }
        if !inline {
            self.out.resize(self.out.len() + frame.indent, b' ');
        }
        frame.entries += 1;
    }

    fn close(&mut self, empty: &str) {
        let frame = self.frames.pop().expect("an open container");
        if frame.entries == 0 {
            self.at = frame.at;
            self.scalar(empty);
        }
    }

    fn key(&mut self, key: &str) -> Result {
        // libyaml writes a longer or multi-line key as a complex key (`? `).
        if key.len() > 128 {
            return Err(Unsupported);
        }
        self.entry();
        match style(key)? {
            Style::Plain => self.out.extend_from_slice(key.as_bytes()),
            Style::SingleQuoted => single_quoted(self.out, key),
        }
        self.out.push(b':');
        self.at = At::Key(self.frames.last().expect("a mapping").indent);
        Ok(())
    }

    fn item(&mut self) {
        self.entry();
        self.out.extend_from_slice(b"- ");
        self.at = At::Dash(self.frames.last().expect("a sequence").indent);
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Style {
    Plain,
    SingleQuoted,
}

/// How libyaml (as serde_yaml_ng drives it) writes a string in block
/// context, for the strings the fast path writes.
fn style(value: &str) -> Result<Style> {
    match value.is_ascii() {
        true => ascii_style(value),
        false => chars_style(value),
    }
}

fn chars_style(value: &str) -> Result<Style> {
    let mut chars = value.chars().peekable();
    let mut first = true;
    let mut previous_blank = true;
    let mut plain = !value.starts_with("---") && !value.starts_with("...");
    while let Some(c) = chars.next() {
        // Breaks, tabs, control and non-BMP characters: libyaml quotes them
        // with escapes or as a literal block, which the fast path leaves to it.
        let printable = matches!(c, ' '..='~' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}') && c != '\u{FEFF}';
        if !printable || matches!(c, '\u{2028}' | '\u{2029}') {
            return Err(Unsupported);
        }
        let next_blank = chars.peek().is_none_or(|n| matches!(n, ' ' | '\t' | '\r' | '\n'));
        let indicator = if first {
            matches!(c, '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@' | '`')
                || (matches!(c, '?' | ':' | '-') && next_blank)
        } else {
            (c == ':' && next_blank) || (c == '#' && previous_blank)
        };
        if indicator {
            plain = false;
        }
        previous_blank = c == ' ';
        first = false;
    }
    if value.starts_with(' ') || value.ends_with(' ') {
        plain = false;
    }
    if !plain || resolves_to_non_string(value) {
        Ok(Style::SingleQuoted)
    } else {
        Ok(Style::Plain)
    }
}

/// [`style`] of an ASCII string, byte by byte (the sidecars' inlined
/// descriptor sets are long base64 strings: decoding them as chars was
/// the largest single cost of writing YAML).
fn ascii_style(text: &str) -> Result<Style> {
    let value = text.as_bytes();
    let blank = |at: usize| value.get(at).is_none_or(|n| matches!(n, b' ' | b'\t' | b'\r' | b'\n'));
    let mut plain = !value.starts_with(b"---") && !value.starts_with(b"...");
    // After the first byte only `:`, `#` and unprintable bytes matter: skip
    // to the first of them (most strings, names and base64, hold none).
    let next = value.iter().skip(1).position(|&c| !ORDINARY[usize::from(c)]).map_or(value.len(), |at| at + 1);
    for (at, &c) in value.iter().enumerate().take(1).chain(value.iter().enumerate().skip(next)) {
        if !(b' '..=b'~').contains(&c) {
            return Err(Unsupported);
        }
        let indicator = match (at, c) {
            (0, b'#' | b',' | b'[' | b']' | b'{' | b'}' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\'' | b'"' | b'%')
            | (0, b'@' | b'`') => true,
            (0, b'?' | b':' | b'-') => blank(at + 1),
            (_, b':') => blank(at + 1),
            (_, b'#') => value[at - 1] == b' ',
            _ => false,
        };
        plain &= !indicator;
    }
    if value.starts_with(b" ") || value.ends_with(b" ") {
        plain = false;
    }
    if !plain || resolves_to_non_string(text) {
        Ok(Style::SingleQuoted)
    } else {
        Ok(Style::Plain)
    }
}

/// The bytes that never change a string's style past its first byte:
/// printable ASCII but `:` and `#`.
const ORDINARY: [bool; 256] = {
    let mut ordinary = [false; 256];
    let mut c = b' ';
    while c <= b'~' {
        ordinary[c as usize] = c != b':' && c != b'#';
        c += 1;
    }
    ordinary
};

fn single_quoted(out: &mut Vec<u8>, value: &str) {
    out.push(b'\'');
    for part in value.split_inclusive('\'') {
        out.extend_from_slice(part.as_bytes());
        if part.ends_with('\'') {
            out.push(b'\'');
        }
    }
    out.push(b'\'');
}

/// Whether a plain scalar `value` would read back as something other than
/// a string (null, a boolean, a number), or is a digit string YAML 1.2
/// keeps apart from numbers: serde_yaml_ng quotes those.
fn resolves_to_non_string(value: &str) -> bool {
    matches!(value, "" | "~" | "null" | "Null" | "NULL" | "true" | "True" | "TRUE" | "false" | "False" | "FALSE")
        || digits_but_not_number(value)
        || (value.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '+' | '-' | '.'))
            && (unsigned_int(value) || negative_int(value) || float(value)))
}

/// A leading zero followed by digits only (after a sign).
fn digits_but_not_number(value: &str) -> bool {
    let digits = value.strip_prefix(['-', '+']).unwrap_or(value);
    digits.len() > 1 && digits.starts_with('0') && digits[1..].bytes().all(|b| b.is_ascii_digit())
}

fn radix_int(digits: &str, radix: u32) -> bool {
    !digits.starts_with(['+', '-']) && u128::from_str_radix(digits, radix).is_ok()
}

/// `+`? then `0x`/`0o`/`0b` digits or decimal digits, within u128.
fn unsigned_int(value: &str) -> bool {
    let unsigned = value.strip_prefix('+').unwrap_or(value);
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(digits) = unsigned.strip_prefix(prefix) {
            if digits.starts_with(['+', '-']) {
                return false;
            }
            if radix_int(digits, radix) {
                return true;
            }
        }
    }
    !unsigned.starts_with(['+', '-']) && !digits_but_not_number(value) && unsigned.parse::<u128>().is_ok()
}

/// `-0x`/`-0o`/`-0b` digits or a negative decimal, within i128.
fn negative_int(value: &str) -> bool {
    for (prefix, radix) in [("-0x", 16), ("-0o", 8), ("-0b", 2)] {
        if let Some(digits) = value.strip_prefix(prefix) {
            if i128::from_str_radix(&format!("-{digits}"), radix).is_ok() {
                return true;
            }
        }
    }
    !digits_but_not_number(value) && value.parse::<i128>().is_ok()
}

fn float(value: &str) -> bool {
    let unsigned = match value.strip_prefix('+') {
        Some(rest) if rest.starts_with(['+', '-']) => return false,
        Some(rest) => rest,
        None => value,
    };
    matches!(unsigned, ".inf" | ".Inf" | ".INF")
        || matches!(value, "-.inf" | "-.Inf" | "-.INF" | ".nan" | ".NaN" | ".NAN")
        || unsigned.parse::<f64>().is_ok_and(f64::is_finite)
}

impl ser::Serializer for &mut Writer<'_> {
    type Ok = ();
    type Error = Unsupported;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = ser::Impossible<(), Unsupported>;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = ser::Impossible<(), Unsupported>;

    fn serialize_bool(self, v: bool) -> Result {
        self.scalar(if v { "true" } else { "false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result {
        self.scalar(itoa::Buffer::new().format(v));
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result {
        self.scalar(itoa::Buffer::new().format(v));
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result {
        self.scalar(itoa::Buffer::new().format(v));
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result {
        self.scalar(itoa::Buffer::new().format(v));
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result {
        match v.classify() {
            std::num::FpCategory::Infinite | std::num::FpCategory::Nan => Err(Unsupported),
            _ => {
                self.scalar(ryu::Buffer::new().format_finite(v));
                Ok(())
            }
        }
    }
    fn serialize_f64(self, v: f64) -> Result {
        match v.classify() {
            std::num::FpCategory::Infinite | std::num::FpCategory::Nan => Err(Unsupported),
            _ => {
                self.scalar(ryu::Buffer::new().format_finite(v));
                Ok(())
            }
        }
    }
    fn serialize_char(self, _: char) -> Result {
        Err(Unsupported)
    }
    fn serialize_str(self, v: &str) -> Result {
        self.string(v)
    }
    fn serialize_bytes(self, _: &[u8]) -> Result {
        Err(Unsupported)
    }
    fn serialize_none(self) -> Result {
        self.serialize_unit()
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result {
        self.scalar("null");
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result {
        self.serialize_unit()
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result {
        self.string(variant)
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _: &'static str, value: &T) -> Result {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result {
        Err(Unsupported) // a YAML tag
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self> {
        self.open(true);
        Ok(self)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self> {
        self.serialize_seq(None)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self> {
        self.serialize_seq(None)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Err(Unsupported)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self> {
        self.open(false);
        Ok(self)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self> {
        self.serialize_map(None)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Err(Unsupported)
    }
    fn collect_str<T: ?Sized + Display>(self, value: &T) -> Result {
        // serde_yaml_ng reads a `!`-prefixed Display key of a one-entry map as a tag.
        let text = value.to_string();
        if text.starts_with('!') {
            return Err(Unsupported);
        }
        self.string(&text)
    }
}

impl ser::SerializeSeq for &mut Writer<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        self.item();
        value.serialize(&mut **self)
    }
    fn end(self) -> Result {
        self.close("[]");
        Ok(())
    }
}

impl ser::SerializeTuple for &mut Writer<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for &mut Writer<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeMap for &mut Writer<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result {
        let key = key.serialize(KeyText)?;
        self.key(&key)
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result {
        self.close("{}");
        Ok(())
    }
}

impl ser::SerializeStruct for &mut Writer<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result {
        self.key(key)?;
        value.serialize(&mut **self)
    }
    fn end(self) -> Result {
        self.close("{}");
        Ok(())
    }
}

/// A mapping key as text: strings only, as artifacts' keys are (numbers
/// and others are left to serde_yaml_ng).
struct KeyText;

impl ser::Serializer for KeyText {
    type Ok = String;
    type Error = Unsupported;
    type SerializeSeq = ser::Impossible<String, Unsupported>;
    type SerializeTuple = ser::Impossible<String, Unsupported>;
    type SerializeTupleStruct = ser::Impossible<String, Unsupported>;
    type SerializeTupleVariant = ser::Impossible<String, Unsupported>;
    type SerializeMap = ser::Impossible<String, Unsupported>;
    type SerializeStruct = ser::Impossible<String, Unsupported>;
    type SerializeStructVariant = ser::Impossible<String, Unsupported>;

    fn serialize_str(self, v: &str) -> Result<String> {
        Ok(v.to_string())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<String> {
        Ok(variant.to_string())
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _: &'static str, value: &T) -> Result<String> {
        value.serialize(self)
    }
    fn serialize_bool(self, _: bool) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_i8(self, _: i8) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_i16(self, _: i16) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_i32(self, _: i32) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_i64(self, _: i64) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_u8(self, _: u8) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_u16(self, _: u16) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_u32(self, _: u32) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_u64(self, _: u64) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_f32(self, _: f32) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_f64(self, _: f64) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_char(self, _: char) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_none(self) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_unit(self) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<String> {
        Err(Unsupported)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq> {
        Err(Unsupported)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple> {
        Err(Unsupported)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct> {
        Err(Unsupported)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Err(Unsupported)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap> {
        Err(Unsupported)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct> {
        Err(Unsupported)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Err(Unsupported)
    }
    fn collect_str<T: ?Sized + Display>(self, value: &T) -> Result<String> {
        let text = value.to_string();
        if text.starts_with('!') {
            return Err(Unsupported);
        }
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    /// The fast path's bytes, or `None` when it gives up.
    fn fast(value: &Value) -> Option<String> {
        let mut out = Vec::new();
        let mut writer = Writer { out: &mut out, frames: Vec::new(), at: At::Top };
        value.serialize(&mut writer).ok()?;
        Some(String::from_utf8(out).unwrap())
    }

    fn assert_same(value: &Value) {
        let reference = serde_yaml_ng::to_string(value).unwrap();
        if let Some(ours) = fast(value) {
            assert_eq!(ours, reference, "for {value}");
        }
        assert_eq!(to_string(value), reference, "for {value}");
    }

    const TRICKY: &[&str] = &[
        "",
        " ",
        "a",
        "a b",
        " a",
        "a ",
        "-",
        "- a",
        "-a",
        "a-",
        "--",
        "---",
        "---a",
        "...",
        "...a",
        "a...",
        "?",
        "? a",
        "?a",
        ":",
        ": a",
        ":a",
        "a:",
        "a: b",
        "a:b",
        "a :b",
        "#",
        "#a",
        "a#",
        "a #b",
        "a#b",
        ",",
        "a,b",
        "[a]",
        "a[b]",
        "{a}",
        "a}",
        "&a",
        "*a",
        "!a",
        "a!",
        "|",
        "|a",
        ">a",
        "'a",
        "a'b",
        "'",
        "''",
        "\"a",
        "a\"b",
        "%a",
        "@a",
        "`a",
        "~",
        "null",
        "Null",
        "NULL",
        "nULL",
        "true",
        "True",
        "TRUE",
        "tRUE",
        "false",
        "no",
        "yes",
        "on",
        "off",
        "y",
        "0",
        "00",
        "01",
        "-01",
        "+01",
        "0.1",
        "00.1",
        "1.",
        ".5",
        "+.5",
        "-.5",
        "1e5",
        "1E5",
        "1e",
        "e5",
        "1_000",
        "0x1F",
        "0x",
        "0xg",
        "0o17",
        "0o8",
        "0b101",
        "0b2",
        "-0x1F",
        "+0x1F",
        "0x-1",
        "+-1",
        "-+1",
        "++1",
        "--1",
        "-",
        "+",
        ".",
        "..",
        ".inf",
        ".Inf",
        ".INF",
        "-.inf",
        "+.inf",
        ".nan",
        ".NaN",
        "-.nan",
        "inf",
        "nan",
        "infinity",
        "-inf",
        "NaN",
        "1.0.0",
        "127.0.0.1",
        "10.0.0.1:8080",
        "2s",
        "0.250s",
        "15s",
        "1h",
        "99999999999999999999999999999999999999999",
        "340282366920938463463374607431768211456",
        "-170141183460469231731687303715884105729",
        "1:2",
        "12:30",
        "2026-12-05",
        "a\u{e9}",
        "\u{e9}",
        "\u{4e2d}\u{6587}",
        "\u{a0}",
        "a\u{a0}",
        "\u{ff}",
        "^[^/]+$",
        "/orders/{id}",
        "envoy.filters.http.router",
        "type.googleapis.com/envoy.config.route.v3.Route",
        "*",
        "*.example.com",
        "a*",
        "@",
        "x@y",
        "%",
        "100%",
        "=",
        "a=b",
        "<",
        "a<b",
        ">",
        "\\",
        "a\\b",
        "(",
        "a(b)",
        ")",
        "$",
        "$a",
        "{{a}}",
        "a b c",
        "a  b",
        "tab\there",
        "line\nbreak",
        "cr\rhere",
        "nel\u{85}",
        "ls\u{2028}",
        "bom\u{feff}",
        "\u{1F600}",
        "bell\u{7}",
        "del\u{7f}",
    ];

    #[test]
    fn strings_as_values_keys_and_items_are_written_as_serde_yaml_ng_writes_them() {
        // What the fast path leaves to serde_yaml_ng: double-quoted and literal-block strings.
        let left: Vec<&str> = TRICKY.iter().copied().filter(|s| fast(&json!({ "k": [s] })).is_none()).collect();
        assert_eq!(
            left,
            [
                "tab\there",
                "line\nbreak",
                "cr\rhere",
                "nel\u{85}",
                "ls\u{2028}",
                "bom\u{feff}",
                "\u{1F600}",
                "bell\u{7}",
                "del\u{7f}"
            ]
        );
        for s in TRICKY {
            assert_same(&json!(s));
            assert_same(&json!({ "k": s }));
            assert_same(&json!({ *s: "v" }));
            assert_same(&json!({ *s: { *s: [s] } }));
            assert_same(&json!([s, [s], { *s: s }]));
        }
    }

    #[test]
    fn layouts_are_written_as_serde_yaml_ng_writes_them() {
        for value in [
            json!(null),
            json!(1),
            json!(-1),
            json!(1.5),
            json!(1e300),
            json!(0.1),
            json!(true),
            json!({}),
            json!([]),
            json!({ "a": {}, "b": [], "c": [{}], "d": [[]], "e": [{ "f": [] }] }),
            json!([[1, 2], [[3]], [{ "a": 1, "b": [2, 3] }, { "c": { "d": [{ "e": null }] } }]]),
            json!({ "a": [{ "b": [{ "c": [[{ "d": 1 }]] }] }], "z": { "y": { "x": [1] } } }),
            json!({ "k": "x".repeat(128) }),
            json!({ "x".repeat(128): 1 }),
            json!({ "x".repeat(129): 1 }),
        ] {
            assert_same(&value);
        }
    }

    /// Random documents over the tricky strings (a fixed seed: the same run each time).
    #[test]
    fn ascii_strings_are_styled_as_the_char_by_char_rules_style_them() {
        const ALPHABET: &[u8] = b" a0.-:?#'@\t{!";
        let mut texts = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> =
                texts.iter().flat_map(|t| ALPHABET.iter().map(move |&c| format!("{t}{}", c as char))).collect();
            texts.extend(longer);
        }
        texts.extend(TRICKY.iter().filter(|t| t.is_ascii()).map(|t| t.to_string()));
        for text in &texts {
            let (fast, slow) = (ascii_style(text), chars_style(text));
            assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{text:?}");
        }
    }

    #[test]
    fn random_documents_are_written_as_serde_yaml_ng_writes_them() {
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        fn build(next: &mut impl FnMut(usize) -> usize, depth: usize) -> Value {
            match if depth > 4 { next(3) } else { next(6) } {
                0 => json!(TRICKY[next(TRICKY.len())]),
                1 => json!(next(1000) as i64 - 500),
                2 => json!(next(2) == 0),
                3 => Value::Array((0..next(4)).map(|_| build(next, depth + 1)).collect()),
                _ => Value::Object(
                    (0..next(4)).map(|_| (TRICKY[next(TRICKY.len())].to_string(), build(next, depth + 1))).collect(),
                ),
            }
        }
        for _ in 0..3000 {
            assert_same(&build(&mut next, 0));
        }
    }
}
