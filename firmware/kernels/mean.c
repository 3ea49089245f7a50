/* MEAN int8 over contiguous axes (TFLite reference_integer_ops::Mean: sum of (x - zp_in), one
 * requantisation whose multiplier already includes 1/count, + zp_out).
 *
 * DSP path (global average pool, squeeze-excitation's pool: input [outer][reduce][inner], inner >= 4):
 * sum(x - zp) = sum(x) - reduce * zp exactly, so the sums run on the raw bytes, 16 channels (4 words of
 * one row) at a time with SXTAB16 into 16-bit lanes, widened to int32 every 255 rows (255 * 128 fits a
 * lane): 3 instructions per 4 inputs instead of a load, a subtract and an add per input. */
#include "tinyhil_fixedpoint.h"
#include "tinyhil_kernels.h"

static inline int8_t mean_output(const th_mean_args *a, int32_t sum_minus_zero_points) {
    const int32_t y = th_mbqm(sum_minus_zero_points, a->multiplier, a->shift) + a->output_zero_point;
    return th_clamp_s8(y, -128, 127);
}

#if TINYHIL_USE_DSP
#define TH_MEAN_LANE_ROWS 255

/* sums[4 * words] += the column sums of `words` 4-channel words over `rows` rows `stride` bytes apart;
 * `words` is a constant at each call, so the lane accumulators stay in registers. */
static inline void sum_columns(const int8_t *x, int32_t rows, int32_t stride, int32_t words, int32_t *sums) {
    for (int32_t done = 0; done < rows;) {
        const int32_t chunk = rows - done < TH_MEAN_LANE_ROWS ? rows - done : TH_MEAN_LANE_ROWS;
        uint32_t lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0}; /* per word: channels {0, 2}, then {1, 3} */
        const int8_t *p = x + (size_t)done * stride;
        for (int32_t r = 0; r < chunk; ++r, p += stride) {
            for (int32_t w = 0; w < words; ++w) {
                const uint32_t v = th_read_s8x4(p + 4 * w);
                lanes[2 * w] = th_sxtab16(lanes[2 * w], v);
                lanes[2 * w + 1] = th_sxtab16_ror8(lanes[2 * w + 1], v);
            }
        }
        for (int32_t w = 0; w < words; ++w) {
            sums[4 * w] += (int16_t)(lanes[2 * w] & 0xFFFFu);
            sums[4 * w + 2] += (int16_t)(lanes[2 * w] >> 16);
            sums[4 * w + 1] += (int16_t)(lanes[2 * w + 1] & 0xFFFFu);
            sums[4 * w + 3] += (int16_t)(lanes[2 * w + 1] >> 16);
        }
        done += chunk;
    }
}

static void mean_dsp(const th_mean_args *a, const int8_t *input, int8_t *output) {
    const int32_t reduce = a->reduce, inner = a->inner, zero_points = reduce * a->input_zero_point;
    for (int32_t o = 0; o < a->outer; ++o) {
        const int8_t *x = input + (size_t)o * reduce * inner;
        int8_t *y = output + (size_t)o * inner;
        int32_t c = 0;
        while (c < inner) {
            int32_t sums[16] = {0};
            const int32_t width = inner - c >= 16 ? 16 : (inner - c >= 4 ? 4 : 1);
            if (width == 16) {
                sum_columns(x + c, reduce, inner, 4, sums);
            } else if (width == 4) {
                sum_columns(x + c, reduce, inner, 1, sums);
            } else {
                for (int32_t r = 0; r < reduce; ++r) {
                    sums[0] += x[(size_t)r * inner + c];
                }
            }
            for (int32_t k = 0; k < width; ++k) {
                y[c + k] = mean_output(a, sums[k] - zero_points);
            }
            c += width;
        }
    }
}
#endif

void th_mean_s8(const th_mean_args *a, const int8_t *input, int8_t *output) {
#if TINYHIL_USE_DSP
    if (a->inner >= 4) {
        mean_dsp(a, input, output);
        return;
    }
#endif
    for (int32_t o = 0; o < a->outer; ++o) {
        for (int32_t i = 0; i < a->inner; ++i) {
            int32_t acc = 0;
            for (int32_t r = 0; r < a->reduce; ++r) {
                acc += input[((size_t)o * a->reduce + r) * a->inner + i] - a->input_zero_point;
            }
            output[(size_t)o * a->inner + i] = mean_output(a, acc);
        }
    }
}

void th_mean_from_sums_s8(const th_mean_args *a, const int32_t *sums, int8_t *output) {
    const int32_t zero_points = a->reduce * a->input_zero_point; /* sum(x - zp) = sum(x) - reduce * zp */
    for (int32_t i = 0; i < a->inner; ++i) {
        output[i] = mean_output(a, sums[i] - zero_points);
    }
}
