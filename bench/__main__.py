"""`python -m bench SCENARIO [--quick] [--json]`: run a scenario, print its figures.

Progress goes to stderr; with --json the result is one JSON line on stdout."""

from __future__ import annotations

import argparse
import json
import sys

from bench.figures import median_of
from bench.scenarios import SCENARIOS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("scenario", choices=[*SCENARIOS, "all"])
    parser.add_argument("--quick", action="store_true", help="small and short (under 60 s)")
    parser.add_argument("--json", action="store_true", help="one JSON line per scenario")
    parser.add_argument(
        "--runs", type=int, default=1, help="repeat the whole scenario and report medians"
    )
    args = parser.parse_args(argv)
    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    for name in names:
        results = [SCENARIOS[name](args.quick) for _ in range(args.runs)]
        result = median_of(results) if len(results) > 1 else results[0]
        if args.json:
            print(json.dumps(result), flush=True)
        else:
            print(f"{name}:")
            for key, value in result.items():
                print(f"  {key:26} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
