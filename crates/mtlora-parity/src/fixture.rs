//! Fixture files: JSON sidecar + optional safetensors.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use burn::tensor::TensorData;
use mtlora::{read_safetensors, StateDict};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use crate::ParityError;

/// A loaded fixture. Every read of a tensor is recorded, so a run can tell which tensors of
/// the fixture no check consumed ([`Fixture::unused`]).
pub struct Fixture {
    /// Folder of the sidecar.
    pub dir: PathBuf,
    /// Parsed JSON.
    pub json: Value,
    /// Tensors of `NAME.safetensors` (empty if there is none).
    tensors: StateDict,
    used: RefCell<BTreeSet<String>>,
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
        Ok(Self {
            dir,
            json,
            tensors,
            used: RefCell::default(),
        })
    }

    /// A tensor that must exist.
    pub fn tensor(&self, name: &str) -> Result<&TensorData, ParityError> {
        self.get(name)
            .ok_or_else(|| ParityError::Fixture(format!("fixture tensor {name:?} is missing")))
    }

    /// A tensor, if the fixture has it.
    pub fn get(&self, name: &str) -> Option<&TensorData> {
        let t = self.tensors.get(name)?;
        self.used.borrow_mut().insert(name.to_string());
        Some(t)
    }

    /// Every tensor whose name starts with `prefix`, with the prefix removed (name order).
    pub fn with_prefix<'a>(&'a self, prefix: &str) -> Vec<(&'a str, &'a TensorData)> {
        let mut used = self.used.borrow_mut();
        self.tensors
            .iter()
            .filter_map(|(k, v)| {
                let rest = k.strip_prefix(prefix)?;
                used.insert(k.clone());
                Some((rest, v))
            })
            .collect()
    }

    /// The tensors listed in the sidecar field `state_keys` (all tensors without one).
    pub fn state(&self, state_keys: Option<&Value>) -> StateDict {
        match state_keys.and_then(Value::as_array) {
            Some(keys) => keys
                .iter()
                .filter_map(Value::as_str)
                .filter_map(|k| self.get(k).map(|t| (k.to_string(), t.clone())))
                .collect(),
            None => {
                let mut used = self.used.borrow_mut();
                used.extend(self.tensors.keys().cloned());
                self.tensors.clone()
            }
        }
    }

    /// Tensors of the fixture that no check has read so far.
    pub fn unused(&self) -> Vec<String> {
        let used = self.used.borrow();
        self.tensors
            .keys()
            .filter(|k| !used.contains(*k))
            .cloned()
            .collect()
    }

    /// The sidecar as the typed record `T` of its fixture kind: a missing or mistyped field
    /// is an error naming it (unknown fields, e.g. descriptions, are allowed).
    pub fn sidecar<T: DeserializeOwned>(&self) -> Result<T, ParityError> {
        T::deserialize(&self.json)
            .map_err(|e| ParityError::Fixture(format!("{}: sidecar: {e}", self.name())))
    }

    /// The fixture kind named in the sidecar (or `?`).
    fn name(&self) -> &str {
        self.json
            .get("fixture")
            .and_then(Value::as_str)
            .unwrap_or("?")
    }

    /// A JSON field that must exist.
    pub fn field(&self, name: &str) -> Result<&Value, ParityError> {
        self.json
            .get(name)
            .ok_or_else(|| ParityError::Fixture(format!("sidecar field {name:?} is missing")))
    }
}

/// A reference number in a sidecar: a JSON number or the string `"NaN"` (JSON has no NaN).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Num(pub f64);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(v) => Ok(Num(v)),
            Raw::Text(s) if s == "NaN" => Ok(Num(f64::NAN)),
            Raw::Text(s) => Err(serde::de::Error::custom(format!(
                "expected a number or \"NaN\", found {s:?}"
            ))),
        }
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
