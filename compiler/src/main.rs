use std::ffi::c_long;

use libmimalloc_sys::{mi_option_set, mi_option_t};

// Only the binary chooses the allocator; programs embedding the library keep theirs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    without_transparent_huge_pages();
    // An operator's own setting stands (docs/deployment.md).
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        let delay = purge_delay_ms(std::env::args_os().nth(1).as_deref());
        // SAFETY: mi_option_set stores a number that purging reads each time.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, delay) };
    }
    meshc::cli::main()
}

/// mimalloc v3's `mi_option_purge_delay` (its include/mimalloc.h), which
/// libmimalloc-sys names no constant for; a test below pins it.
const MI_OPTION_PURGE_DELAY: mi_option_t = 15;

/// How long freed memory stays with the process before it goes back to the
/// system, for the command given first on the command line (docs/benchmarks.md).
///
/// `meshc build` frees each backend's output as the writer takes it: after
/// 100 ms, so its peak RSS at 10,000 services stays near 560 MB (mimalloc
/// v3's default 1,000 ms, ten times that for arenas, means never within a
/// build: 600–626 MB). `check` and `diff` end with their compilation, and
/// what they free (the syntax trees) is allocated again at once by schema
/// loading: returning it only to fault it back cost `meshc check` about
/// 0.1 s of system time at 10,000 services (55,000 more page faults) for
/// 65 MB less peak RSS.
fn purge_delay_ms(command: Option<&std::ffi::OsStr>) -> c_long {
    const NEVER: c_long = -1;
    match command.and_then(|c| c.to_str()) {
        Some("check" | "diff") => NEVER,
        _ => 100,
    }
}

/// mimalloc advises the kernel to back its arenas with transparent huge
/// pages; a compile touches them sparsely, so each first touch zeroed 2 MiB:
/// at 10,000 services a third of `meshc check`'s CPU went to clearing pages,
/// and peak RSS was a fifth higher (docs/benchmarks.md). The flag holds for
/// every fault from here on, in mappings made before `main` too.
#[cfg(target_os = "linux")]
fn without_transparent_huge_pages() {
    // SAFETY: prctl with PR_SET_THP_DISABLE takes integers and only sets a flag
    // of this process; failure (an old kernel) leaves the default, harmlessly.
    unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
}

#[cfg(not(target_os = "linux"))]
fn without_transparent_huge_pages() {}

#[cfg(test)]
mod tests {
    use libmimalloc_sys::mi_option_get;

    use super::*;

    /// Option 15 has the purge delay's default (1,000 ms) and its neighbours
    /// theirs (`deprecated_eager_commit_delay` 1, `use_numa_nodes` 0): a
    /// mimalloc that renumbered its options fails here, not silently.
    #[test]
    fn the_purge_delay_option_is_mimallocs() {
        // SAFETY: mi_option_get reads a number.
        let default = |option| unsafe { mi_option_get(option) };
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(default(MI_OPTION_PURGE_DELAY), 1000);
        }
        assert_eq!(default(MI_OPTION_PURGE_DELAY - 1), 1);
        assert_eq!(default(MI_OPTION_PURGE_DELAY + 1), 0);
    }

    #[test]
    fn only_commands_that_end_with_their_compilation_keep_freed_memory() {
        let delay = |arg: Option<&str>| purge_delay_ms(arg.map(std::ffi::OsStr::new));
        assert_eq!(delay(Some("check")), -1);
        assert_eq!(delay(Some("diff")), -1);
        for other in [Some("build"), Some("certs"), Some("--help"), None] {
            assert_eq!(delay(other), 100, "{other:?}");
        }
    }
}
