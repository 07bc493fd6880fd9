//! Trainer invariants: gradient accumulation averages micro-batch gradients (k identical
//! micro-batches = one step on that micro-batch), and a step with non-finite values is skipped,
//! counted, and still advances the schedule.

use std::path::PathBuf;

use burn::tensor::{Device, Distribution, Tensor};
use mtlora::ModelConfig;
use mtlora_train::{Batch, TrainConfig, Trainer};

fn cfg() -> ModelConfig {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../configs/mtlora_tiny_cpu.toml");
    let mut c = ModelConfig::from_path(&p).unwrap();
    // deterministic forward: no DropPath, no LoRA dropout
    c.drop_path_rate = 0.0;
    c.mtlora.as_mut().unwrap().dropout = vec![0.0; 4];
    c
}

fn batch(c: &ModelConfig, device: &Device, nan_normals: bool) -> Batch {
    let [h, w] = c.img_size;
    let mut targets = vec![];
    for t in &c.tasks {
        targets.push(match t.name.as_str() {
            "normals" if nan_normals => Tensor::full([1, 3, h, w], f32::NAN, device),
            "normals" => Tensor::random([1, 3, h, w], Distribution::Normal(0.0, 1.0), device),
            "sal" => Tensor::random([1, 1, h, w], Distribution::Bernoulli(0.3), device),
            _ => Tensor::random(
                [1, 1, h, w],
                Distribution::Uniform(0.0, t.num_output as f64),
                device,
            )
            .floor(),
        });
    }
    Batch {
        image: Tensor::random([1, 3, h, w], Distribution::Normal(0.0, 1.0), device),
        targets,
    }
}

fn trainer(c: &ModelConfig, model: Option<mtlora::MultiTaskSwin>) -> Trainer {
    let inner = Device::default();
    let device = inner.clone().autodiff();
    let model = model.unwrap_or_else(|| c.init(&device).unwrap());
    let t = TrainConfig {
        epochs: 2,
        warmup_epochs: 1,
        scale_lr: false,
        base_lr: 1e-3,
        warmup_lr: 1e-4,
        min_lr: 1e-5,
        ..Default::default()
    };
    Trainer::new(c.clone(), t, model, device, inner, 4).unwrap()
}

fn trainable(t: &Trainer) -> mtlora::StateDict {
    t.model()
        .state_dict()
        .unwrap()
        .into_iter()
        .filter(|(k, _)| {
            mtlora::is_trainable(k, t.model_cfg())
                && !k.contains("running")
                && !k.contains("num_batches")
        })
        .collect()
}

#[test]
fn accumulation_of_identical_micro_batches_equals_one_step() {
    let c = cfg();
    // the same initial weights (tests share the global RNG, so no re-seeding)
    let mut one = trainer(&c, None);
    let mut three = trainer(&c, Some(one.model().clone()));
    let b = batch(&c, one.device(), false);
    let r1 = one.step(std::slice::from_ref(&b), 0);
    let r3 = three.step(&[b.clone(), b.clone(), b], 0);
    assert!(
        (r1.total - r3.total).abs() <= 1e-6 * r1.total.abs(),
        "{} vs {}",
        r1.total,
        r3.total
    );
    assert!(
        (r1.grad_norm - r3.grad_norm).abs() <= 1e-5 * r1.grad_norm,
        "{} vs {}",
        r1.grad_norm,
        r3.grad_norm
    );
    let (a, b) = (trainable(&one), trainable(&three));
    assert!(a.len() > 100);
    for (k, v) in &a {
        let x: Vec<f32> = v.clone().try_to_vec().unwrap();
        let y: Vec<f32> = b[k].clone().try_to_vec().unwrap();
        let worst = x
            .iter()
            .zip(&y)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0f32, f32::max);
        assert!(worst <= 1e-6, "{k}: {worst}");
    }
}

#[test]
fn non_finite_step_is_skipped_and_counted() {
    let c = cfg();
    let mut t = trainer(&c, None);
    let before = trainable(&t);
    let bad = batch(&c, t.device(), true);
    let r = t.step(&[bad], 0);
    assert!(r.skipped && !r.total.is_finite());
    assert_eq!((t.skipped_steps(), t.iteration()), (1, 1));
    let r = t.step(&[batch(&c, t.device(), true)], 0);
    assert!(r.skipped);
    assert_eq!((t.skipped_steps(), t.skipped_in_a_row()), (2, 2));
    let after = trainable(&t);
    for (k, v) in &before {
        assert_eq!(
            v.as_bytes(),
            after[k].as_bytes(),
            "{k} changed on a skipped step"
        );
    }
    // the schedule advanced past both skipped steps
    let good = batch(&c, t.device(), false);
    let r = t.step(std::slice::from_ref(&good), 0);
    assert!(!r.skipped && r.lr == t.schedule().f(1));
    // an applied step ends the streak; the total stays
    assert_eq!((t.skipped_steps(), t.skipped_in_a_row()), (2, 0));
    let r = t.step(&[good], 0);
    assert_eq!(r.lr, t.schedule().f(2));
}

#[test]
fn data_parallel_workers_equal_accumulation() {
    // 2 workers × 1 sample (one worker thread per device, both workers on the one CPU device)
    // vs accumulation of the same 2 micro-batches on one device
    let c = cfg();
    let mut acc = trainer(&c, None);
    let mut par = trainer(&c, Some(acc.model().clone()));
    let b1 = batch(&c, acc.device(), false);
    let b2 = batch(&c, acc.device(), false);
    let dp =
        mtlora_train::parallel::DataParallel::new(vec![par.device().clone(), par.device().clone()])
            .unwrap();
    let ra = acc.step(&[b1.clone(), b2.clone()], 0);
    let rp = par.step_parallel(&dp, &[b1, b2], 0).unwrap();
    assert_eq!(ra.total, rp.total);
    assert_eq!(ra.losses, rp.losses);
    assert_eq!(ra.grad_norm, rp.grad_norm);
    let (a, b) = (trainable(&acc), trainable(&par));
    for (k, v) in &a {
        assert_eq!(
            v.as_bytes(),
            b[k].as_bytes(),
            "{k} differs between data parallel and accumulation"
        );
    }
    // a second step from the updated weights agrees too
    let b3 = batch(&c, acc.device(), false);
    let b4 = batch(&c, acc.device(), false);
    let ra = acc.step(&[b3.clone(), b4.clone()], 0);
    let rp = par.step_parallel(&dp, &[b3, b4], 0).unwrap();
    assert_eq!(ra.total, rp.total);
    // a micro-batch count that does not fill the workers is an error, not a panic
    let b5 = batch(&c, acc.device(), false);
    assert!(par.step_parallel(&dp, &[b5], 0).is_err());
}
