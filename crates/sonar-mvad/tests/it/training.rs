//! Training: determinism, small data, the reference's minimum, and that a trained model finds
//! an injected spike.

use sonar_mvad::{fit, Frame, MvadError, MvadParams, PredictOptions, TrainingRules};

/// Three noisy sines (like the reference's own example) with a spike on `cpu` at `spike`.
fn sines(n: usize, spike: Option<usize>) -> Frame {
    let mut state = 12345u64;
    let mut noise = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 0.1
    };
    let mut values = Vec::with_capacity(n * 3);
    for t in 0..n {
        let t_f = t as f64;
        let mut cpu = (2.0 * std::f64::consts::PI * t_f / 50.0).sin() + noise();
        if Some(t) == spike {
            cpu += 5.0;
        }
        values.push(cpu);
        values.push((2.0 * std::f64::consts::PI * t_f / 80.0 + 1.0).sin() + noise());
        values.push((2.0 * std::f64::consts::PI * t_f / 120.0).cos() + noise());
    }
    let index = (0..n)
        .map(|t| format!("2024-01-01T{:02}:{:02}:00Z", t / 60 % 24, t % 60))
        .map(|s| s.to_string());
    // Unique labels in time order: prefix the row number.
    let index: Vec<String> = index
        .enumerate()
        .map(|(i, s)| format!("{i:06}-{s}"))
        .collect();
    Frame::new(
        index,
        vec!["cpu".into(), "mem".into(), "net".into()],
        values,
    )
    .expect("frame")
}

fn params(epochs: usize) -> MvadParams {
    MvadParams {
        sliding_window: Some(40),
        epochs,
        batch_size: 32,
        ..MvadParams::default()
    }
}

#[test]
fn same_seed_same_model() {
    let data = sines(400, None);
    let a = fit(&data, &params(1), &mut ()).expect("fit");
    let b = fit(&data, &params(1), &mut ()).expect("fit");
    assert_eq!(a.weights(), b.weights());
    assert_eq!(a.meta().threshold, b.meta().threshold);
    let c = fit(
        &data,
        &MvadParams {
            seed: 7,
            ..params(1)
        },
        &mut (),
    )
    .expect("fit");
    assert_ne!(a.weights(), c.weights());
}

#[test]
fn reference_rules_refuse_data_too_small_to_train() {
    let data = sines(1000, None);
    let p = MvadParams {
        sliding_window: Some(200),
        ..MvadParams::reference()
    };
    match fit(&data, &p, &mut ()) {
        Err(MvadError::NotEnoughData { rows, minimum, .. }) => {
            assert_eq!((rows, minimum), (1000, 1725));
        }
        other => panic!("expected NotEnoughData, got {other:?}"),
    }
}

#[test]
fn small_data_trains_and_flags_a_spike() {
    // 1,000 rows: the reference would take no optimizer step at sliding_window 200; with
    // sliding_window 40 and batch 32 it would take only 2 per epoch. Ours uses every window.
    let n = 1000;
    let data = sines(n, Some(n - 30));
    let mut epochs_seen = Vec::new();
    struct Seen<'a>(&'a mut Vec<(usize, f64)>);
    impl sonar_mvad::TrainObserver for Seen<'_> {
        fn epoch(&mut self, r: &sonar_mvad::EpochReport) {
            self.0.push((r.steps, r.train_loss));
        }
    }
    let p = MvadParams {
        interval: 2,
        ..params(10)
    };
    let model = fit(&data, &p, &mut Seen(&mut epochs_seen)).expect("fit");
    let summary = model.meta().training.clone().expect("summary");
    assert!(summary.steps >= 8 * 2, "steps {}", summary.steps);
    assert_eq!(epochs_seen.len(), summary.epochs_run);
    // The kept (best-epoch) weights saw real optimizer steps and moved away from the
    // initialisation drawn from the same seed.
    let tracked = model
        .weights()
        .batches_tracked
        .values()
        .copied()
        .collect::<Vec<_>>();
    assert!(
        tracked
            .iter()
            .all(|&c| c >= 2 && c as usize <= summary.steps),
        "{tracked:?}"
    );
    let init = sonar_mvad::weights::Weights::init(
        3,
        &mut <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(42),
    );
    assert_eq!(init.k, 3);
    for name in [
        "gru.weight_hh_l0",
        "fc_layers.6.weight",
        "time_gat.weight_key",
    ] {
        assert_ne!(
            model.weights().get(name),
            init.get(name),
            "{name} did not move"
        );
    }
    // Training loss went down.
    assert!(
        epochs_seen.last().expect("epochs").1 < epochs_seen[0].1,
        "{epochs_seen:?}"
    );
    let rows = model
        .predict(&data.tail(200), PredictOptions::default())
        .expect("predict");
    let spike_label = &data.index()[n - 30];
    let spike = rows
        .iter()
        .find(|r| &r.index == spike_label)
        .expect("spike row scored");
    assert!(spike.is_anomaly, "spike not flagged: {spike:?}");
    // The spiked variable is saturated: observed far above its forecast, a full share of the error.
    let cpu = spike
        .interpretation
        .iter()
        .find(|c| c.variable_name == "cpu")
        .expect("cpu");
    assert!(
        cpu.observed > 4.0 && cpu.observed - cpu.expected > 3.0,
        "{cpu:?}"
    );
    assert!(cpu.contribution_score > 0.3, "{cpu:?}");
    // Among the highest scores of the 161 rows scored; with the default trailing mean the
    // rows after the spike, whose means include it, may score as high.
    let higher = rows.iter().filter(|r| r.score > spike.score).count();
    assert!(
        higher <= rows.len() / 20 + p.scoring.smooth_rows,
        "{higher} rows score above the spike"
    );
}

/// Three steady gauges (slow waves plus noise) with `cpu` pushed by `cpu_push` and `mem` by
/// `mem_push` at row `at`.
fn gauges_pushed(n: usize, at: usize, cpu_push: f64, mem_push: f64) -> Frame {
    let mut state = 777u64;
    let mut noise = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 0.05
    };
    let mut values = Vec::with_capacity(n * 3);
    for t in 0..n {
        let wave = |period: f64| 0.1 * (2.0 * std::f64::consts::PI * t as f64 / period).sin();
        let push = |p: f64| if t == at { p } else { 0.0 };
        values.push(1.0 + wave(200.0) + noise() + push(cpu_push));
        values.push(2.0 + wave(300.0) + noise() + push(mem_push));
        values.push(3.0 + wave(250.0) + noise());
    }
    let index = (0..n).map(|i| format!("{i:06}")).collect();
    Frame::new(
        index,
        vec!["cpu".into(), "mem".into(), "net".into()],
        values,
    )
    .expect("frame")
}

#[test]
fn contributions_rank_the_variable_pushed_furthest_first_with_its_direction() {
    // Under the default (standardised) scoring, contributions do not saturate: the variable
    // pushed far leads, the one pushed a little comes second, and each says which way it
    // moved against its forecast.
    let n = 1000;
    let data = gauges_pushed(n, n - 30, 2.0, -0.6);
    let model = fit(&data, &params(4), &mut ()).expect("fit");
    assert_eq!(
        model.meta().scoring(),
        sonar_mvad::score::Scoring::default()
    );
    let rows = model
        .predict(&data.tail(200), PredictOptions::default())
        .expect("predict");
    let pushed = &data.index()[n - 30];
    let row = rows
        .iter()
        .find(|r| &r.index == pushed)
        .expect("row scored");
    let names: Vec<&str> = row
        .interpretation
        .iter()
        .map(|c| c.variable_name.as_str())
        .collect();
    assert_eq!(names, ["cpu", "mem", "net"], "{row:?}");
    let shares: Vec<f64> = row
        .interpretation
        .iter()
        .map(|c| c.contribution_score)
        .collect();
    assert!(shares[0] > shares[1] && shares[1] > shares[2], "{shares:?}");
    assert!(shares[0] - shares[1] > 0.1, "{shares:?}");
    let (cpu, mem) = (&row.interpretation[0], &row.interpretation[1]);
    assert!(cpu.observed > cpu.expected, "cpu moved up: {cpu:?}");
    assert!(mem.observed < mem.expected, "mem moved down: {mem:?}");
}

#[test]
fn cancelling_stops_between_batches() {
    struct Cancel;
    impl sonar_mvad::TrainObserver for Cancel {
        fn cancelled(&self) -> bool {
            true
        }
    }
    let e = fit(&sines(400, None), &params(1), &mut Cancel).expect_err("cancelled");
    assert!(matches!(e, MvadError::Cancelled));
}

/// Replays the early-stopping rule over the recorded validation losses: the epoch at which a
/// run with these rules must stop, and the best epoch it keeps (lowest raw loss). Progress is
/// a trailing mean of `smoothing` losses below `(1 − min_delta)` times the best mean so far.
fn replay_early_stopping(val: &[f64], epochs: usize, rules: &TrainingRules) -> (usize, usize) {
    let (mut best, mut best_epoch) = (f64::INFINITY, 0);
    let (mut best_mean, mut since) = (f64::INFINITY, 0);
    for (i, &v) in val.iter().enumerate() {
        if v < best {
            (best, best_epoch) = (v, i + 1);
        }
        let from = (i + 1).saturating_sub(rules.early_stopping_smoothing);
        let mean = val[from..=i].iter().sum::<f64>() / (i + 1 - from) as f64;
        if mean < best_mean * (1.0 - rules.early_stopping_min_delta) {
            (best_mean, since) = (mean, 0);
        } else {
            since += 1;
        }
        if rules.early_stopping_patience.is_some_and(|p| since >= p) {
            return (i + 1, best_epoch);
        }
    }
    (epochs, best_epoch)
}

#[test]
fn early_stopping_follows_the_validation_loss() {
    let data = sines(600, None);
    let rule = |patience, min_delta, smoothing| TrainingRules {
        early_stopping_patience: patience,
        early_stopping_min_delta: min_delta,
        early_stopping_smoothing: smoothing,
        ..TrainingRules::default()
    };
    for rules in [
        rule(Some(1), 0.0, 1),
        rule(Some(3), 0.0, 1),
        rule(Some(2), 0.05, 3),
        rule(Some(3), 0.5, 2),
        TrainingRules::default(),
        rule(None, 0.01, 3),
    ] {
        let patience = rules.early_stopping_patience;
        let mut p = params(10);
        p.rules = rules;
        let model = fit(&data, &p, &mut ()).expect("fit");
        let s = model.meta().training.clone().expect("summary");
        assert_eq!(s.val_loss.len(), s.epochs_run);
        let (stop, best) = replay_early_stopping(&s.val_loss, 10, &rules);
        eprintln!(
            "{rules:?}: {} epochs run, best {}",
            s.epochs_run, s.best_epoch
        );
        assert_eq!(
            (s.epochs_run, s.best_epoch),
            (stop, best),
            "{rules:?}: {s:?}"
        );
        if rules.early_stopping_min_delta >= 0.5 {
            // Halving the smoothed loss within 3 epochs does not last: this rule fires.
            assert!(s.epochs_run < 10, "{rules:?}: {s:?}");
        }
        if patience.is_none() {
            assert_eq!(s.epochs_run, 10, "without early stopping every epoch runs");
        }
    }
}

/// `frame` with every value times `factor` (same index and columns).
fn scaled(frame: &Frame, factor: f64) -> Frame {
    Frame::new(
        frame.index().to_vec(),
        frame.columns().to_vec(),
        frame.values().iter().map(|v| v * factor).collect(),
    )
    .expect("frame")
}

#[test]
fn a_shared_model_is_one_network_with_each_series_own_normalisation_and_calibration() {
    let data = sines(400, None);
    // One series alone is exactly `fit`.
    let alone = fit(&data, &params(2), &mut ()).expect("fit");
    let shared = sonar_mvad::fit_shared(std::slice::from_ref(&data), &params(2), None, &mut ())
        .expect("fit_shared");
    let model = shared.model_for(&data).expect("model");
    assert_eq!(model.weights(), alone.weights());
    assert_eq!(model.meta(), alone.meta());

    // The same series ten times larger normalises to the same values: one network, and the
    // same threshold and calibration on each, from each series' own statistics.
    let big = scaled(&data, 10.0);
    let shared =
        sonar_mvad::fit_shared(&[data.clone(), big.clone()], &params(2), Some(64), &mut ())
            .expect("fit_shared");
    let (a, b) = (
        shared.model_for(&data).expect("model"),
        shared.model_for(&big).expect("model"),
    );
    assert_eq!(a.weights(), b.weights());
    assert_ne!(a.weights(), alone.weights(), "two series train otherwise");
    let (a, b) = (a.meta(), b.meta());
    for (lo, hi) in a
        .normalize_base
        .max_values
        .iter()
        .zip(&b.normalize_base.max_values)
    {
        assert!((hi / lo - 10.0).abs() < 1e-9, "{hi} is not 10 × {lo}");
    }
    assert!(
        (a.threshold - b.threshold).abs() < 1e-4 * a.threshold.abs().max(1.0),
        "{} vs {}",
        a.threshold,
        b.threshold
    );
    // Each epoch drew at most 64 windows: two batches of 32.
    let training = shared.summary();
    assert_eq!(training.steps, 2 * training.epochs_run);

    // Different columns cannot share a network.
    let renamed = Frame::new(
        data.index().to_vec(),
        vec!["cpu".into(), "disk".into(), "net".into()],
        data.values().to_vec(),
    )
    .expect("frame");
    let err = sonar_mvad::fit_shared(&[data, renamed.clone()], &params(1), None, &mut ())
        .expect_err("refused");
    assert!(err.to_string().contains("same columns"), "{err}");
    let err = shared.model_for(&renamed).expect_err("refused");
    assert!(err.to_string().contains("trained on"), "{err}");
}
