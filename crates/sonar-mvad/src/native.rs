//! The evaluation forward pass without a tensor framework: f32 loops over host memory.
//!
//! Training needs burn (autodiff); scoring does not. Through burn, one window costs about a
//! thousand small tensor operations (the GRU alone runs ten per step for 100 steps), and their
//! fixed cost dominates when only a few windows are scored, which is what streaming does: one
//! new bucket, one window. Here the same equations run as straight loops, compiled for the
//! widest SIMD the CPU has and with the matrix products in [`crate::kernel`]; windows go
//! through the GRU in groups of `GROUP` (eight), and groups are spread over the cores with rayon.
//!
//! The arithmetic is the network's (`net.rs`; docs/mvad.md, "What is faithful") in f32; sums run in a
//! different order than burn's kernels and `exp` is a polynomial with about one ulp of error,
//! so outputs agree with the burn forward to about 1e-6 (test
//! `native_forward_matches_the_burn_network`), well inside the golden tolerances, which the
//! scoring tests check through this path.

use std::borrow::Cow;

use pulp::{Simd, WithSimd};
use rayon::prelude::*;

use crate::kernel::{matmul_acc, Padded};
use crate::weights::{Weights, BATCH_NORMS, GAT_WINDOW as T, HIDDEN as H, KERNEL};

pub(crate) const LEAKY_SLOPE: f32 = 0.2;
/// Windows that go through the GRU together (see [`NativeNet::group`]).
const GROUP: usize = 8;
const BN_EPS: f32 = 1e-5;

/// A linear layer applied to one vector: weights `[in, out]` with padded rows, bias padded.
#[derive(Debug, Clone)]
struct Dense {
    w: Padded,
    b: Vec<f32>,
}

impl Dense {
    /// From torch's `[out, in]` weight and `[out]` bias under `prefix`.
    fn new(weights: &Weights, prefix: &str) -> Self {
        let w = weights.get(&format!("{prefix}.weight"));
        Self {
            w: Padded::from_torch(&w.data, w.shape[0], w.shape[1]),
            b: Padded::padded_row(&weights.get(&format!("{prefix}.bias")).data),
        }
    }

    /// `x`: `[in]` → `[out]`.
    #[inline(always)]
    fn forward<S: Simd>(&self, simd: S, x: &[f32]) -> Vec<f32> {
        let mut out = self.b.clone();
        matmul_acc(simd, x, x.len(), 1, &self.w, &mut out);
        out.truncate(self.w.cols());
        out
    }
}

/// BatchNorm1d in evaluation mode: `(x − mean) / √(var + ε) · γ + β`.
#[derive(Debug, Clone)]
struct Norm {
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

impl Norm {
    fn new(weights: &Weights, prefix: &str) -> Self {
        let get = |name: &str| weights.get(&format!("{prefix}.{name}")).data.clone();
        Self {
            mean: get("running_mean"),
            inv_std: get("running_var")
                .iter()
                .map(|v| 1.0 / (v + BN_EPS).sqrt())
                .collect(),
            gamma: get("weight"),
            beta: get("bias"),
        }
    }

    #[inline(always)]
    fn apply(&self, x: &mut [f32]) {
        for (i, v) in x.iter_mut().enumerate() {
            *v = (*v - self.mean[i]) * self.inv_std[i] * self.gamma[i] + self.beta[i];
        }
    }
}

/// The network's weights laid out for the loops below.
#[derive(Debug, Clone)]
pub struct NativeNet {
    k: usize,
    kernel: Vec<f32>,
    time_key: Vec<f32>,
    time_query: Vec<f32>,
    feat_key: Vec<f32>,
    feat_query: Vec<f32>,
    /// GRU input weights `[3k, 3H]`, recurrent weights `[H, 3H]`, gate order r, z, n; the
    /// biases padded as the weights' rows.
    w_ih: Padded,
    b_ih: Vec<f32>,
    w_hh: Padded,
    b_hh: Vec<f32>,
    fc_norm: Norm,
    fc: [Dense; 3],
    enc: [(Dense, Norm); 2],
    mu: Dense,
    logv: Dense,
    dec: [(Dense, Norm); 2],
    recon: Dense,
    eps: Vec<f32>,
}

/// Outputs of one window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WindowResult {
    /// Forecast `[k]`.
    pub x_pred: Vec<f32>,
    /// VAE reconstruction `[k]`.
    pub x_recon: Vec<f32>,
    /// Feature attention `[k, k]`.
    pub feat_attn: Vec<f32>,
    /// VAE mean `[H]`.
    pub mu: Vec<f32>,
    /// VAE log-variance `[H]`.
    pub logv: Vec<f32>,
}

impl NativeNet {
    /// Lays out `weights` (torch names and layouts) for the native forward.
    pub fn new(weights: &Weights) -> Self {
        let data = |name: &str| weights.get(name).data.clone();
        let torch_t = |name: &str| {
            let t = weights.get(name);
            Padded::from_torch(&t.data, t.shape[0], t.shape[1])
        };
        let bias = |name: &str| Padded::padded_row(&weights.get(name).data);
        let [fc, enc0, enc1, dec0, dec1] = BATCH_NORMS.map(|p| Norm::new(weights, p));
        Self {
            k: weights.k,
            kernel: data("moving_avg_weight"),
            time_key: data("time_gat.weight_key"),
            time_query: data("time_gat.weight_query"),
            feat_key: data("feat_gat.weight_key"),
            feat_query: data("feat_gat.weight_query"),
            w_ih: torch_t("gru.weight_ih_l0"),
            b_ih: bias("gru.bias_ih_l0"),
            w_hh: torch_t("gru.weight_hh_l0"),
            b_hh: bias("gru.bias_hh_l0"),
            fc_norm: fc,
            fc: ["fc_layers.2", "fc_layers.4", "fc_layers.6"].map(|p| Dense::new(weights, p)),
            enc: [
                (Dense::new(weights, "vae.Encoder.0"), enc0),
                (Dense::new(weights, "vae.Encoder.3"), enc1),
            ],
            mu: Dense::new(weights, "vae.linear_mu"),
            logv: Dense::new(weights, "vae.linear_logv"),
            dec: [
                (Dense::new(weights, "vae.Decoder.0"), dec0),
                (Dense::new(weights, "vae.Decoder.3"), dec1),
            ],
            recon: Dense::new(weights, "vae.linear_recon"),
            eps: data("vae.eps"),
        }
    }

    /// Forward over `n` windows `x` (`[n, W, k]`, row-major), in parallel over groups of
    /// windows.
    pub fn forward(&self, x: &[f32], n: usize) -> Vec<WindowResult> {
        if n == 0 {
            return Vec::new();
        }
        let per = x.len() / n;
        if n <= GROUP {
            return self.forward_group(&x[..n * per], n);
        }
        x[..n * per]
            .par_chunks(GROUP * per)
            .flat_map_iter(|group| self.forward_group(group, group.len() / per))
            .collect()
    }

    /// Forward over one window `[W, k]`.
    pub fn forward_window(&self, x: &[f32]) -> WindowResult {
        let mut out = self.forward_group(x, 1);
        out.pop().expect("one window in, one result out")
    }

    /// Forward over `n` windows, run in the widest SIMD the CPU has ([`crate::kernel`]).
    fn forward_group(&self, x: &[f32], n: usize) -> Vec<WindowResult> {
        pulp::Arch::new().dispatch(Group { net: self, x, n })
    }

    /// The windows of a group go through the GRU together, so each recurrent and input
    /// product multiplies several rows at once; every window's result is the one it would
    /// have alone ([`crate::kernel::matmul_acc`]).
    #[inline(always)]
    fn group<S: Simd>(&self, simd: S, x: &[f32], n: usize) -> Vec<WindowResult> {
        // Plain loops, not iterator adapters: a closure handed to a library function that is
        // not inlined would be compiled without the dispatched instructions.
        let per = x.len() / n;
        let mut seqs = Vec::with_capacity(n);
        let mut attns = Vec::with_capacity(n);
        for window in x.chunks_exact(per) {
            let (seq, feat_attn) = self.encode(simd, window);
            seqs.push(seq);
            attns.push(feat_attn);
        }
        let h = self.gru(simd, &seqs);
        let mut out = Vec::with_capacity(n);
        for (feat_attn, h) in attns.into_iter().zip(h.chunks_exact(H)) {
            out.push(self.heads(simd, h.to_vec(), feat_attn));
        }
        out
    }

    /// Smoothing, pooling and both attentions of one window: the GRU's input `[T, 3k]` (`z |
    /// feature attention | time attention`) and the feature attention `[k, k]`.
    #[inline(always)]
    fn encode<S: Simd>(&self, simd: S, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let k = self.k;
        let z = self.pooled(x); // [T, k]
        let mut seq = vec![0.0f32; T * 3 * k]; // [T, 3k] = z | feature GAT | time GAT
        for t in 0..T {
            seq[t * 3 * k..t * 3 * k + k].copy_from_slice(&z[t * k..(t + 1) * k]);
        }
        let feat_attn = self.feature_attention(simd, &z, &mut seq);
        self.time_attention(simd, &z, &mut seq);
        (seq, feat_attn)
    }

    /// The forecast and VAE heads on the GRU's final state `h` `[H]`.
    #[inline(always)]
    fn heads<S: Simd>(&self, simd: S, h: Vec<f32>, feat_attn: Vec<f32>) -> WindowResult {
        let mut a: Vec<f32> = h.iter().map(|v| v.max(0.0)).collect();
        self.fc_norm.apply(&mut a);
        let mut a = relu(self.fc[0].forward(simd, &a));
        a = relu(self.fc[1].forward(simd, &a));
        let mut x_pred = self.fc[2].forward(simd, &a);
        sigmoid_in_place(&mut x_pred);

        let mut e = h;
        for (dense, norm) in &self.enc {
            e = dense.forward(simd, &e);
            norm.apply(&mut e);
            e = relu(e);
        }
        let mu = self.mu.forward(simd, &e);
        let logv = self.logv.forward(simd, &e);
        let mut scale: Vec<f32> = logv.iter().map(|v| 0.5 * v).collect();
        exp_in_place(&mut scale);
        let mut d: Vec<f32> = mu
            .iter()
            .zip(&self.eps)
            .zip(&scale)
            .map(|((m, e), s)| m + e * s)
            .collect();
        for (dense, norm) in &self.dec {
            d = dense.forward(simd, &d);
            norm.apply(&mut d);
            d = relu(d);
        }
        let mut x_recon = self.recon.forward(simd, &d);
        sigmoid_in_place(&mut x_recon);
        WindowResult {
            x_pred,
            x_recon,
            feat_attn,
            mu,
            logv,
        }
    }

    /// Moving average then adaptive max-pool to `T` steps: `[W, k]` → `[T, k]`.
    #[inline(always)]
    fn pooled(&self, x: &[f32]) -> Vec<f32> {
        pooled(&self.kernel, x, self.k)
    }

    /// Time-oriented graph attention; writes `A·Z` into columns `2k..3k` of `seq`.
    #[inline(always)]
    fn time_attention<S: Simd>(&self, simd: S, z: &[f32], seq: &mut [f32]) {
        let mut attn = vec![0.0f32; T * T];
        let vectors = (&self.time_key[..], &self.time_query[..]);
        time_attention(simd, z, self.k, vectors, None, &mut attn, seq);
    }

    /// Feature-oriented graph attention; writes `(A·Zᵀ)ᵀ` into columns `k..2k` of `seq` and
    /// returns `A` (`[k, k]`).
    #[inline(always)]
    fn feature_attention<S: Simd>(&self, simd: S, z: &[f32], seq: &mut [f32]) -> Vec<f32> {
        let mut attn = vec![0.0f32; self.k * self.k];
        let vectors = (&self.feat_key[..], &self.feat_query[..]);
        feature_attention(simd, z, self.k, vectors, None, &mut attn, seq);
        attn
    }

    /// The GRU over each window's `seq` (`[T, 3k]`) from `h₀ = 0`, the windows side by side:
    /// the last hidden states `[n, H]`.
    #[inline(always)]
    fn gru<S: Simd>(&self, simd: S, seqs: &[Vec<f32>]) -> Vec<f32> {
        let (n, input, stride) = (seqs.len(), 3 * self.k, self.w_ih.stride());
        let mut xs = vec![0.0f32; n * input];
        let mut gi = vec![0.0f32; n * stride];
        let mut gh = vec![0.0f32; n * stride];
        let mut h = vec![0.0f32; n * H];
        let mut rz = vec![0.0f32; 2 * H];
        let mut cand = vec![0.0f32; H];
        for s in 0..T {
            for (b, seq) in seqs.iter().enumerate() {
                xs[b * input..(b + 1) * input].copy_from_slice(&seq[s * input..(s + 1) * input]);
            }
            for (gi, gh) in gi.chunks_exact_mut(stride).zip(gh.chunks_exact_mut(stride)) {
                gi.copy_from_slice(&self.b_ih);
                gh.copy_from_slice(&self.b_hh);
            }
            matmul_acc(simd, &xs, input, n, &self.w_ih, &mut gi);
            matmul_acc(simd, &h, H, n, &self.w_hh, &mut gh);
            for ((gi, gh), h) in gi
                .chunks_exact(stride)
                .zip(gh.chunks_exact(stride))
                .zip(h.chunks_exact_mut(H))
            {
                gru_cell(&gi[..3 * H], &gh[..3 * H], h, &mut rz, &mut cand);
            }
        }
        h
    }
}

/// [`NativeNet::group`] under [`pulp::Arch::dispatch`].
struct Group<'a> {
    net: &'a NativeNet,
    x: &'a [f32],
    n: usize,
}

impl WithSimd for Group<'_> {
    type Output = Vec<WindowResult>;

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> Self::Output {
        self.net.group(simd, self.x, self.n)
    }
}

/// Moving average (the fixed 7-point `kernel`) then adaptive max-pool to `T` steps:
/// `[W, k]` → `[T, k]`. Output `i` is the maximum over `⌊i·L/T⌋ .. ⌈(i+1)·L/T⌉` of the
/// `L = W − 6` averages.
#[inline(always)]
pub(crate) fn pooled(kernel: &[f32], x: &[f32], k: usize) -> Vec<f32> {
    let w = x.len() / k;
    let l = w + 1 - KERNEL;
    let mut ma = vec![0.0f32; l * k];
    for t in 0..l {
        let out = &mut ma[t * k..(t + 1) * k];
        for (d, &c) in kernel.iter().enumerate() {
            let row = &x[(t + d) * k..(t + d + 1) * k];
            if d == 0 {
                out.iter_mut().zip(row).for_each(|(o, v)| *o = v * c);
            } else {
                out.iter_mut().zip(row).for_each(|(o, v)| *o += v * c);
            }
        }
    }
    let mut z = vec![f32::NEG_INFINITY; T * k];
    for i in 0..T {
        let (start, end) = (i * l / T, ((i + 1) * l).div_ceil(T));
        let out = &mut z[i * k..(i + 1) * k];
        for t in start..end {
            out.iter_mut()
                .zip(&ma[t * k..(t + 1) * k])
                .for_each(|(o, v)| *o = o.max(*v));
        }
    }
    z
}

/// `A = softmax_j(LeakyReLU(key_i + query_j))` into `attn` (`[n, n]`, row-major).
#[inline(always)]
fn attention_scores(key: &[f32], query: &[f32], attn: &mut [f32]) {
    for (row, &ki) in attn.chunks_exact_mut(query.len()).zip(key) {
        row.iter_mut()
            .zip(query)
            .for_each(|(e, q)| *e = leaky(ki + q));
        softmax_in_place(row);
    }
}

/// Time-oriented graph attention over the `T` steps of `z` (`[T, k]`; node features: the `k`
/// variables), with `(key, query)` vectors `[k]`: `attn` (`[T, T]`) receives `A`, and
/// `(A ⊙ mask)·Z` is written into columns `2k..3k` of `seq` (`[T, 3k]`). `mask` is training's
/// dropout (0 or 1/(1 − p)); `A` is the attention before it.
#[inline(always)]
pub(crate) fn time_attention<S: Simd>(
    simd: S,
    z: &[f32],
    k: usize,
    (key_w, query_w): (&[f32], &[f32]),
    mask: Option<&[f32]>,
    attn: &mut [f32],
    seq: &mut [f32],
) {
    let (key, query) = time_nodes(z, k, (key_w, query_w));
    attention_scores(&key, &query, attn);
    let used = masked(attn, mask);
    let z = Padded::from_rows(z, T, k);
    let mut out = vec![0.0f32; T * z.stride()];
    matmul_acc(simd, &used, T, T, &z, &mut out);
    write_columns(seq, k, 2, &out, z.stride());
}

/// Feature-oriented graph attention over the `k` variables of `z` (`[T, k]`; node features:
/// the `T` steps), with `(key, query)` vectors `[T]`: `attn` (`[k, k]`) receives `A`, and
/// `((A ⊙ mask)·Zᵀ)ᵀ` is written into columns `k..2k` of `seq` (`[T, 3k]`).
#[inline(always)]
pub(crate) fn feature_attention<S: Simd>(
    simd: S,
    z: &[f32],
    k: usize,
    (key_w, query_w): (&[f32], &[f32]),
    mask: Option<&[f32]>,
    attn: &mut [f32],
    seq: &mut [f32],
) {
    let (key, query) = feature_nodes(z, k, (key_w, query_w));
    attention_scores(&key, &query, attn);
    let used = masked(attn, mask);
    // h_feat[i, t] = Σ_j A_ij z[t, j], stored at seq[t, k + i]: row t is z[t]·Aᵀ.
    let used_t = Padded::from_torch(&used, k, k);
    let mut out = vec![0.0f32; T * used_t.stride()];
    matmul_acc(simd, z, k, T, &used_t, &mut out);
    write_columns(seq, k, 1, &out, used_t.stride());
}

/// The time attention's node keys and queries `[T]`: `Z·a_key`, `Z·a_query`.
#[inline(always)]
pub(crate) fn time_nodes(
    z: &[f32],
    k: usize,
    (key_w, query_w): (&[f32], &[f32]),
) -> (Vec<f32>, Vec<f32>) {
    let mut key = Vec::with_capacity(T);
    let mut query = Vec::with_capacity(T);
    for row in z.chunks_exact(k) {
        key.push(dot(row, key_w));
        query.push(dot(row, query_w));
    }
    (key, query)
}

/// The feature attention's node keys and queries `[k]`: `Zᵀ·a_key`, `Zᵀ·a_query`.
#[inline(always)]
pub(crate) fn feature_nodes(
    z: &[f32],
    k: usize,
    (key_w, query_w): (&[f32], &[f32]),
) -> (Vec<f32>, Vec<f32>) {
    let mut key = vec![0.0f32; k];
    let mut query = vec![0.0f32; k];
    for ((row, fk), fq) in z.chunks_exact(k).zip(key_w).zip(query_w) {
        for ((key, query), v) in key.iter_mut().zip(query.iter_mut()).zip(row) {
            *key += v * fk;
            *query += v * fq;
        }
    }
    (key, query)
}

/// The attention with training's dropout applied (`A ⊙ mask`), or `A` itself.
#[inline(always)]
fn masked<'a>(attn: &'a [f32], mask: Option<&[f32]>) -> Cow<'a, [f32]> {
    match mask {
        Some(mask) => {
            let mut out = Vec::with_capacity(attn.len());
            for (a, m) in attn.iter().zip(mask) {
                out.push(a * m);
            }
            Cow::Owned(out)
        }
        None => Cow::Borrowed(attn),
    }
}

/// Copies the first `k` columns of each row of `out` (rows `stride` apart) into block `block`
/// (columns `block·k..(block + 1)·k`) of the matching row of `seq` (`[T, 3k]`).
#[inline(always)]
fn write_columns(seq: &mut [f32], k: usize, block: usize, out: &[f32], stride: usize) {
    for (to, from) in seq.chunks_exact_mut(3 * k).zip(out.chunks_exact(stride)) {
        to[block * k..(block + 1) * k].copy_from_slice(&from[..k]);
    }
}

/// One GRU step for one row (torch's equations, gate order r, z, n): `gi` and `gh` are the
/// input and recurrent projections `[3H]`, biases included; `h` is updated in place. On
/// return `rz` holds the reset and update gates `[2H]` and `n` the candidate `[H]` (the fused
/// GRU of training keeps them for its backward pass).
#[inline(always)]
pub(crate) fn gru_cell(gi: &[f32], gh: &[f32], h: &mut [f32], rz: &mut [f32], n: &mut [f32]) {
    rz.iter_mut()
        .zip(&gi[..2 * H])
        .zip(&gh[..2 * H])
        .for_each(|((o, a), b)| *o = a + b);
    sigmoid_in_place(rz);
    let (r, zg) = rz.split_at(H);
    n.iter_mut()
        .zip(&gi[2 * H..])
        .zip(&gh[2 * H..])
        .zip(r)
        .for_each(|(((o, a), b), r)| *o = 2.0 * (a + r * b));
    // tanh(v) = 2·σ(2v) − 1
    sigmoid_in_place(n);
    h.iter_mut()
        .zip(n.iter_mut())
        .zip(zg)
        .for_each(|((h, n), z)| {
            *n = 2.0 * *n - 1.0;
            *h = *n + z * (*h - *n);
        });
}

/// Dot product in eight independent lanes (a plain `sum()` is a serial chain the compiler
/// may not reorder; lanes let it use vector registers).
#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let (ca, ra) = a.as_chunks::<8>();
    let (cb, rb) = b.as_chunks::<8>();
    let mut acc = [0.0f32; 8];
    for (x, y) in ca.iter().zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

#[inline(always)]
fn leaky(v: f32) -> f32 {
    if v >= 0.0 {
        v
    } else {
        LEAKY_SLOPE * v
    }
}

#[inline(always)]
fn relu(mut v: Vec<f32>) -> Vec<f32> {
    v.iter_mut().for_each(|x| *x = x.max(0.0));
    v
}

#[inline(always)]
fn softmax_in_place(v: &mut [f32]) {
    // The maximum in eight lanes (exact in any order), so the loop vectorises.
    let (chunks, rest) = v.as_chunks::<8>();
    let mut lanes = [f32::NEG_INFINITY; 8];
    for chunk in chunks {
        for (l, x) in lanes.iter_mut().zip(chunk) {
            *l = l.max(*x);
        }
    }
    let max = rest
        .iter()
        .chain(&lanes)
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    v.iter_mut().for_each(|x| *x -= max);
    exp_in_place(v);
    let sum: f32 = v.iter().sum();
    v.iter_mut().for_each(|x| *x /= sum);
}

#[inline(always)]
fn sigmoid_in_place(v: &mut [f32]) {
    v.iter_mut().for_each(|x| *x = -*x);
    exp_in_place(v);
    v.iter_mut().for_each(|x| *x = 1.0 / (1.0 + *x));
}

/// `eˣ` element-wise: Cody–Waite range reduction and a degree-6 polynomial (Cephes `expf`
/// coefficients), about one ulp; written branch-free so the loop vectorises.
#[inline(always)]
fn exp_in_place(v: &mut [f32]) {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const ROUND: f32 = 12_582_912.0; // 1.5 · 2²³: adding and subtracting it rounds to an integer
    for x in v.iter_mut() {
        let c = x.clamp(-87.0, 88.0);
        let t = c * LOG2E + ROUND;
        let n = t - ROUND;
        let r = c - n * LN2_HI - n * LN2_LO;
        let p = ((((1.987_569_2e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2)
            * r
            + 1.666_666_5e-1)
            * r
            + 0.5;
        let y = p * r * r + r + 1.0;
        // 2ⁿ from the integer held in the low bits of `t` (n + 127 in 1..=254 after the
        // clamp): integer arithmetic on the bits, which vectorises, where `n as i32` (a
        // saturating conversion) does not.
        let scale =
            f32::from_bits(t.to_bits().wrapping_sub(ROUND.to_bits()).wrapping_add(127) << 23);
        // Below the clamp the true value is < 1.7e-38: flush to 0 as torch's exp underflows.
        *x = if *x < -87.0 { 0.0 } else { y * scale };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_two_ulp_of_std() {
        let mut worst = 0.0f64;
        let xs: Vec<f32> = (-8700..=8800).map(|i| i as f32 * 0.01).collect();
        let mut ys = xs.clone();
        exp_in_place(&mut ys);
        for (x, y) in xs.iter().zip(&ys) {
            let want = (*x as f64).exp();
            worst = worst.max(((*y as f64) - want).abs() / want);
        }
        assert!(worst < 2.5e-7, "worst relative error {worst:e}");
        let mut tiny = vec![-100.0f32, -87.5, f32::NEG_INFINITY];
        exp_in_place(&mut tiny);
        assert_eq!(tiny, [0.0, 0.0, 0.0]);
    }
}
