"""Search throughput and quality on this machine.

For each proposer (evolution, random, and llm where an endpoint is configured or the local model is set up) the same search runs on the
same budget: the same board profile (default: the QEMU board), dataset, fixed proxy training and number of
evaluations. Prints candidates per hour, the share of wall time per stage (propose+screen, train, export,
measure = build + run on the board) and hypervolume versus evaluations, each with where it came from.

    .venv/bin/python benchmarks/search.py --iterations 8 --dataset digits --proxy-epochs 5
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tinyhil.search.loop import EVALUATED, hypervolume_history
from tinyhil.search.pareto import reference_from_constraints
from tinyhil import llm_local
from tinyhil.search.proposers.llm_endpoint import resolve_endpoint
from tinyhil.search.screening import DEFAULT_MAC_BUDGET
from tinyhil.search.session import SearchConfig, open_search

STAGES = ("train", "export", "measure")


def run_one(config: SearchConfig, run_dir: Path) -> dict:
    started = time.monotonic()
    with open_search(config, run_dir, resume=False) as loop:
        outcome = loop.run()
        wall = time.monotonic() - started
        candidates = loop.store.candidates()
        info = loop.store.info()
        history = hypervolume_history(candidates, reference_from_constraints(loop.constraints), loop.constraints)
        note = reference_from_constraints(loop.constraints).describe()
    stage_seconds = {stage: sum(c.timings.get(stage, 0.0) for c in candidates) for stage in STAGES}
    stage_seconds["propose+screen+store"] = max(0.0, wall - sum(stage_seconds.values()))
    evaluated = sum(c.status in EVALUATED for c in candidates)
    accuracies = [c.metrics["accuracy"] for c in candidates if c.status == "measured" and c.metrics.get("accuracy") is not None]
    return {"proposer": config.proposer, "evaluated": evaluated, "measured": sum(c.status == "measured" for c in candidates),
            "rejected": sum(c.status == "rejected" for c in candidates), "wall_s": wall,
            "candidates_per_hour": evaluated / wall * 3600 if wall else 0.0, "stage_seconds": stage_seconds,
            "hypervolume": history, "best_accuracy": max(accuracies, default=None),
            "median_accuracy": sorted(accuracies)[len(accuracies) // 2] if accuracies else None, "hypervolume_note": note, "board": info.get("board"),
            "dataset": info.get("dataset_provenance"), "stopped": outcome.stopped_reason}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--board", default="qemu-m7")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--iterations", type=int, default=6)
    parser.add_argument("--proxy-epochs", type=int, default=5)  # digits: 1 epoch is 12 steps, accuracy near chance
    parser.add_argument("--train-subset", type=int, default=None)
    parser.add_argument("--budget-macs", type=int, default=DEFAULT_MAC_BUDGET)
    parser.add_argument("--proposers", default="evolution,random,llm")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    console = Console(width=160)

    results = []
    for proposer in args.proposers.split(","):
        if proposer == "llm" and resolve_endpoint() is None and not llm_local.is_set_up()[0]:
            console.print("llm: skipped, no endpoint configured (TINYHIL_LLM_BASE_URL / TINYHIL_LLM_MODEL) "
                          "and the local model is not set up (tinyhil llm setup)")
            continue
        config = SearchConfig(board=args.board, dataset=args.dataset, iterations=args.iterations, proposer=proposer,
                              seed=args.seed, budget_macs=args.budget_macs, train_subset=args.train_subset,
                              train_overrides={"epochs": args.proxy_epochs})
        with tempfile.TemporaryDirectory(prefix=f"tinyhil-bench-{proposer}-") as tmp:
            results.append(run_one(config, Path(tmp) / "run"))

    table = Table(title=f"search throughput: board {args.board}, dataset {args.dataset}, proxy {args.proxy_epochs} epoch(s)"
                        f"{', train subset ' + str(args.train_subset) if args.train_subset else ''}; wall-clock seconds "
                        "on this machine")
    for column in ("proposer", "evaluated", "measured", "rejected", "wall s", "candidates/h", *STAGES,
                   "propose+screen+store", "best / median int8 acc", "final HV"):
        table.add_column(column, justify="right")
    for r in results:
        share = {k: f"{100 * v / r['wall_s']:.0f}%" for k, v in r["stage_seconds"].items()}
        table.add_row(r["proposer"], str(r["evaluated"]), str(r["measured"]), str(r["rejected"]), f"{r['wall_s']:.0f}",
                      f"{r['candidates_per_hour']:.1f}", *(share[s] for s in STAGES), share["propose+screen+store"],
                      f"{r['best_accuracy']:.3f} / {r['median_accuracy']:.3f}" if r["best_accuracy"] is not None else "-",
                      f"{r['hypervolume'][-1][1]:.4f}" if r["hypervolume"] else "-")
    console.print(table)
    for r in results:
        console.print(f"{r['proposer']}: hypervolume vs evaluations " +
                      " ".join(f"{n}:{v:.4f}" for n, v in r["hypervolume"]))
    if results:
        board = results[0]["board"]
        if isinstance(board, dict):
            board = f"{board.get('name')} ({board.get('kind')}; latency in {board.get('latency_unit')}: {board.get('latency_meaning')})"
        console.print(f"hypervolume: {results[0]['hypervolume_note']}; measured on {board}; "
                      f"dataset {results[0]['dataset']}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
