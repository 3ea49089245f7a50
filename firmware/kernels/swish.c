/* SWISH int8: x * sigmoid(x) as the converter emits it (LOGISTIC, then MUL of x by that sigmoid), bit for
 * bit: the portable path runs th_logistic_s8 and th_mul_s8 with the two ops' own arguments on chunks of
 * 64 elements (the sigmoid of a chunk in a stack buffer, so no sigmoid tensor ever exists); the fast path
 * looks the composition up in the host's table (tinyhil_table.h). Safe in place. */
#include "tinyhil_kernels.h"
#include "tinyhil_table.h"

#define TH_SWISH_CHUNK 64

void th_swish_s8(const th_swish_args *a, const int8_t *input, int8_t *output) {
#if TINYHIL_USE_TABLES
    th_table_lookup_s8(a->table, a->size, input, output);
#else
    int8_t sigmoid[TH_SWISH_CHUNK];
    th_logistic_args logistic = *a->logistic;
    th_mul_args mul = *a->mul;
    for (int32_t i = 0; i < a->size; i += TH_SWISH_CHUNK) {
        const int32_t n = a->size - i < TH_SWISH_CHUNK ? a->size - i : TH_SWISH_CHUNK;
        logistic.size = n;
        mul.outer = 1;
        mul.inner = n;
        th_logistic_s8(&logistic, input + i, sigmoid);
        if (a->input_is_first) {
            th_mul_s8(&mul, input + i, sigmoid, output + i);
        } else {
            th_mul_s8(&mul, sigmoid, input + i, output + i);
        }
    }
#endif
}
