"""A child started with tinyhil.children.die_with_parent() is killed by the kernel when its parent is
killed with SIGKILL (the mechanism the emulator runners and the local LLM server use); one started without it
is left running under PID 1. Checked on the process table."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tinyhil.search import llm_local
from tinyhil.children import die_with_parent

REPO = Path(__file__).resolve().parents[2]
PARENT = """
import subprocess, sys, time
from tinyhil.children import die_with_parent
child = subprocess.Popen(["sleep", "60"], preexec_fn=die_with_parent() if sys.argv[1] == "hook" else None)
print(child.pid, flush=True)
time.sleep(60)
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.parametrize("mode", ["hook", "plain"])
def test_a_child_dies_with_its_killed_parent_only_when_started_with_the_hook(mode: str) -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT, mode], cwd=REPO, stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    try:
        assert alive(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 5
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert alive(child) == (mode == "plain")  # the control shows the orphan the hook prevents
    finally:
        if alive(child):
            os.kill(child, signal.SIGKILL)


def test_the_local_llm_server_is_started_to_die_with_its_parent(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    seen: dict[str, object] = {}

    class Started(Exception):
        pass

    def popen(command: list[str], **kwargs: object) -> None:
        seen.update(kwargs)
        raise Started

    monkeypatch.setattr(llm_local, "is_set_up", lambda cache=None: (True, ""))
    monkeypatch.setattr(llm_local, "gguf_path", lambda cache=None: tmp_path / "model.gguf")
    monkeypatch.setattr(llm_local, "server_python", lambda cache=None: Path(sys.executable))
    monkeypatch.setattr(llm_local.subprocess, "Popen", popen)
    with pytest.raises(Started), llm_local.ensure_server(cache=tmp_path, verify=False):
        pass
    assert "preexec_fn" in seen, seen
    assert callable(seen["preexec_fn"]) and seen["preexec_fn"].__qualname__ == die_with_parent().__qualname__
