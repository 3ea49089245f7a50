"""Every numeric option's range, declared once. The CLI uses these as click types; the library checks the
same values with the same words when they come from elsewhere (a stored run config, Python, a test), so
`--batch-size 0` and a run config holding `batch_size: 0` fail alike, before anything runs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from .errors import ConfigError
from .units import parse_bytes, parse_count


@dataclass(frozen=True)
class Bound:
    """An integer option: the name the user writes, its range (inclusive) and what it counts."""

    option: str  # "--batch-size"
    meaning: str  # "candidates in flight at once"
    min: int = 1
    max: int | None = None

    def problem(self, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{self.option} {value!r}: must be a whole number ({self.meaning})"
        if value < self.min or (self.max is not None and value > self.max):
            return f"{self.option} {value}: must be {self.range_words()} ({self.meaning})"
        return None

    def range_words(self) -> str:
        if self.max is None:
            return f"at least {self.min}"
        return f"between {self.min} and {self.max}"

    def check(self, value: Any, where: str = "") -> int:
        """`value` when it is in range, else a ConfigError naming the option (and where the value came from)."""
        problem = self.problem(value)
        if problem:
            raise ConfigError((f"{where}: " if where else "") + problem)
        return int(value)

    def click_type(self) -> click.ParamType:
        return _BoundType(self)


class _BoundType(click.ParamType):
    name = "integer"

    def __init__(self, bound: Bound):
        self.bound = bound

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:  # noqa: ARG002
        return f"INTEGER {self.bound.min}..{self.bound.max if self.bound.max is not None else ''}".rstrip(".")

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            try:
                number = int(str(value).strip())
            except ValueError:
                self.fail(f"{value!r} is not a whole number ({self.bound.meaning})", param, ctx)
        problem = self.bound.problem(number)
        if problem:
            self.fail(problem.split(": ", 1)[1], param, ctx)
        return number


# --- search ----------------------------------------------------------------------------------------------
ITERATIONS = Bound("--iterations", "candidates to evaluate (train + measure)", 1, 100_000)
BATCH_SIZE = Bound("--batch-size", "candidates in flight at once", 1, 1024)
PROXY_EPOCHS = Bound("--proxy-epochs", "epochs of proxy training per candidate", 1, 1000)
TRAIN_SUBSET = Bound("--train-subset", "training images per candidate", 1)
MEASURE_INPUTS = Bound("--measure-inputs", "inputs each candidate runs on the board", 1, 10_000)
# what a search's measurement runs on (search/evaluation.py): inputs the firmware generates from a seed (only their
# outputs' CRC-32s cross the serial line), or images from the dataset streamed to it byte by byte
MEASURE_WITH = ("seeded", "images")
DEFAULT_MEASURE_WITH = "seeded"
# --- train -----------------------------------------------------------------------------------------------
EPOCHS = Bound("--epochs", "training epochs", 1, 10_000)
SUBSET = Bound("--subset", "training images", 1)
TRAIN_BATCH = Bound("--batch-size", "images per training step", 1, 65_536)
DEVICES = ("auto", "cpu", "cuda")
# what writes an int8 .tflite (ml/export.py): tinyhil's own quantiser, or TensorFlow's converter via the Keras twin
INT8_WRITERS = ("tinyhil", "tensorflow")
DEFAULT_INT8_WRITER = "tinyhil"
# --- bench -----------------------------------------------------------------------------------------------
BENCH_INPUTS = Bound("--inputs", "random int8 inputs streamed to the board", 1, 100_000)
BENCH_SEED = Bound("--seed", "seed of the random inputs, a 32-bit unsigned number", 0, 2**32 - 1)
# --- deploy, export, explain, teacher ----------------------------------------------------------------------
TEMPERATURE = click.FloatRange(min=0, min_open=True)  # distillation temperature T > 0
ALPHA = click.FloatRange(0, 1)  # a weight between the hard and the soft term
LEARNING_RATE = click.FloatRange(min=0, min_open=True)
TEST_COUNT = Bound("--test-count", "test images for the accuracy check", 1)
PER_CLASS = Bound("--per-class", "test images explained per class", 1, 1000)
IMAGE_SIZE = Bound("--image-size", "teacher input side in pixels", 8, 1024)
FREEZE_BLOCKS = Bound("--freeze-blocks", "leading blocks kept at their pretrained weights", 0, 1000)


def positive_bytes(value: str | int, option: str) -> int:
    """A byte budget ("320KiB"); zero or less is an error that says what the budget is for."""
    parsed = parse_bytes(value, option)
    if parsed <= 0:
        raise ConfigError(f"{option} {value}: a byte budget must be positive, e.g. 320KiB; leave the option out "
                          "to use the board profile's")
    return parsed


def positive_count(value: str | int, option: str) -> int:
    """A count budget ("100M"); zero or less would reject every candidate, so it is an error."""
    parsed = parse_count(value, option)
    if parsed <= 0:
        raise ConfigError(f"{option} {value}: a MAC budget must be positive, e.g. 50M; leave the option out for "
                          "the paper's 100M")
    return parsed


def click_callback(parse: Any) -> Any:
    """A click callback applying `parse(value, '--option-name')`, its ConfigError shown as a usage error."""

    def callback(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
        if value is None:
            return None
        try:
            return parse(value, f"--{param.name.replace('_', '-')}")  # type: ignore[union-attr]
        except ConfigError as exc:
            raise click.BadParameter(str(exc).split(": ", 1)[-1], ctx, param) from None

    return callback


def output_path(path: Path, option: str, folder: bool = False) -> Path:
    """`path` when a command can write it (a file, or with `folder` a folder, whose parents it may create), checked
    before any training or measuring: a path that cannot be written fails first, not after the work is done."""
    path = Path(path)
    kind = "a folder" if folder else "a file"
    if path.exists() and path.is_dir() != folder:
        raise ConfigError(f"cannot write {option} {path}: it is {'a file' if folder else 'a folder'}; give {kind} path")
    parent = path if folder and path.exists() else path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"cannot write {option} {path}: {parent} is a file, so {kind} cannot be made under it; give "
                          "another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write {option} {path}: {parent} is not writable here; give a path in a folder you "
                          "can write")
    return path
