// TFLM's clock (tensorflow/lite/micro/micro_time.h) on tinyhil's harness: the BSP's platform_elapsed(),
// the same counter (cycles on a board, instructions on QEMU) the harness times inferences with.
// ticks_per_second() is 0 as in TFLM's cortex_m_generic target: the count is not a time base.
#include <stdint.h>

#include "tensorflow/lite/micro/micro_time.h"

extern "C" uint64_t platform_elapsed(void);

namespace tflite {
uint32_t ticks_per_second() { return 0; }
uint32_t GetCurrentTimeTicks() { return static_cast<uint32_t>(platform_elapsed()); }
}  // namespace tflite
