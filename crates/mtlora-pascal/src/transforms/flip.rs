//! Horizontal flips (labels, image, normals with the x component negated).

// stencil loops read clearer with explicit tap indices
#![allow(clippy::needless_range_loop)]

use crate::plane::Plane;

/// Mirror columns in place.
pub fn hflip_in_place<T: Copy>(p: &mut Plane<T>) {
    fn rows<T: Copy, const C: usize>(data: &mut [T], w: usize) {
        for row in data.chunks_exact_mut(w * C) {
            let (px, _) = row.as_chunks_mut::<C>();
            px.reverse();
        }
    }
    match p.c {
        1 => rows::<T, 1>(&mut p.data, p.w),
        3 => rows::<T, 3>(&mut p.data, p.w),
        c => {
            let w = p.w;
            for row in p.data.chunks_exact_mut(w * c) {
                for x in 0..w / 2 {
                    for k in 0..c {
                        row.swap(x * c + k, (w - 1 - x) * c + k);
                    }
                }
            }
        }
    }
}

/// Mirror columns of normals in place and negate their x component (channel 0).
pub fn hflip_normals_in_place(p: &mut Plane<f64>) {
    hflip_in_place(p);
    for px in p.data.chunks_exact_mut(p.c) {
        px[0] = -px[0];
    }
}
