//! Shared helpers of the criterion benchmarks (`cargo bench -p mtlora-benches`).

use std::path::PathBuf;

/// A synthetic PASCAL_MT set with realistic VOC image sizes (500×375 / 375×500 JPEGs), written
/// once under the system temp folder and reused by later runs.
pub fn synthetic_voc_sized(ids: usize) -> PathBuf {
    mtlora_cli::alloc::tune_allocator();
    let dir = std::env::temp_dir().join(format!("mtlora-bench-synth-{ids}"));
    if !dir.join("ImageSets/Context/val.txt").exists() {
        let cfg = mtlora_pascal::SynthConfig {
            ids,
            seed: 0,
            sizes: vec![(500, 375), (375, 500)],
        };
        mtlora_pascal::synthesize(&dir, &cfg).expect("write synthetic dataset");
    }
    dir
}

pub mod cases;
