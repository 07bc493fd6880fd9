//! The MTLoRA multi-task model: configuration, assembly (backbone + per-task decoders),
//! freezing policy, parameter accounting and weight import/export by reference key names.

pub mod config;
mod error;
pub mod model;
pub mod naming;

pub use config::{FreezeConfig, ModelConfig, MtLoraConfig, TaskConfig};
pub use error::ModelError;
pub use model::{Captures, MultiTaskOutput, MultiTaskSwin};
pub use naming::NameContext;
pub mod state_dict;
pub mod weights;

pub use state_dict::{
    read_pth, read_safetensors, read_safetensors_with_metadata, read_state_dict, write_safetensors,
    StateDict,
};
pub use weights::{export_tensors, load_tensors, named_tensors, LoadReport, NamedTensor};
pub mod freeze;
pub mod params;

pub use freeze::is_trainable;
pub use params::{MainPyPrintout, ParamReport};
