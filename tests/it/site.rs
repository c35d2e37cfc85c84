//! The docs site (`site/`, docs/backends/site.md) in a real browser:
//! headless Chromium driven over WebDriver opens the built pages over
//! `file://` (no server). Every page renders with no console error, every
//! internal link resolves to a file and anchor, diagrams are visible and
//! have nodes, search finds a service by part of its name; a 1,000-service
//! mesh's overview is clustered; names and docs from the spec and schemas
//! are escaped. `UPDATE_SCREENSHOT=1` rewrites docs/images/site-overview.png.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::support::{build_workspace, repo_root, write_files, Browser};

/// Every `.html` file under `dir`, sorted.
fn pages(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "html") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn url(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// Builds `workspace` (every backend) into a fresh directory.
fn build(workspace: &Path) -> tempfile::TempDir {
    let out = tempfile::tempdir().unwrap();
    build_workspace(workspace, out.path());
    out
}

/// Builds only the site backend of `workspace` into a fresh directory.
fn build_site(workspace: &Path) -> tempfile::TempDir {
    let compilation = meshc::driver::compile(workspace);
    let options = meshc::emit::Options::default().with_backends(["site"]).unwrap();
    let built = compilation.build(&options).unwrap_or_else(|e| panic!("{e:?}"));
    let out = tempfile::tempdir().unwrap();
    for artifact in &built.artifacts {
        let path = out.path().join(&artifact.path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, &artifact.contents).unwrap();
    }
    out
}

/// What a page shows that the checks need.
const PAGE_FACTS: &str = "return {
    title: document.title,
    text: document.querySelector('main') ? document.querySelector('main').innerText.length : 0,
    ids: Array.from(document.querySelectorAll('[id]'), e => e.id),
    links: Array.from(document.querySelectorAll('a[href]'), a => a.getAttribute('href')),
    images: document.querySelectorAll('img').length,
    pwned: window.pwned === undefined ? null : String(window.pwned),
};";

/// Opens every page: no console errors, a title, content; returns each
/// page's (canonical path → ids, links).
fn visit(browser: &Browser, site: &Path) -> BTreeMap<PathBuf, (BTreeSet<String>, Vec<String>)> {
    let mut seen = BTreeMap::new();
    for page in pages(site) {
        browser.goto(&url(&page));
        let facts = browser.execute(PAGE_FACTS, &[]);
        let errors: Vec<(String, String)> =
            browser.console().into_iter().filter(|(level, _)| level == "SEVERE").collect();
        assert!(errors.is_empty(), "{}: console errors {errors:?}", page.display());
        assert!(facts["title"].as_str().is_some_and(|t| !t.is_empty()), "{}: no title", page.display());
        assert!(facts["text"].as_u64().unwrap() > 0, "{}: an empty page", page.display());
        assert_eq!(facts["pwned"], Value::Null, "{}: a script from the spec ran", page.display());
        let strings = |v: &Value| -> Vec<String> {
            v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
        };
        seen.insert(
            page.canonicalize().unwrap(),
            (strings(&facts["ids"]).into_iter().collect(), strings(&facts["links"])),
        );
    }
    seen
}

/// Every relative link of every page names an existing file, and for a
/// page, an element with the anchor's id; returns how many were checked.
fn check_links(seen: &BTreeMap<PathBuf, (BTreeSet<String>, Vec<String>)>) -> usize {
    let mut checked = 0;
    for (page, (_, links)) in seen {
        for link in links {
            if link.starts_with("https://") || link.starts_with("http://") {
                continue;
            }
            assert!(!link.contains(':'), "{}: a link with a scheme: {link}", page.display());
            let (path, anchor) = link.split_once('#').unwrap_or((link, ""));
            let target = if path.is_empty() { page.clone() } else { page.parent().unwrap().join(path) };
            let target =
                target.canonicalize().unwrap_or_else(|_| panic!("{}: the link {link} names no file", page.display()));
            if !anchor.is_empty() {
                let (ids, _) = seen.get(&target).unwrap_or_else(|| panic!("{}: {link} is not a page", page.display()));
                assert!(
                    ids.contains(anchor),
                    "{}: the link {link} names no element of {}",
                    page.display(),
                    target.display()
                );
            }
            checked += 1;
        }
    }
    checked
}

/// Each diagram of the page open: (id, width, height, nodes).
fn diagrams(browser: &Browser) -> Vec<(String, f64, f64, u64)> {
    let found = browser.execute(
        "return Array.from(document.querySelectorAll('svg.diagram'), s => {
            const r = s.getBoundingClientRect(), st = getComputedStyle(s);
            const shown = st.display !== 'none' && st.visibility !== 'hidden';
            return [s.id, shown ? r.width : 0, shown ? r.height : 0, s.querySelectorAll('.node').length];
        });",
        &[],
    );
    found
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (d[0].as_str().unwrap().to_string(), d[1].as_f64().unwrap(), d[2].as_f64().unwrap(), d[3].as_u64().unwrap())
        })
        .collect()
}

#[test]
fn the_shop_site_renders_with_no_console_error_and_every_link_resolves_in_chromium() {
    let out = build(&repo_root().join("examples/shop"));
    let site = out.path().join("site");
    let browser = Browser::start(1400, 1000);
    let seen = visit(&browser, &site);
    assert!(seen.len() > 20, "pages: {}", seen.len());
    assert!(check_links(&seen) > 200);

    // Diagrams are drawn, visible, with nodes: the call graph on the
    // overview; call graph, event flow and the gateway's route map on the topology.
    browser.goto(&url(&site.join("index.html")));
    let overview = diagrams(&browser);
    assert_eq!(overview.len(), 1);
    assert_eq!(overview[0].0, "call-graph");
    assert!(overview[0].1 > 100.0 && overview[0].2 > 100.0 && overview[0].3 >= 12, "{overview:?}");
    browser.goto(&url(&site.join("topology.html")));
    let ids: Vec<String> = diagrams(&browser)
        .into_iter()
        .inspect(|(id, w, h, nodes)| assert!(*w > 0.0 && *h > 0.0 && *nodes > 0, "{id}: {w}×{h}, {nodes} nodes"))
        .map(|d| d.0)
        .collect();
    assert_eq!(ids, ["call-graph", "event-flow", "routes-public"]);

    // Search finds a service by part of its name, as typed into the box.
    browser.goto(&url(&site.join("index.html")));
    let search = browser.find("#search");
    browser.send_keys(&search, "AYMEN");
    let results = browser.execute(
        "const list = document.getElementById('results');
         return [list.hidden, Array.from(list.querySelectorAll('a'), a => [a.textContent, a.getAttribute('href')])];",
        &[],
    );
    assert_eq!(results[0], false, "the results are shown");
    let found = results[1].as_array().unwrap();
    assert!(found.contains(&json!(["payments", "services/payments.html"])), "{found:?}");
    // The result leads to the service's page.
    browser.goto(&url(&site.join("services/payments.html")));
    assert_eq!(browser.execute("return document.querySelector('h1').textContent", &[]), "payments");
    assert!(browser.console().iter().all(|(level, _)| level != "SEVERE"));

    // The security posture lists the compliance rules' verdicts, suppressions with their reasons.
    browser.goto(&url(&site.join("security.html")));
    let compliance = browser
        .execute("return Array.from(document.querySelectorAll('#compliance tbody tr'), r => r.textContent);", &[]);
    let rows: Vec<&str> = compliance.as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    assert!(rows.iter().any(|r| r.contains("card-services-hardened")), "{rows:?}");
    let suppressed = rows.iter().find(|r| r.contains("classified-calls-over-mtls")).expect("the suppressed rule");
    assert!(suppressed.contains("payments->bank (until 2099-12-31"), "{suppressed}");

    // The overview as the README shows it.
    browser.goto(&url(&site.join("index.html")));
    let png = browser.screenshot();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000, "a screenshot: {} bytes", png.len());
    if std::env::var_os("UPDATE_SCREENSHOT").is_some_and(|v| v == "1") {
        let path = repo_root().join("docs/images/site-overview.png");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }
}

/// `n` services in chains, owned by `teams` teams, behind one gateway.
fn large_mesh(n: usize, teams: usize) -> String {
    let mut spec = String::from(
        "mesh \"large\"\ngateway \"edge\" {\n    listener \"http\" port=8080\n    route \"all\" {\n        match path-prefix=\"/\"\n        to \"s0000\"\n        public reason=\"a test\"\n    }\n}\n",
    );
    for i in 0..n {
        spec.push_str(&format!(
            "service \"s{i:04}\" {{\n    owner \"team-{:02}\"\n    address \"s{i:04}.large.svc.cluster.local\" port=8080\n",
            i % teams
        ));
        for callee in [2 * i + 1, 2 * i + 2].into_iter().filter(|c| *c < n) {
            spec.push_str(&format!("    calls \"s{callee:04}\" timeout=\"1s\"\n"));
        }
        spec.push_str("    traffic {\n        outlier-detection\n    }\n}\n");
    }
    spec
}

#[test]
fn a_thousand_service_overview_is_clustered_by_owner_and_renders() {
    let workspace = tempfile::tempdir().unwrap();
    write_files(workspace.path(), &[("mesh.kdl", &large_mesh(1000, 20))]);
    let out = build_site(workspace.path());
    let site = out.path().join("site");
    assert_eq!(pages(&site.join("services")).len(), 1000);
    let browser = Browser::start(1400, 1000);
    browser.goto(&url(&site.join("index.html")));
    assert!(browser.console().iter().all(|(level, _)| level != "SEVERE"));
    let overview = diagrams(&browser);
    let (_, width, height, nodes) = &overview[0];
    // 20 teams and the gateway's group: one node each, not 1,001.
    assert_eq!(*nodes, 21);
    assert!(*width > 0.0 && *height > 0.0);
    let elements = browser.execute("return document.querySelector('svg.diagram').querySelectorAll('*').length", &[]);
    assert!(elements.as_u64().unwrap() < 2_000, "{elements} elements");
    let clusters = browser.execute(
        "return Array.from(document.querySelectorAll('svg.diagram a.node'), a => a.getAttribute('href')).filter(h => h.startsWith('index.html#owner-')).length",
        &[],
    );
    assert_eq!(clusters, 21);
}

#[test]
fn names_owners_and_docs_from_the_spec_and_schemas_are_escaped() {
    let workspace = tempfile::tempdir().unwrap();
    let hostile = "<img src=x onerror=\\\"window.pwned=1\\\">";
    write_files(
        workspace.path(),
        &[
            (
                "mesh.kdl",
                &format!(
                    "mesh \"evil\"\nservice \"api\" {{\n    owner \"{hostile}\"\n    address \"api.evil.svc.cluster.local\" port=8080\n    api \"grpc\" kind=\"grpc\" schema=\"evil.proto\"\n    traffic {{\n        outlier-detection\n    }}\n}}\nservice \"web\" {{\n    owner \"</script><script>window.pwned=2</script>\"\n    address \"web.evil.svc.cluster.local\" port=8081\n    api \"http\" kind=\"rest\" schema=\"evil.yaml\"\n    calls \"api\" operation=\"evil.v1.Evil/Get\" timeout=\"1s\"\n    traffic {{\n        outlier-detection\n    }}\n}}\n"
                ),
            ),
            (
                "evil.proto",
                "syntax = \"proto3\";\npackage evil.v1;\n// </code><script>window.pwned=3</script>\nservice Evil {\n  // <img src=x onerror=\"window.pwned=4\">\n  rpc Get(Req) returns (Req);\n}\n// '\"><svg onload=window.pwned=5>\nmessage Req {\n  // </td></tr></table><iframe src=javascript:window.pwned=6></iframe>\n  string id = 1;\n}\n",
            ),
            (
                "evil.yaml",
                "openapi: 3.0.3\ninfo: {title: evil, version: '1'}\npaths:\n  /x:\n    get:\n      summary: \"<script>window.pwned=7</script>\"\n      responses:\n        '200': {description: ok}\n",
            ),
        ],
    );
    let out = build_site(workspace.path());
    let site = out.path().join("site");
    for page in pages(&site) {
        let text = std::fs::read_to_string(&page).unwrap();
        for raw in ["<img", "<script>window", "<svg onload", "<iframe", "onerror=\"", "</code><script"] {
            assert!(!text.contains(raw), "{} carries `{raw}` unescaped", page.display());
        }
    }
    let service = std::fs::read_to_string(site.join("services/api.html")).unwrap();
    // Shown as text (askama writes `<` as `&#60;`).
    assert!(service.contains("&#60;img src=x onerror=&#34;window.pwned=1&#34;&#62;"), "the owner is shown, escaped");
    assert!(
        service.contains("&#60;/code&#62;&#60;script&#62;window.pwned=3&#60;/script&#62;"),
        "the proto comment too"
    );
    // The schema's operations and types are on its own page.
    let schema = std::fs::read_to_string(site.join("schemas/evil_2Eproto.html")).unwrap();
    assert!(schema.contains("&#60;img src=x onerror=&#34;window.pwned=4&#34;&#62;"), "the method's comment too");
    assert!(schema.contains("&#39;&#34;&#62;&#60;svg onload=window.pwned=5&#62;"), "and the message's");
    let index = std::fs::read_to_string(site.join("search-index.js")).unwrap();
    assert!(!index.contains('<'), "the search index never closes a script");

    // In the browser: nothing injected runs or renders, also through search.
    let browser = Browser::start(1200, 900);
    let seen = visit(&browser, &site);
    check_links(&seen);
    browser.goto(&url(&site.join("index.html")));
    browser.send_keys(&browser.find("#search"), "img");
    let shown = browser.execute(
        "return [document.querySelectorAll('#results li').length, document.querySelectorAll('img').length, window.pwned === undefined]",
        &[],
    );
    // The owner, and the service by its owner: as text, no image.
    assert_eq!(shown, json!([2, 0, true]));
}

/// Every page of a small fixture, as one snapshot (the stylesheet and
/// script are static files, left out).
#[test]
fn golden_pages_of_a_small_mesh() {
    let compilation = meshc::driver::compile(&repo_root().join("tests/fixtures/emit/site"));
    let options = meshc::emit::Options::default().with_backends(["site"]).unwrap();
    let built = compilation.build(&options).unwrap_or_else(|e| panic!("{e:?}"));
    let mut text = String::new();
    for artifact in built.artifacts.iter().filter(|a| !a.path.ends_with(".css") && a.path != "site/search.js") {
        text.push_str(&format!("=== {} ===\n{}\n", artifact.path, artifact.contents));
    }
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_snapshot!("site__mini_pages", text));
}
