//! Human output through miette's graphical handler.

use std::fmt;

use std::ops::Range;

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, MietteSpanContents, SourceSpan, SpanContents,
};

use rayon::prelude::*;

use crate::base::{SourceFile, Sources};
use crate::diag::{Diagnostic, Label, Severity};

pub(super) fn render(diagnostics: &[Diagnostic], sources: &Sources, color: bool) -> String {
    let theme = if color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
    let handler =
        GraphicalReportHandler::new_themed(theme).with_width(100).with_links(false).with_context_lines(CONTEXT_LINES);
    // Each diagnostic renders on its own (miette's wrapping and snippets
    // cost ~0.1 M instructions each), so they render in parallel and join
    // in order: the same bytes for any thread count.
    let rendered: Vec<String> = diagnostics
        .par_iter()
        .map(|diagnostic| {
            let mut one = String::new();
            // Rendering into a String cannot fail except through a fmt bug in miette.
            let _ = handler.render_report(&mut one, &Report::new(diagnostic, sources));
            one
        })
        .collect();
    let mut out = rendered.concat();
    let errors = diagnostics.iter().filter(|d| d.severity == Severity::Error).count();
    let warnings = diagnostics.len() - errors;
    if !diagnostics.is_empty() {
        out.push_str(&format!("{errors} error(s), {warnings} warning(s)\n"));
    }
    out
}

/// How much of a file a diagnostic quotes: the labelled lines with one line
/// of context, never a whole file. A line longer than [`MAX_LINE_BYTES`]
/// (minified JSON, a runaway string) is shown as a window around the label,
/// so no diagnostic reprints a large file and miette never formats a
/// column past its 16-bit limit.
const CONTEXT_LINES: usize = 1;
const MAX_LINE_BYTES: usize = 200;
/// Bytes of a long line shown on each side of a label.
const WINDOW_MARGIN: usize = 60;
/// A label underlines at most this many bytes of one line, or this many lines.
const MAX_LABEL_BYTES: usize = 120;
const MAX_LABEL_LINES: usize = 6;
/// Labels of the primary file further than this from the primary label are
/// shown as separate notes rather than one excerpt spanning everything between.
const MAX_LINES_APART: usize = 12;
const MAX_BYTES_APART: usize = 2 * MAX_LINE_BYTES;

/// Adapter from a [`Diagnostic`] to miette's trait. Labels near the primary
/// one are drawn together; labels elsewhere (another file, or far away in the
/// same one) become related reports.
struct Report<'a> {
    message: String,
    /// The code, with the rule when it has one: `MESH0088[FIELD_NO_DELETE]`.
    code: String,
    severity: miette::Severity,
    help: Option<String>,
    source: Option<Excerpts<'a>>,
    labels: Vec<LabeledSpan>,
    related: Vec<Report<'a>>,
}

impl<'a> Report<'a> {
    fn new(d: &Diagnostic, sources: &'a Sources) -> Report<'a> {
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
        let mut report = Report {
            message: d.message.clone(),
            code: match &d.rule {
                Some(rule) => format!("{}[{rule}]", d.code.id()),
                None => d.code.id().to_string(),
            },
            severity,
            help,
            source: None,
            labels: vec![],
            related: vec![],
        };
        let Some(primary) = &d.primary else { return report };
        let file = sources.get(primary.span.file);
        let primary_range = clip(file, primary.span.range());
        report.source = Some(Excerpts { file });
        report.labels.push(labeled(primary, primary_range.clone(), true));
        for label in &d.secondary {
            let other = sources.get(label.span.file);
            let range = clip(other, label.span.range());
            if label.span.file == primary.span.file && near(file, &primary_range, &range) {
                report.labels.push(labeled(label, range, false));
            } else {
                report.related.push(Report {
                    message: label.message.clone(),
                    code: report.code.clone(),
                    severity: miette::Severity::Advice,
                    help: None,
                    source: Some(Excerpts { file: other }),
                    labels: vec![labeled(label, range, true)],
                    related: vec![],
                });
            }
        }
        report
    }
}

/// A span cut to what a label may underline: its first lines, and a bounded
/// number of bytes on one line.
fn clip(file: &SourceFile, range: Range<usize>) -> Range<usize> {
    let start = file.floor_boundary(range.start);
    let end = file.floor_boundary(range.end.max(start));
    let first = file.line_of(start);
    let last = file.line_of(end.saturating_sub(1).max(start));
    let few_short_lines =
        last - first < MAX_LABEL_LINES && (first..=last).all(|line| file.line_range(line).len() <= MAX_LINE_BYTES);
    if last > first && few_short_lines {
        return start..end;
    }
    let first_line_end = file.line_range(first).end.max(start);
    start..file.floor_boundary(end.min(first_line_end).min(start + MAX_LABEL_BYTES))
}

/// Whether two labels of one file fit in one short excerpt.
fn near(file: &SourceFile, a: &Range<usize>, b: &Range<usize>) -> bool {
    let (line_a, line_b) = (file.line_of(a.start), file.line_of(b.start));
    let bytes_apart = a.start.max(b.start) - a.start.min(b.start);
    line_a.abs_diff(line_b) <= MAX_LINES_APART && bytes_apart <= MAX_LINES_APART * MAX_BYTES_APART
        || line_a == line_b && bytes_apart <= MAX_BYTES_APART
}

fn labeled(label: &Label, range: Range<usize>, primary: bool) -> LabeledSpan {
    let span = SourceSpan::new(range.start.into(), range.len());
    if primary {
        LabeledSpan::new_primary_with_span(Some(label.message.clone()), span)
    } else {
        LabeledSpan::new_with_span(Some(label.message.clone()), span)
    }
}

/// A file as miette reads it: each excerpt found through the line index, so
/// rendering a diagnostic costs its excerpt, not the file (30,000 diagnostics
/// in one file no longer rescan or copy it 30,000 times).
struct Excerpts<'a> {
    file: &'a SourceFile,
}

impl miette::SourceCode for Excerpts<'_> {
    fn read_span<'b>(
        &'b self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn SpanContents<'b> + 'b>, MietteError> {
        let file = self.file;
        let text = &file.text;
        let (start, end) = (span.offset(), span.offset() + span.len());
        if end > text.len() {
            return Err(MietteError::OutOfBounds);
        }
        let first = file.line_of(start);
        let last = if end > start { file.line_of(end - 1) } else { first };
        let context_first = first.saturating_sub(before);
        let context_last = (last + after).min(file.line_count() - 1);
        let column_of = |offset: usize| text[file.line_range(file.line_of(offset)).start..offset].chars().count();
        let long = (context_first..=context_last).any(|line| file.line_range(line).len() > MAX_LINE_BYTES);
        let (data, line, lines) = if before == 0 {
            // miette asks for the span alone to print its position.
            let to = file.ceil_boundary(end.max(file.line_range(first).end.min(start + MAX_LINE_BYTES)));
            (start..to, first, 1)
        } else if long {
            let from = file.floor_boundary(start.saturating_sub(WINDOW_MARGIN).max(file.line_range(first).start));
            let to = file.ceil_boundary((end + WINDOW_MARGIN).min(file.line_range(last).end.max(end)));
            (from..to, first, last - first + 1)
        } else {
            let to = file.line_range(context_last + 1).start.max(file.line_range(context_last).end);
            (file.line_range(context_first).start..to, context_first, context_last - context_first + 1)
        };
        let column = column_of(data.start);
        Ok(Box::new(MietteSpanContents::new_named(
            file.display.clone(),
            &text.as_bytes()[data.clone()],
            SourceSpan::new(data.start.into(), data.len()),
            line,
            column,
            lines,
        )))
    }
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(&self.code))
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
