//! The PASCAL-Context multi-task data pipeline (PASCAL_MT layout) of MTLoRA: exact decoding of
//! every file kind, OpenCV-4.7-exact transforms, a burn `Dataset` + `Batcher`, a threaded
//! loader, a dataset verifier and (feature `synth`) a synthetic dataset generator.
//!
//! This crate does not depend on any model crate.

pub mod classes;
pub mod codec;
pub mod dataset;
pub mod descriptor;
mod error;
pub mod layout;
pub mod mat;
pub mod pipeline;
pub mod plane;
pub mod sample;
pub mod transforms;

pub use dataset::{
    epoch_batches, load_batch, DatasetConfig, MultiTaskBatch, PascalBatcher, PascalDataset,
    PascalLoader,
};
pub use error::{PascalError, Result};
pub use layout::PascalRoot;
pub use pipeline::{process, Augment, Processed, TransformConfig};
pub use plane::Plane;
pub use sample::{decode_sample, pascal_task, RawSample, Task};
pub use transforms::ImageCast;
#[cfg(feature = "synth")]
pub mod synth;
pub mod verify;

#[cfg(feature = "synth")]
pub use synth::{synthesize, SynthConfig};
pub use verify::{verify, verify_with_progress, VerifyReport};
