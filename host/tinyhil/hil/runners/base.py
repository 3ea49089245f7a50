"""The runner interface: get an ELF running on a board or emulator and hand back a byte stream.

Runners register themselves by the name a board profile's `[runner] type` uses.
"""

from __future__ import annotations

import abc
import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ...errors import ConfigError, RunnerError
from ..checks import Check
from ..protocol import ByteStream

if TYPE_CHECKING:  # annotations only: runners take whatever profile object the caller loaded
    from ..boards import BoardProfile

RUNNER_MODULES = {"qemu": "qemu", "pyocd": "pyocd_runner", "renode": "renode", "fake": "fake"}
_REGISTRY: dict[str, type["Runner"]] = {}


class Runner(abc.ABC):
    """start(elf) -> stream; reset(); stop(). One instance drives one target at a time."""

    def __init__(self, profile: BoardProfile, workdir: Path):
        self.profile = profile
        self.settings: dict[str, Any] = profile.runner
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "runner.log"

    @abc.abstractmethod
    def command_line(self, elf: Path) -> list[str]:
        """The exact command this runner starts for the ELF (pinned by tests)."""

    @abc.abstractmethod
    def start(self, elf: Path) -> ByteStream:
        """Load and start the ELF; return the open serial stream (the hello frame comes next)."""

    @abc.abstractmethod
    def reset(self) -> ByteStream:
        """Restart the target from its reset vector; return the (possibly new) stream."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop the target and release every resource; safe to call twice."""

    @property
    def exit_code(self) -> int | None:
        """The target process's exit status once it has ended (emulators); None while it runs or for a board."""
        return None

    @classmethod
    @abc.abstractmethod
    def availability(cls, profile: BoardProfile) -> tuple[bool, str]:
        """(usable now, why or why not) for `tinyhil boards`."""

    def preflight(self) -> list[Check]:
        """Bench checks before any firmware runs (`tinyhil doctor`): the probe, the target, the emulator binary."""
        usable, reason = self.availability(self.profile)
        return [Check(self.profile.runner["type"], "ok" if usable else "FAIL", reason,
                      "" if usable else "see `tinyhil boards`; scripts/install.sh installs the emulator")]

    def __enter__(self) -> "Runner":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def register(name: str) -> Callable[[type[Runner]], type[Runner]]:
    def decorate(cls: type[Runner]) -> type[Runner]:
        _REGISTRY[name] = cls
        return cls
    return decorate


def runner_class(name: str) -> type[Runner]:
    if name not in _REGISTRY and name in RUNNER_MODULES:
        importlib.import_module(f"{__package__}.{RUNNER_MODULES[name]}")
    if name not in _REGISTRY:
        raise ConfigError(f"unknown runner type {name!r} in a board profile's [runner]; known: {', '.join(RUNNER_MODULES)}")
    return _REGISTRY[name]


def require_usable(profile: BoardProfile) -> None:
    """Raise RunnerError, saying what to do, when the profile's board cannot be reached from this machine now."""
    usable, reason = runner_class(profile.runner["type"]).availability(profile)
    if not usable:
        raise RunnerError(f"board {profile.name} cannot be used now: {reason}. `tinyhil boards` lists what is usable; "
                          "an emulator board (--board qemu-m7) needs no hardware")


def runner_for(profile: BoardProfile, workdir: Path) -> Runner:
    return runner_class(profile.runner["type"])(profile, workdir)
