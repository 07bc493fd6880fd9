//! Prediction on arbitrary images: resize to the model's resolution, forward, resize each task
//! back to the original size, and write viewable PNGs (palette maps, grayscale saliency, RGB
//! normals) plus a side-by-side overlay.

use mtlora_tasks::{MetricKind, Task};
use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use mtlora_pascal::transforms::{cast_u8, normalize_image, resize_cubic};
use mtlora_pascal::{ImageCast, Plane};

use crate::inference::Loaded;
use crate::TrainError;

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

/// Decode any JPEG or PNG to RGB8, naming the file on failure.
pub fn read_image(path: &Path) -> Result<Plane<u8>, TrainError> {
    let bytes = std::fs::read(path).map_err(TrainError::io(path, "cannot read the image"))?;
    let img = image::load_from_memory(&bytes)
        .map_err(|source| TrainError::Image {
            path: path.to_path_buf(),
            source,
        })?
        .into_rgb8();
    let (w, h) = img.dimensions();
    Ok(Plane::from_vec(h as usize, w as usize, 3, img.into_raw()))
}

/// Bilinear resize (align_corners = false, edge clamped) of a `C×H×W` map.
pub fn resize_bilinear_chw(
    v: &[f32],
    c: usize,
    h: usize,
    w: usize,
    dh: usize,
    dw: usize,
) -> Vec<f32> {
    let mut out = vec![0.0; c * dh * dw];
    let sy = h as f32 / dh as f32;
    let sx = w as f32 / dw as f32;
    let coord = |o: usize, s: f32, n: usize| {
        let x = ((o as f32 + 0.5) * s - 0.5).max(0.0);
        let i0 = (x.floor() as usize).min(n - 1);
        let i1 = (i0 + 1).min(n - 1);
        (i0, i1, x - i0 as f32)
    };
    for y in 0..dh {
        let (y0, y1, fy) = coord(y, sy, h);
        for x in 0..dw {
            let (x0, x1, fx) = coord(x, sx, w);
            for ch in 0..c {
                let p = |yy: usize, xx: usize| v[ch * h * w + yy * w + xx];
                let top = p(y0, x0) * (1.0 - fx) + p(y0, x1) * fx;
                let bot = p(y1, x0) * (1.0 - fx) + p(y1, x1) * fx;
                out[ch * dh * dw + y * dw + x] = top * (1.0 - fy) + bot * fy;
            }
        }
    }
    out
}

/// Per-task viewable maps at the original image size.
pub struct Prediction {
    /// The input image.
    pub image: Plane<u8>,
    /// `(task, map)`: palette indices (1 channel) for segmentation, gray for saliency, RGB
    /// for normals.
    pub maps: Vec<(Task, Plane<u8>)>,
    /// `(task, output)`: the model's outputs at its input resolution, `[1, n_out, H, W]` f32.
    pub raw: Vec<(String, TensorData)>,
}

/// Run `model` (e.g. [`Loaded::merged`]) on one image.
pub fn predict(
    loaded: &Loaded,
    model: &mtlora::MultiTaskSwin,
    path: &Path,
    device: &Device,
) -> Result<Prediction, TrainError> {
    let image = read_image(path)?;
    let [mh, mw] = loaded.cfg.img_size;
    let resized = resize_cubic(&image, mh, mw).map(|v| cast_u8(v, ImageCast::Clamp));
    let input = Tensor::<4>::from_data(
        TensorData::new(normalize_image(&resized), [1, 3, mh, mw]),
        device,
    );
    let out = model.forward(input);
    let (h, w) = (image.h, image.w);
    let mut maps = vec![];
    let mut raw = vec![];
    let tasks = crate::heads::tasks_of(&crate::heads::task_heads(&loaded.cfg)?);
    for (task, o) in tasks.into_iter().zip(out.outputs) {
        let [_, c, oh, ow] = o.dims();
        let v: Vec<f32> = o
            .into_data()
            .convert::<f32>()
            .try_to_vec()
            .expect("f32 outputs");
        raw.push((
            task.name().to_string(),
            TensorData::new(v.clone(), [1, c, oh, ow]),
        ));
        let r = resize_bilinear_chw(&v, c, oh, ow, h, w);
        let n = h * w;
        let map = match task.metric() {
            Some(MetricKind::Saliency) => Plane::from_vec(
                h,
                w,
                1,
                r.iter()
                    .map(|&x| (255.0 / (1.0 + (-x).exp())).round() as u8)
                    .collect(),
            ),
            Some(MetricKind::Normals) => {
                let mut d = vec![0u8; n * 3];
                for i in 0..n {
                    let (a, b, cc) = (r[i], r[n + i], r[2 * n + i]);
                    let norm = (a * a + b * b + cc * cc).sqrt().max(1e-12);
                    for (k, x) in [a, b, cc].iter().enumerate() {
                        d[i * 3 + k] = ((x / norm + 1.0) * 127.5).round().clamp(0.0, 255.0) as u8;
                    }
                }
                Plane::from_vec(h, w, 3, d)
            }
            // segmentation; a task without a meter shows its first-maximum channel too
            Some(MetricKind::Segmentation) | None => {
                let mut d = vec![0u8; n];
                for (i, px) in d.iter_mut().enumerate() {
                    let mut best = 0;
                    for ch in 1..c {
                        if r[ch * n + i] > r[best * n + i] {
                            best = ch;
                        }
                    }
                    *px = best as u8;
                }
                Plane::from_vec(h, w, 1, d)
            }
        };
        maps.push((task, map));
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
    fn palette_and_resize() {
        let p = voc_palette();
        // VOC: 1 = (128, 0, 0), 15 (person) = (192, 128, 128)
        assert_eq!(&p[3..6], &[128, 0, 0]);
        assert_eq!(&p[45..48], &[192, 128, 128]);
        // 2×2 → 4×4 bilinear (align_corners = false) of [[0, 1], [2, 3]]
        let r = resize_bilinear_chw(&[0.0, 1.0, 2.0, 3.0], 1, 2, 2, 4, 4);
        assert_eq!(&r[..4], &[0.0, 0.25, 0.75, 1.0]);
        assert_eq!(r[5], 0.75);
    }
}
