"""A search over the test doubles as its own process, for the kill -9 test:
python -m tests.search.run_toy_search RUN_DIR ITERATIONS DELAY_S"""

from __future__ import annotations

import sys
from pathlib import Path

from tinyhil.search.proposers import EvolutionProposer

from .search_doubles import ToyStages, build_toy_loop

if __name__ == "__main__":
    run_dir, iterations, delay = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    outcome = build_toy_loop(run_dir, EvolutionProposer(), iterations, seed=7, stages=ToyStages(delay_s=delay)).run()
    print(f"evaluated {outcome.evaluated}")
