//! Files SONAR writes for itself (the realtime state, the model) when the disk refuses a
//! write: a clear error naming the path, and the previous file left whole. A read-only
//! directory (chmod) does not stop root, which these tests may run as, so the refusal is
//! made with things root cannot write through either: a regular file where a directory is
//! needed, and a directory squatting on the temporary file's name.

use std::path::{Path, PathBuf};

use chrono::TimeZone;
use sonar::pipeline::RealtimeState;
use sonar::Error;
use sonar_mvad::{MvadModel, META_FILE, WEIGHTS_FILE};

fn state(minutes: i64) -> RealtimeState {
    let start = chrono::Utc
        .with_ymd_and_hms(2024, 5, 1, 0, 0, 0)
        .single()
        .expect("valid date");
    RealtimeState {
        version: 2,
        scenario_id: "bf01".to_owned(),
        last_scored_end: Some(start + chrono::Duration::minutes(minutes)),
        ..RealtimeState::default()
    }
}

fn io_error_path(error: &Error) -> PathBuf {
    match error {
        Error::Io { path, .. } => path.clone(),
        other => panic!("expected an I/O error naming the path, got {other:?}"),
    }
}

#[test]
fn a_refused_state_write_keeps_the_previous_state_whole() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bf01.realtime.json");
    state(5).save(&path).expect("first save");
    let before = std::fs::read(&path).expect("read state");

    // The temporary file cannot be created: the write fails before the rename.
    let tmp = dir.path().join("bf01.realtime.json.tmp");
    std::fs::create_dir(&tmp).expect("squat on the temp name");
    let error = state(10)
        .save(&path)
        .expect_err("the temp file is a directory");
    assert_eq!(io_error_path(&error), tmp, "{error}");
    assert!(error.to_string().contains("writing"), "{error}");
    assert_eq!(std::fs::read(&path).expect("read state"), before);
    let loaded = RealtimeState::load(&path, "bf01").expect("old state still loads");
    assert_eq!(loaded, state(5));
}

#[test]
fn an_unwritable_state_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, "a file where the state directory should be").expect("write");
    let path = blocker.join("state/bf01.realtime.json");
    let error = state(5)
        .save(&path)
        .expect_err("cannot create the directory");
    assert_eq!(io_error_path(&error), blocker.join("state"), "{error}");
    assert!(error.to_string().contains("creating directory"), "{error}");
}

#[test]
fn damaged_state_files_are_refused_with_what_to_do() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bf01.realtime.json");
    state(5).save(&path).expect("save");
    let whole = std::fs::read_to_string(&path).expect("read");
    let other_scenario = whole.replace("\"bf01\"", "\"lm02\"");
    for (case, text) in [
        ("truncated", &whole[..whole.len() / 2]),
        ("empty", ""),
        ("not JSON", "\u{0}\u{1}binary"),
        ("wrong types", r#"{"version": "two", "scenario_id": 7}"#),
        ("other scenario", other_scenario.as_str()),
    ] {
        std::fs::write(&path, text).expect("write damaged state");
        let error = RealtimeState::load(&path, "bf01").expect_err(case);
        let message = error.to_string();
        assert!(
            matches!(error, Error::RealtimeState { .. }) && message.contains("bf01.realtime.json"),
            "{case}: {message}"
        );
    }
}

fn golden_model() -> MvadModel {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sonar-mvad/tests/golden/sines3");
    MvadModel::load(&dir).expect("golden model loads")
}

#[test]
fn a_refused_model_write_keeps_the_previous_model_whole() {
    let model = golden_model();
    let dir = tempfile::tempdir().expect("temp dir");
    model.save(dir.path()).expect("first save");
    let before: Vec<Vec<u8>> = [WEIGHTS_FILE, META_FILE]
        .iter()
        .map(|f| std::fs::read(dir.path().join(f)).expect("read model file"))
        .collect();
    std::fs::create_dir(dir.path().join(format!(".{WEIGHTS_FILE}.tmp"))).expect("squat");
    let error = model
        .save(dir.path())
        .expect_err("the temp file is a directory");
    assert!(error.to_string().contains(WEIGHTS_FILE), "{error}");
    for (file, old) in [WEIGHTS_FILE, META_FILE].iter().zip(&before) {
        assert_eq!(
            &std::fs::read(dir.path().join(file)).expect("read"),
            old,
            "{file} changed"
        );
    }
    MvadModel::load(dir.path()).expect("the previous model still loads");

    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "x").expect("write");
    let error = model
        .save(&blocker.join("models"))
        .expect_err("directory cannot be created");
    assert!(error.to_string().contains("models"), "{error}");
}
