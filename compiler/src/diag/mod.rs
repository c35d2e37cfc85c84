//! Diagnostics: what every layer reports, and how it is shown.
//!
//! A [`Diagnostic`] carries a stable [`Code`], a message, a primary label on a
//! span, secondary labels (possibly in other files), a help line and notes.
//! Renderers in [`render`] turn the same list into human, JSON or SARIF output.

pub mod codes;
pub mod render;

use crate::base::Span;
pub use codes::{Code, CODES};

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
        }
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
    let length = name.chars().count();
    let limit = (length / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != name)
        // Lengths further apart than the limit cannot be within it: skips the
        // quadratic distance for a huge name against short candidates.
        .filter(|c| c.chars().count().abs_diff(length) <= limit)
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|(d, c)| *d <= limit || (c.eq_ignore_ascii_case(name)))
        .min_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(b.1)))
        .map(|(_, c)| c)
}

/// A help line suggesting the closest candidate, or listing what is allowed.
pub fn suggestion<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str> + Clone) -> Option<String> {
    match did_you_mean(name, candidates.clone()) {
        Some(best) => Some(format!("did you mean `{best}`?")),
        None => {
            let all: Vec<&str> = candidates.into_iter().collect();
            match all.len() {
                0 => None,
                1..=12 => Some(format!(
                    "expected one of: {}",
                    all.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
                )),
                _ => None,
            }
        }
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
