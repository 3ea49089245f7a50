"""An exclusive lock on a folder (a run folder, a bench workdir), so two tinyhil processes never write into
the same one: the second is refused with the first one's PID instead of retraining the same candidate or
racing in CMake.

The lock is `flock` on FOLDER/.tinyhil.lock. The kernel drops it when its holder exits in any way (kill -9
included), so there is no stale lock to clean up; the file itself stays and only names the last holder.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Iterator

from .errors import InUseError

LOCK_FILE = ".tinyhil.lock"


def _holder(path: Path) -> str:
    """'PID N (command line)' of whoever wrote the lock file, as far as it can be read."""
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return "another process"
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        command = ""
    return f"PID {pid}" + (f" ({command[:120]})" if command else "")


@contextlib.contextmanager
def exclusive(folder: Path, what: str) -> Iterator[Path]:
    """Hold the folder's lock while the block runs; InUseError (naming the holder's PID) when another
    process holds it. `what` names the folder in the message ("run", "bench workdir")."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by children that exec (PEP 446)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(path)
            pid = holder.split()[1] if holder.startswith("PID ") else "it"
            raise InUseError(f"{what} {folder} is in use by {holder}; wait for it to finish or stop it "
                             f"(kill {pid}), then retry") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield folder
    finally:
        os.close(fd)  # closing the descriptor releases the lock
