//! `rlc`: a language, compiler and lock-free evaluator for API rate limits.
//!
//! A policy goes through five stages, one module each:
//! [`syntax::parse`] (text to syntax tree) -> [`ir::lower`] (names resolved,
//! numbers checked) -> [`check::check`] (whole-policy validation) ->
//! [`compile::compile`] (a flat [`compile::DecisionTable`]) ->
//! [`eval::Limiter`] (per-request decisions on atomics).
//!
//! ```
//! let policy = rlc::Policy::from_str("demo.rl", r#"
//!     input key, ip
//!     POST /tokens by key&ip: 2/10s throttle
//! "#)?;
//! let limiter = rlc::Limiter::with_clock(policy, rlc::ManualClock::new(1_700_000_000_000_000_000));
//! let req = rlc::Request::new("POST", "/tokens").attr("key", "k1").attr("ip", "10.0.0.1");
//! assert!(limiter.check(&req).allowed());
//! assert!(limiter.check(&req).allowed());
//! let third = limiter.check(&req);
//! assert!(!third.allowed());
//! assert_eq!(third.status(), 429);
//! assert_eq!(third.rule(), Some("demo.rl:3"));
//! # Ok::<(), rlc::PolicyError>(())
//! ```

// The evaluator's atomics and the store are written in safe Rust; keep it that way.
#![forbid(unsafe_code)]

pub mod analyze;
pub mod check;
pub mod compile;
pub mod diag;
pub mod diff;
pub mod eval;
pub mod explain;
pub mod fmt;
pub mod ir;
pub mod replay;
pub mod source;
pub mod syntax;

pub use compile::DecisionTable;
pub use diag::{Diagnostic, Diagnostics, Severity};
#[cfg(feature = "tsc")]
pub use eval::TscClock;
pub use eval::{
    Clock, Decision, DefaultClock, Key, Keyed, KeyedVerdict, Limiter, ManualClock, NotKeyed,
    NotKeyedReason, Reason, Request, SystemClock,
};
pub use source::{Source, Span};
use std::sync::Arc;

/// Largest policy file read, in bytes.
pub const MAX_POLICY_BYTES: usize = 64 << 20;

/// Runs every stage up to the decision table. Returns the table when there is
/// no error, and all findings (errors and warnings) either way.
pub fn compile_source(source: &Source) -> (Option<DecisionTable>, Diagnostics) {
    let file = match syntax::parse(source) {
        Ok(f) => f,
        Err(d) => return (None, d),
    };
    let (policy, mut diags) = ir::lower(&file, source);
    diags.0.extend(check::check(&policy).0);
    // Static analysis needs a policy that checked clean.
    if !diags.has_errors() {
        diags.0.extend(analyze::analyze_file(&policy, &file).0);
    }
    diags.sort();
    if diags.has_errors() {
        (None, diags)
    } else {
        (Some(compile::compile(policy)), diags)
    }
}

/// A compiled, valid policy, ready for a [`Limiter`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Policy {
    table: Arc<DecisionTable>,
    source: Source,
    warnings: Diagnostics,
}

/// Why a policy could not be loaded.
#[derive(Debug)]
pub enum PolicyError {
    /// The file could not be read.
    Io {
        /// The path.
        path: String,
        /// The error.
        error: std::io::Error,
    },
    /// The file is not valid UTF-8 or too large.
    BadInput {
        /// The path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The policy has errors.
    Invalid {
        /// The text.
        source: Source,
        /// Every finding.
        diagnostics: Diagnostics,
    },
}

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PolicyError::Io { path, error } => write!(f, "cannot read `{path}`: {error}"),
            PolicyError::BadInput { path, reason } => write!(f, "cannot use `{path}`: {reason}"),
            PolicyError::Invalid {
                source,
                diagnostics,
            } => {
                let n = diagnostics.iter().filter(|d| d.is_error()).count();
                write!(
                    f,
                    "`{}` has {n} error{}",
                    source.name(),
                    if n == 1 { "" } else { "s" }
                )?;
                if let Some(d) = diagnostics.iter().find(|d| d.is_error()) {
                    let (line, col) = source.line_col(d.span.start);
                    write!(f, "; first: {} at {line}:{col}: {}", d.code, d.message)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for PolicyError {}

impl PolicyError {
    /// The full report: miette's rendering of every diagnostic, or the one
    /// line for I/O errors.
    pub fn render(&self, width: usize) -> String {
        match self {
            PolicyError::Invalid {
                source,
                diagnostics,
            } => diagnostics.render(source, width),
            other => format!("error: {other}\n"),
        }
    }
}

impl Policy {
    /// Compiles policy text; `name` is used in diagnostics and rule ids.
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(name: &str, text: &str) -> Result<Policy, PolicyError> {
        Policy::from_source(Source::new(name, text))
    }

    /// Reads and compiles a policy file.
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Policy, PolicyError> {
        Policy::from_source(read_source(path.as_ref())?)
    }

    /// Compiles a [`Source`].
    pub fn from_source(source: Source) -> Result<Policy, PolicyError> {
        match compile_source(&source) {
            (Some(table), warnings) => Ok(Policy {
                table: Arc::new(table),
                source,
                warnings,
            }),
            (None, diagnostics) => Err(PolicyError::Invalid {
                source,
                diagnostics,
            }),
        }
    }

    /// The decision table.
    pub fn table(&self) -> Arc<DecisionTable> {
        Arc::clone(&self.table)
    }

    /// The source text.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// Warnings found while compiling.
    pub fn warnings(&self) -> &Diagnostics {
        &self.warnings
    }
}

/// Reads a policy file: I/O errors, non-UTF-8 text and files over
/// [`MAX_POLICY_BYTES`] become [`PolicyError`]s.
pub fn read_source(path: &std::path::Path) -> Result<Source, PolicyError> {
    let name = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|error| PolicyError::Io {
        path: name.clone(),
        error,
    })?;
    if meta.is_dir() {
        return Err(PolicyError::BadInput {
            path: name,
            reason: "it is a directory".into(),
        });
    }
    if meta.len() > MAX_POLICY_BYTES as u64 {
        return Err(PolicyError::BadInput {
            path: name,
            reason: format!("it is larger than {} MiB", MAX_POLICY_BYTES >> 20),
        });
    }
    // The size in the metadata is 0 for devices and pipes (`/dev/zero`
    // never ends): read at most one byte more than the limit.
    let mut bytes = Vec::new();
    let read = std::fs::File::open(path).and_then(|f| {
        use std::io::Read as _;
        f.take(MAX_POLICY_BYTES as u64 + 1).read_to_end(&mut bytes)
    });
    read.map_err(|error| PolicyError::Io {
        path: name.clone(),
        error,
    })?;
    if bytes.len() > MAX_POLICY_BYTES {
        return Err(PolicyError::BadInput {
            path: name,
            reason: format!("it is larger than {} MiB", MAX_POLICY_BYTES >> 20),
        });
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Source::new(name, text)),
        Err(e) => Err(PolicyError::BadInput {
            path: name,
            reason: format!(
                "it is not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        }),
    }
}
