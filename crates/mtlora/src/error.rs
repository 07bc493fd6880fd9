//! Errors of the model crate.

/// Errors from config parsing, model building and weight I/O.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Invalid or unsupported configuration.
    #[error("config: {0}")]
    Config(String),
    /// A file could not be read or written.
    #[error("i/o: {0}")]
    Io(String),
    /// A weight file is malformed.
    #[error("weights: {0}")]
    Format(String),
    /// Checkpoint keys or shapes do not match the model.
    #[error("weights do not match the model:\n{0}")]
    Mismatch(String),
}
