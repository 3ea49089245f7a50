"""`tinyhil deploy ...` as a process of its own, for the resume tests.

    python -m tests.deploy.run_deploy PAUSE_AFTER_EPOCH deploy RUN --candidate ID ...

With PAUSE_AFTER_EPOCH = N > 0, training sleeps after writing its epoch-N checkpoint, like a long epoch would,
so the test's kill -9 lands in the middle of training; 0 runs the command as it is."""

from __future__ import annotations

import sys
import time


def main() -> None:
    pause_after = int(sys.argv[1])
    if pause_after:
        from tinyhil.ml import train

        save = train.save_checkpoint

        def save_then_pause(path, model, spec, dataset, extra):  # type: ignore[no-untyped-def]
            save(path, model, spec, dataset, extra)
            if extra.get("epoch") == pause_after:
                time.sleep(600)

        train.save_checkpoint = save_then_pause
    from tinyhil.cli import main as cli_main

    sys.argv = ["tinyhil", *sys.argv[2:]]
    sys.modules["__main__"].__package__ = None  # as under the `tinyhil` console script: click names it "tinyhil"
    cli_main()


if __name__ == "__main__":
    main()
