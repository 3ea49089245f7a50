import json
import random

import pytest

from tinyhil.spec.space import ArchSpec, SearchSpace, SpecError

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


def test_specs_written_before_the_new_fields_keep_their_meaning_and_hash():
    spec = ArchSpec.from_dict(GOOD)
    ir, dws = spec.stages
    assert (ir.se_ratio, ir.skip, ir.activation) == (0.0, "identity", "relu6")
    assert (dws.se_ratio, dws.skip, dws.activation) == (0.0, "none", "relu6")
    assert spec.canonical_hash() == "06b502efb0daa217"  # what tinyhil computed before the fields existed
    explicit = ArchSpec.from_dict(spec.to_dict())
    assert explicit == spec and explicit.canonical_hash() == spec.canonical_hash()


NEW = {**GOOD, "stem_channels": 0, "stem_kernel": 5, "stem_stride": 2, "resolution": 160,
       "stages": [{"block": "ir", "depth": 6, "out_channels": 16, "stride": 2, "kernel": 3, "expand": 2,
                   "se_ratio": 0.25, "skip": "residual", "activation": "leakyrelu"},
                  {"block": "dws", "depth": 1, "out_channels": 32, "stride": 1, "kernel": 5, "expand": 1,
                   "se_ratio": 0.5, "skip": "identity", "activation": "hswish"}]}


def test_every_new_field_round_trips_and_changes_the_hash():
    spec = ArchSpec.from_dict(NEW)
    assert ArchSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert not spec.has_stem and (spec.stem_kernel, spec.stem_stride) == (1, 1)  # ignored without a stem
    assert spec.stages[0].se_ratio == 0.25 and spec.stages[1].activation == "hswish"
    hashes = {spec.canonical_hash()}
    for key, value in (("se_ratio", 0.5), ("skip", "none"), ("activation", "relu6"), ("depth", 4), ("expand", 3)):
        changed = json.loads(json.dumps(NEW))
        changed["stages"][0][key] = value
        hashes.add(ArchSpec.from_dict(changed).canonical_hash())
    assert len(hashes) == 6
    assert "hswish (swish deployed as hard-swish)" in "\n".join(spec.describe())


def test_each_bad_new_field_is_named_and_the_error_points_to_the_schema_command():
    bad = json.loads(json.dumps(NEW))
    bad["stages"][0].update(se_ratio=0.3, skip="dense", activation="gelu")
    bad["stages"][1]["depth"] = 5
    with pytest.raises(SpecError) as info:
        ArchSpec.from_dict(bad)
    problems = info.value.problems
    assert "stage 1: se_ratio 0.3 not in {0,0.25,0.5}" in problems
    assert "stage 1: skip 'dense' not in {identity,residual,none}" in problems
    assert "stage 1: activation 'gelu' not in {relu6,leakyrelu,hswish}" in problems
    assert "stage 2: depth 5 not in {1,2,3,4,6}" in problems
    assert "`tinyhil spec schema`" in str(info.value)


def test_the_paper_preset_is_the_papers_space():
    from tinyhil.spec.space import space_preset

    paper = space_preset("paper")
    schema = paper.json_schema()
    stage = schema["properties"]["stages"]["items"]["properties"]
    assert schema["properties"]["stages"]["minItems"] == schema["properties"]["stages"]["maxItems"] == 5
    assert schema["properties"]["resolution"]["enum"] == [160]
    assert schema["properties"]["stem_channels"]["enum"] == [0]
    assert stage["out_channels"]["enum"] == [16, 24, 32, 48, 64, 96, 128, 160]
    assert stage["expand"]["enum"] == [1, 2, 3, 4, 6] and stage["depth"]["enum"] == [1, 2, 3, 4, 6]
    assert stage["se_ratio"]["enum"] == [0.0, 0.25, 0.5] and stage["skip"]["enum"] == ["residual", "none"]
    assert "hard-swish" in stage["activation"]["description"]
    rng = random.Random(0)
    specs = [paper.random_spec(rng) for _ in range(10)]
    assert all(len(s.stages) == 5 and s.resolution == 160 and not s.has_stem for s in specs)
    with pytest.raises(SpecError, match="resolution 32"):
        paper.parse({**NEW, "resolution": 32})
    from tinyhil.errors import ConfigError

    with pytest.raises(ConfigError, match="paper"):
        space_preset("papers")


def test_mutation_and_crossover_reach_the_new_fields():
    space, rng = SearchSpace(), random.Random(3)
    seen: dict[str, set] = {"se_ratio": set(), "skip": set(), "activation": set()}
    spec = ArchSpec.from_dict(NEW)
    for _ in range(200):
        spec = space.mutate(spec, rng)
        for stage in spec.stages:
            for key in seen:
                seen[key].add(getattr(stage, key))
    assert seen == {"se_ratio": {0.0, 0.25, 0.5}, "skip": {"identity", "residual", "none"},
                    "activation": {"relu6", "leakyrelu", "hswish"}}
    a, b = ArchSpec.from_dict(GOOD), ArchSpec.from_dict(NEW)
    children = {space.crossover(a, b, rng) for _ in range(30)}
    assert any(c.stages[0] == b.stages[0] for c in children) and any(c.stages[0] == a.stages[0] for c in children)
    assert all(c.has_stem == (c.stem_channels > 0) for c in children)


def test_a_space_keeps_only_the_choices_a_runtime_has_kernels_for():
    base = {"CONV_2D", "DEPTHWISE_CONV_2D", "PAD", "ADD", "MEAN", "FULLY_CONNECTED"}
    space, dropped = SearchSpace().runnable_with(base | {"LEAKY_RELU"})
    assert space.activations == ("relu6", "leakyrelu") and space.se_ratios == (0.0,)
    assert dropped == ["activation hswish (needs HARD_SWISH)", "se_ratio 0.25 (needs LOGISTIC, MUL)",
                       "se_ratio 0.5 (needs LOGISTIC, MUL)"]
    with pytest.raises(SpecError, match="activation 'hswish' not in"):
        space.parse(NEW)
    everything = base | {"LEAKY_RELU", "HARD_SWISH", "LOGISTIC", "MUL"}
    assert SearchSpace().runnable_with(everything) == (SearchSpace(), [])
