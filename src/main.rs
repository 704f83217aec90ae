//! The `rlc` command line: a thin shell over the library, one function per
//! subcommand, each returning an [`Exit`] code.

use clap::{Parser, Subcommand, ValueEnum};
use rlc::{explain, replay, Limiter, ManualClock, Policy, PolicyError, Source};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::{ExitCode, Termination};

/// Exit codes: 0 ok, 1 problems found, 2 usage or I/O errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Exit {
    Ok = 0,
    Problems = 1,
    Usage = 2,
}

impl Termination for Exit {
    fn report(self) -> ExitCode {
        ExitCode::from(self as u8)
    }
}

#[derive(Parser)]
#[command(
    name = "rlc",
    version,
    about = "Check, explain and run API rate-limit policies (.rl)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    /// Human-readable.
    Human,
    /// JSON for tools.
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Validate policies: exit 0 when all are valid, 1 on errors, 2 on I/O errors.
    Check {
        /// Policy files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
        /// Treat warnings as errors.
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Print the compiled decision table.
    Compile {
        /// Policy file.
        file: PathBuf,
        /// Output format (JSON is the only one).
        #[arg(long, value_enum, default_value = "json")]
        format: Format,
    },
    /// Explain a policy, or why a request is admitted or not.
    Explain {
        /// Policy file.
        file: PathBuf,
        /// A request: 'METHOD /path name=value ...'.
        #[arg(long)]
        request: Option<String>,
        /// Time of the request, in Unix seconds (default: now).
        #[arg(long)]
        at: Option<f64>,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// Run a JSON Lines trace through a policy on a virtual clock.
    Replay {
        /// Policy file.
        policy: PathBuf,
        /// Trace file, or `-` for standard input.
        trace: PathBuf,
        /// Print per-rule totals on standard error.
        #[arg(long)]
        summary: bool,
    },
    /// Format policies canonically, in place: exit 0, or 1 when a file has
    /// syntax errors (it is left as it is).
    Fmt {
        /// Policy files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Change nothing: print the files that would change, and exit 1 if any.
        #[arg(long)]
        check: bool,
    },
    /// Compare two policies by what they decide: exit 0 when they limit
    /// alike, 1 when they differ (like `diff`), 2 when one cannot be compiled.
    Diff {
        /// The old policy.
        old: PathBuf,
        /// The new policy.
        new: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
}

fn main() -> Exit {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                Exit::Usage
            } else {
                Exit::Ok
            };
            let _ = e.print();
            return code;
        }
    };
    match cli.command {
        Command::Check {
            files,
            format,
            deny_warnings,
        } => check(&files, format, deny_warnings),
        Command::Compile { file, format: _ } => compile(&file),
        Command::Explain {
            file,
            request,
            at,
            format,
        } => explain_cmd(&file, request.as_deref(), at, format),
        Command::Replay {
            policy,
            trace,
            summary,
        } => replay_cmd(&policy, &trace, summary),
        Command::Fmt { files, check } => fmt_cmd(&files, check),
        Command::Diff { old, new, format } => diff_cmd(&old, &new, format),
    }
}

fn width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100)
}

fn io_error(e: &PolicyError) -> Exit {
    eprintln!("error: {e}");
    Exit::Usage
}

fn check(files: &[PathBuf], format: Format, deny_warnings: bool) -> Exit {
    let mut exit = Exit::Ok;
    let mut json = Vec::new();
    for f in files {
        let source: Source = match rlc::read_source(f) {
            Ok(s) => s,
            Err(e) => {
                if format == Format::Json {
                    json.push(serde_json::json!({"file": f.display().to_string(), "code": "rl::bad_input", "severity": "error", "message": e.to_string()}));
                } else {
                    eprintln!("error: {e}");
                }
                exit = Exit::Usage;
                continue;
            }
        };
        let (_, diags) = rlc::compile_source(&source);
        let failed = diags.has_errors() || (deny_warnings && !diags.is_empty());
        if failed && exit == Exit::Ok {
            exit = Exit::Problems;
        }
        match format {
            Format::Json => json.extend(diags.to_json(&source)),
            Format::Human => {
                eprint!("{}", diags.render(&source, width()));
                let errors = diags.iter().filter(|d| d.is_error()).count();
                let warnings = diags.len() - errors;
                let status = if failed { "FAILED" } else { "ok" };
                eprintln!(
                    "{}: {status} ({errors} error{}, {warnings} warning{})",
                    source.name(),
                    if errors == 1 { "" } else { "s" },
                    if warnings == 1 { "" } else { "s" }
                );
            }
        }
    }
    if format == Format::Json {
        println!("{}", serde_json::Value::Array(json));
    }
    exit
}

fn load(file: &PathBuf) -> Result<Policy, Exit> {
    match Policy::from_file(file) {
        Ok(p) => Ok(p),
        Err(e @ PolicyError::Invalid { .. }) => {
            eprint!("{}", e.render(width()));
            eprintln!("error: {e}");
            Err(Exit::Problems)
        }
        Err(e) => Err(io_error(&e)),
    }
}

fn compile(file: &PathBuf) -> Exit {
    let policy = match load(file) {
        Ok(p) => p,
        Err(e) => return e,
    };
    match serde_json::to_string_pretty(&*policy.table()) {
        Ok(s) => {
            println!("{s}");
            Exit::Ok
        }
        Err(e) => {
            eprintln!("error: cannot serialize the table: {e}");
            Exit::Problems
        }
    }
}

fn explain_cmd(file: &PathBuf, request: Option<&str>, at: Option<f64>, format: Format) -> Exit {
    let policy = match load(file) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let table = policy.table();
    let Some(req) = request else {
        match format {
            Format::Human => print!("{}", explain::policy_text(&table)),
            Format::Json => println!("{:#}", explain::policy_json(&table)),
        }
        return Exit::Ok;
    };
    let spec = match explain::parse_request(req) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: --request: {e}");
            return Exit::Usage;
        }
    };
    let now = match at {
        Some(a) if a.is_finite() && (0.0..1.8e10).contains(&a) => (a * 1e9) as u64,
        Some(a) => {
            eprintln!("error: --at {a} is not a time in Unix seconds");
            return Exit::Usage;
        }
        None => rlc::Clock::now(&rlc::SystemClock),
    };
    let v = explain::request_json(&policy, &spec, now);
    match format {
        Format::Human => print!("{}", explain::request_text(&v)),
        Format::Json => println!("{v:#}"),
    }
    Exit::Ok
}

fn replay_cmd(policy: &PathBuf, trace: &PathBuf, summary: bool) -> Exit {
    let policy = match load(policy) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let limiter = Limiter::with_clock(policy, ManualClock::new(0));
    let input: Box<dyn BufRead> = if trace.as_os_str() == "-" {
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            eprintln!("reading the trace from standard input (JSON Lines; end with Ctrl-D)");
        }
        Box::new(stdin.lock())
    } else {
        if trace.is_dir() {
            eprintln!(
                "error: cannot read `{}`: it is a directory",
                trace.display()
            );
            return Exit::Usage;
        }
        match std::fs::File::open(trace) {
            Ok(f) => Box::new(std::io::BufReader::new(f)),
            Err(e) => {
                eprintln!("error: cannot read `{}`: {e}", trace.display());
                return Exit::Usage;
            }
        }
    };
    let stdout = std::io::stdout();
    let out = std::io::BufWriter::new(stdout.lock());
    let result = replay::run(&limiter, input, out);
    let s = match result {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Exit::Ok,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    if summary {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "{} allowed, {} rejected, {} unreadable lines",
            s.allowed, s.rejected, s.errors
        );
        let width = s.rules.iter().map(|r| r.0.len()).max().unwrap_or(4).max(4);
        let _ = writeln!(
            err,
            "{:width$}  {:>9}  {:>9}",
            "rule", "reported", "rejected"
        );
        for (rule, allowed, rejected) in &s.rules {
            let _ = writeln!(err, "{rule:width$}  {allowed:>9}  {rejected:>9}");
        }
    }
    if s.errors > 0 {
        Exit::Problems
    } else {
        Exit::Ok
    }
}

/// The worse of two exit codes (usage and I/O errors above problems).
fn worse(a: Exit, b: Exit) -> Exit {
    if (b as u8) > (a as u8) {
        b
    } else {
        a
    }
}

fn fmt_cmd(files: &[PathBuf], check: bool) -> Exit {
    let mut exit = Exit::Ok;
    for f in files {
        let source = match rlc::read_source(f) {
            Ok(s) => s,
            Err(e) => {
                exit = worse(exit, io_error(&e));
                continue;
            }
        };
        let formatted = match rlc::fmt::format_source(&source) {
            Ok(t) => t,
            Err(d) => {
                eprint!("{}", d.render(&source, width()));
                eprintln!(
                    "error: `{}` has syntax errors; not formatted",
                    source.name()
                );
                exit = worse(exit, Exit::Problems);
                continue;
            }
        };
        if formatted == source.text() {
            continue;
        }
        if check {
            println!("{}", source.name());
            exit = worse(exit, Exit::Problems);
        } else if let Err(e) = std::fs::write(f, formatted) {
            eprintln!("error: cannot write `{}`: {e}", f.display());
            exit = worse(exit, Exit::Usage);
        }
    }
    exit
}

fn diff_cmd(old: &PathBuf, new: &PathBuf, format: Format) -> Exit {
    // A policy that does not compile has nothing to compare: trouble, not
    // a difference.
    let (Ok(a), Ok(b)) = (load(old), load(new)) else {
        return Exit::Usage;
    };
    let d = rlc::diff::diff(&a.table(), &b.table());
    match format {
        Format::Human => print!("{}", d.to_text()),
        Format::Json => println!("{:#}", d.to_json()),
    }
    if d.is_empty() {
        Exit::Ok
    } else {
        Exit::Problems
    }
}
