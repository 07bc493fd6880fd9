//! The same operations composed from burn tensor ops: the path of every non-flex backend, and
//! the reference the fused kernels are tested against.

use burn::tensor::activation::softmax;
use burn::tensor::{Int, Tensor, TensorData};

use crate::WindowIndex;

/// Exact GELU, `x·(1 + erf(x/√2))/2`, composed from erf so that its gradient is exact too.
///
/// Not burn's `activation::gelu`: its backward on the CubeCL backends (wgpu, cuda) is burn's
/// default `gelu_backward`, the derivative of the *tanh approximation* (burn-backend 0.22.1),
/// which put the wgpu gradients of the `train_step` fixture 2.6e-3·max|ref| off (flex overrides
/// it with the exact derivative).
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let cdf = x
        .clone()
        .div_scalar(std::f64::consts::SQRT_2)
        .erf()
        .add_scalar(1.0);
    x.mul(cdf).mul_scalar(0.5)
}

/// `x·wᵀ + b` as reshape + matmul + add (w: `[out, in]`).
pub fn linear<const D: usize>(x: Tensor<D>, w: Tensor<2>, b: Option<Tensor<1>>) -> Tensor<D> {
    let dims = x.dims();
    let [d_out, d_in] = w.dims();
    let rows: usize = dims[..D - 1].iter().product();
    let y = x.reshape([rows, d_in]).matmul(w.transpose());
    let y = match b {
        Some(b) => y + b.unsqueeze::<2>(),
        None => y,
    };
    let mut out = dims;
    out[D - 1] = d_out;
    y.reshape(out)
}

/// `base + z·(scale·b)ᵀ` (the scale on the small matrix).
pub fn add_low_rank<const D: usize>(
    base: Tensor<D>,
    z: Tensor<D>,
    b: Tensor<2>,
    scale: f64,
) -> Tensor<D> {
    base + linear(z, b.mul_scalar(scale), None)
}

/// Inverted dropout with a Bernoulli(`keep`) tensor from the device RNG (burn-nn `Dropout`).
pub fn dropout<const D: usize>(x: Tensor<D>, keep: f64) -> Tensor<D> {
    let mask = Tensor::<D>::random(
        x.shape(),
        burn::tensor::Distribution::Bernoulli(keep),
        &x.device(),
    );
    x * mask.div_scalar(keep)
}

/// LayerNorm, biased variance, written out in tensor ops.
pub fn layer_norm<const D: usize>(
    x: Tensor<D>,
    weight: Tensor<1>,
    bias: Tensor<1>,
    eps: f64,
) -> Tensor<D> {
    let mean = x.clone().mean_dim(D - 1);
    let centered = x - mean;
    let var = centered.clone().square().mean_dim(D - 1);
    let normed = centered.div(var.add_scalar(eps).sqrt());
    normed * weight.unsqueeze::<D>() + bias.unsqueeze::<D>()
}

/// Window attention in tensor ops (see [`crate::window_attention`]).
pub fn window_attention(
    qkv: Tensor<3>,
    bias: Tensor<3>,
    mask: Option<Tensor<3>>,
    heads: usize,
    scale: f64,
) -> Tensor<3> {
    let [bw, n, c3] = qkv.dims();
    let c = c3 / 3;
    let d = c / heads;
    let qkv = qkv.reshape([bw, n, 3, heads, d]);
    let part = |k: usize| -> Tensor<4> {
        qkv.clone()
            .slice([0..bw, 0..n, k..k + 1, 0..heads, 0..d])
            .reshape([bw, n, heads, d])
            .swap_dims(1, 2)
    };
    let (q, k, v) = (part(0), part(1), part(2));
    let mut logits = q.mul_scalar(scale).matmul(k.swap_dims(2, 3));
    logits = logits + bias.unsqueeze::<4>();
    if let Some(mask) = mask {
        let [nw, _, _] = mask.dims();
        logits = (logits.reshape([bw / nw, nw, heads, n, n])
            + mask.unsqueeze_dim::<4>(1).unsqueeze::<5>())
        .reshape([bw, heads, n, n]);
    }
    softmax(logits, 3)
        .matmul(v)
        .swap_dims(1, 2)
        .reshape([bw, n, c])
}

/// [`crate::window_attention_indexed`] in tensor ops: gather the windows' rows, attend, scatter
/// back (a `select` each way).
pub fn window_attention_indexed(
    qkv: Tensor<3>,
    bias: Tensor<3>,
    mask: Option<Tensor<3>>,
    index: &WindowIndex,
    heads: usize,
    scale: f64,
) -> Tensor<3> {
    let [b, l, c3] = qkv.dims();
    let (rows, n) = (b * l, index.tokens());
    if index.is_identity() {
        // already window-major: no gather or scatter
        return window_attention(qkv.reshape([rows / n, n, c3]), bias, mask, heads, scale)
            .reshape([b, l, c3 / 3]);
    }
    let device = qkv.device();
    let ids = |v: Vec<i64>| Tensor::<1, Int>::from_data(TensorData::new(v, [rows]), &device);
    let gather: Vec<i64> = index.rows().iter().map(|&r| r as i64).collect();
    let mut inverse = vec![0i64; rows];
    for (k, &r) in index.rows().iter().enumerate() {
        inverse[r as usize] = k as i64;
    }
    let windows = qkv
        .reshape([rows, c3])
        .select(0, ids(gather))
        .reshape([rows / n, n, c3]);
    window_attention(windows, bias, mask, heads, scale)
        .reshape([rows, c3 / 3])
        .select(0, ids(inverse))
        .reshape([b, l, c3 / 3])
}
