"""The hierarchical search space (MCUNet / ProxylessNAS style) and ArchSpec, the architecture a proposer speaks in.

A spec: input resolution; stem (channels, kernel, stride); stages, each with block type (inverted residual
"ir" with expand ratio, or depthwise-separable "dws"), kernel, depth, output channels and first stride;
head width (0 = no 1x1 head conv). The choice sets live in SearchSpace as data, so the JSON schema, the
validator and the samplers all read the same sets.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from .errors import TinyhilError


class SpecError(TinyhilError):
    """An ArchSpec field is outside the search space; `problems` lists each one."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("invalid architecture spec: " + "; ".join(self.problems)
                         + " (fix these fields; SearchSpace().json_schema() lists the allowed values)")


@dataclass(frozen=True)
class StageSpec:
    block: str  # "ir" (inverted residual) | "dws" (depthwise-separable)
    depth: int
    out_channels: int
    stride: int  # stride of the stage's first block
    kernel: int
    expand: int = 1  # expand ratio of "ir" blocks; ignored (1) for "dws"


@dataclass(frozen=True)
class ArchSpec:
    resolution: int
    stem_channels: int
    stem_kernel: int
    stem_stride: int
    stages: tuple[StageSpec, ...]
    head_channels: int = 0

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

    def canonical_hash(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


_TOP_FIELDS = ("resolution", "stem_channels", "stem_kernel", "stem_stride", "stages", "head_channels")
_STAGE_FIELDS = ("block", "depth", "out_channels", "stride", "kernel", "expand")


@dataclass(frozen=True)
class SearchSpace:
    resolutions: tuple[int, ...] = (32, 48, 64, 96)
    stem_channels: tuple[int, ...] = (8, 16, 24, 32)
    stem_kernels: tuple[int, ...] = (3, 5)
    stem_strides: tuple[int, ...] = (1, 2)
    blocks: tuple[str, ...] = ("ir", "dws")
    kernels: tuple[int, ...] = (3, 5, 7)
    expands: tuple[int, ...] = (1, 3, 4, 6)
    depths: tuple[int, ...] = (1, 2, 3, 4)
    channels: tuple[int, ...] = (8, 16, 24, 32, 40, 48, 64, 96, 128, 160)
    strides: tuple[int, ...] = (1, 2)
    head_channels: tuple[int, ...] = (0, 128, 256, 512)
    min_stages: int = 1
    max_stages: int = 6

    def json_schema(self) -> dict[str, Any]:
        """Tight JSON schema (enums, bounds, no extra fields): usable as a constrained-decoding response_format."""
        stage = {"type": "object", "additionalProperties": False, "required": list(_STAGE_FIELDS), "properties": {
            "block": {"type": "string", "enum": list(self.blocks),
                      "description": "ir = inverted residual (1x1 expand, kxk depthwise, 1x1 project); dws = depthwise-separable"},
            "depth": {"type": "integer", "enum": list(self.depths)},
            "out_channels": {"type": "integer", "enum": list(self.channels)},
            "stride": {"type": "integer", "enum": list(self.strides), "description": "stride of the first block"},
            "kernel": {"type": "integer", "enum": list(self.kernels)},
            "expand": {"type": "integer", "enum": list(self.expands), "description": "expand ratio (ir only; use 1 for dws)"},
        }}
        return {"type": "object", "additionalProperties": False, "required": list(_TOP_FIELDS), "properties": {
            "resolution": {"type": "integer", "enum": list(self.resolutions), "description": "input image side in pixels"},
            "stem_channels": {"type": "integer", "enum": list(self.stem_channels)},
            "stem_kernel": {"type": "integer", "enum": list(self.stem_kernels)},
            "stem_stride": {"type": "integer", "enum": list(self.stem_strides)},
            "stages": {"type": "array", "minItems": self.min_stages, "maxItems": self.max_stages, "items": stage},
            "head_channels": {"type": "integer", "enum": list(self.head_channels), "description": "1x1 conv before pooling; 0 = none"},
        }}

    def parse(self, d: dict[str, Any]) -> ArchSpec:
        problems: list[str] = []
        if not isinstance(d, dict):
            raise SpecError([f"spec must be a JSON object, got {type(d).__name__}"])
        problems += [f"unknown field {k!r}" for k in d if k not in _TOP_FIELDS]
        top = {"resolution": self.resolutions, "stem_channels": self.stem_channels, "stem_kernel": self.stem_kernels,
               "stem_stride": self.stem_strides, "head_channels": self.head_channels}
        for name, choices in top.items():
            _check(problems, "", name, d.get(name, 0 if name == "head_channels" else None), choices)
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
            sets = {"block": self.blocks, "depth": self.depths, "out_channels": self.channels,
                    "stride": self.strides, "kernel": self.kernels, "expand": self.expands}
            ok = all(_check(problems, where, name, s.get(name, 1 if name == "expand" else None), choices)
                     for name, choices in sets.items())
            if ok:
                expand = int(s.get("expand", 1)) if s["block"] == "ir" else 1
                stages.append(StageSpec(s["block"], int(s["depth"]), int(s["out_channels"]), int(s["stride"]),
                                        int(s["kernel"]), expand))
        if problems:
            raise SpecError(problems)
        spec = ArchSpec(int(d["resolution"]), int(d["stem_channels"]), int(d["stem_kernel"]), int(d["stem_stride"]),
                        tuple(stages), int(d.get("head_channels", 0)))
        final = spec.resolution // spec.stem_stride
        for st in stages:
            final //= st.stride
        if final < 1:
            raise SpecError([f"strides reduce {spec.resolution}px to nothing: use fewer stride-2 stages"])
        return spec

    def random_spec(self, rng: random.Random) -> ArchSpec:
        n = rng.randint(self.min_stages, min(self.max_stages, 4))
        stages, width = [], rng.choice(self.channels[:3])
        for _ in range(n):
            width = rng.choice([c for c in self.channels if c >= width][:3])
            block = rng.choice(self.blocks)
            stages.append(StageSpec(block, rng.choice(self.depths[:3]), width, rng.choice(self.strides),
                                    rng.choice(self.kernels), rng.choice(self.expands) if block == "ir" else 1))
        return self.parse(ArchSpec(rng.choice(self.resolutions[:2]), rng.choice(self.stem_channels),
                                   rng.choice(self.stem_kernels), rng.choice(self.stem_strides), tuple(stages),
                                   rng.choice(self.head_channels)).to_dict())

    def mutate(self, spec: ArchSpec, rng: random.Random) -> ArchSpec:
        """Change one choice; retries until the result is valid and different."""
        for _ in range(50):
            d = spec.to_dict()
            field_name = rng.choice(["resolution", "stem_channels", "head_channels", "stage", "stage", "stage"])
            if field_name == "stage":
                s = rng.choice(d["stages"])
                key = rng.choice(_STAGE_FIELDS)
                sets = {"block": self.blocks, "depth": self.depths, "out_channels": self.channels,
                        "stride": self.strides, "kernel": self.kernels, "expand": self.expands}
                s[key] = rng.choice(sets[key])
                if s["block"] == "dws":
                    s["expand"] = 1
            else:
                sets = {"resolution": self.resolutions, "stem_channels": self.stem_channels,
                        "head_channels": self.head_channels}
                d[field_name] = rng.choice(sets[field_name])
            try:
                child = self.parse(d)
            except SpecError:
                continue
            if child != spec:
                return child
        return spec

    def crossover(self, a: ArchSpec, b: ArchSpec, rng: random.Random) -> ArchSpec:
        """Top-level fields from either parent; stage i from either parent where both have one."""
        n = rng.choice([len(a.stages), len(b.stages)])
        stages = []
        for i in range(n):
            options = [p.stages[i] for p in (a, b) if i < len(p.stages)]
            stages.append(rng.choice(options))
        pick = lambda name: getattr(rng.choice([a, b]), name)  # noqa: E731
        d = ArchSpec(pick("resolution"), pick("stem_channels"), pick("stem_kernel"), pick("stem_stride"),
                     tuple(stages), pick("head_channels")).to_dict()
        try:
            return self.parse(d)
        except SpecError:
            return a


def _check(problems: list[str], where: str, name: str, value: Any, choices: tuple) -> bool:
    if value not in choices or isinstance(value, bool):
        shown = "{" + ",".join(str(c) for c in choices) + "}"
        problems.append(f"{where}{name} {value!r} not in {shown}" if value is not None else f"{where}{name} is missing")
        return False
    return True
