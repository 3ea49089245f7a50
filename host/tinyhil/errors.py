"""One root exception and a few subclasses; every message says what to do next."""

from __future__ import annotations


class TinyhilError(Exception):
    """Root of every error tinyhil raises on purpose (the CLI prints these as one line, without a traceback)."""

    exit_code = 2  # the status `tinyhil` exits with (click's usage errors use 2 too)


class ConfigError(TinyhilError):
    """A board profile, option or config file is wrong; the message names the file and key."""


class SpecError(TinyhilError):
    """An architecture spec is invalid; `problems` holds one line per offending field."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("invalid architecture spec:\n  - " + "\n  - ".join(self.problems))


class BudgetError(TinyhilError):
    """A candidate breaks a hard budget (MACs, SRAM, flash)."""


class ModelError(TinyhilError):
    """A .tflite model cannot be read or is not a supported int8 model."""


class UnsupportedOpError(ModelError):
    """An operator, dtype or option the int8 runtime does not implement."""


class BuildError(TinyhilError):
    """The firmware or generated C failed to build (the message carries the compiler's words)."""


class RunnerError(TinyhilError):
    """A runner could not start, load or reset the board / emulator."""


class ProtocolError(TinyhilError):
    """The serial protocol failed: bad frames, wrong sequence, error frames from the device."""


class DeviceTimeoutError(ProtocolError):
    """No valid reply in time; carries the last bytes seen and the log path."""

    def __init__(self, message: str, last_bytes: bytes = b"", log_path: str | None = None):
        self.last_bytes = last_bytes
        self.log_path = log_path
        detail = f"\n  last bytes seen ({len(last_bytes)}): {last_bytes[-64:]!r}"
        if log_path:
            detail += f"\n  full log: {log_path}"
        super().__init__(message + detail)


class DataError(TinyhilError):
    """A dataset is missing, corrupt or fails its checksum."""


class LLMError(TinyhilError):
    """The LLM endpoint failed or the local model is not set up."""


class InUseError(TinyhilError):
    """A run folder or bench workdir is held by another live tinyhil process (its PID is in the message)."""

    exit_code = 75  # EX_TEMPFAIL: try again once the other process is done


class SearchIncomplete(TinyhilError):
    """A search evaluated nothing or stopped before its iterations; what it did find is stored and printed."""

    exit_code = 3
