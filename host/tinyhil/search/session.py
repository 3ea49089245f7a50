"""Wires a search from its configuration: board profile, dataset, space, cost model, proposer, stages,
executor and store. The configuration is stored in the run, so `--resume` rebuilds the same search.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import functools
import logging
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from .. import options
from ..errors import ConfigError, LLMError
from ..locks import exclusive
from .evaluation import PipelineStages
from .executors import make_executor
from .fidelity import Fidelity
from .loop import SearchLoop, SearchSettings
from .pareto import Constraints
from .proposers import SeededProposer, make_offline
from .proposers.llm_endpoint import LLMEndpoint, resolve_endpoint
from .screening import DEFAULT_MAC_BUDGET, Budgets
from .store import STORE_FILE, RunStore

log = logging.getLogger(__name__)


@dataclass
class SearchConfig:
    board: str = "qemu-m7"
    dataset: str = "fashion-mnist"
    data_dir: str | None = None
    iterations: int = 20
    proposer: str = "auto"  # auto: llm when an endpoint is configured or the local model is set up, else evolution
    seed: int = 0
    budget_sram: int | None = None  # bytes; None: the board profile's
    budget_flash: int | None = None
    budget_macs: int | None = DEFAULT_MAC_BUDGET  # None: no MAC budget
    executor: str = "local"
    address: str | None = None
    batch_size: int = 1
    train_overrides: dict[str, Any] = field(default_factory=dict)
    train_subset: int | None = None
    measure_inputs: int = 4
    measure_with: str = options.DEFAULT_MEASURE_WITH  # seeded | images (options.MEASURE_WITH)
    runtime: str = "native"
    llm_config: str | None = None
    torch_threads: int | None = None
    # the part of the training split held out (stratified, seeded with `seed`) to select on; None only in runs
    # made before the validation split (they were selected on test accuracy and are not resumed)
    validation_fraction: float | None = 0.1
    # multi-fidelity (ASHA, fidelity.py): rungs of proxy training; 1 = single fidelity
    rungs: int = 3
    eta: int = 3
    time_budget_s: float | None = None  # stop proposing after this many seconds of wall-clock
    finish_front: bool = False  # multi-fidelity with a time budget: train the front on before it ends (endgame.py)
    space: str = "tinyhil"  # search space preset (tinyhil.spec.space.PRESETS): tinyhil | paper
    seed_specs: list[dict[str, Any]] = field(default_factory=list)  # known specs evaluated first (--seed-specs)
    llm_specs_per_call: int = 1  # k specs per LLM call (the extra ones are proposed in the next steps)
    llm_mode: str = "propose"  # propose | operator (the LLM mutates / crosses over parents from the measured ones)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        """The ranges the CLI's options declare (tinyhil.options), applied to values from a stored run or Python."""
        try:
            self._check_ranges()
        except ConfigError as exc:
            raise ConfigError(f"{exc}; pass the option with a value in range (on --resume it replaces the stored "
                              "one)") from None

    def _check_ranges(self) -> None:
        where = "search configuration"
        options.ITERATIONS.check(self.iterations, where)
        options.BATCH_SIZE.check(self.batch_size, where)
        options.MEASURE_INPUTS.check(self.measure_inputs, where)
        if self.measure_with not in options.MEASURE_WITH:
            raise ConfigError(f"{where}: --measure-with {self.measure_with!r}: must be one of "
                              f"{', '.join(options.MEASURE_WITH)}")
        if self.train_subset is not None:
            options.TRAIN_SUBSET.check(self.train_subset, where)
        if "epochs" in self.train_overrides:
            options.PROXY_EPOCHS.check(self.train_overrides["epochs"], where)
        for option, value in (("--budget-sram", self.budget_sram), ("--budget-flash", self.budget_flash)):
            if value is not None:
                options.positive_bytes(value, option)
        if self.budget_macs is not None:
            options.positive_count(self.budget_macs, "--budget-macs")

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "search configuration") -> "SearchConfig":
        """The config a run stored; a value of the wrong JSON type (an edited or damaged store) is a ConfigError
        naming the key, not a TypeError wherever the value is first used."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: a JSON {type(data).__name__}, not an object; restore the run store from a "
                              "backup or start a new run")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in fields}
        for key, value in values.items():
            allowed = _json_types(fields[key].type)
            if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
                names = " or ".join(sorted({_TYPE_WORDS[t] for t in allowed}))
                raise ConfigError(f"{source}: key {key!r} is {value!r}; it must be {names}: the stored configuration "
                                  "was edited or damaged; restore the run store from a backup or start a new run")
        values.setdefault("validation_fraction", None)  # a stored config without it predates the validation split
        values.setdefault("rungs", 1)  # ... and one without rungs ran every candidate on the whole proxy budget
        return cls(**values)


_TYPE_WORDS = {str: "a string", int: "a whole number", float: "a number", bool: "true or false", dict: "an object",
               list: "a list", type(None): "null"}


def _json_types(annotation: str) -> tuple[type, ...]:
    """The JSON value types a field annotated `annotation` ("int | None", "dict[str, Any]") takes."""
    names = {"str": (str,), "int": (int,), "float": (float, int), "bool": (bool,), "None": (type(None),),
             "dict": (dict,), "list": (list,)}
    allowed: tuple[type, ...] = ()
    for part in str(annotation).split("|"):
        allowed += names.get(part.strip().split("[")[0], ())
    return allowed or (object,)


def new_run_id() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def budgets_for(config: SearchConfig, profile: Any) -> Budgets:
    return Budgets(macs=config.budget_macs,
                   peak_sram_bytes=config.budget_sram if config.budget_sram is not None else getattr(profile, "sram_budget_bytes", None),
                   flash_bytes=config.budget_flash if config.budget_flash is not None else getattr(profile, "flash_budget_bytes", None))


def task_info(dataset_name: str, dataset: Any) -> dict[str, Any]:
    """What the proposer is told about the task: dataset, provenance, input shape (HxWxC) and classes."""
    return {"dataset": dataset_name, "provenance": dataset.provenance,
            "input_shape": [int(d) for d in dataset.input_shape], "num_classes": int(dataset.num_classes)}


def board_info(profile: Any) -> dict[str, Any]:
    return {key: getattr(profile, key, None) for key in ("name", "kind", "cpu", "clock_hz", "latency_unit",
                                                          "latency_meaning")}


@contextlib.contextmanager
def llm_endpoint(config: SearchConfig) -> Iterator[LLMEndpoint | None]:
    """The configured endpoint; else the local model's server for the duration of the search; else None."""
    endpoint = resolve_endpoint(Path(config.llm_config) if config.llm_config else None)
    if endpoint is not None:
        yield endpoint
        return
    try:
        from . import llm_local
    except ImportError:
        yield None
        return
    ready, reason = llm_local.is_set_up()
    if not ready:
        log.info("no LLM endpoint configured and the local model is not set up (%s)", reason)
        yield None
        return
    with llm_local.ensure_server() as server:
        base_url, model = server if isinstance(server, tuple) else (server.base_url, server.model)
        yield LLMEndpoint(base_url, model, source="local model (tinyhil llm setup)")


@contextlib.contextmanager
def open_search(config: SearchConfig, run_dir: Path, resume: bool,
                on_change: Callable[..., None] | None = None,
                stages: Any = None) -> Iterator[SearchLoop]:
    """A ready SearchLoop over the store in run_dir (created, or reopened when resuming), with the run
    folder locked for this process: a second search on the same run is refused with this one's PID."""
    config.validate()
    run_dir = Path(run_dir)
    fresh = not resume and not run_dir.exists()
    with exclusive(run_dir, "run"):
        try:
            with _open_search(config, run_dir, resume, on_change, stages) as loop:
                yield loop
        except BaseException:
            if fresh and not (run_dir / STORE_FILE).exists():  # failed before the run began: no empty run folder
                shutil.rmtree(run_dir, ignore_errors=True)
            raise


@contextlib.contextmanager
def _open_search(config: SearchConfig, run_dir: Path, resume: bool, on_change: Callable[..., None] | None,
                 stages: Any) -> Iterator[SearchLoop]:
    from ..hil.boards import load_profile
    from ..spec.cost import estimate
    from ..spec.space import space_preset

    if config.validation_fraction is None:
        raise ConfigError(f"{run_dir} was made before the search had a validation split: its candidates were selected on "
                          "test-split accuracy, so it cannot be continued; start a new run (the old store still opens "
                          "with `tinyhil report`, labelled as test-split)")
    fidelity = Fidelity(config.rungs, config.eta)  # bad values stop here, before any store or training
    profile = load_profile(config.board)
    if not (config.executor == "ray" and config.address):  # a cluster's board sits on another node
        from ..hil.runners import require_usable

        require_usable(profile)  # before any training: an unplugged board must not cost a proxy-training run
    pipeline = stages or PipelineStages(dataset=config.dataset, board=config.board, data_dir=config.data_dir,
                                        validation_fraction=config.validation_fraction, split_seed=config.seed,
                                        train_subset=config.train_subset, train_overrides=config.train_overrides,
                                        measure_inputs=config.measure_inputs, measure_with=config.measure_with,
                                        runtime=config.runtime,
                                        torch_threads=config.torch_threads)
    dataset = pipeline.load_data()
    input_shape = tuple(int(d) for d in dataset.input_shape)
    num_classes = int(dataset.num_classes)
    budgets = budgets_for(config, profile)
    constraints = Constraints(budgets.as_dict())
    task = task_info(config.dataset, dataset)
    if resume:
        store = RunStore.open(run_dir)
    else:
        store = RunStore.create(run_dir, run_dir.name, config.to_dict())
    store.update_info(fidelity=fidelity.summary(), dataset_provenance=dataset.provenance, board=board_info(profile), budgets=budgets.as_dict(),
                      accuracy_split=getattr(dataset, "eval_split", "test"),
                      validation_images=int(len(dataset.test_x)) if getattr(dataset, "eval_split", "") == "validation" else None)
    space, dropped = space_preset(config.space), []
    if config.runtime == "native":
        from ..codegen.lower import SUPPORTED_OPS

        space, dropped = space.runnable_with(SUPPORTED_OPS)
        if dropped:
            log.warning("the native int8 runtime has no kernel for %s: the search leaves these choices out "
                        "(--runtime tflm runs them)", "; ".join(dropped))
    store.update_info(space=config.space, space_choices_left_out=dropped)
    with contextlib.ExitStack() as stack:
        stack.callback(store.close)
        proposer = stack.enter_context(_proposer(config))
        if config.seed_specs:
            proposer = SeededProposer(proposer, config.seed_specs)
        store.update_info(proposer=proposer.name, llm=getattr(getattr(proposer, "endpoint", None), "describe", lambda: None)())
        executor = make_executor(config.executor, profile.name, config.address)
        stack.callback(executor.close)
        # the space parses every proposal (it stands as the spec type): values outside it are named as such
        yield SearchLoop(store, proposer, space, space,
                         functools.partial(estimate, input_shape=input_shape, num_classes=num_classes),
                         pipeline, executor, budgets, constraints,
                         SearchSettings(iterations=config.iterations, seed=config.seed, batch_size=config.batch_size,
                                        fidelity=fidelity, time_budget_s=config.time_budget_s,
                                        finish_front=config.finish_front),
                         board_info(profile), task, on_change=on_change)


@contextlib.contextmanager
def _proposer(config: SearchConfig) -> Iterator[Any]:
    if config.proposer in ("evolution", "random"):
        yield make_offline(config.proposer)
        return
    if config.proposer not in ("llm", "auto"):
        make_offline(config.proposer)  # raises the ConfigError naming the choices
    from .proposers.llm import LLMProposer

    with llm_endpoint(config) as endpoint:
        if endpoint is None:
            if config.proposer == "llm":
                raise LLMError("--proposer llm: no endpoint configured; set TINYHIL_LLM_BASE_URL and TINYHIL_LLM_MODEL "
                               "(an OpenAI-compatible server), write ~/.config/tinyhil/llm.toml, or run "
                               "`tinyhil llm setup` for the local model")
            log.info("no LLM endpoint: using the evolution proposer")
            yield make_offline("evolution")
            return
        log.info("llm proposer: %s (%s, %d spec(s) per call)", endpoint.describe(), config.llm_mode,
                 config.llm_specs_per_call)
        yield LLMProposer(endpoint, specs_per_call=config.llm_specs_per_call, mode=config.llm_mode)


def resolve_run_dir(runs_dir: Path, resume: str | None, run_id: str | None) -> tuple[Path, bool]:
    if resume:
        candidate = Path(resume)
        for path in (candidate, runs_dir / resume):
            if (path / STORE_FILE).is_file():
                return path, True
        raise ConfigError(f"--resume {resume}: no run store there nor under {runs_dir}/; give the run folder")
    if run_id is not None:
        check_run_id(run_id)
    return runs_dir / (run_id or new_run_id()), False


def check_run_id(run_id: str) -> None:
    """A run id names one folder under --runs-dir: no path separators, no '..', not empty or hidden (else the run
    would land outside --runs-dir, or nested in it)."""
    if not run_id or run_id.startswith(".") or any(sep in run_id for sep in ("/", "\\")) or "\0" in run_id:
        raise ConfigError(f"--run-id {run_id!r}: a run id is one folder name under --runs-dir, without '/', '\\' "
                          f"or a leading '.'; e.g. --run-id fashion-k5")
