//! Files in memory, and the fixture format that fills them: language tests,
//! fuzzers and benchmarks compile workspaces without touching the disk.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::ops::Bound;
use std::path::{Component, Path, PathBuf};

use super::{not_a_regular_file, too_large, FileKind, FileSystem};

/// Path → bytes. Directories are implied by the files under them; there
/// are no symlinks, FIFOs or devices. Relative paths are taken from `/`.
/// The path rules the loaders apply over [`FileSystem`] (workspace
/// containment, /proc, /sys and /dev refused, size limits) hold here too.
#[derive(Clone, Debug, Default)]
pub struct MemoryFs {
    files: BTreeMap<PathBuf, Vec<u8>>,
}

/// Where [`MemoryFs::from_fixture`] puts a fixture's files: its workspace root.
pub const FIXTURE_ROOT: &str = "/workspace";

impl MemoryFs {
    pub fn new() -> MemoryFs {
        MemoryFs::default()
    }

    /// Adds (or replaces) a file; its directories come with it.
    pub fn insert(&mut self, path: impl AsRef<Path>, contents: impl Into<Vec<u8>>) {
        self.files.insert(absolute(path.as_ref()), contents.into());
    }

    /// The files of a fixture (see [`parse_fixture`]) under [`FIXTURE_ROOT`].
    pub fn from_fixture(fixture: &str) -> Result<MemoryFs, String> {
        let mut fs = MemoryFs::new();
        for file in parse_fixture(fixture)? {
            fs.insert(Path::new(FIXTURE_ROOT).join(&file.path), file.text);
        }
        Ok(fs)
    }

    /// Whether some file lies under `dir` (which is then a directory).
    fn has_dir(&self, dir: &Path) -> bool {
        let after = self.files.range::<Path, _>((Bound::Excluded(dir), Bound::Unbounded)).next();
        // Paths order by component, so the files under `dir` directly follow it.
        after.is_some_and(|(path, _)| path.starts_with(dir))
    }

    /// Every file and directory, sorted.
    fn entries(&self) -> BTreeSet<&Path> {
        self.files.keys().flat_map(|path| path.ancestors()).collect()
    }
}

impl FileSystem for MemoryFs {
    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        let path = absolute(path);
        self.kind(&path).map(|_| path)
    }

    fn kind(&self, path: &Path) -> io::Result<FileKind> {
        let path = absolute(path);
        if self.files.contains_key(&path) {
            Ok(FileKind::File)
        } else if self.has_dir(&path) {
            Ok(FileKind::Dir)
        } else {
            Err(not_found())
        }
    }

    fn is_symlink(&self, _path: &Path) -> bool {
        false
    }

    fn read(&self, path: &Path, max_bytes: u64) -> io::Result<Vec<u8>> {
        match self.files.get(&absolute(path)) {
            Some(bytes) if bytes.len() as u64 > max_bytes => Err(too_large(max_bytes)),
            Some(bytes) => Ok(bytes.clone()),
            None if self.has_dir(&absolute(path)) => Err(not_a_regular_file()),
            None => Err(not_found()),
        }
    }

    fn read_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        match self.kind(dir)? {
            FileKind::Dir => {}
            _ => return Err(io::Error::from_raw_os_error(20)), // ENOTDIR, as the disk says it
        }
        let dir = absolute(dir);
        let names: BTreeSet<String> = self
            .files
            .keys()
            .filter_map(|path| path.strip_prefix(&dir).ok()?.components().next())
            .map(|name| name.as_os_str().to_string_lossy().into_owned())
            .collect();
        Ok(names.into_iter().collect())
    }

    fn glob(&self, pattern: &str) -> Result<Vec<PathBuf>, glob::PatternError> {
        let pattern = glob::Pattern::new(pattern)?;
        // What `glob::glob` does walking the disk: separators only match literally.
        let options = glob::MatchOptions { require_literal_separator: true, ..glob::MatchOptions::new() };
        Ok(self
            .entries()
            .into_iter()
            .filter(|p| pattern.matches_path_with(p, options))
            .map(Path::to_path_buf)
            .collect())
    }
}

/// `path` from `/`, with `.` and `..` resolved by the text alone (there
/// are no symlinks to follow).
fn absolute(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => out.push(name),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

fn not_found() -> io::Error {
    io::Error::from_raw_os_error(2) // ENOENT: "No such file or directory (os error 2)", as on disk
}

/// One file of a fixture: its path relative to the workspace root, its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixtureFile {
    pub path: String,
    pub text: String,
}

/// Splits a fixture, several files in one string as rust-analyzer's tests
/// write them, into its files: each starts at a `//- path` line (a path
/// relative to the workspace root, `..` allowed); a fixture without one is
/// a single `mesh.kdl` (from its first non-blank line). The fixture's
/// common indentation is removed first (so it can be indented in a raw
/// string), and each file's trailing blank lines: every file ends with one
/// newline.
pub fn parse_fixture(fixture: &str) -> Result<Vec<FixtureFile>, String> {
    let text = dedent(fixture);
    if !text.lines().any(is_header) {
        let text = text.trim_start_matches('\n').to_string();
        return Ok(vec![FixtureFile { path: "mesh.kdl".into(), text: end_with_one_newline(text) }]);
    }
    let mut files: Vec<FixtureFile> = Vec::new();
    for line in text.lines() {
        if let Some(path) = line.strip_prefix("//- ") {
            let path = path.trim();
            if path.is_empty() || Path::new(path).is_absolute() {
                return Err(format!("`{line}`: expected a path relative to the workspace root"));
            }
            if files.iter().any(|f| f.path == path) {
                return Err(format!("`{path}` is given twice"));
            }
            files.push(FixtureFile { path: path.to_string(), text: String::new() });
        } else if let Some(file) = files.last_mut() {
            file.text.push_str(line);
            file.text.push('\n');
        } else if !line.trim().is_empty() {
            return Err(format!("`{line}` comes before the first `//- path` line"));
        }
    }
    for file in &mut files {
        file.text = end_with_one_newline(std::mem::take(&mut file.text));
    }
    Ok(files)
}

fn is_header(line: &str) -> bool {
    line.starts_with("//- ")
}

/// The text without the indentation all its non-blank lines share.
fn dedent(text: &str) -> String {
    let indent = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start_matches([' ', '\t']).len())
        .min()
        .unwrap_or(0);
    text.lines().map(|l| l.get(indent..).unwrap_or("").to_string() + "\n").collect()
}

fn end_with_one_newline(mut text: String) -> String {
    // Blank lines that separate files belong to neither.
    text.truncate(text.trim_end().len());
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::super::{read_text, ReadableRoots, Refusal};
    use super::*;

    #[test]
    fn a_fixture_is_split_at_its_path_headers_and_dedented() {
        let files = parse_fixture(
            r#"
            //- mesh.kdl
            import "services/*.kdl"
              // indented more

            //- schemas/orders.proto
            syntax = "proto3";
            "#,
        )
        .unwrap();
        assert_eq!(
            files,
            [
                FixtureFile { path: "mesh.kdl".into(), text: "import \"services/*.kdl\"\n  // indented more\n".into() },
                FixtureFile { path: "schemas/orders.proto".into(), text: "syntax = \"proto3\";\n".into() },
            ]
        );
    }

    #[test]
    fn a_fixture_without_headers_is_one_mesh_kdl() {
        let files = parse_fixture("\n  service \"a\"\n").unwrap();
        assert_eq!(files, [FixtureFile { path: "mesh.kdl".into(), text: "service \"a\"\n".into() }]);
    }

    #[test]
    fn malformed_fixtures_are_refused_with_the_line() {
        let err = |f: &str| parse_fixture(f).unwrap_err();
        assert_eq!(err("//- /etc/passwd\n"), "`//- /etc/passwd`: expected a path relative to the workspace root");
        assert_eq!(err("//- a.kdl\n//- a.kdl\n"), "`a.kdl` is given twice");
        assert_eq!(err("x\n//- a.kdl\n"), "`x` comes before the first `//- path` line");
    }

    #[test]
    fn directories_are_implied_and_paths_resolve_by_text() {
        let fs = MemoryFs::from_fixture("//- mesh.kdl\nx\n//- schemas/v1/api.yaml\ny\n").unwrap();
        assert_eq!(fs.kind(Path::new("/workspace/schemas")).unwrap(), FileKind::Dir);
        assert_eq!(fs.kind(Path::new("/workspace/schemas/v1/api.yaml")).unwrap(), FileKind::File);
        assert_eq!(
            fs.canonicalize(Path::new("/workspace/schemas/../mesh.kdl")).unwrap(),
            Path::new("/workspace/mesh.kdl")
        );
        assert_eq!(fs.read_dir(Path::new("/workspace")).unwrap(), ["mesh.kdl", "schemas"]);
        let missing = fs.canonicalize(Path::new("/workspace/nope.kdl")).unwrap_err();
        assert_eq!(missing.to_string(), "No such file or directory (os error 2)");
        assert_eq!(fs.read_dir(Path::new("/workspace/mesh.kdl")).unwrap_err().raw_os_error(), Some(20));
    }

    #[test]
    fn globs_stay_in_their_component_unless_doubled() {
        let mut fs = MemoryFs::new();
        for path in ["/w/a.kdl", "/w/s/b.kdl", "/w/s/t/c.kdl", "/w/s/d.yaml"] {
            fs.insert(path, "");
        }
        let glob = |p: &str| {
            let mut found = fs.glob(p).unwrap();
            found.sort();
            found.iter().map(|p| p.display().to_string()).collect::<Vec<_>>()
        };
        assert_eq!(glob("/w/*.kdl"), ["/w/a.kdl"]);
        assert_eq!(glob("/w/s/*"), ["/w/s/b.kdl", "/w/s/d.yaml", "/w/s/t"]);
        assert_eq!(glob("/w/**/*.kdl"), ["/w/a.kdl", "/w/s/b.kdl", "/w/s/t/c.kdl"]);
        assert!(fs.glob("/w/[").is_err());
    }

    #[test]
    fn reads_keep_the_disks_limits_and_path_rules() {
        let mut fs = MemoryFs::new();
        fs.insert("/w/big.yaml", vec![b'x'; 65]);
        fs.insert("/w/bad.kdl", b"a\xff".to_vec());
        fs.insert("/proc/self/environ", "SECRET=1");
        fs.insert("/shared/api.yaml", "");
        assert_eq!(
            read_text(&fs, Path::new("/w/big.yaml"), 64).unwrap_err().to_string(),
            "larger than the 64 bytes limit"
        );
        assert_eq!(fs.read(Path::new("/w"), 64).unwrap_err().to_string(), "not a regular file");
        assert_eq!(
            read_text(&fs, Path::new("/w/bad.kdl"), 64).unwrap_err().to_string(),
            "not valid UTF-8 (invalid byte at offset 1)"
        );
        let with_slash = ReadableRoots::new(&fs, &[PathBuf::from("/w"), PathBuf::from("/")]);
        let workspace = ReadableRoots::new(&fs, &[PathBuf::from("/w")]);
        assert_eq!(with_slash.check(&fs, Path::new("/proc/self/environ")), Err(Refusal::System));
        assert_eq!(workspace.check(&fs, Path::new("/w/../shared/api.yaml")), Err(Refusal::Outside));
        assert_eq!(workspace.check(&fs, Path::new("/w/missing.yaml")), Ok(()));
    }
}
