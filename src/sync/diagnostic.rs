//! One shape for everything the engine has to say about a file: an error that stops a plan, a
//! warning, or a note a reviewer should read. `validate`, `plan` and `apply` all report with it,
//! so that each driver renders it in its own terms (a `file:line:column` line on a terminal, a
//! bullet with a link in a pull-request comment, an annotation on a check run).
//!
//! A diagnostic names its place and says what is wrong or worth knowing, in words that hold for
//! every driver: it never names a command-line flag (the caller adds the remedy it offers).

use std::fmt;

use serde::{Deserialize, Serialize};

/// How much a diagnostic weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; changes nothing.
    Note,
    /// Something the user most likely did not mean; the plan goes on.
    Warning,
    /// The file cannot be planned or applied as it stands.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// What the person acting on a diagnostic can do about it that only the driver can say, in its
/// own terms (a flag on the command line, a sentence in a pull-request comment). A hint for the
/// driver that made the diagnostic: it is not part of the plan document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Remedy {
    /// Give the value of a `@@name@@` placeholder as a secret.
    GiveSecret,
    /// Name a placeholder among the secrets to send although the plan cannot compare it.
    SendSecretAnyway,
}

/// A message about a place in the tree.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Diagnostic {
    /// The file, relative to the tree root, `/`-separated; empty when the message is about the
    /// tree as a whole.
    pub file: String,
    /// One-based line, when the message has one.
    pub line: Option<usize>,
    /// One-based column in characters, when the message has one.
    pub column: Option<usize>,
    pub severity: Severity,
    pub message: String,
    #[serde(skip)]
    pub remedy: Option<Remedy>,
}

impl Diagnostic {
    /// An error about a whole file (or, with an empty `file`, the tree).
    pub fn error(file: impl Into<String>, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Error, file, message)
    }

    pub fn warning(file: impl Into<String>, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Warning, file, message)
    }

    pub fn note(file: impl Into<String>, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Note, file, message)
    }

    fn new(severity: Severity, file: impl Into<String>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: file.into(),
            line: None,
            column: None,
            severity,
            message: message.into(),
            remedy: None,
        }
    }

    /// The same message, with what the driver should offer to do about it.
    pub fn with_remedy(mut self, remedy: Remedy) -> Diagnostic {
        self.remedy = Some(remedy);
        self
    }

    /// The same message at a line and column of its file.
    pub fn at(mut self, line: usize, column: usize) -> Diagnostic {
        self.line = Some(line);
        self.column = Some(column);
        self
    }

    /// `file:line:column`, `file:line`, `file`, or nothing, as much as is known.
    pub fn place(&self) -> String {
        match (self.file.is_empty(), self.line, self.column) {
            (true, _, _) => String::new(),
            (false, Some(l), Some(c)) => format!("{}:{l}:{c}", self.file),
            (false, Some(l), None) => format!("{}:{l}", self.file),
            (false, None, _) => self.file.clone(),
        }
    }
}

impl fmt::Display for Diagnostic {
    /// `file:line:column: message` (the form compilers and editors understand).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let place = self.place();
        if place.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{place}: {}", self.message)
        }
    }
}

impl From<&crate::hcl::ParseError> for Diagnostic {
    fn from(e: &crate::hcl::ParseError) -> Diagnostic {
        Diagnostic::error(e.file.clone(), e.problem.to_string()).at(e.line, e.column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diagnostic_shows_as_much_of_its_place_as_it_knows() {
        let cases = [
            (
                Diagnostic::error("sources/a.tf", "bad").at(3, 7),
                "sources/a.tf:3:7: bad",
            ),
            (
                Diagnostic::warning("sources/a.tf", "odd"),
                "sources/a.tf: odd",
            ),
            (
                Diagnostic::note("", "no resource directories"),
                "no resource directories",
            ),
        ];
        for (d, shown) in cases {
            assert_eq!(d.to_string(), shown);
        }
    }
}
