//! Language tests as fixtures, the way rust-analyzer's `check_diagnostics`
//! reads: one string holds the workspace's files (`//- path` headers, see
//! `meshc::base::fs::parse_fixture`), compiled in memory (no temp dir),
//! and each expected diagnostic is written under the line it points at:
//!
//! ```text
//! service "a" { owner "t"; address "a.svc" port=80; calls "b"; }
//! //                                                      ^^^ MESH0012
//! ```
//!
//! An annotation line is a comment in the file's language (`//` in KDL and
//! `.proto`, `#` in YAML and GraphQL), then carets under the columns of the
//! primary span on the nearest line above that is not an annotation, then
//! the code, optionally the severity and optionally `: ` and the primary
//! label: `// ^^^ MESH0031`, `# ^^^^ MESH0040 error`, `// ^^ MESH0012
//! error: unknown service`. Only what is written is compared. A span that
//! starts in the first columns, where the comment marker would stand, is
//! marked by a bare caret line (`^^^^^^^ MESH0010`); so are JSON files, which
//! have no comments. A span over several lines is marked on its first line,
//! to the line's end.
//!
//! Annotation lines are removed before compiling (JSON has no comments, and
//! a removed line shifts no span of the lines it annotates): spans are
//! compared in the files as compiled. Every diagnostic must be annotated,
//! and every annotation must match one: a fixture without annotations
//! compiles clean. Secondary labels are not compared; assert them, or the
//! rendered text with [`check_rendered`], where they matter.

use std::ops::Range;
use std::path::Path;

use meshc::base::fs::{parse_fixture, MemoryFs, FIXTURE_ROOT};
use meshc::driver::Compilation;

/// One expected or reported diagnostic, as an annotation line writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Annotation {
    /// The fixture path of the file (`mesh.kdl`), or the display path of a
    /// file outside the fixture (`<std>/resilience.kdl`); empty when the
    /// diagnostic points nowhere.
    pub file: String,
    /// 0-based line in the file as compiled (annotations removed).
    pub line: usize,
    /// Character columns on that line.
    pub columns: Range<usize>,
    /// `MESH0031`.
    pub code: String,
    /// `error` or `warning`; `None` in an expectation that does not say.
    pub severity: Option<String>,
    /// The primary label; `None` in an expectation that does not say.
    pub label: Option<String>,
}

impl Annotation {
    /// Whether a reported diagnostic is what this expectation says.
    fn accepts(&self, actual: &Annotation) -> bool {
        let agrees = |expected: &Option<String>, actual: &Option<String>| expected.is_none() || expected == actual;
        (&self.file, self.line, &self.columns, &self.code) == (&actual.file, actual.line, &actual.columns, &actual.code)
            && agrees(&self.severity, &actual.severity)
            && agrees(&self.label, &actual.label)
    }

    /// The annotation as written under its line: carets at its columns,
    /// then what it says.
    fn render(&self) -> String {
        let mut text = format!("{}{} {}", " ".repeat(self.columns.start), "^".repeat(self.columns.len()), self.code);
        if let Some(severity) = &self.severity {
            text.push_str(&format!(" {severity}"));
        }
        if let Some(label) = &self.label {
            text.push_str(&format!(": {label}"));
        }
        text
    }
}

/// A fixture's file as compiled, and the annotations it was written with.
#[derive(Debug)]
pub struct AnnotatedFile {
    pub path: String,
    /// The text without its annotation lines.
    pub text: String,
    pub expected: Vec<Annotation>,
}

/// Splits a file's text into the text to compile and its annotations.
pub fn extract_annotations(path: &str, text: &str) -> Result<AnnotatedFile, String> {
    let mut kept = String::new();
    let mut expected = Vec::new();
    let mut lines_kept: usize = 0;
    for (number, line) in text.lines().enumerate() {
        let Some((carets, rest)) = caret_run(line) else {
            kept.push_str(line);
            kept.push('\n');
            lines_kept += 1;
            continue;
        };
        let Some(line_above) = lines_kept.checked_sub(1) else {
            return Err(format!("{path}:{}: an annotation with no line above it", number + 1));
        };
        let (code, severity, label) = parse_expectation(rest).ok_or_else(|| {
            format!("{path}:{}: `{line}`: expected `^^^ MESHnnnn [error|warning] [: label]`", number + 1)
        })?;
        expected.push(Annotation { file: path.to_string(), line: line_above, columns: carets, code, severity, label });
    }
    Ok(AnnotatedFile { path: path.to_string(), text: kept, expected })
}

/// The caret columns of an annotation line, and the text after them:
/// `// ^^^ MESH0031`, `# ^^^ MESH0031` or a bare `^^^ MESH0031`.
fn caret_run(line: &str) -> Option<(Range<usize>, &str)> {
    let trimmed = line.trim_start();
    let after_marker = trimmed.strip_prefix("//").or_else(|| trimmed.strip_prefix('#')).unwrap_or(trimmed);
    if !after_marker.trim_start().starts_with('^') {
        return None;
    }
    let byte_start = line.find('^')?;
    let carets = line[byte_start..].chars().take_while(|&c| c == '^').count();
    let start = line[..byte_start].chars().count();
    Some((start..start + carets, &line[byte_start + carets..]))
}

/// `MESH0031`, `MESH0031 warning`, `MESH0031 error: label`.
fn parse_expectation(text: &str) -> Option<(String, Option<String>, Option<String>)> {
    let (head, label) = match text.split_once(':') {
        Some((head, label)) => (head, Some(label.trim().to_string())),
        None => (text, None),
    };
    let mut words = head.split_whitespace();
    let code = words.next().filter(|c| c.starts_with("MESH"))?.to_string();
    let severity = match words.next() {
        Some(s @ ("error" | "warning")) => Some(s.to_string()),
        Some(_) => return None,
        None => None,
    };
    words.next().is_none().then_some((code, severity, label))
}

/// The annotations a compilation's diagnostics would be written as.
pub fn reported(c: &Compilation) -> Vec<Annotation> {
    c.diagnostics
        .iter()
        .map(|d| {
            let severity = Some(d.severity.as_str().to_string());
            let code = d.code.id().to_string();
            let Some(primary) = &d.primary else {
                let label = Some(d.message.clone());
                return Annotation { file: String::new(), line: 0, columns: 0..0, code, severity, label };
            };
            let file = c.sources.get(primary.span.file);
            let line = file.line_of(primary.span.start as usize);
            let line_range = file.line_range(line);
            let column = |offset: usize| {
                file.text[line_range.start..offset.clamp(line_range.start, line_range.end)].chars().count()
            };
            let start = column(primary.span.start as usize);
            // An empty span is one caret wide; a span past the line's end stops there.
            let end = column(primary.span.end as usize).max(start + 1);
            Annotation {
                file: file.display.clone(),
                line,
                columns: start..end,
                code,
                severity,
                label: Some(primary.message.clone()),
            }
        })
        .collect()
}

/// Matches expectations with reported diagnostics; on a mismatch, the
/// files with both sets of annotations as a diff (`-` expected, not
/// reported; `+` reported, not expected; matched ones unmarked).
pub fn compare(files: &[AnnotatedFile], actual: &[Annotation]) -> Result<(), String> {
    let expected: Vec<&Annotation> = files.iter().flat_map(|f| &f.expected).collect();
    let mut unmatched: Vec<&Annotation> = actual.iter().collect();
    let mut missing: Vec<&Annotation> = Vec::new();
    let mut matched: Vec<&Annotation> = Vec::new();
    for want in expected {
        match unmatched.iter().position(|got| want.accepts(got)) {
            Some(i) => {
                unmatched.remove(i);
                matched.push(want);
            }
            None => missing.push(want),
        }
    }
    if missing.is_empty() && unmatched.is_empty() {
        return Ok(());
    }
    let mut diff =
        String::from("diagnostics differ from the annotations (- expected, not reported; + reported, not expected):\n");
    for file in files {
        let in_file = |list: &[&Annotation]| list.iter().any(|a| a.file == file.path);
        if !in_file(&missing) && !in_file(&unmatched) {
            continue;
        }
        diff.push_str(&format!("  //- {}\n", file.path));
        // `split`, not `lines`: a span at the end of the text is on the empty line after the last newline.
        let lines: Vec<&str> = file.text.split('\n').collect();
        for (number, line) in lines.iter().enumerate() {
            let annotated = |list: &[&Annotation]| list.iter().any(|a| a.file == file.path && a.line == number);
            if number + 1 == lines.len() && line.is_empty() && !annotated(&missing) && !annotated(&unmatched) {
                break;
            }
            diff.push_str(&format!("  {line}\n"));
            for (sign, list) in [(' ', &matched), ('-', &missing), ('+', &unmatched)] {
                for a in list.iter().filter(|a| a.file == file.path && a.line == number) {
                    diff.push_str(&format!("{sign} {}\n", a.render()));
                }
            }
        }
    }
    let elsewhere = |a: &&&Annotation| !files.iter().any(|f| f.path == a.file);
    for a in missing.iter().filter(elsewhere) {
        diff.push_str(&format!("- {}:{}: {}\n", a.file, a.line + 1, a.render().trim_start()));
    }
    for a in unmatched.iter().filter(elsewhere) {
        let place = if a.file.is_empty() { "(no span)".to_string() } else { format!("{}:{}", a.file, a.line + 1) };
        diff.push_str(&format!("+ {place}: {}\n", a.render().trim_start()));
    }
    Err(diff)
}

/// The fixture's files with their annotations, and the compilation of the
/// files without them (in memory, rooted at `FIXTURE_ROOT`).
pub fn compile_fixture(fixture: &str) -> (Vec<AnnotatedFile>, Compilation) {
    compile_fixture_with(fixture, None, &[])
}

/// [`compile_fixture`] on the day `today` (`None`: `SOURCE_DATE_EPOCH` or
/// the clock), with the compliance rule sets `rules` (`--rules`).
pub fn compile_fixture_with(
    fixture: &str,
    today: Option<meshc::driver::Date>,
    rules: &[&str],
) -> (Vec<AnnotatedFile>, Compilation) {
    let files: Vec<AnnotatedFile> = parse_fixture(fixture)
        .and_then(|files| files.iter().map(|f| extract_annotations(&f.path, &f.text)).collect())
        .unwrap_or_else(|e| panic!("malformed fixture: {e}"));
    let mut fs = MemoryFs::new();
    for file in &files {
        fs.insert(Path::new(FIXTURE_ROOT).join(&file.path), file.text.clone());
    }
    let rules: Vec<String> = rules.iter().map(|r| r.to_string()).collect();
    let compilation = meshc::driver::compile_in_with_rules(&fs, Path::new(FIXTURE_ROOT), today, &rules);
    (files, compilation)
}

/// Compiles the fixture and asserts that its diagnostics are exactly the
/// annotated ones (panics with a diff otherwise). Returns the compilation
/// for further assertions (the model, the artifacts).
pub fn check(fixture: &str) -> Compilation {
    check_with(fixture, None, &[])
}

/// [`check`] on the day `today`, with the compliance rule sets `rules`.
pub fn check_with(fixture: &str, today: Option<meshc::driver::Date>, rules: &[&str]) -> Compilation {
    let (files, compilation) = compile_fixture_with(fixture, today, rules);
    if let Err(diff) = compare(&files, &reported(&compilation)) {
        panic!("{diff}\nas rendered:\n{}", super::human(&compilation));
    }
    compilation
}

/// [`check`], and the diagnostics as `meshc check` prints them (messages,
/// every label, help) against an `expect![[...]]` snapshot; run with
/// `UPDATE_EXPECT=1` to rewrite the snapshot in the test's source.
pub fn check_rendered(fixture: &str, rendered: expect_test::Expect) -> Compilation {
    let compilation = check(fixture);
    rendered.assert_eq(&super::human(&compilation));
    compilation
}
