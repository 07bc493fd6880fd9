//! The burn-flex implementations behind `#[backend_extension(Flex, Autodiff)]`: forward kernels
//! on `Flex`, and `Autodiff<Flex>` nodes with hand-written backward passes.

pub mod attention;
pub mod dropout;
pub mod gelu;
pub mod layer_norm;
pub mod linear;
pub(crate) mod math;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Backend, Flex};
use burn::tensor::{DType, Shape, TensorData};

use attention::{attention_backward, attention_forward, AttnDims};

pub use crate::WindowIndex;

/// Fused kernels of this crate as a burn backend extension.
#[backend_extension(Flex, Autodiff)]
pub trait FusedKernels: Backend {
    /// Exact GELU.
    fn mtlora_gelu(x: FloatTensor<Self>) -> FloatTensor<Self>;
    /// LayerNorm over the last axis.
    fn mtlora_layer_norm(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        eps: f32,
    ) -> FloatTensor<Self>;
    /// `x·wᵀ` with `w: [out, in]`.
    fn mtlora_linear(x: FloatTensor<Self>, w: FloatTensor<Self>) -> FloatTensor<Self>;
    /// `x·wᵀ + b`.
    fn mtlora_linear_bias(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        b: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
    /// `base + scale·z·bᵀ` with `b: [out, r]`.
    fn mtlora_add_low_rank(
        base: FloatTensor<Self>,
        z: FloatTensor<Self>,
        b: FloatTensor<Self>,
        scale: f32,
    ) -> FloatTensor<Self>;
    /// Inverted dropout with the mask of [`dropout::dropout_apply`] for `seed`.
    fn mtlora_dropout(x: FloatTensor<Self>, keep: f64, seed: u64) -> FloatTensor<Self>;
    /// Window attention without mask.
    fn mtlora_window_attention(
        qkv: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        index: WindowIndex,
        heads: usize,
        scale: f32,
    ) -> FloatTensor<Self>;
    /// Window attention with the shifted-window mask.
    fn mtlora_window_attention_masked(
        qkv: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        mask: FloatTensor<Self>,
        index: WindowIndex,
        heads: usize,
        scale: f32,
    ) -> FloatTensor<Self>;
}

/// A contiguous, offset-0 f32 view (copies only when the layout needs it).
fn dense(t: FlexTensor) -> FlexTensor {
    assert_eq!(t.dtype(), DType::F32, "mtlora-kernels: f32 tensors only");
    if t.as_slice::<f32>().is_some() {
        t
    } else {
        t.to_contiguous()
    }
}

fn data(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("dense tensor")
}

fn shape(t: &FlexTensor) -> Shape {
    t.layout().shape().clone()
}

fn tensor(v: Vec<f32>, shape: Shape) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(v, shape))
}

/// Mutable storage of a tensor we own, copied first (in parallel) only if shared.
fn owned(t: FlexTensor) -> (Vec<f32>, Shape) {
    use rayon::prelude::*;
    let t = dense(t);
    let s = shape(&t);
    if t.is_unique() {
        let v = t.into_data().try_into_vec::<f32>().expect("f32 data");
        return (v, s);
    }
    let src = data(&t);
    let mut v = Vec::<f32>::with_capacity(src.len());
    v.spare_capacity_mut()
        .par_chunks_mut(1 << 16)
        .zip(src.par_chunks(1 << 16))
        .for_each(|(d, s)| {
            for (d, &x) in d.iter_mut().zip(s) {
                d.write(x);
            }
        });
    // SAFETY: every element was written above
    unsafe { v.set_len(src.len()) };
    (v, s)
}

fn gelu_fwd(x: &FlexTensor) -> FlexTensor {
    let mut y = vec![0.0f32; x.layout().num_elements()];
    gelu::gelu_forward(data(x), &mut y);
    tensor(y, shape(x))
}

/// GELU of a tensor nobody else holds, in its own buffer (untracked forward).
fn gelu_owned(x: FlexTensor) -> FlexTensor {
    let x = dense(x);
    if !x.is_unique() {
        return gelu_fwd(&x);
    }
    let (mut v, s) = owned(x);
    gelu::gelu_inplace(&mut v);
    tensor(v, s)
}

fn ln_fwd(x: &FlexTensor, w: &FlexTensor, b: &FlexTensor, eps: f32) -> (FlexTensor, Vec<f32>) {
    let c = w.layout().num_elements();
    let n = x.layout().num_elements();
    assert_eq!(
        shape(x).as_slice().last().copied(),
        Some(c),
        "layer_norm: width"
    );
    let mut y = vec![0.0f32; n];
    let mut stats = vec![0.0f32; 2 * (n / c)];
    layer_norm::layer_norm_forward(data(x), data(w), data(b), eps, &mut y, &mut stats);
    (tensor(y, shape(x)), stats)
}

fn attn_dims(qkv: &FlexTensor, index: &WindowIndex, heads: usize) -> AttnDims {
    let sh = shape(qkv);
    let c3 = *sh.as_slice().last().expect("qkv rank ≥ 1");
    let rows = sh.num_elements() / c3;
    assert!(
        c3 % (3 * heads) == 0,
        "window_attention: {c3} qkv channels for {heads} heads"
    );
    assert_eq!(
        index.rows().len(),
        rows,
        "window_attention: index for another token count"
    );
    AttnDims {
        windows: rows / index.tokens(),
        tokens: index.tokens(),
        heads,
        head_dim: c3 / 3 / heads,
    }
}

fn attn_fwd(
    qkv: &FlexTensor,
    bias: &FlexTensor,
    mask: Option<&FlexTensor>,
    index: &WindowIndex,
    heads: usize,
    scale: f32,
    keep_probs: bool,
) -> (FlexTensor, Vec<f32>) {
    let dims = attn_dims(qkv, index, heads);
    let n = dims.tokens;
    let mut out = vec![0.0f32; dims.windows * n * heads * dims.head_dim];
    let mut probs = if keep_probs {
        vec![0.0f32; dims.windows * heads * n * n]
    } else {
        Vec::new()
    };
    attention_forward(
        data(qkv),
        index.rows(),
        data(bias),
        mask.map(data).unwrap_or(&[]),
        scale,
        dims,
        &mut out,
        &mut probs,
    );
    let mut out_shape = shape(qkv);
    let last = out_shape.num_dims() - 1;
    out_shape[last] = heads * dims.head_dim;
    (tensor(out, out_shape), probs)
}

/// `(rows, last)` of a tensor seen as a row-major matrix over its last axis.
fn matrix(t: &FlexTensor) -> (usize, usize) {
    let sh = shape(t);
    let last = *sh.as_slice().last().expect("rank ≥ 1");
    (sh.num_elements() / last.max(1), last)
}

fn with_last(t: &FlexTensor, last: usize) -> Shape {
    let mut sh = shape(t);
    let d = sh.num_dims() - 1;
    sh[d] = last;
    sh
}

fn linear_fwd(x: &FlexTensor, w: &FlexTensor, b: Option<&FlexTensor>) -> FlexTensor {
    let (m, k) = matrix(x);
    let (n, kw) = matrix(w);
    assert_eq!(k, kw, "linear: input has {k} features, weight expects {kw}");
    let out = linear::linear_forward(data(x), data(w), b.map(data), m, n, k);
    tensor(out, with_last(x, n))
}

fn add_low_rank_fwd(base: FlexTensor, z: &FlexTensor, b: &FlexTensor, scale: f32) -> FlexTensor {
    let (m, r) = matrix(z);
    let (n, rb) = matrix(b);
    assert_eq!(r, rb, "add_low_rank: rank {r} vs {rb}");
    let (out_shape, mut out) = {
        let sh = shape(&base);
        (sh, owned(base).0)
    };
    assert_eq!(out.len(), m * n, "add_low_rank: base shape");
    linear::matmul_into(
        m,
        n,
        r,
        &mut out,
        true,
        linear::View::rows(data(z), r),
        linear::View::transposed(data(b), r),
        scale,
    );
    tensor(out, out_shape)
}

fn dropout_fwd(x: &FlexTensor, keep: f64, seed: u64) -> FlexTensor {
    let mut y = vec![0.0f32; x.layout().num_elements()];
    dropout::dropout_apply(seed, keep, data(x), &mut y);
    tensor(y, shape(x))
}

impl FusedKernels for Flex {
    fn mtlora_linear(x: FlexTensor, w: FlexTensor) -> FlexTensor {
        linear_fwd(&dense(x), &dense(w), None)
    }

    fn mtlora_linear_bias(x: FlexTensor, w: FlexTensor, b: FlexTensor) -> FlexTensor {
        linear_fwd(&dense(x), &dense(w), Some(&dense(b)))
    }

    fn mtlora_add_low_rank(
        base: FlexTensor,
        z: FlexTensor,
        b: FlexTensor,
        scale: f32,
    ) -> FlexTensor {
        add_low_rank_fwd(base, &dense(z), &dense(b), scale)
    }

    fn mtlora_dropout(x: FlexTensor, keep: f64, seed: u64) -> FlexTensor {
        dropout_fwd(&dense(x), keep, seed)
    }

    fn mtlora_gelu(x: FlexTensor) -> FlexTensor {
        gelu_owned(x)
    }

    fn mtlora_layer_norm(x: FlexTensor, w: FlexTensor, b: FlexTensor, eps: f32) -> FlexTensor {
        ln_fwd(&dense(x), &dense(w), &dense(b), eps).0
    }

    fn mtlora_window_attention(
        qkv: FlexTensor,
        bias: FlexTensor,
        index: WindowIndex,
        heads: usize,
        scale: f32,
    ) -> FlexTensor {
        attn_fwd(&dense(qkv), &dense(bias), None, &index, heads, scale, false).0
    }

    fn mtlora_window_attention_masked(
        qkv: FlexTensor,
        bias: FlexTensor,
        mask: FlexTensor,
        index: WindowIndex,
        heads: usize,
        scale: f32,
    ) -> FlexTensor {
        let m = dense(mask);
        attn_fwd(
            &dense(qkv),
            &dense(bias),
            Some(&m),
            &index,
            heads,
            scale,
            false,
        )
        .0
    }
}

#[derive(Debug)]
struct GeluBackward;

impl Backward<Flex, 1> for GeluBackward {
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let g = grads.consume::<Flex>(&ops.node);
        if let Some(node) = parent {
            let (mut g, s) = owned(g);
            gelu::gelu_backward(data(&ops.state), &mut g);
            grads.register::<Flex>(node.id, tensor(g, s));
        }
    }
}

#[derive(Debug)]
struct LinearBackward;

/// x (only when the weight needs a gradient), w (only when x does).
type LinearState = (Option<FlexTensor>, Option<FlexTensor>);

/// Gradients of `scale·x·wᵀ (+ b)` for the tracked parents `[x, w, b]`.
fn linear_grads(
    grads: &mut Gradients,
    ids: [Option<NodeId>; 3],
    g: &FlexTensor,
    state: LinearState,
    scale: f32,
) {
    let [px, pw, pb] = ids;
    let (m, n) = matrix(g);
    let (x, w) = state;
    if let Some(id) = px {
        let w = w.expect("weight saved for dx");
        let (_, k) = matrix(&w);
        let mut dx = vec![0.0f32; m * k];
        let (gv, wv) = (
            linear::View::rows(data(g), n),
            linear::View::rows(data(&w), k),
        );
        linear::matmul_into(m, k, n, &mut dx, false, gv, wv, scale);
        grads.register::<Flex>(id, tensor(dx, with_last(g, k)));
    }
    if let Some(id) = pw {
        let x = x.expect("input saved for dw");
        let (_, k) = matrix(&x);
        let mut dw = vec![0.0f32; n * k];
        let (gv, xv) = (
            linear::View::transposed(data(g), n),
            linear::View::rows(data(&x), k),
        );
        linear::matmul_into(n, k, m, &mut dw, false, gv, xv, scale);
        grads.register::<Flex>(id, tensor(dw, Shape::new([n, k])));
    }
    if let Some(id) = pb {
        let db = linear::column_sums(data(g), n);
        grads.register::<Flex>(id, tensor(db, Shape::new([n])));
    }
}

impl Backward<Flex, 2> for LinearBackward {
    type State = LinearState;

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [px, pw] = ops.parents;
        let g = dense(grads.consume::<Flex>(&ops.node));
        let ids = [px.map(|n| n.id), pw.map(|n| n.id), None];
        linear_grads(grads, ids, &g, ops.state, 1.0);
    }
}

impl Backward<Flex, 3> for LinearBackward {
    type State = LinearState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [px, pw, pb] = ops.parents;
        let g = dense(grads.consume::<Flex>(&ops.node));
        let ids = [px.map(|n| n.id), pw.map(|n| n.id), pb.map(|n| n.id)];
        linear_grads(grads, ids, &g, ops.state, 1.0);
    }
}

#[derive(Debug)]
struct AddLowRankBackward;

impl Backward<Flex, 3> for AddLowRankBackward {
    /// z (only when b needs a gradient), b (only when z does), scale.
    type State = (Option<FlexTensor>, Option<FlexTensor>, f32);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        // `base + s·z·bᵀ`: the base gets `g`, (z, b) the gradients of a bias-free linear
        let [pbase, pz, pb] = ops.parents;
        let g = dense(grads.consume::<Flex>(&ops.node));
        let (z, b, scale) = ops.state;
        let ids = [pz.map(|n| n.id), pb.map(|n| n.id), None];
        linear_grads(grads, ids, &g, (z, b), scale);
        if let Some(node) = pbase {
            grads.register::<Flex>(node.id, g);
        }
    }
}

#[derive(Debug)]
struct DropoutBackward;

impl Backward<Flex, 1> for DropoutBackward {
    /// keep probability, seed: the mask is recomputed, never stored.
    type State = (f64, u64);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let g = grads.consume::<Flex>(&ops.node);
        if let Some(node) = parent {
            let (keep, seed) = ops.state;
            let g = dense(g);
            grads.register::<Flex>(node.id, dropout_fwd(&g, keep, seed));
        }
    }
}

#[derive(Debug)]
struct LayerNormBackward;

impl Backward<Flex, 3> for LayerNormBackward {
    /// Input, weight, per-row `(mean, rstd)`.
    type State = (FlexTensor, FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [px, pw, pb] = ops.parents;
        let g = grads.consume::<Flex>(&ops.node);
        let (x, w, stats) = ops.state;
        let (mut g, s) = owned(g);
        let (dw, db) = layer_norm::layer_norm_backward(data(&x), data(&w), data(&stats), &mut g);
        let c = dw.len();
        if let Some(node) = px {
            grads.register::<Flex>(node.id, tensor(g, s));
        }
        if let Some(node) = pw {
            grads.register::<Flex>(node.id, tensor(dw, Shape::new([c])));
        }
        if let Some(node) = pb {
            grads.register::<Flex>(node.id, tensor(db, Shape::new([c])));
        }
    }
}

#[derive(Debug)]
struct AttentionBackward;

impl Backward<Flex, 2> for AttentionBackward {
    /// qkv, softmax probabilities, token index, heads, scale.
    type State = (FlexTensor, FlexTensor, WindowIndex, usize, f32);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [pq, pb] = ops.parents;
        let g = grads.consume::<Flex>(&ops.node);
        let (qkv, probs, index, heads, scale) = ops.state;
        let dims = attn_dims(&qkv, &index, heads);
        let g = dense(g);
        let (mut p, _) = owned(probs);
        let (gqkv, gbias) =
            attention_backward(data(&qkv), index.rows(), &mut p, data(&g), scale, dims);
        if let Some(node) = pq {
            grads.register::<Flex>(node.id, tensor(gqkv, shape(&qkv)));
        }
        if let Some(node) = pb {
            let n = dims.tokens;
            grads.register::<Flex>(node.id, tensor(gbias, Shape::new([heads, n, n])));
        }
    }
}

fn attention_autodiff<C: CheckpointStrategy>(
    qkv: FloatTensor<Autodiff<Flex, C>>,
    bias: FloatTensor<Autodiff<Flex, C>>,
    mask: Option<FlexTensor>,
    index: WindowIndex,
    heads: usize,
    scale: f32,
) -> FloatTensor<Autodiff<Flex, C>> {
    let mask = mask.map(dense);
    match AttentionBackward
        .prepare::<C>([qkv.node(), bias.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let q = dense(qkv.primitive().clone());
            let b = dense(bias.primitive().clone());
            let (out, probs) = attn_fwd(&q, &b, mask.as_ref(), &index, heads, scale, true);
            let n = index.tokens();
            let p = tensor(probs, Shape::new([index.rows().len() / n, heads, n, n]));
            prep.finish((q, p, index, heads, scale), out)
        }
        OpsKind::UnTracked(prep) => {
            let q = dense(qkv.into_primitive());
            let b = dense(bias.into_primitive());
            prep.finish(attn_fwd(&q, &b, mask.as_ref(), &index, heads, scale, false).0)
        }
    }
}

fn linear_autodiff<C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<Flex, C>>,
    w: FloatTensor<Autodiff<Flex, C>>,
    b: Option<FloatTensor<Autodiff<Flex, C>>>,
) -> FloatTensor<Autodiff<Flex, C>> {
    let (xt, wt) = (x.is_tracked(), w.is_tracked());
    let xp = dense(x.primitive().clone());
    let wp = dense(w.primitive().clone());
    let state = || (wt.then(|| xp.clone()), xt.then(|| wp.clone()));
    match b {
        Some(b) => {
            let bp = dense(b.primitive().clone());
            match LinearBackward
                .prepare::<C>([x.node(), w.node(), b.node()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish(state(), linear_fwd(&xp, &wp, Some(&bp))),
                OpsKind::UnTracked(prep) => prep.finish(linear_fwd(&xp, &wp, Some(&bp))),
            }
        }
        None => match LinearBackward
            .prepare::<C>([x.node(), w.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(state(), linear_fwd(&xp, &wp, None)),
            OpsKind::UnTracked(prep) => prep.finish(linear_fwd(&xp, &wp, None)),
        },
    }
}

impl<C: CheckpointStrategy> FusedKernels for Autodiff<Flex, C> {
    fn mtlora_linear(x: FloatTensor<Self>, w: FloatTensor<Self>) -> FloatTensor<Self> {
        linear_autodiff::<C>(x, w, None)
    }

    fn mtlora_linear_bias(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        b: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        linear_autodiff::<C>(x, w, Some(b))
    }

    fn mtlora_add_low_rank(
        base: FloatTensor<Self>,
        z: FloatTensor<Self>,
        b: FloatTensor<Self>,
        scale: f32,
    ) -> FloatTensor<Self> {
        let (zt, bt) = (z.is_tracked(), b.is_tracked());
        match AddLowRankBackward
            .prepare::<C>([base.node(), z.node(), b.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let zp = dense(z.primitive().clone());
                let bp = dense(b.primitive().clone());
                let out = add_low_rank_fwd(base.into_primitive(), &zp, &bp, scale);
                prep.finish((bt.then_some(zp), zt.then_some(bp), scale), out)
            }
            OpsKind::UnTracked(prep) => {
                let out = add_low_rank_fwd(
                    base.into_primitive(),
                    &dense(z.into_primitive()),
                    &dense(b.into_primitive()),
                    scale,
                );
                prep.finish(out)
            }
        }
    }

    fn mtlora_dropout(x: FloatTensor<Self>, keep: f64, seed: u64) -> FloatTensor<Self> {
        match DropoutBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let y = dropout_fwd(&dense(x.primitive().clone()), keep, seed);
                prep.finish((keep, seed), y)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(dropout_fwd(&dense(x.into_primitive()), keep, seed))
            }
        }
    }

    fn mtlora_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match GeluBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let xp = dense(x.primitive().clone());
                let y = gelu_fwd(&xp);
                prep.finish(xp, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(gelu_owned(x.into_primitive())),
        }
    }

    fn mtlora_layer_norm(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        eps: f32,
    ) -> FloatTensor<Self> {
        match LayerNormBackward
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let xp = dense(x.primitive().clone());
                let wp = dense(weight.primitive().clone());
                let bp = dense(bias.primitive().clone());
                let (y, stats) = ln_fwd(&xp, &wp, &bp, eps);
                let rows = stats.len() / 2;
                let st = tensor(stats, Shape::new([rows, 2]));
                prep.finish((xp, wp, st), y)
            }
            OpsKind::UnTracked(prep) => {
                let xp = dense(x.into_primitive());
                let wp = dense(weight.into_primitive());
                let bp = dense(bias.into_primitive());
                prep.finish(ln_fwd(&xp, &wp, &bp, eps).0)
            }
        }
    }

    fn mtlora_window_attention(
        qkv: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        index: WindowIndex,
        heads: usize,
        scale: f32,
    ) -> FloatTensor<Self> {
        attention_autodiff::<C>(qkv, bias, None, index, heads, scale)
    }

    fn mtlora_window_attention_masked(
        qkv: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        mask: FloatTensor<Self>,
        index: WindowIndex,
        heads: usize,
        scale: f32,
    ) -> FloatTensor<Self> {
        // the mask is a constant: its values, never its gradient
        attention_autodiff::<C>(qkv, bias, Some(mask.into_primitive()), index, heads, scale)
    }
}
