"""Reading an architecture spec from a JSON file: a file that is not JSON, not an object or not a valid spec is
a SpecError naming the file and where in it (the same error type the spec validator raises)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import SpecError, TinyhilError

SCHEMA_HINT = "`tinyhil spec schema` prints what a spec holds"


def read_spec_dict(path: Path) -> dict[str, Any]:
    """The JSON object in `path`; SpecError (file, line, column) when it is not one."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot be read as a text file ({exc}); give a JSON spec file") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); fix the file, "
                        f"{SCHEMA_HINT}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path}: holds a JSON {type(data).__name__}, not an object of spec fields; {SCHEMA_HINT}")
    return data


def read_spec(path: Path) -> Any:
    """The ArchSpec in `path` (a tinyhil spec or the paper's candidate_config), validated against the search space."""
    from .paper_config import is_paper_config, spec_from_paper
    from .space import ArchSpec

    data = read_spec_dict(path)
    if is_paper_config(data):  # the LLM-NAS paper's candidate_config: the equivalent tinyhil spec
        data = spec_from_paper(data, source=str(path))
    try:
        return ArchSpec.from_dict(data)
    except TinyhilError as exc:  # the space's SpecError
        exc.args = (f"{path}: {exc}",)
        raise
