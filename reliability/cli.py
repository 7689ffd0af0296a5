"""``python -m reliability``: start the clusters, run the scenarios, print the table."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from reliability.clusters import SINGLE_PORT, TRIPLE_PORT, ClusterError, LocalCluster
from reliability.context import FULL, SHORT, Context
from reliability.report import ROOT, Row, failures, heading, table
from reliability.scenarios import failover, poison, rebalance, restarts, retries


@dataclass(frozen=True)
class Scenario:
    key: str
    name: str
    run: Callable[[Context], Awaitable[list[Row]]]
    #: Which cluster it needs: "single" (one broker) or "triple" (three).
    cluster: str


SCENARIOS = {
    s.key: s
    for s in (
        Scenario("1", "kill -9 x5", restarts.kill_nine, "single"),
        Scenario("2", "rebalance 2 -> 3 -> 2", rebalance.rebalance, "single"),
        Scenario("3", "SIGTERM x5", restarts.sigterm, "single"),
        Scenario("4", "leader failover", failover.failover, "triple"),
        Scenario("5", "poison flood", poison.poison_flood, "single"),
        Scenario("6", "hot handler", restarts.hot_handler, "single"),
        Scenario("7", "retries, kill -9 while they wait", retries.retries, "single"),
    )
}


async def run_scenario(scenario: Scenario, ctx: Context) -> list[Row]:
    """The scenario's rows; an error inside it is one failed row, not the end of the run."""
    began = time.monotonic()
    print(f"== {scenario.key}. {scenario.name}", file=sys.stderr, flush=True)
    try:
        rows = await scenario.run(ctx)
    except Exception as exc:
        traceback.print_exc()
        rows = [Row(f"{scenario.key}. {scenario.name}", "error", repr(exc)[:200], "-", False)]
    took = time.monotonic() - began
    print(table(rows), file=sys.stderr)
    print(f"   ({took:.0f} s)", file=sys.stderr, flush=True)
    return rows


async def run(keys: list[str], ctx: Context, single_port: int, triple_port: int) -> list[Row]:
    """Start the clusters the chosen scenarios need, run them in order, stop the clusters."""
    chosen = [SCENARIOS[key] for key in keys]
    rows: list[Row] = []
    try:
        if any(s.cluster == "single" for s in chosen):
            ctx.single = LocalCluster(1, single_port)
            print(await ctx.single.astart(), file=sys.stderr)
        for scenario in chosen:
            if scenario.cluster == "triple" and ctx.triple is None:
                ctx.triple = LocalCluster(3, triple_port)
                print(await ctx.triple.astart(), file=sys.stderr)
            rows += await run_scenario(scenario, ctx)
    finally:
        for cluster in (ctx.single, ctx.triple):
            if cluster is not None:
                print(await cluster.astop(), file=sys.stderr)
    return rows


def _port(name: str, default: int) -> int:
    value = os.environ.get(name, str(default))
    if not value.isdigit():
        raise SystemExit(f"faults: {name}={value!r} is not a port")
    return int(value)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/faults", description=__doc__ + "\n\nSee docs/reliability.md."
    )
    parser.add_argument("--short", action="store_true", help="the CI sizes (a few minutes)")
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help="comma-separated scenario numbers (default: all, 1-6)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=_port("FAULTS_PORT", SINGLE_PORT),
        help=f"client port of the one-broker cluster ($FAULTS_PORT, default {SINGLE_PORT})",
    )
    parser.add_argument(
        "--cluster-port",
        type=int,
        default=_port("FAULTS_CLUSTER_PORT", TRIPLE_PORT),
        help="client port of node 1 of the three-broker cluster "
        f"($FAULTS_CLUSTER_PORT, default {TRIPLE_PORT}; nodes 2 and 3 use +10, +20)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="also write the table (with its heading) to this file",
    )
    args = parser.parse_args(argv)
    keys = [key.strip() for key in args.scenarios.split(",") if key.strip()]
    unknown = [key for key in keys if key not in SCENARIOS]
    if unknown or not keys:
        parser.error(f"unknown scenario(s) {unknown}; choose from {', '.join(SCENARIOS)}")
    if abs(args.port - args.cluster_port) < 30:
        parser.error("--port and --cluster-port need 30 ports between them")
    args.keys = keys
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    # The suite's own clients see the faults it injects (a broker gone, a member
    # killed): their client's complaints are expected, the figures tell the story.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    folder = ROOT / ".cache" / "faults" / time.strftime("run-%Y%m%d-%H%M%S")
    ctx = Context(scale=SHORT if args.short else FULL, folder=folder)
    began = time.monotonic()
    try:
        rows = asyncio.run(run(args.keys, ctx, args.port, args.cluster_port))
    except ClusterError as exc:
        print(f"faults: {exc}", file=sys.stderr)
        return 2
    report = heading("short" if args.short else "full", time.monotonic() - began)
    report += "\n\n" + table(rows) + "\n"
    print("\n" + report)
    if args.out is not None:
        args.out.write_text(report)
    failed = failures(rows)
    print(
        f"faults: {len(failed)} of {len(rows)} rows FAIL; services' logs in {folder}"
        if failed
        else f"faults: every target met; services' logs in {folder}",
        file=sys.stderr,
    )
    return 1 if failed else 0
