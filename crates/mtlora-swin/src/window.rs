//! Window geometry: partition/reverse, cyclic shift, relative position index, attention mask.

use burn::tensor::Tensor;

/// Effective `(window, shift)` of block `block_index` in a stage of resolution `res`.
///
/// Configured window `w`, shift `w/2` in odd blocks; if `min(res) ≤ w` the window is clamped to
/// `min(res)` and the shift becomes 0.
pub fn effective_window(res: [usize; 2], window: usize, block_index: usize) -> (usize, usize) {
    let shift = if block_index.is_multiple_of(2) {
        0
    } else {
        window / 2
    };
    let m = res[0].min(res[1]);
    if m <= window {
        (m, 0)
    } else {
        (window, shift)
    }
}

/// Partition `[B, H, W, C]` into windows `[B·nW, w·w, C]` (batch-major, then window row, window
/// column; row-major tokens inside a window).
///
/// # Shapes
/// - `x`: `[B, H, W, C]` with `H % w == 0`, `W % w == 0` → `[B·(H/w)·(W/w), w·w, C]`
pub fn window_partition(x: Tensor<4>, w: usize) -> Tensor<3> {
    let [b, h, wd, c] = x.dims();
    assert!(
        h % w == 0 && wd % w == 0,
        "window_partition: {h}x{wd} not divisible by {w}"
    );
    x.reshape([b, h / w, w, wd / w, w, c])
        .permute([0, 1, 3, 2, 4, 5])
        .reshape([b * (h / w) * (wd / w), w * w, c])
}

/// Inverse of [`window_partition`].
///
/// # Shapes
/// - `windows`: `[B·nW, w·w, C]` → `[B, H, W, C]`
pub fn window_reverse(windows: Tensor<3>, w: usize, h: usize, wd: usize) -> Tensor<4> {
    let [bn, n, c] = windows.dims();
    assert_eq!(
        n,
        w * w,
        "window_reverse: {n} tokens per window, expected {}",
        w * w
    );
    let nw = (h / w) * (wd / w);
    assert_eq!(
        bn % nw,
        0,
        "window_reverse: {bn} windows is not a multiple of {nw}"
    );
    let b = bn / nw;
    windows
        .reshape([b, h / w, wd / w, w, w, c])
        .permute([0, 1, 3, 2, 4, 5])
        .reshape([b, h, wd, c])
}

/// Cyclic shift of `[B, H, W, C]` by `(shift, shift)` on (H, W) (torch.roll semantics: a roll by
/// `−s` moves index `i` to `i − s mod n`).
pub fn cyclic_shift(x: Tensor<4>, shift: isize) -> Tensor<4> {
    if shift == 0 {
        return x;
    }
    x.roll(&[shift, shift], &[1, 2])
}

/// Relative position index `[w², w²]`, flattened row-major:
/// `(r_i − r_j + w − 1)·(2w − 1) + (c_i − c_j + w − 1)`.
pub fn relative_position_index(w: usize) -> Vec<i64> {
    let n = w * w;
    let w = w as i64;
    let mut idx = Vec::with_capacity(n * n);
    for i in 0..n as i64 {
        let (ri, ci) = (i / w, i % w);
        for j in 0..n as i64 {
            let (rj, cj) = (j / w, j % w);
            idx.push((ri - rj + w - 1) * (2 * w - 1) + (ci - cj + w - 1));
        }
    }
    idx
}

/// Shifted-window attention mask `[nW, w², w²]` (flattened): 0 within a region, −100 across.
pub fn attention_mask(res: [usize; 2], w: usize, s: usize) -> Vec<f32> {
    let [h, wd] = res;
    let region = |x: usize, n: usize| -> usize {
        if x < n - w {
            0
        } else if x < n - s {
            1
        } else {
            2
        }
    };
    let n = w * w;
    let (nh, nwc) = (h / w, wd / w);
    let mut mask = Vec::with_capacity(nh * nwc * n * n);
    for wr in 0..nh {
        for wc in 0..nwc {
            let labels: Vec<usize> = (0..n)
                .map(|t| {
                    let (r, c) = (wr * w + t / w, wc * w + t % w);
                    3 * region(r, h) + region(c, wd)
                })
                .collect();
            for i in 0..n {
                for j in 0..n {
                    mask.push(if labels[i] == labels[j] { 0.0 } else { -100.0 });
                }
            }
        }
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Distribution, TensorData};

    #[test]
    fn shifted_grid_index_is_roll_then_partition() {
        // the fused attention's row index must pick exactly the tokens the reference's
        // roll(−s) + window_partition puts in each window, for every shift and batch
        let dev = Device::default();
        for (b, [h, w], win, shift) in [(2, [14, 21], 7, 3), (1, [8, 8], 4, 0), (3, [6, 4], 2, 1)] {
            let l = h * w;
            let ids: Vec<f32> = (0..b * l).map(|v| v as f32).collect();
            let grid = Tensor::<4>::from_data(TensorData::new(ids, [b, h, w, 1]), &dev);
            let want: Vec<f32> = window_partition(cyclic_shift(grid, -(shift as isize)), win)
                .into_data()
                .try_to_vec()
                .unwrap();
            let index = mtlora_kernels::WindowIndex::shifted_grid(b, [h, w], win, shift);
            let got: Vec<f32> = index.rows().iter().map(|&r| r as f32).collect();
            assert_eq!(got, want, "b={b} {h}x{w} window {win} shift {shift}");
            assert_eq!(index.tokens(), win * win);
        }
    }

    #[test]
    fn partition_reverse_round_trip() {
        let dev = Device::default();
        let x = Tensor::<4>::random([2, 8, 12, 3], Distribution::Normal(0.0, 1.0), &dev);
        let w = window_partition(x.clone(), 4);
        assert_eq!(w.dims(), [2 * 2 * 3, 16, 3]);
        window_reverse(w, 4, 8, 12)
            .into_data()
            .assert_eq(&x.into_data(), true);
    }

    #[test]
    fn partition_order_is_batch_window_row_col_then_row_major() {
        let dev = Device::default();
        // 1x4x4x1 with values 0..16 (row-major), window 2
        let data: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let x = Tensor::<4>::from_data(TensorData::new(data, [1, 4, 4, 1]), &dev);
        let w: Vec<f32> = window_partition(x, 2).into_data().try_to_vec().unwrap();
        assert_eq!(
            w,
            vec![0., 1., 4., 5., 2., 3., 6., 7., 8., 9., 12., 13., 10., 11., 14., 15.]
        );
    }

    #[test]
    fn roll_matches_torch_semantics() {
        let dev = Device::default();
        let data: Vec<f32> = (0..9).map(|v| v as f32).collect();
        let x = Tensor::<4>::from_data(TensorData::new(data, [1, 3, 3, 1]), &dev);
        // roll by -1: out[y][x] = in[(y+1)%3][(x+1)%3]
        let r: Vec<f32> = cyclic_shift(x.clone(), -1)
            .into_data()
            .try_to_vec()
            .unwrap();
        assert_eq!(r, vec![4., 5., 3., 7., 8., 6., 1., 2., 0.]);
        cyclic_shift(cyclic_shift(x.clone(), -1), 1)
            .into_data()
            .assert_eq(&x.into_data(), true);
    }

    #[test]
    fn relative_index_hand_values() {
        let idx = relative_position_index(2);
        // tokens (0,0),(0,1),(1,0),(1,1); (2w-1)=3
        assert_eq!(idx[0], 4); // same token: (1)*3 + 1
        assert_eq!(idx[1], 3); // i=(0,0), j=(0,1): (0+1)*3 + (0-1+1)
        assert_eq!(idx[3 * 4], 8); // i=(1,1), j=(0,0): (1+1)*3 + (1+1)
        assert_eq!(*idx.iter().max().unwrap(), 8);
        let idx7 = relative_position_index(7);
        assert_eq!(*idx7.iter().max().unwrap(), 168);
        assert_eq!(idx7.len(), 49 * 49);
    }

    #[test]
    fn mask_regions() {
        // 4x4 grid, window 2, shift 1: window (1,1) (bottom right) holds labels 4,5,7,8
        let m = attention_mask([4, 4], 2, 1);
        assert_eq!(m.len(), 4 * 16);
        // window 0 (top-left) is all one region → all zeros
        assert!(m[..16].iter().all(|&v| v == 0.0));
        // window 3: tokens have 4 different labels → only diagonal is 0
        let w3 = &m[48..64];
        for i in 0..4 {
            for j in 0..4 {
                assert_eq!(w3[i * 4 + j], if i == j { 0.0 } else { -100.0 });
            }
        }
    }

    #[test]
    fn window_clamping() {
        assert_eq!(effective_window([16, 16], 4, 1), (4, 2));
        assert_eq!(effective_window([4, 4], 4, 1), (4, 0));
        assert_eq!(effective_window([2, 2], 4, 0), (2, 0));
        assert_eq!(effective_window([14, 14], 7, 1), (7, 3));
        assert_eq!(effective_window([7, 7], 7, 1), (7, 0));
    }
}
