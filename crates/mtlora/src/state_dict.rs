//! A state dict (reference key → tensor data) and its file formats: safetensors and PyTorch
//! `.pth` (zip pickles, e.g. `{'model': state_dict}`).

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::{DType, TensorData};

use crate::error::ModelError;

/// Reference key → tensor.
pub type StateDict = BTreeMap<String, TensorData>;

/// The `__metadata__` strings of a safetensors file.
pub type Metadata = std::collections::HashMap<String, String>;

fn fmt_err(path: &Path, msg: impl std::fmt::Display) -> ModelError {
    ModelError::format(path, msg)
}

fn from_le<T, const N: usize>(bytes: &[u8], f: fn([u8; N]) -> T) -> Vec<T> {
    bytes
        .chunks_exact(N)
        .map(|c| f(c.try_into().expect("chunk size")))
        .collect()
}

/// Decode little-endian bytes of a known dtype.
fn decode(bytes: &[u8], dtype: &str, shape: Vec<usize>) -> Result<TensorData, String> {
    let numel: usize = shape.iter().product();
    let data = match dtype {
        "F32" => TensorData::new(from_le(bytes, f32::from_le_bytes), shape),
        "F64" => TensorData::new(from_le(bytes, f64::from_le_bytes), shape),
        "I64" => TensorData::new(from_le(bytes, i64::from_le_bytes), shape),
        "I32" => TensorData::new(from_le(bytes, i32::from_le_bytes), shape),
        "U8" => TensorData::new(bytes.to_vec(), shape),
        other => return Err(format!("unsupported dtype {other}")),
    };
    if data.num_elements() != numel {
        return Err("byte length does not match the shape".into());
    }
    Ok(data)
}

/// Read every tensor of a safetensors file.
pub fn read_safetensors(path: &Path) -> Result<StateDict, ModelError> {
    Ok(read_safetensors_with_metadata(path)?.0)
}

/// Read the tensors and the `__metadata__` strings of a safetensors file (one read).
pub fn read_safetensors_with_metadata(
    path: &Path,
) -> Result<(StateDict, std::collections::HashMap<String, String>), ModelError> {
    let md = std::fs::metadata(path).map_err(ModelError::io(path))?;
    if !md.is_file() {
        return Err(fmt_err(
            path,
            "not a regular file (a FIFO, device or folder)",
        ));
    }
    let bytes = std::fs::read(path).map_err(ModelError::io(path))?;
    parse_safetensors(&bytes).map_err(|msg| fmt_err(path, msg))
}

/// The tensors and `__metadata__` strings of safetensors bytes (what
/// [`read_safetensors_with_metadata`] reads from a file; the error names no file).
pub fn parse_safetensors(bytes: &[u8]) -> Result<(StateDict, Metadata), String> {
    let bad = |e: safetensors::SafeTensorError| format!("not a valid safetensors file ({e})");
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(bad)?;
    let mut out = StateDict::new();
    for (name, view) in st.tensors() {
        let dtype = format!("{:?}", view.dtype());
        let data = decode(view.data(), &dtype, view.shape().to_vec())
            .map_err(|e| format!("tensor {name}: {e}"))?;
        out.insert(name, data);
    }
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes).map_err(bad)?;
    Ok((out, meta.metadata().clone().unwrap_or_default()))
}

/// Read a PyTorch checkpoint; tensors under a top-level `model` dict when present.
pub fn read_pth(path: &Path) -> Result<StateDict, ModelError> {
    if !path.exists() {
        return Err(ModelError::not_found(path));
    }
    if !path.is_file() {
        return Err(fmt_err(
            path,
            "not a regular file (a FIFO, device or folder)",
        ));
    }
    let reader = pytorch_reader::PytorchReader::with_top_level_key(path, "model")
        .or_else(|_| pytorch_reader::PytorchReader::new(path))
        .map_err(|e| fmt_err(path, format!("not a readable PyTorch checkpoint ({e})")))?;
    let mut out = StateDict::new();
    for (name, t) in reader.into_tensors() {
        use pytorch_reader::DType as P;
        let dtype = match t.dtype() {
            P::F32 => "F32",
            P::F64 => "F64",
            P::I64 => "I64",
            P::I32 => "I32",
            P::U8 => "U8",
            other => {
                return Err(fmt_err(
                    path,
                    format!("tensor {name}: unsupported dtype {other:?}"),
                ))
            }
        };
        let bytes = t.read().map_err(|e| fmt_err(path, e))?;
        let data = decode(&bytes, dtype, t.shape().to_vec())
            .map_err(|e| fmt_err(path, format!("tensor {name}: {e}")))?;
        out.insert(name, data);
    }
    Ok(out)
}

/// Read by extension: `.safetensors`, or `.pth`/`.pt`/`.bin`.
pub fn read_state_dict(path: &Path) -> Result<StateDict, ModelError> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("safetensors") => read_safetensors(path),
        Some("pth") | Some("pt") | Some("bin") => read_pth(path),
        _ => Err(fmt_err(
            path,
            "unknown weight format (expected .safetensors or .pth)",
        )),
    }
}

fn st_dtype(path: &Path, d: DType) -> Result<safetensors::Dtype, ModelError> {
    Ok(match d {
        DType::F32 => safetensors::Dtype::F32,
        DType::F64 => safetensors::Dtype::F64,
        DType::I64 => safetensors::Dtype::I64,
        DType::I32 => safetensors::Dtype::I32,
        DType::U8 => safetensors::Dtype::U8,
        other => return Err(fmt_err(path, format!("cannot save dtype {other:?}"))),
    })
}

/// Write a safetensors file atomically (temporary file in the same folder, then rename), so an
/// existing file is never left half-written.
pub fn write_safetensors(
    path: &Path,
    tensors: &StateDict,
    metadata: Option<std::collections::HashMap<String, String>>,
) -> Result<(), ModelError> {
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(k, d)| {
            let view = safetensors::tensor::TensorView::new(
                st_dtype(path, d.dtype())?,
                d.shape().to_vec(),
                d.as_bytes(),
            )
            .map_err(|e| fmt_err(path, format!("tensor {k}: {e}")))?;
            Ok((k.clone(), view))
        })
        .collect::<Result<_, ModelError>>()?;
    let bytes = safetensors::serialize(views, &metadata)
        .map_err(|e| fmt_err(path, format!("serialize: {e}")))?;
    write_atomic(path, &bytes)
}

/// Write bytes to `path` atomically: a new temporary file with an unpredictable name in the
/// same folder (created exclusively, so a planted file or symlink is never followed), synced,
/// then renamed over `path`. On any failure the temporary file is removed and `path` is
/// untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ModelError> {
    let io = |e: std::io::Error| ModelError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(io)?;
            d
        }
        None => Path::new("."),
    };
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().to_string());
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io)?;
    std::io::Write::write_all(&mut tmp, bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}
