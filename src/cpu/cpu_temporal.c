// CPU twin of kernels/cuda_temporal.cu: the temporal loss scale * sum c (x - w)^2 and its
// gradient 2 scale c (x - w), in one pass.
#include <stdlib.h>

#include "cpu/cpu.h"

#define PAR_MIN 32768

int nst_cpu_temporal_loss(float *loss1, float *grad, const float *x, const float *w, const float *c,
                          int n, int ch, size_t hw, int mc, float scale, nst_err *e) {
    // One partial sum per plane, added in order afterwards: the result does not depend
    // on the number of threads.
    size_t planes = (size_t)n * ch;
    double *part = malloc(planes * sizeof *part);
    if (!part) return nst_fail(e, "cpu: temporal loss: out of memory");
    float g2 = 2.0f * scale;
#pragma omp parallel for schedule(static) if (planes * hw > PAR_MIN)
    for (size_t pl = 0; pl < planes; pl++) {
        size_t b = pl / (size_t)ch, k = pl % (size_t)ch;
        const float *xp = x + pl * hw, *wp = w + pl * hw;
        const float *cp = c ? c + (b * (size_t)mc + (mc == 1 ? 0 : k)) * hw : NULL;
        float *gp = grad ? grad + pl * hw : NULL;
        double acc = 0;
        for (size_t i = 0; i < hw; i++) {
            float d = xp[i] - wp[i], cd = cp ? cp[i] * d : d;
            acc += (double)cd * d;
            if (gp) gp[i] = g2 * cd;
        }
        part[pl] = acc;
    }
    double sum = 0;
    for (size_t pl = 0; pl < planes; pl++) sum += part[pl];
    free(part);
    *loss1 = (float)((double)scale * sum);
    return 0;
}
