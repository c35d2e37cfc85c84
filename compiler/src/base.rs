//! Files and spans: the vocabulary every other layer uses to point at input.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub mod fs;

/// Index of a file in [`Sources`]. Ids are assigned in a deterministic order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(pub u32);

/// A byte range in one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, range: std::ops::Range<usize>) -> Span {
        Span { file, start: range.start as u32, end: range.end.max(range.start) as u32 }
    }

    /// The smallest span covering both; `other` must be in the same file.
    pub fn to(self, other: Span) -> Span {
        Span { file: self.file, start: self.start.min(other.start), end: self.end.max(other.end) }
    }

    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }

    /// The same place after its file moved `files` ids on ([`Sources::append`]).
    pub fn shifted(self, files: u32) -> Span {
        Span { file: FileId(self.file.0 + files), ..self }
    }
}

/// A value with the span it was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Self {
        Spanned { value, span }
    }
}

/// One input file: its path on disk, the path shown to users, its text.
#[derive(Debug)]
pub struct SourceFile {
    pub path: PathBuf,
    pub display: String,
    pub text: Arc<str>,
    /// Byte offset of each line's start, so a position's line is a binary
    /// search rather than a scan from the top (diagnostics stay linear).
    /// Found on first use: most files (schemas above all) are never
    /// pointed into, and files are added on one thread.
    line_starts: std::sync::OnceLock<Vec<u32>>,
}

impl SourceFile {
    fn new(path: PathBuf, display: String, text: Arc<str>) -> SourceFile {
        SourceFile { path, display, text, line_starts: std::sync::OnceLock::new() }
    }

    /// Byte offset of each line's start.
    pub fn line_starts(&self) -> &[u32] {
        self.line_starts.get_or_init(|| line_starts(&self.text))
    }

    /// 0-based line of a byte offset (offsets past the end are on the last line).
    pub fn line_of(&self, offset: usize) -> usize {
        self.line_starts().partition_point(|&start| start as usize <= offset).saturating_sub(1)
    }

    /// Number of lines (a final line without a newline counts).
    pub fn line_count(&self) -> usize {
        self.line_starts().len()
    }

    /// Byte range of a 0-based line, without its line break.
    pub fn line_range(&self, line: usize) -> std::ops::Range<usize> {
        let line_starts = self.line_starts();
        let start = line_starts.get(line).map_or(self.text.len(), |&s| s as usize);
        let next = line_starts.get(line + 1).map_or(self.text.len(), |&s| s as usize);
        let text = self.text.as_bytes();
        let mut end = next;
        if end > start && text[end - 1] == b'\n' {
            end -= 1;
            if end > start && text[end - 1] == b'\r' {
                end -= 1;
            }
        }
        start..end
    }

    /// The largest char boundary at or before `offset`, clamped to the text.
    pub fn floor_boundary(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        (0..=offset).rev().find(|&o| self.text.is_char_boundary(o)).unwrap_or(0)
    }

    /// The smallest char boundary at or after `offset`, clamped to the text.
    pub fn ceil_boundary(&self, offset: usize) -> usize {
        let len = self.text.len();
        (offset.min(len)..=len).find(|&o| self.text.is_char_boundary(o)).unwrap_or(len)
    }
}

/// Byte offset of each line's start in `text` (0 first; a line break ends a line).
pub fn line_starts(text: &str) -> Vec<u32> {
    std::iter::once(0).chain(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i as u32 + 1)).collect()
}

/// Every file read in a run (specs and schemas), addressed by [`FileId`].
#[derive(Debug, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
    by_path: HashMap<PathBuf, FileId>,
    /// Paths under this root are shown relative to it.
    root: PathBuf,
}

impl Sources {
    pub fn new(root: &Path) -> Sources {
        Sources { files: Vec::new(), by_path: HashMap::new(), root: root.to_path_buf() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn add(&mut self, path: PathBuf, text: Arc<str>) -> FileId {
        let display = display_path(&self.root, &path);
        let id = FileId(self.files.len() as u32);
        self.by_path.insert(path.clone(), id);
        self.files.push(SourceFile::new(path, display, text));
        id
    }

    /// Adds every file of `other`, in its order, shown relative to this
    /// root after `prefix` (`main:` for a git ref's files): what two runs
    /// read, in one map their diagnostics point into. Returns what to add
    /// to `other`'s file ids ([`Span::shifted`]).
    pub fn append(&mut self, other: &Sources, prefix: &str) -> u32 {
        let offset = self.files.len() as u32;
        for (_, file) in other.iter() {
            let display = format!("{prefix}{}", display_path(&self.root, &file.path));
            self.by_path.insert(file.path.clone(), FileId(self.files.len() as u32));
            self.files.push(SourceFile::new(file.path.clone(), display, Arc::clone(&file.text)));
        }
        offset
    }

    /// Masks a span of a file's text with `*`, keeping quotes and newlines
    /// (lines, offsets and the shape stay): a secret found there is then
    /// shown by no diagnostic that quotes the file.
    pub fn redact(&mut self, span: Span) {
        let file = &mut self.files[span.file.0 as usize];
        let (start, end) = (span.start as usize, (span.end as usize).min(file.text.len()));
        if start >= end || !file.text.is_char_boundary(start) || !file.text.is_char_boundary(end) {
            return;
        }
        let mask = |c: char| if c == '\n' || c == '"' { c.to_string() } else { "*".repeat(c.len_utf8()) };
        let masked: String = file.text[start..end].chars().map(mask).collect();
        file.text = format!("{}{masked}{}", &file.text[..start], &file.text[end..]).into();
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    pub fn find(&self, path: &Path) -> Option<FileId> {
        self.by_path.get(path).copied()
    }

    pub fn iter(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files.iter().enumerate().map(|(i, f)| (FileId(i as u32), f))
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, file: FileId, offset: u32) -> (usize, usize) {
        let file = self.get(file);
        let offset = file.floor_boundary(offset as usize);
        let line = file.line_of(offset);
        let line_start = file.line_range(line).start;
        (line + 1, file.text[line_start..offset].chars().count() + 1)
    }
}

/// `path` relative to `root` with `/` separators when it lies under it, else as given.
pub fn display_path(root: &Path, path: &Path) -> String {
    let shown = pathdiff(path, root).unwrap_or_else(|| path.to_path_buf());
    shown.to_string_lossy().replace('\\', "/")
}

fn pathdiff(path: &Path, root: &Path) -> Option<PathBuf> {
    if let Ok(rel) = path.strip_prefix(root) {
        return Some(rel.to_path_buf());
    }
    // Files beside the root (shared schemas) are shown with `../` steps.
    let mut up = PathBuf::new();
    let mut base = root;
    for _ in 0..8 {
        up.push("..");
        base = base.parent()?;
        if let Ok(rel) = path.strip_prefix(base) {
            return Some(up.join(rel));
        }
    }
    None
}

/// `16 MiB`, `1 KiB`, `12 bytes`: a limit as people read it.
pub fn byte_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// `bytes` as lowercase hex, two digits a byte (as `sha256sum` prints digests).
pub fn lowercase_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        hex.push(DIGITS[usize::from(byte >> 4)] as char);
        hex.push(DIGITS[usize::from(byte & 0xf)] as char);
    }
    hex
}

thread_local! {
    /// Depth of `catch_panic` calls on this thread; panics inside are not printed.
    static QUIET_PANICS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Runs a third-party parser so that a bug in it (a panic on some malformed
/// input) becomes an `Err` the caller reports as a diagnostic, instead of a
/// crash. The panic message is not printed; it is returned.
pub fn catch_panic<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET_PANICS.with(|q| q.get()) == 0 {
                previous(info);
            }
        }));
    });
    QUIET_PANICS.with(|q| q.set(q.get() + 1));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET_PANICS.with(|q| q.set(q.get() - 1));
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into())
    })
}

#[cfg(test)]
mod read_tests {
    use super::*;

    #[test]
    fn a_line_starts_after_each_line_break() {
        assert_eq!(line_starts(""), [0]);
        assert_eq!(line_starts("a\nbb\n\nc"), [0, 2, 5, 6]);
        assert_eq!(line_starts("a\r\nb\n"), [0, 3, 5]);
    }

    #[test]
    fn redacting_masks_a_span_and_keeps_lines_and_offsets() {
        let mut sources = Sources::new(Path::new("/ws"));
        let id = sources.add(PathBuf::from("/ws/mesh.kdl"), "a x=\"sécret\nline\" b\n".into());
        sources.redact(Span::new(id, 4..17));
        assert_eq!(&*sources.get(id).text, "a x=\"*******\n****\" b\n");
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(byte_size(16 << 20), "16 MiB");
        assert_eq!(byte_size(4096), "4 KiB");
        assert_eq!(byte_size(100), "100 bytes");
    }

    #[test]
    fn hex_is_two_lowercase_digits_a_byte() {
        assert_eq!(lowercase_hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(lowercase_hex(&[]), "");
    }
}
