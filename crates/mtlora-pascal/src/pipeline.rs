//! The train / val transform pipelines of the reference (dataset.md §5.1), with per-sample
//! seeded randomness.

use std::collections::BTreeMap;

use crate::plane::Plane;
use crate::sample::{RawSample, Task};
use crate::transforms::{
    cast_u8, fixed_resize, hflip, ignore_empty_parts, ignore_zero_normals, normalize_image,
    scale_rotate, to_chw, ImageCast, Interp,
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

fn interp_of(t: Option<Task>) -> Interp {
    match t {
        None | Some(Task::Normals) => Interp::Cubic,
        _ => Interp::Nearest,
    }
}

/// Apply the pipeline: (train only) flip → ScaleNRotate, then FixedResize → AddIgnoreRegions
/// → ToTensor → Normalize.
pub fn process(raw: &RawSample, cfg: &TransformConfig, augment: Option<Augment>) -> Processed {
    let mut image = raw.image.to_f64();
    let mut labels: BTreeMap<Task, Plane<f64>> = raw.labels.clone();
    if let Some(a) = augment {
        if a.flip {
            image = hflip(&image, false);
            for (t, l) in labels.iter_mut() {
                *l = hflip(l, *t == Task::Normals);
            }
        }
        image = scale_rotate(&image, a.rot, a.scale, Interp::Cubic, false);
        for (t, l) in labels.iter_mut() {
            *l = scale_rotate(l, a.rot, a.scale, interp_of(Some(*t)), *t == Task::Normals);
        }
    }
    let [h, w] = cfg.size;
    let image = fixed_resize(&image, h, w, Interp::Cubic, false);
    let image_u8 = image.map(|v| cast_u8(v, cfg.cast));
    let mut out = BTreeMap::new();
    for (t, l) in labels {
        let mut l = fixed_resize(&l, h, w, interp_of(Some(t)), t == Task::Normals);
        match t {
            Task::HumanParts => ignore_empty_parts(&mut l),
            Task::Normals => ignore_zero_normals(&mut l),
            _ => {}
        }
        out.insert(t, to_chw(&l));
    }
    Processed {
        id: raw.id.clone(),
        original_size: [raw.image.h, raw.image.w],
        image: normalize_image(&image_u8),
        image_u8,
        labels: out,
    }
}
