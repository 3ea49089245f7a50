"""A stand-in for the `pyocd` command line, put on PATH by tests: it prints what real pyOCD 0.46 prints for
`json --probes` and `cmd -c "read32 ADDR"`, succeeds on `load` / `reset`, and appends every call to the
events file, so tests pin the exact command lines and their order without a probe.

Configured by environment: FAKE_PYOCD_PROBES (comma-separated UIDs), FAKE_PYOCD_EVENTS (file to append
to), FAKE_PYOCD_IDC (the DBGMCU_IDC word, hex), FAKE_PYOCD_FAIL (an action that exits 1)."""

import json
import os
import sys


def main() -> int:
    args = sys.argv[1:]
    with open(os.environ["FAKE_PYOCD_EVENTS"], "a") as events:
        events.write("pyocd " + " ".join(args) + "\n")
    probes = [uid for uid in os.environ.get("FAKE_PYOCD_PROBES", "").split(",") if uid]
    action = args[0]
    if action == os.environ.get("FAKE_PYOCD_FAIL"):
        print("0000123:ERROR:load_cmd:No target device available", file=sys.stderr)
        return 1
    if action == "json":
        print(json.dumps({"pyocd_version": "0.46.0", "version": {"major": 1, "minor": 1}, "status": 0,
                          "boards": [{"unique_id": uid, "info": "STM32 STLink", "board_vendor": None,
                                      "board_name": "Generic", "target": "cortex_m", "vendor_name": "STMicroelectronics",
                                      "product_name": "STM32 STLink"} for uid in probes]}, indent=4))
        return 0
    if action == "cmd":
        address = int(args[args.index("-c") + 1].split()[1], 16)
        print("0000456 D STLink probe 066DFF535155878281151932 firmware version: V2J40M27 [stlink]", file=sys.stderr)
        print(f"{address:08x}:  {int(os.environ.get('FAKE_PYOCD_IDC', '20036450'), 16):08x}    |dP. |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
