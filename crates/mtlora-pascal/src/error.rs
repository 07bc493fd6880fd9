//! Errors of the data crate. Every variant names the file or id and the problem.

use std::path::PathBuf;

/// A data-pipeline error.
#[derive(Debug, thiserror::Error)]
pub enum PascalError {
    /// A required file does not exist.
    #[error("{path}: missing file ({what})")]
    Missing {
        /// The file.
        path: PathBuf,
        /// What it is.
        what: String,
    },
    /// A file exists but cannot be decoded.
    #[error("{path}: {problem}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A label's size differs from its image.
    #[error("{path}: size {got_h}x{got_w} (HxW) differs from the image {want_h}x{want_w}")]
    Size {
        /// The label file.
        path: PathBuf,
        /// Label height.
        got_h: usize,
        /// Label width.
        got_w: usize,
        /// Image height.
        want_h: usize,
        /// Image width.
        want_w: usize,
    },
    /// An unknown split, task or id, or another invalid request.
    #[error("{0}")]
    Invalid(String),
    /// I/O error on a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl PascalError {
    pub(crate) fn corrupt(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Self::Corrupt {
            path: path.into(),
            problem: problem.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            Self::Missing {
                path,
                what: "not found".into(),
            }
        } else {
            Self::Io { path, source }
        }
    }
}

/// Result alias.
pub type Result<T> = std::result::Result<T, PascalError>;
