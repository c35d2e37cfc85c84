use std::ffi::c_long;

use libmimalloc_sys::{mi_option_set, mi_option_t};

// Only the binary chooses the allocator; programs embedding the library keep theirs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    without_transparent_huge_pages();
    // An operator's own setting stands (docs/deployment.md).
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: mi_option_set stores a number that purging reads each time.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    }
    meshc::cli::main()
}

/// mimalloc v3's `mi_option_purge_delay` (its include/mimalloc.h), which
/// libmimalloc-sys names no constant for; a test below pins it.
const MI_OPTION_PURGE_DELAY: mi_option_t = 15;

/// Freed memory goes back to the system after this many milliseconds.
/// mimalloc v3 waits 1,000 (its arenas ten times that), which for a build of
/// a few seconds means never: at 10,000 services `meshc build`'s peak RSS was
/// 600–626 MB, 558 MB with 100 ms at the same CPU time (0 saves 20 MB more
/// for 10 % more time; docs/benchmarks.md).
const PURGE_DELAY_MS: c_long = 100;

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
}
