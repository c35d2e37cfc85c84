//! Files and spans: the vocabulary every other layer uses to point at input.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    line_starts: Vec<u32>,
}

impl SourceFile {
    fn new(path: PathBuf, display: String, text: Arc<str>) -> SourceFile {
        let line_starts = std::iter::once(0).chain(newline_offsets(&text).map(|i| i as u32 + 1)).collect::<Vec<u32>>();
        SourceFile { path, display, text, line_starts }
    }

    /// 0-based line of a byte offset (offsets past the end are on the last line).
    pub fn line_of(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&start| start as usize <= offset).saturating_sub(1)
    }

    /// Number of lines (a final line without a newline counts).
    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }

    /// Byte range of a 0-based line, without its line break.
    pub fn line_range(&self, line: usize) -> std::ops::Range<usize> {
        let start = self.line_starts.get(line).map_or(self.text.len(), |&s| s as usize);
        let next = self.line_starts.get(line + 1).map_or(self.text.len(), |&s| s as usize);
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

fn newline_offsets(text: &str) -> impl Iterator<Item = usize> + '_ {
    text.bytes().enumerate().filter(|&(_, b)| b == b'\n').map(|(i, _)| i)
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

/// Where meshc never reads, whatever a spec allows: process state
/// (`/proc/self/environ` holds CI secrets), kernel knobs and devices.
const SYSTEM_DIRS: &[&str] = &["/proc", "/sys", "/dev"];

/// Why a file a spec names is not read.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// It is (or a symlink leads) under /proc, /sys or /dev.
    System,
    /// It lies outside every directory meshc may read from.
    Outside,
}

/// Checks where a file a spec names really is, symlinks resolved, before it
/// is read: never under [`SYSTEM_DIRS`], and inside one of `roots` (the
/// workspace root and the directories the spec allows). A path that does
/// not resolve passes: reading it reports the missing file.
pub fn check_location(path: &Path, roots: &[PathBuf]) -> Result<(), Refusal> {
    let Ok(real) = path.canonicalize() else {
        return if is_system_path(path) { Err(Refusal::System) } else { Ok(()) };
    };
    if is_system_path(&real) {
        return Err(Refusal::System);
    }
    let inside = roots.iter().any(|root| root.canonicalize().is_ok_and(|root| real.starts_with(root)));
    if inside {
        Ok(())
    } else {
        Err(Refusal::Outside)
    }
}

/// Whether a path lies under /proc, /sys or /dev (as written or resolved).
pub fn is_system_path(path: &Path) -> bool {
    SYSTEM_DIRS.iter().any(|dir| path.starts_with(dir))
        || path.canonicalize().is_ok_and(|real| SYSTEM_DIRS.iter().any(|dir| real.starts_with(dir)))
}

/// Largest input file meshc reads (spec or schema); larger files are refused.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Reads a regular file of at most [`MAX_FILE_BYTES`] as UTF-8 text. Devices,
/// pipes and directories are refused rather than read (`/dev/zero` never ends).
pub fn read_text(path: &Path) -> std::io::Result<String> {
    read_text_capped(path, MAX_FILE_BYTES)
}

/// [`read_text`] with a given cap. The cap bounds the bytes actually read,
/// not the size `stat` reports: files under /proc report 0 and can be huge
/// (`/proc/self/pagemap`), and a file may grow while it is read.
pub fn read_text_capped(path: &Path, max_bytes: u64) -> std::io::Result<String> {
    String::from_utf8(read_bytes_capped(path, max_bytes)?).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("not valid UTF-8 (invalid byte at offset {at})"))
    })
}

/// The bytes of a regular file of at most `max_bytes` (see [`read_text_capped`]).
pub fn read_bytes_capped(path: &Path, max_bytes: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Error, ErrorKind, Read};
    let too_large = || Error::new(ErrorKind::FileTooLarge, format!("larger than the {} limit", byte_size(max_bytes)));
    let file = open_without_blocking(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(Error::new(ErrorKind::InvalidInput, "not a regular file"));
    }
    if meta.len() > max_bytes {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max_bytes + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Opens for reading without waiting for a writer: opening a FIFO blocks
/// until one comes, before `fstat` could tell that it is no regular file.
fn open_without_blocking(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        const O_NONBLOCK: i32 = 0o4000; // Linux's value on every architecture Rust supports but alpha/parisc/sparc/mips
        options.custom_flags(O_NONBLOCK);
    }
    options.open(path)
}

/// `16 MiB`, `1 KiB`, `12 bytes`: a limit as people read it.
pub fn byte_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
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
    fn proc_files_that_report_size_zero_are_capped_by_bytes_read() {
        // /proc files report 0 bytes whatever they hold; /proc/self/maps holds more than 64.
        let e = read_text_capped(Path::new("/proc/self/maps"), 64).unwrap_err();
        assert!(e.to_string().contains("larger than the 64 bytes limit"), "{e}");
        // /proc/self/pagemap is gigabytes long (or refuses unaligned reads): never read whole.
        assert!(read_text(Path::new("/proc/self/pagemap")).is_err());
    }

    #[test]
    fn fifos_and_devices_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert_eq!(read_text(&fifo).unwrap_err().to_string(), "not a regular file");
        assert_eq!(read_text(Path::new("/dev/zero")).unwrap_err().to_string(), "not a regular file");
    }

    #[test]
    fn invalid_utf8_names_the_byte_offset() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.kdl");
        std::fs::write(&file, b"mesh \"x\"\n\xff").unwrap();
        assert_eq!(read_text(&file).unwrap_err().to_string(), "not valid UTF-8 (invalid byte at offset 9)");
    }

    #[test]
    fn system_files_are_refused_even_through_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let roots = [dir.path().to_path_buf(), PathBuf::from("/")];
        assert_eq!(check_location(Path::new("/proc/self/environ"), &roots), Err(Refusal::System));
        assert_eq!(check_location(Path::new("/dev/null"), &roots), Err(Refusal::System));
        let link = dir.path().join("api.yaml");
        std::os::unix::fs::symlink("/proc/self/environ", &link).unwrap();
        assert_eq!(check_location(&link, &roots), Err(Refusal::System));
    }

    #[test]
    fn files_outside_the_roots_are_refused_and_missing_ones_left_to_the_reader() {
        let dir = tempfile::tempdir().unwrap();
        let inside = dir.path().join("api.yaml");
        std::fs::write(&inside, "openapi: 3.0.0").unwrap();
        let roots = [dir.path().to_path_buf()];
        assert_eq!(check_location(&inside, &roots), Ok(()));
        assert_eq!(check_location(Path::new("/etc/passwd"), &roots), Err(Refusal::Outside));
        assert_eq!(check_location(&dir.path().join("missing.yaml"), &roots), Ok(()));
        let escape = dir.path().join("up");
        std::os::unix::fs::symlink("/etc/passwd", &escape).unwrap();
        assert_eq!(check_location(&escape, &roots), Err(Refusal::Outside));
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
}
