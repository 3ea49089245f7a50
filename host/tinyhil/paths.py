"""Where tinyhil's own files are: the package (templates, the local-LLM manifest) and the source tree it runs from
(board_profiles/, firmware/). One place, so a module that moves between layers does not miscount parent folders."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = PACKAGE_DIR / "templates"
# host/tinyhil -> the repository root of an editable install (`pip install -e .`)
SOURCE_ROOT = PACKAGE_DIR.parents[1]
