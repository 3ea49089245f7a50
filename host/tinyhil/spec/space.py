"""The hierarchical search space (MCUNet / ProxylessNAS style, a superset of the LLM-NAS paper's) and ArchSpec,
the architecture a proposer speaks in.

A spec: input resolution; an optional stem (channels 0 = none, as in the paper: the first stage reads the image);
stages, each with block type (inverted residual "ir" with expand ratio; expand 1 is the paper's depthwise block,
or tinyhil's depthwise-separable "dws"), kernel, depth, output channels, first stride, squeeze-excitation ratio,
skip connection and activation; head width (0 = no 1x1 head conv). The choice sets live in SearchSpace as data,
so the JSON schema, the validator and the samplers all read the same sets. Presets (`tinyhil`, `paper`) are
named SearchSpaces.

Fields added after the first release (se_ratio, skip, activation, stem_channels 0) have defaults that give the
exact nets older specs described, and `canonical_hash` leaves them out at those defaults, so old specs and old
run stores keep their hashes.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from ..errors import ConfigError, TinyhilError
from ..errors import SpecError as _SpecErrorBase

SCHEMA_COMMAND = "tinyhil spec schema"

# activation -> what it is, for the schema and wherever a spec is shown
ACTIVATIONS = {
    "relu6": "ReLU6 (fused into the conv)",
    "leakyrelu": "LeakyReLU, negative slope 0.01",
    "hswish": "hard-swish x*relu6(x+3)/6: the paper's swish as deployed (int8 TFLite runs hard-swish, not swish)",
}
# skip -> what it builds
SKIPS = {
    "identity": "x + f(x) where the block keeps its shape (stride 1, same channels), else no shortcut "
                "(MobileNetV2; the default of ir blocks)",
    "residual": "the paper's 'residual': at stride 1 a shortcut always, through a 1x1 conv + BatchNorm projection "
                "where the channels change; none at stride 2",
    "none": "no shortcut (the default of dws blocks; the paper's 'identity')",
}
_DEFAULT_SKIP = {"ir": "identity", "dws": "none"}
RANDOM_MAX_SIDE = 48  # px: random_spec downsamples (stride 2) while the feature map is larger than this
# int8 TFLite operators a choice adds to the graph (cost.spec_graph / keras_model emit them); the rest of the
# space needs only CONV_2D, DEPTHWISE_CONV_2D, PAD, ADD, MEAN and FULLY_CONNECTED
CHOICE_OPS: dict[tuple[str, Any], frozenset[str]] = {
    ("activation", "leakyrelu"): frozenset({"LEAKY_RELU"}),
    ("activation", "hswish"): frozenset({"HARD_SWISH"}),
    ("se_ratio", 0.25): frozenset({"MEAN", "CONV_2D", "LOGISTIC", "MUL"}),
    ("se_ratio", 0.5): frozenset({"MEAN", "CONV_2D", "LOGISTIC", "MUL"}),
}


def default_skip(block: str) -> str:
    """The skip older specs (without the field) meant for `block`."""
    return _DEFAULT_SKIP.get(block, "identity")


def squeezed_channels(channels: int, ratio: float) -> int:
    """Width of the squeeze: max(1, int(channels * ratio)), as the paper's model builds it."""
    return max(1, int(channels * ratio))


def shortcut(skip: str, stride: int, cin: int, cout: int) -> tuple[bool, bool]:
    """(residual add?, through a projection?) for a block: 'identity' only where the shape is kept, 'residual'
    (the paper's) at every stride-1 block, projecting where the channels change, 'none' never."""
    if skip == "identity":
        return stride == 1 and cin == cout, False
    if skip == "residual":
        return stride == 1, stride == 1 and cin != cout
    return False, False


class SpecError(_SpecErrorBase):
    """An ArchSpec field is outside the search space; `problems` lists each one."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        TinyhilError.__init__(self, "invalid architecture spec: " + "; ".join(self.problems)
                              + f" (fix these fields; `{SCHEMA_COMMAND}` prints the allowed values)")


@dataclass(frozen=True)
class StageSpec:
    block: str  # "ir" (inverted residual) | "dws" (depthwise-separable)
    depth: int
    out_channels: int
    stride: int  # stride of the stage's first block
    kernel: int
    expand: int = 1  # expand ratio of "ir" blocks (1: no expand conv); ignored (1) for "dws"
    se_ratio: float = 0.0  # squeeze-excitation after the depthwise conv: squeeze to max(1, int(C * ratio)); 0 = off
    skip: str = ""  # "identity" | "residual" | "none"; "" = the block's default (default_skip)
    activation: str = "relu6"  # after the expand and depthwise convs (and dws's 1x1): see ACTIVATIONS

    def __post_init__(self) -> None:
        if not self.skip:
            object.__setattr__(self, "skip", default_skip(self.block))
        object.__setattr__(self, "se_ratio", float(self.se_ratio))

    def describe(self) -> str:
        """One line for people: 'ir e4 k5 x2 -> 64 ch s2, SE 0.25, skip residual, hswish (hard-swish)'."""
        kind = f"ir e{self.expand}" if self.block == "ir" else "dws"
        parts = [f"{kind} k{self.kernel} x{self.depth} -> {self.out_channels} ch s{self.stride}"]
        if self.se_ratio:
            parts.append(f"SE {self.se_ratio:g}")
        parts.append(f"skip {self.skip}")
        parts.append("hswish (swish deployed as hard-swish)" if self.activation == "hswish" else self.activation)
        return ", ".join(parts)


# stage field -> its value when absent: the pre-extension meaning (skip depends on the block)
_STAGE_DEFAULTS: dict[str, Any] = {"expand": 1, "se_ratio": 0.0, "activation": "relu6"}


@dataclass(frozen=True)
class ArchSpec:
    resolution: int
    stem_channels: int  # 0: no stem (stem_kernel and stem_stride are then 1)
    stem_kernel: int
    stem_stride: int
    stages: tuple[StageSpec, ...]
    head_channels: int = 0

    @property
    def has_stem(self) -> bool:
        return self.stem_channels > 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stages"] = [asdict(s) for s in self.stages]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], space: "SearchSpace | None" = None) -> "ArchSpec":
        """Parse and validate; raises SpecError naming every bad field."""
        if isinstance(d, ArchSpec):
            return d
        return (space or SearchSpace()).parse(d)

    def hash_dict(self) -> dict[str, Any]:
        """to_dict without the later fields at their defaults: the form canonical_hash digests, equal to what
        a spec written before those fields existed hashed as."""
        d = self.to_dict()
        for stage, spec in zip(d["stages"], self.stages):
            for name, default in _STAGE_DEFAULTS.items():
                if name != "expand" and stage[name] == default:
                    del stage[name]
            if spec.skip == default_skip(spec.block):
                del stage["skip"]
        return d

    def canonical_hash(self) -> str:
        text = json.dumps(self.hash_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def describe(self) -> list[str]:
        """Lines for people: resolution, stem, each stage, head."""
        stem = (f"stem {self.stem_channels} ch k{self.stem_kernel} s{self.stem_stride}" if self.has_stem
                else "no stem (the first stage reads the image)")
        lines = [f"{self.resolution}x{self.resolution} input, {stem}"]
        lines += [f"stage {i}: {s.describe()}" for i, s in enumerate(self.stages, start=1)]
        lines.append(f"head 1x1 conv {self.head_channels} ch" if self.head_channels else "no head conv")
        return lines


_TOP_FIELDS = ("resolution", "stem_channels", "stem_kernel", "stem_stride", "stages", "head_channels")
_STAGE_FIELDS = tuple(f.name for f in fields(StageSpec))


@dataclass(frozen=True)
class SearchSpace:
    name: str = "tinyhil"
    resolutions: tuple[int, ...] = (32, 48, 64, 96, 128, 160, 176)
    stem_channels: tuple[int, ...] = (8, 16, 24, 32, 0)
    stem_kernels: tuple[int, ...] = (3, 5)
    stem_strides: tuple[int, ...] = (1, 2)
    blocks: tuple[str, ...] = ("ir", "dws")
    kernels: tuple[int, ...] = (3, 5, 7)
    expands: tuple[int, ...] = (1, 3, 4, 6, 2)
    depths: tuple[int, ...] = (1, 2, 3, 4, 6)
    channels: tuple[int, ...] = (8, 16, 24, 32, 40, 48, 64, 96, 128, 160)
    strides: tuple[int, ...] = (1, 2)
    head_channels: tuple[int, ...] = (0, 128, 256, 512)
    se_ratios: tuple[float, ...] = (0.0, 0.25, 0.5)
    skips: tuple[str, ...] = ("identity", "residual", "none")
    activations: tuple[str, ...] = ("relu6", "leakyrelu", "hswish")
    min_stages: int = 1
    max_stages: int = 6

    def _stage_sets(self) -> dict[str, tuple]:
        return {"block": self.blocks, "depth": self.depths, "out_channels": self.channels, "stride": self.strides,
                "kernel": self.kernels, "expand": self.expands, "se_ratio": self.se_ratios, "skip": self.skips,
                "activation": self.activations}

    def _top_sets(self) -> dict[str, tuple]:
        return {"resolution": self.resolutions, "stem_channels": self.stem_channels, "stem_kernel": self.stem_kernels,
                "stem_stride": self.stem_strides, "head_channels": self.head_channels}

    def from_dict(self, d: dict[str, Any]) -> ArchSpec:
        """parse(d): lets a space stand where a spec type is expected (the screener parses in the run's space)."""
        return self.parse(d)

    def runnable_with(self, operators: Any) -> tuple["SearchSpace", list[str]]:
        """This space without the choices that need an operator outside `operators` (a runtime's kernels), and
        one line per dropped choice; the same space and [] when the runtime runs everything."""
        supported = set(operators)
        sets = {"activation": ("activations", self.activations), "se_ratio": ("se_ratios", self.se_ratios)}
        changes, dropped = {}, []
        for key, (attribute, values) in sets.items():
            keep = tuple(v for v in values if CHOICE_OPS.get((key, v), frozenset()) <= supported)
            for value in values:
                if value not in keep:
                    missing = ", ".join(sorted(CHOICE_OPS[(key, value)] - supported))
                    dropped.append(f"{key} {value:g}" if isinstance(value, float) else f"{key} {value}")
                    dropped[-1] += f" (needs {missing})"
            if keep != values:
                changes[attribute] = keep
        return (replace(self, **changes) if changes else self), dropped

    def json_schema(self) -> dict[str, Any]:
        """Tight JSON schema (enums, bounds, no extra fields): usable as a constrained-decoding response_format."""
        acts = "; ".join(f"{k} = {v}" for k, v in ACTIVATIONS.items() if k in self.activations)
        skips = "; ".join(f"{k} = {v}" for k, v in SKIPS.items() if k in self.skips)
        stage = {"type": "object", "additionalProperties": False, "required": list(_STAGE_FIELDS), "properties": {
            "block": {"type": "string", "enum": list(self.blocks),
                      "description": "ir = inverted residual (1x1 expand, kxk depthwise, [SE], linear 1x1 project; "
                                     "expand 1 drops the expand conv: the paper's depthwise block); "
                                     "dws = depthwise-separable (kxk depthwise, [SE], 1x1 conv with activation)"},
            "depth": {"type": "integer", "enum": list(self.depths), "description": "identical blocks in the stage"},
            "out_channels": {"type": "integer", "enum": list(self.channels)},
            "stride": {"type": "integer", "enum": list(self.strides), "description": "stride of the first block"},
            "kernel": {"type": "integer", "enum": list(self.kernels), "description": "depthwise kernel size"},
            "expand": {"type": "integer", "enum": list(self.expands), "description": "expand ratio (ir only; use 1 for dws)"},
            "se_ratio": {"type": "number", "enum": list(self.se_ratios),
                         "description": "squeeze-excitation after the depthwise conv (global average pool, 1x1 conv "
                                        "to max(1, C*ratio) + ReLU, 1x1 conv + sigmoid, multiply); 0 = off"},
            "skip": {"type": "string", "enum": list(self.skips), "description": skips},
            "activation": {"type": "string", "enum": list(self.activations), "description": acts},
        }}
        stem_note = "; 0 = no stem, the first stage reads the image" if 0 in self.stem_channels else ""
        return {"type": "object", "additionalProperties": False, "required": list(_TOP_FIELDS), "properties": {
            "resolution": {"type": "integer", "enum": list(self.resolutions), "description": "input image side in pixels"},
            "stem_channels": {"type": "integer", "enum": list(self.stem_channels),
                              "description": f"full kxk conv + ReLU6 before the stages{stem_note}"},
            "stem_kernel": {"type": "integer", "enum": list(self.stem_kernels)},
            "stem_stride": {"type": "integer", "enum": list(self.stem_strides)},
            "stages": {"type": "array", "minItems": self.min_stages, "maxItems": self.max_stages, "items": stage},
            "head_channels": {"type": "integer", "enum": list(self.head_channels),
                              "description": "1x1 conv + ReLU6 before pooling; 0 = none"},
        }}

    def parse(self, d: dict[str, Any]) -> ArchSpec:
        problems: list[str] = []
        if not isinstance(d, dict):
            raise SpecError([f"spec must be a JSON object, got {type(d).__name__}"])
        problems += [f"unknown field {k!r}" for k in d if k not in _TOP_FIELDS]
        top = {"head_channels": 0, **{k: d.get(k) for k in d}}
        stemless = top.get("stem_channels") == 0 and 0 in self.stem_channels
        for name, choices in self._top_sets().items():
            if stemless and name in ("stem_kernel", "stem_stride"):
                continue  # ignored without a stem (normalised to 1 below, so equal nets hash equal)
            _check(problems, "", name, top.get(name), choices)
        stages_in = d.get("stages")
        stages: list[StageSpec] = []
        if not isinstance(stages_in, list) or not self.min_stages <= len(stages_in) <= self.max_stages:
            problems.append(f"stages: need a list of {self.min_stages}..{self.max_stages} stages")
            stages_in = stages_in if isinstance(stages_in, list) else []
        for i, s in enumerate(stages_in, start=1):
            where = f"stage {i}: "
            if not isinstance(s, dict):
                problems.append(f"{where}must be an object")
                continue
            problems += [f"{where}unknown field {k!r}" for k in s if k not in _STAGE_FIELDS]
            block = s.get("block")
            given = {**_STAGE_DEFAULTS, "skip": default_skip(block) if isinstance(block, str) else None, **s}
            ok = [_check(problems, where, name, given.get(name), choices)
                  for name, choices in self._stage_sets().items()]
            if all(ok):
                expand = int(given["expand"]) if given["block"] == "ir" else 1
                stages.append(StageSpec(given["block"], int(given["depth"]), int(given["out_channels"]),
                                        int(given["stride"]), int(given["kernel"]), expand, float(given["se_ratio"]),
                                        given["skip"], given["activation"]))
        if problems:
            raise SpecError(problems)
        stem = int(d["stem_channels"])
        spec = ArchSpec(int(d["resolution"]), stem, int(d["stem_kernel"]) if stem else 1,
                        int(d["stem_stride"]) if stem else 1, tuple(stages), int(d.get("head_channels", 0)))
        final = spec.resolution // spec.stem_stride
        for st in stages:
            final //= st.stride
        if final < 1:
            raise SpecError([f"strides reduce {spec.resolution}px to nothing: use fewer stride-2 stages"])
        return spec

    def random_spec(self, rng: random.Random) -> ArchSpec:
        """A random spec of modest size: narrow first stages, widths growing, and stride 2 forced while the feature
        map is larger than RANDOM_MAX_SIDE px (at 160 px an early stride-1 stage alone costs hundreds of M MACs)."""
        resolution = rng.choice(self.resolutions[:2])
        stem, stem_kernel, stem_stride = (rng.choice(self.stem_channels), rng.choice(self.stem_kernels),
                                          rng.choice(self.stem_strides))
        side = resolution // (stem_stride if stem else 1)
        n = rng.randint(self.min_stages, max(self.min_stages, min(self.max_stages, 4)))
        stages, width = [], rng.choice(self.channels[:3])
        for _ in range(n):
            width = rng.choice([c for c in self.channels if c >= width][:3])
            block = rng.choice(self.blocks)
            stride = 2 if side > RANDOM_MAX_SIDE and 2 in self.strides else rng.choice(self.strides)
            side //= stride
            stages.append(StageSpec(block, rng.choice(self.depths[:3]), width, stride,
                                    rng.choice(self.kernels), rng.choice(self.expands[:3]) if block == "ir" else 1,
                                    rng.choice(self.se_ratios), rng.choice(self.skips), rng.choice(self.activations)))
        spec = ArchSpec(resolution, stem, stem_kernel, stem_stride, tuple(stages), rng.choice(self.head_channels))
        return self.parse(spec.to_dict())

    def mutate(self, spec: ArchSpec, rng: random.Random) -> ArchSpec:
        """Change one choice; retries until the result is valid and different."""
        for _ in range(50):
            d = spec.to_dict()
            field_name = rng.choice(["resolution", "stem_channels", "head_channels", "stage", "stage", "stage"])
            if field_name == "stage":
                s = rng.choice(d["stages"])
                key = rng.choice(_STAGE_FIELDS)
                s[key] = rng.choice(self._stage_sets()[key])
                if s["block"] == "dws":
                    s["expand"] = 1
            else:
                d[field_name] = rng.choice(self._top_sets()[field_name])
                if field_name == "stem_channels" and d["stem_channels"] and not spec.has_stem:
                    d["stem_kernel"], d["stem_stride"] = rng.choice(self.stem_kernels), rng.choice(self.stem_strides)
            try:
                child = self.parse(d)
            except SpecError:
                continue
            if child != spec:
                return child
        return spec

    def crossover(self, a: ArchSpec, b: ArchSpec, rng: random.Random) -> ArchSpec:
        """Top-level fields from either parent (the stem as a whole); stage i from either parent where both have one."""
        n = rng.choice([len(a.stages), len(b.stages)])
        stages = []
        for i in range(n):
            options = [p.stages[i] for p in (a, b) if i < len(p.stages)]
            stages.append(rng.choice(options))
        pick = lambda name: getattr(rng.choice([a, b]), name)  # noqa: E731
        stem = rng.choice([a, b])
        d = ArchSpec(pick("resolution"), stem.stem_channels, stem.stem_kernel, stem.stem_stride,
                     tuple(stages), pick("head_channels")).to_dict()
        try:
            return self.parse(d)
        except SpecError:
            return a


# The paper's space (its Table I and what its model.py builds): 5 stages, no stem, 160x160 input, no head conv.
# Its "depthwise" block is ir with expand 1 (depthwise, [SE], linear 1x1 project); its expansions {3,4,6} and
# the 2 its published models use; its "identity" skip is our "none".
PAPER_SPACE = SearchSpace(
    name="paper", resolutions=(160,), stem_channels=(0,), stem_kernels=(1,), stem_strides=(1,), blocks=("ir",),
    kernels=(3, 5, 7), expands=(1, 2, 3, 4, 6), depths=(1, 2, 3, 4, 6), channels=(16, 24, 32, 48, 64, 96, 128, 160),
    strides=(1, 2), head_channels=(0,), se_ratios=(0.0, 0.25, 0.5), skips=("residual", "none"),
    activations=("relu6", "leakyrelu", "hswish"), min_stages=5, max_stages=5)

PRESETS: dict[str, SearchSpace] = {"tinyhil": SearchSpace(), "paper": PAPER_SPACE}


def space_preset(name: str) -> SearchSpace:
    """The named preset; ConfigError naming the choices otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown search space {name!r}: choose one of {', '.join(PRESETS)}") from None


def _check(problems: list[str], where: str, name: str, value: Any, choices: tuple) -> bool:
    if isinstance(value, bool) or value not in choices:
        shown = "{" + ",".join(f"{c:g}" if isinstance(c, float) else str(c) for c in choices) + "}"
        problems.append(f"{where}{name} {value!r} not in {shown}" if value is not None else f"{where}{name} is missing")
        return False
    return True
