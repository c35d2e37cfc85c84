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

    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    pub fn extend(&mut self, diagnostics: impl IntoIterator<Item = Diagnostic>) {
        self.diagnostics.extend(diagnostics);
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.severity == Severity::Error)
    }

    /// The diagnostics in a stable order: by file, position, then code.
    pub fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.diagnostics.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        self.diagnostics.dedup();
        self.diagnostics
    }
}

/// The candidate closest to `name`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != name)
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
    fn suggestion_lists_small_sets_when_nothing_is_close() {
        let help = suggestion("zzz", ["rest", "grpc"]).unwrap();
        assert_eq!(help, "expected one of: `rest`, `grpc`");
    }
}
