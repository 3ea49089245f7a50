/* The int8 ops TFLM itself runs as a 256-entry table of a float function: ELU (elu.cc's PopulateLookupTable and
 * EvalUsingLookupTable), and tinyhil's FLOAT_UNARY, the converter's DEQUANTIZE -> float elementwise ops ->
 * QUANTIZE (a Keras ELU, LayerNormalization's NEG of the mean). The host computes the table with TFLM's float32
 * arithmetic and the C library's libm (codegen/tables.py), so both paths index it: the portable path byte by
 * byte as TFLM does, the fast path four bytes per word (tinyhil_table.h). In place allowed. */
#include "tinyhil_kernels.h"
#include "tinyhil_table.h"

void th_lookup_s8(const th_lookup_args *a, const int8_t *input, int8_t *output) {
#if TINYHIL_USE_TABLES
    th_table_lookup_s8(a->table, a->size, input, output);
#else
    const uint8_t *t = (const uint8_t *)a->table;
    for (int32_t i = 0; i < a->size; ++i) {
        output[i] = (int8_t)t[(uint8_t)input[i]];
    }
#endif
}
