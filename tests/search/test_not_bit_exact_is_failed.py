"""A candidate whose board outputs are not bit-exact is recorded as failed with that reason, off the front:
the verdict is bench's own (tinyhil.hil.bench.summarise over a run whose output differs from the reference by
one LSB), carried into the store by the record the real measure stage writes (measurement_record)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tinyhil.hil.bench import RunOutcome, summarise
from tinyhil.hil.boards import load_profile
from tinyhil.hil.firmware import FirmwareImage
from tinyhil.search.evaluation import measurement_record
from tinyhil.search.proposers import EvolutionProposer

from .search_doubles import ToyStages, build_toy_loop

REASON = "board outputs differ from the int8 reference interpreter (runtime bug)"


class OffByOneOnKernel5(ToyStages):
    """Like ToyStages, but a spec with a kernel-5 stage runs on a 'board' whose last output byte is one off."""

    def measure(self, job: Any, tflite: str) -> dict[str, Any]:
        record = super().measure(job, tflite)
        reference = np.array([[3, -7, 12]], np.int8)
        device = reference.copy()
        if any(stage["kernel"] == 5 for stage in job.spec["stages"]):
            device[0, -1] += 1
        outcome = RunOutcome(device, [record["metrics"]["latency"]], 512, 256, "instructions", "0" * 64)
        image = FirmwareImage(Path("firmware.elf"), "f" * 64, {".text": 30_000, ".bss": 9_000}, "test double", True)
        verdict = measurement_record(summarise(image, load_profile("qemu-m7"), outcome, reference, "native"))
        record["metrics"]["bit_exact"] = verdict["metrics"]["bit_exact"]
        return record


def test_a_candidate_whose_outputs_are_not_bit_exact_is_failed_with_that_reason(tmp_path: Path) -> None:
    loop = build_toy_loop(tmp_path / "run", EvolutionProposer(), iterations=10, stages=OffByOneOnKernel5())
    outcome = loop.run()
    candidates = [c for c in loop.store.candidates() if c.metrics.get("bit_exact") is not None]
    wrong = [c for c in candidates if any(s["kernel"] == 5 for s in c.spec["stages"])]
    right = [c for c in candidates if c not in wrong]
    assert wrong and right
    assert all(c.status == "failed" and c.reason == REASON and c.metrics["bit_exact"] is False for c in wrong)
    assert all(c.status != "failed" and c.metrics["bit_exact"] is True for c in right)
    assert not {c.id for c in wrong} & {c.id for c in outcome.front} and outcome.front
