//! Data pipeline throughput at 448×448: decode + train transforms (flip, scale/rotate, resize,
//! ignore regions, normalize), decode + val transforms, and batching, on one core.
//!
//! `cargo bench -p mtlora-benches --bench data_pipeline`

use burn::data::dataloader::batcher::Batcher;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mtlora_pascal::{
    load_batch, DatasetConfig, PascalBatcher, PascalDataset, PascalRoot, Task, TransformConfig,
};

fn dataset(augment: bool) -> PascalDataset {
    let dir = mtlora_benches::synthetic_voc_sized(16);
    let root = PascalRoot::new(&dir).with_cache_dir(dir.join("../mtlora-bench-cache"));
    let cfg = DatasetConfig {
        splits: vec!["train".into()],
        tasks: Task::PASCAL.to_vec(),
        transform: TransformConfig::default(),
        augment,
        seed: 0,
    };
    PascalDataset::new(root, cfg).expect("open dataset")
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("pascal_448");
    g.sample_size(10);
    for (name, augment) in [
        ("train_transform_1core", true),
        ("val_transform_1core", false),
    ] {
        let ds = dataset(augment);
        let n = ds.ids().len();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                for i in 0..n {
                    std::hint::black_box(ds.load(i).expect("sample"));
                }
            })
        });
    }
    let ds = dataset(true);
    let idx: Vec<usize> = (0..8).collect();
    let device = burn::tensor::Device::default();
    g.throughput(Throughput::Elements(8));
    g.bench_function("train_batch8_1core", |b| {
        b.iter(|| {
            let items = load_batch(&ds, &idx, 1).expect("batch");
            std::hint::black_box(PascalBatcher.batch(items, &device))
        })
    });
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    g.bench_function(format!("train_batch8_{workers}workers"), |b| {
        b.iter(|| {
            let items = load_batch(&ds, &idx, workers).expect("batch");
            std::hint::black_box(PascalBatcher.batch(items, &device))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
