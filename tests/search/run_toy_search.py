"""`tinyhil search` as its own process over the stand-ins of contract_doubles, for the kill -9 test:
python -m tests.search.run_toy_search DELAY_S [tinyhil search options...]"""

from __future__ import annotations

import sys

import pytest

from tinyhil.cli import main

from . import contract_doubles

if __name__ == "__main__":
    contract_doubles.STAGE_DELAY_S["value"] = float(sys.argv[1])
    contract_doubles.install(pytest.MonkeyPatch())
    sys.argv = ["tinyhil", "search", "--no-live", *sys.argv[2:]]
    main()
