//! Prediction on arbitrary images: resize to the model's resolution, forward, resize each task
//! back to the original size, and write viewable PNGs (palette maps, grayscale saliency, RGB
//! normals) plus a side-by-side overlay.

use mtlora_tasks::{MetricKind, Task};
use std::path::{Path, PathBuf};

use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor, TensorData};
use mtlora_metrics::first_argmax;
use mtlora_pascal::codec::read_rgb;
use mtlora_pascal::transforms::{cast_u8, normalize_image, resize_cubic};
use mtlora_pascal::{ImageCast, Plane};

use mtlora_train::inference::Loaded;
use mtlora_train::TrainError;

/// The PASCAL VOC colour map (bit-interleaved), 256 RGB triples.
pub fn voc_palette() -> Vec<u8> {
    let mut pal = Vec::with_capacity(768);
    for i in 0..256u32 {
        let (mut r, mut g, mut b) = (0u8, 0u8, 0u8);
        let mut c = i;
        for j in 0..8 {
            r |= ((c & 1) as u8) << (7 - j);
            g |= (((c >> 1) & 1) as u8) << (7 - j);
            b |= (((c >> 2) & 1) as u8) << (7 - j);
            c >>= 3;
        }
        pal.extend([r, g, b]);
    }
    pal
}

/// Per-task viewable maps at the original image size.
pub struct Prediction {
    /// The input image.
    pub image: Plane<u8>,
    /// `(task, map)`: palette indices (1 channel) for segmentation, gray for saliency, RGB
    /// for normals.
    pub maps: Vec<(Task, Plane<u8>)>,
    /// `(task, output)` when asked for: the model's outputs at the original image size,
    /// `[1, n_out, H, W]` f32.
    pub raw: Vec<(String, TensorData)>,
}

fn host_u8(t: Tensor<3>) -> Result<Vec<u8>, TrainError> {
    t.into_data()
        .convert::<u8>()
        .try_to_vec::<u8>()
        .map_err(|e| TrainError::Config(format!("prediction read-back: {e:?}")))
}

/// A task's output `[1, C, H, W]` rendered on the device as an `H×W×c` 8-bit map: the
/// first-maximum class (segmentation and tasks without a meter), the sigmoid probability
/// (saliency), or unit normals mapped to RGB.
fn render(task: Task, out: Tensor<4>) -> Result<Plane<u8>, TrainError> {
    let [_, _, h, w] = out.dims();
    let to_byte = |x: Tensor<4>| x.round().clamp(0.0, 255.0);
    match task.metric() {
        Some(MetricKind::Saliency) => {
            let p = to_byte(sigmoid(out).mul_scalar(255.0)).reshape([1, h, w]);
            Ok(Plane::from_vec(h, w, 1, host_u8(p)?))
        }
        Some(MetricKind::Normals) => {
            let norm = out.clone().square().sum_dim(1).sqrt().clamp_min(1e-12);
            let rgb = to_byte((out / norm).add_scalar(1.0).mul_scalar(127.5));
            let hwc = rgb.reshape([3, h, w]).permute([1, 2, 0]);
            Ok(Plane::from_vec(h, w, 3, host_u8(hwc)?))
        }
        Some(MetricKind::Segmentation) | None => {
            let labels = first_argmax(out).float();
            Ok(Plane::from_vec(h, w, 1, host_u8(labels)?))
        }
    }
}

/// Run `model` (e.g. [`Loaded::merged`]) on one image: cubic resize to the model size,
/// forward with each head upsampled once, on the device, to the image's size, rendered there;
/// `keep_raw` also reads the f32 outputs back.
pub fn predict(
    loaded: &Loaded,
    model: &mtlora::MultiTaskSwin,
    path: &Path,
    keep_raw: bool,
    device: &Device,
) -> Result<Prediction, TrainError> {
    let image = read_rgb(path)?;
    let [mh, mw] = loaded.cfg.img_size;
    let resized = resize_cubic(&image, mh, mw).map(|v| cast_u8(v, ImageCast::Clamp));
    let input = Tensor::<4>::from_data(
        TensorData::new(normalize_image(&resized), [1, 3, mh, mw]),
        device,
    );
    let out = model.forward_to(input, [image.h, image.w]);
    let mut maps = vec![];
    let mut raw = vec![];
    let tasks = mtlora_train::heads::tasks_of(&mtlora_train::heads::task_heads(&loaded.cfg)?);
    for (task, o) in tasks.into_iter().zip(out.outputs) {
        // render from a clone and read the raw output after it: on fused GPU backends an
        // in-place op (sigmoid, the normals division) on the only handle of a tensor can
        // overwrite the buffer of a read issued just before it (seen on wgpu/llvmpipe)
        maps.push((task, render(task, o.clone())?));
        if keep_raw {
            raw.push((task.name().to_string(), o.into_data()));
        }
    }
    Ok(Prediction { image, maps, raw })
}

fn to_rgb(task: Task, m: &Plane<u8>, image: &Plane<u8>, pal: &[u8]) -> Plane<u8> {
    let n = m.h * m.w;
    let mut d = vec![0u8; n * 3];
    for i in 0..n {
        let px: [u8; 3] = match (task.metric(), m.c) {
            (_, 3) => [m.data[i * 3], m.data[i * 3 + 1], m.data[i * 3 + 2]],
            (Some(MetricKind::Saliency), _) => [m.data[i]; 3],
            _ => {
                let k = m.data[i] as usize;
                let col = [pal[3 * k], pal[3 * k + 1], pal[3 * k + 2]];
                // blend with the image where a class is predicted
                let a = if k == 0 { 0.0 } else { 0.6 };
                let mut o = [0u8; 3];
                for ch in 0..3 {
                    o[ch] = (a * col[ch] as f32 + (1.0 - a) * image.data[i * 3 + ch] as f32) as u8;
                }
                o
            }
        };
        d[i * 3..i * 3 + 3].copy_from_slice(&px);
    }
    Plane::from_vec(m.h, m.w, 3, d)
}

/// Write the raw outputs as `<stem>_outputs.safetensors` (one tensor per task) into `out`.
pub fn write_raw(out: &Path, stem: &str, p: &Prediction) -> Result<PathBuf, TrainError> {
    let path = out.join(format!("{stem}_outputs.safetensors"));
    let sd: mtlora::StateDict = p.raw.iter().cloned().collect();
    mtlora::state_dict::write_safetensors(&path, &sd, None)?;
    Ok(path)
}

/// Write `<stem>_<task>.png` per task and `<stem>_overlay.png` (image | tasks side by side)
/// into `out`; returns the written files.
pub fn write_prediction(
    out: &Path,
    stem: &str,
    p: &Prediction,
) -> Result<Vec<PathBuf>, TrainError> {
    let pal = voc_palette();
    let mut files = vec![];
    let write = |path: PathBuf, bytes: Vec<u8>| -> Result<PathBuf, TrainError> {
        mtlora::state_dict::write_atomic(&path, &bytes)?;
        Ok(path)
    };
    let mut panels = vec![p.image.clone()];
    for (task, m) in &p.maps {
        let palette = (m.c == 1 && task.metric() != Some(MetricKind::Saliency)).then_some(&pal[..]);
        files.push(write(
            out.join(format!("{stem}_{task}.png")),
            mtlora_pascal::codec::encode_png(m, palette),
        )?);
        panels.push(to_rgb(*task, m, &p.image, &pal));
    }
    let (h, w) = (p.image.h, p.image.w);
    let total_w = w * panels.len();
    let mut d = vec![0u8; h * total_w * 3];
    for (k, panel) in panels.iter().enumerate() {
        for y in 0..h {
            let dst = (y * total_w + k * w) * 3;
            d[dst..dst + w * 3].copy_from_slice(&panel.data[y * w * 3..(y + 1) * w * 3]);
        }
    }
    files.push(write(
        out.join(format!("{stem}_overlay.png")),
        mtlora_pascal::codec::encode_png(&Plane::from_vec(h, total_w, 3, d), None),
    )?);
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palette() {
        let p = voc_palette();
        // VOC: 1 = (128, 0, 0), 15 (person) = (192, 128, 128)
        assert_eq!(&p[3..6], &[128, 0, 0]);
        assert_eq!(&p[45..48], &[192, 128, 128]);
    }

    fn t4(v: Vec<f32>, shape: [usize; 4]) -> Tensor<4> {
        Tensor::from_data(TensorData::new(v, shape), &Device::default())
    }

    #[test]
    fn rendering_on_the_device() {
        // 3 classes over 2 pixels: pixel 0 → class 2, pixel 1 ties 0 and 1 → first (0)
        let seg = render(
            Task::Semseg,
            t4(vec![0.0, 1.0, 1.0, 1.0, 5.0, -1.0], [1, 3, 1, 2]),
        );
        assert_eq!(seg.unwrap().data, vec![2, 0]);
        // sigmoid(0) = 0.5 → 128 (127.5 rounded half away from zero); sigmoid(±40) saturates
        let sal = render(Task::Sal, t4(vec![0.0, 40.0, -40.0], [1, 1, 1, 3])).unwrap();
        assert_eq!(sal.data, vec![128, 255, 0]);
        // (0, 0, 2) → (0, 0, 1) → (128, 128, 255); (-3, 0, 4) → (-0.6, 0, 0.8) → (51, 128, 230)
        let n = render(
            Task::Normals,
            t4(vec![0.0, -3.0, 0.0, 0.0, 2.0, 4.0], [1, 3, 1, 2]),
        )
        .unwrap();
        assert_eq!((n.h, n.w, n.c), (1, 2, 3));
        assert_eq!(n.data, vec![128, 128, 255, 51, 128, 230]);
    }
}
