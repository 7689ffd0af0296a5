"""One measurement in a process of its own: ``python -m benchmarks.worker FRAMEWORK
SCENARIO 'JSON-PARAMS'``.

A fresh process per framework and repetition keeps import costs, caches and
RSS of one run out of the next. The worker prints one ``RESULT {...}`` line.
With ``--profile FILE`` it runs under pyinstrument and writes the text profile.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys

FRAMEWORKS = {
    "topicflow": "benchmarks.tf",
    "raw": "benchmarks.raw",
    "faststream": "benchmarks.fs",
    # All of them in this one process, taking turns (scenario 5; see together.py).
    "together": "benchmarks.together",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker")
    parser.add_argument("framework", choices=sorted(FRAMEWORKS))
    parser.add_argument("scenario")
    parser.add_argument("params", help="JSON object of the scenario's parameters")
    parser.add_argument("--profile", metavar="FILE", help="write a pyinstrument text profile")
    args = parser.parse_args(argv)
    # Imported here, so each process loads only the framework it measures.
    module = importlib.import_module(FRAMEWORKS[args.framework])
    from benchmarks.common import report

    scenario = module.SCENARIOS[args.scenario]
    params = json.loads(args.params)
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005, async_mode="disabled")
        profiler.start()
        result = asyncio.run(scenario(params))
        profiler.stop()
        with open(args.profile, "w") as out:
            out.write(profiler.output_text(unicode=True, color=False, show_all=False))
    else:
        result = asyncio.run(scenario(params))
    report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
