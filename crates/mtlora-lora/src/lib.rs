//! MTLoRA linear layers (Agiza et al., CVPR 2024).
//!
//! A [`MtLoraLinear`] holds a frozen base linear, one task-agnostic (shared, "TA-LoRA") low-rank
//! branch and zero or more task-specific ("TS-LoRA") branches. It produces one shared output
//! stream plus one output stream per task, in the `matrix` shared mode of the reference:
//! task outputs do **not** contain the shared LoRA term.
//!
//! This crate knows nothing about backbones; it only needs burn tensors.

mod linear;
mod mtlora_linear;

pub use linear::{linear_forward, BaseLinear, BaseLinearConfig};
pub use mtlora_linear::{
    MtLoraLinear, MtLoraLinearConfig, MtLoraOutput, SharedMode, TaskLoraConfig,
};
