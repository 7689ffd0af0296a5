"""Scenario 5 with every implementation in one process, taking turns.

A sequential confirmed publish costs one broker round trip, and that round
trip drifts by 30% and more over seconds on a shared machine: implementations
run in processes one after the other saw different brokers, and the median of
seven such runs still moved the ratio between 0.84x and 1.06x from one full run
to the next. Here each implementation has its connected client in the same
process, and they take turns of ``chunk`` publishes (the order rotating from one
turn to the next) until each has published ``count``. Each is timed over its
own turns only, so all of them see the same broker, moment by moment.
"""

from __future__ import annotations

import contextlib
import importlib
import time
from typing import Any

from benchmarks.common import Order, make_order
from benchmarks.run import order_for

MODULES = {"topicflow": "benchmarks.tf", "raw": "benchmarks.raw", "faststream": "benchmarks.fs"}
#: Publishes per implementation before timing: connections, metadata, warm code paths.
WARMUP = 50


async def publish_confirmed(p: dict[str, Any]) -> dict[str, Any]:
    """``{framework: {"count", "seconds", "rate"}}`` for ``p["frameworks"]``, each
    publishing to its own topic (``p["topics"][framework]``)."""
    frameworks: tuple[str, ...] = tuple(p["frameworks"])
    count, chunk = p["count"], p["chunk"]
    orders = [make_order(i) for i in range(count)]
    elapsed = dict.fromkeys(frameworks, 0.0)
    async with contextlib.AsyncExitStack() as stack:
        publishers = {}
        for framework in frameworks:
            module = importlib.import_module(MODULES[framework])
            params = {**p, "topic": p["topics"][framework]}
            publishers[framework] = await stack.enter_async_context(
                module.confirmed_publisher(params)
            )
        for framework in frameworks:
            for i in range(WARMUP):
                await publishers[framework](make_order(-i))
        for turn, start in enumerate(range(0, count, chunk)):
            batch: list[Order] = orders[start : start + chunk]
            for framework in order_for(turn, frameworks):
                publish = publishers[framework]
                started = time.perf_counter()
                for order in batch:
                    await publish(order)
                elapsed[framework] += time.perf_counter() - started
    return {
        framework: {"count": count, "seconds": seconds, "rate": count / seconds}
        for framework, seconds in elapsed.items()
    }


SCENARIOS = {"publish_confirmed": publish_confirmed}
