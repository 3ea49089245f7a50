"""Fixtures for the runtime tests: a session-wide kernel cache and a bit-exactness check."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

import numpy as np
import pytest


@pytest.fixture(scope="session")
def runtime_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runtime")


@pytest.fixture(scope="session")
def check_bit_exact(runtime_workdir: Path) -> Callable[..., int]:
    """Generate C for a .tflite blob, build it for the host twice (the kernels' portable C paths, and
    their Cortex-M DSP paths with the intrinsics emulated in C), and compare both with the TFLM
    interpreter on random inputs plus the edge inputs (all -128, all 127) and any `extra_inputs`.
    Returns the number of inputs checked."""
    from tinyhil.codegen import generate
    from tinyhil.codegen.host import build_host_model
    from tinyhil.codegen.reference import ReferenceInterpreter

    def check(blob: bytes, n_random: int = 4, seed: int = 0, extra_inputs: tuple[np.ndarray, ...] = ()) -> int:
        out_dir = runtime_workdir / hashlib.sha256(blob).hexdigest()[:16]
        generated = generate(blob, out_dir)
        models = {variant: build_host_model(generated, out_dir / "build", kernels_cache=runtime_workdir / "kernels",
                                            dsp_emulated=variant == "dsp-emulated")
                  for variant in ("portable", "dsp-emulated")}
        reference = ReferenceInterpreter(blob)
        rng = np.random.default_rng(seed)
        inputs = [np.full(generated.input_shape, -128, np.int8), np.full(generated.input_shape, 127, np.int8)]
        inputs += [rng.integers(-128, 128, size=generated.input_shape, dtype=np.int8) for _ in range(n_random)]
        inputs += [np.asarray(x, np.int8).reshape(generated.input_shape) for x in extra_inputs]
        for k, x in enumerate(inputs):
            theirs = reference.invoke(x)
            for variant, model in models.items():
                ours = model.invoke(x)
                assert ours.shape == theirs.shape
                if not np.array_equal(ours, theirs):
                    where = np.argwhere(ours != theirs)[:5].tolist()
                    pytest.fail(f"{variant} kernels, input {k}: {int((ours != theirs).sum())} of {ours.size} outputs "
                                f"differ at {where}: ours {ours.ravel()[:8]} vs TFLM {theirs.ravel()[:8]}")
        return len(inputs)

    return check
