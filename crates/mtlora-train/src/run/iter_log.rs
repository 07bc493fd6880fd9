//! `train_log.csv`, one row per optimizer step, and the loss history the plots draw (kept in
//! memory: read once when a run resumes, never re-parsed).

use std::path::{Path, PathBuf};

use crate::record::{iter_csv_header, iter_csv_record, loss_history_row, LossHistory};
use crate::trainer::IterRecord;
use crate::TrainError;

pub(super) struct IterLog {
    path: PathBuf,
    writer: csv::Writer<std::fs::File>,
    history: LossHistory,
}

impl IterLog {
    /// A fresh log (`resume_at = None`), or the log of a resumed run cut back to the rows up
    /// to iteration `resume_at` (the checkpoint's position: later rows are redone).
    pub(super) fn open(
        path: &Path,
        tasks: &[String],
        resume_at: Option<usize>,
    ) -> Result<Self, TrainError> {
        let header = iter_csv_header(tasks);
        let mut kept: Vec<csv::StringRecord> = vec![];
        if let (Some(at), true) = (resume_at, path.exists()) {
            let mut r = csv::ReaderBuilder::new()
                .flexible(true)
                .from_path(path)
                .map_err(TrainError::record(path))?;
            for row in r.records() {
                // a row cut short by a kill is dropped with everything after it
                let Ok(row) = row else { break };
                match row.get(0).and_then(|x| x.parse::<usize>().ok()) {
                    Some(k) if k <= at && row.len() == header.len() => kept.push(row),
                    _ => break,
                }
            }
        }
        let mut w = csv::Writer::from_writer(vec![]);
        w.write_record(&header).map_err(TrainError::record(path))?;
        for row in &kept {
            w.write_record(row).map_err(TrainError::record(path))?;
        }
        let bytes = w
            .into_inner()
            .map_err(|e| TrainError::record(path)(e.into_error().into()))?;
        mtlora::state_dict::write_atomic(path, &bytes)?;
        let history = kept
            .iter()
            .filter_map(|r| loss_history_row(r, tasks.len()))
            .collect();
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(TrainError::io(path, "cannot append to the log"))?;
        Ok(Self {
            path: path.to_path_buf(),
            writer: csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(file),
            history,
        })
    }

    /// Append the row of one optimizer step (flushed: a killed run keeps every finished row).
    pub(super) fn push(&mut self, rec: &IterRecord) -> Result<(), TrainError> {
        self.writer
            .write_record(iter_csv_record(rec))
            .and_then(|_| self.writer.flush().map_err(csv::Error::from))
            .map_err(TrainError::record(&self.path))?;
        let mut values = rec.losses.clone();
        values.push(rec.total);
        self.history.push((rec.iteration, values));
        Ok(())
    }

    /// `(iteration, per-task losses…, total)` of every step so far.
    pub(super) fn history(&self) -> &LossHistory {
        &self.history
    }
}
