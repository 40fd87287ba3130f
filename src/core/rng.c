// Seeded random numbers (see rng.h).
#include <math.h>
#include <stdlib.h>

#include "core/rng.h"

static const double NST_PI = 3.14159265358979323846;

static uint64_t rng_s[4] = {0x9E3779B97F4A7C15ull, 0xBF58476D1CE4E5B9ull, 0x94D049BB133111EBull,
                            0x2545F4914F6CDD1Dull};

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void nst_rng_seed(uint64_t seed) {
    for (int i = 0; i < 4; i++) rng_s[i] = splitmix64(&seed);
}

void nst_rng_get_state(uint64_t s[4]) {
    for (int i = 0; i < 4; i++) s[i] = rng_s[i];
}

void nst_rng_set_state(const uint64_t s[4]) {
    for (int i = 0; i < 4; i++) rng_s[i] = s[i];
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(void) { // xoshiro256**
    uint64_t r = rotl(rng_s[1] * 5, 7) * 9, t = rng_s[1] << 17;
    rng_s[2] ^= rng_s[0];
    rng_s[3] ^= rng_s[1];
    rng_s[1] ^= rng_s[2];
    rng_s[0] ^= rng_s[3];
    rng_s[2] ^= t;
    rng_s[3] = rotl(rng_s[3], 45);
    return r;
}

static double rng_uniform(void) { return (double)(rng_next() >> 11) * 0x1.0p-53; } // [0,1)

// Draws on the host (reproducible whatever the device), then uploads.
static int fill_host(nst_tensor *t, int normal, float a, float b, nst_err *e) {
    float *buf = nst_dev(t) == NST_CPU ? nst_data(t) : malloc(t->numel * sizeof(float));
    if (!buf) return nst_fail(e, "out of memory");
    for (size_t i = 0; i < t->numel; i++) {
        if (!normal) {
            buf[i] = (float)(a + (b - a) * rng_uniform());
        } else { // Box-Muller, both outputs used
            double u1 = 1.0 - rng_uniform(), u2 = rng_uniform();
            double r = sqrt(-2.0 * log(u1));
            buf[i] = (float)(a + b * r * cos(2 * NST_PI * u2));
            if (i + 1 < t->numel) buf[++i] = (float)(a + b * r * sin(2 * NST_PI * u2));
        }
    }
    int rc = 0;
    if (nst_dev(t) != NST_CPU) {
        rc = nst_upload(t, buf, e);
        free(buf);
    }
    return rc;
}

int nst_fill_rand(nst_tensor *t, float lo, float hi, nst_err *e) {
    return fill_host(t, 0, lo, hi, e);
}
int nst_fill_randn(nst_tensor *t, float mean, float std, nst_err *e) {
    return fill_host(t, 1, mean, std, e);
}
