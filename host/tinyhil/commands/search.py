"""`tinyhil search --board stm32h7 --iterations N`: the main job."""

from __future__ import annotations

from pathlib import Path

import click

from .. import options
from ..errors import ConfigError
from ..options import click_callback, positive_bytes, positive_count

_bytes = click_callback(positive_bytes)
_count = click_callback(positive_count)


def _seed_specs(paths: tuple[Path, ...], space_name: str) -> list[dict]:
    """The specs in the seed files, each checked against the run's space before anything runs."""
    from ..errors import SpecError
    from ..spec.paper_config import read_spec_file
    from ..spec.space import space_preset

    space, specs = space_preset(space_name), []
    for path in paths:
        for index, spec_dict in enumerate(read_spec_file(path), start=1):
            try:
                specs.append(space.from_dict(spec_dict).to_dict())
            except SpecError as exc:
                raise ConfigError(f"--seed-specs {path} (spec {index}): not in the '{space_name}' space: "
                                  + "; ".join(exc.problems)) from None
    return specs


@click.command("search")
@click.option("--board", default="qemu-m7", show_default=True, help="Board profile name or alias (stm32h7, qemu-m7).")
@click.option("--iterations", type=options.ITERATIONS.click_type(), default=None, help="Candidates to evaluate (train + measure) [default 20].")
@click.option("--proposer", type=click.Choice(["auto", "llm", "evolution", "random"]), default=None,
              help="auto [default]: llm when an endpoint is configured or the local model is set up, else evolution.")
@click.option("--dataset", default=None, help="fashion-mnist [default], digits, cifar10, cifar100, folder:<path>.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None)
@click.option("--budget-sram", callback=_bytes, default=None, help="Peak SRAM budget, e.g. 320KiB [default: board profile].")
@click.option("--budget-flash", callback=_bytes, default=None, help="Flash budget, e.g. 1MiB [default: board profile].")
@click.option("--budget-macs", callback=_count, default=None, help="MAC budget per inference, e.g. 50M [default: 100M, the paper's].")
@click.option("--resume", default=None, help="Continue the run in this folder (or runs/<RUN>) after a crash or kill.")
@click.option("--run-id", default=None, help="Name of the new run folder under --runs-dir [default: timestamp].")
@click.option("--runs-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("runs"), show_default=True)
@click.option("--executor", type=click.Choice(["local", "ray"]), default=None, help="local [default] or ray.")
@click.option("--address", default=None, help="Ray cluster address (default: start a local Ray instance).")
@click.option("--batch-size", type=options.BATCH_SIZE.click_type(), default=None, help="Candidates in flight at once [default 1].")
@click.option("--proxy-epochs", type=options.PROXY_EPOCHS.click_type(), default=None, help="Epochs of proxy training [default: TrainConfig.proxy()].")
@click.option("--train-subset", type=options.TRAIN_SUBSET.click_type(), default=None, help="Train on the first N training images [default: the proxy budget's 5000].")
@click.option("--validation-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help="Part of the training split held out (stratified, seeded) to select on [default 0.1].")
@click.option("--fidelity", type=click.Choice(["multi", "single"]), default=None,
              help="multi [default]: successive halving (ASHA) over proxy training, --rungs rungs, the top 1/--eta of "
                   "each rung trains on; single: every candidate trains for the whole proxy budget.")
@click.option("--rungs", type=click.IntRange(2, 5), default=None, help="Rungs of multi-fidelity training [default: 3, fewer when --iterations cannot fill them: "
                   "eta^(rungs-1) <= iterations, so one candidate reaches the whole proxy budget].")
@click.option("--eta", type=click.IntRange(2, 6), default=None,
              help="Reduction factor: each rung trains eta times longer, 1/eta of its candidates go on [default 3].")
@click.option("--time-budget", type=click.FloatRange(min=1), default=None,
              help="Stop proposing after this many seconds (the candidates in flight finish).")
@click.option("--finish-front/--no-finish-front", default=None,
              help="With --time-budget and multi-fidelity: near the end, train the front's members on to the whole "
                   "proxy budget before starting new candidates [default off].")
@click.option("--measure-inputs", type=options.MEASURE_INPUTS.click_type(), default=None, help="Inputs each candidate runs on the board [default 4].")
@click.option("--measure-with", type=click.Choice(options.MEASURE_WITH), default=None,
              help="seeded [default]: the firmware generates the inputs and sends back CRC-32s of its outputs (checked "
                   "against the reference); images: validation images streamed over serial (slower: a byte at a time).")
@click.option("--seed", type=int, default=None, help="Run seed [default 0].")
@click.option("--llm-specs", type=click.IntRange(1, 8), default=None,
              help="Specs the LLM writes per call; the extra ones are proposed in the next steps [default 1].")
@click.option("--llm-mode", type=click.Choice(["propose", "operator"]), default=None,
              help="propose [default]: a new spec from the search state; operator: the LLM mutates one parent or "
                   "crosses two over, picked from the measured candidates.")
@click.option("--llm-config", type=click.Path(dir_okay=False), default=None, help="TOML with base_url, model, api_key_env.")
@click.option("--space", "space_name", type=click.Choice(["tinyhil", "paper"]), default=None,
              help="Search space preset [default tinyhil]; paper: the LLM-NAS paper's (5 stages, no stem, 160 px); "
                   "`tinyhil spec schema --space NAME` prints it.")
@click.option("--seed-specs", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="JSON file of a known architecture (tinyhil spec or the paper's candidate_config, or a list); "
                   "evaluated first. Repeat for more files.")
@click.option("--no-live", is_flag=True, help="No live view (logs only), e.g. in CI logs.")
def command(board: str, iterations: int | None, proposer: str | None, dataset: str | None, data_dir: str | None,
            budget_sram: int | None, budget_flash: int | None, budget_macs: int | None, resume: str | None,
            run_id: str | None, runs_dir: Path, executor: str | None, address: str | None, batch_size: int | None,
            proxy_epochs: int | None, train_subset: int | None, validation_fraction: float | None,
            fidelity: str | None, rungs: int | None, eta: int | None, time_budget: float | None,
            finish_front: bool | None, measure_inputs: int | None, measure_with: str | None, seed: int | None,
            llm_specs: int | None, llm_mode: str | None, llm_config: str | None, space_name: str | None,
            seed_specs: tuple[Path, ...], no_live: bool) -> None:
    """Propose -> cost-filter -> proxy-train -> int8 export -> measure on the board -> select, N times.

    Prints the measured Pareto front and writes it to RUN/front.json and RUN/front.csv.
    """
    from rich.console import Console

    from ..search.fidelity import Fidelity, rungs_for
    from ..search.live import LiveView
    from ..search.session import SearchConfig, open_search, resolve_run_dir
    from ..search.store import RunStore
    from ..search.summary import candidates_table, hypervolume_note, write_front
    from ..search.loop import hypervolume_history
    from ..search.pareto import reference_from_constraints

    run_dir, resuming = resolve_run_dir(runs_dir, resume, run_id)
    if resuming:
        if space_name or seed_specs:
            raise ConfigError("--space / --seed-specs: a resumed run keeps the space and seeds it was started with; "
                              "start a new run to change them")
        if fidelity or rungs or eta:
            raise ConfigError("--fidelity / --rungs / --eta: a resumed run keeps the rungs it was started with; "
                              "start a new run to change them")
        with RunStore.open(run_dir) as stored:
            config = SearchConfig.from_dict(stored.config(), f"run store {stored.path}: the stored search configuration")
    else:
        config = SearchConfig(board=board)
        if space_name:
            config.space = space_name
        config.seed_specs = _seed_specs(seed_specs, config.space)
    overrides = {"iterations": iterations, "proposer": proposer, "dataset": dataset, "data_dir": data_dir,
                 "budget_sram": budget_sram, "budget_flash": budget_flash, "budget_macs": budget_macs,
                 "executor": executor, "address": address, "batch_size": batch_size, "train_subset": train_subset,
                 "validation_fraction": validation_fraction, "eta": eta, "time_budget_s": time_budget,
                 "finish_front": finish_front, "measure_inputs": measure_inputs, "measure_with": measure_with,
                 "seed": seed,
                 "llm_config": llm_config, "llm_specs_per_call": llm_specs, "llm_mode": llm_mode}
    for key, value in overrides.items():
        if value is not None:
            setattr(config, key, value)
    if fidelity == "single":
        if rungs is not None:
            raise click.UsageError("--rungs is for --fidelity multi; drop it or drop --fidelity single")
        config.rungs = 1
    elif rungs is not None:
        config.rungs = rungs
    elif not resuming:  # multi-fidelity by default, with as many rungs as the evaluations can fill
        config.rungs = rungs_for(config.iterations, config.eta)
    if proxy_epochs is not None:
        config.train_overrides = {**config.train_overrides, "epochs": proxy_epochs}

    console = Console()
    if not console.is_terminal:  # logs and CI: wide enough that the tables keep their numbers on one line
        console = Console(width=170)
    console.print(f"run {run_dir} ({'resumed' if resuming else 'new'}): board {config.board}, dataset {config.dataset}, "
                  f"{config.iterations} evaluations, executor {config.executor}")
    console.print(Fidelity(config.rungs, config.eta).summary())
    views: list[LiveView] = []  # the view needs the loop's constraints; the loop needs the view's callback

    def on_change(store: RunStore, event: object) -> None:
        for view in views:
            view.on_change(store, event)  # type: ignore[arg-type]

    with open_search(config, run_dir, resuming, on_change=on_change) as loop:
        live = LiveView(console, config.iterations, loop.constraints, enabled=not no_live and console.is_terminal)
        views.append(live)
        info = loop.store.info()
        console.print(f"dataset: {info.get('dataset_provenance')}")
        console.print(f"proposer: {loop.proposer.name}" + (f" ({info['llm']})" if info.get("llm") else ""))
        budgets = ", ".join(f"{k} <= {v}" for k, v in loop.budgets.as_dict().items() if v is not None)
        console.print(f"budgets: {budgets} (peak SRAM and flash in bytes, MACs analytic)")
        with live:
            outcome = loop.run()
        candidates = loop.store.candidates()
        front_ids = {c.id for c in outcome.front}
        console.print(candidates_table(candidates, front_ids, "all candidates"))
        console.print(candidates_table(outcome.front, front_ids, "measured Pareto front (feasible, non-dominated)"))
        history = hypervolume_history(candidates, reference_from_constraints(loop.constraints), loop.constraints)
        paths = write_front(run_dir, outcome.front, history, hypervolume_note(loop.constraints))
        if history:
            console.print(f"hypervolume after {history[-1][0]} evaluations: {history[-1][1]:.4f} "
                          f"({hypervolume_note(loop.constraints)})")
        console.print(f"front: {paths['json']} and {paths['csv']}; store: {loop.store.path}")
        problem = _incomplete(outcome, config.iterations, candidates)
        if problem:
            from ..errors import SearchIncomplete

            raise SearchIncomplete(f"search {run_dir}: {problem}. Everything evaluated is kept in {loop.store.path}; "
                                   f"fix the cause, then `tinyhil search --resume {run_dir}` continues")


def _incomplete(outcome: object, iterations: int, candidates: list) -> str:  # type: ignore[type-arg]
    """Why a finished search is not a success ('' when it is): it evaluated nothing, stopped early or measured
    no candidate within the budgets."""
    evaluated = getattr(outcome, "evaluated", 0)
    stopped = getattr(outcome, "stopped_reason", "")
    if evaluated == 0:
        return "evaluated nothing" + (f": {stopped}" if stopped else "")
    if stopped and not stopped.startswith("the time budget"):  # --time-budget ending the search is what was asked
        return f"stopped early after {evaluated} of {iterations} evaluations: {stopped}"
    if not getattr(outcome, "front", None):
        counts: dict[str, int] = {}
        for candidate in candidates:
            counts[candidate.status] = counts.get(candidate.status, 0) + 1
        tally = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        return (f"none of the {evaluated} evaluated candidates was measured within the budgets ({tally}); the "
                "reasons are in the table above")
    return ""
