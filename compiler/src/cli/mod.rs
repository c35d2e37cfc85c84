//! The command line: `check`, `build`, `certs`, `diff`, `explain`. The only layer that
//! prints, reads arguments, or writes output files.

// Public (hidden) only for the `writer` fuzz target: not a stable API.
#[doc(hidden)]
pub mod output;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::base::Sources;
use crate::diag::render::{render, Format};
use crate::diag::{Code, CODES};
use crate::driver::breaking::{Category, Compatibility, Policy};
use crate::driver::{compile_with_rules, Compilation, Date};
use crate::emit;

#[derive(Parser)]
#[command(name = "meshc", version, about = "Compile and check service-mesh specs written in KDL")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a workspace and report diagnostics; exits 1 on errors.
    Check {
        /// Workspace directory (holding mesh.kdl) or root spec file.
        #[arg(default_value = ".")]
        dir: PathBuf,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// Check a workspace and write its artifacts to OUT, atomically.
    Build {
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Output directory; replaced as a whole only when the build succeeds.
        #[arg(short, long)]
        out: PathBuf,
        /// The proxies read their certificates from DIR (made absolute)
        /// instead of the spec's `mtls { cert-dir }`: for local runs, with
        /// `meshc certs --cert-dir DIR`.
        #[arg(long, value_name = "DIR")]
        cert_dir: Option<PathBuf>,
        /// Emit Envoy configs that running proxies reload without a
        /// restart: each bootstrap reads its listeners and clusters from
        /// DIR/NODE/lds.yaml and cds.yaml (DIR made absolute), which
        /// OUT/envoy/NODE/ holds; ship them there by rename (for local
        /// runs: DIR = OUT/envoy).
        #[arg(long, value_name = "DIR")]
        xds_dir: Option<PathBuf>,
        /// Run only these backends (`meshc backends` lists them); repeat
        /// the flag or separate names with commas. Default: all.
        #[arg(long = "backend", value_name = "NAME", value_delimiter = ',')]
        backends: Vec<String>,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// Issue workload certificates (mTLS) into a directory: a CA unless it
    /// holds one (`ca.pem`, `ca-key.pem`), then a key and certificate per
    /// service and gateway, with the SDS files the Envoy configs read.
    /// Files are replaced by rename, so running proxies pick them up.
    #[command(group(clap::ArgGroup::new("target").required(true).args(["out", "cert_dir"])))]
    Certs {
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Where to write, for proxies that read the spec's `mtls { cert-dir }`
        /// (copy the files there). Keys are made readable by their owner only.
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// Write into DIR, for proxies that read DIR (`meshc build --cert-dir DIR`):
        /// the SDS files name DIR, made absolute, instead of the spec's cert-dir.
        #[arg(long, value_name = "DIR")]
        cert_dir: Option<PathBuf>,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// List the backends `meshc build` runs: name, engine, what it writes.
    Backends,
    /// List the check passes: name, category, codes, what each checks.
    Rules {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Compare two versions and report breaking changes: two workspaces
    /// (directories holding mesh.kdl, or root .kdl files: their APIs'
    /// schemas, topics and the spec); protobuf (two `.proto` files, or two
    /// directories of them, each a module root; buf's rules), OpenAPI,
    /// GraphQL, Avro or JSON Schema files; or, with `--against REF`, the
    /// workspace DIR at a git ref against the working tree. Exits 1 on
    /// breaking changes (`--fail-on`), 2 when a version does not load.
    Diff {
        /// The old version (a workspace, a schema file or a directory of
        /// `.proto` files); with `--against`, the workspace DIR (default `.`).
        #[arg(required_unless_present_any = ["list_rules", "against"])]
        old: Option<PathBuf>,
        /// The new version, of the same kind.
        #[arg(required_unless_present_any = ["list_rules", "against"], conflicts_with = "against")]
        new: Option<PathBuf>,
        /// Compare the workspace at this git ref (branch, tag, commit,
        /// `HEAD~1`) with the working tree, reading the repository's objects.
        #[arg(long, value_name = "REF")]
        against: Option<String>,
        /// protobuf: which users must keep working: generated code per file,
        /// per package, or encoded messages (binary and JSON, or binary only).
        #[arg(long, value_enum, default_value_t = DiffCategory::WireJson)]
        category: DiffCategory,
        /// Avro and JSON Schema: the compatibility mode whose breaks are
        /// errors (the other direction's are warnings): the new version reads
        /// the old one's events (backward), the old one the new one's
        /// (forward), both (full), or neither (none).
        #[arg(long, value_enum, default_value_t = DiffCompatibility::Backward)]
        compatibility: DiffCompatibility,
        /// What fails the run: breaking changes (errors) only, or also
        /// changes that break only stricter categories (warnings).
        #[arg(long, value_enum, default_value_t = FailOn::Breaking)]
        fail_on: FailOn,
        /// How to print the changes.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// List the breaking-change rules (id, categories, purpose) and exit.
        #[arg(long)]
        list_rules: bool,
    },
    /// Print the documentation of a diagnostic code (or list all codes).
    Explain {
        /// A code such as MESH0007, or its name (unknown-service).
        code: Option<String>,
    },
}

#[derive(clap::Args)]
struct ReportArgs {
    /// How to print diagnostics.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Treat this lint level as errors (`--deny warnings`).
    #[arg(long, value_enum)]
    deny: Option<Deny>,
    /// Judge API version lifecycles (deprecated, past sunset), evolution
    /// exceptions and compliance suppressions (`until`) on this day,
    /// YYYY-MM-DD; default `SOURCE_DATE_EPOCH`, else the clock. Changes
    /// diagnostics only, never an artifact.
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = Date::parse)]
    today: Option<Date>,
    /// Apply a compliance rule set as if the spec imported it: a standard
    /// one (`baseline`, `strict`) or a .kdl file of the workspace, relative
    /// to its root. Repeat the flag or separate sets with commas.
    #[arg(long = "rules", value_name = "SET", value_delimiter = ',')]
    rules: Vec<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Deny {
    Warnings,
}

#[derive(Clone, Copy, ValueEnum)]
enum DiffCategory {
    File,
    Package,
    WireJson,
    Wire,
}

impl DiffCategory {
    fn category(self) -> Category {
        match self {
            DiffCategory::File => Category::File,
            DiffCategory::Package => Category::Package,
            DiffCategory::WireJson => Category::WireJson,
            DiffCategory::Wire => Category::Wire,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum DiffCompatibility {
    Backward,
    Forward,
    Full,
    None,
}

impl DiffCompatibility {
    fn mode(self) -> Compatibility {
        match self {
            DiffCompatibility::Backward => Compatibility::Backward,
            DiffCompatibility::Forward => Compatibility::Forward,
            DiffCompatibility::Full => Compatibility::Full,
            DiffCompatibility::None => Compatibility::None,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FailOn {
    Breaking,
    Warning,
}

/// Puts a successful build's output in place; when OUT's layout changed
/// under an artifact's path (found only once all were compared), the
/// backends run again to write OUT whole.
fn finish_build(
    compilation: &crate::driver::Compilation,
    options: &crate::emit::Options,
    mut writer: output::BuildWriter,
) -> Result<output::Written, output::Refusal> {
    loop {
        match writer.finish()? {
            output::Finished::Written(written) => return Ok(written),
            output::Finished::Again(again) => {
                // The same spec builds the same artifacts: the result is known good.
                let _ = compilation.build_each(options, &|artifacts| again.add(&artifacts));
                writer = *again;
            }
        }
    }
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.kind() == clap::error::ErrorKind::InvalidSubcommand => {
            // clap names no command here; a user who guessed `meshc fmt` wants the list.
            let _ = e.print();
            eprintln!("\nmeshc's commands: {}", command_names().join(", "));
            return ExitCode::from(2);
        }
        Err(e) => e.exit(),
    };
    match cli.command {
        Command::Check { dir, report } => {
            // The process ends next: freeing the compilation piece by piece
            // (descriptor pools, source maps) costs an eighth of a check of
            // a hundred protos for nothing, as in `build`.
            let compilation = std::mem::ManuallyDrop::new(compile_with_rules(&dir, report.today, &report.rules));
            print_diagnostics(&compilation, &compilation.diagnostics, &report);
            exit_code(&compilation, &report)
        }
        Command::Build { dir, out, cert_dir, xds_dir, backends, report } => {
            let options = match output::emit_options(cert_dir.as_deref(), xds_dir.as_deref())
                .and_then(|o| select_backends(o, &backends))
            {
                Ok(options) => options,
                Err(refusal) => return print_refusal(&refusal, &Sources::new(&dir), &report),
            };
            let compilation = compile_with_rules(&dir, report.today, &report.rules);
            warn_unused_cert_dir(&compilation, cert_dir.as_deref());
            let failed = exit_code(&compilation, &report) != ExitCode::SUCCESS;
            // The writer takes each backend's artifacts as it finishes, so the
            // whole output is never in memory; OUT changes only once the build
            // succeeded (`finish`). A refusal to write is reported only when the
            // spec builds: the build runs to find out, writing nothing.
            let writer = if failed { None } else { Some(output::BuildWriter::open(&out, compilation.sources.root())) };
            let built = match &writer {
                None => Err(Vec::new()),
                Some(Ok(writer)) => compilation.build_each(&options, &|artifacts| writer.add(&artifacts)),
                Some(Err(_)) => compilation.build_each(&options, &|_| {}),
            };
            let mut diagnostics = compilation.diagnostics.clone();
            diagnostics.extend(match &built {
                Ok(warnings) => warnings.iter().cloned(),
                Err(found) => found.iter().cloned(),
            });
            let denied = |warnings: &Vec<crate::diag::Diagnostic>| {
                matches!(report.deny, Some(Deny::Warnings)) && !warnings.is_empty()
            };
            let (Some(writer), true) = (writer, built.as_ref().is_ok_and(|w| !denied(w))) else {
                print_diagnostics(&compilation, &diagnostics, &report);
                if report.format == Format::Human {
                    eprintln!("build failed; {} left unchanged", out.display());
                }
                return ExitCode::FAILURE;
            };
            // One report per run: a refusal to write joins the spec's warnings.
            let written = writer.and_then(|writer| finish_build(&compilation, &options, writer));
            // The process ends next: freeing the model piece by piece would
            // cost a large mesh's build time for nothing.
            let compilation = std::mem::ManuallyDrop::new(compilation);
            match written {
                Ok(written) => {
                    print_diagnostics(&compilation, &diagnostics, &report);
                    if report.format == Format::Human {
                        eprintln!(
                            "wrote {} artifact(s) to {} ({} changed, {} unchanged, {} removed)",
                            written.changed + written.unchanged,
                            out.display(),
                            written.changed,
                            written.unchanged,
                            written.removed
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(refusal) => {
                    diagnostics.push(refusal.diagnostic());
                    print_diagnostics(&compilation, &diagnostics, &report);
                    ExitCode::from(2)
                }
            }
        }
        Command::Certs { dir, out, cert_dir, report } => {
            let options = match output::emit_options(cert_dir.as_deref(), None) {
                Ok(options) => options,
                Err(refusal) => return print_refusal(&refusal, &Sources::new(&dir), &report),
            };
            // The group makes clap require one of them.
            let Some(out) = out.or(cert_dir) else { return ExitCode::from(2) };
            let compilation = compile_with_rules(&dir, report.today, &report.rules);
            let mut diagnostics = compilation.diagnostics.clone();
            if exit_code(&compilation, &report) != ExitCode::SUCCESS {
                print_diagnostics(&compilation, &diagnostics, &report);
                eprintln!("the spec has errors; no certificates issued");
                return ExitCode::FAILURE;
            }
            match output::issue_certificates(&compilation, &out, &options) {
                Ok(Err(collisions)) => {
                    diagnostics.extend(collisions);
                    print_diagnostics(&compilation, &diagnostics, &report);
                    eprintln!("no certificates issued");
                    ExitCode::FAILURE
                }
                Ok(Ok(issued)) => {
                    print_diagnostics(&compilation, &diagnostics, &report);
                    for warning in &issued.warnings {
                        eprintln!("warning: {warning}");
                    }
                    eprintln!("wrote {} file(s) to {}", issued.files, out.display());
                    ExitCode::SUCCESS
                }
                Err(refusal) => {
                    diagnostics.push(refusal.diagnostic());
                    print_diagnostics(&compilation, &diagnostics, &report);
                    ExitCode::from(2)
                }
            }
        }
        Command::Explain { code: Some(code) } => match Code::parse(&code) {
            Some(code) => {
                print!("{}", code.info().doc);
                ExitCode::SUCCESS
            }
            None => {
                let ids: Vec<&str> = CODES.iter().map(|c| c.id).collect();
                eprintln!("error: no diagnostic code `{code}`");
                if let Some(help) = crate::diag::suggestion(&code.to_ascii_uppercase(), ids.iter().copied()) {
                    eprintln!("help: {help}");
                }
                eprintln!("run `meshc explain` to list every code");
                ExitCode::from(2)
            }
        },
        Command::Diff { list_rules: true, .. } => {
            print!("{}", breaking_rules());
            ExitCode::SUCCESS
        }
        Command::Diff { old, new, against, category, compatibility, fail_on, format, list_rules: false } => {
            let policy = Policy { category: category.category(), compatibility: compatibility.mode() };
            let diffed = match (old, new, against) {
                (dir, None, Some(reference)) => {
                    let dir = dir.unwrap_or_else(|| PathBuf::from("."));
                    crate::driver::diff_against(&dir, &reference, &policy)
                }
                (Some(old), Some(new), None) => crate::driver::diff(&old, &new, &policy),
                // clap requires OLD and NEW unless --list-rules or --against is given.
                _ => return ExitCode::from(2),
            };
            let report = ReportArgs { format, deny: None, today: None, rules: Vec::new() };
            print_report(&diffed.diagnostics, &diffed.sources, &report);
            let failing =
                |d: &&crate::diag::Diagnostic| d.severity == crate::diag::Severity::Error || fail_on == FailOn::Warning;
            match (diffed.loaded, diffed.diagnostics.iter().filter(failing).count()) {
                (false, _) => ExitCode::from(2),
                (true, 0) => ExitCode::SUCCESS,
                (true, _) => ExitCode::FAILURE,
            }
        }
        Command::Rules { json } => {
            print!("{}", rules(json));
            ExitCode::SUCCESS
        }
        Command::Backends => {
            print!("{}", backends_table());
            ExitCode::SUCCESS
        }
        Command::Explain { code: None } => {
            let mut out = String::new();
            for c in CODES {
                out.push_str(&format!(
                    "{}  {:<8} {:<9} {:<24} {}\n",
                    c.id,
                    c.severity.as_str(),
                    c.category.as_str(),
                    c.name,
                    c.summary
                ));
            }
            print!("{out}");
            ExitCode::SUCCESS
        }
    }
}

fn command_names() -> Vec<String> {
    use clap::CommandFactory;
    Cli::command().get_subcommands().map(|c| c.get_name().to_string()).filter(|n| n != "help").collect()
}

/// `--cert-dir` changes nothing in a mesh without mTLS: say so rather than ignore it.
fn warn_unused_cert_dir(compilation: &Compilation, cert_dir: Option<&std::path::Path>) {
    let plaintext = compilation.model.as_ref().is_some_and(|m| m.mtls.is_none());
    if let (Some(dir), true) = (cert_dir, plaintext) {
        eprintln!("warning: --cert-dir {} has no effect: the mesh declares no `mtls` block", dir.display());
    }
}

/// Reports why meshc did not write as a diagnostic (`MESH0085`), in the
/// report's format like every other; exit 2.
fn print_refusal(refusal: &output::Refusal, sources: &Sources, report: &ReportArgs) -> ExitCode {
    print_report(&[refusal.diagnostic()], sources, report);
    ExitCode::from(2)
}

fn print_diagnostics(compilation: &Compilation, diagnostics: &[crate::diag::Diagnostic], report: &ReportArgs) {
    print_report(diagnostics, &compilation.sources, report);
}

fn print_report(diagnostics: &[crate::diag::Diagnostic], sources: &Sources, report: &ReportArgs) {
    let mut diagnostics = diagnostics.to_vec();
    if matches!(report.deny, Some(Deny::Warnings)) {
        for d in &mut diagnostics {
            d.severity = crate::diag::Severity::Error;
        }
    }
    match report.format {
        Format::Human => {
            let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            let text = render(Format::Human, &diagnostics, sources, color);
            let _ = std::io::stderr().write_all(text.as_bytes());
        }
        format => {
            let text = render(format, &diagnostics, sources, false);
            let _ = std::io::stdout().write_all(text.as_bytes());
        }
    }
}

fn exit_code(compilation: &Compilation, report: &ReportArgs) -> ExitCode {
    let denied_warnings = matches!(report.deny, Some(Deny::Warnings)) && compilation.warnings() > 0;
    if compilation.errors() > 0 || denied_warnings || compilation.model.is_none() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The build's options with only the backends named (all when none is).
fn select_backends(options: emit::Options, names: &[String]) -> Result<emit::Options, output::Refusal> {
    if names.is_empty() {
        return Ok(options);
    }
    let options = options.with_backends(names.iter().map(String::as_str)).map_err(|unknown| {
        let known = emit::BACKENDS.iter().map(|b| b.name);
        output::Refusal {
            message: format!("no backend named `{unknown}`"),
            help: crate::diag::suggestion(&unknown, known).or(Some("run `meshc backends` to list them".into())),
        }
    })?;
    // Only the Envoy proxies read their listeners and clusters from files.
    let proxies = ["envoy-gateway", "envoy-sidecar"];
    let splits = emit::BACKENDS.iter().any(|b| proxies.contains(&b.name) && options.runs(b));
    if options.xds_dir().is_some() && !splits {
        return Err(output::Refusal {
            message: "`--xds-dir` has no effect: none of the selected backends writes an Envoy proxy".into(),
            help: Some(format!("select {} with `--backend`, or leave out `--xds-dir`", proxies.join(" or "))),
        });
    }
    Ok(options)
}

/// `meshc backends`: a line per backend, name, engine and what it writes.
fn backends_table() -> String {
    let width = emit::BACKENDS.iter().map(|b| b.name.len()).max().unwrap_or(0);
    emit::BACKENDS.iter().map(|b| format!("{:<width$}  {:<10}  {}\n", b.name, b.engine, b.description)).collect()
}

/// `meshc diff --list-rules`: every breaking-change rule of every format,
/// from the rule tables: id, format, how it is judged (protobuf
/// categories, a level or a compatibility direction), purpose.
fn breaking_rules() -> String {
    let width = crate::driver::breaking::rules().map(|r| r.id.len()).max().unwrap_or(0);
    crate::driver::breaking::rules()
        .map(|r| format!("{:<width$}  {:<11}  {:<28}  {}\n", r.id, r.format.as_str(), r.judged.describe(), r.purpose))
        .collect()
}

/// `meshc rules`: every check pass with its category, codes and purpose.
fn rules(json: bool) -> String {
    let passes = crate::check::PASSES.iter();
    if json {
        let rules: Vec<serde_json::Value> = passes
            .map(|p| {
                serde_json::json!({
                    "name": p.name,
                    "category": p.category.as_str(),
                    "codes": p.codes.iter().map(|c| c.id()).collect::<Vec<_>>(),
                    "purpose": p.purpose,
                })
            })
            .collect();
        return format!("{}\n", serde_json::to_string_pretty(&rules).expect("JSON values serialize"));
    }
    let width = crate::check::PASSES.iter().map(|p| p.name.len()).max().unwrap_or(0);
    passes
        .map(|p| {
            let codes: Vec<&str> = p.codes.iter().map(|c| c.id()).collect();
            format!("{:<width$}  {:<9}  {:<28}  {}\n", p.name, p.category.as_str(), codes.join(","), p.purpose)
        })
        .collect()
}
