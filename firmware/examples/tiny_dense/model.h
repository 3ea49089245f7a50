/* Hand-written workload with the generated model's API (contract A): one int8 dense layer,
 * 64 inputs -> 10 outputs, weights from a formula so the host can recompute the outputs
 * (hil_tests/tiny_dense.py). Used to test the harness without the code generator. */
#ifndef TINYHIL_MODEL_H
#define TINYHIL_MODEL_H

#include <stdint.h>

#define TINYHIL_MODEL_HASH "1b3dafa98566784e854831513c7bc2e3831663ad0dff63e64f1ed06b992cec11"
#define TINYHIL_MODEL_RUNTIME "native"
#define TINYHIL_MODEL_INPUT_BYTES 64
#define TINYHIL_MODEL_OUTPUT_BYTES 10
#define TINYHIL_MODEL_ARENA_BYTES 256

/* The model's own input and output tensors (the generated model's live in its arena). */
int8_t *tinyhil_model_input(void);
const int8_t *tinyhil_model_output(void);
int tinyhil_model_invoke(const int8_t *input, int8_t *output);

#endif
