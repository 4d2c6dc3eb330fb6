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

use rayon::prelude::*;

use crate::native::{dot, feature_attention, pooled, time_attention, LEAKY_SLOPE};
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
                z.copy_from_slice(&pooled(
                    &self.kernel,
                    &x[b * per_window..(b + 1) * per_window],
                    k,
                ));
                for (t, row) in seq.chunks_exact_mut(3 * k).enumerate() {
                    row[..k].copy_from_slice(&z[t * k..(t + 1) * k]);
                }
                let vectors = (&self.feat.0[..], &self.feat.1[..]);
                let mask = &feat_mask[b * k * k..(b + 1) * k * k];
                feature_attention(z, k, vectors, Some(mask), feat_attn, seq);
                let vectors = (&self.time.0[..], &self.time.1[..]);
                let mask = &time_mask[b * T * T..(b + 1) * T * T];
                time_attention(z, k, vectors, Some(mask), time_attn, seq);
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
                let z = &tape.z[b * T * k..(b + 1) * T * k];
                let dseq = &dseq[b * T * 3 * k..(b + 1) * T * 3 * k];
                let time = self.time_backward(
                    z,
                    dseq,
                    &tape.time_attn[b * T * T..(b + 1) * T * T],
                    &time_mask[b * T * T..(b + 1) * T * T],
                );
                let feat = self.feat_backward(
                    z,
                    dseq,
                    &tape.feat_attn[b * k * k..(b + 1) * k * k],
                    &feat_mask[b * k * k..(b + 1) * k * k],
                );
                EncodeGrads { time, feat }
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
    fn time_backward(
        &self,
        z: &[f32],
        dseq: &[f32],
        attn: &[f32],
        mask: &[f32],
    ) -> (Vec<f32>, Vec<f32>) {
        let k = z.len() / T;
        let key: Vec<f32> = z.chunks_exact(k).map(|r| dot(r, &self.time.0)).collect();
        let query: Vec<f32> = z.chunks_exact(k).map(|r| dot(r, &self.time.1)).collect();
        // dA_ij = (G_i · z_j) · M_ij.
        let mut d_attn = vec![0.0f32; T * T];
        for i in 0..T {
            let g = &dseq[i * 3 * k + 2 * k..(i + 1) * 3 * k];
            let row = &mut d_attn[i * T..(i + 1) * T];
            for (j, d) in row.iter_mut().enumerate() {
                *d = dot(g, &z[j * k..(j + 1) * k]) * mask[i * T + j];
            }
        }
        let (d_key, d_query) = score_backward(attn, &mut d_attn, &key, &query);
        (project(z, k, &d_key), project(z, k, &d_query))
    }

    /// One window's feature attention: nodes are the `k` columns of `z`, `dseq` columns
    /// `k..2k` the output's gradient (transposed: `G[i, t] = dseq[t, k + i]`).
    fn feat_backward(
        &self,
        z: &[f32],
        dseq: &[f32],
        attn: &[f32],
        mask: &[f32],
    ) -> (Vec<f32>, Vec<f32>) {
        let k = z.len() / T;
        let mut key = vec![0.0f32; k];
        let mut query = vec![0.0f32; k];
        for t in 0..T {
            let row = &z[t * k..(t + 1) * k];
            let (fk, fq) = (self.feat.0[t], self.feat.1[t]);
            for j in 0..k {
                key[j] += row[j] * fk;
                query[j] += row[j] * fq;
            }
        }
        // dA_ij = Σ_t G[i, t] z[t, j], then ⊙ M.
        let mut d_attn = vec![0.0f32; k * k];
        for t in 0..T {
            let zt = &z[t * k..(t + 1) * k];
            let g = &dseq[t * 3 * k + k..t * 3 * k + 2 * k];
            for (i, &gi) in g.iter().enumerate() {
                d_attn[i * k..(i + 1) * k]
                    .iter_mut()
                    .zip(zt)
                    .for_each(|(d, v)| *d += gi * v);
            }
        }
        d_attn.iter_mut().zip(mask).for_each(|(d, m)| *d *= m);
        let (d_key, d_query) = score_backward(attn, &mut d_attn, &key, &query);
        // key_i = Σ_t z[t, i] a[t]: da[t] = Σ_i dkey_i z[t, i].
        let through = |d: &[f32]| -> Vec<f32> { z.chunks_exact(k).map(|r| dot(r, d)).collect() };
        (through(&d_key), through(&d_query))
    }
}

/// Softmax and LeakyReLU backward for one attention map: from `d_attn` (`dA`, overwritten)
/// and `A`, the gradients of the node keys and queries.
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
fn project(z: &[f32], k: usize, d: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0f32; k];
    for (row, &dv) in z.chunks_exact(k).zip(d) {
        out.iter_mut().zip(row).for_each(|(o, v)| *o += dv * v);
    }
    out
}
