//! The real file system: the only code of the front end that touches the
//! disk (`tests/it/architecture.rs` holds it to that).

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::{not_a_regular_file, too_large, FileKind, FileSystem};

/// The disk, read with meshc's rules: devices, FIFOs and directories are
/// refused rather than read (`/dev/zero` never ends, a FIFO blocks), and
/// reads are capped by the bytes actually read, not the size `stat`
/// reports: files under /proc report 0 and can be huge (`/proc/self/pagemap`),
/// and a file may grow while it is read.
#[derive(Clone, Copy, Debug, Default)]
pub struct DiskFs;

impl FileSystem for DiskFs {
    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        path.canonicalize()
    }

    fn kind(&self, path: &Path) -> io::Result<FileKind> {
        let meta = std::fs::metadata(path)?;
        Ok(if meta.is_file() {
            FileKind::File
        } else if meta.is_dir() {
            FileKind::Dir
        } else {
            FileKind::Other
        })
    }

    fn is_symlink(&self, path: &Path) -> bool {
        path.symlink_metadata().is_ok_and(|m| m.is_symlink())
    }

    fn read(&self, path: &Path, max_bytes: u64) -> io::Result<Vec<u8>> {
        let file = open_without_blocking(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(not_a_regular_file());
        }
        if meta.len() > max_bytes {
            return Err(too_large(max_bytes));
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.take(max_bytes + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > max_bytes {
            return Err(too_large(max_bytes));
        }
        Ok(bytes)
    }

    fn read_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        Ok(std::fs::read_dir(dir)?.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect())
    }

    fn glob(&self, pattern: &str) -> Result<Vec<PathBuf>, glob::PatternError> {
        // Entries that cannot be read while walking are left out, as they were never matched.
        Ok(glob::glob(pattern)?.filter_map(Result::ok).collect())
    }
}

/// Opens for reading without waiting for a writer: opening a FIFO blocks
/// until one comes, before `fstat` could tell that it is no regular file.
fn open_without_blocking(path: &Path) -> io::Result<std::fs::File> {
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

#[cfg(test)]
mod tests {
    use super::super::{read_text, ReadableRoots, Refusal, MAX_FILE_BYTES};
    use super::*;

    #[test]
    fn proc_files_that_report_size_zero_are_capped_by_bytes_read() {
        // /proc files report 0 bytes whatever they hold; /proc/self/maps holds more than 64.
        let e = read_text(&DiskFs, Path::new("/proc/self/maps"), 64).unwrap_err();
        assert!(e.to_string().contains("larger than the 64 bytes limit"), "{e}");
        // /proc/self/pagemap is gigabytes long (or refuses unaligned reads): never read whole.
        assert!(read_text(&DiskFs, Path::new("/proc/self/pagemap"), MAX_FILE_BYTES).is_err());
    }

    #[test]
    fn fifos_and_devices_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert_eq!(DiskFs.read(&fifo, MAX_FILE_BYTES).unwrap_err().to_string(), "not a regular file");
        assert_eq!(DiskFs.kind(&fifo).unwrap(), FileKind::Other);
        assert_eq!(DiskFs.read(Path::new("/dev/zero"), MAX_FILE_BYTES).unwrap_err().to_string(), "not a regular file");
    }

    #[test]
    fn invalid_utf8_names_the_byte_offset() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.kdl");
        std::fs::write(&file, b"mesh \"x\"\n\xff").unwrap();
        let e = read_text(&DiskFs, &file, MAX_FILE_BYTES).unwrap_err();
        assert_eq!(e.to_string(), "not valid UTF-8 (invalid byte at offset 9)");
    }

    #[test]
    fn system_files_are_refused_even_through_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let allowed = ReadableRoots::new(&DiskFs, &[dir.path().to_path_buf(), PathBuf::from("/")]);
        assert_eq!(allowed.check(&DiskFs, Path::new("/proc/self/environ")), Err(Refusal::System));
        assert_eq!(allowed.check(&DiskFs, Path::new("/dev/null")), Err(Refusal::System));
        let link = dir.path().join("api.yaml");
        std::os::unix::fs::symlink("/proc/self/environ", &link).unwrap();
        assert_eq!(allowed.check(&DiskFs, &link), Err(Refusal::System));
        assert!(DiskFs.is_symlink(&link));
    }

    #[test]
    fn files_outside_the_roots_are_refused_and_missing_ones_left_to_the_reader() {
        let dir = tempfile::tempdir().unwrap();
        let inside = dir.path().join("api.yaml");
        std::fs::write(&inside, "openapi: 3.0.0").unwrap();
        let allowed = ReadableRoots::new(&DiskFs, &[dir.path().to_path_buf()]);
        assert_eq!(allowed.check(&DiskFs, &inside), Ok(()));
        assert_eq!(allowed.check(&DiskFs, Path::new("/etc/passwd")), Err(Refusal::Outside));
        assert_eq!(allowed.check(&DiskFs, &dir.path().join("missing.yaml")), Ok(()));
        let escape = dir.path().join("up");
        std::os::unix::fs::symlink("/etc/passwd", &escape).unwrap();
        assert_eq!(allowed.check(&DiskFs, &escape), Err(Refusal::Outside));
    }

    /// Each directory is resolved once for all files checked in it; the
    /// answers are those of resolving every file's whole path.
    #[test]
    fn files_in_a_symlinked_directory_are_where_the_link_leads() {
        let dir = tempfile::tempdir().unwrap();
        let (root, outside) = (dir.path().join("ws"), dir.path().join("elsewhere"));
        std::fs::create_dir_all(root.join("schemas")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        for name in ["a.json", "b.json"] {
            std::fs::write(outside.join(name), "{}").unwrap();
            std::fs::write(root.join("schemas").join(name), "{}").unwrap();
        }
        std::os::unix::fs::symlink(&outside, root.join("linked")).unwrap();
        std::os::unix::fs::symlink(root.join("schemas"), outside.join("back")).unwrap();
        let allowed = ReadableRoots::new(&DiskFs, std::slice::from_ref(&root));
        for _ in 0..2 {
            assert_eq!(allowed.check(&DiskFs, &root.join("linked/a.json")), Err(Refusal::Outside));
            assert_eq!(allowed.check(&DiskFs, &root.join("linked/b.json")), Err(Refusal::Outside));
            assert_eq!(allowed.check(&DiskFs, &root.join("linked/missing.json")), Ok(()));
            assert_eq!(allowed.check(&DiskFs, &root.join("schemas/a.json")), Ok(()));
            assert_eq!(allowed.check(&DiskFs, &outside.join("back/a.json")), Ok(()));
            assert_eq!(allowed.check(&DiskFs, &root.join("schemas/../linked/a.json")), Err(Refusal::Outside));
            assert_eq!(allowed.check(&DiskFs, &root.join("linked/..")), Err(Refusal::Outside));
            assert_eq!(allowed.check(&DiskFs, &root.join("schemas/a.json/")), Ok(()));
        }
    }
}
