//! A whole run with two data-parallel workers (its own test binary: runs draw from burn's
//! global RNG, which a parallel test would disturb).

mod common;

use common::{config, dataset, opts, tmp};
use mtlora_train::run::{train, Silent};

#[test]
fn data_parallel_run_trains() {
    let dir = tmp("dp");
    let data = dataset(&dir);
    let mut cfg = config();
    cfg.train.epochs = 1;
    cfg.train.data_parallel = 2;
    let out = dir.join("run");
    let s = train(
        Some(cfg),
        &opts(&out, &data, &dir.join("cache")),
        &mut Silent,
    )
    .unwrap();
    assert!(s.finished);
    // 6 train images, batch 2, 2 workers → 1 optimizer step per epoch
    assert_eq!(s.state.iteration, 1);
    let rows = mtlora_train::record::read_iter_csv(&out.join("train_log.csv"), 4).unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].1.iter().all(|v| v.is_finite()));
    let _ = std::fs::remove_dir_all(dir);
}
