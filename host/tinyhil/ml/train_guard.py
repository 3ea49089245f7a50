"""Keeps `tinyhil train` from eating the machine: the spec's analytic cost is checked before any model is
built (MACs and an estimate of training memory, from the same graph tinyhil.spec.cost prices), and the process's
address space is then bounded, so a spec that still outgrows it ends in a clear error instead of the
kernel's OOM killer.

The memory estimate is deliberately simple and on the generous side: float32 activations kept for the
backward pass (each int8 graph tensor stands for about three torch tensors: conv output, BatchNorm output,
activation output) times the batch, plus weights, gradients and AdamW's two moments.
"""

from __future__ import annotations

import logging
import resource
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BudgetError
from ..units import format_bytes, format_count

log = logging.getLogger(__name__)

TRAIN_MAC_LIMIT = 1_000_000_000  # MACs per inference: 10x the search's 100 M budget
TENSORS_PER_ACTIVATION = 3  # torch tensors kept per graph activation (conv, BatchNorm, activation outputs)
PARAM_COPIES = 4  # weights, gradients, AdamW exp_avg and exp_avg_sq
FLOAT_BYTES = 4
AVAILABLE_SHARE = 0.8  # of MemAvailable that training may plan to use


@dataclass(frozen=True)
class TrainingCost:
    macs: int  # per inference, analytic
    memory_bytes: int  # estimated peak of one training step at `batch_size`
    batch_size: int

    def describe(self) -> str:
        return (f"{format_count(self.macs)} MACs per inference and about {format_bytes(self.memory_bytes)} of memory "
                f"per training step at batch {self.batch_size} (analytic, tinyhil.spec.cost)")


def training_cost(spec: Any, input_shape: tuple[int, int, int], num_classes: int, batch_size: int) -> TrainingCost:
    from ..spec.cost import estimate, spec_graph

    graph, _ = spec_graph(spec, tuple(input_shape), num_classes)
    activations = sum(t.num_elements for t in graph.tensors if not t.is_constant)
    analytic = estimate(spec, tuple(input_shape), num_classes)
    memory = FLOAT_BYTES * (batch_size * activations * TENSORS_PER_ACTIVATION + PARAM_COPIES * analytic.params)
    return TrainingCost(int(analytic.macs), int(memory), batch_size)


def available_memory_bytes(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """MemAvailable of this machine, or None where it cannot be read (then only the MAC limit applies)."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def memory_limit_bytes(requested: int | None) -> int | None:
    """What training may use: --memory-limit when given, else a share of the memory available now."""
    if requested is not None:
        return requested
    available = available_memory_bytes()
    return None if available is None else int(available * AVAILABLE_SHARE)


def check(cost: TrainingCost, limit_bytes: int | None, what: str) -> None:
    """BudgetError when the spec is beyond what train takes without --force."""
    problems = []
    if cost.macs > TRAIN_MAC_LIMIT:
        problems.append(f"{format_count(cost.macs)} MACs per inference is over train's limit of "
                        f"{format_count(TRAIN_MAC_LIMIT)} (10x the search's 100 M budget)")
    if limit_bytes is not None and cost.memory_bytes > limit_bytes:
        problems.append(f"training needs about {format_bytes(cost.memory_bytes)} at batch {cost.batch_size}, over the "
                        f"{format_bytes(limit_bytes)} it may use")
    if problems:
        raise BudgetError(f"{what}: {'; '.join(problems)} (analytic, tinyhil.spec.cost). Shrink the spec or lower "
                          "--batch-size; --force trains it anyway (memory stays bounded by --memory-limit)")


def require_memory(spec: Any, input_shape: tuple[int, int, int], num_classes: int, batch_size: int) -> None:
    """BudgetError when one training step of `spec` needs more than the memory available now: the search's and
    deploy's training (in a process that cannot be bounded) then fail that one candidate with the reason,
    instead of the OOM killer ending the whole run (and every resume of it)."""
    available = available_memory_bytes()
    if available is None:
        return
    cost = training_cost(spec, input_shape, num_classes, batch_size)
    if cost.memory_bytes > available:
        raise BudgetError(f"training needs about {format_bytes(cost.memory_bytes)} per step at batch {batch_size}, "
                          f"{format_bytes(available)} are available (analytic, tinyhil.spec.cost); lower the batch size, "
                          "shrink the spec or free memory")


def bound_address_space(limit_bytes: int) -> int:
    """Cap this process's address space at what it maps now plus `limit_bytes`; return the cap. Allocations
    beyond it fail inside torch (RuntimeError / MemoryError) instead of waking the OOM killer."""
    mapped = _mapped_bytes()
    cap = mapped + int(limit_bytes)
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    log.info("training address space bounded at %s (%s mapped + %s)", format_bytes(cap), format_bytes(mapped),
             format_bytes(limit_bytes))
    return cap


def is_out_of_memory(exc: BaseException) -> bool:
    """torch's CPU allocator failing under the bound, or Python's own MemoryError."""
    text = str(exc)
    return isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and (
        "can't allocate memory" in text or "not enough memory" in text or "out of memory" in text.lower()))


def _mapped_bytes(status: Path = Path("/proc/self/status")) -> int:
    try:
        for line in status.read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0
