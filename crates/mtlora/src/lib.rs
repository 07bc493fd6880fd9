//! The MTLoRA multi-task model: configuration, assembly (backbone + per-task decoders),
//! freezing policy, parameter accounting and weight import/export by reference key names.

pub mod checkpoint;
pub mod config;
mod error;
pub mod freeze;
pub mod keyed;
pub mod model;
pub mod naming;
pub mod params;
pub mod state_dict;
pub mod weights;

pub use checkpoint::{write_checkpoint, CheckpointFile};
pub use config::{FreezeConfig, ModelConfig, MtLoraConfig, TaskConfig};
pub use error::ModelError;
pub use freeze::is_trainable;
pub use keyed::{map_keyed, visit_keyed, Key, KeyedMapper, KeyedVisitor};
pub use model::{Captures, MultiTaskOutput, MultiTaskSwin};
pub use naming::NameContext;
pub use params::{MainPyPrintout, ParamReport};
pub use state_dict::{
    read_pth, read_safetensors, read_safetensors_with_metadata, read_state_dict, write_safetensors,
    StateDict,
};
pub use weights::{export_tensors, load_tensors, named_tensors, LoadReport, NamedTensor};
