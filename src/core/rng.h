// Seeded random numbers (xoshiro256**), reproducible across runs and platforms.
// Numbers are drawn on the host and uploaded, so every device gets the same ones.
#ifndef NST_RNG_H
#define NST_RNG_H

#include "core/nst.h"

void nst_rng_seed(uint64_t seed);
// The generator's whole state, so that a saved run continues the same sequence.
void nst_rng_get_state(uint64_t s[4]);
void nst_rng_set_state(const uint64_t s[4]);
// t ~ uniform [lo, hi), or normal (mean, std) by Box-Muller.
int nst_fill_rand(nst_tensor *t, float lo, float hi, nst_err *e);
int nst_fill_randn(nst_tensor *t, float mean, float std, nst_err *e);

#endif
