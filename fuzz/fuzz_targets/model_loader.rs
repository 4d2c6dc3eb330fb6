//! Arbitrary bytes as a model directory: the input is `[meta length: u32 LE][model_meta.json]
//! [model.safetensors]`, written to two files and loaded with `MvadModel::load_files`. A
//! damaged, truncated or mismatched model must be refused with an error, never a panic (nor
//! an allocation the files do not justify). Seeds: the golden models, built by scripts/fuzz.sh.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sonar_mvad::MvadModel;

fuzz_target!(|data: &[u8]| {
    let (meta, weights) = match data.split_first_chunk::<4>() {
        Some((len, rest)) => {
            let len = (u32::from_le_bytes(*len) as usize).min(rest.len());
            rest.split_at(len)
        }
        None => (data, &[][..]),
    };
    let dir = std::env::temp_dir().join(format!("sonar-fuzz-model-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("fuzz temp dir");
    let meta_path = dir.join("model_meta.json");
    let weights_path = dir.join("model.safetensors");
    std::fs::write(&meta_path, meta).expect("write meta");
    std::fs::write(&weights_path, weights).expect("write weights");
    if let Ok(model) = MvadModel::load_files(&weights_path, &meta_path) {
        assert!(model.min_rows() > 0);
    }
});
