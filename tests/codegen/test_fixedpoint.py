"""th_requantise_fast (SMMLAR form, 4 instructions on the M7) equals TFLite's
MultiplyByQuantizedMultiplier (th_mbqm) for every right shift, multiplier 0 and edge inputs included;
checked in C on the host with the SMMLAR emulation the DSP-emulated kernel build uses."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tinyhil.codegen.emit import KERNELS_DIR
from tinyhil.codegen.quantize import fast_requant

PROGRAM = r"""
#include <stdio.h>
#include "tinyhil_fixedpoint.h"
static uint64_t state = 88172645463325252ull;
static uint64_t next(void) { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return state; }
int main(void) {
    const int32_t edges[] = {0, 1, -1, 2, -2, 3, -3, 1 << 30, -(1 << 30), INT32_MAX, INT32_MIN, INT32_MIN + 1};
    long bad = 0;
    for (long i = 0; i < 2000000; ++i) {
        int32_t m = (int32_t)((1u << 30) + next() % (1u << 30));
        if (i % 5 == 0) m = 1 << 30;          /* many exact halves */
        if (i % 997 == 0) m = 0;
        const int32_t shift = -(int32_t)(1 + next() % 31);
        const int32_t x = i % 3 == 0 ? edges[next() % 12] : (i % 3 == 1 ? (int32_t)next() : (int32_t)(next() % 4001) - 2000);
        const int32_t mult = m == 0 ? INT32_MIN : (int32_t)(uint32_t)(2u * (uint32_t)m);
        const int32_t shift_minus_1 = m == 0 ? 31 : -shift - 1;
        if (th_mbqm(x, m, shift) != th_requantise_fast(x, mult, shift_minus_1) && bad++ < 5)
            printf("x=%d m=%d shift=%d\n", (int)x, (int)m, (int)shift);
    }
    printf("%ld mismatches\n", bad);
    return bad != 0;
}
"""


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs a host C compiler")
def test_fast_requantisation_equals_multiply_by_quantized_multiplier(tmp_path) -> None:
    source, binary = tmp_path / "requant.c", tmp_path / "requant"
    source.write_text(PROGRAM)
    subprocess.run(["gcc", "-std=c99", "-O2", "-DTINYHIL_KERNELS_DSP_EMULATED", f"-I{KERNELS_DIR}", str(source),
                    "-o", str(binary)], check=True)
    run = subprocess.run([str(binary)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout


def test_fast_requant_params_are_the_smmlar_multiplier_and_shift_minus_one() -> None:
    assert fast_requant([1 << 30, 0], [-1, -7]).tolist() == [-(1 << 31), 0, -(1 << 31), 31]
    assert fast_requant([(1 << 31) - 1], [-31]).tolist() == [-2, 30]
    assert fast_requant([1 << 30, 1 << 30], [-3, 0]) is None  # a channel without a right shift
