from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def square_tflite(tmp_path_factory) -> Path:
    """A real int8 .tflite (Keras CNN on the synthetic square task), built once per session."""
    pytest.importorskip("tensorflow")
    from .int8_models import synthetic_square_tflite

    path = tmp_path_factory.mktemp("int8") / "square.tflite"
    path.write_bytes(synthetic_square_tflite())
    return path
