//! Fits the engine on a training CSV and writes the score of every row of a test CSV, the way
//! `sonar eval` scores them (the last W training rows give the first test windows their
//! context; the model's own scoring), so that `sonar eval --scores NAME=OUT.csv` measures them
//! with the report's metric code. Prints one JSON line: fit wall time, epochs run, best epoch.
//!
//! ```text
//! cargo run --release -p sonar-mvad --example fit_and_score -- TRAIN.csv TEST.csv '{}' OUT.csv
//! ```
//!
//! Used by bench/time_to_quality.sh and for the early-stopping comparison in
//! docs/benchmarks.md.

use std::time::Instant;

use sonar_mvad::preprocess::{self, INFER_CLIP};
use sonar_mvad::{fit, EpochReport, Frame, MvadParams, TrainObserver};

struct Progress;

impl TrainObserver for Progress {
    fn epoch(&mut self, r: &EpochReport) {
        eprintln!(
            "epoch {}/{}: train loss {:.4} val loss {:.4} ({:.2}s + {:.2}s){}",
            r.epoch,
            r.epochs,
            r.train_loss,
            r.val_loss,
            r.train_time.as_secs_f64(),
            r.val_time.as_secs_f64(),
            if r.improved { " *" } else { "" }
        );
    }
}

fn read(path: &str) -> Frame {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Frame::from_csv(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        eprintln!("usage: fit_and_score TRAIN.csv TEST.csv PARAMS_JSON OUT.csv");
        std::process::exit(2);
    }
    let (train, test) = (read(&args[1]), read(&args[2]));
    let json: serde_json::Value = serde_json::from_str(&args[3]).expect("params JSON");
    let params = MvadParams::default()
        .apply_json(&json)
        .expect("valid params");

    let started = Instant::now();
    let model = fit(&train, &params, &mut Progress).expect("fit");
    let fit_s = started.elapsed().as_secs_f64();

    // Context: the last W training rows, then every test row (as sonar eval does).
    let meta = model.meta();
    let w = meta.windows().input;
    let k = train.n_cols();
    assert_eq!(test.columns(), train.columns(), "test columns differ");
    let first = train.n_rows() - w;
    let mut index = train.index()[first..].to_vec();
    index.extend_from_slice(test.index());
    let mut values = train.values()[first * k..].to_vec();
    values.extend_from_slice(test.values());
    let frame = Frame::new(index, train.columns().to_vec(), values).expect("frame");
    let prepared = preprocess::prepare(&frame, meta.fill().expect("fill"));
    let series = meta
        .normalize_base
        .apply(&prepared.values, -INFER_CLIP, INFER_CLIP);
    let ends = preprocess::window_ends(prepared.n(), w, 1);
    let outputs = model.window_outputs(&series, &ends);
    let observed = preprocess::rows_at(&prepared.values, prepared.k(), &ends);
    let scoring = &params.scoring;
    let werr = scoring.variable_errors(
        &outputs,
        &observed,
        &meta.pct_weight,
        &meta.normalize_base,
        meta.error_scales.as_ref(),
    );
    let scores = scoring.row_scores(&werr, prepared.k());
    assert_eq!(scores.len(), test.n_rows(), "one score per test row");
    let mut csv = String::from("score\n");
    for s in &scores {
        csv.push_str(&format!("{s}\n"));
    }
    std::fs::write(&args[4], csv).unwrap_or_else(|e| panic!("{}: {e}", args[4]));
    let training = meta.training.clone().expect("training summary");
    println!(
        "{}",
        serde_json::json!({
            "fit_s": fit_s,
            "epochs": training.epochs_run,
            "best_epoch": training.best_epoch,
            "val_loss": training.val_loss,
        })
    );
}
