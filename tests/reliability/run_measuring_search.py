"""`tinyhil search` as its own process, over the contract doubles, except that measuring starts a real
qemu-system-arm through tinyhil's QemuRunner on a real harness ELF and keeps it running for MEASURE_S seconds,
so a test can kill -9 the search in the measuring stage:
python -m tests.reliability.run_measuring_search ELF MEASURE_S [tinyhil search options...]"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from tinyhil.hil.boards import load_profile
from tinyhil.cli import main
from tinyhil.hil.runners import runner_for

from ..search import contract_doubles

QEMU = load_profile("qemu-m7")  # the real profile, loaded before the doubles replace tinyhil.hil.boards


def measuring_with_qemu(elf: Path, seconds: float):  # type: ignore[no-untyped-def]
    fake_measure = contract_doubles._measure

    def measure(model, profile, inputs, *, runtime="native", workdir, warmup=1, on_stage=None):  # type: ignore[no-untyped-def]
        runner = runner_for(QEMU, Path(workdir) / "run")
        runner.start(elf)
        try:
            (Path(workdir) / "measuring.pid").write_text(f"{runner.process.pid}\n")
            time.sleep(seconds)
        finally:
            runner.stop()
        return fake_measure(model, profile, inputs, runtime=runtime, workdir=workdir, on_stage=on_stage)

    return measure


if __name__ == "__main__":
    elf, seconds = Path(sys.argv[1]), float(sys.argv[2])
    contract_doubles.install(pytest.MonkeyPatch())
    sys.modules["tinyhil.hil.bench"].measure = measuring_with_qemu(elf, seconds)  # type: ignore[attr-defined]
    sys.argv = ["tinyhil", "search", "--no-live", *sys.argv[3:]]
    main()
