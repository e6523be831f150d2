"""Run the benchmarks and write their figures to bench/results.json.

Each bench/bench_*.py module has `run() -> dict`; `python bench/run.py [NAME...]` runs the
named ones (default: all) and merges their figures into the JSON file under their name.
Targets are checked as ratios measured in the same run (the machine is shared and noisy).
"""

from __future__ import annotations

import importlib
import json
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results.json"


def main(names: list[str]) -> int:
    sys.path.insert(0, str(BENCH_DIR))
    available = sorted(p.stem.removeprefix("bench_") for p in BENCH_DIR.glob("bench_*.py"))
    chosen = names or available
    unknown = [n for n in chosen if n not in available]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available)}", file=sys.stderr)
        return 2
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    failed = False
    for name in chosen:
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        figures = importlib.import_module(f"bench_{name}").run()
        figures["bench_seconds"] = round(time.perf_counter() - started, 1)
        figures["measured_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        figures["machine"] = {"python": platform.python_version(), "cpus": __import__("os").cpu_count()}
        results[name] = figures
        for target, ok in figures.get("targets", {}).items():
            print(f"   {'ok ' if ok else 'MISS'} {target}")
            failed |= not ok
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"figures written to {RESULTS}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
