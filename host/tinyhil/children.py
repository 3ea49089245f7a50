"""Child processes that must not outlive tinyhil (an emulator, the local LLM server): on Linux they are started
with PR_SET_PDEATHSIG, so the kernel kills them when the process that started them dies, kill -9 included.
Without it they would run on under PID 1, burning a core and holding their port."""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import sys
from typing import Callable

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent() -> Callable[[], None] | None:
    """A subprocess preexec_fn asking the kernel to SIGKILL the child when its parent dies (Linux), else None.

    libc's prctl is looked up in the parent, so the child between fork and exec makes one system call.
    The signal is tied to the thread that starts the child: start and stop it on one thread."""
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def hook() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(1)

    return hook


@functools.cache
def _prctl() -> Callable[..., int] | None:
    """libc's prctl from the symbols this process already has loaded (no ldconfig run), or None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
