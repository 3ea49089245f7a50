/* ADD int8 (TFLite reference_integer_ops::Add): two tensors of one shape, or input2 broadcast as a row repeated
 * over input1's leading dims (a per-channel or scalar operand). Safe in place over input1: each output element
 * depends only on the input elements at its index. The arithmetic and its fast form: tinyhil_add.h. */
#include "tinyhil_add.h"

void th_add_s8(const th_add_args *a, const int8_t *input1, const int8_t *input2, int8_t *output) {
    th_add_or_sub(a, input1, input2, output, 0);
}

void th_add_broadcast_s8(const th_add_args *a, const int8_t *input1, const int8_t *input2, int8_t *output) {
    th_add_or_sub_broadcast(a, input1, input2, output, 0);
}
