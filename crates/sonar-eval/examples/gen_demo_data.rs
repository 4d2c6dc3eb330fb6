//! Regenerates the bundled demo data in `demo/` (deterministic: the same bytes every run).
//!
//! `cargo run -p sonar-eval --example gen_demo_data [OUT_DIR]` (default: `demo` at the workspace root).

use std::io::Write;
use std::path::PathBuf;

use sonar_eval::demo::{generate, DEMO_SEED};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = match std::env::args_os().nth(1) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../demo"),
    };
    std::fs::create_dir_all(&out)?;
    let data = generate(DEMO_SEED);
    for file in &data.files {
        let path = out.join(file.name);
        let mut writer = std::io::BufWriter::new(std::fs::File::create(&path)?);
        for alert in &file.alerts {
            serde_json::to_writer(&mut writer, alert)?;
            writer.write_all(b"\n")?;
        }
        writer.flush()?;
        println!("{}: {} alerts", path.display(), file.alerts.len());
    }
    let labels = serde_json::to_string_pretty(&data.labels)?;
    std::fs::write(out.join("labels.json"), labels + "\n")?;
    for label in &data.labels {
        println!(
            "{:<22} {} .. {}  {:?}",
            label.name, label.start, label.end, label.hosts
        );
    }
    Ok(())
}
