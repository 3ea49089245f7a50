"""Parse and print quantities with their units ("320KiB", "100M")."""

from __future__ import annotations

import re

from .errors import ConfigError

_BYTE_UNITS = {
    "": 1, "b": 1,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3,
    "kb": 1000, "mb": 1000**2, "gb": 1000**3,
    "k": 1024, "m": 1024**2,  # bare K/M on a byte size means binary, as linker scripts do
}
_COUNT_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}
_NUMBER = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*$")


def parse_bytes(text: str | int, what: str = "size") -> int:
    """'320KiB' -> 327680. Plain integers are bytes."""
    if isinstance(text, int):
        return text
    match = _NUMBER.match(str(text))
    if not match or match.group(2).lower() not in _BYTE_UNITS:
        raise ConfigError(f"{what}: cannot read {text!r} as a byte size; write e.g. 320KiB, 2MiB or 65536")
    return int(float(match.group(1)) * _BYTE_UNITS[match.group(2).lower()])


def parse_count(text: str | int, what: str = "count") -> int:
    """'100M' -> 100_000_000 (decimal, as MAC budgets are quoted)."""
    if isinstance(text, int):
        return text
    match = _NUMBER.match(str(text))
    if not match or match.group(2).lower() not in _COUNT_UNITS:
        raise ConfigError(f"{what}: cannot read {text!r} as a count; write e.g. 100M, 6.5M or 250000")
    return int(float(match.group(1)) * _COUNT_UNITS[match.group(2).lower()])


def format_bytes(n: int | float) -> str:
    if n >= 1024**3:
        return f"{n / 1024**3:.2f} GiB"
    if n >= 1024**2:
        return f"{n / 1024**2:.2f} MiB"
    if n >= 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{int(n)} B"


def format_count(n: int | float) -> str:
    if n >= 1e9:
        return f"{n / 1e9:.2f} G"
    if n >= 1e6:
        return f"{n / 1e6:.2f} M"
    if n >= 1e3:
        return f"{n / 1e3:.1f} k"
    return f"{int(n)}"
