"""int8 .tflite -> graph IR -> static memory plan -> generated C (the default tinyhil runtime), and the bit-exact
reference the generated C is held to (reference: the TFLM interpreter compiled for the host).

Public entry points: `read_tflite` (reader), `plan_memory` (planner), `generate` (emit),
`build_host_model` (host)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .emit import GeneratedModel


def generate(src: bytes | Path, out_dir: Path, runtime: str = "native", golden_input: Any = None,
             fusion: str = "auto", arena_limit_bytes: int | None = None) -> "GeneratedModel":
    """See tinyhil.codegen.emit.generate (imported on demand: it pulls in jinja2 and the reader)."""
    from .emit import generate as _generate

    return _generate(src, out_dir, runtime=runtime, golden_input=golden_input, fusion=fusion,
                     arena_limit_bytes=arena_limit_bytes)
