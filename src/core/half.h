// IEEE half (F16) and bfloat16 (BF16) <-> float32, bit-exact, no dependence on the
// FPU rounding mode. Float -> 16-bit rounds to nearest, ties to even; NaN stays a
// (quiet) NaN, values beyond the range become +-inf.
#ifndef NST_HALF_H
#define NST_HALF_H

#include <stdint.h>

float nst_f16_to_f32(uint16_t h);
uint16_t nst_f32_to_f16(float f);
float nst_bf16_to_f32(uint16_t h);
uint16_t nst_f32_to_bf16(float f);

#endif
