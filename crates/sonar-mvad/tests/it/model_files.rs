//! Model files: save → load gives identical scores; damaged or incompatible files are refused
//! with an error naming the file and the problem.

use std::path::{Path, PathBuf};

use sonar_mvad::{Frame, MvadModel, PredictOptions, META_FILE, WEIGHTS_FILE};

fn golden(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(case)
}

fn predict_frame(case: &str) -> Frame {
    Frame::from_csv(&std::fs::read_to_string(golden(case).join("predict.csv")).expect("csv"))
        .expect("frame")
}

#[test]
fn save_then_load_gives_identical_scores() {
    let model = MvadModel::load(&golden("sines3_e15")).expect("load");
    let dir = tempfile::tempdir().expect("tempdir");
    model.save(dir.path()).expect("save");
    let again = MvadModel::load(dir.path()).expect("reload");
    assert_eq!(again.weights(), model.weights());
    let f = predict_frame("sines3_e15");
    let a = model
        .predict(&f, PredictOptions::default())
        .expect("predict");
    let b = again
        .predict(&f, PredictOptions::default())
        .expect("predict");
    assert_eq!(a, b);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join(META_FILE)).expect("meta"))
            .expect("json");
    assert_eq!(meta["format"], "sonar-mvad-model");
    assert_eq!(meta["format_version"], 1);
    assert_eq!(meta["variables"], serde_json::json!(["cpu", "mem", "net"]));
}

fn copy_model(case: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for f in [WEIGHTS_FILE, META_FILE] {
        std::fs::copy(golden(case).join(f), dir.path().join(f)).expect("copy");
    }
    dir
}

fn load_error(dir: &Path) -> String {
    MvadModel::load(dir)
        .expect_err("must be refused")
        .to_string()
}

/// The load error of a golden model saved in our format, its metadata then edited by `edit`.
fn edited_meta_error(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let dir = copy_model("sines3");
    let model = MvadModel::load(dir.path()).expect("load");
    model.save(dir.path()).expect("save");
    let meta_path = dir.path().join(META_FILE);
    let mut meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta_path).expect("read")).expect("json");
    edit(&mut meta);
    std::fs::write(&meta_path, serde_json::to_vec(&meta).expect("json")).expect("write");
    load_error(dir.path())
}

#[test]
fn damaged_and_incompatible_files_are_refused() {
    // Truncated weights.
    let dir = copy_model("sines3");
    let w = dir.path().join(WEIGHTS_FILE);
    let bytes = std::fs::read(&w).expect("read");
    std::fs::write(&w, &bytes[..bytes.len() / 3]).expect("write");
    let e = load_error(dir.path());
    assert!(
        e.contains(WEIGHTS_FILE) && e.contains("not a valid safetensors"),
        "{e}"
    );

    // Corrupted metadata.
    let dir = copy_model("sines3");
    std::fs::write(dir.path().join(META_FILE), b"{\"variables\": [").expect("write");
    let e = load_error(dir.path());
    assert!(
        e.contains(META_FILE) && e.contains("not a valid model metadata"),
        "{e}"
    );

    // Weights for another number of variables.
    let dir = copy_model("sines3");
    std::fs::copy(
        golden("alerts10").join(WEIGHTS_FILE),
        dir.path().join(WEIGHTS_FILE),
    )
    .expect("copy");
    let e = load_error(dir.path());
    assert!(e.contains("shape"), "{e}");

    // A newer format version.
    let e = edited_meta_error(|meta| meta["format_version"] = 99.into());
    assert!(e.contains("newer") && e.contains("99"), "{e}");

    // Standardised scoring without the error scales it divides by.
    let standardised = |meta: &mut serde_json::Value| {
        let mut params = serde_json::to_value(sonar_mvad::MvadParams::default()).expect("json");
        params["scoring"] = serde_json::json!({"error": "standardised"});
        meta["params"] = params;
    };
    let e = edited_meta_error(standardised);
    assert!(e.contains("error_scales"), "{e}");
    let e = edited_meta_error(|meta| {
        standardised(meta);
        meta["error_scales"] =
            serde_json::json!({"forecast": [1, 1, 0], "recon": [1, 1, 1], "windows": 3});
    });
    assert!(e.contains("3 positive numbers"), "{e}");
    let e = edited_meta_error(|meta| {
        standardised(meta);
        meta["params"]["scoring"]["smooth_rows"] = 0.into();
    });
    assert!(e.contains("smooth_rows"), "{e}");

    // Missing directory.
    let e = load_error(Path::new("/nonexistent/model"));
    assert!(e.contains("cannot read"), "{e}");
}

#[test]
fn column_mismatch_is_an_error_unless_aligned() {
    let model = MvadModel::load(&golden("sines3")).expect("load");
    let f = predict_frame("sines3");
    // Rename one column: "mem" -> "memory".
    let cols: Vec<String> = f
        .columns()
        .iter()
        .map(|c| {
            if c == "mem" {
                "memory".into()
            } else {
                c.clone()
            }
        })
        .collect();
    let renamed = Frame::new(f.index().to_vec(), cols, f.values().to_vec()).expect("frame");
    let e = model
        .predict(&renamed, PredictOptions::default())
        .expect_err("mismatch")
        .to_string();
    assert!(
        e.contains("missing [\"mem\"]") && e.contains("unexpected [\"memory\"]"),
        "{e}"
    );
    let aligned = model
        .predict(
            &renamed,
            PredictOptions {
                align_columns: true,
                ..Default::default()
            },
        )
        .expect("aligned");
    assert_eq!(aligned.len(), 361);
}

#[test]
fn too_few_rows_to_score_says_the_minimum() {
    let model = MvadModel::load(&golden("sines3")).expect("load");
    let e = model
        .predict(&predict_frame("sines3").tail(39), PredictOptions::default())
        .expect_err("short");
    let text = e.to_string();
    assert!(text.contains("39 rows given, at least 40 needed"), "{text}");
    assert_eq!(
        model
            .predict(&predict_frame("sines3").tail(40), PredictOptions::default())
            .expect("one row")
            .len(),
        1
    );
}
