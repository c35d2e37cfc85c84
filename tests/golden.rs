//! Golden snapshots (insta) of what meshc emits and prints for fixed inputs.
//! Re-bless with `INSTA_UPDATE=always cargo test --test golden` and review the diff.

use std::path::{Path, PathBuf};

use meshc::diag::render::{render, Format};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

#[test]
fn shop_envoy_gateway_bootstrap() {
    let compilation = meshc::driver::compile(&repo().join("examples/shop"));
    assert!(compilation.diagnostics.is_empty());
    let artifacts = compilation.emit().expect("the shop builds");
    let gateway = artifacts.iter().find(|a| a.path == "envoy/gateway-public.yaml").unwrap();
    insta::assert_snapshot!("shop_gateway_public", gateway.contents);
}

#[test]
fn broken_fixture_human_diagnostics() {
    let compilation = meshc::driver::compile(&repo().join("tests/fixtures/cli/broken"));
    let text = render(Format::Human, &compilation.diagnostics, &compilation.sources, false);
    insta::assert_snapshot!("broken_human", text);
}

#[test]
fn broken_fixture_json_diagnostics() {
    let compilation = meshc::driver::compile(&repo().join("tests/fixtures/cli/broken"));
    let text = render(Format::Json, &compilation.diagnostics, &compilation.sources, false);
    insta::assert_snapshot!("broken_json", text);
}
