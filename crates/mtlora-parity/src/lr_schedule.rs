//! `lr_schedule.json`: every learning rate of the reference scheduler, off-by-one included.

use burn::tensor::Device;
use serde::Deserialize;

use crate::compare::Group;
use crate::fixture::Fixture;
use crate::ParityError;
use mtlora_train::schedule::CosineSchedule;

const LR_REL: f64 = 1e-12;

/// The `lr_schedule` sidecar (FORMAT.md): a small run listed in full and the paper's recipe at
/// chosen points.
#[derive(Deserialize)]
struct Sidecar {
    small_run: SmallRun,
    real_recipe_300_epochs: RealRun,
}

#[derive(Deserialize)]
struct Params {
    epochs: usize,
    warmup_epochs: usize,
    n_iter: usize,
    base_lr: f64,
    warmup_lr: f64,
    min_lr: f64,
}

impl Params {
    fn schedule(&self) -> (CosineSchedule, usize) {
        let s = CosineSchedule::from_epochs(
            self.base_lr,
            self.warmup_lr,
            self.min_lr,
            self.epochs,
            self.warmup_epochs,
            self.n_iter,
        );
        (s, self.epochs * self.n_iter)
    }
}

#[derive(Deserialize)]
struct SmallRun {
    params: Params,
    total_iterations: usize,
    /// `f(t)` for t = 0..=T
    f_t: Vec<f64>,
    /// the LR global iteration k uses: `f(max(k − 1, 0))`
    lr_used_by_iteration: Vec<f64>,
}

#[derive(Deserialize)]
struct RealRun {
    params: Params,
    total_iterations: usize,
    points: Vec<Point>,
    #[serde(rename = "f_t_at_T")]
    f_t_at_t: f64,
}

#[derive(Deserialize)]
struct Point {
    iteration: usize,
    f_t: f64,
    lr_used: f64,
}

pub(crate) fn run(fx: &Fixture, _device: &Device) -> Result<Vec<Group>, ParityError> {
    let side: Sidecar = fx.sidecar()?;

    let run = &side.small_run;
    let (s, total) = run.params.schedule();
    let mut g = Group::new("small_run");
    g.compare_scalar(
        "total_iterations",
        total as f64,
        run.total_iterations as f64,
        0.0,
    );
    for (i, &want) in run.f_t.iter().enumerate() {
        g.compare_scalar(&format!("f_t[{i}]"), s.f(i), want, LR_REL);
    }
    for (i, &want) in run.lr_used_by_iteration.iter().enumerate() {
        g.compare_scalar(
            &format!("lr_used_by_iteration[{i}]"),
            s.lr_used(i),
            want,
            LR_REL,
        );
    }

    let run = &side.real_recipe_300_epochs;
    let (s, total) = run.params.schedule();
    let mut r = Group::new("real_recipe_300_epochs");
    r.compare_scalar(
        "total_iterations",
        total as f64,
        run.total_iterations as f64,
        0.0,
    );
    for p in &run.points {
        let k = p.iteration;
        r.compare_scalar(&format!("f({k})"), s.f(k), p.f_t, LR_REL);
        r.compare_scalar(&format!("lr_used({k})"), s.lr_used(k), p.lr_used, LR_REL);
    }
    r.compare_scalar("f(T)", s.f(total), run.f_t_at_t, LR_REL);
    Ok(vec![g, r])
}
