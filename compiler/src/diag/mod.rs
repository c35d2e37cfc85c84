//! Diagnostics: what every layer reports, and how it is shown.
//!
//! A [`Diagnostic`] carries a stable [`Code`], a message, a primary label on a
//! span, secondary labels (possibly in other files), a help line and notes.
//! Renderers in [`render`] turn the same list into human, JSON or SARIF output.

pub mod codes;
pub mod render;

use crate::base::Span;
pub use codes::{Category, Code, CODES};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    /// Where the defect is. Absent only when no input file exists to point at.
    pub primary: Option<Label>,
    /// Related places, e.g. the first declaration of a duplicate name.
    pub secondary: Vec<Label>,
    pub help: Option<String>,
    pub notes: Vec<String>,
    /// The rule a code reports through, when the code is a family of rules
    /// (`MESH0088`, breaking changes: `FIELD_NO_DELETE`, ...; a compliance
    /// rule's name for `MESH0128`).
    pub rule: Option<std::borrow::Cow<'static, str>>,
    /// The control a compliance rule implements (`SOC 2 CC6.1`).
    pub reference: Option<String>,
}

impl Diagnostic {
    /// A diagnostic with the code's default severity.
    pub fn new(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: code.info().severity,
            message: message.into(),
            primary: None,
            secondary: Vec::new(),
            help: None,
            notes: Vec::new(),
            rule: None,
            reference: None,
        }
    }

    pub fn rule(mut self, rule: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        self.rule = Some(rule.into());
        self
    }

    pub fn at(mut self, span: Span, label: impl Into<String>) -> Self {
        self.primary = Some(Label { span, message: label.into() });
        self
    }

    pub fn with_label(mut self, span: Span, label: impl Into<String>) -> Self {
        self.secondary.push(Label { span, message: label.into() });
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn help_opt(mut self, help: Option<String>) -> Self {
        self.help = help.or(self.help);
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    fn sort_key(&self) -> (Option<Span>, Code, &str) {
        (self.primary.as_ref().map(|l| l.span), self.code, &self.message)
    }
}

/// Collects diagnostics from every layer. Layers only append.
#[derive(Debug, Default)]
pub struct Sink {
    diagnostics: Vec<Diagnostic>,
}

impl Sink {
    pub fn new() -> Sink {
        Sink::default()
    }

    pub fn push(&mut self, mut diagnostic: Diagnostic) {
        diagnostic.shorten_texts();
        self.diagnostics.push(diagnostic);
    }

    pub fn extend(&mut self, diagnostics: impl IntoIterator<Item = Diagnostic>) {
        for diagnostic in diagnostics {
            self.push(diagnostic);
        }
    }

    /// Appends another sink's diagnostics, in their order.
    pub fn append(&mut self, other: Sink) {
        self.diagnostics.extend(other.diagnostics);
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.severity == Severity::Error)
    }

    /// The diagnostics in a stable order: by file, position, then code;
    /// repeats of one diagnostic beyond [`MAX_REPEATS`] summarised.
    pub fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.diagnostics.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        self.diagnostics.dedup();
        summarize_repeats(self.diagnostics)
    }
}

/// Longest message, label, help or note kept whole: a value echoed back
/// (a 10 MB name) is cut in its middle, so output stays proportional to the
/// number of diagnostics, not to the input's size.
pub const MAX_TEXT_BYTES: usize = 1000;

/// Diagnostics with the same code and message (the same unknown node a
/// thousand times) shown before the rest are summarised in a note.
pub const MAX_REPEATS: usize = 20;

impl Diagnostic {
    fn shorten_texts(&mut self) {
        shorten(&mut self.message);
        if let Some(help) = &mut self.help {
            shorten(help);
        }
        for label in self.primary.iter_mut().chain(&mut self.secondary) {
            shorten(&mut label.message);
        }
        self.notes.iter_mut().for_each(shorten);
    }
}

fn shorten(text: &mut String) {
    if text.len() <= MAX_TEXT_BYTES {
        return;
    }
    let floor = |mut i: usize| {
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let head = floor(MAX_TEXT_BYTES * 2 / 3);
    let tail = floor(text.len() - MAX_TEXT_BYTES / 3);
    *text = format!("{} … {} bytes left out … {}", &text[..head], tail - head, &text[tail..]);
}

/// Keeps the first [`MAX_REPEATS`] of each (code, message) and notes on the
/// last one kept how many more there are. Linear in the diagnostics.
fn summarize_repeats(diagnostics: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let mut totals: std::collections::HashMap<(Code, &str), usize> = std::collections::HashMap::new();
    for d in &diagnostics {
        *totals.entry((d.code, d.message.as_str())).or_default() += 1;
    }
    if totals.values().all(|&n| n <= MAX_REPEATS) {
        return diagnostics;
    }
    let left_out: Vec<usize> =
        diagnostics.iter().map(|d| totals[&(d.code, d.message.as_str())].saturating_sub(MAX_REPEATS)).collect();
    drop(totals);
    let mut shown: std::collections::HashMap<(Code, String), usize> = std::collections::HashMap::new();
    let mut kept = Vec::new();
    for (d, more) in diagnostics.into_iter().zip(left_out) {
        if more == 0 {
            kept.push(d);
            continue;
        }
        let count = shown.entry((d.code, d.message.clone())).or_default();
        *count += 1;
        if *count < MAX_REPEATS {
            kept.push(d);
        } else if *count == MAX_REPEATS {
            kept.push(d.note(format!("{more} more diagnostic(s) with this code and message are not shown")));
        }
    }
    kept
}

/// The candidate closest to `name`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    close_matches(name, candidates).into_iter().next()
}

/// The candidates close to `name`, closest first: the one obvious match, or
/// up to three when the best is a guess. Ranked as rustc ranks suggestions: the same name in another case; then an edit
/// distance within a third of the name's length that counts a substring
/// (`Charge` in `shop.Payments/ChargeRenamed`) as close; then the same words
/// in another order (`cart-clear` for `clear-cart`), or all of one's words
/// among the other's (`ChargeRenamed` for `Charge`); then names sharing a
/// word with a name of several words (`EmptyCart` for `ClearCart`).
pub fn close_matches<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    let words = words(name);
    let mut ranked: Vec<((u8, usize, usize), &'a str)> = candidates
        .into_iter()
        .filter(|c| *c != name)
        .filter_map(|c| closeness(name, &words, c, limit).map(|rank| (rank, c)))
        .collect();
    ranked.sort_unstable();
    ranked.dedup_by_key(|(_, c)| *c);
    // One edit, a case change or a reordering is the answer; a looser best
    // match is a guess, so its runners-up are named too.
    let obvious = ranked.first().is_some_and(|&((tier, score, _), _)| match tier {
        0 => true,
        1 => score <= 1,
        2 => score == 0,
        _ => false,
    });
    ranked.into_iter().take(if obvious { 1 } else { 3 }).map(|(_, c)| c).collect()
}

/// Names longer than this are not typos of a declared name; their distance
/// (quadratic in the lengths) is not computed.
const MAX_TYPO_CHARS: usize = 128;

/// (tier, score, edit distance) of a close candidate, lower is closer;
/// `None` when it is not close. The distance breaks ties of the score
/// (`std-idempotnt` is one edit from `std-idempotent`, six from
/// `std-grpc-idempotent`, which contains it).
fn closeness(name: &str, name_words: &[String], candidate: &str, limit: usize) -> Option<(u8, usize, usize)> {
    if candidate.eq_ignore_ascii_case(name) {
        return Some((0, 0, 0));
    }
    let (n, m) = (name.chars().count(), candidate.chars().count());
    let comparable = n <= MAX_TYPO_CHARS && m <= MAX_TYPO_CHARS;
    if comparable {
        let distance = strsim::damerau_levenshtein(name, candidate);
        if let Some(score) = substring_score(distance, n, m, limit) {
            return Some((1, score, distance));
        }
    }
    let words = words(candidate);
    let mut sorted = (name_words.to_vec(), words.clone());
    sorted.0.sort_unstable();
    sorted.1.sort_unstable();
    if !words.is_empty() && sorted.0 == sorted.1 {
        return Some((2, 0, n.abs_diff(m)));
    }
    let contains = |outer: &[String], inner: &[String]| !inner.is_empty() && inner.iter().all(|w| outer.contains(w));
    if contains(&words, name_words) || contains(name_words, &words) {
        return Some((2, 1, n.abs_diff(m)));
    }
    let shares_a_word = name_words.len() > 1 && words.iter().any(|w| w.len() >= 3 && name_words.contains(w));
    (comparable && shares_a_word).then(|| (3, 0, strsim::damerau_levenshtein(name, candidate)))
}

/// rustc's `edit_distance_with_substrings`: the distance less the length
/// difference, so a name contained in the other scores low unless their
/// lengths differ by more than half.
fn substring_score(distance: usize, n: usize, m: usize, limit: usize) -> Option<usize> {
    let len_diff = n.abs_diff(m);
    let big_len_diff = n * 2 < m || m * 2 < n;
    let score = distance.saturating_sub(len_diff);
    let score = match (score, big_len_diff) {
        (0, false) if len_diff > 0 => 1,
        (_, false) => score + len_diff.div_ceil(2),
        (_, true) => score + len_diff,
    };
    (score <= limit).then_some(score)
}

/// Lower-case words of a name: split at `-`, `_`, `.`, `/`, spaces and
/// lower-to-upper case changes (`ClearCart` → `clear`, `cart`).
fn words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if (!c.is_alphanumeric() || (c.is_uppercase() && previous_lower)) && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        }
        previous_lower = c.is_lowercase() || c.is_ascii_digit();
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// A help line suggesting the closest candidates, or listing what is allowed.
pub fn suggestion<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str> + Clone) -> Option<String> {
    let close = close_matches(name, candidates.clone());
    if !close.is_empty() {
        return Some(did_you_mean_text(&close));
    }
    let all: Vec<&str> = candidates.into_iter().collect();
    match all.len() {
        0 => None,
        1..=12 => {
            Some(format!("expected one of: {}", all.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")))
        }
        _ => None,
    }
}

/// `did you mean `a`?`, `did you mean `a` or `b`?`, `did you mean `a`, `b` or `c`?`
pub fn did_you_mean_text(close: &[&str]) -> String {
    let quoted: Vec<String> = close.iter().map(|c| format!("`{c}`")).collect();
    match quoted.split_last() {
        Some((last, [])) => format!("did you mean {last}?"),
        Some((last, rest)) => format!("did you mean {} or {last}?", rest.join(", ")),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_you_mean_finds_close_typos_only() {
        let names = ["orders", "payments", "catalog"];
        assert_eq!(did_you_mean("order", names), Some("orders"));
        assert_eq!(did_you_mean("paymnets", names), Some("payments"));
        assert_eq!(did_you_mean("shipping", names), None);
    }

    #[test]
    fn close_matches_rank_substrings_and_shared_words_like_rustc() {
        // A renamed rpc: the old name is a prefix of the new one.
        assert_eq!(close_matches("Charge", ["Refund", "ChargeRenamed"]), ["ChargeRenamed"]);
        assert_eq!(close_matches("std-idempotnt", ["std-grpc-idempotent", "std-idempotent"]), ["std-idempotent"]);
        // Same words, another case or order.
        assert_eq!(close_matches("ORDERS", ["orders", "order"]), ["orders"]);
        assert_eq!(close_matches("clear-cart", ["cart-clear", "clean"]), ["cart-clear"]);
        // A name of several words also finds names sharing one of them.
        assert_eq!(close_matches("ClearCart", ["GetCart", "EmptyCart", "AddItem"]), ["GetCart", "EmptyCart"]);
        assert_eq!(did_you_mean_text(&["a", "b", "c"]), "did you mean `a`, `b` or `c`?");
        // A huge name is compared by words only, not by distance.
        let huge = "n".repeat(1 << 20);
        assert!(close_matches(&huge, ["n", "nn"]).is_empty());
    }

    #[test]
    fn long_texts_are_cut_in_the_middle() {
        let name = "x".repeat(10 * 1024 * 1024);
        let mut sink = Sink::new();
        sink.push(Diagnostic::new(Code::UnknownNode, format!("unknown node `{name}`")).help(name.clone()));
        let d = &sink.into_sorted()[0];
        assert!(d.message.len() < 2 * MAX_TEXT_BYTES && d.message.starts_with("unknown node `xxx"));
        let kept = MAX_TEXT_BYTES * 2 / 3 + MAX_TEXT_BYTES / 3;
        assert!(d.message.contains(&format!("{} bytes left out", name.len() + 15 - kept)), "{}", d.message);
        assert!(d.message.ends_with("xxx`"));
        assert!(d.help.as_ref().unwrap().len() < 2 * MAX_TEXT_BYTES);
    }

    #[test]
    fn repeated_diagnostics_are_summarised_after_the_limit() {
        let mut sink = Sink::new();
        let span = |i: u32| crate::base::Span { file: crate::base::FileId(0), start: i, end: i + 1 };
        for i in 0..1000 {
            sink.push(Diagnostic::new(Code::UnknownNode, "unknown node `x`").at(span(i), "here"));
        }
        sink.push(Diagnostic::new(Code::UnknownNode, "unknown node `y`").at(span(5000), "here"));
        let out = sink.into_sorted();
        assert_eq!(out.len(), MAX_REPEATS + 1);
        assert_eq!(
            out[MAX_REPEATS - 1].notes,
            vec![format!("{} more diagnostic(s) with this code and message are not shown", 1000 - MAX_REPEATS)]
        );
        assert_eq!(out[MAX_REPEATS].message, "unknown node `y`");
    }

    #[test]
    fn suggestion_lists_small_sets_when_nothing_is_close() {
        let help = suggestion("zzz", ["rest", "grpc"]).unwrap();
        assert_eq!(help, "expected one of: `rest`, `grpc`");
    }
}
