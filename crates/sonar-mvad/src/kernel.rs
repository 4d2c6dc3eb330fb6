//! Matrix products for the network's small shapes, in explicit SIMD chosen at run time.
//!
//! The release binary is built for baseline x86-64, so plain loops compile to 4-lane SSE2
//! without fused multiply-add. [`pulp`] checks the CPU once and runs the code under
//! [`pulp::Arch::dispatch`] compiled for AVX-512 (16 lanes) or AVX2 + FMA (8 lanes) where the
//! CPU has them, one rounding per multiply-add either way, falling back to scalar code
//! elsewhere, without `unsafe` in this crate. Everything that should get the wide instructions is generic over [`Simd`] and
//! `#[inline(always)]`, so it is compiled inside the dispatched function.
//!
//! [`matmul_acc`] multiplies in register tiles of up to four rows of the left matrix by three
//! vectors of columns: each column vector of the right matrix is loaded once for four rows,
//! and each output element is accumulated in a register, one fused multiply-add per inner
//! index, **in the same order whatever the number of rows**. So a row's result does not depend
//! on which other rows were multiplied with it: scoring one window (streaming) and scoring it
//! inside a batch give the same bits (docs/mvad.md).

use pulp::Simd;

/// Columns of a [`Padded`] matrix are stored in multiples of this many floats, so each row
/// splits into whole vectors on every target (8 lanes for AVX2, 16 for AVX-512).
pub const LANE_PAD: usize = 16;

/// `cols` rounded up to [`LANE_PAD`].
pub fn padded(cols: usize) -> usize {
    cols.next_multiple_of(LANE_PAD)
}

/// A row-major `[rows, cols]` matrix whose rows are stored `padded(cols)` floats apart, the
/// padding zero.
#[derive(Debug, Clone)]
pub struct Padded {
    data: Vec<f32>,
    rows: usize,
    cols: usize,
}

impl Padded {
    /// From a dense row-major `[rows, cols]` matrix.
    pub fn from_rows(m: &[f32], rows: usize, cols: usize) -> Self {
        assert_eq!(m.len(), rows * cols, "matrix of {rows} x {cols}");
        let stride = padded(cols);
        let mut data = vec![0.0f32; rows * stride];
        for (to, from) in data.chunks_exact_mut(stride).zip(m.chunks_exact(cols)) {
            to[..cols].copy_from_slice(from);
        }
        Self { data, rows, cols }
    }

    /// From torch's `[out, in]` layout: the transpose, `[in, out]`.
    pub fn from_torch(m: &[f32], out: usize, inner: usize) -> Self {
        let mut t = vec![0.0f32; m.len()];
        for r in 0..out {
            for c in 0..inner {
                t[c * out + r] = m[r * inner + c];
            }
        }
        Self::from_rows(&t, inner, out)
    }

    /// Rows (the inner dimension of a product by this matrix).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns, without the padding.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Floats from one row to the next.
    pub fn stride(&self) -> usize {
        padded(self.cols)
    }

    /// `v` (a bias of `cols` floats) padded with zeros to the stride: the layout of an output
    /// row of [`matmul_acc`].
    pub fn padded_row(v: &[f32]) -> Vec<f32> {
        let mut row = vec![0.0f32; padded(v.len())];
        row[..v.len()].copy_from_slice(v);
        row
    }
}

/// `out[r] += a[r] · b` for the `rows` rows of `a` (each `a_stride` floats apart, the first
/// `b.rows()` of them used) and of `out` (each `b.stride()` floats apart). Padding columns of
/// `out` receive zeros' products and stay as they were.
#[inline(always)]
pub fn matmul_acc<S: Simd>(
    simd: S,
    a: &[f32],
    a_stride: usize,
    rows: usize,
    b: &Padded,
    out: &mut [f32],
) {
    let inner = b.rows;
    let stride = b.stride();
    assert!(
        rows == 0 || a.len() >= (rows - 1) * a_stride + inner,
        "left matrix too short"
    );
    assert!(out.len() >= rows * stride, "output too short");
    let nv = stride / S::F32_LANES;
    let bv = S::as_simd_f32s(&b.data).0;
    let outv = S::as_mut_simd_f32s(&mut out[..rows * stride]).0;
    let lhs = Lhs {
        a,
        stride: a_stride,
        inner,
        rows,
    };
    // Column blocks outside, row tiles inside: one block of `b` (inner × 3 vectors) stays in
    // the L1 cache while every row tile goes past it.
    let mut c = 0;
    while c + 3 <= nv {
        row_tiles::<S, 3>(simd, &lhs, bv, nv, c, outv);
        c += 3;
    }
    match nv - c {
        2 => row_tiles::<S, 2>(simd, &lhs, bv, nv, c, outv),
        1 => row_tiles::<S, 1>(simd, &lhs, bv, nv, c, outv),
        _ => {}
    }
}

/// The left matrix of [`matmul_acc`].
struct Lhs<'a> {
    a: &'a [f32],
    stride: usize,
    inner: usize,
    rows: usize,
}

impl Lhs<'_> {
    /// Row `r`, cut to the inner length so that indexing it needs no checks.
    #[inline(always)]
    fn row(&self, r: usize) -> &[f32] {
        &self.a[r * self.stride..r * self.stride + self.inner]
    }
}

/// The columns `c..c + V` (in vectors) of every row: tiles of four rows (the most that fits
/// AVX2's 16 registers with three vectors: 12 accumulators, 3 loads, 1 broadcast), then
/// single rows.
#[inline(always)]
fn row_tiles<S: Simd, const V: usize>(
    simd: S,
    lhs: &Lhs<'_>,
    bv: &[S::f32s],
    nv: usize,
    c: usize,
    out: &mut [S::f32s],
) {
    let mut r = 0;
    while r + 4 <= lhs.rows {
        let rows = [lhs.row(r), lhs.row(r + 1), lhs.row(r + 2), lhs.row(r + 3)];
        block::<S, 4, V>(simd, rows, bv, nv, c, &mut out[r * nv..(r + 4) * nv]);
        r += 4;
    }
    while r < lhs.rows {
        block::<S, 1, V>(
            simd,
            [lhs.row(r)],
            bv,
            nv,
            c,
            &mut out[r * nv..(r + 1) * nv],
        );
        r += 1;
    }
}

/// One register tile: `R` rows × `V` vectors of columns starting at vector `c`; the rows of
/// `lhs` all have the inner length.
#[inline(always)]
fn block<S: Simd, const R: usize, const V: usize>(
    simd: S,
    lhs: [&[f32]; R],
    bv: &[S::f32s],
    nv: usize,
    c: usize,
    out: &mut [S::f32s],
) {
    let mut acc = [[simd.splat_f32s(0.0); V]; R];
    for (r, acc) in acc.iter_mut().enumerate() {
        acc.copy_from_slice(&out[r * nv + c..r * nv + c + V]);
    }
    let inner = lhs[0].len();
    for i in 0..inner {
        let brow = &bv[i * nv + c..i * nv + c + V];
        for r in 0..R {
            let x = simd.splat_f32s(lhs[r][i]);
            for v in 0..V {
                acc[r][v] = simd.mul_add_e_f32s(x, brow[v], acc[r][v]);
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        out[r * nv + c..r * nv + c + V].copy_from_slice(acc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Run<'a>(&'a [f32], usize, usize, &'a Padded, &'a mut [f32]);

    impl pulp::WithSimd for Run<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, simd: S) {
            matmul_acc(simd, self.0, self.1, self.2, self.3, self.4);
        }
    }

    #[test]
    fn matmul_matches_the_definition_and_a_row_does_not_depend_on_its_neighbours() {
        let (inner, cols) = (7, 37);
        let b: Vec<f32> = (0..inner * cols).map(|i| (i as f32 * 0.11).cos()).collect();
        let b = Padded::from_rows(&b, inner, cols);
        let a_stride = inner + 2;
        let arch = pulp::Arch::new();
        for rows in 1..=9 {
            let a: Vec<f32> = (0..rows * a_stride)
                .map(|i| (i as f32 * 0.37).sin())
                .collect();
            let mut out = vec![1.0f32; rows * b.stride()];
            arch.dispatch(Run(&a, a_stride, rows, &b, &mut out));
            for r in 0..rows {
                for c in 0..b.stride() {
                    let want: f32 = 1.0
                        + (0..inner)
                            .map(|i| a[r * a_stride + i] * b.data[i * b.stride() + c])
                            .sum::<f32>();
                    let got = out[r * b.stride() + c];
                    if c >= cols {
                        assert_eq!(got, 1.0, "padding column {c}");
                    }
                    assert!((got - want).abs() < 1e-5, "{rows} rows: {r} {c}");
                }
            }
            // The scalar fallback (CPUs without AVX2) agrees to rounding.
            let mut scalar = vec![1.0f32; rows * b.stride()];
            pulp::WithSimd::with_simd(Run(&a, a_stride, rows, &b, &mut scalar), pulp::Scalar);
            for (s, o) in scalar.iter().zip(&out) {
                assert!((s - o).abs() < 1e-5, "scalar {s} vs {o}");
            }
            // The last row, multiplied on its own, gives the same bits.
            let last = &a[(rows - 1) * a_stride..];
            let mut one = vec![1.0f32; b.stride()];
            arch.dispatch(Run(last, a_stride, 1, &b, &mut one));
            assert_eq!(one, out[(rows - 1) * b.stride()..], "{rows} rows");
        }
    }
}
