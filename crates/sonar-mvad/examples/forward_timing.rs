//! One-window and batched forwards, native or burn: `forward_timing native1|burn1|nativeB|burnB`.
//! Run under `perf stat -e cycles:u` to compare in CPU cycles, which other processes on a busy
//! machine do not inflate.
use std::time::Instant;
fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "native1".into());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/alerts10");
    let model = sonar_mvad::MvadModel::load(&dir).expect("model");
    let k = model.meta().variables.len();
    let w = model.meta().input_size;
    let n = 400;
    let series: Vec<f32> = (0..n * k)
        .map(|i| ((i as f32) * 0.013).sin() * 0.5 + 0.5)
        .collect();
    let one = [n - 1];
    let many: Vec<usize> = (w..w + 256).collect();
    let t = Instant::now();
    let windows = match mode.as_str() {
        "native1" => {
            for _ in 0..1000 {
                std::hint::black_box(model.window_outputs(&series, &one));
            }
            1000
        }
        "burn1" => {
            for _ in 0..1000 {
                std::hint::black_box(model.window_outputs_burn(&series, &one));
            }
            1000
        }
        "nativeB" => {
            for _ in 0..4 {
                std::hint::black_box(model.window_outputs(&series, &many));
            }
            1024
        }
        _ => {
            for _ in 0..4 {
                std::hint::black_box(model.window_outputs_burn(&series, &many));
            }
            1024
        }
    };
    eprintln!(
        "{mode}: {:.3} ms per window (wall)",
        t.elapsed().as_secs_f64() * 1e3 / windows as f64
    );
}
