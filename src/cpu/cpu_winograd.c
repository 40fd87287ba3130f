// Winograd F(2x2, 3x3) convolution for the CPU backend (3x3, stride 1, pad 1):
// each 2x2 output tile costs 16 multiplies per (in, out) channel pair instead of 36.
// Y = A^T [ (G g G^T) .* (B^T d B) ] A, with d the 4x4 input patch at (2i-1, 2j-1):
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
//   A^T = [1 1 1 0; 0 1 -1 -1].
// The 16 elementwise products over channels are 16 GEMMs, Mt[e] (K, T) = U[e] (K, C) *
// V[e] (C, T), over chunks of T tiles (whole tile rows) that keep V and Mt cache-sized.
// Transforms work on even/odd de-interleaved rows so every inner loop is unit-stride
// and vectorizes. Accuracy: ~5e-7 relative to float64 on VGG-sized layers (the
// transforms only add, subtract and halve).
#include <cblas.h>
#include <omp.h>
#include <string.h>

#include "cpu/cpu.h"

// Tiles per chunk: at least WINO_TILES, so each GEMM is long enough, and more for wide
// layers where packing U[e] (K, C) must be amortized: measured on Zen 4, 128 tiles
// beat larger chunks (V and Mt stay near L2) for C + K <= 512, 256 suit C = K = 512.
#define WINO_TILES 128
// Filters per block of the weight transform (its 9 x QB inputs stay in L1).
#define QB 64

// U (16, kc) = G g G^T for the kc filters g (3x3) of w (kc, 9).
static void weight_transform(float *u, const float *w, size_t kc) {
    size_t nblk = (kc + QB - 1) / QB;
#pragma omp parallel for schedule(static) if (kc > 4096)
    for (size_t blk = 0; blk < nblk; blk++) {
        size_t q0 = blk * QB, nq = kc - q0 < QB ? kc - q0 : QB;
        float g[9][QB], t[4][3][QB]; // g transposed to (9, filters); t = G g, (4, 3, filters)
        for (size_t j = 0; j < nq; j++)
            for (int s = 0; s < 9; s++) g[s][j] = w[(q0 + j) * 9 + s];
        for (int c = 0; c < 3; c++) {
            for (size_t j = 0; j < nq; j++) {
                float a = g[c][j], b = g[3 + c][j], d = g[6 + c][j];
                t[0][c][j] = a;
                t[1][c][j] = 0.5f * (a + b + d);
                t[2][c][j] = 0.5f * (a - b + d);
                t[3][c][j] = d;
            }
        }
        for (int r = 0; r < 4; r++) {
            float *u0 = u + (size_t)(4 * r) * kc + q0, *u1 = u0 + kc, *u2 = u1 + kc, *u3 = u2 + kc;
            for (size_t j = 0; j < nq; j++) {
                float a = t[r][0][j], b = t[r][1][j], d = t[r][2][j];
                u0[j] = a;
                u1[j] = 0.5f * (a + b + d);
                u2[j] = 0.5f * (a - b + d);
                u3[j] = d;
            }
        }
    }
}

// q[j] = sa * x[j] + sb * y[j] (sa, sb = +-1: exact), for the even and odd halves.
static inline void comb(float *restrict qe, float *restrict qo, const float *restrict xe,
                        const float *restrict xo, const float *restrict ye,
                        const float *restrict yo, float sa, float sb, int n) {
    for (int j = 0; j < n; j++) qe[j] = sa * xe[j] + sb * ye[j];
    for (int j = 0; j < n; j++) qo[j] = sa * xo[j] + sb * yo[j];
}

// V[e][ch][base + tj] for tile row ti of channel plane xc (h, w); V[e] rows are
// estride apart. pe, po: 4 rows of (tw + 1) scratch each; q: 4 * (tw + 1) (>= 2 * (tw + 1)
// + w). mc: NULL, or a plane like xc whose elements not > 0 zero xc's (a ReLU's
// backward), applied to each row in a contiguous pass before the de-interleave.
static void input_transform(float *v, size_t estride, size_t base, const float *xc, const float *mc,
                            int h, int w, int ti, int tw, float *pe, float *po, float *q) {
    int n1 = tw + 1;
    // Padded row r, de-interleaved: pe[j] = xpad[2j] = x[2j - 1], po[j] = xpad[2j + 1] = x[2j].
    for (int s = 0; s < 4; s++) {
        int r = 2 * ti - 1 + s;
        float *restrict e = pe + (size_t)s * n1, *restrict o = po + (size_t)s * n1;
        if (r < 0 || r >= h) {
            memset(e, 0, sizeof(float) * (size_t)n1);
            memset(o, 0, sizeof(float) * (size_t)n1);
            continue;
        }
        const float *restrict row = xc + (size_t)r * w;
        if (mc) {
            const float *restrict mrow = mc + (size_t)r * w;
            float *restrict rb = q + 2 * (size_t)n1;
            for (int j = 0; j < w; j++) rb[j] = mrow[j] > 0 ? row[j] : 0;
            row = rb;
        }
        int ne = w / 2, no = (w + 1) / 2; // e[1..ne], o[0..no) come from the row, the rest is 0
        e[0] = 0;
        for (int j = 1; j <= ne; j++) e[j] = row[2 * j - 1];
        for (int j = ne + 1; j < n1; j++) e[j] = 0;
        for (int j = 0; j < no; j++) o[j] = row[2 * j];
        for (int j = no; j < n1; j++) o[j] = 0;
    }
    const float *e0 = pe, *e1 = pe + n1, *e2 = pe + 2 * n1, *e3 = pe + 3 * n1;
    const float *o0 = po, *o1 = po + n1, *o2 = po + 2 * n1, *o3 = po + 3 * n1;
    float *restrict qe = q, *restrict qo = q + n1;
    for (int a = 0; a < 4; a++) {
        // Row a of B^T d: d0 - d2, d1 + d2, d2 - d1, d1 - d3.
        if (a == 0) comb(qe, qo, e0, o0, e2, o2, 1.0f, -1.0f, n1);
        else if (a == 1) comb(qe, qo, e1, o1, e2, o2, 1.0f, 1.0f, n1);
        else if (a == 2) comb(qe, qo, e2, o2, e1, o1, 1.0f, -1.0f, n1);
        else comb(qe, qo, e1, o1, e3, o3, 1.0f, -1.0f, n1);
        // Columns 2j .. 2j+3 of the padded row are qe[j], qo[j], qe[j+1], qo[j+1].
        float *restrict v0 = v + (size_t)(4 * a) * estride + base;
        float *restrict v1 = v0 + estride, *restrict v2 = v1 + estride, *restrict v3 = v2 + estride;
        for (int j = 0; j < tw; j++) {
            v0[j] = qe[j] - qe[j + 1];
            v1[j] = qo[j] + qe[j + 1];
            v2[j] = qe[j + 1] - qo[j];
            v3[j] = qo[j] - qo[j + 1];
        }
    }
}

// s0 = m0 + m1 + m2, s1 = m1 - m2 - m3 (one step of A^T m A).
static inline void reduce4(float *restrict s0, float *restrict s1, const float *restrict m0,
                           const float *restrict m1, const float *restrict m2,
                           const float *restrict m3, int n) {
    for (int j = 0; j < n; j++) {
        s0[j] = m0[j] + m1[j] + m2[j];
        s1[j] = m1[j] - m2[j] - m3[j];
    }
}

// Output tile row ti of channel plane yc (h, w) from Mt[e][base + tj] (rows estride
// apart); s: 12 * tw scratch.
static void output_transform(float *yc, const float *m, size_t estride, size_t base, int h, int w,
                             int ti, int tw, float bias, int relu, float *s) {
    // Columns of A^T m: c[r][b] for r = 0, 1 (8 rows of tw), then the outputs (4 rows).
    float *cs = s, *out = s + 8 * (size_t)tw;
    for (int b = 0; b < 4; b++) {
        const float *m0 = m + (size_t)b * estride + base;
        reduce4(cs + (size_t)b * tw, cs + (size_t)(4 + b) * tw, m0, m0 + 4 * estride,
                m0 + 8 * estride, m0 + 12 * estride, tw);
    }
    for (int r = 0; r < 2; r++) {
        const float *c0 = cs + (size_t)(4 * r) * tw;
        float *restrict ya = out + (size_t)(2 * r) * tw, *restrict yb = ya + tw;
        reduce4(ya, yb, c0, c0 + tw, c0 + 2 * tw, c0 + 3 * tw, tw);
        for (int j = 0; j < tw; j++) {
            float p = ya[j] + bias, q = yb[j] + bias;
            ya[j] = relu && p < 0 ? 0 : p;
            yb[j] = relu && q < 0 ? 0 : q;
        }
    }
    const float *restrict y00 = out, *restrict y01 = out + tw, *restrict y10 = out + 2 * tw,
                          *restrict y11 = out + 3 * tw;
    int full = w / 2; // tiles whose both columns are inside
    float *restrict r0 = yc + (size_t)(2 * ti) * w;
    for (int j = 0; j < full; j++) r0[2 * j] = y00[j], r0[2 * j + 1] = y01[j];
    if (w % 2) r0[w - 1] = y00[full];
    if (2 * ti + 1 < h) {
        float *restrict r1 = r0 + w;
        for (int j = 0; j < full; j++) r1[2 * j] = y10[j], r1[2 * j + 1] = y11[j];
        if (w % 2) r1[w - 1] = y10[full];
    }
}

// Index of U[e] for the rotated kernel: rotating g by 180 degrees swaps rows and
// columns 0 and 3 of G g G^T (G's rows 1, 2 are palindromes; rows 0, 3 mirror).
static int rot_e(int e) {
    static const int sw[4] = {3, 1, 2, 0};
    return 4 * sw[e / 4] + sw[e % 4];
}

int nst_cpu_winograd(float *y, const float *x, const float *xmask, const float *w,
                     const float *bias, int relu, int transposed, int n, int c, int h, int wd,
                     int k, nst_err *e) {
    int th = (h + 1) / 2, tw = (wd + 1) / 2;
    size_t want = ((size_t)c + k) / 4 > WINO_TILES ? ((size_t)c + k) / 4 : WINO_TILES;
    size_t rows = (want + tw - 1) / tw; // tile rows per chunk
    if (rows > (size_t)th) rows = (size_t)th;
    size_t tmax = rows * (size_t)tw, hw = (size_t)h * wd;
    int nth = omp_get_max_threads();
    size_t thr_scratch = (size_t)12 * (tw + 1);
    float *u = nst_cpu_scratch((size_t)16 * c * k, e);
    float *v = u ? nst_cpu_scratch((size_t)16 * c * tmax, e) : NULL;
    float *m = v ? nst_cpu_scratch((size_t)16 * k * tmax, e) : NULL;
    float *scr = m ? nst_cpu_scratch(thr_scratch * (size_t)nth, e) : NULL;
    if (!scr) {
        nst_cpu_free(u), nst_cpu_free(v), nst_cpu_free(m);
        return -1;
    }
    nst_cpu_blas_init();
    // Forward: U[e] is (k, c). Transposed: w is (c, k, 3, 3), the forward layer whose input
    // gradient this is; its U[e] is (c, k) and the GEMM takes U[rot_e(e)]^T.
    weight_transform(u, w, (size_t)k * c);
    for (int img = 0; img < n; img++) {
        const float *xi = x + (size_t)img * c * hw;
        const float *mi = xmask ? xmask + (size_t)img * c * hw : NULL;
        float *yi = y + (size_t)img * k * hw;
        for (int t0 = 0; t0 < th; t0 += (int)rows) {
            int nr = th - t0 < (int)rows ? th - t0 : (int)rows;
            size_t tc = (size_t)nr * tw; // tiles in this chunk; row length of V[e] and Mt[e]
#pragma omp parallel num_threads(nth)
            {
                float *my = scr + thr_scratch * (size_t)omp_get_thread_num();
#pragma omp for schedule(static) collapse(2)
                for (int ch = 0; ch < c; ch++)
                    for (int r = 0; r < nr; r++)
                        input_transform(v + (size_t)ch * tc, (size_t)c * tc, (size_t)r * tw,
                                        xi + (size_t)ch * hw, mi ? mi + (size_t)ch * hw : NULL, h,
                                        wd, t0 + r, tw, my, my + 4 * (size_t)(tw + 1),
                                        my + 8 * (size_t)(tw + 1));
#pragma omp for schedule(static)
                for (int q = 0; q < 16; q++) {
                    const float *uq = u + (size_t)(transposed ? rot_e(q) : q) * k * c;
                    cblas_sgemm(CblasRowMajor, transposed ? CblasTrans : CblasNoTrans, CblasNoTrans,
                                k, (int)tc, c, 1.0f, uq, transposed ? k : c, v + (size_t)q * c * tc,
                                (int)tc, 0.0f, m + (size_t)q * k * tc, (int)tc);
                }
#pragma omp for schedule(static) collapse(2)
                for (int ko = 0; ko < k; ko++)
                    for (int r = 0; r < nr; r++)
                        output_transform(yi + (size_t)ko * hw, m + (size_t)ko * tc, (size_t)k * tc,
                                         (size_t)r * tw, h, wd, t0 + r, tw, bias ? bias[ko] : 0.0f,
                                         relu, my);
            }
        }
    }
    nst_cpu_free(u), nst_cpu_free(v), nst_cpu_free(m), nst_cpu_free(scr);
    return 0;
}
