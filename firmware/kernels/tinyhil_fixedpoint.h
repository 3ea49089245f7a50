/* Fixed-point helpers with TFLite's reference rounding (gemmlowp semantics).
 * Every multiplier/shift is computed on the host in Python and baked into the generated C,
 * so these functions only do integer arithmetic: the MCU and the host agree bit for bit. */
#ifndef TINYHIL_FIXEDPOINT_H
#define TINYHIL_FIXEDPOINT_H

#include <stdint.h>

#include "tinyhil_dsp.h"

static inline int32_t th_min_i32(int32_t a, int32_t b) { return a < b ? a : b; }
static inline int32_t th_max_i32(int32_t a, int32_t b) { return a > b ? a : b; }

/* gemmlowp SaturatingRoundingDoublingHighMul */
static inline int32_t th_srdhm(int32_t a, int32_t b) {
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    int64_t ab = (int64_t)a * (int64_t)b;
    int32_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* gemmlowp RoundingDivideByPOT (round half away from zero) */
static inline int32_t th_rdbpot(int32_t x, int exponent) {
    int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* TFLite MultiplyByQuantizedMultiplier (double rounding, the reference default) */
static inline int32_t th_mbqm(int32_t x, int32_t multiplier, int32_t shift) {
    int left_shift = shift > 0 ? shift : 0;
    int right_shift = shift > 0 ? 0 : -shift;
    return th_rdbpot(th_srdhm((int32_t)((uint32_t)x << left_shift), multiplier), right_shift);
}

/* th_mbqm for a right shift (shift <= -1) in four instructions on the M7, bit for bit:
 *   srdhm(x, m) = floor((x * m + 2^30) / 2^31) for either sign of x * m, and with
 *   mult = 2m - 2^32 (m in [2^30, 2^31), so mult fits an int32): x * 2m = x * mult + x * 2^32,
 *   hence srdhm(x, m) = SMMLAR(x, mult, x);
 *   rdbpot(v, e) rounds halves away from zero: with y = v - (v < 0) and t = y >> (e - 1),
 *   it is ceil(t / 2) = t - (t >> 1) (never overflows).
 * The host stores {mult, e - 1} per channel; multiplier 0 is stored as {INT32_MIN, 31}, which
 * gives 0 for every x, as th_mbqm does. */
static inline int32_t th_requantise_fast(int32_t x, int32_t mult, int32_t shift_minus_1) {
    const int32_t high = th_smmlar(x, mult, x);
    const int32_t t = (high + (high >> 31)) >> shift_minus_1;
    return t - (t >> 1);
}

static inline int8_t th_clamp_s8(int32_t x, int32_t lo, int32_t hi) {
    return (int8_t)th_min_i32(th_max_i32(x, lo), hi);
}

#endif
