//! Conformance with time-series-anomaly-detector 0.4.0, using the fixtures exported from the
//! reference library (tests/golden, copied from shared/golden; tolerances from its README).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sonar_mvad::preprocess::{self, Normalizer};
use sonar_mvad::{Frame, MvadModel, MvadParams, PredictOptions, RowResult};

const CASES: [&str; 5] = [
    "alerts10",
    "edge_names_nans",
    "fill_previous",
    "sines3",
    "sines3_e15",
];

fn case_dir(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(case)
}

fn json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn frame(path: &Path) -> Frame {
    Frame::from_csv(&std::fs::read_to_string(path).expect("csv")).expect("valid csv")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn params(case: &str) -> MvadParams {
    MvadParams::reference()
        .apply_json(&json(&case_dir(case).join("params.json")))
        .expect("golden params are valid")
}

#[test]
fn preprocessing_matches_exactly() {
    for case in CASES {
        let dir = case_dir(case);
        let expected = json(&dir.join("expected_preprocess.json"));
        let t = &expected["train"];
        let p = params(case);
        let raw = frame(&dir.join("train.csv"));
        let prepared = preprocess::prepare(&raw, p.fill);
        let names: Vec<&str> = prepared.names.iter().map(String::as_str).collect();
        let want: Vec<&str> = expected["variables_sorted"]
            .as_array()
            .expect("names")
            .iter()
            .map(|v| v.as_str().expect("name"))
            .collect();
        assert_eq!(names, want, "{case}: variable order");
        let (n, k) = (prepared.n(), prepared.k());
        let train_len = (0.8 * n as f64) as usize;
        assert_eq!(
            train_len as u64,
            t["train_len"].as_u64().expect("train_len"),
            "{case}"
        );
        assert_eq!(
            (0.1 * n as f64) as u64,
            t["val_len"].as_u64().expect("val_len"),
            "{case}"
        );
        let w = p.windows();
        assert_eq!(w.input as u64, expected["W"].as_u64().expect("W"), "{case}");
        assert_eq!(
            w.threshold as u64,
            expected["TW"].as_u64().expect("TW"),
            "{case}"
        );
        assert_eq!(
            preprocess::window_ends(train_len, w.input, p.interval).len() as u64,
            t["n_train_windows"].as_u64().expect("n_train_windows"),
            "{case}"
        );
        let norm = Normalizer::fit(&prepared.values, k, train_len);
        // Bit-for-bit: f64 equality.
        assert_eq!(
            norm.min_values,
            floats(&t["min_values"]),
            "{case}: min_values"
        );
        assert_eq!(
            norm.max_values,
            floats(&t["max_values"]),
            "{case}: max_values"
        );
        let (weights, pct_raw) = preprocess::pct_weight(&raw, w.min_score_rows());
        assert_eq!(weights, floats(&t["pct_weight"]), "{case}: pct_weight");
        for (got, want) in pct_raw
            .iter()
            .zip(t["pct_raw"].as_array().expect("pct_raw"))
        {
            match (got, want.as_f64()) {
                (Some(g), Some(w)) => assert!(
                    (g - w).abs() <= 1e-9 * w.abs().max(1.0),
                    "{case}: pct_raw {g} vs {w}"
                ),
                (None, None) => {}
                other => panic!("{case}: pct_raw {other:?}"),
            }
        }
        let filled: Vec<(u64, String, f64)> = prepared
            .filled
            .iter()
            .map(|&(r, j)| {
                (
                    r as u64,
                    prepared.names[j].clone(),
                    prepared.values[r * k + j],
                )
            })
            .collect();
        let want_filled: Vec<(u64, String, f64)> = t["filled_at_nan"]
            .as_array()
            .expect("filled")
            .iter()
            .map(|e| {
                (
                    e[0].as_u64().expect("row"),
                    e[1].as_str().expect("var").to_string(),
                    e[2].as_f64().expect("value"),
                )
            })
            .collect();
        assert_eq!(filled, want_filled, "{case}: filled values");
    }
}

#[test]
fn reference_models_load_and_reproduce_the_threshold() {
    for case in CASES {
        let dir = case_dir(case);
        let model = MvadModel::load(&dir).expect("reference export loads");
        let p = params(case);
        let raw = frame(&dir.join("train.csv"));
        let prepared = preprocess::prepare(&raw, p.fill);
        let k = prepared.k();
        let train_len = (0.8 * prepared.n() as f64) as usize;
        let series =
            model
                .meta()
                .normalize_base
                .apply(&prepared.values[..train_len * k], -1000.0, 1000.0);
        let ends = preprocess::window_ends(train_len, model.meta().input_size, 1);
        let out = model.window_outputs(&series, &ends);
        let werr =
            sonar_mvad::score::weighted_errors(&out.x_pred, &out.target, &model.meta().pct_weight);
        let scores = sonar_mvad::score::row_scores(&werr, k);
        let threshold = sonar_mvad::score::quantile_threshold(&scores, 0.8).expect("scores");
        let diff = (threshold - model.meta().threshold).abs();
        assert!(
            diff <= 1e-5,
            "{case}: threshold {threshold} vs {} ({diff:e})",
            model.meta().threshold
        );
    }
}

/// Worst differences seen, for the report.
#[derive(Debug, Default)]
struct Worst {
    score: f64,
    contribution_rel: f64,
    changed_value: f64,
}

fn compare(
    case: &str,
    file: &str,
    expected: &[Value],
    got: &[RowResult],
    pre: &Value,
    k: usize,
) -> (Vec<String>, Worst) {
    let mut errors = Vec::new();
    let mut worst = Worst::default();
    let set = |key: &str| -> HashSet<String> {
        pre[key]
            .as_array()
            .expect(key)
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                Value::Array(a) => format!(
                    "{}|{}",
                    a[0].as_str().unwrap_or(""),
                    a[1].as_str().unwrap_or("")
                ),
                Value::Object(o) => o["index"].as_str().unwrap_or("").to_string(),
                other => other.to_string(),
            })
            .collect()
    };
    let borderline = set("borderline_rows");
    let near_tie = set("contribution_near_tie_rows");
    let fragile = set("fragile_correlation_changes");
    if expected.len() != got.len() {
        errors.push(format!(
            "{case}/{file}: {} results, expected {}",
            got.len(),
            expected.len()
        ));
        return (errors, worst);
    }
    for (e, g) in expected.iter().zip(got) {
        let index = e["index"].as_str().expect("index");
        if index != g.index {
            errors.push(format!("{case}/{file}: index {} vs {index}", g.index));
        }
        let score = e["score"].as_f64().expect("score");
        let ds = (score - g.score)
            .abs()
            .max((e["severity"].as_f64().expect("severity") - g.severity).abs());
        worst.score = worst.score.max(ds);
        if ds > 1e-5 {
            errors.push(format!(
                "{case}/{file} {index}: score {} vs {score}",
                g.score
            ));
        }
        if e["is_anomaly"].as_bool() != Some(g.is_anomaly) && !borderline.contains(index) {
            errors.push(format!(
                "{case}/{file} {index}: is_anomaly {} vs {}",
                g.is_anomaly, e["is_anomaly"]
            ));
        }
        let interp = e["interpretation"].as_array().expect("interpretation");
        let want_order: Vec<&str> = interp
            .iter()
            .map(|x| x["variable_name"].as_str().expect("name"))
            .collect();
        let got_order: Vec<&str> = g
            .interpretation
            .iter()
            .map(|x| x.variable_name.as_str())
            .collect();
        if want_order != got_order && !near_tie.contains(index) {
            errors.push(format!(
                "{case}/{file} {index}: order {got_order:?} vs {want_order:?}"
            ));
        }
        let tol_q = 1e-5 / (k as f64 * score).min(1.0);
        for x in interp {
            let name = x["variable_name"].as_str().expect("name");
            let Some(y) = g.interpretation.iter().find(|c| c.variable_name == name) else {
                errors.push(format!("{case}/{file} {index}: {name} missing"));
                continue;
            };
            let dq = (x["contribution_score"].as_f64().expect("contribution")
                - y.contribution_score)
                .abs();
            worst.contribution_rel = worst.contribution_rel.max(dq / tol_q);
            if dq > tol_q {
                errors.push(format!(
                    "{case}/{file} {index}/{name}: contribution off by {dq:e}"
                ));
            }
            let cc = &x["correlation_changes"];
            let want_vars: Vec<&str> = cc["changed_variables"]
                .as_array()
                .expect("vars")
                .iter()
                .map(|v| v.as_str().expect("var"))
                .collect();
            if want_vars != y.correlation_changes.changed_variables {
                if !fragile.contains(&format!("{index}|{name}")) {
                    errors.push(format!(
                        "{case}/{file} {index}/{name}: changed_variables {:?} vs {want_vars:?}",
                        y.correlation_changes.changed_variables
                    ));
                }
                continue;
            }
            for (u, v) in floats(&cc["changed_values"])
                .iter()
                .zip(&y.correlation_changes.changed_values)
            {
                worst.changed_value = worst.changed_value.max((u - v).abs());
                if (u - v).abs() > 1e-5 {
                    errors.push(format!(
                        "{case}/{file} {index}/{name}: changed_value {v} vs {u}"
                    ));
                }
            }
        }
    }
    (errors, worst)
}

#[test]
fn predictions_match_the_reference() {
    let mut errors = Vec::new();
    for case in CASES {
        let dir = case_dir(case);
        let model = MvadModel::load(&dir).expect("reference export loads");
        let pre = json(&dir.join("expected_preprocess.json"));
        let k = model.variables().len();
        for (file, p) in pre["predict"].as_object().expect("predict cases") {
            let suffix = &file["predict".len()..file.len() - ".csv".len()];
            let expected = json(&dir.join(format!("expected_predict{suffix}.json")));
            let rows = model
                .predict(&frame(&dir.join(file)), PredictOptions::default())
                .expect("predict");
            let (errs, worst) =
                compare(case, file, expected.as_array().expect("rows"), &rows, p, k);
            eprintln!("{case}/{file}: {} rows, worst {worst:?}", rows.len());
            errors.extend(errs);
        }
    }
    assert!(
        errors.is_empty(),
        "{} mismatches, first ones:\n{}",
        errors.len(),
        errors[..errors.len().min(20)].join("\n")
    );
}

#[test]
fn first_window_activations_match_layer_by_layer() {
    use burn::tensor::{Device, Tensor, TensorData};
    for case in CASES {
        let dir = case_dir(case);
        let model = MvadModel::load(&dir).expect("reference export loads");
        let pre = json(&dir.join("expected_preprocess.json"));
        let (file, p) = pre["predict"]
            .as_object()
            .expect("predict")
            .iter()
            .next()
            .expect("one predict file");
        let acts = &p["window0_activations"];
        let input = floats(&acts["input_normalized"]["data"]);
        let (w, k) = (model.meta().input_size, model.variables().len());
        let x = Tensor::<3>::from_data(
            TensorData::new(
                input.iter().map(|&v| v as f32).collect::<Vec<f32>>(),
                [1, w, k],
            ),
            &Device::flex(),
        );
        let pooled: Vec<f32> = model
            .net()
            .pooled(x.clone())
            .into_data()
            .try_into_vec()
            .expect("f32");
        let want = floats(&acts["pooled"]["data"]);
        let worst = pooled
            .iter()
            .zip(&want)
            .map(|(a, b)| (*a as f64 - b).abs())
            .fold(0.0, f64::max);
        assert!(worst <= 1e-5, "{case}/{file}: pooled off by {worst:e}");
        let out = model.net().forward(x, None);
        for (name, got) in [
            (
                "x_pred",
                out.x_pred.into_data().try_into_vec::<f32>().expect("f32"),
            ),
            (
                "feat_attn",
                out.feat_attn
                    .into_data()
                    .try_into_vec::<f32>()
                    .expect("f32"),
            ),
            (
                "vae_mu",
                out.mu.into_data().try_into_vec::<f32>().expect("f32"),
            ),
            (
                "x_recon",
                out.x_recon.into_data().try_into_vec::<f32>().expect("f32"),
            ),
        ] {
            let want = floats(&acts[name]["data"]);
            assert_eq!(got.len(), want.len(), "{case}: {name} size");
            let worst = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (*a as f64 - b).abs())
                .fold(0.0, f64::max);
            assert!(worst <= 1e-5, "{case}/{file}: {name} off by {worst:e}");
        }
    }
}

/// The native forward (used for all scoring) and the burn network agree on every output of
/// every window of every golden model, over the models' own training data.
#[test]
fn native_forward_matches_the_burn_network() {
    for case in CASES {
        let dir = case_dir(case);
        let model = MvadModel::load(&dir).expect("reference export loads");
        let prepared = preprocess::prepare(&frame(&dir.join("train.csv")), params(case).fill);
        let series = model
            .meta()
            .normalize_base
            .apply(&prepared.values, -1000.0, 1000.0);
        let ends = preprocess::window_ends(prepared.n(), model.meta().input_size, 7);
        let native = model.window_outputs(&series, &ends);
        let burn = model.window_outputs_burn(&series, &ends);
        for (name, a, b) in [
            ("x_pred", &native.x_pred, &burn.x_pred),
            ("x_recon", &native.x_recon, &burn.x_recon),
            ("feat_attn", &native.feat_attn, &burn.feat_attn),
            ("target", &native.target, &burn.target),
        ] {
            assert_eq!(a.len(), b.len(), "{case} {name}");
            let worst = a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0f32, f32::max);
            eprintln!(
                "{case}: {name} worst |native − burn| = {worst:e} over {} values",
                a.len()
            );
            assert!(worst <= 2e-6, "{case} {name}: {worst:e}");
        }
    }
}
