//! meshc's Avro compatibility verdicts against Apache Avro's reference
//! implementation: Python `avro`'s `avro.compatibility` checker (a port of
//! Java's `SchemaCompatibility`), on writer/reader pairs generated here to
//! cover every rule: primitives and promotions, logical types, record
//! fields and defaults, field aliases, named types with namespaces and
//! aliases, enums and their defaults, fixed sizes, unions both ways, arrays,
//! maps, nesting and recursion. Every pair must get the same verdict.
//!
//! The `avro` package (the version `scripts/test` pins) is found through
//! `$MESHC_PYTHON_AVRO` (a `pip --target` directory), else
//! `.tools/python-avro`; without it the test fails: it never skips.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use meshc::model::values::SchemaFormat;
use meshc::schema::compat;
use serde_json::{json, Value};

/// This checkout's root (the `meshc` crate is `compiler/` in it).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("compiler/ has a parent").to_path_buf()
}

fn loud(msg: &str) -> String {
    let bar = "!".repeat(78);
    format!("\n{bar}\n!! {msg}\n{bar}\n")
}

/// The directory holding the Python `avro` package.
fn python_avro() -> PathBuf {
    const HOW: &str = "run ./scripts/test (installs avro into .tools/python-avro) or set MESHC_PYTHON_AVRO";
    let dir = match std::env::var_os("MESHC_PYTHON_AVRO").filter(|v| !v.is_empty()) {
        Some(value) => {
            let path = PathBuf::from(value);
            if path.is_relative() {
                repo_root().join(path)
            } else {
                path
            }
        }
        None => repo_root().join(".tools/python-avro"),
    };
    if !dir.join("avro/compatibility.py").is_file() {
        panic!("{}", loud(&format!("Python avro not found at {}: {HOW}", dir.display())));
    }
    dir
}

struct Pair {
    family: &'static str,
    writer: Value,
    reader: Value,
}

const PRIMITIVES: [&str; 8] = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"];

fn record(name: &str, fields: Vec<Value>) -> Value {
    json!({"type": "record", "name": name, "fields": fields})
}

fn field(name: &str, ty: Value) -> Value {
    json!({"name": name, "type": ty})
}

fn with(mut value: Value, key: &str, member: Value) -> Value {
    value[key] = member;
    value
}

/// A name written as a full name or as name + namespace, alternately.
fn named(kind: &str, full: &str, i: usize) -> Value {
    let mut value = match full.rsplit_once('.') {
        Some((ns, name)) if i % 2 == 1 => json!({"type": kind, "name": name, "namespace": ns}),
        _ => json!({"type": kind, "name": full}),
    };
    match kind {
        "record" => value["fields"] = json!([{"name": "a", "type": "int"}]),
        "enum" => value["symbols"] = json!(["A", "B"]),
        _ => value["size"] = json!(8),
    }
    value
}

fn pairs() -> Vec<Pair> {
    let mut out = Vec::new();
    let mut add = |family: &'static str, writer: Value, reader: Value| out.push(Pair { family, writer, reader });

    // Primitives and promotions, at the root and as a field's type.
    for w in PRIMITIVES {
        for r in PRIMITIVES {
            add("primitives", json!(w), json!(r));
            add("field types", record("R", vec![field("f", json!(w))]), record("R", vec![field("f", json!(r))]));
        }
    }

    // Logical types: their underlying types decide.
    let logical = [
        json!({"type": "int", "logicalType": "date"}),
        json!({"type": "int", "logicalType": "time-millis"}),
        json!({"type": "long", "logicalType": "time-micros"}),
        json!({"type": "long", "logicalType": "timestamp-millis"}),
        json!({"type": "long", "logicalType": "timestamp-micros"}),
        json!({"type": "long", "logicalType": "local-timestamp-millis"}),
        json!({"type": "string", "logicalType": "uuid"}),
        json!({"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}),
        json!({"type": "bytes", "logicalType": "decimal", "precision": 4, "scale": 1}),
        json!({"type": "fixed", "name": "D", "size": 8, "logicalType": "decimal", "precision": 9, "scale": 2}),
        json!({"type": "fixed", "name": "D", "size": 12, "logicalType": "duration"}),
        json!({"type": "fixed", "name": "E", "size": 12}),
        json!("int"),
        json!("long"),
        json!("string"),
        json!("bytes"),
    ];
    for w in &logical {
        for r in &logical {
            add("logical types", record("R", vec![field("t", w.clone())]), record("R", vec![field("t", r.clone())]));
        }
    }

    // Record fields: the writer's and the reader's subsets of a, b, c, the
    // reader's with or without defaults.
    let pool = [("a", json!("int"), json!(0)), ("b", json!("string"), json!("")), ("c", json!("long"), json!(7))];
    for wmask in 0..8u32 {
        for rmask in 0..8u32 {
            for defaults in [false, true] {
                let pick = |mask: u32, defaulted: bool| -> Vec<Value> {
                    pool.iter()
                        .enumerate()
                        .filter(|(i, _)| mask & (1 << i) != 0)
                        .map(|(_, (name, ty, default))| {
                            let f = field(name, ty.clone());
                            if defaulted {
                                with(f, "default", default.clone())
                            } else {
                                f
                            }
                        })
                        .collect()
                };
                add("record fields", record("R", pick(wmask, false)), record("R", pick(rmask, defaults)));
            }
        }
    }
    // A null default on a union, and a default the writer's field overrides.
    add(
        "record fields",
        record("R", vec![]),
        record("R", vec![with(field("n", json!(["null", "string"])), "default", Value::Null)]),
    );

    // Field aliases.
    let writers = [
        record("R", vec![field("old", json!("int"))]),
        record("R", vec![field("old", json!("int")), field("new", json!("string"))]),
        record("R", vec![field("new", json!("int"))]),
        record("R", vec![field("other", json!("string"))]),
    ];
    let readers = [
        record("R", vec![with(field("new", json!("long")), "aliases", json!(["old"]))]),
        record("R", vec![field("new", json!("long"))]),
        record("R", vec![with(with(field("new", json!("long")), "aliases", json!(["old"])), "default", json!(0))]),
        record("R", vec![with(field("new", json!("long")), "aliases", json!(["other", "old"]))]),
        record("R", vec![with(field("new", json!("string")), "aliases", json!(["other"]))]),
    ];
    for w in &writers {
        for r in &readers {
            add("field aliases", w.clone(), r.clone());
        }
    }

    // Named types: unqualified names match, the reader's aliases name the
    // writer's full name. (Unqualified aliases in a namespaced reader are
    // where Python and Java differ: see the divergence test below.)
    let names = ["a.X", "b.X", "a.Y", "X", "Y"];
    for kind in ["record", "enum", "fixed"] {
        for (i, w) in names.iter().enumerate() {
            for (j, r) in names.iter().enumerate() {
                let alias_sets: &[&[&str]] = if r.contains('.') {
                    &[&[], &["a.X"], &["b.Y", "a.X"], &["c.Z"]]
                } else {
                    &[&[], &["X"], &["a.X"], &["Y"]]
                };
                for aliases in alias_sets {
                    let reader = named(kind, r, j + 1);
                    let reader = if aliases.is_empty() { reader } else { with(reader, "aliases", json!(aliases)) };
                    add("named types", named(kind, w, i), reader);
                }
            }
        }
    }

    // Enums: symbols and the reader's default.
    let sets: Vec<Vec<&str>> = (1..8u32)
        .map(|mask| ["A", "B", "C"].iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, s)| *s).collect())
        .collect();
    for w in &sets {
        for r in &sets {
            let enumeration = |symbols: &[&str]| json!({"type": "enum", "name": "E", "symbols": symbols});
            add("enums", enumeration(w), enumeration(r));
            add("enums", enumeration(w), with(enumeration(r), "default", json!(r[0])));
        }
    }

    // Fixed sizes.
    for w in [4, 8, 16] {
        for r in [4, 8, 16] {
            add(
                "fixed",
                json!({"type": "fixed", "name": "F", "size": w}),
                json!({"type": "fixed", "name": "F", "size": r}),
            );
        }
    }

    // Unions, both ways, with promotions and named branches.
    let r1 = || record("R", vec![field("a", json!("int"))]);
    let r2 = || record("R", vec![field("a", json!("int")), field("b", json!("string"))]);
    let e = || json!({"type": "enum", "name": "E", "symbols": ["A"]});
    let types = vec![
        json!("null"),
        json!("int"),
        json!("long"),
        json!("string"),
        json!("bytes"),
        r1(),
        r2(),
        e(),
        json!({"type": "array", "items": "int"}),
        json!({"type": "map", "values": "long"}),
        json!(["null", "int"]),
        json!(["null", "long"]),
        json!(["null", "string"]),
        json!(["int", "string"]),
        json!(["null", r1()]),
        json!(["null", r2()]),
        json!(["long", "bytes"]),
        json!(["null", "int", "string"]),
        json!(["null", e()]),
        json!([{"type": "array", "items": "int"}, "null"]),
        json!([{"type": "map", "values": "long"}, "string"]),
        json!([r1(), "string"]),
        json!(["float", "double"]),
    ];
    for w in &types {
        for r in &types {
            add("unions", record("U", vec![field("u", w.clone())]), record("U", vec![field("u", r.clone())]));
        }
    }

    // Arrays and maps of each primitive, and across.
    let inner = ["null", "int", "long", "float", "double", "string", "bytes"];
    for w in inner {
        for r in inner {
            add("arrays", json!({"type": "array", "items": w}), json!({"type": "array", "items": r}));
            add("maps", json!({"type": "map", "values": w}), json!({"type": "map", "values": r}));
        }
    }
    add("arrays", json!({"type": "array", "items": "int"}), json!({"type": "map", "values": "int"}));
    add("maps", json!({"type": "map", "values": "int"}), json!({"type": "array", "items": "int"}));

    // Nested records in arrays and maps, with a field change deep inside.
    let item = |ty: &str, extra: Option<Value>| {
        let mut fields = vec![field("sku", json!("string")), field("quantity", json!(ty))];
        fields.extend(extra);
        record("Item", fields)
    };
    let order = |items: Value| record("shop.Order", vec![field("items", json!({"type": "array", "items": items}))]);
    let variants = [
        item("int", None),
        item("long", None),
        item("double", None),
        item("int", Some(field("note", json!("string")))),
        item("int", Some(with(field("note", json!("string")), "default", json!("")))),
    ];
    for w in &variants {
        for r in &variants {
            add("nested", order(w.clone()), order(r.clone()));
            add(
                "nested",
                record("M", vec![field("m", json!({"type": "map", "values": w.clone()}))]),
                record("M", vec![field("m", json!({"type": "map", "values": r.clone()}))]),
            );
        }
    }

    // Recursive types.
    let list = |ty: &str, extra: Option<Value>| {
        let mut fields = vec![field("value", json!(ty)), field("next", json!(["null", "Node"]))];
        fields.extend(extra);
        record("Node", fields)
    };
    let lists = [
        list("int", None),
        list("long", None),
        list("string", None),
        list("int", Some(field("extra", json!("int")))),
        list("int", Some(with(field("extra", json!("int")), "default", json!(1)))),
    ];
    for w in &lists {
        for r in &lists {
            add("recursive", w.clone(), r.clone());
        }
    }

    // A reader field of an enum type with an enum default, missing in the writer.
    let kind = json!({"type": "enum", "name": "K", "symbols": ["A", "B"], "default": "A"});
    add("enum default fields", record("R", vec![]), record("R", vec![field("k", kind.clone())]));
    add(
        "enum default fields",
        record("R", vec![]),
        record("R", vec![with(field("k", kind.clone()), "default", json!("B"))]),
    );
    add("enum default fields", record("R", vec![field("k", kind.clone())]), record("R", vec![field("k", kind)]));

    // Names inherited from the enclosing namespace.
    let outer = |ns: &str, inner: Value, by: &str| {
        json!({"type": "record", "name": "Outer", "namespace": ns, "fields": [
        {"name": "i", "type": inner}, {"name": "j", "type": by}]})
    };
    let inner_record = |name: &str, aliases: Option<&[&str]>| {
        let r = record(name, vec![field("x", json!("int"))]);
        match aliases {
            Some(a) => with(r, "aliases", json!(a)),
            None => r,
        }
    };
    let outers = [
        outer("a", inner_record("Inner", None), "Inner"),
        outer("b", inner_record("Inner", None), "b.Inner"),
        outer("a", inner_record("a.Inner", None), "Inner"),
        outer("a", inner_record("c.Inner", None), "c.Inner"),
        outer("a", inner_record("Other", Some(&["a.Inner"])), "Other"),
    ];
    for w in &outers {
        for r in &outers {
            add("namespaces", w.clone(), r.clone());
        }
    }
    out
}

/// Where Python's checker and Java's (the specification's) part ways, and
/// meshc follows Java: Python compares the writer's full name with the
/// reader's aliases as written, Java resolves an unqualified alias in the
/// reader's namespace first. (writer, reader, meshc's verdict).
fn divergences() -> Vec<(Value, Value, bool)> {
    let x_in_a = json!({"type": "record", "name": "Y", "namespace": "a", "aliases": ["X"], "fields": []});
    vec![
        // Java: alias X is a.X, the writer's name: compatible. Python: "X" ≠ "a.X".
        (json!({"type": "record", "name": "a.X", "fields": []}), x_in_a.clone(), true),
        // Java: alias a.X is not the writer's X. Python: "X" is among the aliases.
        (json!({"type": "record", "name": "X", "fields": []}), x_in_a, false),
    ]
}

fn meshc_verdict(writer: &Value, reader: &Value) -> Result<bool, String> {
    let load = |value: &Value, name: &str| {
        let text = serde_json::to_string_pretty(value).unwrap();
        let (_, schema) = meshc::schema::fuzzing::load_text(SchemaFormat::Avro, Path::new(name), &text);
        schema.map_err(|d| format!("{name}: {}", d.message))
    };
    let (w, r) = (load(writer, "writer.avsc")?, load(reader, "reader.avsc")?);
    let (Some(wt), Some(rt)) = (w.event_type(None), r.event_type(None)) else {
        return Err("no event type".into());
    };
    Ok(compat::reader_can_read(&wt, &rt).is_empty())
}

#[test]
fn avro_verdicts_agree_with_apache_avros_python_checker() {
    let site = python_avro();
    let pairs = pairs();
    let divergent = divergences();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("pairs.jsonl");
    let mut lines = String::new();
    for (i, pair) in pairs.iter().enumerate() {
        lines.push_str(&json!({"id": i, "writer": pair.writer, "reader": pair.reader}).to_string());
        lines.push('\n');
    }
    for (i, (writer, reader, _)) in divergent.iter().enumerate() {
        lines.push_str(&json!({"id": format!("d{i}"), "writer": writer, "reader": reader}).to_string());
        lines.push('\n');
    }
    std::fs::write(&input, lines).unwrap();
    let output = Command::new("python3")
        .arg(repo_root().join("scripts/avro_reference.py"))
        .arg(&input)
        .env("PYTHONPATH", &site)
        .output()
        .unwrap_or_else(|e| panic!("{}", loud(&format!("cannot run python3: {e}"))));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        loud(&format!("the reference script failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr)))
    );
    let mut verdicts: BTreeMap<String, String> = BTreeMap::new();
    let mut version = String::new();
    for line in stdout.lines() {
        let mut parts = line.splitn(3, '\t');
        let (id, verdict) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
        if id == "avro" {
            version = verdict.to_string();
            continue;
        }
        let verdict = match parts.next() {
            Some(why) => format!("{verdict}: {why}"),
            None => verdict.to_string(),
        };
        verdicts.insert(id.to_string(), verdict);
    }

    // Per family: (pairs, agreeing, compatible by the reference).
    let mut families: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    let mut disagreements = Vec::new();
    for (i, pair) in pairs.iter().enumerate() {
        let reference = verdicts.get(&i.to_string()).map(String::as_str).unwrap_or("missing");
        let ours = meshc_verdict(&pair.writer, &pair.reader);
        let entry = families.entry(pair.family).or_default();
        entry.0 += 1;
        let agree = matches!((&ours, reference), (Ok(true), "compatible") | (Ok(false), "incompatible"));
        if reference == "compatible" {
            entry.2 += 1;
        }
        if agree {
            entry.1 += 1;
        } else {
            disagreements.push(format!(
                "[{}] writer {}\n    reader {}\n    python: {reference}, meshc: {ours:?}",
                pair.family, pair.writer, pair.reader
            ));
        }
    }
    let agreeing: usize = families.values().map(|f| f.1).sum();
    println!("avro reference (Python avro {version}): {agreeing}/{} pairs agree", pairs.len());
    for (family, (n, agree, compatible)) in &families {
        println!("  {family:<22} {agree:>4}/{n:<4} agree ({compatible} compatible, {} not)", n - compatible);
    }
    assert!(
        disagreements.is_empty(),
        "{} of {} pairs disagree with Python avro {version}:\n{}",
        disagreements.len(),
        pairs.len(),
        disagreements.join("\n")
    );
    // Every family has pairs of both verdicts, so none passes by agreeing on one.
    for (family, (n, _, compatible)) in &families {
        assert!(
            *compatible > 0 && compatible < n,
            "family `{family}` has only one verdict: {compatible}/{n} compatible"
        );
    }
    assert!(pairs.len() >= 500, "{} pairs", pairs.len());

    for (i, (writer, reader, ours)) in divergent.iter().enumerate() {
        let reference = verdicts.get(&format!("d{i}")).map(String::as_str).unwrap_or("missing");
        assert_eq!(meshc_verdict(writer, reader), Ok(*ours), "divergence {i}: {writer} → {reader}");
        let python = if *ours { "incompatible" } else { "compatible" };
        assert_eq!(reference, python, "divergence {i} no longer diverges: {writer} → {reader}");
    }
}
