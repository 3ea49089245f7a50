/* Cortex-M DSP-extension intrinsics (SMLAD, SXTB16, SXTAB16), written as small inline asm.
 * Enabled when the compiler targets a core with the DSP extension (__ARM_FEATURE_DSP, e.g.
 * -mcpu=cortex-m7) or when TINYHIL_KERNELS_DSP is defined; otherwise the portable C runs. */
#ifndef TINYHIL_DSP_H
#define TINYHIL_DSP_H

#include <stdint.h>
#include <string.h>

#if defined(__ARM_FEATURE_DSP) || defined(TINYHIL_KERNELS_DSP)
#define TINYHIL_USE_DSP 1
#else
#define TINYHIL_USE_DSP 0
#endif

#if TINYHIL_USE_DSP
/* acc + lo16(a)*lo16(b) + hi16(a)*hi16(b) */
static inline int32_t th_smlad(uint32_t a, uint32_t b, int32_t acc) {
    int32_t result;
    __asm__("smlad %0, %1, %2, %3" : "=r"(result) : "r"(a), "r"(b), "r"(acc));
    return result;
}

/* bytes 0 and 2 of x, sign-extended to two halfwords */
static inline uint32_t th_sxtb16(uint32_t x) {
    uint32_t result;
    __asm__("sxtb16 %0, %1" : "=r"(result) : "r"(x));
    return result;
}

/* bytes 1 and 3 of x, sign-extended to two halfwords */
static inline uint32_t th_sxtb16_ror8(uint32_t x) {
    uint32_t result;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(result) : "r"(x));
    return result;
}

/* acc + lo16(a)*lo16(b) */
static inline int32_t th_smlabb(uint32_t a, uint32_t b, int32_t acc) {
    int32_t result;
    __asm__("smlabb %0, %1, %2, %3" : "=r"(result) : "r"(a), "r"(b), "r"(acc));
    return result;
}

/* acc + hi16(a)*hi16(b) */
static inline int32_t th_smlatt(uint32_t a, uint32_t b, int32_t acc) {
    int32_t result;
    __asm__("smlatt %0, %1, %2, %3" : "=r"(result) : "r"(a), "r"(b), "r"(acc));
    return result;
}

/* halfwords of `offsets` plus bytes 0 and 2 of x (sign-extended) */
static inline uint32_t th_sxtab16(uint32_t offsets, uint32_t x) {
    uint32_t result;
    __asm__("sxtab16 %0, %1, %2" : "=r"(result) : "r"(offsets), "r"(x));
    return result;
}

/* halfwords of `offsets` plus bytes 1 and 3 of x (sign-extended) */
static inline uint32_t th_sxtab16_ror8(uint32_t offsets, uint32_t x) {
    uint32_t result;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(result) : "r"(offsets), "r"(x));
    return result;
}

/* unaligned-safe 32-bit load of four int8 values (the M7 does unaligned LDR) */
static inline uint32_t th_read_s8x4(const int8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
#endif

#endif
