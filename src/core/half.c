// F16 / BF16 <-> F32 by bit manipulation (see half.h).
#include "core/half.h"

#include <string.h>

static uint32_t f32_bits(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    return x;
}

static float bits_f32(uint32_t x) {
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

float nst_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0) {
        if (man == 0) return bits_f32(sign); // +-0
        // subnormal: man * 2^-24; normalize the mantissa into a float32 normal
        int e = -1;
        do {
            e++;
            man <<= 1;
        } while (!(man & 0x400u));
        return bits_f32(sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13));
    }
    if (exp == 31) // inf, or NaN with its payload kept
        return bits_f32(sign | 0x7f800000u | (man << 13));
    return bits_f32(sign | ((exp + 127 - 15) << 23) | (man << 13));
}

uint16_t nst_f32_to_f16(float f) {
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) { // inf, NaN (kept quiet, top payload bits kept)
        if (ax == 0x7f800000u) return sign | 0x7c00u;
        return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
    }
    if (ax >= 0x477ff000u) // >= 65520: rounds (ties to even) past 65504 to inf
        return sign | 0x7c00u;
    if (ax < 0x38800000u) { // below 2^-14: half subnormal or zero
        if (ax <= 0x33000000u) // <= 2^-25 (the tie rounds to even, 0)
            return sign;
        // value = m * 2^(e-150); in units of 2^-24 that is m >> (126 - e), shift 14..24
        uint32_t e = ax >> 23;
        uint32_t m = (ax & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126 - e;
        uint32_t q = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1u)))
            q++; // may carry into the smallest normal 0x0400, which is right
        return (uint16_t)(sign | q);
    }
    // normal: rebias the exponent (127 -> 15), keep 10 mantissa bits, round the 13 dropped
    uint32_t h = (ax >> 13) - ((uint32_t)(127 - 15) << 10);
    uint32_t rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
        h++; // a carry into the exponent is the correct result
    return (uint16_t)(sign | h);
}

float nst_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t nst_f32_to_bf16(float f) {
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) // NaN: truncate and force quiet
        return (uint16_t)((x >> 16) | 0x0040u);
    // round to nearest even on the low 16 bits; overflow to inf is the right answer
    uint32_t lsb = (x >> 16) & 1u;
    return (uint16_t)((x + 0x7fffu + lsb) >> 16);
}
