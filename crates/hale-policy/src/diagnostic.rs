//! Findings about policy files, each pinned to a file, line, column and field path.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// How serious a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The resource is rejected.
    Error,
    /// The resource is accepted, but probably not what was meant.
    Warning,
}

/// A line and column in a file, both counted from 1.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Position {
    /// Line number, from 1.
    pub line: usize,
    /// Column number in characters, from 1.
    pub column: usize,
}

/// One finding about a policy file.
///
/// Displays as `file:line:col: path: message`, the form editors and CI annotations
/// understand, e.g. `policies/web.yaml:14:7: spec.probes[1].period: invalid duration "10x"
/// (expected e.g. "10s", "5m", "1h30m")`. Warnings say `warning:` after the position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Whether the resource is rejected.
    pub severity: Severity,
    /// The file the finding is about.
    pub file: PathBuf,
    /// Where in the file; `None` for findings about the file as a whole (unreadable, too
    /// large).
    #[serde(flatten)]
    pub position: Option<Position>,
    /// The field path, e.g. `spec.probes[1].period`; empty for the document as a whole.
    pub path: String,
    /// What is wrong and, where it helps, how to fix it.
    pub message: String,
}

impl Diagnostic {
    /// An error at `position` in `file`.
    pub fn error(
        file: impl Into<PathBuf>,
        position: Option<Position>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            severity: Severity::Error,
            file: file.into(),
            position,
            path: path.into(),
            message: message.into(),
        }
    }

    /// A warning at `position` in `file`.
    pub fn warning(
        file: impl Into<PathBuf>,
        position: Option<Position>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(file, position, path, message)
        }
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(Position { line, column }) = self.position {
            write!(f, ":{line}:{column}")?;
        }
        f.write_str(": ")?;
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}
