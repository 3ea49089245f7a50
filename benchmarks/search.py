"""Search throughput and quality on this machine: proposers x single/multi-fidelity, the same wall-clock budget,
several seeds.

For each proposer (evolution, random, and llm where an endpoint is configured or the local model is set up), each
fidelity (single: every candidate trains for the whole proxy budget; multi: ASHA rungs; multi-finish: ASHA rungs
and the front's members trained on near the end of the budget, --finish-front; --fidelities single,multi,multi-finish)
and each seed, the same
search runs for the same wall-clock budget on the same board profile (default: the QEMU board) and dataset. Prints,
as mean ± standard deviation over the seeds: candidates evaluated per hour, hypervolume at half and at the end of
the budget (wall-clock) and after N evaluations, the share of wall time per stage, and the gap between the
validation accuracy (what the search selected on) and the test accuracy of each front's most accurate member
(int8, tflite-micro reference interpreter, on the first --test-images test images). Then the multi/single ratios,
measured side by side in this one run.

    .venv/bin/python benchmarks/search.py --dataset fashion-mnist --time-budget 600 --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from rich.console import Console
from rich.table import Table

from tinyhil.search import llm_local
from tinyhil.search.loop import EVALUATED, current_front, hypervolume_history
from tinyhil.search.pareto import HypervolumeReference, reference_from_constraints
from tinyhil.search.proposers.llm_endpoint import resolve_endpoint
from tinyhil.search.screening import DEFAULT_MAC_BUDGET
from tinyhil.search.session import SearchConfig, open_search
from tinyhil.search.store import Candidate

STAGES = ("train", "export", "measure")
BOARD_METRICS = ("macs", "peak_sram_bytes", "flash_bytes", "latency")


def hypervolume_at(candidates: list[Candidate], reference: HypervolumeReference, constraints: Any,
                   started: float, seconds: float) -> float:
    """Hypervolume of what the search knew `seconds` after it started: each measured, feasible candidate with the
    accuracy of its last rung finished by then."""
    known = []
    for c in candidates:
        if c.status != "measured" or not constraints.feasible(c.metrics):
            continue
        done = [h for h in c.metrics.get("rung_history", []) if h["done_at"] - started <= seconds]
        if done:
            known.append({**{k: c.metrics.get(k) for k in BOARD_METRICS}, "accuracy": done[-1]["accuracy"]})
    return reference.hypervolume(known)


def evaluated_at(candidate: Candidate) -> float:
    """When the candidate's first rung was measured (or it failed)."""
    history = candidate.metrics.get("rung_history")
    return history[0]["done_at"] if history else candidate.updated


def test_accuracy(tflite: str, dataset: Any, count: int) -> float:
    """int8 top-1 on the first `count` test images (tflite-micro reference): the benchmark's check only, never
    seen by the search."""
    from tinyhil.ml.model_inputs import model_inputs
    from tinyhil.codegen.reference import ReferenceInterpreter

    reference = ReferenceInterpreter(Path(tflite))
    x = model_inputs(dataset.test_x[:count], reference)
    top1 = np.array([int(np.argmax(reference.invoke(image[None]))) for image in x])
    return float((top1 == dataset.test_y[:count].numpy()).mean())


class Deadline(BaseException):
    """The benchmark's wall-clock budget is over: the search is cut where it is (not caught by the loop's
    per-candidate error handling, as KeyboardInterrupt is not). What it had stored stays in its store."""


@contextlib.contextmanager
def hard_deadline(seconds: float | None) -> Iterator[None]:
    """Raise Deadline in this (main) thread after `seconds`: without it a run overruns its budget by the candidate in
    flight (a whole single-fidelity proxy training), which counts for nothing and delays the next run."""
    if seconds is None:
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise Deadline()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def int8_of_last_rung(candidate: Candidate, run_dir: Path, dataset: Any) -> str:
    """The int8 file of the weights the candidate's accuracy comes from. A middle rung writes none (its stored
    .tflite is the first rung's), so the benchmark exports that rung's checkpoint itself, for its test check only."""
    history = candidate.metrics.get("rung_history") or []
    last = history[-1] if history else {}
    if candidate.metrics.get("int8_accuracy") is not None or not last.get("checkpoint") or last.get("rung", 0) == 0:
        return candidate.artefacts["tflite"]
    from tinyhil.ml.export import export_for_board
    from tinyhil.spec.space import ArchSpec
    from tinyhil.ml.train import load_checkpoint

    model, _ = load_checkpoint(Path(last["checkpoint"]))
    out = Path(run_dir) / "benchmark" / f"{candidate.id:05d}.rung{last['rung']}.tflite"
    return str(export_for_board(model, ArchSpec.from_dict(candidate.spec), dataset, out))


FIDELITIES = ("single", "multi", "multi-finish")


def fidelity_name(config: SearchConfig) -> str:
    if config.rungs == 1:
        return "single"
    return "multi-finish" if config.finish_front else "multi"


def run_one(config: SearchConfig, run_dir: Path, test_images: int, hard_stop_s: float | None = None) -> dict[str, Any]:
    from tinyhil.ml.data import load_dataset

    started_wall, started = time.time(), time.monotonic()
    with open_search(config, run_dir, resume=False) as loop:
        stopped = ""
        try:
            with hard_deadline(hard_stop_s):
                stopped = loop.run().stopped_reason
        except Deadline:
            stopped = f"cut at {hard_stop_s:g} s (benchmark deadline)"
        wall = time.monotonic() - started
        candidates = loop.store.candidates()
        reference = reference_from_constraints(loop.constraints)
        history = hypervolume_history(candidates, reference, loop.constraints)
        at = {f: hypervolume_at(candidates, reference, loop.constraints, started_wall, f * config.time_budget_s)
              for f in (0.5, 1.0)}
        note = reference.describe()
        front = current_front(loop.store, loop.constraints, loop.settings.objectives)
    stage_seconds = {stage: sum(c.timings.get(stage, 0.0) for c in candidates) for stage in STAGES}
    stage_seconds["propose+screen+store"] = max(0.0, wall - sum(stage_seconds.values()))
    # counted at the budget: a run may overrun it by the candidate (and promotions) in flight when it ran out
    in_budget = [c for c in candidates
                 if c.status in EVALUATED and evaluated_at(c) - started_wall <= config.time_budget_s]
    evaluated = len(in_budget)
    # the llm's candidates are its own specs ("llm") or the budget repair's of them ("llm+repair")
    proposed_by = {label: sum(c.proposer == label for c in in_budget) for label in sorted({c.proposer for c in in_budget})}
    best = max(front, key=lambda c: c.metrics.get("accuracy") or 0.0, default=None)
    gap = None
    if best is not None and best.artefacts.get("tflite"):
        dataset = load_dataset(config.dataset)  # the untouched test split
        tflite = int8_of_last_rung(best, run_dir, dataset)
        gap = {"validation": best.metrics["accuracy"], "test": test_accuracy(tflite, dataset, test_images),
               "rung": best.metrics.get("rung")}
    return {"proposer": config.proposer, "fidelity": fidelity_name(config), "seed": config.seed,
            "evaluated": evaluated, "proposed_by": proposed_by,
            "rejected": sum(c.status == "rejected" for c in candidates), "wall_s": wall,
            "candidates_per_hour": evaluated / config.time_budget_s * 3600, "stage_seconds": stage_seconds,
            "hypervolume": history, "hypervolume_at_half": at[0.5], "hypervolume_at_end": at[1.0],
            "best": gap, "rungs": [c.metrics.get("rung") for c in candidates if c.status == "measured"],
            "hypervolume_note": note, "stopped": stopped}


def mean_sd(values: list[float], digits: int = 3) -> str:
    if not values:
        return "-"
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def proposed_by_words(results: list[dict[str, Any]]) -> str:
    """'llm 2.3, llm+repair 4.0' (mean per run; results saved before the column existed show '-')."""
    counts = [r["proposed_by"] for r in results if "proposed_by" in r]
    labels = sorted({label for c in counts for label in c})
    return ", ".join(f"{label} {statistics.fmean(c.get(label, 0) for c in counts):.1f}" for label in labels) or "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--board", default="qemu-m7")
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--time-budget", type=float, default=600.0, help="wall-clock seconds per search")
    parser.add_argument("--iterations", type=int, default=1000, help="a cap; the time budget is what ends a run")
    parser.add_argument("--proxy-epochs", type=int, default=None, help="default: TrainConfig.proxy()'s")
    parser.add_argument("--train-subset", type=int, default=None)
    parser.add_argument("--budget-macs", type=int, default=DEFAULT_MAC_BUDGET)
    parser.add_argument("--proposers", default="evolution,random,llm")
    parser.add_argument("--fidelities", default="single,multi", help=f"comma-separated, of {', '.join(FIDELITIES)}")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--test-images", type=int, default=1000)
    parser.add_argument("--torch-threads", type=int, default=None)
    parser.add_argument("--llm-specs", type=int, default=1, help="specs the LLM writes per call (tinyhil search --llm-specs)")
    parser.add_argument("--at-evaluations", type=int, default=4, help="hypervolume after this many evaluations")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--side-by-side", action="store_true",
                        help="run each fidelity in its own process at the same time (1 torch thread each), one "
                             "(proposer, seed) pair after another, so both see the same machine load")
    parser.add_argument("--grace", type=float, default=5.0,
                        help="seconds after --time-budget at which a run is cut (what it measured by then is kept)")
    parser.add_argument("--no-hard-stop", action="store_true",
                        help="let the candidates in flight at the budget finish instead of cutting the run")
    parser.add_argument("--from-json", type=Path, nargs="*", default=None, help="print the tables of saved results")
    args = parser.parse_args()
    unknown = sorted(set(args.fidelities.split(",")) - set(FIDELITIES))
    if unknown:
        parser.error(f"--fidelities: unknown {', '.join(unknown)}; choose from {', '.join(FIDELITIES)}")
    logging.basicConfig(level=logging.WARNING)
    console = Console(width=200)
    seeds = [int(s) for s in args.seeds.split(",")]

    if args.from_json:
        results = [r for path in args.from_json for r in json.loads(path.read_text())]
        return report(console, results, args)
    if args.side_by_side:
        return side_by_side(console, args)
    results = []
    for proposer in args.proposers.split(","):
        if proposer == "llm" and resolve_endpoint() is None and not llm_local.is_set_up()[0]:
            console.print("llm: skipped, no endpoint configured (TINYHIL_LLM_BASE_URL / TINYHIL_LLM_MODEL) "
                          "and the local model is not set up (tinyhil llm setup)")
            continue
        for seed in seeds:  # single and multi side by side for each seed, so machine load drifts hit both alike
            for fidelity in args.fidelities.split(","):
                overrides = {"epochs": args.proxy_epochs} if args.proxy_epochs else {}
                config = SearchConfig(board=args.board, dataset=args.dataset, iterations=args.iterations,
                                      proposer=proposer, seed=seed, budget_macs=args.budget_macs,
                                      train_subset=args.train_subset, train_overrides=overrides,
                                      rungs=1 if fidelity == "single" else 3, time_budget_s=args.time_budget,
                                      finish_front=fidelity == "multi-finish",
                                      torch_threads=args.torch_threads, llm_specs_per_call=args.llm_specs)
                hard_stop = None if args.no_hard_stop else args.time_budget + args.grace
                with tempfile.TemporaryDirectory(prefix=f"tinyhil-bench-{proposer}-{fidelity}-") as tmp:
                    result = run_one(config, Path(tmp) / "run", args.test_images, hard_stop)
                results.append(result)
                console.print(f"{proposer} {fidelity} seed {seed}: {result['evaluated']} evaluated in "
                              f"{result['wall_s']:.0f} s, hypervolume {result['hypervolume_at_end']:.4f}, rungs "
                              f"{result['rungs']}, best {result['best']}")
                if args.out:
                    args.out.write_text(json.dumps(results, indent=2, default=str))
    report(console, results, args)


def side_by_side(console: Console, args: argparse.Namespace) -> None:
    import subprocess
    import sys

    out_dir = Path(tempfile.mkdtemp(prefix="tinyhil-bench-"))
    # --out is the combined file this process writes; each child writes its own into out_dir
    passed = _without(sys.argv[1:], {"--side-by-side": 0, "--proposers": 1, "--seeds": 1, "--fidelities": 1,
                                     "--out": 1})
    for proposer in args.proposers.split(","):
        for seed in args.seeds.split(","):  # the two fidelities of one (proposer, seed) start and end together
            children = [subprocess.Popen([sys.executable, __file__, "--proposers", proposer, "--seeds", seed,
                                          "--fidelities", fidelity, "--torch-threads", "1",
                                          "--out", str(out_dir / f"{proposer}-{seed}-{fidelity}.json"), *passed])
                        for fidelity in args.fidelities.split(",")]
            for child in children:
                child.wait()
    files = sorted(out_dir.glob("*.json"))
    console.print(f"results: {', '.join(map(str, files))}")
    results = [r for path in files for r in json.loads(path.read_text())]
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, default=str))
    report(console, results, args)


def _without(argv: list[str], options: dict[str, int]) -> list[str]:
    """argv without the given options (each with its number of values), --name=value forms included."""
    kept, skip = [], 0
    for arg in argv:
        if skip:
            skip -= 1
        elif arg in options:
            skip = options[arg]
        elif arg.split("=", 1)[0] not in options:
            kept.append(arg)
    return kept


def report(console: Console, results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault((r["proposer"], r["fidelity"]), []).append(r)
    n = args.at_evaluations
    table = Table(title=f"search, {args.time_budget:g} s wall-clock per run, seeds {args.seeds}: board {args.board}, "
                        f"dataset {args.dataset}; mean ± sd over seeds")
    for column in ("proposer", "fidelity", "evaluated", "candidates / h", "HV at half time", "HV at end",
                   f"HV after {n} evaluations", "evaluated, proposed by", "train", "export", "measure", "propose+screen+store",
                   "front's best: validation → test (int8)"):
        table.add_column(column, justify="right")
    for (proposer, fidelity), rs in groups.items():
        share = {k: statistics.fmean(r["stage_seconds"][k] / r["wall_s"] for r in rs) for k in rs[0]["stage_seconds"]}
        after_n = [dict(r["hypervolume"]).get(n) for r in rs]
        gaps = [r["best"] for r in rs if r["best"]]
        table.add_row(proposer, fidelity, mean_sd([r["evaluated"] for r in rs], 1),
                      mean_sd([r["candidates_per_hour"] for r in rs], 1),
                      mean_sd([r["hypervolume_at_half"] for r in rs]), mean_sd([r["hypervolume_at_end"] for r in rs]),
                      mean_sd([v for v in after_n if v is not None]), proposed_by_words(rs),
                      *(f"{100 * share[s]:.0f} %" for s in (*STAGES, "propose+screen+store")),
                      (f"{mean_sd([g['validation'] for g in gaps])} → {mean_sd([g['test'] for g in gaps])}"
                       if gaps else "-"))
    console.print(table)
    for (proposer, variant) in sorted(k for k in groups if k[1] != "single"):
        single, multi = groups.get((proposer, "single")), groups[(proposer, variant)]
        if single:
            single_rate = statistics.fmean(r["candidates_per_hour"] for r in single)
            multi_rate = statistics.fmean(r["candidates_per_hour"] for r in multi)
            ratio = f"{multi_rate / single_rate:.2f}x" if single_rate else f"{multi_rate:.1f} vs 0 per hour"
            hv_single = statistics.fmean(r["hypervolume_at_end"] for r in single)
            hv_multi = statistics.fmean(r["hypervolume_at_end"] for r in multi)
            console.print(f"{proposer}: {variant}/single candidates per hour {ratio}; hypervolume at the end "
                          f"{hv_multi:.4f} vs {hv_single:.4f} ({'equal or better' if hv_multi >= hv_single else 'lower'})")
    if results:
        console.print(f"hypervolume: {results[0]['hypervolume_note']}; wall-clock on this machine; latency in the "
                      "board profile's unit (QEMU: instructions)")


if __name__ == "__main__":
    main()
