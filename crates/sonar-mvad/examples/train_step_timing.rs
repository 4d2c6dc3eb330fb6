//! Times optimizer steps of the trainer, with the fused GRU (the CPU default) or with the GRU
//! in burn's autodiff, for CPU-time comparisons on a shared machine:
//!
//! ```text
//! perf stat -e task-clock target/release/examples/train_step_timing 10 10 fused
//! perf stat -e task-clock target/release/examples/train_step_timing 10 10 burn
//! ```
//!
//! Arguments: k (variables, default 10), steps (default 10), `fused` or `burn` (default
//! `fused`). Batch 128, W = 100 (sliding_window 200). One untimed step runs first.

use sonar_mvad::{MvadParams, Trainer};

fn main() {
    let mut args = std::env::args().skip(1);
    let k: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(10);
    let steps: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(10);
    let fused = args.next().as_deref() != Some("burn");
    let params = MvadParams {
        sliding_window: Some(200),
        ..MvadParams::default()
    };
    let (batch, w) = (128, 100);
    let mut trainer = Trainer::new(k, &params);
    trainer.set_fused_gru(fused);
    let x: Vec<f32> = (0..batch * w * k)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
        .collect();
    let y: Vec<f32> = (0..batch * k)
        .map(|i| ((i * 104_729) % 1000) as f32 / 1000.0)
        .collect();
    trainer.step(x.clone(), y.clone());
    let started = std::time::Instant::now();
    for _ in 0..steps {
        trainer.step(x.clone(), y.clone());
    }
    println!(
        "{} GRU: {:.1} ms/step (wall), k = {k}, batch {batch}, W = {w}",
        if fused { "fused" } else { "burn autodiff" },
        started.elapsed().as_secs_f64() * 1000.0 / steps as f64
    );
    // Where it went (the untimed first step included).
    let p = trainer.profile();
    let per = |d: std::time::Duration| d.as_secs_f64() * 1000.0 / p.steps as f64;
    let total = per(p.total());
    for (name, d) in [
        ("noise, masks, ε (host)", p.noise),
        ("encode: pooling + attentions", p.encode),
        ("GRU forward (fused)", p.gru_forward),
        ("heads + loss (burn)", p.heads),
        ("heads backward (burn autodiff)", p.heads_backward),
        ("GRU backward (fused)", p.gru_backward),
        ("attentions backward", p.encode_backward),
        ("Adam update", p.update),
    ] {
        println!(
            "  {name:<38} {:>7.2} ms/step {:>5.1} %",
            per(d),
            100.0 * per(d) / total
        );
    }
}
