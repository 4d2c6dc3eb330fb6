//! The GRU of training with its own backward pass (backpropagation through time written out),
//! instead of ~15 autodiff operations per time step.
//!
//! Under burn's autodiff every one of the 100 steps records its slices, matmuls, sigmoids and
//! tanh, and the backward pass recomputes each activation with scalar `expf`/`tanhf`: profiled,
//! that was about a quarter of a training step. Here the forward pass keeps the gate
//! activations, the backward pass uses them, and only the recurrent products are done step by
//! step; the input projection, the input gradient and both weight gradients are one matrix
//! product each over all steps. The input projection and the per-step products run on the
//! host in [`crate::kernel`]'s SIMD, like the gate arithmetic (with the vectorised exponential
//! of [`crate::native`]); the input gradient and the weight gradients, large products over all
//! steps, run on burn's plain (non-autodiff) device.
//!
//! The equations are torch's (gate order r, z, n; `h₀ = 0`):
//! `r = σ(gi_r + gh_r)`, `z = σ(gi_z + gh_z)`, `n = tanh(gi_n + r·gh_n)`, `h' = (1 − z)·n + z·h`,
//! with `gi = x·W_ih + b_ih` and `gh = h·W_hh + b_hh`. The gradients match burn's autodiff of
//! [`crate::net::Gru`] to float rounding (test `fused_gru_gives_the_gradients_of_burns_autodiff`).

use burn::tensor::{Device, Tensor, TensorData};
use pulp::{Simd, WithSimd};
use rayon::prelude::*;

use crate::kernel::{matmul_acc, Padded};
use crate::native::gru_cell;
use crate::weights::HIDDEN;

const H: usize = HIDDEN;

/// The GRU's parameters on the plain device, in burn's layout (`[in, 3H]`, `[H, 3H]`).
#[derive(Debug, Clone)]
pub struct GruParams {
    /// Input weights `[in, 3H]`.
    pub w_ih: Tensor<2>,
    /// Recurrent weights `[H, 3H]`.
    pub w_hh: Tensor<2>,
    /// Input bias `[3H]`.
    pub b_ih: Vec<f32>,
    /// Recurrent bias `[3H]`.
    pub b_hh: Vec<f32>,
}

/// What the backward pass needs from the forward pass. The rows of a batch are independent in
/// a GRU, so the batch is split into one part per thread, each run on its own; one tape is
/// reused from batch to batch, so its buffers (tens of megabytes at batch 128) are not
/// allocated and faulted in again on every step.
#[derive(Debug, Default)]
pub struct GruTape {
    parts: Vec<RowsTape>,
}

/// The tape of one part of the batch: its input and, per step, the gates.
#[derive(Debug, Default)]
struct RowsTape {
    batch: usize,
    steps: usize,
    input: usize,
    /// The input `[B·T, in]` (batch-major rows) on the plain device.
    x: Option<Tensor<2>>,
    /// Per step, time-major `[T, B, H]`: reset gate, update gate, candidate, `gh_n` (recurrent
    /// part of the candidate, bias included), and the hidden state before the step.
    r: Vec<f32>,
    z: Vec<f32>,
    n: Vec<f32>,
    ghn: Vec<f32>,
    h_prev: Vec<f32>,
}

/// Gradients of the GRU's parameters and input.
#[derive(Debug)]
pub struct GruGrads {
    /// Gradient of the input, `[B, T, in]` flattened.
    pub x: Vec<f32>,
    /// `[in, 3H]`, on the plain device.
    pub w_ih: Tensor<2>,
    /// `[H, 3H]`, on the plain device.
    pub w_hh: Tensor<2>,
    /// `[3H]`.
    pub b_ih: Vec<f32>,
    /// `[3H]`.
    pub b_hh: Vec<f32>,
}

fn host(t: Tensor<2>) -> Vec<f32> {
    t.into_data()
        .try_into_vec::<f32>()
        .expect("GRU tensors are float32")
}

fn matrix(data: Vec<f32>, rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(data, [rows, cols]), device)
}

/// Column sums of a row-major `[rows, cols]` matrix.
fn column_sums(m: &[f32], cols: usize) -> Vec<f32> {
    let mut sums = vec![0.0f32; cols];
    for row in m.chunks_exact(cols) {
        sums.iter_mut().zip(row).for_each(|(s, v)| *s += v);
    }
    sums
}

impl GruParams {
    /// Runs the GRU over `x` (`[B, T, in]` flattened): the final hidden state `[B, H]`; `tape`
    /// receives what [`GruParams::backward`] needs.
    pub fn forward(&self, x: Vec<f32>, batch: usize, steps: usize, tape: &mut GruTape) -> Vec<f32> {
        let per_row = x.len() / batch;
        let rows = batch.div_ceil(rayon::current_num_threads().max(1));
        let chunks: Vec<&[f32]> = x.chunks(rows * per_row).collect();
        tape.parts.resize_with(chunks.len(), Default::default);
        let h: Vec<Vec<f32>> = chunks
            .into_par_iter()
            .zip(tape.parts.par_iter_mut())
            .map(|(x, part)| self.forward_rows(x.to_vec(), x.len() / per_row, steps, part))
            .collect();
        h.concat()
    }

    /// Backpropagation through time from `dh`, the gradient of the final hidden state `[B, H]`.
    /// `tape` is the one the forward pass filled.
    pub fn backward(&self, tape: &mut GruTape, dh: Vec<f32>) -> GruGrads {
        let mut pieces = Vec::with_capacity(tape.parts.len());
        let mut rest = dh.as_slice();
        for part in &tape.parts {
            let (piece, tail) = rest.split_at(part.batch * H);
            pieces.push(piece.to_vec());
            rest = tail;
        }
        let parts: Vec<GruGrads> = tape
            .parts
            .par_iter_mut()
            .zip(pieces)
            .map(|(part, dh)| self.backward_rows(part, dh))
            .collect();
        let mut parts = parts.into_iter();
        let mut total = parts.next().expect("a batch has at least one row");
        for part in parts {
            total.x.extend_from_slice(&part.x);
            total.w_ih = total.w_ih + part.w_ih;
            total.w_hh = total.w_hh + part.w_hh;
            total
                .b_ih
                .iter_mut()
                .zip(&part.b_ih)
                .for_each(|(t, p)| *t += p);
            total
                .b_hh
                .iter_mut()
                .zip(&part.b_hh)
                .for_each(|(t, p)| *t += p);
        }
        total
    }

    fn forward_rows(
        &self,
        x: Vec<f32>,
        batch: usize,
        steps: usize,
        tape: &mut RowsTape,
    ) -> Vec<f32> {
        pulp::Arch::new().dispatch(ForwardRows {
            params: self,
            x,
            batch,
            steps,
            tape,
        })
    }

    /// [`GruParams::forward_rows`] in the SIMD the CPU has (`crate::kernel`).
    #[inline(always)]
    fn forward_rows_simd<S: Simd>(
        &self,
        simd: S,
        x: Vec<f32>,
        batch: usize,
        steps: usize,
        tape: &mut RowsTape,
    ) -> Vec<f32> {
        let device = self.w_ih.device();
        let input = x.len() / (batch * steps);
        // Every step's input projection in one product, bias first: [B·T, 3H], batch-major,
        // rows padded to the stride.
        let w_ih = Padded::from_rows(&host(self.w_ih.clone()), input, 3 * H);
        let stride = w_ih.stride();
        let b_ih = Padded::padded_row(&self.b_ih);
        let mut gi = vec![0.0f32; batch * steps * stride];
        for row in gi.chunks_exact_mut(stride) {
            row.copy_from_slice(&b_ih);
        }
        matmul_acc(simd, &x, input, batch * steps, &w_ih, &mut gi);
        let x = matrix(x, batch * steps, input, &device);
        let cells = steps * batch * H;
        tape.batch = batch;
        tape.steps = steps;
        tape.input = input;
        tape.x = Some(x);
        for buffer in [
            &mut tape.r,
            &mut tape.z,
            &mut tape.n,
            &mut tape.ghn,
            &mut tape.h_prev,
        ] {
            buffer.resize(cells, 0.0);
        }
        // The recurrent product of each step on the host, rows of `gh` padded to the stride.
        let w_hh = Padded::from_rows(&host(self.w_hh.clone()), H, 3 * H);
        let b_hh = Padded::padded_row(&self.b_hh);
        let mut gh = vec![0.0f32; batch * stride];
        let mut h = vec![0.0f32; batch * H];
        let mut rz = vec![0.0f32; 2 * H];
        let mut n = vec![0.0f32; H];
        for s in 0..steps {
            let at = s * batch * H;
            tape.h_prev[at..at + batch * H].copy_from_slice(&h);
            for row in gh.chunks_exact_mut(stride) {
                row.copy_from_slice(&b_hh);
            }
            if s > 0 {
                // h₀ = 0: at the first step the recurrent product is the bias alone.
                matmul_acc(simd, &h, H, batch, &w_hh, &mut gh);
            }
            for b in 0..batch {
                let gi = &gi[(b * steps + s) * stride..(b * steps + s) * stride + 3 * H];
                let gh = &gh[b * stride..b * stride + 3 * H];
                gru_cell(gi, gh, &mut h[b * H..(b + 1) * H], &mut rz, &mut n);
                let cell = at + b * H..at + (b + 1) * H;
                tape.r[cell.clone()].copy_from_slice(&rz[..H]);
                tape.z[cell.clone()].copy_from_slice(&rz[H..]);
                tape.n[cell.clone()].copy_from_slice(&n);
                tape.ghn[cell].copy_from_slice(&gh[2 * H..]);
            }
        }
        h
    }

    fn backward_rows(&self, tape: &mut RowsTape, dh: Vec<f32>) -> GruGrads {
        pulp::Arch::new().dispatch(BackwardRows {
            params: self,
            tape,
            dh,
        })
    }

    /// [`GruParams::backward_rows`] in the SIMD the CPU has (`crate::kernel`).
    #[inline(always)]
    fn backward_rows_simd<S: Simd>(
        &self,
        simd: S,
        tape: &mut RowsTape,
        mut dh: Vec<f32>,
    ) -> GruGrads {
        let device = self.w_ih.device();
        let (batch, steps, input) = (tape.batch, tape.steps, tape.input);
        let x = tape.x.take().expect("backward follows a forward pass");
        // W_hhᵀ `[3H, H]` on the host, for the gradient through each step's recurrent product.
        let w_hh_t = Padded::from_torch(&host(self.w_hh.clone()), H, 3 * H);
        let stride = w_hh_t.stride();
        let mut through = vec![0.0f32; batch * stride];

        // Gate-input gradients: dgi batch-major [B·T, 3H] (rows as x), dgh time-major [T·B, 3H]
        // (rows as h_prev).
        let mut dgi = vec![0.0f32; batch * steps * 3 * H];
        let mut dgh = vec![0.0f32; steps * batch * 3 * H];
        let mut dh_direct = vec![0.0f32; batch * H];
        for s in (0..steps).rev() {
            for b in 0..batch {
                let cell = (s * batch + b) * H..(s * batch + b + 1) * H;
                let gi_row = (b * steps + s) * 3 * H;
                let gh_row = (s * batch + b) * 3 * H;
                let (gi_r, rest) = dgi[gi_row..gi_row + 3 * H].split_at_mut(H);
                let (gi_z, gi_n) = rest.split_at_mut(H);
                let (gh_r, rest) = dgh[gh_row..gh_row + 3 * H].split_at_mut(H);
                let (gh_z, gh_n) = rest.split_at_mut(H);
                let d = &dh[b * H..(b + 1) * H];
                let direct = &mut dh_direct[b * H..(b + 1) * H];
                let (r, z, n) = (
                    &tape.r[cell.clone()],
                    &tape.z[cell.clone()],
                    &tape.n[cell.clone()],
                );
                let (ghn, hp) = (&tape.ghn[cell.clone()], &tape.h_prev[cell]);
                // Every slice is exactly H long and each loop is one zip: they compile without
                // bounds checks and vectorise.
                let (gi_r, gi_z, gi_n) = (&mut gi_r[..H], &mut gi_z[..H], &mut gi_n[..H]);
                let gates = r.iter().zip(z).zip(n.iter().zip(ghn));
                let inputs = hp.iter().zip(d);
                for ((((dr, dz), dn), ((&r, &z), (&n, &ghn))), (&hp, &d)) in gi_r
                    .iter_mut()
                    .zip(gi_z.iter_mut())
                    .zip(gi_n.iter_mut())
                    .zip(gates)
                    .zip(inputs)
                {
                    *dn = d * (1.0 - z) * (1.0 - n * n);
                    *dr = *dn * ghn * r * (1.0 - r);
                    *dz = d * (hp - n) * z * (1.0 - z);
                }
                gh_r.copy_from_slice(gi_r);
                gh_z.copy_from_slice(gi_z);
                gh_n.iter_mut()
                    .zip(gi_n.iter())
                    .zip(r)
                    .for_each(|((o, dn), r)| *o = dn * r);
                direct
                    .iter_mut()
                    .zip(d)
                    .zip(z)
                    .for_each(|((o, d), z)| *o = d * z);
            }
            if s > 0 {
                let rows = &dgh[s * batch * 3 * H..(s + 1) * batch * 3 * H];
                through.fill(0.0);
                matmul_acc(simd, rows, 3 * H, batch, &w_hh_t, &mut through);
                for ((d, a), t) in dh
                    .chunks_exact_mut(H)
                    .zip(dh_direct.chunks_exact(H))
                    .zip(through.chunks_exact(stride))
                {
                    d.iter_mut()
                        .zip(a.iter().zip(t))
                        .for_each(|(d, (a, t))| *d = a + t);
                }
            }
        }
        let b_ih = column_sums(&dgi, 3 * H);
        let b_hh = column_sums(&dgh, 3 * H);
        let h_prev = matrix(tape.h_prev.clone(), steps * batch, H, &device);
        let dgi = matrix(dgi, batch * steps, 3 * H, &device);
        let dgh = matrix(dgh, steps * batch, 3 * H, &device);
        let dx = host(dgi.clone().matmul(self.w_ih.clone().transpose())); // [B·T, in]
        debug_assert_eq!(dx.len(), batch * steps * input);
        GruGrads {
            x: dx,
            w_ih: x.transpose().matmul(dgi),
            w_hh: h_prev.transpose().matmul(dgh),
            b_ih,
            b_hh,
        }
    }
}

/// [`GruParams::forward_rows_simd`] under [`pulp::Arch::dispatch`].
struct ForwardRows<'a> {
    params: &'a GruParams,
    x: Vec<f32>,
    batch: usize,
    steps: usize,
    tape: &'a mut RowsTape,
}

impl WithSimd for ForwardRows<'_> {
    type Output = Vec<f32>;

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> Vec<f32> {
        let ForwardRows {
            params,
            x,
            batch,
            steps,
            tape,
        } = self;
        params.forward_rows_simd(simd, x, batch, steps, tape)
    }
}

/// [`GruParams::backward_rows_simd`] under [`pulp::Arch::dispatch`].
struct BackwardRows<'a> {
    params: &'a GruParams,
    tape: &'a mut RowsTape,
    dh: Vec<f32>,
}

impl WithSimd for BackwardRows<'_> {
    type Output = GruGrads;

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> GruGrads {
        self.params.backward_rows_simd(simd, self.tape, self.dh)
    }
}
