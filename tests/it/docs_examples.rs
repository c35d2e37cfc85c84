//! Every `kdl` block in the language reference (and the pages that teach
//! the language) parses; blocks marked `workspace` (files separated by
//! `//- path` lines) check clean.

use crate::support;

use meshc::base::FileId;
use meshc::diag::render::{render, Format};

/// (info string, body) of every fenced block whose info string starts with `kdl`.
fn kdl_blocks(markdown: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in markdown.lines() {
        match (&mut current, line.strip_prefix("```")) {
            (None, Some(info)) if info.starts_with("kdl") => current = Some((info.to_string(), String::new())),
            (Some(_), Some("")) => blocks.push(current.take().unwrap()),
            (Some((_, body)), _) => {
                body.push_str(line);
                body.push('\n');
            }
            _ => {}
        }
    }
    blocks
}

/// The pages whose examples are checked (the integration guide's describe a running mesh, warnings included: they only parse).
const PAGES: &[&str] = &["docs/language.md", "docs/events.md", "docs/operations/integration.md"];

fn blocks_of_pages() -> Vec<(String, String)> {
    PAGES
        .iter()
        .flat_map(|page| kdl_blocks(&std::fs::read_to_string(support::repo_root().join(page)).unwrap()))
        .collect()
}

#[test]
fn every_kdl_block_in_the_language_reference_parses() {
    let blocks = blocks_of_pages();
    assert!(blocks.len() >= 5, "found only {} kdl blocks", blocks.len());
    for (info, body) in &blocks {
        let sources: Vec<String> = if info.contains("workspace") {
            support::fixture_files(body)
                .unwrap()
                .into_iter()
                .filter(|(p, _)| p.ends_with(".kdl"))
                .map(|(_, t)| t)
                .collect()
        } else {
            vec![body.clone()]
        };
        for text in sources {
            let (_, diagnostics) = meshc::syntax::parse(FileId(0), &text);
            assert!(diagnostics.is_empty(), "block does not parse: {diagnostics:?}\n{text}");
        }
    }
}

#[test]
fn workspace_blocks_in_the_language_reference_check_clean() {
    let workspaces: Vec<_> = blocks_of_pages().into_iter().filter(|(info, _)| info.contains("workspace")).collect();
    assert!(!workspaces.is_empty());
    for (_, body) in workspaces {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in support::fixture_files(&body).unwrap() {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let compilation = meshc::driver::compile(dir.path());
        let text = render(Format::Human, &compilation.diagnostics, &compilation.sources, false);
        assert!(compilation.diagnostics.is_empty(), "{text}");
        assert!(compilation.emit().is_ok_and(|a| !a.is_empty()));
    }
}
