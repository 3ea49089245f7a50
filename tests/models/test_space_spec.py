import json
import random

import pytest

from tinyhil.space import ArchSpec, SearchSpace, SpecError

GOOD = {"resolution": 32, "stem_channels": 16, "stem_kernel": 3, "stem_stride": 2, "head_channels": 0,
        "stages": [{"block": "ir", "depth": 1, "out_channels": 16, "stride": 1, "kernel": 3, "expand": 3},
                   {"block": "dws", "depth": 1, "out_channels": 32, "stride": 2, "kernel": 5, "expand": 1}]}


def test_a_valid_spec_round_trips_through_its_dict():
    spec = ArchSpec.from_dict(GOOD)
    assert ArchSpec.from_dict(spec.to_dict()) == spec
    assert spec.stages[1].kernel == 5


def test_each_bad_field_is_named_with_its_stage_and_allowed_values():
    bad = json.loads(json.dumps(GOOD))
    bad["stages"][1]["kernel"] = 9
    bad["resolution"] = 31
    bad["stages"][0]["colour"] = "red"
    with pytest.raises(SpecError) as info:
        ArchSpec.from_dict(bad)
    problems = info.value.problems
    assert "stage 2: kernel 9 not in {3,5,7}" in problems
    assert any(p.startswith("resolution 31 not in") for p in problems)
    assert "stage 1: unknown field 'colour'" in problems


def test_missing_stages_and_too_many_strides_are_rejected():
    with pytest.raises(SpecError, match="stages"):
        ArchSpec.from_dict({**GOOD, "stages": []})
    deep = {**GOOD, "stem_stride": 2, "stages": [dict(GOOD["stages"][1], stride=2)] * 6}
    with pytest.raises(SpecError, match="strides reduce"):
        ArchSpec.from_dict(deep)


def test_canonical_hash_ignores_key_order_and_sees_every_change():
    a = ArchSpec.from_dict(GOOD)
    reordered = ArchSpec.from_dict(dict(reversed(list(GOOD.items()))))
    assert a.canonical_hash() == reordered.canonical_hash()
    assert a.canonical_hash() != ArchSpec.from_dict({**GOOD, "head_channels": 128}).canonical_hash()


def test_schema_enums_match_the_validator():
    space = SearchSpace()
    schema = space.json_schema()
    stage = schema["properties"]["stages"]["items"]
    assert stage["properties"]["kernel"]["enum"] == [3, 5, 7]
    assert schema["additionalProperties"] is False and stage["additionalProperties"] is False
    assert set(schema["required"]) == set(GOOD)


def test_random_mutate_and_crossover_give_valid_specs():
    space, rng = SearchSpace(), random.Random(1)
    specs = [space.random_spec(rng) for _ in range(20)]
    for a, b in zip(specs, specs[1:]):
        for child in (space.mutate(a, rng), space.crossover(a, b, rng)):
            assert ArchSpec.from_dict(child.to_dict()) == child
    assert len({s.canonical_hash() for s in specs}) > 15
    assert space.mutate(specs[0], rng) != specs[0]
