//! Compares the two local-threshold rules on the golden cases: the reference's lagged window
//! (the default, what the library does) and the trailing window its unused method intends.
//!
//! `cargo run --release -p sonar-mvad --example threshold_rules`

use std::path::Path;

use sonar_mvad::{Frame, MvadModel, PredictOptions, ThresholdRule};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    println!("| case | rows scored | flagged (lagged, reference) | flagged (trailing) | both | only lagged | only trailing |");
    println!("|---|---|---|---|---|---|---|");
    for case in [
        "sines3",
        "sines3_e15",
        "alerts10",
        "edge_names_nans",
        "fill_previous",
    ] {
        let dir = root.join(case);
        let model = MvadModel::load(&dir).expect("golden model");
        let file = if case == "edge_names_nans" {
            "predict_100.csv"
        } else {
            "predict.csv"
        };
        let frame =
            Frame::from_csv(&std::fs::read_to_string(dir.join(file)).expect("csv")).expect("frame");
        let run = |rule| {
            model
                .predict(
                    &frame,
                    PredictOptions {
                        rule,
                        ..Default::default()
                    },
                )
                .expect("predict")
                .into_iter()
                .map(|r| r.is_anomaly)
                .collect::<Vec<_>>()
        };
        let (lagged, trailing) = (run(ThresholdRule::Lagged), run(ThresholdRule::Trailing));
        let count = |f: &dyn Fn(bool, bool) -> bool| {
            lagged
                .iter()
                .zip(&trailing)
                .filter(|(a, b)| f(**a, **b))
                .count()
        };
        println!(
            "| {case} | {} | {} | {} | {} | {} | {} |",
            lagged.len(),
            count(&|a, _| a),
            count(&|_, b| b),
            count(&|a, b| a && b),
            count(&|a, b| a && !b),
            count(&|a, b| !a && b)
        );
    }
}
