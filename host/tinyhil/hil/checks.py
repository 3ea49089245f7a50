"""One line of a bench self-test (`tinyhil doctor`): what was checked, what was found, what to do."""

from __future__ import annotations

from dataclasses import dataclass

STATUSES = ("ok", "warn", "FAIL", "skip")


@dataclass(frozen=True)
class Check:
    step: str  # short name: "probe", "target", "hello", ...
    status: str  # one of STATUSES; "warn" works but needs attention, "skip" could not run after a failure
    detail: str  # what was found, or what failed
    fix: str = ""  # what to do about a FAIL or warn

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"check status {self.status!r} is not one of {STATUSES}")

    @property
    def failed(self) -> bool:
        return self.status == "FAIL"

    def line(self) -> str:
        text = f"{self.status:<4} {self.step:<9} {self.detail}"
        return f"{text}  -> {self.fix}" if self.fix else text
