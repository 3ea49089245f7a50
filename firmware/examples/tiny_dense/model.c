#include "model.h"

/* weight[j][i] = ((i * 31 + j * 17) % 255) - 127; out[j] = clamp((sum_i in[i] * weight[j][i]) >> 8) */
static int8_t weight(int j, int i)
{
    return (int8_t)(((i * 31 + j * 17) % 255) - 127);
}

static int8_t input_tensor[TINYHIL_MODEL_INPUT_BYTES];
static int8_t output_tensor[TINYHIL_MODEL_OUTPUT_BYTES];

int8_t *tinyhil_model_input(void)
{
    return input_tensor;
}

const int8_t *tinyhil_model_output(void)
{
    return output_tensor;
}

int tinyhil_model_invoke(const int8_t *input, int8_t *output)
{
    static int32_t accumulators[TINYHIL_MODEL_OUTPUT_BYTES]; /* the "arena" of this toy model */
    for (int j = 0; j < TINYHIL_MODEL_OUTPUT_BYTES; ++j) {
        int32_t acc = 0;
        for (int i = 0; i < TINYHIL_MODEL_INPUT_BYTES; ++i) {
            acc += (int32_t)input[i] * weight(j, i);
        }
        accumulators[j] = acc >> 8; /* arithmetic shift, as numpy's >> on int32 */
    }
    for (int j = 0; j < TINYHIL_MODEL_OUTPUT_BYTES; ++j) {
        const int32_t v = accumulators[j];
        output[j] = (int8_t)(v > 127 ? 127 : (v < -128 ? -128 : v));
    }
    return 0;
}
