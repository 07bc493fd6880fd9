//! The uint8 cast, ToTensor + Normalize, and the ignore regions of the labels.

// stencil loops read clearer with explicit tap indices
#![allow(clippy::needless_range_loop)]

use crate::plane::Plane;

/// How the image is cast to uint8 before ToTensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImageCast {
    /// Clamp to [0, 255], then truncate (default, quirk Q23 fixed).
    #[default]
    Clamp,
    /// Truncate toward zero, then wrap modulo 256 (the reference on x86-64).
    Wrap,
}

/// `astype(uint8)` of a resized image value.
#[inline]
pub fn cast_u8(v: f64, mode: ImageCast) -> u8 {
    match mode {
        ImageCast::Clamp => v.clamp(0.0, 255.0) as u8,
        ImageCast::Wrap => (v.trunc() as i64).rem_euclid(256) as u8,
    }
}

/// ImageNet mean / std.
pub const MEAN: [f32; 3] = [0.485, 0.456, 0.406];

/// ImageNet std.
pub const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// ToTensor + Normalize of a uint8 HWC image → CHW f32, `((u8/255) − mean)/std` in f32.
pub fn normalize_image(img: &Plane<u8>) -> Vec<f32> {
    static LUT: std::sync::OnceLock<[[f32; 256]; 3]> = std::sync::OnceLock::new();
    let lut = LUT.get_or_init(|| {
        let mut t = [[0.0f32; 256]; 3];
        for (k, row) in t.iter_mut().enumerate() {
            for (v, o) in row.iter_mut().enumerate() {
                *o = ((v as f32) / 255.0 - MEAN[k]) / STD[k];
            }
        }
        t
    });
    let n = img.h * img.w;
    let mut out = vec![0.0f32; 3 * n];
    let (r, rest) = out.split_at_mut(n);
    let (g, b) = rest.split_at_mut(n);
    for (i, px) in img.data.chunks_exact(3).enumerate() {
        r[i] = lut[0][px[0] as usize];
        g[i] = lut[1][px[1] as usize];
        b[i] = lut[2][px[2] as usize];
    }
    out
}

/// AddIgnoreRegions: a human-parts map that is entirely 0 becomes entirely 255.
pub fn ignore_empty_parts<T: Copy + Default + PartialEq + From<u8>>(p: &mut Plane<T>) {
    if p.data.iter().all(|&v| v == T::default()) {
        p.data.fill(T::from(255));
    }
}

/// HWC → CHW f32.
pub fn to_chw(p: &Plane<f64>) -> Vec<f32> {
    let n = p.h * p.w;
    let mut out = vec![0.0f32; p.c * n];
    for i in 0..n {
        for k in 0..p.c {
            out[k * n + i] = p.data[i * p.c + k] as f32;
        }
    }
    out
}
