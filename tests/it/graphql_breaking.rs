//! `meshc diff` on GraphQL schemas against graphql-js's
//! `findBreakingChanges` and `findDangerousChanges` (npm `graphql`, the
//! version `scripts/test` pins), the reference implementation, on old/new
//! SDL pairs generated here: every rule's own example (from the rule
//! table), the type-change matrix in each position (output field,
//! argument, input field: every ordered pair of nine wrappings of two
//! scalars), every change of type kind, argument and input field
//! additions, defaults, directives, interfaces, unions, enums, and
//! non-breaking controls. A case agrees when both report the same set of
//! change types (meshc's rule ids mapped through `graphql::GRAPHQL_JS`).
//! The test prints the agreement table and asserts at least 98 %.
//!
//! graphql-js is found through `$MESHC_GRAPHQL_JS` (the package's
//! directory), else `.tools/graphql/node_modules/graphql`; without it, or
//! without `node`, the test fails: it never skips.

use crate::support::breaking::{case, Case};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use meshc::model::values::SchemaFormat;
use meshc::schema::breaking::graphql::{compare, GRAPHQL_JS, RULES};
use meshc::schema::fuzzing::load_text;

fn loud(msg: &str) -> String {
    let bar = "!".repeat(78);
    format!("\n{bar}\n!! {msg}\n{bar}\n")
}

/// The graphql-js package directory.
fn graphql_js() -> PathBuf {
    const HOW: &str = "run ./scripts/test (installs graphql into .tools/graphql) or set MESHC_GRAPHQL_JS";
    let path = match std::env::var_os("MESHC_GRAPHQL_JS").filter(|v| !v.is_empty()) {
        Some(value) => PathBuf::from(value),
        None => crate::support::repo_root().join(".tools/graphql/node_modules/graphql"),
    };
    assert!(
        path.join("package.json").is_file(),
        "{}",
        loud(&format!("graphql-js is missing at {}: {HOW}", path.display()))
    );
    path
}

/// Wrappings of `Int` and `String` a type change goes between.
const TYPES: [&str; 9] = ["Int", "Int!", "[Int]", "[Int]!", "[Int!]", "[Int!]!", "String", "String!", "[[Int]]"];

/// Keeps both scalars in use, so no case deletes one (see the module docs
/// of `schema::breaking::graphql` on built-in scalars).
const KEEP: &str = "keepInt: Int keepString: String";

fn cases() -> Vec<Case> {
    let mut out: Vec<Case> = RULES.iter().map(|r| case(format!("rule {}", r.id), r.before, r.after)).collect();
    for from in TYPES {
        for to in TYPES.iter().filter(|t| **t != from) {
            let output = |t: &str| format!("type Query {{ {KEEP} a: {t} }}\n");
            out.push(case(format!("output {from} -> {to}"), output(from), output(to)));
            let argument = |t: &str| format!("type Query {{ {KEEP} a(x: {t}): Int }}\n");
            out.push(case(format!("argument {from} -> {to}"), argument(from), argument(to)));
            let input = |t: &str| format!("type Query {{ {KEEP} a(f: F): Int }}\ninput F {{ x: {t} }}\n");
            out.push(case(format!("input field {from} -> {to}"), input(from), input(to)));
        }
    }
    let kinds = [
        ("object", "type X { a: Int }\n"),
        ("interface", "interface X { a: Int }\n"),
        ("union", "union X = Other\n"),
        ("enum", "enum X { A }\n"),
        ("input", "input X { a: Int }\n"),
        ("scalar", "scalar X\n"),
    ];
    for (from, before) in kinds {
        for (to, after) in kinds.iter().filter(|(k, _)| *k != from) {
            let base = format!("type Query {{ {KEEP} }}\ntype Other {{ a: Int }}\n");
            out.push(case(format!("kind {from} -> {to}"), format!("{base}{before}"), format!("{base}{after}")));
        }
    }
    let defaults = [
        ("int", "Int = 1", "Int = 2"),
        ("removed", "Int = 1", "Int"),
        ("added", "Int", "Int = 1"),
        ("same", "Int = 1", "Int = 1"),
        ("string", "String = \"a\"", "String = \"b\""),
        ("list", "[Int] = [1, 2]", "[Int] = [2, 1]"),
        ("list same", "[Int] = [1, 2]", "[Int] = [1, 2]"),
        ("enum", "E = A", "E = B"),
        ("input reordered", "F = {a: 1, b: 2}", "F = {b: 2, a: 1}"),
        ("input changed", "F = {a: 1}", "F = {a: 3}"),
        ("null", "Int = null", "Int = 1"),
    ];
    for (name, before, after) in defaults {
        let sdl = |arg: &str| {
            format!("type Query {{ {KEEP} a(x: {arg}): Int }}\nenum E {{ A B }}\ninput F {{ a: Int b: Int }}\n")
        };
        out.push(case(format!("default {name}"), sdl(before), sdl(after)));
    }
    let additions = [
        ("argument required", "a: Int", "a(x: Int!): Int"),
        ("argument optional", "a: Int", "a(x: Int): Int"),
        ("argument non-null with default", "a: Int", "a(x: Int! = 1): Int"),
        ("argument list", "a: Int", "a(x: [Int!]!): Int"),
        ("field added", "a: Int", "a: Int b: String"),
        ("field removed", "a: Int b: String", "a: Int"),
        ("argument removed", "a(x: Int, y: String): Int", "a(x: Int): Int"),
        ("arguments reordered", "a(x: Int, y: String): Int", "a(y: String, x: Int): Int"),
    ];
    for (name, before, after) in additions {
        let sdl = |field: &str| format!("type Query {{ {KEEP} {field} }}\n");
        out.push(case(format!("query {name}"), sdl(before), sdl(after)));
    }
    let inputs = [
        ("required", "x: Int", "x: Int y: Int!"),
        ("optional", "x: Int", "x: Int y: Int"),
        ("non-null with default", "x: Int", "x: Int y: Int! = 3"),
        ("removed", "x: Int y: Int", "x: Int"),
        ("default changed", "x: Int = 1", "x: Int = 2"),
    ];
    for (name, before, after) in inputs {
        let sdl = |fields: &str| format!("type Query {{ {KEEP} a(f: F): Int }}\ninput F {{ {fields} }}\n");
        out.push(case(format!("input {name}"), sdl(before), sdl(after)));
    }
    let shapes = [
        ("enum value added", "enum E { A }", "enum E { A B }"),
        ("enum value removed", "enum E { A B }", "enum E { A }"),
        ("enum value renamed", "enum E { A B }", "enum E { A C }"),
        ("enum value deprecated", "enum E { A B }", "enum E { A B @deprecated }"),
        ("union member added", "union U = T1", "union U = T1 | T2"),
        ("union member removed", "union U = T1 | T2", "union U = T1"),
        ("union member swapped", "union U = T1", "union U = T2"),
        (
            "interface added",
            "interface I { a: Int }\ntype T3 { a: Int }",
            "interface I { a: Int }\ntype T3 implements I { a: Int }",
        ),
        (
            "interface removed",
            "interface I { a: Int }\ntype T3 implements I { a: Int }",
            "interface I { a: Int }\ntype T3 { a: Int }",
        ),
        (
            "interface on an interface removed",
            "interface I { a: Int }\ninterface J implements I { a: Int }\ntype T3 implements J & I { a: Int }",
            "interface I { a: Int }\ninterface J { a: Int }\ntype T3 implements J & I { a: Int }",
        ),
        ("interface field removed", "interface I { a: Int b: Int }", "interface I { a: Int }"),
        ("interface field nullable", "interface I { a: Int! }", "interface I { a: Int }"),
        ("type added", "enum E { A }", "enum E { A }\ntype New { a: Int }"),
        ("type removed", "enum E { A }\ntype Old { a: Int }", "enum E { A }"),
        ("description changed", "\"one\" enum E { A }", "\"two\" enum E { A }"),
        ("field deprecated", "type T4 { a: Int }", "type T4 { a: Int @deprecated(reason: \"no\") }"),
        ("object field type to object", "type T4 { a: T1 }", "type T4 { a: T2 }"),
        ("object field to non-null object", "type T4 { a: T1 }", "type T4 { a: T1! }"),
    ];
    for (name, before, after) in shapes {
        let base = format!("type Query {{ {KEEP} }}\ntype T1 {{ a: Int }}\ntype T2 {{ a: Int }}\n");
        out.push(case(name, format!("{base}{before}\n"), format!("{base}{after}\n")));
    }
    let directives = [
        ("added", "", "directive @d on FIELD"),
        ("removed", "directive @d on FIELD", ""),
        ("location added", "directive @d on FIELD", "directive @d on FIELD | QUERY"),
        ("location removed", "directive @d on FIELD | QUERY", "directive @d on QUERY"),
        ("repeatable added", "directive @d on FIELD", "directive @d repeatable on FIELD"),
        ("repeatable removed", "directive @d repeatable on FIELD", "directive @d on FIELD"),
        ("argument added optional", "directive @d on FIELD", "directive @d(x: Int) on FIELD"),
        ("argument added required", "directive @d on FIELD", "directive @d(x: Int!) on FIELD"),
        ("argument removed", "directive @d(x: Int) on FIELD", "directive @d on FIELD"),
        ("argument type changed", "directive @d(x: Int) on FIELD", "directive @d(x: String) on FIELD"),
    ];
    for (name, before, after) in directives {
        let sdl = |d: &str| format!("{d}\ntype Query {{ {KEEP} }}\n");
        out.push(case(format!("directive {name}"), sdl(before), sdl(after)));
    }
    let rich = "schema { query: Q mutation: M }\ntype Q { keepInt: Int keepString: String node(id: ID!): Node list(first: Int = 10, f: F): [R!]! }\n\
                type M { put(f: F!): R }\ninterface Node { id: ID! }\ntype R implements Node { id: ID! e: E u: U }\n\
                enum E { A B }\nunion U = R | S\ntype S { s: String }\ninput F { a: Int = 1 b: [String!] }\n\
                directive @d(x: Int) repeatable on FIELD | OBJECT\nscalar Date\n";
    out.push(case("control: unchanged rich schema", rich, rich));
    out.push(case(
        "control: types reordered",
        format!("type Query {{ {KEEP} a: A b: B }}\ntype A {{ x: Int }}\ntype B {{ y: Int }}\n"),
        format!("type B {{ y: Int }}\ntype A {{ x: Int }}\ntype Query {{ {KEEP} b: B a: A }}\n"),
    ));
    out
}

/// graphql-js's change types per case.
fn reference(package: &Path, dir: &Path, cases: &[Case]) -> Vec<BTreeSet<String>> {
    let input: Vec<serde_json::Value> =
        cases.iter().map(|c| serde_json::json!({ "before": c.before, "after": c.after })).collect();
    std::fs::write(dir.join("cases.json"), serde_json::to_string(&input).unwrap()).unwrap();
    let script = r#"
const graphql = require(process.argv[2]);
const cases = JSON.parse(require('fs').readFileSync(process.argv[3], 'utf8'));
const out = cases.map(({ before, after }) => {
  try {
    const [a, b] = [graphql.buildSchema(before), graphql.buildSchema(after)];
    return [...graphql.findBreakingChanges(a, b), ...graphql.findDangerousChanges(a, b)].map((c) => c.type);
  } catch (e) {
    return ['ERROR ' + e.message];
  }
});
process.stdout.write(JSON.stringify(out));
"#;
    std::fs::write(dir.join("find.js"), script).unwrap();
    let output = Command::new("node")
        .arg(dir.join("find.js"))
        .arg(package)
        .arg(dir.join("cases.json"))
        .output()
        .unwrap_or_else(|e| panic!("{}", loud(&format!("node does not run ({e}): install Node.js"))));
    assert!(output.status.success(), "graphql-js failed: {}", String::from_utf8_lossy(&output.stderr));
    let types: Vec<Vec<String>> = serde_json::from_slice(&output.stdout).unwrap();
    types.into_iter().map(|t| t.into_iter().collect()).collect()
}

/// meshc's changes per case, as graphql-js's change types.
fn ours(case: &Case) -> BTreeSet<String> {
    let load = |text: &str| {
        load_text(SchemaFormat::Graphql, Path::new("/s.graphql"), text)
            .1
            .unwrap_or_else(|d| panic!("{}: meshc does not load {text}: {}", case.name, d.message))
    };
    let (old, new) = (load(&case.before), load(&case.after));
    let changes = compare(&old.graphql_document().unwrap(), &new.graphql_document().unwrap());
    changes
        .iter()
        .map(|c| GRAPHQL_JS.iter().find(|(id, _)| *id == c.rule.id).map(|(_, t)| t.to_string()).unwrap())
        .collect()
}

/// Disagreements kept on purpose: (case name, why).
const KNOWN: &[(&str, &str)] = &[];

#[test]
fn meshc_diff_agrees_with_graphql_js() {
    let package = graphql_js();
    let cases = cases();
    let tmp = tempfile::tempdir().unwrap();
    let theirs = reference(&package, tmp.path(), &cases);
    let mut agree = 0;
    let mut disagreements = Vec::new();
    for (case, theirs) in cases.iter().zip(&theirs) {
        assert!(
            !theirs.iter().any(|t| t.starts_with("ERROR")),
            "{}: graphql-js rejects the case: {theirs:?}",
            case.name
        );
        let mine = ours(case);
        if &mine == theirs {
            agree += 1;
        } else {
            let known = KNOWN.iter().any(|(name, _)| *name == case.name);
            disagreements.push(format!(
                "{}{}: graphql-js {theirs:?}, meshc {mine:?}",
                case.name,
                if known { " (known)" } else { "" }
            ));
        }
    }
    let rate = 100.0 * agree as f64 / cases.len() as f64;
    println!("\ncases  agree  rate\n{:>5}  {agree:>5}  {rate:>5.1} %", cases.len());
    for d in &disagreements {
        println!("disagreement: {d}");
    }
    assert!(rate >= 98.0, "agreement {rate:.1} % < 98 %:\n{}", disagreements.join("\n"));
    let unexplained: Vec<&String> = disagreements.iter().filter(|d| !d.contains(" (known)")).collect();
    assert!(unexplained.is_empty(), "disagreements with graphql-js that KNOWN does not explain:\n{unexplained:#?}");
}
