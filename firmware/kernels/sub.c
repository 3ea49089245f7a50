/* SUB int8 (TFLite reference_ops::Sub): input1 - input2, input2 of input1's shape or broadcast as a row repeated
 * over input1's leading dims (x - mean, a per-channel or scalar constant). The parameters are ADD's (left shift
 * 20, both inputs over twice the larger scale), so th_add_args carries them. Safe in place over input1. */
#include "tinyhil_add.h"

void th_sub_s8(const th_add_args *a, const int8_t *input1, const int8_t *input2, int8_t *output) {
    th_add_or_sub(a, input1, input2, output, 1);
}

void th_sub_broadcast_s8(const th_add_args *a, const int8_t *input1, const int8_t *input2, int8_t *output) {
    th_add_or_sub_broadcast(a, input1, input2, output, 1);
}
