//! Fixture files: JSON sidecar + optional safetensors.

use std::path::{Path, PathBuf};

use burn::tensor::TensorData;
use mtlora::{read_safetensors, StateDict};
use serde_json::Value;

use super::ParityError;

/// A loaded fixture.
pub struct Fixture {
    /// Folder of the sidecar.
    pub dir: PathBuf,
    /// Parsed JSON.
    pub json: Value,
    /// Tensors of `NAME.safetensors` (empty if there is none).
    pub tensors: StateDict,
}

impl Fixture {
    /// Load `NAME.json` and `NAME.safetensors` beside it.
    pub fn load(sidecar: &Path) -> Result<Self, ParityError> {
        let text = std::fs::read_to_string(sidecar)
            .map_err(|e| ParityError::Fixture(format!("{}: {e}", sidecar.display())))?;
        let json: Value = serde_json::from_str(&text).map_err(|e| {
            ParityError::Fixture(format!("{}: invalid JSON ({e})", sidecar.display()))
        })?;
        let st = sidecar.with_extension("safetensors");
        let tensors = if st.exists() {
            read_safetensors(&st)?
        } else {
            StateDict::new()
        };
        let dir = sidecar.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(Self { dir, json, tensors })
    }

    /// A tensor that must exist.
    pub fn tensor(&self, name: &str) -> Result<&TensorData, ParityError> {
        self.tensors
            .get(name)
            .ok_or_else(|| ParityError::Fixture(format!("fixture tensor {name:?} is missing")))
    }

    /// A JSON field that must exist.
    pub fn field(&self, name: &str) -> Result<&Value, ParityError> {
        self.json
            .get(name)
            .ok_or_else(|| ParityError::Fixture(format!("sidecar field {name:?} is missing")))
    }
}

/// JSON number (or `"NaN"`) as f64.
pub fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) if s == "NaN" => Some(f64::NAN),
        _ => None,
    }
}

/// A JSON list of strings (empty if absent or not a list).
pub fn str_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}
