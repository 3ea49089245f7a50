"""Configured CMake trees shared by every firmware build of one configuration on this machine.

Configuring a tree takes ~0.9 s and looking up the kernels' objects in ccache more, while a model only
changes model.c: so each configuration (checkout, firmware sources, board, flags; firmware.configuration_digest) gets
configured trees under <TINYHIL_CACHE or ~/.cache/tinyhil>/firmware-trees, and a build stages its model's
sources into one of them, rebuilds (model.c and the link) and copies the ELF out. A tree is locked (flock,
released however its holder ends) while a build uses it; parallel builds take further slots. Trees nobody
built in for SHARED_TREE_IDLE_DAYS are removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from pathlib import Path
from typing import Iterator

SHARED_TREE_SLOTS = 8  # trees per configuration: parallel builds (executor workers, test workers) take one each
SHARED_TREE_IDLE_DAYS = 3  # a tree not built in for this long is removed (each edit of the firmware makes new ones)


def shared_tree_root() -> Path | None:
    """<TINYHIL_CACHE or ~/.cache/tinyhil>/firmware-trees; None when TINYHIL_SHARED_TREES=0 (every model then
    configures a tree of its own)."""
    if os.environ.get("TINYHIL_SHARED_TREES", "1") == "0":
        return None
    return Path(os.environ.get("TINYHIL_CACHE") or Path.home() / ".cache" / "tinyhil") / "firmware-trees"


def _same_for_cmake(old: bytes, new: bytes) -> bool:
    """A staged CMakeLists.txt is rewritten only when more than its comments changed (the generator stamps each
    model's hash in one): a rewrite makes Ninja run CMake again."""
    def code(text: bytes) -> list[bytes]:
        return [line for line in text.splitlines() if not line.lstrip().startswith(b"#")]
    return code(old) == code(new)


def stage(model_dir: Path, staged: Path) -> None:
    """Make `staged` hold exactly model_dir's files, rewriting only those that differ, so that Ninja rebuilds
    what changed (model.c) and nothing else."""
    wanted = {p.relative_to(model_dir): p for p in model_dir.rglob("*") if p.is_file() and "build" not in p.parts}
    for old in [p for p in staged.rglob("*") if p.is_file()] if staged.exists() else []:
        if old.relative_to(staged) not in wanted:
            old.unlink()
    for relative, source in wanted.items():
        target = staged / relative
        data = source.read_bytes()
        if target.exists():
            current = target.read_bytes()
            if current == data or (relative.name == "CMakeLists.txt" and _same_for_cmake(current, data)):
                continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


@contextlib.contextmanager
def free_tree(root: Path, key: str) -> Iterator[Path]:
    """One of the configuration's trees under `root`, locked while the block runs: the first free slot, or,
    when all are busy, the last slot once it is free."""
    root.mkdir(parents=True, exist_ok=True)
    for slot in range(SHARED_TREE_SLOTS):
        tree = root / f"{key}-{slot}"
        tree.mkdir(exist_ok=True)
        fd = os.open(tree / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (fcntl.LOCK_NB if slot + 1 < SHARED_TREE_SLOTS else 0))
        except BlockingIOError:
            os.close(fd)
            continue
        os.utime(tree / ".lock")  # when this tree was last used (prune_idle_trees)
        try:
            yield tree
        finally:
            os.close(fd)  # closing the descriptor releases the lock
        return


def prune_idle_trees(root: Path, now: float) -> None:
    """Remove the trees nobody built in for SHARED_TREE_IDLE_DAYS and nobody holds now."""
    for tree in root.iterdir() if root.is_dir() else []:
        lock = tree / ".lock"
        try:
            idle = now - lock.stat().st_mtime > SHARED_TREE_IDLE_DAYS * 86400
        except OSError:
            continue
        if not idle:
            continue
        fd = os.open(lock, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            shutil.rmtree(tree, ignore_errors=True)
        except BlockingIOError:
            pass  # in use after all
        finally:
            os.close(fd)
