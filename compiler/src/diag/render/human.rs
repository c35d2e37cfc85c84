//! Human output through miette's graphical handler.

use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};

use crate::base::{FileId, Sources};
use crate::diag::{Diagnostic, Label, Severity};

pub(super) fn render(diagnostics: &[Diagnostic], sources: &Sources, color: bool) -> String {
    let theme = if color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100).with_links(false);
    let mut out = String::new();
    for diagnostic in diagnostics {
        let report = Report::new(diagnostic, sources);
        // Rendering into a String cannot fail except through a fmt bug in miette.
        let _ = handler.render_report(&mut out, &report);
    }
    let errors = diagnostics.iter().filter(|d| d.severity == Severity::Error).count();
    let warnings = diagnostics.len() - errors;
    if !diagnostics.is_empty() {
        out.push_str(&format!("{errors} error(s), {warnings} warning(s)\n"));
    }
    out
}

/// Adapter from a [`Diagnostic`] to miette's trait. Labels in the primary
/// file are drawn together; labels in other files become related reports.
struct Report {
    message: String,
    code: &'static str,
    severity: miette::Severity,
    help: Option<String>,
    source: Option<NamedSource<String>>,
    labels: Vec<LabeledSpan>,
    related: Vec<Report>,
}

impl Report {
    fn new(d: &Diagnostic, sources: &Sources) -> Report {
        let severity = match d.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        };
        let mut help = d.help.clone();
        for note in &d.notes {
            let line = format!("note: {note}");
            help = Some(match help {
                Some(h) => format!("{h}\n{line}"),
                None => line,
            });
        }
        let Some(primary) = &d.primary else {
            return Report {
                message: d.message.clone(),
                code: d.code.id(),
                severity,
                help,
                source: None,
                labels: vec![],
                related: vec![],
            };
        };
        let file = primary.span.file;
        let mut labels = vec![labeled(primary, true)];
        let mut related = Vec::new();
        for label in &d.secondary {
            if label.span.file == file {
                labels.push(labeled(label, false));
            } else {
                related.push(Report {
                    message: label.message.clone(),
                    code: d.code.id(),
                    severity: miette::Severity::Advice,
                    help: None,
                    source: Some(named_source(sources, label.span.file)),
                    labels: vec![labeled(label, true)],
                    related: vec![],
                });
            }
        }
        Report {
            message: d.message.clone(),
            code: d.code.id(),
            severity,
            help,
            source: Some(named_source(sources, file)),
            labels,
            related,
        }
    }
}

fn named_source(sources: &Sources, file: FileId) -> NamedSource<String> {
    let f = sources.get(file);
    NamedSource::new(f.display.clone(), f.text.to_string()).with_language("kdl")
}

fn labeled(label: &Label, primary: bool) -> LabeledSpan {
    let span = SourceSpan::new((label.span.start as usize).into(), label.span.range().len());
    if primary {
        LabeledSpan::new_primary_with_span(Some(label.message.clone()), span)
    } else {
        LabeledSpan::new_with_span(Some(label.message.clone()), span)
    }
}

impl fmt::Debug for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Report {}

impl miette::Diagnostic for Report {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            None
        } else {
            Some(Box::new(self.labels.iter().cloned()))
        }
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() {
            None
        } else {
            Some(Box::new(self.related.iter().map(|r| r as &dyn miette::Diagnostic)))
        }
    }
}
