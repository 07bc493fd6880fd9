//! Errors of the model crate.

use std::path::PathBuf;

use crate::weights::LoadReport;

/// Errors from config parsing, model building and weight I/O.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Invalid or unsupported configuration.
    #[error("config: {0}")]
    Config(String),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// A weight file is malformed.
    #[error("{}: {msg}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        msg: String,
    },
    /// Checkpoint keys or shapes do not match the model (every problem listed).
    #[error("weights do not match the model:\n{}", .0.problems())]
    Mismatch(Box<LoadReport>),
    /// An error about the contents of a named file.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The problem.
        #[source]
        source: Box<ModelError>,
    },
}

impl ModelError {
    /// `self`, naming the file it concerns.
    pub fn in_file(self, path: impl Into<PathBuf>) -> Self {
        Self::File {
            path: path.into(),
            source: Box::new(self),
        }
    }

    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn not_found(path: &std::path::Path) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        }
    }

    pub(crate) fn format(path: &std::path::Path, msg: impl std::fmt::Display) -> Self {
        Self::Format {
            path: path.to_path_buf(),
            msg: msg.to_string(),
        }
    }
}
