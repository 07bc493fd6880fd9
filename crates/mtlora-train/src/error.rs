//! Errors of the training crate.

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
    #[error("checkpoint {path}: {msg}")]
    Checkpoint {
        /// File.
        path: String,
        /// What is wrong.
        msg: String,
    },
    /// Dataset folder problems (with a hint).
    #[error("{0}")]
    Dataset(String),
    /// File-system problems (the path is in the message).
    #[error("{0}")]
    Io(String),
}
