/* Cortex-M DSP-extension intrinsics (SMLAD, SXTB16, SXTAB16, SMMLAR, ...).
 *
 * Three builds of the same kernels:
 *   - Arm with the DSP extension (__ARM_FEATURE_DSP, e.g. -mcpu=cortex-m7): small inline asm;
 *   - TINYHIL_KERNELS_DSP_EMULATED on any other host: portable C with the exact Arm semantics,
 *     so that the host tests run the DSP code paths bit for bit;
 *   - neither, or TINYHIL_KERNELS_PORTABLE (to measure the fast paths against them on the core itself):
 *     TINYHIL_USE_DSP is 0 and the kernels take their plain C99 paths. */
#ifndef TINYHIL_DSP_H
#define TINYHIL_DSP_H

#include <stdint.h>
#include <string.h>

#if defined(TINYHIL_KERNELS_PORTABLE)
#define TINYHIL_USE_DSP 0
#define TINYHIL_DSP_ASM 0
#elif defined(__ARM_FEATURE_DSP) || (defined(TINYHIL_KERNELS_DSP) && defined(__arm__))
#define TINYHIL_USE_DSP 1
#define TINYHIL_DSP_ASM 1
#elif defined(TINYHIL_KERNELS_DSP_EMULATED)
#define TINYHIL_USE_DSP 1
#define TINYHIL_DSP_ASM 0
#else
#define TINYHIL_USE_DSP 0
#define TINYHIL_DSP_ASM 0
#endif

/* v kept opaque to the optimiser (GCC / clang): a copy loop it would otherwise turn into a memmove call */
#if defined(__GNUC__)
#define TH_OPAQUE(v) __asm__("" : "+r"(v))
#else
#define TH_OPAQUE(v) ((void)0)
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
/* x saturated to [-128, 127] */
static inline int32_t th_ssat8(int32_t x) {
    int32_t result;
    __asm__("ssat %0, #8, %1" : "=r"(result) : "r"(x));
    return result;
}

/* the low bytes of b0..b3 as one word, b0 lowest */
static inline uint32_t th_pack_s8x4(int32_t b0, int32_t b1, int32_t b2, int32_t b3) {
    uint32_t word = (uint32_t)b0;
    __asm__("bfi %0, %1, #8, #8\n\tbfi %0, %2, #16, #8\n\tbfi %0, %3, #24, #8"
            : "+&r"(word) : "r"(b1), "r"(b2), "r"(b3));
    return word;
}

/* each signed byte of v clamped to [lo, hi] (lo4 / hi4: the bound in every byte): SSUB8 sets
 * one GE flag per byte and SEL picks by it, so the flags never leave the asm statement */
static inline uint32_t th_clamp_s8x4(uint32_t v, uint32_t lo4, uint32_t hi4) {
    uint32_t scratch;
    __asm__("ssub8 %1, %0, %2\n\tsel %0, %0, %2\n\tssub8 %1, %0, %3\n\tsel %0, %3, %0"
            : "+&r"(v), "=&r"(scratch) : "r"(lo4), "r"(hi4));
    return v;
}

/* the larger of each pair of signed bytes of a and b (SSUB8 sets the GE flag of a byte where a >= b) */
static inline uint32_t th_max_s8x4(uint32_t a, uint32_t b) {
    uint32_t scratch;
    __asm__("ssub8 %1, %0, %2\n\tsel %0, %0, %2" : "+&r"(a), "=&r"(scratch) : "r"(b));
    return a;
}
/* the smaller of each pair of signed bytes of a and b */
static inline uint32_t th_min_s8x4(uint32_t a, uint32_t b) {
    uint32_t scratch;
    __asm__("ssub8 %1, %0, %2\n\tsel %0, %2, %0" : "+&r"(a), "=&r"(scratch) : "r"(b));
    return a;
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
static inline int32_t th_ssat8(int32_t x) { return x < -128 ? -128 : (x > 127 ? 127 : x); }
static inline uint32_t th_pack_s8x4(int32_t b0, int32_t b1, int32_t b2, int32_t b3) {
    return ((uint32_t)b0 & 0xFFu) | (((uint32_t)b1 & 0xFFu) << 8) | (((uint32_t)b2 & 0xFFu) << 16)
           | ((uint32_t)b3 << 24);
}
static inline uint32_t th_clamp_s8x4(uint32_t v, uint32_t lo4, uint32_t hi4) {
    uint32_t out = 0;
    for (int byte = 0; byte < 32; byte += 8) {
        const int32_t x = (int8_t)(v >> byte), lo = (int8_t)(lo4 >> byte), hi = (int8_t)(hi4 >> byte);
        out |= (uint32_t)(uint8_t)(x < lo ? lo : (x > hi ? hi : x)) << byte;
    }
    return out;
}
static inline uint32_t th_max_s8x4(uint32_t a, uint32_t b) {
    uint32_t out = 0;
    for (int byte = 0; byte < 32; byte += 8) {
        const int32_t x = (int8_t)(a >> byte), y = (int8_t)(b >> byte);
        out |= (uint32_t)(uint8_t)(x >= y ? x : y) << byte;
    }
    return out;
}
static inline uint32_t th_min_s8x4(uint32_t a, uint32_t b) {
    uint32_t out = 0;
    for (int byte = 0; byte < 32; byte += 8) {
        const int32_t x = (int8_t)(a >> byte), y = (int8_t)(b >> byte);
        out |= (uint32_t)(uint8_t)(x >= y ? y : x) << byte;
    }
    return out;
}
#endif
/* a signed byte repeated in all four bytes of a word */
static inline uint32_t th_splat_s8x4(int32_t b) { return 0x01010101u * (uint8_t)b; }
#endif

#endif
