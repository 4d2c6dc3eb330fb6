//! Fitting, as the reference (docs/mvad.md, "What is faithful"): loss = forecast SSE + β·(reconstruction
//! SSE + KL), Adam, Gaussian input noise σ 0.1 on the [0, 1]-clipped training windows,
//! attention dropout 0.5, best-validation-loss weights kept, threshold = the `level` quantile
//! of the training scores. Every random draw comes from one seeded ChaCha stream, so a seed
//! gives the same model on every run of this build.

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::time::{Duration, Instant};

use crate::calibrate::ScoreCalibration;
use crate::error::{MvadError, Result};
use crate::frame::Frame;
use crate::model::{window_outputs, ModelMeta, MvadModel, TrainingSummary};
use crate::native::NativeNet;
use crate::net::{MvadNet, TrainNoise};
use crate::params::MvadParams;
use crate::preprocess::{self, Normalizer, INFER_CLIP};
use crate::score;
use crate::subspace::{Subspace, KEPT_VARIANCE};
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
    fit_shared(std::slice::from_ref(frame), params, None, observer)?.model_for(frame)
}

/// A network trained on several series ([`fit_shared`]); [`SharedFit::model_for`] makes it a
/// model of one series.
#[derive(Debug, Clone)]
pub struct SharedFit {
    weights: Weights,
    summary: TrainingSummary,
    params: MvadParams,
    /// The training series' columns, sorted.
    names: Vec<String>,
}

impl SharedFit {
    /// What training did.
    pub fn summary(&self) -> &TrainingSummary {
        &self.summary
    }

    /// The network's weights (stored once for all members: [`MvadModel::with_meta_file`]).
    pub fn weights(&self) -> &Weights {
        &self.weights
    }

    /// A model of `frame`'s series (same columns as the training series; one of them or
    /// another): the shared weights with the series' own normalisation, error scales,
    /// calibration and threshold, each measured on its own training split as [`fit`] does.
    pub fn model_for(&self, frame: &Frame) -> Result<MvadModel> {
        let one = TrainingSeries::new(frame, &self.params)?;
        if one.prepared.names != self.names {
            return Err(MvadError::InvalidData(format!(
                "the series has the columns {:?}, the shared network was trained on {:?}",
                one.prepared.names, self.names
            )));
        }
        finish(
            &one,
            &NativeNet::new(&self.weights),
            &self.weights,
            &self.params,
            self.summary.clone(),
        )
    }
}

/// One training series after the reference's preprocessing: filled, normalised on its own
/// training split, and cut into that split and the validation split.
struct TrainingSeries {
    prepared: preprocess::Prepared,
    pct_weight: Vec<f64>,
    norm: Normalizer,
    train_len: usize,
    train: Vec<f32>,
    val: Vec<f32>,
}

impl TrainingSeries {
    fn new(frame: &Frame, params: &MvadParams) -> Result<Self> {
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
        let train = norm.apply(&prepared.values[..train_len * k], 0.0, 1.0);
        let val = norm.apply(
            &prepared.values[train_len * k..(train_len + val_len) * k],
            -INFER_CLIP,
            INFER_CLIP,
        );
        Ok(Self {
            prepared,
            pct_weight,
            norm,
            train_len,
            train,
            val,
        })
    }
}

/// Fits one network on several series with the same columns (one per entity, say), each
/// normalised on its own training split. Windows never cross series. `epoch_windows` caps the
/// training windows of an epoch (a fresh random subset of all series' windows each epoch;
/// `None`: every window). The validation loss is the mean over all series' validation
/// windows, and `max_validation_windows` caps them together. One frame and `None` is exactly
/// [`fit`]'s training.
pub fn fit_shared(
    frames: &[Frame],
    params: &MvadParams,
    epoch_windows: Option<usize>,
    observer: &mut dyn TrainObserver,
) -> Result<SharedFit> {
    params.validate()?;
    let device = crate::device::compute_device(&params.device)?;
    let w = params.windows().input;
    if frames.is_empty() {
        return Err(MvadError::InvalidData("no series to train on".into()));
    }
    let series = frames
        .iter()
        .map(|frame| TrainingSeries::new(frame, params))
        .collect::<Result<Vec<_>>>()?;
    let names = &series[0].prepared.names;
    if let Some((i, other)) = series
        .iter()
        .enumerate()
        .find(|(_, s)| &s.prepared.names != names)
    {
        return Err(MvadError::InvalidData(format!(
            "series {i} has the columns {:?}, series 0 has {names:?}: a shared model needs the same columns in every series",
            other.prepared.names
        )));
    }
    let k = names.len();
    // (series, window end) pairs.
    let mut train_picks: Vec<(usize, usize)> = Vec::new();
    let mut val_picks: Vec<(usize, usize)> = Vec::new();
    for (s, one) in series.iter().enumerate() {
        let train_ends = preprocess::window_ends(one.train_len, w, params.interval);
        train_picks.extend(train_ends.into_iter().map(|e| (s, e)));
        let val_ends = preprocess::window_ends(one.val.len() / k.max(1), w, 1);
        val_picks.extend(val_ends.into_iter().map(|e| (s, e)));
    }
    if let Some(cap) = params.rules.max_validation_windows {
        if val_picks.len() > cap {
            let step = val_picks.len() as f64 / cap as f64;
            val_picks = (0..cap)
                .map(|i| val_picks[(i as f64 * step) as usize])
                .collect();
        }
    }
    let train_series: Vec<&[f32]> = series.iter().map(|s| s.train.as_slice()).collect();
    let val_series: Vec<&[f32]> = series.iter().map(|s| s.val.as_slice()).collect();

    let mut trainer = Trainer::on_device(k, params, device);
    let mut best: Option<(f64, Weights, usize)> = None;
    let (mut train_losses, mut val_losses) = (Vec::new(), Vec::new());
    let mut stop = EarlyStop::new(&params.rules);
    for epoch in 1..=params.epochs {
        let started = std::time::Instant::now();
        train_picks.shuffle(&mut trainer.rng);
        let drawn = &train_picks
            [..epoch_windows.map_or(train_picks.len(), |cap| cap.min(train_picks.len()))];
        let (mut loss_sum, mut samples) = (0.0, 0usize);
        for batch in drawn.chunks(params.batch_size) {
            let full = batch.len() == params.batch_size;
            // Drop-last as the reference, or keep partial batches (BatchNorm needs 2 samples).
            if (!full && !params.rules.keep_partial_batch) || batch.len() < 2 {
                continue;
            }
            if observer.cancelled() {
                return Err(MvadError::Cancelled);
            }
            let (x, y) = gather_picks(&train_series, k, w, batch);
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
            &val_picks,
            params.beta,
        );
        let val_time = started.elapsed();
        train_losses.push(train_loss);
        val_losses.push(val_loss);
        let improved = best.as_ref().is_none_or(|(b, _, _)| val_loss < *b);
        if improved {
            best = Some((val_loss, weights, epoch));
        }
        let stopping = stop.after_epoch(val_loss);
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
        if stopping {
            break;
        }
    }
    let (_, weights, best_epoch) = best.expect("at least one epoch runs");
    let summary = TrainingSummary {
        epochs_run: train_losses.len(),
        best_epoch,
        steps: trainer.steps,
        train_loss: train_losses,
        val_loss: val_losses,
    };
    Ok(SharedFit {
        weights,
        summary,
        params: params.clone(),
        names: series[0].prepared.names.clone(),
    })
}

/// One series' model from trained weights: its threshold, error scales and calibration.
fn finish(
    one: &TrainingSeries,
    eval: &NativeNet,
    weights: &Weights,
    params: &MvadParams,
    summary: TrainingSummary,
) -> Result<MvadModel> {
    let ws = params.windows();
    let w = ws.input;
    let (prepared, norm, train_len) = (&one.prepared, &one.norm, one.train_len);
    let k = prepared.k();
    // Threshold: scores of the best model over the training split, stride 1, clip ±1000.
    let series = norm.apply(&prepared.values[..train_len * k], -INFER_CLIP, INFER_CLIP);
    let ends = preprocess::window_ends(train_len, w, 1);
    let out = window_outputs(eval, &series, k, w, &ends);
    // The static part of the score (crate::subspace) is fitted on the same training split as
    // the normalisation; its scale, like the error scales, on the held-out rows.
    // Faithful models store none: the reference has no such part.
    let subspace = (params.scoring.error == score::ErrorKind::Standardised)
        .then(|| Subspace::fit(&prepared.values[..train_len * k], k, KEPT_VARIANCE))
        .flatten();
    let pct_weight = &one.pct_weight;
    let held_out = HeldOut::measure(
        eval,
        &prepared.values,
        norm,
        (train_len, w),
        (&params.scoring, pct_weight),
        subspace,
    );
    let error_scales = held_out.scales;
    let observed = preprocess::rows_at(&prepared.values, k, &ends);
    let werr =
        params
            .scoring
            .variable_errors(&out, &observed, pct_weight, norm, Some(&error_scales));
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
        normalize_base: norm.clone(),
        pct_weight: pct_weight.clone(),
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
        training: Some(summary),
        error_scales: Some(error_scales),
        calibration: held_out.calibration,
        schema: None,
    };
    debug_assert!(BATCH_NORMS.len() == weights.batches_tracked.len());
    MvadModel::new(meta, weights.clone())
}

/// [`preprocess::gather_windows`] over `(series, window end)` pairs.
fn gather_picks(
    series: &[&[f32]],
    k: usize,
    w: usize,
    picks: &[(usize, usize)],
) -> (Vec<f32>, Vec<f32>) {
    let mut x = Vec::with_capacity(picks.len() * w * k);
    let mut y = Vec::with_capacity(picks.len() * k);
    for &(s, e) in picks {
        x.extend_from_slice(&series[s][(e - w) * k..e * k]);
        y.extend_from_slice(&series[s][e * k..(e + 1) * k]);
    }
    (x, y)
}

/// The early stop ([`crate::TrainingRules`]'s `early_stopping_*`): an epoch makes progress
/// when the trailing mean of the last `smoothing` validation losses is below the best such
/// mean so far by more than `min_delta` of it; training stops after `patience` epochs without
/// progress. The validation loss is noisy enough that a plain "new minimum" rule keeps finding
/// tiny new minima and rarely stops (docs/benchmarks.md "Early stopping that fires").
struct EarlyStop {
    patience: Option<usize>,
    min_delta: f64,
    recent: std::collections::VecDeque<f64>,
    smoothing: usize,
    best: f64,
    since: usize,
}

impl EarlyStop {
    fn new(rules: &crate::params::TrainingRules) -> Self {
        Self {
            patience: rules.early_stopping_patience,
            min_delta: rules.early_stopping_min_delta,
            recent: Default::default(),
            smoothing: rules.early_stopping_smoothing.max(1),
            best: f64::INFINITY,
            since: 0,
        }
    }

    /// Records an epoch's validation loss; `true` when training should stop.
    fn after_epoch(&mut self, val_loss: f64) -> bool {
        self.recent.push_back(val_loss);
        if self.recent.len() > self.smoothing {
            self.recent.pop_front();
        }
        let smoothed = self.recent.iter().sum::<f64>() / self.recent.len() as f64;
        if smoothed < self.best * (1.0 - self.min_delta) {
            self.best = smoothed;
            self.since = 0;
        } else {
            // The reference point stays: slow progress adds up until it counts.
            self.since += 1;
        }
        self.patience.is_some_and(|p| self.since >= p)
    }
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
    encode_tape: crate::fused_encode::EncodeTape,
    profile: StepProfile,
}

/// Where the wall time of the optimizer steps went, summed over the steps so far
/// ([`Trainer::profile`]). With the GRU in burn's autodiff (no fused GRU) the whole forward
/// pass counts as `encode` and the whole backward pass as `heads_backward`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepProfile {
    /// Optimizer steps measured.
    pub steps: usize,
    /// Input noise, dropout masks and the VAE's ε, drawn on the host, and their upload.
    pub noise: Duration,
    /// Smoothing, pooling and both graph attentions (`fused_encode.rs` on the fused path, else
    /// burn, recorded for autodiff).
    pub encode: Duration,
    /// The fused GRU's forward pass.
    pub gru_forward: Duration,
    /// Forecast and VAE heads and the loss (burn, recorded for autodiff).
    pub heads: Duration,
    /// Backward pass of the heads and the loss (burn's autodiff).
    pub heads_backward: Duration,
    /// The fused GRU's backward pass.
    pub gru_backward: Duration,
    /// Backward pass of the attentions (`fused_encode.rs` on the fused path, else burn's
    /// autodiff of `Σ seq·dseq`).
    pub encode_backward: Duration,
    /// Adam's update of every parameter.
    pub update: Duration,
}

impl StepProfile {
    /// Total measured time.
    pub fn total(&self) -> Duration {
        self.noise
            + self.encode
            + self.gru_forward
            + self.heads
            + self.heads_backward
            + self.gru_backward
            + self.encode_backward
            + self.update
    }
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
            encode_tape: Default::default(),
            profile: StepProfile::default(),
        }
    }

    /// Chooses how the network before the heads is differentiated: `true` (the default on the
    /// CPU) runs [`crate::fused_encode`] and [`crate::fused_gru`], host loops with their own
    /// backward passes; `false` records every operation and GRU time step in burn's autodiff
    /// (the default on a GPU device, where host loops would be slow). Both compute the same
    /// gradients up to float rounding.
    pub fn set_fused_gru(&mut self, fused: bool) {
        self.fused_gru = fused;
    }

    /// Where the steps' time went so far.
    pub fn profile(&self) -> &StepProfile {
        &self.profile
    }

    /// One optimizer step on a batch: windows `x` (`[B, W, k]` flattened, in [0, 1]) and
    /// targets `y` (`[B, k]`). Adds the input noise, draws dropout and ε, returns the batch's
    /// summed loss.
    pub fn step(&mut self, mut x: Vec<f32>, y: Vec<f32>) -> f64 {
        let started = Instant::now();
        let k = self.k;
        let b = y.len() / k;
        let w = x.len() / (b * k);
        let rng = &mut self.rng;
        add_input_noise(&mut x, w * k, rng);
        let eps: Vec<f32> = (0..b * HIDDEN).map(|_| standard_normal(rng)).collect();
        let time_mask = dropout_mask(b * GAT_WINDOW * GAT_WINDOW, rng);
        let feat_mask = dropout_mask(b * k * k, rng);
        let batch = Batch {
            x,
            y,
            shape: [b, w, k],
            time_mask,
            feat_mask,
            eps,
        };
        self.profile.noise += started.elapsed();
        let (value, grads) = self.gradients(batch);
        let started = Instant::now();
        self.net = self.optim.step(self.lr, self.net.clone(), grads);
        self.profile.update += started.elapsed();
        self.profile.steps += 1;
        self.steps += 1;
        self.batches_tracked.values_mut().for_each(|c| *c += 1);
        value
    }
}

/// One training batch on the host, its random draws made: windows `x` (noise added),
/// targets `y`, dropout masks and the VAE's ε.
struct Batch {
    x: Vec<f32>,
    y: Vec<f32>,
    /// `[B, W, k]`.
    shape: [usize; 3],
    /// `[B, T, T]`, 0 or 1/(1 − p).
    time_mask: Vec<f32>,
    /// `[B, k, k]`.
    feat_mask: Vec<f32>,
    /// `[B, H]`.
    eps: Vec<f32>,
}

impl Trainer {
    /// The summed loss of one batch and the gradients of every parameter.
    fn gradients(&mut self, batch: Batch) -> (f64, GradientsParams) {
        if self.fused_gru {
            return self.fused_gradients(batch);
        }
        let started = Instant::now();
        let device = &self.device;
        let [b, w, k] = batch.shape;
        let x = Tensor::<3>::from_data(TensorData::new(batch.x, [b, w, k]), device);
        let y = Tensor::<2>::from_data(TensorData::new(batch.y, [b, k]), device);
        let noise = TrainNoise {
            time_mask: Tensor::from_data(
                TensorData::new(batch.time_mask, [b, GAT_WINDOW, GAT_WINDOW]),
                device,
            ),
            feat_mask: Tensor::from_data(TensorData::new(batch.feat_mask, [b, k, k]), device),
            vae_eps: Tensor::from_data(TensorData::new(batch.eps, [b, HIDDEN]), device),
        };
        let out = self.net.forward(x, Some(noise));
        let loss = batch_loss(out, y, self.beta);
        let value = f64::from(loss.clone().into_scalar::<f32>());
        let forward_done = Instant::now();
        self.profile.encode += forward_done - started;
        let grads = GradientsParams::from_grads(loss.backward(), &self.net);
        self.profile.heads_backward += forward_done.elapsed();
        (value, grads)
    }

    /// The loss and gradients of one batch with the network before the heads differentiated
    /// on the host: [`crate::fused_encode`] (smoothing, pooling, both attentions) and
    /// [`crate::fused_gru`]. Only the heads and the loss stay in burn's autodiff; their
    /// backward pass gives the gradient of the GRU's final state, which the GRU's backward
    /// pass turns into the gradient of its input sequence and the encoder's into the
    /// attention vectors' gradients.
    fn fused_gradients(&mut self, batch: Batch) -> (f64, GradientsParams) {
        let mut clock = Instant::now();
        let mut lap = |into: &mut Duration| {
            let now = Instant::now();
            *into += now - clock;
            clock = now;
        };
        let profile = &mut self.profile;
        let [b, _, k] = batch.shape;
        let masks = (&batch.time_mask[..], &batch.feat_mask[..]);
        let encoder = self.net.encode_params();
        let seq = encoder.forward(&batch.x, b, masks, &mut self.encode_tape);
        lap(&mut profile.encode);
        let gru = self.net.gru_params();
        let h = gru.forward(seq, b, GAT_WINDOW, &mut self.gru_tape);
        let device = &self.device;
        let h = Tensor::<2>::from_data(TensorData::new(h, [b, HIDDEN]), device).require_grad();
        lap(&mut profile.gru_forward);
        let eps = Tensor::from_data(TensorData::new(batch.eps, [b, HIDDEN]), device);
        let feat_attn = Tensor::from_data(
            TensorData::new(self.encode_tape.feat_attn().to_vec(), [b, k, k]),
            device,
        );
        let out = self.net.heads(h.clone(), eps, feat_attn);
        let y = Tensor::<2>::from_data(TensorData::new(batch.y, [b, k]), device);
        let loss = batch_loss(out, y, self.beta);
        let value = f64::from(loss.clone().into_scalar::<f32>());
        lap(&mut profile.heads);
        let mut grads = loss.backward();
        let dh = h
            .grad_remove(&mut grads)
            .expect("the heads depend on the GRU state")
            .into_data()
            .try_into_vec::<f32>()
            .expect("network tensors are float32");
        let mut params = GradientsParams::from_grads(grads, &self.net);
        lap(&mut profile.heads_backward);
        let mut gru_grads = gru.backward(&mut self.gru_tape, dh);
        lap(&mut profile.gru_backward);
        let dseq = std::mem::take(&mut gru_grads.x);
        let encode_grads = encoder.backward(&self.encode_tape, &dseq, masks);
        self.net
            .register_fused_grads(encode_grads, gru_grads, &mut params);
        lap(&mut profile.encode_backward);
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
        (scoring, pct_weight): (&score::Scoring, &[f64]),
        subspace: Option<Subspace>,
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
        let scales =
            score::ErrorScales::measure_kept(&out, &observed, norm, &everything, subspace.clone());
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
        let scales = score::ErrorScales::measure_kept(&out, &observed, norm, &clean, subspace);
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
    series: &[&[f32]],
    k: usize,
    w: usize,
    ends: &[(usize, usize)],
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
        let (x, y) = gather_picks(series, k, w, chunk);
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

/// Adds N(0, σ²) noise, σ = [`INPUT_NOISE`], to the windows `x` (`per_window` values each),
/// in parallel: window `i` draws from stream `i` of a ChaCha8 key taken from `rng`, so the
/// noise depends on the seed alone, not on the number of threads. Box–Muller gives two
/// values per logarithm (cosine and sine), in float32 like the windows (tails cut at 5.6 σ).
fn add_input_noise(x: &mut [f32], per_window: usize, rng: &mut ChaCha8Rng) {
    let key: [u8; 32] = rng.gen();
    x.par_chunks_mut(per_window)
        .enumerate()
        .for_each(|(i, window)| {
            let mut rng = keyed_stream(key, i);
            for pair in window.chunks_mut(2) {
                let u1: f32 = rng.gen_range(f32::EPSILON..1.0);
                let u2: f32 = rng.gen();
                let r = INPUT_NOISE as f32 * (-2.0 * u1.ln()).sqrt();
                let (sin, cos) = (2.0 * std::f32::consts::PI * u2).sin_cos();
                pair[0] += r * cos;
                if let Some(v) = pair.get_mut(1) {
                    *v += r * sin;
                }
            }
        });
}

/// Inverted dropout mask of `len` elements: 0 with probability p, 1/(1−p) otherwise. With
/// p = ½ (the reference's), each element takes one bit of a 64-bit draw instead of a draw of
/// its own.
fn dropout_mask(len: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    const _: () = assert!(
        ATTN_DROPOUT == 0.5,
        "the mask uses one fair bit per element"
    );
    let keep = (1.0 / (1.0 - ATTN_DROPOUT)) as f32;
    let mut data = Vec::with_capacity(len);
    while data.len() < len {
        let bits = rng.next_u64();
        let take = (len - data.len()).min(64);
        data.extend((0..take).map(|i| if bits >> i & 1 == 1 { keep } else { 0.0 }));
    }
    data
}

/// Stream `i` of the ChaCha8 generator keyed by `key`: the draws of window `i` of a batch,
/// made in parallel, the same whatever the number of threads.
fn keyed_stream(key: [u8; 32], i: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::from_seed(key);
    rng.set_stream(i as u64);
    rng
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
        let batch = |seed: u64| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let eps: Vec<f32> = (0..b * HIDDEN).map(|_| standard_normal(&mut rng)).collect();
            Batch {
                x: x.clone(),
                y: y.clone(),
                shape: [b, w, k],
                time_mask: dropout_mask(b * GAT_WINDOW * GAT_WINDOW, &mut rng),
                feat_mask: dropout_mask(b * k * k, &mut rng),
                eps,
            }
        };
        t.set_fused_gru(true);
        let (fused_loss, fused) = t.gradients(batch(11));
        let fused = named_gradients(&t, fused);
        t.set_fused_gru(false);
        let (burn_loss, reference) = t.gradients(batch(11));
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
