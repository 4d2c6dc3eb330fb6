//! Engine benchmarks (issue: speed). One Adam step and batched inference at k = 10 and
//! k = 40 with W = 100 (sliding_window 200), and streaming one-row scoring.
//!
//! `cargo bench -p sonar-mvad --bench engine` (results: docs/benchmarks.md).
#![allow(missing_docs)] // criterion_group! generates an undocumented function.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sonar_mvad::{fit, Frame, MvadModel, MvadParams, StreamingScorer, ThresholdRule, Trainer};

const W: usize = 100;
const BATCH: usize = 128;

fn params() -> MvadParams {
    MvadParams {
        sliding_window: Some(2 * W),
        epochs: 1,
        ..MvadParams::default()
    }
}

/// Deterministic noisy sines, `n` rows × `k` columns.
fn sines(n: usize, k: usize) -> Frame {
    let mut values = Vec::with_capacity(n * k);
    for t in 0..n {
        for j in 0..k {
            let period = 40.0 + 260.0 * j as f64 / k.max(2) as f64;
            let noise = ((t * 31 + j * 17) % 97) as f64 / 97.0 - 0.5;
            values.push(
                (2.0 * std::f64::consts::PI * t as f64 / period + j as f64).sin() + 0.05 * noise,
            );
        }
    }
    let index = (0..n).map(|t| format!("{t:012}")).collect();
    let columns = (0..k).map(|j| format!("v{j:02}")).collect();
    Frame::new(index, columns, values).expect("frame")
}

fn model(k: usize) -> (MvadModel, Frame) {
    let data = sines(600, k);
    (fit(&data, &params(), &mut ()).expect("fit"), data)
}

fn train_step(c: &mut Criterion) {
    let mut g = c.benchmark_group("train_step");
    g.sample_size(10);
    for k in [10, 40] {
        let mut trainer = Trainer::new(k, &params());
        let x: Vec<f32> = (0..BATCH * W * k)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
            .collect();
        let y: Vec<f32> = (0..BATCH * k)
            .map(|i| ((i * 104_729) % 1000) as f32 / 1000.0)
            .collect();
        g.throughput(Throughput::Elements(BATCH as u64));
        g.bench_with_input(BenchmarkId::new("batch128_W100", k), &k, |b, _| {
            b.iter(|| trainer.step(x.clone(), y.clone()))
        });
    }
    g.finish();
}

fn batched_inference(c: &mut Criterion) {
    let mut g = c.benchmark_group("predict_windows");
    g.sample_size(10);
    for k in [10, 40] {
        let (model, data) = model(k);
        let series = model
            .meta()
            .normalize_base
            .apply(data.values(), -1000.0, 1000.0);
        let ends: Vec<usize> = (W..W + 256).collect();
        g.throughput(Throughput::Elements(ends.len() as u64));
        g.bench_with_input(BenchmarkId::new("256_windows_W100", k), &k, |b, _| {
            b.iter(|| model.window_outputs(&series, &ends))
        });
    }
    g.finish();
}

fn streaming_one_row(c: &mut Criterion) {
    let mut g = c.benchmark_group("stream_one_row");
    for k in [10, 40] {
        let (model, data) = model(k);
        let mut scorer = StreamingScorer::new(&model, ThresholdRule::Lagged);
        scorer.push_frame(&data, false).expect("warm up");
        let mut t = data.n_rows();
        let row: Vec<f64> = data.values()[..k].to_vec();
        g.bench_with_input(BenchmarkId::new("W100_TW100", k), &k, |b, _| {
            b.iter(|| {
                t += 1;
                let f = Frame::new(
                    vec![format!("{t:012}")],
                    data.columns().to_vec(),
                    row.clone(),
                )
                .expect("row");
                scorer.push_frame(&f, false).expect("push")
            })
        });
    }
    g.finish();
}

criterion_group!(benches, train_step, batched_inference, streaming_one_row);
criterion_main!(benches);
