"""Pareto sorting, crowding distance and hypervolume on fronts whose answers are known by hand."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from tinyhil.search.pareto import (Constraints, HypervolumeReference, Objective, crowding_distance, dominates,
                                   hypervolume, non_dominated_sort, pareto_front, rank_for_selection,
                                   reference_from_constraints)


def test_a_staircase_of_three_points_covers_six_unit_squares() -> None:
    assert hypervolume([(1, 3), (2, 2), (3, 1)], (4, 4)) == pytest.approx(6.0)


def test_two_overlapping_boxes_in_3d_count_their_intersection_once() -> None:
    # 0.5 + 0.25 - 0.125
    assert hypervolume([(0, 0, 0.5), (0.5, 0.5, 0)], (1, 1, 1)) == pytest.approx(0.625)


def test_points_outside_the_reference_and_dominated_points_add_nothing() -> None:
    assert hypervolume([(0.5, 0.5), (0.6, 0.6), (2.0, 0.1)], (1, 1)) == pytest.approx(0.25)
    assert hypervolume([], (1, 1)) == 0.0


def _inclusion_exclusion(points: list[tuple[float, ...]], reference: tuple[float, ...]) -> float:
    total = 0.0
    for size in range(1, len(points) + 1):
        for subset in itertools.combinations(points, size):
            corner = [max(p[k] for p in subset) for k in range(len(reference))]
            total += (-1) ** (size + 1) * math.prod(max(0.0, r - c) for r, c in zip(reference, corner))
    return total


@pytest.mark.parametrize("dims", [2, 3, 4, 5])
def test_exact_hypervolume_matches_inclusion_exclusion_on_random_fronts(dims: int) -> None:
    rng = random.Random(dims)
    for _ in range(5):
        points = [tuple(rng.random() for _ in range(dims)) for _ in range(7)]
        assert hypervolume(points, (1.0,) * dims) == pytest.approx(_inclusion_exclusion(points, (1.0,) * dims))


def test_non_dominated_sort_peels_fronts_in_order() -> None:
    points = [(1, 1), (2, 2), (1, 3), (3, 1), (3, 3), (0, 5)]
    assert non_dominated_sort(points) == [[0, 5], [1, 2, 3], [4]]
    assert dominates((1, 1), (2, 2)) and not dominates((1, 3), (3, 1)) and not dominates((1, 1), (1, 1))


def test_crowding_distance_gives_boundaries_infinity_and_interior_the_normalised_gap() -> None:
    distance = crowding_distance([(0, 4), (1, 2), (4, 0)])
    assert distance[0] == math.inf and distance[2] == math.inf
    assert distance[1] == pytest.approx((4 - 0) / 4 + (4 - 0) / 4)


def test_front_maximises_accuracy_minimises_resources_and_drops_infeasible() -> None:
    metrics = [
        {"accuracy": 0.90, "macs": 10, "peak_sram_bytes": 100, "flash_bytes": 10, "latency": 5},
        {"accuracy": 0.80, "macs": 5, "peak_sram_bytes": 50, "flash_bytes": 5, "latency": 3},
        {"accuracy": 0.70, "macs": 6, "peak_sram_bytes": 60, "flash_bytes": 6, "latency": 4},  # dominated by #1
        {"accuracy": 0.95, "macs": 50, "peak_sram_bytes": 900, "flash_bytes": 50, "latency": 50},  # over the SRAM budget
    ]
    constraints = Constraints({"peak_sram_bytes": 500})
    assert pareto_front(metrics, constraints=constraints) == [0, 1]
    assert pareto_front(metrics) == [0, 1, 3]
    assert rank_for_selection(metrics)[-1] == 2


def test_normalised_hypervolume_states_its_reference_and_uses_budgets_as_scales() -> None:
    reference = reference_from_constraints(Constraints({"peak_sram_bytes": 1000, "macs": None}))
    assert [o.name for o in reference.objectives] == ["accuracy", "peak_sram_bytes"]
    assert "reference point (1, ..., 1)" in reference.describe()
    # accuracy 0.75 -> 0.25; SRAM 500/1000 -> 0.5: box (1-0.25)*(1-0.5)
    assert reference.hypervolume([{"accuracy": 0.75, "peak_sram_bytes": 500}]) == pytest.approx(0.375)
    assert reference.hypervolume([{"accuracy": 0.75}]) == 0.0  # not measured: no volume


def test_a_maximised_objective_is_negated_for_minimisation() -> None:
    assert Objective("accuracy", maximise=True).minimised(0.9) == -0.9
    assert HypervolumeReference((Objective("a", True),), (1.0,)).normalise({"a": 0.25}) == (0.75,)


from hypothesis import given, settings, strategies as st  # noqa: E402

_points = st.lists(st.tuples(*[st.floats(0, 1, allow_nan=False)] * 3), min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(_points, st.tuples(*[st.floats(0, 1, allow_nan=False)] * 3))
def test_dominated_points_add_no_volume_and_new_points_never_remove_any(points, extra) -> None:
    reference = (1.0, 1.0, 1.0)
    front = [points[i] for i in non_dominated_sort(points)[0]]
    assert hypervolume(points, reference) == pytest.approx(hypervolume(front, reference), abs=1e-12)
    assert hypervolume(points + [extra], reference) >= hypervolume(points, reference) - 1e-12
