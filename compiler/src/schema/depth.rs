//! A bound on how deeply a schema file nests, checked on its raw text before
//! any parser sees it. The parsers meshc uses recurse once per level (and
//! some slow down with depth: libyaml spent 52 s on an OpenAPI document
//! 40,000 levels deep), so one linear scan refuses such files up front.

use crate::model::values::SchemaFormat;

/// Deepest nesting read in a schema file: serde_json's own limit, and far
/// beyond real schemas (a few dozen levels).
pub const MAX_SCHEMA_DEPTH: usize = 128;

/// The byte offset where the text first nests past [`MAX_SCHEMA_DEPTH`]:
/// brackets `{ [ (` outside strings and comments, plus, for YAML, block
/// levels by indentation and `- ` sequence entries.
pub(super) fn too_deep(text: &str, format: SchemaFormat) -> Option<usize> {
    let syntax = Syntax::of(format);
    let bytes = text.as_bytes();
    let mut flow = 0usize;
    // YAML: indentation of each open block level.
    let mut blocks: Vec<usize> = Vec::new();
    let mut at_line_start = true;
    let mut i = 0;
    while i < bytes.len() {
        if at_line_start && syntax.indented_blocks && flow == 0 {
            at_line_start = false;
            if let Some(next) = yaml_line_levels(bytes, i, &mut blocks) {
                if blocks.len() > MAX_SCHEMA_DEPTH {
                    return Some(next);
                }
                i = next;
                continue;
            }
        }
        match bytes[i] {
            b'\n' => at_line_start = true,
            b'{' | b'[' | b'(' => {
                flow += 1;
                if flow + blocks.len() > MAX_SCHEMA_DEPTH {
                    return Some(i);
                }
            }
            b'}' | b']' | b')' => flow = flow.saturating_sub(1),
            b'"' if syntax.block_strings && bytes[i..].starts_with(b"\"\"\"") => {
                i = skip_past(bytes, i + 3, b"\"\"\"");
                continue;
            }
            quote @ (b'"' | b'\'') if quote == b'"' || syntax.single_quotes => {
                i = skip_string(bytes, i + 1, quote);
                continue;
            }
            b'#' if syntax.hash_comments && (i == 0 || bytes[i - 1].is_ascii_whitespace()) => {
                i = skip_to_line_end(bytes, i);
                continue;
            }
            b'/' if syntax.slash_comments && bytes.get(i + 1) == Some(&b'/') => {
                i = skip_to_line_end(bytes, i);
                continue;
            }
            b'/' if syntax.slash_comments && bytes.get(i + 1) == Some(&b'*') => {
                i = skip_past(bytes, i + 2, b"*/");
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Whether the format's parser refuses nesting past [`MAX_SCHEMA_DEPTH`]
/// itself, in linear time: serde_json, which reads every JSON format first,
/// stops at 128 levels. Such a text need only be scanned when it fails to
/// load, to tell "too deep" from other errors (JSON event schemas are most
/// of a large mesh's schema files, and nearly all of them load).
pub(super) fn parser_bounds_depth(format: SchemaFormat) -> bool {
    matches!(format, SchemaFormat::Avro | SchemaFormat::JsonSchema | SchemaFormat::Jwks)
}

/// What counts as a string or a comment in each format.
struct Syntax {
    single_quotes: bool,
    block_strings: bool,
    hash_comments: bool,
    slash_comments: bool,
    indented_blocks: bool,
}

impl Syntax {
    fn of(format: SchemaFormat) -> Syntax {
        let none = Syntax {
            single_quotes: false,
            block_strings: false,
            hash_comments: false,
            slash_comments: false,
            indented_blocks: false,
        };
        match format {
            // OpenAPI documents may be YAML (JSON is a subset of it).
            SchemaFormat::OpenApi => Syntax { single_quotes: true, hash_comments: true, indented_blocks: true, ..none },
            SchemaFormat::Proto => Syntax { single_quotes: true, slash_comments: true, ..none },
            SchemaFormat::Graphql => Syntax { block_strings: true, hash_comments: true, ..none },
            SchemaFormat::Avro | SchemaFormat::JsonSchema | SchemaFormat::Jwks => none,
        }
    }
}

/// Reads a YAML line's indentation and leading `- ` entries into the stack
/// of open block levels; returns where the line's content starts, or `None`
/// for a blank or comment-only line (which opens no level).
fn yaml_line_levels(bytes: &[u8], start: usize, blocks: &mut Vec<usize>) -> Option<usize> {
    let mut i = start;
    while i < bytes.len() && bytes[i] == b' ' {
        i += 1;
    }
    if matches!(bytes.get(i), None | Some(b'\n' | b'\r' | b'#')) {
        return None;
    }
    let indent = i - start;
    while blocks.last().is_some_and(|&open| open >= indent) {
        blocks.pop();
    }
    blocks.push(indent);
    // `- - - x`: each dash opens a sequence level inside the previous one.
    while bytes.get(i) == Some(&b'-') && matches!(bytes.get(i + 1), Some(b' ')) {
        i += 2;
        while bytes.get(i) == Some(&b' ') {
            i += 1;
        }
        blocks.push(i - start);
        if blocks.len() > MAX_SCHEMA_DEPTH {
            break;
        }
    }
    Some(i)
}

fn skip_string(bytes: &[u8], mut i: usize, quote: u8) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quote == b'"' => i += 2,
            b if b == quote => return i + 1,
            b'\n' => return i, // an unterminated string ends at its line; the parser reports it
            _ => i += 1,
        }
    }
    bytes.len()
}

fn skip_past(bytes: &[u8], from: usize, end: &[u8]) -> usize {
    bytes[from.min(bytes.len())..]
        .windows(end.len())
        .position(|w| w == end)
        .map_or(bytes.len(), |p| from + p + end.len())
}

fn skip_to_line_end(bytes: &[u8], from: usize) -> usize {
    bytes[from..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |p| from + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(open: &str, close: &str, levels: usize) -> String {
        format!("{}{}", open.repeat(levels), close.repeat(levels))
    }

    #[test]
    fn json_past_the_limit_is_found_at_the_first_bracket_too_many() {
        let text = nested("[", "]", 40_000);
        assert_eq!(too_deep(&text, SchemaFormat::JsonSchema), Some(MAX_SCHEMA_DEPTH));
        assert_eq!(too_deep(&nested("{\"a\":", "}", MAX_SCHEMA_DEPTH), SchemaFormat::Avro), None);
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        let many = "[".repeat(1000);
        assert_eq!(too_deep(&format!("{{\"d\": \"{many}\\\"{many}\"}}"), SchemaFormat::Jwks), None);
        assert_eq!(
            too_deep(
                &format!("// {many}\n/* {many} */ message A {{ string s = 1 [(x) = '{many}']; }}"),
                SchemaFormat::Proto
            ),
            None
        );
        assert_eq!(
            too_deep(&format!("\"\"\"{many}\"\"\" # {many}\ntype A {{ a: [String] }}"), SchemaFormat::Graphql),
            None
        );
        assert_eq!(too_deep(&format!("a: '{many}' # {many}\nb: \"{many}\""), SchemaFormat::OpenApi), None);
    }

    #[test]
    fn yaml_block_levels_count_indentation_and_sequence_entries() {
        let mut doc = String::new();
        for level in 0..=MAX_SCHEMA_DEPTH {
            doc.push_str(&format!("{}k{level}:\n", " ".repeat(level)));
        }
        let at = too_deep(&doc, SchemaFormat::OpenApi).expect("too deep");
        assert!(doc[at..].starts_with(&format!("k{MAX_SCHEMA_DEPTH}:")), "{}", &doc[at..]);
        let sequences = format!("a:\n{}x\n", "- ".repeat(2 * MAX_SCHEMA_DEPTH));
        assert!(too_deep(&sequences, SchemaFormat::OpenApi).is_some());
        let siblings = "paths:\n  /a:\n    get: {}\n  /b:\n    get: {}\n".repeat(1000);
        assert_eq!(too_deep(&siblings, SchemaFormat::OpenApi), None);
    }

    #[test]
    fn serde_json_refuses_what_the_scan_would() {
        // `parser_bounds_depth` leans on this: a JSON text the scan finds too
        // deep never parses, so scanning only the texts that fail loses nothing.
        for format in [SchemaFormat::Avro, SchemaFormat::JsonSchema, SchemaFormat::Jwks] {
            assert!(parser_bounds_depth(format));
            let text = |levels: usize| nested("{\"a\": ", "}", levels - 1).replacen("{\"a\": }", "{\"a\": []}", 1);
            assert!(serde_json::from_str::<serde_json::Value>(&text(MAX_SCHEMA_DEPTH - 1)).is_ok());
            for levels in [MAX_SCHEMA_DEPTH + 1, 1000] {
                assert!(too_deep(&text(levels), format).is_some(), "{levels}");
                assert!(serde_json::from_str::<serde_json::Value>(&text(levels)).is_err(), "{levels}");
            }
        }
        assert!(!parser_bounds_depth(SchemaFormat::OpenApi), "YAML is not bounded by serde_json");
    }

    #[test]
    fn proto_and_graphql_nesting_is_bounded() {
        assert!(too_deep(&nested("message A { ", "}", 500), SchemaFormat::Proto).is_some());
        assert!(too_deep(&format!("type Q {{ f: {} }}", nested("[", "]", 500)), SchemaFormat::Graphql).is_some());
    }
}
