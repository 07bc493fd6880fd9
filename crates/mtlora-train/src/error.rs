//! Errors of the training crate.

use std::path::PathBuf;

/// Training, evaluation and prediction errors.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Invalid configuration (unknown keys, wrong types, impossible settings).
    #[error("config: {0}")]
    Config(String),
    /// Model building, weights or checkpoints.
    #[error(transparent)]
    Model(#[from] mtlora::ModelError),
    /// Dataset problems.
    #[error(transparent)]
    Data(#[from] mtlora_pascal::PascalError),
    /// Checkpoint content problems.
    #[error("checkpoint {}: {msg}", path.display())]
    Checkpoint {
        /// File.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// Dataset folder problems (with a hint).
    #[error("{0}")]
    Dataset(String),
    /// A file or folder could not be read or written.
    #[error("{}: {what} ({source})", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What could not be done.
        what: &'static str,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// A CSV record file (iteration log, metrics table) could not be read or written.
    #[error("{}: {source}", path.display())]
    Record {
        /// The file.
        path: PathBuf,
        /// The CSV reader's or writer's error.
        #[source]
        source: csv::Error,
    },
    /// The run folder is not in the state the command needs (with what to do instead).
    #[error("{0}")]
    Run(String),
}

impl TrainError {
    pub(crate) fn record(path: &std::path::Path) -> impl Fn(csv::Error) -> Self + Copy + '_ {
        move |source| Self::Record {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn io<'a>(
        path: &'a std::path::Path,
        what: &'static str,
    ) -> impl Fn(std::io::Error) -> Self + Copy + 'a {
        move |source| Self::Io {
            path: path.to_path_buf(),
            what,
            source,
        }
    }
}
