//! The standard library: spec files built into meshc (`stdlib/` in the
//! repository), imported as `import "std:NAME"`. They load like any spec
//! file, under the virtual path `<std>/NAME.kdl`; a name may hold one
//! folder (`std:compliance/baseline` is `stdlib/compliance/baseline.kdl`).

use std::path::{Path, PathBuf};

/// Every stdlib file: its import name and text.
const FILES: &[(&str, &str)] = &[
    ("resilience", include_str!("../../../stdlib/resilience.kdl")),
    ("security", include_str!("../../../stdlib/security.kdl")),
    ("slo", include_str!("../../../stdlib/slo.kdl")),
    ("compliance/baseline", include_str!("../../../stdlib/compliance/baseline.kdl")),
    ("compliance/strict", include_str!("../../../stdlib/compliance/strict.kdl")),
];

/// The folder of compliance rule sets, for `meshc check --rules NAME`.
pub const RULE_SETS: &str = "compliance/";

/// The import scheme: `import "std:resilience"`.
pub const SCHEME: &str = "std:";

const ROOT: &str = "<std>";

/// The virtual path of a stdlib file, if `name` is one.
pub fn path(name: &str) -> Option<PathBuf> {
    FILES.iter().any(|(n, _)| *n == name).then(|| Path::new(ROOT).join(format!("{name}.kdl")))
}

/// The text of a stdlib file by its virtual path.
pub fn text(path: &Path) -> Option<&'static str> {
    let relative = path.strip_prefix(ROOT).ok()?;
    // `/`-separated on every platform, as the names are.
    let parts: Vec<&str> = relative.components().map(|c| c.as_os_str().to_str()).collect::<Option<_>>()?;
    let joined = parts.join("/");
    let name = joined.strip_suffix(".kdl")?;
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

/// Every stdlib file: its import name and text (for its generated page).
pub fn files() -> impl Iterator<Item = (&'static str, &'static str)> {
    FILES.iter().copied()
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

    #[test]
    fn names_may_hold_one_folder() {
        let path = path("compliance/baseline").unwrap();
        assert_eq!(path, Path::new("<std>/compliance/baseline.kdl"));
        assert!(text(&path).unwrap().contains("compliance-rule \"routes-authenticated\""));
        assert!(text(&super::path("compliance/strict").unwrap())
            .unwrap()
            .contains("import \"std:compliance/baseline\""));
        assert_eq!(super::path("compliance"), None);
    }
}
