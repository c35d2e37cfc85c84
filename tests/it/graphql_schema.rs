//! GraphQL SDL schemas through the whole pipeline: GitHub's public schema
//! (read at test time from `../shared/corpora/graphql/`, never copied into
//! the repo) is indexed and checked against, and broken SDL is reported in
//! the `.graphql` file itself.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use meshc::base::Span;
use meshc::diag::render::{render, Format};
use meshc::diag::{Code, Diagnostic};
use meshc::driver::{compile, Compilation};
use meshc::model::values::{GraphqlRoot, Operation};

/// GitHub's published schema. Missing corpora fail the tests: there is
/// nothing to skip to.
fn github_schema() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpora/graphql/github-schema.graphql");
    assert!(
        path.is_file(),
        "\n\n!! The GraphQL corpus is missing: expected {}.\n!! Clone the repository with `shared/` beside it \
         (see shared/corpora/README.md); these tests cannot run without it.\n",
        path.display()
    );
    path.canonicalize().expect("canonical corpus path")
}

/// A temporary workspace with the given files (path relative to it, text).
fn workspace(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (rel, text) in files {
        let path = dir.path().join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    dir
}

/// A mesh where `client` calls `github` (whose GraphQL API is GitHub's
/// schema, by absolute path, its directory allowed) with `operation`.
fn github_mesh(operation: &str) -> String {
    format!(
        r#"mesh "gh"

schema-root "{root}"

service "github" {{
    owner "team-github"
    address "api.github.example" port=443
    api "github-graphql" kind="graphql" schema="{}"
    traffic {{ outlier-detection consecutive-5xx=5 }}
}}

service "client" {{
    owner "team-client"
    address "client.svc.cluster.local" port=8080
    calls "github" operation="{operation}" timeout="2s"
}}
"#,
        github_schema().display().to_string().replace('\\', "\\\\"),
        root = github_schema().parent().unwrap().display().to_string().replace('\\', "\\\\"),
    )
}

fn text(c: &Compilation, span: Span) -> &str {
    &c.sources.get(span.file).text[span.range()]
}

fn path(c: &Compilation, span: Span) -> &Path {
    &c.sources.get(span.file).path
}

fn primary(d: &Diagnostic) -> Span {
    d.primary.as_ref().unwrap_or_else(|| panic!("{} has no primary label: {d:#?}", d.code.id())).span
}

/// The diagnostics as the CLI prints them, for assertion messages.
fn human(c: &Compilation) -> String {
    render(Format::Human, &c.diagnostics, &c.sources, false)
}

fn only(c: &Compilation) -> &Diagnostic {
    assert_eq!(c.diagnostics.len(), 1, "expected exactly one diagnostic, got:\n{}", human(c));
    &c.diagnostics[0]
}

#[test]
fn the_github_schema_is_indexed() {
    let ws = workspace(&[("mesh.kdl", &github_mesh("Query.repository"))]);
    let started = Instant::now();
    let c = compile(ws.path());
    let elapsed = started.elapsed();
    assert!(c.diagnostics.is_empty(), "{}", human(&c));
    let model = c.model.as_ref().unwrap();
    let github = model.services.iter().find(|s| s.name.value == "github").unwrap();
    let schema = c.schemas.get(github.apis[0].schema).expect("the GitHub schema is indexed");
    let count = |root: GraphqlRoot| {
        schema
            .operations
            .iter()
            .filter(|d| matches!(&d.operation, Operation::Graphql { root: r, .. } if *r == root))
            .count()
    };
    let (queries, mutations) = (count(GraphqlRoot::Query), count(GraphqlRoot::Mutation));
    println!(
        "GitHub schema ({} KB): compiled in {elapsed:.2?} with {queries} Query and {mutations} Mutation fields",
        fs::metadata(github_schema()).unwrap().len() / 1024
    );
    // GitHub's Query type has ~30 fields and its Mutation type ~250.
    assert!(queries > 25, "{queries} Query fields");
    assert!(mutations > 100, "{mutations} Mutation fields");
    assert!(queries + mutations > 100);

    // Every root field points at its definition, from its name on.
    let repository = Operation::Graphql { root: GraphqlRoot::Query, field: "repository".into() };
    let def = schema.find(&repository).expect("Query.repository");
    let span = def.span.expect("a span");
    assert!(
        text(&c, span).starts_with("repository(") && text(&c, span).ends_with("): Repository"),
        "{}",
        text(&c, span)
    );
    for def in &schema.operations {
        let Operation::Graphql { field, .. } = &def.operation else { panic!("{}", def.operation) };
        assert!(text(&c, def.span.unwrap()).starts_with(field.as_str()), "{}", def.operation);
    }

    // Types are kept as the SDL writes them.
    let signature = schema.graphql_signature(&repository).expect("a signature");
    assert_eq!(signature.result.to_string(), "Repository");
    let owner = signature.arguments.iter().find(|a| a.name == "owner").expect("argument `owner`");
    assert_eq!(owner.ty.to_string(), "String!");
    assert!(owner.required());
    let follow = signature.arguments.iter().find(|a| a.name == "followRenames").expect("argument `followRenames`");
    assert_eq!(
        (follow.ty.to_string(), follow.default.as_deref(), follow.required()),
        ("Boolean".into(), Some("true"), false)
    );
}

#[test]
fn a_call_to_an_existing_field_checks_clean() {
    for operation in ["Query.viewer", "Mutation.addStar"] {
        let ws = workspace(&[("mesh.kdl", &github_mesh(operation))]);
        let c = compile(ws.path());
        assert!(c.diagnostics.is_empty(), "{operation}:\n{}", human(&c));
    }
}

#[test]
fn a_misspelled_field_is_unknown_with_a_did_you_mean_into_the_schema() {
    let ws = workspace(&[("mesh.kdl", &github_mesh("Query.repositry"))]);
    let c = compile(ws.path());
    let d = only(&c);
    assert_eq!(d.code, Code::UnknownOperation, "{}", human(&c));
    assert_eq!(text(&c, primary(d)), "operation=\"Query.repositry\"");
    assert_eq!(d.help.as_deref(), Some("did you mean `Query.repository`?"));
    let label = d.secondary.iter().find(|l| path(&c, l.span) == github_schema()).unwrap_or_else(|| {
        panic!("no label in the .graphql file:\n{}", human(&c));
    });
    assert_eq!(label.message, "the closest operation is defined here");
    assert!(text(&c, label.span).starts_with("repository("), "{}", text(&c, label.span));
    // The suggestion is a root field's name, not some other type's field.
    let (line, _) = c.sources.line_col(label.span.file, label.span.start);
    let sdl = fs::read_to_string(github_schema()).unwrap();
    let query_type = sdl.lines().position(|l| l.starts_with("type Query ")).unwrap() + 1;
    assert!(line > query_type, "line {line} is before `type Query` (line {query_type})");
}

#[test]
fn a_query_against_a_rest_only_service_is_a_kind_mismatch() {
    let openapi = "openapi: 3.0.3\ninfo: {title: Orders, version: '1'}\npaths:\n  /orders:\n    get: {responses: {'200': {description: ok}}}\n";
    let ws = workspace(&[
        (
            "mesh.kdl",
            r#"mesh "m"
service "orders" {
    owner "team-orders"
    address "orders.svc" port=8080
    api "orders-http" kind="rest" schema="apis/orders.yaml"
    traffic { outlier-detection consecutive-5xx=5 }
}
service "client" {
    owner "team-client"
    address "client.svc" port=8080
    calls "orders" operation="Query.orders"
}
"#,
        ),
        ("apis/orders.yaml", openapi),
    ]);
    let c = compile(ws.path());
    let d = only(&c);
    assert_eq!(d.code, Code::OperationKindMismatch, "{}", human(&c));
    assert_eq!(text(&c, primary(d)), "operation=\"Query.orders\"");
}

fn reviews_mesh(operation: &str) -> String {
    format!(
        r#"mesh "m"
service "reviews" {{
    owner "team-reviews"
    address "reviews.svc" port=8080
    api "reviews-graphql" kind="graphql" schema="apis/reviews.graphql"
    traffic {{ outlier-detection consecutive-5xx=5 }}
}}
service "client" {{
    owner "team-client"
    address "client.svc" port=8080
    calls "reviews" operation="{operation}"
}}
"#
    )
}

#[test]
fn broken_sdl_is_an_invalid_schema_pointing_into_the_file() {
    let cases = [
        // A syntax error: the list type is not closed.
        ("type Query {\n  reviews: [Review!\n}\ntype Review { id: ID! }\n", "}"),
        // A validation error: an undefined type.
        ("type Query {\n  reviews: [Review!]!\n}\n", "Review"),
        // Fields repeated with different types.
        ("type Query {\n  a: Int\n  a: String\n}\n", "a: String"),
    ];
    for (sdl, covering) in cases {
        let ws = workspace(&[("mesh.kdl", &reviews_mesh("Query.reviews")), ("apis/reviews.graphql", sdl)]);
        let c = compile(ws.path());
        let d = only(&c);
        assert_eq!(d.code, Code::InvalidSchema, "{}", human(&c));
        assert!(d.message.starts_with("invalid GraphQL schema: "), "{}", d.message);
        let span = primary(d);
        assert!(path(&c, span).ends_with("apis/reviews.graphql"), "{}", human(&c));
        assert_eq!(text(&c, span), covering, "{}", human(&c));
        let referenced = d.secondary.iter().find(|l| l.message == "referenced here").expect("a label at `schema=`");
        assert!(path(&c, referenced.span).ends_with("mesh.kdl"));
    }
}

#[test]
fn a_schema_without_a_query_type_is_invalid_at_the_api() {
    let ws = workspace(&[
        ("mesh.kdl", &reviews_mesh("Mutation.addReview")),
        ("apis/reviews.graphql", "type Mutation { addReview(text: String!): Int }\n"),
    ]);
    let c = compile(ws.path());
    let d = only(&c);
    assert_eq!(d.code, Code::InvalidSchema, "{}", human(&c));
    assert!(d.message.contains("missing query root operation type"), "{}", d.message);
    // apollo-compiler gives no position for a missing root: the diagnostic points at `schema=`.
    assert!(path(&c, primary(d)).ends_with("mesh.kdl"), "{}", human(&c));
}

/// Every prefix of the shop's SDL, and each with a stray token, loads or is
/// one MESH0015 inside the file, and renders.
#[test]
fn truncated_and_mangled_sdl_is_reported_not_a_crash() {
    let shop = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/shop/apis/reviews.graphql");
    let sdl = fs::read_to_string(&shop).expect("examples/shop/apis/reviews.graphql");
    let ws = workspace(&[("mesh.kdl", &reviews_mesh("Query.productReviews"))]);
    let file = ws.path().join("apis/reviews.graphql");
    fs::create_dir_all(file.parent().unwrap()).unwrap();
    let cuts: Vec<usize> = (0..=sdl.len()).step_by(7).filter(|&i| sdl.is_char_boundary(i)).collect();
    let mut variants: Vec<String> = cuts.iter().map(|&i| sdl[..i].to_string()).collect();
    for (n, &i) in cuts.iter().enumerate() {
        let token = ["{", "}", "[", "!", "(", "\"", "\"\"\"", "@", ":", "type ", "é", "\u{0}"][n % 12];
        variants.push(format!("{}{token}{}", &sdl[..i], &sdl[i..]));
    }
    let (mut clean, mut invalid) = (0, 0);
    for variant in &variants {
        fs::write(&file, variant).unwrap();
        let c = compile(ws.path());
        let _ = render(Format::Human, &c.diagnostics, &c.sources, false);
        let schema_errors: Vec<&Diagnostic> = c.diagnostics.iter().filter(|d| d.code == Code::InvalidSchema).collect();
        match schema_errors.as_slice() {
            [] => clean += 1,
            [d] => {
                invalid += 1;
                let span = primary(d);
                let in_sdl = path(&c, span).ends_with("apis/reviews.graphql");
                let at_api = path(&c, span).ends_with("mesh.kdl");
                assert!(in_sdl || at_api, "{variant:?}:\n{}", human(&c));
                if in_sdl {
                    assert!(span.range().end <= variant.len(), "{variant:?}: {:?}", span.range());
                }
            }
            _ => panic!("{variant:?}: more than one MESH0015:\n{}", human(&c)),
        }
    }
    println!("{} variants: {clean} clean, {invalid} invalid", variants.len());
    assert!(clean > 0 && invalid > 0);
}
