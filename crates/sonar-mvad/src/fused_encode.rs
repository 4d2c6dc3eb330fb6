//! The part of the network before the GRU, for training on the CPU: smoothing, pooling and the
//! two graph attentions (with dropout) as host loops, and their backward pass written out.
//!
//! Through burn's autodiff this part records about twenty tensor operations per batch over
//! `[B, 100, 100]` attention maps and then runs a second backward pass for them; profiled at
//! k = 40 that was a third of a training step for a few percent of its arithmetic
//! (docs/benchmarks.md). Only the four attention vectors are trained here: the moving average
//! is fixed and the input needs no gradient, so the backward pass stops at the attention
//! scores and never differentiates the pooling. Windows are independent; they run in
//! parallel and their gradients are summed in window order, so a seed gives the same model
//! whatever the number of threads.
//!
//! Forward, per window, with `Z` the pooled input `[T, k]`:
//! `A = softmax_j(LeakyReLU(key_i + query_j))`, `key = V·a_key`, `query = V·a_query`, output
//! `(A ⊙ M)·V`, where `V = Z` (time attention, nodes the `T` steps) or `Zᵀ` (feature attention,
//! nodes the `k` variables) and `M` the dropout mask. Backward, from the output's gradient
//! `G`: `dA = (G·Vᵀ) ⊙ M`, `dE = A ⊙ (dA − rowsum(A ⊙ dA))`, `dS = dE ⊙ LeakyReLU′(key_i +
//! query_j)`, `dkey_i = Σ_j dS_ij`, `dquery_j = Σ_i dS_ij`, `da_key = Vᵀ·dkey`,
//! `da_query = Vᵀ·dquery`.

use pulp::{Simd, WithSimd};
use rayon::prelude::*;

use crate::kernel::{matmul_acc, Padded};
use crate::native::{
    dot, feature_attention, feature_nodes, pooled, time_attention, time_nodes, LEAKY_SLOPE,
};
use crate::weights::GAT_WINDOW as T;

/// The trainable vectors of both attentions and the fixed smoothing kernel, on the host.
#[derive(Debug, Clone)]
pub struct EncodeParams {
    /// Moving-average kernel (7 values).
    pub kernel: Vec<f32>,
    /// Time attention `(key, query)`, `[k]` each.
    pub time: (Vec<f32>, Vec<f32>),
    /// Feature attention `(key, query)`, `[T]` each.
    pub feat: (Vec<f32>, Vec<f32>),
}

/// Gradients of the four attention vectors.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodeGrads {
    /// Time attention `(key, query)`, `[k]` each.
    pub time: (Vec<f32>, Vec<f32>),
    /// Feature attention `(key, query)`, `[T]` each.
    pub feat: (Vec<f32>, Vec<f32>),
}

/// What the backward pass needs from the forward pass: per window the pooled input and both
/// attention maps before dropout; the masks themselves are the caller's.
#[derive(Debug, Default)]
pub struct EncodeTape {
    k: usize,
    /// `[B, T, k]`.
    z: Vec<f32>,
    /// `[B, T, T]`.
    time_attn: Vec<f32>,
    /// `[B, k, k]`.
    feat_attn: Vec<f32>,
}

impl EncodeTape {
    /// The feature attention of the last forward pass (before dropout), `[B, k, k]`.
    pub fn feat_attn(&self) -> &[f32] {
        &self.feat_attn
    }
}

impl EncodeParams {
    /// The GRU's input sequence `[B, T, 3k]` for windows `x` (`[B, W, k]`), with the dropout
    /// masks `time_mask` (`[B, T, T]`) and `feat_mask` (`[B, k, k]`); `tape` receives what
    /// [`EncodeParams::backward`] needs.
    pub fn forward(
        &self,
        x: &[f32],
        batch: usize,
        (time_mask, feat_mask): (&[f32], &[f32]),
        tape: &mut EncodeTape,
    ) -> Vec<f32> {
        let k = self.time.0.len();
        let per_window = x.len() / batch;
        tape.k = k;
        tape.z.resize(batch * T * k, 0.0);
        tape.time_attn.resize(batch * T * T, 0.0);
        tape.feat_attn.resize(batch * k * k, 0.0);
        let mut seq = vec![0.0f32; batch * T * 3 * k];
        seq.par_chunks_exact_mut(T * 3 * k)
            .zip(tape.z.par_chunks_exact_mut(T * k))
            .zip(tape.time_attn.par_chunks_exact_mut(T * T))
            .zip(tape.feat_attn.par_chunks_exact_mut(k * k))
            .enumerate()
            .for_each(|(b, (((seq, z), time_attn), feat_attn))| {
                pulp::Arch::new().dispatch(EncodeWindow {
                    params: self,
                    x: &x[b * per_window..(b + 1) * per_window],
                    masks: (
                        &time_mask[b * T * T..(b + 1) * T * T],
                        &feat_mask[b * k * k..(b + 1) * k * k],
                    ),
                    z,
                    time_attn,
                    feat_attn,
                    seq,
                });
            });
        seq
    }

    /// The attention vectors' gradients from `dseq`, the gradient of the GRU's input
    /// (`[B, T, 3k]`), with the masks and tape of the forward pass.
    pub fn backward(
        &self,
        tape: &EncodeTape,
        dseq: &[f32],
        (time_mask, feat_mask): (&[f32], &[f32]),
    ) -> EncodeGrads {
        let k = tape.k;
        let batch = tape.z.len() / (T * k);
        let per_window: Vec<EncodeGrads> = (0..batch)
            .into_par_iter()
            .map(|b| {
                pulp::Arch::new().dispatch(BackwardWindow {
                    params: self,
                    z: &tape.z[b * T * k..(b + 1) * T * k],
                    dseq: &dseq[b * T * 3 * k..(b + 1) * T * 3 * k],
                    attns: (
                        &tape.time_attn[b * T * T..(b + 1) * T * T],
                        &tape.feat_attn[b * k * k..(b + 1) * k * k],
                    ),
                    masks: (
                        &time_mask[b * T * T..(b + 1) * T * T],
                        &feat_mask[b * k * k..(b + 1) * k * k],
                    ),
                })
            })
            .collect();
        // Summed in window order: the same result on any number of threads.
        let mut total = EncodeGrads {
            time: (vec![0.0; k], vec![0.0; k]),
            feat: (vec![0.0; T], vec![0.0; T]),
        };
        let add = |into: &mut Vec<f32>, from: &[f32]| {
            into.iter_mut().zip(from).for_each(|(i, f)| *i += f);
        };
        for g in &per_window {
            add(&mut total.time.0, &g.time.0);
            add(&mut total.time.1, &g.time.1);
            add(&mut total.feat.0, &g.feat.0);
            add(&mut total.feat.1, &g.feat.1);
        }
        total
    }

    /// One window's time attention: nodes are the `T` rows of `z`, `dseq` columns `2k..3k`
    /// the output's gradient.
    #[inline(always)]
    fn time_backward<S: Simd>(
        &self,
        simd: S,
        z: &[f32],
        dseq: &[f32],
        attn: &[f32],
        mask: &[f32],
    ) -> (Vec<f32>, Vec<f32>) {
        let k = z.len() / T;
        let (key, query) = time_nodes(z, k, (&self.time.0, &self.time.1));
        // dA = (G·Zᵀ) ⊙ M, G the rows of `dseq` from column 2k.
        let z_t = Padded::from_torch(z, T, k);
        let mut product = vec![0.0f32; T * z_t.stride()];
        matmul_acc(simd, &dseq[2 * k..], 3 * k, T, &z_t, &mut product);
        let mut d_attn = masked_rows(&product, z_t.stride(), mask, T);
        let (d_key, d_query) = score_backward(attn, &mut d_attn, &key, &query);
        (project(z, k, &d_key), project(z, k, &d_query))
    }

    /// One window's feature attention: nodes are the `k` columns of `z`, `dseq` columns
    /// `k..2k` the output's gradient (transposed: `G[i, t] = dseq[t, k + i]`).
    #[inline(always)]
    fn feat_backward<S: Simd>(
        &self,
        simd: S,
        z: &[f32],
        dseq: &[f32],
        attn: &[f32],
        mask: &[f32],
    ) -> (Vec<f32>, Vec<f32>) {
        let k = z.len() / T;
        let (key, query) = feature_nodes(z, k, (&self.feat.0, &self.feat.1));
        // dA_ij = Σ_t G[i, t] z[t, j], then ⊙ M: rows of G (`[k, T]`) times Z.
        let mut g = vec![0.0f32; k * T];
        for (t, row) in dseq.chunks_exact(3 * k).enumerate() {
            for (i, v) in row[k..2 * k].iter().enumerate() {
                g[i * T + t] = *v;
            }
        }
        let z_padded = Padded::from_rows(z, T, k);
        let mut product = vec![0.0f32; k * z_padded.stride()];
        matmul_acc(simd, &g, T, k, &z_padded, &mut product);
        let mut d_attn = masked_rows(&product, z_padded.stride(), mask, k);
        let (d_key, d_query) = score_backward(attn, &mut d_attn, &key, &query);
        // key_i = Σ_t z[t, i] a[t]: da[t] = Σ_i dkey_i z[t, i].
        let mut da_key = Vec::with_capacity(T);
        let mut da_query = Vec::with_capacity(T);
        for row in z.chunks_exact(k) {
            da_key.push(dot(row, &d_key));
            da_query.push(dot(row, &d_query));
        }
        (da_key, da_query)
    }
}

/// The first `n` columns of the rows of `product` (`stride` apart) times `mask` (`[n, n]`).
#[inline(always)]
fn masked_rows(product: &[f32], stride: usize, mask: &[f32], n: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(n * n);
    for (p, m) in product.chunks_exact(stride).zip(mask.chunks_exact(n)) {
        for (p, m) in p.iter().zip(m) {
            out.push(p * m);
        }
    }
    out
}

/// Softmax and LeakyReLU backward for one attention map: from `d_attn` (`dA`, overwritten)
/// and `A`, the gradients of the node keys and queries.
#[inline(always)]
fn score_backward(
    attn: &[f32],
    d_attn: &mut [f32],
    key: &[f32],
    query: &[f32],
) -> (Vec<f32>, Vec<f32>) {
    let n = key.len();
    let mut d_key = vec![0.0f32; n];
    let mut d_query = vec![0.0f32; n];
    for i in 0..n {
        let a = &attn[i * n..(i + 1) * n];
        let d = &mut d_attn[i * n..(i + 1) * n];
        let inner = dot(a, d);
        let mut sum = 0.0f32;
        for (((d, &a), &q), dq) in d.iter_mut().zip(a).zip(query).zip(d_query.iter_mut()) {
            let slope = if key[i] + q >= 0.0 { 1.0 } else { LEAKY_SLOPE };
            let ds = a * (*d - inner) * slope;
            sum += ds;
            *dq += ds;
        }
        d_key[i] = sum;
    }
    (d_key, d_query)
}

/// `Zᵀ·d` for `z` `[T, k]` and `d` `[T]`: the gradient of a vector `a` with `s = Z·a`.
#[inline(always)]
fn project(z: &[f32], k: usize, d: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0f32; k];
    for (row, &dv) in z.chunks_exact(k).zip(d) {
        out.iter_mut().zip(row).for_each(|(o, v)| *o += dv * v);
    }
    out
}

/// The backward pass of one window under [`pulp::Arch::dispatch`].
struct BackwardWindow<'a> {
    params: &'a EncodeParams,
    z: &'a [f32],
    dseq: &'a [f32],
    /// `(time [T, T], feature [k, k])` attention maps of the forward pass.
    attns: (&'a [f32], &'a [f32]),
    /// Their dropout masks.
    masks: (&'a [f32], &'a [f32]),
}

impl WithSimd for BackwardWindow<'_> {
    type Output = EncodeGrads;

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> EncodeGrads {
        let p = self.params;
        let time = p.time_backward(simd, self.z, self.dseq, self.attns.0, self.masks.0);
        let feat = p.feat_backward(simd, self.z, self.dseq, self.attns.1, self.masks.1);
        EncodeGrads { time, feat }
    }
}

/// The forward pass of one window under [`pulp::Arch::dispatch`] (`crate::kernel`).
struct EncodeWindow<'a> {
    params: &'a EncodeParams,
    x: &'a [f32],
    /// `(time [T, T], feature [k, k])` dropout masks.
    masks: (&'a [f32], &'a [f32]),
    z: &'a mut [f32],
    time_attn: &'a mut [f32],
    feat_attn: &'a mut [f32],
    seq: &'a mut [f32],
}

impl WithSimd for EncodeWindow<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let p = self.params;
        let k = p.time.0.len();
        self.z.copy_from_slice(&pooled(&p.kernel, self.x, k));
        for (row, z) in self.seq.chunks_exact_mut(3 * k).zip(self.z.chunks_exact(k)) {
            row[..k].copy_from_slice(z);
        }
        let vectors = (&p.feat.0[..], &p.feat.1[..]);
        let (time_mask, feat_mask) = self.masks;
        feature_attention(
            simd,
            self.z,
            k,
            vectors,
            Some(feat_mask),
            self.feat_attn,
            self.seq,
        );
        let vectors = (&p.time.0[..], &p.time.1[..]);
        time_attention(
            simd,
            self.z,
            k,
            vectors,
            Some(time_mask),
            self.time_attn,
            self.seq,
        );
    }
}
