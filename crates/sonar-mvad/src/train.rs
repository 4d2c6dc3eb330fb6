//! Fitting, as the reference (docs/mvad.md, "What is faithful"): loss = forecast SSE + β·(reconstruction
//! SSE + KL), Adam, Gaussian input noise σ 0.1 on the [0, 1]-clipped training windows,
//! attention dropout 0.5, best-validation-loss weights kept, threshold = the `level` quantile
//! of the training scores. Every random draw comes from one seeded ChaCha stream, so a seed
//! gives the same model on every run of this build.

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::calibrate::ScoreCalibration;
use crate::error::{MvadError, Result};
use crate::frame::Frame;
use crate::model::{window_outputs, ModelMeta, MvadModel, TrainingSummary};
use crate::native::NativeNet;
use crate::net::{MvadNet, TrainNoise};
use crate::params::MvadParams;
use crate::preprocess::{self, Normalizer, INFER_CLIP};
use crate::score;
use crate::weights::{standard_normal, Weights, BATCH_NORMS, GAT_WINDOW, HIDDEN};

/// Standard deviation of the Gaussian noise added to training inputs.
const INPUT_NOISE: f64 = 0.1;
/// Attention dropout probability (hard-coded in the reference's GAT).
const ATTN_DROPOUT: f64 = 0.5;

/// One epoch's progress, reported to the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochReport {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Upper bound of epochs.
    pub epochs: usize,
    /// Per-sample training loss.
    pub train_loss: f64,
    /// Per-sample validation loss (0 without validation windows, as the reference).
    pub val_loss: f64,
    /// Whether this epoch's weights are the best so far (and kept).
    pub improved: bool,
    /// Optimizer steps so far.
    pub steps: usize,
    /// Wall time of this epoch's optimizer steps.
    pub train_time: std::time::Duration,
    /// Wall time of this epoch's validation pass.
    pub val_time: std::time::Duration,
}

/// Receives progress and may cancel training between batches.
pub trait TrainObserver {
    /// Called after each epoch.
    fn epoch(&mut self, _report: &EpochReport) {}
    /// Polled between batches; `true` stops training with [`MvadError::Cancelled`].
    fn cancelled(&self) -> bool {
        false
    }
}

/// An observer that ignores everything.
impl TrainObserver for () {}

/// Training data needs, derived from the parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataNeeds {
    /// Rows needed for at least one optimizer step under the parameters' rules.
    pub min_rows: usize,
}

/// Rows needed to train: the training split (`⌊train_ratio · N⌋`) must hold `W` rows of
/// context plus enough stride-`interval` windows for one batch (one full batch under the
/// reference's drop-last rule, two windows otherwise: BatchNorm needs two samples).
pub fn data_needs(params: &MvadParams) -> DataNeeds {
    let w = params.windows().input;
    let windows = if params.rules.keep_partial_batch {
        2
    } else {
        params.batch_size
    };
    let train_rows = w + windows * params.interval;
    // Smallest N with ⌊ratio · N⌋ ≥ train_rows.
    let mut n = (train_rows as f64 / params.train_ratio).floor() as usize;
    while ((params.train_ratio * n as f64) as usize) < train_rows {
        n += 1;
    }
    DataNeeds { min_rows: n }
}

/// Fits a detector on `frame` (the reference's `fit`).
pub fn fit(
    frame: &Frame,
    params: &MvadParams,
    observer: &mut dyn TrainObserver,
) -> Result<MvadModel> {
    params.validate()?;
    let device = crate::device::compute_device(&params.device)?;
    let ws = params.windows();
    let w = ws.input;
    let needs = data_needs(params);
    if frame.n_rows() < needs.min_rows {
        return Err(MvadError::NotEnoughData {
            action: "train",
            rows: frame.n_rows(),
            minimum: needs.min_rows,
            why: format!(
                "the first {:.0}% of rows must hold W = {w} rows of context plus {} windows at stride {}{}",
                params.train_ratio * 100.0,
                if params.rules.keep_partial_batch { 2 } else { params.batch_size },
                params.interval,
                if params.rules.keep_partial_batch { "" } else { " (one full batch: the reference drops partial batches)" }
            ),
        });
    }
    let prepared = preprocess::prepare(frame, params.fill);
    let (n, k) = (prepared.n(), prepared.k());
    let (pct_weight, _) = preprocess::pct_weight(frame, ws.min_score_rows());
    let train_len = (params.train_ratio * n as f64) as usize;
    let val_len = (params.val_ratio * n as f64) as usize;
    let norm = Normalizer::fit(&prepared.values, k, train_len);
    let train_series = norm.apply(&prepared.values[..train_len * k], 0.0, 1.0);
    let val_series = norm.apply(
        &prepared.values[train_len * k..(train_len + val_len) * k],
        -INFER_CLIP,
        INFER_CLIP,
    );
    let mut train_ends = preprocess::window_ends(train_len, w, params.interval);
    let mut val_ends = preprocess::window_ends(val_len, w, 1);
    if let Some(cap) = params.rules.max_validation_windows {
        if val_ends.len() > cap {
            let step = val_ends.len() as f64 / cap as f64;
            val_ends = (0..cap)
                .map(|i| val_ends[(i as f64 * step) as usize])
                .collect();
        }
    }

    let mut trainer = Trainer::on_device(k, params, device);
    let mut best: Option<(f64, Weights, usize)> = None;
    let (mut train_losses, mut val_losses) = (Vec::new(), Vec::new());
    let mut since_best = 0;
    for epoch in 1..=params.epochs {
        let started = std::time::Instant::now();
        train_ends.shuffle(&mut trainer.rng);
        let (mut loss_sum, mut samples) = (0.0, 0usize);
        for batch in train_ends.chunks(params.batch_size) {
            let full = batch.len() == params.batch_size;
            // Drop-last as the reference, or keep partial batches (BatchNorm needs 2 samples).
            if (!full && !params.rules.keep_partial_batch) || batch.len() < 2 {
                continue;
            }
            if observer.cancelled() {
                return Err(MvadError::Cancelled);
            }
            let (x, y) = preprocess::gather_windows(&train_series, k, w, batch);
            loss_sum += trainer.step(x, y);
            samples += batch.len();
        }
        let train_loss = if samples > 0 {
            loss_sum / samples as f64
        } else {
            0.0
        };
        let train_time = started.elapsed();
        let started = std::time::Instant::now();
        let weights = trainer.net.valid().to_weights(&trainer.batches_tracked);
        let val_loss = validation_loss(
            &NativeNet::new(&weights),
            &val_series,
            k,
            w,
            &val_ends,
            params.beta,
        );
        let val_time = started.elapsed();
        train_losses.push(train_loss);
        val_losses.push(val_loss);
        let improved = best.as_ref().is_none_or(|(b, _, _)| val_loss < *b);
        if improved {
            best = Some((val_loss, weights, epoch));
            since_best = 0;
        } else {
            since_best += 1;
        }
        observer.epoch(&EpochReport {
            epoch,
            epochs: params.epochs,
            train_loss,
            val_loss,
            improved,
            steps: trainer.steps,
            train_time,
            val_time,
        });
        if params
            .rules
            .early_stopping_patience
            .is_some_and(|p| since_best >= p)
        {
            break;
        }
    }
    let (_, weights, best_epoch) = best.expect("at least one epoch runs");

    // Threshold: scores of the best model over the training split, stride 1, clip ±1000.
    let eval = NativeNet::new(&weights);
    let series = norm.apply(&prepared.values[..train_len * k], -INFER_CLIP, INFER_CLIP);
    let ends = preprocess::window_ends(train_len, w, 1);
    let out = window_outputs(&eval, &series, k, w, &ends);
    let held_out = HeldOut::measure(
        &eval,
        &prepared.values,
        &norm,
        (train_len, w),
        &params.scoring,
        &pct_weight,
    );
    let error_scales = held_out.scales;
    let observed = preprocess::rows_at(&prepared.values, k, &ends);
    let werr =
        params
            .scoring
            .variable_errors(&out, &observed, &pct_weight, &norm, Some(&error_scales));
    let scores = params.scoring.row_scores(&werr, k);
    let threshold =
        score::quantile_threshold(&scores, params.level).expect("training windows exist");
    let meta = ModelMeta {
        format: None,
        format_version: None,
        library: None,
        library_version: None,
        variables: prepared.names.clone(),
        input_size: w,
        threshold_window: ws.threshold,
        sliding_window: params.sliding_window,
        normalize_base: norm,
        pct_weight,
        threshold,
        train_score_max: scores.iter().copied().reduce(f64::max),
        train_score_min: scores.iter().copied().reduce(f64::min),
        train_score_quantiles: Some(
            [0.5f64, 0.8, 0.9, 0.95, 0.99, 0.999, 1.0]
                .iter()
                .map(|&q| {
                    (
                        q,
                        score::quantile_threshold(&scores, q.min(1.0 - 1e-12)).unwrap_or(threshold),
                    )
                })
                .collect(),
        ),
        fill_na_method: params.fill.name().into(),
        fill_na_value: match params.fill {
            crate::preprocess::FillMethod::Fixed(v) => v,
            _ => 0.0,
        },
        params: Some(params.clone()),
        training_range: prepared
            .index
            .first()
            .cloned()
            .zip(prepared.index.last().cloned()),
        training: Some(TrainingSummary {
            epochs_run: train_losses.len(),
            best_epoch,
            steps: trainer.steps,
            train_loss: train_losses,
            val_loss: val_losses,
        }),
        error_scales: Some(error_scales),
        calibration: held_out.calibration,
        schema: None,
    };
    debug_assert!(BATCH_NORMS.len() == weights.batches_tracked.len());
    MvadModel::new(meta, weights)
}

/// One model under training: the network on an autodiff device, Adam, and the seeded random
/// stream. [`fit`] drives it; it is public for benchmarks and custom loops.
pub struct Trainer {
    net: MvadNet,
    optim: burn::optim::ModuleOptimizer,
    rng: ChaCha8Rng,
    device: Device,
    batches_tracked: std::collections::BTreeMap<String, i64>,
    k: usize,
    lr: f64,
    beta: f64,
    steps: usize,
    fused_gru: bool,
    gru_tape: crate::fused_gru::GruTape,
}

impl Trainer {
    /// A freshly initialised network for `k` variables on the CPU, seeded by `params.seed`.
    pub fn new(k: usize, params: &MvadParams) -> Self {
        Self::on_device(k, params, Device::flex())
    }

    /// The same on a given compute device.
    pub fn on_device(k: usize, params: &MvadParams, device: Device) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
        let initial = Weights::init(k, &mut rng);
        let device = device.autodiff();
        Self {
            net: MvadNet::from_weights(&initial, &device),
            optim: AdamConfig::new().with_epsilon(1e-8).init(),
            rng,
            device,
            batches_tracked: initial.batches_tracked,
            k,
            lr: params.lr,
            beta: params.beta,
            steps: 0,
            // `fit` passes the device `params.device` names; only the CPU runs the host loops.
            fused_gru: params.device == "cpu",
            gru_tape: Default::default(),
        }
    }

    /// Chooses how the GRU is differentiated: `true` (the default on the CPU) runs
    /// [`crate::fused_gru`], its own forward and backward pass; `false` records every time step
    /// in burn's autodiff (the default on a GPU device, where host loops would be slow). Both
    /// compute the same gradients up to float rounding.
    pub fn set_fused_gru(&mut self, fused: bool) {
        self.fused_gru = fused;
    }

    /// One optimizer step on a batch: windows `x` (`[B, W, k]` flattened, in [0, 1]) and
    /// targets `y` (`[B, k]`). Adds the input noise, draws dropout and ε, returns the batch's
    /// summed loss.
    pub fn step(&mut self, mut x: Vec<f32>, y: Vec<f32>) -> f64 {
        let (k, device) = (self.k, &self.device);
        let b = y.len() / k;
        let w = x.len() / (b * k);
        let rng = &mut self.rng;
        for v in x.iter_mut() {
            *v += (INPUT_NOISE * standard_normal(rng) as f64) as f32;
        }
        let x = Tensor::<3>::from_data(TensorData::new(x, [b, w, k]), device);
        let y = Tensor::<2>::from_data(TensorData::new(y, [b, k]), device);
        let eps: Vec<f32> = (0..b * HIDDEN).map(|_| standard_normal(rng)).collect();
        let noise = TrainNoise {
            time_mask: dropout_mask([b, GAT_WINDOW, GAT_WINDOW], rng, device),
            feat_mask: dropout_mask([b, k, k], rng, device),
            vae_eps: Tensor::from_data(TensorData::new(eps, [b, HIDDEN]), device),
        };
        let (value, grads) = self.gradients(x, y, noise);
        self.net = self.optim.step(self.lr, self.net.clone(), grads);
        self.steps += 1;
        self.batches_tracked.values_mut().for_each(|c| *c += 1);
        value
    }
}

impl Trainer {
    /// The summed loss of one batch and the gradients of every parameter.
    fn gradients(
        &mut self,
        x: Tensor<3>,
        y: Tensor<2>,
        noise: TrainNoise,
    ) -> (f64, GradientsParams) {
        if self.fused_gru {
            self.fused_gradients(x, y, noise)
        } else {
            let out = self.net.forward(x, Some(noise));
            let loss = batch_loss(out, y, self.beta);
            let value = f64::from(loss.clone().into_scalar::<f32>());
            (
                value,
                GradientsParams::from_grads(loss.backward(), &self.net),
            )
        }
    }

    /// The loss and gradients of one batch with the GRU differentiated by
    /// [`crate::fused_gru`]: the network before the GRU and the heads after it stay in burn's
    /// autodiff as two separate graphs. The heads' backward pass gives the gradient of the
    /// GRU's final state; the GRU's own backward pass turns it into the gradient of its input
    /// sequence, which a second, small backward pass (of `Σ seq·dseq`) carries into the
    /// attention parameters.
    fn fused_gradients(
        &mut self,
        x: Tensor<3>,
        y: Tensor<2>,
        noise: TrainNoise,
    ) -> (f64, GradientsParams) {
        let encoded = self.net.encode(x, Some(noise));
        let [b, steps, input] = encoded.seq.dims();
        let seq_values = encoded
            .seq
            .clone()
            .inner()
            .into_data()
            .try_into_vec::<f32>()
            .expect("network tensors are float32");
        let gru = self.net.gru_params();
        let h = gru.forward(seq_values, b, steps, &mut self.gru_tape);
        let h =
            Tensor::<2>::from_data(TensorData::new(h, [b, HIDDEN]), &self.device).require_grad();
        let out = self.net.heads(h.clone(), encoded.eps, encoded.feat_attn);
        let loss = batch_loss(out, y, self.beta);
        let value = f64::from(loss.clone().into_scalar::<f32>());
        let mut grads = loss.backward();
        let dh = h
            .grad_remove(&mut grads)
            .expect("the heads depend on the GRU state")
            .into_data()
            .try_into_vec::<f32>()
            .expect("network tensors are float32");
        let mut params = GradientsParams::from_grads(grads, &self.net);
        let mut gru_grads = gru.backward(&mut self.gru_tape, dh);
        let dseq = Tensor::<3>::from_data(
            TensorData::new(std::mem::take(&mut gru_grads.x), [b, steps, input]),
            &self.device,
        );
        let upstream = (encoded.seq * dseq).sum().backward();
        self.net
            .register_split_grads(&upstream, gru_grads, &mut params);
        (value, params)
    }
}

/// Held-out windows scored for the error scales and the calibration, at most (the most
/// recent ones, contiguous, so the trailing mean of the scores sees its neighbours).
const CALIBRATION_WINDOWS: usize = 8192;
/// A held-out window whose raw score is rarer than this under a first calibration is taken
/// for contamination (an incident inside the training window) and left out of the second.
const CONTAMINATION_P: f64 = 1e-3;
/// At most this share of the held-out windows is left out as extreme single windows: the
/// tail fit reads quantiles up to the 95th, so more could not be told from a heavy tail.
const MAX_SPIKES: f64 = 0.05;
/// At most this share of the held-out windows is left out as contaminated runs: the robust tail
/// that flags them reads quantiles up to the 87.5th, so more could not be told from a heavy
/// normal tail.
const MAX_CONTAMINATION: f64 = 0.125;

/// What the rows after the training split (validation and the rest: never trained on)
/// say about the trained network: the error scales standardised scoring divides by, and the
/// calibration of the scores (docs/mvad.md "Calibration"). When there are no such rows
/// (`train_ratio` 1), the training rows stand in.
struct HeldOut {
    scales: score::ErrorScales,
    calibration: Option<ScoreCalibration>,
}

impl HeldOut {
    /// Two passes, so that an incident inside the training window neither inflates the error
    /// scales nor widens the calibration's tail: the first scores every window, extreme
    /// windows ([`extreme`]) and sustained runs ([`contaminated`], with the windows their
    /// trailing means read) are set aside, and the second measures scales and calibration on
    /// the others, leaving out every trailing mean that includes a set-aside window.
    fn measure(
        net: &NativeNet,
        values: &[f64],
        norm: &Normalizer,
        (train_len, w): (usize, usize),
        scoring: &score::Scoring,
        pct_weight: &[f64],
    ) -> Self {
        let k = norm.k();
        let n = values.len() / k.max(1);
        let first = if n > train_len.max(w) { train_len } else { 0 };
        let first = first.max(w).max(n.saturating_sub(CALIBRATION_WINDOWS));
        let ends: Vec<usize> = (first..n).collect();
        let series = norm.apply(values, -INFER_CLIP, INFER_CLIP);
        let out = window_outputs(net, &series, k, w, &ends);
        let observed = preprocess::rows_at(values, k, &ends);
        let everything = vec![true; ends.len()];
        let scales = score::ErrorScales::measure_kept(&out, &observed, norm, &everything);
        let werr = scoring.variable_errors(&out, &observed, pct_weight, norm, Some(&scales));
        let raw = score::row_scores(&werr, k);
        let first_scores = scoring.row_scores(&werr, k);
        // Two signs of contamination. A window whose own error is extreme under a fit of all
        // of them ([`extreme`]); and a sustained run, seen in the scores the calibration
        // describes (trailing means under the default scoring) under a robust tail
        // ([`contaminated`]): sparse alert data have isolated spikes whose height says little,
        // an incident lasts, and a long one would mask itself in the first test.
        let spikes = extreme(&raw);
        let runs = contaminated(&first_scores);
        if !spikes.contains(&true) && !runs.contains(&true) {
            return Self {
                scales,
                calibration: ScoreCalibration::fit(&first_scores),
            };
        }
        // Left out of the scales: the flagged windows and the windows whose errors entered a
        // flagged mean. Left out of the calibration: every mean that includes one of them.
        let smooth = scoring.smooth_rows.max(1);
        let mut dirty = spikes;
        for (i, _) in runs.iter().enumerate().filter(|(_, f)| **f) {
            dirty[(i + 1).saturating_sub(smooth)..=i]
                .iter_mut()
                .for_each(|d| *d = true);
        }
        let clean: Vec<bool> = dirty.iter().map(|d| !d).collect();
        let scales = score::ErrorScales::measure_kept(&out, &observed, norm, &clean);
        let werr = scoring.variable_errors(&out, &observed, pct_weight, norm, Some(&scales));
        let smoothed = scoring.row_scores(&werr, k);
        let mut left_out = vec![false; ends.len()];
        for (i, _) in dirty.iter().enumerate().filter(|(_, d)| **d) {
            let span = i..(i + smooth).min(ends.len());
            left_out[span].iter_mut().for_each(|l| *l = true);
        }
        let kept: Vec<f64> = smoothed
            .iter()
            .zip(&left_out)
            .filter(|(_, l)| !**l)
            .map(|(s, _)| *s)
            .collect();
        let calibration = ScoreCalibration::fit(&kept).map(|mut c| {
            c.excluded = ends.len() - kept.len();
            c
        });
        Self {
            scales,
            calibration,
        }
    }
}

/// Which scores look like contamination: rarer than [`CONTAMINATION_P`] under a robust
/// tail of the scores themselves, at most the [`MAX_CONTAMINATION`] share of them (the most
/// extreme first). The tail is a generalised Pareto fitted by Pickands above the median, on
/// the 50th, 75th and 87.5th percentiles: an incident that fills up to an eighth of the
/// held-out windows moves none of them by more than its ranks, so it cannot mask itself (the
/// final calibration's tail, fitted on the 80th to 95th percentiles, would be widened by it).
fn contaminated(scores: &[f64]) -> Vec<bool> {
    let mut flags = vec![false; scores.len()];
    let mut sorted: Vec<f64> = scores.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.len() < 8 {
        return flags;
    }
    sorted.sort_by(f64::total_cmp);
    let at = |level: f64| {
        let pos = level * (sorted.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
    };
    let u = at(0.5);
    let (y1, y2) = (at(0.75) - u, at(0.875) - u);
    if !(y1 > 0.0 && y2 >= y1) {
        return flags;
    }
    let (xi, sigma) = crate::calibrate::pickands(y1, y2);
    let p = |score: f64| {
        if score.is_nan() || score <= u {
            return 1.0;
        }
        0.5 * crate::calibrate::gpd_survival((score - u) / sigma, xi)
    };
    let mut rare: Vec<(f64, usize)> = scores
        .iter()
        .enumerate()
        .map(|(i, &s)| (p(s), i))
        .filter(|(p, _)| *p < CONTAMINATION_P)
        .collect();
    rare.sort_by(|a, b| a.0.total_cmp(&b.0));
    let cap = (MAX_CONTAMINATION * scores.len() as f64) as usize;
    rare.into_iter()
        .take(cap)
        .for_each(|(_, i)| flags[i] = true);
    flags
}

/// Which scores are rarer than [`CONTAMINATION_P`] under a calibration of all of them, at
/// most [`MAX_SPIKES`] of them (the most extreme first).
fn extreme(scores: &[f64]) -> Vec<bool> {
    let mut flags = vec![false; scores.len()];
    let Some(cal) = ScoreCalibration::fit(scores) else {
        return flags;
    };
    let mut rare: Vec<(f64, usize)> = scores
        .iter()
        .enumerate()
        .map(|(i, &s)| (cal.tail_probability(s), i))
        .filter(|(p, _)| *p < CONTAMINATION_P)
        .collect();
    rare.sort_by(|a, b| a.0.total_cmp(&b.0));
    let cap = (MAX_SPIKES * scores.len() as f64) as usize;
    rare.into_iter()
        .take(cap)
        .for_each(|(_, i)| flags[i] = true);
    flags
}

/// `β·(recon SSE + KL) + forecast SSE`, summed over the batch.
fn batch_loss(out: crate::net::NetOutput, y: Tensor<2>, beta: f64) -> Tensor<1> {
    let pred = (out.x_pred - y.clone()).square().sum();
    let recon = (out.x_recon - y).square().sum();
    let kl = (out.logv.clone().add_scalar(1.0) - out.mu.square() - out.logv.exp())
        .sum()
        .mul_scalar(-0.5);
    (recon + kl).mul_scalar(beta) + pred
}

/// Per-sample validation loss in evaluation mode (0 without windows, as the reference), the
/// loss of [`batch_loss`] computed on the native forward's outputs.
fn validation_loss(
    net: &NativeNet,
    series: &[f32],
    k: usize,
    w: usize,
    ends: &[usize],
    beta: f64,
) -> f64 {
    if ends.is_empty() {
        return 0.0;
    }
    let sq = |a: &[f32], y: &[f32]| -> f64 {
        a.iter().zip(y).map(|(p, t)| f64::from(p - t).powi(2)).sum()
    };
    let mut sum = 0.0;
    for chunk in ends.chunks(256) {
        let (x, y) = preprocess::gather_windows(series, k, w, chunk);
        for (r, y) in net.forward(&x, chunk.len()).iter().zip(y.chunks_exact(k)) {
            let kl: f64 = r
                .logv
                .iter()
                .zip(&r.mu)
                .map(|(&lv, &m)| {
                    let (lv, m) = (f64::from(lv), f64::from(m));
                    lv + 1.0 - m * m - lv.exp()
                })
                .sum::<f64>()
                * -0.5;
            sum += beta * (sq(&r.x_recon, y) + kl) + sq(&r.x_pred, y);
        }
    }
    sum / ends.len() as f64
}

/// Inverted dropout mask: 0 with probability p, 1/(1−p) otherwise. With p = ½ (the
/// reference's), each element takes one bit of a 64-bit draw instead of a draw of its own.
fn dropout_mask(shape: [usize; 3], rng: &mut ChaCha8Rng, device: &Device) -> Tensor<3> {
    const _: () = assert!(
        ATTN_DROPOUT == 0.5,
        "the mask uses one fair bit per element"
    );
    let keep = (1.0 / (1.0 - ATTN_DROPOUT)) as f32;
    let len = shape.iter().product::<usize>();
    let mut data = Vec::with_capacity(len);
    while data.len() < len {
        let bits = rng.next_u64();
        let take = (len - data.len()).min(64);
        data.extend((0..take).map(|i| if bits >> i & 1 == 1 { keep } else { 0.0 }));
    }
    Tensor::from_data(TensorData::new(data, shape), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn data_needs_state_the_minimum_rows() {
        let p = MvadParams {
            sliding_window: Some(200),
            ..MvadParams::reference()
        };
        // Reference: ⌊0.8N⌋ ≥ W + 1280 → N ≥ 1,725 for sliding_window 200.
        assert_eq!(data_needs(&p).min_rows, 1725);
        let ours = MvadParams {
            sliding_window: Some(200),
            ..MvadParams::default()
        };
        assert_eq!(data_needs(&ours).min_rows, 150);
    }

    /// Every parameter's gradient, by torch name: the change one plain SGD step of rate 1
    /// makes to the weights.
    fn named_gradients(t: &Trainer, grads: GradientsParams) -> Weights {
        let before = t.net.valid().to_weights(&t.batches_tracked);
        let mut sgd = burn::optim::SgdConfig::new().init();
        let after = sgd
            .step(1.0, t.net.clone(), grads)
            .valid()
            .to_weights(&t.batches_tracked);
        let mut diff = before.clone();
        for (name, tensor) in diff.tensors.iter_mut() {
            for (d, a) in tensor.data.iter_mut().zip(&after.tensors[name].data) {
                *d -= a;
            }
        }
        diff
    }

    #[test]
    fn fused_gru_gives_the_gradients_of_burns_autodiff() {
        let (k, b, w) = (3, 5, 30);
        let params = MvadParams {
            sliding_window: Some(2 * w),
            ..MvadParams::default()
        };
        let mut t = Trainer::new(k, &params);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let x: Vec<f32> = (0..b * w * k).map(|_| rng.gen_range(0.0..1.0)).collect();
        let y: Vec<f32> = (0..b * k).map(|_| rng.gen_range(0.0..1.0)).collect();
        let device = t.device.clone();
        let batch = |seed: u64| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let eps: Vec<f32> = (0..b * HIDDEN).map(|_| standard_normal(&mut rng)).collect();
            (
                Tensor::<3>::from_data(TensorData::new(x.clone(), [b, w, k]), &device),
                Tensor::<2>::from_data(TensorData::new(y.clone(), [b, k]), &device),
                TrainNoise {
                    time_mask: dropout_mask([b, GAT_WINDOW, GAT_WINDOW], &mut rng, &device),
                    feat_mask: dropout_mask([b, k, k], &mut rng, &device),
                    vae_eps: Tensor::from_data(TensorData::new(eps, [b, HIDDEN]), &device),
                },
            )
        };
        t.set_fused_gru(true);
        let (x1, y1, n1) = batch(11);
        let (fused_loss, fused) = t.gradients(x1, y1, n1);
        let fused = named_gradients(&t, fused);
        t.set_fused_gru(false);
        let (x2, y2, n2) = batch(11);
        let (burn_loss, reference) = t.gradients(x2, y2, n2);
        let reference = named_gradients(&t, reference);

        assert!(
            (fused_loss - burn_loss).abs() <= 1e-5 * burn_loss.abs(),
            "{fused_loss} vs {burn_loss}"
        );
        // Zero in exact arithmetic, float noise in both: the attention keys (a softmax over j
        // ignores a term that depends on i only) and the biases of linear layers feeding a
        // batch norm in training mode (the batch mean removes them).
        let zero_in_theory = |name: &str| {
            name.ends_with("weight_key")
                || [
                    "vae.Encoder.0.",
                    "vae.Encoder.3.",
                    "vae.Decoder.0.",
                    "vae.Decoder.3.",
                ]
                .iter()
                .any(|p| name.starts_with(p) && name.ends_with("bias"))
        };
        let largest = |w: &Weights| {
            w.tensors
                .values()
                .flat_map(|t| t.data.iter())
                .fold(0.0f32, |m, v| m.max(v.abs()))
        };
        let overall = largest(&reference);
        for (name, want) in &reference.tensors {
            let got = &fused.tensors[name].data;
            let scale = want.data.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            if zero_in_theory(name) {
                let noise = scale.max(got.iter().fold(0.0f32, |m, v| m.max(v.abs())));
                assert!(
                    noise <= 1e-4 * overall,
                    "{name}: {noise:e} is not float noise"
                );
                continue;
            }
            let worst = got
                .iter()
                .zip(&want.data)
                .fold(0.0f32, |m, (g, w)| m.max((g - w).abs()));
            assert!(
                worst <= 1e-4 * scale,
                "{name}: worst difference {worst:e} against gradients up to {scale:e}"
            );
            if name.starts_with("gru.") || name.ends_with("weight_query") {
                assert!(scale > 1e-3, "{name}: no gradient reached it");
            }
        }
    }
}
