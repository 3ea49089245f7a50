/* Cortex-M DSP-extension intrinsics (SMLAD, SXTB16, SXTAB16, SMMLAR, ...).
 *
 * Three builds of the same kernels:
 *   - Arm with the DSP extension (__ARM_FEATURE_DSP, e.g. -mcpu=cortex-m7): small inline asm;
 *   - TINYHIL_KERNELS_DSP_EMULATED on any other host: portable C with the exact Arm semantics,
 *     so that the host tests run the DSP code paths bit for bit;
 *   - neither: TINYHIL_USE_DSP is 0 and the kernels take their plain C99 paths. */
#ifndef TINYHIL_DSP_H
#define TINYHIL_DSP_H

#include <stdint.h>
#include <string.h>

#if defined(__ARM_FEATURE_DSP) || (defined(TINYHIL_KERNELS_DSP) && defined(__arm__))
#define TINYHIL_USE_DSP 1
#define TINYHIL_DSP_ASM 1
#elif defined(TINYHIL_KERNELS_DSP_EMULATED)
#define TINYHIL_USE_DSP 1
#define TINYHIL_DSP_ASM 0
#else
#define TINYHIL_USE_DSP 0
#define TINYHIL_DSP_ASM 0
#endif

/* unaligned-safe 32-bit load of four int8 values (the M7 does unaligned LDR) */
static inline uint32_t th_read_s8x4(const int8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline void th_write_s8x4(int8_t *p, uint32_t v) { memcpy(p, &v, 4); }

/* SMMLAR: acc + (a * b) / 2^32 rounded, with the whole sum taken in 64 bits */
static inline int32_t th_smmlar(int32_t a, int32_t b, int32_t acc);

#if TINYHIL_DSP_ASM
static inline int32_t th_smmlar(int32_t a, int32_t b, int32_t acc) {
    int32_t result;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(result) : "r"(a), "r"(b), "r"(acc));
    return result;
}
#else
static inline int32_t th_smmlar(int32_t a, int32_t b, int32_t acc) {
    const int64_t sum = (int64_t)((uint64_t)(int64_t)acc << 32) + (int64_t)a * b + 0x80000000LL;
    return (int32_t)(sum >> 32);
}
#endif

#if TINYHIL_USE_DSP
#if TINYHIL_DSP_ASM
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
#else /* emulated: the Arm ARM pseudocode, in C */
static inline int32_t th_lo16(uint32_t x) { return (int16_t)(x & 0xFFFFu); }
static inline int32_t th_hi16(uint32_t x) { return (int16_t)(x >> 16); }
static inline uint32_t th_pack16(int32_t lo, int32_t hi) {
    return ((uint32_t)hi << 16) | ((uint32_t)lo & 0xFFFFu);
}

/* the Q flag that SMLAD may set is never read, so wrap-around is the whole semantics */
static inline int32_t th_smlad(uint32_t a, uint32_t b, int32_t acc) {
    const int64_t sum = (int64_t)acc + th_lo16(a) * th_lo16(b) + th_hi16(a) * th_hi16(b);
    return (int32_t)(uint32_t)sum;
}
static inline uint32_t th_sxtb16(uint32_t x) { return th_pack16((int8_t)x, (int8_t)(x >> 16)); }
static inline uint32_t th_sxtb16_ror8(uint32_t x) { return th_pack16((int8_t)(x >> 8), (int8_t)(x >> 24)); }
static inline int32_t th_smlabb(uint32_t a, uint32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(th_lo16(a) * th_lo16(b)));
}
static inline int32_t th_smlatt(uint32_t a, uint32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(th_hi16(a) * th_hi16(b)));
}
static inline uint32_t th_sxtab16(uint32_t offsets, uint32_t x) {
    return th_pack16(th_lo16(offsets) + (int8_t)x, th_hi16(offsets) + (int8_t)(x >> 16));
}
static inline uint32_t th_sxtab16_ror8(uint32_t offsets, uint32_t x) {
    return th_pack16(th_lo16(offsets) + (int8_t)(x >> 8), th_hi16(offsets) + (int8_t)(x >> 24));
}
#endif
#endif

#endif
