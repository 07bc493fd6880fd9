//! The run folder: its paths, the writability check, and `train.log`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::Observer;
use crate::TrainError;

/// Paths inside a run folder.
pub struct RunDir(pub PathBuf);

impl RunDir {
    /// `checkpoints/last.safetensors`.
    pub fn last(&self) -> PathBuf {
        self.0.join("checkpoints/last.safetensors")
    }
    /// `checkpoints/best.safetensors`.
    pub fn best(&self) -> PathBuf {
        self.0.join("checkpoints/best.safetensors")
    }
    /// `checkpoints/epoch_<e>.safetensors`.
    pub fn epoch(&self, e: usize) -> PathBuf {
        self.0.join(format!("checkpoints/epoch_{e}.safetensors"))
    }
    /// `train_log.csv`.
    pub fn iter_log(&self) -> PathBuf {
        self.0.join("train_log.csv")
    }
    /// `train.log`.
    pub fn text_log(&self) -> PathBuf {
        self.0.join("train.log")
    }
    /// `config.toml`.
    pub fn config(&self) -> PathBuf {
        self.0.join("config.toml")
    }
}

/// Make sure `dir` exists and accepts files.
pub fn ensure_writable(dir: &Path) -> Result<(), TrainError> {
    let err = TrainError::io(dir, "output folder not writable");
    std::fs::create_dir_all(dir).map_err(err)?;
    let probe = dir.join(format!(".write-probe-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(err)?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// `train.log`: messages for the user, appended (best effort: a log line that cannot be
/// written never stops a run; the records and checkpoints are written strictly).
pub(super) struct Log(Option<std::fs::File>);

impl Log {
    pub(super) fn open(path: &Path) -> Self {
        Self(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .ok(),
        )
    }

    /// A message shown to the user and written to the log.
    pub(super) fn line(&mut self, obs: &mut dyn Observer, msg: &str) {
        obs.message(msg);
        self.file(msg);
    }

    /// A message for the log only.
    pub(super) fn file(&mut self, msg: &str) {
        tracing::debug!("{msg}");
        if let Some(f) = &mut self.0 {
            let _ = writeln!(f, "{msg}");
        }
    }
}
