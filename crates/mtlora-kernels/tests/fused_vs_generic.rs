//! Every fused flex kernel against the generic burn-op path: forward and every input gradient,
//! on random inputs of the model's shapes (stage-0 windows, shifted-window mask, an all-masked
//! row), relative to the largest reference magnitude.
#![cfg(feature = "flex")]

use burn::tensor::{Device, Distribution, Tensor, TensorData};
use mtlora_kernels::{fused_kernel_on, fused_on, generic, WindowIndex};

const TOL: f32 = 1e-5;

fn device() -> Device {
    Device::flex()
}

/// Fails unless `kernel` really runs fused here (a stray `MTLORA_KERNELS` would otherwise make
/// these tests compare the generic path with itself).
fn require(kernel: &str) {
    assert!(
        fused_kernel_on(kernel, &device().autodiff(), burn::tensor::DType::F32),
        "{kernel} is not fused here (MTLORA_KERNELS={:?}): nothing would be compared",
        std::env::var("MTLORA_KERNELS").ok()
    );
}

fn max_rel<const D: usize>(got: Tensor<D>, want: Tensor<D>, what: &str) -> f32 {
    assert_eq!(got.dims(), want.dims(), "{what}: shapes");
    let g: Vec<f32> = got.into_data().try_to_vec().unwrap();
    let w: Vec<f32> = want.into_data().try_to_vec().unwrap();
    let scale = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(
        scale > 0.0,
        "{what}: reference is all zero, nothing compared"
    );
    let diff = g
        .iter()
        .zip(&w)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(g.iter().all(|v| v.is_finite()), "{what}: non-finite output");
    diff / scale
}

fn assert_close<const D: usize>(got: Tensor<D>, want: Tensor<D>, what: &str) {
    let r = max_rel(got, want, what);
    assert!(r <= TOL, "{what}: max |Δ| / max |ref| = {r:e} > {TOL:e}");
}

fn rand<const D: usize>(shape: [usize; D], std: f64, dev: &Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Normal(0.0, std), dev)
}

/// Swin's shifted-window mask pattern (0 / −100 by region) for a 2×2 grid of 7×7 windows on a
/// 14×14 map shifted by 3, with window 0's row 5 fully masked.
fn mask(n: usize, nw: usize, dev: &Device) -> Tensor<3> {
    let w = 7;
    let mut m = vec![0.0f32; nw * n * n];
    for win in 0..nw {
        let (wr, wc) = (win / 2, win % 2);
        let region = |t: usize| -> usize {
            let (r, c) = (wr * w + t / w, wc * w + t % w);
            let rr = if r < 7 {
                0
            } else if r < 11 {
                1
            } else {
                2
            };
            let cc = if c < 7 {
                0
            } else if c < 11 {
                1
            } else {
                2
            };
            rr * 3 + cc
        };
        for i in 0..n {
            for j in 0..n {
                if region(i) != region(j) {
                    m[(win * n + i) * n + j] = -100.0;
                }
            }
        }
    }
    for j in 0..n {
        m[5 * n + j] = -100.0;
    }
    Tensor::from_data(TensorData::new(m, [nw, n, n]), dev)
}

#[test]
fn routing_picks_fused_on_flex_only_for_f32() {
    let dev = device();
    assert!(fused_on(&dev, burn::tensor::DType::F32));
    assert!(fused_on(&dev.clone().autodiff(), burn::tensor::DType::F32));
    assert!(!fused_on(&dev, burn::tensor::DType::F64));
}

#[test]
fn gelu_forward_and_grad() {
    require("gelu");
    let dev = device().autodiff();
    let x = rand([2, 196, 384], 3.0, &dev).require_grad();
    let r = rand([2, 196, 384], 1.0, &dev);
    let y = mtlora_kernels::gelu(x.clone());
    let y_ref = generic::gelu(x.clone());
    assert_close(y.clone().inner(), y_ref.clone().inner(), "gelu forward");
    let gx = (y * r.clone()).sum().backward();
    let gx = x.grad(&gx).unwrap();
    let gr = (y_ref * r).sum().backward();
    let gr = x.grad(&gr).unwrap();
    assert_close(gx, gr, "gelu dx");
}

#[test]
fn gelu_reuses_only_unshared_buffers() {
    require("gelu");
    for dev in [device(), device().autodiff()] {
        let x = rand([2, 196, 384], 3.0, &dev);
        let want = generic::gelu(x.clone());
        let kept = x.clone().into_data();
        // `x` is still held here: the kernel must write a new buffer
        let shared = mtlora_kernels::gelu(x.clone());
        x.clone().into_data().assert_eq(&kept, true);
        assert_close(shared, want.clone(), "gelu of a shared tensor");
        // the last handle: computed in place (untracked)
        assert_close(mtlora_kernels::gelu(x), want, "gelu in place");
    }
}

#[test]
fn gelu_tails_and_specials() {
    require("gelu");
    let dev = device();
    let v = vec![-30.0f32, -10.0, -5.0, -1e-3, 0.0, 1e-3, 5.0, 10.0, 30.0];
    let x = Tensor::<1>::from_data(TensorData::new(v.clone(), [v.len()]), &dev);
    let got: Vec<f32> = mtlora_kernels::gelu(x.clone())
        .into_data()
        .try_to_vec()
        .unwrap();
    let want: Vec<f32> = generic::gelu(x).into_data().try_to_vec().unwrap();
    for ((g, w), x) in got.iter().zip(&want).zip(&v) {
        // burn's `1 + erf` form loses ~5 f32 ulps of 1 on the negative tail (gelu(−5) =
        // −1.4901e-6 there, −1.4333e-6 exactly); the fused kernel uses erfc: compare absolutely
        assert!(
            (g - w).abs() <= 1e-6 * x.abs().max(1.0),
            "gelu({x}) = {g}, want {w}"
        );
    }
    assert_eq!(got[4], 0.0);
    assert!(
        (got[0]).abs() < 1e-30 && got[8] == 30.0,
        "saturated tails: {got:?}"
    );
    let nan = Tensor::<1>::from_data(TensorData::new(vec![f32::NAN], [1]), &dev);
    let out: Vec<f32> = mtlora_kernels::gelu(nan).into_data().try_to_vec().unwrap();
    assert!(out[0].is_nan(), "NaN must propagate");
}

#[test]
fn layer_norm_forward_and_grads() {
    require("layer_norm");
    let dev = device().autodiff();
    for (rows, c) in [(3136usize, 96usize), (196, 768), (5, 7)] {
        let x = (rand([2, rows, c], 2.0, &dev) + 0.5).require_grad();
        let w = (rand([c], 0.5, &dev) + 1.0).require_grad();
        let b = rand([c], 0.5, &dev).require_grad();
        let r = rand([2, rows, c], 1.0, &dev);
        let y = mtlora_kernels::layer_norm(x.clone(), w.clone(), b.clone(), 1e-5);
        let y_ref = generic::layer_norm(x.clone(), w.clone(), b.clone(), 1e-5);
        assert_close(
            y.clone().inner(),
            y_ref.clone().inner(),
            "layer_norm forward",
        );
        let g = (y * r.clone()).sum().backward();
        let gr = (y_ref * r).sum().backward();
        assert_close(x.grad(&g).unwrap(), x.grad(&gr).unwrap(), "layer_norm dx");
        assert_close(
            w.grad(&g).unwrap(),
            w.grad(&gr).unwrap(),
            "layer_norm dweight",
        );
        assert_close(
            b.grad(&g).unwrap(),
            b.grad(&gr).unwrap(),
            "layer_norm dbias",
        );
    }
}

fn attention_case(windows: usize, heads: usize, d: usize, masked: bool) {
    require("window_attention");
    let dev = device().autodiff();
    let n = 49;
    let qkv = rand([windows, n, 3 * heads * d], 1.0, &dev).require_grad();
    let bias = rand([heads, n, n], 0.5, &dev).require_grad();
    let m = masked.then(|| mask(n, 4, &dev));
    let scale = (d as f64).powf(-0.5);
    let r = rand([windows, n, heads * d], 1.0, &dev);
    let y = mtlora_kernels::window_attention(qkv.clone(), bias.clone(), m.clone(), heads, scale);
    let y_ref = generic::window_attention(qkv.clone(), bias.clone(), m, heads, scale);
    let tag = format!("attention w{windows} h{heads} d{d} masked={masked}");
    assert_close(
        y.clone().inner(),
        y_ref.clone().inner(),
        &format!("{tag} forward"),
    );
    let g = (y * r.clone()).sum().backward();
    let gr = (y_ref * r).sum().backward();
    assert_close(
        qkv.grad(&g).unwrap(),
        qkv.grad(&gr).unwrap(),
        &format!("{tag} dqkv"),
    );
    assert_close(
        bias.grad(&g).unwrap(),
        bias.grad(&gr).unwrap(),
        &format!("{tag} dbias"),
    );
}

#[test]
fn window_attention_stage0_shifted() {
    attention_case(16, 3, 32, true);
}

#[test]
fn window_attention_stage3_plain() {
    attention_case(4, 24, 32, false);
}

#[test]
fn window_attention_wide_heads() {
    // head width over the kernel's stack buffer (64)
    attention_case(4, 2, 72, true);
}

#[test]
fn window_attention_without_autodiff() {
    require("window_attention");
    let dev = device();
    let (w, h, d, n) = (8, 6, 32, 49);
    let qkv = rand([w, n, 3 * h * d], 1.0, &dev);
    let bias = rand([h, n, n], 0.5, &dev);
    let m = Some(mask(n, 4, &dev));
    let y = mtlora_kernels::window_attention(qkv.clone(), bias.clone(), m.clone(), h, 0.17);
    let y_ref = generic::window_attention(qkv, bias, m, h, 0.17);
    assert_close(y, y_ref, "attention inference");
}

#[test]
fn window_attention_on_shifted_grid_rows() {
    require("window_attention");
    // the TS-block layout: qkv of a [B, H·W] token grid, windows picked by the shifted index,
    // outputs written back to each token's row
    let dev = device().autodiff();
    let (b, h, w, win, shift, heads, d) = (2, 14, 14, 7, 3, 3, 32);
    let l = h * w;
    let index = WindowIndex::shifted_grid(b, [h, w], win, shift);
    let qkv = rand([b, l, 3 * heads * d], 1.0, &dev).require_grad();
    let bias = rand([heads, 49, 49], 0.5, &dev).require_grad();
    let m = Some(mask(49, 4, &dev));
    let scale = (d as f64).powf(-0.5);
    let r = rand([b, l, heads * d], 1.0, &dev);
    let y = mtlora_kernels::window_attention_indexed(
        qkv.clone(),
        bias.clone(),
        m.clone(),
        &index,
        heads,
        scale,
    );
    let y_ref =
        generic::window_attention_indexed(qkv.clone(), bias.clone(), m, &index, heads, scale);
    assert_close(
        y.clone().inner(),
        y_ref.clone().inner(),
        "grid attention forward",
    );
    let g = (y * r.clone()).sum().backward();
    let gr = (y_ref * r).sum().backward();
    assert_close(
        qkv.grad(&g).unwrap(),
        qkv.grad(&gr).unwrap(),
        "grid attention dqkv",
    );
    assert_close(
        bias.grad(&g).unwrap(),
        bias.grad(&gr).unwrap(),
        "grid attention dbias",
    );
}

#[test]
fn window_attention_small_clamped_windows() {
    require("window_attention");
    // windows clamped to small grids (N = 4, 16): padded rows in the kernel
    for (win, heads, d) in [(2usize, 2usize, 8usize), (4, 3, 16)] {
        let dev = device().autodiff();
        let n = win * win;
        let qkv = rand([6, n, 3 * heads * d], 1.0, &dev).require_grad();
        let bias = rand([heads, n, n], 0.5, &dev).require_grad();
        let r = rand([6, n, heads * d], 1.0, &dev);
        let y = mtlora_kernels::window_attention(qkv.clone(), bias.clone(), None, heads, 0.3);
        let y_ref = generic::window_attention(qkv.clone(), bias.clone(), None, heads, 0.3);
        assert_close(
            y.clone().inner(),
            y_ref.clone().inner(),
            "small attention forward",
        );
        let g = (y * r.clone()).sum().backward();
        let gr = (y_ref * r).sum().backward();
        assert_close(
            qkv.grad(&g).unwrap(),
            qkv.grad(&gr).unwrap(),
            "small attention dqkv",
        );
        assert_close(
            bias.grad(&g).unwrap(),
            bias.grad(&gr).unwrap(),
            "small attention dbias",
        );
    }
}

#[test]
fn linear_forward_and_grads() {
    require("linear");
    // frozen base (x grad only), trainable weight and bias, and a LoRA-A shape (no bias)
    let dev = device().autodiff();
    for (m, k, n, w_grad, bias) in [
        (3136usize, 96usize, 384usize, false, true),
        (196, 768, 96, true, true),
        (500, 96, 64, true, false),
        (7, 5, 3, true, true),
    ] {
        let x = rand([2, m, k], 1.0, &dev).require_grad();
        let mut w = rand([n, k], 0.1, &dev);
        if w_grad {
            w = w.require_grad();
        }
        let b = bias.then(|| rand([n], 0.1, &dev).require_grad());
        let r = rand([2, m, n], 1.0, &dev);
        let y = mtlora_kernels::linear(x.clone(), w.clone(), b.clone());
        let y_ref = generic::linear(x.clone(), w.clone(), b.clone());
        let tag = format!("linear {m}x{k}→{n}");
        assert_close(
            y.clone().inner(),
            y_ref.clone().inner(),
            &format!("{tag} forward"),
        );
        let g = (y * r.clone()).sum().backward();
        let gr = (y_ref * r).sum().backward();
        assert_close(
            x.grad(&g).unwrap(),
            x.grad(&gr).unwrap(),
            &format!("{tag} dx"),
        );
        if w_grad {
            assert_close(
                w.grad(&g).unwrap(),
                w.grad(&gr).unwrap(),
                &format!("{tag} dw"),
            );
        } else {
            assert!(w.grad(&g).is_none(), "{tag}: frozen weight got a gradient");
        }
        if let Some(b) = &b {
            assert_close(
                b.grad(&g).unwrap(),
                b.grad(&gr).unwrap(),
                &format!("{tag} db"),
            );
        }
    }
}

#[test]
fn add_low_rank_forward_and_grads() {
    require("linear");
    let dev = device().autodiff();
    for (m, n, rank) in [(3136usize, 384usize, 64usize), (784, 192, 4), (9, 5, 1)] {
        let base = rand([2, m, n], 1.0, &dev).require_grad();
        let z = rand([2, m, rank], 1.0, &dev).require_grad();
        let b = rand([n, rank], 0.1, &dev).require_grad();
        let r = rand([2, m, n], 1.0, &dev);
        let y = mtlora_kernels::add_low_rank(base.clone(), z.clone(), b.clone(), 4.0);
        let y_ref = generic::add_low_rank(base.clone(), z.clone(), b.clone(), 4.0);
        let tag = format!("add_low_rank {m}x{rank}→{n}");
        assert_close(
            y.clone().inner(),
            y_ref.clone().inner(),
            &format!("{tag} forward"),
        );
        let g = (y * r.clone()).sum().backward();
        let gr = (y_ref * r).sum().backward();
        assert_close(
            base.grad(&g).unwrap(),
            base.grad(&gr).unwrap(),
            &format!("{tag} dbase"),
        );
        assert_close(
            z.grad(&g).unwrap(),
            z.grad(&gr).unwrap(),
            &format!("{tag} dz"),
        );
        assert_close(
            b.grad(&g).unwrap(),
            b.grad(&gr).unwrap(),
            &format!("{tag} db"),
        );
    }
}

#[test]
#[should_panic(expected = "not a permutation")]
fn window_index_must_be_a_permutation() {
    let mut rows: Vec<u32> = (0..8).collect();
    rows[3] = 2; // row 2 twice, row 3 never: parallel writes would race
    let _ = WindowIndex::from_rows(rows, 4);
}

#[test]
fn window_index_knows_the_identity() {
    assert!(WindowIndex::identity(3, 4).is_identity());
    assert!(WindowIndex::from_rows((0..8).collect(), 4).is_identity());
    assert!(!WindowIndex::from_rows(vec![1, 0, 2, 3], 2).is_identity());
    assert!(!WindowIndex::shifted_grid(1, [4, 4], 2, 0).is_identity());
    assert!(WindowIndex::shifted_grid(2, [2, 2], 2, 0).is_identity());
}
