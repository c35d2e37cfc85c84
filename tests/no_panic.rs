//! No input makes meshc panic.
//!
//! A fixed-seed mutator (xorshift, no external crates) derives many variants
//! from the example workspaces' spec files, a few inline fixtures, and the
//! shop's schemas (OpenAPI, protobuf, Avro, JSON Schema): truncations (also inside multi-byte
//! UTF-8), deleted / duplicated / swapped byte ranges and lines, random bytes,
//! KDL-significant tokens, values replaced by values of other types, and
//! splices from other files. Each variant goes through
//!
//! - `meshc::syntax::parse` directly, then every renderer over its diagnostics;
//! - the whole pipeline (`meshc::driver::compile`) in a temporary copy of a
//!   workspace, `Compilation::emit()` when there are no errors, and every
//!   diagnostic renderer;
//! - `meshc diff` of a schema file against its variant, both ways round
//!   (`diff_never_panics`), and every renderer;
//!
//! each under `catch_unwind`. A failure names the variant's seed and prints
//! the input that panicked. `MESHC_FUZZ_SEED=<n>` changes the base seed and
//! `MESHC_FUZZ_SCALE=<x>` multiplies the number of variants (e.g. 10 for a
//! longer soak), `MESHC_FUZZ_VERBOSE=1` prints every panic as it happens; a
//! watchdog aborts with the input if one variant runs over 60 s. Inputs that
//! once panicked are kept, minimised, in [`REGRESSIONS`] and run every time.
//!
//! This runs in the dev profile. Optimised builds can differ (just-kdl 0.3.0
//! only works with debug assertions on), so a soak is also worth running as
//! `cargo test --release -p meshc --test no_panic`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use meshc::base::{FileId, Sources};
use meshc::diag::render::{render, Format};
use meshc::diag::Diagnostic;

// ---------------------------------------------------------------- PRNG ----

/// xorshift64* — small, fast, reproducible.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // splitmix64 so nearby seeds give unrelated streams; never zero.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    /// A random sub-range of `0..len`, biased to short ranges.
    fn range(&mut self, len: usize) -> std::ops::Range<usize> {
        let start = self.below(len + 1);
        let max = if self.chance(80) { 16 } else { 256 };
        let end = (start + self.below(max + 1)).min(len);
        start..end
    }
}

fn base_seed() -> u64 {
    std::env::var("MESHC_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x6D65_7368_6321)
    // "meshc!"
}

/// Scales a variant count by `MESHC_FUZZ_SCALE` (default 1).
fn scaled(n: usize) -> usize {
    let scale: f64 = std::env::var("MESHC_FUZZ_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1.0);
    ((n as f64) * scale).max(1.0) as usize
}

// ------------------------------------------------------------ mutation ----

/// Tokens that mean something to KDL (v2, and some v1 leftovers).
#[rustfmt::skip]
const KDL_TOKENS: &[&str] = &[
    "{", "}", "{\n", "\n}\n", "\"", "\"\"\"", "\"\"\"\n", "\n\"\"\"", "#\"", "\"#", "##\"", "r#\"", "/-", "/- ",
    "//", "/*", "*/", "/* /* */", "#", "=", " = ", "(t)", "(", ")", "()", "(\"\")", "\\", "\\ \n", " \\\n",
    "\\u{", "\\u{10FFFF}", "\\u{D800}", "\\s", "\\\n  ", ";", "\n", "\r\n", "\r", "\u{85}", "\u{2028}",
    "\u{FEFF}", "\t", " ", "\u{A0}", "\u{1680}", "\u{2000}", "\u{2009}", "\u{205F}", "\u{3000}",
    "\u{A0}\u{205F}", "\n \u{A0}", "\n\u{3000}", "0x", "0x_", "0b2", "0o8", "1e999", "-1e999", "1e-999", "-0",
    "+0", "0.0", ".5", "1.", "1_000", "#inf", "#-inf", "#nan", "#true", "#false", "#null", "true", "null",
    "\u{0}", "\u{7F}", "\u{FFFD}", "é", "日本", "🦀", "\u{200D}", "\u{202E}", "import \"*.kdl\"\n",
    "import \"mesh.kdl\"\n", "service", "gateway", "route", "calls", "api", "owner", "address", "listener",
    "match", "to", "timeout", "error-format", "status", "header", "mesh", "operation=", "port=", "schema=",
    "kind=", "path=", "path-prefix=", "method=", "message=", "prefix=", "exact=", "present=", "address=",
    "grpc-service=", "topic", "publishes", "subscribes", "schema", "format=", "compliance-rule", "data-class",
    "suppress", "applies-to", "require", "when", "not", "any", "all", "holders", "subject=", "until=",
    "import \"std:compliance/strict\"\n",
];

/// Values of every type, and strings that stress the value parsers.
#[rustfmt::skip]
const VALUES: &[&str] = &[
    "0", "1", "-1", "-0", "+0", "0x", "0xFFFF", "65535", "65536", "-65536", "8080", "99999",
    "0x7fffffffffffffffffffffffffffffff", "-0x80000000000000000000000000000000",
    "340282366920938463463374607431768211456", "1e999", "-1e999", "1e-999", "1.5", "0.0", "#inf", "#-inf",
    "#nan", "#true", "#false", "#null", "(u8)1", "(string)\"x\"", "\"\"", "\" \"", "\"x\"", "\"-\"", "\"a-\"",
    "\"-a\"", "\"A\"", "\"é\"", "\"🦀\"", "\"\\u{0}\"", "\"\\u{10FFFF}\"", "\"a\\nb\"", "\"\\t\"", "\"%\"",
    "\"%%\"", "\"%REQ(x)%\"", "\"0\"", "\"0s\"", "\"0ms\"", "\"1ns\"", "\"1.5ms\"", "\"1us\"",
    "\"999999999999999999999y\"", "\"10000000000y\"", "\"1y\"", "\"-1s\"", "\"1 s\"", "\" 2s \"",
    "\"2 parsecs\"", "\"ms\"", "\"1\"", "\"GET /\"", "\"GET  /x\"", "\"GET\"", "\"GET \"", "\"get /x\"",
    "\"FETCH /x\"", "\"GET /a b\"", "\"GET /{}\"", "\"GET /{\"", "\"GET /}{\"", "\"GET //\"", "\"/\"", "\"//\"",
    "\"/a/\"", "\"a/b\"", "\"/b\"", "\"a/\"", "\".a/b\"", "\"a./b\"", "\"a..b/c\"", "\"1a/b\"", "\"a.B_c/D_e\"",
    "\"Query.\"", "\"Query.x\"", "\".x\"", "\"Mutation.é\"", "\"Subscription.a.b\"", "\"query.x\"", "\"*\"",
    "\"**\"", "\"**/*.kdl\"", "\"[\"", "\"[!]\"", "\"?\"", "\"services/*.kdl\"", "\"services/*.yaml\"",
    "\"gateway.kdl\"", "\"mesh.kdl\"", "\"./mesh.kdl\"", "\"../mesh.kdl\"", "\"..\"", "\".\"", "\"../\"",
    "\"services\"", "\"../apis/orders.yaml\"", "\"../protos/payments.proto\"", "\"apis/orders.yaml\"",
    "\"protos/inventory.proto\"", "\"../services/orders.kdl\"",
    "\"shop.payments.v1.Payments\"", "\"Payments\"", "\"shop.payments.v1\"", "\"rest\"", "\"grpc\"", "\"graphql\"",
    "\"json\"", "\"text\"", "\"xml\"", "\"REST\"", "\"0.0.0.0\"", "\"::\"", "\"::1\"", "\"[::1]\"",
    "\"127.0.0.1\"", "\"256.0.0.1\"", "\"1.2.3\"", "\"localhost\"", "\"a..b\"", "\"a.\"", "\".\"",
    "\"xn--p1ai\"", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
    "\"content-type\"", "\"Content-Type\"", "\":method\"", "\"x y\"", "\"x\\ny\"", "\"orders\"", "\"catalog\"",
    "\"payments\"", "\"inventory\"", "\"public\"", "\"avro\"", "\"json-schema\"", "\"openapi\"",
    "\"orders-placed\"", "\"reviews-posted\"", "\"../schemas/order-placed.avsc\"",
    "\"../schemas/review-posted.json\"", "\"../apis/catalog.yaml\"", "\"x.avsc\"", "\"http\"", "#\"raw \"quoted\" string\"#",
    "\"\"\"\n  multi\n  line\n  \"\"\"", "bare", "-", "a=1",
];

/// Splices other texts may contribute (set per corpus).
struct Mutator<'a> {
    corpus: &'a [String],
    tokens: &'a [&'a str],
}

impl Mutator<'_> {
    /// One variant of `text`: 1–4 mutations, then lossy UTF-8.
    fn variant(&self, text: &str, rng: &mut Rng) -> String {
        let mut bytes = text.as_bytes().to_vec();
        for _ in 0..1 + rng.below(4) {
            self.mutate(&mut bytes, rng);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// A variant likely to stay valid KDL, to reach lowering, checks and emit:
    /// one value replaced by another, or one line deleted, duplicated or moved.
    fn gentle_variant(&self, text: &str, rng: &mut Rng) -> String {
        let mut b = text.as_bytes().to_vec();
        match rng.below(5) {
            0..=2 => {
                let spans = value_spans(&b);
                if !spans.is_empty() {
                    let r = rng.pick(&spans).clone();
                    b.splice(r, rng.pick(VALUES).bytes());
                }
            }
            3 => line_op(&mut b, rng, LineOp::Duplicate),
            _ => {
                let op = if rng.chance(50) { LineOp::Delete } else { LineOp::Swap };
                line_op(&mut b, rng, op)
            }
        }
        String::from_utf8_lossy(&b).into_owned()
    }

    fn mutate(&self, b: &mut Vec<u8>, rng: &mut Rng) {
        let len = b.len();
        match rng.below(14) {
            // Truncate anywhere, including inside a multi-byte character.
            0 => b.truncate(rng.below(len + 1)),
            // Delete a byte range.
            1 => {
                let r = rng.range(len);
                b.drain(r);
            }
            // Duplicate a byte range somewhere.
            2 => {
                let r = rng.range(len);
                let copy = b[r].to_vec();
                let at = rng.below(b.len() + 1);
                b.splice(at..at, copy);
            }
            // Swap two byte ranges.
            3 => {
                let (x, y) = (rng.range(len), rng.range(len));
                let (first, second) = if x.start <= y.start { (x, y) } else { (y, x) };
                if first.end <= second.start {
                    let mut out = b[..first.start].to_vec();
                    out.extend_from_slice(&b[second.clone()]);
                    out.extend_from_slice(&b[first.end..second.start]);
                    out.extend_from_slice(&b[first.clone()]);
                    out.extend_from_slice(&b[second.end..]);
                    *b = out;
                }
            }
            // Insert a significant token (twice as likely: most productive).
            4 | 5 => {
                let t = rng.pick(self.tokens).as_bytes();
                let at = rng.below(len + 1);
                b.splice(at..at, t.iter().copied());
            }
            // Replace a value by one of another type or shape.
            6 | 7 => {
                let spans = value_spans(b);
                if !spans.is_empty() {
                    let r = rng.pick(&spans).clone();
                    let v = rng.pick(VALUES).as_bytes();
                    b.splice(r, v.iter().copied());
                }
            }
            // Set a random byte (may break UTF-8 mid-sequence).
            8 => {
                if len > 0 {
                    let i = rng.below(len);
                    b[i] = match rng.below(4) {
                        0 => rng.next() as u8,
                        1 => 0x80 | (rng.next() as u8 & 0x3F), // stray continuation
                        2 => 0xF0,                             // lead of a 4-byte sequence
                        _ => *rng.pick(b"{}\"=#;/\\()\n "),
                    };
                }
            }
            // Line operations keep most of the syntax valid and reach the model.
            9 => line_op(b, rng, LineOp::Delete),
            10 => line_op(b, rng, LineOp::Duplicate),
            11 => line_op(b, rng, LineOp::Swap),
            // Splice a range of another corpus file in.
            12 => {
                if !self.corpus.is_empty() {
                    let other = rng.pick(self.corpus).as_bytes();
                    let r = rng.range(other.len());
                    let at = rng.below(len + 1);
                    b.splice(at..at, other[r].iter().copied());
                }
            }
            // Truncate at a multi-byte character's inside, if there is one.
            _ => {
                let inner: Vec<usize> = (0..len).filter(|&i| b[i] & 0xC0 == 0x80).collect();
                if inner.is_empty() {
                    b.truncate(rng.below(len + 1));
                } else {
                    b.truncate(*rng.pick(&inner));
                }
            }
        }
    }
}

#[derive(Clone, Copy)]
enum LineOp {
    Delete,
    Duplicate,
    Swap,
}

fn line_op(b: &mut Vec<u8>, rng: &mut Rng, op: LineOp) {
    let mut lines: Vec<Vec<u8>> = b.split_inclusive(|&c| c == b'\n').map(<[u8]>::to_vec).collect();
    if lines.is_empty() {
        return;
    }
    let i = rng.below(lines.len());
    match op {
        LineOp::Delete => {
            lines.remove(i);
        }
        LineOp::Duplicate => {
            let line = lines[i].clone();
            let at = rng.below(lines.len() + 1);
            lines.insert(at, line);
        }
        LineOp::Swap => {
            let j = rng.below(lines.len());
            lines.swap(i, j);
        }
    }
    *b = lines.concat();
}

/// Byte ranges of quoted strings, numbers and `#keywords`: candidates for replacement.
fn value_spans(b: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut spans = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'"' {
            let start = i;
            i += 1;
            while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            if i < b.len() && b[i] == b'"' {
                spans.push(start..i + 1);
            }
            i += 1;
        } else if (c.is_ascii_digit() || c == b'#') && (i == 0 || matches!(b[i - 1], b' ' | b'=' | b'\t')) {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b"._+-#".contains(&b[i])) {
                i += 1;
            }
            spans.push(start..i);
        } else {
            i += 1;
        }
    }
    spans
}

// ------------------------------------------------------------- harness ----

/// Prints the input of a variant that runs far too long, then aborts: a hang
/// is as much a bug as a panic, and a stuck test would say nothing.
struct Watchdog {
    current: Arc<Mutex<(Instant, String)>>,
    done: Arc<AtomicBool>,
}

impl Watchdog {
    fn start(name: &'static str) -> Watchdog {
        let current = Arc::new(Mutex::new((Instant::now(), String::new())));
        let done = Arc::new(AtomicBool::new(false));
        let (c, d) = (current.clone(), done.clone());
        std::thread::spawn(move || {
            while !d.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(500));
                let guard = c.lock().unwrap_or_else(|e| e.into_inner());
                if guard.0.elapsed() > Duration::from_secs(60) {
                    eprintln!("{name}: one variant has run for over 60 s; it hangs on:\n{}", guard.1);
                    std::process::abort();
                }
            }
        });
        Watchdog { current, done }
    }

    fn enter(&self, what: impl FnOnce() -> String) {
        let mut guard = self.current.lock().unwrap_or_else(|e| e.into_inner());
        *guard = (Instant::now(), what());
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
    }
}

/// Silences the default panic message while variants run: failures are
/// collected with their input and reported together.
fn quiet_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let location =
                info.location().map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column())).unwrap_or_default();
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = format!("{message} at {location}");
            // Loud outside variant runs (the test's own assertions), except on
            // unnamed threads (rayon workers running a variant).
            let in_run = IN_RUN.with(|r| r.get());
            let worker = std::thread::current().name().is_none();
            if std::env::var_os("MESHC_FUZZ_VERBOSE").is_some() || !(in_run || worker) {
                default(info);
            }
        }));
    });
}

thread_local! {
    static IN_RUN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The last panic's message and location (also from rayon worker threads).
static LAST_PANIC: Mutex<String> = Mutex::new(String::new());

/// Collected failures of one test: (panic message, report).
#[derive(Default)]
struct Failures(Vec<(String, String)>);

impl Failures {
    /// Runs `f`; on a panic records the seed, label, panic message and input.
    fn run(&mut self, seed: u64, label: &str, input: &str, f: impl FnOnce()) {
        IN_RUN.with(|r| r.set(true));
        let result = catch_unwind(AssertUnwindSafe(f));
        IN_RUN.with(|r| r.set(false));
        if result.is_err() {
            // The hook ran on the panicking thread (maybe a rayon worker). Not
            // cleared between runs: tests run in parallel and panics are rare.
            let message = LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let report = format!(
                "PANIC in {label} (variant seed {seed:#x}): {message}\n--- input ({} bytes, Rust-escaped):\n{input:?}\n---",
                input.len()
            );
            self.0.push((message, report));
        }
    }

    /// Fails with one reproducer (the shortest input) per distinct panic.
    fn assert_none(self, what: &str, runs: usize) {
        println!("{what}: {runs} runs, {} panic(s)", self.0.len());
        if self.0.is_empty() {
            return;
        }
        let mut distinct: Vec<(String, usize, String)> = Vec::new();
        for (message, report) in self.0.iter() {
            // Same panic site = same bug, whatever the message's details.
            let site = |m: &str| m.rsplit_once(" at ").map_or(m.to_string(), |(_, at)| at.to_string());
            match distinct.iter_mut().find(|(m, _, _)| site(m) == site(message)) {
                Some((_, n, shortest)) => {
                    *n += 1;
                    if report.len() < shortest.len() {
                        *shortest = report.clone();
                    }
                }
                None => distinct.push((message.clone(), 1, report.clone())),
            }
        }
        let reports: Vec<String> = distinct.iter().map(|(_, n, r)| format!("[{n} variant(s)] {r}")).collect();
        panic!(
            "{} of {runs} {what} runs panicked (base seed {:#x}), {} distinct panic(s); shortest input of each:\n\n{}",
            self.0.len(),
            base_seed(),
            distinct.len(),
            reports.join("\n\n")
        );
    }
}

/// Renders diagnostics in every format: renderers slice sources by span.
fn render_all(diagnostics: &[Diagnostic], sources: &Sources) {
    for format in [Format::Human, Format::Json, Format::Sarif] {
        let _ = render(format, diagnostics, sources, false);
    }
    let _ = render(Format::Human, diagnostics, sources, true);
}

// -------------------------------------------------------------- corpus ----

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every file under `dir` (recursively) whose name ends with one of `exts`.
fn files_under(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if exts.iter().any(|x| p.to_string_lossy().ends_with(x)) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The example workspaces to fuzz (directories with a mesh.kdl). The shop
/// must exist; others (online-boutique, ...) are used when present.
fn workspaces() -> Vec<PathBuf> {
    let examples = repo().join("examples");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&examples)
        .map(|r| r.flatten().map(|e| e.path()).filter(|p| p.join("mesh.kdl").is_file()).collect())
        .unwrap_or_default();
    out.sort();
    assert!(out.iter().any(|p| p.ends_with("shop")), "examples/shop is missing from {}", examples.display());
    out
}

/// Single-file specs using the whole vocabulary, and KDL that is syntactically gnarly.
const FIXTURES: &[&str] = &[
    r#"mesh "everything"
service "alpha" {
    owner "team-a"
    address "alpha.svc" port=8080
    api "alpha-http" kind="rest" schema="apis/orders.yaml"
    api "alpha-grpc" kind="grpc" schema="protos/payments.proto" grpc-service="shop.payments.v1.Payments"
    api "alpha-inv" kind="grpc" schema="protos/inventory.proto" grpc-service="Inventory"
    api "alpha-gql" kind="graphql" schema="schema.graphql"
    calls "beta" operation="GET /products/{id}" timeout="250ms"
    calls "alpha" operation="shop.payments.v1.Payments/Refund"
    calls "beta"
}
service "beta" {
    owner "team-b"
    address "10.0.0.2" port=50051
    api "beta-http" kind="rest" schema="apis/catalog.yaml"
    calls "alpha" operation="Query.orders" timeout="1m30s"
}
gateway "edge" {
    listener "v4" port=80
    listener "v6" address="::" port=80
    listener "lan" address="127.0.0.1" port=80
    error-format "text" {
        status 404 message="nothing here: 100%"
        status 599 message="odd"
    }
    route "a" {
        match path-prefix="/" method="GET" {
            header "X-Api" exact="2"
            header "x-trace" present=#true
            header "accept" prefix="application/"
        }
        to "alpha" operation="GET /orders/{orderId}"
        timeout "2s"
        error-format { status 503 message="a is down" }
    }
    route "b" {
        match path="/orders" method="POST"
        to "alpha"
        error-format "json" { status 500 message="b: %REQ(x)%" }
    }
    route "c" {
        match path-prefix="/shop.payments.v1.Payments/"
        to "alpha" operation="shop.payments.v1.Payments/Charge"
    }
}
gateway "second" {
    listener "http" port=8080
}
"#,
    // Every kind of KDL v2 syntax, wrapped around valid spec content.
    "/* block /* nested */ comment */ mesh \"gnarly\" // trailing\n\
     (svc)service #\"raw\"# { /- skipped \"x\"; owner \"team\\u{2d}x\"\n\
     address \"gn.svc\" \\\n  port=0x1F90 port=8080\n\
     api \"a\" kind=\"rest\" schema=\"\"\"\n    apis/orders.yaml\n    \"\"\"\n\
     /- calls \"nope\"\n}\n\
     \"gateway\" \"g\" { listener \"l\" port=0b1010000; route \"r\" { match path=\"/\"; to #\"raw\"# } }\n\
     service \"raw\" { owner team; address \"raw.svc\" port=0o17620 }\n",
    "service \"orders\" {\n    address \"orders.local\" port=8080\n}\n",
    "",
    "\u{FEFF}mesh \"bom\"\n",
    "import \"services/*.kdl\"\nimport \"gateway.kdl\"\nimport \"services/*.kdl\"\nimport \"mesh.kdl\"\n",
];

/// Inputs that once panicked (minimised), run by every test run whatever the seed.
const REGRESSIONS: &[(&str, &str)] = &[
    // just-kdl 0.3.0 lexer.rs:903 slices a multi-line string's line by the
    // closing line's indent length in bytes: a line starting with multi-byte
    // whitespace (U+00A0) and a shorter closing indent panics
    // ("byte index 1 is not a char boundary").
    ("mesh.kdl", "n \"\"\"\n\u{A0}x\n \"\"\"\n"),
    ("mesh.kdl", "service \"a\" {\n    owner \"\"\"\n\u{205F}\"\n \"\"\"\n}\n"),
    // openapiv3 2.2 ReferenceOr::deserialize expects a second parse to fail
    // and panics when a duplicate key made only the first one fail.
    (
        "apis/catalog.yaml",
        "openapi: 3.0.3\ninfo: {title: t, version: \"1\"}\npaths:\n  /x:\n    get:\n      responses:\n        \"200\":\n          description: a\n          description: b\n",
    ),
];

#[test]
fn regressions_do_not_panic() {
    quiet_panics();
    let shop = TempWorkspace::copy_of(&repo().join("examples/shop"));
    let mut failures = Failures::default();
    for (i, (rel, input)) in REGRESSIONS.iter().enumerate() {
        if rel.ends_with(".kdl") {
            failures.run(i as u64, "syntax::parse", input, || {
                let _ = meshc::syntax::parse(FileId(0), input);
            });
        }
        failures.run(i as u64, &format!("driver::compile, as {rel}"), input, || {
            shop.with_variant(Path::new(rel), input, compile_everything);
        });
    }
    let runs = REGRESSIONS.iter().map(|(rel, _)| if rel.ends_with(".kdl") { 2 } else { 1 }).sum();
    failures.assert_none("regression", runs);
}

struct Seed {
    /// Path relative to the workspace (where the variant is written).
    rel: PathBuf,
    /// The workspace it belongs to (copied to a temp dir for compiles).
    workspace: PathBuf,
    text: String,
}

fn kdl_seeds() -> Vec<Seed> {
    let mut seeds = Vec::new();
    for ws in workspaces() {
        for f in files_under(&ws, &[".kdl"]) {
            seeds.push(Seed {
                rel: f.strip_prefix(&ws).unwrap().to_path_buf(),
                workspace: ws.clone(),
                text: std::fs::read_to_string(&f).unwrap(),
            });
        }
    }
    let shop = repo().join("examples/shop");
    let extra = files_under(&repo().join("tests/fixtures"), &[".kdl"])
        .into_iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .chain(FIXTURES.iter().map(|s| s.to_string()));
    for text in extra {
        // Written over the shop's root file, so imports and schemas resolve.
        seeds.push(Seed { rel: "mesh.kdl".into(), workspace: shop.clone(), text });
    }
    seeds
}

/// A temporary copy of a workspace; `with_variant` writes one file, runs, restores.
struct TempWorkspace {
    dir: tempfile::TempDir,
}

impl TempWorkspace {
    fn copy_of(src: &Path) -> TempWorkspace {
        let dir = tempfile::tempdir().expect("temp dir");
        for f in files_under(src, &[""]) {
            let to = dir.path().join(f.strip_prefix(src).unwrap());
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&f, &to).unwrap();
        }
        TempWorkspace { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn with_variant<R>(&self, rel: &Path, text: &str, f: impl FnOnce(&Path) -> R) -> R {
        let file = self.path().join(rel);
        let original = std::fs::read(&file).ok();
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, text).unwrap();
        // Restored even when `f` panics, so one failure does not leak into the next run.
        let _restore = Restore { file, original };
        f(self.path())
    }
}

struct Restore {
    file: PathBuf,
    original: Option<Vec<u8>>,
}

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = match &self.original {
            Some(bytes) => std::fs::write(&self.file, bytes),
            None => std::fs::remove_file(&self.file),
        };
    }
}

/// The whole pipeline: compile, render every diagnostic, emit when clean.
fn compile_everything(dir: &Path) -> (usize, usize) {
    let compilation = meshc::driver::compile(dir);
    render_all(&compilation.diagnostics, &compilation.sources);
    let artifacts = compilation.emit().map_or(0, |a| a.len());
    (compilation.errors(), artifacts)
}

// --------------------------------------------------------------- tests ----

#[test]
fn parse_never_panics() {
    quiet_panics();
    let watchdog = Watchdog::start("parse_never_panics");
    let seeds = kdl_seeds();
    // The KDL suite's inputs are good seeds for the parser when present.
    let suite = repo().join("../shared/corpora/kdl/test_cases/input");
    let mut texts: Vec<String> = seeds.iter().map(|s| s.text.clone()).collect();
    texts.extend(
        files_under(&suite, &[".kdl"])
            .into_iter()
            .filter_map(|f| std::fs::read(f).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned()),
    );
    let mutator = Mutator { corpus: &texts, tokens: KDL_TOKENS };
    let mut failures = Failures::default();
    let variants = scaled(20_000);
    let mut runs = 0;
    for i in 0..variants as u64 {
        let seed = base_seed() ^ (i << 20) ^ 0x1;
        let mut rng = Rng::new(seed);
        // Mostly example specs; some suite files for syntax coverage.
        let original = if rng.chance(70) { &seeds[rng.below(seeds.len())].text } else { rng.pick(&texts) };
        let input = mutator.variant(original, &mut rng);
        watchdog.enter(|| input.clone());
        runs += 1;
        failures.run(seed, "syntax::parse + render", &input, || {
            let (doc, diags) = meshc::syntax::parse(FileId(0), &input);
            // Every span lies within the text, on character boundaries.
            let check = |s: meshc::base::Span, what: &str| {
                let r = s.range();
                assert!(
                    r.start <= r.end
                        && r.end <= input.len()
                        && input.is_char_boundary(r.start)
                        && input.is_char_boundary(r.end),
                    "{what} span {r:?} is not a valid range of the {}-byte input",
                    input.len()
                );
            };
            fn walk(n: &meshc::syntax::Node, check: &dyn Fn(meshc::base::Span, &str)) {
                check(n.span, "node");
                check(n.name_span, "node name");
                for e in &n.entries {
                    check(e.span, "entry");
                }
                for c in n.children() {
                    walk(c, check);
                }
            }
            for n in &doc.nodes {
                walk(n, &check);
            }
            for d in &diags {
                if let Some(l) = &d.primary {
                    check(l.span, "diagnostic");
                }
            }
            let mut sources = Sources::new(Path::new("/ws"));
            sources.add("/ws/mesh.kdl".into(), input.as_str().into());
            render_all(&diags, &sources);
        });
    }
    drop(watchdog);
    failures.assert_none("parse", runs);
}

#[test]
fn compile_never_panics() {
    quiet_panics();
    let watchdog = Watchdog::start("compile_never_panics");
    let seeds = kdl_seeds();
    let texts: Vec<String> = seeds.iter().map(|s| s.text.clone()).collect();
    let mutator = Mutator { corpus: &texts, tokens: KDL_TOKENS };
    let mut temps: Vec<(PathBuf, TempWorkspace)> = Vec::new();
    let mut failures = Failures::default();
    let (mut runs, mut clean, mut emitted) = (0, 0, 0);
    // Unmutated seeds first: each must get through the pipeline too.
    let variants = seeds.len() + scaled(3000);
    for i in 0..variants as u64 {
        let seed = base_seed() ^ (i << 20) ^ 0x2;
        let mut rng = Rng::new(seed);
        let (s, input) = if (i as usize) < seeds.len() {
            let s = &seeds[i as usize];
            (s, s.text.clone())
        } else {
            let s = &seeds[rng.below(seeds.len())];
            // Half gentle (deep into the model), half arbitrary (error paths).
            let input = if rng.chance(50) {
                mutator.gentle_variant(&s.text, &mut rng)
            } else {
                mutator.variant(&s.text, &mut rng)
            };
            (s, input)
        };
        if !temps.iter().any(|(w, _)| w == &s.workspace) {
            temps.push((s.workspace.clone(), TempWorkspace::copy_of(&s.workspace)));
        }
        let ws = &temps.iter().find(|(w, _)| w == &s.workspace).unwrap().1;
        let label = format!("driver::compile + emit + render, as {}", s.rel.display());
        watchdog.enter(|| format!("{label}:\n{input}"));
        runs += 1;
        failures.run(seed, &label, &input, || {
            let (errors, artifacts) = ws.with_variant(&s.rel, &input, compile_everything);
            clean += usize::from(errors == 0);
            emitted += artifacts;
        });
    }
    drop(watchdog);
    println!("compile: {clean} of {runs} variants checked clean; {emitted} artifacts emitted");
    failures.assert_none("compile", runs);
}

/// Tokens of YAML, protobuf, Avro and JSON Schema syntax.
#[rustfmt::skip]
const SCHEMA_TOKENS: &[&str] = &[
    ":", ": ", "-", "- ", "{", "}", "[", "]", ",", "'", "\"", "&a ", "*a", "<<: *a", "!!binary ", "!!map", "? ",
    "|", ">", "#", "\n", "\n  ", "\t", "~", "null", ".inf", "0x", "1e999", "$ref: '#/x'",
    "$ref: \"#/components/schemas/Nope\"", "\"/x\":", "/{id}:", "get:", "operationId: x", "openapi: 3.1.0",
    "swagger: '2.0'", "paths:", "paths: {}", "---\n", "...\n", "%YAML 1.2\n", ";", "syntax = \"proto2\";",
    "syntax = \"proto4\";", "package ", "package a.b;", "import \"payments.proto\";",
    "import \"inventory.proto\";", "import \"google/protobuf/empty.proto\";", "import \"nope.proto\";",
    "import public \"payments.proto\";", "service S {}", "rpc X(A) returns (B);",
    "rpc X(stream A) returns (stream B) {}", "message A {}", "option ", "option (x) = 1;", "= 1", "= 536870912",
    "= 0", "= -1", "oneof o {}", "map<string, A> m = 9;", "enum E { A = 0; }", "extend A { int32 x = 100; }",
    "reserved 1 to max;", "repeated ", "optional ", "group ", "/*", "*/", "//", "é", "🦀", "\u{0}", "\u{FEFF}",
    "\r\n", "\"\\u0000\"", "\"\\ud800\"", "true", "false", "-0", "1.5e308",
    "\"type\": \"record\", ", "\"type\": \"enum\", \"symbols\": [\"A\", \"A\"], ",
    "\"type\": \"fixed\", \"size\": -1, ", "\"type\": \"array\", ", "\"type\": \"map\", \"values\": \"x\", ",
    "\"type\": [\"null\", \"null\"], ", "\"type\": [], ", "\"name\": \"1x\", ", "\"name\": \"a.b.\", ",
    "\"namespace\": \"\", ", "\"namespace\": \"9\", ", "\"fields\": [], ", "\"fields\": {}, ",
    "\"default\": null, ", "\"default\": \"x\", ", "\"default\": {}, ", "\"default\": [1], ",
    "\"logicalType\": \"decimal\", \"precision\": 0, \"scale\": 9, ", "\"logicalType\": \"timestamp-millis\", ",
    "\"logicalType\": \"uuid\", ", "\"aliases\": [\"\"], ", "\"items\": \"Node\", ",
    "\"$schema\": \"http://json-schema.org/draft-04/schema#\", ", "\"$schema\": \"https://example.com/x\", ",
    "\"$schema\": 5, ", "\"$ref\": \"#/$defs/nope\", ", "\"$ref\": \"http://example.com/x.json\", ",
    "\"$defs\": {\"a\": 5}, ", "\"properties\": [], ", "\"required\": [1], ", "\"pattern\": \"(\", ",
    "\"format\": \"date-time\", ", "\"type\": \"integr\", ", "\"minimum\": \"1\", ", "{\"a~1b\": {}}, ",
];

#[test]
fn schema_loaders_never_panic() {
    quiet_panics();
    let watchdog = Watchdog::start("schema_loaders_never_panic");
    let mut seeds: Vec<Seed> = Vec::new();
    for ws in workspaces() {
        for f in files_under(&ws, &[".yaml", ".yml", ".json", ".proto", ".avsc"]) {
            seeds.push(Seed {
                rel: f.strip_prefix(&ws).unwrap().to_path_buf(),
                workspace: ws.clone(),
                text: std::fs::read_to_string(&f).unwrap(),
            });
        }
    }
    assert!(seeds.len() >= 4, "the shop's schemas are missing");
    for ext in [".avsc", ".json"] {
        assert!(seeds.iter().any(|s| s.rel.to_string_lossy().ends_with(ext)), "no {ext} schema to mutate");
    }
    let texts: Vec<String> = seeds.iter().map(|s| s.text.clone()).collect();
    let mutator = Mutator { corpus: &texts, tokens: SCHEMA_TOKENS };
    let mut temps: Vec<(PathBuf, TempWorkspace)> = Vec::new();
    let mut failures = Failures::default();
    let (mut runs, mut clean) = (0, 0);
    let variants = scaled(1500);
    for i in 0..variants as u64 {
        let seed = base_seed() ^ (i << 20) ^ 0x3;
        let mut rng = Rng::new(seed);
        let s = &seeds[rng.below(seeds.len())];
        let input = mutator.variant(&s.text, &mut rng);
        if !temps.iter().any(|(w, _)| w == &s.workspace) {
            temps.push((s.workspace.clone(), TempWorkspace::copy_of(&s.workspace)));
        }
        let ws = &temps.iter().find(|(w, _)| w == &s.workspace).unwrap().1;
        let label = format!("schema loader via driver::compile, as {}", s.rel.display());
        watchdog.enter(|| format!("{label}:\n{input}"));
        runs += 1;
        failures.run(seed, &label, &input, || {
            let (errors, _) = ws.with_variant(&s.rel, &input, compile_everything);
            clean += usize::from(errors == 0);
        });
    }
    drop(watchdog);
    println!("schemas: {clean} of {runs} variants checked clean");
    failures.assert_none("schema", runs);
}

/// `meshc diff` of each of the examples' schema files (OpenAPI, GraphQL,
/// Avro, JSON Schema, protobuf) against a mutated variant of itself, both
/// ways round: loaders, comparators and renderers never panic, and each
/// diff ends within the watchdog's time.
#[test]
fn diff_never_panics() {
    quiet_panics();
    let watchdog = Watchdog::start("diff_never_panics");
    let mut seeds: Vec<(String, String)> = Vec::new();
    for ws in workspaces() {
        for f in files_under(&ws, &[".yaml", ".yml", ".json", ".avsc", ".graphql", ".proto"]) {
            let ext = f.extension().unwrap().to_string_lossy().into_owned();
            seeds.push((ext, std::fs::read_to_string(&f).unwrap()));
        }
    }
    for ext in ["yaml", "graphql", "avsc", "json"] {
        assert!(seeds.iter().any(|(e, _)| e == ext), "no .{ext} schema to diff");
    }
    let texts: Vec<String> = seeds.iter().map(|(_, t)| t.clone()).collect();
    let mutator = Mutator { corpus: &texts, tokens: SCHEMA_TOKENS };
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Failures::default();
    let (mut runs, mut loaded) = (0, 0);
    let policy = meshc::schema::breaking::Policy::default();
    for i in 0..scaled(400) as u64 {
        let seed = base_seed() ^ (i << 20) ^ 0x5;
        let mut rng = Rng::new(seed);
        let (ext, text) = &seeds[rng.below(seeds.len())];
        let input =
            if rng.chance(50) { mutator.gentle_variant(text, &mut rng) } else { mutator.variant(text, &mut rng) };
        let (old, new) = (dir.path().join(format!("old.{ext}")), dir.path().join(format!("new.{ext}")));
        std::fs::write(&old, text).unwrap();
        std::fs::write(&new, &input).unwrap();
        let label = format!("meshc diff of a .{ext} file");
        watchdog.enter(|| format!("{label}:\n{input}"));
        runs += 1;
        failures.run(seed, &label, &input, || {
            for (a, b) in [(&old, &new), (&new, &old)] {
                let diffed = meshc::driver::diff(a, b, &policy);
                loaded += usize::from(diffed.loaded);
                render_all(&diffed.diagnostics, &diffed.sources);
            }
        });
    }
    drop(watchdog);
    println!("diff: {loaded} of {} comparisons loaded both versions", 2 * runs);
    failures.assert_none("diff", runs);
}
