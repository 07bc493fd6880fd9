//! Model benchmarks: full MTLoRA (released r64 configuration, 448×448) inference at batch 1 and
//! one training step at batch 2, the same for the tiny configuration, and the building blocks at
//! their real Swin-T stage-0 shapes. Every timed run ends with `Device::sync`.
//!
//! `cargo bench -p mtlora-benches --bench model` (all), or with a filter, e.g. `-- tiny_`.
//! `cargo xtask bench` runs the same cases with a table, peak memory and RESULTS.md.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mtlora_benches::cases::{build, NAMES};

fn bench(c: &mut Criterion) {
    let device = burn::tensor::Device::default();
    let mut g = c.benchmark_group("model");
    g.sample_size(10);
    for name in NAMES {
        // build lazily: the r64 cases take seconds to set up
        if !c_filter_matches(name) {
            continue;
        }
        let mut case = build(name, &device).expect("known case");
        if case.images > 0 {
            g.throughput(Throughput::Elements(case.images as u64));
        }
        g.bench_function(name, |b| b.iter(|| (case.run)()));
    }
    g.finish();
}

/// Criterion filters by the benchmark id; skip building cases a filter excludes.
fn c_filter_matches(name: &str) -> bool {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    args.is_empty()
        || args
            .iter()
            .any(|f| format!("model/{name}").contains(f.as_str()))
}

criterion_group!(benches, bench);
criterion_main!(benches);
