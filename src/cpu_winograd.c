// Winograd F(2x2, 3x3) convolution for the CPU backend (3x3, stride 1, pad 1):
// each 2x2 output tile costs 16 multiplies per (in, out) channel pair instead of 36.
// Y = A^T [ (G g G^T) .* (B^T d B) ] A, with d the 4x4 input patch at (2i-1, 2j-1):
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
//   A^T = [1 1 1 0; 0 1 -1 -1].
// The 16 elementwise products over channels are 16 GEMMs, Mt[e] (K, T) = U[e] (K, C) *
// V[e] (C, T), over chunks of T tiles (whole tile rows) that keep V and Mt cache-sized.
// Transforms work on even/odd de-interleaved rows so every inner loop is unit-stride.
#include <cblas.h>
#include <omp.h>
#include <string.h>

#include "cpu.h"

// Floats of V plus Mt for one chunk (16 MiB): the 16 GEMMs of a chunk stream from L3.
#define WINO_BUDGET (4u << 20)

// U (16, k, c) = G g G^T for every filter g = w[k][c] (3x3).
static void weight_transform(float *u, const float *w, int c, int k) {
    size_t kc = (size_t)k * c;
#pragma omp parallel for schedule(static) if (kc > 4096)
    for (size_t q = 0; q < kc; q++) {
        const float *g = w + q * 9;
        float t[4][3]; // G g, (4, 3)
        for (int j = 0; j < 3; j++) {
            t[0][j] = g[j];
            t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
            t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
            t[3][j] = g[6 + j];
        }
        for (int r = 0; r < 4; r++) {
            float a = t[r][0], b = t[r][1], cc = t[r][2];
            u[(size_t)(4 * r + 0) * kc + q] = a;
            u[(size_t)(4 * r + 1) * kc + q] = 0.5f * (a + b + cc);
            u[(size_t)(4 * r + 2) * kc + q] = 0.5f * (a - b + cc);
            u[(size_t)(4 * r + 3) * kc + q] = cc;
        }
    }
}

// V[e][ch][tile] for tile row ti of channel plane xc (h, w); tiles of this row start at
// column `base` of V, whose rows are ld long. pe/po: 4 rows of (tw + 1) scratch each,
// q: 2 * (tw + 1).
static void input_transform(float *v, size_t estride, size_t base, const float *xc, int h, int w,
                            int ti, int tw, float *pe, float *po, float *q) {
    int n1 = tw + 1;
    // Padded row r, de-interleaved: pe[j] = xpad[2j] = x[2j - 1], po[j] = xpad[2j + 1] = x[2j].
    for (int s = 0; s < 4; s++) {
        int r = 2 * ti - 1 + s;
        float *e = pe + (size_t)s * n1, *o = po + (size_t)s * n1;
        if (r < 0 || r >= h) {
            memset(e, 0, sizeof(float) * (size_t)n1);
            memset(o, 0, sizeof(float) * (size_t)n1);
            continue;
        }
        const float *row = xc + (size_t)r * w;
        e[0] = 0;
        for (int j = 1; j < n1; j++) e[j] = 2 * j - 1 < w ? row[2 * j - 1] : 0;
        for (int j = 0; j < n1; j++) o[j] = 2 * j < w ? row[2 * j] : 0;
    }
    const float *e0 = pe, *e1 = pe + n1, *e2 = pe + 2 * n1, *e3 = pe + 3 * n1;
    const float *o0 = po, *o1 = po + n1, *o2 = po + 2 * n1, *o3 = po + 3 * n1;
    float *qe = q, *qo = q + n1;
    for (int a = 0; a < 4; a++) {
        // Row combination a of B^T d.
        for (int j = 0; j < n1; j++) {
            switch (a) {
            case 0: qe[j] = e0[j] - e2[j], qo[j] = o0[j] - o2[j]; break;
            case 1: qe[j] = e1[j] + e2[j], qo[j] = o1[j] + o2[j]; break;
            case 2: qe[j] = e2[j] - e1[j], qo[j] = o2[j] - o1[j]; break;
            default: qe[j] = e1[j] - e3[j], qo[j] = o1[j] - o3[j]; break;
            }
        }
        // Columns 2j, 2j+1, 2j+2, 2j+3 of the padded row are qe[j], qo[j], qe[j+1], qo[j+1].
        float *v0 = v + (size_t)(4 * a) * estride + base, *v1 = v0 + estride, *v2 = v1 + estride,
              *v3 = v2 + estride;
        for (int j = 0; j < tw; j++) {
            v0[j] = qe[j] - qe[j + 1];
            v1[j] = qo[j] + qe[j + 1];
            v2[j] = qe[j + 1] - qo[j];
            v3[j] = qo[j] - qo[j + 1];
        }
    }
}

// Output tile row ti of channel plane yc (h, w) from Mt[e][k][base + tj]; s: 4 * tw scratch.
static void output_transform(float *yc, const float *m, size_t estride, size_t base, int h, int w,
                             int ti, int tw, float bias, int relu, float *s) {
    float *y00 = s, *y01 = s + tw, *y10 = s + 2 * tw, *y11 = s + 3 * tw;
    const float *me[16];
    for (int e = 0; e < 16; e++) me[e] = m + (size_t)e * estride + base;
    for (int j = 0; j < tw; j++) {
        float s0[4], s1[4];
        for (int b = 0; b < 4; b++) {
            s0[b] = me[b][j] + me[4 + b][j] + me[8 + b][j];
            s1[b] = me[4 + b][j] - me[8 + b][j] - me[12 + b][j];
        }
        float a = s0[0] + s0[1] + s0[2] + bias, b = s0[1] - s0[2] - s0[3] + bias;
        float c = s1[0] + s1[1] + s1[2] + bias, d = s1[1] - s1[2] - s1[3] + bias;
        if (relu) {
            a = a > 0 ? a : 0, b = b > 0 ? b : 0, c = c > 0 ? c : 0, d = d > 0 ? d : 0;
        }
        y00[j] = a, y01[j] = b, y10[j] = c, y11[j] = d;
    }
    int full = w / 2; // tiles whose both columns are inside
    float *r0 = yc + (size_t)(2 * ti) * w, *r1 = r0 + w;
    int two_rows = 2 * ti + 1 < h;
    for (int j = 0; j < full; j++) r0[2 * j] = y00[j], r0[2 * j + 1] = y01[j];
    if (w % 2) r0[w - 1] = y00[full];
    if (two_rows) {
        for (int j = 0; j < full; j++) r1[2 * j] = y10[j], r1[2 * j + 1] = y11[j];
        if (w % 2) r1[w - 1] = y10[full];
    }
}

int nst_cpu_winograd(float *y, const float *x, const float *w, const float *bias, int relu, int n,
                     int c, int h, int wd, int k, nst_err *e) {
    int th = (h + 1) / 2, tw = (wd + 1) / 2;
    size_t per_tile = (size_t)16 * ((size_t)c + k);
    size_t rows = WINO_BUDGET / (per_tile * (size_t)tw);
    if (rows < 1) rows = 1;
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
    weight_transform(u, w, c, k);
    for (int img = 0; img < n; img++) {
        const float *xi = x + (size_t)img * c * hw;
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
                                        xi + (size_t)ch * hw, h, wd, t0 + r, tw, my,
                                        my + 4 * (size_t)(tw + 1), my + 8 * (size_t)(tw + 1));
#pragma omp for schedule(static)
                for (int q = 0; q < 16; q++)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, k, (int)tc, c, 1.0f,
                                u + (size_t)q * k * c, c, v + (size_t)q * c * tc, (int)tc, 0.0f,
                                m + (size_t)q * k * tc, (int)tc);
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
