"""The Ray executor (a local Ray instance): the same seeded run evaluates the same set as the local one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tinyhil.search.loop import EVALUATED
from tinyhil.search.proposers import EvolutionProposer

from .search_doubles import ToyStages, build_toy_loop

ray = pytest.importorskip("ray", reason='ray is not installed: pip install "ray[default]"')

pytestmark = [pytest.mark.ray, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]


def evaluated_set(loop) -> dict[str, tuple]:
    return {c.spec_hash: (c.status, c.stage, c.metrics.get("accuracy"), c.metrics.get("peak_sram_bytes"))
            for c in loop.store.candidates(EVALUATED)}


def test_a_seeded_ray_run_evaluates_the_same_set_as_the_local_executor(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from tinyhil.search.executors import RayExecutor, board_resource

    stages = ToyStages(fail_kernel=7)
    local = build_toy_loop(tmp_path / "local", EvolutionProposer(), iterations=8, seed=3, stages=stages, batch_size=3)
    local.run()

    # Ray workers import the test doubles by module name
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    executor = RayExecutor("toy-emulator", num_cpus=2)
    try:
        assert ray.cluster_resources()[board_resource("toy-emulator")] == 1
        distributed = build_toy_loop(tmp_path / "ray", EvolutionProposer(), iterations=8, seed=3, stages=stages,
                                     batch_size=3, executor=executor)
        distributed.run()
    finally:
        executor.close()

    assert evaluated_set(distributed) == evaluated_set(local)
    assert len(evaluated_set(local)) == 8
    assert any(status == "failed" for status, *_ in evaluated_set(local).values())
