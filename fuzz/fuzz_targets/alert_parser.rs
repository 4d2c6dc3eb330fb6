//! Arbitrary bytes as a local alert file (JSON array, object, NDJSON or `_search` response),
//! read by `LocalFiles` and fed to the streaming `FeatureBuilder`: the result is an error or
//! a matrix of the right shape, never a panic. Every string the file holds is also tried as
//! a timestamp.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use sonar::features::{FeatureBuilder, FeatureSpec};
use sonar::source::local::LocalFiles;
use sonar::source::timestamp::parse_timestamp;
use sonar::source::{AlertQuery, AlertSource, TimeRange};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_timestamp(text);
    }
    // The first byte picks the file name's extension (it decides NDJSON vs JSON reading).
    let (suffix, body) = match data.split_first() {
        Some((b, rest)) if b % 2 == 0 => (".ndjson", rest),
        Some((_, rest)) => (".json", rest),
        None => (".json", data),
    };
    let mut file = tempfile_in_shm(suffix);
    file.1.write_all(body).expect("write fuzz input");
    drop(file.1);
    let Ok(mut source) = LocalFiles::open(&file.0) else {
        return;
    };
    let start = chrono::DateTime::from_timestamp(0, 0).expect("epoch");
    let end = chrono::DateTime::from_timestamp(4_102_444_800, 0).expect("2100");
    let spec = FeatureSpec {
        bucket_minutes: 60 * 24 * 7,
        numeric_fields: vec!["rule.level".into(), "data.x".into()],
        max_numeric_fields: vec!["data.x".into()],
        categorical_fields: vec!["rule.groups".into(), "agent.name".into()],
        categorical_top_k: 3,
        derived_features: true,
        timestamp_field: "timestamp".into(),
    };
    let plan = spec.validate().expect("the spec is valid");
    // A narrow grid keeps each run fast; alerts outside it are counted, not used. Buckets
    // are epoch-aligned, so the grid is too: exactly 10 weekly buckets (2023-11-16 on).
    const WEEK: i64 = 7 * 86_400;
    let grid = TimeRange {
        start: chrono::DateTime::from_timestamp(2810 * WEEK, 0).expect("2023"),
        end: chrono::DateTime::from_timestamp(2820 * WEEK, 0).expect("2024"),
    };
    let mut builder = FeatureBuilder::for_training(&plan, grid).expect("valid grid");
    let query = AlertQuery {
        range: TimeRange { start, end },
        timestamp_field: "timestamp".into(),
        fields: Vec::new(),
        alert_filter: None,
    };
    let streamed = source.stream(&query, &mut |page| {
        builder.push_page(&page);
        Ok(())
    });
    let _ = std::fs::remove_file(&file.0);
    if streamed.is_ok() {
        let matrix = builder.finish();
        assert_eq!(matrix.values.len(), matrix.rows() * matrix.cols());
        assert_eq!(matrix.rows(), 10);
    }
});

/// A fresh file under /dev/shm (RAM) when it exists, else the temp dir.
fn tempfile_in_shm(suffix: &str) -> (std::path::PathBuf, std::fs::File) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        std::path::PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let n = N.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!("sonar-fuzz-{}-{n}{suffix}", std::process::id()));
    let file = std::fs::File::create(&path).expect("create fuzz input file");
    (path, file)
}
