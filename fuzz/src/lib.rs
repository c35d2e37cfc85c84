//! The fuzz targets' shared harness; each target is one file in `fuzz_targets/`.

pub mod harness;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// This process's scratch directory, where the `writer` target writes (the
/// others run in memory): under `$MESHC_FUZZ_SCRATCH` (which `scripts/fuzz`
/// creates in /dev/shm and removes), else under /dev/shm, so writing costs
/// no disk IO. libFuzzer runs inputs one at a time.
pub fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = match std::env::var_os("MESHC_FUZZ_SCRATCH") {
            Some(dir) => PathBuf::from(dir),
            None if Path::new("/dev/shm").is_dir() => PathBuf::from("/dev/shm"),
            None => std::env::temp_dir(),
        };
        let dir = base.join(format!("meshc-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("cannot create the fuzz scratch directory");
        dir
    })
}

/// Runs one input of `target` (a name in [`harness::TARGETS`]).
pub fn run(target: &str, data: &[u8]) {
    static ONE_THREAD: OnceLock<()> = OnceLock::new();
    // meshc's parallel loops run inline on libFuzzer's thread: no pool
    // worker to hand each loop to and wake (a tenth of the time per input),
    // and none spinning beside a fuzzer running on the other core. The
    // output is the same on any number of threads (tested in the suite).
    ONE_THREAD.get_or_init(|| {
        let pool = rayon_core::ThreadPoolBuilder::new().num_threads(1).use_current_thread().build_global();
        pool.expect("the fuzz target sets rayon's global pool first");
    });
    assert!(harness::run(target, scratch(), data), "unknown fuzz target {target}");
}
