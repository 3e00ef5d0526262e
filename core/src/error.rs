//! The one error type of layan-core.

use std::fmt;
use std::path::PathBuf;

/// Everything that can go wrong in layan-core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A pack failed to load; every problem found is listed.
    #[error("the pack has {} problem(s):\n{}", .0.len(), PackProblems(.0))]
    Pack(Vec<PackProblem>),
    /// Reading a file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The engine or a tool was set up wrongly.
    #[error("configuration: {0}")]
    Config(String),
    /// The matcher could not be built (a pack far beyond any real size).
    #[error("cannot build the matcher: {0}")]
    Matcher(String),
    /// The session store failed.
    #[error("session store: {0}")]
    Store(String),
    /// An operator acted in a conversation that is not handed off to people.
    #[error("no open hand-off for {channel}/{user}")]
    NotHandedOff {
        /// The conversation's channel.
        channel: String,
        /// The citizen.
        user: String,
    },
    /// An operator answered or closed a conversation they do not hold.
    #[error("{}", match .holder {
        Some(h) => format!("the conversation is held by {h}"),
        None => "nobody has taken the conversation yet".to_owned(),
    })]
    NotHolder {
        /// Who holds it (`None`: it waits for an operator).
        holder: Option<String>,
    },
    /// An evaluation data file is malformed.
    #[error("{path}:{line}: {message}")]
    Data {
        /// The data file.
        path: PathBuf,
        /// One-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Result with layan-core's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One problem found while loading a pack: where, what, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackProblem {
    /// The file, relative to the pack folder.
    pub file: PathBuf,
    /// One-based line number (0 when the problem concerns the whole file).
    pub line: usize,
    /// What is wrong, in lower case without a full stop.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl fmt::Display for PackProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)?;
        } else {
            write!(f, "{}: {}", self.file.display(), self.message)?;
        }
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

struct PackProblems<'a>(&'a [PackProblem]);

impl fmt::Display for PackProblems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "  {p}")?;
        }
        Ok(())
    }
}
