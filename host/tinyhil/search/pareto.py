"""Multi-objective selection: objectives, hard constraints, non-dominated sorting, crowding distance and
exact hypervolume.

Everything is minimised internally: accuracy enters as (1 - accuracy). Hypervolume is computed on
normalised objectives: each objective is divided by its reference value (the budget for MACs, SRAM and
flash; a stated bound for latency), so the reference point is (1, ..., 1) and a point outside it adds
nothing. Non-dominated sorting and the exact hypervolume come from moocore (a maintained C library with
Python bindings); this module only decides what the objectives are, which points are feasible and how
they are scaled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import moocore
import numpy as np

Metrics = Mapping[str, float | int | None]


@dataclass(frozen=True)
class Objective:
    name: str  # key in a candidate's metrics
    maximise: bool = False
    unit: str = ""

    def minimised(self, value: float) -> float:
        return -float(value) if self.maximise else float(value)


# accuracy up; MACs, peak SRAM, flash, latency down
ACCURACY = Objective("accuracy", maximise=True, unit="fraction")
MACS = Objective("macs", unit="MACs (analytic)")
PEAK_SRAM = Objective("peak_sram_bytes", unit="bytes (measured)")
FLASH = Objective("flash_bytes", unit="bytes (measured)")
LATENCY = Objective("latency", unit="cycles or instructions (measured)")
DEFAULT_OBJECTIVES: tuple[Objective, ...] = (ACCURACY, MACS, PEAK_SRAM, FLASH, LATENCY)


@dataclass(frozen=True)
class Constraints:
    """Hard upper bounds on metrics (from the board profile and the command line). None: unbounded."""

    bounds: Mapping[str, int | float | None] = field(default_factory=dict)

    def violations(self, metrics: Metrics) -> list[str]:
        problems = []
        for name, bound in self.bounds.items():
            value = metrics.get(name)
            if bound is not None and value is not None and value > bound:
                problems.append(f"{name} {value} > budget {bound}")
        return problems

    def feasible(self, metrics: Metrics) -> bool:
        return not self.violations(metrics)


def objective_vector(metrics: Metrics, objectives: Sequence[Objective] = DEFAULT_OBJECTIVES) -> tuple[float, ...]:
    """The metrics as a minimisation vector; a missing metric counts as +inf (worst)."""
    vector = []
    for objective in objectives:
        value = metrics.get(objective.name)
        vector.append(math.inf if value is None else objective.minimised(value))
    return tuple(vector)


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """a dominates b (minimisation): no worse in every objective and better in at least one."""
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def non_dominated_sort(points: Sequence[Sequence[float]]) -> list[list[int]]:
    """Fronts of indices, best first, each in index order (moocore's Pareto ranks; equal points share a front)."""
    if not len(points):
        return [[]]
    ranks = moocore.pareto_rank(np.asarray(points, dtype=float))
    return [[int(i) for i in np.flatnonzero(ranks == rank)] for rank in range(int(ranks.max()) + 1)]


def crowding_distance(points: Sequence[Sequence[float]]) -> list[float]:
    """Crowding distance of each point within one front (NSGA-II); boundary points get +inf."""
    n = len(points)
    if n <= 2:
        return [math.inf] * n
    distance = [0.0] * n
    for k in range(len(points[0])):
        order = sorted(range(n), key=lambda i: points[i][k])
        low, high = points[order[0]][k], points[order[-1]][k]
        distance[order[0]] = distance[order[-1]] = math.inf
        if not (math.isfinite(low) and math.isfinite(high)) or high == low:
            continue
        for rank in range(1, n - 1):
            distance[order[rank]] += (points[order[rank + 1]][k] - points[order[rank - 1]][k]) / (high - low)
    return distance


def hypervolume(points: Sequence[Sequence[float]], reference: Sequence[float]) -> float:
    """Exact hypervolume dominated by `points` (minimisation) and bounded by `reference` (moocore)."""
    inside = [tuple(map(float, p)) for p in points if all(x < r for x, r in zip(p, reference))]
    if not inside:
        return 0.0
    return float(moocore.hypervolume(np.asarray(inside), ref=np.asarray(reference, dtype=float)))


@dataclass(frozen=True)
class HypervolumeReference:
    """Divisors that map each objective onto [0, 1]; the reference point is then all ones."""

    objectives: tuple[Objective, ...]
    scales: tuple[float, ...]  # accuracy: 1.0 (so 1 - accuracy is in [0, 1]); resources: their bound
    left_out: tuple[str, ...] = ()  # objectives without a bound: no stated reference, so not in the volume

    def normalise(self, metrics: Metrics) -> tuple[float, ...]:
        vector = []
        for objective, scale in zip(self.objectives, self.scales):
            value = metrics.get(objective.name)
            if value is None:
                vector.append(math.inf)
            elif objective.maximise:
                vector.append(1.0 - float(value) / scale)
            else:
                vector.append(float(value) / scale)
        return tuple(vector)

    def describe(self) -> str:
        parts = [f"1 - {o.name}" if o.maximise else f"{o.name} / {s:g}" for o, s in zip(self.objectives, self.scales)]
        text = "hypervolume of (" + ", ".join(parts) + ") minimised, reference point (1, ..., 1)"
        if self.left_out:
            text += f"; {', '.join(self.left_out)} not in it (no budget, so no reference point)"
        return text

    def hypervolume(self, metrics_list: Sequence[Metrics]) -> float:
        return hypervolume([self.normalise(m) for m in metrics_list], [1.0] * len(self.objectives))


def reference_from_constraints(constraints: Constraints,
                               objectives: Sequence[Objective] = DEFAULT_OBJECTIVES) -> HypervolumeReference:
    """Use the objectives that have a bound (accuracy always): an unbounded objective has no stated reference."""
    chosen, scales, left_out = [], [], []
    for objective in objectives:
        if objective.maximise:
            chosen.append(objective)
            scales.append(1.0)
        elif constraints.bounds.get(objective.name):
            chosen.append(objective)
            scales.append(float(constraints.bounds[objective.name]))  # type: ignore[arg-type]
        else:
            left_out.append(objective.name)
    return HypervolumeReference(tuple(chosen), tuple(scales), tuple(left_out))


def pareto_front(metrics_list: Sequence[Metrics], objectives: Sequence[Objective] = DEFAULT_OBJECTIVES,
                 constraints: Constraints | None = None) -> list[int]:
    """Indices of the feasible, non-dominated entries."""
    feasible = [i for i, m in enumerate(metrics_list) if constraints is None or constraints.feasible(m)]
    if not feasible:
        return []
    vectors = [objective_vector(metrics_list[i], objectives) for i in feasible]
    return sorted(feasible[i] for i in non_dominated_sort(vectors)[0])


def rank_for_selection(metrics_list: Sequence[Metrics], objectives: Sequence[Objective] = DEFAULT_OBJECTIVES
                       ) -> list[int]:
    """All indices ordered NSGA-II style: by front, then by crowding distance (larger first)."""
    vectors = [objective_vector(m, objectives) for m in metrics_list]
    order: list[int] = []
    for front in non_dominated_sort(vectors):
        crowd = crowding_distance([vectors[i] for i in front])
        order.extend(i for _, i in sorted(zip(crowd, front), key=lambda pair: (-pair[0], pair[1])))
    return order
