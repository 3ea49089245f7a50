"""Known architectures go first: seed specs are evaluated before the proposer's own, once, and recorded as 'seed'."""

from __future__ import annotations

from pathlib import Path

from tinyhil.search.proposers import EvolutionProposer, SeededProposer

from .search_doubles import build_toy_loop

SEEDS = [{"stages": [{"op": "conv", "width": 16, "kernel": 3}]},
         {"stages": [{"op": "conv", "width": 16, "kernel": 3}]},  # the same again: counted once
         {"stages": [{"op": "conv", "width": 16, "kernel": 9}]},  # not in the space: rejected with its reason
         {"stages": [{"op": "dwconv", "width": 32, "kernel": 5}, {"op": "conv", "width": 8, "kernel": 3}]}]


def test_seed_specs_are_evaluated_first_then_the_proposer_takes_over(tmp_path: Path) -> None:
    loop = build_toy_loop(tmp_path / "run", SeededProposer(EvolutionProposer(), SEEDS), iterations=5)
    loop.run()
    candidates = sorted(loop.store.candidates(), key=lambda c: c.id)
    evaluated = [c for c in candidates if c.status in ("measured", "failed", "infeasible")]
    assert [c.spec for c in evaluated[:2]] == [SEEDS[0], SEEDS[3]]
    assert [c.proposer for c in evaluated] == ["seed", "seed", "evolution", "evolution", "evolution"]
    rejected = [c for c in candidates if c.status == "rejected"]
    assert len(rejected) == 1 and "kernel 9" in rejected[0].reason and "seed spec" in rejected[0].stage


def test_a_resumed_run_does_not_evaluate_its_seeds_again(tmp_path: Path) -> None:
    build_toy_loop(tmp_path / "run", SeededProposer(EvolutionProposer(), SEEDS[:1]), iterations=1).run()
    loop = build_toy_loop(tmp_path / "run", SeededProposer(EvolutionProposer(), SEEDS[:1]), iterations=3)
    loop.run()
    specs = [c.spec for c in loop.store.candidates() if c.status == "measured"]
    assert specs.count(SEEDS[0]) == 1 and len(specs) == 3


def test_search_command_takes_the_space_and_seed_files_and_keeps_them_for_resume(tmp_path: Path, monkeypatch) -> None:
    import json

    from click.testing import CliRunner

    from tinyhil.cli import cli
    from tinyhil.search.store import RunStore

    from . import contract_doubles

    contract_doubles.install(monkeypatch)
    seed_file = tmp_path / "seeds.json"
    seed_file.write_text(json.dumps([SEEDS[0], SEEDS[3]]))
    args = ["search", "--no-live", "--dataset", "digits", "--runs-dir", str(tmp_path), "--run-id", "r", "--budget-macs",
            "2M", "--iterations", "3"]
    result = CliRunner().invoke(cli, [*args, "--space", "paper", "--seed-specs", str(seed_file)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    with RunStore.open(tmp_path / "r") as store:
        assert store.config()["space"] == "paper" and store.config()["seed_specs"] == [SEEDS[0], SEEDS[3]]
        first = sorted(store.candidates(), key=lambda c: c.id)[:2]
        assert [c.proposer for c in first] == ["seed", "seed"]
    result = CliRunner().invoke(cli, ["search", "--no-live", "--resume", str(tmp_path / "r"), "--space", "tinyhil"])
    assert result.exit_code != 0 and "keeps the space and seeds" in str(result.exception or result.output)


def test_a_seed_outside_the_chosen_space_is_refused_before_anything_runs(tmp_path: Path) -> None:
    import json

    import pytest

    from tinyhil.commands.search import _seed_specs
    from tinyhil.errors import ConfigError

    small = {"resolution": 32, "stem_channels": 8, "stem_kernel": 3, "stem_stride": 2,
             "stages": [{"block": "dws", "depth": 1, "out_channels": 16, "stride": 2, "kernel": 3}]}
    path = tmp_path / "small.json"
    path.write_text(json.dumps(small))
    assert _seed_specs((path,), "tinyhil")[0]["stages"][0]["skip"] == "none"
    with pytest.raises(ConfigError, match="not in the 'paper' space: resolution 32 not in"):
        _seed_specs((path,), "paper")
