//! Times the engine on a CSV, for the side-by-side comparison with the reference library
//! (bench/reference/side_by_side.sh). Prints one JSON object with the timings.
//!
//! ```text
//! cargo run --release -p sonar-mvad --example mvad_run -- TRAIN.csv PREDICT.csv '{"sliding_window":200,"epochs":3}'
//! ```

use std::time::Instant;

use sonar_mvad::{
    fit, EpochReport, Frame, MvadParams, PredictOptions, StreamingScorer, ThresholdRule,
    TrainObserver,
};

struct Timings(Vec<(f64, f64, usize)>);

impl TrainObserver for Timings {
    fn epoch(&mut self, r: &EpochReport) {
        eprintln!(
            "epoch {}/{}: train loss {:.4} val loss {:.4} ({:.2}s + {:.2}s)",
            r.epoch,
            r.epochs,
            r.train_loss,
            r.val_loss,
            r.train_time.as_secs_f64(),
            r.val_time.as_secs_f64()
        );
        self.0.push((
            r.train_time.as_secs_f64(),
            r.val_time.as_secs_f64(),
            r.steps,
        ));
    }
}

fn read(path: &str) -> Frame {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Frame::from_csv(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: mvad_run TRAIN.csv PREDICT.csv PARAMS_JSON [reference|sonar]");
        std::process::exit(2);
    }
    let (train, predict) = (read(&args[1]), read(&args[2]));
    let json: serde_json::Value = serde_json::from_str(&args[3]).expect("params JSON");
    // Same rules as the reference unless asked otherwise, so epochs do the same work.
    let base = match args.get(4).map(String::as_str) {
        Some("sonar") => MvadParams::default(),
        _ => MvadParams::reference(),
    };
    let params = base.apply_json(&json).expect("valid params");

    let mut timings = Timings(Vec::new());
    let t0 = Instant::now();
    let model = fit(&train, &params, &mut timings).expect("fit");
    let fit_s = t0.elapsed().as_secs_f64();
    let epochs = timings.0.len() as f64;
    let train_s: f64 = timings.0.iter().map(|t| t.0).sum();
    let val_s: f64 = timings.0.iter().map(|t| t.1).sum();

    let t0 = Instant::now();
    let rows = model
        .predict(&predict, PredictOptions::default())
        .expect("predict");
    let predict_s = t0.elapsed().as_secs_f64();
    let windows = predict.n_rows() - model.meta().input_size;

    // One new bucket: a scorer primed with W + TW rows scores the next row (median of 50).
    let warm = model.min_rows();
    let mut one_row = Vec::new();
    let mut scorer = StreamingScorer::new(&model, ThresholdRule::Lagged);
    let k = predict.n_cols();
    let slice = |a: usize, b: usize| {
        Frame::new(
            predict.index()[a..b].to_vec(),
            predict.columns().to_vec(),
            predict.values()[a * k..b * k].to_vec(),
        )
        .expect("slice")
    };
    scorer.push_frame(&slice(0, warm), false).expect("warm up");
    for r in warm..(warm + 50).min(predict.n_rows()) {
        let t0 = Instant::now();
        let out = scorer.push_frame(&slice(r, r + 1), false).expect("push");
        one_row.push(t0.elapsed().as_secs_f64());
        assert_eq!(out.len(), 1);
    }
    one_row.sort_by(f64::total_cmp);
    // The reference needs W + TW rows per call for one result: time that too.
    let t0 = Instant::now();
    let minimal = model
        .predict(&slice(0, warm), PredictOptions::default())
        .expect("minimal predict");
    let minimal_s = t0.elapsed().as_secs_f64();
    assert_eq!(minimal.len(), 1);

    let report = serde_json::json!({
        "engine": "sonar-mvad",
        "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "epochs": epochs,
        "steps": timings.0.last().map(|t| t.2).unwrap_or(0),
        "fit_s": fit_s,
        "train_per_epoch_s": train_s / epochs,
        "val_per_epoch_s": val_s / epochs,
        "fit_per_epoch_s": (train_s + val_s) / epochs,
        "threshold_pass_s": fit_s - train_s - val_s,
        "predict_rows_out": rows.len(),
        "predict_s": predict_s,
        "predict_per_window_ms": 1e3 * predict_s / windows as f64,
        "one_new_bucket_stream_ms": 1e3 * one_row[one_row.len() / 2],
        "one_new_bucket_minimal_predict_ms": 1e3 * minimal_s,
        "threshold": model.meta().threshold,
    });
    println!("{report}");
}
