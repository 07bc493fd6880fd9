//! The train / val transform pipelines of the reference (dataset.md §5.1), with per-sample
//! seeded randomness.

use std::collections::BTreeMap;

use crate::plane::Plane;
use crate::sample::{RawSample, Task};
use crate::transforms::{
    cast_u8, hflip_in_place, hflip_normals_in_place, ignore_empty_parts, ignore_zero_normals,
    normalize_image, renormalize, resize_cubic, resize_nearest, rotate_normals_in_place,
    rotation_matrix, to_chw, warp_cubic, warp_nearest, ImageCast, Sample,
};

/// Random augmentation parameters of one training sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Augment {
    /// Horizontal flip.
    pub flip: bool,
    /// Rotation in degrees (U(−20, 20)).
    pub rot: f64,
    /// Scale (U(0.75, 1.25)).
    pub scale: f64,
}

/// SplitMix64: a small, portable, seedable generator.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// Next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Generator for `(seed, epoch, index)`: independent of worker count and order.
    pub fn for_sample(seed: u64, epoch: u64, index: u64) -> Self {
        let mut g = SplitMix64(seed ^ 0x6A09E667F3BCC909);
        let a = g.next_u64();
        let mut g = SplitMix64(a ^ epoch.wrapping_mul(0x9E3779B97F4A7C15));
        let b = g.next_u64();
        SplitMix64(b ^ index.wrapping_mul(0xD1B54A32D192ED03))
    }
}

impl Augment {
    /// Draws in the reference order: flip (u < 0.5), rot = 40u − 20, scale = 0.5u − 0.25 + 1.
    pub fn draw(rng: &mut SplitMix64) -> Self {
        let flip = rng.next_f64() < 0.5;
        let rot = 40.0 * rng.next_f64() - 20.0;
        let scale = 0.5 * rng.next_f64() - 0.25 + 1.0;
        Self { flip, rot, scale }
    }
}

/// Pipeline settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TransformConfig {
    /// Output `[H, W]` (448×448 in the paper).
    pub size: [usize; 2],
    /// Image uint8 cast mode.
    pub cast: ImageCast,
}

impl Default for TransformConfig {
    fn default() -> Self {
        Self {
            size: [448, 448],
            cast: ImageCast::Clamp,
        }
    }
}

/// A transformed sample: network input and label tensors (CHW, f32).
#[derive(Debug, Clone)]
pub struct Processed {
    /// Image id.
    pub id: String,
    /// Original `(H, W)`.
    pub original_size: [usize; 2],
    /// The image after resize and uint8 cast, HWC.
    pub image_u8: Plane<u8>,
    /// Normalized image `[3, H, W]`.
    pub image: Vec<f32>,
    /// Per task `[C, H, W]` labels (255 = ignore).
    pub labels: BTreeMap<Task, Vec<f32>>,
}

/// A sample after [`scale_rotate`]: the image is warped to float and resized from there.
#[derive(Debug, Clone)]
pub struct Warped {
    /// RGB `H×W×3`, cubic-warped.
    pub image: Plane<f64>,
    /// Label maps, nearest-warped.
    pub maps: BTreeMap<Task, Plane<u8>>,
    /// Normals, rotated in-plane then cubic-warped.
    pub normals: Option<Plane<f64>>,
}

/// Train step 1, RandomHorizontalFlip (flip drawn): every element mirrored in place, the
/// normals' x component negated.
pub fn flip(s: &mut RawSample) {
    hflip_in_place(&mut s.image);
    s.maps.values_mut().for_each(hflip_in_place);
    if let Some(n) = s.normals.as_mut() {
        hflip_normals_in_place(n);
    }
}

/// Train step 2, ScaleNRotate with `rot` degrees and `scale` about the image centre
/// (`cv2.getRotationMatrix2D((W/2, H/2), rot, scale)`): image and normals cubic, labels
/// nearest, normals rotated in-plane before the warp.
pub fn scale_rotate(s: RawSample, rot: f64, scale: f64) -> Warped {
    let RawSample {
        image,
        mut maps,
        mut normals,
        ..
    } = s;
    let m = rotation_matrix(image.w as f64 / 2.0, image.h as f64 / 2.0, rot, scale);
    for l in maps.values_mut() {
        *l = warp_nearest(l, &m);
    }
    if let Some(n) = normals.as_mut() {
        rotate_normals_in_place(n, rot);
        *n = warp_cubic(n, &m);
    }
    Warped {
        image: warp_cubic(&image, &m),
        maps,
        normals,
    }
}

/// FixedResize of the image: cubic, to float (cast to 8 bits afterwards).
pub fn resize_image<T: Sample>(p: &Plane<T>, [h, w]: [usize; 2]) -> Plane<f64> {
    resize_cubic(p, h, w)
}

/// FixedResize of a label map: nearest (OpenCV's floor rule).
pub fn resize_label<T: Copy + Default>(p: &Plane<T>, [h, w]: [usize; 2]) -> Plane<T> {
    resize_nearest(p, h, w)
}

/// FixedResize of normals: cubic, then renormalized to unit length.
pub fn resize_normals(p: &Plane<f64>, [h, w]: [usize; 2]) -> Plane<f64> {
    let mut out = resize_cubic(p, h, w);
    renormalize(&mut out);
    out
}

/// Apply the pipeline: (train only) [`flip`] → [`scale_rotate`], then FixedResize
/// ([`resize_image`], [`resize_label`], [`resize_normals`]) → AddIgnoreRegions → ToTensor →
/// Normalize. Label maps stay integer (nearest interpolation only).
pub fn process(mut raw: RawSample, cfg: &TransformConfig, augment: Option<Augment>) -> Processed {
    let original_size = [raw.image.h, raw.image.w];
    let id = std::mem::take(&mut raw.id);
    let (image, maps, normals) = match augment {
        Some(a) => {
            if a.flip {
                flip(&mut raw);
            }
            let w = scale_rotate(raw, a.rot, a.scale);
            (resize_image(&w.image, cfg.size), w.maps, w.normals)
        }
        None => (resize_image(&raw.image, cfg.size), raw.maps, raw.normals),
    };
    let image_u8 = image.map(|v| cast_u8(v, cfg.cast));
    let mut labels = BTreeMap::new();
    for (t, l) in maps {
        let mut l = resize_label(&l, cfg.size);
        if t == Task::HumanParts {
            ignore_empty_parts(&mut l);
        }
        labels.insert(t, l.data.iter().map(|&v| v as f32).collect());
    }
    if let Some(n) = normals {
        let mut n = resize_normals(&n, cfg.size);
        ignore_zero_normals(&mut n);
        labels.insert(Task::Normals, to_chw(&n));
    }
    Processed {
        id,
        original_size,
        image: normalize_image(&image_u8),
        image_u8,
        labels,
    }
}
