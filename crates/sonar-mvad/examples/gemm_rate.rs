//! What matrix products this machine does: GFLOP/s of burn's `flex` matmul (the gemm crate,
//! which picks its SIMD kernel at run time) at a large square size and at the shapes the MVAD
//! network multiplies, and of the plain-loop product of the native forward (`native.rs`).
//! Reports wall time and the process's CPU time (so a machine shared with other jobs can be
//! read), each over about half a second of repetitions.
//!
//! ```text
//! cargo run --release -p sonar-mvad --example gemm_rate            # rayon threads: all cores
//! RAYON_NUM_THREADS=1 cargo run --release -p sonar-mvad --example gemm_rate
//! cargo run --release -p sonar-mvad --example gemm_rate native          # the native forward only
//! cargo run --release -p sonar-mvad --example gemm_rate native-batch    # ... and only in batches
//! ```

use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// User + system CPU seconds of this process so far (from /proc/self/stat; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn rate(label: &str, flops_per_call: f64, mut call: impl FnMut()) {
    call();
    let (wall0, cpu0) = (Instant::now(), cpu_seconds());
    let mut calls = 0usize;
    while wall0.elapsed().as_secs_f64() < 0.5 {
        call();
        calls += 1;
    }
    let wall = wall0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let gflop = flops_per_call * calls as f64 / 1e9;
    println!(
        "{label:<46} {:>7.1} GFLOP/s wall {:>7.1} GFLOP/s per CPU-second",
        gflop / wall,
        if cpu > 0.0 { gflop / cpu } else { f64::NAN }
    );
}

fn burn_matmul(device: &Device, m: usize, k: usize, n: usize) {
    let a: Vec<f32> = (0..m * k).map(|i| (i % 97) as f32 * 0.01).collect();
    let b: Vec<f32> = (0..k * n).map(|i| (i % 89) as f32 * 0.01).collect();
    let a = Tensor::<2>::from_data(TensorData::new(a, [m, k]), device);
    let b = Tensor::<2>::from_data(TensorData::new(b, [k, n]), device);
    rate(
        &format!("burn flex matmul [{m}, {k}] x [{k}, {n}]"),
        2.0 * (m * k * n) as f32 as f64,
        || {
            let c = a.clone().matmul(b.clone());
            std::hint::black_box(c.into_data());
        },
    );
}

fn kernel_matmul(m: usize, inner: usize, n: usize) {
    use sonar_mvad::kernel::{matmul_acc, Padded};
    struct Product<'a>(&'a [f32], usize, usize, &'a Padded, &'a mut [f32]);
    impl pulp::WithSimd for Product<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, simd: S) {
            matmul_acc(simd, self.0, self.1, self.2, self.3, self.4);
        }
    }
    let a: Vec<f32> = (0..m * inner).map(|i| (i % 97) as f32 * 0.01).collect();
    let b: Vec<f32> = (0..inner * n).map(|i| (i % 89) as f32 * 0.01).collect();
    let b = Padded::from_rows(&b, inner, n);
    let mut out = vec![0.0f32; m * b.stride()];
    let arch = pulp::Arch::new();
    rate(
        &format!("kernel matmul_acc [{m}, {inner}] x [{inner}, {n}]"),
        2.0 * (m * inner * n) as f64,
        || {
            arch.dispatch(Product(&a, inner, m, &b, &mut out));
            std::hint::black_box(&out);
        },
    );
}

fn main() {
    println!(
        "rayon threads: {}, cores: {}",
        rayon::current_num_threads(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let device = Device::flex();
    let arg = std::env::args().nth(1);
    let only_native = arg.as_deref().is_some_and(|a| a.starts_with("native"));
    let batch_only = arg.as_deref() == Some("native-batch");
    if !only_native {
        burn_matmul(&device, 1024, 1024, 1024);
        // The GRU at k = 40, batch 128, T = 100: input projection, one recurrent step, and the
        // weight gradient of the input projection.
        burn_matmul(&device, 128 * 100, 120, 300);
        burn_matmul(&device, 128, 100, 300);
        burn_matmul(&device, 120, 128 * 100, 300);
    }
    // The native forward's own product (`sonar_mvad::kernel`) at the GRU's shapes: a group of
    // eight windows' recurrent step, and the input projection of all 100 steps of eight.
    if !batch_only {
        for (m, inner) in [(8, 100), (800, 120)] {
            kernel_matmul(m, inner, 300);
        }
    }
    // The native forward (plain loops) over 256 windows at k = 40, W = 100, as scoring runs it.
    let k = 40;
    let weights = sonar_mvad::weights::Weights::init(k, &mut ChaCha8Rng::seed_from_u64(1));
    let net = sonar_mvad::native::NativeNet::new(&weights);
    let (n, w) = (256, 100);
    let x: Vec<f32> = (0..n * w * k)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
        .collect();
    rate(
        &format!("native forward, {n} windows, k = {k}, W = {w}"),
        n as f64 * forward_flops(k, w),
        || {
            std::hint::black_box(net.forward(&x, n));
        },
    );
    let per = w * k;
    if batch_only {
        return;
    }
    rate(
        &format!("native forward, one window at a time, k = {k}"),
        n as f64 * forward_flops(k, w),
        || {
            use rayon::prelude::*;
            let out: Vec<_> = x
                .par_chunks_exact(per)
                .map(|x| net.forward_window(x))
                .collect();
            std::hint::black_box(out);
        },
    );
    println!("FLOPs of one window at k = {k}, W = {w}: forward {:.2} M, training (forward + backward, ~3x) {:.1} M",
        forward_flops(k, w) / 1e6, 3.0 * forward_flops(k, w) / 1e6);
}

/// Multiply-adds ×2 of one window's forward pass (T = 100 pooled steps, H = 100): the moving
/// average, both attentions (scores and products), the GRU's input and recurrent products and
/// the heads' dense layers. Element-wise work (softmax, gates, batch norms) is left out.
pub fn forward_flops(k: usize, w: usize) -> f64 {
    let (t, h) = (100.0, 100.0);
    let (k, w) = (k as f64, w as f64);
    let moving_average = 7.0 * (w - 6.0) * k;
    let time_attention = 2.0 * t * k + t * t * k;
    let feature_attention = 2.0 * t * k + k * k * t;
    let gru = t * 3.0 * k * 3.0 * h + t * h * 3.0 * h;
    let heads = 2.0 * h * h + h * k + 2.0 * h * h + 2.0 * h * h + 2.0 * h * h + h * k;
    2.0 * (moving_average + time_attention + feature_attention + gru + heads)
}
