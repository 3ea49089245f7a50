"""Host twin of firmware/examples/tiny_dense (the firmware hil_tests and `tinyhil doctor` run): the outputs the
hand-written workload must produce, bit for bit."""

from __future__ import annotations

import hashlib

import numpy as np

INPUT_BYTES = 64
OUTPUT_BYTES = 10
MODEL_HASH = hashlib.sha256(b"tinyhil example tiny_dense v1").hexdigest()


def expected_output(x: np.ndarray) -> np.ndarray:
    i = np.arange(INPUT_BYTES)
    j = np.arange(OUTPUT_BYTES)[:, None]
    weights = ((i * 31 + j * 17) % 255 - 127).astype(np.int32)
    return np.clip((weights @ x.astype(np.int32)) >> 8, -128, 127).astype(np.int8)
