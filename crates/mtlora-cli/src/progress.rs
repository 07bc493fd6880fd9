//! Progress bars (rate and ETA) for training, evaluation and prediction.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mtlora_train::record::EvalRecord;
use mtlora_train::run::{summary_line, Observer, RunRecords};
use mtlora_train::IterRecord;
use mtlora_train::TrainError;

/// A bar with position, rate and ETA; hidden with `--quiet`.
pub fn bar(len: u64, prefix: String, quiet: bool) -> ProgressBar {
    let pb = ProgressBar::new(len);
    if quiet {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    pb.set_style(
        ProgressStyle::with_template(
            "{prefix:>12} [{bar:30}] {pos}/{len} {per_sec} ETA {eta} {msg}",
        )
        .expect("static template")
        .progress_chars("=> "),
    );
    pb.set_prefix(prefix);
    pb
}

/// Training progress: one bar per epoch (loss in the message) and one per evaluation.
pub struct TrainProgress {
    pub quiet: bool,
    pub tasks: Vec<String>,
    bar: Option<ProgressBar>,
    first_total: Option<f64>,
}

impl TrainProgress {
    pub fn new(quiet: bool, tasks: Vec<String>) -> Self {
        Self {
            quiet,
            tasks,
            bar: None,
            first_total: None,
        }
    }
}

impl Observer for TrainProgress {
    fn recorded(&mut self, run: &RunRecords<'_>) -> Result<(), TrainError> {
        crate::plot::write_run_plots(run.out, run.tasks, run.losses, run.history)
    }
    fn message(&mut self, msg: &str) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(b) => b.println(msg),
            None => eprintln!("{msg}"),
        }
    }
    fn epoch_start(&mut self, epoch: usize, epochs: usize, steps: usize) {
        self.bar = Some(bar(
            steps as u64,
            format!("epoch {}/{epochs}", epoch + 1),
            self.quiet,
        ));
    }
    fn iteration(&mut self, r: &IterRecord) {
        let first = *self.first_total.get_or_insert(r.total);
        if let Some(b) = &self.bar {
            let per_task: Vec<String> = self
                .tasks
                .iter()
                .zip(&r.losses)
                .map(|(t, l)| format!("{t} {l:.3}"))
                .collect();
            b.set_message(format!(
                "loss {:.4} (first {first:.4}) | {} | lr {:.2e}",
                r.total,
                per_task.join(" "),
                r.lr
            ));
            b.inc(1);
        }
    }
    fn epoch_end(&mut self, _epoch: usize) {
        if let Some(b) = self.bar.take() {
            b.finish();
        }
    }
    fn eval_start(&mut self, _epoch: usize, batches: usize) {
        self.bar = Some(bar(batches as u64, "eval".into(), self.quiet));
    }
    fn eval_batch(&mut self) {
        if let Some(b) = &self.bar {
            b.inc(1);
        }
    }
    fn evaluated(&mut self, rec: &EvalRecord, best: bool) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        if !self.quiet {
            eprintln!(
                "  eval after epoch {}: {}{}",
                rec.epoch + 1,
                summary_line(rec),
                if best { "  (best Δm so far)" } else { "" }
            );
        }
    }
}
