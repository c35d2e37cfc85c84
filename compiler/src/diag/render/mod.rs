//! One renderer per output format, all over the same sorted diagnostic list.

mod human;
mod json;
mod sarif;

use super::Diagnostic;
use crate::base::Sources;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Annotated source snippets for people (miette).
    Human,
    /// One JSON document with every diagnostic.
    Json,
    /// SARIF 2.1.0, for GitHub code scanning and other CI annotators.
    Sarif,
}

/// Renders `diagnostics` in `format`. `color` applies to human output only.
pub fn render(format: Format, diagnostics: &[Diagnostic], sources: &Sources, color: bool) -> String {
    match format {
        Format::Human => human::render(diagnostics, sources, color),
        Format::Json => json::render(diagnostics, sources),
        Format::Sarif => sarif::render(diagnostics, sources),
    }
}

/// A span as 1-based line/column pairs, shared by the machine formats.
#[derive(serde::Serialize)]
struct Region {
    file: String,
    start_line: usize,
    start_column: usize,
    end_line: usize,
    end_column: usize,
}

fn region(sources: &Sources, span: crate::base::Span) -> Region {
    let (start_line, start_column) = sources.line_col(span.file, span.start);
    let (end_line, end_column) = sources.line_col(span.file, span.end);
    Region { file: sources.get(span.file).display.clone(), start_line, start_column, end_line, end_column }
}
