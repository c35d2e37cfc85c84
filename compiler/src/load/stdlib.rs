//! The standard library: spec files built into meshc (`stdlib/` in the
//! repository), imported as `import "std:NAME"`. They load like any spec
//! file, under the virtual path `<std>/NAME.kdl`.

use std::path::{Path, PathBuf};

/// Every stdlib file: its import name and text.
const FILES: &[(&str, &str)] = &[
    ("resilience", include_str!("../../../stdlib/resilience.kdl")),
    ("security", include_str!("../../../stdlib/security.kdl")),
    ("slo", include_str!("../../../stdlib/slo.kdl")),
];

/// The import scheme: `import "std:resilience"`.
pub const SCHEME: &str = "std:";

const ROOT: &str = "<std>";

/// The virtual path of a stdlib file, if `name` is one.
pub fn path(name: &str) -> Option<PathBuf> {
    FILES.iter().any(|(n, _)| *n == name).then(|| Path::new(ROOT).join(format!("{name}.kdl")))
}

/// The text of a stdlib file by its virtual path.
pub fn text(path: &Path) -> Option<&'static str> {
    let name = path.strip_prefix(ROOT).ok()?.to_str()?.strip_suffix(".kdl")?;
    FILES.iter().find(|(n, _)| *n == name).map(|(_, text)| *text)
}

/// Whether a spec file is part of the stdlib.
pub fn contains(path: &Path) -> bool {
    path.starts_with(ROOT)
}

/// The stdlib's import names, for did-you-mean.
pub fn names() -> impl Iterator<Item = &'static str> + Clone {
    FILES.iter().map(|(n, _)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_virtual_paths_and_back() {
        let path = path("resilience").unwrap();
        assert_eq!(path, Path::new("<std>/resilience.kdl"));
        assert!(contains(&path));
        assert!(text(&path).unwrap().contains("retry-policy \"std-idempotent\""));
        assert_eq!(super::path("resilient"), None);
        assert_eq!(text(Path::new("/work/resilience.kdl")), None);
    }
}
