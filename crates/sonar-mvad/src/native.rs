//! The evaluation forward pass without a tensor framework: plain f32 loops over host memory.
//!
//! Training needs burn (autodiff); scoring does not. Through burn, one window costs about a
//! thousand small tensor operations (the GRU alone runs ten per step for 100 steps), and their
//! fixed cost dominates when only a few windows are scored, which is what streaming does: one
//! new bucket, one window. Here the same equations run as straight loops that the compiler
//! vectorises, with one allocation set per window, and batches of windows are spread over the
//! cores with rayon.
//!
//! The arithmetic is the network's (`net.rs`; docs/mvad.md, "What is faithful") in f32; sums run in a
//! different order than burn's kernels and `exp` is a polynomial with about one ulp of error,
//! so outputs agree with the burn forward to about 1e-6 (test
//! `native_forward_matches_the_burn_network`), well inside the golden tolerances, which the
//! scoring tests check through this path.

use rayon::prelude::*;

use crate::weights::{Weights, BATCH_NORMS, GAT_WINDOW as T, HIDDEN as H, KERNEL};

const LEAKY_SLOPE: f32 = 0.2;
const BN_EPS: f32 = 1e-5;

/// A linear layer applied to one vector, weights stored `[in, out]`.
#[derive(Debug, Clone)]
struct Dense {
    w: Vec<f32>,
    b: Vec<f32>,
    n_in: usize,
}

impl Dense {
    /// From torch's `[out, in]` weight and `[out]` bias under `prefix`.
    fn new(weights: &Weights, prefix: &str) -> Self {
        let w = weights.get(&format!("{prefix}.weight"));
        Self::from_torch(
            &w.data,
            w.shape[0],
            w.shape[1],
            &weights.get(&format!("{prefix}.bias")).data,
        )
    }

    fn from_torch(w: &[f32], n_out: usize, n_in: usize, b: &[f32]) -> Self {
        Self {
            w: transpose(w, n_out, n_in),
            b: b.to_vec(),
            n_in,
        }
    }

    /// `x`: `[in]` → `[out]`.
    fn forward(&self, x: &[f32]) -> Vec<f32> {
        let mut out = self.b.clone();
        gemv_acc(&self.w, &x[..self.n_in], &mut out);
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
    /// GRU input weights `[3k, 3H]`, recurrent weights `[H, 3H]`, gate order r, z, n.
    w_ih: Vec<f32>,
    b_ih: Vec<f32>,
    w_hh: Vec<f32>,
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
            transpose(&t.data, t.shape[0], t.shape[1])
        };
        let [fc, enc0, enc1, dec0, dec1] = BATCH_NORMS.map(|p| Norm::new(weights, p));
        Self {
            k: weights.k,
            kernel: data("moving_avg_weight"),
            time_key: data("time_gat.weight_key"),
            time_query: data("time_gat.weight_query"),
            feat_key: data("feat_gat.weight_key"),
            feat_query: data("feat_gat.weight_query"),
            w_ih: torch_t("gru.weight_ih_l0"),
            b_ih: data("gru.bias_ih_l0"),
            w_hh: torch_t("gru.weight_hh_l0"),
            b_hh: data("gru.bias_hh_l0"),
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

    /// Forward over `n` windows `x` (`[n, W, k]`, row-major), in parallel over windows.
    pub fn forward(&self, x: &[f32], n: usize) -> Vec<WindowResult> {
        if n == 0 {
            return Vec::new();
        }
        let per = x.len() / n;
        if n == 1 {
            return vec![self.forward_window(x)];
        }
        x.par_chunks_exact(per)
            .map(|window| self.forward_window(window))
            .collect()
    }

    /// Forward over one window `[W, k]`.
    pub fn forward_window(&self, x: &[f32]) -> WindowResult {
        let k = self.k;
        let z = self.pooled(x); // [T, k]
        let mut seq = vec![0.0f32; T * 3 * k]; // [T, 3k] = z | feature GAT | time GAT
        for t in 0..T {
            seq[t * 3 * k..t * 3 * k + k].copy_from_slice(&z[t * k..(t + 1) * k]);
        }
        let feat_attn = self.feature_attention(&z, &mut seq);
        self.time_attention(&z, &mut seq);
        let h = self.gru(&seq);

        let mut a: Vec<f32> = h.iter().map(|v| v.max(0.0)).collect();
        self.fc_norm.apply(&mut a);
        let mut a = relu(self.fc[0].forward(&a));
        a = relu(self.fc[1].forward(&a));
        let mut x_pred = self.fc[2].forward(&a);
        sigmoid_in_place(&mut x_pred);

        let mut e = h;
        for (dense, norm) in &self.enc {
            e = dense.forward(&e);
            norm.apply(&mut e);
            e = relu(e);
        }
        let mu = self.mu.forward(&e);
        let logv = self.logv.forward(&e);
        let mut scale: Vec<f32> = logv.iter().map(|v| 0.5 * v).collect();
        exp_in_place(&mut scale);
        let mut d: Vec<f32> = mu
            .iter()
            .zip(&self.eps)
            .zip(&scale)
            .map(|((m, e), s)| m + e * s)
            .collect();
        for (dense, norm) in &self.dec {
            d = dense.forward(&d);
            norm.apply(&mut d);
            d = relu(d);
        }
        let mut x_recon = self.recon.forward(&d);
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
    fn pooled(&self, x: &[f32]) -> Vec<f32> {
        let k = self.k;
        let w = x.len() / k;
        let l = w + 1 - KERNEL;
        let mut ma = vec![0.0f32; l * k];
        for t in 0..l {
            let out = &mut ma[t * k..(t + 1) * k];
            for (d, &c) in self.kernel.iter().enumerate() {
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

    /// Time-oriented graph attention over the `T` steps (features `k`); writes `A·Z` into
    /// columns `2k..3k` of `seq`.
    fn time_attention(&self, z: &[f32], seq: &mut [f32]) {
        let k = self.k;
        let key: Vec<f32> = z.chunks_exact(k).map(|r| dot(r, &self.time_key)).collect();
        let query: Vec<f32> = z
            .chunks_exact(k)
            .map(|r| dot(r, &self.time_query))
            .collect();
        let mut row = vec![0.0f32; T];
        for i in 0..T {
            row.iter_mut()
                .zip(&query)
                .for_each(|(e, q)| *e = leaky(key[i] + q));
            softmax_in_place(&mut row);
            let out = &mut seq[i * 3 * k + 2 * k..(i + 1) * 3 * k];
            out.fill(0.0);
            for (j, &a) in row.iter().enumerate() {
                out.iter_mut()
                    .zip(&z[j * k..(j + 1) * k])
                    .for_each(|(o, v)| *o += a * v);
            }
        }
    }

    /// Feature-oriented graph attention over the `k` variables (features: the `T` steps);
    /// writes `(A·Zᵀ)ᵀ` into columns `k..2k` of `seq` and returns `A` (`[k, k]`).
    fn feature_attention(&self, z: &[f32], seq: &mut [f32]) -> Vec<f32> {
        let k = self.k;
        let mut key = vec![0.0f32; k];
        let mut query = vec![0.0f32; k];
        for t in 0..T {
            let row = &z[t * k..(t + 1) * k];
            let (fk, fq) = (self.feat_key[t], self.feat_query[t]);
            for j in 0..k {
                key[j] += row[j] * fk;
                query[j] += row[j] * fq;
            }
        }
        let mut attn = vec![0.0f32; k * k];
        for i in 0..k {
            let row = &mut attn[i * k..(i + 1) * k];
            row.iter_mut()
                .zip(&query)
                .for_each(|(e, q)| *e = leaky(key[i] + q));
            softmax_in_place(row);
        }
        // h_feat[i, t] = Σ_j A_ij z[t, j], stored at seq[t, k + i].
        for t in 0..T {
            let zt = &z[t * k..(t + 1) * k];
            let out = &mut seq[t * 3 * k + k..t * 3 * k + 2 * k];
            for (i, o) in out.iter_mut().enumerate() {
                *o = dot(&attn[i * k..(i + 1) * k], zt);
            }
        }
        attn
    }

    /// The GRU over `seq` (`[T, 3k]`) from `h₀ = 0`; returns the last hidden state `[H]`.
    fn gru(&self, seq: &[f32]) -> Vec<f32> {
        let mut gi = vec![0.0f32; T * 3 * H];
        for row in gi.chunks_exact_mut(3 * H) {
            row.copy_from_slice(&self.b_ih);
        }
        matmul_acc(seq, T, 3 * self.k, &self.w_ih, 3 * H, &mut gi);
        let mut h = vec![0.0f32; H];
        let mut gh = vec![0.0f32; 3 * H];
        let mut rz = vec![0.0f32; 2 * H];
        let mut n = vec![0.0f32; H];
        for s in 0..T {
            gh.copy_from_slice(&self.b_hh);
            gemv_acc(&self.w_hh, &h, &mut gh);
            gru_cell(
                &gi[s * 3 * H..(s + 1) * 3 * H],
                &gh,
                &mut h,
                &mut rz,
                &mut n,
            );
        }
        h
    }
}

/// One GRU step for one row (torch's equations, gate order r, z, n): `gi` and `gh` are the
/// input and recurrent projections `[3H]`, biases included; `h` is updated in place. On
/// return `rz` holds the reset and update gates `[2H]` and `n` the candidate `[H]` (the fused
/// GRU of training keeps them for its backward pass).
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

/// `out[rows, cols] += a[rows, inner] · b[inner, cols]`, one [`gemv_acc`] per row.
fn matmul_acc(a: &[f32], rows: usize, inner: usize, b: &[f32], cols: usize, out: &mut [f32]) {
    for (x, o) in a
        .chunks_exact(inner)
        .zip(out.chunks_exact_mut(cols))
        .take(rows)
    {
        gemv_acc(b, x, o);
    }
}

/// `out += x · m` for a row-major `m` of `x.len()` rows and `out.len()` columns: four rows
/// of `m` per pass over `out`, so each pass does four multiply-adds per load and store of
/// `out`, in a loop over contiguous columns that the compiler vectorises.
fn gemv_acc(m: &[f32], x: &[f32], out: &mut [f32]) {
    let cols = out.len();
    let mut rows = m.chunks_exact(cols);
    let mut xs = x.chunks_exact(4);
    for xv in &mut xs {
        let (Some(r0), Some(r1), Some(r2), Some(r3)) =
            (rows.next(), rows.next(), rows.next(), rows.next())
        else {
            break;
        };
        let (x0, x1, x2, x3) = (xv[0], xv[1], xv[2], xv[3]);
        for ((((o, a), b), c), d) in out.iter_mut().zip(r0).zip(r1).zip(r2).zip(r3) {
            *o += (x0 * a + x1 * b) + (x2 * c + x3 * d);
        }
    }
    for (&xv, row) in xs.remainder().iter().zip(rows) {
        out.iter_mut().zip(row).for_each(|(o, w)| *o += xv * w);
    }
}

/// Torch's `[rows, cols]` → `[cols, rows]`.
fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0f32; m.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = m[r * cols + c];
        }
    }
    t
}

/// Dot product in eight independent lanes (a plain `sum()` is a serial chain the compiler
/// may not reorder; lanes let it use vector registers).
fn dot(a: &[f32], b: &[f32]) -> f32 {
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

fn leaky(v: f32) -> f32 {
    if v >= 0.0 {
        v
    } else {
        LEAKY_SLOPE * v
    }
}

fn relu(mut v: Vec<f32>) -> Vec<f32> {
    v.iter_mut().for_each(|x| *x = x.max(0.0));
    v
}

fn softmax_in_place(v: &mut [f32]) {
    let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    v.iter_mut().for_each(|x| *x -= max);
    exp_in_place(v);
    let sum: f32 = v.iter().sum();
    v.iter_mut().for_each(|x| *x /= sum);
}

fn sigmoid_in_place(v: &mut [f32]) {
    v.iter_mut().for_each(|x| *x = -*x);
    exp_in_place(v);
    v.iter_mut().for_each(|x| *x = 1.0 / (1.0 + *x));
}

/// `eˣ` element-wise: Cody–Waite range reduction and a degree-6 polynomial (Cephes `expf`
/// coefficients), about one ulp; written branch-free so the loop vectorises.
fn exp_in_place(v: &mut [f32]) {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const ROUND: f32 = 12_582_912.0; // 1.5 · 2²³: adding and subtracting it rounds to an integer
    for x in v.iter_mut() {
        let c = x.clamp(-87.0, 88.0);
        let n = (c * LOG2E + ROUND) - ROUND;
        let r = c - n * LN2_HI - n * LN2_LO;
        let p = ((((1.987_569_2e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2)
            * r
            + 1.666_666_5e-1)
            * r
            + 0.5;
        let y = p * r * r + r + 1.0;
        let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
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

    #[test]
    fn matmul_matches_the_definition_for_every_row_remainder() {
        for rows in 1..=9 {
            let (inner, cols) = (5, 7);
            let a: Vec<f32> = (0..rows * inner).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..inner * cols).map(|i| (i as f32 * 0.11).cos()).collect();
            let mut out = vec![1.0f32; rows * cols];
            matmul_acc(&a, rows, inner, &b, cols, &mut out);
            for r in 0..rows {
                for c in 0..cols {
                    let want: f32 = 1.0
                        + (0..inner)
                            .map(|i| a[r * inner + i] * b[i * cols + c])
                            .sum::<f32>();
                    assert!((out[r * cols + c] - want).abs() < 1e-5, "{rows} {r} {c}");
                }
            }
        }
    }
}
